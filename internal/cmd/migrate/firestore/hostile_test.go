package firestore_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/testenv"
)

// load runs the real binary with args in dir (the test's working directory when empty) and
// returns the exit status and all it printed.
func load(t *testing.T, dir string, env []string, args ...string) (int, string) {
	cmd := exec.Command(testenv.Binary(t), append([]string{"migrate", "firebase", "firestore"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir()), env...)
	out, _ := cmd.CombinedOutput()
	return cmd.ProcessState.ExitCode(), string(out)
}

func writeFile(t *testing.T, path string, lines ...string) string {
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	return path
}

func doc(path string, n int) string {
	return fmt.Sprintf(`{"path": %q, "fields": {"n": {"integerValue": "%d"}}}`, path, n)
}

func schemas(t *testing.T, pool *pgxpool.Pool) []string {
	rows, err := pool.Query(context.Background(), "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant_%' OR nspname LIKE 'resimate_%' ORDER BY 1")
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

// A live source that cannot be reached fails with one line, and nothing is created in the
// database before it has answered.
func TestUnreachableLiveSourceFailsAndCreatesNothing(t *testing.T) {
	pool, dbURL := testenv.Pool(t)
	code, out := load(t, "", []string{"FIRESTORE_EMULATOR_HOST=127.0.0.1:1"}, "--project", "nowhere", "--tenant", "acme", "--database-url", dbURL)
	assert.Equal(t, 1, code, out)
	assert.Equal(t, 1, strings.Count(out, "\n"), "one line: %s", out)
	assert.Contains(t, out, "Error: cannot read Firestore of project nowhere at 127.0.0.1:1 (FIRESTORE_EMULATOR_HOST): ")
	assert.Contains(t, out, "connection refused")
	assert.Empty(t, schemas(t, pool), "nothing was created")
}

// Another file of the same name, in another folder, is another source: its documents are
// loaded, not skipped by the first one's checkpoint. The same file again is skipped.
func TestCheckpointKnowsFilesByContent(t *testing.T) {
	_, dbURL := testenv.Pool(t)
	a, b := t.TempDir(), t.TempDir()
	var first, second []string
	for i := range 5 {
		first = append(first, doc(fmt.Sprintf("things/t%d", i), i))
		second = append(second, doc(fmt.Sprintf("things/t%d", i), 100+i))
	}
	writeFile(t, filepath.Join(a, "docs.ndjson"), first...)
	writeFile(t, filepath.Join(b, "docs.ndjson"), second...)
	args := []string{"--from-ndjson", "docs.ndjson", "--tenant", "acme", "--database-url", dbURL}

	code, out := load(t, a, nil, args...)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "5 read, 5 written, 0 rejected, 0 already loaded (checkpoint)")
	code, out = load(t, b, nil, args...)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "5 read, 5 written, 0 rejected, 0 already loaded (checkpoint)", "another file is another source")
	code, out = load(t, b, nil, append([]string{"verify"}, args...)...)
	assert.Equal(t, 0, code, "the second file's documents are what PostgreSQL holds: %s", out)
	code, out = load(t, b, nil, args...)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "5 read, 0 written, 0 rejected, 5 already loaded (checkpoint)")

	// An export: another one written where the first was is another source too.
	exportA, exportB := seedEmulator(t, 20), seedEmulator(t, 40)
	folder := filepath.Join(t.TempDir(), "export")
	require.NoError(t, os.CopyFS(folder, os.DirFS(exportA)))
	exportArgs := []string{"--from-export", folder, "--tenant", "exp", "--database-url", dbURL}
	code, out = load(t, "", nil, exportArgs...)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "20 read, 20 written")
	require.NoError(t, os.RemoveAll(folder))
	require.NoError(t, os.CopyFS(folder, os.DirFS(exportB)))
	code, out = load(t, "", nil, exportArgs...)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "40 read, 40 written, 0 rejected, 0 already loaded (checkpoint)")
}

// A path given twice stops the load with both lines named, in one batch or across two, in a
// dry run too; verify of such a source does not say the data match.
func TestDuplicatePathIsNamedNotHidden(t *testing.T) {
	_, dbURL := testenv.Pool(t)
	file := writeFile(t, filepath.Join(t.TempDir(), "docs.ndjson"),
		doc("things/a", 1), doc("things/b", 2), "", doc("things/c", 3), doc("things/a", 4), doc("things/d", 5))
	want := "docs.ndjson line 1 and docs.ndjson line 5 both hold document things/a"
	for _, extra := range [][]string{{"--batch-size", "10"}, {"--batch-size", "2"}, {"--dry-run"}} {
		code, out := load(t, "", nil, append([]string{"--from-ndjson", file, "--tenant", "dup", "--database-url", dbURL}, extra...)...)
		assert.Equal(t, 1, code, "%v: %s", extra, out)
		assert.Contains(t, out, want, extra)
		assert.NotContains(t, out, "SQLSTATE", extra)
	}
	code, out := load(t, "", nil, "verify", "--from-ndjson", file, "--tenant", "dup", "--database-url", dbURL)
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, want)
}

// What Firestore could never have held is refused with the line and the field, not loaded
// changed: NUL in a path, invalid UTF-8, a latitude of 200, a year 0 timestamp, malformed
// resource names.
func TestWhatFirestoreCannotHoldIsRefusedWithTheLine(t *testing.T) {
	pool, dbURL := testenv.Pool(t)
	good := doc("things/ok", 1)
	for _, c := range []struct {
		line string
		want string
	}{
		{`{"path": "things/a\u0000b", "fields": {}}`, `docs.ndjson line 2: document path "things/a\x00b" holds a NUL character`},
		{"{\"path\": \"things/x\", \"fields\": {\"title\": {\"stringValue\": \"caf\xe9\"}}}", "docs.ndjson line 2: fields.title.stringValue: not valid UTF-8 (byte 62)"},
		{`{"path": "things/x", "fields": {"at": {"geoPointValue": {"latitude": 200, "longitude": 10}}}}`, "docs.ndjson line 2: field at: geopoint (200, 10) is off the globe"},
		{`{"path": "things/x", "fields": {"t": {"timestampValue": "0000-01-01T00:00:00Z"}}}`, "docs.ndjson line 2: field t: timestamp 0000-01-01T00:00:00Z is outside Firestore's range"},
		{`{"name": "projects/p/a/b", "fields": {}}`, `docs.ndjson line 2: "projects/p/a/b" is not a document name (projects/<project>/databases/<database>/documents/<path>)`},
		{`{"path": "things/x", "fields": {"r": {"referenceValue": "users/alice"}}}`, `docs.ndjson line 2: field r: "users/alice" is not a document name`},
		{`{"path": "things/./x/y", "fields": {}}`, `docs.ndjson line 2: document path "things/./x/y" has the segment "."`},
	} {
		file := writeFile(t, filepath.Join(t.TempDir(), "docs.ndjson"), good, c.line)
		code, out := load(t, "", nil, "--from-ndjson", file, "--tenant", "bad", "--database-url", dbURL)
		assert.Equal(t, 1, code, out)
		assert.Contains(t, out, c.want)
		assert.NotContains(t, out, "invalid byte sequence")
	}
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM tenant_bad.firestore_documents WHERE path <> 'things/ok'").Scan(&n))
	assert.Zero(t, n, "nothing of the refused lines was loaded")
}
