package firestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/journal"
	"google.golang.org/protobuf/encoding/protowire"
)

// ExportSource reads the folder `gcloud firestore export` writes (a managed export), without any
// Google service: the folder's <name>.overall_export_metadata lists one metadata file per
// namespace/kind selection, each of those lists its output-N files, and every output file is a
// LevelDB log whose records are App Engine EntityProto messages (one per document).
type ExportSource struct {
	// Files is the export folder: the one holding <name>.overall_export_metadata.
	Files fs.FS
	// Name says where the folder is, for messages ("./firestore_export_1", "gs://bucket/x").
	Name string
}

func (s *ExportSource) Describe() string { return "export " + s.Name }

// exportFile is one output file and what the overall metadata says it holds.
type exportFile struct {
	path     string
	entities int64 // -1 when the metadata does not say
	bytes    int64
}

func (s *ExportSource) Documents(ctx context.Context, fn func(Document) error) error {
	files, _, err := s.outputFiles()
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := s.readOutput(ctx, f, fn); err != nil {
			return err
		}
	}
	return nil
}

// Fingerprint names the export by what it holds, for the checkpoint: a SHA-256 of its metadata
// files and of the names and sizes of its output files. Another export in a folder of the same
// name is another source; the same export copied elsewhere is the same one. The output files
// are not read for it: an export is written once, and its metadata counts what they hold.
func (s *ExportSource) Fingerprint() (string, error) {
	files, metadata, err := s.outputFiles()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, name := range metadata {
		data, err := fs.ReadFile(s.Files, name)
		if err != nil {
			return "", fmt.Errorf("%s: %w", s.Name, err)
		}
		fmt.Fprintf(h, "%s %d\n", name, len(data))
		h.Write(data)
	}
	for _, f := range files {
		st, err := fs.Stat(s.Files, f.path)
		if err != nil {
			return "", fmt.Errorf("%s: %w", s.Name, err)
		}
		fmt.Fprintf(h, "%s %d\n", f.path, st.Size())
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// outputFiles reads the overall metadata and the per-kind metadata it names; metadata is the
// paths of those metadata files.
func (s *ExportSource) outputFiles() (files []exportFile, metadata []string, err error) {
	matches, err := fs.Glob(s.Files, "*.overall_export_metadata")
	if err != nil {
		return nil, nil, err
	}
	if len(matches) != 1 {
		return nil, nil, fmt.Errorf("%s: expected one *.overall_export_metadata file (the folder `gcloud firestore export` wrote), found %d", s.Name, len(matches))
	}
	overall := matches[0]
	metadata = append(metadata, overall)
	records, err := s.readLog(overall)
	if err != nil {
		return nil, nil, err
	}
	for _, rec := range records {
		kinds, err := parseOverallMetadata(rec)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s: %w", s.Name, overall, err)
		}
		for _, k := range kinds {
			metadata = append(metadata, k.path)
			data, err := fs.ReadFile(s.Files, k.path)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", s.Name, err)
			}
			outputs, err := parseKindMetadata(data)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %s: %w", s.Name, k.path, err)
			}
			dir := path.Dir(k.path)
			for _, o := range outputs {
				f := exportFile{path: path.Join(dir, o), entities: -1, bytes: -1}
				if len(outputs) == 1 { // the counts are per kind selection: exact when it has one file
					f.entities, f.bytes = k.entities, k.bytes
				}
				files = append(files, f)
			}
		}
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("%s: %s names no output files", s.Name, overall)
	}
	return files, metadata, nil
}

