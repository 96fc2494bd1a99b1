package access

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	rbacv1 "k8s.io/api/rbac/v1"
)

func TestRBACMatching(t *testing.T) {
	r := func(verbs, groups, resources []string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{Verbs: verbs, APIGroups: groups, Resources: resources}
	}
	cases := []struct {
		name string
		rule rbacv1.PolicyRule
		a    action
		want bool
	}{
		{"exact", r([]string{"get"}, []string{""}, []string{"secrets"}), action{"get", "", "secrets"}, true},
		{"other verb", r([]string{"list"}, []string{""}, []string{"secrets"}), action{"get", "", "secrets"}, false},
		{"other group", r([]string{"get"}, []string{"apps"}, []string{"secrets"}), action{"get", "", "secrets"}, false},
		{"wildcard verb", r([]string{"*"}, []string{""}, []string{"secrets"}), action{"get", "", "secrets"}, true},
		{"wildcard resource", r([]string{"get"}, []string{""}, []string{"*"}), action{"get", "", "secrets"}, true},
		{"a resource is not its subresources", r([]string{"create"}, []string{""}, []string{"pods"}), action{"create", "", "pods/exec"}, false},
		{"resource/*", r([]string{"create"}, []string{""}, []string{"pods/*"}), action{"create", "", "pods/exec"}, true},
		{"*/subresource", r([]string{"create"}, []string{""}, []string{"*/exec"}), action{"create", "", "pods/exec"}, true},
		{"* covers subresources", r([]string{"create"}, []string{"*"}, []string{"*"}), action{"create", "", "pods/exec"}, true},
		{"everything needs every wildcard", r([]string{"*"}, []string{""}, []string{"*"}), action{"*", "*", "*"}, false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, allows(c.rule, c.a), c.name)
	}
	assert.True(t, capabilityByID("all").gives(r([]string{"*"}, []string{"*"}, []string{"*"})))
	assert.True(t, capabilityByID("wildcard").gives(r([]string{"*"}, []string{""}, []string{"configmaps"})))
	assert.False(t, capabilityByID("wildcard").gives(rbacv1.PolicyRule{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}), "non-resource URLs are no resource")
}

func TestVaultPathCovers(t *testing.T) {
	cases := map[[2]string]bool{
		{"resimate/data/*", "resimate/data/database/api"}:            true,
		{"resimate/*", "resimate/data/database/api"}:                 true,
		{"*", "resimate/data/database/api"}:                          true,
		{"resimate/data/data*", "resimate/data/database/api"}:        true,
		{"resimate/data/db*", "resimate/data/database/api"}:          false,
		{"resimate/data/+/api", "resimate/data/database/api"}:        true,
		{"resimate/data/database/api", "resimate/data/database/api"}: true,
		{"resimate/data/database", "resimate/data/database/api"}:     false,
		{"resimate/data/+", "resimate/data/database/api"}:            false,
		{"other/*", "resimate/data/database/api"}:                    false,
	}
	for c, want := range cases {
		assert.Equal(t, want, pathCovers(c[0], c[1]), "%s covers %s", c[0], c[1])
	}
}

// Every rule has its section in docs/access.md, like the preflight checks.
func TestEveryRuleDocumented(t *testing.T) {
	docs, err := os.ReadFile("../../docs/access.md")
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, r := range Rules {
		assert.False(t, seen[r.ID], "rule %s is defined twice", r.ID)
		seen[r.ID] = true
		assert.Contains(t, string(docs), "\n## "+r.ID+"\n", "docs/access.md has no section for %s", r.ID)
		assert.NotEmpty(t, r.Fix, r.ID)
	}
}

func writeKey(t *testing.T, key any, passphrase string) string {
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(key, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(key, "", []byte(passphrase))
	}
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(block), 0o600))
	return path
}

func TestRecordSignatures(t *testing.T) {
	report := &Report{APIVersion: APIVersion, Generated: time.Now(), Findings: []Finding{}}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	var prev *Record
	for _, key := range []any{rsaKey, ecKey} {
		rec, err := NewRecord(report, "Ada", writeKey(t, key, ""), nil)
		require.NoError(t, err)
		if prev != nil {
			rec.Previous = prev.Digest()
		}
		require.NoError(t, rec.sign())
		assert.Empty(t, rec.Verify(prev, nil))
		prev = rec
	}
	raw, err := base64.StdEncoding.DecodeString(prev.Signature)
	require.NoError(t, err)
	var sig ssh.Signature
	require.NoError(t, ssh.Unmarshal(raw, &sig))
	assert.NotEqual(t, ssh.KeyAlgoRSA, sig.Format, "no SHA-1 signatures")

	altered := *prev
	altered.Reviewer = "Mallory"
	assert.Equal(t, []string{"the signature does not match the record"}, altered.Verify(nil, nil)[1:])
	altered = *prev
	altered.Report = append([]byte{}, prev.Report...)
	altered.Report[0] ^= 1
	assert.Contains(t, altered.Verify(nil, nil), "the stored report does not match its SHA-256")

	_, err = NewRecord(report, "Ada", writeKey(t, ecKey, "secret"), nil)
	assert.ErrorContains(t, err, "is protected by a passphrase")
	_, err = NewRecord(report, "Ada", filepath.Join(t.TempDir(), "missing"), nil)
	assert.ErrorContains(t, err, "the reviewer's key")
}

func TestRolesOf(t *testing.T) {
	assert.Equal(t, []string{"admin", "analyst", "owner"}, rolesOf(
		map[string]any{"role": "owner", "admin": true},
		map[string]any{"roles": []any{"analyst", "admin"}}, nil, "not an object"))
	assert.Nil(t, rolesOf(map[string]any{"admin": false}))
}

func TestDiffOrdersWhatAuditorsAskFirst(t *testing.T) {
	before := &Report{Kubernetes: &KubeSection{Subjects: []KubeSubject{
		{ID: "user/a", Permissions: []Permission{{Capability: "read-secrets", Scope: "ns", Via: "b1"}}},
		{ID: "user/gone"},
	}}}
	after := &Report{Kubernetes: &KubeSection{Subjects: []KubeSubject{
		{ID: "user/a", Permissions: []Permission{{Capability: "all", Scope: "cluster", Via: "b2"}}},
		{ID: "user/new", Permissions: []Permission{{Capability: "exec", Scope: "ns", Via: "b3"}}},
	}}}
	var got []string
	for _, c := range Diff(before, after, nil) {
		got = append(got, c.Kind+" "+c.Subject+" "+c.Detail)
	}
	assert.Equal(t, []string{
		"new-admin user/a admin: all in cluster via b2",
		"new-subject user/new exec in ns via b3",
		"removed-subject user/gone ",
		"removed-privilege user/a read-secrets in ns via b1",
	}, got)
}
