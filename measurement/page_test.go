package measurement

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"kairos/decisioning"
)

// hostileName is a campaign name from configuration that would run a
// script if the page did not escape it.
const hostileName = `<script>alert("pwned")</script> & "spring"`

// sampleReport is a report with what the page must cope with: a flagged
// sample ratio check, several arms and channels (one named like markup,
// one without an estimate), NaN figures, per-customer rows (one without
// an estimate), weekly cohorts of unequal lengths (the groups of a week
// out of order), 30 days and OPE rows with warnings.
func sampleReport() *CampaignReport {
	nan := math.NaN()
	nan2 := [2]float64{nan, nan}
	r := &CampaignReport{
		Campaign:     hostileName,
		From:         time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		To:           time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC),
		GeneratedAt:  time.Date(2026, 4, 1, 6, 30, 0, 0, time.UTC),
		Level:        0.95,
		Decisions:    map[string]int{"SEND": 9000, "HOLDOUT": 1200, "GLOBAL_CONTROL": 520, "SUPPRESSED": 300, "NO_ACTION": 150},
		HoldoutShare: 0.1,
		ControlShare: 0.05,
		SRM:          &SRM{Observed: []int{9000, 1200}, Expected: []float64{9180, 1020}, Chi2: 35.29, DF: 1, PValue: 2.8e-9, Flagged: true},
		GlobalSRM:    &SRM{Observed: []int{10650, 520}, Expected: []float64{10611.5, 558.5}, Chi2: 2.79, DF: 1, PValue: 0.095},
		Metrics:      []string{"conversion", "revenue"},
		Attribution: Attribution{
			AttributedRevenue: 48210.5, AttributedConversions: 1130,
			IncrementalRevenue: 9120, IncrementalRevenueCI: [2]float64{2100, 16140},
			IncrementalConversions: 155.4, IncrementalConversionsCI: [2]float64{31.1, 279.7},
			Cost: 900, ROI: 9.13, ROICI: [2]float64{1.33, 16.9},
			RevenuePerDecision: 5.36,
		},
		Warnings:  []string{"arm sms/reminder: 12 treated and 3 held-out decisions, too few to compare"},
		Pending:   431,
		OPEReward: "revenue",
	}
	scopes := []struct {
		scope  string
		nt, nc int
		lift   float64
	}{
		{"campaign", 9000, 1200, 0.0068},
		{"arm:email/10off", 4100, 520, 0.0095},
		{"arm:email/free_ship", 2900, 400, 0.0031},
		{"arm:push/<b>flash</b>", 1988, 277, -0.0012},
		{"arm:sms/reminder", 12, 3, nan},
		{"channel:email", 7000, 920, 0.0071},
		{"channel:push", 1988, 277, -0.0012},
		{"global_control", 10650, 520, 0.0045},
	}
	for _, s := range scopes {
		for _, m := range []string{"conversion", "revenue"} {
			base, k := 0.0573, 1.0
			if m == "revenue" {
				base, k = 4.1, 150
			}
			c := ComparisonRow{Scope: s.scope, Metric: m, NTreated: s.nt, NControl: s.nc}
			if math.IsNaN(s.lift) {
				c.TreatedMean, c.ControlMean, c.AbsLift, c.RelLift, c.PValue = nan, nan, nan, nan, nan
				c.AbsCI, c.RelCI, c.AlwaysValidCI, c.IncrementalCI = nan2, nan2, nan2, nan2
				c.Incremental, c.AlwaysValidPValue, c.Tau = nan, nan, nan
				c.SE, c.DF, c.SimultaneousCI = nan, nan, nan2
				c.Note = "too few to compare: 12 treated, 3 control with a reward (at least 30 each)"
			} else {
				lift := s.lift * k
				se := 0.0028 * k * math.Sqrt(1200/float64(s.nc))
				c.ControlMean, c.TreatedMean = base, base+lift
				c.AbsLift, c.AbsCI = lift, [2]float64{lift - 1.96*se, lift + 1.96*se}
				c.RelLift, c.RelCI = lift/base, [2]float64{(lift - 1.96*se) / base, (lift + 1.96*se) / base}
				c.PValue = math.Erfc(math.Abs(lift/se) / math.Sqrt2)
				c.AlwaysValidCI = [2]float64{lift - 3.1*se, lift + 3.1*se}
				c.AlwaysValidPValue, c.Tau = math.Min(1, 3*c.PValue), 2.9*se
				c.Incremental, c.IncrementalCI = lift*float64(s.nt), [2]float64{c.AbsCI[0] * float64(s.nt), c.AbsCI[1] * float64(s.nt)}
				// Bonferroni over the 14 rows with a lift: z(1 − 0.05/28).
				c.SE, c.DF = se, 1500
				c.SimultaneousCI = [2]float64{lift - 2.914*se, lift + 2.914*se}
			}
			if s.scope == "channel:push" && m == "revenue" {
				c.RelLift, c.RelCI, c.Note = nan, nan2, "relative lift undefined: the control mean is 0"
			}
			r.Comparisons = append(r.Comparisons, c)
		}
	}
	r.SimultaneousRows = 14
	r.PerCustomer = []ComparisonRow{
		{Scope: "campaign", Metric: "conversions", NTreated: 7400, NControl: 990, TreatedMean: 0.142, ControlMean: 0.121,
			AbsLift: 0.021, AbsCI: [2]float64{0.0042, 0.0378}, RelLift: 0.174, RelCI: [2]float64{0.03, 0.318}, PValue: 0.014,
			Incremental: 155.4, IncrementalCI: [2]float64{31.1, 279.7}, SimultaneousCI: nan2},
		{Scope: "campaign", Metric: "revenue", NTreated: 7400, NControl: 990, TreatedMean: 10.31, ControlMean: 9.08,
			AbsLift: 1.2324, AbsCI: [2]float64{0.2838, 2.1811}, RelLift: 0.136, RelCI: [2]float64{0.031, 0.241}, PValue: 0.011,
			Incremental: 9120, IncrementalCI: [2]float64{2100, 16140}, SimultaneousCI: nan2},
		{Scope: "global_control", Metric: "conversions", NTreated: 8390, NControl: 412, TreatedMean: 0.14, ControlMean: 0.127,
			AbsLift: 0.013, AbsCI: [2]float64{-0.011, 0.037}, RelLift: 0.102, RelCI: [2]float64{-0.087, 0.291}, PValue: 0.29,
			Incremental: 109.1, IncrementalCI: [2]float64{-92.3, 310.4}, SimultaneousCI: nan2},
		{Scope: "global_control", Metric: "revenue", NTreated: 8390, NControl: 12, TreatedMean: nan, ControlMean: nan,
			AbsLift: nan, AbsCI: nan2, RelLift: nan, RelCI: nan2, PValue: nan, Incremental: nan, IncrementalCI: nan2, SimultaneousCI: nan2,
			Note: "too few to compare: 8390 treated, 12 control with a reward (at least 30 each)"},
	}
	// Mondays from the week of March 1 (a Sunday); the period ends on
	// March 31, so later weeks follow their cohorts for fewer weeks.
	for w, week := range []string{"2026-02-23", "2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23"} {
		groups := []string{"treated", "holdout", "global_control"}
		if w == 1 {
			groups = []string{"global_control", "holdout", "treated"}
		}
		for _, g := range groups {
			n, decay := 1900, 0.55
			switch g {
			case "holdout":
				n, decay = 240, 0.5
			case "global_control":
				n, decay = 100, 0.48
			}
			row := CohortRow{Week: week, Group: g, Customers: n - n*w/8}
			for k := range 5 - w {
				row.Retained = append(row.Retained, math.Pow(decay, float64(k)))
			}
			r.Cohorts = append(r.Cohorts, row)
		}
	}
	r.CUPED = []CUPEDRow{
		{Metric: "conversion", Covariate: "revenue_30d", VarianceReduction: 0.183, AbsLift: 0.0066, AbsCI: [2]float64{0.0016, 0.0116}, PValue: 0.0098,
			NTreated: 8950, NControl: 1190, SEReduction: 0.179, UnadjustedAbsCI: [2]float64{0.0013, 0.0123}},
		{Metric: "revenue", Covariate: "revenue_30d", VarianceReduction: nan, AbsLift: nan, AbsCI: nan2, PValue: nan,
			NTreated: 8950, NControl: 1190, SEReduction: nan, UnadjustedAbsCI: nan2},
	}
	arms := []string{"email/10off", "email/free_ship", "push/<b>flash</b>", "sms/reminder", "none"}
	var td, hd, tc, hc int
	for i := range 30 {
		day := r.From.AddDate(0, 0, i)
		// Allocation drifts toward email/10off as the bandit learns.
		w := float64(i) / 29
		alloc := map[string]int{
			arms[0]: int(80 + 140*w), arms[1]: int(90 - 20*w), arms[2]: int(70 - 40*w), arms[3]: 1, arms[4]: 20,
		}
		n := 0
		for _, v := range alloc {
			n += v
		}
		td += n * 9 / 10
		hd += n / 10
		tc += int(float64(n*9/10)*(0.052+0.015*math.Sin(float64(i)/4)) + 0.5)
		hc += int(float64(n/10)*(0.047+0.01*math.Cos(float64(i)/5)) + 0.5)
		r.Daily = append(r.Daily, DailyPoint{
			Date: day.Format(time.DateOnly), TreatedDecisions: td, HoldoutDecisions: hd,
			TreatedConversions: tc, HoldoutConversions: hc, Allocation: alloc,
		})
	}
	dr := Estimate{Value: 4.61, CI: Interval{4.05, 5.18}}
	dm := Estimate{Value: 4.4, CI: Interval{4.2, 4.6}}
	r.OPE = []OPERow{
		{Policy: "logged", N: 10200, IPS: Estimate{Value: 4.58, CI: Interval{4.01, 5.17}}, SNIPS: Estimate{Value: 4.6, CI: Interval{4.03, 5.19}}, DM: &dm, DR: &dr, ESS: 10200, MaxWeight: 1},
		{Policy: "uniform", N: 10200, IPS: Estimate{Value: 4.21, CI: Interval{3.5, 4.93}}, SNIPS: Estimate{Value: 4.19, CI: Interval{3.48, 4.9}}, ESS: 6130.4, MaxWeight: 2.4},
		{Policy: "never_send", N: 10200, IPS: Estimate{Value: 3.9, CI: Interval{3.11, 4.72}}, SNIPS: Estimate{Value: nan, CI: Interval{nan, nan}}, ESS: 1200, MaxWeight: 8.5},
		{Policy: "arm:sms/reminder", N: 10200, IPS: Estimate{Value: 21, CI: Interval{0, 84}}, SNIPS: Estimate{Value: 8.3, CI: Interval{0, 50}}, ESS: 1.4, MaxWeight: 812,
			Warnings: []string{"largest importance weight 812 exceeds 100", "effective sample size 1.4 is below 1% of 10,200 rounds"}},
	}
	return r
}

