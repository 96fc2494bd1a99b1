package install_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	release "helm.sh/helm/v4/pkg/release/v1"

	"github.com/resimate/resimatectl/internal/helm"
	"github.com/resimate/resimatectl/internal/lock"
	"github.com/resimate/resimatectl/internal/logging"
	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/secrets"
	"github.com/resimate/resimatectl/internal/testenv"
)

func cli(t *testing.T, kubeconfig string, args ...string) testenv.Result {
	t.Helper()
	return testenv.Run(t, kubeconfig, nil, args...)
}

// The flags that make a local install fit the test cluster. The lock TTL is short so that a
// killed run's lock goes stale soon, but not so short that a busy 2-core machine misses a renewal
// and the live run loses its own lock (seen in CI with 2 s).
func installArgs(ns string, extra ...string) []string {
	return append([]string{"install", "--profile", "local", "-n", ns, "--set", "global.domain=localhost",
		"--skip-upstream", "--offline", "--ignore-checks", "smtp", "--timeout", "2m", "--lock-ttl", "6s", "--log-level", "debug",
		"--vault-init", "manual"}, extra...)
}

// withVault runs the release's Vault for real in ns and returns the flags that let install
// initialise it (after installArgs' --vault-init manual, they win).
func withVault(t *testing.T, ns string) []string {
	return append([]string{"--vault-init", "auto"}, testenv.NewVaultOperator(t, ns, render.DefaultRelease).Args()...)
}

// stage is a point of an install to stop it at, and what must be seen before the stop.
type stage struct {
	name string
	// reached reports whether the run got there (its output so far, the namespace).
	reached func(out, ns string) bool
}

var installStages = []stage{
	{"preflight", func(out, _ string) bool { return strings.Contains(out, "] preflight") }},
	{"lock held", func(_, ns string) bool { return leaseExists(ns) }},
	{"revision pending", func(_, ns string) bool { return releaseStatus(ns) == "pending-install" }},
	{"helm waiting", func(_, ns string) bool {
		return releaseStatus(ns) == "pending-install" && deploymentExists(ns, "resimate-frontend")
	}},
}

func TestKilledInstallConvergesOnRerun(t *testing.T) {
	e := testenv.Require(t, testenv.Kubernetes)
	testenv.EnsureCRDs(t, testenv.CRDsCNPG, testenv.CRDsPrometheus)
	cs := testenv.Clientset(t)
	ctx := context.Background()

	// Kill at several points, each once the run was seen to reach it.
	for _, at := range installStages {
		t.Run(at.name, func(t *testing.T) {
			t.Parallel()
			ns := testenv.Namespace(t, nil)
			vault := withVault(t, ns)
			cmd := exec.Command(testenv.Binary(t), append([]string{"--kubeconfig", e.Kubeconfig}, installArgs(ns, vault...)...)...)
			cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
			out := &testenv.Buffer{}
			cmd.Stdout, cmd.Stderr = out, out
			require.NoError(t, cmd.Start())
			waitFor(t, at.name, func() bool { return at.reached(out.String(), ns) })
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			_ = cmd.Wait()
			assert.True(t, at.reached(out.String(), ns) || releaseStatus(ns) != "", "the killed run did part of the work")

			// The killed run's lock goes stale after --lock-ttl; the rerun takes it over.
			waitFor(t, "the killed run's lock to go stale", func() bool { return leaseStale(ns) })
			r := cli(t, e.Kubeconfig, installArgs(ns, vault...)...)
			if !assert.Equal(t, 0, r.Code) {
				t.Fatalf("the rerun failed:\n%s", lastLines(r.Stdout+r.Stderr, 30))
			}
			st := cli(t, e.Kubeconfig, "status", "-n", ns)
			assert.Equal(t, 0, st.Code, st.Stdout)
			assert.Contains(t, st.Stdout, "Ready: all 9 components are Current")

			// No duplicate or orphaned objects: the namespace holds what the release says, once.
			rel := latestRelease(t, ns)
			want := map[string]bool{}
			objs, err := render.ParseManifest(rel.Manifest)
			require.NoError(t, err)
			for _, o := range objs {
				want[o.GetKind()+"/"+o.GetName()] = true
			}
			deps, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			for _, d := range deps.Items {
				assert.True(t, want["Deployment/"+d.Name], "orphaned Deployment %s", d.Name)
			}
			sts, err := cs.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			assert.Len(t, sts.Items, 2, "kratos and vault, once each")
			secrets, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=resimatectl"})
			require.NoError(t, err)
			assert.Len(t, secrets.Items, 4, "the generated secrets and Vault's certificate, once each")
		})
	}
}

