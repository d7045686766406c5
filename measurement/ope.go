// Off-policy evaluation: what a candidate policy would have earned on the
// rounds a logging policy played, estimated from the logged propensities.

package measurement

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Rules of the extreme-weight warning of Evaluate (see Evaluation.Warnings).
const (
	// ExtremeWeight is the largest importance weight π_e(a|x)/π0(a|x)
	// Evaluate accepts without a warning: a weight of 100 means one logged
	// round speaks for a hundred rounds of the candidate, so a single
	// reward moves IPS and DR by 100/n.
	ExtremeWeight = 100.0
	// MinESSFraction is the smallest effective sample size, as a fraction
	// of the number of rounds, that Evaluate accepts without a warning.
	MinESSFraction = 0.01
	// DefaultBootstrap is the number of bootstrap resamples of Evaluate
	// when EvalOptions.Bootstrap is 0.
	DefaultBootstrap = 1000
	// probTolerance is how far a row of action probabilities may sum from
	// 1, and a logged probability vector may disagree with the logged
	// propensity.
	probTolerance = 1e-9
)

// Logged is logged bandit feedback: in round i the logging policy π0 chose
// arm Actions[i] with probability Propensities[i] = π0(Actions[i] | x_i)
// and observed the reward Rewards[i].
type Logged struct {
	// Arms is the number of arms K; actions are indexes 0 … K−1.
	Arms int
	// Actions are the logged arms a_i.
	Actions []int
	// Propensities are the logging probabilities p_i = π0(a_i|x_i), each
	// in (0, 1] (an arm the logging policy could not choose is never
	// logged).
	Propensities []float64
	// Rewards are the observed rewards r_i (finite; e.g. 0/1 conversions
	// or revenue).
	Rewards []float64
	// Contexts optionally holds each round's context vector x_i, for
	// building candidate policies (PolicyFrom) and reward models. The
	// estimators do not read it; when set it has one entry per round.
	Contexts [][]float64
}

// Len returns the number of logged rounds.
func (d Logged) Len() int { return len(d.Actions) }

// validate returns an error naming the first field that breaks a rule.
func (d Logged) validate() error {
	n := len(d.Actions)
	switch {
	case n == 0:
		return fmt.Errorf("measurement: off-policy evaluation needs logged rounds, got none")
	case d.Arms < 1:
		return fmt.Errorf("measurement: Logged.Arms is %d, want at least 1", d.Arms)
	case len(d.Propensities) != n:
		return fmt.Errorf("measurement: Logged has %d actions but %d propensities, want one per round", n, len(d.Propensities))
	case len(d.Rewards) != n:
		return fmt.Errorf("measurement: Logged has %d actions but %d rewards, want one per round", n, len(d.Rewards))
	case d.Contexts != nil && len(d.Contexts) != n:
		return fmt.Errorf("measurement: Logged has %d actions but %d contexts, want one per round (or none)", n, len(d.Contexts))
	}
	for i, a := range d.Actions {
		if a < 0 || a >= d.Arms {
			return fmt.Errorf("measurement: round %d: logged action %d is not an arm index in [0, %d)", i, a, d.Arms)
		}
		if p := d.Propensities[i]; !(p > 0 && p <= 1) { // NaN fails too
			return fmt.Errorf("measurement: round %d: logged propensity %v must lie in (0, 1]", i, p)
		}
		if r := d.Rewards[i]; !finite(r) {
			return fmt.Errorf("measurement: round %d: reward %v is not a finite number", i, r)
		}
	}
	return nil
}

// Policy holds a candidate (evaluation) policy's action probabilities on
// the logged rounds: Policy[i][k] = π_e(k | x_i), one row of Logged.Arms
// probabilities per logged round, each row summing to 1 (within 1e-9).
//
// UniformPolicy, FixedArmPolicy, NeverSendPolicy and LoggedPolicy build the
// standard candidates. Any other policy — a new bandit configuration, a new
// model version — is evaluated by computing its probabilities in each
// logged round's context with PolicyFrom: for a kairos/decisioning/bandit
// policy, call its Probabilities with the round's segment, context and
// eligible arms (the eligibility logged with the decision, so that the
// candidate is judged on the choices it would really have had).
type Policy [][]float64

