package pgledger

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// TestAppendString: every valid string without NUL encodes to JSON that
// encoding/json reads back as the same string.
func TestAppendString(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []string{"", `"`, `\`, "\x01\x1f\n\r\t\b\f", "<>&", "\u2028\u2029", "ö🚀", `{"a":[1]}`}
	for range 2000 {
		b := make([]rune, r.IntN(12))
		for i := range b {
			switch r.IntN(4) {
			case 0:
				b[i] = rune(1 + r.IntN(0x7f))
			case 1:
				b[i] = rune(r.IntN(0x800))
			default:
				b[i] = rune(r.IntN(utf8.MaxRune))
			}
			if !utf8.ValidRune(b[i]) || b[i] == 0 {
				b[i] = 'x'
			}
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		enc := appendString(nil, s)
		var got string
		if err := json.Unmarshal(enc, &got); err != nil || got != s {
			t.Fatalf("appendString(%q) = %s, reads back as %q, %v", s, enc, got, err)
		}
	}
}

func TestAppendFloat(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1.5, 0.1 + 0.2, 5e-324, math.MaxFloat64, -math.SmallestNonzeroFloat64,
		1e21, 1e-7, math.NaN(), math.Inf(1), math.Inf(-1)} {
		var got jsonFloat
		enc := appendFloat(nil, f)
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("appendFloat(%v) = %s: %v", f, enc, err)
		}
		if math.Float64bits(float64(got)) != math.Float64bits(f) && !(math.IsNaN(f) && math.IsNaN(float64(got))) {
			t.Errorf("appendFloat(%v) = %s reads back as %v", f, enc, float64(got))
		}
	}
}
