// Package vault brings the bundled Vault from uninitialised to serving the platform's secrets,
// and reports and unseals it on day 2. It reaches each Vault pod the way an operator's machine
// reaches a pod of any cluster: a port-forward through the API server.
package vault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/resimate/resimatectl/internal/errtext"
	"github.com/resimate/resimatectl/internal/kube"
)

// apiPort is the port of Vault's API in its pods.
const apiPort = 8200

// Target is the bundled Vault of one release: its pods and how to trust them.
type Target struct {
	Kube      *kube.Set
	Namespace string
	// Name is the StatefulSet's name (<release>-vault); pod i is Name-i.
	Name     string
	Replicas int
	// TLSSecret holds the listener's certificate; its ca.crt verifies the pods.
	TLSSecret string
	// CA is read from TLSSecret on the first connection.
	CA *x509.CertPool
}

// Of returns the Target of a release's running Vault from its StatefulSet.
func Of(ctx context.Context, set *kube.Set, ns, release string) (Target, error) {
	name := release + "-vault"
	sts, err := set.Kube.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Target{}, fmt.Errorf("release %s in %s has no bundled Vault (no StatefulSet %s)", release, ns, name)
	}
	if err != nil {
		return Target{}, err
	}
	t := Target{Kube: set, Namespace: ns, Name: name, Replicas: 1}
	if sts.Spec.Replicas != nil {
		t.Replicas = int(*sts.Spec.Replicas)
	}
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.Name == "tls" && v.Secret != nil {
			t.TLSSecret = v.Secret.SecretName
		}
	}
	return t, nil
}

// trusting returns t with its CA loaded.
func (t Target) trusting(ctx context.Context) (Target, error) {
	if t.CA != nil || t.TLSSecret == "" {
		return t, nil
	}
	ca, err := LoadCA(ctx, t.Kube.Kube, t.Namespace, t.TLSSecret)
	t.CA = ca
	return t, err
}

// Open loads the CA of the pods' certificate and connects to pod i.
func (t Target) Open(ctx context.Context, i int) (*Conn, error) {
	t, err := t.trusting(ctx)
	if err != nil {
		return nil, err
	}
	return t.Connect(ctx, i)
}

// Pod is the name of pod i.
func (t Target) Pod(i int) string { return fmt.Sprintf("%s-%d", t.Name, i) }

// Conn is an API client of one pod, over its own port-forward.
type Conn struct {
	Pod    string
	Client *api.Client
	target Target

	mu sync.Mutex
	fw *kube.Forward
}

// Close ends the port-forward.
func (c *Conn) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fw.Close()
}

// dial connects the client to the pod. client-go ends a port-forward for good after any error
// on its streams (a pod that does not listen yet, or restarts), and then the local port
// refuses: the request never left this machine, so a new forward and a second dial are safe,
// even for sys/init, whose answer must not be lost.
func (c *Conn) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, c.fw.Address)
	if err == nil {
		return conn, nil
	}
	select {
	case <-c.fw.Ended():
	case <-time.After(2 * time.Second):
		return nil, err // the forward lives: the refusal is someone else's
	}
	fresh, ferr := kube.PortForward(ctx, c.target.Kube.Config, c.target.Namespace, c.Pod, apiPort)
	if ferr != nil {
		return nil, ferr
	}
	c.fw.Close()
	c.fw = fresh
	return d.DialContext(ctx, network, c.fw.Address)
}

// Connect opens a client of pod i. The client carries no token.
func (t Target) Connect(ctx context.Context, i int) (*Conn, error) {
	pod := t.Pod(i)
	if t.TLSSecret != "" && t.CA == nil {
		return nil, errors.New("the bundled Vault's CA is not loaded")
	}
	fw, err := kube.PortForward(ctx, t.Kube.Config, t.Namespace, pod, apiPort)
	if err != nil {
		return nil, err
	}
	c := &Conn{Pod: pod, fw: fw, target: t}
	cfg := api.DefaultConfig()
	cfg.Address = "http://" + fw.Address
	cfg.MaxRetries = 0
	cfg.Timeout = 30 * time.Second
	transport := cfg.HttpClient.Transport.(*http.Transport)
	transport.DialContext = c.dial
	if t.CA != nil {
		cfg.Address = "https://" + fw.Address
		// The certificate names the pod's stable DNS name, which is what is verified.
		transport.TLSClientConfig = &tls.Config{RootCAs: t.CA, ServerName: fmt.Sprintf("%s.%s-internal", pod, t.Name), MinVersion: tls.VersionTLS12}
	}
	if c.Client, err = api.NewClient(cfg); err != nil {
		fw.Close()
		return nil, err
	}
	// Nothing of the operator's VAULT_* environment (a token, a namespace) goes to this Vault.
	c.Client.ClearToken()
	c.Client.ClearNamespace()
	return c, nil
}

