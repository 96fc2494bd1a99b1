package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/hashicorp/vault/api"
	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/resimate/resimatectl/internal/vault"
)

// kwok's PortForward objects: a simulated pod's ports forwarded to a local address.
var portForwards = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "portforwards"}

// VaultPods plays the kubelet for a release's bundled Vault in one namespace. Once install has
// created the StatefulSet, its ConfigMap and its TLS Secret, it runs one real Vault process per
// pod with the rendered vault.hcl (listen and peer addresses moved to loopback) and the pod's
// environment, and makes kwok forward each pod's port 8200 to its process, so that the CLI
// reaches the pods through the API server's port-forward as on a real cluster.
//
// Each process sees what a pod sees: its ServiceAccount's token, the cluster's CA and
// KUBERNETES_SERVICE_HOST, at the in-cluster paths (a private mount namespace), so that
// service registration and Kubernetes auth's TokenReviews go to the real API server.
type VaultPods struct {
	t       testing.TB
	ns      string
	name    string
	started chan struct{}
	mu      sync.Mutex
	nodes   []*vaultNode
}

type vaultNode struct {
	pod      string
	api      int
	template *exec.Cmd
	log      string
	proc     *exec.Cmd
	exited   chan struct{}
}

// StartVaultPods begins watching namespace ns for release's Vault; processes stop with the test.
func StartVaultPods(t testing.TB, ns, release string) *VaultPods {
	t.Helper()
	e := Require(t, Kubernetes)
	if e.VaultBin == "" {
		unavailable(t, "no Vault binary in the test environment: run 'make testenv-up'")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		unavailable(t, "unshare (util-linux) is needed to give Vault processes a pod's ServiceAccount files")
	}
	v := &VaultPods{t: t, ns: ns, name: release + "-vault", started: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := v.watch(ctx, e); err != nil && ctx.Err() == nil {
			t.Errorf("vault pods: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		v.mu.Lock()
		defer v.mu.Unlock()
		for _, n := range v.nodes {
			n.stop()
		}
	})
	return v
}

// WaitStarted waits until the processes run.
func (v *VaultPods) WaitStarted(timeout time.Duration) {
	v.t.Helper()
	select {
	case <-v.started:
	case <-time.After(timeout):
		v.t.Fatalf("the Vault processes of %s/%s did not start within %s", v.ns, v.name, timeout)
	}
}

func (v *VaultPods) watch(ctx context.Context, e *Env) error {
	cs := Clientset(v.t)
	for {
		sts, err1 := cs.AppsV1().StatefulSets(v.ns).Get(ctx, v.name, metav1.GetOptions{})
		cm, err2 := cs.CoreV1().ConfigMaps(v.ns).Get(ctx, v.name+"-config", metav1.GetOptions{})
		if err1 == nil && err2 == nil {
			tlsName := ""
			for _, vol := range sts.Spec.Template.Spec.Volumes {
				if vol.Secret != nil {
					tlsName = vol.Secret.SecretName
				}
			}
			if sec, err := cs.CoreV1().Secrets(v.ns).Get(ctx, tlsName, metav1.GetOptions{}); err == nil {
				return v.startAll(ctx, e, cs, sts, cm, sec)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// startAll starts one process per replica and points each pod's PortForward at it.
func (v *VaultPods) startAll(ctx context.Context, e *Env, cs kubernetes.Interface, sts *appsv1.StatefulSet, cm *corev1.ConfigMap, tlsSecret *corev1.Secret) error {
	replicas := int(ptr.Deref(sts.Spec.Replicas, 1))
	apiPorts := make([]int, replicas)
	for i := range apiPorts {
		apiPorts[i] = FreePort(v.t)
	}
	sa, err := v.serviceAccountFiles(ctx, cs, sts.Spec.Template.Spec.ServiceAccountName)
	if err != nil {
		return err
	}
	server := RestConfig(v.t).Host
	host, port := strings.TrimPrefix(server, "https://"), "443"
	if h, p, ok := strings.Cut(host, ":"); ok {
		host, port = h, p
	}
	// Peers by their in-cluster names become loopback addresses.
	peer := regexp.MustCompile(`https://` + regexp.QuoteMeta(v.name) + `-(\d+)\.` + regexp.QuoteMeta(v.name) + `-internal:8200`)
	spec, volumes := PodTemplateContainer(v.t, &unstructured.Unstructured{Object: mustUnstructured(v.t, sts)}, "vault")
	secrets := map[string]map[string]string{tlsSecret.Name: stringData(tlsSecret.Data)}
	// Every other Secret the pod uses (an auto-unseal seal's credentials).
	var refs []string
	for _, vol := range volumes {
		if vol.Secret != nil {
			refs = append(refs, vol.Secret.SecretName)
		}
	}
	for _, from := range spec.EnvFrom {
		if from.SecretRef != nil {
			refs = append(refs, from.SecretRef.Name)
		}
	}
	for _, name := range refs {
		if _, ok := secrets[name]; ok {
			continue
		}
		sec, err := cs.CoreV1().Secrets(v.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("the Vault pods' Secret %s: %w", name, err)
		}
		secrets[name] = stringData(sec.Data)
	}
	for i := range replicas {
		pod := fmt.Sprintf("%s-%d", v.name, i)
		api, cluster := apiPorts[i], FreePort(v.t)
		hcl := cm.Data["vault.hcl"]
		hcl = strings.Replace(hcl, `"[::]:8200"`, fmt.Sprintf(`"127.0.0.1:%d"`, api), 1)
		hcl = strings.Replace(hcl, `"[::]:8201"`, fmt.Sprintf(`"127.0.0.1:%d"`, cluster), 1)
		hcl = peer.ReplaceAllStringFunc(hcl, func(m string) string {
			j, _ := strconv.Atoi(peer.FindStringSubmatch(m)[1])
			return fmt.Sprintf("https://127.0.0.1:%d", apiPorts[j])
		})
		c := &Container{Spec: spec, Volumes: volumes, Secrets: secrets,
			ConfigMaps: map[string]map[string]string{cm.Name: {"vault.hcl": hcl}},
			Rewrite: func(name, value string) string {
				switch name {
				case "VAULT_API_ADDR":
					return fmt.Sprintf("https://127.0.0.1:%d", api)
				case "VAULT_CLUSTER_ADDR":
					return fmt.Sprintf("https://127.0.0.1:%d", cluster)
				case "VAULT_K8S_POD_NAME", "HOSTNAME":
					return pod
				case "VAULT_K8S_NAMESPACE":
					return v.ns
				}
				return value
			},
			Env: map[string]string{"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port, "SA_FILES": sa},
		}
		cmd := c.Command(v.t, e.VaultBin)
		// A private mount namespace whose /run holds the pod's ServiceAccount files.
		wrapped := exec.Command("unshare", append([]string{"-m", "--propagation", "private", "sh", "-c",
			`mount -t tmpfs tmpfs /run && mkdir -p /run/secrets/kubernetes.io/serviceaccount && cp "$SA_FILES"/* /run/secrets/kubernetes.io/serviceaccount/ && exec "$@"`,
			"sh", cmd.Path}, cmd.Args[1:]...)...)
		wrapped.Env = cmd.Env
		n := &vaultNode{pod: pod, api: api, template: wrapped, log: filepath.Join(v.t.TempDir(), pod+".log")}
		if err := n.start(); err != nil {
			return err
		}
		v.mu.Lock()
		v.nodes = append(v.nodes, n)
		v.mu.Unlock()
		if err := portForward(ctx, v.t, v.ns, pod, api); err != nil {
			return err
		}
	}
	close(v.started)
	return nil
}

// serviceAccountFiles writes what the kubelet mounts into a pod of sa: a token from the
// TokenRequest API, the cluster's CA and the namespace.
func (v *VaultPods) serviceAccountFiles(ctx context.Context, cs kubernetes.Interface, sa string) (string, error) {
	tok, err := cs.CoreV1().ServiceAccounts(v.ns).CreateToken(ctx, sa, &authnv1.TokenRequest{
		Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token of ServiceAccount %s: %w", sa, err)
	}
	ca, err := os.ReadFile(RestConfig(v.t).TLSClientConfig.CAFile)
	if err != nil {
		return "", err
	}
	dir := v.t.TempDir()
	for name, data := range map[string]string{"token": tok.Status.Token, "ca.crt": string(ca), "namespace": v.ns} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			return "", err
		}
	}
	return dir, nil
}

func portForward(ctx context.Context, t testing.TB, ns, pod string, port int) error {
	return ForwardPodPort(ctx, t, ns, pod, 8200, port)
}

// ForwardPodPort makes kwok forward port podPort of simulated pod ns/pod to a local process on
// localPort, so that port-forwards through the API server reach it as on a real cluster.
func ForwardPodPort(ctx context.Context, t testing.TB, ns, pod string, podPort, localPort int) error {
	dyn, err := dynamic.NewForConfig(RestConfig(t))
	if err != nil {
		return err
	}
	pf := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "PortForward",
		"metadata": map[string]any{"name": pod, "namespace": ns},
		"spec": map[string]any{"forwards": []any{map[string]any{
			"ports": []any{int64(podPort)}, "target": map[string]any{"port": int64(localPort), "address": "127.0.0.1"}}}},
	}}
	_, err = dyn.Resource(portForwards).Namespace(ns).Create(ctx, pf, metav1.CreateOptions{})
	return err
}

func (n *vaultNode) start() error {
	cmd := exec.Command(n.template.Path, n.template.Args[1:]...)
	cmd.Env = n.template.Env
	log, err := os.OpenFile(n.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("starting Vault for %s: %w", n.pod, err)
	}
	n.proc, n.exited = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(n.exited)
	}()
	return nil
}

func (n *vaultNode) stop() {
	if n.proc == nil {
		return
	}
	_ = n.proc.Process.Signal(syscall.SIGKILL)
	<-n.exited
	n.proc = nil
}

// Restart kills pod i's process and starts it again on the same data, as a pod restart does:
// it comes back sealed.
func (v *VaultPods) Restart(i int) {
	v.t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	n := v.nodes[i]
	n.stop()
	if err := n.start(); err != nil {
		v.t.Fatal(err)
	}
}

// Logs returns everything the Vault processes printed (the audit log included).
func (v *VaultPods) Logs() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var b strings.Builder
	for _, n := range v.nodes {
		data, _ := os.ReadFile(n.log)
		b.Write(data)
	}
	return b.String()
}

// Address is pod i's process on loopback: only for tests' own checks (the CLI never gets it).
func (v *VaultPods) Address(i int) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return fmt.Sprintf("https://127.0.0.1:%d", v.nodes[i].api)
}