func renderPage(t *testing.T, r *CampaignReport) string {
	t.Helper()
	var b bytes.Buffer
	if err := RenderPage(&b, r); err != nil {
		t.Fatalf("RenderPage: %v", err)
	}
	return b.String()
}

// parsePage parses a page and checks that it is balanced: every element
// that is not void is closed, in order, and nothing is closed twice. The
// HTML parser accepts anything, so the balance is what shows a broken
// template.
func parsePage(t *testing.T, page string) *html.Node {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(page))
	var open []string
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if !errors.Is(z.Err(), io.EOF) {
				t.Fatalf("tokenize: %v", z.Err())
			}
			break
		}
		tok := z.Token()
		switch tt {
		case html.StartTagToken:
			if !isVoid(tok.DataAtom) {
				open = append(open, tok.Data)
			}
		case html.EndTagToken:
			if len(open) == 0 || open[len(open)-1] != tok.Data {
				t.Fatalf("unbalanced </%s>; open elements: %v", tok.Data, open)
			}
			open = open[:len(open)-1]
		}
	}
	if len(open) > 0 {
		t.Fatalf("elements left open: %v", open)
	}
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}

func isVoid(a atom.Atom) bool {
	switch a {
	case atom.Area, atom.Base, atom.Br, atom.Col, atom.Embed, atom.Hr, atom.Img, atom.Input, atom.Link, atom.Meta, atom.Source, atom.Track, atom.Wbr:
		return true
	}
	return false
}

