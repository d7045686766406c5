package measurement_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"gonum.org/v1/gonum/stat/distuv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"kairos/decisioning"
	"kairos/ledger"
	"kairos/measurement"
)

// testCampaign is the configuration of the synthetic campaign: four arms,
// the last one "none", a 10% holdout.
func testCampaign() *decisioning.Campaign {
	return &decisioning.Campaign{
		Name:    "cart",
		Holdout: 1000, // 10%
		Arms: []decisioning.Arm{
			{Channel: "email", Offer: "reminder", Cost: 0.10},
			{Channel: "push", Offer: "reminder"},
			{Channel: "sms", Offer: "reminder", Cost: 0.04},
			{Channel: "none"},
		},
		Reward: decisioning.RewardRule{Event: "purchase", Within: 72 * time.Hour, Value: "amount"},
	}
}

// The synthetic world: a decision converts with probability pSent when it
// sends a message and pBase otherwise; a conversion is worth
// 20 + 0.5·revenue_30d + N(0, 10²), revenue_30d ~ Exp(mean 100), so that
// the covariate explains much of the revenue. The policy's probabilities
// are basePolicy, with sms ineligible (probability 0, the rest
// renormalised) in smsOff of the decisions.
const (
	pSent, pBase = 0.05, 0.04
	meanAmount   = 20 + 0.5*100
	smsOff       = 0.3
)

var basePolicy = []float64{0.4, 0.3, 0.2, 0.1}

// pNone is the probability that the policy chooses the none arm.
var pNone = (1-smsOff)*basePolicy[3] + smsOff*basePolicy[3]/(1-basePolicy[2])

// Truths of the synthetic campaignWorld with holdout share h: the intent-to-treat
// lift of the campaign comparison and the global control's lift.
func truthCampaign(metric string) float64 {
	l := (pSent - pBase) * (1 - pNone)
	if metric == measurement.MetricRevenue {
		l *= meanAmount
	}
	return l
}

func truthGlobal(metric string, h float64) float64 { return truthCampaign(metric) * (1 - h) }

var start = time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)

// campaignWorld is a synthetic period of decisions and their rewards.
type campaignWorld struct {
	decisions []decisioning.Decision
	rewards   []decisioning.Reward
	now       time.Time
}

// synthesize makes n decisions of 8,000 customers over 10 days from start,
// each customer held out with probability holdout and in the global
// control with probability control (assigned at their first decision, as
// the engine's sticky buckets do),
// with rewards for every decision whose window closed by now (start + 12
// days, so that those of the last day are pending), except overdue
// decisions of the first day, whose rewards are missing.
func synthesize(seed uint64, n int, holdout, control float64, overdue int) campaignWorld {
	rng := rand.New(rand.NewPCG(seed, 7))
	c := testCampaign()
	w := campaignWorld{now: start.Add(12 * 24 * time.Hour), decisions: make([]decisioning.Decision, 0, n), rewards: make([]decisioning.Reward, 0, n)}
	groups := map[string]decisioning.Outcome{}
	step := 10 * 24 * time.Hour / time.Duration(n)
	step = step.Truncate(time.Microsecond)
	for i := range n {
		at := start.Add(time.Duration(i) * step)
		probs := slices.Clone(basePolicy)
		if rng.Float64() < smsOff {
			probs[2] = 0
			for j := range probs {
				probs[j] /= 1 - basePolicy[2]
			}
		}
		arm, u := 0, rng.Float64()
		for acc := 0.0; arm < len(probs)-1; arm++ {
			if acc += probs[arm]; u < acc {
				break
			}
		}
		a := c.Arms[arm]
		customer := fmt.Sprintf("c%05d", rng.IntN(8000))
		g, ok := groups[customer]
		if !ok {
			g = decisioning.Send
			switch v := rng.Float64(); {
			case v < control:
				g = decisioning.GlobalControl
			case rng.Float64() < holdout:
				g = decisioning.Holdout
			}
			groups[customer] = g
		}
		outcome := g
		if g == decisioning.Send && a.Channel == "none" {
			outcome = decisioning.NoAction
		}
		cov := rng.ExpFloat64() * 100
		logged := cov
		if rng.Float64() < 0.02 {
			logged = math.NaN()
		}
		d := decisioning.Decision{
			ID: fmt.Sprintf("d%06d", i), CustomerID: customer, Campaign: c.Name,
			Outcome: outcome, Channel: a.Channel, Offer: a.Offer, ArmIndex: arm, Propensity: probs[arm],
			DecidedAt: at, RewardEvent: "purchase", RewardValue: "amount", RewardUntil: at.Add(72 * time.Hour),
			FeatureNames: []string{"revenue_30d", "sessions_7d"}, Features: []float64{logged, float64(rng.IntN(9))},
			Reasons: []string{"policy"},
		}
		for j, arm := range c.Arms {
			d.Arms = append(d.Arms, decisioning.ArmProbability{Channel: arm.Channel, Offer: arm.Offer, Probability: probs[j]})
		}
		w.decisions = append(w.decisions, d)
		p := pBase
		if outcome == decisioning.Send {
			p = pSent
		}
		r := decisioning.Reward{DecisionID: d.ID, CustomerID: d.CustomerID, Campaign: c.Name, ClosedAt: d.RewardUntil}
		if rng.Float64() < p {
			r.Converted = true
			r.Value = math.Round(100*(20+0.5*cov+10*rng.NormFloat64())) / 100
			r.EventID, r.EventAt = "e"+d.ID, at.Add(time.Hour)
		}
		if d.RewardUntil.After(w.now) || (overdue > 0 && at.Before(start.Add(24*time.Hour)) && i%7 == 0) {
			if !d.RewardUntil.After(w.now) {
				overdue--
			}
			continue
		}
		w.rewards = append(w.rewards, r)
	}
	return w
}

