package vault_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/resimate/resimatectl/internal/testenv"
	"github.com/resimate/resimatectl/internal/vault"
)

type result struct {
	code           int
	stdout, stderr string
}

func cli(t *testing.T, args ...string) result {
	t.Helper()
	e := testenv.Require(t, testenv.Kubernetes)
	cmd := exec.Command(testenv.Binary(t), append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errOut.String()}
}

// operator is an age key pair: the recipient install encrypts to, the identity file that opens it.
type operator struct {
	recipient, identity string
}

func newOperator(t *testing.T) operator {
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "identity.txt")
	require.NoError(t, os.WriteFile(path, []byte(id.String()+"\n"), 0o600))
	return operator{recipient: id.Recipient().String(), identity: path}
}

// installArgs install the local profile into ns with the bundled Vault initialised by install;
// Vault's Kubernetes auth reviews tokens at the test API server (its in-cluster address here).
func installArgs(t *testing.T, ns, keysFile string, extra ...string) []string {
	return append([]string{"install", "--profile", "local", "-n", ns, "--set", "global.domain=localhost",
		"--set", "vault.bundled.kubernetesHost=" + testenv.RestConfig(t).Host,
		"--skip-upstream", "--offline", "--ignore-checks", "smtp", "--timeout", "3m",
		"--vault-keys-file", keysFile, "--vault-key-shares", "3", "--vault-key-threshold", "2"}, extra...)
}

func podStatuses(t *testing.T, ns string) ([]vault.PodStatus, int) {
	r := cli(t, "vault", "status", "-n", ns, "-o", "json")
	var pods []vault.PodStatus
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &pods), r.stdout+r.stderr)
	return pods, r.code
}

// directClient talks to pod i's process with the CA from the release's TLS Secret: the tests'
// own view, to check what the platform would see.
func directClient(t *testing.T, pods *testenv.VaultPods, ns string, i int) *api.Client {
	s, err := testenv.Clientset(t).CoreV1().Secrets(ns).Get(context.Background(), "resimate-vault-tls", metav1.GetOptions{})
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(s.Data["ca.crt"]))
	cfg := api.DefaultConfig()
	cfg.Address = pods.Address(i)
	cfg.HttpClient.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool}
	c, err := api.NewClient(cfg)
	require.NoError(t, err)
	c.ClearToken()
	return c
}

func serviceAccountToken(t *testing.T, ns, sa string) string {
	tok, err := testenv.Clientset(t).CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{}}, metav1.CreateOptions{})
	require.NoError(t, err)
	return tok.Status.Token
}

