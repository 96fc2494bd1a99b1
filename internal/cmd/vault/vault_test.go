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
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/resimate/resimatectl/internal/testenv"
	"github.com/resimate/resimatectl/internal/vault"
)

func cli(t *testing.T, args ...string) testenv.Result {
	t.Helper()
	return testenv.Run(t, testenv.Require(t, testenv.Kubernetes).Kubeconfig, nil, args...)
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
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &pods), r.Stdout+r.Stderr)
	return pods, r.Code
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
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{Audiences: []string{"vault"}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	return tok.Status.Token
}

func TestInstallInitialisesUnsealsAndConfiguresVault(t *testing.T) {
	t.Parallel()
	testenv.EnsureCRDs(t, testenv.CRDsCNPG, testenv.CRDsPrometheus)
	ns := testenv.Namespace(t, nil)
	op := newOperator(t)
	keysFile := filepath.Join(t.TempDir(), "vault-keys.age")
	pods := testenv.StartVaultPods(t, ns, "resimate")
	var outputs []string

	r := cli(t, installArgs(t, ns, keysFile, "--vault-recipient", op.recipient)...)
	outputs = append(outputs, r.Stdout, r.Stderr)
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr+"\nVault's logs:\n"+pods.Logs())
	assert.Contains(t, r.Stderr, "Vault initialised")

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

	// Vault Agent, with the configuration the chart renders for the core model API's pods,
	// logs in with the pod's projected token and writes the database URL the API reads.
	url := runAgent(t, pods, ns, "resimate-core-model-api")
	assert.Equal(t, "postgres://resimate:"+string(dbApp.Data["password"])+"@resimate-postgres-rw."+ns+".svc:5432/resimate?sslmode=require&search_path=tenant_resimate_main", strings.TrimSpace(url))

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
	outputs = append(outputs, r.Stdout, r.Stderr)
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr)
	assert.Contains(t, r.Stdout, "already up to date")
	assert.Contains(t, r.Stderr, "already configured")
	assert.Equal(t, before, stateDigest(t, ns))

	// A restarted pod comes back sealed: status says so and is not Ready; unseal with the
	// operator's identity brings it back.
	pods.Restart(1)
	testenv.Eventually(t, time.Minute, "the restarted Vault to answer", func() (bool, error) {
		statuses, code = podStatuses(t, ns)
		return statuses[1].Error == "", nil
	})
	assert.Equal(t, 1, code)
	assert.True(t, statuses[1].Sealed, "%+v", statuses[1])
	st := cli(t, "status", "-n", ns)
	outputs = append(outputs, st.Stdout, st.Stderr)
	assert.Equal(t, 1, st.Code)
	assert.Contains(t, st.Stdout, "pod resimate-vault-1 is sealed")
	u := cli(t, "vault", "unseal", "-n", ns, "--vault-keys-file", keysFile, "--vault-identity", op.identity)
	outputs = append(outputs, u.Stdout, u.Stderr)
	require.Equal(t, 0, u.Code, u.Stdout+u.Stderr)
	statuses, code = podStatuses(t, ns)
	assert.Equal(t, 0, code, "%+v", statuses)

	// An upgrade that drops a component reconciles Vault's roles: that needs a root token, made
	// from the key holders' quorum, so without the identity it says what to give; with it the
	// config API's role is gone afterwards, and so is the token.
	up := installArgs(t, ns, keysFile, "--set", "apis.config.enabled=false")
	r = cli(t, up...)
	outputs = append(outputs, r.Stdout, r.Stderr)
	assert.Equal(t, 1, r.Code)
	assert.Contains(t, r.Stderr, "give --vault-identity")
	r = cli(t, append(up, "--vault-identity", op.identity)...)
	outputs = append(outputs, r.Stdout, r.Stderr)
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr)
	assert.Contains(t, r.Stderr, "the root token was revoked")
	_, err = directClient(t, pods, ns, 0).Logical().Write("auth/kubernetes/login", map[string]any{"role": "config-api", "jwt": serviceAccountToken(t, ns, "resimate-core-model-api")})
	assert.ErrorContains(t, err, `invalid role name "config-api"`)

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

