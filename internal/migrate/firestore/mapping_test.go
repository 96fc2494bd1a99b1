package firestore

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"

	"github.com/resimate/resimatectl/internal/testenv"
)

// datasetMapping maps dataset(): typed tables for campaigns, recipients (a subcollection with a
// missing parent), events (a collection group), users and the every-type document; everything
// else (edges, nums) stays generic.
const datasetMapping = `
version: 1
tables:
  - table: users
    collection: users
    idColumn: uid
  - table: campaigns
    collection: campaigns
    columns:
      - {field: name, type: text}
      - {field: owner, type: reference, references: users}
  - table: recipients
    collection: campaigns/*/recipients
    parent: {table: campaigns, column: campaign_path}
    columns:
      - {field: email, type: text}
  - table: events
    collectionGroup: events
    parent: {table: recipients}
    columns:
      - {field: n, type: bigint}
  - table: types
    collection: types
    columns:
      - {field: "null", type: text}
      - {field: "true", column: yes, type: boolean}
      - {field: maxInt, type: bigint}
      - {field: minInt, type: bigint}
      - {field: nan, type: double}
      - {field: "-0", column: negative_zero, type: double}
      - {field: "-inf", column: minus_infinity, type: double}
      - {field: time, type: timestamptz}
      - {field: plain, type: text}
      - {field: bytes, type: bytea}
      - {field: ref, type: reference, references: users}
      - {field: geo, type: geopoint}
      - {field: array, type: jsonb}
      - {field: map, type: jsonb}
      - {field: missing, type: text}
`

func mustMapping(t testing.TB, text string) *Mapping {
	t.Helper()
	m, err := ParseMapping([]byte(text))
	require.NoError(t, err)
	return m
}

// A mapping sends collections to typed tables; reading the rows back gives every document
// exactly; what does not fit is rejected whole, and a fixed mapping takes it in.
func TestMappedLoadIsTypedAndLossless(t *testing.T) {
	pool, _ := testenv.Pool(t)
	ctx := context.Background()
	docs := append(dataset(), exportEdges()...)
	src := &NDJSONSource{Path: writeNDJSON(t, docs)}
	plan := NewPlan("tenant_typed", mustMapping(t, datasetMapping))
	st, err := (&Loader{Pool: pool, Plan: plan, SourceKey: "ndjson", BatchSize: 3}).Load(ctx, src)
	require.NoError(t, err)
	assert.Equal(t, int64(len(docs)), st.Written)
	assert.Zero(t, st.Rejected)
	assert.Equal(t, map[string]int64{"users": 2, "campaigns": 1, "recipients": 2, "events": 1, "types": 1, GenericTable: 2}, st.Tables)
	assert.Equal(t, SchemaVersion{Version: 1, Applied: true}, st.Schema)

	// Typed columns hold typed values.
	var (
		yes                bool
		maxInt             int64
		nan, negZero, minf float64
		ts                 time.Time
		ref, geo, arr      string
		missing, null      *string
		data               string
	)
	require.NoError(t, pool.QueryRow(ctx, `SELECT yes, max_int, nan, negative_zero, minus_infinity, time, ref, geo::text, "array"::text, missing, "null", data::text
		FROM tenant_typed.types WHERE id = 'all'`).Scan(&yes, &maxInt, &nan, &negZero, &minf, &ts, &ref, &geo, &arr, &missing, &null, &data))
	assert.True(t, yes)
	assert.Equal(t, int64(math.MaxInt64), maxInt)
	assert.True(t, math.IsNaN(nan))
	assert.True(t, negZero == 0 && math.Signbit(negZero), "-0 stays -0")
	assert.True(t, math.IsInf(minf, -1))
	assert.True(t, ts.Equal(time.Date(2024, 2, 29, 23, 59, 59, 123456000, time.UTC)))
	assert.Equal(t, "users/alice", ref)
	assert.Equal(t, "(151.2093,-33.8688)", geo, "point(longitude, latitude)")
	assert.JSONEq(t, `[1,"two",{"inner":[null]}]`, arr)
	assert.Nil(t, missing)
	assert.Nil(t, null)
	assert.Contains(t, data, `"null": null`, "a mapped field's null stays apart from a missing field")
	assert.Contains(t, data, `"str"`, "unmapped fields go to data")
	var parent *string
	require.NoError(t, pool.QueryRow(ctx, `SELECT campaign_path FROM tenant_typed.recipients WHERE path = 'campaigns/ghost/recipients/r9'`).Scan(&parent))
	require.NotNil(t, parent)
	assert.Equal(t, "campaigns/ghost", *parent, "kept although the parent document does not exist")

	// Foreign keys: created where every row points at a row; the missing parent keeps one out.
	fks := map[string]ForeignKeyResult{}
	for _, k := range st.ForeignKeys {
		fks[k.Name] = k
	}
	assert.True(t, fks["campaigns_owner_fkey"].Created)
	assert.True(t, fks["types_ref_fkey"].Created)
	assert.True(t, fks["events_parent_path_fkey"].Created)
	assert.Equal(t, ForeignKeyResult{Name: "recipients_campaign_path_fkey", Dangling: 1, Example: "campaigns/ghost", References: "tenant_typed.campaigns(path)"},
		fks["recipients_campaign_path_fkey"])

	rep, err := Verify(ctx, pool, plan, src)
	require.NoError(t, err)
	assert.Empty(t, rep.Differences)

	// A second run of the same mapping: no new schema version, nothing rewritten.
	st, err = (&Loader{Pool: pool, Plan: NewPlan("tenant_typed", mustMapping(t, datasetMapping)), SourceKey: "ndjson", BatchSize: 3}).Load(ctx, src)
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion{Version: 1}, st.Schema)
	assert.Zero(t, st.Written)
}

