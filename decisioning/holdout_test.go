package decisioning_test

import (
	"fmt"
	"testing"

	"kairos/decisioning"
)

// Critical values of the χ² distribution at significance α = 0.001 (the
// 99.9% quantiles): a correct hash fails a test with probability 0.1%, and
// the ids are fixed, so the statistics below are fixed numbers.
const (
	chi2Crit1df  = 10.828  // 1 degree of freedom
	chi2Crit99df = 148.230 // 99 degrees of freedom
)

// nIDs customer ids "c000000" ... "c199999" are hashed in the tests.
const nIDs = 200_000

func custID(i int) string { return fmt.Sprintf("c%06d", i) }

// The buckets are pinned: a change to the hash (or to how salt and id are
// joined) moves every customer between holdout and treatment, and must
// fail here. The values were computed once in Python:
//
//	python3 -c 'import hashlib
//	for s, c in [("g1", "c000000"), ...]:
//	    d = hashlib.sha256(s.encode() + b"\x00" + c.encode()).digest()
//	    print(int.from_bytes(d[:8], "big") % 10000)'
func TestBucketGolden(t *testing.T) {
	for _, tc := range []struct {
		salt, id string
		want     int
	}{
		{"g1", "c000000", 2000},
		{"g1", "c000001", 9583},
		{"g1", "ada", 1621},
		{"cr1", "ada", 102},
		{"kairos-global-1", "c000123", 8504},
		{"cart_recovery-1", "c000123", 6307},
		{"", "x", 2752},
		{"g1", "café-ü", 782},
		{"salt with spaces", "customer:42", 9317},
	} {
		for range 3 { // the same on every call
			if got := decisioning.Bucket(tc.salt, tc.id); got != tc.want {
				t.Errorf("Bucket(%q, %q) = %d, want %d (the Python reproduction)", tc.salt, tc.id, got, tc.want)
			}
		}
	}
}

// Bucket joins salt and id with a NUL byte, so moving bytes between them
// changes the bucket.
func TestBucketSeparatesSaltAndID(t *testing.T) {
	if decisioning.Bucket("ab", "c") == decisioning.Bucket("a", "bc") && decisioning.Bucket("ab", "cd") == decisioning.Bucket("a", "bcd") {
		t.Error("Bucket ignores where the salt ends")
	}
}

// The buckets are uniform: the counts of the 100 groups of 100 buckets
// (each a 1% share) over 200,000 ids fit the uniform distribution, and so
// does the size of each share tested.
func TestBucketSizes(t *testing.T) {
	const salt = "size-test"
	var perBucket [decisioning.Buckets]int
	for i := range nIDs {
		b := decisioning.Bucket(salt, custID(i))
		if b < 0 || b >= decisioning.Buckets {
			t.Fatalf("Bucket = %d, outside [0, %d)", b, decisioning.Buckets)
		}
		perBucket[b]++
	}
	// Goodness of fit of the 100 percent groups: 99 degrees of freedom.
	var groups [100]int
	for b, n := range perBucket {
		groups[b/100] += n
	}
	chi2, expected := 0.0, float64(nIDs)/100
	for _, n := range groups {
		d := float64(n) - expected
		chi2 += d * d / expected
	}
	t.Logf("uniformity: χ² = %.2f over 100 groups (99 df, critical %.2f at α = 0.001)", chi2, chi2Crit99df)
	if chi2 > chi2Crit99df {
		t.Errorf("bucket groups are not uniform: χ² = %.2f > %.2f", chi2, chi2Crit99df)
	}
	// Each share's membership against its binomial expectation (1 df).
	for _, s := range []decisioning.Share{1, 50, 500, 1000, 1250, 2000, 5000, 9999} {
		in := 0
		for b, n := range perBucket {
			if s.Contains(b) {
				in += n
			}
		}
		p := float64(s) / decisioning.Buckets
		eIn, eOut := nIDs*p, nIDs*(1-p)
		chi2 := square(float64(in)-eIn)/eIn + square(float64(nIDs-in)-eOut)/eOut
		t.Logf("share %6s: %6d of %d in (expected %.0f), χ² = %.3f", s, in, nIDs, eIn, chi2)
		if chi2 > chi2Crit1df {
			t.Errorf("share %s holds %d of %d ids, expected %.0f: χ² = %.2f > %.2f", s, in, nIDs, eIn, chi2, chi2Crit1df)
		}
	}
}

