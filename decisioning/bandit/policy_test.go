package bandit

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"gonum.org/v1/gonum/integrate/quad"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// learned returns a state of cfg fed with n random observations.
func learned(t testing.TB, cfg Config, seed uint64, n int) *State {
	t.Helper()
	s := mustNew(t, cfg)
	feed(t, s, rand.New(rand.NewPCG(seed, seed)), n)
	return s
}

func TestProbabilitiesInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, base := range []Config{thompsonConfig(), linearConfig()} {
		for trial := range 20 {
			cfg := base
			cfg.Arms = 1 + rng.IntN(6)
			cfg.Costs = make([]float64, cfg.Arms)
			for i := range cfg.Costs {
				cfg.Costs[i] = 5 * rng.Float64()
			}
			cfg.None = rng.IntN(cfg.Arms+1) - 1
			cfg.Epsilon = []float64{0, 0.05, 0.3}[trial%3]
			cfg.UnitValue = trial%2 == 0
			s := learned(t, cfg, uint64(trial), rng.IntN(400))
			p := s.Policy(cfg)
			for range 10 {
				eligible := rng.Uint64() & (1<<cfg.Arms - 1)
				if eligible == 0 {
					eligible = 1 << rng.IntN(cfg.Arms)
				}
				x := []float64{rng.NormFloat64(), rng.NormFloat64()}
				seg := rng.IntN(2)
				dst := make([]float64, cfg.Arms+1)
				dst[cfg.Arms] = -7 // beyond Arms: left alone
				got, err := p.Probabilities(dst, seg, x, eligible)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != cfg.Arms || &got[0] != &dst[0] || dst[cfg.Arms] != -7 {
					t.Fatalf("Probabilities did not write into dst[:Arms]")
				}
				ke := float64(bits.OnesCount64(eligible))
				sum := 0.0
				for i, q := range got {
					sum += q
					switch {
					case eligible>>i&1 == 0 && q != 0:
						t.Fatalf("%s: ineligible arm %d has probability %v", cfg.Kind, i, q)
					case eligible>>i&1 == 1 && q < cfg.Epsilon/ke-1e-15:
						t.Fatalf("%s: arm %d has probability %v below the floor %v", cfg.Kind, i, q, cfg.Epsilon/ke)
					}
				}
				if math.Abs(sum-1) > 1e-12 {
					t.Fatalf("%s: probabilities %v sum to %v", cfg.Kind, got, sum)
				}
				arm, prop, _, err := p.Choose(dst, seg, x, eligible, rng.Float64())
				if err != nil || eligible>>arm&1 == 0 || prop != dst[arm] || prop <= 0 {
					t.Fatalf("Choose = %d, %v, %v with probabilities %v", arm, prop, err, dst[:cfg.Arms])
				}
			}
		}
	}
}

