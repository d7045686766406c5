package measurement

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// The two samples of Welch's t-test examples on Wikipedia ("Welch's t-test",
// examples 1 and 3); the reference values below are scipy 1.17.1's
// ttest_ind(treatment, control, equal_var=False) and statsmodels 0.15.0's
// CompareMeans(treatment, control).tconfint_diff(usevar="unequal").
var (
	wikiA1 = []float64{27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4}
	wikiA2 = []float64{27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4}
	wikiB1 = []float64{17.2, 20.9, 22.6, 18.1, 21.7, 21.4, 23.5, 24.2, 14.7, 21.8}
	wikiB2 = []float64{21.5, 22.8, 21.0, 23.0, 21.6, 23.6, 22.5, 20.7, 23.4, 21.8, 20.7, 21.7, 21.5, 22.5, 23.6, 21.5, 22.5, 23.5, 21.5, 21.8}
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(want) && math.IsNaN(got) {
		return
	}
	if !(math.Abs(got-want) <= tol) {
		t.Errorf("%s = %.15g, want %.15g (±%g)", what, got, want, tol)
	}
}

func TestSummarize(t *testing.T) {
	s := Summarize(wikiA2)
	near(t, "mean", s.Mean, 22.986666666666665, 1e-12)
	near(t, "sd", s.SD, 1.9526050974702152, 1e-12)
	if s.N != 15 {
		t.Errorf("n = %d, want 15", s.N)
	}
	// 1, 2, 3, 4: mean 2.5, variance (2.25+0.25+0.25+2.25)/3 = 5/3.
	s = Summarize([]float64{1, 2, 3, 4})
	near(t, "mean", s.Mean, 2.5, 0)
	near(t, "var", s.Var(), 5.0/3, 1e-15)
	near(t, "se", s.SE(), math.Sqrt(5.0/3/4), 1e-15)

	for _, tc := range []struct {
		name     string
		values   []float64
		mean, sd float64
	}{
		{"empty", nil, math.NaN(), math.NaN()},
		{"one", []float64{7}, 7, math.NaN()},
		{"constant", []float64{0.1, 0.1, 0.1}, 0.1, 0}, // exactly: no rounding of 0.3/3
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Summarize(tc.values)
			near(t, "mean", s.Mean, tc.mean, 0)
			near(t, "sd", s.SD, tc.sd, 0)
		})
	}
}

func TestWelchMatchesScipy(t *testing.T) {
	for _, tc := range []struct {
		name                string
		treatment, control  []float64
		level               float64
		stat, p, df, lo, hi float64
	}{
		{"example 1, 95%", wikiA2, wikiA1, 0.95, 2.455356398286006, 0.021378001462866992, 24.988529290231416, 0.3492370661924098, 3.984096267140933},
		{"example 1, 90%", wikiA2, wikiA1, 0.90, 2.455356398286006, 0.021378001462866992, 24.988529290231416, 0.6593347835830397, 3.673998549750303},
		{"example 3, unequal sizes", wikiB2, wikiB1, 0.95, 1.5654335235985037, 0.14884169660532817, 9.904741248650831, -0.6484213253751667, 3.698421325375164},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Welch(Summarize(tc.treatment), Summarize(tc.control), tc.level)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "t", c.Stat, tc.stat, 1e-10)
			near(t, "p", c.PValue, tc.p, 1e-10)
			near(t, "df", c.DF, tc.df, 1e-9)
			near(t, "ci lo", c.AbsCI.Lo, tc.lo, 1e-9)
			near(t, "ci hi", c.AbsCI.Hi, tc.hi, 1e-9)
			near(t, "abs lift", c.AbsLift, stat.Mean(tc.treatment, nil)-stat.Mean(tc.control, nil), 1e-12)
		})
	}
}

// TestStudentsTLargeDF checks gonum's t quantile and tail at the degrees of
// freedom of a campaign (tens of thousands) against scipy.stats.t 1.17.1.
func TestStudentsTLargeDF(t *testing.T) {
	d := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: 42000.5}
	// gonum is within about 1e-11 relative here: far inside the 1e-6 the
	// report promises.
	near(t, "t.ppf(0.975, 42000.5)", d.Quantile(0.975), 1.9600204681160418, 1e-10)
	near(t, "2·t.sf(5.5, 42000.5)", 2*d.Survival(5.5), 3.820002142139245e-08, 1e-17)
	near(t, "t.ppf(0.995, 3.3)", distuv.StudentsT{Mu: 0, Sigma: 1, Nu: 3.3}.Quantile(0.995), 5.344306069721078, 1e-10)
}

