package bandit

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// maxContextAbs bounds the magnitude of a context value, so that the
// statistics stay finite.
const maxContextAbs = 1e100

// Observation is the outcome of one decision: whether the customer it was
// made for converted within the reward window.
type Observation struct {
	// Arm is the index of the executed arm.
	Arm int
	// Segment is the customer's segment (Thompson; ignored otherwise).
	Segment int
	// Context is the vector the decision was made with (LinearThompson,
	// Dim values; NaN counts as 0; ignored otherwise).
	Context []float64
	// Converted reports a conversion within the window.
	Converted bool
	// Value is the value of the conversion, finite and >= 0; it is ignored
	// when !Converted or Config.UnitValue.
	Value float64
	// At is when the reward window closed or the conversion happened. It
	// must be set when Config.HalfLife > 0.
	At time.Time
}

// State is the learned sufficient statistics of one campaign's policy. It
// round-trips through encoding/json exactly; decoding validates it. Its
// fields are exported for encoding: change them only through New and
// Update (or assign a Compatible Config, to change costs, ε or the
// half-life of a kept state).
//
// A State is not safe for concurrent use; Clone it, update the clone and
// take Policy snapshots for deciding.
type State struct {
	// Config is the configuration the state was created (or last
	// reconfigured) with; Update discounts with its HalfLife and learns
	// values unless its UnitValue is set.
	Config Config `json:"config"`
	// Updates counts the observations added.
	Updates int64 `json:"updates"`
	// Last is the time of the latest observation (UTC), zero before the
	// first observation with a time.
	Last time.Time `json:"last"`
	// Successes and Failures are the discounted numbers of conversions and
	// non-conversions of each segment and arm, at [segment×Arms + arm]
	// (Thompson).
	Successes []float64 `json:"successes,omitempty"`
	Failures  []float64 `json:"failures,omitempty"`
	// Gram holds Σ w·z zᵀ of each arm, that is A − λI, row-major at
	// [arm×D² + row×D + column] with D = Dim+1; Moment holds b = Σ w·r·z
	// at [arm×D + row] (LinearThompson).
	Gram   []float64 `json:"gram,omitempty"`
	Moment []float64 `json:"moment,omitempty"`
	// ValueSum and ValueWeight are the discounted sum of the values of each
	// arm's conversions and their discounted number.
	ValueSum    []float64 `json:"value_sum"`
	ValueWeight []float64 `json:"value_weight"`
}

// New returns the prior state of a policy configured by cfg.
func New(cfg Config) (*State, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Costs = slices.Clone(cfg.Costs)
	s := &State{Config: cfg, ValueSum: make([]float64, cfg.Arms), ValueWeight: make([]float64, cfg.Arms)}
	switch cfg.Kind {
	case Thompson:
		s.Successes = make([]float64, cfg.Segments*cfg.Arms)
		s.Failures = make([]float64, cfg.Segments*cfg.Arms)
	case LinearThompson:
		d := cfg.Dim + 1
		s.Gram = make([]float64, cfg.Arms*d*d)
		s.Moment = make([]float64, cfg.Arms*d)
	}
	return s, nil
}

// Clone returns a deep copy of s (nil for nil).
func (s *State) Clone() *State {
	if s == nil {
		return nil
	}
	c := *s
	c.Config.Costs = slices.Clone(s.Config.Costs)
	c.Successes = slices.Clone(s.Successes)
	c.Failures = slices.Clone(s.Failures)
	c.Gram = slices.Clone(s.Gram)
	c.Moment = slices.Clone(s.Moment)
	c.ValueSum = slices.Clone(s.ValueSum)
	c.ValueWeight = slices.Clone(s.ValueWeight)
	return &c
}

// Compatible reports whether s can be kept for a policy configured by cfg:
// s is well formed and has the same Kind and number of arms as cfg, and the
// same number of segments (Thompson) or context dimension
// (LinearThompson). Costs, None, Epsilon, HalfLife and UnitValue may
// differ: Policy takes them from its argument.
func (s *State) Compatible(cfg Config) bool {
	return s.check() == nil && cfg.Validate() == nil && s.Config.compatible(cfg)
}