func (w campaignWorld) input() measurement.CampaignInput {
	return measurement.CampaignInput{
		Campaign: testCampaign(), ControlGroup: 500, Decisions: w.decisions, Rewards: w.rewards,
		From: start, To: start.Add(10 * 24 * time.Hour), Level: 0.95, Bootstrap: 200, Seed: 1, Now: w.now,
	}
}

func build(t *testing.T, in measurement.CampaignInput) *measurement.CampaignReport {
	t.Helper()
	rep, err := measurement.BuildCampaign(in)
	if err != nil {
		t.Fatalf("BuildCampaign: %v", err)
	}
	return rep
}

func findRow(t *testing.T, rep *measurement.CampaignReport, scope, metric string) measurement.ComparisonRow {
	t.Helper()
	for _, r := range rep.Comparisons {
		if r.Scope == scope && r.Metric == metric {
			return r
		}
	}
	t.Fatalf("no comparison %s/%s", scope, metric)
	return measurement.ComparisonRow{}
}

func row(t *testing.T, rows []measurement.ComparisonRow, scope, metric string) *measurement.ComparisonRow {
	t.Helper()
	for i := range rows {
		if rows[i].Scope == scope && rows[i].Metric == metric {
			return &rows[i]
		}
	}
	t.Fatalf("no row %s/%s", scope, metric)
	return nil
}

func covers(ci [2]float64, x float64) bool { return ci[0] <= x && x <= ci[1] }

// within3SE reports whether the truth is within 3 standard errors of a
// lift with a 95% interval ci (1.96 standard errors on each side).
func within3SE(lift float64, ci [2]float64, truth float64) bool {
	return math.Abs(lift-truth) <= 3*(ci[1]-ci[0])/2/1.96
}

func hasWarning(rep *measurement.CampaignReport, sub string) bool {
	return slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, sub) })
}

