package measurement

import (
	"bytes"
	"cmp"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"gonum.org/v1/gonum/stat/distuv"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"kairos/decisioning"
	"kairos/features"
)

// DefaultCovariate is the feature CUPED adjusts with when
// CampaignInput.Covariate is empty and the logged feature vectors have it.
const DefaultCovariate = "revenue_30d"

// MinOPERounds is the fewest logged rounds BuildCampaign evaluates
// candidate policies on; with fewer, CampaignReport.OPE is empty and a
// warning says why.
const MinOPERounds = 50

// MinCompared is the fewest units (first exposures, or customers) with a
// reward each side of a comparison row needs for its figures: below it
// Welch's normal-theory interval is unreliable (a handful of customers,
// perhaps none converting, on one side), so the row has a Note instead.
const MinCompared = 30

// Metrics of a campaign report.
const (
	// MetricConversion is 1 when the decision's reward window saw the
	// reward event (Reward.Converted), else 0.
	MetricConversion = "conversion"
	// MetricRevenue is the reward value (Reward.Value; 0 without a
	// conversion).
	MetricRevenue = "revenue"
	// MetricConversions is a customer's number of conversions over the
	// period (CampaignReport.PerCustomer; its revenue is MetricRevenue
	// summed).
	MetricConversions = "conversions"
)

// Scopes of ComparisonRow, and the prefixes of the per-arm and
// per-channel scopes ("arm:email/reminder", "channel:email").
const (
	ScopeCampaign      = "campaign"
	ScopeGlobalControl = "global_control"
	ScopeArmPrefix     = "arm:"
	ScopeChannelPrefix = "channel:"
)

// ErrNoDecisions is returned by BuildCampaign when the campaign has no
// decision in the period: there is nothing to report yet.
var ErrNoDecisions = errors.New("measurement: no decisions")

// CampaignInput is what BuildCampaign reads: a campaign's configuration
// and its ledger records over a period.
type CampaignInput struct {
	// Campaign is the campaign's configuration: its name, holdout share,
	// and arms with their costs.
	Campaign *decisioning.Campaign
	// ControlGroup is the share of the global control group
	// (decisioning.Config.Global.ControlGroup).
	ControlGroup decisioning.Share
	// Decisions are the campaign's decisions up to the period's end, as
	// ledger.Ledger.Decisions returns them for Query{Campaign, To}: those
	// before From are only used to know which customers were first
	// exposed before the period (see the package documentation, "Campaign
	// reports"); without them every customer's first decision in the
	// period counts as a first exposure. Decisions of another campaign,
	// decided at or after To, or repeating an id already seen are ignored.
	Decisions []decisioning.Decision
	// Rewards are the closed reward windows of the decisions, matched by
	// DecisionID; rewards of other decisions are ignored. A window closes
	// after its decision, possibly after To: query the ledger with
	// Query{Campaign, From} (no upper bound).
	Rewards []decisioning.Reward
	// From and To bound the period, [From, To); a zero time leaves that
	// side open.
	From, To time.Time
	// Covariate names the feature of the logged vectors CUPED adjusts
	// with. Empty: DefaultCovariate when the decisions log it, else no
	// CUPED.
	Covariate string
	// Level is the confidence level of every interval (0.95 when 0).
	Level float64
	// Tau fixes the mixing scale τ of the always-valid intervals per
	// metric (MetricConversion, MetricRevenue), in the units of the lift,
	// chosen before the data was seen. A metric without one gets
	// TauForSE of the comparison's current standard error (see the
	// package documentation, "Campaign reports").
	Tau map[string]float64
	// Bootstrap is the number of bootstrap resamples of the OPE intervals
	// (DefaultBootstrap when 0) and Seed seeds them: the same records and
	// Seed give the same report.
	Bootstrap int
	Seed      uint64
	// Now is the report's GeneratedAt, and tells an open reward window
	// from one the joiner is late to close.
	Now time.Time
}

// unit is one decision of the period: its group and its metrics.
type unit struct {
	d         *decisioning.Decision
	arm       string // arm key, "" without an arm
	conv, rev float64
	rewarded  bool
	convAt    time.Time // the converting event's time; zero without one
	// events are the campaign's event-rate metrics (CampaignReport.Metrics
	// after conversion and revenue): 1 when the metric's event came within
	// its window, 0 when it closed without, NaN while it is open.
	events []float64
	// first: the customer's first exposure, the first of their decisions
	// in a compared group (treated, holdout, global control), and it falls
	// in the period. Only first exposures are in Comparisons.
	first bool
}

// group of a decision in the comparisons.
type group uint8

const (
	groupNone    group = iota // suppressed, or no arm chosen
	groupTreated              // SEND or NO_ACTION with an arm
	groupHoldout              // HOLDOUT with an arm
	groupControl              // GLOBAL_CONTROL
)

// Compared reports whether a decision is in a compared group (treated,
// holdout or global control): the first such decision of a customer is
// their first exposure (see the package documentation, "Campaign
// reports").
func Compared(d *decisioning.Decision) bool { return groupOf(d) != groupNone }

func groupOf(d *decisioning.Decision) group {
	switch d.Outcome {
	case decisioning.GlobalControl:
		return groupControl
	case decisioning.Holdout:
		if d.ArmIndex >= 0 {
			return groupHoldout
		}
	case decisioning.Send, decisioning.NoAction:
		if d.ArmIndex >= 0 {
			return groupTreated
		}
	}
	return groupNone
}

