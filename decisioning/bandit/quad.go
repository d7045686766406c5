package bandit

import "math"

const (
	// quadReach: the integral runs over mean ± quadReach standard
	// deviations (Φ(−7) ≈ 1.3e-12 is left out on each side).
	quadReach = 7.0
	// quadPanel is the width of a Gauss–Legendre panel, in standard
	// deviations of the narrowest arm still in play.
	quadPanel = 2.0
	// pointTol: an arm whose standard deviation is at most pointTol times
	// the largest standard deviation or its own |mean| is a point mass.
	pointTol = 1e-9
	// maxPanels bounds the work of one integral. It is never reached: an
	// arm is in play over at most 2×quadReach of its deviations, so it
	// sets the width of at most quadReach+1 panels, 8 per arm.
	maxPanels = 1 << 16
)

// glX and glW are the nodes and weights of 8-point Gauss–Legendre
// quadrature on [−1, 1].
var glX, glW = gaussLegendre8()

func gaussLegendre8() (x, w [8]float64) {
	const n = 8
	for i := range (n + 1) / 2 {
		z := math.Cos(math.Pi * (float64(i) + 0.75) / (n + 0.5))
		var dp float64
		for range 100 {
			p1, p2 := 1.0, 0.0
			for j := 1; j <= n; j++ {
				p1, p2 = (float64(2*j-1)*z*p1-float64(j-1)*p2)/float64(j), p1
			}
			dp = n * (z*p1 - p2) / (z*z - 1)
			dz := p1 / dp
			z -= dz
			if math.Abs(dz) < 1e-16 {
				break
			}
		}
		x[i], x[n-1-i] = -z, z
		w[i] = 2 / ((1 - z*z) * dp * dp)
		w[n-1-i] = w[i]
	}
	return x, w
}

// maxProbs sets out[i] to the probability that Y_i is the largest of
// independent normals Y_j ~ N(m[j], s[j]²), s[j] >= 0:
//
//	P_i = ∫ pdf_i(y) Π_{j≠i} Φ_j(y) dy.
//
// Arms with (near) zero deviation are point masses: the largest of them,
// M, wins when every continuous arm falls below it (ties share), and the
// continuous arms integrate from M up. The others are integrated from
// lo = max_j(m_j − 7s_j) — below it some arm's Φ is under Φ(−7) — to
// hi = max_j(m_j + 7s_j), on 8-point Gauss–Legendre panels at most two
// deviations of the narrowest arm still in play (those with m_j + 7s_j
// above the panel) wide. Every arm is in play at lo and drops out for good
// past m_j + 7s_j, so the panels widen as they go. The result is normalised
// to sum to 1. It does not allocate; len(m) <= 64.
func maxProbs(out, m, s []float64) {
	n := len(m)
	clear(out)
	if n == 1 {
		out[0] = 1
		return
	}
	var point [maxArms]bool
	smax := 0.0
	for _, v := range s {
		smax = max(smax, v)
	}
	top := math.Inf(-1) // largest point mass
	lo, hi := math.Inf(-1), math.Inf(-1)
	nc := 0
	for j := range n {
		if s[j] <= pointTol*max(smax, math.Abs(m[j])) {
			point[j] = true
			top = max(top, m[j])
			continue
		}
		nc++
		lo = max(lo, m[j]-quadReach*s[j])
		hi = max(hi, m[j]+quadReach*s[j])
	}
	if nc < n {
		mass, ties := 1.0, 0.0
		for j := range n {
			switch {
			case !point[j]:
				mass *= normCDF((top - m[j]) / s[j])
			case m[j] == top:
				ties++
			}
		}
		for j := range n {
			if point[j] && m[j] == top {
				out[j] = mass / ties
			}
		}
		lo = max(lo, top)
	}

	var act [maxArms]int
	var cdf, pdf [maxArms]float64
	a := lo
	for panels := 0; nc > 0 && a < hi && panels < maxPanels; panels++ {
		na, h := 0, math.Inf(1)
		for j := range n {
			if !point[j] && m[j]+quadReach*s[j] > a {
				act[na] = j
				na++
				h = min(h, s[j])
			}
		}
		b := min(a+quadPanel*h, hi)
		half, mid := (b-a)/2, (a+b)/2
		for k, xk := range glX {
			y := mid + half*xk
			prod := 1.0
			for t, j := range act[:na] {
				c, d := normCDFPDF((y - m[j]) / s[j])
				cdf[t], pdf[t] = c, d/s[j]
				prod *= c
			}
			wk := half * glW[k]
			for t, j := range act[:na] {
				if cdf[t] > 0 {
					out[j] += wk * pdf[t] * (prod / cdf[t])
				}
			}
		}
		a = b
	}

	sum := 0.0
	for _, v := range out {
		sum += v
	}
	if !(sum > 0) {
		// Unreachable for finite inputs; share rather than divide by 0.
		for j := range out {
			out[j] = 1 / float64(n)
		}
		return
	}
	for j := range out {
		out[j] /= sum
	}
}

// normCDF is the standard normal distribution function.
func normCDF(z float64) float64 {
	return 0.5 * math.Erfc(-z/math.Sqrt2)
}

// The standard normal Φ and φ are interpolated in the quadrature, which
// evaluates them at every node for every arm: a cubic Hermite
// interpolation between tabulated values and derivatives on [−8, 8] with a
// step of 1/64 is within 2e-10 of them (Φ(−8) ≈ 6e-16 and φ(8) ≈ 5e-15 are
// taken as 0) and several times faster than math.Erfc and math.Exp.
const (
	tabMax  = 8.0
	tabStep = 1.0 / 64
	tabN    = int(2*tabMax/tabStep) + 1
)

// normTab holds Φ, φ and φ' = −zφ at z = −8 + k/64.
var normTab = func() (t [tabN][3]float64) {
	for k := range t {
		z := -tabMax + float64(k)*tabStep
		pdf := math.Exp(-z*z/2) / (math.Sqrt2 * math.SqrtPi)
		t[k] = [3]float64{normCDF(z), pdf, -z * pdf}
	}
	return t
}()

// normCDFPDF returns Φ(z) and φ(z), interpolated.
func normCDFPDF(z float64) (cdf, pdf float64) {
	switch {
	case z >= tabMax:
		return 1, 0
	case !(z > -tabMax): // and NaN
		return 0, 0
	}
	u := (z + tabMax) * (1 / tabStep)
	k := int(u)
	if k > tabN-2 {
		k = tabN - 2
	}
	t := u - float64(k)
	t2 := t * t
	t3 := t2 * t
	h00, h10, h01, h11 := 2*t3-3*t2+1, (t3-2*t2+t)*tabStep, 3*t2-2*t3, (t3-t2)*tabStep
	a, b := &normTab[k], &normTab[k+1]
	cdf = h00*a[0] + h10*a[1] + h01*b[0] + h11*b[1]
	pdf = h00*a[1] + h10*a[2] + h01*b[1] + h11*b[2]
	return cdf, pdf
}