// TestBuildCampaign checks a report on 20,000 synthetic decisions with
// known effects against the truth and against counts made here.
func TestBuildCampaign(t *testing.T) {
	w := synthesize(2, 20_000, 0.10, 0.05, 5)
	rep := build(t, w.input())

	// Counts, made independently.
	outcomes := map[string]int{"SEND": 0, "HOLDOUT": 0, "GLOBAL_CONTROL": 0, "SUPPRESSED": 0, "NO_ACTION": 0}
	rewarded := map[string]decisioning.Reward{}
	for _, r := range w.rewards {
		rewarded[r.DecisionID] = r
	}
	// Decisions, pending rewards, attribution and the daily series count
	// every decision; the comparisons, CUPED and the SRM checks each
	// customer's first (all are in a compared group here).
	var pending, treated, holdout, control, treatedR, holdoutR, controlR int
	var attrRev, cost, treatedRev float64
	var attrConv, treatedAll, treatedAllR, holdoutAll int
	armCost := map[string]float64{"email": 0.10, "push": 0, "sms": 0.04}
	first := map[string]bool{}
	type custTotal struct {
		group     decisioning.Outcome
		conv, rev float64
	}
	perCustomer := map[string]*custTotal{}
	for _, d := range w.decisions {
		outcomes[d.Outcome.String()]++
		r, ok := rewarded[d.ID]
		if !ok {
			pending++
		}
		isFirst := !first[d.CustomerID]
		first[d.CustomerID] = true
		if isFirst && ok {
			g := d.Outcome
			if g == decisioning.NoAction {
				g = decisioning.Send
			}
			perCustomer[d.CustomerID] = &custTotal{group: g}
		}
		if pc := perCustomer[d.CustomerID]; pc != nil && ok {
			pc.conv += float64(b2i(r.Converted))
			pc.rev += r.Value
		}
		switch d.Outcome {
		case decisioning.Send, decisioning.NoAction:
			treatedAll++
			if ok {
				treatedAllR++
				treatedRev += r.Value
			}
			if ok && d.Outcome == decisioning.Send {
				cost += armCost[d.Channel]
				if r.Converted {
					attrConv++
					attrRev += r.Value
				}
			}
			if isFirst {
				treated++
				treatedR += b2i(ok)
			}
		case decisioning.Holdout:
			holdoutAll++
			if isFirst {
				holdout++
				holdoutR += b2i(ok)
			}
		case decisioning.GlobalControl:
			if isFirst {
				control++
				controlR += b2i(ok)
			}
		}
	}
	if diff := cmp.Diff(outcomes, rep.Decisions); diff != "" {
		t.Errorf("decisions by outcome (-want +got):\n%s", diff)
	}
	if rep.Pending != pending || !hasWarning(rep, fmt.Sprintf("%d decisions still in their reward window", pending)) ||
		!hasWarning(rep, "5 of them are past the window's end") {
		t.Errorf("pending = %d, warnings %q; want %d pending, 5 overdue", rep.Pending, rep.Warnings, pending)
	}
	if rep.HoldoutShare != 0.1 || rep.ControlShare != 0.05 || rep.Level != 0.95 || rep.Campaign != "cart" || !rep.GeneratedAt.Equal(w.now) {
		t.Errorf("header = %q %v %v %v %v", rep.Campaign, rep.HoldoutShare, rep.ControlShare, rep.Level, rep.GeneratedAt)
	}

	// SRM: a healthy assignment.
	if rep.SRM == nil || rep.SRM.Flagged || rep.SRM.Observed[0] != treated || rep.SRM.Observed[1] != holdout {
		t.Errorf("SRM = %+v, want not flagged, observed [%d %d]", rep.SRM, treated, holdout)
	}
	if rep.GlobalSRM == nil || rep.GlobalSRM.Flagged || rep.GlobalSRM.Observed[1] != control {
		t.Errorf("global SRM = %+v, want not flagged, %d in the control", rep.GlobalSRM, control)
	}

	// The rows, in order.
	var scopes []string
	for _, r := range rep.Comparisons {
		if s := r.Scope + "/" + r.Metric; !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	var want []string
	for _, s := range []string{"campaign", "arm:email/reminder", "arm:push/reminder", "arm:sms/reminder", "arm:none",
		"channel:email", "channel:push", "channel:sms", "global_control"} {
		want = append(want, s+"/conversion", s+"/revenue")
	}
	if diff := cmp.Diff(want, scopes); diff != "" {
		t.Errorf("comparison rows (-want +got):\n%s", diff)
	}

	// The truth is in the intervals.
	for _, m := range rep.Metrics {
		c := findRow(t, rep, "campaign", m)
		if c.NTreated != treatedR || c.NControl != holdoutR || !covers(c.AbsCI, truthCampaign(m)) || c.Note != "" {
			t.Errorf("campaign %s: n %d/%d (want %d/%d), CI %v does not cover the truth %v, note %q", m, c.NTreated, c.NControl, treatedR, holdoutR, c.AbsCI, truthCampaign(m), c.Note)
		}
		// The always-valid interval is wider, around the same lift.
		if !(c.AlwaysValidCI[0] < c.AbsCI[0] && c.AbsCI[1] < c.AlwaysValidCI[1]) || !(c.AlwaysValidPValue >= c.PValue) || !(c.Tau > 0) {
			t.Errorf("campaign %s: always-valid CI %v p %v τ %v against Welch %v p %v", m, c.AlwaysValidCI, c.AlwaysValidPValue, c.Tau, c.AbsCI, c.PValue)
		}
		if math.Abs(c.Incremental-c.AbsLift*float64(c.NTreated)) > 1e-9*math.Abs(c.Incremental) ||
			math.Abs(c.IncrementalCI[1]-c.AbsCI[1]*float64(c.NTreated)) > 1e-9*math.Abs(c.IncrementalCI[1]) {
			t.Errorf("campaign %s: incremental %v %v, lift %v %v × %d", m, c.Incremental, c.IncrementalCI, c.AbsLift, c.AbsCI, c.NTreated)
		}
		g := findRow(t, rep, "global_control", m)
		if g.NTreated != treatedR+holdoutR || g.NControl != controlR || !covers(g.AbsCI, truthGlobal(m, 0.1)) {
			t.Errorf("global control %s: n %d/%d (want %d/%d), CI %v, truth %v", m, g.NTreated, g.NControl, treatedR+holdoutR, controlR, g.AbsCI, truthGlobal(m, 0.1))
		}
		none := findRow(t, rep, "arm:none", m)
		if !covers(none.AbsCI, 0) {
			t.Errorf("arm:none %s (an A/A comparison): CI %v excludes 0", m, none.AbsCI)
		}
		for _, arm := range []string{"arm:email/reminder", "arm:push/reminder", "arm:sms/reminder"} {
			r := findRow(t, rep, arm, m)
			truth := pSent - pBase
			if m == measurement.MetricRevenue {
				truth *= meanAmount
			}
			if !within3SE(r.AbsLift, r.AbsCI, truth) {
				t.Errorf("%s %s: lift %v, CI %v, more than 3 standard errors from the truth %v", arm, m, r.AbsLift, r.AbsCI, truth)
			}
		}
	}
	email := findRow(t, rep, "arm:email/reminder", "conversion")
	ch := findRow(t, rep, "channel:email", "conversion")
	if email.NTreated != ch.NTreated || email.NControl != ch.NControl || email.AbsLift != ch.AbsLift {
		t.Errorf("channel:email %+v differs from its only arm %+v", ch, email)
	}

	// Per customer: every customer whose first exposure has a reward, with
	// the sums over all their rewarded decisions; the truth is the
	// per-decision effect times the decisions per customer.
	var pcT, pcH [2][]float64
	for _, pc := range perCustomer {
		switch pc.group {
		case decisioning.Send:
			pcT[0], pcT[1] = append(pcT[0], pc.conv), append(pcT[1], pc.rev)
		case decisioning.Holdout:
			pcH[0], pcH[1] = append(pcH[0], pc.conv), append(pcH[1], pc.rev)
		}
	}
	perCust := float64(len(w.decisions)) / float64(len(first))
	for i, m := range []string{"conversions", "revenue"} {
		var r *measurement.ComparisonRow
		for j := range rep.PerCustomer {
			if rep.PerCustomer[j].Scope == "campaign" && rep.PerCustomer[j].Metric == m {
				r = &rep.PerCustomer[j]
			}
		}
		want, err := measurement.Welch(measurement.Summarize(pcT[i]), measurement.Summarize(pcH[i]), 0.95)
		if err != nil {
			t.Fatal(err)
		}
		truth := truthCampaign(map[string]string{"conversions": "conversion", "revenue": "revenue"}[m]) * perCust
		if r == nil || r.NTreated != len(pcT[i]) || r.NControl != len(pcH[i]) || math.Abs(r.AbsLift-want.AbsLift) > 1e-9 ||
			!within3SE(r.AbsLift, r.AbsCI, truth) {
			t.Errorf("per customer %s = %+v; want n %d/%d, lift %v, within 3 SE of %v", m, r, len(pcT[i]), len(pcH[i]), want.AbsLift, truth)
		}
	}

	// Simultaneous intervals: Bonferroni over every row with a lift.
	if rep.SimultaneousRows != len(rep.Comparisons) {
		t.Errorf("simultaneous over %d rows, want %d", rep.SimultaneousRows, len(rep.Comparisons))
	}
	for _, r := range rep.Comparisons {
		q := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: r.DF}.Quantile(1 - 0.05/2/float64(len(rep.Comparisons)))
		if math.Abs(r.SimultaneousCI[0]-(r.AbsLift-q*r.SE)) > 1e-12 || !(r.SimultaneousCI[0] < r.AbsCI[0] && r.AbsCI[1] < r.SimultaneousCI[1]) {
			t.Errorf("%s %s: simultaneous CI %v around %v (Welch %v)", r.Scope, r.Metric, r.SimultaneousCI, r.AbsLift, r.AbsCI)
		}
	}

	// Attribution, recomputed.
	at := rep.Attribution
	inc := *row(t, rep.PerCustomer, "campaign", "revenue")
	if at.AttributedConversions != attrConv || math.Abs(at.AttributedRevenue-attrRev) > 1e-6 || math.Abs(at.Cost-cost) > 1e-9 ||
		at.IncrementalRevenue != inc.Incremental || at.IncrementalRevenueCI != inc.IncrementalCI ||
		at.IncrementalConversions != row(t, rep.PerCustomer, "campaign", "conversions").Incremental ||
		math.Abs(at.ROI-(inc.Incremental-cost)/cost) > 1e-9 || math.Abs(at.ROICI[0]-(inc.IncrementalCI[0]-cost)/cost) > 1e-9 ||
		math.Abs(at.RevenuePerDecision-treatedRev/float64(treatedAllR)) > 1e-9 {
		t.Errorf("attribution = %+v; want attributed %d conversions, revenue %v, cost %v, revenue per decision %v", at, attrConv, attrRev, cost, treatedRev/float64(treatedAllR))
	}

	// CUPED: both metrics, on the treated and held-out decisions with a
	// reward and a finite covariate, the others left out with a warning.
	if len(rep.CUPED) != 2 || !hasWarning(rep, "without a finite revenue_30d") {
		t.Fatalf("CUPED = %+v, warnings %q", rep.CUPED, rep.Warnings)
	}
	var st, sc measurement.Sample
	seenC := map[string]bool{}
	for _, d := range w.decisions {
		r, ok := rewarded[d.ID]
		isFirst := !seenC[d.CustomerID]
		seenC[d.CustomerID] = true
		if !ok || !isFirst || math.IsNaN(d.Features[0]) {
			continue
		}
		switch d.Outcome {
		case decisioning.Send, decisioning.NoAction:
			st.Y, st.X = append(st.Y, r.Value), append(st.X, d.Features[0])
		case decisioning.Holdout:
			sc.Y, sc.X = append(sc.Y, r.Value), append(sc.X, d.Features[0])
		}
	}
	adj, err := measurement.CUPED(st, sc, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.CUPED {
		if c.Covariate != "revenue_30d" || !covers(c.AbsCI, truthCampaign(c.Metric)) || c.NTreated != len(st.Y) || c.NControl != len(sc.Y) {
			t.Errorf("CUPED %+v; want %d/%d decisions", c, len(st.Y), len(sc.Y))
		}
		if c.Metric != "revenue" {
			continue
		}
		// Revenue depends on the covariate (a conversion's amount does),
		// but conversions are rare: the reduction is real and small.
		if c.VarianceReduction != adj.VarianceReduction || c.AbsLift != adj.Adjusted.AbsLift || c.SEReduction != adj.SEReduction ||
			c.UnadjustedAbsCI != [2]float64{adj.Unadjusted.AbsCI.Lo, adj.Unadjusted.AbsCI.Hi} ||
			!(c.VarianceReduction > 0.005) || !(c.AbsCI[1]-c.AbsCI[0] < c.UnadjustedAbsCI[1]-c.UnadjustedAbsCI[0]) {
			t.Errorf("CUPED on revenue = %+v, want %+v", c, adj)
		}
	}

	// Daily: ten days, cumulative, allocation by arm.
	if len(rep.Daily) != 10 || rep.Daily[0].Date != "2026-09-01" || rep.Daily[9].Date != "2026-09-10" {
		t.Fatalf("daily = %d points from %v", len(rep.Daily), rep.Daily[0].Date)
	}
	last := rep.Daily[9]
	var tc, hc int
	for _, d := range w.decisions {
		r := rewarded[d.ID]
		switch {
		case d.Outcome == decisioning.Send || d.Outcome == decisioning.NoAction:
			tc += b2i(r.Converted)
		case d.Outcome == decisioning.Holdout:
			hc += b2i(r.Converted)
		}
	}
	if last.TreatedDecisions != treatedAll || last.HoldoutDecisions != holdoutAll || last.TreatedConversions != tc || last.HoldoutConversions != hc {
		t.Errorf("last day = %+v, want %d/%d decisions, %d/%d conversions", last, treatedAll, holdoutAll, tc, hc)
	}
	total := 0
	for i, p := range rep.Daily {
		day := 0
		for _, n := range p.Allocation {
			day += n
		}
		total += day
		if day < 1900 || day > 2100 || (i > 0 && p.TreatedDecisions < rep.Daily[i-1].TreatedDecisions) {
			t.Errorf("day %s: %d decisions allocated, cumulative %d", p.Date, day, p.TreatedDecisions)
		}
	}
	if total != len(w.decisions) || rep.Daily[0].TreatedDecisions == 0 {
		t.Errorf("allocations sum to %d, want %d", total, len(w.decisions))
	}

	// OPE: every candidate, the logged policy's IPS the mean reward.
	var policies []string
	for _, o := range rep.OPE {
		policies = append(policies, o.Policy)
	}
	if diff := cmp.Diff([]string{"logged", "uniform", "never_send", "arm:email/reminder", "arm:push/reminder", "arm:sms/reminder"}, policies); diff != "" {
		t.Errorf("OPE policies (-want +got):\n%s", diff)
	}
	if rep.OPEReward != "revenue" {
		t.Errorf("OPE reward %q", rep.OPEReward)
	}
	mean := treatedRev / float64(treatedAllR)
	lg := rep.OPE[0]
	if lg.N != treatedAllR || math.Abs(lg.IPS.Value-mean) > 1e-9 || math.Abs(lg.SNIPS.Value-mean) > 1e-9 || math.Abs(lg.ESS-float64(treatedAllR)) > 1e-6 || lg.DR == nil || lg.DM == nil {
		t.Errorf("logged policy = %+v, want n %d, IPS = SNIPS = the mean reward %v, ESS = n", lg, treatedAllR, mean)
	}
	for _, o := range rep.OPE[3:] {
		// A fixed arm sends when eligible: email and push always are, the
		// value is pSent·meanAmount; sms falls back to none 30% of the time.
		truth := pSent * meanAmount
		if o.Policy == "arm:sms/reminder" {
			truth = (1-smsOff)*pSent*meanAmount + smsOff*pBase*meanAmount
		}
		if math.Abs(o.DR.Value-truth) > 3*o.DR.SE || !(o.DR.CI.Lo < o.DR.Value && o.DR.Value < o.DR.CI.Hi) {
			t.Errorf("OPE %s: DR %v (CI %v, se %v) is more than 3 standard errors from the truth %v", o.Policy, o.DR.Value, o.DR.CI, o.DR.SE, truth)
		}
	}
	if nv := rep.OPE[2]; math.Abs(nv.DR.Value-pBase*meanAmount) > 3*nv.DR.SE {
		t.Errorf("never_send: DR %+v, truth %v", nv.DR, pBase*meanAmount)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestBuildCampaignSRM: a holdout of 20% where 10% is configured is
// flagged.
func TestBuildCampaignSRM(t *testing.T) {
	rep := build(t, synthesize(2, 5_000, 0.20, 0.05, 0).input())
	if rep.SRM == nil || !rep.SRM.Flagged || rep.SRM.PValue >= measurement.SRMAlpha {
		t.Errorf("SRM = %+v, want flagged", rep.SRM)
	}
	if rep.GlobalSRM == nil || rep.GlobalSRM.Flagged {
		t.Errorf("global SRM = %+v, want not flagged", rep.GlobalSRM)
	}
	// And the global control at 10% where 5% is configured.
	rep = build(t, synthesize(3, 5_000, 0.10, 0.10, 0).input())
	if rep.GlobalSRM == nil || !rep.GlobalSRM.Flagged || rep.SRM.Flagged {
		t.Errorf("global SRM = %+v, SRM %+v; want the global one flagged only", rep.GlobalSRM, rep.SRM)
	}
}

// TestBuildCampaignCoverage: over many synthetic campaigns, the 95%
// intervals of the campaign, an arm and the global control cover the
// truth about 95% of the time, which a mistake in the groups (a biased
// comparison) would break.
func TestBuildCampaignCoverage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 300 reports")
	}
	const reps = 300
	hits := map[string]int{}
	for i := range reps {
		in := synthesize(uint64(100+i), 6_000, 0.3, 0.2, 0).input()
		in.Campaign.Holdout, in.ControlGroup = 3000, 2000
		in.Bootstrap = 1
		rep := build(t, in)
		for _, m := range rep.Metrics {
			if covers(findRow(t, rep, "campaign", m).AbsCI, truthCampaign(m)) {
				hits["campaign/"+m]++
			}
			if covers(findRow(t, rep, "global_control", m).AbsCI, truthGlobal(m, 0.3)) {
				hits["global/"+m]++
			}
			truth := pSent - pBase
			if m == measurement.MetricRevenue {
				truth *= meanAmount
			}
			if covers(findRow(t, rep, "arm:email/reminder", m).AbsCI, truth) {
				hits["email/"+m]++
			}
			if covers(findRow(t, rep, "arm:none", m).AbsCI, 0) {
				hits["none/"+m]++
			}
		}
	}
	for k, n := range hits {
		// 95% of 300 is 285 ± 3.8 (one standard deviation).
		if n < 272 || n > 296 {
			t.Errorf("%s: the 95%% interval covered the truth %d times of %d", k, n, reps)
		}
	}
	t.Logf("coverage of %d: %v", reps, hits)
}

// TestBuildCampaignLedger builds the report from records written to the
// embedded ledger and read back with the queries a caller makes: the same
// report as from the records themselves.
func TestBuildCampaignLedger(t *testing.T) {
	w := synthesize(4, 3_000, 0.10, 0.05, 0)
	ctx := context.Background()
	led := ledger.NewMemory()
	// Another campaign's records, which the queries leave out.
	other := synthesize(5, 500, 0.10, 0.05, 0)
	for i := range other.decisions {
		other.decisions[i].Campaign = "other"
		other.decisions[i].ID = "o" + other.decisions[i].ID
	}
	for i := range other.rewards {
		other.rewards[i].Campaign = "other"
		other.rewards[i].DecisionID = "o" + other.rewards[i].DecisionID
	}
	for _, x := range []campaignWorld{w, other} {
		if err := led.WriteDecisions(ctx, x.decisions); err != nil {
			t.Fatal(err)
		}
		if err := led.WriteRewards(ctx, x.rewards); err != nil {
			t.Fatal(err)
		}
	}
	in := w.input()
	in.From, in.To = start.Add(24*time.Hour), start.Add(8*24*time.Hour)
	// Decisions from the beginning: those before From tell who was first
	// exposed before the period.
	ds, err := led.Decisions(ctx, ledger.Query{Campaign: "cart", To: in.To})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := led.Rewards(ctx, ledger.Query{Campaign: "cart", From: in.From})
	if err != nil {
		t.Fatal(err)
	}
	fromLedger := in
	fromLedger.Decisions, fromLedger.Rewards = ds, rs
	got := build(t, fromLedger)
	want := build(t, in) // every record: BuildCampaign selects the period itself
	if diff := cmp.Diff(want, got, cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("report from the ledger (-from the records +from the ledger):\n%s", diff)
	}
	if got.Daily[0].Date != "2026-09-02" || len(got.Daily) != 7 {
		t.Errorf("daily from %s, %d days; want 7 days from 2026-09-02", got.Daily[0].Date, len(got.Daily))
	}
	n := 0
	for _, v := range got.Decisions {
		n += v
	}
	if inPeriod := len(ds) - countBefore(ds, in.From); n != inPeriod || n < 2000 || n > 2200 {
		t.Errorf("%d decisions counted, the ledger returned %d", n, len(ds))
	}
}

// TestBuildCampaignFew: a handful of decisions gives rows with notes, no
// OPE, and a report that still encodes.
func TestBuildCampaignFew(t *testing.T) {
	w := synthesize(6, 40, 0.10, 0.0, 0)
	in := w.input()
	in.ControlGroup = 0
	in.Covariate = "ltv"
	rep := build(t, in)
	if rep.OPE != nil || !hasWarning(rep, "off-policy evaluation skipped") || !hasWarning(rep, `"ltv"`) || rep.CUPED != nil {
		t.Errorf("OPE %v, CUPED %v, warnings %q; want both absent, and why", rep.OPE, rep.CUPED, rep.Warnings)
	}
	if rep.GlobalSRM != nil || slices.ContainsFunc(rep.Comparisons, func(r measurement.ComparisonRow) bool { return r.Scope == "global_control" }) {
		t.Errorf("a campaign without a global control has no global control row or check")
	}
	for _, r := range rep.Comparisons {
		if r.NControl < 2 && (r.Note == "" || !math.IsNaN(r.AbsLift)) {
			t.Errorf("row %s/%s with %d controls: lift %v, note %q", r.Scope, r.Metric, r.NControl, r.AbsLift, r.Note)
		}
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatal(err)
	}
}

func TestBuildCampaignTau(t *testing.T) {
	in := synthesize(7, 5_000, 0.10, 0.05, 0).input()
	in.Tau = map[string]float64{"conversion": 0.01}
	rep := build(t, in)
	if r := findRow(t, rep, "campaign", "conversion"); r.Tau != 0.01 {
		t.Errorf("τ = %v, want the one given, 0.01", r.Tau)
	}
	if r := findRow(t, rep, "campaign", "revenue"); !(r.Tau > 0) || r.Tau == 0.01 {
		t.Errorf("revenue τ = %v, want TauForSE of its standard error", r.Tau)
	}
}

func TestBuildCampaignErrors(t *testing.T) {
	w := synthesize(8, 100, 0.10, 0.05, 0)
	for _, tc := range []struct {
		name    string
		edit    func(*measurement.CampaignInput)
		is      error
		mention string
	}{
		{"no campaign", func(in *measurement.CampaignInput) { in.Campaign = nil }, nil, "configuration"},
		{"no decisions", func(in *measurement.CampaignInput) { in.Decisions = nil }, measurement.ErrNoDecisions, `"cart"`},
		{"another campaign", func(in *measurement.CampaignInput) { in.Campaign.Name = "winback" }, measurement.ErrNoDecisions, `"winback"`},
		{"outside the period", func(in *measurement.CampaignInput) { in.From = start.AddDate(1, 0, 0); in.To = time.Time{} }, measurement.ErrNoDecisions, "period"},
		{"level", func(in *measurement.CampaignInput) { in.Level = 95 }, nil, "level"},
		{"tau", func(in *measurement.CampaignInput) { in.Tau = map[string]float64{"revenue": -1} }, nil, `Tau["revenue"]`},
		{"bootstrap", func(in *measurement.CampaignInput) { in.Bootstrap = -1 }, nil, "Bootstrap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := w.input()
			tc.edit(&in)
			_, err := measurement.BuildCampaign(in)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("BuildCampaign = %v, want an error (is %v) mentioning %q", err, tc.is, tc.mention)
			}
		})
	}
}

