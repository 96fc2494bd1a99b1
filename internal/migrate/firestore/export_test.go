package firestore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/testenv"
)

// bulk makes n small documents across three levels of subcollections, after the full dataset.
func bulk(n int) []Document {
	docs := dataset()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := len(docs); i < n; i++ {
		c := i / 50
		path := fmt.Sprintf("campaigns/c%05d", i)
		switch i % 3 {
		case 1:
			path = fmt.Sprintf("campaigns/c%05d/recipients/r%06d", c, i)
		case 2:
			path = fmt.Sprintf("campaigns/c%05d/recipients/r%06d/events/e%06d", c, c, i)
		}
		fields := map[string]Value{
			"i": {Kind: Integer, Int: int64(i)}, "s": {Kind: String, Str: fmt.Sprintf("doc %d", i)},
			"t": {Kind: Timestamp, Time: base.Add(time.Duration(i) * time.Second)}, "d": {Kind: Double, Double: float64(i) / 7},
		}
		if i%3 == 0 { // a reference across collections
			fields["owner"] = Value{Kind: Reference, Str: "users/alice"}
		}
		docs = append(docs, Document{Path: path, Fields: fields})
	}
	return docs
}

// Live and NDJSON loads of the same data produce identical rows.
func TestLiveAndNDJSONLoadIdenticalRows(t *testing.T) {
	client, project := testenv.FirestoreClient(t)
	pool, _ := testenv.Pool(t)
	ctx := context.Background()
	docs := bulk(600)
	bw := client.BulkWriter(ctx)
	for _, d := range docs {
		_, err := bw.Set(client.Doc(d.Path), goFields(client, d))
		require.NoError(t, err)
	}
	bw.End()

	_, err := (&Loader{Pool: pool, Plan: NewPlan("tenant_live", nil), SourceKey: "live", BatchSize: 200}).Load(ctx, liveSource(t, project))
	require.NoError(t, err)
	_, err = (&Loader{Pool: pool, Plan: NewPlan("tenant_file", nil), SourceKey: "file", BatchSize: 200}).Load(ctx, &NDJSONSource{Path: writeNDJSON(t, docs)})
	require.NoError(t, err)

	var diff int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM (
		(SELECT path, collection, collection_id, parent_path, id, data, checksum FROM tenant_live.firestore_documents
		 EXCEPT SELECT path, collection, collection_id, parent_path, id, data, checksum FROM tenant_file.firestore_documents)
		UNION ALL
		(SELECT path, collection, collection_id, parent_path, id, data, checksum FROM tenant_file.firestore_documents
		 EXCEPT SELECT path, collection, collection_id, parent_path, id, data, checksum FROM tenant_live.firestore_documents)) d`).Scan(&diff))
	assert.Zero(t, diff, "the two sources give identical rows")
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tenant_live.firestore_documents").Scan(&n))
	assert.Equal(t, len(docs), n)
}

// FuzzReadNDJSON: any input gives documents or an error naming a line, never a panic.
func FuzzReadNDJSON(f *testing.F) {
	for _, d := range dataset() {
		f.Add(ndjsonLine(d))
	}
	f.Add([]byte(`{"name":"projects/p/databases/(default)/documents/a/b","fields":{"x":{"doubleValue":"-Infinity"}}}`))
	f.Add([]byte(`{"path":"a/b","fields":{"x":{"arrayValue":{"values":[{"mapValue":{"fields":{}}}]}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := ReadNDJSON(strings.NewReader(string(data)), "fuzz", func(d Document) error {
			enc, err := EncodeFields(d.Fields)
			if err != nil {
				return err
			}
			back, err := DecodeFields(enc)
			if err != nil {
				t.Fatalf("own encoding does not decode: %v: %s", err, enc)
			}
			again, _ := EncodeFields(back)
			if string(again) != string(enc) {
				t.Fatalf("encoding not stable: %s vs %s", enc, again)
			}
			return nil
		})
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz") {
			t.Fatalf("error does not name the input: %v", err)
		}
	})
}
