// Package firestore moves Firestore documents into PostgreSQL without losing a type: every value
// keeps its Firestore type in a documented JSON encoding (docs/migrate-firestore.md), so a
// document read back from Postgres is the document that was written to Firestore.
package firestore

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind is a Firestore value type.
type Kind int

// The Firestore value types.
const (
	Null Kind = iota
	Boolean
	Integer
	Double
	Timestamp
	String
	Bytes
	Reference
	GeoPoint
	Array
	Map
)

// Value is one Firestore value.
type Value struct {
	Kind   Kind
	Bool   bool
	Int    int64
	Double float64
	Time   time.Time // microsecond precision, as Firestore stores it
	Str    string    // string, or a reference's document path ("users/alice")
	Bytes  []byte
	Lat    float64
	Lng    float64
	Array  []Value
	Map    map[string]Value
}

// Document is one Firestore document.
type Document struct {
	// Path is the document's path under the database: "campaigns/c1/recipients/r1".
	Path   string
	Fields map[string]Value
	// Origin says where a file source read it ("docs.ndjson line 7"), for messages; empty for
	// the live source.
	Origin string
}

// ID is the last segment of the path.
func (d *Document) ID() string { return d.Path[strings.LastIndex(d.Path, "/")+1:] }

// Collection is the path of the collection the document is in ("campaigns/c1/recipients").
func (d *Document) Collection() string { return d.Path[:max(strings.LastIndex(d.Path, "/"), 0)] }

// CollectionID is the collection's own id ("recipients"), what collection-group patterns match.
func (d *Document) CollectionID() string {
	c := d.Collection()
	return c[strings.LastIndex(c, "/")+1:]
}

// Parent is the path of the parent document, "" for a root collection's documents.
func (d *Document) Parent() string {
	c := d.Collection()
	if i := strings.LastIndex(c, "/"); i >= 0 {
		return c[:i]
	}
	return ""
}

// Encoding of values JSON cannot hold. Everything else is plain JSON: strings, booleans, null,
// integers within ±2^53, finite doubles that are not integral or -0, arrays and maps.
const (
	tagInt       = "$int"       // {"$int": "9007199254740993"}: an integer beyond ±2^53
	tagDouble    = "$double"    // {"$double": "NaN" | "Infinity" | "-Infinity" | "-0" | "1"}: a double JSON would read back differently
	tagTimestamp = "$timestamp" // {"$timestamp": "2024-01-02T03:04:05.123456Z"}
	tagBytes     = "$bytes"     // {"$bytes": "<standard base64>"}
	tagRef       = "$ref"       // {"$ref": "users/alice"}
	tagGeo       = "$geo"       // {"$geo": [latitude, longitude]}
	tagString    = "$string"    // {"$string": "<standard base64>"}: a string with NUL, which PostgreSQL text cannot hold
	tagEscape    = "$"          // a map key starting with "$" is stored with one more "$" in front
	keyBase64    = "$~"         // a map key with NUL is stored as "$~" + its standard base64
)

const maxSafeInt = 1 << 53

// MarshalJSON writes the value in the typed encoding (deterministic: map keys sorted).
func (v Value) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	if err := v.encode(&b); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

func (v Value) encode(b *strings.Builder) error {
	tagged := func(tag string, inner any) error {
		j, err := json.Marshal(inner)
		if err != nil {
			return err
		}
		fmt.Fprintf(b, `{%q:%s}`, tag, j)
		return nil
	}
	switch v.Kind {
	case Null:
		b.WriteString("null")
	case Boolean:
		b.WriteString(strconv.FormatBool(v.Bool))
	case Integer:
		if v.Int > maxSafeInt || v.Int < -maxSafeInt {
			return tagged(tagInt, strconv.FormatInt(v.Int, 10))
		}
		b.WriteString(strconv.FormatInt(v.Int, 10))
	case Double:
		switch {
		case math.IsNaN(v.Double):
			return tagged(tagDouble, "NaN")
		case math.IsInf(v.Double, 1):
			return tagged(tagDouble, "Infinity")
		case math.IsInf(v.Double, -1):
			return tagged(tagDouble, "-Infinity")
		case v.Double == 0 && math.Signbit(v.Double):
			return tagged(tagDouble, "-0")
		case v.Double == math.Trunc(v.Double):
			// 1.0 would read back as the integer 1.
			return tagged(tagDouble, strconv.FormatFloat(v.Double, 'g', -1, 64))
		}
		b.WriteString(strconv.FormatFloat(v.Double, 'g', -1, 64))
	case Timestamp:
		return tagged(tagTimestamp, v.Time.UTC().Format("2006-01-02T15:04:05.000000Z"))
	case String:
		if strings.ContainsRune(v.Str, 0) {
			return tagged(tagString, base64.StdEncoding.EncodeToString([]byte(v.Str)))
		}
		writeJSONString(b, v.Str)
	case Bytes:
		return tagged(tagBytes, base64.StdEncoding.EncodeToString(v.Bytes))
	case Reference:
		return tagged(tagRef, v.Str)
	case GeoPoint:
		return tagged(tagGeo, []float64{v.Lat, v.Lng})
	case Array:
		b.WriteByte('[')
		for i, e := range v.Array {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := e.encode(b); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case Map:
		return encodeMap(b, v.Map)
	default:
		return fmt.Errorf("unknown value kind %d", v.Kind)
	}
	return nil
}

func encodeMap(b *strings.Builder, m map[string]Value) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		name := k
		switch {
		case strings.ContainsRune(k, 0):
			name = keyBase64 + base64.StdEncoding.EncodeToString([]byte(k))
		case strings.HasPrefix(k, tagEscape):
			name = tagEscape + k
		}
		writeJSONString(b, name)
		b.WriteByte(':')
		if err := m[k].encode(b); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

// EncodeFields writes a document's fields as one JSON object in the typed encoding.
func EncodeFields(fields map[string]Value) ([]byte, error) {
	var b strings.Builder
	if err := encodeMap(&b, fields); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// writeJSONString writes s as a JSON string exactly as encoding/json does (HTML-safe escapes,
// U+2028/2029 escaped, invalid UTF-8 as U+FFFD): the canonical bytes, and so the checksums,
// must not depend on which of the two wrote them. json.Marshal per string was a fifth of a load.
func writeJSONString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(s[start:i])
			b.WriteString(`\ufffd`)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b.WriteString(s[start:i])
			b.WriteString(`\u202`)
			b.WriteByte(hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}
