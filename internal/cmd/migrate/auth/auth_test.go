package auth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"firebase.google.com/go/v4/auth"
	"firebase.google.com/go/v4/auth/hash"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fa "github.com/resimate/resimatectl/internal/migrate/firebaseauth"
	"github.com/resimate/resimatectl/internal/testenv"
)

// Kill the migration at several points; each rerun goes on from the ledger; in the end every
// user is in Kratos exactly once and the secrets were never printed.
func TestKilledMigrationImportsEveryUserOnce(t *testing.T) {
	e := testenv.Require(t, testenv.FirebaseAuth, testenv.Kratos, testenv.Postgres)
	client, project := testenv.FirebaseAuthClient(t)
	ledgerPool, ledgerURL := testenv.Pool(t)
	ctx := context.Background()

	// Cheap hash parameters of the test's own: 3000 users hash in a moment.
	params := &fa.HashParams{SignerKey: []byte("test-signer-key-0123456789abcdef"), SaltSeparator: []byte{7}, Rounds: 1, MemCost: 1}
	const n = 3000
	for start := 0; start < n; start += 1000 {
		var batch []*auth.UserToImport
		for i := start; i < start+1000; i++ {
			salt := []byte(fmt.Sprintf("salt-%d", i))
			h, err := params.Hash(fmt.Sprintf("password-%d", i), salt)
			require.NoError(t, err)
			batch = append(batch, (&auth.UserToImport{}).UID(fmt.Sprintf("%s-u%04d", project, i)).
				Email(fmt.Sprintf("u%04d-%s@example.com", i, project)).PasswordHash(h).PasswordSalt(salt))
		}
		res, err := client.ImportUsers(ctx, batch, auth.WithHash(hash.Scrypt{Key: params.SignerKey, SaltSeparator: params.SaltSeparator, Rounds: 1, MemoryCost: 1}))
		require.NoError(t, err)
		require.Equal(t, 1000, res.SuccessCount)
	}
	hashFile := filepath.Join(t.TempDir(), "hash.txt")
	require.NoError(t, os.WriteFile(hashFile, []byte(fmt.Sprintf("hash_config {\n  algorithm: SCRYPT,\n  base64_signer_key: %s,\n  base64_salt_separator: %s,\n  rounds: 1,\n  mem_cost: 1,\n}\n",
		base64.StdEncoding.EncodeToString(params.SignerKey), base64.StdEncoding.EncodeToString(params.SaltSeparator))), 0o600))

	args := []string{"migrate", "firebase", "auth", "--project", project, "--hash-config", hashFile,
		"--kratos-admin-url", e.KratosAdminURL, "--ledger-url", ledgerURL, "--batch-size", "100", "--concurrency", "2",
		"--canary", fmt.Sprintf("u0007-%s@example.com:password-7", project), "--log-level", "debug"}
	var printed strings.Builder
	// Each run is killed once it has settled users of its own in the ledger, so every kill
	// lands mid-import, after the run did part of the work.
	rows := func(outcome string) int {
		var n int
		_ = ledgerPool.QueryRow(ctx, "SELECT count(*) FROM resimate_migration.firebase_auth_ledger WHERE project = $1 AND outcome LIKE $2", project, outcome).Scan(&n)
		return n
	}
	for range 3 {
		before := rows("imported")
		cmd := exec.Command(testenv.Binary(t), args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		deadline := time.After(time.Minute)
	wait:
		for rows("imported") == before {
			select {
			case <-exited:
				break wait
			case <-deadline:
				break wait
			case <-time.After(5 * time.Millisecond):
			}
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		printed.WriteString(out.String())
		after := rows("imported")
		assert.Greater(t, after, before, "the killed run imported users")
		assert.Less(t, after, n, "the kill landed mid-import")
	}
	cmd := exec.Command(testenv.Binary(t), append(args, "-o", "json")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), out.String())
	printed.WriteString(out.String())
	assert.NotContains(t, out.String(), `"failed"`)

	// Exactly once: count identities per firebase_uid of this project.
	admin := testenv.KratosAdmin(t)
	counts := map[string]int{}
	token := ""
	for {
		req := admin.IdentityAPI.ListIdentities(ctx).PageSize(1000)
		if token != "" {
			req = req.PageToken(token)
		}
		list, resp, err := req.Execute()
		require.NoError(t, err)
		for _, id := range list {
			if m, ok := id.MetadataAdmin.(map[string]any); ok {
				if uid, _ := m["firebase_uid"].(string); strings.HasPrefix(uid, project+"-") {
					counts[uid]++
				}
			}
		}
		token = nextToken(resp.Header.Get("Link"))
		if token == "" || len(list) == 0 {
			break
		}
	}
	assert.Len(t, counts, n, "every user is in Kratos")
	for uid, c := range counts {
		if c != 1 {
			t.Errorf("%s is in Kratos %d times", uid, c)
		}
	}
	assert.NotContains(t, printed.String(), base64.StdEncoding.EncodeToString(params.SignerKey))
	assert.NotContains(t, printed.String(), "password-7")
}

func nextToken(link string) string {
	for _, part := range strings.Split(link, ",") {
		if strings.Contains(part, `rel="next"`) {
			if i := strings.Index(part, "page_token="); i >= 0 {
				rest := part[i+len("page_token="):]
				return rest[:strings.IndexAny(rest, "&>")]
			}
		}
	}
	return ""
}

// Files that hold no users, or not a user per line, say so through the real binary, with the
// same words for an empty file and an empty export.
func TestExportFilesWithoutUsers(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	short := strings.Repeat("x,", 24) + "x" // 25 fields
	for path, want := range map[string]string{
		write("empty.json", ""):            "empty.json holds no users",
		write("nobody.json", "{}"):         "nobody.json holds no users",
		write("none.json", `{"users":[]}`): "none.json holds no users",
		write("empty.csv", ""):             "empty.csv holds no users",
		write("short.csv", short+"\n"):     "short.csv line 1: 25 fields, an auth:export CSV line has at least 26",
		dir:                                dir + " is a folder",
	} {
		cmd := exec.Command(testenv.Binary(t), "migrate", "firebase", "auth", "--from-file", path, "--dry-run")
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		require.Error(t, err, path)
		assert.Equal(t, 1, cmd.ProcessState.ExitCode(), "%s: %s", path, out)
		assert.Contains(t, string(out), want, path)
	}
}
