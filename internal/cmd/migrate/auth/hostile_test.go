package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fa "github.com/resimate/resimatectl/internal/migrate/firebaseauth"
	"github.com/resimate/resimatectl/internal/testenv"
)

// hostileRun is the real binary importing export files into the test environment's Kratos, with
// a ledger database of the test's own.
type hostileRun struct {
	t         *testing.T
	params    *fa.HashParams
	hashFile  string
	ledgerURL string
	kratosURL string
	ledger    func(query string, args ...any) int
}

func newHostileRun(t *testing.T) *hostileRun {
	e := testenv.Require(t, testenv.Kratos, testenv.Postgres)
	pool, url := testenv.Pool(t)
	params := &fa.HashParams{SignerKey: []byte("hostile-signer-key-0123456789abc"), SaltSeparator: []byte{1}, Rounds: 1, MemCost: 1}
	hashFile := filepath.Join(t.TempDir(), "hash.txt")
	require.NoError(t, os.WriteFile(hashFile, []byte(fmt.Sprintf("hash_config {\n  algorithm: SCRYPT,\n  base64_signer_key: %s,\n  base64_salt_separator: %s,\n  rounds: 1,\n  mem_cost: 1,\n}\n",
		base64.StdEncoding.EncodeToString(params.SignerKey), base64.StdEncoding.EncodeToString(params.SaltSeparator))), 0o600))
	return &hostileRun{t: t, params: params, hashFile: hashFile, ledgerURL: url, kratosURL: e.KratosAdminURL,
		ledger: func(query string, args ...any) int {
			var n int
			if err := pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
				return -1 // no ledger table yet
			}
			return n
		}}
}

// user is one export record with a real hash of password.
func (h *hostileRun) user(uid, email, password string) map[string]any {
	salt := []byte("salt-" + uid)
	hash, err := h.params.Hash(password, salt)
	require.NoError(h.t, err)
	return map[string]any{"localId": uid, "email": email, "passwordHash": base64.StdEncoding.EncodeToString(hash),
		"salt": base64.StdEncoding.EncodeToString(salt), "createdAt": "1700000000000"}
}

