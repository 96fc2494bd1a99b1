package firestore

import (
	"context"
	"encoding/base64"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/type/latlng"

	"github.com/resimate/resimatectl/internal/testenv"
)

// toGo turns values into what the Firestore client writes.
func toGo(client *firestore.Client, v Value) any {
	switch v.Kind {
	case Null:
		return nil
	case Boolean:
		return v.Bool
	case Integer:
		return v.Int
	case Double:
		return v.Double
	case Timestamp:
		return v.Time
	case String:
		return v.Str
	case Bytes:
		return v.Bytes
	case Reference:
		return client.Doc(v.Str)
	case GeoPoint:
		return &latlng.LatLng{Latitude: v.Lat, Longitude: v.Lng}
	case Array:
		out := make([]any, len(v.Array))
		for i, e := range v.Array {
			out[i] = toGo(client, e)
		}
		return out
	}
	out := map[string]any{}
	for k, e := range v.Map {
		out[k] = toGo(client, e)
	}
	return out
}

// goFields is a document's fields as the Firestore client writes them.
func goFields(client *firestore.Client, d Document) map[string]any {
	data := map[string]any{}
	for k, v := range d.Fields {
		data[k] = toGo(client, v)
	}
	return data
}

// toREST writes values in Firestore's REST JSON form, for NDJSON lines.
func toREST(v Value) map[string]any {
	switch v.Kind {
	case Null:
		return map[string]any{"nullValue": nil}
	case Boolean:
		return map[string]any{"booleanValue": v.Bool}
	case Integer:
		return map[string]any{"integerValue": strconv.FormatInt(v.Int, 10)}
	case Double:
		switch {
		case math.IsNaN(v.Double):
			return map[string]any{"doubleValue": "NaN"}
		case math.IsInf(v.Double, 1):
			return map[string]any{"doubleValue": "Infinity"}
		case math.IsInf(v.Double, -1):
			return map[string]any{"doubleValue": "-Infinity"}
		case v.Double == 0 && math.Signbit(v.Double):
			return map[string]any{"doubleValue": "-0"}
		}
		return map[string]any{"doubleValue": v.Double}
	case Timestamp:
		return map[string]any{"timestampValue": v.Time.Format("2006-01-02T15:04:05.000000Z")}
	case String:
		return map[string]any{"stringValue": v.Str}
	case Bytes:
		return map[string]any{"bytesValue": base64.StdEncoding.EncodeToString(v.Bytes)}
	case Reference:
		return map[string]any{"referenceValue": "projects/p/databases/(default)/documents/" + v.Str}
	case GeoPoint:
		return map[string]any{"geoPointValue": map[string]any{"latitude": v.Lat, "longitude": v.Lng}}
	case Array:
		vals := make([]any, len(v.Array))
		for i, e := range v.Array {
			vals[i] = toREST(e)
		}
		return map[string]any{"arrayValue": map[string]any{"values": vals}}
	}
	fields := map[string]any{}
	for k, e := range v.Map {
		fields[k] = toREST(e)
	}
	return map[string]any{"mapValue": map[string]any{"fields": fields}}
}

// dataset: every type, subcollections three levels deep, a missing parent, odd ids.
func dataset() []Document {
	docs := []Document{
		{Path: "types/all", Fields: everyType()},
		{Path: "campaigns/c1", Fields: map[string]Value{"name": {Kind: String, Str: "Spring"}, "owner": {Kind: Reference, Str: "users/alice"}}},
		{Path: "campaigns/c1/recipients/r1", Fields: map[string]Value{"email": {Kind: String, Str: "a@example.com"}}},
		{Path: "campaigns/c1/recipients/r1/events/e1", Fields: map[string]Value{"n": {Kind: Integer, Int: 1}}},
		// Its parent document campaigns/ghost does not exist.
		{Path: "campaigns/ghost/recipients/r9", Fields: map[string]Value{"orphan": {Kind: Boolean, Bool: true}}},
		{Path: "users/alice", Fields: map[string]Value{}},
		{Path: "users/id with spaces & ünïcödé", Fields: map[string]Value{"x": {Kind: Integer, Int: -1}}},
	}
	return docs
}

func canonical(t *testing.T, docs []Document) []string {
	var out []string
	for _, d := range docs {
		b, err := EncodeFields(d.Fields)
		require.NoError(t, err)
		out = append(out, d.Path+" "+string(b))
	}
	sort.Strings(out)
	return out
}

