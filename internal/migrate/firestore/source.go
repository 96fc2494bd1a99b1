package firestore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	apiv1 "cloud.google.com/go/firestore/apiv1"
	"cloud.google.com/go/firestore/apiv1/firestorepb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
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
	return ReadNDJSON(f, filepath.Base(s.Path), fn)
}

// ReadNDJSON parses r; errors name the line.
func ReadNDJSON(r io.Reader, name string, fn func(Document) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20) // a Firestore document is at most 1 MiB
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		// One pass of the decoder over the whole line, into typed values: decoding each value
		// on its own was most of a load's time.
		doc, err := parseNDJSONLine(text)
		if err != nil {
			return fmt.Errorf("%s line %d: %w", name, line, err)
		}
		doc.Origin = name + " line " + strconv.Itoa(line)
		if err := fn(doc); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// parseNDJSONLine reads one document. Only what Firestore could have held passes: valid UTF-8, a
// well-formed path or REST name, values in range.
func parseNDJSONLine(text []byte) (Document, error) {
	if !utf8.Valid(text) {
		return Document{}, invalidUTF8(text)
	}
	var raw struct {
		Path   string               `json:"path"`
		Name   string               `json:"name"`
		Fields map[string]restValue `json:"fields"`
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return Document{}, err
	}
	path := raw.Path
	switch {
	case raw.Path != "" && raw.Name != "":
		return Document{}, errors.New(`give "path" or "name", not both`)
	case raw.Name != "":
		var err error
		if path, err = ResourcePath(raw.Name); err != nil {
			return Document{}, err
		}
	default:
		if err := CheckPath(path); err != nil {
			return Document{}, err
		}
	}
	doc := Document{Path: path, Fields: make(map[string]Value, len(raw.Fields))}
	for k, v := range raw.Fields {
		val, err := v.value()
		if err == nil {
			err = checkValue(&val)
		}
		if err != nil {
			return Document{}, fmt.Errorf("field %s: %w", k, err)
		}
		doc.Fields[k] = val
	}
	return doc, nil
}

// restValue is one value in Firestore's REST JSON form: exactly one of its fields is set.
type restValue struct {
	NullValue      json.RawMessage `json:"nullValue"`
	BooleanValue   *bool           `json:"booleanValue"`
	IntegerValue   *string         `json:"integerValue"`
	DoubleValue    json.RawMessage `json:"doubleValue"` // a number, or "NaN", "Infinity", "-Infinity"
	TimestampValue *string         `json:"timestampValue"`
	StringValue    *string         `json:"stringValue"`
	BytesValue     *string         `json:"bytesValue"`
	ReferenceValue *string         `json:"referenceValue"`
	GeoPointValue  *struct {
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
	} `json:"geoPointValue"`
	ArrayValue *struct {
		Values []restValue `json:"values"`
	} `json:"arrayValue"`
	MapValue *struct {
		Fields map[string]restValue `json:"fields"`
	} `json:"mapValue"`
}

