package firestore

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// everyType is a document holding each value type and its edges.
func everyType() map[string]Value {
	ts := time.Date(2024, 2, 29, 23, 59, 59, 123456000, time.UTC)
	return map[string]Value{
		"null": {Kind: Null}, "true": {Kind: Boolean, Bool: true}, "false": {Kind: Boolean},
		"int": {Kind: Integer, Int: 42}, "maxInt": {Kind: Integer, Int: math.MaxInt64}, "minInt": {Kind: Integer, Int: math.MinInt64},
		"double": {Kind: Double, Double: 0.1}, "integralDouble": {Kind: Double, Double: 3}, "nan": {Kind: Double, Double: math.NaN()},
		"inf": {Kind: Double, Double: math.Inf(1)}, "-inf": {Kind: Double, Double: math.Inf(-1)}, "-0": {Kind: Double, Double: math.Copysign(0, -1)},
		"tiny": {Kind: Double, Double: 5e-324}, "huge": {Kind: Double, Double: math.MaxFloat64},
		"time": {Kind: Timestamp, Time: ts}, "str": {Kind: String, Str: "héllo \"\n\x00"}, "empty": {Kind: String},
		"bytes": {Kind: Bytes, Bytes: []byte{0, 1, 254, 255}}, "ref": {Kind: Reference, Str: "users/alice"},
		"geo": {Kind: GeoPoint, Lat: -33.8688, Lng: 151.2093},
		// Firestore has no arrays directly in arrays: one inside a map inside an array.
		"array":   {Kind: Array, Array: []Value{{Kind: Integer, Int: 1}, {Kind: String, Str: "two"}, {Kind: Map, Map: map[string]Value{"inner": {Kind: Array, Array: []Value{{Kind: Null}}}}}}},
		"map":     {Kind: Map, Map: map[string]Value{"nested": {Kind: Map, Map: map[string]Value{"deep": {Kind: Bytes, Bytes: []byte("x")}}}}},
		"$dollar": {Kind: String, Str: "a key that looks like a tag"}, "$ref": {Kind: Integer, Int: 7},
		"plain": {Kind: String, Str: "no NUL here"}, "nul\x00key": {Kind: Boolean, Bool: true},
	}
}

func TestEncodingRoundTripsEveryType(t *testing.T) {
	in := everyType()
	data, err := EncodeFields(in)
	require.NoError(t, err)
	out, err := DecodeFields(data)
	require.NoError(t, err)
	again, err := EncodeFields(out)
	require.NoError(t, err)
	assert.Equal(t, string(data), string(again), "canonical and stable")
	assert.True(t, math.IsNaN(out["nan"].Double))
	assert.True(t, math.Signbit(out["-0"].Double))
	assert.Equal(t, Double, out["integralDouble"].Kind, "3.0 stays a double")
	assert.Equal(t, int64(math.MaxInt64), out["maxInt"].Int)
	assert.Equal(t, Integer, out["$ref"].Kind, "a field named like a tag is not a reference")
	assert.Contains(t, string(data), `"maxInt":{"$int":"9223372036854775807"}`)
	assert.Contains(t, string(data), `"time":{"$timestamp":"2024-02-29T23:59:59.123456Z"}`)
	assert.Contains(t, string(data), `"$$dollar":"a key that looks like a tag"`)
	assert.Equal(t, "héllo \"\n\x00", out["str"].Str, "NUL survives (as base64: PostgreSQL text cannot hold it)")
	assert.True(t, out["nul\x00key"].Bool)
}

// The hand-written string escaping writes exactly what encoding/json writes.
func FuzzJSONStringMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c", "<&>", "\x00\x01\x1f\b\f\n\r\t", "\u2028\u2029", "\xff\xfe", "héllo ünïcödé 😀", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		var b strings.Builder
		writeJSONString(&b, s)
		if b.String() != string(want) {
			t.Fatalf("%q: wrote %s, encoding/json writes %s", s, b.String(), want)
		}
	})
}
