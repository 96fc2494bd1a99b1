package firestore

import (
	"context"
	"hash/maphash"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The member holding a bad byte is named however deep it sits, in a key as in a value.
func TestInvalidUTF8NamesTheMember(t *testing.T) {
	for line, want := range map[string]string{
		"{\"path\": \"a/b\", \"fields\": {\"t\": {\"stringValue\": \"\xff\"}}}":                                        "fields.t.stringValue: not valid UTF-8 (byte 50)",
		"{\"fields\": {\"l\": {\"arrayValue\": {\"values\": [{\"nullValue\": null}, {\"stringValue\": \"x\xc3\"}]}}}}": "fields.l.arrayValue.values[1].stringValue: not valid UTF-8 (byte 84)",
		"{\"fields\": {\"k\xff\": {\"nullValue\": null}}}":                                                             "fields.k\uFFFD: not valid UTF-8 (byte 15)",
		"\xff": "not valid UTF-8 (byte 1)",
	} {
		assert.EqualError(t, invalidUTF8([]byte(line)), want+", which no Firestore string holds", "%q", line)
	}
}

func TestCheckPath(t *testing.T) {
	for p, want := range map[string]string{
		"a/b":                       "",
		"a/b/c":                     `"a/b/c" is not a document path (collection/id[/collection/id...])`,
		"a//b/c":                    `document path "a//b/c" has an empty segment`,
		"a/..":                      `document path "a/.." has the segment "..", which Firestore refuses`,
		"a/\x00":                    `document path "a/\x00" holds a NUL character`,
		"a/" + string([]byte{0xff}): `document path "a/\xff" is not valid UTF-8`,
	} {
		err := CheckPath(p)
		if want == "" {
			assert.NoError(t, err, p)
		} else {
			assert.EqualError(t, err, want, "%q", p)
		}
	}
}

// Two paths whose hashes collide are told apart by reading the source again; a real duplicate
// is still found, with both places.
func TestUniquePathsConfirmsAHashCollision(t *testing.T) {
	collide := &uniquePaths{hash: func(maphash.Seed, string) uint64 { return 7 }}
	doc := func(path, origin string) Document { return Document{Path: path, Origin: origin} }
	collide.Source = &sliceSource{docs: []Document{doc("a/1", "line 1"), doc("a/2", "line 2"), doc("a/3", "line 3")}}
	var read int
	require.NoError(t, collide.Documents(context.Background(), func(Document) error { read++; return nil }))
	assert.Equal(t, 3, read)
	collide.Source = &sliceSource{docs: []Document{doc("a/1", "line 1"), doc("a/2", "line 2"), doc("a/1", "line 3")}}
	err := collide.Documents(context.Background(), func(Document) error { return nil })
	assert.EqualError(t, err, "line 1 and line 3 both hold document a/1: a Firestore database holds a path once, so one of them is damaged; fix the source and run again")
}
