package access_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"
	kratos "github.com/ory/kratos-client-go"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/resimate/resimatectl/internal/access"
	"github.com/resimate/resimatectl/internal/testenv"
)

// landscape is the access a review must find: RBAC in a namespace of the test cluster, Kratos
// identities with and without sign-ins, and a real Vault with roles and policies. Every name
// carries tag, so that the review can be limited to it in the shared test environment.
type landscape struct {
	ns, tag, release string
	cs               kubernetes.Interface
	// ids maps a person's short name to their Kratos identity id.
	ids         map[string]string
	vault       *testenv.StandaloneVault
	vaultCAFile string
	reviewerTok string
	database    string
	kratosURL   string
}

func newLandscape(t *testing.T) *landscape {
	testenv.Require(t, testenv.Kubernetes, testenv.Kratos, testenv.Postgres)
	tag := strings.TrimPrefix(testenv.UniqueName("x"), "x-")
	l := &landscape{ns: testenv.Namespace(t, nil), tag: tag, release: "r" + tag, cs: testenv.Clientset(t), ids: map[string]string{}}
	l.rbac(t)
	l.identities(t)
	l.startVault(t)
	l.database = testenv.Database(t)
	l.kratosURL = testenv.Require(t, testenv.Kratos).KratosAdminURL
	return l
}

func (l *landscape) name(s string) string { return s + "-" + l.tag }

func rule(verbs []string, group string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: []string{group}, Resources: resources}
}