// find returns the elements of doc for which match is true, in document
// order.
func find(doc *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
	}
	return out
}

func byTag(tag string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == tag }
}

func byClass(class string) func(*html.Node) bool {
	return func(n *html.Node) bool {
		for _, a := range n.Attr {
			if a.Key == "class" && slices.Contains(strings.Fields(a.Val), class) {
				return true
			}
		}
		return false
	}
}

func byID(id string) func(*html.Node) bool {
	return func(n *html.Node) bool {
		for _, a := range n.Attr {
			if a.Key == "id" && a.Val == id {
				return true
			}
		}
		return false
	}
}

// textOf returns the text content of n, spaces collapsed.
func textOf(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
			b.WriteByte(' ')
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// svgFragments returns the page's <svg> elements as written.
func svgFragments(page string) []string {
	var out []string
	for {
		i := strings.Index(page, "<svg")
		if i < 0 {
			return out
		}
		j := strings.Index(page[i:], "</svg>")
		if j < 0 {
			return append(out, page[i:])
		}
		out = append(out, page[i:i+j+len("</svg>")])
		page = page[i+j+len("</svg>"):]
	}
}

// checkSVG parses a chart as strict XML and checks that it is an SVG with
// a title, a view box and some drawing.
func checkSVG(t *testing.T, frag string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(frag))
	d.Strict = true
	var root string
	var title bool
	shapes := 0
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, frag)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				root = e.Name.Local
				if e.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("SVG root namespace %q", e.Name.Space)
				}
				if !slices.ContainsFunc(e.Attr, func(a xml.Attr) bool { return a.Name.Local == "viewBox" }) {
					t.Errorf("SVG without a viewBox")
				}
			}
			if depth == 1 && e.Name.Local == "title" {
				title = true
			}
			switch e.Name.Local {
			case "line", "rect", "circle", "path":
				shapes++
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if root != "svg" || !title || shapes < 5 {
		t.Errorf("chart: root %q, title %v, %d shapes; want an svg with a title and a drawing", root, title, shapes)
	}
}

