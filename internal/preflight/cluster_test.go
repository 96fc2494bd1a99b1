package preflight

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/testenv"
)

// run renders profile with set and runs every check against cfg.
func run(t *testing.T, cfg *rest.Config, ns, profile string, set ...string) (*Report, map[string]Result, *Target) {
	t.Helper()
	rendered, err := render.Render(context.Background(), render.Options{Profile: profile, Namespace: ns, Set: set})
	require.NoError(t, err)
	target, err := NewTarget(cfg, nil, rendered)
	require.NoError(t, err)
	target.Profile, target.Namespace, target.Release, target.Offline = profile, ns, rendered.ReleaseName(), true
	rep, err := (&Runner{Checks: Checks()}).Run(context.Background(), target)
	require.NoError(t, err)
	byID := map[string]Result{}
	for _, r := range rep.Results {
		byID[r.ID] = r
	}
	return rep, byID, target
}

// smtpListener is a loopback TCP server standing in for the customer's SMTP host.
func smtpListener(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

// Loopback values: the domain resolves here, SMTP answers, no internet is needed.
func localValues(t *testing.T) []string {
	host, port, _ := net.SplitHostPort(smtpListener(t))
	return []string{"global.domain=localhost", "apis.campaigns.smtp.host=" + host, "apis.campaigns.smtp.port=" + port}
}

func TestSatisfyingClusterPasses(t *testing.T) {
	testenv.EnsureCRDs(t, testenv.CRDsKnative, testenv.CRDsCNPG, testenv.CRDsPrometheus)
	cfg := testenv.RestConfig(t)
	ns := testenv.Namespace(t, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	set := append(localValues(t), "apis.mode=knative", "monitoring.enabled=true")
	rep, byID, _ := run(t, cfg, ns, "local", set...)
	for _, r := range rep.Results {
		assert.NotEqual(t, StatusFail, r.Status, "%s: %s", r.ID, r.Message)
		assert.NotEqual(t, StatusWarn, r.Status, "%s: %s", r.ID, r.Message)
	}
	assert.True(t, rep.OK)
	assert.Contains(t, byID["knative"].Message, "services.serving.knative.dev (v1)")
	assert.Contains(t, byID["capacity"].Message, "CPU")
	assert.Contains(t, byID["pod-security"].Message, "restricted (namespace "+ns+")")
	assert.Contains(t, byID["namespace"].Message, "no Resimate release")
}

func TestNarrowRoleListsExactlyTheMissingPermissions(t *testing.T) {
	admin := testenv.Clientset(t)
	ns := testenv.Namespace(t, nil)
	ctx := context.Background()
	_, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "narrow"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	granted := []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets"}, Verbs: []string{"*"}},
		{APIGroups: []string{""}, Resources: []string{"secrets", "services", "configmaps"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
	}
	_, err = admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "narrow"}, Rules: granted}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "narrow"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "narrow"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "narrow", Namespace: ns}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	tok, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "narrow", &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{}}, metav1.CreateOptions{})
	require.NoError(t, err)

	cfg := rest.AnonymousClientConfig(testenv.RestConfig(t))
	cfg.BearerToken = tok.Status.Token
	_, byID, _ := run(t, cfg, ns, "onprem", localValues(t)...)
	rbac := byID["rbac"]
	require.Equal(t, StatusFail, rbac.Status, rbac.Message)

	// Expected, written out by hand from what an onprem install applies and does (its objects,
	// the lock, the namespace, the CRD and pod reads), less what the Role grants.
	all := []string{"create", "delete", "get", "list", "patch", "update", "watch"}
	needs := []struct {
		resource, scope string
		verbs           []string
	}{
		{"clusters.postgresql.cnpg.io", ns, all},
		{"databases.postgresql.cnpg.io", ns, all},
		{"horizontalpodautoscalers.autoscaling", ns, all},
		{"ingresses.networking.k8s.io", ns, all},
		{"jobs.batch", ns, all},
		{"networkpolicies.networking.k8s.io", ns, all},
		{"poddisruptionbudgets.policy", ns, all},
		{"rolebindings.rbac.authorization.k8s.io", ns, all},
		{"roles.rbac.authorization.k8s.io", ns, all},
		{"serviceaccounts", ns, all},
		{"services.serving.knative.dev", ns, all},
		{"clusterrolebindings.rbac.authorization.k8s.io", "cluster", all},
		{"leases.coordination.k8s.io", ns, []string{"create", "delete", "get", "update"}},
		{"namespaces", "cluster", []string{"create", "get"}},
		{"customresourcedefinitions.apiextensions.k8s.io", "cluster", []string{"get", "list"}},
		{"events", ns, []string{"list"}},
		{"pods", ns, []string{"get", "list", "watch"}},
	}
	var want []string
	for _, n := range needs {
		for _, v := range n.verbs {
			want = append(want, fmt.Sprintf("%s %s (%s)", v, n.resource, n.scope))
		}
	}
	sort.Strings(want)
	assert.Equal(t, want, rbac.Details)
	assert.Contains(t, rbac.Details, "create networkpolicies.networking.k8s.io ("+ns+")")
	assert.Contains(t, rbac.Details, "create clusterrolebindings.rbac.authorization.k8s.io (cluster)")
	assert.NotContains(t, rbac.Details, "create deployments.apps ("+ns+")")
	assert.Contains(t, rbac.Message, fmt.Sprintf("%d of ", len(want)))
	// The same user cannot list nodes: that check says so.
	assert.Contains(t, byID["nodes"].Message, "cannot list nodes")
}

