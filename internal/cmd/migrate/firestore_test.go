package migrate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/testenv"
)

// 50 000 documents from NDJSON; the load is killed at several points; reruns resume from the
// checkpoint; verify then finds every document, once, unchanged.
func TestKilledFirestoreLoadResumesAndVerifies(t *testing.T) {
	pool, dbURL := testenv.Pool(t)
	ctx := context.Background()
	const n = 50000
	var b strings.Builder
	for i := 0; i < n; i++ {
		path := fmt.Sprintf("campaigns/c%05d", i)
		if i%2 == 1 {
			path = fmt.Sprintf("campaigns/c%05d/recipients/r%06d", i/100, i)
		}
		line, _ := json.Marshal(map[string]any{"path": path, "fields": map[string]any{
			"i": map[string]any{"integerValue": fmt.Sprint(i)}, "s": map[string]any{"stringValue": fmt.Sprintf("document %d", i)},
			"big": map[string]any{"integerValue": "9223372036854775807"}, "nan": map[string]any{"doubleValue": "NaN"},
		}})
		b.Write(line)
		b.WriteByte('\n')
	}
	file := filepath.Join(t.TempDir(), "docs.ndjson")
	require.NoError(t, os.WriteFile(file, []byte(b.String()), 0o600))
	args := []string{"migrate", "firebase", "firestore", "--from-ndjson", file, "--tenant", "main", "--database-url", dbURL, "--batch-size", "2000"}

	// A dry run reads everything, writes nothing.
	dry, err := exec.Command(testenv.Binary(t), append(args, "--dry-run")...).CombinedOutput()
	require.NoError(t, err, "%s", dry)
	assert.Contains(t, string(dry), "dry run, nothing written: 50000 documents")
	assert.Regexp(t, `recipients\s+25000`, string(dry))
	var exists bool
	require.NoError(t, pool.QueryRow(ctx, "SELECT to_regclass('tenant_main.firestore_documents') IS NOT NULL").Scan(&exists))
	assert.False(t, exists)

	checkpoint := func() int64 {
		var done int64
		_ = pool.QueryRow(ctx, "SELECT coalesce(max(documents), 0) FROM resimate_migration.firestore_checkpoints").Scan(&done)
		return done
	}
	// Three runs, each killed as soon as it has committed a batch of its own: mid-load, always.
	partial := 0
	for range 3 {
		before := checkpoint()
		cmd := exec.Command(testenv.Binary(t), args...)
		require.NoError(t, cmd.Start())
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		deadline := time.After(time.Minute)
	wait:
		for checkpoint() == before {
			select {
			case <-exited:
				break wait
			case <-deadline:
				break wait
			case <-time.After(10 * time.Millisecond):
			}
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		if done := checkpoint(); done > before && done < n {
			partial++
		}
	}
	assert.Equal(t, 3, partial, "every kill landed mid-load")
	var out bytes.Buffer
	cmd := exec.Command(testenv.Binary(t), append(args, "-o", "json")...)
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), out.String())
	var res struct {
		Stats struct{ Read, Written, SkippedByCheckpoint int64 }
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), out.String())
	assert.Equal(t, int64(n), res.Stats.Read)
	assert.Equal(t, int64(n), res.Stats.Written+res.Stats.SkippedByCheckpoint)
	assert.Positive(t, res.Stats.SkippedByCheckpoint, "the killed runs had committed batches: the last run resumed")

	var count, distinct int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT path) FROM tenant_main.firestore_documents").Scan(&count, &distinct))
	assert.Equal(t, n, count)
	assert.Equal(t, n, distinct)

	verify := exec.Command(testenv.Binary(t), "migrate", "firebase", "firestore", "verify", "--from-ndjson", file, "--tenant", "main", "--database-url", dbURL)
	vout, err := verify.CombinedOutput()
	require.NoError(t, err, "%s", vout)
	assert.Regexp(t, `campaigns\s+25000\s+25000\s+true`, string(vout))
	assert.Regexp(t, `recipients\s+25000\s+25000\s+true`, string(vout))

	_, err = pool.Exec(ctx, "DELETE FROM tenant_main.firestore_documents WHERE path = 'campaigns/c00042'")
	require.NoError(t, err)
	verify = exec.Command(testenv.Binary(t), "migrate", "firebase", "firestore", "verify", "--from-ndjson", file, "--tenant", "main", "--database-url", dbURL)
	vout, err = verify.CombinedOutput()
	require.Error(t, err)
	assert.Regexp(t, `campaigns/c00042\s+missing in PostgreSQL`, string(vout))
}