// A run killed right after Vault's init loses nothing: the keys were written first, and the
// rerun finishes with them.
func TestInstallKilledRightAfterVaultInitFinishesOnRerun(t *testing.T) {
	t.Parallel()
	e := testenv.Require(t, testenv.Kubernetes)
	testenv.EnsureCRDs(t, testenv.CRDsCNPG, testenv.CRDsPrometheus)
	ns := testenv.Namespace(t, nil)
	op := newOperator(t)
	keysFile := filepath.Join(t.TempDir(), "vault-keys.age")
	pods := testenv.StartVaultPods(t, ns, "resimate")
	args := installArgs(t, ns, keysFile, "--vault-recipient", op.recipient, "--lock-ttl", "6s")

	cmd := exec.Command(testenv.Binary(t), append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	testenv.Eventually(t, 3*time.Minute, "the key file to appear", func() (bool, error) {
		_, err := os.Stat(keysFile)
		return err == nil, nil
	})
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	written := mustRead(t, keysFile)
	statuses, _ := podStatuses(t, ns)
	require.NotEmpty(t, statuses)
	assert.True(t, statuses[0].Initialized, "the killed run initialised Vault: %+v", statuses[0])

	// Without the identity the rerun cannot unseal, and says what to give.
	testenv.Eventually(t, time.Minute, "the killed run's lock to go stale", func() (bool, error) {
		r := cli(t, args...)
		if strings.Contains(r.Stderr, "locked: ") {
			return false, nil
		}
		assert.Equal(t, 1, r.Code, r.Stderr)
		assert.Contains(t, r.Stderr, "give --vault-identity")
		return true, nil
	})
	r := cli(t, append(args, "--vault-identity", op.identity)...)
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr+"\nVault's logs:\n"+pods.Logs())
	statuses, code := podStatuses(t, ns)
	assert.Equal(t, 0, code, "%+v", statuses)
	assert.Equal(t, written, mustRead(t, keysFile), "the key file is never rewritten")
	for _, secret := range keysSecretsOf(t, op, keysFile) {
		assert.NotContains(t, out.String()+r.Stdout+r.Stderr, secret)
	}
}

func keysSecretsOf(t *testing.T, op operator, keysFile string) []string {
	ids, err := age.ParseIdentities(strings.NewReader(mustRead(t, op.identity)))
	require.NoError(t, err)
	keys, err := vault.ReadKeys(keysFile, ids)
	require.NoError(t, err)
	return keys.Secrets()
}

func TestVaultBadInputSaysWhatToDoAndChangesNothing(t *testing.T) {
	t.Parallel()
	testenv.EnsureCRDs(t, testenv.CRDsCNPG, testenv.CRDsPrometheus)
	op, other := newOperator(t), newOperator(t)
	keysFile := filepath.Join(t.TempDir(), "vault-keys.age")

	// No recipient for a first install: a usage error before anything exists.
	fresh := testenv.Namespace(t, nil)
	r := cli(t, installArgs(t, fresh, keysFile)...)
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "give --vault-recipient")
	secrets, err := testenv.Clientset(t).CoreV1().Secrets(fresh).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, secrets.Items)
	r = cli(t, installArgs(t, fresh, keysFile, "--vault-recipient", "age1notakey")...)
	assert.Equal(t, 2, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "--vault-recipient")

	// Vault initialised by someone else: install refuses and writes no key file.
	ns := testenv.Namespace(t, nil)
	pods := testenv.StartVaultPods(t, ns, "resimate")
	r = cli(t, installArgs(t, ns, keysFile, "--vault-init", "manual")...)
	require.Equal(t, 0, r.Code, r.Stderr)
	pods.WaitStarted(time.Minute)
	someone := directClient(t, pods, ns, 0)
	testenv.Eventually(t, time.Minute, "Vault to answer", func() (bool, error) {
		_, err := someone.Sys().SealStatus()
		return err == nil, nil
	})
	_, err = someone.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	require.NoError(t, err)
	r = cli(t, installArgs(t, ns, keysFile, "--vault-recipient", op.recipient)...)
	assert.Equal(t, 1, r.Code)
	assert.Contains(t, r.Stderr, "Vault is already initialised, but there is no key file at "+keysFile)
	assert.NoFileExists(t, keysFile)

	// A key file opened with the wrong identity.
	recipients, err := age.ParseRecipients(strings.NewReader(op.recipient))
	require.NoError(t, err)
	require.NoError(t, vault.WriteKeys(keysFile, &vault.Keys{Threshold: 1, UnsealKeys: []string{"a2V5"}, RootToken: "hvs.x"}, recipients))
	r = cli(t, "vault", "unseal", "-n", ns, "--vault-keys-file", keysFile, "--vault-identity", other.identity)
	assert.Equal(t, 1, r.Code)
	assert.Contains(t, r.Stderr, "none of the given identities can decrypt it")
	assert.NotContains(t, r.Stderr, "a2V5")
}