func TestProbabilitiesErrors(t *testing.T) {
	th := learned(t, thompsonConfig(), 1, 50).Policy(thompsonConfig())
	lin := learned(t, linearConfig(), 1, 50).Policy(linearConfig())
	other := linearConfig()
	other.Dim = 3
	incompatible := learned(t, linearConfig(), 1, 5).Policy(other)
	x := []float64{0.1, 0.2}
	for _, tc := range []struct {
		name     string
		p        *Policy
		dst      []float64
		segment  int
		x        []float64
		eligible uint64
		u        float64
		want     string
	}{
		{"no eligible arm", th, nil, 0, nil, 0, 0.5, "bandit: eligible: no arm is eligible"},
		{"bit beyond the arms", th, nil, 0, nil, 0b100101, 0.5, "bandit: eligible: bit 5 is set, but there are only 3 arms"},
		{"segment too large", th, nil, 2, nil, 0b11, 0.5, "bandit: segment: must be in [0, 2), got 2"},
		{"negative segment", th, nil, -1, nil, 0b11, 0.5, "bandit: segment: must be in [0, 2), got -1"},
		{"short context", lin, nil, 0, []float64{1}, 0b11, 0.5, "bandit: context: must have Dim (2) values, got 1"},
		{"infinite context", lin, nil, 0, []float64{math.Inf(1), 0}, 0b11, 0.5, "bandit: context[0]: must be finite"},
		{"short dst", lin, make([]float64, 2), 0, x, 0b11, 0.5, "bandit: dst: must have at least Arms (3) elements, got 2"},
		{"u = 1", th, nil, 0, nil, 0b11, 1, "bandit: u: must be in [0, 1), got 1"},
		{"negative u", lin, nil, 0, x, 0b11, -0.25, "bandit: u: must be in [0, 1), got -0.25"},
		{"NaN u", lin, nil, 0, x, 0b11, math.NaN(), "bandit: u: must be in [0, 1), got NaN"},
		{"incompatible config", incompatible, nil, 0, x, 0b11, 0.5,
			"bandit: Config (linear_thompson, 3 arms, dim 3) is not compatible with the State (linear_thompson, 3 arms, dim 2)"},
		{"nil policy", nil, nil, 0, x, 0b11, 0.5, "bandit: nil Policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sentinel := func() []float64 {
				if tc.dst != nil {
					return tc.dst
				}
				return []float64{-7, -7, -7}
			}
			dst := sentinel()
			if tc.u >= 0 && tc.u < 1 { // otherwise only Choose fails
				_, err := tc.p.Probabilities(dst, tc.segment, tc.x, tc.eligible)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Probabilities = %v, want an error containing %q", err, tc.want)
				}
			}
			arm, _, _, err := tc.p.Choose(dst, tc.segment, tc.x, tc.eligible, tc.u)
			if err == nil || !strings.Contains(err.Error(), tc.want) || arm != -1 {
				t.Errorf("Choose = %d, %v, want -1 and an error containing %q", arm, err, tc.want)
			}
			if tc.dst == nil && !slices.Equal(dst, []float64{-7, -7, -7}) {
				t.Errorf("a failed call wrote %v into dst", dst)
			}
		})
	}
	for _, tc := range []struct {
		name         string
		p            *Policy
		arm, segment int
		x            []float64
	}{
		{"arm too large", th, 3, 0, nil}, {"segment", th, 0, 5, nil}, {"context", lin, 0, 0, nil},
		{"incompatible", incompatible, 0, 0, x}, {"nil", nil, 0, 0, x},
	} {
		if v := tc.p.ExpectedValue(tc.arm, tc.segment, tc.x); !math.IsNaN(v) {
			t.Errorf("ExpectedValue(%s) = %v, want NaN", tc.name, v)
		}
	}
	var nilState *State
	if _, err := nilState.Policy(thompsonConfig()).Probabilities(nil, 0, nil, 1); err == nil || !strings.Contains(err.Error(), "nil State") {
		t.Errorf("nil State's Policy: %v", err)
	}
}