// validate checks pi against n rounds of k arms.
func (pi Policy) validate(n, k int) error {
	if len(pi) != n {
		return fmt.Errorf("measurement: the policy has %d rows, want one per logged round (%d)", len(pi), n)
	}
	for i, row := range pi {
		if len(row) != k {
			return fmt.Errorf("measurement: policy row %d has %d probabilities, want one per arm (%d)", i, len(row), k)
		}
		sum := 0.0
		for a, v := range row {
			if !(v >= 0 && v <= 1) {
				return fmt.Errorf("measurement: policy row %d: probability %v of arm %d must lie in [0, 1]", i, v, a)
			}
			sum += v
		}
		if math.Abs(sum-1) > probTolerance {
			return fmt.Errorf("measurement: policy row %d sums to %v, want 1 (within %g)", i, sum, probTolerance)
		}
	}
	return nil
}

// UniformPolicy returns the policy that chooses each of arms arms with
// probability 1/arms, in each of n rounds.
func UniformPolicy(n, arms int) Policy {
	pi := make(Policy, n)
	for i := range pi {
		pi[i] = make([]float64, arms)
		for k := range pi[i] {
			pi[i][k] = 1 / float64(arms)
		}
	}
	return pi
}

// FixedArmPolicy returns the policy that always chooses arm, in each of n
// rounds of arms arms.
func FixedArmPolicy(n, arms, arm int) (Policy, error) {
	if arm < 0 || arm >= arms {
		return nil, fmt.Errorf("measurement: fixed arm %d is not an arm index in [0, %d)", arm, arms)
	}
	pi := make(Policy, n)
	for i := range pi {
		pi[i] = make([]float64, arms)
		pi[i][arm] = 1
	}
	return pi, nil
}

// NeverSendPolicy returns the policy that never sends: it always chooses
// none, the index of the campaign's "send nothing" arm.
func NeverSendPolicy(n, arms, none int) (Policy, error) {
	pi, err := FixedArmPolicy(n, arms, none)
	if err != nil {
		return nil, fmt.Errorf("measurement: never-send policy: %w", err)
	}
	return pi, nil
}

// LoggedPolicy returns the logging policy π0 itself as a candidate, from
// the full probability vectors it logged: probs[i][k] = π0(k|x_i). Its
// estimates are checks: its importance weights are all 1, so IPS and
// SNIPS equal the mean logged reward. Each probs[i][Actions[i]] must equal
// the logged propensity (within 1e-9). probs is copied.
func LoggedPolicy(d Logged, probs [][]float64) (Policy, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	pi := make(Policy, len(probs))
	for i, row := range probs {
		pi[i] = slices.Clone(row)
	}
	if err := pi.validate(d.Len(), d.Arms); err != nil {
		return nil, fmt.Errorf("measurement: logged policy: %w", err)
	}
	for i, a := range d.Actions {
		if got, want := pi[i][a], d.Propensities[i]; math.Abs(got-want) > probTolerance {
			return nil, fmt.Errorf("measurement: logged policy row %d gives the logged arm %d probability %v, but the logged propensity is %v", i, a, got, want)
		}
	}
	return pi, nil
}

// PolicyFrom builds a candidate policy by calling probs once per logged
// round i with a zeroed dst of d.Arms elements, into which probs writes
// π_e(·|x_i) (for instance from d.Contexts[i]). It fails with probs' first
// error, or when a row is not a probability vector.
func PolicyFrom(d Logged, probs func(i int, dst []float64) error) (Policy, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	pi := make(Policy, d.Len())
	for i := range pi {
		pi[i] = make([]float64, d.Arms)
		if err := probs(i, pi[i]); err != nil {
			return nil, fmt.Errorf("measurement: policy probabilities of round %d: %w", i, err)
		}
	}
	if err := pi.validate(d.Len(), d.Arms); err != nil {
		return nil, err
	}
	return pi, nil
}

// validateRewardModel checks a reward model's predictions q[i][k] = q̂(x_i, k).
func validateRewardModel(q [][]float64, n, k int) error {
	if len(q) != n {
		return fmt.Errorf("measurement: the reward model has %d rows, want one per logged round (%d)", len(q), n)
	}
	for i, row := range q {
		if len(row) != k {
			return fmt.Errorf("measurement: reward model row %d has %d predictions, want one per arm (%d)", i, len(row), k)
		}
		for a, v := range row {
			if !finite(v) {
				return fmt.Errorf("measurement: reward model row %d: prediction %v for arm %d is not a finite number", i, v, a)
			}
		}
	}
	return nil
}