// Ctrl-C or SIGTERM while Helm waits: the revision is undone, the lock released, the exit
// status 130 or 143; the rerun goes ahead at once (no stale lock to wait out) and completes.
func TestInterruptedInstallStopsCleanly(t *testing.T) {
	e := testenv.Require(t, testenv.Kubernetes)
	testenv.EnsureCRDs(t, testenv.CRDsCNPG, testenv.CRDsPrometheus)
	for sig, code := range map[syscall.Signal]int{syscall.SIGINT: 130, syscall.SIGTERM: 143} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			ns := testenv.Namespace(t, nil)
			// A frontend no node can hold: Helm waits until it is stopped.
			args := installArgs(ns, "--skip-preflight", "--lock-ttl", "30s", "--set", "frontend.resources.requests.cpu=100", "--set", "frontend.resources.limits.cpu=100")
			cmd := exec.Command(testenv.Binary(t), append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
			cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
			out := &testenv.Buffer{}
			cmd.Stdout, cmd.Stderr = out, out
			require.NoError(t, cmd.Start())
			waitFor(t, "Helm waiting", func() bool { return installStages[3].reached("", ns) })
			require.NoError(t, cmd.Process.Signal(sig))
			_ = cmd.Wait()
			assert.Equal(t, code, cmd.ProcessState.ExitCode(), out.String())
			assert.Contains(t, out.String(), "Error: interrupted by "+map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[sig])
			assert.False(t, leaseExists(ns), "the lock was released")
			assert.NotEqual(t, "pending-install", releaseStatus(ns), "no revision left pending")

			r := cli(t, e.Kubeconfig, installArgs(ns, "--lock-ttl", "30s")...)
			require.Equal(t, 0, r.Code, r.Stderr)
			assert.NotContains(t, r.Stderr, "took over the lock")
			assert.NotContains(t, r.Stderr, "left pending-install by an interrupted run")
		})
	}
}

// waitFor polls cond until it holds; a minute without is a failure (the run never got there).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never saw: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func leaseExists(ns string) bool {
	_, err := clientset().CoordinationV1().Leases(ns).Get(context.Background(), lock.Name(render.DefaultRelease), metav1.GetOptions{})
	return err == nil
}

// leaseStale: the lease is gone, or its holder stopped renewing it longer ago than it lasts.
func leaseStale(ns string) bool {
	l, err := clientset().CoordinationV1().Leases(ns).Get(context.Background(), lock.Name(render.DefaultRelease), metav1.GetOptions{})
	if err != nil {
		return apierrors.IsNotFound(err)
	}
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return true
	}
	return time.Now().After(l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second))
}

// releaseStatus is the status of the release's newest stored revision ("" when none).
func releaseStatus(ns string) string {
	list, err := clientset().CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=" + render.DefaultRelease})
	if err != nil {
		return ""
	}
	newest, status := 0, ""
	for _, s := range list.Items {
		if v, _ := strconv.Atoi(s.Labels["version"]); v > newest {
			newest, status = v, s.Labels["status"]
		}
	}
	return status
}

func deploymentExists(ns, name string) bool {
	_, err := clientset().AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	return err == nil
}

var (
	clientsetOnce sync.Once
	clients       *kubernetes.Clientset
)