// TestChooseMatchesProbabilities draws many arms with uniform u from a
// fixed seed and checks their frequencies against Probabilities (χ² test
// at the 0.1% level), and that a grid of u reproduces them to 1/n.
func TestChooseMatchesProbabilities(t *testing.T) {
	for _, cfg := range []Config{thompsonConfig(), linearConfig()} {
		cfg.Arms, cfg.Costs, cfg.None = 5, []float64{0.3, 0.1, 0.2, 0, 0.05}, 3
		s := learned(t, cfg, 21, 400)
		p := s.Policy(cfg)
		x := []float64{0.5, -0.5}
		const eligible = 0b11011
		probs, err := p.Probabilities(nil, 1, x, eligible)
		if err != nil {
			t.Fatal(err)
		}
		const n = 60_000
		rng := rand.New(rand.NewPCG(5, 5))
		counts := make([]float64, cfg.Arms)
		dst := make([]float64, cfg.Arms)
		for range n {
			arm, prop, value, err := p.Choose(dst, 1, x, eligible, rng.Float64())
			if err != nil {
				t.Fatal(err)
			}
			if prop != probs[arm] {
				t.Fatalf("propensity %v, probability %v", prop, probs[arm])
			}
			if want := p.ExpectedValue(arm, 1, x) - p.ExpectedValue(3, 1, x); value != want {
				t.Fatalf("value %v, want %v", value, want)
			}
			counts[arm]++
		}
		chi2, df := 0.0, -1.0
		for i, q := range probs {
			if q == 0 {
				if counts[i] != 0 {
					t.Fatalf("%s: arm %d has probability 0 and was chosen %v times", cfg.Kind, i, counts[i])
				}
				continue
			}
			chi2 += (counts[i] - n*q) * (counts[i] - n*q) / (n * q)
			df++
		}
		crit := distuv.ChiSquared{K: df}.Quantile(0.999)
		t.Logf("%s: probabilities %.4f, χ² = %.2f (df %v, critical %.2f)", cfg.Kind, probs, chi2, df, crit)
		if chi2 > crit {
			t.Errorf("%s: χ² = %.2f > %.2f: counts %v do not match probabilities %v", cfg.Kind, chi2, crit, counts, probs)
		}

		// Inverting the cumulative sum: a grid of u gives every arm
		// exactly its share, to one grid step.
		const grid = 10_000
		clear(counts)
		for k := range grid {
			arm, _, _, _ := p.Choose(dst, 1, x, eligible, (float64(k)+0.5)/grid)
			counts[arm]++
		}
		for i, q := range probs {
			if math.Abs(counts[i]/grid-q) > 1.0/grid {
				t.Errorf("%s: arm %d: share %v of the grid, probability %v", cfg.Kind, i, counts[i]/grid, q)
			}
		}
		// The top of [0, 1) picks the last eligible arm.
		if arm, _, _, _ := p.Choose(dst, 1, x, eligible, math.Nextafter(1, 0)); arm != 4 {
			t.Errorf("%s: Choose(u → 1) = %d, want 4", cfg.Kind, arm)
		}
	}
}

// TestThompsonTwoArmsExact checks the Monte Carlo probability against
// P(θ₁v₁ − c₁ > θ₂v₂ − c₂) = ∫ f₁(x) F₂((x v₁ − c₁ + c₂)/v₂) dx, integrated
// numerically from gonum's Beta density and distribution function.
func TestThompsonTwoArmsExact(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		s1, f1, s2, f2, c1, c2  float64
		valueSum1, valueWeight1 float64 // arm 0's learned value, 0: unit
		valueSum2, valueWeight2 float64
		unit                    bool
	}{
		{name: "few observations", s1: 12, f1: 30, s2: 8, f2: 31, c1: 0.05, unit: true},
		{name: "many observations", s1: 120, f1: 880, s2: 100, f2: 900, c1: 0.012, unit: true},
		{name: "prior only", c2: 0.1, unit: true},
		{name: "learned values", s1: 20, f1: 80, s2: 30, f2: 70, c1: 0.1, valueSum1: 40, valueWeight1: 20, valueSum2: 30, valueWeight2: 30},
		{name: "discounted fractions", s1: 3.25, f1: 10.5, s2: 2.125, f2: 13.75, c2: 0.02, unit: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Kind: Thompson, Arms: 2, Costs: []float64{tc.c1, tc.c2}, None: 1, Segments: 2, UnitValue: tc.unit}
			s := mustNew(t, cfg)
			// Segment 1 holds the case; segment 0 something else.
			s.Successes = []float64{50, 1, tc.s1, tc.s2}
			s.Failures = []float64{1, 50, tc.f1, tc.f2}
			s.ValueSum = []float64{tc.valueSum1, tc.valueSum2}
			s.ValueWeight = []float64{tc.valueWeight1, tc.valueWeight2}
			s.Updates = 10_000 // at least the observations the counts hold
			v1, v2 := 1.0, 1.0
			if !tc.unit {
				v1, v2 = tc.valueSum1/tc.valueWeight1, tc.valueSum2/tc.valueWeight2
			}
			b1 := distuv.Beta{Alpha: 1 + tc.s1, Beta: 1 + tc.f1}
			b2 := distuv.Beta{Alpha: 1 + tc.s2, Beta: 1 + tc.f2}
			exact := quad.Fixed(func(x float64) float64 {
				return b1.Prob(x) * b2.CDF((x*v1-tc.c1+tc.c2)/v2)
			}, 0, 1, 4000, nil, 0)

			got, err := s.Policy(cfg).Probabilities(nil, 1, nil, 0b11)
			if err != nil {
				t.Fatal(err)
			}
			se := math.Sqrt(exact * (1 - exact) / draws)
			t.Logf("P(arm 0) = %.4f, exact %.4f (standard error %.4f)", got[0], exact, se)
			if math.Abs(got[0]-exact) > 4*se+1e-9 {
				t.Errorf("P(arm 0) = %.4f, exact %.4f: more than 4 standard errors (%.4f) apart", got[0], exact, se)
			}
			if math.Abs(got[0]+got[1]-1) > 1e-12 {
				t.Errorf("probabilities %v do not sum to 1", got)
			}
		})
	}
}