func TestWelchRelativeLift(t *testing.T) {
	// v_t = v_c = 1/100; Var(r) = 0.01/1 + 2²·0.01/1 = 0.05.
	c, err := Welch(Summary{N: 100, Mean: 2, SD: 1}, Summary{N: 100, Mean: 1, SD: 1}, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	z := 1.959963984540054
	near(t, "rel", c.RelLift, 1, 1e-15)
	near(t, "rel se", c.RelSE, math.Sqrt(0.05), 1e-15)
	near(t, "rel lo", c.RelCI.Lo, 1-z*math.Sqrt(0.05), 1e-12)
	near(t, "rel hi", c.RelCI.Hi, 1+z*math.Sqrt(0.05), 1e-12)
	if c.RelNote != "" {
		t.Errorf("RelNote = %q, want none", c.RelNote)
	}

	// A control mean of 0: the absolute comparison stands, the relative
	// lift is NaN with a reason.
	c, err = Welch(Summary{N: 50, Mean: 0.1, SD: 0.3}, Summary{N: 50, Mean: 0, SD: 0}, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(c.RelLift) || !math.IsNaN(c.RelCI.Lo) || !strings.Contains(c.RelNote, "control") {
		t.Errorf("relative lift against a zero control = %v %v %q; want NaN with a note", c.RelLift, c.RelCI, c.RelNote)
	}
	// One group without variance: df is the other group's n − 1.
	near(t, "df", c.DF, 49, 1e-12)
	near(t, "abs", c.AbsLift, 0.1, 1e-15)
}

func TestWelchErrors(t *testing.T) {
	ok := Summary{N: 10, Mean: 1, SD: 1}
	for _, tc := range []struct {
		name               string
		treatment, control Summary
		level              float64
		is                 error
		mention            string
	}{
		{"empty treatment", Summarize(nil), ok, 0.95, ErrTooFew, "treatment group has 0 units"},
		{"one control", ok, Summarize([]float64{3}), 0.95, ErrTooFew, "control group has 1 units"},
		{"zero variance", Summarize([]float64{0, 0, 0}), Summarize([]float64{0, 0}), 0.95, ErrZeroVariance, "value 0"},
		{"level 95", ok, ok, 95, nil, "between 0 and 1"},
		{"level 0", ok, ok, 0, nil, "between 0 and 1"},
		{"NaN mean", Summary{N: 3, Mean: math.NaN(), SD: 1}, ok, 0.95, nil, "finite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Welch(tc.treatment, tc.control, tc.level)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("Welch = %v; want an error (%v) mentioning %q", err, tc.is, tc.mention)
			}
		})
	}
}

func TestSummarizeRatio(t *testing.T) {
	// y = 1, 2, 3 over x = 1, 1, 2: R = 6/4 = 1.5; s_yy = 1, s_xx = 1/3,
	// s_xy = 1/2, x̄ = 4/3: Var(R) = (1 − 1.5 + 0.75)/(3·16/9) = 3/64.
	r, err := SummarizeRatio([]float64{1, 2, 3}, []float64{1, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "ratio", r.Ratio, 1.5, 1e-15)
	near(t, "se", r.SE, math.Sqrt(3.0/64), 1e-15)
	if r.N != 3 || r.Num != 6 || r.Den != 4 {
		t.Errorf("n, num, den = %d, %v, %v; want 3, 6, 4", r.N, r.Num, r.Den)
	}

	// With x ≡ 1 the ratio is the mean and its SE the mean's.
	r, err = SummarizeRatio(wikiA1, ones(len(wikiA1)))
	if err != nil {
		t.Fatal(err)
	}
	s := Summarize(wikiA1)
	near(t, "ratio of x≡1", r.Ratio, s.Mean, 1e-12)
	near(t, "se of x≡1", r.SE, s.SE(), 1e-12)

	for _, tc := range []struct {
		name    string
		y, x    []float64
		mention string
	}{
		{"lengths", []float64{1, 2}, []float64{1}, "2 numerators but 1 denominators"},
		{"one unit", []float64{1}, []float64{1}, "at least 2"},
		{"zero denominator", []float64{1, 2}, []float64{0, 0}, "sum to 0"},
		{"infinite", []float64{1, math.Inf(1)}, []float64{1, 1}, "finite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := SummarizeRatio(tc.y, tc.x); err == nil || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("SummarizeRatio = %v; want an error mentioning %q", err, tc.mention)
			}
		})
	}
}