// TestCampaignReportJSON: NaN and ±Inf encode as null and decode as NaN,
// and everything else is what encoding/json writes.
func TestCampaignReportJSON(t *testing.T) {
	rep := build(t, synthesize(9, 2_000, 0.10, 0.05, 0).input())
	// A relative lift against a zero control, a ROI without cost.
	rep.Comparisons[0].RelLift, rep.Comparisons[0].RelCI = math.NaN(), [2]float64{math.NaN(), math.Inf(1)}
	rep.Attribution.ROI = math.Inf(-1)
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) || !bytes.Contains(b, []byte(`"rel_lift":null,"rel_ci":[null,null]`)) || !bytes.Contains(b, []byte(`"roi":null`)) {
		t.Errorf("JSON without the nulls: %.600s", b)
	}
	var back measurement.CampaignReport
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	rep.Attribution.ROI = math.NaN() // ±Inf reads back as NaN
	rep.Comparisons[0].RelCI[1] = math.NaN()
	if diff := cmp.Diff(rep, &back, cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// Pointer or value, the same encoding.
	rep.Attribution.ROI = math.Inf(-1)
	if b2, err := json.Marshal(*rep); err != nil || !bytes.Equal(b2, b) {
		t.Errorf("the report's value encodes differently from its pointer (%v)", err)
	}

	// Without NaN the bytes are encoding/json's own, field for field.
	type plain measurement.CampaignReport // no MarshalJSON
	dr := measurement.Estimate{Value: 1.5, CI: measurement.Interval{Lo: 1, Hi: 2}, SE: 0.25}
	finite := measurement.CampaignReport{
		Campaign: "cart", From: start, GeneratedAt: start.Add(time.Hour), Level: 0.95,
		Decisions: map[string]int{"SEND": 3, "HOLDOUT": 1}, HoldoutShare: 0.1,
		SRM:     &measurement.SRM{Observed: []int{3, 1}, Expected: []float64{3.6, 0.4}, Chi2: 1, DF: 1, PValue: 0.3},
		Metrics: []string{"conversion"},
		Comparisons: []measurement.ComparisonRow{{Scope: "campaign", Metric: "conversion", NTreated: 3, NControl: 2, TreatedMean: 1e-7,
			AbsCI: [2]float64{-1, 2.5e21}, Note: "<&>"}},
		CUPED:    []measurement.CUPEDRow{{Metric: "revenue", Covariate: "revenue_30d", VarianceReduction: 0.25}},
		Daily:    []measurement.DailyPoint{{Date: "2026-09-01", Allocation: map[string]int{"none": 1, "email/reminder": 2}}},
		OPE:      []measurement.OPERow{{Policy: "logged", IPS: dr, DR: &dr, Warnings: []string{"w"}}},
		Warnings: []string{"x"}, OPEReward: "revenue",
	}
	got, err := json.Marshal(finite)
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(plain(finite))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("JSON of a report without NaN:\n got %s\nwant %s", got, want)
	}
	var back2 measurement.CampaignReport
	if err := json.Unmarshal(want, &back2); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(finite, back2); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if err := json.Unmarshal([]byte(`{"comparisons": {"a": 1}}`), &back2); err == nil {
		t.Error("decoding an object into the comparisons: no error")
	}
}

