package bandit

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"kairos/internal/sim"
)

// orderValue approximates the value of a cart, in euros (about the typical
// price of the simulator's catalogue). Money is counted in orders: a
// conversion is worth 1, a channel costs its euro cost / orderValue, and
// an offer that costs a share of the order is approximated as costing that
// share on every send (which overstates it: the simulator charges it only
// to the customers who convert).
const orderValue = 40.0

// environment is a campaign of the simulator with its true effects.
type environment struct {
	arms  []string
	theta [3][]float64 // P(convert | segment, arm)
	costs []float64
	none  int
	share [3]float64 // of the low, mid and high segments
	ev    [3][]float64
	best  [3]int
}

// cartRecovery builds the cart_recovery campaign from sim.DefaultParams:
// conversion probability = baseline + lift per segment (discount_10's lift
// with k = 1, an average price sensitivity), costs from the channels and
// offers, and the segment shares of the log-normal engagement.
func cartRecovery(t testing.TB) environment {
	t.Helper()
	p := sim.DefaultParams()
	var camp *sim.CampaignParams
	for i := range p.Campaigns {
		if p.Campaigns[i].Name == sim.CampaignCartRecovery {
			camp = &p.Campaigns[i]
		}
	}
	if camp == nil {
		t.Fatal("no cart_recovery campaign in sim.DefaultParams")
	}
	channelCost := map[string]float64{sim.ChannelNone: 0}
	for _, c := range p.Channels {
		channelCost[c.Name] = c.Cost
	}
	offerShare := map[string]float64{sim.OfferNone: 0}
	for _, o := range p.Offers {
		offerShare[o.Name] = o.CostShare
	}
	seg := func(b sim.BySegment) [3]float64 { return [3]float64{b.Low, b.Mid, b.High} }
	env := environment{none: -1}
	base := seg(camp.Baseline)
	for i, a := range camp.Arms {
		env.arms = append(env.arms, a.Channel+"/"+a.Offer)
		if a.Channel == sim.ChannelNone {
			env.none = i
		}
		lift := seg(a.Lift)
		for s := range 3 {
			env.theta[s] = append(env.theta[s], base[s]+lift[s])
		}
		env.costs = append(env.costs, channelCost[a.Channel]/orderValue+offerShare[a.Offer])
	}
	ln := distuv.Normal{Mu: math.Log(p.Engagement.Median), Sigma: p.Engagement.Sigma}
	low, high := ln.CDF(math.Log(p.SegmentCuts.LowBelow)), 1-ln.CDF(math.Log(p.SegmentCuts.HighFrom))
	env.share = [3]float64{low, 1 - low - high, high}
	for s := range 3 {
		env.best[s] = 0
		for a := range env.arms {
			env.ev[s] = append(env.ev[s], env.theta[s][a]-env.costs[a])
			if env.ev[s][a] > env.ev[s][env.best[s]] {
				env.best[s] = a
			}
		}
	}
	return env
}

// learner is a policy under test in an environment.
type learner interface {
	choose(segment int, u float64) int
	observe(round, segment, arm int, converted bool)
}

// banditLearner decides with a Policy snapshot that it refreshes from its
// State every refresh rounds, as the engine refreshes its policies
// periodically, so that feedback is delayed and batched. With grow > 0 the
// interval grows to 1/grow of the rounds played so far, which keeps the
// Thompson Monte Carlo of long runs cheap.
type banditLearner struct {
	t       testing.TB
	cfg     Config
	st      *State
	pol     *Policy
	context func(segment int) []float64
	dst     []float64
	refresh int
	grow    int
	next    int
}

func newBanditLearner(t testing.TB, cfg Config, refresh, grow int, context func(int) []float64) *banditLearner {
	st := mustNew(t, cfg)
	return &banditLearner{t: t, cfg: cfg, st: st, pol: st.Policy(cfg), context: context, dst: make([]float64, cfg.Arms), refresh: refresh, grow: grow}
}

func (b *banditLearner) choose(segment int, u float64) int {
	arm, _, _, err := b.pol.Choose(b.dst, segment, b.context(segment), 1<<b.cfg.Arms-1, u)
	if err != nil {
		b.t.Fatal(err)
	}
	return arm
}

func (b *banditLearner) observe(round, segment, arm int, converted bool) {
	o := Observation{Arm: arm, Segment: segment, Context: b.context(segment), Converted: converted, Value: 1, At: t0.Add(time.Duration(round) * time.Minute)}
	if err := b.st.Update(o); err != nil {
		b.t.Fatal(err)
	}
	if round+1 >= b.next {
		b.pol = b.st.Policy(b.cfg)
		b.next = round + 1 + b.refresh
		if b.grow > 0 {
			b.next = max(b.next, round+1+round/b.grow)
		}
	}
}