// Weights returns the importance weights w_i = π_e(a_i|x_i)/p_i of pi on
// the logged rounds.
func Weights(d Logged, pi Policy) ([]float64, error) {
	if err := checkOPE(d, pi, nil); err != nil {
		return nil, err
	}
	return newOPETerms(d, pi, nil).w, nil
}

// EffectiveSampleSize returns Kish's effective sample size of importance
// weights, (Σw)²/Σw²: n when all weights are equal, 1 when one weight
// carries everything, 0 when all weights are 0.
func EffectiveSampleSize(w []float64) float64 {
	var s, s2 float64
	for _, v := range w {
		s += v
		s2 += v * v
	}
	if s2 == 0 {
		return 0
	}
	return s * s / s2
}

// checkOPE validates the inputs of an estimator; q may be nil.
func checkOPE(d Logged, pi Policy, q [][]float64) error {
	if err := d.validate(); err != nil {
		return err
	}
	if err := pi.validate(d.Len(), d.Arms); err != nil {
		return err
	}
	if q != nil {
		if err := validateRewardModel(q, d.Len(), d.Arms); err != nil {
			return err
		}
	}
	return nil
}

// IPS returns the inverse-propensity-scoring estimate of pi's value,
// (1/n) Σ w_i r_i. It is unbiased when every arm pi may choose had a
// positive logging probability.
func IPS(d Logged, pi Policy) (float64, error) {
	if err := checkOPE(d, pi, nil); err != nil {
		return 0, err
	}
	t := newOPETerms(d, pi, nil)
	return t.ips(), nil
}

// SNIPS returns the self-normalised IPS estimate Σ w_i r_i / Σ w_i, which
// trades a small bias for a much smaller variance when weights vary. It is
// NaN when every weight is 0 (no logged round chose an arm pi may choose).
func SNIPS(d Logged, pi Policy) (float64, error) {
	if err := checkOPE(d, pi, nil); err != nil {
		return 0, err
	}
	t := newOPETerms(d, pi, nil)
	return t.snips(), nil
}

// DM returns the direct-method estimate (1/n) Σ_i Σ_k π_e(k|x_i) q̂(x_i,k)
// from a reward model's predictions q[i][k] = q̂(x_i, k). It is as good as
// the model: biased where the model is.
func DM(d Logged, pi Policy, q [][]float64) (float64, error) {
	if err := checkOPE(d, pi, q); err != nil {
		return 0, err
	}
	t := newOPETerms(d, pi, q)
	return t.dm(), nil
}

// DR returns the doubly robust estimate: DM plus the IPS-weighted residuals
// of the reward model, (1/n) Σ_i [Σ_k π_e(k|x_i) q̂(x_i,k) + w_i (r_i −
// q̂(x_i,a_i))]. It is unbiased when the propensities are right, whatever
// the model, and its variance is smaller than IPS's the better the model.
func DR(d Logged, pi Policy, q [][]float64) (float64, error) {
	if err := checkOPE(d, pi, q); err != nil {
		return 0, err
	}
	t := newOPETerms(d, pi, q)
	return t.dr(), nil
}

// opeTerms holds the per-round terms every estimator is a mean or ratio of,
// so that a bootstrap resample costs O(n) whatever the number of arms.
type opeTerms struct {
	w, wr []float64 // w_i and w_i r_i
	dmr   []float64 // Σ_k π_e(k|x_i) q̂(x_i,k); nil without a reward model
	drr   []float64 // dmr_i + w_i (r_i − q̂(x_i,a_i))
}

func newOPETerms(d Logged, pi Policy, q [][]float64) opeTerms {
	t := opeTerms{w: make([]float64, d.Len()), wr: make([]float64, d.Len())}
	for i, a := range d.Actions {
		t.w[i] = pi[i][a] / d.Propensities[i]
		t.wr[i] = t.w[i] * d.Rewards[i]
	}
	if q != nil {
		t.dmr, t.drr = make([]float64, d.Len()), make([]float64, d.Len())
		for i, row := range pi {
			s := 0.0
			for k, p := range row {
				s += p * q[i][k]
			}
			t.dmr[i] = s
			t.drr[i] = s + t.w[i]*(d.Rewards[i]-q[i][d.Actions[i]])
		}
	}
	return t
}