func ExampleBuildCampaign() {
	camp := &decisioning.Campaign{Name: "winback", Holdout: 5000, Arms: []decisioning.Arm{{Channel: "email", Offer: "discount_10", Cost: 0.5}, {Channel: "none"}}}
	at := time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC)
	var ds []decisioning.Decision
	var rs []decisioning.Reward
	for i := range 80 {
		d := decisioning.Decision{ID: fmt.Sprint("d", i), CustomerID: fmt.Sprint("c", i), Campaign: "winback",
			Outcome: decisioning.Send, Channel: "email", Offer: "discount_10", ArmIndex: 0, Propensity: 1, DecidedAt: at}
		if i%2 == 1 {
			d.Outcome = decisioning.Holdout
		}
		ds = append(ds, d)
		// Half the treated convert, a quarter of the holdout.
		conv := (d.Outcome == decisioning.Send && i%4 == 0) || i%8 == 1
		r := decisioning.Reward{DecisionID: d.ID, CustomerID: d.CustomerID, Campaign: "winback", Converted: conv, ClosedAt: at.Add(72 * time.Hour)}
		if conv {
			r.Value = 40
		}
		rs = append(rs, r)
	}
	rep, err := measurement.BuildCampaign(measurement.CampaignInput{Campaign: camp, Decisions: ds, Rewards: rs, Now: at.Add(96 * time.Hour)})
	if err != nil {
		fmt.Println(err)
		return
	}
	c := rep.Comparisons[0]
	fmt.Printf("%s %s: %.0f%% vs %.0f%%, lift %+.0f points\n", c.Scope, c.Metric, 100*c.TreatedMean, 100*c.ControlMean, 100*c.AbsLift)
	a := rep.Attribution
	fmt.Printf("attributed %.0f, incremental %.0f, cost %.2f\n", a.AttributedRevenue, a.IncrementalRevenue, a.Cost)
	// Output:
	// campaign conversion: 50% vs 25%, lift +25 points
	// attributed 800, incremental 400, cost 20.00
}