func TestPageRenders(t *testing.T) {
	r := sampleReport()
	page := renderPage(t, r)
	doc := parsePage(t, page)

	// The campaign name is text, never markup.
	if s := find(doc, byTag("script")); len(s) > 0 {
		t.Fatalf("the page has %d <script> elements; the campaign name was not escaped", len(s))
	}
	if b := find(doc, byTag("b")); len(b) > 0 {
		t.Errorf("the arm name push/<b>flash</b> became markup")
	}
	if h1 := find(doc, byTag("h1")); len(h1) != 1 || textOf(h1[0]) != hostileName {
		t.Errorf("h1 = %v, want the campaign name %q as text", h1, hostileName)
	}
	if title := find(doc, byTag("title")); len(title) == 0 || !strings.HasPrefix(textOf(title[0]), hostileName) {
		t.Errorf("the page title does not start with the campaign name")
	}
	if !strings.Contains(page, "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; &amp; &#34;spring&#34;") {
		t.Errorf("the campaign name is not escaped as expected")
	}

	// The banner comes before everything else the report shows.
	banners := find(doc, byClass("banner"))
	if len(banners) != 1 {
		t.Fatalf("%d SRM banners, want 1 (only the campaign holdout check is flagged)", len(banners))
	}
	bt := textOf(banners[0])
	for _, want := range []string{"Sample ratio mismatch", "Campaign holdout", "not the sizes configured", "cannot be trusted until the cause is found",
		"observed 9,000 / 1,200 customers (treated / held out), each counted once, at their first exposure", "χ² = 35.29 (df 1), p < 0.001"} {
		if !strings.Contains(bt, want) {
			t.Errorf("banner %q lacks %q", bt, want)
		}
	}
	if strings.Index(page, `class="banner"`) > strings.Index(page, `id="decisions"`) {
		t.Errorf("the SRM banner is not above the report")
	}
	if checks := find(doc, byClass("checks")); len(checks) != 1 || !strings.Contains(textOf(checks[0]), "Global control group") ||
		!strings.Contains(textOf(checks[0]), "10,650 / 520 customers (everyone else / global control)") {
		t.Errorf("the passed global control check is not shown")
	}

	text := textOf(doc)
	for _, want := range []string{
		"Arm email/10off", "Arm email/free_ship", "Arm push/<b>flash</b>", "Arm sms/reminder", "Channel email", "Channel push",
		"Campaign (all arms)", "Global control group",
		"Sent", "9,000", "Campaign holdout", "1,200", "11,170", // decisions by outcome and total
		"+0.68 pp [+0.13, +1.23] [−0.14, +1.50]",          // campaign conversion lift and its simultaneous interval, in percentage points
		"too few to compare: 12 treated, 3 control",       // the note of the arm without an estimate
		"relative lift undefined",                         // a note beside figures
		"revenue_30d", "18.3%", "17.9%", "8,950 vs 1,190", // CUPED
		"431 decisions still in their reward window", // pending
		"48,211", "+9,120 [+2,100, +16,140]", "+913% [+133%, +1690%]", // attribution and ROI
		"Logged policy", "Never send", "Always sms/reminder", "largest importance weight 812 exceeds 100", "effective sample size 1.4",
		"too few to compare", // report warning
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, bad := range []string{"NaN", "Inf", "%!", "ZgotmplZ"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page shows %q", bad)
		}
	}
	if !strings.Contains(text, "—") {
		t.Errorf("missing figures are not shown as —")
	}

	// One forest plot per metric, the two time series, the attribution.
	frags := svgFragments(page)
	if len(frags) != 5 {
		t.Errorf("%d charts, want 5 (2 forest plots, cumulative, allocation, attribution)", len(frags))
	}
	for _, f := range frags {
		checkSVG(t, f)
	}
	for _, id := range []string{"metric-conversion", "metric-revenue", "per-customer", "cohorts", "cumulative", "allocation", "attribution", "cuped", "ope"} {
		if len(find(doc, byID(id))) != 1 {
			t.Errorf("no element #%s", id)
		}
	}
	// The forest plots draw the simultaneous intervals of the rows with
	// one (7 of 8 per metric), each a line and two end ticks, and a legend
	// entry naming the rows they hold over.
	for _, f := range frags[:2] {
		if n := strings.Count(f, `class="sim"`); n != 3*7+3 || !strings.Contains(f, "simultaneous 95% interval (all 14 rows at once)") {
			t.Errorf("forest plot: %d simultaneous-interval lines, want %d, and a legend naming 14 rows", n, 3*7+3)
		}
	}
	checkLift(t, doc)
	checkPerCustomer(t, doc)
	checkCohorts(t, doc)
	// Attribution says where its incremental figures come from.
	if at := textOf(find(doc, byID("attribution"))[0]); !strings.Contains(at, "per-customer comparison") {
		t.Errorf("the attribution does not say its incremental figures are the per-customer comparison's: %q", at)
	}
	// Every arm has a colour in the allocation chart, "none" too.
	alloc := find(doc, byID("allocation"))[0]
	for _, arm := range []string{"email/10off", "email/free_ship", "push/<b>flash</b>", "sms/reminder", "none (no message)"} {
		if !strings.Contains(textOf(alloc), arm) {
			t.Errorf("allocation legend lacks %q", arm)
		}
	}
	// The OPE row with warnings is marked.
	if warn := find(doc, byClass("warn")); len(warn) != 1 || !strings.Contains(textOf(warn[0]), "Always sms/reminder") {
		t.Errorf("OPE rows marked as warnings: %d, want the sms/reminder row", len(warn))
	}
	// The JSON link keeps the period and escapes the name.
	want := "/reports/%3Cscript%3Ealert%28%22pwned%22%29%3C%2Fscript%3E%20&%20%22spring%22.json?from=2026-03-01T00%3A00%3A00Z&to=2026-03-31T00%3A00%3A00Z"
	links := find(doc, func(n *html.Node) bool { return n.Data == "a" && textOf(n) == "JSON" })
	if len(links) != 1 || attr(links[0], "href") != want {
		t.Errorf("JSON link = %v, want href %q", links, want)
	}
}

// A report without simultaneous rows (none with a lift, or one decoded
// from before they existed, where they read [0, 0]) shows none.
func TestPageWithoutSimultaneous(t *testing.T) {
	r := sampleReport()
	r.SimultaneousRows = 0
	for i := range r.Comparisons {
		r.Comparisons[i].SimultaneousCI = [2]float64{}
	}
	page := renderPage(t, r)
	doc := parsePage(t, page)
	if strings.Contains(page, `class="sim"`) || strings.Contains(page, "simultaneous 95% interval") {
		t.Errorf("simultaneous intervals drawn without simultaneous rows")
	}
	text := textOf(doc)
	if !strings.Contains(text, "Simultaneous CI none") || !strings.Contains(text, "+0.68 pp [+0.13, +1.23] — +11.9%") || strings.Contains(text, "Bonferroni over") {
		t.Errorf("the lift section shows simultaneous intervals without simultaneous rows")
	}
}

func TestPageWithoutMismatch(t *testing.T) {
	r := sampleReport()
	r.SRM.Flagged = false
	r.SRM.PValue = 0.2
	doc := parsePage(t, renderPage(t, r))
	if b := find(doc, byClass("banner")); len(b) != 0 {
		t.Errorf("a banner without a flagged check: %s", textOf(b[0]))
	}
	if c := find(doc, byClass("checks")); len(c) != 2 {
		t.Errorf("%d passed checks shown, want 2", len(c))
	}

	r.SRM, r.GlobalSRM = nil, &SRM{Observed: []int{1, 2}, Expected: []float64{2, 1}, Flagged: true, PValue: 1e-5}
	doc = parsePage(t, renderPage(t, r))
	if b := find(doc, byClass("banner")); len(b) != 1 || !strings.Contains(textOf(b[0]), "Global control group") {
		t.Errorf("a flagged global control check shows no banner")
	}
}

