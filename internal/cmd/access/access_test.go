package access_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/resimate/resimatectl/internal/access"
	"github.com/resimate/resimatectl/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden reports in testdata")

func (l *landscape) cli(t *testing.T, args ...string) testenv.Result {
	t.Helper()
	return testenv.Run(t, testenv.Require(t, testenv.Kubernetes).Kubeconfig, l.env(), args...)
}

// TestReview builds the landscape and checks that one review finds exactly what it holds, in
// every output format; then that a caller who may not list RBAC gets a partial report.
func TestReview(t *testing.T) {
	t.Parallel()
	l := newLandscape(t)
	r := l.cli(t, append([]string{"access", "review", "-o", "json"}, l.args()...)...)
	require.Equal(t, 0, r.Code, r.Stderr)
	var rep access.Report
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rep))
	assert.Empty(t, rep.Gaps, "every source was read")

	// The findings, written out by hand.
	ns, tag, id := l.ns, l.tag, l.ids
	want := []string{
		"critical anonymous-access group/system:unauthenticated",
		"critical privilege-escalation user/carol-" + tag,
		"high admin-without-second-factor identity/" + id["ada"],
		"high inactive-with-sessions identity/" + id["gone"],
		"high platform-account-drift serviceaccount/" + ns + "/" + l.release + "-api",
		"high pod-access group/devs-" + tag,
		"high read-secrets serviceaccount/" + ns + "/" + l.release + "-api",
		"high read-secrets user/alice-" + tag,
		"high vault-policy-wider vault/policy/ops",
		"high vault-policy-wider vault/policy/resimate-api",
		"high wildcard-rule user/bob-" + tag,
		"medium dangling-binding serviceaccount/" + ns + "/ghost-" + tag,
		"medium dangling-binding user/dave-" + tag,
		"medium shared-account identity/" + id["support"],
		"medium stale-identity identity/" + id["eve"],
		"medium stale-identity identity/" + id["old"],
		"medium stale-legacy-token serviceaccount/" + ns + "/app-" + tag,
		"medium vault-role-any-account vault/kubernetes/role/anything",
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, string(f.Severity)+" "+f.Rule+" "+f.Subject)
	}
	assert.ElementsMatch(t, want, got)

	var subjects []string
	for _, s := range rep.Subjects() {
		subjects = append(subjects, s.ID)
	}
	wantSubjects := []string{"group/devs-" + tag, "group/system:unauthenticated", "serviceaccount/" + ns + "/app-" + tag,
		"serviceaccount/" + ns + "/ghost-" + tag, "serviceaccount/" + ns + "/limited-" + tag, "serviceaccount/" + ns + "/" + l.release + "-api",
		"user/alice-" + tag, "user/bob-" + tag, "user/carol-" + tag, "user/dave-" + tag,
		"vault/kubernetes/role/anything", "vault/kubernetes/role/api",
		"vault/policy/access-reviewer", "vault/policy/default", "vault/policy/ops", "vault/policy/resimate-api"}
	for _, who := range []string{"ada", "grace", "old", "eve", "gone", "support"} {
		wantSubjects = append(wantSubjects, "identity/"+id[who])
	}
	assert.ElementsMatch(t, wantSubjects, subjects)

	// What each fact says, where a rule alone would not show it.
	for _, i := range rep.Identities.Identities {
		switch i.ID {
		case id["grace"]:
			assert.Equal(t, []string{"password", "totp"}, i.Credentials)
			assert.Equal(t, []string{"admin", "analyst"}, i.Roles)
			assert.NotNil(t, i.LastSignIn)
		case id["old"]:
			assert.Nil(t, i.LastSignIn, "never signed in: unknown")
		case id["gone"]:
			assert.Equal(t, "inactive", i.State)
			assert.Equal(t, 1, i.ActiveSessions)
		}
	}
	for _, s := range rep.Kubernetes.Subjects {
		if s.ID == "serviceaccount/"+ns+"/ghost-"+tag {
			assert.True(t, s.Missing)
		}
	}

	for _, format := range []string{"json", "yaml", "table", "csv", "markdown", "html"} {
		r := l.cli(t, append([]string{"access", "review", "-o", format}, l.args()...)...)
		require.Equal(t, 0, r.Code, r.Stderr)
		golden(t, "review."+format, l.normalise(r.Stdout))
	}

	t.Run("out file and fail-on", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "review.md")
		r := l.cli(t, append([]string{"access", "review", "-o", "markdown", "--out", out, "--fail-on", "critical"}, l.args()...)...)
		assert.Equal(t, 1, r.Code, "a critical finding fails --fail-on critical")
		assert.Empty(t, r.Stdout)
		st, err := os.Stat(out)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
		assert.NotContains(t, r.Stdout+r.Stderr, l.reviewerTok)
	})

	t.Run("default exclusions are switchable", func(t *testing.T) {
		base := []string{"access", "review", "-o", "json", "-n", l.ns, "--release", l.release, "--no-vault", "--scope-namespaces", l.ns}
		ids := func(r testenv.Result) string {
			require.Equal(t, 0, r.Code, r.Stderr)
			var rep access.Report
			require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rep))
			var out []string
			for _, s := range rep.Subjects() {
				out = append(out, s.ID)
			}
			return strings.Join(out, " ")
		}
		def := ids(l.cli(t, base...))
		assert.NotContains(t, def, "group/system:masters")
		assert.Contains(t, def, "user/carol-"+tag)
		assert.Contains(t, ids(l.cli(t, append(base, "--include-system")...)), "group/system:masters")
	})

	t.Run("a caller who may not list RBAC gets a partial report", func(t *testing.T) {
		r := l.cli(t, "access", "review", "-o", "json", "-n", l.ns, "--release", l.release, "--scope-namespaces", l.ns, "--no-vault",
			"--as", "system:serviceaccount:"+l.ns+":limited-"+tag)
		require.Equal(t, 0, r.Code, r.Stderr)
		var rep access.Report
		require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rep))
		var gaps []string
		for _, g := range rep.Gaps {
			gaps = append(gaps, g.Source+": "+g.What)
		}
		assert.ElementsMatch(t, []string{"kratos: everything", "kubernetes: clusterroles", "kubernetes: clusterrolebindings",
			"kubernetes: serviceaccounts (bindings to missing ones cannot be told)", "kubernetes: legacy ServiceAccount token Secrets"}, gaps)
		assert.Contains(t, r.Stderr, "warning: partial report: kubernetes clusterrolebindings not read")
		// What it may see is still there: the namespace's bindings.
		subjects := map[string]bool{}
		for _, s := range rep.Subjects() {
			subjects[s.ID] = true
		}
		assert.True(t, subjects["user/alice-"+tag])
		// A ClusterRole it could not list is unknown, not missing: no false dangling binding.
		for _, f := range rep.Findings {
			assert.NotEqual(t, "group/devs-"+tag, f.Subject, "%+v", f)
		}
	})
}