// BuildCampaign builds the incrementality report of one campaign over a
// period from its decisions and rewards (see the package documentation,
// "Campaign reports", for every definition). It fails when the input has
// no campaign configuration or an invalid level or τ, and with
// ErrNoDecisions when no decision of the campaign falls in the period.
// Comparisons that cannot be made (too few decisions, no variance) are
// rows with a Note, not errors.
func BuildCampaign(in CampaignInput) (*CampaignReport, error) {
	c := in.Campaign
	if c == nil {
		return nil, errors.New("measurement: BuildCampaign needs the campaign's configuration (CampaignInput.Campaign)")
	}
	level := cmp.Or(in.Level, 0.95)
	if err := checkLevel(level); err != nil {
		return nil, err
	}
	for m, tau := range in.Tau {
		if !(tau > 0) || math.IsInf(tau, 0) {
			return nil, fmt.Errorf("measurement: CampaignInput.Tau[%q] is %v; τ must be a positive finite number in the units of the lift", m, tau)
		}
	}
	if in.Bootstrap < 0 {
		return nil, fmt.Errorf("measurement: CampaignInput.Bootstrap is %d, want a positive number of resamples (or 0 for %d)", in.Bootstrap, DefaultBootstrap)
	}
	rep := &CampaignReport{
		Campaign:     c.Name,
		From:         in.From,
		To:           in.To,
		GeneratedAt:  in.Now,
		Level:        level,
		Decisions:    map[string]int{},
		HoldoutShare: float64(c.Holdout) / decisioning.Buckets,
		ControlShare: float64(in.ControlGroup) / decisioning.Buckets,
		Metrics:      []string{MetricConversion, MetricRevenue},
		Comparisons:  []ComparisonRow{},
		Daily:        []DailyPoint{},
	}
	for o := decisioning.Send; o <= decisioning.NoAction; o++ {
		rep.Decisions[o.String()] = 0
	}

	// The reward windows, and the campaign's event-rate metrics (metric
	// windows, Reward.Metric) by metric.
	rewards := make(map[string]*decisioning.Reward, len(in.Rewards))
	metricIndex := map[string]int{}
	for i, m := range c.Metrics {
		metricIndex[m.Name] = i
		rep.Metrics = append(rep.Metrics, m.Name)
	}
	metricRewards := make([]map[string]bool, len(c.Metrics)) // decision id → converted
	for i := range metricRewards {
		metricRewards[i] = map[string]bool{}
	}
	for i := range in.Rewards {
		r := &in.Rewards[i]
		if r.Campaign != c.Name {
			continue
		}
		if r.Metric != "" {
			if k, ok := metricIndex[r.Metric]; ok {
				if _, dup := metricRewards[k][r.DecisionID]; !dup {
					metricRewards[k][r.DecisionID] = r.Converted
				}
			}
			continue
		}
		if _, dup := rewards[r.DecisionID]; !dup {
			rewards[r.DecisionID] = r
		}
	}
	var (
		units           []unit
		others, overdue int
		seen            = make(map[string]bool, len(in.Decisions))
		// exposed: customers with a decision in a compared group before
		// From; their decisions in the period are not first exposures.
		exposed = map[string]bool{}
	)
	for i := range in.Decisions {
		d := &in.Decisions[i]
		switch {
		case d.Campaign != c.Name:
			others++
			continue
		case seen[d.ID]:
			continue
		case !in.From.IsZero() && d.DecidedAt.Before(in.From):
			seen[d.ID] = true
			if groupOf(d) != groupNone {
				exposed[d.CustomerID] = true
			}
			continue
		case !in.To.IsZero() && !d.DecidedAt.Before(in.To):
			continue
		}
		seen[d.ID] = true
		rep.Decisions[d.Outcome.String()]++
		u := unit{d: d}
		if d.ArmIndex >= 0 {
			u.arm = decisioning.ArmKey(d.Channel, d.Offer)
		}
		if len(c.Metrics) > 0 {
			u.events = make([]float64, len(c.Metrics))
			for k := range c.Metrics {
				u.events[k] = math.NaN()
				if conv, ok := metricRewards[k][d.ID]; ok {
					u.events[k] = b2f(conv)
				}
			}
		}
		if r, ok := rewards[d.ID]; ok {
			u.rewarded = true
			u.rev = r.Value
			if r.Converted {
				u.conv = 1
				u.convAt = r.EventAt
			}
		}
		units = append(units, u)
	}
	if len(units) == 0 {
		return nil, fmt.Errorf("measurement: campaign %q: %w in the period", c.Name, ErrNoDecisions)
	}
	slices.SortStableFunc(units, func(a, b unit) int { return a.d.DecidedAt.Compare(b.d.DecidedAt) })
	var nTreated, nHoldout, nControl int // first exposures, rewarded or not
	for i := range units {
		u := &units[i]
		g := groupOf(u.d)
		if g == groupNone {
			continue
		}
		if !u.rewarded {
			rep.Pending++
			if !u.d.RewardUntil.IsZero() && !in.Now.IsZero() && u.d.RewardUntil.Before(in.Now) {
				overdue++
			}
		}
		if exposed[u.d.CustomerID] {
			continue
		}
		exposed[u.d.CustomerID] = true
		u.first = true
		switch g {
		case groupTreated:
			nTreated++
		case groupHoldout:
			nHoldout++
		case groupControl:
			nControl++
		}
	}
	if others > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d decisions of other campaigns were ignored", others))
	}
	for k, m := range c.Metrics {
		open := 0
		for i := range units {
			if units[i].first && math.IsNaN(units[i].events[k]) {
				open++
			}
		}
		if open > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: %d first exposures still in their %s window (or not yet closed) are left out of its comparisons",
				m.Name, open, features.FormatDuration(m.Within)))
		}
	}
	if rep.Pending > 0 {
		w := fmt.Sprintf("%d decisions still in their reward window (no reward yet) are left out of the comparisons", rep.Pending)
		if overdue > 0 {
			w += fmt.Sprintf("; %d of them are past the window's end, not yet closed by the reward joiner", overdue)
		}
		rep.Warnings = append(rep.Warnings, w)
	}

	b := builder{in: in, rep: rep, level: level, units: units}
	b.srm(nTreated, nHoldout, nControl)
	b.comparisons()
	b.simultaneous()
	b.perCustomer()
	b.cuped()
	b.attribution()
	b.daily()
	b.cohorts()
	b.ope()
	return rep, nil
}

