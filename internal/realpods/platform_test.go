package realpods_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/resimate/resimatectl/internal/testenv"
	"github.com/resimate/resimatectl/internal/vault"
)

// platform is one installation on the real-pod cluster, and how to run resimatectl against it.
type platform struct {
	rp      *testenv.RealPodsCluster
	ns      string
	profile string
	// extra are the profile's own flags here (what its foundations lack on this machine).
	extra []string
	keys  testenv.VaultKeys
	// env gives install the external server's admin URL the way the README says: not as a flag.
	env []string
}

// The values that fit the platform on one 2-core node: only the requests are smaller, so
// that the scheduler places every replica; limits, probes and security stay the chart's.
var oneNodeValues = []string{
	"frontend.resources.requests.cpu=20m", "frontend.resources.requests.memory=64Mi",
	"apis.resources.requests.cpu=20m", "apis.resources.requests.memory=64Mi",
	"kratos.resources.requests.cpu=20m", "kratos.resources.requests.memory=64Mi",
	"vault.bundled.resources.requests.cpu=50m", "vault.bundled.resources.requests.memory=128Mi",
}

// chartArgs are the profile and values of every command that renders the chart: the images
// loaded on the node, and the test environment's PostgreSQL as the external server, which
// pods reach at the bridge address and log in to with the passwords install generates.
func (p *platform) chartArgs() []string {
	args := []string{"--profile", p.profile, "-n", p.ns, "--set", "global.domain=localhost",
		"--set", "global.imageRegistry=" + p.rp.Registry,
		"--set", "postgres.mode=external", "--set", "postgres.external.host=" + p.rp.PostgresHost,
		"--set", "postgres.external.port=" + p.rp.PostgresPort, "--set", "postgres.external.sslmode=disable",
		"--skip-upstream", "--offline", "--ignore-checks", "smtp"}
	for _, v := range oneNodeValues {
		args = append(args, "--set", v)
	}
	return append(args, p.extra...)
}

func (p *platform) run(t *testing.T, args ...string) testenv.Result {
	t.Helper()
	return testenv.Run(t, p.rp.Kubeconfig, p.env, args...)
}