// clientset is the test cluster's admin client, for polls that run outside a test's goroutine.
func clientset() *kubernetes.Clientset {
	clientsetOnce.Do(func() {
		env, err := testenv.Load()
		if err != nil {
			panic(err)
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
		if err != nil {
			panic(err)
		}
		clients = kubernetes.NewForConfigOrDie(cfg)
	})
	return clients
}

func latestRelease(t *testing.T, ns string) *release.Release {
	t.Helper()
	e := testenv.Require(t, testenv.Kubernetes)
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &e.Kubeconfig
	h, err := helm.New(flags, ns, logging.Discard())
	require.NoError(t, err)
	rel, err := h.Latest(render.DefaultRelease)
	require.NoError(t, err)
	require.NotNil(t, rel)
	return rel
}

func TestSecretsNeverPrinted(t *testing.T) {
	e := testenv.Require(t, testenv.Kubernetes)
	testenv.EnsureCRDs(t, testenv.CRDsCNPG, testenv.CRDsPrometheus)
	ns := testenv.Namespace(t, nil)
	vault := withVault(t, ns)
	var printed strings.Builder
	for _, args := range [][]string{
		installArgs(ns, vault...),
		installArgs(ns, append(vault, "--set", "frontend.replicas.min=3")...),
		installArgs(ns, append(vault, "-o", "json")...),
		{"status", "-n", ns, "-o", "yaml"},
		{"upgrade", "plan", "--profile", "local", "-n", ns, "--set", "global.domain=localhost"},
		{"render", "--profile", "local", "-n", ns},
	} {
		r := cli(t, e.Kubeconfig, args...)
		require.Equal(t, 0, r.Code, "%v: %s", args, r.Stderr)
		printed.WriteString(r.Stdout + r.Stderr)
	}
	cs := testenv.Clientset(t)
	for _, name := range secrets.Names(render.DefaultRelease) {
		s, err := cs.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
		require.NoError(t, err)
		for k, v := range s.Data {
			if k == corev1.BasicAuthUsernameKey {
				continue
			}
			require.GreaterOrEqual(t, len(v), 32)
			assert.NotContains(t, printed.String(), string(v), "secret %s/%s was printed", name, k)
		}
	}
	assert.Contains(t, printed.String(), "generated 3 platform secrets")
}

func TestBadInputIsOneLineAndChangesNothing(t *testing.T) {
	e := testenv.Require(t, testenv.Kubernetes)
	admin := testenv.Clientset(t)
	ctx := context.Background()

	// A user who may do nothing in a namespace of its own.
	home := testenv.Namespace(t, nil)
	_, err := admin.CoreV1().ServiceAccounts(home).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = admin.RbacV1().RoleBindings(home).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "view"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "nobody", Namespace: home}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	tok, err := admin.CoreV1().ServiceAccounts(home).CreateToken(ctx, "nobody", &authnv1.TokenRequest{}, metav1.CreateOptions{})
	require.NoError(t, err)
	restricted := filepath.Join(t.TempDir(), "kubeconfig")
	kc, err := os.ReadFile(e.Kubeconfig)
	require.NoError(t, err)
	server := ""
	for _, l := range strings.Split(string(kc), "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(l), "server: "); ok {
			server = s
		}
	}
	require.NoError(t, os.WriteFile(restricted, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %s, insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: %s}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`, server, tok.Status.Token)), 0o600))

	closed := filepath.Join(t.TempDir(), "closed")
	require.NoError(t, os.WriteFile(closed, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600))

	fresh := testenv.UniqueName("never")
	cases := []struct {
		name, kubeconfig string
		args             []string
		code             int
		want             string
	}{
		{"unknown profile", e.Kubeconfig, []string{"install", "--profile", "mars", "-n", fresh}, 2, `unknown profile "mars"`},
		{"values fail the schema", e.Kubeconfig, installArgs(fresh, "--set", "vault.mode=sometimes"), 2, "at '/vault/mode'"},
		{"unreachable cluster", closed, installArgs(fresh), 1, "preflight failed, nothing was changed: kube-api: cannot reach the API server at https://127.0.0.1:1"},
		{"forbidden namespace", restricted, installArgs(home), 1, "preflight failed, nothing was changed: rbac: "},
		{"forbidden namespace, preflight skipped", restricted, installArgs(home, "--skip-preflight"), 1, "forbidden"},
	}
	for _, c := range cases {
		r := cli(t, c.kubeconfig, c.args...)
		assert.Equal(t, c.code, r.Code, "%s: %s", c.name, r.Stderr)
		errLines := 0
		for _, l := range strings.Split(r.Stderr, "\n") {
			if strings.HasPrefix(l, "Error: ") {
				errLines++
				assert.Contains(t, l, c.want, c.name)
			}
		}
		assert.Equal(t, 1, errLines, "%s: one error line:\n%s", c.name, r.Stderr)
	}
	_, err = admin.CoreV1().Namespaces().Get(ctx, fresh, metav1.GetOptions{})
	assert.Error(t, err, "no namespace was created")
	deps, err := admin.AppsV1().Deployments(home).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, deps.Items, "nothing was applied in the forbidden namespace")
}

// lastLines is the end of a long output, which testify cannot show whole.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
