package firestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Plan is a mapping compiled for one tenant schema: where each document goes, the rows it
// becomes, the DDL of the tables, and how a row turns back into the document (for verify).
type Plan struct {
	Schema  string
	tables  []*table // mapped tables, in the mapping's order: the first match wins
	generic *table   // firestore_documents: every document no mapped table matches

	lastCollection string // documents come collection by collection: remember the last route
	lastTable      *table
}

// table is one target table.
type table struct {
	name    string
	mapping *TableMapping // nil for the generic table
	columns []string      // in COPY order
	byField map[string]int
	upsert  bool // rows of this table have met existing rows: write through staging and upsert
}

// GenericTable receives the documents of unmapped collections.
const GenericTable = "firestore_documents"

// RejectsTable receives documents that do not fit their table, whole, with the reason.
const RejectsTable = "firestore_rejects"

var genericColumns = []string{"path", "collection", "collection_id", "parent_path", "id", "data", "checksum"}

// NewPlan compiles a (validated) mapping; nil means no mapped tables.
func NewPlan(schema string, m *Mapping) *Plan {
	p := &Plan{Schema: schema, generic: &table{name: GenericTable, columns: genericColumns}}
	if m == nil {
		return p
	}
	for i := range m.Tables {
		tm := &m.Tables[i]
		t := &table{name: tm.Table, mapping: tm, byField: map[string]int{}, columns: []string{"path", tm.idColumn()}}
		if tm.Parent != nil {
			t.columns = append(t.columns, tm.Parent.column())
		}
		for j, c := range tm.Columns {
			t.byField[c.Field] = j
			t.columns = append(t.columns, c.column())
		}
		t.columns = append(t.columns, "data", "checksum")
		p.tables = append(p.tables, t)
	}
	return p
}

// route finds the table of a document.
func (p *Plan) route(d *Document) *table {
	coll := d.Collection()
	if coll == p.lastCollection && p.lastTable != nil {
		return p.lastTable
	}
	t := p.generic
	for _, m := range p.tables {
		if m.mapping.matches(coll, d.CollectionID()) {
			t = m
			break
		}
	}
	p.lastCollection, p.lastTable = coll, t
	return t
}

// allTables is the generic table and every mapped one.
func (p *Plan) allTables() []*table { return append([]*table{p.generic}, p.tables...) }

func (p *Plan) qualified(t string) string { return pgx.Identifier{p.Schema, t}.Sanitize() }

// quote makes a name safe in SQL: mapped names may be keywords ("array", "order", "user").
func quote(name string) string { return pgx.Identifier{name}.Sanitize() }

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote(n)
	}
	return strings.Join(q, ", ")
}

// DDL creates the tenant's tables: generic, rejects and every mapped table with its columns.
// Every statement is idempotent, so a changed mapping applies as one more version that adds
// what is new.
func (p *Plan) DDL() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE SCHEMA IF NOT EXISTS %s;\n", quote(p.Schema))
	fmt.Fprintf(&b, `CREATE TABLE IF NOT EXISTS %[1]s (
	path          text PRIMARY KEY,
	collection    text NOT NULL,
	collection_id text NOT NULL,
	parent_path   text,
	id            text NOT NULL,
	data          jsonb NOT NULL,
	checksum      bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS firestore_documents_collection_id ON %[1]s (collection_id);
CREATE TABLE IF NOT EXISTS %[2]s (
	path         text PRIMARY KEY,
	target_table text NOT NULL,
	reason       text NOT NULL,
	document     jsonb NOT NULL,
	checksum     bytea NOT NULL,
	rejected_at  timestamptz NOT NULL DEFAULT now()
);
`, p.qualified(GenericTable), p.qualified(RejectsTable))
	for _, t := range p.tables {
		m := t.mapping
		q := p.qualified(t.name)
		fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (\n\tpath     text PRIMARY KEY,\n\t%-8s text NOT NULL,\n\tdata     jsonb NOT NULL,\n\tchecksum bytea NOT NULL\n);\n", q, quote(m.idColumn()))
		if m.Parent != nil {
			fmt.Fprintf(&b, "ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s text;\n", q, quote(m.Parent.column()))
			fmt.Fprintf(&b, "CREATE INDEX IF NOT EXISTS %s ON %s (%s);\n", quote(t.name+"_"+m.Parent.column()), q, quote(m.Parent.column()))
		}
		for _, c := range m.Columns {
			// The comment names the field; a field name could hold anything, so it is JSON-quoted
			// and kept on one line.
			fmt.Fprintf(&b, "ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s; -- field %s\n", q, quote(c.column()), columnTypes[c.Type].sql, jsonString(c.Field))
		}
	}
	return b.String()
}

