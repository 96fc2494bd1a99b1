package firestore

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/genproto/googleapis/type/latlng"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Source yields documents one at a time (memory stays flat however many there are).
type Source interface {
	Documents(ctx context.Context, fn func(Document) error) error
	Describe() string
}

// --- NDJSON: one document per line, fields in Firestore's typed JSON value form ---------------

// NDJSONSource reads lines like {"path": "campaigns/c1", "fields": {"name": {"stringValue": "x"}}}.
// A REST document's "name" (projects/p/databases/d/documents/...) stands for "path".
type NDJSONSource struct{ Path string }

func (s *NDJSONSource) Describe() string { return "file " + s.Path }

func (s *NDJSONSource) Documents(ctx context.Context, fn func(Document) error) error {
	f, err := os.Open(s.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	return ReadNDJSON(f, s.Path, fn)
}

// ReadNDJSON parses r; errors name the line.
func ReadNDJSON(r io.Reader, name string, fn func(Document) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20) // a Firestore document is at most 1 MiB
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var raw struct {
			Path   string                     `json:"path"`
			Name   string                     `json:"name"`
			Fields map[string]json.RawMessage `json:"fields"`
		}
		if err := json.Unmarshal([]byte(text), &raw); err != nil {
			return fmt.Errorf("%s line %d: %w", name, line, err)
		}
		path := raw.Path
		if path == "" {
			path = DocumentPath(raw.Name)
		}
		if path == "" || strings.Count(path, "/")%2 != 1 {
			return fmt.Errorf("%s line %d: %q is not a document path (collection/id[/collection/id...])", name, line, path)
		}
		doc := Document{Path: path, Fields: map[string]Value{}}
		for k, v := range raw.Fields {
			val, err := parseREST(v)
			if err != nil {
				return fmt.Errorf("%s line %d: field %s: %w", name, line, k, err)
			}
			doc.Fields[k] = val
		}
		if err := fn(doc); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// DocumentPath strips "projects/<p>/databases/<d>/documents/" from a resource name.
func DocumentPath(name string) string {
	if i := strings.Index(name, "/documents/"); i >= 0 && strings.HasPrefix(name, "projects/") {
		return name[i+len("/documents/"):]
	}
	return name
}

// parseREST reads one value in Firestore's REST JSON form.
func parseREST(data json.RawMessage) (Value, error) {
	var v map[string]json.RawMessage
	if err := json.Unmarshal(data, &v); err != nil {
		return Value{}, err
	}
	if len(v) != 1 {
		return Value{}, fmt.Errorf("a value has exactly one type key, found %d", len(v))
	}
	for typ, raw := range v {
		var s string
		str := func() error { return json.Unmarshal(raw, &s) }
		switch typ {
		case "nullValue":
			return Value{Kind: Null}, nil
		case "booleanValue":
			var b bool
			err := json.Unmarshal(raw, &b)
			return Value{Kind: Boolean, Bool: b}, err
		case "integerValue":
			if err := str(); err != nil {
				return Value{}, err
			}
			i, err := strconv.ParseInt(s, 10, 64)
			return Value{Kind: Integer, Int: i}, err
		case "doubleValue":
			if err := str(); err == nil { // "NaN", "Infinity", "-Infinity"
				switch s {
				case "NaN":
					return Value{Kind: Double, Double: math.NaN()}, nil
				case "Infinity":
					return Value{Kind: Double, Double: math.Inf(1)}, nil
				case "-Infinity":
					return Value{Kind: Double, Double: math.Inf(-1)}, nil
				}
				f, err := strconv.ParseFloat(s, 64)
				return Value{Kind: Double, Double: f}, err
			}
			var f float64
			err := json.Unmarshal(raw, &f)
			return Value{Kind: Double, Double: f}, err
		case "timestampValue":
			if err := str(); err != nil {
				return Value{}, err
			}
			t, err := time.Parse(time.RFC3339Nano, s)
			return Value{Kind: Timestamp, Time: t.UTC().Truncate(time.Microsecond)}, err
		case "stringValue":
			err := str()
			return Value{Kind: String, Str: s}, err
		case "bytesValue":
			if err := str(); err != nil {
				return Value{}, err
			}
			b, err := base64.StdEncoding.DecodeString(s)
			return Value{Kind: Bytes, Bytes: b}, err
		case "referenceValue":
			err := str()
			return Value{Kind: Reference, Str: DocumentPath(s)}, err
		case "geoPointValue":
			var g struct{ Latitude, Longitude float64 }
			err := json.Unmarshal(raw, &g)
			return Value{Kind: GeoPoint, Lat: g.Latitude, Lng: g.Longitude}, err
		case "arrayValue":
			var a struct{ Values []json.RawMessage }
			if err := json.Unmarshal(raw, &a); err != nil {
				return Value{}, err
			}
			out := Value{Kind: Array, Array: make([]Value, 0, len(a.Values))}
			for i, e := range a.Values {
				val, err := parseREST(e)
				if err != nil {
					return Value{}, fmt.Errorf("[%d]: %w", i, err)
				}
				out.Array = append(out.Array, val)
			}
			return out, nil
		case "mapValue":
			var m struct{ Fields map[string]json.RawMessage }
			if err := json.Unmarshal(raw, &m); err != nil {
				return Value{}, err
			}
			out := Value{Kind: Map, Map: make(map[string]Value, len(m.Fields))}
			for k, e := range m.Fields {
				val, err := parseREST(e)
				if err != nil {
					return Value{}, fmt.Errorf("%s: %w", k, err)
				}
				out.Map[k] = val
			}
			return out, nil
		default:
			return Value{}, fmt.Errorf("unknown value type %q", typ)
		}
	}
	return Value{}, errors.New("empty value")
}

// --- Live: the Firestore client ------------------------------------------------------------

// LiveSource walks every root collection and every subcollection (also under missing parent
// documents), paging each collection by document id.
type LiveSource struct {
	Client   *firestore.Client
	Project  string
	PageSize int
}

func (s *LiveSource) Describe() string { return "project " + s.Project }

func (s *LiveSource) Documents(ctx context.Context, fn func(Document) error) error {
	return s.walkCollections(ctx, s.Client.Collections(ctx), fn)
}

func (s *LiveSource) walkCollections(ctx context.Context, it *firestore.CollectionIterator, fn func(Document) error) error {
	for {
		coll, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.walkCollection(ctx, coll, fn); err != nil {
			return err
		}
	}
}

// walkCollection pages by __name__ with a cursor; DocumentRefs lists missing parents too, so
// their subcollections are found.
func (s *LiveSource) walkCollection(ctx context.Context, coll *firestore.CollectionRef, fn func(Document) error) error {
	refs := coll.DocumentRefs(ctx)
	for {
		ref, err := refs.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing %s: %w", coll.Path, err)
		}
		snap, err := ref.Get(ctx)
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("reading %s: %w", ref.Path, err)
		}
		if snap != nil && snap.Exists() {
			doc, err := fromSnapshot(snap)
			if err != nil {
				return err
			}
			if err := fn(doc); err != nil {
				return err
			}
		}
		if err := s.walkCollections(ctx, ref.Collections(ctx), fn); err != nil {
			return err
		}
	}
}