// builder holds what the parts of a report share.
type builder struct {
	in    CampaignInput
	rep   *CampaignReport
	level float64
	units []unit
}

func (b *builder) warn(format string, args ...any) {
	b.rep.Warnings = append(b.rep.Warnings, fmt.Sprintf(format, args...))
}

// srm checks the holdout's share among eligible decisions and the global
// control's among eligible and control decisions.
func (b *builder) srm(treated, holdout, control int) {
	check := func(name string, observed []int, share float64) *SRM {
		if !(share > 0 && share < 1) || observed[0]+observed[1] == 0 {
			return nil
		}
		s, err := SampleRatio(observed, []float64{1 - share, share})
		if err != nil {
			b.warn("%s sample ratio check: %v", name, err)
			return nil
		}
		return &s
	}
	b.rep.SRM = check("holdout", []int{treated, holdout}, b.rep.HoldoutShare)
	b.rep.GlobalSRM = check("global control", []int{treated + holdout, control}, b.rep.ControlShare)
}

// values returns the rewarded units' values of metric among those keep
// selects.
func (b *builder) values(metric string, keep func(*unit) bool) []float64 {
	var out []float64
	event := slices.Index(b.rep.Metrics, metric) - 2 // conversion and revenue first
	for i := range b.units {
		u := &b.units[i]
		if !keep(u) {
			continue
		}
		switch {
		case event >= 0:
			if v := u.events[event]; !math.IsNaN(v) {
				out = append(out, v)
			}
		case !u.rewarded:
		case metric == MetricConversion:
			out = append(out, u.conv)
		default:
			out = append(out, u.rev)
		}
	}
	return out
}

// comparisons adds the campaign, per-arm, per-channel and global-control
// rows, on first exposures.
func (b *builder) comparisons() {
	type scope struct {
		name             string
		treated, control func(*unit) bool
	}
	is := func(g group) func(*unit) bool { return func(u *unit) bool { return groupOf(u.d) == g } }
	scopes := []scope{{ScopeCampaign, is(groupTreated), is(groupHoldout)}}
	for _, arm := range b.arms() {
		scopes = append(scopes, scope{ScopeArmPrefix + arm,
			func(u *unit) bool { return groupOf(u.d) == groupTreated && u.arm == arm },
			func(u *unit) bool { return groupOf(u.d) == groupHoldout && u.arm == arm }})
	}
	for _, ch := range b.channels() {
		scopes = append(scopes, scope{ScopeChannelPrefix + ch,
			func(u *unit) bool { return u.d.Outcome == decisioning.Send && u.d.Channel == ch },
			func(u *unit) bool { return groupOf(u.d) == groupHoldout && u.d.Channel == ch }})
	}
	if b.rep.ControlShare > 0 || b.rep.Decisions[decisioning.GlobalControl.String()] > 0 {
		scopes = append(scopes, scope{ScopeGlobalControl,
			func(u *unit) bool { g := groupOf(u.d); return g == groupTreated || g == groupHoldout },
			is(groupControl)})
	}
	first := func(keep func(*unit) bool) func(*unit) bool {
		return func(u *unit) bool { return u.first && keep(u) }
	}
	for _, s := range scopes {
		for _, m := range b.rep.Metrics {
			b.rep.Comparisons = append(b.rep.Comparisons,
				b.compare(s.name, m, b.values(m, first(s.treated)), b.values(m, first(s.control))))
		}
	}
}

// simultaneous sets the simultaneous intervals of the comparisons: the
// Bonferroni intervals at level 1 − (1 − level)/m over the m rows with a
// lift, which all hold at once with probability at least level.
func (b *builder) simultaneous() {
	m := 0
	for _, r := range b.rep.Comparisons {
		if finite(r.AbsLift) && finite(r.SE) {
			m++
		}
	}
	b.rep.SimultaneousRows = m
	for i := range b.rep.Comparisons {
		r := &b.rep.Comparisons[i]
		r.SimultaneousCI = nan2
		if m == 0 || !finite(r.AbsLift) || !finite(r.SE) {
			continue
		}
		q := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: r.DF}.Quantile(1 - (1-b.level)/(2*float64(m)))
		r.SimultaneousCI = [2]float64{r.AbsLift - q*r.SE, r.AbsLift + q*r.SE}
	}
}