// Fingerprint names the DDL (and so the mapping's effect) in checkpoints.
func (p *Plan) Fingerprint() string { return ddlChecksum(p.DDL())[:12] }

func ddlChecksum(ddl string) string {
	sum := sha256.Sum256([]byte(ddl))
	return hex.EncodeToString(sum[:])
}

// bookkeepingDDL is the tool's own: checkpoints and applied schema versions.
const bookkeepingDDL = `CREATE SCHEMA IF NOT EXISTS resimate_migration;
CREATE TABLE IF NOT EXISTS resimate_migration.firestore_checkpoints (
	target     text NOT NULL,
	source     text NOT NULL,
	documents  bigint NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (target, source)
);
CREATE TABLE IF NOT EXISTS resimate_migration.firestore_schema_versions (
	target     text NOT NULL,
	version    int NOT NULL,
	checksum   text NOT NULL,
	ddl        text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (target, version)
);`

// SchemaVersion is what Migrate did.
type SchemaVersion struct {
	Version int  `json:"version"`
	Applied bool `json:"applied"` // false: the database already had this schema
}

// Migrate applies the DDL as the next schema version of the tenant unless the latest version
// is this very DDL. A column the mapping types differently from the database is an error: that
// change needs a migration of its own.
func (p *Plan) Migrate(ctx context.Context, conn *pgx.Conn) (SchemaVersion, error) {
	var v SchemaVersion
	ddl := p.DDL()
	checksum := ddlChecksum(ddl)
	tx, err := conn.Begin(ctx)
	if err != nil {
		return v, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('resimatectl firestore schema'))`); err != nil {
		return v, err
	}
	if _, err := tx.Exec(ctx, bookkeepingDDL); err != nil {
		return v, fmt.Errorf("creating the migration tables: %w", err)
	}
	var latest string
	err = tx.QueryRow(ctx, `SELECT version, checksum FROM resimate_migration.firestore_schema_versions
		WHERE target = $1 ORDER BY version DESC LIMIT 1`, p.Schema).Scan(&v.Version, &latest)
	if err != nil && err != pgx.ErrNoRows {
		return v, err
	}
	if latest == checksum {
		return v, tx.Commit(ctx)
	}
	if err := p.checkColumnTypes(ctx, tx); err != nil {
		return v, err
	}
	if _, err := tx.Exec(ctx, ddl); err != nil {
		return v, fmt.Errorf("applying the schema: %w", err)
	}
	v.Version++
	v.Applied = true
	_, err = tx.Exec(ctx, `INSERT INTO resimate_migration.firestore_schema_versions (target, version, checksum, ddl) VALUES ($1, $2, $3, $4)`,
		p.Schema, v.Version, checksum, ddl)
	if err != nil {
		return v, err
	}
	return v, tx.Commit(ctx)
}

func (p *Plan) checkColumnTypes(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND a.attnum > 0 AND NOT a.attisdropped`, p.Schema)
	if err != nil {
		return err
	}
	have := map[string]string{}
	for rows.Next() {
		var t, c, typ string
		if err := rows.Scan(&t, &c, &typ); err != nil {
			return err
		}
		have[t+"."+c] = typ
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range p.tables {
		for _, c := range t.mapping.Columns {
			want := columnTypes[c.Type].sql
			if want == "timestamptz" {
				want = "timestamp with time zone"
			}
			if got, ok := have[t.name+"."+c.column()]; ok && got != want {
				return fmt.Errorf("column %s.%s is %s in the database but the mapping makes it %s: change it with a migration of your own, or map the field to another column",
					p.Schema+"."+t.name, c.column(), got, want)
			}
		}
	}
	return nil
}