func TestTypeConflictsAreRejectedWholeAndRetried(t *testing.T) {
	pool, _ := testenv.Pool(t)
	ctx := context.Background()
	docs := []Document{
		{Path: "events/e1", Fields: map[string]Value{"n": {Kind: Integer, Int: 1}}},
		{Path: "events/e2", Fields: map[string]Value{"n": {Kind: String, Str: "two"}, "other": {Kind: Boolean, Bool: true}}},
		{Path: "events/e3", Fields: map[string]Value{"n": {Kind: Double, Double: 3.5}}},
	}
	file := writeNDJSON(t, docs)
	mapping := "version: 1\ntables:\n  - {table: events, collection: events, columns: [{field: n, type: bigint}]}\n"
	plan := NewPlan("tenant_rejects", mustMapping(t, mapping))
	st, err := (&Loader{Pool: pool, Plan: plan, SourceKey: "f", BatchSize: 10}).Load(ctx, &NDJSONSource{Path: file})
	require.NoError(t, err)
	assert.Equal(t, int64(1), st.Written)
	assert.Equal(t, int64(2), st.Rejected)

	var reason, doc string
	require.NoError(t, pool.QueryRow(ctx, `SELECT reason, document::text FROM tenant_rejects.firestore_rejects WHERE path = 'events/e2'`).Scan(&reason, &doc))
	assert.Equal(t, `field "n": the mapping makes it bigint (column n), the document has a string`, reason)
	assert.JSONEq(t, `{"n":"two","other":true}`, doc, "the whole original document is kept")

	rep, err := Verify(ctx, pool, plan, &NDJSONSource{Path: file})
	require.NoError(t, err)
	assert.Equal(t, []Difference{
		{Path: "events/e2", Problem: `rejected from events: field "n": the mapping makes it bigint (column n), the document has a string`},
		{Path: "events/e3", Problem: `rejected from events: field "n": the mapping makes it bigint (column n), the document has a double`},
	}, rep.Differences)

	// The source is fixed; a rerun (all documents behind the checkpoint) takes the rejects again.
	docs[1].Fields["n"] = Value{Kind: Integer, Int: 2}
	docs[2].Fields["n"] = Value{Kind: Integer, Int: 3}
	fixed := writeNDJSON(t, docs)
	require.NoError(t, os.Rename(fixed, file))
	st, err = (&Loader{Pool: pool, Plan: plan, SourceKey: "f", BatchSize: 10}).Load(ctx, &NDJSONSource{Path: file})
	require.NoError(t, err)
	assert.Equal(t, int64(2), st.Written)
	assert.Zero(t, st.Rejected)
	rep, err = Verify(ctx, pool, plan, &NDJSONSource{Path: file})
	require.NoError(t, err)
	assert.Empty(t, rep.Differences)
}