func stringData(in map[string][]byte) map[string]string {
	out := map[string]string{}
	for k, b := range in {
		out[k] = string(b)
	}
	return out
}

func mustUnstructured(t testing.TB, obj any) map[string]any {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// VaultKeys is an operator's age key pair and the place of the key file install writes:
// what install needs to initialise a bundled Vault and unseal it later.
type VaultKeys struct {
	Recipient string
	// Identity is the age identity file of Recipient.
	Identity string
	KeysFile string
}

// NewVaultKeys makes a key pair in a folder of the test's.
func NewVaultKeys(t testing.TB) VaultKeys {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	identity := filepath.Join(dir, "identity.txt")
	if err := os.WriteFile(identity, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return VaultKeys{Recipient: id.Recipient().String(), Identity: identity, KeysFile: filepath.Join(dir, "vault-keys.age")}
}

// Args are install's flags for these keys: one key share is enough for tests.
func (k VaultKeys) Args() []string {
	return []string{"--vault-recipient", k.Recipient, "--vault-identity", k.Identity,
		"--vault-keys-file", k.KeysFile, "--vault-key-shares", "1", "--vault-key-threshold", "1"}
}

// VaultOperator is what a test gives install so that it initialises the Vault that VaultPods
// runs: an operator's keys, and the API server address Vault's Kubernetes auth reviews tokens at.
type VaultOperator struct {
	VaultKeys
	// Set is the value that points Kubernetes auth at the test API server.
	Set  string
	Pods *VaultPods
}

// NewVaultOperator starts release's Vault pods in ns and makes an operator key pair.
func NewVaultOperator(t testing.TB, ns, release string) *VaultOperator {
	t.Helper()
	return &VaultOperator{VaultKeys: NewVaultKeys(t), Set: "vault.bundled.kubernetesHost=" + RestConfig(t).Host,
		Pods: StartVaultPods(t, ns, release)}
}

// Args are install's flags for this operator.
func (o *VaultOperator) Args() []string {
	return append([]string{"--set", o.Set}, o.VaultKeys.Args()...)
}

// StandaloneVault is one real Vault process with its own storage and a TLS listener, started
// uninitialised: an "external" Vault for preflight's checks.
type StandaloneVault struct {
	Address string
	// CA is the PEM of the CA that signed the listener's certificate.
	CA     string
	Client *api.Client
}

// StartStandaloneVault starts it; it stops with the test.
func StartStandaloneVault(t testing.TB) *StandaloneVault {
	t.Helper()
	e := Require(t)
	if e.VaultBin == "" {
		unavailable(t, "no Vault binary in the test environment: run 'make testenv-up'")
	}
	dir := t.TempDir()
	certs, err := vault.NewCertificate("external-vault", "test")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range certs {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	apiPort, cluster := FreePort(t), FreePort(t)
	cfg := fmt.Sprintf(`disable_mlock = true
api_addr = "https://127.0.0.1:%[1]d"
cluster_addr = "https://127.0.0.1:%[2]d"
listener "tcp" {
  address = "127.0.0.1:%[1]d"
  cluster_address = "127.0.0.1:%[2]d"
  tls_cert_file = "%[3]s/tls.crt"
  tls_key_file = "%[3]s/tls.key"
}
storage "raft" {
  path = "%[3]s"
}
`, apiPort, cluster, dir)
	if err := os.WriteFile(filepath.Join(dir, "vault.hcl"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	n := &vaultNode{pod: "external-vault", api: apiPort, log: filepath.Join(dir, "vault.log"),
		template: exec.Command(e.VaultBin, "server", "-config="+filepath.Join(dir, "vault.hcl"))}
	n.template.Env = []string{"HOME=" + dir}
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.stop)
	s := &StandaloneVault{Address: fmt.Sprintf("https://127.0.0.1:%d", apiPort), CA: string(certs["ca.crt"])}
	apiCfg := api.DefaultConfig()
	apiCfg.Address = s.Address
	if err := apiCfg.ConfigureTLS(&api.TLSConfig{CACertBytes: certs["ca.crt"]}); err != nil {
		t.Fatal(err)
	}
	if s.Client, err = api.NewClient(apiCfg); err != nil {
		t.Fatal(err)
	}
	s.Client.ClearToken()
	Eventually(t, 30*time.Second, "the standalone Vault to answer", func() (bool, error) {
		_, err := s.Client.Sys().SealStatus()
		return err == nil, nil
	})
	return s
}

// Activate initialises the Vault with one key share, unseals it, gives its Client the root
// token, waits until it is the active node, and returns the root token.
func (s *StandaloneVault) Activate(t testing.TB) string {
	t.Helper()
	init, err := s.Client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Sys().Unseal(init.Keys[0]); err != nil {
		t.Fatal(err)
	}
	s.Client.SetToken(init.RootToken)
	Eventually(t, 30*time.Second, "Vault to become active", func() (bool, error) {
		h, err := s.Client.Sys().Health()
		return err == nil && !h.Standby && !h.Sealed, nil
	})
	return init.RootToken
}
