package bandit

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func thompsonConfig() Config {
	return Config{Kind: Thompson, Arms: 3, Costs: []float64{0.5, 0.2, 0}, None: 2, Segments: 2, Epsilon: 0.05, HalfLife: time.Hour}
}

func linearConfig() Config {
	return Config{Kind: LinearThompson, Arms: 3, Costs: []float64{0.5, 0.2, 0}, None: 2, Dim: 2, Epsilon: 0.05, HalfLife: time.Hour}
}

func mustNew(t testing.TB, cfg Config) *State {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// randomObservation draws an observation for s's Config, at a time within
// two hours of t0 (so that they arrive out of order), in one of several
// time zones.
func randomObservation(rng *rand.Rand, c Config) Observation {
	zones := []*time.Location{time.UTC, time.FixedZone("CET", 3600), time.FixedZone("X", -7*3600-1800)}
	o := Observation{
		Arm:       rng.IntN(c.Arms),
		Converted: rng.Float64() < 0.3,
		Value:     10 + 40*rng.Float64(),
		At:        t0.Add(time.Duration(rng.Int64N(int64(2 * time.Hour)))).In(zones[rng.IntN(len(zones))]),
	}
	switch c.Kind {
	case Thompson:
		o.Segment = rng.IntN(c.Segments)
	case LinearThompson:
		o.Context = make([]float64, c.Dim)
		for k := range o.Context {
			o.Context[k] = rng.NormFloat64()
		}
	}
	return o
}

func feed(t testing.TB, s *State, rng *rand.Rand, n int) {
	t.Helper()
	for range n {
		if err := s.Update(randomObservation(rng, s.Config)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNew(t *testing.T) {
	s := mustNew(t, thompsonConfig())
	if len(s.Successes) != 6 || len(s.Failures) != 6 || s.Gram != nil || s.Moment != nil || len(s.ValueSum) != 3 || s.Updates != 0 || !s.Last.IsZero() {
		t.Errorf("New(thompson) = %+v", s)
	}
	l := mustNew(t, linearConfig())
	if len(l.Gram) != 3*3*3 || len(l.Moment) != 3*3 || l.Successes != nil || len(l.ValueWeight) != 3 {
		t.Errorf("New(linear) = %+v", l)
	}
	// The state owns its costs.
	cfg := thompsonConfig()
	s = mustNew(t, cfg)
	cfg.Costs[0] = 99
	if s.Config.Costs[0] != 0.5 {
		t.Errorf("New kept the caller's Costs slice")
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New(Config{}) = nil error")
	}
}

func TestStateJSONRoundTrip(t *testing.T) {
	for _, cfg := range []Config{thompsonConfig(), linearConfig(), func() Config { c := linearConfig(); c.UnitValue, c.HalfLife = true, 0; return c }()} {
		t.Run(cfg.Kind.String(), func(t *testing.T) {
			s := mustNew(t, cfg)
			feed(t, s, rand.New(rand.NewPCG(3, 4)), 300)
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			var got State
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s, &got) {
				t.Fatalf("round trip differs:\nwant %+v\ngot  %+v", s, &got)
			}
			b2, _ := json.Marshal(&got)
			if string(b) != string(b2) {
				t.Fatalf("re-encoding differs:\n%s\n%s", b, b2)
			}
			// Decoding into a used State replaces it entirely.
			used := mustNew(t, thompsonConfig())
			feed(t, used, rand.New(rand.NewPCG(5, 6)), 10)
			if err := json.Unmarshal(b, used); err != nil || !reflect.DeepEqual(s, used) {
				t.Fatalf("decoding into a used State: err %v, equal %v", err, reflect.DeepEqual(s, used))
			}
			// And the decoded state decides exactly alike.
			x := []float64{0.3, -1}
			p1, err := s.Policy(cfg).Probabilities(nil, 1, x, 0b111)
			if err != nil {
				t.Fatal(err)
			}
			p2, _ := got.Policy(cfg).Probabilities(nil, 1, x, 0b111)
			if !reflect.DeepEqual(p1, p2) {
				t.Fatalf("probabilities differ after a round trip: %v, %v", p1, p2)
			}
		})
	}
}

func TestStateJSONRejects(t *testing.T) {
	s := mustNew(t, linearConfig())
	feed(t, s, rand.New(rand.NewPCG(1, 1)), 20)
	good, _ := json.Marshal(s)
	for _, tc := range []struct {
		name   string
		mutate func(m map[string]any)
		want   string
	}{
		{"invalid config", func(m map[string]any) { m["config"].(map[string]any)["epsilon"] = 2.0 }, "Config.Epsilon"},
		{"short gram", func(m map[string]any) { m["gram"] = m["gram"].([]any)[:5] }, "State.Gram: must have 27 entries"},
		{"stray successes", func(m map[string]any) { m["successes"] = []any{1.0} }, "State.Successes: must have 0 entries"},
		{"missing values", func(m map[string]any) { delete(m, "value_sum") }, "State.ValueSum"},
		{"negative weight", func(m map[string]any) { m["value_weight"].([]any)[1] = -1.0 }, "State.ValueWeight[1]: must be finite and >= 0"},
		{"asymmetric gram", func(m map[string]any) { m["gram"].([]any)[1] = 1e6 }, "State.Gram[1]: must be finite and symmetric"},
		{"negative diagonal", func(m map[string]any) { m["gram"].([]any)[0] = -1.0 }, "State.Gram[0]: diagonal"},
		{"negative updates", func(m map[string]any) { m["updates"] = -1 }, "State.Updates"},
		{"more weight than updates", func(m map[string]any) { m["updates"] = 3 }, "State: the statistics count more observations"},
		{"bad time", func(m map[string]any) { m["last"] = "yesterday" }, "bandit: decode State"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(good, &m); err != nil {
				t.Fatal(err)
			}
			tc.mutate(m)
			b, _ := json.Marshal(m)
			var got State
			err := json.Unmarshal(b, &got)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Unmarshal = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// A Thompson state with negative counts is rejected too.
	th := mustNew(t, thompsonConfig())
	th.Failures[3] = -0.5
	b, _ := json.Marshal(th)
	if err := json.Unmarshal(b, new(State)); err == nil || !strings.Contains(err.Error(), "State.Failures[3]") {
		t.Fatalf("Unmarshal(negative failures) = %v", err)
	}
}

func TestClone(t *testing.T) {
	for _, cfg := range []Config{thompsonConfig(), linearConfig()} {
		s := mustNew(t, cfg)
		rng := rand.New(rand.NewPCG(7, 8))
		feed(t, s, rng, 50)
		before, _ := json.Marshal(s)
		c := s.Clone()
		if !reflect.DeepEqual(s, c) {
			t.Fatalf("%s: clone differs", cfg.Kind)
		}
		feed(t, c, rng, 50)
		c.Config.Costs[0] = 42
		c.ValueSum[0] = 1e9
		after, _ := json.Marshal(s)
		if string(before) != string(after) {
			t.Fatalf("%s: updating the clone changed the original", cfg.Kind)
		}
		if c.Updates != s.Updates+50 {
			t.Fatalf("%s: clone has %d updates, original %d", cfg.Kind, c.Updates, s.Updates)
		}
	}
	if (*State)(nil).Clone() != nil {
		t.Error("nil.Clone() != nil")
	}
}

func TestUpdateErrors(t *testing.T) {
	good := func(f func(*Observation)) Observation {
		o := Observation{Arm: 1, Segment: 1, Context: []float64{1, 2}, Converted: true, Value: 3, At: t0}
		f(&o)
		return o
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		o    Observation
		want string
	}{
		{"arm too large", thompsonConfig(), good(func(o *Observation) { o.Arm = 3 }), "bandit: Observation.Arm: must be in [0, 3), got 3"},
		{"negative arm", linearConfig(), good(func(o *Observation) { o.Arm = -1 }), "Observation.Arm"},
		{"segment too large", thompsonConfig(), good(func(o *Observation) { o.Segment = 2 }), "bandit: Observation.Segment: must be in [0, 2), got 2"},
		{"negative segment", thompsonConfig(), good(func(o *Observation) { o.Segment = -1 }), "Observation.Segment"},
		{"short context", linearConfig(), good(func(o *Observation) { o.Context = []float64{1} }), "bandit: Observation.Context: must have Dim (2) values, got 1"},
		{"infinite context", linearConfig(), good(func(o *Observation) { o.Context[1] = math.Inf(-1) }), "bandit: Observation.Context[1]: must be finite"},
		{"huge context", linearConfig(), good(func(o *Observation) { o.Context[0] = 1e200 }), "Observation.Context[0]"},
		{"NaN value", thompsonConfig(), good(func(o *Observation) { o.Value = math.NaN() }), "bandit: Observation.Value: must be finite and >= 0 for a conversion, got NaN"},
		{"negative value", linearConfig(), good(func(o *Observation) { o.Value = -1 }), "Observation.Value"},
		{"infinite value", thompsonConfig(), good(func(o *Observation) { o.Value = math.Inf(1) }), "Observation.Value"},
		{"no time with a half-life", thompsonConfig(), good(func(o *Observation) { o.At = time.Time{} }), "bandit: Observation.At: must be set when Config.HalfLife > 0"},
		{"year 10000", thompsonConfig(), good(func(o *Observation) { o.At = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }), "Observation.At: year must be in [1, 9999]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustNew(t, tc.cfg)
			feed(t, s, rand.New(rand.NewPCG(1, 2)), 5)
			before := s.Clone()
			err := s.Update(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Update = %v, want an error containing %q", err, tc.want)
			}
			if !reflect.DeepEqual(before, s) {
				t.Fatal("a failed Update changed the state")
			}
		})
	}

	// A value that would make the state unencodable (an infinite sum).
	big := mustNew(t, thompsonConfig())
	o := good(func(o *Observation) { o.Value = math.MaxFloat64 })
	if err := big.Update(o); err != nil {
		t.Fatal(err)
	}
	if err := big.Update(o); err == nil || !strings.Contains(err.Error(), "Observation.Value: 1.7976931348623157e+308 overflows arm 1's value sum") {
		t.Errorf("second huge value: %v", err)
	}

	// What is ignored is not validated.
	s := mustNew(t, thompsonConfig())
	for _, o := range []Observation{
		good(func(o *Observation) { o.Converted, o.Value = false, math.NaN() }), // value of a non-conversion
		good(func(o *Observation) { o.Context = nil }),                          // context for Thompson
	} {
		if err := s.Update(o); err != nil {
			t.Errorf("Update(%+v) = %v", o, err)
		}
	}
	unit := thompsonConfig()
	unit.UnitValue = true
	if err := mustNew(t, unit).Update(good(func(o *Observation) { o.Value = -5 })); err != nil {
		t.Errorf("UnitValue: Update with a negative value = %v", err)
	}
	lin := mustNew(t, linearConfig())
	if err := lin.Update(good(func(o *Observation) { o.Segment = 99 })); err != nil {
		t.Errorf("LinearThompson: Update with segment 99 = %v", err)
	}
	noHalfLife := thompsonConfig()
	noHalfLife.HalfLife = 0
	if err := mustNew(t, noHalfLife).Update(good(func(o *Observation) { o.At = time.Time{} })); err != nil {
		t.Errorf("no half-life: Update without a time = %v", err)
	}
	var nilState *State
	if err := nilState.Update(good(func(*Observation) {})); err == nil {
		t.Error("nil.Update = nil error")
	}
	broken := mustNew(t, thompsonConfig())
	broken.Successes = broken.Successes[:1]
	if err := broken.Update(good(func(*Observation) {})); err == nil || !strings.Contains(err.Error(), "State.Successes") {
		t.Errorf("Update on a malformed state = %v", err)
	}
}

func TestUpdateNaNContextIsZero(t *testing.T) {
	a, b := mustNew(t, linearConfig()), mustNew(t, linearConfig())
	for i, x := range [][2][]float64{{{math.NaN(), 1}, {0, 1}}, {{2, math.NaN()}, {2, 0}}, {{math.NaN(), math.NaN()}, {0, 0}}} {
		o := Observation{Arm: i % 3, Converted: i%2 == 0, Value: 1, At: t0.Add(time.Duration(i) * time.Minute)}
		o.Context = x[0]
		if err := a.Update(o); err != nil {
			t.Fatal(err)
		}
		o.Context = x[1]
		if err := b.Update(o); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("NaN context differs from 0:\n%+v\n%+v", a, b)
	}
	pa, _ := a.Policy(a.Config).Probabilities(nil, 0, []float64{math.NaN(), 1}, 0b111)
	pb, _ := b.Policy(b.Config).Probabilities(nil, 0, []float64{0, 1}, 0b111)
	if !reflect.DeepEqual(pa, pb) {
		t.Fatalf("Probabilities with NaN %v, with 0 %v", pa, pb)
	}
}

func TestCompatible(t *testing.T) {
	th, lin := mustNew(t, thompsonConfig()), mustNew(t, linearConfig())
	change := func(c Config, f func(*Config)) Config {
		c.Costs = append([]float64(nil), c.Costs...)
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		s    *State
		cfg  Config
		want bool
	}{
		{"same", th, thompsonConfig(), true},
		{"costs, none, epsilon, half-life, unit value", th, change(thompsonConfig(), func(c *Config) {
			c.Costs[0], c.None, c.Epsilon, c.HalfLife, c.UnitValue = 3, -1, 0.5, 0, true
		}), true},
		{"thompson ignores dim", th, change(thompsonConfig(), func(c *Config) { c.Dim = 7 }), true},
		{"linear ignores segments", lin, change(linearConfig(), func(c *Config) { c.Segments = 9 }), true},
		{"kind", th, change(thompsonConfig(), func(c *Config) { c.Kind, c.Dim = LinearThompson, 2 }), false},
		{"arms", th, change(thompsonConfig(), func(c *Config) { c.Arms, c.Costs = 4, []float64{0, 0, 0, 0} }), false},
		{"segments", th, change(thompsonConfig(), func(c *Config) { c.Segments = 3 }), false},
		{"dim", lin, change(linearConfig(), func(c *Config) { c.Dim = 3 }), false},
		{"invalid config", th, change(thompsonConfig(), func(c *Config) { c.Epsilon = 1 }), false},
		{"nil state", nil, thompsonConfig(), false},
		{"malformed state", &State{Config: thompsonConfig()}, thompsonConfig(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Compatible(tc.cfg); got != tc.want {
				t.Fatalf("Compatible = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDiscountHalfLife(t *testing.T) {
	const h = time.Hour
	cfg := Config{Kind: Thompson, Arms: 2, Costs: []float64{0, 0}, None: -1, Segments: 1, HalfLife: h}
	s := mustNew(t, cfg)
	up := func(arm int, conv bool, at time.Time) {
		t.Helper()
		if err := s.Update(Observation{Arm: arm, Converted: conv, Value: 8, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	up(0, true, t0)
	up(0, false, t0.Add(h)) // the success is now one half-life old
	near("successes", s.Successes[0], 0.5)
	near("failures", s.Failures[0], 1)
	near("value weight", s.ValueWeight[0], 0.5)
	near("value sum", s.ValueSum[0], 4)
	up(1, true, t0) // arrives late: one half-life older than Last
	near("late success", s.Successes[1], 0.5)
	if !s.Last.Equal(t0.Add(h)) {
		t.Errorf("Last = %v, want %v", s.Last, t0.Add(h))
	}
	up(1, false, t0.Add(3*h)) // two more half-lives
	near("successes after 2H", s.Successes[0], 0.125)
	near("late success after 2H", s.Successes[1], 0.125)
	near("failures after 2H", s.Failures[0], 0.25)

	// The linear statistics decay alike: A − λI and b.
	lc := Config{Kind: LinearThompson, Arms: 1, Costs: []float64{0}, None: -1, Dim: 1, HalfLife: h, UnitValue: true}
	l := mustNew(t, lc)
	for _, o := range []Observation{{Context: []float64{2}, Converted: true, At: t0}, {Context: []float64{3}, At: t0.Add(2 * h)}} {
		if err := l.Update(o); err != nil {
			t.Fatal(err)
		}
	}
	want := []float64{0.25 + 1, 0.25*2 + 3, 0.25*2 + 3, 0.25*4 + 9}
	for i := range want {
		near("gram", l.Gram[i], want[i])
	}
	near("moment[0]", l.Moment[0], 0.25)
	near("moment[1]", l.Moment[1], 0.5)

	// Without a half-life every observation counts 1, and Last is the
	// latest.
	cfg.HalfLife = 0
	s = mustNew(t, cfg)
	up(0, true, t0.Add(h))
	up(0, true, t0)
	up(0, false, t0.Add(-time.Hour))
	near("undiscounted successes", s.Successes[0], 2)
	if !s.Last.Equal(t0.Add(h)) {
		t.Errorf("undiscounted Last = %v", s.Last)
	}
}

// TestDiscountOrderIndependent checks the discounted statistics against
// their definition, Σ w·0.5^((Last − t)/H), whatever the arrival order.
func TestDiscountOrderIndependent(t *testing.T) {
	const h = 30 * time.Minute
	rng := rand.New(rand.NewPCG(9, 9))
	for _, cfg := range []Config{
		{Kind: Thompson, Arms: 3, Costs: make([]float64, 3), None: -1, Segments: 2, HalfLife: h},
		{Kind: LinearThompson, Arms: 3, Costs: make([]float64, 3), None: -1, Dim: 2, HalfLife: h},
	} {
		obs := make([]Observation, 200)
		for i := range obs {
			obs[i] = randomObservation(rng, cfg)
		}
		// The oracle, from the definition.
		last := obs[0].At
		for _, o := range obs {
			if o.At.After(last) {
				last = o.At
			}
		}
		want := mustNew(t, cfg)
		for _, o := range obs {
			w := math.Pow(0.5, last.Sub(o.At).Hours()/h.Hours())
			r := 0.0
			if o.Converted {
				r = 1
			}
			switch cfg.Kind {
			case Thompson:
				i := o.Segment*cfg.Arms + o.Arm
				want.Successes[i] += w * r
				want.Failures[i] += w * (1 - r)
			case LinearThompson:
				z := append([]float64{1}, o.Context...)
				d := len(z)
				for a := range d {
					for c := range d {
						want.Gram[o.Arm*d*d+a*d+c] += w * z[a] * z[c]
					}
					want.Moment[o.Arm*d+a] += w * r * z[a]
				}
			}
			if o.Converted {
				want.ValueSum[o.Arm] += w * o.Value
				want.ValueWeight[o.Arm] += w
			}
		}
		for trial := range 3 {
			rng.Shuffle(len(obs), func(i, j int) { obs[i], obs[j] = obs[j], obs[i] })
			got := mustNew(t, cfg)
			for _, o := range obs {
				if err := got.Update(o); err != nil {
					t.Fatal(err)
				}
			}
			if !got.Last.Equal(last) || got.Updates != int64(len(obs)) {
				t.Fatalf("%s trial %d: Last %v Updates %d", cfg.Kind, trial, got.Last, got.Updates)
			}
			for _, f := range []struct {
				name      string
				got, want []float64
			}{
				{"Successes", got.Successes, want.Successes}, {"Failures", got.Failures, want.Failures},
				{"Gram", got.Gram, want.Gram}, {"Moment", got.Moment, want.Moment},
				{"ValueSum", got.ValueSum, want.ValueSum}, {"ValueWeight", got.ValueWeight, want.ValueWeight},
			} {
				for i := range f.want {
					if d := math.Abs(f.got[i] - f.want[i]); d > 1e-9*(1+math.Abs(f.want[i])) {
						t.Fatalf("%s trial %d: %s[%d] = %v, want %v", cfg.Kind, trial, f.name, i, f.got[i], f.want[i])
					}
				}
			}
		}
	}
}
