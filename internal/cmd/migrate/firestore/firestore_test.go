package firestore_test

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

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fsmig "github.com/resimate/resimatectl/internal/migrate/firestore"
	"github.com/resimate/resimatectl/internal/testenv"
)

// 50 000 documents from NDJSON; the load is killed at several points; reruns resume from the
// checkpoint; verify then finds every document, once, unchanged.
func TestKilledFirestoreLoadResumesAndVerifies(t *testing.T) {
	pool, dbURL := testenv.Pool(t)
	ctx := context.Background()
	const n = 50000
	file := writeCampaigns(t, n)
	args := []string{"migrate", "firebase", "firestore", "--from-ndjson", file, "--tenant", "main", "--database-url", dbURL, "--batch-size", "2000"}

	// A dry run reads everything, writes nothing.
	dry, err := exec.Command(testenv.Binary(t), append(args, "--dry-run")...).CombinedOutput()
	require.NoError(t, err, "%s", dry)
	assert.Contains(t, string(dry), "dry run, nothing written: 50000 documents")
	assert.Regexp(t, `recipients\s+25000`, string(dry))
	var exists bool
	require.NoError(t, pool.QueryRow(ctx, "SELECT to_regclass('tenant_main.firestore_documents') IS NOT NULL").Scan(&exists))
	assert.False(t, exists)

	killThreeTimesThenFinish(t, pool, args, n)
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

// writeCampaigns writes n documents as NDJSON, half campaigns and half their recipients.
func writeCampaigns(t *testing.T, n int) string {
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
	return file
}

// Ctrl-C (SIGINT) and SIGTERM stop a load cleanly: the committed batches stay, the exit
// status says it was interrupted, and the rerun resumes from the checkpoint.
func TestInterruptedFirestoreLoadResumes(t *testing.T) {
	pool, dbURL := testenv.Pool(t)
	const n = 30000
	file := writeCampaigns(t, n)
	args := []string{"migrate", "firebase", "firestore", "--from-ndjson", file, "--tenant", "main", "--batch-size", "1000"}
	t.Setenv("RESIMATE_DATABASE_URL", dbURL)
	for sig, code := range map[syscall.Signal]int{syscall.SIGINT: 130, syscall.SIGTERM: 143} {
		got, stderr, partial := stopOnce(t, pool, args, n, sig)
		assert.True(t, partial, "%v landed mid-load", sig)
		assert.Equal(t, code, got, "%v: %s", sig, stderr)
		assert.Contains(t, stderr, "interrupted by "+map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[sig])
	}
	out, err := exec.Command(testenv.Binary(t), append(args, "-o", "json")...).Output()
	require.NoError(t, err)
	var res struct {
		Stats struct{ Read, Written, SkippedByCheckpoint int64 }
	}
	require.NoError(t, json.Unmarshal(out, &res), string(out))
	assert.Equal(t, int64(n), res.Stats.Written+res.Stats.SkippedByCheckpoint)
	assert.Positive(t, res.Stats.SkippedByCheckpoint, "the interrupted runs' batches were kept")
	vout, err := exec.Command(testenv.Binary(t), "migrate", "firebase", "firestore", "verify", "--from-ndjson", file, "--tenant", "main").CombinedOutput()
	require.NoError(t, err, "%s", vout)
}

// stopOnce starts the load, sends sig as soon as it has committed a batch of its own, and
// returns the exit status, stderr, and whether the stop landed mid-load.
func stopOnce(t *testing.T, pool *pgxpool.Pool, args []string, n int64, sig syscall.Signal) (int, string, bool) {
	t.Helper()
	ctx := context.Background()
	checkpoint := func() int64 {
		var done int64
		_ = pool.QueryRow(ctx, "SELECT coalesce(max(documents), 0) FROM resimate_migration.firestore_checkpoints").Scan(&done)
		return done
	}
	before := checkpoint()
	cmd := exec.Command(testenv.Binary(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
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
	_ = cmd.Process.Signal(sig)
	<-exited
	done := checkpoint()
	return cmd.ProcessState.ExitCode(), stderr.String(), done > before && done < n
}

// killThreeTimesThenFinish runs the load three times, killing each run as soon as it has
// committed a batch of its own (mid-load, always), then lets a fourth finish and checks that it
// resumed and accounted for every document.
func killThreeTimesThenFinish(t *testing.T, pool *pgxpool.Pool, args []string, n int64) {
	t.Helper()
	killThreeTimes(t, pool, args, n)
	var out bytes.Buffer
	cmd := exec.Command(testenv.Binary(t), append(args, "-o", "json")...)
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), out.String())
	var res struct {
		Stats struct{ Read, Written, SkippedByCheckpoint int64 }
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), out.String())
	assert.Equal(t, n, res.Stats.Read)
	assert.Equal(t, n, res.Stats.Written+res.Stats.SkippedByCheckpoint)
	assert.Positive(t, res.Stats.SkippedByCheckpoint, "the killed runs had committed batches: the last run resumed")
}

