package bandit_test

import (
	"fmt"
	"time"

	"kairos/decisioning/bandit"
)

// A campaign of three arms: an email, an SMS and sending nothing, with
// one Thompson posterior per engagement segment.
func Example() {
	cfg := bandit.Config{
		Kind:      bandit.Thompson,
		Arms:      3,
		Costs:     []float64{0.001, 0.04, 0}, // email, sms, none
		None:      2,
		Segments:  3,
		Epsilon:   0.05,
		HalfLife:  14 * 24 * time.Hour,
		UnitValue: true,
	}
	state, err := bandit.New(cfg)
	if err != nil {
		panic(err)
	}

	// The joiner reports closed reward windows: in segment 2, 30 of 100
	// emails converted, 12 of 100 customers left alone, 10 of 100 SMS.
	at := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100 {
		for arm, rate := range []int{30, 10, 12} {
			o := bandit.Observation{Arm: arm, Segment: 2, Converted: i < rate, At: at}
			if err := state.Update(o); err != nil {
				panic(err)
			}
		}
	}

	// The engine decides with an immutable snapshot.
	policy := state.Policy(cfg)
	probs := make([]float64, cfg.Arms)
	const all = 0b111
	arm, propensity, value, err := policy.Choose(probs, 2, nil, all, 0.42)
	if err != nil {
		panic(err)
	}
	fmt.Printf("updates: %d\n", state.Updates)
	fmt.Printf("arm %d with propensity %.3f, incremental value %.3f\n", arm, propensity, value)
	fmt.Printf("email gets at least ε/K: %v\n", probs[0] >= cfg.Epsilon/3)
	// Output:
	// updates: 300
	// arm 0 with propensity 0.966, incremental value 0.175
	// email gets at least ε/K: true
}
