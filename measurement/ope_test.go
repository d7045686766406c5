package measurement_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kairos/measurement"
)

// world is a contextual bandit whose policy values are known exactly: a
// context is one of a few segments x with probabilities px[x], arm k of
// segment x converts with probability mu[x][k], and the logging policy
// chooses arm k in segment x with probability pi0[x][k].
type world struct {
	px  []float64
	mu  [][]float64
	pi0 [][]float64
}

var testWorld = world{
	px:  []float64{0.4, 0.6},
	mu:  [][]float64{{0.10, 0.05, 0.20}, {0.30, 0.15, 0.05}},
	pi0: [][]float64{{0.6, 0.3, 0.1}, {0.2, 0.5, 0.3}},
}

// candidate is a policy by segment, close to the best one: its importance
// weights reach 0.8/0.1 = 8.
var candidate = [][]float64{{0.1, 0.1, 0.8}, {0.8, 0.1, 0.1}}

// value returns the true value Σ_x px[x] Σ_k pe[x][k] mu[x][k] of the
// segment policy pe.
func (w world) value(pe [][]float64) float64 {
	v := 0.0
	for x, p := range w.px {
		for k, q := range pe[x] {
			v += p * q * w.mu[x][k]
		}
	}
	return v
}

// draw returns an index chosen with the probabilities p.
func draw(rng *rand.Rand, p []float64) int {
	u := rng.Float64()
	for i, q := range p {
		if u < q {
			return i
		}
		u -= q
	}
	return len(p) - 1
}

// simulate logs n rounds of w's logging policy; seg[i] is round i's segment.
func (w world) simulate(rng *rand.Rand, n int) (d measurement.Logged, seg []int) {
	d = measurement.Logged{Arms: len(w.pi0[0])}
	for range n {
		x := draw(rng, w.px)
		a := draw(rng, w.pi0[x])
		r := 0.0
		if rng.Float64() < w.mu[x][a] {
			r = 1
		}
		seg = append(seg, x)
		d.Actions = append(d.Actions, a)
		d.Propensities = append(d.Propensities, w.pi0[x][a])
		d.Rewards = append(d.Rewards, r)
		d.Contexts = append(d.Contexts, []float64{float64(x)})
	}
	return d, seg
}

// bySegment returns the per-round matrix of a per-segment table: a policy,
// the logged probability vectors or a reward model.
func bySegment(seg []int, table [][]float64) [][]float64 {
	m := make([][]float64, len(seg))
	for i, x := range seg {
		m[i] = append([]float64(nil), table[x]...)
	}
	return m
}

// shifted returns mu plus bias[k] for arm k: a wrong reward model.
func shifted(mu [][]float64, bias []float64) [][]float64 {
	out := make([][]float64, len(mu))
	for x, row := range mu {
		for k, v := range row {
			out[x] = append(out[x], v+bias[k])
		}
	}
	return out
}

func meanSD(x []float64) (m, sd float64) {
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	for _, v := range x {
		sd += (v - m) * (v - m)
	}
	return m, math.Sqrt(sd / float64(len(x)-1))
}

