package firestore

import (
	"context"
	"errors"
	"maps"
	"sort"
	"strconv"
	"strings"
)

// inferredTypes is the column type a field gets when every sampled value has this kind.
var inferredTypes = map[Kind]string{
	Boolean: "boolean", Integer: "bigint", Double: "double", Timestamp: "timestamptz", String: "text",
	Bytes: "bytea", Reference: "reference", GeoPoint: "geopoint", Array: "jsonb", Map: "jsonb",
}

// fieldSample is what the sample saw of one field of one collection pattern.
type fieldSample struct {
	kinds   map[Kind]int
	nulNull bool                // a string with NUL: no text column
	refs    map[string]struct{} // patterns of the collections references point into
}

type patternSample struct {
	fields map[string]*fieldSample
}

var errSampleFull = errors.New("sample complete")

// GenerateMapping reads up to sample documents and proposes a mapping: one table per collection
// pattern (document ids replaced by *), a typed column for every field whose sampled values all
// have one type (nulls aside), parents and references as foreign keys where their table is
// mapped too. Fields of mixed types stay in the data column. It is a starting point to edit.
func GenerateMapping(ctx context.Context, src Source, sample int) (*Mapping, error) {
	patterns := map[string]*patternSample{}
	n := 0
	err := src.Documents(ctx, func(d Document) error {
		pat := CollectionPattern(d.Collection())
		ps := patterns[pat]
		if ps == nil {
			ps = &patternSample{fields: map[string]*fieldSample{}}
			patterns[pat] = ps
		}
		for k, v := range d.Fields {
			fs := ps.fields[k]
			if fs == nil {
				fs = &fieldSample{kinds: map[Kind]int{}, refs: map[string]struct{}{}}
				ps.fields[k] = fs
			}
			if v.Kind == Null {
				continue
			}
			fs.kinds[v.Kind]++
			if v.Kind == String && strings.ContainsRune(v.Str, 0) {
				fs.nulNull = true
			}
			if v.Kind == Reference {
				ref := Document{Path: v.Str}
				fs.refs[CollectionPattern(ref.Collection())] = struct{}{}
			}
		}
		n++
		if sample > 0 && n >= sample {
			return errSampleFull
		}
		return nil
	})
	if err != nil && !errors.Is(err, errSampleFull) {
		return nil, err
	}

	names := make([]string, 0, len(patterns))
	for p := range patterns {
		names = append(names, p)
	}
	// Shallow patterns first, so a parent's table comes before its children's.
	sort.Slice(names, func(i, j int) bool {
		di, dj := strings.Count(names[i], "/"), strings.Count(names[j], "/")
		if di != dj {
			return di < dj
		}
		return names[i] < names[j]
	})
	tableOf := map[string]string{}
	used := map[string]bool{}
	for _, p := range names {
		tableOf[p] = uniqueTableName(p, used)
	}
	m := &Mapping{Version: 1}
	for _, p := range names {
		ps := patterns[p]
		t := TableMapping{Table: tableOf[p], Collection: p}
		if i := strings.LastIndex(p, "/*/"); i >= 0 {
			if parent, ok := tableOf[p[:i]]; ok {
				t.Parent = &ParentMapping{Table: parent}
			}
		}
		taken := maps.Clone(reserved)
		taken[t.idColumn()] = true
		if t.Parent != nil {
			taken[t.Parent.column()] = true
		}
		fields := make([]string, 0, len(ps.fields))
		for f := range ps.fields {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		for _, f := range fields {
			fs := ps.fields[f]
			if len(fs.kinds) != 1 || fs.nulNull {
				continue // mixed or only null: stays in data
			}
			var kind Kind
			for k := range fs.kinds {
				kind = k
			}
			col := SnakeCase(f)
			for taken[col] {
				col += "_field"
			}
			taken[col] = true
			c := Column{Field: f, Type: inferredTypes[kind]}
			if col != SnakeCase(f) {
				c.Column = col
			}
			if kind == Reference && len(fs.refs) == 1 {
				for rp := range fs.refs {
					c.References = tableOf[rp]
				}
			}
			t.Columns = append(t.Columns, c)
		}
		m.Tables = append(m.Tables, t)
	}
	return m, m.Validate()
}

// CollectionPattern replaces the document ids of a collection path with *:
// "campaigns/c1/recipients" -> "campaigns/*/recipients".
func CollectionPattern(collection string) string {
	segs := strings.Split(collection, "/")
	for i := 1; i < len(segs); i += 2 {
		segs[i] = "*"
	}
	return strings.Join(segs, "/")
}

// uniqueTableName names a pattern's table after its collection id, prefixed by its parents'
// ids when that name is taken.
func uniqueTableName(pattern string, used map[string]bool) string {
	var ids []string
	for i, s := range strings.Split(pattern, "/") {
		if i%2 == 0 {
			ids = append(ids, SnakeCase(s))
		}
	}
	for k := len(ids) - 1; k >= 0; k-- {
		name := strings.Join(ids[k:], "_")
		if strings.HasPrefix(name, "firestore_") {
			name = "fs_" + name
		}
		if len(name) > 63 {
			name = name[:63]
		}
		if !used[name] {
			used[name] = true
			return name
		}
	}
	base := strings.Join(ids, "_")
	for i := 2; ; i++ {
		name := base + "_" + strconv.Itoa(i)
		if !used[name] {
			used[name] = true
			return name
		}
	}
}