func TestCompareRatios(t *testing.T) {
	tr := RatioSummary{N: 400, Num: 300, Den: 100, Ratio: 3, SE: 0.3}
	co := RatioSummary{N: 400, Num: 200, Den: 100, Ratio: 2, SE: 0.4}
	c, err := CompareRatios(tr, co, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	z := 1.959963984540054
	near(t, "abs", c.AbsLift, 1, 1e-15)
	near(t, "se", c.SE, 0.5, 1e-15)
	near(t, "lo", c.AbsCI.Lo, 1-z*0.5, 1e-12)
	near(t, "p", c.PValue, 0.04550026389635842, 1e-12) // 2·(1 − Φ(2))
	near(t, "rel", c.RelLift, 0.5, 1e-15)
	// Var(r) = 0.09/4 + 9·0.16/16 = 0.1125.
	near(t, "rel se", c.RelSE, math.Sqrt(0.1125), 1e-15)
	if !math.IsInf(c.DF, 1) {
		t.Errorf("DF = %v, want +Inf (normal)", c.DF)
	}
	if _, err := CompareRatios(RatioSummary{N: 5, Ratio: 1}, RatioSummary{N: 5, Ratio: 1}, 0.95); !errors.Is(err, ErrZeroVariance) {
		t.Errorf("CompareRatios without variance = %v, want ErrZeroVariance", err)
	}
	if _, err := CompareRatios(RatioSummary{N: 1, Ratio: 1, SE: 1}, co, 0.95); !errors.Is(err, ErrTooFew) {
		t.Errorf("CompareRatios with 1 unit = %v, want ErrTooFew", err)
	}
}

func TestCUPED(t *testing.T) {
	// Hand-sized: θ from the pooled covariance, Y' = Y − θ(X − x̄).
	tr := Sample{Y: []float64{3, 6, 4}, X: []float64{1, 3, 2}}
	co := Sample{Y: []float64{1, 2, 5, 3}, X: []float64{0, 1, 3, 2}}
	a, err := CUPED(tr, co, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	ys := append(append([]float64{}, tr.Y...), co.Y...)
	xs := append(append([]float64{}, tr.X...), co.X...)
	// Pooled within groups: (n−1)-weighted sums of the groups' own
	// covariances and variances.
	cov := 2*stat.Covariance(tr.Y, tr.X, nil) + 3*stat.Covariance(co.Y, co.X, nil)
	varX := 2*stat.Variance(tr.X, nil) + 3*stat.Variance(co.X, nil)
	varY := 2*stat.Variance(tr.Y, nil) + 3*stat.Variance(co.Y, nil)
	theta := cov / varX
	mx := stat.Mean(xs, nil)
	near(t, "theta", a.Theta, theta, 1e-12)
	near(t, "x mean", a.CovariateMean, mx, 1e-15)
	adj := make([]float64, len(ys))
	for i := range ys {
		adj[i] = ys[i] - theta*(xs[i]-mx)
	}
	varAdj := 2*stat.Variance(adj[:3], nil) + 3*stat.Variance(adj[3:], nil)
	near(t, "variance reduction", a.VarianceReduction, 1-varAdj/varY, 1e-12)
	want, _ := Welch(Summarize(adj[:3]), Summarize(adj[3:]), 0.95)
	near(t, "adjusted lift", a.Adjusted.AbsLift, want.AbsLift, 1e-12)
	near(t, "adjusted ci", a.Adjusted.AbsCI.Hi, want.AbsCI.Hi, 1e-12)
	near(t, "se reduction", a.SEReduction, 1-want.SE*want.SE/(a.Unadjusted.SE*a.Unadjusted.SE), 1e-12)

	// A covariate with correlation ρ = 0.8 removes about ρ² = 64% of the
	// variance; the lift (0.5) stays put and its interval shrinks.
	r := rand.New(rand.NewPCG(7, 7))
	gen := func(n int, lift float64) Sample {
		s := Sample{Y: make([]float64, n), X: make([]float64, n)}
		for i := range n {
			x := r.NormFloat64()
			s.X[i] = 10 + x
			s.Y[i] = 5 + lift + 0.8*x + 0.6*r.NormFloat64()
		}
		return s
	}
	a, err = CUPED(gen(20000, 0.5), gen(20000, 0), 0.95)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "theta", a.Theta, 0.8, 0.02)
	near(t, "variance reduction", a.VarianceReduction, 0.64, 0.02)
	near(t, "lift-variance reduction", a.SEReduction, 0.64, 0.03)
	if !a.Adjusted.AbsCI.Contains(0.5) || a.Adjusted.AbsCI.Hi-a.Adjusted.AbsCI.Lo >= a.Unadjusted.AbsCI.Hi-a.Unadjusted.AbsCI.Lo {
		t.Errorf("adjusted CI %v, unadjusted %v; want the adjusted one narrower and containing 0.5", a.Adjusted.AbsCI, a.Unadjusted.AbsCI)
	}

	for _, tc := range []struct {
		name        string
		treat, ctrl Sample
		mention     string
	}{
		{"lengths", Sample{Y: []float64{1, 2}, X: []float64{1}}, co, "2 metric values but 1 covariate"},
		{"too few", Sample{Y: []float64{1}, X: []float64{1}}, co, "at least 2"},
		{"constant covariate", Sample{Y: []float64{1, 2}, X: []float64{4, 4}}, Sample{Y: []float64{3, 5}, X: []float64{4, 4}}, "explains nothing"},
		{"NaN", Sample{Y: []float64{1, math.NaN()}, X: []float64{1, 2}}, co, "finite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := CUPED(tc.treat, tc.ctrl, 0.95); err == nil || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("CUPED = %v; want an error mentioning %q", err, tc.mention)
			}
		})
	}
}