func sum(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s
}

// The estimators on every logged round (EvaluateAll computes them on
// resamples).
func (t opeTerms) ips() float64 { return sum(t.wr) / float64(len(t.w)) }
func (t opeTerms) dm() float64  { return sum(t.dmr) / float64(len(t.w)) }
func (t opeTerms) dr() float64  { return sum(t.drr) / float64(len(t.w)) }

func (t opeTerms) snips() float64 {
	sw := sum(t.w)
	if sw == 0 {
		return math.NaN()
	}
	return sum(t.wr) / sw
}

// EvalOptions are the options of Evaluate.
type EvalOptions struct {
	// RewardModel holds a reward model's predictions q̂(x_i, k), one row of
	// Logged.Arms finite values per logged round. Without it (nil) DM and
	// DR are not computed.
	RewardModel [][]float64
	// Bootstrap is the number B of bootstrap resamples behind the
	// intervals (DefaultBootstrap when 0).
	Bootstrap int
	// Seed seeds the resampling: the same inputs and Seed give the same
	// intervals.
	Seed uint64
	// Level is the confidence level of the intervals (0.95 when 0).
	Level float64
}

// Estimate is one estimator's estimate of a policy's value (its expected
// reward per round) with a bootstrap percentile interval.
type Estimate struct {
	// Value is the estimate on the logged rounds.
	Value float64 `json:"value"`
	// CI is the bootstrap percentile interval at EvalOptions.Level.
	CI Interval `json:"ci"`
	// SE is the bootstrap standard error: the standard deviation of the
	// estimate over the resamples.
	SE float64 `json:"se"`
}

// Evaluation is the off-policy evaluation of one candidate policy.
type Evaluation struct {
	// N is the number of logged rounds; Level and Bootstrap are the
	// confidence level and number of resamples of the intervals.
	N         int
	Level     float64
	Bootstrap int
	// IPS and SNIPS are the (self-normalised) inverse-propensity
	// estimates. SNIPS is NaN when every weight is 0.
	IPS, SNIPS Estimate
	// DM and DR are the direct-method and doubly robust estimates; nil
	// without EvalOptions.RewardModel.
	DM, DR *Estimate
	// ESS is the effective sample size of the importance weights,
	// (Σw)²/Σw², and MaxWeight the largest weight.
	ESS, MaxWeight float64
	// Warnings says why the estimates should not be trusted, empty when
	// nothing is wrong: weights above ExtremeWeight, an ESS below
	// MinESSFraction·N, or no logged round with a positive weight.
	Warnings []string
}

// Evaluate estimates the value of the candidate policy pi from the logged
// rounds d: IPS and SNIPS, and DM and DR with a reward model; the
// effective sample size and largest importance weight with warnings when
// they make the estimates unreliable; and bootstrap percentile intervals.
//
// The bootstrap resamples the n logged rounds with replacement B times
// (the rounds are taken as independent) and recomputes every estimator on
// each resample — SNIPS renormalised within the resample, which drops the
// rare resample whose weights are all 0 — and the interval at level 1−α
// runs from the α/2 to the 1−α/2 quantile of the B values (linear
// interpolation between order statistics, numpy.percentile's default).
func Evaluate(d Logged, pi Policy, opts EvalOptions) (Evaluation, error) {
	evs, err := EvaluateAll(d, []Policy{pi}, opts)
	if err != nil {
		return Evaluation{}, err
	}
	return evs[0], nil
}