// mustRun runs a command that must succeed, and shows its output's end when it does not.
func (p *platform) mustRun(t *testing.T, args ...string) testenv.Result {
	t.Helper()
	r := p.run(t, args...)
	if r.Code != 0 {
		t.Fatalf("resimatectl %s: exit %d\n%s", args[0], r.Code, tail(r.Stdout+r.Stderr, 40))
	}
	return r
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func newPlatform(t *testing.T, profile string, extra ...string) *platform {
	rp := testenv.RealPodsEnv(t)
	admin, err := pgxpool.New(context.Background(), rp.DatabaseURL)
	require.NoError(t, err)
	t.Cleanup(admin.Close)
	// This package alone uses the real-pod server, one installation at a time.
	testenv.DropPlatformRoles(t, admin)
	t.Cleanup(func() { testenv.DropPlatformRoles(t, admin) })
	return &platform{rp: rp, ns: rp.Namespace(t), profile: profile, extra: extra, keys: testenv.NewVaultKeys(t),
		env: []string{"RESIMATE_POSTGRES_URL=" + rp.DatabaseURL}}
}

// The local profile on real pods, from preflight to a deleted Vault pod: every step is what
// an operator runs, and each is checked against what the kubelet, Vault, Kratos, PostgreSQL
// and the enforced policies really did.
func TestLocalProfileOnRealPods(t *testing.T) {
	p := newPlatform(t, "local")
	ctx := context.Background()
	install(t, p)

	t.Run("a user signs in and an API reads with Vault's credentials", func(t *testing.T) { checkRequestFlow(t, p) })
	t.Run("the enforced policies pass the needed flows and refuse the others", func(t *testing.T) { checkFlows(t, p) })

	t.Run("backup schedule's CronJob writes a set that verify accepts", func(t *testing.T) { checkScheduledBackup(t, p) })

	t.Run("upgrade rolls the pods and rollback goes back", func(t *testing.T) {
		before := podUIDs(t, p, "app.kubernetes.io/component=kratos")
		vaultBefore := podUIDs(t, p, "app.kubernetes.io/component=vault")
		upgrade := append([]string{"upgrade", "apply", "--timeout", "5m", "--skip-backup", "--set", "kratos.logLevel=debug",
			"--vault-identity", p.keys.Identity, "--vault-keys-file", p.keys.KeysFile}, p.chartArgs()...)
		assert.Contains(t, p.mustRun(t, upgrade...).Stdout, "revision 2, every component Ready")
		assert.NotEqual(t, before, podUIDs(t, p, "app.kubernetes.io/component=kratos"), "Kratos' pods were replaced")
		assert.Equal(t, vaultBefore, podUIDs(t, p, "app.kubernetes.io/component=vault"), "Vault's pods roll only on delete")
		assertVaultUnsealed(t, p, 3)
		assert.Contains(t, kratosConfig(t, p), "level: debug")

		rolled := podUIDs(t, p, "app.kubernetes.io/component=kratos")
		p.mustRun(t, "rollback", "-n", p.ns)
		assert.Contains(t, kratosConfig(t, p), "level: info")
		testenv.Eventually(t, 3*time.Minute, "Kratos' pods to be replaced again and Ready", func() (bool, error) {
			now := podUIDs(t, p, "app.kubernetes.io/component=kratos")
			return !sameAny(now, rolled) && p.run(t, "status", "-n", p.ns).Code == 0, nil
		})
		checkRequestFlow(t, p)
	})

	t.Run("a deleted Vault pod comes back sealed and vault unseal opens it", func(t *testing.T) {
		require.NoError(t, p.rp.Client.CoreV1().Pods(p.ns).Delete(ctx, "resimate-vault-1", metav1.DeleteOptions{}))
		testenv.Eventually(t, 2*time.Minute, "the new resimate-vault-1 to run sealed", func() (bool, error) {
			r := p.run(t, "vault", "status", "-n", p.ns, "-o", "json")
			return strings.Contains(r.Stdout, `"sealed": true`), nil
		})
		st := p.run(t, "status", "-n", p.ns)
		assert.Equal(t, 1, st.Code, "status says not Ready while a Vault pod is sealed:\n%s", st.Stdout)
		p.mustRun(t, "vault", "unseal", "-n", p.ns, "--vault-identity", p.keys.Identity, "--vault-keys-file", p.keys.KeysFile)
		assertVaultUnsealed(t, p, 3)
		testenv.Eventually(t, time.Minute, "status to be Ready again", func() (bool, error) {
			return p.run(t, "status", "-n", p.ns).Code == 0, nil
		})
	})
}

// The on-premise profile: the ingress on, with TLS, and the policies admitting only the ingress
// controller's namespace. Neither cert-manager's nor Knative's images are built here: the
// certificate is a Secret of the site's (as certManager.enabled=false lets a site give it), and
// the APIs run as Deployments (apis.mode=deployment, the chart's form for clusters without
// Knative). No ingress controller runs either: the Ingress object is checked, not traffic
// through it.
func TestOnpremProfileOnRealPods(t *testing.T) {
	p := newPlatform(t, "onprem", "--set", "certManager.enabled=false", "--set", "apis.mode=deployment",
		"--ignore-checks", "ingress-class")
	certs, err := vault.NewCertificate("resimate", p.ns)
	require.NoError(t, err)
	_, err = p.rp.Client.CoreV1().Secrets(p.ns).Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "resimate-tls"},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": certs["tls.crt"], "tls.key": certs["tls.key"]}}, metav1.CreateOptions{})
	require.NoError(t, err)
	install(t, p)

	ing, err := p.rp.Client.NetworkingV1().Ingresses(p.ns).Get(context.Background(), "resimate", metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, ing.Spec.TLS, 1)
	assert.Equal(t, "resimate-tls", ing.Spec.TLS[0].SecretName)
	assert.Contains(t, kratosConfig(t, p), "base_url: https://auth.localhost/")
	t.Run("a user signs in and an API reads with Vault's credentials", func(t *testing.T) { checkRequestFlow(t, p) })
	t.Run("the enforced policies pass the needed flows and refuse the others", func(t *testing.T) { checkFlows(t, p) })
}

