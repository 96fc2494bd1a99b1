package backup_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/resimate/resimatectl/internal/backup"
	"github.com/resimate/resimatectl/internal/testenv"
)

// site is an installed release whose databases live on the test PostgreSQL under roles of its
// own (made here, so that parallel tests never share the chart's default role names), and whose
// Vault is a real external Vault.
type site struct {
	t          *testing.T
	ns         string
	kubeconfig string
	app, ids   *pgxpool.Pool
	vault      *api.Client
	vaultArgs  []string
	recipient  string
	identity   string
	bucket     testenv.Bucket
	// chartArgs are install's flags for this site.
	chartArgs []string
}

func newSite(t *testing.T) *site { return newSiteIn(t, "external") }

// newSiteIn makes a site whose PostgreSQL is "external" (reached directly) or "operator": a
// simulated CloudNativePG primary pod whose port 5432 kwok forwards to the test PostgreSQL, so
// that the backup reaches it through the API server's port-forward.
func newSiteIn(t *testing.T, mode string) *site {
	e := testenv.Require(t, testenv.Kubernetes, testenv.Postgres)
	testenv.EnsureCRDs(t, testenv.CRDsCNPG, testenv.CRDsPrometheus)
	ctx := context.Background()
	s := &site{t: t, ns: testenv.Namespace(t, nil), kubeconfig: e.Kubeconfig}
	server, err := url.Parse(e.DatabaseURL)
	require.NoError(t, err)
	admin, err := pgxpool.New(ctx, e.DatabaseURL)
	require.NoError(t, err)
	t.Cleanup(admin.Close)
	suffix := strings.ReplaceAll(testenv.UniqueName(""), "-", "")
	login := func(secret string) *pgxpool.Pool {
		role, db, pw := "r"+secret+suffix, "d"+secret+suffix, "pw"+suffix
		_, err := admin.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", role, pw))
		require.NoError(t, err)
		_, err = admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s", db, role))
		require.NoError(t, err)
		t.Cleanup(func() {
			_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
			_, _ = admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
		})
		_, err = testenv.Clientset(t).CoreV1().Secrets(s.ns).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "resimate-db-" + secret}, Type: corev1.SecretTypeBasicAuth,
			StringData: map[string]string{"username": role, "password": pw}}, metav1.CreateOptions{})
		require.NoError(t, err)
		u := *server
		u.User, u.Path = url.UserPassword(role, pw), "/"+db
		pool, err := pgxpool.New(ctx, u.String())
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		return pool
	}
	s.app, s.ids = login("app"), login("kratos")
	appDB, idsDB := "dapp"+suffix, "dkratos"+suffix
	s.chartArgs = []string{"--profile", "local", "-n", s.ns, "--set", "global.domain=localhost",
		"--skip-upstream", "--offline", "--ignore-checks", "smtp,postgres-external", "--timeout", "2m", "--vault-init", "manual",
		"--set", "postgres.mode=" + mode, "--set", "postgres.database=" + appDB, "--set", "postgres.kratosDatabase=" + idsDB, "--set", "global.tenant=acme"}
	if mode == "external" {
		s.chartArgs = append(s.chartArgs, "--set", "postgres.external.host="+server.Hostname(), "--set", "postgres.external.port="+server.Port(),
			"--set", "postgres.external.sslmode=disable")
	}
	r := testenv.Run(t, e.Kubeconfig, nil, append([]string{"install"}, s.chartArgs...)...)
	require.Equal(t, 0, r.Code, r.Stderr)
	if mode == "operator" {
		port, err := strconv.Atoi(server.Port())
		require.NoError(t, err)
		s.simulatePrimary(port)
	}

	_, err = s.app.Exec(ctx, `CREATE SCHEMA tenant_acme;
		CREATE TABLE tenant_acme.campaigns (id bigint PRIMARY KEY, subject text NOT NULL);
		INSERT INTO tenant_acme.campaigns SELECT g, 'campaign ' || g FROM generate_series(1, 2000) g;
		CREATE TABLE public.resimate_migrations (version bigint PRIMARY KEY);
		INSERT INTO public.resimate_migrations VALUES (1), (2);`)
	require.NoError(t, err)
	_, err = s.ids.Exec(ctx, `CREATE TABLE identities (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text);
		INSERT INTO identities (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 300) g;`)
	require.NoError(t, err)

	v := testenv.StartStandaloneVault(t)
	rootToken := v.Activate(t)
	require.NoError(t, v.Client.Sys().Mount("resimate", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}))
	_, err = v.Client.KVv2("resimate").Put(ctx, "smtp", map[string]any{"password": "before"})
	require.NoError(t, err)
	dir := t.TempDir()
	ca, token := filepath.Join(dir, "vault-ca.pem"), filepath.Join(dir, "vault-token")
	require.NoError(t, os.WriteFile(ca, []byte(v.CA), 0o600))
	require.NoError(t, os.WriteFile(token, []byte(rootToken), 0o600))
	s.vault = v.Client
	s.vaultArgs = []string{"--vault-address", v.Address, "--vault-ca-cert", ca, "--vault-token-file", token}

	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	s.recipient, s.identity = id.Recipient().String(), filepath.Join(dir, "key.txt")
	require.NoError(t, os.WriteFile(s.identity, []byte(id.String()+"\n"), 0o600))
	s.bucket = testenv.S3Bucket(t)
	return s
}