// readLog returns every record of a small LevelDB log file (the overall metadata).
func (s *ExportSource) readLog(name string) ([][]byte, error) {
	f, err := s.Files.Open(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	defer f.Close()
	var out [][]byte
	_, err = eachRecord(f, func(rec []byte, _ int64) error {
		out = append(out, rec)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", s.Name, name, err)
	}
	return out, nil
}

func (s *ExportSource) readOutput(ctx context.Context, f exportFile, fn func(Document) error) error {
	file, err := s.Files.Open(f.path)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	defer file.Close()
	var n int64
	size, err := eachRecord(file, func(rec []byte, offset int64) error {
		if n%1000 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		n++
		doc, err := ParseEntity(rec)
		if err == nil {
			err = CheckPath(doc.Path)
		}
		if err == nil {
			err = checkFields(doc.Fields)
		}
		if err != nil {
			return fmt.Errorf("record %d (block at offset %d): %w", n, offset, err)
		}
		doc.Origin = fmt.Sprintf("%s record %d", f.path, n)
		return fn(doc)
	})
	if err == nil && f.bytes >= 0 && size != f.bytes {
		err = fmt.Errorf("%d bytes, but the export metadata says %d: the file is truncated or was changed", size, f.bytes)
	}
	if err == nil && f.entities >= 0 && n != f.entities {
		err = fmt.Errorf("%d documents, but the export metadata says %d: the file is truncated or was changed", n, f.entities)
	}
	if err != nil {
		return fmt.Errorf("%s: %s: %w", s.Name, f.path, err)
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// blockSize is the LevelDB log's block: a reader reads whole blocks, so the bytes consumed when a
// record ends tell which block it ended in.
const blockSize = 32 << 10

// eachRecord calls fn with every record of a LevelDB log and the offset of the block it ends
// in, and returns the bytes it read; a damaged or cut-off log is an error naming that offset.
func eachRecord(r io.Reader, fn func(rec []byte, blockOffset int64) error) (int64, error) {
	cr := &countingReader{r: r}
	jr := journal.NewReader(cr, nil, true, true)
	blockAt := func() int64 { return max(cr.n-1, 0) / blockSize * blockSize }
	for {
		rr, err := jr.Next()
		if errors.Is(err, io.EOF) {
			return cr.n, nil
		}
		if err != nil {
			return cr.n, fmt.Errorf("block at offset %d: %w", blockAt(), journalError(err))
		}
		rec, err := io.ReadAll(rr)
		if err != nil {
			return cr.n, fmt.Errorf("block at offset %d: %w", blockAt(), journalError(err))
		}
		if err := fn(rec, blockAt()); err != nil {
			return cr.n, err
		}
	}
}

// journalError turns goleveldb's wrapped corruption into its reason.
func journalError(err error) error {
	var c *lerrors.ErrCorrupted
	if errors.As(err, &c) {
		var jc *journal.ErrCorrupted
		if errors.As(c.Err, &jc) {
			return fmt.Errorf("corrupted log: %s", jc.Reason)
		}
		return fmt.Errorf("corrupted log: %v", c.Err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("corrupted log: a record is cut off")
	}
	return err
}

// --- export metadata -------------------------------------------------------------------------

type kindMetadata struct {
	path            string
	entities, bytes int64
}

// parseOverallMetadata reads the overall metadata record: repeated field 1 holds, per kind
// selection, the relative path of its metadata file (2), its entity count (3) and bytes (4).
func parseOverallMetadata(rec []byte) ([]kindMetadata, error) {
	var out []kindMetadata
	err := eachField(rec, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		k := kindMetadata{entities: -1, bytes: -1}
		err := eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, u uint64) error {
			switch {
			case num == 2 && typ == protowire.BytesType:
				k.path = string(v)
			case num == 3 && typ == protowire.VarintType:
				k.entities = int64(u)
			case num == 4 && typ == protowire.VarintType:
				k.bytes = int64(u)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if k.path == "" || !fs.ValidPath(k.path) {
			return fmt.Errorf("a kind entry names no valid metadata file (%q)", k.path)
		}
		out = append(out, k)
		return nil
	})
	// The first record of the file is a bare version string ("3"), which parses as no fields
	// or fails; either way it holds no kinds.
	if err != nil && len(rec) < 4 {
		return nil, nil
	}
	return out, err
}

// parseKindMetadata reads a per-kind metadata file: repeated field 2 holds an output file's name (2).
func parseKindMetadata(data []byte) ([]string, error) {
	var out []string
	err := eachField(data, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 2 || typ != protowire.BytesType {
			return nil
		}
		return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
			if num == 2 && typ == protowire.BytesType {
				name := string(v)
				if !fs.ValidPath(name) || strings.Contains(name, "/") {
					return fmt.Errorf("invalid output file name %q", name)
				}
				out = append(out, name)
			}
			return nil
		})
	})
	if err == nil && len(out) == 0 {
		err = errors.New("names no output files")
	}
	return out, err
}

// --- EntityProto ---------------------------------------------------------------------------

// Field numbers of App Engine's datastore_v3 EntityProto, as the export writes them.
const (
	entityKey         = 13 // Reference
	entityProperty    = 14 // Property (indexed)
	entityRawProperty = 15 // Property (not indexed)

	referencePath = 14 // Path: a group of Element groups (field 1)
	pathElement   = 1
	elementType   = 2
	elementID     = 3
	elementName   = 4

	propertyMeaning  = 1
	propertyName     = 3
	propertyMultiple = 4
	propertyValue    = 5

	valueInt64     = 1
	valueBoolean   = 2
	valueString    = 3
	valueDouble    = 4
	valuePoint     = 5 // group: x (6), y (7)
	valueUser      = 8
	valueReference = 12 // group: app (13), PathElement groups (14): type (15), id (16), name (17)

	meaningGDWhen      = 7  // int64 microseconds: a timestamp
	meaningGeoPoint    = 9  // point: latitude, longitude
	meaningBlob        = 14 // bytes
	meaningByteString  = 16 // bytes
	meaningEntityProto = 19 // an embedded EntityProto: a map
	meaningEmptyList   = 24 // an empty array
)

// ParseEntity turns one export record into a document.
func ParseEntity(rec []byte) (Document, error) {
	var doc Document
	var keySeen bool
	fields, err := parseProperties(rec, func(v []byte) error {
		keySeen = true
		p, err := parseKeyPath(v)
		doc.Path = p
		return err
	})
	if err != nil {
		return doc, err
	}
	if !keySeen || doc.Path == "" {
		return doc, errors.New("entity has no key")
	}
	doc.Fields = fields
	return doc, nil
}

// parseProperties reads the properties of an entity (or an embedded one) in the order they were
// written, indexed and unindexed alike, so array elements keep their order.
func parseProperties(rec []byte, key func([]byte) error) (map[string]Value, error) {
	fields := map[string]Value{}
	err := eachField(rec, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch {
		case num == entityKey && typ == protowire.BytesType:
			if key != nil {
				return key(v)
			}
		case (num == entityProperty || num == entityRawProperty) && typ == protowire.BytesType:
			return addProperty(fields, v)
		}
		return nil
	})
	return fields, err
}

func addProperty(fields map[string]Value, data []byte) error {
	var (
		name     string
		meaning  uint64
		multiple bool
		raw      []byte
		hasValue bool
	)
	err := eachField(data, func(num protowire.Number, typ protowire.Type, v []byte, u uint64) error {
		switch {
		case num == propertyMeaning && typ == protowire.VarintType:
			meaning = u
		case num == propertyName && typ == protowire.BytesType:
			name = string(v)
		case num == propertyMultiple && typ == protowire.VarintType:
			multiple = u != 0
		case num == propertyValue && typ == protowire.BytesType:
			raw, hasValue = v, true
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !hasValue {
		return fmt.Errorf("property %q has no value", name)
	}
	if meaning == meaningEmptyList {
		if _, ok := fields[name]; !ok {
			fields[name] = Value{Kind: Array, Array: []Value{}}
		}
		return nil
	}
	val, err := parsePropertyValue(raw, meaning)
	if err != nil {
		return fmt.Errorf("property %q: %w", name, err)
	}
	if !multiple {
		if _, dup := fields[name]; dup {
			return fmt.Errorf("property %q appears twice", name)
		}
		fields[name] = val
		return nil
	}
	arr, ok := fields[name]
	if ok && arr.Kind != Array {
		return fmt.Errorf("property %q is both a value and a list", name)
	}
	arr.Kind = Array
	arr.Array = append(arr.Array, val)
	fields[name] = arr
	return nil
}

func parsePropertyValue(data []byte, meaning uint64) (Value, error) {
	out := Value{Kind: Null}
	set := 0
	err := eachField(data, func(num protowire.Number, typ protowire.Type, v []byte, u uint64) error {
		set++
		switch {
		case num == valueInt64 && typ == protowire.VarintType:
			if meaning == meaningGDWhen {
				us := int64(u)
				out = Value{Kind: Timestamp, Time: time.UnixMicro(us).UTC()}
			} else {
				out = Value{Kind: Integer, Int: int64(u)}
			}
		case num == valueBoolean && typ == protowire.VarintType:
			out = Value{Kind: Boolean, Bool: u != 0}
		case num == valueString && typ == protowire.BytesType:
			switch meaning {
			case meaningEntityProto:
				m, err := parseProperties(v, nil)
				if err != nil {
					return fmt.Errorf("embedded map: %w", err)
				}
				out = Value{Kind: Map, Map: m}
			case meaningBlob, meaningByteString:
				out = Value{Kind: Bytes, Bytes: append([]byte{}, v...)}
			default:
				if !utf8.Valid(v) {
					return errors.New("string is not valid UTF-8")
				}
				out = Value{Kind: String, Str: string(v)}
			}
		case num == valueDouble && typ == protowire.Fixed64Type:
			out = Value{Kind: Double, Double: math.Float64frombits(u)}
		case num == valuePoint && typ == protowire.StartGroupType:
			out = Value{Kind: GeoPoint}
			return eachField(v, func(num protowire.Number, typ protowire.Type, _ []byte, u uint64) error {
				if typ == protowire.Fixed64Type && num == 6 {
					out.Lat = math.Float64frombits(u)
				} else if typ == protowire.Fixed64Type && num == 7 {
					out.Lng = math.Float64frombits(u)
				}
				return nil
			})
		case num == valueReference && typ == protowire.StartGroupType:
			p, err := parseReferenceValue(v)
			out = Value{Kind: Reference, Str: p}
			return err
		case num == valueUser:
			return errors.New("user values are not Firestore values")
		default:
			set--
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	if set > 1 {
		return out, errors.New("value has more than one type")
	}
	if meaning == meaningGeoPoint && out.Kind != GeoPoint {
		return out, errors.New("geopoint meaning without a point")
	}
	return out, nil
}

// parseKeyPath reads a Reference (the entity key) into a document path.
func parseKeyPath(ref []byte) (string, error) {
	var p string
	err := eachField(ref, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != referencePath || typ != protowire.BytesType {
			return nil
		}
		var segs []string
		err := eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
			if num != pathElement || typ != protowire.StartGroupType {
				return nil
			}
			kind, id, err := parseElement(v, elementType, elementID, elementName)
			segs = append(segs, kind, id)
			return err
		})
		p = strings.Join(segs, "/")
		return err
	})
	if err == nil && p == "" {
		err = errors.New("entity key has no path")
	}
	return p, err
}

// parseReferenceValue reads a reference value's path elements into a document path.
func parseReferenceValue(group []byte) (string, error) {
	var segs []string
	err := eachField(group, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 14 || typ != protowire.StartGroupType {
			return nil
		}
		kind, id, err := parseElement(v, 15, 16, 17)
		segs = append(segs, kind, id)
		return err
	})
	if err == nil && len(segs) == 0 {
		err = errors.New("reference has no path")
	}
	return strings.Join(segs, "/"), err
}

// parseElement reads one path element: a kind and a name, or a numeric id, which Firestore
// shows as the document id "__id<N>__".
func parseElement(data []byte, typeNum, idNum, nameNum protowire.Number) (kind, id string, err error) {
	var hasID bool
	var num int64
	err = eachField(data, func(n protowire.Number, typ protowire.Type, v []byte, u uint64) error {
		switch {
		case n == typeNum && typ == protowire.BytesType:
			kind = string(v)
		case n == nameNum && typ == protowire.BytesType:
			id = string(v)
		case n == idNum && typ == protowire.VarintType:
			hasID, num = true, int64(u)
		}
		return nil
	})
	if err != nil {
		return "", "", err
	}
	if id == "" && hasID {
		id = "__id" + strconv.FormatInt(num, 10) + "__"
	}
	if kind == "" || id == "" || strings.Contains(kind, "/") || strings.Contains(id, "/") {
		return "", "", fmt.Errorf("invalid path element %q/%q", kind, id)
	}
	return kind, id, nil
}

// eachField walks the fields of a protobuf message. Groups are handed over whole (their
// contents, without the end tag); varint and fixed values come as u.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, u uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("malformed protobuf: %w", protowire.ParseError(n))
		}
		b = b[n:]
		var (
			v []byte
			u uint64
		)
		switch typ {
		case protowire.VarintType:
			u, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			u, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var u32 uint32
			u32, n = protowire.ConsumeFixed32(b)
			u = uint64(u32)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.StartGroupType:
			v, n = protowire.ConsumeGroup(num, b) // the body, without the end tag
		default:
			return fmt.Errorf("malformed protobuf: unexpected wire type %d", typ)
		}
		if n < 0 {
			return fmt.Errorf("malformed protobuf: %w", protowire.ParseError(n))
		}
		if err := fn(num, typ, v, u); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
