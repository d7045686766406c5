package expr

// suggest returns the candidate closest to name by edit distance (with
// transpositions), or "" when none is close enough to be the name meant:
// at most 1 edit for names of up to 4 bytes, 2 up to 9 bytes, else 3.
// Ties go to the candidate listed first.
func suggest(name string, candidates []string) string {
	limit := 3
	switch {
	case len(name) <= 4:
		limit = 1
	case len(name) <= 9:
		limit = 2
	}
	best, bestD := "", limit+1
	for _, c := range candidates {
		if c == name || abs(len(c)-len(name)) >= bestD {
			continue
		}
		if d := distance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// distance is the optimal string alignment distance of a and b: the
// fewest insertions, deletions, substitutions and swaps of adjacent bytes
// that turn one into the other.
func distance(a, b string) int {
	// Three rows of the dynamic programme: two back, one back, current.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, prev2[j-2]+1)
			}
			cur[j] = d
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