// BenchmarkBuildCampaign: a report of 20,000 decisions with the default
// 1,000 bootstrap resamples of the off-policy evaluation.
func BenchmarkBuildCampaign(b *testing.B) {
	in := synthesize(1, 20_000, 0.10, 0.05, 0).input()
	in.Bootstrap = 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := measurement.BuildCampaign(in); err != nil {
			b.Fatal(err)
		}
	}
}

func countBefore(ds []decisioning.Decision, t time.Time) int {
	n := 0
	for _, d := range ds {
		if d.DecidedAt.Before(t) {
			n++
		}
	}
	return n
}

// TestBuildCampaignMetrics: an event-rate metric of the campaign (its
// metric windows' rewards) gets its own rows on first exposures; its open
// windows are left out with a warning, and a metric's reward never stands
// in for the reward window's.
func TestBuildCampaignMetrics(t *testing.T) {
	camp := testCampaign()
	camp.Metrics = []decisioning.MetricRule{{Name: "unsubscribe", Event: "unsubscribed", Within: 7 * 24 * time.Hour}}
	rng := rand.New(rand.NewPCG(3, 3))
	var ds []decisioning.Decision
	var rs []decisioning.Reward
	var unsub [2][]float64 // treated, holdout
	open := 0
	for i := range 4000 {
		at := start.Add(time.Duration(i) * time.Minute)
		d := decisioning.Decision{ID: fmt.Sprint("d", i), CustomerID: fmt.Sprint("c", i), Campaign: camp.Name,
			Outcome: decisioning.Send, Channel: "email", Offer: "reminder", ArmIndex: 0, Propensity: 1, DecidedAt: at,
			RewardEvent: "purchase", RewardValue: "amount", RewardUntil: at.Add(72 * time.Hour)}
		g, p := 0, 0.04
		if i%5 == 0 {
			d.Outcome, g, p = decisioning.Holdout, 1, 0.01
		}
		ds = append(ds, d)
		// The metric window closes first, converted: it must not count as
		// a conversion of the reward window, which closes without one.
		u := rng.Float64() < p
		if i%10 == 3 {
			open++ // still open
		} else {
			rs = append(rs, decisioning.Reward{DecisionID: d.ID, CustomerID: d.CustomerID, Campaign: camp.Name, Metric: "unsubscribe",
				Converted: u, Value: b2f(u), ClosedAt: at.Add(time.Hour)})
			unsub[g] = append(unsub[g], b2f(u))
		}
		rs = append(rs, decisioning.Reward{DecisionID: d.ID, CustomerID: d.CustomerID, Campaign: camp.Name, ClosedAt: at.Add(72 * time.Hour)})
	}
	rep := build(t, measurement.CampaignInput{Campaign: camp, Decisions: ds, Rewards: rs, Now: start.Add(30 * 24 * time.Hour)})
	if diff := cmp.Diff([]string{"conversion", "revenue", "unsubscribe"}, rep.Metrics); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	if c := findRow(t, rep, "campaign", "conversion"); c.TreatedMean != 0 || c.ControlMean != 0 || c.NTreated != 3200 {
		t.Errorf("conversion row %+v: a metric window's reward counted as a conversion", c)
	}
	want, err := measurement.Welch(measurement.Summarize(unsub[0]), measurement.Summarize(unsub[1]), 0.95)
	if err != nil {
		t.Fatal(err)
	}
	u := findRow(t, rep, "campaign", "unsubscribe")
	if u.NTreated != len(unsub[0]) || u.NControl != len(unsub[1]) || math.Abs(u.AbsLift-want.AbsLift) > 1e-12 ||
		math.Abs(u.AbsCI[1]-want.AbsCI.Hi) > 1e-12 || !covers(u.AbsCI, 0.03) {
		t.Errorf("unsubscribe row %+v, want n %d/%d, lift %v %v around the truth 0.03", u, len(unsub[0]), len(unsub[1]), want.AbsLift, want.AbsCI)
	}
	if !hasWarning(rep, fmt.Sprintf("unsubscribe: %d first exposures still in their 7d window", open)) {
		t.Errorf("warnings %q, want %d open unsubscribe windows", rep.Warnings, open)
	}
	if !slices.ContainsFunc(rep.Comparisons, func(r measurement.ComparisonRow) bool {
		return r.Scope == "arm:email/reminder" && r.Metric == "unsubscribe"
	}) {
		t.Error("no per-arm unsubscribe row")
	}
	for _, c := range rep.CUPED {
		if c.Metric == "unsubscribe" {
			t.Errorf("CUPED on an event-rate metric: %+v", c)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
