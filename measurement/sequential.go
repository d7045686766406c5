package measurement

import (
	"fmt"
	"math"
)

// Sequential is an always-valid (mSPRT) interval of the difference in
// means, and the always-valid p-value of "no lift".
type Sequential struct {
	// Alpha is the error rate (1 − confidence level) and Tau the mixing
	// scale it was computed with.
	Alpha, Tau float64
	// AbsLift is the observed difference in means, SE its standard error.
	AbsLift, SE float64
	// CI is the always-valid interval: it excludes the true lift at any
	// read with probability at most Alpha, however often it is read.
	CI Interval
	// PValue is min(1, 1/Λ(0)), the always-valid p-value of "no lift".
	PValue float64
}

// AlwaysValid returns the normal-mixture mSPRT interval of the difference
// of the means of treatment and control at the given confidence level
// (package documentation, "Always-valid intervals"). tau > 0 is the
// mixing scale, in the units of the metric's lift, and must be chosen
// before the data is seen (TauForSE). It fails as Welch does on groups
// that cannot be compared.
func AlwaysValid(treatment, control Summary, level, tau float64) (Sequential, error) {
	if err := checkLevel(level); err != nil {
		return Sequential{}, err
	}
	if !(tau > 0) || math.IsInf(tau, 0) {
		return Sequential{}, fmt.Errorf("measurement: the mixing scale tau is %v; it must be a positive finite number in the units of the lift (see TauForSE)", tau)
	}
	if err := treatment.check("treatment"); err != nil {
		return Sequential{}, err
	}
	if err := control.check("control"); err != nil {
		return Sequential{}, err
	}
	s2 := treatment.Var()/float64(treatment.N) + control.Var()/float64(control.N)
	if s2 == 0 {
		return Sequential{}, fmt.Errorf("measurement: every unit of both groups has the value %v: %w", control.Mean, ErrZeroVariance)
	}
	alpha := 1 - level
	t2 := tau * tau
	d := treatment.Mean - control.Mean
	half := math.Sqrt(s2 * (s2 + t2) / t2 * (math.Log((s2+t2)/s2) - 2*math.Log(alpha)))
	// log Λ(0) = ½·log(s²/(s²+τ²)) + τ²·Δ̂²/(2·s²·(s²+τ²)).
	logLambda := 0.5*math.Log(s2/(s2+t2)) + t2*d*d/(2*s2*(s2+t2))
	return Sequential{
		Alpha:   alpha,
		Tau:     tau,
		AbsLift: d,
		SE:      math.Sqrt(s2),
		CI:      Interval{d - half, d + half},
		PValue:  math.Min(1, math.Exp(-logLambda)),
	}, nil
}

// TauForSE returns the mixing scale τ for which the always-valid interval
// at the given confidence level is narrowest when the lift's standard
// error is se: τ = √u*·se with u* the root of u = 2·log(1/α) + log(1+u)
// (u* ≈ 8.2 at α = 0.05). Pass the standard error expected at the planned
// end of the campaign, √(σ_t²/n_t + σ_c²/n_c) with the planned sizes and
// a standard deviation from past campaigns. It returns NaN when se is not
// a positive finite number or level is not in (0, 1).
func TauForSE(se, level float64) float64 {
	if !(se > 0) || math.IsInf(se, 0) || checkLevel(level) != nil {
		return math.NaN()
	}
	l := -2 * math.Log(1-level)
	u := l
	for range 100 { // a contraction: |d/du log(1+u)| < 1
		next := l + math.Log1p(u)
		if math.Abs(next-u) < 1e-12*u {
			u = next
			break
		}
		u = next
	}
	return math.Sqrt(u) * se
}
