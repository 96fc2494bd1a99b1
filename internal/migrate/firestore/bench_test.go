package firestore

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
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
	benchVsPsqlCopy(b, docs, &NDJSONSource{Path: writeNDJSON(b, docs)})
}

// BenchmarkExportVsPsqlCopy does the same from the emulator's managed export of the documents.
func BenchmarkExportVsPsqlCopy(b *testing.B) {
	const n = 100000
	docs := bulk(n)
	client, project := testenv.FirestoreClient(b)
	seed(b, client, docs)
	dir := testenv.FirestoreExport(b, project)
	benchVsPsqlCopy(b, docs, &ExportSource{Files: os.DirFS(dir), Name: dir})
}

func benchVsPsqlCopy(b *testing.B, docs []Document, src Source) {
	n := float64(len(docs))
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

	// Three rounds, each in a fresh database, the median of each side: PostgreSQL's own pace
	// (checkpoints, WAL) moves single runs by tens of percent.
	for b.Loop() {
		var ours, psql []float64
		for range 3 {
			pool, dsn := testenv.Pool(b)
			ctx := context.Background()
			start := time.Now()
			st, err := (&Loader{Pool: pool, Plan: NewPlan("tenant_bench", nil), SourceKey: "bench", BatchSize: 5000}).Load(ctx, src)
			require.NoError(b, err)
			require.Equal(b, int64(len(docs)), st.Written)
			ours = append(ours, n/time.Since(start).Seconds())

			_, err = pool.Exec(ctx, `CREATE TABLE copy_target (LIKE tenant_bench.firestore_documents INCLUDING ALL)`)
			require.NoError(b, err)
			start = time.Now()
			out, err := exec.Command("psql", dsn, "-qc", `\copy copy_target FROM '`+csvPath+`' WITH (FORMAT csv)`).CombinedOutput()
			require.NoError(b, err, "%s", out)
			psql = append(psql, n/time.Since(start).Seconds())
		}
		b.ReportMetric(median(ours), "resimatectl-docs/s")
		b.ReportMetric(median(psql), "psql-copy-docs/s")
		b.ReportMetric(median(ours)/median(psql), "ratio")
	}
}

func median(v []float64) float64 {
	s := append([]float64{}, v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