// simulatePrimary makes the CloudNativePG cluster's primary pod, which no operator runs here,
// on a kwok node, and has kwok forward its port 5432 to the local PostgreSQL.
func (s *site) simulatePrimary(localPort int) {
	ctx := context.Background()
	cs := testenv.Clientset(s.t)
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(s.t, err)
	require.NotEmpty(s.t, nodes.Items)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "resimate-postgres-1", Namespace: s.ns,
		Labels: map[string]string{"cnpg.io/cluster": "resimate-postgres", "cnpg.io/instanceRole": "primary"}},
		Spec: corev1.PodSpec{NodeName: nodes.Items[0].Name, Containers: []corev1.Container{{Name: "postgres", Image: "postgres:17",
			Ports: []corev1.ContainerPort{{ContainerPort: 5432}}}}}}
	_, err = cs.CoreV1().Pods(s.ns).Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(s.t, err)
	testenv.Eventually(s.t, 60*time.Second, "the primary pod running", func() (bool, error) {
		p, err := cs.CoreV1().Pods(s.ns).Get(ctx, pod.Name, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, err
	})
	require.NoError(s.t, testenv.ForwardPodPort(ctx, s.t, s.ns, pod.Name, 5432, localPort))
}

// password is the application database's password, which nothing may print.
func (s *site) password() string {
	sec, err := testenv.Clientset(s.t).CoreV1().Secrets(s.ns).Get(context.Background(), "resimate-db-app", metav1.GetOptions{})
	require.NoError(s.t, err)
	return string(sec.Data["password"])
}

// run runs resimatectl with the store's environment.
func (s *site) run(args ...string) testenv.Result {
	s.t.Helper()
	return testenv.Run(s.t, s.kubeconfig, s.bucket.Env, args...)
}

func (s *site) create(extra ...string) testenv.Result {
	args := append([]string{"backup", "create", "-n", s.ns, "--to", s.bucket.URL, "-r", s.recipient}, s.vaultArgs...)
	return s.run(append(args, extra...)...)
}

// createSet runs create with -o json, which must succeed, and returns the set's manifest.
func (s *site) createSet(extra ...string) (backup.Manifest, testenv.Result) {
	s.t.Helper()
	r := s.create(append(extra, "-o", "json")...)
	require.Equal(s.t, 0, r.Code, r.Stderr)
	var m backup.Manifest
	require.NoError(s.t, json.Unmarshal([]byte(r.Stdout), &m))
	return m, r
}

func (s *site) restore(id string, extra ...string) testenv.Result {
	args := append([]string{"backup", "restore", id, "-n", s.ns, "--store", s.bucket.URL, "-i", s.identity}, s.vaultArgs...)
	return s.run(append(args, extra...)...)
}

func (s *site) count(pool *pgxpool.Pool, table string) int {
	var n int
	require.NoError(s.t, pool.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier(strings.Split(table, ".")).Sanitize()).Scan(&n))
	return n
}