func TestSampleRatio(t *testing.T) {
	// References: scipy.stats.chisquare.
	for _, tc := range []struct {
		name     string
		observed []int
		shares   []float64
		chi2, p  float64
		flagged  bool
	}{
		{"equal, mismatched", []int{821588, 815482}, nil, 22.77436884189436, 1.8217928726191858e-06, true},
		{"three groups", []int{1010, 890, 100}, []float64{0.5, 0.45, 0.05}, 0.2111111111111111, 0.8998244812091836, false},
		{"10% holdout as weights", []int{9100, 900}, []float64{9, 1}, 11.11111111111111, 0.0008581206663936758, true},
		{"balanced", []int{500, 500}, nil, 0, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := SampleRatio(tc.observed, tc.shares)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "chi2", s.Chi2, tc.chi2, 1e-9)
			near(t, "p", s.PValue, tc.p, 1e-12*math.Max(1, tc.p/1e-6))
			if s.Flagged != tc.flagged || s.DF != len(tc.observed)-1 {
				t.Errorf("flagged, df = %v, %d; want %v, %d", s.Flagged, s.DF, tc.flagged, len(tc.observed)-1)
			}
		})
	}
	for _, tc := range []struct {
		name     string
		observed []int
		shares   []float64
		mention  string
	}{
		{"one group", []int{5}, nil, "at least 2 groups"},
		{"shares", []int{5, 5}, []float64{1}, "1 expected shares for 2 groups"},
		{"zero share", []int{5, 5}, []float64{1, 0}, "positive"},
		{"negative", []int{5, -1}, nil, "negative"},
		{"empty", []int{0, 0}, nil, "no units"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := SampleRatio(tc.observed, tc.shares); err == nil || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("SampleRatio = %v; want an error mentioning %q", err, tc.mention)
			}
		})
	}
}