// The empty second API server: no nodes, no StorageClass, no CRDs.
func bareConfig(t *testing.T) *rest.Config {
	e := testenv.Require(t, testenv.KubernetesBare)
	cfg, err := clientcmd.BuildConfigFromFlags("", e.KubeconfigBare)
	require.NoError(t, err)
	return cfg
}

func TestBareClusterNamesWhatIsMissing(t *testing.T) {
	_, byID, _ := run(t, bareConfig(t), "resimate", "local", append(localValues(t), "apis.mode=knative")...)
	assert.Equal(t, StatusFail, byID["storage-class"].Status)
	assert.Equal(t, "no default StorageClass; the cluster has: none", byID["storage-class"].Message)
	assert.Equal(t, StatusFail, byID["knative"].Status)
	assert.Equal(t, "Knative Serving is not installed: missing CRDs services.serving.knative.dev", byID["knative"].Message)
	assert.Equal(t, "Kubernetes v1.37.2 is supported (1.30 to 1.37)", byID["kube-version"].Message)
	assert.Equal(t, "none of the 0 nodes can run the platform's pods", byID["nodes"].Message)
	// nodes is not fatal: capacity still runs and gives the numbers.
	assert.Equal(t, "12 pods need 5.8 CPU and 11.6Gi memory; 0 eligible nodes have 0 CPU and 0Mi memory free: CPU short by 5.8; memory short by 11.6Gi; "+
		"no node has room for the largest pod (Cluster resimate-postgres: 1 CPU, 2Gi memory)", byID["capacity"].Message)
}

// What install's upstream charts bring is no failure on a cluster that lacks it yet; with
// --skip-upstream it is.
func TestBareClusterPassesForWhatInstallBrings(t *testing.T) {
	set := append(localValues(t), "monitoring.enabled=true")
	rendered, err := render.Render(context.Background(), render.Options{Profile: "onprem", Namespace: "resimate", Set: set})
	require.NoError(t, err)
	evaluate := func(skip bool) map[string]Result {
		rep, err := Evaluate(context.Background(), bareConfig(t), nil, rendered, Params{Profile: "onprem", Namespace: "resimate", Offline: true, SkipUpstream: skip}, nil)
		require.NoError(t, err)
		byID := map[string]Result{}
		for _, r := range rep.Results {
			byID[r.ID] = r
		}
		return byID
	}
	byID := evaluate(false)
	assert.Equal(t, StatusPass, byID["knative"].Status)
	assert.Equal(t, "Knative Serving will be installed by install: services.serving.knative.dev (upstream chart knative-operator)", byID["knative"].Message)
	assert.Equal(t, "CloudNativePG will be installed by install: clusters.postgresql.cnpg.io (upstream chart cloudnative-pg); databases.postgresql.cnpg.io (upstream chart cloudnative-pg)", byID["cloudnative-pg"].Message)
	assert.Equal(t, StatusPass, byID["prometheus-operator"].Status)
	assert.Equal(t, StatusWarn, byID["cert-manager"].Status)
	assert.Equal(t, `cert-manager will be installed by install; create ClusterIssuer "letsencrypt" (certManager.issuerName) then, or the ingress certificate is never issued`, byID["cert-manager"].Message)

	byID = evaluate(true)
	for _, id := range []string{"knative", "cloudnative-pg", "prometheus-operator", "cert-manager"} {
		assert.Equal(t, StatusFail, byID[id].Status, id)
		assert.Contains(t, byID[id].Message, "is not installed: missing CRDs", id)
	}
}

