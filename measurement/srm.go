package measurement

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// SRMAlpha is the p-value below which SampleRatio flags a sample ratio
// mismatch.
const SRMAlpha = 0.001

// SRM is the result of the sample-ratio-mismatch check.
type SRM struct {
	// Observed are the group sizes and Expected the sizes the shares
	// predict for their total.
	Observed []int     `json:"observed"`
	Expected []float64 `json:"expected"`
	// Chi2 is Pearson's χ² statistic with DF = groups − 1 degrees of
	// freedom, PValue its upper tail probability.
	Chi2   float64 `json:"chi2"`
	DF     int     `json:"df"`
	PValue float64 `json:"p_value"`
	// Flagged is PValue < SRMAlpha: the groups' sizes are not what the
	// assignment should have produced, so comparisons between them may be
	// biased.
	Flagged bool `json:"flagged"`
}

// SampleRatio tests the observed group sizes against the expected shares
// of the assignment with Pearson's χ² test. Shares are weights, one per
// group, normalised to sum to 1 (0.9 and 0.1, or 9 and 1, for a 10%
// holdout); nil means equal shares. It fails with fewer than two groups, a
// negative size, no units at all, or a share that is not a positive finite
// number.
func SampleRatio(observed []int, shares []float64) (SRM, error) {
	k := len(observed)
	if k < 2 {
		return SRM{}, fmt.Errorf("measurement: a sample ratio check needs at least 2 groups, got %d", k)
	}
	if shares == nil {
		shares = make([]float64, k)
		for i := range shares {
			shares[i] = 1
		}
	}
	if len(shares) != k {
		return SRM{}, fmt.Errorf("measurement: %d expected shares for %d groups; give one per group", len(shares), k)
	}
	var total int
	var sum float64
	for i := range k {
		if observed[i] < 0 {
			return SRM{}, fmt.Errorf("measurement: group %d has a negative size %d", i, observed[i])
		}
		if !(shares[i] > 0) || math.IsInf(shares[i], 0) {
			return SRM{}, fmt.Errorf("measurement: the expected share of group %d is %v; shares must be positive finite numbers", i, shares[i])
		}
		total += observed[i]
		sum += shares[i]
	}
	if total == 0 {
		return SRM{}, fmt.Errorf("measurement: a sample ratio check of groups with no units: %w", ErrTooFew)
	}
	s := SRM{Observed: append([]int(nil), observed...), Expected: make([]float64, k), DF: k - 1}
	for i := range k {
		e := float64(total) * shares[i] / sum
		d := float64(observed[i]) - e
		s.Expected[i] = e
		s.Chi2 += d * d / e
	}
	s.PValue = distuv.ChiSquared{K: float64(s.DF)}.Survival(s.Chi2)
	s.Flagged = s.PValue < SRMAlpha
	return s, nil
}
