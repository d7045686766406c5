package measurement

import (
	"fmt"
	"math"
)

// Incremental is what a lift added over the treated units: conversions
// (for a 0/1 metric) or revenue (for revenue per customer) that would not
// have happened without the treatment.
type Incremental struct {
	Value float64
	CI    Interval
}

// IncrementalOf returns the comparison's absolute lift times the number
// of treated units, with its interval scaled alike.
func IncrementalOf(c Comparison, treated int) Incremental {
	k := float64(treated)
	return Incremental{Value: c.AbsLift * k, CI: c.AbsCI.Scale(k)}
}

// ROI returns the return on the cost of a campaign, (incremental revenue −
// cost)/cost, and its interval, the revenue interval mapped through the
// same (increasing) function. It fails unless cost is a positive finite
// number.
func ROI(revenue Incremental, cost float64) (float64, Interval, error) {
	if !(cost > 0) || math.IsInf(cost, 0) {
		return math.NaN(), Interval{math.NaN(), math.NaN()}, fmt.Errorf("measurement: ROI needs a positive cost, got %v", cost)
	}
	f := func(r float64) float64 { return (r - cost) / cost }
	return f(revenue.Value), Interval{f(revenue.CI.Lo), f(revenue.CI.Hi)}, nil
}