func TestInstallInitialisesUnsealsAndConfiguresVault(t *testing.T) {
	testenv.EnsureCRDs(t, testenv.CRDsCNPG, testenv.CRDsPrometheus)
	ns := testenv.Namespace(t, nil)
	op := newOperator(t)
	keysFile := filepath.Join(t.TempDir(), "vault-keys.age")
	pods := testenv.StartVaultPods(t, ns, "resimate")
	var outputs []string

	r := cli(t, installArgs(t, ns, keysFile, "--vault-recipient", op.recipient)...)
	outputs = append(outputs, r.stdout, r.stderr)
	require.Equal(t, 0, r.code, r.stdout+r.stderr+"\nVault's logs:\n"+pods.Logs())
	assert.Contains(t, r.stderr, "Vault initialised")

	// Three real Vault processes: initialised, unsealed, one Raft leader and two followers.
	statuses, code := podStatuses(t, ns)
	assert.Equal(t, 0, code)
	roles := map[string]int{}
	for _, p := range statuses {
		assert.True(t, p.Initialized && !p.Sealed, "%+v", p)
		roles[p.Role]++
	}
	assert.Equal(t, map[string]int{"leader": 1, "follower": 2}, roles)

	// The core model API's ServiceAccount logs in with a token from the TokenRequest API (Vault
	// reviews it with the real API server) and reads its database credentials, not Kratos'.
	c := directClient(t, pods, ns, 0)
	login, err := c.Logical().Write("auth/kubernetes/login", map[string]any{"role": "core-model-api", "jwt": serviceAccountToken(t, ns, "resimate-core-model-api")})
	require.NoError(t, err)
	c.SetToken(login.Auth.ClientToken)
	own, err := c.KVv2("resimate").Get(context.Background(), "database/postgres-credentials")
	require.NoError(t, err)
	dbApp, err := testenv.Clientset(t).CoreV1().Secrets(ns).Get(context.Background(), "resimate-db-app", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, string(dbApp.Data["password"]), own.Data["password"])
	assert.Equal(t, "resimate", own.Data["database"])
	_, err = c.KVv2("resimate").Get(context.Background(), "database/kratos-credentials")
	assert.ErrorContains(t, err, "permission denied")
	_, err = c.KVv2("resimate").Get(context.Background(), "external/email-service-api-key")
	assert.ErrorContains(t, err, "permission denied")

	// The root token in the key file was revoked.
	ids, err := age.ParseIdentities(strings.NewReader(mustRead(t, op.identity)))
	require.NoError(t, err)
	keys, err := vault.ReadKeys(keysFile, ids)
	require.NoError(t, err)
	root := directClient(t, pods, ns, 0)
	root.SetToken(keys.RootToken)
	_, err = root.Auth().Token().LookupSelf()
	assert.ErrorContains(t, err, "permission denied")

	// A rerun changes nothing, and needs no keys.
	before := stateDigest(t, ns)
	r = cli(t, installArgs(t, ns, keysFile)...)
	outputs = append(outputs, r.stdout, r.stderr)
	require.Equal(t, 0, r.code, r.stdout+r.stderr)
	assert.Contains(t, r.stdout, "already up to date")
	assert.Contains(t, r.stderr, "already configured")
	assert.Equal(t, before, stateDigest(t, ns))

	// A restarted pod comes back sealed: status says so and is not Ready; unseal with the
	// operator's identity brings it back.
	pods.Restart(1)
	statuses, code = podStatuses(t, ns)
	assert.Equal(t, 1, code)
	assert.True(t, statuses[1].Sealed, "%+v", statuses[1])
	st := cli(t, "status", "-n", ns)
	outputs = append(outputs, st.stdout, st.stderr)
	assert.Equal(t, 1, st.code)
	assert.Contains(t, st.stdout, "pod resimate-vault-1 is sealed")
	u := cli(t, "vault", "unseal", "-n", ns, "--vault-keys-file", keysFile, "--vault-identity", op.identity)
	outputs = append(outputs, u.stdout, u.stderr)
	require.Equal(t, 0, u.code, u.stdout+u.stderr)
	statuses, code = podStatuses(t, ns)
	assert.Equal(t, 0, code, "%+v", statuses)

	// No unseal key or token anywhere: outputs, Vault's logs, the cluster's objects.
	outputs = append(outputs, pods.Logs(), clusterObjects(t, ns))
	all := strings.Join(outputs, "\n")
	for _, secret := range keys.Secrets() {
		assert.NotContains(t, all, secret)
	}
	assert.NotContains(t, all, login.Auth.ClientToken)
}

func mustRead(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func stateDigest(t *testing.T, ns string) string {
	cm, err := testenv.Clientset(t).CoreV1().ConfigMaps(ns).Get(context.Background(), "resimate-vault-state", metav1.GetOptions{})
	require.NoError(t, err)
	return cm.Data["configured"]
}

// clusterObjects is every Secret, ConfigMap and Lease of the namespace, and the Helm
// releases' contents, as JSON.
func clusterObjects(t *testing.T, ns string) string {
	cs := testenv.Clientset(t)
	ctx := context.Background()
	var b strings.Builder
	secrets, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	cms, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, o := range []any{secrets, cms} {
		j, _ := json.Marshal(o)
		b.Write(j)
	}
	for _, s := range secrets.Items {
		for _, v := range s.Data {
			b.Write(v)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
