package firestore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// What Firestore itself can never hold is refused where a source is read, with where it was: a
// value like it could only come from a damaged or hand-made file, and loading it would change
// the data without a word.

// maxIDBytes is the longest document or collection id Firestore takes.
const maxIDBytes = 1500

// CheckPath refuses a document path Firestore could not hold: an odd number of segments, an
// empty one, "." or "..", one over 1500 bytes, invalid UTF-8 or NUL.
func CheckPath(p string) error {
	if p == "" || strings.Count(p, "/")%2 != 1 {
		return fmt.Errorf("%q is not a document path (collection/id[/collection/id...])", p)
	}
	if !utf8.ValidString(p) {
		return fmt.Errorf("document path %q is not valid UTF-8", p)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("document path %q holds a NUL character", p)
	}
	for _, seg := range strings.Split(p, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("document path %q has an empty segment", p)
		case seg == "." || seg == "..":
			return fmt.Errorf("document path %q has the segment %q, which Firestore refuses", p, seg)
		case len(seg) > maxIDBytes:
			return fmt.Errorf("document path %q has a segment of %d bytes; Firestore takes at most %d", p, len(seg), maxIDBytes)
		}
	}
	return nil
}

// ResourcePath reads a REST resource name, projects/<p>/databases/<d>/documents/<path>, into
// the document path, refusing any other shape.
func ResourcePath(name string) (string, error) {
	parts := strings.SplitN(name, "/", 6)
	if len(parts) != 6 || parts[0] != "projects" || parts[1] == "" || parts[2] != "databases" || parts[3] == "" || parts[4] != "documents" {
		return "", fmt.Errorf("%q is not a document name (projects/<project>/databases/<database>/documents/<path>)", name)
	}
	return parts[5], CheckPath(parts[5])
}

// checkGeoPoint refuses a latitude outside ±90 or a longitude outside ±180 (NaN included).
func checkGeoPoint(lat, lng float64) error {
	if !(lat >= -90 && lat <= 90) || !(lng >= -180 && lng <= 180) {
		return fmt.Errorf("geopoint (%v, %v) is off the globe: latitude must be -90 to 90, longitude -180 to 180", lat, lng)
	}
	return nil
}

// Firestore's timestamps run from year 1 to year 9999.
var minTime, maxTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)

func checkTimestamp(t time.Time) error {
	if t.Before(minTime) || t.After(maxTime) {
		return fmt.Errorf("timestamp %s is outside Firestore's range (years 1 to 9999)", t.Format(time.RFC3339Nano))
	}
	return nil
}

// checkValue applies the range checks to a value and everything in it.
func checkValue(v *Value) error {
	switch v.Kind {
	case GeoPoint:
		return checkGeoPoint(v.Lat, v.Lng)
	case Timestamp:
		return checkTimestamp(v.Time)
	case Reference:
		return CheckPath(v.Str)
	case Array:
		for i := range v.Array {
			if err := checkValue(&v.Array[i]); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
	case Map:
		for k := range v.Map {
			e := v.Map[k]
			if err := checkValue(&e); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
	}
	return nil
}

// checkFields applies checkValue to every field of a document.
func checkFields(fields map[string]Value) error {
	for k := range fields {
		v := fields[k]
		if err := checkValue(&v); err != nil {
			return fmt.Errorf("field %s: %w", k, err)
		}
	}
	return nil
}

// invalidUTF8 finds the first byte of line that is not UTF-8 and the JSON member holding it
// ("fields.title.stringValue"): the JSON decoder would have made it U+FFFD without a word.
func invalidUTF8(line []byte) error {
	at := 0
	for at < len(line) {
		r, size := utf8.DecodeRune(line[at:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		at += size
	}
	if member := memberAt(line, at); member != "" {
		return fmt.Errorf("%s: not valid UTF-8 (byte %d), which no Firestore string holds", member, at+1)
	}
	return fmt.Errorf("not valid UTF-8 (byte %d), which no Firestore string holds", at+1)
}

// memberAt names the JSON member whose key or value spans byte offset at, as a dotted path with
// [i] for array elements; "" when the line is not JSON up to there.
func memberAt(line []byte, at int) string {
	type level struct {
		object  bool
		key     string
		wantKey bool
		index   int
	}
	var stack []level
	path := func() string {
		var b strings.Builder
		for _, l := range stack {
			if l.object {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(l.key)
			} else {
				b.WriteString("[" + strconv.Itoa(l.index) + "]")
			}
		}
		return b.String()
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		top := len(stack) - 1
		isKey := top >= 0 && stack[top].object && stack[top].wantKey
		if s, ok := tok.(string); ok && isKey {
			stack[top].key, stack[top].wantKey = s, false
			if int(dec.InputOffset()) > at {
				return path()
			}
			continue
		}
		if int(dec.InputOffset()) > at {
			return path()
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, level{object: true, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, level{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:top]
			top--
		}
		// A value ended: the enclosing object wants a key next, the array its next element.
		if top >= 0 {
			if stack[top].object {
				stack[top].wantKey = true
			} else {
				stack[top].index++
			}
		}
	}
}

// UniquePaths wraps a source so that a path it gives twice stops the walk with an error naming
// both places: a database holds a path once, so one of the two is not what Firestore held, and
// loading both would keep one silently.
func UniquePaths(src Source) Source { return &uniquePaths{Source: src, hash: maphash.String} }

type uniquePaths struct {
	Source
	hash func(maphash.Seed, string) uint64
}

func (u *uniquePaths) Documents(ctx context.Context, fn func(Document) error) error {
	seen := &pathSet{hash: u.hash, seed: maphash.MakeSeed(), seen: map[uint64]struct{}{}}
	var n int64
	return u.Source.Documents(ctx, func(d Document) error {
		n++
		if !seen.add(d.Path) {
			// The set keeps 64-bit hashes: read the source again up to here to be sure, and
			// to say where the first one was.
			if first, found := firstBefore(ctx, u.Source, d.Path, n-1); found {
				return &duplicateError{path: d.Path, first: first, second: d.Origin}
			}
		}
		return fn(d)
	})
}

// pathSet remembers the paths a source gave by a 64-bit hash of each: about 12 bytes a document,
// so that a load's memory stays nearly flat however many documents there are.
type pathSet struct {
	hash func(maphash.Seed, string) uint64
	seed maphash.Seed
	seen map[uint64]struct{}
}

// add reports whether the path's hash is new.
func (s *pathSet) add(path string) bool {
	key := s.hash(s.seed, path)
	if _, dup := s.seen[key]; dup {
		return false
	}
	s.seen[key] = struct{}{}
	return true
}

// duplicateError is a path a source gave twice.
type duplicateError struct {
	path          string
	first, second string // where each was read; empty for the live source
}

func (e *duplicateError) Error() string {
	if e.first == "" || e.second == "" {
		return fmt.Sprintf("the source gives document %s twice: a Firestore database holds a path once; fix the source and run again", e.path)
	}
	return fmt.Sprintf("%s and %s both hold document %s: a Firestore database holds a path once, so one of them is damaged; fix the source and run again",
		e.first, e.second, e.path)
}

// errFound stops a walk of a source early.
var errFound = errors.New("found")

// firstBefore reads the first n documents of the source again and says where the path was, if
// it was among them.
func firstBefore(ctx context.Context, src Source, path string, n int64) (origin string, found bool) {
	var i int64
	_ = src.Documents(ctx, func(d Document) error {
		if i++; i > n {
			return errFound
		}
		if d.Path == path {
			origin, found = d.Origin, true
			return errFound
		}
		return nil
	})
	return origin, found
}
