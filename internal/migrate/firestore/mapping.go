package firestore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Mapping says which collections become which typed tables (docs/migrate-firestore.md; JSON
// schema docs/firestore-mapping.schema.json). Documents of collections no table matches go to
// the generic firestore_documents table; fields no column names go to a table's data column.
type Mapping struct {
	Version int            `json:"version"`
	Tables  []TableMapping `json:"tables"`
}

// TableMapping maps the documents of one collection pattern (or collection group) to a table.
type TableMapping struct {
	Table string `json:"table"`
	// Collection is a collection path pattern: "campaigns", "campaigns/*/recipients"; "*" stands
	// for any one segment.
	Collection string `json:"collection,omitempty"`
	// CollectionGroup matches every collection with this id, at any depth.
	CollectionGroup string `json:"collectionGroup,omitempty"`
	// IDColumn receives the document id (default "id"); the full path is always in "path".
	IDColumn string         `json:"idColumn,omitempty"`
	Parent   *ParentMapping `json:"parent,omitempty"`
	Columns  []Column       `json:"columns,omitempty"`
}

// ParentMapping gives a subcollection's documents a column holding the parent document's path,
// a foreign key to the parent's table.
type ParentMapping struct {
	Column string `json:"column,omitempty"` // default "parent_path"
	Table  string `json:"table"`
}

// Column maps one top-level field to a typed column.
type Column struct {
	Field  string `json:"field"`
	Column string `json:"column,omitempty"` // default: the field's name in snake_case
	Type   string `json:"type"`
	// References makes a reference column a foreign key to that table's path.
	References string `json:"references,omitempty"`
}

// columnType is what a mapping type means: the SQL type and the one Firestore kind it takes.
type columnType struct {
	sql  string
	kind Kind // Map for jsonb: any kind
}

var columnTypes = map[string]columnType{
	"text":        {"text", String},
	"bigint":      {"bigint", Integer},
	"double":      {"double precision", Double},
	"boolean":     {"boolean", Boolean},
	"timestamptz": {"timestamptz", Timestamp},
	"bytea":       {"bytea", Bytes},
	"reference":   {"text", Reference},
	"geopoint":    {"point", GeoPoint},
	"jsonb":       {"jsonb", Map},
}

// ColumnTypes lists the mapping's column types.
func ColumnTypes() []string {
	out := make([]string, 0, len(columnTypes))
	for k := range columnTypes {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// reserved are the columns every mapped table has.
var reserved = map[string]bool{"path": true, "data": true, "checksum": true}

// LoadMapping reads and checks a mapping file.
func LoadMapping(file string) (*Mapping, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m, err := ParseMapping(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return m, nil
}

// ParseMapping reads a mapping (YAML or JSON), refusing unknown keys, and checks it. YAML is read
// as YAML 1.2, so a field named n, no or off stays a string.
func ParseMapping(data []byte) (*Mapping, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	j, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	var m Mapping
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return &m, m.Validate()
}

// Validate checks names, types and the tables that parents and references point at; errors name
// the entry ("tables[1].columns[0].type: ...").
func (m *Mapping) Validate() error {
	var errs []error
	bad := func(at, format string, args ...any) { errs = append(errs, fmt.Errorf(at+": "+format, args...)) }
	if m.Version != 1 {
		bad("version", "must be 1, found %d", m.Version)
	}
	tables := map[string]bool{}
	for i, t := range m.Tables {
		if t.Table != "" && tables[t.Table] {
			bad(fmt.Sprintf("tables[%d].table", i), "table %q is mapped twice", t.Table)
		}
		tables[t.Table] = true
	}
	for i, t := range m.Tables {
		at := fmt.Sprintf("tables[%d]", i)
		if !identifier.MatchString(t.Table) || strings.HasPrefix(t.Table, "firestore_") {
			bad(at+".table", "%q is not a table name (lower-case letters, digits and _, not starting with firestore_)", t.Table)
		}
		switch {
		case (t.Collection == "") == (t.CollectionGroup == ""):
			bad(at, "give exactly one of collection and collectionGroup")
		case t.Collection != "":
			segs := strings.Split(t.Collection, "/")
			if len(segs)%2 != 1 || slices.Contains(segs, "") {
				bad(at+".collection", "%q is not a collection path (collection[/document/collection...], * for any segment)", t.Collection)
			}
			if t.Parent != nil && len(segs) < 3 {
				bad(at+".parent", "a root collection has no parent document")
			}
		case strings.Contains(t.CollectionGroup, "/") || t.CollectionGroup == "*":
			bad(at+".collectionGroup", "%q is not a collection id", t.CollectionGroup)
		}
		cols := map[string]bool{}
		claim := func(at, name string) {
			switch {
			case !identifier.MatchString(name):
				bad(at, "%q is not a column name (lower-case letters, digits and _)", name)
			case reserved[name]:
				bad(at, "%q is a column every mapped table has already", name)
			case cols[name]:
				bad(at, "column %q is used twice", name)
			}
			cols[name] = true
		}
		claim(at+".idColumn", t.idColumn())
		if t.Parent != nil {
			claim(at+".parent.column", t.Parent.column())
			if !tables[t.Parent.Table] {
				bad(at+".parent.table", "no table %q in this mapping", t.Parent.Table)
			}
		}
		fields := map[string]bool{}
		for j, c := range t.Columns {
			cat := fmt.Sprintf("%s.columns[%d]", at, j)
			if c.Field == "" {
				bad(cat+".field", "is empty")
			} else if fields[c.Field] {
				bad(cat+".field", "field %q is mapped twice", c.Field)
			}
			fields[c.Field] = true
			claim(cat+".column", c.column())
			if _, ok := columnTypes[c.Type]; !ok {
				bad(cat+".type", "unknown column type %q (one of: %s)", c.Type, strings.Join(ColumnTypes(), ", "))
			}
			if c.References != "" {
				if c.Type != "reference" {
					bad(cat+".references", "only a reference column can reference a table")
				} else if !tables[c.References] {
					bad(cat+".references", "no table %q in this mapping", c.References)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func (t *TableMapping) idColumn() string {
	if t.IDColumn == "" {
		return "id"
	}
	return t.IDColumn
}

func (p *ParentMapping) column() string {
	if p.Column == "" {
		return "parent_path"
	}
	return p.Column
}

func (c *Column) column() string {
	if c.Column == "" {
		return SnakeCase(c.Field)
	}
	return c.Column
}

// matches says whether a document in collection (its path) belongs to this table.
func (t *TableMapping) matches(collection, collectionID string) bool {
	if t.CollectionGroup != "" {
		return t.CollectionGroup == collectionID
	}
	pat := t.Collection
	for {
		i, j := strings.IndexByte(pat, '/'), strings.IndexByte(collection, '/')
		if (i < 0) != (j < 0) {
			return false
		}
		ps, cs := pat, collection
		if i >= 0 {
			ps, cs = pat[:i], collection[:j]
		}
		if ps != "*" && ps != cs {
			return false
		}
		if i < 0 {
			return true
		}
		pat, collection = pat[i+1:], collection[j+1:]
	}
}

// SnakeCase turns a field name into a column name: "sentAt" -> "sent_at", "Open Rate" -> "open_rate".
func SnakeCase(s string) string {
	var b strings.Builder
	prevLower := false
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z':
			if prevLower {
				b.WriteByte('_')
			}
			b.WriteRune(r + 'a' - 'A')
			prevLower = false
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			prevLower = true
		default:
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
				b.WriteByte('_')
			}
			prevLower = false
		}
	}
	out := strings.Trim(b.String(), "_")
	if out == "" || out[0] >= '0' && out[0] <= '9' {
		out = "f_" + out
	}
	if len(out) > 63 {
		out = out[:63]
	}
	return out
}