// TestUnbiased checks over many seeded simulated logs that IPS and DR
// average to the true value (DR with a wrong reward model too), that DM
// with the wrong model averages to the value the model implies instead,
// and that DR with the true model has less variance than IPS.
func TestUnbiased(t *testing.T) {
	const sims, n = 400, 500
	rng := rand.New(rand.NewPCG(1, 2))
	bias := []float64{0.05, -0.03, 0.10}
	wrong := shifted(testWorld.mu, bias)
	truth := testWorld.value(candidate)
	dmTruth := truth + testWorld.modelBias(candidate, bias)
	var ips, snips, drWrong, drTrue, dmWrong []float64
	for range sims {
		d, seg := testWorld.simulate(rng, n)
		pi := measurement.Policy(bySegment(seg, candidate))
		must := func(v float64, err error) float64 {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		ips = append(ips, must(measurement.IPS(d, pi)))
		snips = append(snips, must(measurement.SNIPS(d, pi)))
		drWrong = append(drWrong, must(measurement.DR(d, pi, bySegment(seg, wrong))))
		drTrue = append(drTrue, must(measurement.DR(d, pi, bySegment(seg, testWorld.mu))))
		dmWrong = append(dmWrong, must(measurement.DM(d, pi, bySegment(seg, wrong))))
	}
	for _, c := range []struct {
		name  string
		x     []float64
		truth float64
	}{
		{"IPS", ips, truth},
		{"SNIPS", snips, truth}, // biased by O(1/n), far below the tolerance
		{"DR with a wrong model", drWrong, truth},
		{"DR with the true model", drTrue, truth},
		{"DM with a wrong model", dmWrong, dmTruth},
	} {
		m, sd := meanSD(c.x)
		se := sd / math.Sqrt(sims)
		t.Logf("%-22s mean %.5f ± %.5f (sd %.4f), truth %.5f", c.name, m, se, sd, c.truth)
		if math.Abs(m-c.truth) > 4*se {
			t.Errorf("%s: mean over %d simulations %.5f is %.1f standard errors from %.5f", c.name, sims, m, math.Abs(m-c.truth)/se, c.truth)
		}
	}
	if m, sd := meanSD(dmWrong); math.Abs(m-truth) < 10*sd/math.Sqrt(sims) {
		t.Errorf("DM with a wrong model averages %.5f, indistinguishable from the truth %.5f: the test's model is not wrong enough", m, truth)
	}
	_, sdIPS := meanSD(ips)
	if _, sdDR := meanSD(drTrue); sdDR >= sdIPS {
		t.Errorf("DR with the true model has sd %.4f, IPS %.4f: want DR's smaller", sdDR, sdIPS)
	}
}

// modelBias returns Σ_x px[x] Σ_k pe[x][k] bias[k]: DM's bias with a model
// off by bias[k] on arm k.
func (w world) modelBias(pe [][]float64, bias []float64) float64 {
	v := 0.0
	for x, p := range w.px {
		for k, q := range pe[x] {
			v += p * q * bias[k]
		}
	}
	return v
}

// TestLoggedPolicy checks that the logging policy, evaluated on its own
// log, has weights 1 and IPS = SNIPS = the mean reward.
func TestLoggedPolicy(t *testing.T) {
	d, seg := testWorld.simulate(rand.New(rand.NewPCG(3, 4)), 2000)
	pi, err := measurement.LoggedPolicy(d, bySegment(seg, testWorld.pi0))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := measurement.Evaluate(d, pi, measurement.EvalOptions{Bootstrap: 200})
	if err != nil {
		t.Fatal(err)
	}
	mean, _ := meanSD(d.Rewards)
	if ev.IPS.Value != mean || math.Abs(ev.SNIPS.Value-mean) > 1e-15 {
		t.Errorf("IPS %v, SNIPS %v; want both the mean reward %v", ev.IPS.Value, ev.SNIPS.Value, mean)
	}
	if ev.ESS != 2000 || ev.MaxWeight != 1 || len(ev.Warnings) > 0 {
		t.Errorf("ESS %v, max weight %v, warnings %q; want 2000, 1, none", ev.ESS, ev.MaxWeight, ev.Warnings)
	}

	// The logged vectors must agree with the logged propensities.
	probs := bySegment(seg, testWorld.pi0)
	probs[7] = []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}
	if _, err := measurement.LoggedPolicy(d, probs); err == nil || !strings.Contains(err.Error(), "row 7 gives the logged arm") {
		t.Errorf("LoggedPolicy with a vector that contradicts the propensity: %v; want an error naming row 7", err)
	}
}

