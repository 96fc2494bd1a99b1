package firestore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/testenv"
)

// ndjsonLine is one document as an NDJSON line in the REST value form.
func ndjsonLine(d Document) []byte {
	fields := map[string]any{}
	for k, v := range d.Fields {
		fields[k] = toREST(v)
	}
	line, err := json.Marshal(map[string]any{"path": d.Path, "fields": fields})
	if err != nil {
		panic(err) // toREST makes only JSON-encodable values
	}
	return line
}

// writeNDJSON writes docs as an NDJSON file.
func writeNDJSON(t testing.TB, docs []Document) string {
	var b strings.Builder
	for _, d := range docs {
		b.Write(ndjsonLine(d))
		b.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), "docs.ndjson")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

// many makes n documents across three levels of subcollections, every type included.
func many(n int) []Document {
	docs := dataset()
	for i := len(docs); i < n; i++ {
		c := i / 100
		var path string
		switch i % 3 {
		case 0:
			path = fmt.Sprintf("campaigns/c%d", i)
		case 1:
			path = fmt.Sprintf("campaigns/c%d/recipients/r%d", c, i)
		default:
			path = fmt.Sprintf("campaigns/c%d/recipients/r%d/events/e%d", c, c, i)
		}
		f := everyType()
		f["i"] = Value{Kind: Integer, Int: int64(i)}
		docs = append(docs, Document{Path: path, Fields: f})
	}
	return docs
}

func TestLoadVerifyAndResume(t *testing.T) {
	pool, _ := testenv.Pool(t)
	ctx := context.Background()
	docs := many(3000)
	src := &NDJSONSource{Path: writeNDJSON(t, docs)}
	l := &Loader{Pool: pool, Plan: NewPlan("tenant_main", nil), SourceKey: "ndjson", BatchSize: 500}

	// A run that dies after two batches (the source fails), then a resume.
	failing := &failAfter{Source: src, n: 1200}
	_, err := l.Load(ctx, failing)
	require.Error(t, err)
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tenant_main.firestore_documents").Scan(&n))
	assert.Equal(t, 1000, n, "two whole batches committed, the third not")

	st, err := l.Load(ctx, src)
	require.NoError(t, err)
	assert.Equal(t, int64(1000), st.Skipped, "resumes after the checkpoint")
	assert.Equal(t, int64(2000), st.Written)
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tenant_main.firestore_documents").Scan(&n))
	assert.Equal(t, len(docs), n)

	rep, err := Verify(ctx, pool, NewPlan("tenant_main", nil), src)
	require.NoError(t, err)
	assert.Empty(t, rep.Differences)
	for _, g := range rep.Groups {
		assert.True(t, g.Match, "%+v", g)
	}

	// A changed document is found.
	_, err = pool.Exec(ctx, `UPDATE tenant_main.firestore_documents SET data = jsonb_set(data, '{i}', '7') WHERE path = 'campaigns/c9'`)
	require.NoError(t, err)
	rep, err = Verify(ctx, pool, NewPlan("tenant_main", nil), src)
	require.NoError(t, err)
	assert.Equal(t, []Difference{{Path: "campaigns/c9", Problem: "content differs"}}, rep.Differences)
}

type failAfter struct {
	Source
	n int
}

func (f *failAfter) Documents(ctx context.Context, fn func(Document) error) error {
	i := 0
	return f.Source.Documents(ctx, func(d Document) error {
		if i++; i > f.n {
			return fmt.Errorf("source broke after %d documents", f.n)
		}
		return fn(d)
	})
}