func fromSnapshot(snap *firestore.DocumentSnapshot) (Document, error) {
	doc := Document{Path: DocumentPath(snap.Ref.Path), Fields: map[string]Value{}}
	for k, v := range snap.Data() {
		val, err := fromGo(v)
		if err != nil {
			return doc, fmt.Errorf("%s: field %s: %w", doc.Path, k, err)
		}
		doc.Fields[k] = val
	}
	return doc, nil
}

// fromGo converts the Firestore client's Go values.
func fromGo(v any) (Value, error) {
	switch x := v.(type) {
	case nil:
		return Value{Kind: Null}, nil
	case bool:
		return Value{Kind: Boolean, Bool: x}, nil
	case int64:
		return Value{Kind: Integer, Int: x}, nil
	case float64:
		return Value{Kind: Double, Double: x}, nil
	case time.Time:
		return Value{Kind: Timestamp, Time: x.UTC()}, nil
	case string:
		return Value{Kind: String, Str: x}, nil
	case []byte:
		return Value{Kind: Bytes, Bytes: x}, nil
	case *firestore.DocumentRef:
		return Value{Kind: Reference, Str: DocumentPath(x.Path)}, nil
	case *latlng.LatLng:
		return Value{Kind: GeoPoint, Lat: x.Latitude, Lng: x.Longitude}, nil
	case []any:
		out := Value{Kind: Array, Array: make([]Value, len(x))}
		for i, e := range x {
			val, err := fromGo(e)
			if err != nil {
				return Value{}, err
			}
			out.Array[i] = val
		}
		return out, nil
	case map[string]any:
		out := Value{Kind: Map, Map: make(map[string]Value, len(x))}
		for k, e := range x {
			val, err := fromGo(e)
			if err != nil {
				return Value{}, err
			}
			out.Map[k] = val
		}
		return out, nil
	}
	return Value{}, fmt.Errorf("unsupported Firestore value %T", v)
}

func isNotFound(err error) bool { return status.Code(err) == codes.NotFound }