func TestThompsonDeterministicAndCached(t *testing.T) {
	cfg := thompsonConfig()
	cfg.Epsilon = 0
	s := learned(t, cfg, 31, 200)
	p1, p2, p3 := s.Policy(cfg), s.Policy(cfg), s.Clone().Policy(cfg)
	a, _ := p1.Probabilities(nil, 1, nil, 0b111)
	b, _ := p2.Probabilities(nil, 1, nil, 0b111)
	c, _ := p3.Probabilities(nil, 1, nil, 0b111)
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(a, c) {
		t.Fatalf("the same state gives %v, %v, %v", a, b, c)
	}
	// Cached: the same vector again, shared, not recomputed.
	if again := p1.thompson(1, 0b111); &again[0] != &p1.thompson(1, 0b111)[0] {
		t.Error("the Thompson vector was recomputed")
	}
	// A subset of arms is a different vector.
	d, _ := p1.Probabilities(nil, 1, nil, 0b011)
	if d[2] != 0 || math.Abs(d[0]+d[1]-1) > 1e-12 {
		t.Errorf("subset probabilities %v", d)
	}

	// At most maxCached vectors are kept; the others are still right.
	big := Config{Kind: Thompson, Arms: 1, Costs: []float64{0}, None: -1, Segments: maxCached + 50}
	bp := mustNew(t, big).Policy(big)
	for seg := range big.Segments {
		if q, err := bp.Probabilities(nil, seg, nil, 1); err != nil || q[0] != 1 {
			t.Fatalf("segment %d: %v %v", seg, q, err)
		}
	}
	if n := len(*bp.cache.Load()); n != maxCached {
		t.Errorf("cache holds %d vectors, want %d", n, maxCached)
	}
}

