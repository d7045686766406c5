package measurement

import "time"

// CampaignReport is the incrementality report of one campaign over a
// period, built from the ledger's decisions and rewards (BuildCampaign),
// printed by `kairos report` (table, JSON) and drawn by the report page.
// Its JSON form is the report's public format.
type CampaignReport struct {
	Campaign    string    `json:"campaign"`
	From        time.Time `json:"from,omitzero"`
	To          time.Time `json:"to,omitzero"`
	GeneratedAt time.Time `json:"generated_at"`
	// Level is the confidence level of every interval (0.95).
	Level float64 `json:"level"`
	// Decisions counts the campaign's decisions in the period, by outcome
	// (SEND, HOLDOUT, GLOBAL_CONTROL, SUPPRESSED, NO_ACTION).
	Decisions map[string]int `json:"decisions"`
	// HoldoutShare and ControlShare are the configured shares the sample
	// ratio checks compare with.
	HoldoutShare float64 `json:"holdout_share"`
	ControlShare float64 `json:"control_share"`
	// SRM checks the campaign holdout's size among the customers first
	// exposed in the period (treated and held out); GlobalSRM the global
	// control group's among all of them. A flagged check is shown first:
	// the comparisons cannot be trusted.
	SRM       *SRM `json:"srm,omitempty"`
	GlobalSRM *SRM `json:"global_srm,omitempty"`
	// Metrics names the metrics compared per first exposure: "conversion"
	// (the reward event within the window, 0/1), "revenue" (the reward
	// value), then the campaign's event-rate metrics (decisioning.
	// Campaign.Metrics: 1 when the metric's event came within its window).
	Metrics []string `json:"metrics"`
	// Comparisons are made on first exposures, each customer's first
	// decision in a compared group: the campaign (intent to treat: the
	// first exposures not held out against the held-out ones), each arm and
	// each channel (SEND on it against the holdout whose would-have-sent
	// arm it was), and the global control against everyone else. No
	// earlier message of the campaign can have changed the state of a
	// first exposure, so each row estimates the effect of one decision.
	Comparisons []ComparisonRow `json:"comparisons"`
	// SimultaneousRows is the number m of Comparisons with a lift, over
	// which their SimultaneousCI hold at once.
	SimultaneousRows int `json:"simultaneous_rows"`
	// PerCustomer compares customers (those first exposed in the period,
	// by the group of their first exposure) on their conversions and
	// revenue summed over all their decisions in the period: the total
	// effect of running the campaign, later decisions and their carry-over
	// included. The incremental figures of Attribution come from it.
	PerCustomer []ComparisonRow `json:"per_customer"`
	// Cohorts follows customers by the week of their first exposure.
	Cohorts []CohortRow `json:"cohorts,omitempty"`
	// CUPED shows the campaign comparisons adjusted by a pre-decision
	// covariate from the logged feature vector.
	CUPED []CUPEDRow `json:"cuped,omitempty"`
	// Attribution sets last-touch attributed revenue beside the
	// holdout-based incremental revenue.
	Attribution Attribution `json:"attribution"`
	// Daily is the time series of the report page.
	Daily []DailyPoint `json:"daily"`
	// OPE evaluates candidate policies from the logged propensities.
	OPE []OPERow `json:"ope,omitempty"`
	// Warnings say what the reader must know (few decisions, a metric
	// without variance, extreme weights).
	Warnings []string `json:"warnings,omitempty"`

	// Pending counts the decisions of the compared groups (treated,
	// holdout, global control) that have no reward yet, their window still
	// open: they are left out of the comparisons, CUPED, attribution and
	// OPE (but counted in Decisions, the SRM checks and Daily).
	Pending int `json:"pending"`
	// OPEReward names the reward OPE estimates the value of, per decision:
	// "revenue" (the reward value).
	OPEReward string `json:"ope_reward,omitempty"`
}

// ComparisonRow is one treated-versus-control comparison of one metric.
type ComparisonRow struct {
	// Scope is "campaign", "arm:<channel>/<offer>", "channel:<channel>"
	// or "global_control".
	Scope       string     `json:"scope"`
	Metric      string     `json:"metric"`
	NTreated    int        `json:"n_treated"`
	NControl    int        `json:"n_control"`
	TreatedMean float64    `json:"treated_mean"`
	ControlMean float64    `json:"control_mean"`
	AbsLift     float64    `json:"abs_lift"`
	AbsCI       [2]float64 `json:"abs_ci"`
	// RelLift and RelCI are NaN (null in JSON) when the control mean is 0.
	RelLift float64    `json:"rel_lift"`
	RelCI   [2]float64 `json:"rel_ci"`
	PValue  float64    `json:"p_value"`
	// AlwaysValidCI is the sequential interval, safe to read every day.
	AlwaysValidCI [2]float64 `json:"always_valid_ci"`
	// AlwaysValidPValue is the always-valid p-value of "no lift", and Tau
	// the mixing scale of the sequential interval, in the units of the
	// lift.
	AlwaysValidPValue float64 `json:"always_valid_p_value"`
	Tau               float64 `json:"tau"`
	// SE is the standard error of AbsLift and DF the degrees of freedom
	// of its t distribution (Welch–Satterthwaite).
	SE float64 `json:"se"`
	DF float64 `json:"df"`
	// SimultaneousCI is the Bonferroni interval that holds together with
	// those of every other row of CampaignReport.Comparisons (see
	// SimultaneousRows); NaN elsewhere.
	SimultaneousCI [2]float64 `json:"simultaneous_ci"`
	// Incremental is AbsLift × NTreated (conversions or revenue caused),
	// with its interval.
	Incremental   float64    `json:"incremental"`
	IncrementalCI [2]float64 `json:"incremental_ci"`
	// Note explains a missing figure (too few decisions, no variance).
	Note string `json:"note,omitempty"`
}

