// The report web page: one HTML page per campaign drawn from a
// CampaignReport, and the index of campaigns. The pages are
// self-contained — inline CSS, server-side SVG charts (svg.go), no script,
// nothing loaded from elsewhere — so they work offline and under a strict
// Content-Security-Policy (handler.go sets one).

package measurement

import (
	"bytes"
	"cmp"
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed page.html.tmpl index.html.tmpl page.css
var pageFiles embed.FS

var pageTemplates = template.Must(template.New("").ParseFS(pageFiles, "*.html.tmpl"))

// pageCSS is the pages' style sheet, inlined in each page.
var pageCSS = func() template.CSS {
	b, err := pageFiles.ReadFile("page.css")
	if err != nil {
		panic(err)
	}
	return template.CSS(b) // a file of this package
}()

// noFigure stands for a figure that is missing or not a finite number.
const noFigure = "—"

// RenderPage writes the HTML report page of one campaign: the sample
// ratio mismatch banner when a check is flagged, the decisions by outcome,
// a forest plot and a table of the lifts of each metric per arm and per
// channel on first exposures (with their simultaneous intervals), the
// per-customer comparison (the campaign's total effect), the retention of
// the weekly first-exposure cohorts, cumulative conversion rates of the
// treated and holdout groups, the arm allocation over time, CUPED,
// attribution against incremental revenue, and the off-policy evaluation.
// Missing and non-finite figures show as "—". It writes nothing when the
// template fails.
func RenderPage(w io.Writer, r *CampaignReport) error {
	if r == nil {
		return fmt.Errorf("measurement: render page: no report")
	}
	return execPage(w, "page", buildPageView(r))
}

// IndexEntry is one campaign of the reports index.
type IndexEntry struct {
	Campaign string
	// Report is the campaign's report over the period, nil when it could
	// not be built (Error then says why, in words fit for the reader).
	Report *CampaignReport
	Error  string
}

// RenderIndex writes the index of the report pages: one line per
// campaign with its decisions, its lift on conversion (the campaign
// comparison, with its interval) and the state of its sample ratio checks,
// linking to the campaign's page at /reports/{campaign}.
func RenderIndex(w io.Writer, campaigns []IndexEntry) error {
	return renderIndex(w, campaigns, segmentsView{})
}

// renderIndex writes the index with its section of live segments (shown
// when segs.Show is set).
func renderIndex(w io.Writer, campaigns []IndexEntry, segs segmentsView) error {
	v := indexView{CSS: pageCSS, Level: showShare(0.95), Segments: segs}
	for _, e := range campaigns {
		v.Rows = append(v.Rows, buildIndexRow(e))
		if e.Report != nil && v.Period == "" {
			v.Period = showPeriod(e.Report.From, e.Report.To)
			v.FromValue, v.ToValue = formDates(e.Report.From, e.Report.To)
			v.Level = showShare(reportLevel(e.Report))
		}
	}
	return execPage(w, "index", v)
}

// execPage renders into a buffer first, so that a failing template writes
// no half page.
func execPage(w io.Writer, name string, data any) error {
	var buf bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("measurement: render %s: %w", name, err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// pageView is what page.html.tmpl shows: figures formatted, charts drawn.
type pageView struct {
	CSS                 template.CSS
	Campaign            string
	IndexHref, JSONHref string
	FromValue, ToValue  string
	Period, Generated   string
	Level               string
	Pending             string
	OPEReward           string
	Banners             []pageBanner
	Checks              []string
	Warnings            []string
	Outcomes            []pageOutcome
	TotalDecisions      string
	Metrics             []pageMetric
	// SimultaneousRows is the number of comparisons the simultaneous
	// intervals hold over ("" when none has one).
	SimultaneousRows string
	PerCustomer      []pageCustomer
	Cohorts          pageCohorts
	Cumulative       template.HTML
	Allocation       template.HTML
	CUPED            []pageCUPED
	Attribution      pageAttribution
	HasAttribution   bool
	OPE              []pageOPE
}

type pageBanner struct {
	Title, Detail string
}

type pageOutcome struct {
	Name, Code, Count, Share string
	Width                    string // bar width, a CSS percentage number
}

type pageMetric struct {
	Name, Title, Unit string
	Forest            template.HTML
	Rows              []pageComparison
}

type pageComparison struct {
	Scope, NTreated, NControl, Treated, Control    string
	AbsLift, RelLift, P, AlwaysValid, AlwaysValidP string
	Simultaneous, Incremental, Note                string
	// Significant: the interval excludes zero; Missing: no estimate (the
	// note says why).
	Significant, Missing bool
}

// pageCustomer is a row of the per-customer comparison.
type pageCustomer struct {
	Scope, Metric, NTreated, NControl, Treated, Control string
	Lift, RelLift, P, Incremental, Note                 string
	Significant, Missing                                bool
}

// pageCohorts is the retention table of the weekly cohorts: Weeks are
// the column heads (week 0 to the longest row's last).
type pageCohorts struct {
	Weeks []string
	Rows  []pageCohortRow
}

type pageCohortRow struct {
	// Week is set on the first row of a week only; the week's other
	// groups follow it.
	Week, Group, Customers string
	First                  bool
	Cells                  []pageCohortCell
}

// pageCohortCell is one week of a cohort row; Alpha, the opacity of its
// shading, is a CSS number ("" for a week not observed yet).
type pageCohortCell struct {
	Text, Alpha string
}

type pageCUPED struct {
	Metric, Covariate, N, Reduction, SEReduction, Lift, Raw, P string
}

type pageAttribution struct {
	AttributedRevenue, AttributedConversions   string
	IncrementalRevenue, IncrementalConversions string
	IncrementalShare                           string
	Cost, ROI, RevenuePerDecision              string
	Chart                                      template.HTML
}

type pageOPE struct {
	Policy, N, IPS, SNIPS, DM, DR, ESS, MaxWeight string
	Warnings                                      []string
}

type indexView struct {
	CSS                template.CSS
	Period, Level      string
	FromValue, ToValue string
	Rows               []indexRow
	Segments           segmentsView
}

type indexRow struct {
	Campaign, Href, Decisions, Lift, RelLift, SRM, Error string
	Flagged                                              bool
}

func buildPageView(r *CampaignReport) pageView {
	lv := showShare(reportLevel(r))
	v := pageView{
		CSS:       pageCSS,
		Campaign:  r.Campaign,
		IndexHref: "/reports",
		JSONHref:  "/reports/" + url.PathEscape(r.Campaign) + ".json" + periodQuery(r.From, r.To),
		Period:    showPeriod(r.From, r.To),
		Level:     lv,
		Warnings:  r.Warnings,
	}
	v.FromValue, v.ToValue = formDates(r.From, r.To)
	if r.Pending > 0 {
		v.Pending = showInt(r.Pending)
	}
	v.OPEReward = cmp.Or(r.OPEReward, "reward")
	if !r.GeneratedAt.IsZero() {
		v.Generated = r.GeneratedAt.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	for _, c := range []struct {
		name   string
		s      *SRM
		share  float64
		groups string
	}{
		{"Campaign holdout", r.SRM, r.HoldoutShare, "treated / held out"},
		{"Global control group", r.GlobalSRM, r.ControlShare, "everyone else / global control"},
	} {
		if c.s == nil {
			continue
		}
		groups := ""
		if len(c.s.Observed) == 2 {
			groups = " (" + c.groups + ")"
		}
		p := "p = " + showP(c.s.PValue)
		if c.s.PValue < 0.001 {
			p = "p < 0.001"
		}
		detail := fmt.Sprintf("%s, configured share %s: observed %s customers%s, each counted once, at their first exposure; expected %s; χ² = %s (df %d), %s.",
			c.name, showShare(c.share), joinInts(c.s.Observed), groups, joinFloats(c.s.Expected), showNum(c.s.Chi2), c.s.DF, p)
		if c.s.Flagged {
			v.Banners = append(v.Banners, pageBanner{Title: c.name, Detail: detail})
		} else {
			v.Checks = append(v.Checks, "Sample ratio check passed — "+detail)
		}
	}

	v.Outcomes, v.TotalDecisions = buildOutcomes(r.Decisions)

	for _, m := range reportMetrics(r) {
		v.Metrics = append(v.Metrics, buildMetric(m, r.Comparisons, lv, r.SimultaneousRows))
	}
	if r.SimultaneousRows > 0 {
		v.SimultaneousRows = showInt(r.SimultaneousRows)
	}
	for _, c := range r.PerCustomer {
		v.PerCustomer = append(v.PerCustomer, buildCustomer(c))
	}
	v.Cohorts = buildCohorts(r.Cohorts)
	v.Cumulative, v.Allocation = buildDaily(r.Daily)

	for _, c := range r.CUPED {
		k := metricKindOf(c.Metric, r.Comparisons)
		row := pageCUPED{
			Metric:      metricTitle(c.Metric),
			Covariate:   c.Covariate,
			N:           showInt(c.NTreated) + " vs " + showInt(c.NControl),
			Reduction:   showPct(c.VarianceReduction),
			SEReduction: showPct(c.SEReduction),
			Lift:        k.liftCI(c.AbsLift, c.AbsCI),
			Raw:         cmp.Or(k.ci(c.UnadjustedAbsCI), noFigure),
			P:           showP(c.PValue),
		}
		v.CUPED = append(v.CUPED, row)
	}

	a := r.Attribution
	v.HasAttribution = len(r.Comparisons) > 0 || a.AttributedRevenue != 0 || a.AttributedConversions != 0
	v.Attribution = pageAttribution{
		AttributedRevenue:      showNum(a.AttributedRevenue),
		AttributedConversions:  showInt(a.AttributedConversions),
		IncrementalRevenue:     showValueCI(a.IncrementalRevenue, a.IncrementalRevenueCI, true),
		IncrementalConversions: showValueCI(a.IncrementalConversions, a.IncrementalConversionsCI, true),
		IncrementalShare:       noFigure,
		Cost:                   showNum(a.Cost),
		ROI:                    showPctCI(a.ROI, a.ROICI),
		RevenuePerDecision:     showNum(a.RevenuePerDecision),
	}
	if a.AttributedRevenue > 0 && finite(a.IncrementalRevenue) {
		v.Attribution.IncrementalShare = showPct(a.IncrementalRevenue / a.AttributedRevenue)
	}
	none := [2]float64{math.NaN(), math.NaN()}
	v.Attribution.Chart = hbarChart("Attributed against incremental revenue", []hbar{
		{Label: "attributed (last touch)", Value: a.AttributedRevenue, CI: none, Color: colorHoldout, Text: showNum(a.AttributedRevenue)},
		{Label: "incremental (per customer)", Value: a.IncrementalRevenue, CI: a.IncrementalRevenueCI, Color: colorTreated,
			Text: v.Attribution.IncrementalRevenue},
		{Label: "cost", Value: a.Cost, CI: none, Color: colorOther, Text: showNum(a.Cost)},
	}, "revenue")

	for _, o := range r.OPE {
		row := pageOPE{
			Policy:    policyLabel(o.Policy),
			N:         showInt(o.N),
			IPS:       showEstimate(o.IPS),
			SNIPS:     showEstimate(o.SNIPS),
			DM:        noFigure,
			DR:        noFigure,
			ESS:       showNum(o.ESS),
			MaxWeight: showNum(o.MaxWeight),
			Warnings:  o.Warnings,
		}
		if o.DM != nil {
			row.DM = showEstimate(*o.DM)
		}
		if o.DR != nil {
			row.DR = showEstimate(*o.DR)
		}
		v.OPE = append(v.OPE, row)
	}
	return v
}

// reportLevel is the report's confidence level, 0.95 (the contract's)
// when it is unset.
func reportLevel(r *CampaignReport) float64 {
	if r.Level > 0 && r.Level < 1 {
		return r.Level
	}
	return 0.95
}

// outcomeOrder is the order of the decision outcomes on the page; others
// follow by name.
var outcomeOrder = []string{"SEND", "HOLDOUT", "GLOBAL_CONTROL", "SUPPRESSED", "NO_ACTION"}

var outcomeNames = map[string]string{
	"SEND":           "Sent",
	"HOLDOUT":        "Campaign holdout",
	"GLOBAL_CONTROL": "Global control",
	"SUPPRESSED":     "Suppressed",
	"NO_ACTION":      "No action",
}

func buildOutcomes(decisions map[string]int) ([]pageOutcome, string) {
	codes := make([]string, 0, len(decisions))
	total := 0
	for c, n := range decisions {
		codes = append(codes, c)
		total += n
	}
	rank := func(c string) int {
		if i := slices.Index(outcomeOrder, c); i >= 0 {
			return i
		}
		return len(outcomeOrder)
	}
	slices.SortFunc(codes, func(a, b string) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), strings.Compare(a, b))
	})
	var rows []pageOutcome
	for _, c := range codes {
		n := decisions[c]
		row := pageOutcome{Name: cmp.Or(outcomeNames[c], c), Code: c, Count: showInt(n), Share: noFigure, Width: "0"}
		if total > 0 {
			row.Share = showPct(float64(n) / float64(total))
			row.Width = strconv.FormatFloat(100*float64(n)/float64(total), 'f', 1, 64)
		}
		rows = append(rows, row)
	}
	return rows, showInt(total)
}

// reportMetrics lists the report's metrics: Metrics, then any other metric
// of a comparison, in order of appearance.
func reportMetrics(r *CampaignReport) []string {
	ms := slices.Clone(r.Metrics)
	for _, c := range r.Comparisons {
		if !slices.Contains(ms, c.Metric) {
			ms = append(ms, c.Metric)
		}
	}
	return ms
}

// buildMetric builds the table and the forest plot of metric m; sims is
// the number of rows the simultaneous intervals hold over.
func buildMetric(m string, all []ComparisonRow, level string, sims int) pageMetric {
	k := metricKindOf(m, all)
	pm := pageMetric{Name: m, Title: metricTitle(m), Unit: k.unit}
	var rows []forestRow
	for _, c := range all {
		if c.Metric != m {
			continue
		}
		lift := k.liftCI(c.AbsLift, c.AbsCI)
		// Without simultaneous rows (a report from before they existed
		// decodes them as [0, 0]) no simultaneous interval is shown.
		sim := c.SimultaneousCI
		if sims == 0 {
			sim = [2]float64{math.NaN(), math.NaN()}
		}
		pm.Rows = append(pm.Rows, pageComparison{
			Scope:        scopeLabel(c.Scope),
			NTreated:     showInt(c.NTreated),
			NControl:     showInt(c.NControl),
			Treated:      k.value(c.TreatedMean),
			Control:      k.value(c.ControlMean),
			AbsLift:      lift,
			Simultaneous: cmp.Or(k.ci(sim), noFigure),
			RelLift:      showPctCI(c.RelLift, c.RelCI),
			P:            showP(c.PValue),
			AlwaysValid:  cmp.Or(k.ci(c.AlwaysValidCI), noFigure),
			AlwaysValidP: showP(c.AlwaysValidPValue),
			Incremental:  showValueCI(c.Incremental, c.IncrementalCI, true),
			Note:         c.Note,
			Missing:      !finite(c.AbsLift),
			Significant:  finite(c.AbsCI[0]) && finite(c.AbsCI[1]) && (c.AbsCI[0] > 0 || c.AbsCI[1] < 0),
		})
		text := lift
		if c.Note != "" && !finite(c.AbsLift) {
			text = clipText(c.Note, 34)
		}
		rows = append(rows, forestRow{
			Label: scopeLabel(c.Scope),
			Sub:   "n = " + showInt(c.NTreated) + " vs " + showInt(c.NControl),
			Point: c.AbsLift * k.scale,
			CI:    [2]float64{c.AbsCI[0] * k.scale, c.AbsCI[1] * k.scale},
			AV:    [2]float64{c.AlwaysValidCI[0] * k.scale, c.AlwaysValidCI[1] * k.scale},
			Sim:   [2]float64{sim[0] * k.scale, sim[1] * k.scale},
			Text:  text,
			Bold:  c.Scope == ScopeCampaign,
		})
	}
	if len(rows) > 0 {
		pm.Forest = forestChart("Lift in "+pm.Title+" by scope", rows, "absolute lift ("+k.unit+")", level, sims)
	}
	return pm
}

// buildCustomer formats a per-customer comparison: its metrics are
// amounts per customer (a customer's conversions are a count, not a
// rate).
func buildCustomer(c ComparisonRow) pageCustomer {
	k := metricKind{unit: "per customer", scale: 1}
	return pageCustomer{
		Scope:       scopeLabel(c.Scope),
		Metric:      customerMetricTitle(c.Metric),
		NTreated:    showInt(c.NTreated),
		NControl:    showInt(c.NControl),
		Treated:     k.value(c.TreatedMean),
		Control:     k.value(c.ControlMean),
		Lift:        k.liftCI(c.AbsLift, c.AbsCI),
		RelLift:     showPctCI(c.RelLift, c.RelCI),
		P:           showP(c.PValue),
		Incremental: showValueCI(c.Incremental, c.IncrementalCI, true),
		Note:        c.Note,
		Missing:     !finite(c.AbsLift),
		Significant: finite(c.AbsCI[0]) && finite(c.AbsCI[1]) && (c.AbsCI[0] > 0 || c.AbsCI[1] < 0),
	}
}

func customerMetricTitle(m string) string {
	switch m {
	case MetricConversions:
		return "conversions per customer"
	case MetricRevenue:
		return "revenue per customer"
	}
	return strings.ReplaceAll(m, "_", " ")
}

// cohortGroups orders the groups of a week's cohorts and names them.
var cohortGroups = []struct{ code, name string }{
	{"treated", "treated"},
	{"holdout", "holdout"},
	{ScopeGlobalControl, "global control"},
}

// buildCohorts lays out the retention table: rows by week, the groups of
// a week together (treated, holdout, global control), one column per
// week after the cohort's, each cell shaded by its share.
func buildCohorts(rows []CohortRow) pageCohorts {
	rank := func(g string) int {
		for i, c := range cohortGroups {
			if c.code == g {
				return i
			}
		}
		return len(cohortGroups)
	}
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, func(a, b CohortRow) int {
		return cmp.Or(strings.Compare(a.Week, b.Week), cmp.Compare(rank(a.Group), rank(b.Group)), strings.Compare(a.Group, b.Group))
	})
	var pc pageCohorts
	weeks := 0
	for _, r := range rows {
		weeks = max(weeks, len(r.Retained))
	}
	for k := range weeks {
		pc.Weeks = append(pc.Weeks, strconv.Itoa(k))
	}
	for i, r := range rows {
		name := r.Group
		if j := rank(r.Group); j < len(cohortGroups) {
			name = cohortGroups[j].name
		}
		row := pageCohortRow{Group: name, Customers: showInt(r.Customers), First: i == 0 || rows[i-1].Week != r.Week}
		if row.First {
			row.Week = r.Week
		}
		for k := range weeks {
			cell := pageCohortCell{}
			if k < len(r.Retained) {
				cell.Text = showPct(r.Retained[k])
				if x := r.Retained[k]; finite(x) {
					// At most 0.6: dark text stays readable on the
					// darkest cell.
					cell.Alpha = strconv.FormatFloat(0.6*math.Min(1, math.Max(0, x)), 'f', 2, 64)
				}
			}
			row.Cells = append(row.Cells, cell)
		}
		pc.Rows = append(pc.Rows, row)
	}
	return pc
}