// A column the mapping retypes is refused with what to do; a new column is a new version.
func TestMappingChangesAreVersionedMigrations(t *testing.T) {
	pool, _ := testenv.Pool(t)
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	v1 := "version: 1\ntables:\n  - {table: events, collection: events, columns: [{field: n, type: bigint}]}\n"
	v2 := "version: 1\ntables:\n  - {table: events, collection: events, columns: [{field: n, type: bigint}, {field: at, type: timestamptz}]}\n"
	bad := "version: 1\ntables:\n  - {table: events, collection: events, columns: [{field: n, type: text}]}\n"
	v, err := NewPlan("tenant_versions", mustMapping(t, v1)).Migrate(ctx, conn.Conn())
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion{1, true}, v)
	v, err = NewPlan("tenant_versions", mustMapping(t, v2)).Migrate(ctx, conn.Conn())
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion{2, true}, v)
	_, err = NewPlan("tenant_versions", mustMapping(t, bad)).Migrate(ctx, conn.Conn())
	assert.EqualError(t, err, "column tenant_versions.events.n is bigint in the database but the mapping makes it text: change it with a migration of your own, or map the field to another column")
	var versions int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM resimate_migration.firestore_schema_versions WHERE target = 'tenant_versions'`).Scan(&versions))
	assert.Equal(t, 2, versions)

	// A load with that mapping stops on the same error, at its first document, and returns.
	src := &sliceSource{docs: []Document{{Path: "events/e1", Fields: map[string]Value{"n": {Kind: String, Str: "x"}}}}}
	_, err = (&Loader{Pool: pool, Plan: NewPlan("tenant_versions", mustMapping(t, bad)), SourceKey: "s", BatchSize: 10}).Load(ctx, src)
	assert.ErrorContains(t, err, "column tenant_versions.events.n is bigint in the database")
}

func TestMappingErrorsNameTheEntry(t *testing.T) {
	cases := map[string]string{
		"version: 1\ntables:\n  - {table: t, collection: c, columns: [{field: n, type: integer}]}\n":             `tables[0].columns[0].type: unknown column type "integer" (one of: bigint, boolean, bytea, double, geopoint, jsonb, reference, text, timestamptz)`,
		"version: 1\ntables:\n  - {table: t, collection: c, colums: []}\n":                                       `unknown field "colums"`,
		"version: 1\ntables:\n  - {table: T, collection: c/x}\n":                                                 `tables[0].table: "T" is not a table name`,
		"version: 1\ntables:\n  - {table: t, collection: c/x}\n":                                                 `tables[0].collection: "c/x" is not a collection path`,
		"version: 1\ntables:\n  - {table: t, collection: c, collectionGroup: c}\n":                               `tables[0]: give exactly one of collection and collectionGroup`,
		"version: 1\ntables:\n  - {table: t, collection: a/*/b, parent: {table: nope}}\n":                        `tables[0].parent.table: no table "nope" in this mapping`,
		"version: 1\ntables:\n  - {table: t, collection: c, columns: [{field: a, column: data, type: text}]}\n":  `tables[0].columns[0].column: "data" is a column every mapped table has already`,
		"version: 1\ntables:\n  - {table: t, collection: c, columns: [{field: a, type: text, references: t}]}\n": `tables[0].columns[0].references: only a reference column can reference a table`,
		"version: 2\ntables: []\n": `version: must be 1, found 2`,
	}
	for in, want := range cases {
		_, err := ParseMapping([]byte(in))
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), want)
	}
}

func TestCollectionPatterns(t *testing.T) {
	m := mustMapping(t, datasetMapping)
	plan := NewPlan("tenant_x", m)
	route := func(path string) string { d := Document{Path: path}; return plan.route(&d).name }
	assert.Equal(t, "campaigns", route("campaigns/c1"))
	assert.Equal(t, "recipients", route("campaigns/c1/recipients/r1"))
	assert.Equal(t, "events", route("campaigns/c1/recipients/r1/events/e1"))
	assert.Equal(t, "events", route("events/e1"), "a collection group matches at any depth")
	assert.Equal(t, GenericTable, route("campaigns/c1/other/o1"))
	assert.Equal(t, GenericTable, route("edges/e"))
	assert.Equal(t, "sent_at", SnakeCase("sentAt"))
	assert.Equal(t, "open_rate", SnakeCase("Open Rate"))
	assert.Equal(t, "f_2fa", SnakeCase("2fa"))
}

// The generated mapping, the example in docs and every mapping the tests use pass the JSON
// schema, whose type list is the code's.
func TestMappingsPassTheSchema(t *testing.T) {
	c := jsonschema.NewCompiler()
	f, err := os.Open("../../../docs/firestore-mapping.schema.json")
	require.NoError(t, err)
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	require.NoError(t, err)
	require.NoError(t, c.AddResource("mapping.json", doc))
	schema, err := c.Compile("mapping.json")
	require.NoError(t, err)
	check := func(name string, y []byte) {
		var v any
		require.NoError(t, yamlv3.Unmarshal(y, &v))
		j, err := json.Marshal(v)
		require.NoError(t, err)
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(string(j)))
		require.NoError(t, err)
		assert.NoError(t, schema.Validate(inst), name)
	}
	example, err := os.ReadFile("../../../docs/examples/firestore-mapping.yaml")
	require.NoError(t, err)
	_, err = ParseMapping(example)
	require.NoError(t, err)
	check("example", example)
	check("dataset", []byte(datasetMapping))

	gen, err := GenerateMapping(context.Background(), &sliceSource{docs: append(dataset(), exportEdges()...)}, 0)
	require.NoError(t, err)
	y, err := yaml.Marshal(gen)
	require.NoError(t, err)
	check("generated", y)

	raw, _ := json.Marshal(doc)
	var s struct {
		Defs struct {
			Column struct {
				Properties struct {
					Type struct{ Enum []string }
				}
			}
		} `json:"$defs"`
	}
	require.NoError(t, json.Unmarshal(raw, &s))
	enum := s.Defs.Column.Properties.Type.Enum
	sort.Strings(enum)
	assert.Equal(t, ColumnTypes(), enum)
}

func TestGenerateMappingInfersTypes(t *testing.T) {
	docs := append(dataset(), Document{Path: "campaigns/c2", Fields: map[string]Value{
		"name": {Kind: String, Str: "Autumn"}, "owner": {Kind: Reference, Str: "users/id with spaces & ünïcödé"}, "sent": {Kind: Integer, Int: 3},
	}}, Document{Path: "campaigns/c3", Fields: map[string]Value{"sent": {Kind: Double, Double: 1.5}, "name": {Kind: Null}}})
	m, err := GenerateMapping(context.Background(), &sliceSource{docs: docs}, 0)
	require.NoError(t, err)
	byTable := map[string]TableMapping{}
	for _, tm := range m.Tables {
		byTable[tm.Table] = tm
	}
	assert.Equal(t, TableMapping{Table: "campaigns", Collection: "campaigns", Columns: []Column{
		{Field: "name", Type: "text"}, {Field: "owner", Type: "reference", References: "users"},
	}}, byTable["campaigns"], "sent has two types: it stays in data")
	assert.Equal(t, &ParentMapping{Table: "campaigns"}, byTable["recipients"].Parent)
	assert.Equal(t, &ParentMapping{Table: "recipients"}, byTable["events"].Parent)
	assert.Equal(t, "campaigns/*/recipients/*/events", byTable["events"].Collection)
	var types []string
	for _, c := range byTable["types"].Columns {
		types = append(types, c.Field+":"+c.Type)
	}
	assert.Contains(t, types, "geo:geopoint")
	assert.Contains(t, types, "map:jsonb")
	assert.NotContains(t, types, "str:text", "a string with NUL cannot be a text column")
	assert.NotContains(t, types, "null:text", "only nulls: no type to give")

	// The sample limit stops reading early.
	m, err = GenerateMapping(context.Background(), &sliceSource{docs: docs}, 1)
	require.NoError(t, err)
	assert.Len(t, m.Tables, 1)
}

type sliceSource struct{ docs []Document }

func (s *sliceSource) Describe() string { return "slice" }
func (s *sliceSource) Documents(_ context.Context, fn func(Document) error) error {
	for _, d := range s.docs {
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}