// install runs preflight, which must find nothing failing, then install, and checks what the
// kubelet and Vault say of the result.
func install(t *testing.T, p *platform) {
	t.Helper()
	pre := p.mustRun(t, append([]string{"preflight"}, p.chartArgs()...)...)
	assert.NotContains(t, pre.Stdout, "FAIL")
	out := p.mustRun(t, append(append([]string{"install", "--timeout", "5m"}, p.chartArgs()...), p.keys.Args()...)...).Stdout
	assert.Contains(t, out, "every component Ready")
	assertPodsRunReady(t, p)
	assertVaultUnsealed(t, p, 3)
}

// assertPodsRunReady: every pod of the release is Running and Ready by the kubelet's own
// probes, under the namespace's PodSecurity restricted (admission let each pod in).
func assertPodsRunReady(t *testing.T, p *platform) {
	t.Helper()
	ns, err := p.rp.Client.CoreV1().Namespaces().Get(context.Background(), p.ns, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "restricted", ns.Labels["pod-security.kubernetes.io/enforce"])
	pods, err := p.rp.Client.CoreV1().Pods(p.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/part-of=resimate"})
	require.NoError(t, err)
	components := map[string]int{}
	for _, pod := range pods.Items {
		if pod.Status.Phase == corev1.PodSucceeded {
			continue // a finished Job's pod
		}
		assert.Equal(t, corev1.PodRunning, pod.Status.Phase, pod.Name)
		for _, c := range pod.Status.ContainerStatuses {
			assert.True(t, c.Ready, "%s/%s ready", pod.Name, c.Name)
			assert.NotNil(t, c.State.Running, "%s/%s running", pod.Name, c.Name)
		}
		components[pod.Labels["app.kubernetes.io/component"]]++
	}
	assert.Equal(t, map[string]int{"frontend": 2, "kratos": 2, "vault": 3, "core-model-api": 1, "campaigns-api": 1, "config-api": 1}, components)
}

// assertVaultUnsealed: n Vault pods initialised, unsealed and in one Raft cluster, as vault
// status reads them through port-forwards to the pods.
func assertVaultUnsealed(t *testing.T, p *platform, n int) {
	t.Helper()
	var pods []struct {
		Pod         string `json:"pod"`
		Initialized bool   `json:"initialized"`
		Sealed      bool   `json:"sealed"`
		Role        string `json:"role"`
	}
	testenv.Eventually(t, 2*time.Minute, fmt.Sprintf("%d Vault pods unsealed in one Raft cluster", n), func() (bool, error) {
		r := p.run(t, "vault", "status", "-n", p.ns, "-o", "json")
		if err := json.Unmarshal([]byte(r.Stdout), &pods); err != nil {
			return false, fmt.Errorf("%v: %s", err, r.Stdout+r.Stderr)
		}
		leaders, unsealed := 0, 0
		for _, v := range pods {
			if v.Initialized && !v.Sealed {
				unsealed++
			}
			if v.Role == "leader" {
				leaders++
			}
		}
		return len(pods) == n && unsealed == n && leaders == 1, fmt.Errorf("%s", r.Stdout)
	})
}

func podUIDs(t *testing.T, p *platform, selector string) map[types.UID]bool {
	t.Helper()
	pods, err := p.rp.Client.CoreV1().Pods(p.ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	require.NoError(t, err)
	uids := map[types.UID]bool{}
	for _, pod := range pods.Items {
		if pod.DeletionTimestamp == nil {
			uids[pod.UID] = true
		}
	}
	return uids
}

func sameAny(a, b map[types.UID]bool) bool {
	for uid := range a {
		if b[uid] {
			return true
		}
	}
	return false
}

// kratosConfig is Kratos' configuration as its running pods mount it.
func kratosConfig(t *testing.T, p *platform) string {
	t.Helper()
	cm, err := p.rp.Client.CoreV1().ConfigMaps(p.ns).Get(context.Background(), "resimate-kratos-config", metav1.GetOptions{})
	require.NoError(t, err)
	return cm.Data["kratos.yml"]
}