type uniform int

func (k uniform) choose(_ int, u float64) int { return int(u * float64(k)) }
func (uniform) observe(_, _, _ int, _ bool)   {}

// nearTies returns, per segment, the arms that cannot be told from the
// best within rounds: those whose expected value is within three standard
// errors of the difference between two arms that each get half the
// segment's rounds (the best among them). With the simulator's effects,
// email and push reminders are 1 pp apart in the high segment, and email
// and SMS in the mid segment: Thompson sampling needs far more than 20,000
// rounds to separate them.
func (env environment) nearTies(rounds int) [3][]bool {
	var tie [3][]bool
	for s := range 3 {
		b := env.best[s]
		th := env.theta[s][b]
		d := 3 * math.Sqrt(2*th*(1-th)/(env.share[s]*float64(rounds)/2))
		for a := range env.arms {
			tie[s] = append(tie[s], env.ev[s][b]-env.ev[s][a] <= d)
		}
	}
	return tie
}

// outcome is what a run of a learner did.
type outcome struct {
	// regret is the expected-value regret over each quarter of the rounds;
	// clear the part of it incurred on arms that are not near ties.
	regret, clear [4]float64
	late          [3][]int // choices per segment and arm over the last 20% of rounds
}

func (o outcome) total() float64 { return o.regret[0] + o.regret[1] + o.regret[2] + o.regret[3] }

// halves returns the regret over the first and second half of the rounds.
func (o outcome) halves() (float64, float64) {
	return o.regret[0] + o.regret[1], o.regret[2] + o.regret[3]
}

// mostChosen returns the arm chosen most often late in segment s.
func (o outcome) mostChosen(s int) int {
	best := 0
	for a, n := range o.late[s] {
		if n > o.late[s][best] {
			best = a
		}
	}
	return best
}

// lateOff returns the share of the late choices that went to arms outside
// tie.
func (o outcome) lateOff(tie [3][]bool) float64 {
	off, all := 0, 0
	for s := range 3 {
		for a, n := range o.late[s] {
			all += n
			if !tie[s][a] {
				off += n
			}
		}
	}
	return float64(off) / float64(all)
}

// play runs l for rounds rounds of env: a customer of a random segment, a
// decision, a conversion drawn from the arm's true probability.
func play(env environment, tie [3][]bool, l learner, rounds int, seed uint64) outcome {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out outcome
	for s := range 3 {
		out.late[s] = make([]int, len(env.arms))
	}
	for r := range rounds {
		u := rng.Float64()
		s := 2
		if u < env.share[0] {
			s = 0
		} else if u < env.share[0]+env.share[1] {
			s = 1
		}
		arm := l.choose(s, rng.Float64())
		l.observe(r, s, arm, rng.Float64() < env.theta[s][arm])
		regret := env.ev[s][env.best[s]] - env.ev[s][arm]
		out.regret[4*r/rounds] += regret
		if !tie[s][arm] {
			out.clear[4*r/rounds] += regret
		}
		if r >= rounds*4/5 {
			out.late[s][arm]++
		}
	}
	return out
}