func (v *restValue) value() (Value, error) {
	set := 0
	for _, ok := range []bool{v.NullValue != nil, v.BooleanValue != nil, v.IntegerValue != nil, v.DoubleValue != nil,
		v.TimestampValue != nil, v.StringValue != nil, v.BytesValue != nil, v.ReferenceValue != nil,
		v.GeoPointValue != nil, v.ArrayValue != nil, v.MapValue != nil} {
		if ok {
			set++
		}
	}
	if set != 1 {
		return Value{}, fmt.Errorf("a value has exactly one type key, found %d", set)
	}
	switch {
	case v.NullValue != nil:
		return Value{Kind: Null}, nil
	case v.BooleanValue != nil:
		return Value{Kind: Boolean, Bool: *v.BooleanValue}, nil
	case v.IntegerValue != nil:
		i, err := strconv.ParseInt(*v.IntegerValue, 10, 64)
		return Value{Kind: Integer, Int: i}, err
	case v.DoubleValue != nil:
		var s string
		if err := json.Unmarshal(v.DoubleValue, &s); err == nil {
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
		f, err := strconv.ParseFloat(string(v.DoubleValue), 64)
		return Value{Kind: Double, Double: f}, err
	case v.TimestampValue != nil:
		t, err := time.Parse(time.RFC3339Nano, *v.TimestampValue)
		return Value{Kind: Timestamp, Time: t.UTC().Truncate(time.Microsecond)}, err
	case v.StringValue != nil:
		return Value{Kind: String, Str: *v.StringValue}, nil
	case v.BytesValue != nil:
		b, err := base64.StdEncoding.DecodeString(*v.BytesValue)
		return Value{Kind: Bytes, Bytes: b}, err
	case v.ReferenceValue != nil:
		p, err := ResourcePath(*v.ReferenceValue)
		return Value{Kind: Reference, Str: p}, err
	case v.GeoPointValue != nil:
		return Value{Kind: GeoPoint, Lat: v.GeoPointValue.Latitude, Lng: v.GeoPointValue.Longitude}, nil
	case v.ArrayValue != nil:
		out := Value{Kind: Array, Array: make([]Value, 0, len(v.ArrayValue.Values))}
		for i := range v.ArrayValue.Values {
			val, err := v.ArrayValue.Values[i].value()
			if err != nil {
				return Value{}, fmt.Errorf("[%d]: %w", i, err)
			}
			out.Array = append(out.Array, val)
		}
		return out, nil
	}
	out := Value{Kind: Map, Map: make(map[string]Value, len(v.MapValue.Fields))}
	for k, e := range v.MapValue.Fields {
		val, err := e.value()
		if err != nil {
			return Value{}, fmt.Errorf("%s: %w", k, err)
		}
		out.Map[k] = val
	}
	return out, nil
}

// DocumentPath strips "projects/<p>/databases/<d>/documents/" from a resource name.
func DocumentPath(name string) string {
	if i := strings.Index(name, "/documents/"); i >= 0 && strings.HasPrefix(name, "projects/") {
		return name[i+len("/documents/"):]
	}
	return name
}

// --- Live: the Firestore API --------------------------------------------------------------

// LiveSource reads a live database with one query over all of it: no collection named, all
// descendants (a "kindless" query, the one recursive deletes use), ordered by __name__ and read
// page by page with a cursor after the last document. It finds documents at every depth, under
// missing parent documents too, without listing collections document by document (which costs a
// request per document), and the order is fixed: the same database always gives the same
// sequence, which resuming relies on. The next pages are fetched while the load writes.
type LiveSource struct {
	Client   *apiv1.Client
	Project  string
	Database string // default "(default)"
	PageSize int    // documents per page (default 1000)
	Prefetch int    // pages fetched ahead (default 2)
}

// NewLiveClient opens the Firestore API of a project; with FIRESTORE_EMULATOR_HOST set, the
// emulator's, as its admin.
func NewLiveClient(ctx context.Context, opts ...option.ClientOption) (*apiv1.Client, error) {
	if addr := os.Getenv("FIRESTORE_EMULATOR_HOST"); addr != "" {
		conn, err := grpc.NewClient(addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(emulatorOwner{}),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)))
		if err != nil {
			return nil, fmt.Errorf("FIRESTORE_EMULATOR_HOST: %w", err)
		}
		opts = []option.ClientOption{option.WithGRPCConn(conn)}
	}
	return apiv1.NewClient(ctx, opts...)
}

// emulatorOwner is the credential the emulator takes as an admin.
type emulatorOwner struct{}

func (emulatorOwner) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}
func (emulatorOwner) RequireTransportSecurity() bool { return false }

func (s *LiveSource) Describe() string { return "project " + s.Project }

func (s *LiveSource) root() string {
	db := s.Database
	if db == "" {
		db = "(default)"
	}
	return "projects/" + s.Project + "/databases/" + db + "/documents"
}