// perCustomer adds the per-customer comparisons: every customer first
// exposed in the period, in the group of their first exposure, with the
// summed conversions and reward values of all their decisions in the
// period that have a reward.
func (b *builder) perCustomer() {
	type total struct {
		g         group
		conv, rev float64
	}
	var order []string
	totals := map[string]*total{}
	switched := 0
	for i := range b.units {
		u := &b.units[i]
		g := groupOf(u.d)
		if g == groupNone {
			continue
		}
		t := totals[u.d.CustomerID]
		if u.first {
			if !u.rewarded {
				continue // its window still open: the customer is not compared yet
			}
			t = &total{g: g}
			totals[u.d.CustomerID] = t
			order = append(order, u.d.CustomerID)
		}
		if t == nil || !u.rewarded {
			continue
		}
		if g != t.g {
			switched++
		}
		t.conv += u.conv
		t.rev += u.rev
	}
	if switched > 0 {
		b.warn("%d decisions of customers first exposed in another group (the holdout or control share or salt changed during the period) are counted in the group of the first exposure", switched)
	}
	values := func(metric string, keep func(group) bool) []float64 {
		var out []float64
		for _, id := range order {
			t := totals[id]
			if !keep(t.g) {
				continue
			}
			if metric == MetricConversions {
				out = append(out, t.conv)
			} else {
				out = append(out, t.rev)
			}
		}
		return out
	}
	is := func(g group) func(group) bool { return func(x group) bool { return x == g } }
	scopes := []struct {
		name             string
		treated, control func(group) bool
	}{{ScopeCampaign, is(groupTreated), is(groupHoldout)}}
	if b.rep.ControlShare > 0 || b.rep.Decisions[decisioning.GlobalControl.String()] > 0 {
		scopes = append(scopes, struct {
			name             string
			treated, control func(group) bool
		}{ScopeGlobalControl, func(g group) bool { return g == groupTreated || g == groupHoldout }, is(groupControl)})
	}
	for _, s := range scopes {
		for _, m := range []string{MetricConversions, MetricRevenue} {
			row := b.compare(s.name, m, values(m, s.treated), values(m, s.control))
			row.SimultaneousCI = nan2
			b.rep.PerCustomer = append(b.rep.PerCustomer, row)
		}
	}
}