// parentPath is the parent document's path, NULL for a root collection's document.
func parentPath(d *Document) any {
	if p := d.Parent(); p != "" {
		return p
	}
	return nil
}

// row turns a document into the table's row; when the document does not fit, rejected is true
// and row is its row of the rejects table (the whole document and the reason).
func (t *table) row(d *Document) (row []any, rejected bool, err error) {
	all, err := EncodeFields(d.Fields)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", d.Path, err)
	}
	sum := Checksum(all)
	if t.mapping == nil {
		return []any{d.Path, d.Collection(), d.CollectionID(), parentPath(d), d.ID(), string(all), sum}, false, nil
	}
	m := t.mapping
	row = make([]any, 0, len(t.columns))
	row = append(row, d.Path, d.ID())
	if m.Parent != nil {
		row = append(row, parentPath(d))
	}
	rest := make(map[string]Value, len(d.Fields))
	for k, v := range d.Fields {
		if _, mapped := t.byField[k]; !mapped || v.Kind == Null {
			rest[k] = v // a mapped field's null stays in data, so null and missing stay apart
		}
	}
	for _, c := range m.Columns {
		v, ok := d.Fields[c.Field]
		if !ok || v.Kind == Null {
			row = append(row, nil)
			continue
		}
		val, why := columnValue(c.Type, v)
		if why != "" {
			reason := fmt.Sprintf("field %q: the mapping makes it %s (column %s), the document has %s", c.Field, c.Type, c.column(), why)
			return []any{d.Path, t.name, reason, string(all), sum}, true, nil
		}
		row = append(row, val)
	}
	data, err := EncodeFields(rest)
	if err != nil {
		return nil, false, err
	}
	return append(row, string(data), sum), false, nil
}

var kindNames = map[Kind]string{Null: "a null", Boolean: "a boolean", Integer: "an integer", Double: "a double",
	Timestamp: "a timestamp", String: "a string", Bytes: "bytes", Reference: "a reference", GeoPoint: "a geopoint",
	Array: "an array", Map: "a map"}

// columnValue converts a value for a column of type typ, or says what does not fit.
func columnValue(typ string, v Value) (any, string) {
	ct := columnTypes[typ]
	if ct.kind == Map { // jsonb takes any value, in the typed encoding
		j, err := v.MarshalJSON()
		if err != nil {
			return nil, err.Error()
		}
		return string(j), ""
	}
	if v.Kind != ct.kind {
		return nil, kindNames[v.Kind]
	}
	switch v.Kind {
	case Boolean:
		return v.Bool, ""
	case Integer:
		return v.Int, ""
	case Double:
		return v.Double, ""
	case Timestamp:
		return v.Time, ""
	case String:
		if strings.ContainsRune(v.Str, 0) {
			return nil, "a string with a NUL character, which a text column cannot hold"
		}
		return v.Str, ""
	case Bytes:
		return v.Bytes, ""
	case Reference:
		return v.Str, ""
	case GeoPoint:
		return pgtype.Point{P: pgtype.Vec2{X: v.Lng, Y: v.Lat}, Valid: true}, ""
	}
	return nil, kindNames[v.Kind]
}

// selectSQL reads a table's rows back, typed columns as text-free Go values.
func (p *Plan) selectSQL(t *table) string {
	if t.mapping == nil {
		return "SELECT path, data::text FROM " + p.qualified(t.name)
	}
	cols := []string{"path", "data::text"}
	for _, c := range t.mapping.Columns {
		name := quote(c.column())
		if c.Type == "jsonb" {
			name += "::text"
		}
		cols = append(cols, name)
	}
	return "SELECT " + strings.Join(cols, ", ") + " FROM " + p.qualified(t.name)
}

