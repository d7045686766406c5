package bandit

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/mat"
)

const (
	// draws is the number of Monte Carlo joint draws of a Thompson
	// probability vector.
	draws = 4096
	// sigma is the LinearThompson noise scale: θ ~ N(μ, σ²A⁻¹).
	sigma = 0.25
	// lambda is the LinearThompson ridge prior: A = λI + Σ w·z zᵀ.
	lambda = 1.0
	// maxCached bounds the Thompson probability vectors a Policy caches;
	// beyond it they are computed on every call.
	maxCached = 1024
	// minValueWeight is the discounted number of conversions under which
	// an arm's value falls back to the mean over all arms (and that to 1).
	minValueWeight = 1e-9
)

// Policy is an immutable snapshot of a State under a Config, for deciding.
// It is safe for concurrent use by many goroutines.
type Policy struct {
	err      error
	kind     Kind
	arms     int
	segments int
	dim      int
	none     int
	epsilon  float64
	costs    []float64
	values   []float64 // value of a conversion, per arm

	// Thompson: Beta posteriors at [segment×arms + arm], the seed of the
	// Monte Carlo streams, and the cache of probability vectors.
	alpha, beta []float64
	seed        uint64
	mu          sync.Mutex // serialises cache misses
	cache       atomic.Pointer[map[cacheKey][]float64]

	// LinearThompson: A⁻¹ at [arm×D² + row×D + column] and μ = A⁻¹b at
	// [arm×D + row], D = dim+1.
	ainv []float64
	mean []float64
}

type cacheKey struct {
	segment  int
	eligible uint64
}

// Policy returns a snapshot of s for deciding with cfg's Costs, None,
// Epsilon and UnitValue (a configuration may change those without losing
// what was learned). When s is malformed or cfg is invalid or not
// Compatible with s, every method of the Policy returns that error
// (ExpectedValue returns NaN).
func (s *State) Policy(cfg Config) *Policy {
	p, err := newPolicy(s, cfg)
	if err != nil {
		return &Policy{err: err}
	}
	return p
}

func newPolicy(s *State, cfg Config) (*Policy, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !s.Config.compatible(cfg) {
		return nil, fmt.Errorf("bandit: Config (%s) is not compatible with the State (%s)", shape(cfg), shape(s.Config))
	}
	k := cfg.Arms
	p := &Policy{
		kind: cfg.Kind, arms: k, segments: cfg.Segments, dim: cfg.Dim, none: cfg.None,
		epsilon: cfg.Epsilon, costs: append([]float64(nil), cfg.Costs...), values: make([]float64, k),
	}
	if cfg.UnitValue {
		for i := range p.values {
			p.values[i] = 1
		}
	} else {
		var sum, weight float64
		for i := range k {
			sum += s.ValueSum[i]
			weight += s.ValueWeight[i]
		}
		fallback := 1.0
		if weight > minValueWeight {
			fallback = sum / weight
		}
		for i := range p.values {
			p.values[i] = fallback
			if s.ValueWeight[i] > minValueWeight {
				p.values[i] = s.ValueSum[i] / s.ValueWeight[i]
			}
		}
	}

	switch cfg.Kind {
	case Thompson:
		p.alpha = make([]float64, len(s.Successes))
		p.beta = make([]float64, len(s.Failures))
		h := fnv.New64a()
		var buf [8]byte
		put := func(v uint64) {
			for i := range buf {
				buf[i] = byte(v >> (8 * i))
			}
			h.Write(buf[:])
		}
		put(uint64(s.Updates))
		for i := range p.alpha {
			p.alpha[i] = 1 + s.Successes[i]
			p.beta[i] = 1 + s.Failures[i]
			put(math.Float64bits(p.alpha[i]))
			put(math.Float64bits(p.beta[i]))
		}
		p.seed = h.Sum64()
	case LinearThompson:
		d := cfg.Dim + 1
		p.ainv = make([]float64, k*d*d)
		p.mean = make([]float64, k*d)
		a := mat.NewSymDense(d, nil)
		var inv mat.SymDense
		var mu mat.VecDense
		for arm := range k {
			g := s.Gram[arm*d*d : (arm+1)*d*d]
			for r := range d {
				for c := r; c < d; c++ {
					v := g[r*d+c]
					if r == c {
						v += lambda
					}
					a.SetSym(r, c, v)
				}
			}
			var ch mat.Cholesky
			if !ch.Factorize(a) {
				return nil, fmt.Errorf("bandit: State.Gram: arm %d: λI + Gram is not positive definite", arm)
			}
			if err := ch.InverseTo(&inv); err != nil {
				return nil, fmt.Errorf("bandit: State.Gram: arm %d: %w", arm, err)
			}
			if err := ch.SolveVecTo(&mu, mat.NewVecDense(d, append([]float64(nil), s.Moment[arm*d:(arm+1)*d]...))); err != nil {
				return nil, fmt.Errorf("bandit: State.Moment: arm %d: %w", arm, err)
			}
			for r := range d {
				p.mean[arm*d+r] = mu.AtVec(r)
				for c := range d {
					p.ainv[arm*d*d+r*d+c] = inv.At(r, c)
				}
			}
		}
		if !finite(p.ainv) || !finite(p.mean) {
			return nil, errors.New("bandit: State.Gram: the posterior is not finite")
		}
	}
	return p, nil
}

