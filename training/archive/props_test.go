package archive

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kairos/features"
)

func TestPropsRoundTrip(t *testing.T) {
	tests := []map[string]features.Value{
		{"a": features.String("x")},
		{"n": features.Number(-12.5e-300), "z": features.Number(0), "big": features.Number(1e21), "i": features.Number(42)},
		{"t": features.Bool(true), "f": features.Bool(false)},
		{"quote\"key": features.String("back\\slash \"q\" \n\r\t \x00\x1f ünï 😀 \u2028"), "": features.String("")},
		{"null": {}},
	}
	for _, p := range tests {
		keys := slices.Sorted(maps.Keys(p))
		b := appendProps(nil, p, keys)
		if !json.Valid(b) {
			t.Errorf("appendProps(%v) = %s, not valid JSON", p, b)
		}
		got, err := parseProps(string(b), nil)
		if err != nil {
			t.Errorf("parseProps(%s): %v", b, err)
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
		if m, err := parseProps(s, nil); err == nil {
			t.Errorf("parseProps(%q) = %v, want an error", s, m)
		}
	}
}

func FuzzParseProps(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":"b","n":-1.5e3,"t":true,"f":false,"z":null}`, `{"\u00e9\n":"\"\\"}`, ` { "a" : 1 } `} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseProps(s, nil)
		if err != nil {
			return
		}
		if !json.Valid([]byte(s)) {
			t.Fatalf("parseProps accepted invalid JSON %q", s)
		}
		b := appendProps(nil, m, slices.Sorted(maps.Keys(m)))
		again, err := parseProps(string(b), nil)
		if err != nil {
			t.Fatalf("parseProps of the re-encoding %s of %q: %v", b, s, err)
		}
		if diff := cmp.Diff(m, again); diff != "" {
			t.Fatalf("re-encoding %s of %q (-first +second):\n%s", b, s, diff)
		}
	})
}