// A report with nothing in it (a campaign without decisions yet) still
// renders, with words in place of the charts.
func TestPageEmptyReport(t *testing.T) {
	page := renderPage(t, &CampaignReport{Campaign: "new", Attribution: Attribution{ROI: math.NaN()}})
	doc := parsePage(t, page)
	text := textOf(doc)
	for _, want := range []string{"No decisions in the period.", "No comparisons in the period.", "No per-customer comparison in the period.", "No cohorts in the period.",
		"No daily data in the period.", "No CUPED", "No attribution in the period.", "No off-policy evaluation", "the first decision to the latest"} {
		if !strings.Contains(text, want) {
			t.Errorf("the empty page lacks %q", want)
		}
	}
	for _, f := range svgFragments(page) {
		checkSVG(t, f)
	}
	if strings.Contains(page, "NaN") {
		t.Errorf("the page shows NaN")
	}
	if err := RenderPage(io.Discard, nil); err == nil {
		t.Errorf("RenderPage(nil) succeeded")
	}
}

// checkLift checks the lift section of sampleReport's page: it says
// that the rows are first exposures and what the simultaneous interval
// is, and the tables have the column.
func checkLift(t *testing.T, doc *html.Node) {
	t.Helper()
	lift := textOf(find(doc, byID("lift"))[0])
	for _, want := range []string{
		"The rows compare first exposures", "each customer's first eligible decision", "No earlier message of the campaign can have changed",
		"each row is the effect of one decision",
		"holds for every row of these tables at once (Bonferroni over the 14 rows with a lift",
		"Simultaneous CI all 14 rows at once",
		"First exposures treated vs control",
	} {
		if !strings.Contains(lift, want) {
			t.Errorf("the lift section lacks %q", want)
		}
	}
	tables := find(doc, byClass("comparisons"))
	if len(tables) != 3 {
		t.Fatalf("%d comparison tables, want 2 metrics and the per-customer one", len(tables))
	}
	// The header and each row with figures have 9 cells; the row without
	// an estimate spans the 7 after its counts.
	rows := find(tables[0], byTag("tr"))
	if n := len(find(rows[0], byTag("th"))); n != 9 {
		t.Errorf("the comparisons' header has %d columns, want 9", n)
	}
	for _, r := range rows[1:] {
		cells := find(r, byTag("td"))
		switch {
		case strings.Contains(textOf(r), "Arm sms/reminder"):
			if len(cells) != 3 || attr(cells[2], "colspan") != "7" {
				t.Errorf("row without an estimate: %d cells, colspan %q", len(cells), attr(cells[2], "colspan"))
			}
		case !strings.Contains(attr(r, "class"), "noterow") && len(cells) != 9:
			t.Errorf("row %q has %d cells, want 9", textOf(r), len(cells))
		}
	}
}

// checkPerCustomer checks the per-customer table of sampleReport's page.
func checkPerCustomer(t *testing.T, doc *html.Node) {
	t.Helper()
	sec := find(doc, byID("per-customer"))[0]
	text := textOf(sec)
	for _, want := range []string{
		"Per customer: the total effect", "all their decisions in the period summed", "later messages did and the carry-over",
		"the incremental conversions and revenue of the attribution come from here",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the per-customer section lacks %q", want)
		}
	}
	rows := find(find(doc, byID("per-customer-table"))[0], byTag("tr"))
	want := []string{
		"Comparison Metric Customers treated vs control Mean treated vs control Lift per customer [95% CI] Relative lift [CI] p Incremental [CI]",
		"Campaign (all arms) conversions per customer 7,400 vs 990 0.142 vs 0.121 +0.0210 [+0.0042, +0.0378] +17.4% [+3.00%, +31.8%] 0.014 +155 [+31, +280]",
		"Campaign (all arms) revenue per customer 7,400 vs 990 10.31 vs 9.08 +1.23 [+0.28, +2.18] +13.6% [+3.10%, +24.1%] 0.011 +9,120 [+2,100, +16,140]",
		"Global control group conversions per customer 8,390 vs 412 0.140 vs 0.127 +0.0130 [−0.0110, +0.0370] +10.2% [−8.70%, +29.1%] 0.290 +109 [−92, +310]",
		"Global control group revenue per customer 8,390 vs 12 too few to compare: 8390 treated, 12 control with a reward (at least 30 each)",
	}
	if len(rows) != len(want) {
		t.Fatalf("per-customer table has %d rows, want %d", len(rows), len(want))
	}
	for i, r := range rows {
		if got := textOf(r); got != want[i] {
			t.Errorf("per-customer row %d = %q, want %q", i, got, want[i])
		}
	}
	if sig := find(find(doc, byID("per-customer-table"))[0], byClass("sig")); len(sig) != 2 {
		t.Errorf("%d per-customer rows marked significant, want the campaign's 2", len(sig))
	}
}