func square(x float64) float64 { return x * x }

// Two layers with different salts are independent: membership of a 10%
// share under one salt tells nothing about membership of a 20% share under
// the other (Pearson's χ² on the 2×2 contingency table, 1 df).
func TestBucketSaltsIndependent(t *testing.T) {
	const a, b = decisioning.Share(1000), decisioning.Share(2000)
	var table [2][2]float64
	for i := range nIDs {
		c := custID(i)
		ia, ib := 0, 0
		if a.Contains(decisioning.Bucket("global-salt", c)) {
			ia = 1
		}
		if b.Contains(decisioning.Bucket("campaign-salt", c)) {
			ib = 1
		}
		table[ia][ib]++
	}
	var rows, cols [2]float64
	for i := range 2 {
		for j := range 2 {
			rows[i] += table[i][j]
			cols[j] += table[i][j]
		}
	}
	chi2 := 0.0
	for i := range 2 {
		for j := range 2 {
			e := rows[i] * cols[j] / nIDs
			chi2 += square(table[i][j]-e) / e
		}
	}
	t.Logf("independence: table %v, χ² = %.3f (1 df, critical %.3f at α = 0.001)", table, chi2, chi2Crit1df)
	if chi2 > chi2Crit1df {
		t.Errorf("layers are not independent: χ² = %.2f > %.2f; table %v", chi2, chi2Crit1df, table)
	}
	if both := table[1][1] / nIDs; both < 0.018 || both > 0.022 {
		t.Errorf("%.4f of customers are in both layers, want about 0.10 × 0.20 = 0.02", both)
	}
}

// Raising a share keeps every member and only adds; lowering only removes.
func TestShareRaiseOnlyAdds(t *testing.T) {
	steps := []decisioning.Share{0, 1, 100, 500, 1000, 1234, 5000, 9999, 10000}
	buckets := make([]int, 20_000)
	for i := range buckets {
		buckets[i] = decisioning.Bucket("raise", custID(i))
	}
	for k := 1; k < len(steps); k++ {
		lo, hi := steps[k-1], steps[k]
		added := 0
		for _, b := range buckets {
			if lo.Contains(b) && !hi.Contains(b) {
				t.Fatalf("raising %s to %s dropped bucket %d", lo, hi, b)
			}
			if !lo.Contains(b) && hi.Contains(b) {
				added++
			}
		}
		if hi > lo+100 && added == 0 {
			t.Errorf("raising %s to %s added no one", lo, hi)
		}
	}
	if decisioning.Share(0).Contains(0) || !decisioning.Share(10000).Contains(9999) || decisioning.Share(10000).Contains(-1) {
		t.Error("Contains at the edges")
	}
}

func TestShareString(t *testing.T) {
	for s, want := range map[decisioning.Share]string{
		0: "0%", 1: "0.01%", 10: "0.1%", 25: "0.25%", 500: "5%", 1250: "12.5%",
		1234: "12.34%", 9999: "99.99%", 10000: "100%",
	} {
		if got := s.String(); got != want {
			t.Errorf("Share(%d).String() = %q, want %q", uint16(s), got, want)
		}
	}
	// ParseShare is its inverse over every valid share.
	for s := range decisioning.Share(decisioning.Buckets + 1) {
		got, err := decisioning.ParseShare(s.String())
		if err != nil || got != s {
			t.Fatalf("ParseShare(%q) = %d, %v; want %d", s.String(), got, err, s)
		}
	}
	for in, want := range map[string]decisioning.Share{"12.50%": 1250, "007%": 700, "0.5%": 50} {
		if got, err := decisioning.ParseShare(in); err != nil || got != want {
			t.Errorf("ParseShare(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "%", "5", "5 %", "-5%", "+5%", ".5%", "5.%", "1.234%", "100.01%", "1000%", "5%%", "five%"} {
		if s, err := decisioning.ParseShare(in); err == nil {
			t.Errorf("ParseShare(%q) = %d, want an error", in, s)
		}
	}
}

func BenchmarkBucket(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		decisioning.Bucket("kairos-global-1", "c000123")
	}
}

// A customer is in a layer when their bucket under the layer's salt is
// below the layer's share.
func ExampleBucket() {
	control := decisioning.Share(500) // 5%
	b := decisioning.Bucket("g1", "ada")
	fmt.Println(b, control.Contains(b), decisioning.Share(2000).Contains(b))
	// Output: 1621 false true
}
