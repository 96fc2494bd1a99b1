package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"
)

// RealPods is the second cluster of the test environment, whose one node really runs pods
// (hack/testenv/realpods.sh): a kubelet on containerd, kube-proxy, CoreDNS, and kube-router
// enforcing NetworkPolicy, on a bridge of its own that nothing leaves.
//
// Its images are built on this machine from the test environment's binaries and loaded under
// the registry name RealPodsRegistry, so the chart runs them with global.imageRegistry set to
// it. They differ from upstream in their layout only: each is one layer holding the binary
// (and the shared libraries it loads), with no shell but Vault's busybox and no entrypoint
// script. Vault and Kratos are the real servers at the versions the chart names; the frontend
// and the three APIs are stand-ins (internal/testenv/standin) that play their part of the
// request flow; resimatectl's image holds the checkout's binary and PostgreSQL's client tools.
const RealPods Component = "realpods"

// RealPodsCluster is what the tests need to know of that cluster.
type RealPodsCluster struct {
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	// DatabaseURL is the admin URL of the PostgreSQL server the pods use in external mode,
	// from this machine; pods reach the same server at PostgresHost:PostgresPort.
	DatabaseURL  string
	PostgresHost string
	PostgresPort string
	// Registry is the name the images are loaded under (global.imageRegistry).
	Registry     string
	StorageClass string
	// NodeIP is the host's address on the pod bridge, where the API server and kubelet listen.
	NodeIP     string
	s3Endpoint string
}

// RealPodsEnv returns the real-pod cluster, or skips the test (fails it under CI=true) when
// it is not running.
func RealPodsEnv(t testing.TB) *RealPodsCluster {
	t.Helper()
	e := Require(t, RealPods)
	cfg, err := clientcmd.BuildConfigFromFlags("", e.RealPodsKubeconfig)
	if err != nil {
		t.Fatalf("loading %s: %v", e.RealPodsKubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &RealPodsCluster{Kubeconfig: e.RealPodsKubeconfig, Config: cfg, Client: cs, DatabaseURL: e.RealPodsDatabaseURL,
		PostgresHost: e.RealPodsNodeIP, PostgresPort: e.RealPodsPGPort, Registry: e.RealPodsRegistry,
		StorageClass: e.RealPodsStorageClass, NodeIP: e.RealPodsNodeIP, s3Endpoint: e.RealPodsS3Endpoint}
}

// S3Bucket creates a bucket in the S3 store that the pods and this machine both reach, at the
// bridge address.
func (c *RealPodsCluster) S3Bucket(t testing.TB) Bucket {
	t.Helper()
	if c.s3Endpoint == "" {
		unavailable(t, "the real-pod cluster's S3 store is not in the test environment: run 'make testenv-up'")
	}
	return s3Bucket(t, c.s3Endpoint)
}

// Namespace makes a namespace that enforces PodSecurity restricted, deleted with the test
// (without waiting: the kubelet takes its time to stop real pods).
func (c *RealPodsCluster) Namespace(t testing.TB) string {
	t.Helper()
	name := UniqueName("rp")
	ctx := context.Background()
	_, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() { _ = c.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	return name
}

// Image is the reference of an image loaded into the node, by its path under the registry.
func (c *RealPodsCluster) Image(path string) string { return c.Registry + "/" + path }

// Exec runs a command in a pod's container, as kubectl exec does, and returns what it printed;
// err is non-nil when it exited non-zero.
func (c *RealPodsCluster) Exec(ctx context.Context, ns, pod, container string, command ...string) (string, error) {
	req := c.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: command, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	executor, err := remotecommand.NewSPDYExecutor(c.Config, "POST", req.URL())
	if err != nil {
		return "", err
	}
	// Two buffers: the executor writes each stream from its own goroutine.
	var stdout, stderr bytes.Buffer
	err = executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	return strings.TrimSpace(stdout.String() + stderr.String()), err
}

// Dial reports whether a pod's container opens a TCP connection to addr (the stand-in image's
// `dial`, which gives up after 3 s), and what it said. An exec that failed before the command
// ran is an error, not a refusal.
func (c *RealPodsCluster) Dial(ctx context.Context, ns, pod, container, addr string) (bool, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := c.Exec(ctx, ns, pod, container, "/standin", "dial", addr)
	var exit exec.ExitError
	switch {
	case err == nil && out == "connected":
		return true, out, nil
	case err == nil || errors.As(err, &exit):
		return false, out, nil
	}
	return false, out, fmt.Errorf("exec in %s/%s: %w", pod, container, err)
}

// PodOf returns the name of a Running pod with the labels, waiting for one.
func (c *RealPodsCluster) PodOf(t testing.TB, ns, selector string) string {
	t.Helper()
	var name string
	Eventually(t, 2*time.Minute, "a running pod with "+selector, func() (bool, error) {
		pods, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				name = p.Name
				return true, nil
			}
		}
		return false, nil
	})
	return name
}

// HostListener listens on the node's bridge address, outside the cluster but routable from
// its pods: the target of "no pod reaches an address outside the cluster". It accepts and
// closes connections, and counts them.
func (c *RealPodsCluster) HostListener(t testing.TB) (addr string, accepted func() int) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(c.NodeIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	count := make(chan int, 1)
	count <- 0
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.Close()
			count <- <-count + 1
		}
	}()
	return l.Addr().String(), func() int { n := <-count; count <- n; return n }
}

// ServiceAddr is a Service's cluster address and port, which this machine reaches through
// kube-proxy's rules as a pod would.
func (c *RealPodsCluster) ServiceAddr(t testing.TB, ns, name string) string {
	t.Helper()
	svc, err := c.Client.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Spec.Ports) == 0 {
		t.Fatalf("service %s/%s has no port", ns, name)
	}
	return net.JoinHostPort(svc.Spec.ClusterIP, fmt.Sprint(svc.Spec.Ports[0].Port))
}