// normalise replaces what changes from run to run: names, ids and times.
func (l *landscape) normalise(s string) string {
	pairs := []string{l.ns, "NS", l.release, "RELEASE", l.tag, "TAG"}
	for who, id := range l.ids {
		pairs = append(pairs, id, "ID-"+who)
	}
	s = strings.NewReplacer(pairs...).Replace(s)
	s = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`).ReplaceAllString(s, "TIME")
	return regexp.MustCompile(`\d{4}-\d\d-\d\d`).ReplaceAllString(s, "DATE")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), got, "%s differs (go test -run %s -update rewrites it)", path, t.Name())
}

// reviewerKey writes an ed25519 OpenSSH private key and returns its file and public key line.
func reviewerKey(t *testing.T) (string, string) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "reviewer")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "id_ed25519")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(block), 0o600))
	sshPub, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	return path, string(ssh.MarshalAuthorizedKey(sshPub))
}

type historyRow struct {
	ID        int64
	Reviewer  string
	Verified  bool
	Problems  []string
	Decisions []access.Decision
}

func (l *landscape) history(t *testing.T, extra ...string) ([]historyRow, testenv.Result) {
	r := l.cli(t, append([]string{"access", "history", "-o", "json"}, extra...)...)
	var rows []historyRow
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rows), r.Stderr)
	return rows, r
}

// TestRecordDiffRevoke records signed reviews, shows what changed since, revokes each kind of
// access and sees it gone, and finally alters a stored review and sees verification fail.
func TestRecordDiffRevoke(t *testing.T) {
	t.Parallel()
	l := newLandscape(t)
	key, pub := reviewerKey(t)
	decisions := filepath.Join(t.TempDir(), "decisions.yaml")
	require.NoError(t, os.WriteFile(decisions, []byte(`decisions:
- subject: user/alice-`+l.tag+`
  decision: revoke
  reason: left the team
- subject: user/bob-`+l.tag+`
  decision: keep
`), 0o600))
	record := func(extra ...string) testenv.Result {
		return l.cli(t, append([]string{"access", "review", "--record", "--reviewer", "Ada Auditor", "--key", key, "-o", "json"}, l.args(extra...)...)...)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("decisions:\n- subject: user/nobody\n  decision: keep\n"), 0o600))
	r := record("--decisions", bad)
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Stderr, `"user/nobody", which is not a subject of this review`)
	rows, _ := l.history(t)
	assert.Empty(t, rows, "a refused decisions file records nothing")

	r = record("--decisions", decisions)
	require.Equal(t, 0, r.Code, r.Stderr)
	assert.Contains(t, r.Stderr, "Recorded review 1: report SHA-256 ")
	r = record()
	require.Equal(t, 0, r.Code, r.Stderr)
	rows, hr := l.history(t)
	require.Equal(t, 0, hr.Code, hr.Stderr)
	require.Len(t, rows, 2)
	for _, row := range rows {
		assert.True(t, row.Verified, "%+v", row)
		assert.Equal(t, "Ada Auditor", row.Reviewer)
	}
	decided := map[string]string{}
	for _, d := range rows[0].Decisions {
		decided[d.Subject] = d.Decision
	}
	assert.Equal(t, "revoke", decided["user/alice-"+l.tag])
	assert.Equal(t, "keep", decided["user/bob-"+l.tag])
	assert.Equal(t, "undecided", decided["user/carol-"+l.tag])

	trusted := filepath.Join(t.TempDir(), "trusted")
	require.NoError(t, os.WriteFile(trusted, []byte(pub), 0o600))
	_, hr = l.history(t, "--trusted-keys", trusted)
	assert.Equal(t, 0, hr.Code)
	_, otherPub := reviewerKey(t)
	require.NoError(t, os.WriteFile(trusted, []byte(otherPub), 0o600))
	rows, hr = l.history(t, "--trusted-keys", trusted)
	assert.Equal(t, 1, hr.Code)
	assert.Contains(t, strings.Join(rows[0].Problems, ";"), "not a trusted reviewer key")

	t.Run("diff shows a newly granted permission", func(t *testing.T) {
		_, err := l.cs.RbacV1().RoleBindings(l.ns).Create(context.Background(), &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: l.name("bob-secrets"), Namespace: l.ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: l.name("secrets")},
			Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: l.name("bob")}}}, metav1.CreateOptions{})
		require.NoError(t, err)
		r := l.cli(t, append([]string{"access", "diff", "-o", "json"}, l.args()...)...)
		require.Equal(t, 0, r.Code, r.Stderr)
		assert.Contains(t, r.Stderr, "Compared with review 2")
		var changes []access.Change
		require.NoError(t, json.Unmarshal([]byte(r.Stdout), &changes))
		via := "via RoleBinding/" + l.ns + "/bob-secrets-" + l.tag + " → Role/" + l.ns + "/secrets-" + l.tag
		assert.Contains(t, changes, access.Change{Kind: "new-privilege", Subject: "user/bob-" + l.tag, Detail: "read-secrets in " + l.ns + " " + via})
		assert.Contains(t, changes, access.Change{Kind: "new-finding", Subject: "user/bob-" + l.tag, Detail: "read-secrets (high): read Secrets in " + l.ns + " " + via})
		assert.Len(t, changes, 2, "nothing else changed: %v", changes)

		r = l.cli(t, append([]string{"access", "diff", "7"}, l.args()...)...)
		assert.Equal(t, 1, r.Code)
		assert.Contains(t, r.Stderr, "no access review 7 is recorded")
	})

	t.Run("revoke", func(t *testing.T) {
		admin := testenv.KratosAdmin(t)
		ctx := context.Background()
		revoke := func(args ...string) testenv.Result {
			return l.cli(t, append([]string{"access", "revoke", "--kratos-admin-url", l.kratosURL}, args...)...)
		}
		bindingRef := l.ns + "/read-secrets-" + l.tag
		r := revoke("--binding", bindingRef, "--dry-run")
		require.Equal(t, 0, r.Code, r.Stderr)
		assert.Contains(t, r.Stdout, "Plan: delete RoleBinding "+bindingRef+", which binds Role/secrets-"+l.tag+" to user/alice-"+l.tag)
		assert.Contains(t, r.Stdout, "Dry run: nothing was changed.")
		_, err := l.cs.RbacV1().RoleBindings(l.ns).Get(ctx, "read-secrets-"+l.tag, metav1.GetOptions{})
		require.NoError(t, err, "--dry-run changes nothing")
		sessions, _, err := admin.IdentityAPI.ListIdentitySessions(ctx, l.ids["grace"]).Execute()
		require.NoError(t, err)
		require.NotEmpty(t, sessions)
		r = revoke("--sessions", l.ids["grace"], "--dry-run")
		require.Equal(t, 0, r.Code, r.Stderr)
		after, _, err := admin.IdentityAPI.ListIdentitySessions(ctx, l.ids["grace"]).Execute()
		require.NoError(t, err)
		assert.Len(t, after, len(sessions), "--dry-run changes nothing")

		r = revoke("--binding", bindingRef)
		assert.Equal(t, 2, r.Code)
		assert.Contains(t, r.Stderr, "not on a terminal: add --yes")
		r = revoke("--binding", l.ns+"/nothing-here", "--yes")
		assert.Equal(t, 1, r.Code)
		assert.Contains(t, r.Stderr, "no RoleBinding "+l.ns+"/nothing-here")

		for _, args := range [][]string{{"--binding", bindingRef}, {"--binding", "impersonate-" + l.tag}, {"--sessions", l.ids["grace"]}, {"--identity", l.ids["ada"]}} {
			r := revoke(append(args, "--yes")...)
			require.Equal(t, 0, r.Code, "%v: %s", args, r.Stderr)
			assert.Contains(t, r.Stdout, "Done: ")
		}
		_, err = l.cs.RbacV1().RoleBindings(l.ns).Get(ctx, "read-secrets-"+l.tag, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "the RoleBinding is gone")
		_, err = l.cs.RbacV1().ClusterRoleBindings().Get(ctx, "impersonate-"+l.tag, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "the ClusterRoleBinding is gone")
		for _, who := range []string{"grace", "ada"} {
			left, _, err := admin.IdentityAPI.ListIdentitySessions(ctx, l.ids[who]).Execute()
			require.NoError(t, err)
			assert.Empty(t, left, "%s's sessions are revoked", who)
		}
		ada, _, err := admin.IdentityAPI.GetIdentity(ctx, l.ids["ada"]).Execute()
		require.NoError(t, err)
		assert.Equal(t, "inactive", ada.GetState())

		pool, err := pgxpool.New(ctx, l.database)
		require.NoError(t, err)
		defer pool.Close()
		var audit []string
		rows, err := pool.Query(ctx, "SELECT action || ' ' || target || ' ' || result FROM resimate_access.audit ORDER BY id")
		require.NoError(t, err)
		audit, err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		assert.Equal(t, []string{
			"delete-binding RoleBinding/" + bindingRef + " started", "delete-binding RoleBinding/" + bindingRef + " done",
			"delete-binding ClusterRoleBinding/impersonate-" + l.tag + " started", "delete-binding ClusterRoleBinding/impersonate-" + l.tag + " done",
			"revoke-sessions identity/" + l.ids["grace"] + " started", "revoke-sessions identity/" + l.ids["grace"] + " done",
			"deactivate-identity identity/" + l.ids["ada"] + " started", "deactivate-identity identity/" + l.ids["ada"] + " done",
		}, audit)
		_, err = pool.Exec(ctx, "DELETE FROM resimate_access.audit")
		assert.ErrorContains(t, err, "resimate_access.audit is append-only")

		// The next review shows the change.
		r = l.cli(t, append([]string{"access", "diff", "-o", "json"}, l.args()...)...)
		require.Equal(t, 0, r.Code, r.Stderr)
		var changes []access.Change
		require.NoError(t, json.Unmarshal([]byte(r.Stdout), &changes))
		kinds := map[string]bool{}
		for _, c := range changes {
			kinds[c.Kind+" "+c.Subject] = true
		}
		assert.True(t, kinds["removed-subject user/alice-"+l.tag], "%v", changes)
		assert.True(t, kinds["removed-subject user/carol-"+l.tag], "%v", changes)
		assert.True(t, kinds["resolved-finding identity/"+l.ids["ada"]], "%v", changes)
	})

	t.Run("an altered review fails verification", func(t *testing.T) {
		ctx := context.Background()
		pool, err := pgxpool.New(ctx, l.database)
		require.NoError(t, err)
		defer pool.Close()
		_, err = pool.Exec(ctx, "UPDATE resimate_access.reviews SET reviewer = 'Mallory'")
		require.ErrorContains(t, err, "append-only", "the table refuses changes")
		// Someone who may lift the guard (the table's owner) changes a decision.
		_, err = pool.Exec(ctx, `ALTER TABLE resimate_access.reviews DISABLE TRIGGER reviews_append_only;
UPDATE resimate_access.reviews SET decisions = replace(decisions::text, '"revoke"', '"keep"')::jsonb WHERE id = 1;
ALTER TABLE resimate_access.reviews ENABLE TRIGGER reviews_append_only;`)
		require.NoError(t, err)
		rows, r := l.history(t)
		assert.Equal(t, 1, r.Code)
		require.Len(t, rows, 2)
		assert.Equal(t, []string{"the signature does not match the record"}, rows[0].Problems)
		assert.Equal(t, []string{"the chain is broken: the review before it was altered or removed"}, rows[1].Problems)
		r = l.cli(t, append([]string{"access", "diff", "1"}, l.args()...)...)
		assert.Equal(t, 1, r.Code)
		assert.Contains(t, r.Stderr, "review 1 fails verification")
	})
}
