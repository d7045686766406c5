// Package bandit owns the multi-armed bandit policies that choose a
// campaign's arm: the learned state of one campaign's policy (State, which
// round-trips through encoding/json), its update from observed rewards, and
// immutable snapshots (Policy) that compute the probability of every arm and
// draw one. It imports only the standard library and gonum; it knows
// nothing of features, campaigns or storage (package decisioning connects
// it to those).
//
// # Expected value
//
// The expected value of an arm is θ × v − cost: θ is the probability that
// the arm converts, v the value of a conversion (1 with Config.UnitValue,
// else the discounted mean value of the arm's observed conversions, falling
// back to the mean over all arms, then to 1) and cost the arm's
// Config.Costs entry. Thompson sampling compares sampled expected values
// (θ is sampled from its posterior, v is the point estimate), so the "send
// nothing" arm (cost 0) wins when messaging does not pay.
//
// # Thompson
//
// Kind Thompson keeps, per segment and arm, discounted counts of
// conversions and non-conversions with a Beta(1, 1) prior. The probability
// that Thompson sampling chooses arm i, P(θ_i v_i − c_i is the largest
// among the eligible arms), is estimated by Monte Carlo from N = 4096 joint
// draws of the Beta posteriors (exact ties are shared equally), with a
// random stream seeded from the statistics, the segment and the eligible
// set, so that the same state gives the same probabilities in every
// process. Each estimate has a standard error √(p(1−p)/N) ≤ 0.5/√4096 ≈
// 0.0078. It is computed once per (segment, eligible set) and Policy (about
// a millisecond for five arms) and cached, for up to 1024 such pairs, so
// Choose costs a map lookup afterwards.
//
// # LinearThompson
//
// Kind LinearThompson fits, per arm, a Bayesian linear regression of the
// conversion (0 or 1) on z = [1, x...] (an intercept is added to the
// context x): A = λI + Σ w·z zᵀ and b = Σ w·r·z with λ = 1, posterior mean
// μ = A⁻¹b and sampled coefficients θ ~ N(μ, σ²A⁻¹) with σ = 0.25 (a noise
// scale fixed for conversion rates of a few percent to a few tens of
// percent; it sets how long the policy explores). The sampled expected
// value of arm i is then normal with mean v_i zᵀμ_i − c_i and standard
// deviation v_i σ √(zᵀA_i⁻¹z), independently across arms, so
// P(arm i is the largest) = ∫ pdf_i(y) Π_{j≠i} Φ_j(y) dy is computed by
// 8-point Gauss–Legendre quadrature on panels at most two standard
// deviations of the narrowest arm still in play wide, over the range where
// the maximum lives (mean ± 7 standard deviations: the truncation is below
// 3e-12), with Φ and φ interpolated from a table (within 2e-10). The error
// is below 1e-8 per probability: the tests check it against an adaptive
// reference over random cases whose standard deviations span six orders of
// magnitude (worst 3e-10), and against Monte Carlo. An arm whose standard
// deviation is below 1e-9 of its |mean| or of the largest standard
// deviation (a learned value of 0, say) is a point mass, exactly. The
// posterior mean conversion probability zᵀμ is not confined to [0, 1]:
// sampling compares it as is, while ExpectedValue clamps it to [0, 1]. A
// Policy caches A⁻¹ and μ per arm, so a decision costs O(K·d²) plus the
// quadrature (a few microseconds for five arms), and does not allocate.
//
// Context values that are NaN (a missing feature) are treated as 0, in
// Update as in the Policy; infinite values (and magnitudes above 1e100) are
// an error.
//
// # Exploration floor
//
// The probability a Policy reports, and draws from, is (1−ε)·p_TS(i) + ε/K_e
// for each of the K_e eligible arms, where p_TS is the Thompson-sampling
// probability above and ε is Config.Epsilon; ineligible arms get exactly 0.
// Choose draws from exactly this vector with the caller's uniform number, so
// the propensity it returns is the probability of the executed policy, Monte
// Carlo error or not.
//
// # Discounting
//
// With Config.HalfLife H > 0, a statistic observed Δt before the latest
// observation counts 0.5^(Δt/H): when an observation arrives at t later than
// the latest (State.Last), every statistic (the Beta counts, A − λI, b and
// the value sums) is first multiplied by 0.5^((t − Last)/H); an observation
// older than Last, as arrives from several joiners, is added with weight
// 0.5^((Last − t)/H) instead. The result does not depend on the order in
// which the observations arrive (up to rounding). The prior (Beta(1, 1), λI) is never
// discounted. A Policy reflects the statistics as of Last: time passing
// without observations does not widen it.
package bandit
