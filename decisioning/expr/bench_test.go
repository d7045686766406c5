package expr

import (
	"testing"

	"kairos/features"
)

var benchExprs = []struct{ name, src string }{
	{"simple", "pricing_views_24h >= 2"},
	{"and", "login_trend < 0.5 and since_last_login > 7d"},
	{"mixed", "revenue_30d > 200 or (purchases_30d >= 3 and not (nba:discount > 0.5))"},
	{"arith", "revenue_30d / purchases_30d > 50 and revenue_30d - 2 * purchases_30d * 10 >= 100"},
}

var sink bool

// BenchmarkEval evaluates triggers on a full feature vector of the
// built-in set plus scores; it must allocate nothing.
func BenchmarkEval(b *testing.B) {
	env := Features(features.Default(), "churn", "propensity", "nba:discount")
	vals := make([]float64, len(env))
	for i := range vals {
		vals[i] = float64(i % 7)
	}
	vals[len(vals)-1] = 0.3
	for _, bb := range benchExprs {
		e, err := Compile(bb.src, env)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink = e.Eval(vals)
			}
		})
	}
}

// BenchmarkEvalDeep evaluates an expression whose stack needs the large
// array (a cost of zeroing it on every call).
func BenchmarkEvalDeep(b *testing.B) {
	e := mustCompile(b, "x < x + x * (x + x * (x + x * (x + x * (x + x * (x + x * (x + x * (x + x * x)))))))")
	vals := vec(map[string]float64{"x": 1})
	b.ReportAllocs()
	for b.Loop() {
		sink = e.Eval(vals)
	}
}

func BenchmarkCompile(b *testing.B) {
	env := Features(features.Default(), "churn", "propensity", "nba:discount")
	for _, bb := range benchExprs {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compile(bb.src, env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestEvalAllocs(t *testing.T) {
	vals := vec(map[string]float64{"x": 1, "revenue_30d": 300})
	for _, src := range []string{benchExprs[2].src, "x < x + x * (x + x * (x + x * (x + x * (x + x * (x + x * (x + x * (x + x * x)))))))"} {
		e := mustCompile(t, src)
		if n := testing.AllocsPerRun(100, func() { sink = e.Eval(vals) }); n != 0 {
			t.Errorf("Eval(%q) allocates %v times, want 0", src, n)
		}
	}
}