// killThreeTimes starts the load three times and kills each run as soon as it has committed a
// batch of its own; every kill must land mid-load.
func killThreeTimes(t *testing.T, pool *pgxpool.Pool, args []string, n int64) {
	t.Helper()
	partial := 0
	for range 3 {
		if _, _, mid := stopOnce(t, pool, args, n, syscall.SIGKILL); mid {
			partial++
		}
	}
	assert.Equal(t, 3, partial, "every kill landed mid-load")
}

const cmdMapping = `version: 1
tables:
  - table: campaigns
    collection: campaigns
    columns:
      - {field: name, type: text}
      - {field: sent, type: bigint}
  - table: recipients
    collection: campaigns/*/recipients
    parent: {table: campaigns, column: campaign_path}
    columns:
      - {field: email, type: text}
`

// seedEmulator writes n campaigns with a recipient each (every 500th campaign's "sent" a string)
// and returns the emulator's managed export of them.
func seedEmulator(t *testing.T, n int) string {
	client, project := testenv.FirestoreClient(t)
	ctx := context.Background()
	for start := 0; start < n; start += 500 {
		//lint:ignore SA1019 plain batches are the emulator's fastest write
		b := client.Batch()
		for i := start; i < min(start+500, n); i += 2 {
			var sent any = int64(i)
			if i%1000 == 0 {
				sent = "many"
			}
			c := client.Doc(fmt.Sprintf("campaigns/c%06d", i))
			b.Set(c, map[string]any{"name": fmt.Sprintf("campaign %d", i), "sent": sent})
			b.Set(c.Collection("recipients").Doc("r1"), map[string]any{"email": fmt.Sprintf("r%d@example.com", i), "extra": []any{int64(i), true}})
		}
		_, err := b.Commit(ctx)
		require.NoError(t, err)
	}
	return testenv.FirestoreExport(t, project)
}