func writeExport(t *testing.T, path string, users ...map[string]any) string {
	data, err := json.Marshal(map[string]any{"users": users})
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

// run imports file (relative to dir when dir is set) and returns the exit code and all output.
func (h *hostileRun) run(dir, file string, extra ...string) (int, string) {
	args := append([]string{"migrate", "firebase", "auth", "--from-file", file, "--hash-config", h.hashFile, "--no-canary",
		"--kratos-admin-url", h.kratosURL, "--ledger-url", h.ledgerURL}, extra...)
	cmd := exec.Command(testenv.Binary(h.t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+h.t.TempDir())
	out, _ := cmd.CombinedOutput()
	return cmd.ProcessState.ExitCode(), string(out)
}

// assertTotal finds "name  n" in the report's table of totals.
func assertTotal(t *testing.T, out, name string, n int, msgAndArgs ...any) {
	t.Helper()
	assert.Regexp(t, fmt.Sprintf(`(?m)^%s +%d$`, name, n), out, msgAndArgs...)
}

const ledgerRows = "SELECT count(*) FROM resimate_migration.firebase_auth_ledger"

// Two records with one uid: found while reading, both named, nothing written, with any batch
// size and in a dry run.
func TestDuplicateUIDsStopTheRunBeforeAnything(t *testing.T) {
	h := newHostileRun(t)
	tag := testenv.UniqueName("dup")
	dir := t.TempDir()
	path := writeExport(t, filepath.Join(dir, "users.json"),
		h.user(tag, "first-"+tag+"@example.com", "pw-1"),
		h.user(tag+"-other", "other-"+tag+"@example.com", "pw-2"),
		h.user(tag, "second-"+tag+"@example.com", "pw-3"))
	csvPath := filepath.Join(dir, "users.csv")
	line := func(uid, email string) string { return uid + "," + email + strings.Repeat(",", 25) + "\n" }
	require.NoError(t, os.WriteFile(csvPath, []byte(line(tag, "a-"+tag+"@example.com")+line(tag, "b-"+tag+"@example.com")), 0o600))

	for _, c := range []struct {
		file  string
		extra []string
		want  string
	}{
		{path, []string{"--batch-size", "1"}, "users.json user 1 and users.json user 3 have the same uid " + tag},
		{path, nil, "users.json user 1 and users.json user 3 have the same uid " + tag},
		{path, []string{"--dry-run"}, "users.json user 1 and users.json user 3 have the same uid " + tag},
		{csvPath, nil, "users.csv line 1 and users.csv line 2 have the same uid " + tag},
	} {
		code, out := h.run("", c.file, c.extra...)
		assert.Equal(t, 1, code, out)
		assert.Contains(t, out, c.want)
		assert.Contains(t, out, "nothing was imported")
		assert.NotContains(t, out, "SQLSTATE")
	}
	assert.LessOrEqual(t, h.ledger(ledgerRows), 0, "nothing was written to the ledger")
	list, _, err := testenv.KratosAdmin(t).IdentityAPI.ListIdentities(context.Background()).CredentialsIdentifier("first-" + tag + "@example.com").Execute()
	require.NoError(t, err)
	assert.Empty(t, list, "nothing reached Kratos")
}

// A hash Firebase's scrypt cannot have made (3 bytes; no salt) is rejected with the reason;
// the sound user goes in; the exit status says some were not.
func TestDamagedPasswordHashesAreRejected(t *testing.T) {
	h := newHostileRun(t)
	tag := testenv.UniqueName("shape")
	short := h.user(tag+"-short", "short-"+tag+"@example.com", "pw")
	short["passwordHash"] = "QUJD" // "ABC": valid base64, 3 bytes
	unsalted := h.user(tag+"-unsalted", "unsalted-"+tag+"@example.com", "pw")
	delete(unsalted, "salt")
	path := writeExport(t, filepath.Join(t.TempDir(), "users.json"), h.user(tag+"-good", "good-"+tag+"@example.com", "pw"), short, unsalted)

	code, out := h.run("", path, "--dry-run")
	assert.Equal(t, 1, code, out)
	assertTotal(t, out, "importable", 1)

	code, out = h.run("", path)
	assert.Equal(t, 1, code, out)
	assertTotal(t, out, "imported", 1)
	assert.Contains(t, out, "rejected "+tag+"-short (short-"+tag+"@example.com): password hash of 3 bytes: Firebase's scrypt hashes of this project are 32 bytes (the signer key's length), so this one is damaged")
	assert.Contains(t, out, "rejected "+tag+"-unsalted (unsalted-"+tag+"@example.com): password hash without a salt")
	assert.Equal(t, 2, h.ledger(ledgerRows+" WHERE outcome = 'rejected' AND uid LIKE $1", tag+"%"))
}

// Two different files of one name, in two folders: the ledger tells them apart by content, so
// the second one's user is imported, not skipped as already there. The same file again is.
func TestLedgerKnowsFilesByContent(t *testing.T) {
	h := newHostileRun(t)
	tag := testenv.UniqueName("same")
	a, b := t.TempDir(), t.TempDir()
	writeExport(t, filepath.Join(a, "good.json"), h.user(tag, "a-"+tag+"@example.com", "pw"))
	writeExport(t, filepath.Join(b, "good.json"), h.user(tag, "b-"+tag+"@example.com", "pw"))

	code, out := h.run(a, "good.json")
	require.Equal(t, 0, code, out)
	assertTotal(t, out, "imported", 1)
	code, out = h.run(b, "good.json")
	require.Equal(t, 0, code, out)
	assertTotal(t, out, "imported", 1, "another file is another source")
	list, _, err := testenv.KratosAdmin(t).IdentityAPI.ListIdentities(context.Background()).CredentialsIdentifier("b-" + tag + "@example.com").Execute()
	require.NoError(t, err)
	assert.Len(t, list, 1, "the second file's user is in Kratos")

	moved := filepath.Join(t.TempDir(), "renamed.json")
	data, err := os.ReadFile(filepath.Join(b, "good.json"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(moved, data, 0o600))
	code, out = h.run("", moved)
	require.Equal(t, 0, code, out)
	assertTotal(t, out, "already", 1, "the same content under another name is the same source")
}