// checkCohorts checks the retention table of sampleReport's page: rows by
// week with the groups of a week in order, week columns as percentages,
// shaded cells and blank weeks past the period.
func checkCohorts(t *testing.T, doc *html.Node) {
	t.Helper()
	sec := find(doc, byID("cohorts"))[0]
	for _, want := range []string{"Monday to Sunday, UTC", "Active means a decision of this campaign or a conversion in that week", "only this campaign's records"} {
		if !strings.Contains(textOf(sec), want) {
			t.Errorf("the cohorts section lacks %q", want)
		}
	}
	rows := find(sec, byTag("tr"))
	if len(rows) != 1+15 {
		t.Fatalf("cohort table has %d rows, want a header and 15", len(rows))
	}
	for i, want := range map[int]string{
		0:  "First exposed week of Group Customers week 0 week 1 week 2 week 3 week 4",
		1:  "2026-02-23 treated 1,900 100% 55.0% 30.3% 16.6% 9.15%",
		2:  "holdout 240 100% 50.0% 25.0% 12.5% 6.25%",
		3:  "global control 100 100% 48.0% 23.0% 11.1% 5.31%",
		4:  "2026-03-02 treated 1,663 100% 55.0% 30.3% 16.6%",
		5:  "holdout 210 100% 50.0% 25.0% 12.5%",
		6:  "global control 88 100% 48.0% 23.0% 11.1%",
		13: "2026-03-23 treated 950 100%",
	} {
		if got := textOf(rows[i]); got != want {
			t.Errorf("cohort row %d = %q, want %q", i, got, want)
		}
	}
	if n := len(find(sec, byClass("wk"))); n != 5 {
		t.Errorf("%d rows start a week, want 5", n)
	}
	// Every row has 5 week cells; those past the period are blank.
	if n := len(find(sec, byClass("later"))); n != 3*(0+1+2+3+4) {
		t.Errorf("%d blank week cells, want 30", n)
	}
	cells := find(rows[1], byClass("cell"))
	if len(cells) != 5 || attr(cells[0], "style") != "background-color: rgba(0, 114, 178, 0.60)" || attr(cells[1], "style") != "background-color: rgba(0, 114, 178, 0.33)" {
		t.Errorf("cohort cells are not shaded by their share: %q, %q", attr(cells[0], "style"), attr(cells[1], "style"))
	}
}

// builtReport builds a report with BuildCampaign of 2,000 customers over
// five weeks from Monday 2026-03-02: each first decided on in the first
// three weeks and again about weekly, in a group fixed per customer (5%
// global control, 20% of the others held out), on three arms.
func builtReport(t *testing.T) *CampaignReport {
	t.Helper()
	camp := &decisioning.Campaign{Name: "winback", Holdout: 2000, Arms: []decisioning.Arm{
		{Channel: "email", Offer: "discount_10", Cost: 0.1}, {Channel: "push", Offer: "reminder", Cost: 0.01}, {Channel: "none"}}}
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 0, 35)
	rng := rand.New(rand.NewPCG(7, 1))
	var ds []decisioning.Decision
	var rs []decisioning.Reward
	for c := range 2000 {
		outcome := decisioning.Send
		switch x := rng.Float64(); {
		case x < 0.05:
			outcome = decisioning.GlobalControl
		case x < 0.24:
			outcome = decisioning.Holdout
		}
		at := start.Add(time.Duration(rng.Float64() * float64(21*24*time.Hour)))
		for at.Before(end) {
			arm := rng.IntN(len(camp.Arms))
			a := camp.Arms[arm]
			o := outcome
			if o == decisioning.Send && a.Channel == decisioning.ChannelNone {
				o = decisioning.NoAction
			}
			d := decisioning.Decision{ID: fmt.Sprintf("d%06d", len(ds)), CustomerID: fmt.Sprintf("c%04d", c), Campaign: camp.Name,
				Outcome: o, Channel: a.Channel, Offer: a.Offer, ArmIndex: arm, Propensity: 1 / float64(len(camp.Arms)),
				DecidedAt: at, RewardEvent: "purchase", RewardValue: "amount", RewardUntil: at.Add(72 * time.Hour)}
			ds = append(ds, d)
			p := 0.10
			if o == decisioning.Send {
				p = 0.14
			}
			r := decisioning.Reward{DecisionID: d.ID, CustomerID: d.CustomerID, Campaign: camp.Name, ClosedAt: d.RewardUntil}
			if rng.Float64() < p {
				r.Converted, r.Value, r.EventAt = true, 30+float64(rng.IntN(40)), at.Add(time.Hour)
			}
			rs = append(rs, r)
			if rng.Float64() < 0.3 {
				break // the customer does not come back
			}
			at = at.Add(time.Duration((5 + 4*rng.Float64()) * float64(24*time.Hour)))
		}
	}
	slices.SortFunc(ds, func(a, b decisioning.Decision) int { return a.DecidedAt.Compare(b.DecidedAt) })
	rep, err := BuildCampaign(CampaignInput{Campaign: camp, ControlGroup: 500, Decisions: ds, Rewards: rs,
		From: start, To: end, Now: end.AddDate(0, 0, 5), Bootstrap: 20})
	if err != nil {
		t.Fatal(err)
	}
	if rep.SimultaneousRows == 0 || len(rep.PerCustomer) != 4 || len(rep.Cohorts) == 0 {
		t.Fatalf("built report: %d simultaneous rows, %d per-customer rows, %d cohorts", rep.SimultaneousRows, len(rep.PerCustomer), len(rep.Cohorts))
	}
	return rep
}

// showPP formats an interval in percentage points as the page should:
// signed, two decimals, a true minus sign.
func showPP(ci [2]float64) string {
	f := func(x float64) string { return strings.Replace(fmt.Sprintf("%+.2f", 100*x), "-", "−", 1) }
	return "[" + f(ci[0]) + ", " + f(ci[1]) + "]"
}