func (l *landscape) rbac(t *testing.T) {
	ctx := context.Background()
	rb := l.cs.RbacV1()
	must := func(_ any, err error) { t.Helper(); require.NoError(t, err) }
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: l.ns} }
	helm := func(name string) metav1.ObjectMeta {
		m := meta(name)
		m.Annotations = map[string]string{"meta.helm.sh/release-name": l.release, "meta.helm.sh/release-namespace": l.ns}
		return m
	}
	user := func(n string) rbacv1.Subject {
		return rbacv1.Subject{Kind: "User", APIGroup: rbacv1.GroupName, Name: n}
	}
	sa := func(n string) rbacv1.Subject { return rbacv1.Subject{Kind: "ServiceAccount", Name: n, Namespace: l.ns} }
	roleRef := func(kind, n string) rbacv1.RoleRef {
		return rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: n}
	}
	binding := func(m metav1.ObjectMeta, ref rbacv1.RoleRef, s ...rbacv1.Subject) {
		must(rb.RoleBindings(l.ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: m, RoleRef: ref, Subjects: s}, metav1.CreateOptions{}))
	}

	for _, m := range []metav1.ObjectMeta{meta(l.name("app")), meta(l.name("limited")), helm(l.release + "-api")} {
		must(l.cs.CoreV1().ServiceAccounts(l.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: m}, metav1.CreateOptions{}))
	}
	must(rb.Roles(l.ns).Create(ctx, &rbacv1.Role{ObjectMeta: meta(l.name("secrets")), Rules: []rbacv1.PolicyRule{rule([]string{"get", "list"}, "", "secrets")}}, metav1.CreateOptions{}))
	must(rb.Roles(l.ns).Create(ctx, &rbacv1.Role{ObjectMeta: meta(l.name("view")), Rules: []rbacv1.PolicyRule{rule([]string{"get"}, "", "configmaps")}}, metav1.CreateOptions{}))
	must(rb.Roles(l.ns).Create(ctx, &rbacv1.Role{ObjectMeta: meta(l.name("wild")), Rules: []rbacv1.PolicyRule{rule([]string{"*"}, "", "configmaps")}}, metav1.CreateOptions{}))
	must(rb.Roles(l.ns).Create(ctx, &rbacv1.Role{ObjectMeta: helm(l.release + "-api"), Rules: []rbacv1.PolicyRule{rule([]string{"get"}, "", "configmaps")}}, metav1.CreateOptions{}))
	// The limited reviewer may read RoleBindings and Roles here, and nothing else.
	must(rb.Roles(l.ns).Create(ctx, &rbacv1.Role{ObjectMeta: meta(l.name("rbac-reader")),
		Rules: []rbacv1.PolicyRule{rule([]string{"list"}, rbacv1.GroupName, "roles", "rolebindings")}}, metav1.CreateOptions{}))

	binding(meta(l.name("read-secrets")), roleRef("Role", l.name("secrets")), user(l.name("alice")))
	binding(meta(l.name("wild")), roleRef("Role", l.name("wild")), user(l.name("bob")))
	binding(meta(l.name("ghost")), roleRef("Role", l.name("view")), sa(l.name("ghost")))
	binding(meta(l.name("norole")), roleRef("Role", l.name("missing")), user(l.name("dave")))
	binding(meta(l.name("app")), roleRef("Role", l.name("view")), sa(l.name("app")))
	binding(meta(l.name("anon")), roleRef("Role", l.name("view")), rbacv1.Subject{Kind: "Group", APIGroup: rbacv1.GroupName, Name: "system:unauthenticated"})
	binding(helm(l.release+"-api"), roleRef("Role", l.release+"-api"), sa(l.release+"-api"))
	binding(meta(l.name("extra")), roleRef("Role", l.name("secrets")), sa(l.release+"-api"))
	binding(meta(l.name("limited")), roleRef("Role", l.name("rbac-reader")), sa(l.name("limited")))

	// An aggregated ClusterRole: its rules come from the ClusterRoles its selector matches.
	sel := map[string]string{"resimate.io/aggregate-" + l.tag: "true"}
	must(rb.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: l.name("agg")},
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: sel}}}}, metav1.CreateOptions{}))
	must(rb.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: l.name("agg-exec"), Labels: sel},
		Rules: []rbacv1.PolicyRule{rule([]string{"create"}, "", "pods/exec")}}, metav1.CreateOptions{}))
	binding(meta(l.name("devs")), roleRef("ClusterRole", l.name("agg")), rbacv1.Subject{Kind: "Group", APIGroup: rbacv1.GroupName, Name: l.name("devs")})
	must(rb.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: l.name("impersonate")},
		Rules: []rbacv1.PolicyRule{rule([]string{"impersonate"}, "", "users")}}, metav1.CreateOptions{}))
	must(rb.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: l.name("impersonate")},
		RoleRef: roleRef("ClusterRole", l.name("impersonate")), Subjects: []rbacv1.Subject{user(l.name("carol"))}}, metav1.CreateOptions{}))
	t.Cleanup(func() {
		ctx := context.Background()
		for _, n := range []string{"agg", "agg-exec", "impersonate"} {
			_ = rb.ClusterRoles().Delete(ctx, l.name(n), metav1.DeleteOptions{})
		}
		_ = rb.ClusterRoleBindings().Delete(ctx, l.name("impersonate"), metav1.DeleteOptions{})
	})

	// A legacy token Secret, last used (by the API server's label) 200 days ago.
	lastUsed := time.Now().AddDate(0, 0, -200).Format(time.DateOnly)
	must(l.cs.CoreV1().Secrets(l.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: l.name("token"), Namespace: l.ns,
		Annotations: map[string]string{corev1.ServiceAccountNameKey: l.name("app")}, Labels: map[string]string{"kubernetes.io/legacy-token-last-used": lastUsed}},
		Type: corev1.SecretTypeServiceAccountToken}, metav1.CreateOptions{}))
}

const password = "correct horse battery staple 42"

