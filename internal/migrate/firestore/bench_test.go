package firestore

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/testenv"
)

// BenchmarkNDJSONVsPsqlCopy loads 100 000 documents from NDJSON with the Loader, and the same
// rows (already encoded, as CSV) with `psql \copy` into an identical table: the machine's COPY
// limit. It reports documents per second for both and their ratio.
func BenchmarkNDJSONVsPsqlCopy(b *testing.B) {
	const n = 100000
	docs := bulk(n)
	file := writeNDJSON(b, docs)
	// The same rows as CSV, for psql.
	csvPath := filepath.Join(b.TempDir(), "rows.csv")
	f, err := os.Create(csvPath)
	require.NoError(b, err)
	w := csv.NewWriter(f)
	for _, d := range docs {
		data, err := EncodeFields(d.Fields)
		require.NoError(b, err)
		require.NoError(b, w.Write([]string{d.Path, d.Collection(), d.CollectionID(), d.Parent(), d.ID(), string(data), `\x` + hex.EncodeToString(Checksum(data))}))
	}
	w.Flush()
	require.NoError(b, f.Close())

	for b.Loop() {
		pool, dsn := testenv.Pool(b)
		ctx := context.Background()
		start := time.Now()
		_, err := (&Loader{Pool: pool, Plan: NewPlan("tenant_bench", nil), SourceKey: "ndjson", BatchSize: 5000}).Load(ctx, &NDJSONSource{Path: file})
		require.NoError(b, err)
		ours := n / time.Since(start).Seconds()

		_, err = pool.Exec(ctx, `CREATE TABLE copy_target (LIKE tenant_bench.firestore_documents INCLUDING ALL)`)
		require.NoError(b, err)
		start = time.Now()
		out, err := exec.Command("psql", dsn, "-qc", `\copy copy_target FROM '`+csvPath+`' WITH (FORMAT csv)`).CombinedOutput()
		require.NoError(b, err, "%s", out)
		psql := n / time.Since(start).Seconds()

		b.ReportMetric(ours, "resimatectl-docs/s")
		b.ReportMetric(psql, "psql-copy-docs/s")
		b.ReportMetric(ours/psql, "ratio")
	}
}