// TestEqualWeights checks IPS, SNIPS and the ESS when every weight is 2:
// SNIPS is then the mean reward and IPS twice it.
func TestEqualWeights(t *testing.T) {
	d := measurement.Logged{Arms: 4}
	var pi measurement.Policy
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 100 {
		a := i % 4
		d.Actions = append(d.Actions, a)
		d.Propensities = append(d.Propensities, 0.25) // logged uniformly
		d.Rewards = append(d.Rewards, rng.NormFloat64()+3)
		row := []float64{0.5 / 3, 0.5 / 3, 0.5 / 3, 0.5 / 3}
		row[a] = 0.5
		pi = append(pi, row)
	}
	mean, _ := meanSD(d.Rewards)
	ips, err := measurement.IPS(d, pi)
	if err != nil {
		t.Fatal(err)
	}
	snips, err := measurement.SNIPS(d, pi)
	if err != nil {
		t.Fatal(err)
	}
	w, err := measurement.Weights(d, pi)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(ips-2*mean) > 1e-12 || math.Abs(snips-mean) > 1e-12 {
		t.Errorf("IPS %v, SNIPS %v; want %v and %v", ips, snips, 2*mean, mean)
	}
	if ess := measurement.EffectiveSampleSize(w); math.Abs(ess-100) > 1e-9 {
		t.Errorf("ESS of 100 equal weights = %v, want 100", ess)
	}
}

func TestEffectiveSampleSize(t *testing.T) {
	for _, c := range []struct {
		w    []float64
		want float64
	}{
		{[]float64{3, 3, 3, 3}, 4},
		{[]float64{1, 1, 2, 0}, 16.0 / 6},
		{[]float64{0, 0, 5}, 1},
		{[]float64{0, 0}, 0},
		{nil, 0},
	} {
		if got := measurement.EffectiveSampleSize(c.w); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("EffectiveSampleSize(%v) = %v, want %v", c.w, got, c.want)
		}
	}
}

// TestEvaluateCoversTruth checks one seeded evaluation: every interval
// covers the true value, the bootstrap standard error of IPS is close to
// its analytic one, and the same seed gives the same result.
func TestEvaluateCoversTruth(t *testing.T) {
	d, seg := testWorld.simulate(rand.New(rand.NewPCG(7, 8)), 5000)
	pi := measurement.Policy(bySegment(seg, candidate))
	opts := measurement.EvalOptions{RewardModel: bySegment(seg, testWorld.mu), Seed: 42}
	ev, err := measurement.Evaluate(d, pi, opts)
	if err != nil {
		t.Fatal(err)
	}
	truth := testWorld.value(candidate)
	for _, e := range []struct {
		name string
		e    measurement.Estimate
	}{{"IPS", ev.IPS}, {"SNIPS", ev.SNIPS}, {"DM", *ev.DM}, {"DR", *ev.DR}} {
		t.Logf("%-5s %.5f [%.5f, %.5f] se %.5f; truth %.5f", e.name, e.e.Value, e.e.CI.Lo, e.e.CI.Hi, e.e.SE, truth)
		if !e.e.CI.Contains(truth) || !e.e.CI.Contains(e.e.Value) {
			t.Errorf("%s: interval [%v, %v] does not cover the truth %v and the estimate %v", e.name, e.e.CI.Lo, e.e.CI.Hi, truth, e.e.Value)
		}
	}
	if ev.N != 5000 || ev.Level != 0.95 || ev.Bootstrap != measurement.DefaultBootstrap {
		t.Errorf("N %d, Level %v, Bootstrap %d; want 5000, 0.95, %d", ev.N, ev.Level, ev.Bootstrap, measurement.DefaultBootstrap)
	}
	w, _ := measurement.Weights(d, pi)
	wr := make([]float64, len(w))
	for i := range w {
		wr[i] = w[i] * d.Rewards[i]
	}
	_, sd := meanSD(wr)
	if se := sd / math.Sqrt(5000); math.Abs(ev.IPS.SE/se-1) > 0.1 {
		t.Errorf("IPS bootstrap standard error %v, analytic %v: want them within 10%%", ev.IPS.SE, se)
	}

	again, err := measurement.Evaluate(d, pi, opts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ev, again); diff != "" {
		t.Errorf("Evaluate with the same seed differs (-first +second):\n%s", diff)
	}
	opts.Seed = 43
	other, err := measurement.Evaluate(d, pi, opts)
	if err != nil {
		t.Fatal(err)
	}
	if other.IPS.CI == ev.IPS.CI || other.IPS.Value != ev.IPS.Value {
		t.Errorf("another seed gives IPS %v %v, the first %v %v: want the same estimate, another interval", other.IPS.Value, other.IPS.CI, ev.IPS.Value, ev.IPS.CI)
	}
}

