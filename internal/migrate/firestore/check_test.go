package firestore

import (
	"testing"

	"github.com/stretchr/testify/assert"
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