// TestLearnCartRecovery runs the policies in the simulator's cart_recovery
// campaign and checks that they learn: regret that slows down and ends far
// below uniform random's, and the best arm of every segment found, up to
// the arms that are too close to it to be told apart in the rounds played.
func TestLearnCartRecovery(t *testing.T) {
	env := cartRecovery(t)
	// About a second, seven with -race: no need to cut it short.
	const rounds = 20_000
	tie := env.nearTies(rounds)
	var table strings.Builder
	for s, name := range sim.Segments {
		fmt.Fprintf(&table, "\n  %-4s (share %.3f):", name, env.share[s])
		for a := range env.arms {
			mark := ""
			if a != env.best[s] && tie[s][a] {
				mark = " (near tie)"
			}
			fmt.Fprintf(&table, " %s θ=%.2f ev=%.4f%s;", env.arms[a], env.theta[s][a], env.ev[s][a], mark)
		}
		fmt.Fprintf(&table, " best %s", env.arms[env.best[s]])
	}
	t.Logf("cart_recovery, %d rounds, money in orders of €%v:%s", rounds, orderValue, table.String())

	const seed = 2024
	oneHot := func(s int) []float64 {
		x := make([]float64, 3)
		x[s] = 1
		return x
	}
	k := len(env.arms)
	uni := play(env, tie, uniform(k), rounds, seed)
	t.Logf("uniform random: regret %.1f", uni.total())

	for _, tc := range []struct {
		name string
		cfg  Config
		ctx  func(int) []float64
	}{
		{"thompson", Config{Kind: Thompson, Segments: 3}, func(int) []float64 { return nil }},
		{"linear_thompson", Config{Kind: LinearThompson, Dim: 3}, oneHot},
	} {
		for _, eps := range []float64{0, 0.05} {
			cfg := tc.cfg
			cfg.Arms, cfg.Costs, cfg.None, cfg.Epsilon, cfg.UnitValue = k, env.costs, env.none, eps, true
			name := fmt.Sprintf("%s ε=%v", tc.name, eps)
			out := play(env, tie, newBanditLearner(t, cfg, 50, 20, tc.ctx), rounds, seed)
			first, second := out.halves()
			t.Logf("%s: regret %.1f = %.3f× uniform (halves %.1f + %.1f; by quarter %.1f, of which on arms that are not near ties %.1f); late choices %v, %.3f off the near ties",
				name, out.total(), out.total()/uni.total(), first, second, out.regret, out.clear, out.late, out.lateOff(tie))
			if out.total() >= 0.5*uni.total() {
				t.Errorf("%s: regret %.1f >= 0.5 × uniform random's %.1f", name, out.total(), uni.total())
			}
			if second >= first {
				t.Errorf("%s: regret over the second half %.1f >= %.1f over the first: not slowing down", name, second, first)
			}
			if eps == 0 && out.clear[3] >= 0.5*out.clear[0] {
				t.Errorf("%s: regret on arms that are not near ties: %.1f over the last quarter >= 0.5 × %.1f over the first: not sublinear", name, out.clear[3], out.clear[0])
			}
			if off := out.lateOff(tie); off > 0.15 {
				t.Errorf("%s: %.3f of the late choices went to arms that are not near ties, want <= 0.15", name, off)
			}
			for s := range 3 {
				if got := out.mostChosen(s); !tie[s][got] {
					t.Errorf("%s: segment %s: the most chosen arm late is %s, want %s (or a near tie)", name, sim.Segments[s], env.arms[got], env.arms[env.best[s]])
				}
			}
		}
	}
}

// TestDiscountTracksDrift: the better of two arms switches half way; with
// a half-life the policy follows within a few half-lives, without one it
// keeps choosing the formerly better arm, whose estimate 2,000 rounds
// built moves slowly. How long that takes varies from run to run, so the
// shares are averaged over four runs.
func TestDiscountTracksDrift(t *testing.T) {
	const rounds, runs = 4000, 4
	rate := func(round, arm int) float64 {
		if (round < rounds/2) == (arm == 0) {
			return 0.6
		}
		return 0.4
	}
	// share returns the share of the new best arm from 300 to 1,000
	// rounds after the switch.
	share := func(halfLife time.Duration, seed uint64) float64 {
		cfg := Config{Kind: Thompson, Arms: 2, Costs: []float64{0, 0}, None: -1, Segments: 1, HalfLife: halfLife, UnitValue: true}
		l := newBanditLearner(t, cfg, 40, 0, func(int) []float64 { return nil })
		rng := rand.New(rand.NewPCG(seed, 77))
		right := 0
		for r := range rounds {
			arm := l.choose(0, rng.Float64())
			l.observe(r, 0, arm, rng.Float64() < rate(r, arm))
			if r >= rounds/2+300 && r < rounds/2+1000 && arm == 1 {
				right++
			}
		}
		return float64(right) / 700
	}
	var with, without float64
	for seed := range uint64(runs) {
		// One round a minute: a half-life of 100 rounds.
		w, wo := share(100*time.Minute, seed), share(0, seed)
		t.Logf("run %d: the new best arm's share 300 to 1,000 rounds after the switch: %.3f with a half-life of 100 rounds, %.3f without", seed, w, wo)
		if w < 0.7 {
			t.Errorf("run %d: with a half-life the new best arm is chosen %.3f of the time, want >= 0.7", seed, w)
		}
		with += w / runs
		without += wo / runs
	}
	if with < 0.8 {
		t.Errorf("with a half-life the new best arm is chosen %.3f of the time, want >= 0.8", with)
	}
	if without > with-0.3 {
		t.Errorf("the new best arm is chosen %.3f of the time without a half-life, %.3f with: discounting should track the change faster", without, with)
	}
}
