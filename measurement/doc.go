// Package measurement owns the statistics of Kairos's incrementality
// reports: group summaries, the comparison of a treated group with its
// control (Welch's t interval for the difference of means, the delta
// method for relative lift and for ratio metrics), CUPED variance
// reduction, the sample-ratio-mismatch check, always-valid (sequential)
// intervals, incremental conversions, revenue and ROI, and off-policy
// evaluation of candidate policies from logged propensities, and
// BuildCampaign, which assembles them into a campaign's report from its
// ledger records. It is pure: it reads no files, databases or clocks, and
// imports only the standard library, gonum and kairos/decisioning (for the
// records' types; never redis, pgx or grpc). Callers turn the ledger or a
// CSV file into per-unit values or records and hand them over.
//
// Every comparison is treatment minus control. Confidence levels are
// fractions in (0, 1), e.g. 0.95; α = 1 − level.
//
// # Summaries
//
// Summarize gives n, the mean ȳ and the sample standard deviation
// s = √(Σ(y−ȳ)²/(n−1)) of one group's per-unit values (a 0/1 conversion,
// revenue per customer, an event count). Comparisons need n ≥ 2 in each
// group and a standard error above zero; they return ErrTooFew and
// ErrZeroVariance otherwise.
//
// # Welch: absolute lift
//
// With v_t = s_t²/n_t and v_c = s_c²/n_c, the absolute lift
// Δ = ȳ_t − ȳ_c has standard error se = √(v_t + v_c), and
//
//	df = (v_t + v_c)² / (v_t²/(n_t−1) + v_c²/(n_c−1))   (Welch–Satterthwaite)
//	CI = Δ ± t_{df, 1−α/2} · se
//	p  = 2 · P(T_df > |Δ/se|)
//
// This is Welch's unequal-variance t test (B. L. Welch, "The
// generalization of Student's problem when several different population
// variances are involved", Biometrika 34, 1947; F. E. Satterthwaite,
// Biometrics Bulletin 2, 1946): the same numbers as
// scipy.stats.ttest_ind(t, c, equal_var=False) and statsmodels'
// CompareMeans(t, c).tconfint_diff(usevar="unequal"), which
// training/python/check_report.py checks to 1e-6. With 0/1 metrics and the
// group sizes of a campaign (thousands) it is the usual two-proportion
// interval with unpooled variances.
//
// # Relative lift: the delta method
//
// The relative lift r = ȳ_t/ȳ_c − 1 is a non-linear function of two
// independent means. Its first-order (delta-method) variance is
//
//	Var(r) ≈ v_t/ȳ_c² + ȳ_t²·v_c/ȳ_c⁴
//
// and its interval r ± z_{1−α/2}·√Var(r) uses the normal quantile (the
// delta method is an asymptotic argument; A. Deng, U. Knoblich, J. Lu,
// "Applying the Delta Method in Metric Analytics", KDD 2018). It is
// undefined when the control mean is 0: Comparison.RelLift is then NaN and
// RelNote says why. The approximation needs the control mean to be many
// standard errors from 0; with very few conversions in the control group
// read the absolute lift instead.
//
// # Ratio metrics
//
// A ratio metric R = ΣY/ΣX over a group's units (revenue per converter:
// Y = revenue, X = converted; clicks per message) is not a mean of
// independent per-unit values, because both sums vary. With ȳ, x̄ the
// per-unit means and s_yy, s_xx, s_xy the sample (co)variances, R = ȳ/x̄
// and, by the delta method,
//
//	Var(R) ≈ (s_yy − 2R·s_xy + R²·s_xx) / (n·x̄²)
//
// (Deng, Knoblich & Lu 2018, section 3). CompareRatios compares two groups'
// ratios with normal intervals (DF is +Inf) and a delta-method relative
// lift as above. With X ≡ 1 it reduces to the comparison of means with a
// normal in place of the t quantile.
//
// # CUPED
//
// CUPED (A. Deng, Y. Xu, R. Kohavi, T. Walker, "Improving the Sensitivity
// of Online Controlled Experiments by Utilizing Pre-Experiment Data",
// WSDM 2013) subtracts from each unit's metric Y the part explained by a
// covariate X measured before the decision (e.g. revenue_30d from the
// logged feature vector):
//
//	θ  = cov(Y, X) / var(X)        pooled within the two groups
//	Y' = Y − θ·(X − x̄)             x̄ the mean of X over both groups
//
// (pooled within groups: deviations are taken from each group's own means,
// so that the treatment effect does not leak into θ or into the variances).
// Because X was fixed before randomisation, E[Y'_t − Y'_c] = E[Y_t − Y_c]:
// the lift is unchanged in expectation while its variance shrinks by about
// ρ(X, Y)². The adjusted comparison is Welch's on Y'; the variance
// reduction reported is 1 − var(Y')/var(Y) (pooled within groups), and the
// reduction of the lift's own variance, 1 − se'²/se², is reported beside
// it. (Estimating θ from the same data costs one degree of freedom, which
// is negligible at the sizes of a campaign.)
//
// # Sample ratio mismatch
//
// SampleRatio compares the observed group sizes n_i (total N) with the
// expected shares p_i (equal shares by default, e.g. 0.9/0.1 for a 10%
// holdout): χ² = Σ (n_i − N·p_i)²/(N·p_i) with k−1 degrees of freedom.
// A mismatch is flagged when p < 0.001 (SRMAlpha), the threshold of
// A. Fabijan et al., "Diagnosing Sample Ratio Mismatch in Online
// Controlled Experiments", KDD 2019: at that level a healthy experiment is
// rarely flagged, while a real assignment or logging bug, which biases
// every comparison, usually is. Reports show the flag first.
//
// # Always-valid intervals (mSPRT)
//
// A fixed-horizon interval is valid if it is read once. Read every day,
// with the campaign stopped the first time it excludes zero, it excludes a
// true zero far more often than α (with 200 reads 35–45% of the time at
// α = 0.05; the tests show it). Sequential, always-valid intervals keep
// P(the interval ever excludes the true lift) ≤ α however often they are
// read. Kairos uses the normal-mixture sequential probability ratio test
// (mSPRT) of R. Johari, P. Koomen, L. Pekelis, D. Walsh, "Always Valid
// Inference: Continuous Monitoring of A/B Tests", Operations Research 70(3),
// 2022 (arXiv:1512.04922, 2015/2017), after H. Robbins, "Statistical methods
// related to the law of the iterated logarithm", Ann. Math. Statist. 1970.
// With Δ̂ the observed lift and s² = s_t²/n_t + s_c²/n_c its variance, the
// likelihood ratio of the mixture N(δ, τ²) over the alternatives against
// H0: lift = δ is
//
//	Λ(δ) = √(s²/(s²+τ²)) · exp( τ²·(Δ̂−δ)² / (2·s²·(s²+τ²)) )
//
// (for n units per group s² = V/n with V = σ_t² + σ_c², which is the
// paper's two-sample form). By Ville's inequality Λ exceeds 1/α at some
// read with probability at most α when δ is the true lift, so the interval
// {δ : Λ(δ) < 1/α} is always valid:
//
//	Δ̂ ± √( s²·(s²+τ²)/τ² · log((s²+τ²)/(α²·s²)) )
//
// and the always-valid p-value for "no lift" is min(1, 1/Λ(0)). A reader
// who keeps the past reads may intersect the intervals (and take the
// running minimum of the p-values); that is valid too. The guarantee is
// exact for normal data of known variance; with the plug-in variance and
// the central limit theorem it is approximate, which is why reads should
// start after some hundred units per group (the tests check the false
// positive rate with reads every 100 units).
//
// The interval is always wider than the fixed-horizon one at the same α:
// its half-width is at least √(2·log(1/α))·s, and 2·log(1/α) ≥ z²_{1−α/2}
// for every α. That is the price of reading it at any time.
//
// The tuning parameter is the mixing scale τ, in the units of the lift: the
// interval is narrowest at the sample size where s² ≈ τ²/u*, with u*
// solving u = 2·log(1/α) + log(1+u) (u* ≈ 8.2 at α = 0.05, where the
// interval is then √(1+u*) ≈ 3.0 standard errors wide on each side against
// 1.96 for the fixed interval). TauForSE(se, α) returns τ = √u*·se; the
// default is to pass the standard error expected at the planned end of the
// campaign (from the planned sample sizes and the metric's standard
// deviation in past campaigns), so the interval is tight when the decision
// is due and still valid at every read before. Without a plan, τ = the
// minimum detectable effect the team cares about is the customary choice
// (a lift that size is then detected soonest). τ must be fixed before the
// data is seen; choosing it from the current standard error at each read
// would void the guarantee.
//
// # Incremental conversions, revenue and ROI
//
// Incremental conversions (or revenue) are the absolute lift in conversion
// rate (or revenue per customer) times the number of treated customers,
// with the interval scaled alike (IncrementalOf). ROI = (incremental
// revenue − cost)/cost; since it is increasing in the incremental revenue
// for a known cost, its interval is the revenue interval mapped through it.
//
// # Off-policy evaluation
//
// From logged rounds (action a_i chosen with propensity p_i, reward r_i)
// and a candidate policy π_e (an n×K matrix of action probabilities), with
// weights w_i = π_e(a_i|x_i)/p_i:
//
//	IPS   = (1/n) Σ w_i r_i
//	SNIPS = Σ w_i r_i / Σ w_i
//	DM    = (1/n) Σ_i Σ_k π_e(k|x_i) q̂(x_i, k)           (q̂: a reward model)
//	DR    = DM + (1/n) Σ w_i (r_i − q̂(x_i, a_i))
//	ESS   = (Σ w_i)² / Σ w_i²
//
// Evaluate adds seeded bootstrap percentile intervals (rounds resampled,
// one resample for every estimator) and warns when the largest weight
// exceeds ExtremeWeight or the ESS falls below MinESSFraction of n. The
// estimators agree with the Open Bandit Pipeline (obp 0.5.7) to 1e-15 on
// its bundled Open Bandit Dataset sample (measurement/ope_python_test.go).
//
// # Campaign reports
//
// BuildCampaign turns one campaign's decisions and rewards over a period
// (CampaignInput) into a CampaignReport. Its definitions:
//
// Units. A customer's holdout and global-control membership is sticky (a
// hash of the customer id), so the randomised unit is the customer, and a
// customer may have many decisions. A decision is in a compared group when
// the policy chose an arm (ArmIndex ≥ 0) and its outcome is SEND, NO_ACTION
// (the policy chose the none arm) or HOLDOUT (the arm it would have sent is
// recorded: intent to treat), or when it is GLOBAL_CONTROL. SUPPRESSED
// decisions (no eligible arm, or lost to another campaign) and decisions
// without an arm are in no comparison.
//
// First exposures. A customer's first exposure is their first decision in
// a compared group, ever: the caller passes the campaign's decisions from
// its beginning (decisions before From only mark customers exposed before
// the period; their later decisions are no first exposures). The
// comparisons (CampaignReport.Comparisons), CUPED and the SRM checks use
// first exposures only. Why: a message changes what follows it — a won-back
// customer churns less and falls at risk again later, an unsubscribed one
// loses a channel, a buyer's later carts differ — so the treated group's
// later decisions are made in other states, and other decisions exist,
// than the holdout's. Comparing every decision mixes the effect of the
// decision with the carry-over of earlier messages and with that
// selection (in the demo's simulated world it put the "arm:none" A/A rows
// 4 to 7 points off and doubled winback's lift). No earlier message of the
// campaign can have touched a first exposure, so each row estimates the
// effect of one decision, the arm the policy chose at that point included.
//
// Groups of the comparisons: treated = first exposures not held out (SEND,
// and NO_ACTION with an arm); holdout = HOLDOUT with an arm. The campaign
// comparison is treated against holdout: the effect of the campaign's
// policy, "send nothing" choices included. Per arm, the first exposures
// whose chosen arm was k (SEND on k, or NO_ACTION for the none arm) against
// the holdouts whose would-have-sent arm was k: the holdout is assigned by
// a hash independent of the policy's choice, so the two are comparable;
// the none arm's row ("arm:none") compares two groups that were both sent
// nothing, an A/A check whose true lift is 0. Per channel, SEND on the
// channel against holdouts whose would-have-sent arm is on it. Global
// control: GLOBAL_CONTROL first exposures against every other one
// (treated and holdout); the engine records the would-be arm of a
// global-control decision as of a holdout, and a customer of the control
// group with no eligible arm is SUPPRESSED like any other, so both sides
// are decisions on which the policy chose an arm.
//
// Per customer (CampaignReport.PerCustomer): the customers first exposed
// in the period whose first exposure has a reward, in the group of that
// first exposure, compared on "conversions" (their conversions summed over
// all their decisions in the period with a reward) and "revenue" (the
// reward values summed). This is the total effect of running the campaign
// on a customer, every later message and its carry-over included; the
// incremental conversions and revenue of the attribution come from it.
//
// Metrics of the comparisons, per first exposure: "conversion", 1 when its
// reward window saw the reward event (Reward.Converted), else 0; "revenue",
// the reward value (Reward.Value, 0 without a conversion). A decision
// without a reward yet (its window still open, or not yet closed by the
// joiner) is left out of every comparison, of CUPED, attribution and OPE;
// CampaignReport.Pending counts them and a warning says how many.
// Decisions and the daily series count every decision.
//
// A row needs MinCompared units with a reward on each side: below that,
// Welch's normal-theory interval is unreliable (a dozen held-out
// customers, none converting, give a standard error of 0 on that side), so
// the row keeps its counts and means and has a Note.
//
// Simultaneous intervals: a report has many rows, and at 95% each, one in
// twenty misses by chance. Every row of Comparisons with a lift also has
// SimultaneousCI, the Bonferroni interval at level 1 − (1 − level)/m over
// the m such rows (CampaignReport.SimultaneousRows), with Welch's degrees
// of freedom: all m hold at once with probability at least level. Read
// them when acting on the best-looking arm of many.
//
// Cohorts: the customers first exposed in a week (Monday to Sunday, UTC),
// per group, and the share of them active in each later week: with a
// decision of the campaign, or a conversion, in that week. The ledger
// holds only the campaign's own records, so "active" means active as this
// campaign sees it. Weeks that end after the period (or after the last
// decision, without To) are not listed.
//
// Each comparison row holds Welch's comparison (means, absolute lift and
// interval, p-value, delta-method relative lift), the always-valid
// interval and p-value (AlwaysValid), and the incremental conversions or
// revenue, AbsLift × NTreated with the interval scaled alike
// (IncrementalOf). A row that cannot be computed (fewer than 2 decisions
// with a reward on a side, no variance) keeps its counts and means, has
// NaN figures and a Note.
//
// The always-valid interval's τ is CampaignInput.Tau[metric] when the
// caller fixed one in advance (e.g. the minimum effect worth detecting, or
// TauForSE of the standard error planned at the campaign's end). Without
// one it is TauForSE(se, level) of the comparison's current standard error:
// the interval is then the narrowest mSPRT interval at this read,
// √(1+u*) ≈ 3.0 standard errors at 95% instead of 1.96. That τ depends on
// the data, so the guarantee of "Always-valid intervals" above holds only
// approximately: a τ chosen anew at every read makes the interval a fixed
// multiple of the standard error, whose chance of ever excluding a true
// zero over many reads exceeds α, though far less than a fixed-horizon
// interval's. Teams who read the report daily to stop a campaign should
// fix τ.
//
// Sample ratio mismatch: the holdout's share among the first exposures of
// treated and held-out customers against the configured holdout h (shares
// 1−h and h), and the global control's share among all first exposures
// against the configured control share g (the engine assigns the global
// control first, then the holdout among the others). Counting customers,
// the randomised unit, keeps the check blind to a campaign that changes
// how many decisions its treated customers have. Caps and cooldowns count a
// held-out decision's would-have-sent message like a sent one (a shadow
// send, decisioning.Decision.Counts), so held-out and treated customers are
// suppressed alike and a flagged check points at the assignment or the
// records, not at the caps.
//
// CUPED adjusts the campaign comparison (first exposures) of each metric with a pre-decision
// covariate from the logged feature vector (CampaignInput.Covariate, by
// default DefaultCovariate, "revenue_30d", when the decisions log it).
// Decisions whose covariate is missing or NaN are left out of the adjusted
// comparison only (a warning counts them); the row shows the variance
// reduction, the adjusted lift and the unadjusted interval on the same
// decisions.
//
// Attribution, over the decisions of the customers first exposed in the
// period: the attributed conversions and revenue are the converted SEND
// decisions' count and reward values (the joiner credits a decision with
// the first reward event within its window); the incremental ones come
// from the per-customer campaign comparison (lift per customer × treated
// customers). Cost is the sum of the configured cost of the arm of every
// SEND decision with a reward (arms matched by channel and offer, an arm
// missing from the configuration costs 0 with a warning). ROI is
// ROI(incremental revenue, cost), NaN without cost. Revenue per triggered
// decision is the treated decisions' total reward value over their number.
//
// Daily: one point per UTC day of DecidedAt, from the first decision's day
// to the last one's, days without decisions included: cumulative treated
// and holdout decisions (every one, with a reward or not) and their
// conversions, counted on the day of the decision, and the day's
// allocation: decisions by chosen arm ("channel/offer", "none" for the
// none arm; holdouts' and global controls' would-be arms included,
// decisions without an arm not).
//
// Off-policy evaluation: the rounds are the treated decisions with a
// reward whose logged arms (Decision.Arms) are the configured arms in
// their order: action ArmIndex, propensity Propensity, the logged policy's
// probability vector Arms[].Probability, reward the revenue (the reward
// value the bandit learns from). Holdouts are not rounds: what they
// received was not the logged action. The candidates are "logged" (the
// logged probabilities: weights 1, IPS the mean reward), "uniform" over
// the arms eligible in the round (logged probability > 0), "never_send"
// (the none arm, when the campaign has one), and "arm:<channel>/<offer>"
// for every other arm, which sends that arm when it was eligible and the
// none arm otherwise (uniform over the eligible arms without a none arm).
// The reward model of DM and DR is each arm's mean logged reward (the
// overall mean for an arm never logged): deterministic, context-free, so
// DR corrects a model that is right on average per arm. Evaluate runs
// with CampaignInput.Bootstrap resamples and Seed; with fewer than
// MinOPERounds rounds the evaluation is skipped with a warning.
//
// The report's JSON encodes NaN and ±Inf as null (CampaignReport's
// MarshalJSON) and decodes null numbers as NaN (UnmarshalJSON), so the
// JSON reads back as it was built.
package measurement