// A managed export with a mapping, through the binary: killed three times, resumed; the
// documents that do not fit are rejected, reported, and make the exit status 1; verify lists
// them and nothing else.
func TestExportWithMappingKilledResumedRejectsReported(t *testing.T) {
	pool, dbURL := testenv.Pool(t)
	ctx := context.Background()
	const n = 50000
	dir := seedEmulator(t, n)
	mapping := filepath.Join(t.TempDir(), "mapping.yaml")
	require.NoError(t, os.WriteFile(mapping, []byte(cmdMapping), 0o600))
	args := []string{"migrate", "firebase", "firestore", "--from-export", dir, "--mapping", mapping, "--tenant", "exp", "--database-url", dbURL, "--batch-size", "2000"}

	// The kills (the final run exits 1 because of the rejects: checked below).
	killThreeTimes(t, pool, args, n)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(testenv.Binary(t), append(args, "-o", "json")...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, stderr.String())
	assert.Equal(t, 1, exit.ExitCode())
	assert.Equal(t, "50 documents did not fit their table: they are in tenant_exp.firestore_rejects with the reason; fix the mapping or the data and run again\n", stderr.String())
	var res struct {
		Stats struct {
			Read, Written, Rejected, SkippedByCheckpoint int64
			Tables                                       map[string]int64
			ForeignKeys                                  []struct {
				Name    string
				Created bool
			}
		}
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res), stdout.String())
	assert.Equal(t, int64(n), res.Stats.Read)
	assert.Positive(t, res.Stats.SkippedByCheckpoint)
	assert.Equal(t, int64(n), res.Stats.Written+res.Stats.Rejected+res.Stats.SkippedByCheckpoint)

	var campaigns, recipients, rejects, distinct int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM tenant_exp.campaigns), (SELECT count(*) FROM tenant_exp.recipients),
		(SELECT count(*) FROM tenant_exp.firestore_rejects), (SELECT count(DISTINCT path) FROM tenant_exp.campaigns)`).Scan(&campaigns, &recipients, &rejects, &distinct))
	assert.Equal(t, []int{n/2 - 50, n / 2, 50, n/2 - 50}, []int{campaigns, recipients, rejects, distinct})
	// Recipients of rejected campaigns point at no row: that foreign key is not created.
	assert.Equal(t, "recipients_campaign_path_fkey", res.Stats.ForeignKeys[0].Name)
	assert.False(t, res.Stats.ForeignKeys[0].Created)

	verify := exec.Command(testenv.Binary(t), "migrate", "firebase", "firestore", "verify", "--from-export", dir, "--mapping", mapping, "--tenant", "exp", "--database-url", dbURL)
	vout, err := verify.CombinedOutput()
	require.Error(t, err)
	assert.Regexp(t, `recipients\s+25000\s+25000\s+true`, string(vout))
	assert.Regexp(t, `campaigns/c001000\s+rejected from campaigns: field "sent": the mapping makes it bigint \(column sent\), the document has a string`, string(vout))
	assert.Equal(t, 50, strings.Count(string(vout), "rejected from campaigns"), "the rejects and nothing else")

	// A mapping that keeps "sent" as jsonb takes every document: a new schema version, a full
	// reload under the new mapping's checkpoint, no reject left, verify clean.
	require.NoError(t, os.WriteFile(mapping, []byte(strings.Replace(cmdMapping, "{field: sent, type: bigint}", "{field: sent, column: sent_any, type: jsonb}", 1)), 0o600))
	out, err := exec.Command(testenv.Binary(t), args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "schema version 2, applied now")
	assert.Contains(t, string(out), "0 rejected")
	out, err = exec.Command(testenv.Binary(t), "migrate", "firebase", "firestore", "verify", "--from-export", dir, "--mapping", mapping, "--tenant", "exp", "--database-url", dbURL).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// Mapping errors and the DDL need neither a source nor a database.
func TestFirestoreMappingFlags(t *testing.T) {
	bin := testenv.Binary(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte(cmdMapping), 0o600))
	out, err := exec.Command(bin, "migrate", "firebase", "firestore", "--mapping", good, "--tenant", "acme", "--schema-only").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), `CREATE TABLE IF NOT EXISTS "tenant_acme"."campaigns" (`)
	assert.Contains(t, string(out), `ALTER TABLE "tenant_acme"."recipients" ADD COLUMN IF NOT EXISTS "campaign_path" text;`)
	assert.Contains(t, string(out), `ALTER TABLE "tenant_acme"."campaigns" ADD COLUMN IF NOT EXISTS "sent" bigint; -- field "sent"`)

	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(cmdMapping, "type: bigint", "type: integer", 1)), 0o600))
	out, err = exec.Command(bin, "migrate", "firebase", "firestore", "--mapping", bad, "--schema-only").CombinedOutput()
	require.Error(t, err)
	assert.Equal(t, "Error: "+bad+`: tables[0].columns[1].type: unknown column type "integer" (one of: bigint, boolean, bytea, double, geopoint, jsonb, reference, text, timestamptz)`+"\n", string(out))

	out, err = exec.Command(bin, "migrate", "firebase", "firestore", "--from-ndjson", good, "--from-export", dir, "--dry-run").CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 2, exit.ExitCode(), "%s", out)
	assert.Contains(t, string(out), "give exactly one source")
}

// --generate-mapping samples an export and prints a mapping the loader takes.
func TestGenerateMappingFromExport(t *testing.T) {
	dir := seedEmulator(t, 2000)
	out, err := exec.Command(testenv.Binary(t), "migrate", "firebase", "firestore", "--from-export", dir, "--generate-mapping", "--sample", "0").Output()
	require.NoError(t, err)
	m, err := fsmig.ParseMapping(out)
	require.NoError(t, err, "%s", out)
	require.Len(t, m.Tables, 2)
	assert.Equal(t, "recipients", m.Tables[1].Table)
	assert.Equal(t, &fsmig.ParentMapping{Table: "campaigns"}, m.Tables[1].Parent)
	assert.Equal(t, []fsmig.Column{{Field: "email", Type: "text"}, {Field: "extra", Type: "jsonb"}}, m.Tables[1].Columns)
	assert.Equal(t, []fsmig.Column{{Field: "name", Type: "text"}}, m.Tables[0].Columns, "sent has two types in the sample: it stays in data")
}

// Every problem of a mapping file is on a line of its own under one summary.
func TestMappingProblemsOneLineEach(t *testing.T) {
	mapping := filepath.Join(t.TempDir(), "mapping.yaml")
	require.NoError(t, os.WriteFile(mapping, []byte("version: 1\ntables:\n  - table: campaigns\n    collection: campaigns\n    columns:\n"+
		"      - {field: name, type: integer}\n      - {field: name, type: text}\n"), 0o600))
	cmd := exec.Command(testenv.Binary(t), "migrate", "firebase", "firestore", "--mapping", mapping, "--schema-only")
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Equal(t, "Error: "+mapping+": 3 problems:\n"+
		"  - tables[0].columns[0].type: unknown column type \"integer\" (one of: bigint, boolean, bytea, double, geopoint, jsonb, reference, text, timestamptz)\n"+
		"  - tables[0].columns[1].field: field \"name\" is mapped twice\n"+
		"  - tables[0].columns[1].column: column \"name\" is used twice\n", string(out))
}