// TestPageBuiltReport: the page of a report BuildCampaign made shows its
// simultaneous intervals, per-customer rows and cohorts.
func TestPageBuiltReport(t *testing.T) {
	rep := builtReport(t)
	page := renderPage(t, rep)
	doc := parsePage(t, page)
	for _, bad := range []string{"NaN", "Inf", "%!", "ZgotmplZ"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page shows %q", bad)
		}
	}

	// The sample ratio check counts customers.
	checks := textOf(find(doc, byClass("checks"))[0])
	if want := fmt.Sprintf("observed %s / %s customers (treated / held out)", showInt(rep.SRM.Observed[0]), showInt(rep.SRM.Observed[1])); !strings.Contains(checks, want) {
		t.Errorf("check %q lacks %q", checks, want)
	}

	// The lift tables: the simultaneous interval of every row with one,
	// in its column.
	if want := fmt.Sprintf("Bonferroni over the %d rows with a lift", rep.SimultaneousRows); !strings.Contains(textOf(find(doc, byID("lift"))[0]), want) {
		t.Errorf("the lift section lacks %q", want)
	}
	tables := find(doc, byClass("comparisons"))
	var shown, sims int
	for mi, m := range rep.Metrics {
		var rows []*html.Node
		for _, r := range find(tables[mi], byTag("tr"))[1:] {
			if !strings.Contains(attr(r, "class"), "noterow") {
				rows = append(rows, r)
			}
		}
		var cs []ComparisonRow
		for _, c := range rep.Comparisons {
			if c.Metric == m {
				cs = append(cs, c)
			}
		}
		if len(rows) != len(cs) {
			t.Fatalf("%s: %d table rows, %d comparisons", m, len(rows), len(cs))
		}
		frag := svgFragments(page)[mi]
		withSim := 0
		for i, c := range cs {
			cells := find(rows[i], byTag("td"))
			if !finite(c.SimultaneousCI[0]) {
				continue
			}
			withSim++
			want := showPP(c.SimultaneousCI)
			if m != MetricConversion {
				want = "[" + showFixed(c.SimultaneousCI[0], decimalsFor(c.SimultaneousCI[0], c.SimultaneousCI[1]), true) + ", " +
					showFixed(c.SimultaneousCI[1], decimalsFor(c.SimultaneousCI[0], c.SimultaneousCI[1]), true) + "]"
			}
			if got := textOf(cells[4]); got != want {
				t.Errorf("%s %s: simultaneous CI shown %q, want %q", c.Scope, m, got, want)
			}
			shown++
		}
		if n := strings.Count(frag, `class="sim"`); n != 3*withSim+3 {
			t.Errorf("%s forest plot: %d simultaneous-interval lines, want %d", m, n, 3*withSim+3)
		}
		sims += withSim
	}
	if shown != rep.SimultaneousRows || sims != rep.SimultaneousRows {
		t.Errorf("%d simultaneous intervals shown, the report has %d", shown, rep.SimultaneousRows)
	}

	// Per customer: one row each, and the attribution's incremental
	// revenue is the campaign row's.
	pc := find(find(doc, byID("per-customer-table"))[0], byTag("tr"))[1:]
	if len(pc) != len(rep.PerCustomer) {
		t.Fatalf("%d per-customer rows, want %d", len(pc), len(rep.PerCustomer))
	}
	for i, c := range rep.PerCustomer {
		cells := find(pc[i], byTag("td"))
		if got, want := textOf(cells[2]), showInt(c.NTreated)+" vs "+showInt(c.NControl); got != want {
			t.Errorf("per-customer %s %s: customers %q, want %q", c.Scope, c.Metric, got, want)
		}
		if c.Scope == ScopeCampaign && c.Metric == MetricRevenue {
			var inc string
			for _, div := range find(find(doc, byID("attribution"))[0], byTag("div")) {
				if dt := find(div, byTag("dt")); len(dt) == 1 && strings.HasPrefix(textOf(dt[0]), "Incremental revenue") {
					inc = textOf(find(div, byTag("dd"))[0])
				}
			}
			if got := textOf(cells[len(cells)-1]); got != inc || !strings.HasPrefix(got, "+") {
				t.Errorf("per-customer incremental revenue %q, attribution's %q", got, inc)
			}
		}
	}

	// Cohorts: a row each, a shaded cell per observed week, week 0 100%.
	rows := find(find(doc, byID("cohorts"))[0], byTag("tr"))[1:]
	if len(rows) != len(rep.Cohorts) {
		t.Fatalf("%d cohort rows, want %d", len(rows), len(rep.Cohorts))
	}
	for i, c := range rep.Cohorts {
		var observed []string
		for _, cell := range find(rows[i], byClass("cell")) {
			if !strings.Contains(attr(cell, "class"), "later") {
				observed = append(observed, textOf(cell))
			}
		}
		if len(observed) != len(c.Retained) || observed[0] != "100%" || !strings.Contains(textOf(rows[i]), showInt(c.Customers)) {
			t.Errorf("cohort %s %s: cells %q, want %d weeks from 100%%", c.Week, c.Group, observed, len(c.Retained))
			continue
		}
		for k, x := range c.Retained {
			if want := showPct(x); observed[k] != want {
				t.Errorf("cohort %s %s week %d: %q, want %q", c.Week, c.Group, k, observed[k], want)
			}
		}
	}
}

// Days without decisions leave gaps in the lines, days without
// allocation empty columns; many arms share an "other" colour.
func TestPageDailyEdges(t *testing.T) {
	r := sampleReport()
	r.Daily[0].HoldoutDecisions, r.Daily[0].HoldoutConversions = 0, 0
	r.Daily[3].Allocation = nil
	for i := range 12 {
		r.Daily[5].Allocation[fmt.Sprintf("email/variant%02d", i)] = i + 1
	}
	page := renderPage(t, r)
	doc := parsePage(t, page)
	for _, f := range svgFragments(page) {
		checkSVG(t, f)
	}
	if !strings.Contains(textOf(find(doc, byID("allocation"))[0]), "other arms") {
		t.Errorf("more arms than colours but no \"other arms\"")
	}
	if strings.Contains(page, "NaN") {
		t.Errorf("the page shows NaN")
	}
}