func (s *site) secret() string {
	sec, err := s.vault.KVv2("resimate").Get(context.Background(), "smtp")
	require.NoError(s.t, err)
	return fmt.Sprint(sec.Data["password"])
}

// The whole cycle through the CLI, on S3: create, list, describe, verify; then restore over
// changed data, refused until --overwrite; everything back, Vault's secret included.
func TestBackupCycle(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	m, r := s.createSet()
	require.Len(t, m.Parts, 4)
	assert.Equal(t, []string{"age1" + s.recipient[4:]}, m.Recipients)
	db, _ := m.Part("db")
	assert.Equal(t, int64(2000), db.Tables["tenant_acme.campaigns"].Rows)
	ids, _ := m.Part("identities")
	assert.Equal(t, int64(300), ids.Tables["public.identities"].Rows)
	assert.NotContains(t, r.Stdout+r.Stderr, s.password(), "no password printed")

	r = s.run("backup", "list", "--store", s.bucket.URL)
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Regexp(t, m.ID+` +complete +`+s.ns+`/resimate +cluster,db,identities,vault `, r.Stdout)
	r = s.run("backup", "describe", m.ID, "--store", s.bucket.URL)
	require.Equal(t, 0, r.Code, r.Stderr)
	for _, p := range m.Parts {
		assert.Contains(t, r.Stdout, p.SHA256)
	}
	r = s.run("backup", "verify", m.ID, "--store", s.bucket.URL, "-i", s.identity)
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stdout, "is intact")

	_, err := s.app.Exec(ctx, "DELETE FROM tenant_acme.campaigns WHERE id > 10")
	require.NoError(t, err)
	_, err = s.ids.Exec(ctx, "DELETE FROM identities")
	require.NoError(t, err)
	_, err = s.vault.KVv2("resimate").Put(ctx, "smtp", map[string]any{"password": "after"})
	require.NoError(t, err)

	r = s.restore(m.ID)
	assert.Equal(t, 2, r.Code, "not a terminal and no --yes")
	r = s.restore(m.ID, "--yes")
	require.Equal(t, 1, r.Code, r.Stdout+r.Stderr)
	assert.Contains(t, r.Stdout, "holds data: refused without --overwrite")
	assert.Contains(t, r.Stderr, "nothing was restored")
	assert.Equal(t, 10, s.count(s.app, "tenant_acme.campaigns"))

	r = s.restore(m.ID, "--yes", "--overwrite")
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr)
	assert.Equal(t, 2000, s.count(s.app, "tenant_acme.campaigns"))
	assert.Equal(t, 300, s.count(s.ids, "public.identities"))
	testenv.Eventually(t, 30*time.Second, "Vault's secret from the snapshot", func() (bool, error) { return s.secret() == "before", nil })
}

// One changed byte of a part or of the manifest, in the S3 server's own files: verify and
// restore fail with an integrity error and change nothing. Unknown sets, wrong keys and an
// unreachable store each get a clear error.
func TestBackupIntegrityAndErrors(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	m, r := s.createSet("--parts", "db")
	e := testenv.Require(t)
	bucketDir := filepath.Join(filepath.Dir(e.File), "s3", strings.TrimPrefix(strings.SplitN(s.bucket.URL, "?", 2)[0], "s3://"))

	other, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	otherKey := filepath.Join(t.TempDir(), "other.txt")
	require.NoError(t, os.WriteFile(otherKey, []byte(other.String()+"\n"), 0o600))
	r = s.run("backup", "verify", m.ID, "--store", s.bucket.URL, "-i", otherKey)
	assert.Equal(t, 1, r.Code)
	assert.Contains(t, r.Stderr, "none of the given identities can decrypt this set")
	r = s.run("backup", "describe", "20260101T000000Z-000000", "--store", s.bucket.URL)
	assert.Equal(t, 1, r.Code)
	assert.Contains(t, r.Stderr, "backup set 20260101T000000Z-000000: not found")
	r = s.run("backup", "list", "--store", "s3://nowhere?endpoint=http://127.0.0.1:1&region=us-east-1&use_path_style=true")
	assert.Equal(t, 1, r.Code)
	assert.Contains(t, r.Stderr, "connection refused")

	for _, object := range []string{"parts/db", "manifest.json"} {
		path := filepath.Join(bucketDir, m.ID, object)
		original, err := os.ReadFile(path)
		require.NoError(t, err)
		changed := append([]byte(nil), original...)
		changed[len(changed)/2] ^= 0x20
		require.NoError(t, os.WriteFile(path, changed, 0o600))
		_, err = s.app.Exec(context.Background(), "DELETE FROM tenant_acme.campaigns WHERE id > 1000")
		require.NoError(t, err)

		r = s.run("backup", "verify", m.ID, "--store", s.bucket.URL, "-i", s.identity)
		assert.Equal(t, 1, r.Code, object)
		assert.Contains(t, r.Stderr, "integrity check failed", object)
		r = s.restore(m.ID, "--parts", "db", "--yes", "--overwrite")
		assert.Equal(t, 1, r.Code, object)
		assert.Contains(t, r.Stderr, "integrity check failed", object)
		assert.Equal(t, 1000, s.count(s.app, "tenant_acme.campaigns"), "the failed restore changed nothing")
		require.NoError(t, os.WriteFile(path, original, 0o600))
	}
	r = s.restore(m.ID, "--parts", "db", "--yes", "--overwrite")
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Equal(t, 2000, s.count(s.app, "tenant_acme.campaigns"))
}