// ConnectAll opens a client of every pod, waiting (until ctx ends) for each to run: a pod that
// is not Running cannot be forwarded to.
func (t Target) ConnectAll(ctx context.Context, progress func(string)) ([]*Conn, error) {
	var conns []*Conn
	for i := range t.Replicas {
		if err := t.waitRunning(ctx, t.Pod(i), progress); err != nil {
			closeAll(conns)
			return nil, err
		}
		var err error
		if t, err = t.trusting(ctx); err != nil {
			closeAll(conns)
			return nil, err
		}
		c, err := t.Connect(ctx, i)
		if err != nil {
			closeAll(conns)
			return nil, err
		}
		conns = append(conns, c)
	}
	return conns, nil
}

func closeAll(conns []*Conn) {
	for _, c := range conns {
		c.Close()
	}
}

func (t Target) waitRunning(ctx context.Context, pod string, progress func(string)) error {
	said := false
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := t.Kube.Kube.CoreV1().Pods(t.Namespace).Get(ctx, pod, metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			return true, nil
		}
		if !said && progress != nil {
			progress(fmt.Sprintf("waiting for Vault pod %s to run", pod))
			said = true
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("the Vault pod %s/%s did not start running: %w", t.Namespace, pod, err)
	}
	return nil
}

// PodStatus is what one Vault pod says of itself (its unauthenticated endpoints).
type PodStatus struct {
	Pod         string `json:"pod"`
	Initialized bool   `json:"initialized"`
	Sealed      bool   `json:"sealed"`
	// Role is leader, follower (an unsealed standby of the Raft cluster) or empty.
	Role    string `json:"role,omitempty"`
	Version string `json:"version,omitempty"`
	// Error says why the pod could not be asked.
	Error string `json:"error,omitempty"`
}

// Ready is the honest readiness: initialised, unsealed and in the cluster.
func (s PodStatus) Ready() bool { return s.Error == "" && s.Initialized && !s.Sealed && s.Role != "" }

// Status asks one pod.
func Status(ctx context.Context, c *Conn) PodStatus {
	st := PodStatus{Pod: c.Pod}
	seal, err := c.Client.Sys().SealStatusWithContext(ctx)
	if err != nil {
		// The local end of the forward means nothing to the reader: say where it leads.
		why := err
		var uerr *url.Error
		if errors.As(err, &uerr) {
			why = uerr.Err
		}
		st.Error = fmt.Sprintf("no answer from Vault on port %d through a port-forward (%s)", apiPort, errtext.FirstLine(why))
		var respErr *api.ResponseError
		if errors.As(err, &respErr) {
			st.Error = fmt.Sprintf("Vault answered HTTP %d", respErr.StatusCode)
		}
		return st
	}
	st.Initialized, st.Sealed, st.Version = seal.Initialized, seal.Sealed, seal.Version
	if st.Initialized && !st.Sealed {
		leader, err := c.Client.Sys().LeaderWithContext(ctx)
		switch {
		case err != nil:
			st.Error = err.Error()
		case leader.IsSelf:
			st.Role = "leader"
		case leader.LeaderAddress != "":
			st.Role = "follower"
		}
	}
	return st
}

// Statuses asks every pod; a pod that cannot be reached says why.
func (t Target) Statuses(ctx context.Context) []PodStatus {
	out := make([]PodStatus, t.Replicas)
	t, err := t.trusting(ctx)
	for i := range t.Replicas {
		if err != nil {
			out[i] = PodStatus{Pod: t.Pod(i), Error: err.Error()}
			continue
		}
		c, err := t.Connect(ctx, i)
		if err != nil {
			out[i] = PodStatus{Pod: t.Pod(i), Error: err.Error()}
			continue
		}
		out[i] = Status(ctx, c)
		c.Close()
	}
	return out
}