// finite reports whether every element of v is finite.
func finite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// shape describes what Compatible compares.
func shape(c Config) string {
	if c.Kind == LinearThompson {
		return fmt.Sprintf("%s, %d arms, dim %d", c.Kind, c.Arms, c.Dim)
	}
	return fmt.Sprintf("%s, %d arms, %d segments", c.Kind, c.Arms, c.Segments)
}

// Probabilities writes into dst the probability that the policy chooses
// each arm for a customer of the segment (Thompson) or with context x
// (LinearThompson, Dim values, NaN counting as 0), among the eligible arms:
// bit i of eligible set means arm i may be chosen. Ineligible arms get
// exactly 0; eligible ones at least Epsilon/K_e. dst must have at least
// Arms elements (or be nil, to allocate); the first Arms are written and
// returned. It returns an error, and leaves dst alone, when no arm is
// eligible or an argument is out of range.
func (p *Policy) Probabilities(dst []float64, segment int, x []float64, eligible uint64) ([]float64, error) {
	if err := p.check(dst, eligible); err != nil {
		return nil, err
	}
	if dst == nil {
		dst = make([]float64, p.arms)
	}
	dst = dst[:p.arms]
	ke := float64(bits.OnesCount64(eligible))
	floor := p.epsilon / ke

	switch p.kind {
	case Thompson:
		if segment < 0 || segment >= p.segments {
			return nil, fmt.Errorf("bandit: segment: must be in [0, %d), got %d", p.segments, segment)
		}
		ts := p.thompson(segment, eligible)
		for i := range dst {
			dst[i] = 0
			if eligible>>i&1 == 1 {
				dst[i] = (1-p.epsilon)*ts[i] + floor
			}
		}
	case LinearThompson:
		var zbuf [maxDim + 1]float64
		z, err := withIntercept(zbuf[:], x, p.dim, "context")
		if err != nil {
			return nil, err
		}
		var m, sd, pr [maxArms]float64
		n := 0
		for i := range p.arms {
			if eligible>>i&1 == 0 {
				continue
			}
			mean, q := p.linear(i, z)
			v := p.values[i]
			m[n], sd[n] = v*mean-p.costs[i], math.Abs(v)*sigma*math.Sqrt(q)
			if math.IsNaN(m[n]) || math.IsInf(m[n], 0) || math.IsInf(sd[n], 0) {
				return nil, fmt.Errorf("bandit: context: the expected value of arm %d is not finite", i)
			}
			n++
		}
		maxProbs(pr[:n], m[:n], sd[:n])
		n = 0
		for i := range dst {
			dst[i] = 0
			if eligible>>i&1 == 1 {
				dst[i] = (1-p.epsilon)*pr[n] + floor
				n++
			}
		}
	}
	return dst, nil
}

// Choose draws an arm from the probabilities of Probabilities (written
// into dst, which may be nil) by inverting their cumulative sum at u, a
// uniform number in [0, 1) supplied by the caller. It returns the arm, its
// probability (the propensity) and its expected incremental value: the
// ExpectedValue of the arm minus that of the None arm (minus 0 when there is
// none). On error the arm is -1.
func (p *Policy) Choose(dst []float64, segment int, x []float64, eligible uint64, u float64) (arm int, propensity float64, value float64, err error) {
	if !(u >= 0 && u < 1) {
		return -1, 0, 0, fmt.Errorf("bandit: u: must be in [0, 1), got %v", u)
	}
	probs, err := p.Probabilities(dst, segment, x, eligible)
	if err != nil {
		return -1, 0, 0, err
	}
	arm = -1
	cum := 0.0
	for i, q := range probs {
		if q <= 0 {
			continue
		}
		arm = i
		if cum += q; u < cum {
			break
		}
	}
	// After the loop without a break (u at the very top of a sum that
	// rounded below 1) arm is the last arm with a positive probability.
	var zbuf [maxDim + 1]float64
	var z []float64
	if p.kind == LinearThompson {
		z, _ = withIntercept(zbuf[:], x, p.dim, "context") // validated above
	}
	value = p.expectedValue(arm, segment, z)
	if p.none >= 0 {
		value -= p.expectedValue(p.none, segment, z)
	}
	return arm, probs[arm], value, nil
}

// ExpectedValue returns the posterior-mean expected value of arm for the
// segment (Thompson) or context x (LinearThompson): P(convert | arm) ×
// value − cost, with the LinearThompson conversion probability zᵀμ clamped
// to [0, 1]. It returns NaN when an argument is out of range or the Policy
// is in error.
func (p *Policy) ExpectedValue(arm, segment int, x []float64) float64 {
	if p == nil || p.err != nil || arm < 0 || arm >= p.arms {
		return math.NaN()
	}
	var zbuf [maxDim + 1]float64
	var z []float64
	switch p.kind {
	case Thompson:
		if segment < 0 || segment >= p.segments {
			return math.NaN()
		}
	case LinearThompson:
		var err error
		if z, err = withIntercept(zbuf[:], x, p.dim, "context"); err != nil {
			return math.NaN()
		}
	}
	return p.expectedValue(arm, segment, z)
}