// Update adds an observation to s. It validates o against s.Config and
// leaves s unchanged when o is invalid. With a half-life, an observation
// later than s.Last first discounts every statistic by
// 0.5^((o.At − Last)/HalfLife) and becomes Last; an earlier one is added
// with weight 0.5^((Last − o.At)/HalfLife).
func (s *State) Update(o Observation) error {
	if err := s.check(); err != nil {
		return err
	}
	c := &s.Config
	if o.Arm < 0 || o.Arm >= c.Arms {
		return fmt.Errorf("bandit: Observation.Arm: must be in [0, %d), got %d", c.Arms, o.Arm)
	}
	var zbuf [maxDim + 1]float64
	var z []float64
	switch c.Kind {
	case Thompson:
		if o.Segment < 0 || o.Segment >= c.Segments {
			return fmt.Errorf("bandit: Observation.Segment: must be in [0, %d), got %d", c.Segments, o.Segment)
		}
	case LinearThompson:
		var err error
		if z, err = withIntercept(zbuf[:], o.Context, c.Dim, "Observation.Context"); err != nil {
			return err
		}
	}
	learn := o.Converted && !c.UnitValue
	if learn && (!(o.Value >= 0) || math.IsInf(o.Value, 1)) {
		return fmt.Errorf("bandit: Observation.Value: must be finite and >= 0 for a conversion, got %v", o.Value)
	}
	if y := o.At.Year(); y < 1 || y > 9999 {
		return fmt.Errorf("bandit: Observation.At: year must be in [1, 9999], got %d", y)
	}
	if c.HalfLife > 0 && o.At.IsZero() {
		return errors.New("bandit: Observation.At: must be set when Config.HalfLife > 0")
	}

	// f discounts the statistics, w the observation.
	at := o.At.UTC()
	f, w, last := 1.0, 1.0, s.Last
	switch {
	case s.Last.IsZero():
		last = at
	case at.After(s.Last):
		if c.HalfLife > 0 {
			f = decay(at.Sub(s.Last), c.HalfLife)
		}
		last = at
	case c.HalfLife > 0:
		w = decay(s.Last.Sub(at), c.HalfLife)
	}
	if learn && math.IsInf(f*s.ValueSum[o.Arm]+w*o.Value, 0) {
		return fmt.Errorf("bandit: Observation.Value: %v overflows arm %d's value sum", o.Value, o.Arm)
	}
	if f != 1 {
		s.scale(f)
	}
	s.Last = last

	r := 0.0
	if o.Converted {
		r = 1
	}
	switch c.Kind {
	case Thompson:
		i := o.Segment*c.Arms + o.Arm
		if o.Converted {
			s.Successes[i] += w
		} else {
			s.Failures[i] += w
		}
	case LinearThompson:
		d := len(z)
		g := s.Gram[o.Arm*d*d : (o.Arm+1)*d*d]
		b := s.Moment[o.Arm*d : (o.Arm+1)*d]
		// Add the same increment to (a, k) and (k, a), so that the matrix
		// stays exactly symmetric.
		for a, za := range z {
			if za == 0 {
				continue
			}
			for k := a; k < d; k++ {
				v := w * za * z[k]
				g[a*d+k] += v
				if k != a {
					g[k*d+a] += v
				}
			}
			b[a] += w * r * za
		}
	}
	if learn {
		s.ValueSum[o.Arm] += w * o.Value
		s.ValueWeight[o.Arm] += w
	}
	s.Updates++
	return nil
}

// decay returns 0.5^(d/h).
func decay(d, h time.Duration) float64 {
	return math.Exp2(-float64(d) / float64(h))
}

// scale multiplies every statistic by f.
func (s *State) scale(f float64) {
	for _, v := range [][]float64{s.Successes, s.Failures, s.Gram, s.Moment, s.ValueSum, s.ValueWeight} {
		for i := range v {
			v[i] *= f
		}
	}
}

// withIntercept writes z = [1, x...] into buf, with NaN values of x as 0,
// and returns it. name names x in errors.
func withIntercept(buf []float64, x []float64, dim int, name string) ([]float64, error) {
	if len(x) != dim {
		return nil, fmt.Errorf("bandit: %s: must have Dim (%d) values, got %d", name, dim, len(x))
	}
	z := buf[:dim+1]
	z[0] = 1
	for k, v := range x {
		switch {
		case v != v:
			v = 0
		case !(math.Abs(v) <= maxContextAbs):
			return nil, fmt.Errorf("bandit: %s[%d]: must be finite with magnitude <= %g, got %v", name, k, maxContextAbs, v)
		}
		z[k+1] = v
	}
	return z, nil
}