// document rebuilds the document of a row read with selectSQL.
func (t *table) document(rows pgx.Rows) (Document, error) {
	vals, err := rows.Values()
	if err != nil {
		return Document{}, err
	}
	d := Document{Path: vals[0].(string)}
	d.Fields, err = DecodeFields([]byte(vals[1].(string)))
	if err != nil {
		return d, fmt.Errorf("%s: stored data does not decode: %w", d.Path, err)
	}
	if t.mapping == nil {
		return d, nil
	}
	for i, c := range t.mapping.Columns {
		raw := vals[2+i]
		if raw == nil {
			continue
		}
		var v Value
		switch x := raw.(type) {
		case bool:
			v = Value{Kind: Boolean, Bool: x}
		case int64:
			v = Value{Kind: Integer, Int: x}
		case float64:
			v = Value{Kind: Double, Double: x}
		case time.Time:
			v = Value{Kind: Timestamp, Time: x.UTC()}
		case []byte:
			v = Value{Kind: Bytes, Bytes: x}
		case pgtype.Point:
			v = Value{Kind: GeoPoint, Lat: x.P.Y, Lng: x.P.X}
		case string:
			switch c.Type {
			case "reference":
				v = Value{Kind: Reference, Str: x}
			case "jsonb":
				f, err := DecodeFields([]byte(`{"v":` + x + `}`))
				if err != nil {
					return d, fmt.Errorf("%s: column %s does not decode: %w", d.Path, c.column(), err)
				}
				v = f["v"]
			default:
				v = Value{Kind: String, Str: x}
			}
		default:
			return d, fmt.Errorf("%s: column %s: unexpected %T", d.Path, c.column(), raw)
		}
		d.Fields[c.Field] = v
	}
	return d, nil
}

func jsonString(s string) string {
	j, _ := json.Marshal(s)
	return strings.NewReplacer("\n", `\n`, "\r", `\r`, "\u2028", `\u2028`, "\u2029", `\u2029`).Replace(string(j))
}

// foreignKey is a parent or reference column that points at another table's path.
type foreignKey struct {
	table, column, references string
}

func (k foreignKey) name() string { return k.table + "_" + k.column + "_fkey" }

func (p *Plan) foreignKeys() []foreignKey {
	var out []foreignKey
	for _, t := range p.tables {
		if t.mapping.Parent != nil {
			out = append(out, foreignKey{t.name, t.mapping.Parent.column(), t.mapping.Parent.Table})
		}
		for _, c := range t.mapping.Columns {
			if c.References != "" {
				out = append(out, foreignKey{t.name, c.column(), c.References})
			}
		}
	}
	return out
}

// ForeignKeyResult says whether a foreign key could be created after the load.
type ForeignKeyResult struct {
	Name       string `json:"name"`
	Created    bool   `json:"created"`
	Dangling   int64  `json:"danglingRows,omitempty"`
	Example    string `json:"example,omitempty"`
	References string `json:"references"`
}

// dropForeignKeys lets a load write children before their parents.
func (p *Plan) dropForeignKeys(ctx context.Context, conn *pgx.Conn) error {
	for _, k := range p.foreignKeys() {
		if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", p.qualified(k.table), quote(k.name()))); err != nil {
			return err
		}
	}
	return nil
}

// createForeignKeys adds every foreign key whose rows all point at an existing row. Firestore
// allows a document under a parent that does not exist, and a reference to nothing: such rows
// are kept and counted, and that key is not created.
func (p *Plan) createForeignKeys(ctx context.Context, conn *pgx.Conn) ([]ForeignKeyResult, error) {
	var out []ForeignKeyResult
	for _, k := range p.foreignKeys() {
		r := ForeignKeyResult{Name: k.name(), References: p.Schema + "." + k.references + "(path)"}
		var example *string
		err := conn.QueryRow(ctx, fmt.Sprintf(`SELECT count(*), min(c.%[2]s) FROM %[1]s c
			WHERE c.%[2]s IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %[3]s r WHERE r.path = c.%[2]s)`,
			p.qualified(k.table), quote(k.column), p.qualified(k.references))).Scan(&r.Dangling, &example)
		if err != nil {
			return nil, err
		}
		if example != nil {
			r.Example = *example
		}
		if r.Dangling == 0 {
			_, err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (path) DEFERRABLE INITIALLY DEFERRED",
				p.qualified(k.table), quote(k.name()), quote(k.column), p.qualified(k.references)))
			if err != nil {
				return nil, fmt.Errorf("creating %s: %w", k.name(), err)
			}
			r.Created = true
		}
		out = append(out, r)
	}
	return out, nil
}