func TestAlwaysValid(t *testing.T) {
	// s² = 0.01 + 0.01 = 0.02, τ² = 0.04: half-width² =
	// 0.02·0.06/0.04·log(0.06/(0.0025·0.02)) = 0.03·log(1200).
	tr, co := Summary{N: 100, Mean: 1.3, SD: 1}, Summary{N: 100, Mean: 1, SD: 1}
	s, err := AlwaysValid(tr, co, 0.95, 0.2)
	if err != nil {
		t.Fatal(err)
	}
	half := math.Sqrt(0.03 * math.Log(1200))
	near(t, "lo", s.CI.Lo, 0.3-half, 1e-12)
	near(t, "hi", s.CI.Hi, 0.3+half, 1e-12)
	// Λ(0) = √(0.02/0.06)·exp(0.04·0.09/(2·0.02·0.06)) = √(1/3)·e^1.5.
	near(t, "p", s.PValue, 1/(math.Sqrt(1.0/3)*math.Exp(1.5)), 1e-12)
	// The p-value crosses α exactly where the interval's end crosses 0.
	edge := Summary{N: 100, Mean: 1 + half, SD: 1}
	if s, err := AlwaysValid(edge, co, 0.95, 0.2); err != nil || math.Abs(s.PValue-0.05) > 1e-9 || math.Abs(s.CI.Lo) > 1e-12 {
		t.Errorf("at the boundary: p = %v, lo = %v (%v); want 0.05 and 0", s.PValue, s.CI.Lo, err)
	}

	// Wider than the fixed-horizon interval, and containing it, at large n.
	for _, n := range []int{1000, 100000, 10000000} {
		for _, tau := range []float64{1e-4, 0.01, 1} {
			tr, co := Summary{N: n, Mean: 0.0125, SD: 0.111}, Summary{N: n / 9, Mean: 0.0057, SD: 0.075}
			seq, err := AlwaysValid(tr, co, 0.95, tau)
			if err != nil {
				t.Fatal(err)
			}
			fixed, _ := Welch(tr, co, 0.95)
			if !(seq.CI.Lo < fixed.AbsCI.Lo && fixed.AbsCI.Hi < seq.CI.Hi) {
				t.Errorf("n %d, τ %g: always-valid %v does not contain the fixed %v", n, tau, seq.CI, fixed.AbsCI)
			}
		}
	}

	for _, tc := range []struct {
		name               string
		treatment, control Summary
		level, tau         float64
		mention            string
	}{
		{"tau 0", tr, co, 0.95, 0, "tau"},
		{"level", tr, co, 1, 0.1, "between 0 and 1"},
		{"too few", Summary{N: 1, Mean: 1}, co, 0.95, 0.1, "at least 2"},
		{"zero variance", Summary{N: 3, Mean: 1}, Summary{N: 3, Mean: 1}, 0.95, 0.1, "zero variance"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := AlwaysValid(tc.treatment, tc.control, tc.level, tc.tau); err == nil || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("AlwaysValid = %v; want an error mentioning %q", err, tc.mention)
			}
		})
	}
}

func TestTauForSE(t *testing.T) {
	const se = 0.003
	tau := TauForSE(se, 0.95)
	u := tau * tau / (se * se)
	near(t, "u* = 2·log(20) + log(1+u*)", u, 2*math.Log(20)+math.Log1p(u), 1e-9)
	near(t, "u*", u, 8.2, 0.1)
	// The interval at standard error se is narrowest at τ.
	width := func(tau float64) float64 {
		s, err := AlwaysValid(Summary{N: 2, Mean: 0, SD: se}, Summary{N: 2, Mean: 0, SD: se}, 0.95, tau)
		if err != nil {
			t.Fatal(err)
		}
		return s.CI.Hi - s.CI.Lo
	}
	for _, k := range []float64{0.8, 0.95, 1.05, 1.25} {
		if width(k*tau) <= width(tau) {
			t.Errorf("width at %g·τ = %g ≤ width at τ = %g", k, width(k*tau), width(tau))
		}
	}
	// At its τ the interval is √(1+u*) ≈ 3.0 standard errors each side.
	near(t, "half-width in SEs", width(tau)/2/se, math.Sqrt(1+u), 1e-9)
	for _, bad := range []float64{0, -1, math.Inf(1), math.NaN()} {
		if !math.IsNaN(TauForSE(bad, 0.95)) {
			t.Errorf("TauForSE(%v) = %v, want NaN", bad, TauForSE(bad, 0.95))
		}
	}
}