// upgrade apply takes a backup set first and names it when the upgrade fails; without a store
// it refuses to start.
func TestUpgradeTakesABackupFirst(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	upgrade := func(extra ...string) testenv.Result {
		args := append(append([]string{"upgrade", "apply"}, s.chartArgs...), extra...)
		return s.run(args...)
	}
	r := upgrade("--set", "global.imageTag=1.0.1")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, "upgrade apply takes a backup first")

	backupTo := append([]string{"--backup-to", s.bucket.URL, "--backup-recipient", s.recipient}, s.vaultArgs...)
	r = upgrade(append(backupTo, "--set", "global.imageTag=1.0.1")...)
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Regexp(t, `backup set \S+ written to `, r.Stderr)

	r = upgrade(append(backupTo, "--skip-preflight", "--timeout", "10s", "--set", "global.nodeSelector.pool=none-such")...)
	require.Equal(t, 1, r.Code, r.Stderr)
	assert.Regexp(t, `rolled back to revision 2.*; the state before the upgrade is backup set (\S+) \(resimatectl backup restore \S+ --store `, r.Stderr)

	r = s.run("backup", "list", "--store", s.bucket.URL, "-o", "json")
	require.Equal(t, 0, r.Code, r.Stderr)
	var sets []backup.Entry
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &sets))
	require.Len(t, sets, 2)
	for _, e := range sets {
		assert.True(t, e.Complete)
		assert.Len(t, e.Manifest.Parts, 4, "Vault is in the backup when a token is given")
	}
}

// schedule makes a CronJob with the schedule, the image and its own ServiceAccount, whose rights
// stop at the namespace; those rights are enough for the backup the CronJob runs.
func TestScheduleRunsWithNarrowRights(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	r := s.run("backup", "schedule", "-n", s.ns, "--cron", "0 2 * * *", "--retention", "14d", "--to", s.bucket.URL,
		"-r", s.recipient, "--image", "registry.example/resimatectl:1.2.3", "--store-secret", "backup-store")
	require.Equal(t, 0, r.Code, r.Stderr)
	cs := testenv.Clientset(t)
	cj, err := cs.BatchV1().CronJobs(s.ns).Get(ctx, "resimate-backup", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "0 2 * * *", cj.Spec.Schedule)
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	assert.Equal(t, "resimate-backup", pod.ServiceAccountName)
	require.Len(t, pod.InitContainers, 1)
	assert.Equal(t, "registry.example/resimatectl:1.2.3", pod.InitContainers[0].Image)
	assert.Contains(t, strings.Join(pod.InitContainers[0].Args, " "), "backup create -n "+s.ns+" --release resimate --to "+s.bucket.URL)
	assert.Equal(t, []string{"backup", "prune", "--store", s.bucket.URL, "--retention", "14d"}, pod.Containers[0].Args)

	sa := "system:serviceaccount:" + s.ns + ":resimate-backup"
	can := func(ns, verb, resource string) bool {
		review, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User: sa, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + s.ns},
			ResourceAttributes: &authzv1.ResourceAttributes{Namespace: ns, Verb: verb, Resource: resource}}}, metav1.CreateOptions{})
		require.NoError(t, err)
		return review.Status.Allowed
	}
	assert.True(t, can(s.ns, "list", "secrets"))
	assert.False(t, can("default", "list", "secrets"), "no right outside the namespace")
	assert.False(t, can("", "list", "nodes"), "no cluster-wide right")
	assert.False(t, can(s.ns, "delete", "secrets"))
	assert.False(t, can(s.ns, "create", "pods"))
	crbs, err := cs.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, b := range crbs.Items {
		for _, subject := range b.Subjects {
			assert.False(t, subject.Kind == "ServiceAccount" && subject.Namespace == s.ns && subject.Name == "resimate-backup", "ClusterRoleBinding %s binds the backup's account", b.Name)
		}
	}

	// What the CronJob runs, as its ServiceAccount.
	r = s.run("backup", "create", "-n", s.ns, "--to", s.bucket.URL, "-r", s.recipient, "--parts", "cluster,db,identities", "--as", sa,
		"--as-group", "system:serviceaccounts", "--as-group", "system:serviceaccounts:"+s.ns)
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stdout, "complete")
}

