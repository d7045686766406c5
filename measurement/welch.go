package measurement

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Comparison compares a treatment group's estimate with a control group's
// (treatment minus control): the absolute lift with its interval and
// p-value, and the relative lift with its delta-method interval.
type Comparison struct {
	// Level is the confidence level of AbsCI and RelCI, e.g. 0.95.
	Level float64
	// Treatment and Control are the estimates compared: group means
	// (Welch) or ratios (CompareRatios).
	Treatment, Control float64
	// AbsLift is Treatment − Control, SE its standard error.
	AbsLift, SE float64
	// DF is the degrees of freedom of the t distribution behind AbsCI and
	// PValue (Welch–Satterthwaite); +Inf where they are normal.
	DF float64
	// Stat is the test statistic AbsLift/SE (t, or z where DF is +Inf).
	Stat float64
	// AbsCI is the interval of AbsLift.
	AbsCI Interval
	// PValue is the two-sided p-value of "no lift".
	PValue float64
	// RelLift is Treatment/Control − 1, RelSE its delta-method standard
	// error and RelCI its normal interval. They are NaN when the relative
	// lift is undefined, and RelNote says why (it is empty otherwise).
	RelLift, RelSE float64
	RelCI          Interval
	RelNote        string
}

// Welch compares the means of two groups with Welch's unequal-variance t
// interval at the given confidence level, and the relative lift with the
// delta method (see the package documentation). It fails when a group has
// fewer than 2 units (ErrTooFew), when both groups have a standard
// deviation of 0 (ErrZeroVariance), or when level is not in (0, 1).
func Welch(treatment, control Summary, level float64) (Comparison, error) {
	if err := checkLevel(level); err != nil {
		return Comparison{}, err
	}
	if err := treatment.check("treatment"); err != nil {
		return Comparison{}, err
	}
	if err := control.check("control"); err != nil {
		return Comparison{}, err
	}
	vt := treatment.Var() / float64(treatment.N)
	vc := control.Var() / float64(control.N)
	se := math.Sqrt(vt + vc)
	if se == 0 {
		return Comparison{}, fmt.Errorf("measurement: every unit of both groups has the value %v: %w", control.Mean, ErrZeroVariance)
	}
	df := (vt + vc) * (vt + vc) / (vt*vt/float64(treatment.N-1) + vc*vc/float64(control.N-1))
	c := Comparison{
		Level:     level,
		Treatment: treatment.Mean,
		Control:   control.Mean,
		AbsLift:   treatment.Mean - control.Mean,
		SE:        se,
		DF:        df,
	}
	c.Stat = c.AbsLift / se
	dist := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}
	q := dist.Quantile(1 - (1-level)/2)
	c.AbsCI = Interval{c.AbsLift - q*se, c.AbsLift + q*se}
	c.PValue = math.Min(1, 2*dist.Survival(math.Abs(c.Stat)))
	c.setRelative(vt, vc)
	return c, nil
}

// setRelative sets the relative lift of c from its estimates and their
// variances vt, vc (of the estimates, not of the units) by the delta method.
func (c *Comparison) setRelative(vt, vc float64) {
	c.RelLift, c.RelSE = math.NaN(), math.NaN()
	c.RelCI = Interval{math.NaN(), math.NaN()}
	if c.Control == 0 {
		c.RelNote = "the control's value is 0, so a relative lift is undefined"
		return
	}
	mt, mc := c.Treatment, c.Control
	c.RelLift = mt/mc - 1
	c.RelSE = math.Sqrt(vt/(mc*mc) + mt*mt*vc/(mc*mc*mc*mc))
	z := zQuantile(c.Level)
	c.RelCI = Interval{c.RelLift - z*c.RelSE, c.RelLift + z*c.RelSE}
}