func TestPageIndex(t *testing.T) {
	ok := sampleReport()
	var b bytes.Buffer
	err := RenderIndex(&b, []IndexEntry{
		{Campaign: hostileName, Report: ok},
		{Campaign: "winback", Error: "report unavailable: it cannot be built right now"},
		{Campaign: "no numbers", Report: &CampaignReport{Campaign: "no numbers"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	doc := parsePage(t, b.String())
	if s := find(doc, byTag("script")); len(s) > 0 {
		t.Fatalf("the index has a <script> element")
	}
	rows := find(doc, byTag("tr"))
	if len(rows) != 4 {
		t.Fatalf("%d table rows, want a header and 3 campaigns", len(rows))
	}
	for i, want := range []string{
		hostileName + " 11,170 +0.68 pp [+0.13, +1.23] +11.9% [+2.29%, +21.4%] sample ratio mismatch",
		"winback report unavailable: it cannot be built right now",
		"no numbers 0 — — —",
	} {
		if got := textOf(rows[i+1]); got != want {
			t.Errorf("row %d = %q, want %q", i+1, got, want)
		}
	}
	links := find(doc, byTag("a"))
	wantHref := "/reports/%3Cscript%3Ealert%28%22pwned%22%29%3C%2Fscript%3E%20&%20%22spring%22?from=2026-03-01T00%3A00%3A00Z&to=2026-03-31T00%3A00%3A00Z"
	if len(links) != 3 || attr(links[0], "href") != wantHref || attr(links[1], "href") != "/reports/winback" {
		t.Errorf("links %v, want the first to %q", links, wantHref)
	}
	if !strings.Contains(textOf(doc), "2026-03-01 to 2026-03-30 (inclusive), UTC") {
		t.Errorf("the index does not show the period")
	}
}

func TestPageChartAxis(t *testing.T) {
	for _, tc := range []struct {
		vs       []float64
		withZero bool
		lo, hi   float64
	}{
		{[]float64{0.21, 1.15}, true, 0, 1.2},
		{[]float64{-0.4, 1.15}, true, -0.4, 1.2},
		{[]float64{3, 3}, false, 2.7, 3.3},
		{[]float64{math.NaN(), math.Inf(1)}, true, 0, 1},
		{nil, false, 0, 1},
		{[]float64{9120, 16140, 2100, 48210}, true, 0, 50000},
		{[]float64{-0.0031, -0.0012}, true, -0.0035, 0},
	} {
		a := newChartAxis(tc.vs, tc.withZero, 6, 0, 100)
		if math.Abs(a.lo-tc.lo) > 1e-9 || math.Abs(a.hi-tc.hi) > 1e-9 {
			t.Errorf("axis of %v: [%v, %v], want [%v, %v]", tc.vs, a.lo, a.hi, tc.lo, tc.hi)
		}
		if len(a.ticks) < 2 || a.ticks[0] != a.lo || math.Abs(a.ticks[len(a.ticks)-1]-a.hi) > 1e-9 {
			t.Errorf("axis of %v: ticks %v do not span [%v, %v]", tc.vs, a.ticks, a.lo, a.hi)
		}
		for _, v := range tc.vs {
			if finite(v) && (a.at(v) < 0 || a.at(v) > 100) {
				t.Errorf("axis of %v: %v maps outside the plot to %v", tc.vs, v, a.at(v))
			}
		}
	}
}

func TestPageFigures(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{showInt(0), "0"},
		{showInt(1234567), "1,234,567"},
		{showInt(-1234), "-1,234"},
		{showNum(math.NaN()), "—"},
		{showNum(math.Inf(-1)), "—"},
		{showNum(0), "0"},
		{showNum(0.012345), "0.0123"},
		{showNum(5.361), "5.36"},
		{showNum(48210.5), "48,211"},
		{showValueCI(-0.5, [2]float64{-1.234, 0.25}, true), "−0.50 [−1.23, +0.25]"},
		{showValueCI(9120, [2]float64{2100.4, 16140}, true), "+9,120 [+2,100, +16,140]"},
		{showValueCI(0.0041, [2]float64{-0.0003, 0.0085}, false), "0.00410 [−0.00030, 0.00850]"},
		{showValueCI(math.NaN(), [2]float64{1, 2}, true), "—"},
		{showShare(0.95), "95%"},
		{showShare(0.025), "2.5%"},
		{showPct(0.01253), "1.25%"},
		{showPct(0.183), "18.3%"},
		{showPct(math.NaN()), "—"},
		{showPctSigned(-0.0042), "−0.42%"},
		{showPoints(0.68), "+0.68"},
		{showPoints(-0.001), "0.00"},
		{showPoints(-1.234), "−1.23"},
		{showP(2.8e-9), "< 0.001"},
		{showP(0.0456), "0.046"},
		{showP(math.NaN()), "—"},
		{showInterval([2]float64{math.NaN(), math.NaN()}, showNum), ""},
		{showInterval([2]float64{1, math.Inf(1)}, showNum), "[1.00, —]"},
		{showPeriod(time.Time{}, time.Time{}), "the first decision to the latest, UTC"},
		{showPeriod(time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)), "2026-03-01 12:30 to 2026-03-01 (inclusive), UTC"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