// In operator mode the databases are reached through a port-forward to the CloudNativePG
// primary, through the API server, as on a real cluster: a backup and a restore go that way.
func TestOperatorModeThroughPortForward(t *testing.T) {
	t.Parallel()
	s := newSiteIn(t, "operator")
	m, r := s.createSet("--parts", "db,identities")
	db, _ := m.Part("db")
	assert.Equal(t, int64(2000), db.Tables["tenant_acme.campaigns"].Rows)
	_, err := s.app.Exec(context.Background(), "DELETE FROM tenant_acme.campaigns")
	require.NoError(t, err)
	r = s.restore(m.ID, "--parts", "db", "--yes", "--overwrite")
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stdout, "through a port-forward to pod "+s.ns+"/resimate-postgres-1")
	assert.Equal(t, 2000, s.count(s.app, "tenant_acme.campaigns"))
}

// The cluster part restores the release's Secrets into a new namespace and writes the values
// that reinstall it there: install with them, and status says Ready.
func TestClusterStateIntoNewNamespace(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	m, r := s.createSet("--parts", "cluster")
	assert.NotContains(t, r.Stdout+r.Stderr, s.password(), "no password printed")

	target := testenv.Namespace(t, nil)
	values := filepath.Join(t.TempDir(), "values.yaml")
	r = s.restore(m.ID, "--parts", "cluster", "--into-namespace", target, "--values-file", values, "--yes")
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stdout, "resimatectl install --profile local -n "+target+" --release resimate -f "+values)
	st, err := os.Stat(values)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	ctx := context.Background()
	cs := testenv.Clientset(t)
	for _, name := range []string{"resimate-db-app", "resimate-db-kratos", "resimate-kratos"} {
		orig, err := cs.CoreV1().Secrets(s.ns).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		copied, err := cs.CoreV1().Secrets(target).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err, name)
		assert.Equal(t, orig.Data, copied.Data, name)
	}
	r = s.restore(m.ID, "--parts", "cluster", "--into-namespace", target, "--values-file", values, "--yes")
	assert.Equal(t, 1, r.Code, "a namespace that holds the Secrets is not overwritten unless told")

	// The new installation's Vault runs for real, so that status can say Ready.
	vault := append([]string{"--vault-init", "auto"}, testenv.NewVaultOperator(t, target, "resimate").Args()...)
	r = s.run(append([]string{"install", "--profile", "local", "-n", target, "--release", "resimate", "-f", values, "--skip-upstream", "--offline",
		"--ignore-checks", "smtp,postgres-external", "--timeout", "3m"}, vault...)...)
	require.Equal(t, 0, r.Code, r.Stderr)
	r = s.run("status", "-n", target)
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr)
	written, err := os.ReadFile(values)
	require.NoError(t, err)
	assert.Contains(t, string(written), "tenant: acme", "the release's own values")
}