// arms lists the arm keys of the decisions' chosen arms: the configured
// arms in their order, then any other (from an older configuration) in
// alphabetical order. An arm is listed when a decision chose it.
func (b *builder) arms() []string {
	chosen := map[string]bool{}
	for _, u := range b.units {
		if g := groupOf(u.d); g == groupTreated || g == groupHoldout {
			chosen[u.arm] = true
		}
	}
	var out []string
	for _, a := range b.in.Campaign.Arms {
		if k := decisioning.ArmKey(a.Channel, a.Offer); chosen[k] && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	var extra []string
	for k := range chosen {
		if !slices.Contains(out, k) {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	return append(out, extra...)
}

// channels lists the channels (none excluded) of the chosen arms, in the
// order of arms.
func (b *builder) channels() []string {
	var out []string
	for _, u := range b.units {
		if g := groupOf(u.d); (g == groupTreated || g == groupHoldout) && u.d.Channel != decisioning.ChannelNone && u.d.Channel != "" && !slices.Contains(out, u.d.Channel) {
			out = append(out, u.d.Channel)
		}
	}
	order := map[string]int{}
	for i, a := range b.in.Campaign.Arms {
		if _, ok := order[a.Channel]; !ok {
			order[a.Channel] = i
		}
	}
	slices.SortStableFunc(out, func(x, y string) int {
		ix, okx := order[x]
		iy, oky := order[y]
		switch {
		case okx && oky:
			return ix - iy
		case okx:
			return -1
		case oky:
			return 1
		}
		return 0
	})
	return out
}

var nan2 = [2]float64{math.NaN(), math.NaN()}

// compare fills one comparison row: Welch, the always-valid interval and
// the incremental value; a Note instead of the figures that cannot be
// computed.
func (b *builder) compare(scope, metric string, treated, control []float64) ComparisonRow {
	st, sc := Summarize(treated), Summarize(control)
	nan := math.NaN()
	row := ComparisonRow{
		Scope: scope, Metric: metric, NTreated: st.N, NControl: sc.N,
		TreatedMean: st.Mean, ControlMean: sc.Mean,
		AbsLift: nan, AbsCI: nan2, RelLift: nan, RelCI: nan2, PValue: nan,
		AlwaysValidCI: nan2, AlwaysValidPValue: nan, Tau: nan,
		Incremental: nan, IncrementalCI: nan2, SE: nan, DF: nan, SimultaneousCI: nan2,
	}
	if st.N < MinCompared || sc.N < MinCompared {
		row.Note = fmt.Sprintf("too few to compare: %d treated, %d control with a reward (at least %d each)", st.N, sc.N, MinCompared)
		return row
	}
	c, err := Welch(st, sc, b.level)
	switch {
	case errors.Is(err, ErrZeroVariance):
		row.Note = fmt.Sprintf("no variance: every decision of both groups has the value %v", sc.Mean)
		return row
	case err != nil:
		row.Note = err.Error()
		return row
	}
	row.AbsLift, row.AbsCI, row.PValue = c.AbsLift, [2]float64{c.AbsCI.Lo, c.AbsCI.Hi}, c.PValue
	row.SE, row.DF = c.SE, c.DF
	row.RelLift, row.RelCI = c.RelLift, [2]float64{c.RelCI.Lo, c.RelCI.Hi}
	if c.RelNote != "" {
		row.Note = c.RelNote
	}
	inc := IncrementalOf(c, st.N)
	row.Incremental, row.IncrementalCI = inc.Value, [2]float64{inc.CI.Lo, inc.CI.Hi}
	tau, fixed := b.in.Tau[metric]
	if !fixed {
		tau = TauForSE(c.SE, b.level)
	}
	if s, err := AlwaysValid(st, sc, b.level, tau); err == nil {
		row.AlwaysValidCI, row.AlwaysValidPValue, row.Tau = [2]float64{s.CI.Lo, s.CI.Hi}, s.PValue, s.Tau
	}
	return row
}

// covariate returns the name of the CUPED covariate, "" for none.
func (b *builder) covariate() string {
	name := b.in.Covariate
	if name == "" {
		name = DefaultCovariate
	}
	for _, u := range b.units {
		if slices.Contains(u.d.FeatureNames, name) {
			return name
		}
	}
	if b.in.Covariate != "" {
		b.warn("no CUPED: no decision logs the covariate %q in its feature vector", name)
	}
	return ""
}

// cuped adds the campaign comparison of each metric adjusted by the
// covariate, on the decisions whose covariate is a finite number.
func (b *builder) cuped() {
	name := b.covariate()
	if name == "" {
		return
	}
	var t, c []*unit
	var xt, xc []float64
	dropped := 0
	for i := range b.units {
		u := &b.units[i]
		g := groupOf(u.d)
		if !u.rewarded || !u.first || (g != groupTreated && g != groupHoldout) {
			continue
		}
		x := math.NaN()
		if j := slices.Index(u.d.FeatureNames, name); j >= 0 && j < len(u.d.Features) {
			x = u.d.Features[j]
		}
		if !finite(x) {
			dropped++
			continue
		}
		if g == groupTreated {
			t, xt = append(t, u), append(xt, x)
		} else {
			c, xc = append(c, u), append(xc, x)
		}
	}
	if dropped > 0 {
		b.warn("CUPED: %d decisions without a finite %s are left out of the adjusted comparisons (not of the others)", dropped, name)
	}
	metric := func(us []*unit, m string) []float64 {
		out := make([]float64, len(us))
		for i, u := range us {
			out[i] = u.rev
			if m == MetricConversion {
				out[i] = u.conv
			}
		}
		return out
	}
	for _, m := range []string{MetricConversion, MetricRevenue} {
		a, err := CUPED(Sample{Y: metric(t, m), X: xt}, Sample{Y: metric(c, m), X: xc}, b.level)
		if err != nil {
			b.warn("CUPED on %s with %s: %v", m, name, err)
			continue
		}
		b.rep.CUPED = append(b.rep.CUPED, CUPEDRow{
			Metric: m, Covariate: name,
			VarianceReduction: a.VarianceReduction,
			AbsLift:           a.Adjusted.AbsLift,
			AbsCI:             [2]float64{a.Adjusted.AbsCI.Lo, a.Adjusted.AbsCI.Hi},
			PValue:            a.Adjusted.PValue,
			NTreated:          len(t), NControl: len(c),
			SEReduction:     a.SEReduction,
			UnadjustedAbsCI: [2]float64{a.Unadjusted.AbsCI.Lo, a.Unadjusted.AbsCI.Hi},
		})
	}
}

// row returns the row of scope and metric among rows, nil when absent.
func row(rows []ComparisonRow, scope, metric string) *ComparisonRow {
	for i := range rows {
		if r := &rows[i]; r.Scope == scope && r.Metric == metric {
			return r
		}
	}
	return nil
}

// attribution sets last-touch attribution beside the incremental figures
// of the per-customer campaign comparison, on the decisions of the
// customers first exposed in the period.
func (b *builder) attribution() {
	inPeriod := map[string]bool{}
	for i := range b.units {
		if b.units[i].first {
			inPeriod[b.units[i].d.CustomerID] = true
		}
	}
	costs := map[string]float64{}
	for _, a := range b.in.Campaign.Arms {
		if _, ok := costs[decisioning.ArmKey(a.Channel, a.Offer)]; !ok {
			costs[decisioning.ArmKey(a.Channel, a.Offer)] = a.Cost
		}
	}
	at := &b.rep.Attribution
	var treated int
	var treatedRevenue float64
	unknown := map[string]bool{}
	for _, u := range b.units {
		if !u.rewarded || groupOf(u.d) != groupTreated || !inPeriod[u.d.CustomerID] {
			continue
		}
		treated++
		treatedRevenue += u.rev
		if u.d.Outcome != decisioning.Send {
			continue
		}
		cost, ok := costs[u.arm]
		if !ok {
			unknown[u.arm] = true
		}
		at.Cost += cost
		if u.conv == 1 {
			at.AttributedConversions++
			at.AttributedRevenue += u.rev
		}
	}
	if len(unknown) > 0 {
		names := make([]string, 0, len(unknown))
		for k := range unknown {
			names = append(names, k)
		}
		slices.Sort(names)
		b.warn("arms %q of some decisions are not in the configuration: their cost is taken as 0", names)
	}
	at.IncrementalRevenue, at.IncrementalRevenueCI = math.NaN(), nan2
	at.IncrementalConversions, at.IncrementalConversionsCI = math.NaN(), nan2
	if r := row(b.rep.PerCustomer, ScopeCampaign, MetricRevenue); r != nil {
		at.IncrementalRevenue, at.IncrementalRevenueCI = r.Incremental, r.IncrementalCI
	}
	if r := row(b.rep.PerCustomer, ScopeCampaign, MetricConversions); r != nil {
		at.IncrementalConversions, at.IncrementalConversionsCI = r.Incremental, r.IncrementalCI
	}
	at.ROI, at.ROICI = math.NaN(), nan2
	if at.Cost > 0 && finite(at.IncrementalRevenue) {
		inc := Incremental{Value: at.IncrementalRevenue, CI: Interval{at.IncrementalRevenueCI[0], at.IncrementalRevenueCI[1]}}
		if roi, ci, err := ROI(inc, at.Cost); err == nil {
			at.ROI, at.ROICI = roi, [2]float64{ci.Lo, ci.Hi}
		}
	}
	at.RevenuePerDecision = math.NaN()
	if treated > 0 {
		at.RevenuePerDecision = treatedRevenue / float64(treated)
	}
}

// maxDailyPoints bounds the daily series (a period of about 27 years).
const maxDailyPoints = 10_000

// daily builds the per-day series, from the day of the first decision to
// the day of the last, days without decisions included.
func (b *builder) daily() {
	day := func(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }
	first, last := day(b.units[0].d.DecidedAt), day(b.units[len(b.units)-1].d.DecidedAt)
	if n := int(last.Sub(first)/(24*time.Hour)) + 1; n > maxDailyPoints {
		first = last.AddDate(0, 0, -(maxDailyPoints - 1))
		b.warn("the daily series shows the last %d days only", maxDailyPoints)
	}
	var cum DailyPoint
	i := 0
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		p := DailyPoint{Date: d.Format(time.DateOnly), Allocation: map[string]int{}}
		next := d.AddDate(0, 0, 1)
		for ; i < len(b.units) && b.units[i].d.DecidedAt.Before(next); i++ {
			u := &b.units[i]
			switch groupOf(u.d) {
			case groupTreated:
				cum.TreatedDecisions++
				cum.TreatedConversions += int(u.conv)
			case groupHoldout:
				cum.HoldoutDecisions++
				cum.HoldoutConversions += int(u.conv)
			}
			if u.arm != "" && !u.d.DecidedAt.Before(d) { // earlier days cut from the series count only in the totals
				p.Allocation[u.arm]++
			}
		}
		p.TreatedDecisions, p.HoldoutDecisions = cum.TreatedDecisions, cum.HoldoutDecisions
		p.TreatedConversions, p.HoldoutConversions = cum.TreatedConversions, cum.HoldoutConversions
		b.rep.Daily = append(b.rep.Daily, p)
	}
}

// maxCohortWeeks bounds the weeks a cohort row follows.
const maxCohortWeeks = 26

// cohorts builds the weekly cohorts of first exposures per group and
// their activity in the weeks after: a decision of the campaign, or a
// conversion, in the week.
func (b *builder) cohorts() {
	week := func(t time.Time) time.Time {
		d := t.UTC().Truncate(24 * time.Hour)
		return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
	}
	end := b.in.To
	if end.IsZero() {
		end = b.units[len(b.units)-1].d.DecidedAt
	}
	type key struct {
		week time.Time
		g    group
	}
	cohortOf := map[string]key{}
	members := map[key]int{}
	active := map[key]map[int]map[string]bool{} // week offset → customers
	var keys []key
	see := func(id string, t time.Time) {
		k, ok := cohortOf[id]
		if !ok || t.Before(k.week) {
			return
		}
		off := int(t.Sub(k.week) / (7 * 24 * time.Hour))
		if active[k][off] == nil {
			active[k][off] = map[string]bool{}
		}
		active[k][off][id] = true
	}
	for i := range b.units {
		u := &b.units[i]
		if u.first {
			k := key{week(u.d.DecidedAt), groupOf(u.d)}
			if _, ok := members[k]; !ok {
				keys = append(keys, k)
				active[k] = map[int]map[string]bool{}
			}
			members[k]++
			cohortOf[u.d.CustomerID] = k
		}
		see(u.d.CustomerID, u.d.DecidedAt)
		if !u.convAt.IsZero() {
			see(u.d.CustomerID, u.convAt)
		}
	}
	names := map[group]string{groupTreated: "treated", groupHoldout: "holdout", groupControl: ScopeGlobalControl}
	slices.SortFunc(keys, func(x, y key) int {
		if c := x.week.Compare(y.week); c != 0 {
			return c
		}
		return int(x.g) - int(y.g)
	})
	for _, k := range keys {
		row := CohortRow{Week: k.week.Format(time.DateOnly), Group: names[k.g], Customers: members[k]}
		for off := 0; off < maxCohortWeeks; off++ {
			if off > 0 && k.week.AddDate(0, 0, 7*(off+1)).After(end) {
				break
			}
			row.Retained = append(row.Retained, float64(len(active[k][off]))/float64(members[k]))
		}
		b.rep.Cohorts = append(b.rep.Cohorts, row)
	}
}

// ope evaluates the candidate policies on the rewarded decisions the
// policy acted on.
func (b *builder) ope() {
	arms := b.in.Campaign.Arms
	k := len(arms)
	if k == 0 {
		return
	}
	b.rep.OPEReward = MetricRevenue
	keys := make([]string, k)
	none := -1
	for i, a := range arms {
		keys[i] = decisioning.ArmKey(a.Channel, a.Offer)
		if a.Channel == decisioning.ChannelNone && none < 0 {
			none = i
		}
	}
	var (
		d       = Logged{Arms: k}
		probs   [][]float64
		skipped int
	)
	for i := range b.units {
		u := &b.units[i]
		if !u.rewarded || groupOf(u.d) != groupTreated {
			continue
		}
		if !b.loggedRound(u.d, keys) {
			skipped++
			continue
		}
		row := make([]float64, k)
		for j, a := range u.d.Arms {
			row[j] = a.Probability
		}
		d.Actions = append(d.Actions, u.d.ArmIndex)
		d.Propensities = append(d.Propensities, u.d.Propensity)
		d.Rewards = append(d.Rewards, u.rev)
		probs = append(probs, row)
	}
	if skipped > 0 {
		b.warn("off-policy evaluation: %d decisions are left out: their logged arms differ from the configured ones, or their propensity is not in (0, 1]", skipped)
	}
	n := d.Len()
	if n < MinOPERounds {
		b.warn("off-policy evaluation skipped: %d logged rounds, it needs at least %d", n, MinOPERounds)
		return
	}

	// The reward model of DM and DR: each arm's mean logged reward (the
	// mean over every round for an arm never logged).
	sum, cnt := make([]float64, k), make([]float64, k)
	var all float64
	for i, a := range d.Actions {
		sum[a] += d.Rewards[i]
		cnt[a]++
		all += d.Rewards[i]
	}
	qrow := make([]float64, k)
	for a := range qrow {
		qrow[a] = all / float64(n)
		if cnt[a] > 0 {
			qrow[a] = sum[a] / cnt[a]
		}
	}
	q := make([][]float64, n)
	for i := range q {
		q[i] = qrow
	}

	type candidate struct {
		name string
		pi   Policy
		err  error
	}
	var cands []candidate
	logged, err := LoggedPolicy(d, probs)
	cands = append(cands, candidate{"logged", logged, err})
	eligibleRows := func(choose func(i int, row []float64)) (Policy, error) {
		return PolicyFrom(d, func(i int, dst []float64) error { choose(i, dst); return nil })
	}
	// spread puts equal mass on the arms eligible in round i.
	spread := func(i int, row []float64) {
		m := 0
		for _, p := range probs[i] {
			if p > 0 {
				m++
			}
		}
		for j, p := range probs[i] {
			if p > 0 {
				row[j] = 1 / float64(m)
			}
		}
	}
	uniform, err := eligibleRows(spread)
	cands = append(cands, candidate{"uniform", uniform, err})
	if none >= 0 {
		never, err := NeverSendPolicy(n, k, none)
		cands = append(cands, candidate{"never_send", never, err})
	}
	for a := range k {
		if a == none {
			continue
		}
		pi, err := eligibleRows(func(i int, row []float64) {
			switch {
			case probs[i][a] > 0:
				row[a] = 1
			case none >= 0:
				row[none] = 1
			default: // no none arm: uniform over the eligible arms
				spread(i, row)
			}
		})
		cands = append(cands, candidate{ScopeArmPrefix + keys[a], pi, err})
	}
	var names []string
	var pis []Policy
	for _, c := range cands {
		if c.err != nil {
			b.warn("off-policy evaluation of %s: %v", c.name, c.err)
			continue
		}
		names, pis = append(names, c.name), append(pis, c.pi)
	}
	evs, err := EvaluateAll(d, pis, EvalOptions{RewardModel: q, Bootstrap: b.in.Bootstrap, Seed: b.in.Seed, Level: b.level})
	if err != nil {
		b.warn("off-policy evaluation: %v", err)
		return
	}
	for i, ev := range evs {
		b.rep.OPE = append(b.rep.OPE, OPERow{
			Policy: names[i], IPS: ev.IPS, SNIPS: ev.SNIPS, DR: ev.DR, DM: ev.DM,
			ESS: ev.ESS, MaxWeight: ev.MaxWeight, N: ev.N, Warnings: ev.Warnings,
		})
	}
}

// loggedRound reports whether d can be a round of the off-policy
// evaluation: its logged arms are the configured ones, in their order, and
// its propensity is the chosen arm's logged probability, in (0, 1].
func (b *builder) loggedRound(d *decisioning.Decision, keys []string) bool {
	if len(d.Arms) != len(keys) || d.ArmIndex < 0 || d.ArmIndex >= len(keys) {
		return false
	}
	for j, a := range d.Arms {
		if decisioning.ArmKey(a.Channel, a.Offer) != keys[j] || !(a.Probability >= 0 && a.Probability <= 1) {
			return false
		}
	}
	p := d.Propensity
	return p > 0 && p <= 1 && math.Abs(d.Arms[d.ArmIndex].Probability-p) <= probTolerance
}

// The JSON form of a CampaignReport. encoding/json refuses NaN and ±Inf,
// which a report holds wherever a figure is undefined (a relative lift
// against a zero control, a row with too few decisions, ROI without
// cost); the report encodes them as null and decodes null numbers as NaN.
// Everything else is encoded exactly as encoding/json would: the same
// field names and options (omitempty, omitzero), map keys sorted, and
// json.Marshaler and encoding.TextMarshaler values (times) left to their
// own methods.

// campaignReport is CampaignReport without its JSON methods.
type campaignReport CampaignReport

// MarshalJSON encodes the report with NaN and ±Inf numbers as null.
func (r CampaignReport) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	if err := encodeFinite(&buf, reflect.ValueOf(campaignReport(r))); err != nil {
		return nil, fmt.Errorf("measurement: encode the report of %q: %w", r.Campaign, err)
	}
	return buf.Bytes(), nil
}

// UnmarshalJSON decodes a report, null numbers as NaN. Unknown fields are
// ignored.
func (r *CampaignReport) UnmarshalJSON(data []byte) error {
	var v campaignReport
	if err := decodeFinite(data, reflect.ValueOf(&v).Elem()); err != nil {
		return fmt.Errorf("measurement: decode a campaign report: %w", err)
	}
	*r = CampaignReport(v)
	return nil
}

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	unmarshalerType   = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// jsonField is an exported struct field as encoding/json sees it.
type jsonField struct {
	index              []int
	name               string
	omitEmpty, omitZer bool
}

// jsonFields lists t's fields with their JSON names, embedded structs
// without a tag name flattened into their parent.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for _, sub := range jsonFields(ft) {
					sub.index = append([]int{i}, sub.index...)
					out = append(out, sub)
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		jf := jsonField{index: []int{i}, name: cmp.Or(name, f.Name)}
		for o := range strings.SplitSeq(opts, ",") {
			jf.omitEmpty = jf.omitEmpty || o == "omitempty"
			jf.omitZer = jf.omitZer || o == "omitzero"
		}
		out = append(out, jf)
	}
	return out
}