// TestEvaluateCoverage checks that the 95% intervals of IPS and DR cover
// the truth in about 95% of seeded simulated logs.
func TestEvaluateCoverage(t *testing.T) {
	const sims = 200
	rng := rand.New(rand.NewPCG(9, 10))
	truth := testWorld.value(candidate)
	wrong := shifted(testWorld.mu, []float64{0.05, -0.03, 0.10})
	var ips, dr int
	for s := range sims {
		d, seg := testWorld.simulate(rng, 400)
		ev, err := measurement.Evaluate(d, bySegment(seg, candidate), measurement.EvalOptions{
			RewardModel: bySegment(seg, wrong), Bootstrap: 200, Seed: uint64(s),
		})
		if err != nil {
			t.Fatal(err)
		}
		if ev.IPS.CI.Contains(truth) {
			ips++
		}
		if ev.DR.CI.Contains(truth) {
			dr++
		}
	}
	t.Logf("coverage of the 95%% intervals over %d logs: IPS %d, DR %d", sims, ips, dr)
	for name, k := range map[string]int{"IPS": ips, "DR": dr} {
		if c := float64(k) / sims; c < 0.88 || c > 0.995 {
			t.Errorf("%s: 95%% intervals cover the truth in %.1f%% of %d logs", name, 100*c, sims)
		}
	}
}

