package firestore

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// DecodeFields reads a JSON object in the typed encoding back into values.
func DecodeFields(data []byte) (map[string]Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, err
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("fields are not a JSON object")
	}
	v, err := decodeMap(m)
	if err != nil {
		return nil, err
	}
	return v.Map, nil
}

func decodeMap(m map[string]any) (Value, error) {
	out := Value{Kind: Map, Map: make(map[string]Value, len(m))}
	for k, raw := range m {
		v, err := decodeValue(raw)
		if err != nil {
			return Value{}, fmt.Errorf("%s: %w", k, err)
		}
		switch {
		case strings.HasPrefix(k, tagEscape+tagEscape):
			k = k[len(tagEscape):]
		case strings.HasPrefix(k, keyBase64):
			raw, err := base64.StdEncoding.DecodeString(k[len(keyBase64):])
			if err != nil {
				return Value{}, fmt.Errorf("key %q: %w", k, err)
			}
			k = string(raw)
		}
		out.Map[k] = v
	}
	return out, nil
}

func decodeValue(raw any) (Value, error) {
	switch x := raw.(type) {
	case nil:
		return Value{Kind: Null}, nil
	case bool:
		return Value{Kind: Boolean, Bool: x}, nil
	case string:
		return Value{Kind: String, Str: x}, nil
	case json.Number:
		if i, err := x.Int64(); err == nil && !strings.ContainsAny(x.String(), ".eE") {
			return Value{Kind: Integer, Int: i}, nil
		}
		f, err := x.Float64()
		if err != nil {
			return Value{}, err
		}
		return Value{Kind: Double, Double: f}, nil
	case []any:
		out := Value{Kind: Array, Array: make([]Value, len(x))}
		for i, e := range x {
			v, err := decodeValue(e)
			if err != nil {
				return Value{}, fmt.Errorf("[%d]: %w", i, err)
			}
			out.Array[i] = v
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			for tag, inner := range x {
				if v, ok, err := decodeTagged(tag, inner); ok || err != nil {
					return v, err
				}
			}
		}
		return decodeMap(x)
	}
	return Value{}, fmt.Errorf("unexpected JSON %T", raw)
}

// decodeTagged reads {"$tag": ...}; ok is false when the key is not one of the tags.
func decodeTagged(tag string, inner any) (Value, bool, error) {
	s, _ := inner.(string)
	switch tag {
	case tagInt:
		i, err := strconv.ParseInt(s, 10, 64)
		return Value{Kind: Integer, Int: i}, true, err
	case tagDouble:
		var f float64
		var err error
		switch s {
		case "NaN":
			f = math.NaN()
		case "Infinity":
			f = math.Inf(1)
		case "-Infinity":
			f = math.Inf(-1)
		case "-0":
			f = math.Copysign(0, -1)
		default:
			f, err = strconv.ParseFloat(s, 64)
		}
		return Value{Kind: Double, Double: f}, true, err
	case tagTimestamp:
		t, err := time.Parse(time.RFC3339Nano, s)
		return Value{Kind: Timestamp, Time: t.UTC()}, true, err
	case tagBytes:
		b, err := base64.StdEncoding.DecodeString(s)
		return Value{Kind: Bytes, Bytes: b}, true, err
	case tagRef:
		return Value{Kind: Reference, Str: s}, true, nil
	case tagString:
		b, err := base64.StdEncoding.DecodeString(s)
		return Value{Kind: String, Str: string(b)}, true, err
	case tagGeo:
		pair, _ := inner.([]any)
		if len(pair) != 2 {
			return Value{}, true, fmt.Errorf("%s wants [latitude, longitude]", tagGeo)
		}
		lat, err1 := pair[0].(json.Number).Float64()
		lng, err2 := pair[1].(json.Number).Float64()
		if err1 != nil || err2 != nil {
			return Value{}, true, fmt.Errorf("%s wants two numbers", tagGeo)
		}
		return Value{Kind: GeoPoint, Lat: lat, Lng: lng}, true, nil
	}
	return Value{}, false, nil
}