// EvaluateAll is Evaluate of several candidate policies on the same logged
// rounds: each gets exactly the Evaluation Evaluate gives it, the
// bootstrap resamples being drawn once for all of them.
func EvaluateAll(d Logged, pis []Policy, opts EvalOptions) ([]Evaluation, error) {
	for _, pi := range pis {
		if err := checkOPE(d, pi, opts.RewardModel); err != nil {
			return nil, err
		}
	}
	b, level := opts.Bootstrap, opts.Level
	if b == 0 {
		b = DefaultBootstrap
	}
	if b < 0 {
		return nil, fmt.Errorf("measurement: EvalOptions.Bootstrap is %d, want a positive number of resamples (or 0 for %d)", b, DefaultBootstrap)
	}
	if level == 0 {
		level = 0.95
	}
	if err := checkLevel(level); err != nil {
		return nil, err
	}
	n := d.Len()
	evs := make([]Evaluation, len(pis))
	terms := make([]opeTerms, len(pis))
	// vs[p][e]: the resamples' values of estimator e (IPS, SNIPS, DM, DR)
	// of policy p.
	vs := make([][4][]float64, len(pis))
	for p, pi := range pis {
		t := newOPETerms(d, pi, opts.RewardModel)
		terms[p] = t
		evs[p] = Evaluation{
			N: n, Level: level, Bootstrap: b,
			IPS:       Estimate{Value: t.ips()},
			SNIPS:     Estimate{Value: t.snips()},
			ESS:       EffectiveSampleSize(t.w),
			MaxWeight: slices.Max(t.w),
		}
		if t.dmr != nil {
			evs[p].DM, evs[p].DR = &Estimate{Value: t.dm()}, &Estimate{Value: t.dr()}
		}
	}

	// Resample once, evaluate every estimator of every policy on the same
	// resample.
	rng := rand.New(rand.NewPCG(opts.Seed, 0x6f70652d626f6f74)) // "ope-boot"
	idx := make([]int, n)
	for range b {
		for j := range idx {
			idx[j] = rng.IntN(n)
		}
		for p, t := range terms {
			var sw, swr, sdm, sdr float64
			if t.dmr != nil {
				for _, i := range idx {
					sw += t.w[i]
					swr += t.wr[i]
					sdm += t.dmr[i]
					sdr += t.drr[i]
				}
			} else {
				for _, i := range idx {
					sw += t.w[i]
					swr += t.wr[i]
				}
			}
			nn := float64(n)
			v := &vs[p]
			v[0] = append(v[0], swr/nn)
			if sw != 0 {
				v[1] = append(v[1], swr/sw)
			}
			if t.dmr != nil {
				v[2] = append(v[2], sdm/nn)
				v[3] = append(v[3], sdr/nn)
			}
		}
	}
	alpha := 1 - level
	for p := range evs {
		ev := &evs[p]
		for e, est := range []*Estimate{&ev.IPS, &ev.SNIPS, ev.DM, ev.DR} {
			if est != nil {
				est.CI, est.SE = bootInterval(vs[p][e], alpha), bootSD(vs[p][e])
			}
		}
		if ev.MaxWeight > ExtremeWeight {
			ev.Warnings = append(ev.Warnings, fmt.Sprintf("extreme importance weights: the largest is %.4g (above %g); IPS and DR rest on a few rounds", ev.MaxWeight, ExtremeWeight))
		}
		if ev.ESS < MinESSFraction*float64(n) {
			ev.Warnings = append(ev.Warnings, fmt.Sprintf("effective sample size %.4g is below %g%% of the %d rounds", ev.ESS, 100*MinESSFraction, n))
		}
		if ev.MaxWeight == 0 {
			ev.Warnings = append(ev.Warnings, "no logged round chose an arm the policy would choose: IPS is 0 by construction and SNIPS is undefined")
		}
	}
	return evs, nil
}

// bootInterval returns the α/2 and 1−α/2 quantiles of vs (sorted in
// place), NaN when vs is empty.
func bootInterval(vs []float64, alpha float64) Interval {
	if len(vs) == 0 {
		return Interval{math.NaN(), math.NaN()}
	}
	slices.Sort(vs)
	return Interval{bootQuantile(vs, alpha/2), bootQuantile(vs, 1-alpha/2)}
}

// bootQuantile returns the p-quantile of sorted values by linear interpolation
// between order statistics (Hyndman and Fan's type 7, numpy's default).
func bootQuantile(sorted []float64, p float64) float64 {
	h := p * float64(len(sorted)-1)
	lo := int(math.Floor(h))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// bootSD returns the standard deviation of vs (divisor n−1), NaN for
// fewer than two values.
func bootSD(vs []float64) float64 {
	if len(vs) < 2 {
		return math.NaN()
	}
	m := sum(vs) / float64(len(vs))
	ss := 0.0
	for _, v := range vs {
		ss += (v - m) * (v - m)
	}
	return math.Sqrt(ss / float64(len(vs)-1))
}