// expectedValue is ExpectedValue on validated arguments, z = [1, x...].
func (p *Policy) expectedValue(arm, segment int, z []float64) float64 {
	var theta float64
	switch p.kind {
	case Thompson:
		i := segment*p.arms + arm
		theta = p.alpha[i] / (p.alpha[i] + p.beta[i])
	case LinearThompson:
		mean, _ := p.linear(arm, z)
		theta = min(max(mean, 0), 1)
	}
	return theta*p.values[arm] - p.costs[arm]
}

// linear returns zᵀμ and zᵀA⁻¹z of arm.
func (p *Policy) linear(arm int, z []float64) (mean, q float64) {
	d := len(z)
	mu := p.mean[arm*d : (arm+1)*d]
	inv := p.ainv[arm*d*d : (arm+1)*d*d]
	for a, za := range z {
		mean += mu[a] * za
		row := inv[a*d : (a+1)*d]
		s := 0.0
		for c, zc := range z {
			s += row[c] * zc
		}
		q += za * s
	}
	return mean, max(q, 0)
}

// check validates what every call shares.
func (p *Policy) check(dst []float64, eligible uint64) error {
	switch {
	case p == nil:
		return errors.New("bandit: nil Policy")
	case p.err != nil:
		return p.err
	case dst != nil && len(dst) < p.arms:
		return fmt.Errorf("bandit: dst: must have at least Arms (%d) elements, got %d", p.arms, len(dst))
	case eligible == 0:
		return errors.New("bandit: eligible: no arm is eligible")
	case p.arms < 64 && eligible>>p.arms != 0:
		return fmt.Errorf("bandit: eligible: bit %d is set, but there are only %d arms", 63-bits.LeadingZeros64(eligible), p.arms)
	}
	return nil
}

// thompson returns the Thompson-sampling probabilities of the segment over
// the eligible arms (0 for the others), from the cache or by Monte Carlo.
// The returned slice is shared: do not modify it.
func (p *Policy) thompson(segment int, eligible uint64) []float64 {
	key := cacheKey{segment, eligible}
	if m := p.cache.Load(); m != nil {
		if v, ok := (*m)[key]; ok {
			return v
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.cache.Load()
	var n int
	if old != nil {
		if v, ok := (*old)[key]; ok {
			return v
		}
		n = len(*old)
	}
	v := p.monteCarlo(segment, eligible)
	if n < maxCached {
		next := make(map[cacheKey][]float64, n+1)
		if old != nil {
			for k, w := range *old {
				next[k] = w
			}
		}
		next[key] = v
		p.cache.Store(&next)
	}
	return v
}

// monteCarlo estimates, from draws joint draws of the Beta posteriors, the
// probability that each eligible arm has the largest sampled expected
// value; exact ties are shared equally. The stream is seeded from the
// statistics, the segment and the eligible set.
func (p *Policy) monteCarlo(segment int, eligible uint64) []float64 {
	out := make([]float64, p.arms)
	var idx, wins [maxArms]int
	n := 0
	for i := range p.arms {
		if eligible>>i&1 == 1 {
			idx[n] = i
			n++
		}
	}
	if n == 1 {
		out[idx[0]] = 1
		return out
	}
	rng := rand.New(rand.NewPCG(p.seed, uint64(segment)*0x9e3779b97f4a7c15^eligible))
	base := segment * p.arms
	for range draws {
		best, nw := math.Inf(-1), 0
		for t, i := range idx[:n] {
			ev := betaRand(rng, p.alpha[base+i], p.beta[base+i])*p.values[i] - p.costs[i]
			switch {
			case ev > best:
				best, wins[0], nw = ev, t, 1
			case ev == best:
				wins[nw] = t
				nw++
			}
		}
		if nw == 0 {
			continue // unreachable: every sampled value is finite
		}
		share := 1 / float64(nw)
		for _, t := range wins[:nw] {
			out[idx[t]] += share
		}
	}
	sum := 0.0
	for _, v := range out {
		sum += v
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

// betaRand draws from Beta(a, b), a, b > 0.
func betaRand(r *rand.Rand, a, b float64) float64 {
	x := gammaRand(r, a)
	y := gammaRand(r, b)
	return x / (x + y)
}

// gammaRand draws from Gamma(a, 1), a > 0 (Marsaglia and Tsang, 2000, with
// the U^(1/a) boost below 1).
func gammaRand(r *rand.Rand, a float64) float64 {
	boost := 1.0
	if a < 1 {
		boost = math.Pow(r.Float64(), 1/a)
		a++
	}
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if u < 1-0.0331*(x*x)*(x*x) || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v * boost
		}
	}
}