// check reports whether s is well formed: a valid Config and statistics of
// the right lengths.
func (s *State) check() error {
	if s == nil {
		return errors.New("bandit: nil State")
	}
	c := s.Config
	if err := c.Validate(); err != nil {
		return err
	}
	var n [4]int // lengths of Successes, Failures, Gram and Moment
	switch c.Kind {
	case Thompson:
		n = [4]int{c.Segments * c.Arms, c.Segments * c.Arms, 0, 0}
	case LinearThompson:
		d := c.Dim + 1
		n = [4]int{0, 0, c.Arms * d * d, c.Arms * d}
	}
	for _, f := range [...]struct {
		name string
		got  int
		want int
	}{
		{"Successes", len(s.Successes), n[0]}, {"Failures", len(s.Failures), n[1]},
		{"Gram", len(s.Gram), n[2]}, {"Moment", len(s.Moment), n[3]},
		{"ValueSum", len(s.ValueSum), c.Arms}, {"ValueWeight", len(s.ValueWeight), c.Arms},
	} {
		if f.got != f.want {
			return fmt.Errorf("bandit: State.%s: must have %d entries for its Config, got %d", f.name, f.want, f.got)
		}
	}
	return nil
}

// validate checks s fully: check, and every statistic in its domain.
func (s *State) validate() error {
	if err := s.check(); err != nil {
		return err
	}
	if s.Updates < 0 {
		return fmt.Errorf("bandit: State.Updates: must be >= 0, got %d", s.Updates)
	}
	for _, f := range []struct {
		name string
		v    []float64
	}{{"Successes", s.Successes}, {"Failures", s.Failures}, {"ValueSum", s.ValueSum}, {"ValueWeight", s.ValueWeight}} {
		for i, v := range f.v {
			if !(v >= 0) || math.IsInf(v, 1) {
				return fmt.Errorf("bandit: State.%s[%d]: must be finite and >= 0, got %v", f.name, i, v)
			}
		}
	}
	// Every observation adds at most 1 to these sums (its discounted
	// weight), so none exceeds Updates.
	limit := float64(s.Updates)*(1+1e-9) + 1e-9
	var n, conv float64
	for i := range s.Successes {
		n += s.Successes[i] + s.Failures[i]
	}
	for _, v := range s.ValueWeight {
		conv += v
	}
	d := s.Config.Dim + 1
	for arm := range len(s.Gram) / (d * d) {
		n += s.Gram[arm*d*d]
	}
	if n > limit || conv > limit {
		return fmt.Errorf("bandit: State: the statistics count more observations (%v) than Updates (%d)", max(n, conv), s.Updates)
	}
	for i, v := range s.Moment {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("bandit: State.Moment[%d]: must be finite, got %v", i, v)
		}
	}
	for arm := range len(s.Gram) / (d * d) {
		g := s.Gram[arm*d*d : (arm+1)*d*d]
		for a := range d {
			if v := g[a*d+a]; !(v >= 0) || math.IsInf(v, 1) {
				return fmt.Errorf("bandit: State.Gram[%d]: diagonal must be finite and >= 0, got %v", arm*d*d+a*d+a, v)
			}
			for c := a + 1; c < d; c++ {
				if v := g[a*d+c]; math.IsNaN(v) || math.IsInf(v, 0) || v != g[c*d+a] {
					return fmt.Errorf("bandit: State.Gram[%d]: must be finite and symmetric, got %v and %v", arm*d*d+a*d+c, v, g[c*d+a])
				}
			}
		}
	}
	return nil
}

// UnmarshalJSON decodes a State encoded by encoding/json and validates it.
func (s *State) UnmarshalJSON(b []byte) error {
	type plain State
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("bandit: decode State: %w", err)
	}
	st := State(p)
	if err := st.validate(); err != nil {
		return err
	}
	*s = st
	return nil
}