func TestPolicyConcurrent(t *testing.T) {
	cfg := thompsonConfig()
	cfg.Arms, cfg.Costs = 4, []float64{0.1, 0.2, 0.05, 0}
	s := learned(t, cfg, 41, 300)
	lcfg := linearConfig()
	ls := learned(t, lcfg, 41, 300)
	want := map[[2]int][]float64{}
	ref := s.Policy(cfg)
	for seg := range 2 {
		for mask := 1; mask < 16; mask++ {
			want[[2]int{seg, mask}], _ = ref.Probabilities(nil, seg, nil, uint64(mask))
		}
	}
	p, lp := s.Policy(cfg), ls.Policy(lcfg)
	lwant, _ := lp.Probabilities(nil, 0, []float64{1, 2}, 0b111)
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for g := range 8 {
		wg.Go(func() {
			dst := make([]float64, 4)
			for k := range 200 {
				seg, mask := (g+k)%2, 1+(g*7+k)%15
				got, err := p.Probabilities(dst, seg, nil, uint64(mask))
				if err != nil || !slices.Equal(got, want[[2]int{seg, mask}]) {
					errs <- "thompson differs"
					return
				}
				if _, _, _, err := p.Choose(dst, seg, nil, uint64(mask), 0.5); err != nil {
					errs <- err.Error()
					return
				}
				lgot, err := lp.Probabilities(dst[:3], 0, []float64{1, 2}, 0b111)
				if err != nil || !slices.Equal(lgot, lwant) {
					errs <- "linear differs"
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestNoneWinsWhenMessagingDoesNotPay(t *testing.T) {
	// A message lifts conversion from 10% to 12%.
	for _, tc := range []struct {
		cost     float64
		wantNone bool
	}{{0.1, true}, {0.001, false}} {
		cfg := Config{Kind: Thompson, Arms: 2, Costs: []float64{tc.cost, 0}, None: 1, Segments: 1, UnitValue: true}
		s := mustNew(t, cfg)
		s.Successes, s.Failures, s.Updates = []float64{1200, 1000}, []float64{8800, 9000}, 20_000
		p := s.Policy(cfg)
		probs, err := p.Probabilities(nil, 0, nil, 0b11)
		if err != nil {
			t.Fatal(err)
		}
		if got := probs[1] > 0.99; got != tc.wantNone {
			t.Errorf("cost %v: P(none) = %v", tc.cost, probs[1])
		}
		// The incremental value says the same.
		_, _, value, _ := p.Choose(nil, 0, nil, 0b01, 0)
		if want := 1201.0/10002 - tc.cost - 1001.0/10002; math.Abs(value-want) > 1e-15 {
			t.Errorf("cost %v: incremental value %v, want %v", tc.cost, value, want)
		}
	}
}

func TestExpectedValue(t *testing.T) {
	cfg := Config{Kind: Thompson, Arms: 3, Costs: []float64{0.5, 0.25, 0}, None: 2, Segments: 1}
	s := mustNew(t, cfg)
	ev := func(arm int) float64 { return s.Policy(cfg).ExpectedValue(arm, 0, nil) }
	// No conversion values at all: a conversion is worth 1.
	if got := ev(0); got != 0.5-0.5 {
		t.Errorf("prior EV = %v, want 0", got)
	}
	obs := []Observation{
		{Arm: 0, Converted: true, Value: 10}, {Arm: 0, Converted: true, Value: 20}, {Arm: 0},
		{Arm: 2, Converted: true, Value: 30}, {Arm: 1, Value: 1000}, // a non-conversion's value is ignored
	}
	for _, o := range obs {
		if err := s.Update(o); err != nil {
			t.Fatal(err)
		}
	}
	// Arm 0: θ = (1+2)/(2+3), value 15; arm 1 falls back to the mean over
	// all arms, 60/3; arm 2: value 30.
	for arm, want := range []float64{3.0/5*15 - 0.5, 1.0/3*20 - 0.25, 2.0 / 3 * 30} {
		if got := ev(arm); math.Abs(got-want) > 1e-12 {
			t.Errorf("EV(%d) = %v, want %v", arm, got, want)
		}
	}
	// UnitValue ignores the learned values.
	unit := cfg
	unit.UnitValue = true
	if got, want := s.Policy(unit).ExpectedValue(0, 0, nil), 3.0/5-0.5; math.Abs(got-want) > 1e-12 {
		t.Errorf("unit EV(0) = %v, want %v", got, want)
	}
	// Costs come from the Policy's Config, learning from the State.
	cheaper := cfg
	cheaper.Costs = []float64{0, 0, 0}
	if got, want := s.Policy(cheaper).ExpectedValue(0, 0, nil), 3.0/5*15; math.Abs(got-want) > 1e-12 {
		t.Errorf("EV(0) at cost 0 = %v, want %v", got, want)
	}

	// LinearThompson: zᵀμ, clamped to [0, 1].
	lcfg := Config{Kind: LinearThompson, Arms: 1, Costs: []float64{0.1}, None: -1, Dim: 1, UnitValue: true}
	l := mustNew(t, lcfg)
	for range 100 {
		if err := l.Update(Observation{Context: []float64{1}, Converted: true}); err != nil {
			t.Fatal(err)
		}
	}
	// A = I + 100·[1 1; 1 1], b = 100·[1, 1]: μ = (100/201)·[1, 1].
	lp := l.Policy(lcfg)
	if got, want := lp.ExpectedValue(0, 0, []float64{1}), 200.0/201-0.1; math.Abs(got-want) > 1e-12 {
		t.Errorf("linear EV(x=1) = %v, want %v", got, want)
	}
	if got := lp.ExpectedValue(0, 0, []float64{5}); got != 1-0.1 {
		t.Errorf("linear EV(x=5) = %v, want the clamped 0.9", got)
	}
	if got := lp.ExpectedValue(0, 0, []float64{-5}); got != -0.1 {
		t.Errorf("linear EV(x=-5) = %v, want the clamped -0.1", got)
	}
}

// TestLinearAgainstMonteCarlo checks the quadrature probabilities of a
// learned LinearThompson policy against 200,000 joint draws of the
// coefficients θ_i ~ N(A_i⁻¹b_i, σ²A_i⁻¹), computed here from the state's
// statistics with gonum.
func TestLinearAgainstMonteCarlo(t *testing.T) {
	cfg := Config{Kind: LinearThompson, Arms: 4, Costs: []float64{0.3, 0.1, 0.2, 0}, None: 3, Dim: 2}
	s := mustNew(t, cfg)
	rng := rand.New(rand.NewPCG(51, 52))
	rates := []float64{0.12, 0.2, 0.25, 0.1}
	for k := range 600 {
		arm := k % 4
		if k > 100 {
			arm = min(rng.IntN(6), 3)
		}
		x := []float64{rng.NormFloat64(), rng.Float64()}
		conv := rng.Float64() < rates[arm]+0.05*x[0]
		if err := s.Update(Observation{Arm: arm, Context: x, Converted: conv, Value: 2 + float64(arm) + rng.Float64()}); err != nil {
			t.Fatal(err)
		}
	}
	p := s.Policy(cfg)
	d := cfg.Dim + 1
	for _, x := range [][]float64{{0, 0.5}, {1.5, 0.2}, {-2, 1}} {
		z := append([]float64{1}, x...)
		got, err := p.Probabilities(nil, 0, x, 0b1111)
		if err != nil {
			t.Fatal(err)
		}
		// The posterior of each arm, independently of the package.
		type post struct {
			mu    []float64
			l     *mat.TriDense // cov = L Lᵀ
			value float64
		}
		posts := make([]post, cfg.Arms)
		for arm := range cfg.Arms {
			a := mat.NewSymDense(d, nil)
			for r := range d {
				for c := r; c < d; c++ {
					v := s.Gram[arm*d*d+r*d+c]
					if r == c {
						v++
					}
					a.SetSym(r, c, v)
				}
			}
			var inv mat.Dense
			if err := inv.Inverse(a); err != nil {
				t.Fatal(err)
			}
			var mu mat.VecDense
			mu.MulVec(&inv, mat.NewVecDense(d, s.Moment[arm*d:(arm+1)*d]))
			cov := mat.NewSymDense(d, nil)
			for r := range d {
				for c := r; c < d; c++ {
					cov.SetSym(r, c, 0.25*0.25*(inv.At(r, c)+inv.At(c, r))/2)
				}
			}
			var ch mat.Cholesky
			if !ch.Factorize(cov) {
				t.Fatal("covariance not positive definite")
			}
			var l mat.TriDense
			ch.LTo(&l)
			posts[arm] = post{mu.RawVector().Data, &l, s.ValueSum[arm] / s.ValueWeight[arm]}
		}
		const n = 200_000
		wins := make([]float64, cfg.Arms)
		xi := make([]float64, d)
		for range n {
			best, arg := math.Inf(-1), -1
			for arm, ps := range posts {
				for k := range xi {
					xi[k] = rng.NormFloat64()
				}
				// θ = μ + Lξ; the score is zᵀθ.
				score := 0.0
				for r := range d {
					th := ps.mu[r]
					for c := 0; c <= r; c++ {
						th += ps.l.At(r, c) * xi[c]
					}
					score += z[r] * th
				}
				ev := ps.value*score - cfg.Costs[arm]
				if ev > best {
					best, arg = ev, arm
				}
			}
			wins[arg]++
		}
		for arm := range wins {
			mc := wins[arm] / n
			se := math.Sqrt(max(mc*(1-mc), 1e-6) / n)
			if math.Abs(got[arm]-mc) > 4.5*se {
				t.Errorf("x=%v arm %d: quadrature %.5f, Monte Carlo %.5f (standard error %.5f)", x, arm, got[arm], mc, se)
			}
		}
		t.Logf("x=%v: quadrature %.4f, Monte Carlo %.4f", x, got, floatsDiv(wins, n))
	}
}

func floatsDiv(v []float64, d float64) []float64 {
	out := make([]float64, len(v))
	for i := range v {
		out[i] = v[i] / d
	}
	return out
}

// TestLinearPointMasses: arms whose learned value is 0 have a sampled
// expected value of exactly −cost, a point mass; two tied point masses
// share their probability.
func TestLinearPointMasses(t *testing.T) {
	cfg := Config{Kind: LinearThompson, Arms: 3, Costs: []float64{0, 0, 0}, None: 2, Dim: 1}
	s := mustNew(t, cfg)
	for k := range 60 {
		arm := k % 3
		value := 0.0
		if arm == 2 {
			value = 1
		}
		if err := s.Update(Observation{Arm: arm, Context: []float64{1}, Converted: k%4 == 0, Value: value}); err != nil {
			t.Fatal(err)
		}
	}
	p := s.Policy(cfg)
	got, err := p.Probabilities(nil, 0, []float64{1}, 0b111)
	if err != nil {
		t.Fatal(err)
	}
	mean, q := p.linear(2, []float64{1, 1})
	below := distuv.Normal{Mu: mean, Sigma: 0.25 * math.Sqrt(q)}.CDF(0) // arm 2 falls below 0
	want := []float64{below / 2, below / 2, 1 - below}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("probabilities %v, want %v", got, want)
			break
		}
	}
	if got[0] <= 0 || got[0] >= 0.5 {
		t.Errorf("the case is degenerate: %v", got)
	}
}

func TestAllEligibleWith64Arms(t *testing.T) {
	for _, kind := range []Kind{Thompson, LinearThompson} {
		cfg := Config{Kind: kind, Arms: 64, Costs: make([]float64, 64), None: 0, Segments: 1, Dim: 1, Epsilon: 0.1}
		p := learned(t, cfg, 61, 500).Policy(cfg)
		got, err := p.Probabilities(nil, 0, []float64{0.5}, ^uint64(0))
		if err != nil {
			t.Fatal(err)
		}
		sum := 0.0
		for _, q := range got {
			sum += q
			if q < 0.1/64-1e-15 {
				t.Fatalf("%s: probability %v under the floor", kind, q)
			}
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Fatalf("%s: sum %v", kind, sum)
		}
	}
}

func TestNoAllocations(t *testing.T) {
	cfg := Config{Kind: LinearThompson, Arms: 5, Costs: []float64{0.01, 0.02, 0.03, 0.04, 0}, None: 4, Dim: 4, Epsilon: 0.05}
	p := learned(t, cfg, 71, 500).Policy(cfg)
	dst := make([]float64, 5)
	x := []float64{0.1, math.NaN(), 2, -1}
	if n := testing.AllocsPerRun(200, func() {
		if _, err := p.Probabilities(dst, 0, x, 0b11111); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("LinearThompson Probabilities: %v allocations", n)
	}
	if n := testing.AllocsPerRun(200, func() { p.Choose(dst, 0, x, 0b10111, 0.3) }); n != 0 {
		t.Errorf("LinearThompson Choose: %v allocations", n)
	}
	tcfg := cfg
	tcfg.Kind, tcfg.Segments = Thompson, 3
	tp := learned(t, tcfg, 71, 500).Policy(tcfg)
	tp.Choose(dst, 2, nil, 0b11111, 0.3) // fills the cache
	if n := testing.AllocsPerRun(200, func() { tp.Choose(dst, 2, nil, 0b11111, 0.3) }); n != 0 {
		t.Errorf("Thompson Choose (cached): %v allocations", n)
	}
}