func TestSmallNodePoolFailsCapacityWithTheNumbers(t *testing.T) {
	cs := testenv.Clientset(t)
	pool := testenv.UniqueName("small")
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", pool, i),
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
				Labels:      map[string]string{"pool": pool, "type": "kwok"}},
			// Tainted so that no other test's pods land on these small nodes.
			Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "resimate.io/test-pool", Value: pool, Effect: corev1.TaintEffectNoSchedule}}},
			Status: corev1.NodeStatus{
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("900m"), corev1.ResourceMemory: resource.MustParse("2Gi"), corev1.ResourcePods: resource.MustParse("110")},
				Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("2Gi"), corev1.ResourcePods: resource.MustParse("110")},
			},
		}
		_, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		require.NoError(t, err)
		name := node.Name
		t.Cleanup(func() { _ = cs.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}
	// The node controller lifts its node.kubernetes.io/not-ready taint a moment after kwok
	// reports Ready: wait for both, or the nodes count as tainted.
	testenv.Eventually(t, 30*time.Second, "small nodes Ready and untainted by the node controller", func() (bool, error) {
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "pool=" + pool})
		if err != nil || len(list.Items) != 2 {
			return false, err
		}
		for _, n := range list.Items {
			if !nodeReady(n) || len(n.Spec.Taints) != 1 {
				return false, nil
			}
		}
		return true, nil
	})

	set := append(localValues(t), "global.nodeSelector.pool="+pool,
		`global.tolerations[0].key=resimate.io/test-pool`, `global.tolerations[0].operator=Exists`, `global.tolerations[0].effect=NoSchedule`)
	_, byID, _ := run(t, testenv.RestConfig(t), testenv.UniqueName("ns"), "local", set...)
	assert.Equal(t, "2 of 5 nodes are Ready and schedulable for the platform (3 not matching global.nodeSelector)", trimNodeCount(byID["nodes"].Message))
	c := byID["capacity"]
	require.Equal(t, StatusFail, c.Status, c.Message)
	assert.Equal(t, "15 pods need 6.1 CPU and 12.4Gi memory; 2 eligible nodes have 1.8 CPU and 4Gi memory free: "+
		"CPU short by 4.3; memory short by 8.4Gi; no node has room for the largest pod (Cluster resimate-postgres: 1 CPU, 2Gi memory)", c.Message)
}

// trimNodeCount rewrites the total node count, which other tests' nodes may change, to 5.
func trimNodeCount(msg string) string {
	parts := strings.SplitN(msg, " of ", 2)
	if len(parts) != 2 {
		return msg
	}
	rest := parts[1][strings.Index(parts[1], " "):]
	if i := strings.Index(rest, "("); i >= 0 {
		rest = rest[:i] + "(3 not matching global.nodeSelector)"
	}
	return parts[0] + " of 5" + rest
}

