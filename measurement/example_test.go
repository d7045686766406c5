package measurement_test

import (
	"fmt"

	"kairos/measurement"
)

// The men's e-mail against no e-mail in the MineThatData experiment
// (Hillstrom 2008): conversion rates of 1.253% and 0.573%.
func ExampleWelch() {
	mens := measurement.Summary{N: 21307, Mean: 0.01253109306800582, SD: 0.11124138417392454}
	none := measurement.Summary{N: 21306, Mean: 0.005726086548390125, SD: 0.07545572019077712}
	c, err := measurement.Welch(mens, none, 0.95)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("lift %+.3f pp [%+.3f, %+.3f], p = %.1e\n", 100*c.AbsLift, 100*c.AbsCI.Lo, 100*c.AbsCI.Hi, c.PValue)
	fmt.Printf("relative %+.1f%% [%+.1f%%, %+.1f%%]\n", 100*c.RelLift, 100*c.RelCI.Lo, 100*c.RelCI.Hi)
	inc := measurement.IncrementalOf(c, mens.N)
	fmt.Printf("incremental conversions %.0f [%.0f, %.0f]\n", inc.Value, inc.CI.Lo, inc.CI.Hi)
	// Output:
	// lift +0.681 pp [+0.500, +0.861], p = 1.5e-13
	// relative +118.8% [+72.2%, +165.5%]
	// incremental conversions 145 [107, 183]
}

// A 10% holdout that came out at 9.4%.
func ExampleSampleRatio() {
	s, err := measurement.SampleRatio([]int{90600, 9400}, []float64{0.9, 0.1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("χ² = %.1f, p = %.1e, flagged: %v\n", s.Chi2, s.PValue, s.Flagged)
	// Output:
	// χ² = 40.0, p = 2.5e-10, flagged: true
}

// An always-valid interval read daily is wider than the fixed-horizon
// one; τ is fixed in advance from the standard error planned for the end.
func ExampleAlwaysValid() {
	treated := measurement.Summary{N: 20000, Mean: 0.052, SD: 0.222}
	holdout := measurement.Summary{N: 20000, Mean: 0.048, SD: 0.214}
	tau := measurement.TauForSE(0.0022, 0.95) // planned: about 20,000 per group
	seq, _ := measurement.AlwaysValid(treated, holdout, 0.95, tau)
	fixed, _ := measurement.Welch(treated, holdout, 0.95)
	fmt.Printf("fixed [%+.4f, %+.4f], always valid [%+.4f, %+.4f]\n", fixed.AbsCI.Lo, fixed.AbsCI.Hi, seq.CI.Lo, seq.CI.Hi)
	// Output:
	// fixed [-0.0003, +0.0083], always valid [-0.0026, +0.0106]
}
