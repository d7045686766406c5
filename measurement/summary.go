package measurement

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

var (
	// ErrTooFew reports a group with fewer than two units (or a sum of
	// counts of zero): it has no standard deviation.
	ErrTooFew = errors.New("too few units")
	// ErrZeroVariance reports a comparison whose standard error is zero:
	// every unit of both groups has the same value, so there is no
	// uncertainty to put an interval on (and the t statistic is undefined).
	ErrZeroVariance = errors.New("zero variance")
)

// Summary is what the comparisons need of one group's per-unit values:
// their number, mean and sample standard deviation (divisor n−1).
type Summary struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"`
}

// Summarize returns the Summary of values. The mean of no values and the
// standard deviation of fewer than two are NaN (the comparisons reject
// them with ErrTooFew); values that are all equal have a standard
// deviation of exactly 0.
func Summarize(values []float64) Summary {
	s := Summary{N: len(values), Mean: math.NaN(), SD: math.NaN()}
	if len(values) == 0 {
		return s
	}
	s.Mean = values[0]
	if len(values) == 1 {
		return s
	}
	constant := true
	for _, v := range values[1:] {
		if v != values[0] {
			constant = false
			break
		}
	}
	if constant {
		s.SD = 0
		return s
	}
	m, v := stat.MeanVariance(values, nil)
	s.Mean, s.SD = m, math.Sqrt(v)
	return s
}

// Var returns the sample variance SD².
func (s Summary) Var() float64 { return s.SD * s.SD }

// SE returns the standard error of the mean, SD/√N.
func (s Summary) SE() float64 { return s.SD / math.Sqrt(float64(s.N)) }

// check returns an error when the group called role cannot be compared.
func (s Summary) check(role string) error {
	switch {
	case s.N < 2:
		return fmt.Errorf("measurement: the %s group has %d units, a comparison needs at least 2: %w", role, s.N, ErrTooFew)
	case !finite(s.Mean) || !finite(s.SD) || s.SD < 0:
		return fmt.Errorf("measurement: the %s group's mean (%v) and standard deviation (%v) must be finite, and the deviation not negative", role, s.Mean, s.SD)
	}
	return nil
}

// Interval is a confidence interval [Lo, Hi].
type Interval struct {
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
}

// Contains reports whether x lies in the interval (ends included).
func (i Interval) Contains(x float64) bool { return i.Lo <= x && x <= i.Hi }

// Scale returns the interval multiplied by k ≥ 0.
func (i Interval) Scale(k float64) Interval { return Interval{i.Lo * k, i.Hi * k} }

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// checkLevel returns an error unless 0 < level < 1.
func checkLevel(level float64) error {
	if !(level > 0 && level < 1) {
		return fmt.Errorf("measurement: confidence level %v must lie strictly between 0 and 1 (e.g. 0.95)", level)
	}
	return nil
}

// zQuantile returns the standard normal quantile z with P(|Z| ≤ z) = level.
func zQuantile(level float64) float64 {
	return distuv.UnitNormal.Quantile(1 - (1-level)/2)
}

// normalTwoSided returns P(|Z| > |z|) for a standard normal Z, accurate
// in the far tail.
func normalTwoSided(z float64) float64 { return math.Erfc(math.Abs(z) / math.Sqrt2) }