// fieldOf returns v's field at index, the zero Value when it runs through
// a nil embedded pointer.
func fieldOf(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

// emptyJSON reports whether omitempty omits v.
func emptyJSON(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// zeroJSON reports whether omitzero omits v: its IsZero method says so,
// or it is its type's zero value.
func zeroJSON(v reflect.Value) bool {
	if z, ok := v.Interface().(interface{ IsZero() bool }); ok {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return true
		}
		return z.IsZero()
	}
	return v.IsZero()
}

// encodeFinite writes v as encoding/json would, NaN and ±Inf as null.
func encodeFinite(buf *bytes.Buffer, v reflect.Value) error {
	if !v.IsValid() {
		buf.WriteString("null")
		return nil
	}
	t := v.Type()
	if t.Implements(marshalerType) || t.Implements(textMarshalerType) {
		if (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) && v.IsNil() {
			buf.WriteString("null")
			return nil
		}
		b, err := json.Marshal(v.Interface())
		buf.Write(b)
		return err
	}
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			buf.WriteString("null")
			return nil
		}
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			buf.WriteString("null")
			return nil
		}
		return encodeFinite(buf, v.Elem())
	case reflect.Struct:
		buf.WriteByte('{')
		first := true
		for _, f := range jsonFields(t) {
			fv := fieldOf(v, f.index)
			if !fv.IsValid() || (f.omitEmpty && emptyJSON(fv)) || (f.omitZer && zeroJSON(fv)) {
				continue
			}
			if !first {
				buf.WriteByte(',')
			}
			first = false
			name, _ := json.Marshal(f.name)
			buf.Write(name)
			buf.WriteByte(':')
			if err := encodeFinite(buf, fv); err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
		}
		buf.WriteByte('}')
		return nil
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			buf.WriteString("null")
			return nil
		}
		if t.Elem().Kind() == reflect.Uint8 && v.Kind() == reflect.Slice {
			break // []byte: base64, as encoding/json
		}
		buf.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := encodeFinite(buf, v.Index(i)); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			break
		}
		if v.IsNil() {
			buf.WriteString("null")
			return nil
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			name, _ := json.Marshal(k.String())
			buf.Write(name)
			buf.WriteByte(':')
			if err := encodeFinite(buf, v.MapIndex(k)); err != nil {
				return fmt.Errorf("%s: %w", k.String(), err)
			}
		}
		buf.WriteByte('}')
		return nil
	}
	b, err := json.Marshal(v.Interface())
	buf.Write(b)
	return err
}