// TestAlwaysValidPeeking simulates A/A experiments read after every 100
// units up to 20,000: the always-valid interval must exclude 0 at some
// read in at most about α of them, while the fixed-horizon interval, read
// the same way, does so far more often.
func TestAlwaysValidPeeking(t *testing.T) {
	const (
		experiments = 200
		units       = 20000
		every       = 100
		alpha       = 0.05
	)
	for _, tc := range []struct {
		name string
		sd   float64 // known from "past campaigns": sets τ
		draw func(r *rand.Rand) float64
	}{
		{"normal", 1, func(r *rand.Rand) float64 { return r.NormFloat64() }},
		{"conversion 20%", 0.4, func(r *rand.Rand) float64 {
			if r.Float64() < 0.2 {
				return 1
			}
			return 0
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// τ tuned to the planned end: units/2 per group.
			tau := TauForSE(tc.sd*math.Sqrt(2/(units/2.0)), 1-alpha)
			z := distuv.UnitNormal.Quantile(1 - alpha/2)
			r := rand.New(rand.NewPCG(2026, uint64(len(tc.name))))
			var seqHits, fixedHits int
			for range experiments {
				var n [2]int
				var sum, sumsq [2]float64
				seqHit, fixedHit := false, false
				for i := 1; i <= units; i++ {
					g, y := i%2, tc.draw(r)
					n[g]++
					sum[g] += y
					sumsq[g] += y * y
					if i%every != 0 {
						continue
					}
					var s [2]Summary
					for g := range 2 {
						m := sum[g] / float64(n[g])
						v := math.Max(0, (sumsq[g]-float64(n[g])*m*m)/float64(n[g]-1))
						s[g] = Summary{N: n[g], Mean: m, SD: math.Sqrt(v)}
					}
					if seq, err := AlwaysValid(s[1], s[0], 1-alpha, tau); err == nil && !seq.CI.Contains(0) {
						seqHit = true
					}
					// The fixed-horizon interval, with the normal quantile
					// (df ≥ 98 here; Welch's t quantile costs 20 µs a read).
					if se := math.Hypot(s[1].SE(), s[0].SE()); math.Abs(s[1].Mean-s[0].Mean) > z*se {
						fixedHit = true
					}
				}
				if seqHit {
					seqHits++
				}
				if fixedHit {
					fixedHits++
				}
			}
			seqRate, fixedRate := float64(seqHits)/experiments, float64(fixedHits)/experiments
			t.Logf("false positives with a read every %d units up to %d: always-valid %.1f%%, fixed-horizon %.1f%% (α = %g)", every, units, 100*seqRate, 100*fixedRate, alpha)
			// α plus about two Monte Carlo standard errors (√(0.05·0.95/200) ≈ 1.5%).
			if seqRate > 0.08 {
				t.Errorf("the always-valid interval excluded a true zero in %.1f%% of %d A/A experiments; want at most about %g", 100*seqRate, experiments, alpha)
			}
			if fixedRate < 2*alpha {
				t.Errorf("the fixed-horizon interval, peeked at, excluded zero in only %.1f%%; the simulation should show its inflation", 100*fixedRate)
			}
		})
	}
}

func TestIncrementalAndROI(t *testing.T) {
	c := Comparison{AbsLift: 0.5, AbsCI: Interval{0.2, 0.8}}
	inc := IncrementalOf(c, 1000)
	if inc.Value != 500 || inc.CI != (Interval{200, 800}) {
		t.Errorf("IncrementalOf = %+v, want 500 [200, 800]", inc)
	}
	roi, ci, err := ROI(inc, 400)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "roi", roi, 0.25, 1e-15)
	if ci != (Interval{-0.5, 1}) {
		t.Errorf("ROI interval = %v, want [-0.5, 1]", ci)
	}
	for _, cost := range []float64{0, -1, math.Inf(1), math.NaN()} {
		if _, _, err := ROI(inc, cost); err == nil {
			t.Errorf("ROI with cost %v: no error", cost)
		}
	}
}

func ones(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = 1
	}
	return s
}