func (s *LiveSource) Documents(ctx context.Context, fn func(Document) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type page struct {
		docs []*firestorepb.Document
		err  error
	}
	pages := make(chan page, max(s.Prefetch, 2))
	go func() {
		defer close(pages)
		err := s.pages(ctx, func(docs []*firestorepb.Document) error {
			select {
			case pages <- page{docs: docs}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if err != nil {
			select {
			case pages <- page{err: err}:
			case <-ctx.Done():
			}
		}
	}()
	for p := range pages {
		if p.err != nil {
			return p.err
		}
		for _, pd := range p.docs {
			doc, err := fromProto(pd)
			if err != nil {
				return err
			}
			if err := fn(doc); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// pages runs the query page by page.
func (s *LiveSource) pages(ctx context.Context, emit func([]*firestorepb.Document) error) error {
	size := s.PageSize
	if size <= 0 {
		size = 1000
	}
	root := s.root()
	var after string
	for first := true; ; first = false {
		q := &firestorepb.StructuredQuery{
			From:    []*firestorepb.StructuredQuery_CollectionSelector{{AllDescendants: true}},
			OrderBy: []*firestorepb.StructuredQuery_Order{{Field: &firestorepb.StructuredQuery_FieldReference{FieldPath: "__name__"}, Direction: firestorepb.StructuredQuery_ASCENDING}},
			Limit:   wrapperspb.Int32(int32(size)),
		}
		if after != "" {
			q.StartAt = &firestorepb.Cursor{Values: []*firestorepb.Value{{ValueType: &firestorepb.Value_ReferenceValue{ReferenceValue: after}}}}
		}
		docs, err := s.page(ctx, root, q, first)
		if err != nil {
			return err
		}
		if len(docs) > 0 {
			if err := emit(docs); err != nil {
				return err
			}
		}
		if len(docs) < size {
			return nil
		}
		after = docs[len(docs)-1].Name
	}
}

// FirstPageTimeout bounds the wait for the database's first page. Until it has come, a failure
// is not retried either: an address that is wrong or unreachable fails the run in seconds,
// before anything is written, instead of being retried for minutes.
var FirstPageTimeout = 30 * time.Second

// page runs one query and collects its documents.
func (s *LiveSource) page(ctx context.Context, root string, q *firestorepb.StructuredQuery, first bool) ([]*firestorepb.Document, error) {
	var opts []gax.CallOption
	noAnswer := fmt.Errorf("no answer within %s", FirstPageTimeout)
	if first {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		timer := time.AfterFunc(FirstPageTimeout, func() { cancel(noAnswer) })
		defer timer.Stop()
		opts = append(opts, gax.WithRetry(func() gax.Retryer { return nil }))
	}
	failed := func(err error) error {
		if !first {
			return fmt.Errorf("querying %s: %w", s.Project, err)
		}
		msg := err.Error()
		if context.Cause(ctx) == noAnswer {
			msg = noAnswer.Error()
		} else if st, ok := status.FromError(err); ok {
			msg = st.Message()
		}
		where := "firestore.googleapis.com"
		if h := os.Getenv("FIRESTORE_EMULATOR_HOST"); h != "" {
			where = h + " (FIRESTORE_EMULATOR_HOST)"
		}
		return fmt.Errorf("cannot read Firestore of project %s at %s: %s", s.Project, where, msg)
	}
	stream, err := s.Client.RunQuery(ctx, &firestorepb.RunQueryRequest{
		Parent:    root,
		QueryType: &firestorepb.RunQueryRequest_StructuredQuery{StructuredQuery: q},
	}, opts...)
	if err != nil {
		return nil, failed(err)
	}
	var docs []*firestorepb.Document
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, failed(err)
		}
		if resp.Document != nil {
			docs = append(docs, resp.Document)
		}
	}
}

// fromProto converts a document of the Firestore API.
func fromProto(pd *firestorepb.Document) (Document, error) {
	doc := Document{Path: DocumentPath(pd.Name), Fields: make(map[string]Value, len(pd.Fields))}
	for k, v := range pd.Fields {
		val, err := protoValue(v)
		if err != nil {
			return doc, fmt.Errorf("%s: field %s: %w", doc.Path, k, err)
		}
		doc.Fields[k] = val
	}
	return doc, nil
}

func protoValue(v *firestorepb.Value) (Value, error) {
	switch x := v.ValueType.(type) {
	case *firestorepb.Value_NullValue:
		return Value{Kind: Null}, nil
	case *firestorepb.Value_BooleanValue:
		return Value{Kind: Boolean, Bool: x.BooleanValue}, nil
	case *firestorepb.Value_IntegerValue:
		return Value{Kind: Integer, Int: x.IntegerValue}, nil
	case *firestorepb.Value_DoubleValue:
		return Value{Kind: Double, Double: x.DoubleValue}, nil
	case *firestorepb.Value_TimestampValue:
		return Value{Kind: Timestamp, Time: x.TimestampValue.AsTime().UTC()}, nil
	case *firestorepb.Value_StringValue:
		return Value{Kind: String, Str: x.StringValue}, nil
	case *firestorepb.Value_BytesValue:
		return Value{Kind: Bytes, Bytes: x.BytesValue}, nil
	case *firestorepb.Value_ReferenceValue:
		return Value{Kind: Reference, Str: DocumentPath(x.ReferenceValue)}, nil
	case *firestorepb.Value_GeoPointValue:
		return Value{Kind: GeoPoint, Lat: x.GeoPointValue.GetLatitude(), Lng: x.GeoPointValue.GetLongitude()}, nil
	case *firestorepb.Value_ArrayValue:
		out := Value{Kind: Array, Array: make([]Value, len(x.ArrayValue.GetValues()))}
		for i, e := range x.ArrayValue.GetValues() {
			val, err := protoValue(e)
			if err != nil {
				return Value{}, err
			}
			out.Array[i] = val
		}
		return out, nil
	case *firestorepb.Value_MapValue:
		out := Value{Kind: Map, Map: make(map[string]Value, len(x.MapValue.GetFields()))}
		for k, e := range x.MapValue.GetFields() {
			val, err := protoValue(e)
			if err != nil {
				return Value{}, err
			}
			out.Map[k] = val
		}
		return out, nil
	}
	return Value{}, fmt.Errorf("unsupported Firestore value %T", v.ValueType)
}
