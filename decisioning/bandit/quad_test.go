package bandit

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/integrate/quad"
	"gonum.org/v1/gonum/stat/distuv"
)

func TestGaussLegendre(t *testing.T) {
	// The nodes integrate polynomials up to degree 15 exactly.
	for deg := range 16 {
		got := 0.0
		for k, x := range glX {
			got += glW[k] * math.Pow(x, float64(deg))
		}
		want := 0.0
		if deg%2 == 0 {
			want = 2 / float64(deg+1)
		}
		if math.Abs(got-want) > 1e-14 {
			t.Errorf("∫ x^%d over [-1, 1] = %v, want %v", deg, got, want)
		}
	}
	// And agree with gonum's.
	x, w := make([]float64, 8), make([]float64, 8)
	quad.Legendre{}.FixedLocations(x, w, -1, 1)
	slices.Reverse(x) // gonum's run from 1 to -1
	slices.Reverse(w)
	for k := range x {
		if math.Abs(x[k]-glX[k]) > 1e-14 || math.Abs(w[k]-glW[k]) > 1e-14 {
			t.Errorf("node %d: (%v, %v), gonum (%v, %v)", k, glX[k], glW[k], x[k], w[k])
		}
	}
}

// refMaxProbs is an independent reference for maxProbs: each continuous
// arm's integral ∫ pdf_i Π Φ_j by adaptive Simpson with an absolute
// tolerance of 1e-13, over its own mean ± 12 deviations split at every
// arm's mean ± {0, 1, 3, 7} deviations; point masses (s = 0 only) exactly.
func refMaxProbs(m, s []float64) []float64 {
	n := len(m)
	out := make([]float64, n)
	top := math.Inf(-1)
	for j := range n {
		if s[j] == 0 {
			top = max(top, m[j])
		}
	}
	cdf := func(j int, y float64) float64 {
		if s[j] == 0 {
			if y > m[j] {
				return 1
			}
			return 0
		}
		return distuv.UnitNormal.CDF((y - m[j]) / s[j])
	}
	if !math.IsInf(top, -1) {
		ties := 0.0
		for j := range n {
			if s[j] == 0 && m[j] == top {
				ties++
			}
		}
		mass := 1.0
		for j := range n {
			if s[j] > 0 {
				mass *= cdf(j, top)
			}
		}
		for j := range n {
			if s[j] == 0 && m[j] == top {
				out[j] = mass / ties
			}
		}
	}
	for i := range n {
		if s[i] == 0 {
			continue
		}
		f := func(y float64) float64 {
			v := distuv.Normal{Mu: m[i], Sigma: s[i]}.Prob(y)
			for j := range n {
				if j != i {
					v *= cdf(j, y)
				}
			}
			return v
		}
		lo, hi := max(m[i]-12*s[i], top), m[i]+12*s[i]
		cuts := []float64{lo, hi}
		for j := range n {
			for _, k := range []float64{-7, -3, -1, 0, 1, 3, 7} {
				if c := m[j] + k*s[j]; c > lo && c < hi {
					cuts = append(cuts, c)
				}
			}
		}
		slices.Sort(cuts)
		for k := 1; k < len(cuts); k++ {
			out[i] += adaptiveSimpson(f, cuts[k-1], cuts[k], 1e-13/float64(len(cuts)), 50)
		}
	}
	return out
}

func adaptiveSimpson(f func(float64) float64, a, b, tol float64, depth int) float64 {
	fa, fm, fb := f(a), f((a+b)/2), f(b)
	return simpsonStep(f, a, b, fa, fm, fb, (b-a)/6*(fa+4*fm+fb), tol, depth)
}

func simpsonStep(f func(float64) float64, a, b, fa, fm, fb, whole, tol float64, depth int) float64 {
	m := (a + b) / 2
	lm, rm := (a+m)/2, (m+b)/2
	flm, frm := f(lm), f(rm)
	left := (m - a) / 6 * (fa + 4*flm + fm)
	right := (b - m) / 6 * (fm + 4*frm + fb)
	if depth <= 0 || math.Abs(left+right-whole) <= 15*tol {
		return left + right + (left+right-whole)/15
	}
	return simpsonStep(f, a, m, fa, flm, fm, left, tol/2, depth-1) +
		simpsonStep(f, m, b, fm, frm, fb, right, tol/2, depth-1)
}

// TestMaxProbsReference checks the quadrature against the adaptive
// reference over random cases: deviations over six orders of magnitude,
// means from overlapping to far apart, point masses and ties.
func TestMaxProbsReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := [][2][]float64{
		{{0, 0}, {1, 1}},
		{{0, 0.1, -0.2, 0.05, 0}, {1, 1, 1, 1, 1}},
		{{0, 0}, {1e-6, 1}},
		{{0, 0.5}, {1e3, 1e-3}},
		{{1, 1, 0.5}, {0, 0, 1}},   // tied point masses above a normal
		{{-1, -1, 0.5}, {0, 0, 1}}, // tied point masses below a normal
		{{3, 2, 1}, {0, 0, 0}},     // point masses only
		{{0, 40, -40}, {1, 1, 1}},  // no overlap
		{{0, 1e-3, 2e-3}, {1e-4, 1e-3, 1e-2}},
	}
	for range 250 {
		n := 2 + rng.IntN(7)
		m, s := make([]float64, n), make([]float64, n)
		spread := math.Pow(10, rng.Float64()*3-2)
		for j := range n {
			s[j] = math.Pow(10, rng.Float64()*6-4)
			if rng.IntN(12) == 0 {
				s[j] = 0
			}
			m[j] = rng.NormFloat64() * spread
		}
		cases = append(cases, [2][]float64{m, s})
	}
	worst := 0.0
	for _, c := range cases {
		m, s := c[0], c[1]
		got := make([]float64, len(m))
		maxProbs(got, m, s)
		want := refMaxProbs(m, s)
		sum := 0.0
		for i := range want {
			sum += want[i]
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Fatalf("reference for m=%v s=%v sums to %v", m, s, sum)
		}
		for i := range got {
			if d := math.Abs(got[i] - want[i]); d > worst {
				worst = d
			}
			if d := math.Abs(got[i] - want[i]); d > 1e-8 {
				t.Errorf("m=%v s=%v: P[%d] = %.12f, reference %.12f (error %.2g)", m, s, i, got[i], want[i], d)
			}
		}
	}
	t.Logf("largest error over %d cases: %.2g", len(cases), worst)
}

func TestNormCDFPDF(t *testing.T) {
	worstC, worstP := 0.0, 0.0
	for z := -9.0; z <= 9; z += 1.0 / 1024 / 3 {
		c, p := normCDFPDF(z)
		worstC = max(worstC, math.Abs(c-distuv.UnitNormal.CDF(z)))
		worstP = max(worstP, math.Abs(p-distuv.UnitNormal.Prob(z)))
	}
	t.Logf("largest error: Φ %.2g, φ %.2g", worstC, worstP)
	if worstC > 2e-10 || worstP > 2e-10 {
		t.Errorf("largest error: Φ %.2g, φ %.2g; want <= 2e-10", worstC, worstP)
	}
}