// identities creates the people: an admin without a second factor (ada), an admin with TOTP
// (grace), one never signed in for 400 days (old), one last signed in 200 days ago (eve), an
// inactive identity with a live session (gone) and a shared mailbox (support).
func (l *landscape) identities(t *testing.T) {
	admin, public := testenv.KratosAdmin(t), testenv.KratosPublic(t)
	ctx := context.Background()
	create := func(who, email string, metadata map[string]any) {
		body := kratos.CreateIdentityBody{SchemaId: "user_v1", Traits: map[string]any{"email": email}, MetadataPublic: metadata,
			Credentials: &kratos.IdentityWithCredentials{Password: &kratos.IdentityWithCredentialsPassword{
				Config: &kratos.IdentityWithCredentialsPasswordConfig{Password: kratos.PtrString(password)}}}}
		id, _, err := admin.IdentityAPI.CreateIdentity(ctx).CreateIdentityBody(body).Execute()
		require.NoError(t, err)
		l.ids[who] = id.Id
		t.Cleanup(func() { _, _ = admin.IdentityAPI.DeleteIdentity(context.Background(), id.Id).Execute() })
	}
	adminRole := map[string]any{"role": "admin"}
	create("ada", l.name("ada")+"@example.com", adminRole)
	create("grace", l.name("grace")+"@example.com", map[string]any{"roles": []any{"admin", "analyst"}})
	create("old", l.name("old")+"@example.com", nil)
	create("eve", l.name("eve")+"@example.com", nil)
	create("gone", l.name("gone")+"@example.com", nil)
	create("support", "support+"+l.tag+"@example.com", nil)

	for _, who := range []string{"ada", "grace", "eve", "gone"} {
		signIn(t, public, l.name(who)+"@example.com")
	}
	addTOTP(t, public, signIn(t, public, l.name("grace")+"@example.com"))
	patch := []kratos.JsonPatch{{Op: "replace", Path: "/state", Value: "inactive"}}
	_, _, err := admin.IdentityAPI.PatchIdentity(ctx, l.ids["gone"]).JsonPatch(patch).Execute()
	require.NoError(t, err)

	// Time passing, in Kratos' own tables: old was created 400 days ago, eve signed in 200 days ago.
	db := kratosDB(t)
	_, err = db.Exec(ctx, "UPDATE identities SET created_at = now() - interval '400 days' WHERE id IN ($1, $2)", l.ids["old"], l.ids["eve"])
	require.NoError(t, err)
	_, err = db.Exec(ctx, "UPDATE sessions SET authenticated_at = now() - interval '200 days', issued_at = now() - interval '200 days' WHERE identity_id = $1", l.ids["eve"])
	require.NoError(t, err)
}