// decodeFinite decodes data into the addressable v as encoding/json
// would, null numbers as NaN.
func decodeFinite(data []byte, v reflect.Value) error {
	data = bytes.TrimSpace(data)
	null := string(data) == "null"
	pt := v.Addr().Type()
	if pt.Implements(unmarshalerType) || pt.Implements(textUnmarshalType) {
		return json.Unmarshal(data, v.Addr().Interface())
	}
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if null {
			v.SetFloat(math.NaN())
			return nil
		}
	case reflect.Pointer:
		if null {
			v.SetZero()
			return nil
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return decodeFinite(data, v.Elem())
	case reflect.Struct:
		if null {
			return nil
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(data, &obj); err != nil {
			return err
		}
		for _, f := range jsonFields(v.Type()) {
			raw, ok := obj[f.name]
			if !ok {
				for k, r := range obj { // encoding/json matches names case-insensitively
					if strings.EqualFold(k, f.name) {
						raw, ok = r, true
						break
					}
				}
			}
			if !ok {
				continue
			}
			fv := v
			for i, x := range f.index {
				if i > 0 && fv.Kind() == reflect.Pointer {
					if fv.IsNil() {
						fv.Set(reflect.New(fv.Type().Elem()))
					}
					fv = fv.Elem()
				}
				fv = fv.Field(x)
			}
			if err := decodeFinite(raw, fv); err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
		}
		return nil
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			break
		}
		if null {
			if v.Kind() == reflect.Slice {
				v.SetZero()
			}
			return nil
		}
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return err
		}
		if v.Kind() == reflect.Slice {
			v.Set(reflect.MakeSlice(v.Type(), len(items), len(items)))
		}
		for i := range v.Len() {
			if i >= len(items) {
				v.Index(i).SetZero()
				continue
			}
			if err := decodeFinite(items[i], v.Index(i)); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			break
		}
		if null {
			v.SetZero()
			return nil
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(data, &obj); err != nil {
			return err
		}
		m := reflect.MakeMapWithSize(v.Type(), len(obj))
		for k, raw := range obj {
			e := reflect.New(v.Type().Elem()).Elem()
			if err := decodeFinite(raw, e); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			m.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), e)
		}
		v.Set(m)
		return nil
	}
	return json.Unmarshal(data, v.Addr().Interface())
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