// CUPEDRow is a campaign comparison adjusted by a covariate.
type CUPEDRow struct {
	Metric    string `json:"metric"`
	Covariate string `json:"covariate"`
	// VarianceReduction is 1 − var(adjusted)/var(raw).
	VarianceReduction float64    `json:"variance_reduction"`
	AbsLift           float64    `json:"abs_lift"`
	AbsCI             [2]float64 `json:"abs_ci"`
	PValue            float64    `json:"p_value"`
	// NTreated and NControl count the decisions adjusted: those of the
	// campaign comparison with a finite covariate.
	NTreated int `json:"n_treated"`
	NControl int `json:"n_control"`
	// SEReduction is 1 − se²(adjusted lift)/se²(unadjusted lift), and
	// UnadjustedAbsCI the unadjusted interval on the same decisions.
	SEReduction     float64    `json:"se_reduction"`
	UnadjustedAbsCI [2]float64 `json:"unadjusted_abs_ci"`
}

// Attribution compares what last-touch attribution credits the campaign
// with what the holdout says it caused.
type Attribution struct {
	// AttributedRevenue and AttributedConversions: the rewards of SEND
	// decisions (the last touch within the reward window).
	AttributedRevenue     float64 `json:"attributed_revenue"`
	AttributedConversions int     `json:"attributed_conversions"`
	// IncrementalRevenue and IncrementalConversions: from the campaign
	// comparison, with intervals.
	IncrementalRevenue       float64    `json:"incremental_revenue"`
	IncrementalRevenueCI     [2]float64 `json:"incremental_revenue_ci"`
	IncrementalConversions   float64    `json:"incremental_conversions"`
	IncrementalConversionsCI [2]float64 `json:"incremental_conversions_ci"`
	// Cost is the summed cost of the arms sent; ROI is
	// (incremental revenue − cost) / cost, NaN without cost.
	Cost  float64    `json:"cost"`
	ROI   float64    `json:"roi"`
	ROICI [2]float64 `json:"roi_ci"`
	// RevenuePerDecision is the revenue per triggered (eligible, not held
	// out) decision.
	RevenuePerDecision float64 `json:"revenue_per_decision"`
}

// DailyPoint is one day (UTC) of the report's time series.
type DailyPoint struct {
	Date string `json:"date"` // YYYY-MM-DD
	// Cumulative treated and holdout decisions and conversions up to and
	// including the day.
	TreatedDecisions   int `json:"treated_decisions"`
	HoldoutDecisions   int `json:"holdout_decisions"`
	TreatedConversions int `json:"treated_conversions"`
	HoldoutConversions int `json:"holdout_conversions"`
	// Allocation counts the day's decisions by chosen arm
	// ("channel/offer", "none").
	Allocation map[string]int `json:"allocation"`
}

// OPERow is the off-policy evaluation of one candidate policy.
type OPERow struct {
	// Policy: "logged", "uniform", "never_send", "arm:<channel>/<offer>".
	Policy   string    `json:"policy"`
	IPS      Estimate  `json:"ips"`
	SNIPS    Estimate  `json:"snips"`
	DR       *Estimate `json:"dr,omitempty"`
	ESS      float64   `json:"ess"`
	Warnings []string  `json:"warnings,omitempty"`
	// N is the number of logged rounds, DM the direct-method estimate of
	// the reward model alone, and MaxWeight the largest importance weight.
	N         int       `json:"n"`
	DM        *Estimate `json:"dm,omitempty"`
	MaxWeight float64   `json:"max_weight"`
}

// CohortRow is one weekly cohort of one group: the customers first
// exposed in the week (Monday to Sunday, UTC) and how many of them the
// ledger sees again in each later week.
type CohortRow struct {
	// Week is the Monday starting the cohort's week (YYYY-MM-DD); Group is
	// "treated", "holdout" or "global_control".
	Week      string `json:"week"`
	Group     string `json:"group"`
	Customers int    `json:"customers"`
	// Retained[k] is the share of the cohort active in week k after the
	// cohort's week (Retained[0] = 1): with a decision of the campaign or
	// a conversion in that week. Weeks that end after the period's end
	// (or the last decision) are not listed.
	Retained []float64 `json:"retained"`
}