// kratosDB connects to the test Kratos' own database, named in its config.
func kratosDB(t *testing.T) *pgx.Conn {
	e := testenv.Require(t, testenv.Kratos)
	raw, err := os.ReadFile(e.KratosConfig)
	require.NoError(t, err)
	var cfg struct{ DSN string }
	require.NoError(t, yaml.Unmarshal(raw, &cfg))
	// Kratos' own pool settings are no PostgreSQL parameters.
	dsn, err := url.Parse(cfg.DSN)
	require.NoError(t, err)
	q := dsn.Query()
	q.Del("max_conns")
	q.Del("max_idle_conns")
	dsn.RawQuery = q.Encode()
	conn, err := pgx.Connect(context.Background(), dsn.String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// signIn signs in through the public API's native login flow and returns the session token.
func signIn(t *testing.T, public *kratos.APIClient, email string) string {
	ctx := context.Background()
	flow, _, err := public.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
	require.NoError(t, err)
	body := kratos.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(&kratos.UpdateLoginFlowWithPasswordMethod{
		Method: "password", Identifier: email, Password: password})
	res, _, err := public.FrontendAPI.UpdateLoginFlow(ctx).Flow(flow.Id).UpdateLoginFlowBody(body).Execute()
	require.NoError(t, err, "signing in %s", email)
	return res.GetSessionToken()
}

// addTOTP pairs a TOTP authenticator through the settings flow, as a user's app would.
func addTOTP(t *testing.T, public *kratos.APIClient, session string) {
	ctx := context.Background()
	flow, _, err := public.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(session).Execute()
	require.NoError(t, err)
	secret := ""
	for _, n := range flow.Ui.Nodes {
		if a := n.Attributes.UiNodeTextAttributes; a != nil && a.Id == "totp_secret_key" {
			secret = a.Text.Text
		}
	}
	require.NotEmpty(t, secret, "the settings flow offers TOTP")
	code, err := totp.GenerateCode(secret, time.Now())
	require.NoError(t, err)
	body := kratos.UpdateSettingsFlowWithTotpMethodAsUpdateSettingsFlowBody(&kratos.UpdateSettingsFlowWithTotpMethod{Method: "totp", TotpCode: &code})
	_, _, err = public.FrontendAPI.UpdateSettingsFlow(ctx).Flow(flow.Id).XSessionToken(session).UpdateSettingsFlowBody(body).Execute()
	require.NoError(t, err)
}

// startVault initialises a real Vault and gives it the platform's roles and policies, one
// policy wider than the layout, a role open to any ServiceAccount, and a reviewer token with
// the read-only policy docs/access.md gives.
func (l *landscape) startVault(t *testing.T) {
	v := testenv.StartStandaloneVault(t)
	l.vault = v
	v.Activate(t)
	c := v.Client
	require.NoError(t, c.Sys().EnableAuthWithOptions("kubernetes", &api.EnableAuthOptions{Type: "kubernetes"}))
	write := func(path string, data map[string]any) {
		_, err := c.Logical().Write(path, data)
		require.NoError(t, err, path)
	}
	write("auth/kubernetes/config", map[string]any{"kubernetes_host": "https://127.0.0.1:6443", "kubernetes_ca_cert": v.CA, "disable_local_ca_jwt": true})
	require.NoError(t, c.Sys().PutPolicy("resimate-api", `path "resimate/data/database/api" { capabilities = ["read"] }
path "resimate/data/*" { capabilities = ["read", "list"] }`))
	require.NoError(t, c.Sys().PutPolicy("ops", `path "sys/*" { capabilities = ["read", "sudo"] }`))
	require.NoError(t, c.Sys().PutPolicy("access-reviewer", access.ReviewerPolicy))
	write("auth/kubernetes/role/api", map[string]any{"bound_service_account_names": l.release + "-api", "bound_service_account_namespaces": l.ns,
		"token_policies": "resimate-api", "audience": "vault"})
	write("auth/kubernetes/role/anything", map[string]any{"bound_service_account_names": "*", "bound_service_account_namespaces": "*", "token_policies": "default"})
	tok, err := c.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"access-reviewer"}, NoDefaultPolicy: true, TTL: "1h"})
	require.NoError(t, err)
	l.reviewerTok = tok.Auth.ClientToken
	l.vaultCAFile = t.TempDir() + "/vault-ca.pem"
	require.NoError(t, os.WriteFile(l.vaultCAFile, []byte(v.CA), 0o600))

	layout := fmt.Sprintf(`{"kvMount":"resimate","roles":[{"name":"api","serviceAccount":"%s-api","paths":["database/api"]}]}`, l.release)
	_, err = l.cs.CoreV1().ConfigMaps(l.ns).Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: l.release + "-vault-layout", Namespace: l.ns},
		Data: map[string]string{"layout.json": layout}}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// args are the review flags that read this landscape, and only it.
func (l *landscape) args(extra ...string) []string {
	return append([]string{"-n", l.ns, "--release", l.release, "--scope-namespaces", l.ns,
		"--subject", "*" + l.tag + "*", "--subject", "system:unauthenticated",
		"--kratos-admin-url", l.kratosURL, "--vault-address", l.vault.Address, "--vault-ca-cert", l.vaultCAFile}, extra...)
}

// env gives the CLI the reviewer's Vault token and the records' database.
func (l *landscape) env() []string {
	return []string{"VAULT_TOKEN=" + l.reviewerTok, "RESIMATE_DATABASE_URL=" + l.database}
}