// The live reader and the NDJSON reader give the same documents, type for type.
func TestLiveAndNDJSONReadTheSameDocuments(t *testing.T) {
	client, project := testenv.FirestoreClient(t)
	ctx := context.Background()
	want := dataset()
	for _, d := range want {
		_, err := client.Doc(d.Path).Set(ctx, goFields(client, d))
		require.NoError(t, err, d.Path)
	}

	var live []Document
	require.NoError(t, (liveSource(t, project)).Documents(ctx, func(d Document) error {
		live = append(live, d)
		return nil
	}))
	assert.Equal(t, canonical(t, want), canonical(t, live))

	path := writeNDJSON(t, want)
	var fromFile []Document
	require.NoError(t, (&NDJSONSource{Path: path}).Documents(ctx, func(d Document) error {
		fromFile = append(fromFile, d)
		return nil
	}))
	assert.Equal(t, canonical(t, want), canonical(t, fromFile))

	ghost := fromFile[4]
	assert.Equal(t, "campaigns/ghost", ghost.Parent())
	assert.Equal(t, "recipients", ghost.CollectionID())
	assert.Equal(t, "r9", ghost.ID())
}

func TestNDJSONErrorsNameTheLine(t *testing.T) {
	in := `{"path":"a/1","fields":{"x":{"integerValue":"1"}}}
{"path":"a/2","fields":{"x":{"integerValue":"one"}}}
`
	err := ReadNDJSON(strings.NewReader(in), "docs.ndjson", func(Document) error { return nil })
	assert.EqualError(t, err, `docs.ndjson line 2: field x: strconv.ParseInt: parsing "one": invalid syntax`)
	err = ReadNDJSON(strings.NewReader(`{"path":"a","fields":{}}`), "docs.ndjson", func(Document) error { return nil })
	assert.ErrorContains(t, err, `docs.ndjson line 1: "a" is not a document path`)
	err = ReadNDJSON(strings.NewReader(`{"path":"a/1","fields":{"x":{"fooValue":1}}}`), "d", func(Document) error { return nil })
	assert.EqualError(t, err, `d line 1: json: unknown field "fooValue"`)
}

// The managed-export reader gives the same documents as the live reader, type for type.
func TestExportReadsTheSameDocuments(t *testing.T) {
	client, project := testenv.FirestoreClient(t)
	ctx := context.Background()
	want := append(dataset(), exportEdges()...)
	for _, d := range want {
		_, err := client.Doc(d.Path).Set(ctx, goFields(client, d))
		require.NoError(t, err, d.Path)
	}
	dir := testenv.FirestoreExport(t, project)
	var got []Document
	require.NoError(t, (&ExportSource{Files: os.DirFS(dir), Name: dir}).Documents(ctx, func(d Document) error {
		got = append(got, d)
		return nil
	}))
	assert.Equal(t, canonical(t, want), canonical(t, got))
}

// exportEdges are what the export format encodes specially: empty lists and maps, maps and
// nulls inside lists, long strings, numeric ids, a reference to one.
func exportEdges() []Document {
	return []Document{
		{Path: "edges/e", Fields: map[string]Value{
			"emptyArray": {Kind: Array, Array: []Value{}}, "emptyMap": {Kind: Map, Map: map[string]Value{}},
			"mixed": {Kind: Array, Array: []Value{{Kind: Map, Map: map[string]Value{"a": {Kind: Integer, Int: 1}}}, {Kind: Null},
				{Kind: Bytes, Bytes: []byte{1}}, {Kind: GeoPoint, Lat: 1, Lng: 2}, {Kind: Reference, Str: "nums/__id42__"},
				{Kind: Timestamp, Time: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)}, {Kind: Double, Double: math.NaN()}}},
			"long":   {Kind: String, Str: strings.Repeat("long ", 2000)},
			"nested": {Kind: Map, Map: map[string]Value{"list": {Kind: Array, Array: []Value{}}, "m": {Kind: Map, Map: map[string]Value{}}}},
		}},
		{Path: "nums/__id42__", Fields: map[string]Value{"a": {Kind: Integer, Int: 1}}},
	}
}

// liveSource reads a project of the emulator.
func liveSource(t testing.TB, project string) *LiveSource {
	t.Helper()
	client, err := NewLiveClient(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	return &LiveSource{Client: client, Project: project, PageSize: 700}
}