// runAgent runs the real Vault binary as the API's vault-agent init container (the installed
// Deployment's, with its ConfigMap and the CA of the TLS Secret) against pod 0's process, and
// returns the file it wrote.
func runAgent(t *testing.T, pods *testenv.VaultPods, ns, deployment string) string {
	e := testenv.Require(t, testenv.Kubernetes)
	cs := testenv.Clientset(t)
	ctx := context.Background()
	dep, err := cs.AppsV1().Deployments(ns).Get(ctx, deployment, metav1.GetOptions{})
	require.NoError(t, err)
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(dep)
	require.NoError(t, err)
	spec, volumes := testenv.PodTemplateContainer(t, &unstructured.Unstructured{Object: obj}, "vault-agent")
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, deployment+"-vault-agent", metav1.GetOptions{})
	require.NoError(t, err)
	tlsSecret, err := cs.CoreV1().Secrets(ns).Get(ctx, "resimate-vault-tls", metav1.GetOptions{})
	require.NoError(t, err)
	// The Service's in-cluster address is pod 0's process here.
	hcl := strings.Replace(cm.Data["agent.hcl"], "https://resimate-vault."+ns+".svc:8200", pods.Address(0), 1)
	c := &testenv.Container{Spec: spec, Volumes: volumes,
		ConfigMaps: map[string]map[string]string{cm.Name: {"agent.hcl": hcl}},
		Secrets:    map[string]map[string]string{tlsSecret.Name: {"ca.crt": string(tlsSecret.Data["ca.crt"])}},
		Projected:  map[string]map[string]string{"vault-token": {"token": serviceAccountToken(t, ns, deployment)}},
	}
	cmd := c.Command(t, e.VaultBin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), out.String())
	// The secrets folder is the emptyDir the agent shares with the API: find it through the agent's config.
	for _, arg := range cmd.Args {
		if dir, ok := strings.CutPrefix(arg, "-config="); ok {
			data, err := os.ReadFile(filepath.Join(filepath.Dir(dir), "agent.hcl"))
			require.NoError(t, err)
			m := regexp.MustCompile(`destination = "([^"]+)"`).FindStringSubmatch(string(data))
			require.NotNil(t, m, string(data))
			return mustRead(t, m[1])
		}
	}
	t.Fatal("the agent's command has no -config")
	return ""
}

// On-prem auto-unseal: the transit engine of another (real) Vault unseals the bundled one,
// install keeps recovery keys, and a restarted pod unseals itself.
func TestTransitSealUnsealsVaultByItself(t *testing.T) {
	t.Parallel()
	testenv.EnsureCRDs(t, testenv.CRDsCNPG, testenv.CRDsPrometheus)
	transit := testenv.StartStandaloneVault(t)
	init, err := transit.Client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	require.NoError(t, err)
	_, err = transit.Client.Sys().Unseal(init.KeysB64[0])
	require.NoError(t, err)
	admin, err := transit.Client.Clone()
	require.NoError(t, err)
	admin.SetToken(init.RootToken)
	testenv.Eventually(t, time.Minute, "the transit Vault to become active", func() (bool, error) {
		return admin.Sys().MountWithContext(context.Background(), "transit", &api.MountInput{Type: "transit"}) == nil, nil
	})
	_, err = admin.Logical().Write("transit/keys/autounseal", nil)
	require.NoError(t, err)
	require.NoError(t, admin.Sys().PutPolicy("autounseal", `path "transit/encrypt/autounseal" { capabilities = ["update"] }
path "transit/decrypt/autounseal" { capabilities = ["update"] }`))
	tok, err := admin.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"autounseal"}, Period: "24h"})
	require.NoError(t, err)

	ns := testenv.Namespace(t, nil)
	_, err = testenv.Clientset(t).CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "transit-seal"},
		StringData: map[string]string{"VAULT_TOKEN": tok.Auth.ClientToken, "ca.crt": transit.CA}}, metav1.CreateOptions{})
	require.NoError(t, err)
	op := newOperator(t)
	keysFile := filepath.Join(t.TempDir(), "vault-keys.age")
	pods := testenv.StartVaultPods(t, ns, "resimate")
	r := cli(t, installArgs(t, ns, keysFile, "--vault-recipient", op.recipient,
		"--set", "vault.bundled.seal.type=transit", "--set", "vault.bundled.seal.credentialsSecret=transit-seal",
		"--set", "vault.bundled.seal.parameters.address="+transit.Address, "--set", "vault.bundled.seal.parameters.key_name=autounseal",
		"--set", "vault.bundled.seal.parameters.mount_path=transit/", "--set", "vault.bundled.seal.parameters.tls_ca_cert=/vault/seal/ca.crt")...)
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr+"\nVault's logs:\n"+pods.Logs())
	assert.Contains(t, r.Stderr, "initialising Vault on resimate-vault-0 (transit")
	assert.NotContains(t, r.Stderr, "unsealing", "nothing to unseal by hand")
	ids, err := age.ParseIdentities(strings.NewReader(mustRead(t, op.identity)))
	require.NoError(t, err)
	keys, err := vault.ReadKeys(keysFile, ids)
	require.NoError(t, err)
	assert.Equal(t, "transit", keys.Seal)
	assert.Len(t, keys.RecoveryKeys, 3)
	assert.Empty(t, keys.UnsealKeys)

	pods.Restart(2)
	testenv.Eventually(t, 2*time.Minute, "the restarted pod to unseal itself", func() (bool, error) {
		statuses, code := podStatuses(t, ns)
		return code == 0 && statuses[2].Ready(), nil
	})
}
