package measurement

import (
	"fmt"
	"math"
)

// RatioSummary is a group's ratio metric ΣY/ΣX (revenue per converter,
// clicks per message) with its delta-method standard error.
type RatioSummary struct {
	// N is the number of units, Num = ΣY and Den = ΣX.
	N        int
	Num, Den float64
	// Ratio is Num/Den and SE its delta-method standard error (package
	// documentation, "Ratio metrics").
	Ratio, SE float64
}

// SummarizeRatio returns the ratio ΣY/ΣX of a group whose unit i has the
// numerator y[i] and the denominator x[i]. It fails when the slices differ
// in length, a value is not finite, there are fewer than 2 units
// (ErrTooFew), or ΣX is 0.
func SummarizeRatio(y, x []float64) (RatioSummary, error) {
	if len(y) != len(x) {
		return RatioSummary{}, fmt.Errorf("measurement: ratio with %d numerators but %d denominators; every unit needs both", len(y), len(x))
	}
	n := len(y)
	if n < 2 {
		return RatioSummary{}, fmt.Errorf("measurement: ratio over %d units, it needs at least 2: %w", n, ErrTooFew)
	}
	var sy, sx float64
	for i := range y {
		if !finite(y[i]) || !finite(x[i]) {
			return RatioSummary{}, fmt.Errorf("measurement: ratio unit %d has a value that is not a finite number (%v / %v)", i, y[i], x[i])
		}
		sy += y[i]
		sx += x[i]
	}
	if sx == 0 {
		return RatioSummary{}, fmt.Errorf("measurement: the ratio's denominators sum to 0 over %d units, so the ratio is undefined", n)
	}
	my, mx := sy/float64(n), sx/float64(n)
	var syy, sxx, sxy float64
	for i := range y {
		dy, dx := y[i]-my, x[i]-mx
		syy += dy * dy
		sxx += dx * dx
		sxy += dy * dx
	}
	d := float64(n - 1)
	syy, sxx, sxy = syy/d, sxx/d, sxy/d
	r := my / mx
	v := (syy - 2*r*sxy + r*r*sxx) / (float64(n) * mx * mx)
	return RatioSummary{N: n, Num: sy, Den: sx, Ratio: r, SE: math.Sqrt(math.Max(v, 0))}, nil
}

// CompareRatios compares two groups' ratio metrics: the absolute lift
// with a normal interval (DF is +Inf) and p-value, and the relative lift by
// the delta method. It fails when both standard errors are 0
// (ErrZeroVariance) or when level is not in (0, 1).
func CompareRatios(treatment, control RatioSummary, level float64) (Comparison, error) {
	if err := checkLevel(level); err != nil {
		return Comparison{}, err
	}
	for _, g := range []struct {
		role string
		r    RatioSummary
	}{{"treatment", treatment}, {"control", control}} {
		if g.r.N < 2 {
			return Comparison{}, fmt.Errorf("measurement: the %s group's ratio is over %d units, a comparison needs at least 2: %w", g.role, g.r.N, ErrTooFew)
		}
		if !finite(g.r.Ratio) || !finite(g.r.SE) {
			return Comparison{}, fmt.Errorf("measurement: the %s group's ratio (%v) and its standard error (%v) must be finite", g.role, g.r.Ratio, g.r.SE)
		}
	}
	vt, vc := treatment.SE*treatment.SE, control.SE*control.SE
	se := math.Sqrt(vt + vc)
	if se == 0 {
		return Comparison{}, fmt.Errorf("measurement: both groups' ratios have a standard error of 0: %w", ErrZeroVariance)
	}
	c := Comparison{
		Level:     level,
		Treatment: treatment.Ratio,
		Control:   control.Ratio,
		AbsLift:   treatment.Ratio - control.Ratio,
		SE:        se,
		DF:        math.Inf(1),
	}
	c.Stat = c.AbsLift / se
	z := zQuantile(level)
	c.AbsCI = Interval{c.AbsLift - z*se, c.AbsLift + z*se}
	c.PValue = normalTwoSided(c.Stat)
	c.setRelative(vt, vc)
	return c, nil
}
