package bandit

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Kind is the kind of a policy.
type Kind uint8

// Policy kinds.
const (
	// Thompson is Beta–Bernoulli Thompson sampling with independent
	// posteriors per segment and arm.
	Thompson Kind = iota + 1
	// LinearThompson is linear Thompson sampling on a context vector, one
	// Bayesian linear regression per arm.
	LinearThompson
)

// String returns "thompson", "linear_thompson" or "Kind(n)".
func (k Kind) String() string {
	switch k {
	case Thompson:
		return "thompson"
	case LinearThompson:
		return "linear_thompson"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Limits of a Config.
const (
	// maxArms is the most arms: the eligible arms are a 64-bit mask.
	maxArms = 64
	// maxSegments is the most Thompson segments.
	maxSegments = 1 << 16
	// maxDim is the largest LinearThompson context.
	maxDim = 64
)

// Config configures a policy.
type Config struct {
	Kind Kind `json:"kind"`
	// Arms is the number of arms K, in [1, 64].
	Arms int `json:"arms"`
	// Costs holds the cost of each arm (K entries, finite, >= 0), in the
	// unit of the conversion value; it is subtracted from the arm's
	// expected value.
	Costs []float64 `json:"costs"`
	// None is the index of the "send nothing" arm, or -1 when there is
	// none. The incremental value Choose returns is relative to it.
	None int `json:"none"`
	// Segments is the number of Thompson segments, in [1, 65536]; each
	// segment has its own posteriors. LinearThompson ignores it.
	Segments int `json:"segments,omitempty"`
	// Dim is the LinearThompson context dimension d, in [1, 64]; an
	// intercept is added internally. Thompson ignores it.
	Dim int `json:"dim,omitempty"`
	// Epsilon is the exploration floor, in [0, 1): every eligible arm keeps
	// a probability of at least Epsilon/K_e, K_e the number of eligible
	// arms.
	Epsilon float64 `json:"epsilon"`
	// HalfLife discounts the statistics by 0.5^(Δt/HalfLife); 0 keeps
	// every observation at full weight. It is encoded in nanoseconds.
	HalfLife time.Duration `json:"half_life"`
	// UnitValue makes every conversion worth 1; otherwise the value of a
	// conversion is learned from the observations.
	UnitValue bool `json:"unit_value"`
}

// Validate reports the first field of c that breaks its rule.
func (c Config) Validate() error {
	switch c.Kind {
	case Thompson, LinearThompson:
	default:
		return fmt.Errorf("bandit: Config.Kind: must be Thompson (1) or LinearThompson (2), got %d", c.Kind)
	}
	if c.Arms < 1 || c.Arms > maxArms {
		return fmt.Errorf("bandit: Config.Arms: must be in [1, %d], got %d", maxArms, c.Arms)
	}
	if len(c.Costs) != c.Arms {
		return fmt.Errorf("bandit: Config.Costs: must have one entry per arm (%d), got %d", c.Arms, len(c.Costs))
	}
	for i, v := range c.Costs {
		if !(v >= 0) || math.IsInf(v, 1) {
			return fmt.Errorf("bandit: Config.Costs[%d]: must be finite and >= 0, got %v", i, v)
		}
	}
	if c.None < -1 || c.None >= c.Arms {
		return fmt.Errorf("bandit: Config.None: must be -1 or an arm index in [0, %d), got %d", c.Arms, c.None)
	}
	switch c.Kind {
	case Thompson:
		if c.Segments < 1 || c.Segments > maxSegments {
			return fmt.Errorf("bandit: Config.Segments: must be in [1, %d] for Thompson, got %d", maxSegments, c.Segments)
		}
	case LinearThompson:
		if c.Dim < 1 || c.Dim > maxDim {
			return fmt.Errorf("bandit: Config.Dim: must be in [1, %d] for LinearThompson, got %d", maxDim, c.Dim)
		}
	}
	if !(c.Epsilon >= 0 && c.Epsilon < 1) {
		return fmt.Errorf("bandit: Config.Epsilon: must be in [0, 1), got %v", c.Epsilon)
	}
	if c.HalfLife < 0 {
		return fmt.Errorf("bandit: Config.HalfLife: must be >= 0, got %v", c.HalfLife)
	}
	return nil
}

// compatible reports whether states of c and o have the same shape: the
// same kind and number of arms, and the same number of segments
// (Thompson) or context dimension (LinearThompson).
func (c Config) compatible(o Config) bool {
	if c.Kind != o.Kind || c.Arms != o.Arms {
		return false
	}
	if c.Kind == LinearThompson {
		return c.Dim == o.Dim
	}
	return c.Segments == o.Segments
}