func TestExternalPostgres(t *testing.T) {
	testenv.Require(t, testenv.Postgres)
	pool, dsn := testenv.Pool(t)
	ctx := context.Background()
	role := strings.ReplaceAll(testenv.UniqueName("pf"), "-", "_")
	_, err := pool.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'right-password' IN ROLE password_users", role))
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP OWNED BY "+role+"; DROP ROLE "+role) })
	u, _ := url.Parse(dsn)
	db := strings.TrimPrefix(u.Path, "/")
	host, port, _ := net.SplitHostPort(u.Host)

	check := func(pgURL string) Result {
		rendered, err := render.Render(ctx, render.Options{Profile: "aws", Set: []string{"postgres.external.host=" + host, "postgres.external.port=" + port}})
		require.NoError(t, err)
		target, err := NewTarget(nil, fmt.Errorf("not needed"), rendered)
		require.NoError(t, err)
		target.PostgresURL = pgURL
		var pg *Check
		for _, c := range Checks() {
			if c.ID == "postgres-external" {
				pg = c
			}
		}
		rep, err := (&Runner{Checks: []*Check{pg}}).Run(ctx, target)
		require.NoError(t, err)
		return rep.Results[0]
	}
	base := fmt.Sprintf("postgres://%s:%%s@%s/%s?sslmode=disable", role, u.Host, db)

	r := check(fmt.Sprintf(base, "wrong-password"))
	assert.Equal(t, StatusFail, r.Status)
	assert.Contains(t, r.Message, fmt.Sprintf("rejected the credentials of user %q: password authentication failed", role))
	assert.NotContains(t, r.Message, "wrong-password")

	closed := closedPort(t)
	r = check(fmt.Sprintf("postgres://%s:x@127.0.0.1:%d/%s?sslmode=disable", role, closed, db))
	assert.Equal(t, fmt.Sprintf("cannot reach PostgreSQL at 127.0.0.1:%d: dial tcp 127.0.0.1:%d: connect: connection refused", closed, closed), r.Message)

	_, err = pool.Exec(ctx, "REVOKE CREATE ON DATABASE "+db+" FROM PUBLIC")
	require.NoError(t, err)
	r = check(fmt.Sprintf(base, "right-password"))
	assert.Equal(t, fmt.Sprintf("user %q cannot create schemas in database %q: permission denied for database %s", role, db, db), r.Message)

	_, err = pool.Exec(ctx, fmt.Sprintf("GRANT CREATE ON DATABASE %s TO %s", db, role))
	require.NoError(t, err)
	r = check(fmt.Sprintf(base, "right-password"))
	assert.Equal(t, StatusPass, r.Status, r.Message)
	assert.Contains(t, r.Message, "schemas can be created")

	// Without sslmode in the URL the profile's applies: aws says verify-full, and the test
	// server speaks no TLS, so the same credentials fail instead of passing unencrypted.
	r = check(fmt.Sprintf("postgres://%s:right-password@%s/%s", role, u.Host, db))
	assert.Equal(t, StatusFail, r.Status, r.Message)
	assert.Contains(t, r.Message, "with sslmode verify-full")
	assert.Contains(t, r.Message, "server refused TLS connection")
}

func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestExternalVaultUnreachable(t *testing.T) {
	port := closedPort(t)
	rendered, err := render.Render(context.Background(), render.Options{Profile: "onprem", Set: []string{
		"vault.mode=external", fmt.Sprintf("vault.external.address=http://127.0.0.1:%d", port)}})
	require.NoError(t, err)
	target, err := NewTarget(nil, fmt.Errorf("not needed"), rendered)
	require.NoError(t, err)
	out := checkExternalVault(context.Background(), target)
	assert.Equal(t, StatusFail, out.Status)
	assert.Contains(t, out.Message, fmt.Sprintf("cannot reach Vault at http://127.0.0.1:%d", port))
}

// An external Vault in each state preflight tells apart, on a real Vault server with TLS.
func TestExternalVaultStates(t *testing.T) {
	v := testenv.StartStandaloneVault(t)
	check := func(withCA bool) Outcome {
		set := []string{"vault.mode=external", "vault.external.address=" + v.Address}
		opts := render.Options{Profile: "onprem", Set: set}
		if withCA {
			opts.SetString = []string{"vault.external.caCert=" + v.CA}
		}
		rendered, err := render.Render(context.Background(), opts)
		require.NoError(t, err)
		target, err := NewTarget(nil, fmt.Errorf("not needed"), rendered)
		require.NoError(t, err)
		return checkExternalVault(context.Background(), target)
	}

	out := check(false)
	assert.Equal(t, StatusFail, out.Status)
	assert.Contains(t, out.Message, "TLS certificate at "+v.Address+" is not trusted")
	assert.Contains(t, out.Message, "vault.external.caCert")

	out = check(true)
	assert.Equal(t, StatusFail, out.Status)
	assert.Contains(t, out.Message, "is not initialised")

	init, err := v.Client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	require.NoError(t, err)
	out = check(true)
	assert.Equal(t, StatusFail, out.Status)
	assert.Contains(t, out.Message, "is sealed")

	_, err = v.Client.Sys().Unseal(init.KeysB64[0])
	require.NoError(t, err)
	out = check(true)
	assert.Equal(t, StatusPass, out.Status, out.Message)
	assert.Contains(t, out.Message, "Vault 1.21.4 at "+v.Address+" is initialised and unsealed")
}
