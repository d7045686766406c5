package measurement

import (
	"fmt"
	"math"
)

// Sample is a group's per-unit metric values Y with a covariate X measured
// before the treatment could act on them: X[i] belongs to the unit of Y[i].
type Sample struct {
	Y, X []float64
}

// Adjustment is the result of CUPED: the adjusted comparison beside the
// unadjusted one.
type Adjustment struct {
	// Theta is cov(Y, X)/var(X) pooled within the two groups, and
	// CovariateMean the mean of X over the units of both.
	Theta, CovariateMean float64
	// VarianceReduction is 1 − var(Y')/var(Y), the variances pooled within
	// the two groups, Y' = Y − Theta·(X − CovariateMean): the share of the
	// metric's variance the covariate explains (ρ(X, Y)², ρ the pooled
	// within-group correlation).
	VarianceReduction float64
	// SEReduction is 1 − se'²/se², the reduction of the variance of the
	// lift itself (Adjusted.SE against Unadjusted.SE).
	SEReduction float64
	// Treatment and Control summarise the adjusted values Y'.
	Treatment, Control Summary
	// Adjusted is Welch's comparison of Y', Unadjusted that of Y. The
	// relative lift of Adjusted is taken against the control's adjusted
	// mean.
	Adjusted, Unadjusted Comparison
}

// CUPED adjusts the metric of both groups with the pre-period covariate
// (package documentation, "CUPED") and compares them with Welch at the
// given level. It fails when a group's Y and X differ in length, a value
// is not finite, a group has fewer than 2 units, or X is the same for
// every unit (it explains nothing).
func CUPED(treatment, control Sample, level float64) (Adjustment, error) {
	if err := checkLevel(level); err != nil {
		return Adjustment{}, err
	}
	for _, g := range []struct {
		role string
		s    Sample
	}{{"treatment", treatment}, {"control", control}} {
		if len(g.s.Y) != len(g.s.X) {
			return Adjustment{}, fmt.Errorf("measurement: CUPED: the %s group has %d metric values but %d covariate values; every unit needs both", g.role, len(g.s.Y), len(g.s.X))
		}
		if len(g.s.Y) < 2 {
			return Adjustment{}, fmt.Errorf("measurement: CUPED: the %s group has %d units, a comparison needs at least 2: %w", g.role, len(g.s.Y), ErrTooFew)
		}
		for i := range g.s.Y {
			if !finite(g.s.Y[i]) || !finite(g.s.X[i]) {
				return Adjustment{}, fmt.Errorf("measurement: CUPED: unit %d of the %s group has a value that is not a finite number (metric %v, covariate %v)", i, g.role, g.s.Y[i], g.s.X[i])
			}
		}
	}
	// θ and the variances are pooled within groups (deviations from each
	// group's own means), so that the lift itself does not leak into them;
	// X is centred on its mean over both groups.
	var n, sx, syy, sxx, sxy float64
	for _, s := range []Sample{treatment, control} {
		my, mx := mean(s.Y), mean(s.X)
		for i := range s.Y {
			dy, dx := s.Y[i]-my, s.X[i]-mx
			syy += dy * dy
			sxx += dx * dx
			sxy += dy * dx
			sx += s.X[i]
		}
		n += float64(len(s.Y))
	}
	mx := sx / n
	if sxx == 0 {
		return Adjustment{}, fmt.Errorf("measurement: CUPED: the covariate does not vary within the groups, so it explains nothing: %w", ErrZeroVariance)
	}
	a := Adjustment{Theta: sxy / sxx, CovariateMean: mx}
	adjust := func(s Sample) []float64 {
		out := make([]float64, len(s.Y))
		for i := range s.Y {
			out[i] = s.Y[i] - a.Theta*(s.X[i]-mx)
		}
		return out
	}
	yt, yc := adjust(treatment), adjust(control)
	// Within groups Σ(Y' − ȳ'_g)² = syy − 2θ·sxy + θ²·sxx = syy − θ·sxy.
	if syy > 0 {
		a.VarianceReduction = 1 - math.Max(syy-a.Theta*sxy, 0)/syy
	}
	a.Treatment, a.Control = Summarize(yt), Summarize(yc)
	var err error
	if a.Unadjusted, err = Welch(Summarize(treatment.Y), Summarize(control.Y), level); err != nil {
		return Adjustment{}, fmt.Errorf("%w (comparing the metric before CUPED)", err)
	}
	if a.Adjusted, err = Welch(a.Treatment, a.Control, level); err != nil {
		return Adjustment{}, fmt.Errorf("%w (comparing the CUPED-adjusted metric)", err)
	}
	a.SEReduction = 1 - (a.Adjusted.SE*a.Adjusted.SE)/(a.Unadjusted.SE*a.Unadjusted.SE)
	return a, nil
}

func mean(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}
