package firestore

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/testenv"
)

// seed writes docs to the emulator in parallel batches (BulkWriter ramps up too slowly for
// 50 000 documents in a test).
func seed(t testing.TB, client *firestore.Client, docs []Document) {
	t.Helper()
	ctx := context.Background()
	const size = 500
	var wg sync.WaitGroup
	errs := make(chan error, len(docs)/size+1)
	sem := make(chan struct{}, 8)
	for start := 0; start < len(docs); start += size {
		wg.Add(1)
		sem <- struct{}{}
		go func(part []Document) {
			defer wg.Done()
			defer func() { <-sem }()
			//lint:ignore SA1019 a plain batch commit is what the emulator takes fastest
			b := client.Batch()
			for _, d := range part {
				b.Set(client.Doc(d.Path), goFields(client, d))
			}
			_, err := b.Commit(ctx)
			errs <- err
		}(docs[start:min(start+size, len(docs))])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// The same 50 000 documents (every type, three levels, a missing parent, odd ids, references
// across collections) read live, from the emulator's managed export and from NDJSON load into
// identical rows of typed and generic tables, and verify finds no difference for any of them.
func TestThreeSourcesLoadIdenticalRows(t *testing.T) {
	if testing.Short() {
		t.Skip("50 000 documents")
	}
	client, project := testenv.FirestoreClient(t)
	pool, _ := testenv.Pool(t)
	ctx := context.Background()
	docs := append(bulk(50000), exportEdges()...)
	start := time.Now()
	seed(t, client, docs)
	t.Logf("seeded %d documents in %s", len(docs), time.Since(start))
	dir := testenv.FirestoreExport(t, project)
	file := writeNDJSON(t, docs)

	live := liveSource(t, project)
	live.PageSize = 5000 // the emulator spends most of its time starting each page
	sources := map[string]Source{
		"tenant_live":   live,
		"tenant_export": &ExportSource{Files: os.DirFS(dir), Name: dir},
		"tenant_ndjson": &NDJSONSource{Path: file},
	}
	for schema, src := range sources {
		start := time.Now()
		plan := NewPlan(schema, mustMapping(t, datasetMapping))
		st, err := (&Loader{Pool: pool, Plan: plan, SourceKey: "s", BatchSize: 5000}).Load(ctx, src)
		require.NoError(t, err, schema)
		assert.Equal(t, int64(len(docs)), st.Written, schema)
		assert.Zero(t, st.Rejected, schema)
		t.Logf("%s: loaded in %s", schema, time.Since(start))
		start = time.Now()
		rep, err := Verify(ctx, pool, plan, src)
		require.NoError(t, err)
		assert.Empty(t, rep.Differences, schema)
		t.Logf("%s: verified in %s", schema, time.Since(start))
	}
	for _, table := range []string{GenericTable, RejectsTable, "users", "campaigns", "recipients", "events", "types"} {
		assert.Zero(t, tableDiff(t, pool, "tenant_live", "tenant_export", table), table)
		assert.Zero(t, tableDiff(t, pool, "tenant_live", "tenant_ndjson", table), table)
	}
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM tenant_export.campaigns) + (SELECT count(*) FROM tenant_export.recipients)
		+ (SELECT count(*) FROM tenant_export.events) + (SELECT count(*) FROM tenant_export.users) + (SELECT count(*) FROM tenant_export.types)
		+ (SELECT count(*) FROM tenant_export.firestore_documents)`).Scan(&n))
	assert.Equal(t, len(docs), n)
}

// tableDiff counts the rows of a table that are in one schema and not the other, both ways
// (rejected_at aside, the time of the load).
func tableDiff(t testing.TB, pool *pgxpool.Pool, a, b, table string) int {
	var cols string
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT string_agg(quote_ident(column_name) || '::text', ', ' ORDER BY ordinal_position)
		FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name <> 'rejected_at'`, a, table).Scan(&cols))
	var n int
	q := fmt.Sprintf(`SELECT count(*) FROM ((SELECT %[1]s FROM %[2]s.%[4]s EXCEPT ALL SELECT %[1]s FROM %[3]s.%[4]s)
		UNION ALL (SELECT %[1]s FROM %[3]s.%[4]s EXCEPT ALL SELECT %[1]s FROM %[2]s.%[4]s)) d`, cols, a, b, table)
	require.NoError(t, pool.QueryRow(context.Background(), q).Scan(&n))
	return n
}
