package features

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPropsRoundTrip(t *testing.T) {
	tests := []map[string]Value{
		{"a": String("x")},
		{"n": Number(-12.5e-300), "z": Number(0), "big": Number(1e21), "i": Number(42)},
		{"t": Bool(true), "f": Bool(false)},
		{"quote\"key": String("back\\slash \"q\" \n\r\t \x00\x1f ünï 😀 \u2028"), "": String("")},
		{"null": {}},
	}
	for _, p := range tests {
		keys := slices.Sorted(maps.Keys(p))
		b := AppendPropsJSON(nil, p, keys)
		if !json.Valid(b) {
			t.Errorf("AppendPropsJSON(%v) = %s, not valid JSON", p, b)
		}
		got, err := ParsePropsJSON(string(b), nil)
		if err != nil {
			t.Errorf("ParsePropsJSON(%s): %v", b, err)
			continue
		}
		if diff := cmp.Diff(p, got); diff != "" {
			t.Errorf("round trip of %s (-want +got):\n%s", b, diff)
		}
	}
}

func TestParsePropsRejects(t *testing.T) {
	for _, s := range []string{
		``, `null`, `[]`, `"x"`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1 "b":2}`, `{a:1}`, `{"a":[1]}`, `{"a":{}}`,
		`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":+1}`, `{"a":NaN}`, `{"a":1e999}`, `{"a":tru}`, `{"a":1}x`,
		`{"a":"\q"}`, "{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}", `{"a":1,"a":2}`, `{"a":"unterminated}`,
	} {
		if m, err := ParsePropsJSON(s, nil); err == nil {
			t.Errorf("ParsePropsJSON(%q) = %v, want an error", s, m)
		}
	}
}

func FuzzParseProps(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":"b","n":-1.5e3,"t":true,"f":false,"z":null}`, `{"\u00e9\n":"\"\\"}`, ` { "a" : 1 } `} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParsePropsJSON(s, nil)
		if err != nil {
			return
		}
		if !json.Valid([]byte(s)) {
			t.Fatalf("ParsePropsJSON accepted invalid JSON %q", s)
		}
		b := AppendPropsJSON(nil, m, slices.Sorted(maps.Keys(m)))
		again, err := ParsePropsJSON(string(b), nil)
		if err != nil {
			t.Fatalf("ParsePropsJSON of the re-encoding %s of %q: %v", b, s, err)
		}
		if diff := cmp.Diff(m, again); diff != "" {
			t.Fatalf("re-encoding %s of %q (-first +second):\n%s", b, s, diff)
		}
	})
}