// buildDaily draws the cumulative conversion rates and the allocation by
// arm; both are empty without daily points.
func buildDaily(days []DailyPoint) (cumulative, allocation template.HTML) {
	if len(days) == 0 {
		return "", ""
	}
	xs := make([]string, len(days))
	treated := make([]float64, len(days))
	holdout := make([]float64, len(days))
	totals := map[string]float64{}
	for i, p := range days {
		xs[i] = shortDate(p.Date)
		treated[i] = ratePct(p.TreatedConversions, p.TreatedDecisions)
		holdout[i] = ratePct(p.HoldoutConversions, p.HoldoutDecisions)
		for arm, n := range p.Allocation {
			totals[arm] += float64(n)
		}
	}
	last := days[len(days)-1]
	cumulative = lineChart("Cumulative conversion rate, treated against holdout", xs, []lineSeries{
		{Name: "treated: " + showRate(last.TreatedConversions, last.TreatedDecisions) + " of " + showInt(last.TreatedDecisions), Color: colorTreated, Y: treated},
		{Name: "holdout: " + showRate(last.HoldoutConversions, last.HoldoutDecisions) + " of " + showInt(last.HoldoutDecisions), Color: colorHoldout, Y: holdout},
	}, "cumulative conversion rate", "%")

	// Arms by volume, "none" last; past the palette the smallest arms
	// share one "other" colour.
	arms := make([]string, 0, len(totals))
	for a := range totals {
		arms = append(arms, a)
	}
	slices.SortFunc(arms, func(a, b string) int {
		if (a == "none") != (b == "none") {
			if a == "none" {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(totals[b], totals[a]), strings.Compare(a, b))
	})
	keys, colors := []string{}, []string{}
	index := map[string]int{}
	for _, a := range arms {
		switch {
		case a == "none":
			index[a] = len(keys)
			keys, colors = append(keys, "none (no message)"), append(colors, colorNone)
		case len(keys) < len(armPalette):
			index[a] = len(keys)
			keys, colors = append(keys, a), append(colors, armPalette[len(keys)])
		default:
			if !slices.Contains(keys, "other arms") {
				keys, colors = append(keys, "other arms"), append(colors, colorOther)
			}
			index[a] = slices.Index(keys, "other arms")
		}
	}
	values := make([][]float64, len(keys))
	for k := range values {
		values[k] = make([]float64, len(days))
	}
	for i, p := range days {
		for arm, n := range p.Allocation {
			values[index[arm]][i] += float64(n)
		}
	}
	if len(keys) > 0 {
		allocation = stackedBars("Arm allocation by day", xs, keys, colors, values)
	}
	return cumulative, allocation
}

// metricKind says how a metric's figures read.
type metricKind struct {
	// rate: a mean of 0/1 values, shown in percent with lifts in
	// percentage points; otherwise an amount.
	rate  bool
	unit  string
	scale float64 // from the metric's units to the forest plot's
}

// metricKindOf treats revenue-like metrics as amounts and any other
// metric whose means all lie in [0, 1] as a rate.
func metricKindOf(m string, rows []ComparisonRow) metricKind {
	amount := metricKind{unit: "per decision", scale: 1}
	lm := strings.ToLower(m)
	for _, w := range []string{"revenue", "spend", "value", "amount"} {
		if strings.Contains(lm, w) {
			return amount
		}
	}
	for _, c := range rows {
		if c.Metric != m {
			continue
		}
		for _, x := range []float64{c.TreatedMean, c.ControlMean} {
			if finite(x) && (x < 0 || x > 1) {
				return amount
			}
		}
	}
	return metricKind{rate: true, unit: "percentage points", scale: 100}
}

func (k metricKind) value(x float64) string {
	if k.rate {
		return showPct(x)
	}
	return showNum(x)
}

// liftCI formats a lift and its interval: percentage points for a rate.
func (k metricKind) liftCI(x float64, ci [2]float64) string {
	if !k.rate {
		return showValueCI(x, ci, true)
	}
	if !finite(x) {
		return noFigure
	}
	return strings.TrimSpace(showPoints(100*x) + " pp " + showInterval([2]float64{100 * ci[0], 100 * ci[1]}, showPoints))
}

// ci formats an interval of a lift ("" when it is missing).
func (k metricKind) ci(ci [2]float64) string {
	if k.rate {
		return showInterval([2]float64{100 * ci[0], 100 * ci[1]}, showPoints)
	}
	d := decimalsFor(ci[0], ci[1])
	return showInterval(ci, func(x float64) string { return showFixed(x, d, true) })
}

func metricTitle(m string) string {
	switch m {
	case MetricConversion:
		return "conversion rate"
	case MetricRevenue:
		return "revenue per decision"
	}
	return strings.ReplaceAll(m, "_", " ")
}

func scopeLabel(s string) string {
	switch {
	case s == ScopeCampaign:
		return "Campaign (all arms)"
	case s == ScopeGlobalControl:
		return "Global control group"
	case strings.HasPrefix(s, ScopeArmPrefix):
		return "Arm " + s[len(ScopeArmPrefix):]
	case strings.HasPrefix(s, ScopeChannelPrefix):
		return "Channel " + s[len(ScopeChannelPrefix):]
	}
	return s
}

func policyLabel(p string) string {
	switch {
	case p == "logged":
		return "Logged policy"
	case p == "uniform":
		return "Uniform random"
	case p == "never_send":
		return "Never send"
	case strings.HasPrefix(p, "arm:"):
		return "Always " + p[len("arm:"):]
	}
	return p
}

func findComparison(rows []ComparisonRow, scope, metric string) (ComparisonRow, bool) {
	for _, c := range rows {
		if c.Scope == scope && c.Metric == metric {
			return c, true
		}
	}
	return ComparisonRow{}, false
}

func buildIndexRow(e IndexEntry) indexRow {
	row := indexRow{
		Campaign:  e.Campaign,
		Href:      "/reports/" + url.PathEscape(e.Campaign),
		Decisions: noFigure, Lift: noFigure, RelLift: noFigure, SRM: noFigure,
		Error: e.Error,
	}
	r := e.Report
	if r == nil {
		if row.Error == "" {
			row.Error = "report unavailable"
		}
		return row
	}
	row.Href += periodQuery(r.From, r.To)
	total := 0
	for _, n := range r.Decisions {
		total += n
	}
	row.Decisions = showInt(total)
	if c, ok := findComparison(r.Comparisons, ScopeCampaign, MetricConversion); ok {
		k := metricKindOf(MetricConversion, r.Comparisons)
		row.Lift = k.liftCI(c.AbsLift, c.AbsCI)
		row.RelLift = showPctCI(c.RelLift, c.RelCI)
	}
	switch {
	case r.SRM == nil && r.GlobalSRM == nil:
	case (r.SRM != nil && r.SRM.Flagged) || (r.GlobalSRM != nil && r.GlobalSRM.Flagged):
		row.SRM, row.Flagged = "sample ratio mismatch", true
	default:
		row.SRM = "ok"
	}
	return row
}

// periodQuery returns the from/to query of a period ("" for none).
func periodQuery(from, to time.Time) string {
	q := url.Values{}
	if !from.IsZero() {
		q.Set("from", from.UTC().Format(time.RFC3339))
	}
	if !to.IsZero() {
		q.Set("to", to.UTC().Format(time.RFC3339))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// formDates returns the period as the values of the page's date inputs:
// an end at midnight is shown as the day before, the last day it
// includes (the handler reads to=DAY as the end of DAY).
func formDates(from, to time.Time) (string, string) {
	var f, t string
	if !from.IsZero() {
		f = from.UTC().Format(time.DateOnly)
	}
	if !to.IsZero() {
		t = lastDay(to).Format(time.DateOnly)
	}
	return f, t
}

func lastDay(to time.Time) time.Time {
	to = to.UTC()
	if to.Equal(to.Truncate(24 * time.Hour)) {
		return to.Add(-24 * time.Hour)
	}
	return to
}

func showPeriod(from, to time.Time) string {
	show := func(t time.Time) string {
		t = t.UTC()
		if t.Equal(t.Truncate(24 * time.Hour)) {
			return t.Format(time.DateOnly)
		}
		return t.Format("2006-01-02 15:04")
	}
	f, t := "the first decision", "the latest"
	if !from.IsZero() {
		f = show(from)
	}
	if !to.IsZero() {
		if u := to.UTC(); u.Equal(u.Truncate(24 * time.Hour)) {
			t = lastDay(to).Format(time.DateOnly) + " (inclusive)"
		} else {
			t = show(to)
		}
	}
	return f + " to " + t + ", UTC"
}

func shortDate(d string) string {
	if t, err := time.Parse(time.DateOnly, d); err == nil {
		return t.Format("Jan 2")
	}
	return d
}

func ratePct(conv, n int) float64 {
	if n <= 0 {
		return math.NaN()
	}
	return 100 * float64(conv) / float64(n)
}

func showRate(conv, n int) string {
	if n <= 0 {
		return noFigure
	}
	return showPct(float64(conv) / float64(n))
}

// showInt formats a count with thousands separators.
func showInt(n int) string { return showInt64(int64(n)) }

// showInt64 formats a count with thousands separators.
func showInt64(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// showNum formats a figure with about three significant digits (whole
// numbers with separators from 100 up).
func showNum(x float64) string {
	if !finite(x) {
		return noFigure
	}
	ax := math.Abs(x)
	switch {
	case ax >= 1e15:
		return strconv.FormatFloat(x, 'g', 3, 64)
	case ax >= 100:
		return showInt(int(math.Round(x)))
	case ax >= 1:
		return strconv.FormatFloat(x, 'f', 2, 64)
	case ax == 0:
		return "0"
	}
	digits := min(8, 2-int(math.Floor(math.Log10(ax))))
	return strconv.FormatFloat(x, 'f', digits, 64)
}

// showPoints formats percentage points, signed, with two decimals.
func showPoints(x float64) string {
	if !finite(x) {
		return noFigure
	}
	s := strconv.FormatFloat(x, 'f', 2, 64)
	switch {
	case s == "-0.00":
		return "0.00"
	case x > 0 && s != "0.00":
		return "+" + s
	}
	return strings.Replace(s, "-", "−", 1)
}

// showPct formats a fraction as a percentage.
func showPct(x float64) string {
	if !finite(x) {
		return noFigure
	}
	p := 100 * x
	switch ap := math.Abs(p); {
	case ap >= 100 || ap == 0:
		return strconv.FormatFloat(p, 'f', 0, 64) + "%"
	case ap >= 10:
		return strconv.FormatFloat(p, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 2, 64) + "%"
}

func showPctSigned(x float64) string {
	s := showPct(x)
	if finite(x) && x > 0 {
		return "+" + s
	}
	return strings.Replace(s, "-", "−", 1)
}

// showP formats a p-value.
func showP(p float64) string {
	switch {
	case !finite(p):
		return noFigure
	case p < 0.001:
		return "< 0.001"
	}
	return strconv.FormatFloat(p, 'f', 3, 64)
}

// showInterval formats [lo, hi] with f; "" when both ends are missing and
// "—" stands for one missing end.
func showInterval(ci [2]float64, f func(float64) string) string {
	if !finite(ci[0]) && !finite(ci[1]) {
		return ""
	}
	return "[" + f(ci[0]) + ", " + f(ci[1]) + "]"
}

func showEstimate(e Estimate) string {
	return showValueCI(e.Value, [2]float64{e.CI.Lo, e.CI.Hi}, false)
}

// showValueCI formats a figure and its interval with the same decimals
// (signed: with a sign on positive figures); "—" when the figure is
// missing.
func showValueCI(x float64, ci [2]float64, signed bool) string {
	if !finite(x) {
		return noFigure
	}
	d := decimalsFor(x, ci[0], ci[1])
	f := func(v float64) string { return showFixed(v, d, signed) }
	return strings.TrimSpace(f(x) + " " + showInterval(ci, f))
}

// showPctCI formats a signed fraction and its interval as percentages.
func showPctCI(x float64, ci [2]float64) string {
	if !finite(x) {
		return noFigure
	}
	return strings.TrimSpace(showPctSigned(x) + " " + showInterval(ci, showPctSigned))
}

// decimalsFor returns the decimals that show the largest of vs with about
// three significant digits (none from 100 up).
func decimalsFor(vs ...float64) int {
	m := 0.0
	for _, v := range vs {
		if finite(v) {
			m = math.Max(m, math.Abs(v))
		}
	}
	switch {
	case m == 0:
		return 2
	case m >= 100:
		return 0
	case m >= 10:
		return 1
	case m >= 1:
		return 2
	}
	return min(8, 2-int(math.Floor(math.Log10(m))))
}

// showFixed formats x with d decimals (thousands separators without
// decimals), a true minus sign, and with signed a plus on positive
// figures.
func showFixed(x float64, d int, signed bool) string {
	if !finite(x) {
		return noFigure
	}
	var s string
	if d == 0 {
		s = showInt(int(math.Round(x)))
	} else {
		s = strconv.FormatFloat(x, 'f', d, 64)
	}
	if strings.Trim(s, "-0.,") == "" { // rounds to zero
		return strings.TrimPrefix(s, "-")
	}
	if signed && x > 0 {
		s = "+" + s
	}
	return strings.Replace(s, "-", "−", 1)
}

// showShare formats a configured share or a confidence level: 95%, 10%,
// 2.5%.
func showShare(x float64) string {
	if !finite(x) {
		return noFigure
	}
	return strconv.FormatFloat(math.Round(x*1e4)/100, 'f', -1, 64) + "%"
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = showInt(x)
	}
	return strings.Join(s, " / ")
}

func joinFloats(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = showNum(x)
	}
	return strings.Join(s, " / ")
}