func TestWarnings(t *testing.T) {
	// Two arms; every round logs arm 0 with probability 0.5 except round 0.
	logged := func(n int, p0 float64) measurement.Logged {
		d := measurement.Logged{Arms: 2}
		for i := range n {
			a, p := 0, 0.5
			if i == 0 {
				a, p = 1, p0
			}
			d.Actions = append(d.Actions, a)
			d.Propensities = append(d.Propensities, p)
			d.Rewards = append(d.Rewards, float64(i%2))
		}
		return d
	}
	arm1, _ := measurement.FixedArmPolicy(1000, 2, 1)
	for _, c := range []struct {
		name string
		d    measurement.Logged
		pi   measurement.Policy
		want []string
	}{
		{"healthy", logged(1000, 0.5), measurement.UniformPolicy(1000, 2), nil},
		// One weight of 1/0.001 = 1000, the rest 0: extreme, ESS 1.
		{"extreme weight", logged(1000, 0.001), arm1, []string{"extreme importance weights: the largest is 1000", "effective sample size 1 is below 1% of the 1000 rounds"}},
		// One weight of 50: not extreme, but the ESS is 1.
		{"low ESS", logged(1000, 0.02), arm1, []string{"effective sample size 1 is below 1%"}},
		// Arm 1 never logged: every weight is 0.
		{"no support", measurement.Logged{Arms: 2, Actions: []int{0, 0}, Propensities: []float64{0.5, 0.5}, Rewards: []float64{1, 0}}, arm1[:2],
			[]string{"effective sample size 0", "no logged round chose an arm the policy would choose"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev, err := measurement.Evaluate(c.d, c.pi, measurement.EvalOptions{Bootstrap: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(ev.Warnings) != len(c.want) {
				t.Fatalf("warnings %q, want %d containing %q", ev.Warnings, len(c.want), c.want)
			}
			for i, w := range c.want {
				if !strings.Contains(ev.Warnings[i], w) {
					t.Errorf("warning %d is %q, want it to contain %q", i, ev.Warnings[i], w)
				}
			}
		})
	}

	// Without support SNIPS and its interval are undefined, IPS is 0.
	d := measurement.Logged{Arms: 2, Actions: []int{0, 0}, Propensities: []float64{0.5, 0.5}, Rewards: []float64{1, 0}}
	ev, err := measurement.Evaluate(d, arm1[:2], measurement.EvalOptions{Bootstrap: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(ev.SNIPS.Value) || !math.IsNaN(ev.SNIPS.CI.Lo) || ev.IPS.Value != 0 || ev.ESS != 0 || ev.MaxWeight != 0 {
		t.Errorf("without support: SNIPS %v %v, IPS %v, ESS %v, max weight %v; want NaN, NaN, 0, 0, 0", ev.SNIPS.Value, ev.SNIPS.CI, ev.IPS.Value, ev.ESS, ev.MaxWeight)
	}
}

func TestPolicies(t *testing.T) {
	if diff := cmp.Diff(measurement.Policy{{0.25, 0.25, 0.25, 0.25}, {0.25, 0.25, 0.25, 0.25}}, measurement.UniformPolicy(2, 4)); diff != "" {
		t.Errorf("UniformPolicy(2, 4) (-want +got):\n%s", diff)
	}
	fixed, err := measurement.FixedArmPolicy(2, 3, 1)
	if diff := cmp.Diff(measurement.Policy{{0, 1, 0}, {0, 1, 0}}, fixed); diff != "" || err != nil {
		t.Errorf("FixedArmPolicy(2, 3, 1): %v (-want +got):\n%s", err, diff)
	}
	never, err := measurement.NeverSendPolicy(2, 3, 0)
	if diff := cmp.Diff(measurement.Policy{{1, 0, 0}, {1, 0, 0}}, never); diff != "" || err != nil {
		t.Errorf("NeverSendPolicy(2, 3, 0): %v (-want +got):\n%s", err, diff)
	}
	for _, arm := range []int{-1, 3} {
		if _, err := measurement.FixedArmPolicy(2, 3, arm); err == nil || !strings.Contains(err.Error(), "not an arm index in [0, 3)") {
			t.Errorf("FixedArmPolicy(2, 3, %d): %v, want an error", arm, err)
		}
		if _, err := measurement.NeverSendPolicy(2, 3, arm); err == nil || !strings.Contains(err.Error(), "never-send policy") {
			t.Errorf("NeverSendPolicy(2, 3, %d): %v, want an error", arm, err)
		}
	}

	// PolicyFrom: a policy computed per context, as a new bandit
	// configuration's would be.
	d, seg := testWorld.simulate(rand.New(rand.NewPCG(11, 12)), 50)
	pi, err := measurement.PolicyFrom(d, func(i int, dst []float64) error {
		copy(dst, candidate[int(d.Contexts[i][0])])
		return nil
	})
	if diff := cmp.Diff(measurement.Policy(bySegment(seg, candidate)), pi); diff != "" || err != nil {
		t.Errorf("PolicyFrom: %v (-want +got):\n%s", err, diff)
	}
	boom := errors.New("boom")
	if _, err := measurement.PolicyFrom(d, func(i int, dst []float64) error {
		if i == 3 {
			return boom
		}
		dst[0] = 1
		return nil
	}); !errors.Is(err, boom) || !strings.Contains(err.Error(), "round 3") {
		t.Errorf("PolicyFrom with a failing probs: %v, want boom in round 3", err)
	}
	if _, err := measurement.PolicyFrom(d, func(i int, dst []float64) error { dst[0] = 0.5; return nil }); err == nil || !strings.Contains(err.Error(), "policy row 0 sums to 0.5") {
		t.Errorf("PolicyFrom with rows summing to 0.5: %v, want an error", err)
	}
}

// TestValidation checks every rule on the inputs, through every function
// that reads the input concerned.
func TestValidation(t *testing.T) {
	valid := func() (measurement.Logged, measurement.Policy, [][]float64) {
		d := measurement.Logged{
			Arms:         2,
			Actions:      []int{0, 1, 1},
			Propensities: []float64{0.5, 0.25, 1},
			Rewards:      []float64{1, 0, 2.5},
			Contexts:     [][]float64{{1}, {2}, {3}},
		}
		return d, measurement.UniformPolicy(3, 2), [][]float64{{0.1, 0.2}, {0.3, 0.4}, {0.5, 0.6}}
	}
	type input struct {
		d    measurement.Logged
		pi   measurement.Policy
		q    [][]float64
		opts measurement.EvalOptions
	}
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		name   string
		change func(*input)
		want   string
		scope  string // "data" (every function), "model" (DM, DR, Evaluate), "options" (Evaluate)
	}{
		{"no rounds", func(in *input) { in.d = measurement.Logged{Arms: 2}; in.pi, in.q = nil, nil }, "needs logged rounds, got none", "data"},
		{"no arms", func(in *input) { in.d.Arms = 0 }, "Logged.Arms is 0, want at least 1", "data"},
		{"propensities short", func(in *input) { in.d.Propensities = in.d.Propensities[:2] }, "3 actions but 2 propensities", "data"},
		{"rewards long", func(in *input) { in.d.Rewards = append(in.d.Rewards, 1) }, "3 actions but 4 rewards", "data"},
		{"contexts short", func(in *input) { in.d.Contexts = in.d.Contexts[:1] }, "3 actions but 1 contexts", "data"},
		{"negative action", func(in *input) { in.d.Actions[1] = -1 }, "round 1: logged action -1 is not an arm index in [0, 2)", "data"},
		{"action too large", func(in *input) { in.d.Actions[2] = 2 }, "round 2: logged action 2 is not an arm index", "data"},
		{"zero propensity", func(in *input) { in.d.Propensities[0] = 0 }, "round 0: logged propensity 0 must lie in (0, 1]", "data"},
		{"negative propensity", func(in *input) { in.d.Propensities[1] = -0.5 }, "round 1: logged propensity -0.5 must lie", "data"},
		{"propensity above 1", func(in *input) { in.d.Propensities[2] = 1.5 }, "round 2: logged propensity 1.5 must lie", "data"},
		{"NaN propensity", func(in *input) { in.d.Propensities[0] = nan }, "round 0: logged propensity NaN must lie", "data"},
		{"NaN reward", func(in *input) { in.d.Rewards[1] = nan }, "round 1: reward NaN is not a finite number", "data"},
		{"infinite reward", func(in *input) { in.d.Rewards[2] = -inf }, "round 2: reward -Inf is not a finite number", "data"},
		{"policy rows", func(in *input) { in.pi = in.pi[:2] }, "the policy has 2 rows, want one per logged round (3)", "data"},
		{"policy row length", func(in *input) { in.pi[1] = []float64{1} }, "policy row 1 has 1 probabilities, want one per arm (2)", "data"},
		{"policy row sum", func(in *input) { in.pi[2] = []float64{0.5, 0.4} }, "policy row 2 sums to 0.9, want 1", "data"},
		{"policy row sum just off", func(in *input) { in.pi[2] = []float64{0.5, 0.5 + 2e-9} }, "policy row 2 sums to", "data"},
		{"negative probability", func(in *input) { in.pi[0] = []float64{-0.5, 1.5} }, "policy row 0: probability -0.5 of arm 0 must lie in [0, 1]", "data"},
		{"NaN probability", func(in *input) { in.pi[0] = []float64{nan, 1} }, "policy row 0: probability NaN of arm 0", "data"},
		{"model rows", func(in *input) { in.q = in.q[:1] }, "the reward model has 1 rows, want one per logged round (3)", "model"},
		{"model row length", func(in *input) { in.q[2] = []float64{1, 2, 3} }, "reward model row 2 has 3 predictions, want one per arm (2)", "model"},
		{"NaN prediction", func(in *input) { in.q[1][0] = nan }, "reward model row 1: prediction NaN for arm 0 is not a finite number", "model"},
		{"infinite prediction", func(in *input) { in.q[0][1] = inf }, "reward model row 0: prediction +Inf for arm 1", "model"},
		{"negative bootstrap", func(in *input) { in.opts.Bootstrap = -1 }, "EvalOptions.Bootstrap is -1", "options"},
		{"level above 1", func(in *input) { in.opts.Level = 1.5 }, "confidence level 1.5 must lie strictly between 0 and 1", "options"},
		{"negative level", func(in *input) { in.opts.Level = -0.95 }, "confidence level -0.95", "options"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := input{}
			in.d, in.pi, in.q = valid()
			in.opts = measurement.EvalOptions{Bootstrap: 10}
			c.change(&in)
			in.opts.RewardModel = in.q
			calls := map[string]func() error{
				"Evaluate": func() error { _, err := measurement.Evaluate(in.d, in.pi, in.opts); return err },
				"DM":       func() error { _, err := measurement.DM(in.d, in.pi, in.q); return err },
				"DR":       func() error { _, err := measurement.DR(in.d, in.pi, in.q); return err },
			}
			if c.scope == "data" {
				calls["IPS"] = func() error { _, err := measurement.IPS(in.d, in.pi); return err }
				calls["SNIPS"] = func() error { _, err := measurement.SNIPS(in.d, in.pi); return err }
				calls["Weights"] = func() error { _, err := measurement.Weights(in.d, in.pi); return err }
			}
			if c.scope == "options" {
				calls = map[string]func() error{"Evaluate": calls["Evaluate"]}
			}
			for name, call := range calls {
				if err := call(); err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
				}
			}
		})
	}

	// The valid input passes everywhere, without a reward model too.
	d, pi, q := valid()
	if _, err := measurement.Evaluate(d, pi, measurement.EvalOptions{RewardModel: q, Bootstrap: 10}); err != nil {
		t.Errorf("valid input: %v", err)
	}
	if ev, err := measurement.Evaluate(d, pi, measurement.EvalOptions{Bootstrap: 10}); err != nil || ev.DM != nil || ev.DR != nil {
		t.Errorf("without a reward model: DM %v, DR %v, %v; want nil, nil, no error", ev.DM, ev.DR, err)
	}
}

// A campaign logged three arms (0 sends nothing); would always sending
// arm 2 have done better?
func ExampleEvaluate() {
	logged := measurement.Logged{
		Arms:         3,
		Actions:      []int{0, 2, 1, 2, 0, 2, 1, 0},
		Propensities: []float64{0.5, 0.25, 0.25, 0.25, 0.5, 0.25, 0.25, 0.5},
		Rewards:      []float64{0, 1, 0, 1, 0, 0, 1, 0},
	}
	always2, err := measurement.FixedArmPolicy(logged.Len(), logged.Arms, 2)
	if err != nil {
		panic(err)
	}
	ev, err := measurement.Evaluate(logged, always2, measurement.EvalOptions{Seed: 1})
	if err != nil {
		panic(err)
	}
	fmt.Printf("IPS %.3f, SNIPS %.3f, ESS %.1f, max weight %.0f\n", ev.IPS.Value, ev.SNIPS.Value, ev.ESS, ev.MaxWeight)
	fmt.Println(ev.Warnings)
	// Output:
	// IPS 1.000, SNIPS 0.667, ESS 3.0, max weight 4
	// []
}

// A new policy — here a rule on the first context feature; a
// kairos/decisioning/bandit Policy's Probabilities in real use — is
// evaluated by computing its probabilities in every logged context.
func ExamplePolicyFrom() {
	logged := measurement.Logged{
		Arms:         2,
		Actions:      []int{0, 1, 1, 0},
		Propensities: []float64{0.5, 0.5, 0.5, 0.5},
		Rewards:      []float64{1, 0, 1, 0},
		Contexts:     [][]float64{{1}, {0}, {0}, {1}},
	}
	pi, err := measurement.PolicyFrom(logged, func(i int, dst []float64) error {
		if logged.Contexts[i][0] > 0.5 {
			dst[0], dst[1] = 0.9, 0.1
		} else {
			dst[0], dst[1] = 0.1, 0.9
		}
		return nil
	})
	if err != nil {
		panic(err)
	}
	v, err := measurement.IPS(logged, pi)
	if err != nil {
		panic(err)
	}
	fmt.Printf("IPS %.2f\n", v)
	// Output: IPS 0.90
}

func BenchmarkEvaluate(b *testing.B) {
	const n, k = 10000, 80
	rng := rand.New(rand.NewPCG(13, 14))
	d := measurement.Logged{Arms: k}
	q := make([][]float64, n)
	for i := range n {
		d.Actions = append(d.Actions, rng.IntN(k))
		d.Propensities = append(d.Propensities, 1.0/k)
		d.Rewards = append(d.Rewards, float64(rng.IntN(2)))
		q[i] = make([]float64, k)
		for j := range q[i] {
			q[i][j] = rng.Float64()
		}
	}
	pi := measurement.UniformPolicy(n, k)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := measurement.Evaluate(d, pi, measurement.EvalOptions{RewardModel: q}); err != nil {
			b.Fatal(err)
		}
	}
}
