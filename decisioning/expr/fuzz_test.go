package expr

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"pricing_views_24h >= 2",
	"login_trend < 0.5 and since_last_login > 7d",
	"churn > 0.7",
	"revenue_30d > 200 or (purchases_30d >= 3 and not (nba:discount > 0.5))",
	"x / 0 == x / 0 or -x * (y - z) / 2 != 1e-3",
	"(x > 1) == (y > 1) != true",
	"not not (x != x) and since_last_login <= 1h30m",
	"x > 1.5h or y < 500ms or z == 0d",
	"x < y < z",
	"pricing_view_24h > 1",
	"x > 2and",
	"((x > 1)",
	"x > 1) or (",
	"X > 1 AND y",
	"x = 1 && y | z ≥ 2",
	"nba:a:b > nba:",
	"x > 1e999 or .5",
	"",
}

// nonSpace counts the bytes of s that are not spaces, tabs or line breaks.
func nonSpace(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if !isSpace(s[i]) {
			n++
		}
	}
	return n
}

// fuzzVals makes vectors of raw bytes: one of float64s from each 8 bytes
// (any bits, NaN payloads included), and one of special values chosen by
// each byte; their length varies, so that slots may be out of range.
func fuzzVals(raw []byte) [][]float64 {
	var bits, special []float64
	for i := 0; i+8 <= len(raw); i += 8 {
		bits = append(bits, math.Float64frombits(binary.LittleEndian.Uint64(raw[i:])))
	}
	specials := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 2, 3600, 604800, 1e300, -1e300, math.Inf(1), math.Inf(-1), math.NaN()}
	for _, b := range raw {
		special = append(special, specials[int(b)%len(specials)])
	}
	return [][]float64{bits, special, nil}
}

// FuzzCompile checks that Compile never panics and places its errors in
// the source, that the canonical form of what compiles recompiles to the
// same program and is no longer than the source (spaces aside), and that
// Eval and EvalTrace agree and never panic.
func FuzzCompile(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	}
	f.Add(strings.Repeat("(", MaxDepth)+"x > 1"+strings.Repeat(")", MaxDepth), []byte("01234567abcdefgh"))
	f.Fuzz(func(t *testing.T, src string, raw []byte) {
		e, err := Compile(src, testEnv)
		if err != nil {
			var ee *Error
			if !errors.As(err, &ee) {
				t.Fatalf("Compile(%q): error %v is a %T, want *Error", src, err, err)
			}
			if ee.Pos < 0 || ee.Pos > len(src) || ee.Msg == "" {
				t.Fatalf("Compile(%q): error at %d (source of %d bytes): %q", src, ee.Pos, len(src), ee.Msg)
			}
			if e != nil {
				t.Fatalf("Compile(%q) returned both an Expr and an error", src)
			}
			return
		}
		s := e.String()
		if nonSpace(s) > nonSpace(src) {
			t.Errorf("String() = %q is longer than the source %q, spaces aside", s, src)
		}
		checkRoundTrip(t, e)
		e2, err := Compile(s, testEnv)
		if err != nil {
			t.Fatalf("Compile(String() = %q): %v", s, err)
		}
		names := e.Names()
		if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
			t.Errorf("Names() = %q: not sorted and unique", names)
		}
		for _, vals := range fuzzVals(raw) {
			got := e.Eval(vals)
			traced, _ := e.EvalTrace(vals)
			if got != traced {
				t.Errorf("%q on %v: Eval = %v, EvalTrace = %v", src, vals, got, traced)
			}
			if again := e2.Eval(vals); again != got {
				t.Errorf("%q on %v: Eval = %v, but %v for its canonical form %q", src, vals, got, again, s)
			}
		}
	})
}
