package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"kairos/features"
	"kairos/ledger/pgledger"
	"kairos/measurement"
)

// reportMaxGroups bounds the distinct values of the group column: more is
// a sign that the column is not an assignment (an id, an amount).
const reportMaxGroups = 100

// reportConfig is the configuration of `kairos report`.
type reportConfig struct {
	csv        string
	group      string
	control    string
	metrics    []string
	shares     map[string]float64 // nil: equal shares
	format     string
	confidence float64
	// out is the file the report is written to; empty: stdout.
	out string
	// campaign, when set, asks for the campaign's report from the ledger
	// (see campaignReportCmd) instead of the CSV experiment's.
	campaign string
	campaignOptions
}

func parseReport(env environment, args []string) (reportConfig, error) {
	cfg := reportConfig{}
	var metrics, shares string
	fs := flagSet("report", `Prints an incrementality report, of a campaign from the decision ledger or of
a randomised experiment exported as CSV.

A campaign (--campaign NAME) over a period [--from, --to): its decisions by
outcome, the sample-ratio-mismatch checks of its holdout and of the global
control (on customers), treated against holdout (intent to treat) on first
exposures (each customer's first eligible decision) for the campaign, each arm
and each channel, and the global control against everyone else: conversion and
revenue per decision with Welch intervals, simultaneous (Bonferroni) intervals,
p-values, delta-method relative lifts, always-valid (sequential) intervals and
incremental conversions and revenue; per customer, the total effect (all of a
customer's decisions summed); CUPED with a pre-decision covariate; attributed
against incremental revenue, cost and ROI; retention of the weekly cohorts of
first exposures; off-policy estimates of candidate policies. With
--postgres it reads the ledger database itself; otherwise it asks a running
'kairos serve' for the report (the embedded ledger lives in it).

  kairos report --campaign cart_recovery --from 2026-09-01 --to 2026-10-01 \
      [--postgres postgres://kairos@localhost/kairos] [--format table|json|html] [--out FILE]

An experiment exported as CSV (--csv FILE), one row per unit (customer): for
each metric and each group against the control, the absolute lift with its
Welch confidence interval and p-value, the relative lift with its delta-method
interval, and a sample-ratio-mismatch check (χ², flagged when p < 0.001).

  kairos report --csv hillstrom.csv --group segment --control "No E-Mail" \
      --metrics conversion,visit,spend [--format json]`, env)
	fs.StringVar(&cfg.csv, "csv", "", "experiment `file`: CSV with a header line, one row per unit")
	fs.StringVar(&cfg.group, "group", "", "`column` holding each unit's group (arm), with --csv")
	fs.StringVar(&cfg.control, "control", "", "group `value` of the control (holdout) group, with --csv")
	fs.StringVar(&metrics, "metrics", "", "numeric metric `columns`, comma-separated (0/1 for conversions, or real values), with --csv")
	fs.StringVar(&shares, "shares", "", "expected `shares` of the groups for the SRM check, e.g. treated=0.9,holdout=0.1 (weights; default: equal), with --csv")
	fs.StringVar(&cfg.format, "format", "table", "output `format`: table or json with --csv; "+campaignFormatList()+" with --campaign")
	fs.Float64Var(&cfg.confidence, "confidence", 0.95, "confidence `level` of the intervals, in (0, 1)")
	fs.StringVar(&cfg.out, "out", "", "write the report to `file` instead of the standard output")
	fs.StringVar(&cfg.campaign, "campaign", "", "`name` of the campaign to report, from the decision ledger")
	fs.Var(timeValue{&cfg.from}, "from", "start of the period, included: a `time` in RFC 3339 or a date (its midnight UTC); empty: the first decision (with --campaign)")
	fs.Var(timeValue{&cfg.to}, "to", "end of the period, excluded: a `time` in RFC 3339 or a date (its midnight UTC, so --to 2026-10-01 ends with September); empty: now (with --campaign)")
	fs.StringVar(&cfg.postgres, "postgres", "", "PostgreSQL `URL` of the decision ledger to read, e.g. postgres://kairos@localhost/kairos (empty: ask the kairos serve at --admin)")
	fs.StringVar(&cfg.admin, "admin", "", "admin HTTP `address` of the kairos serve to ask for the report, without --postgres (default "+defaultAdminURL+")")
	fs.StringVar(&cfg.campaignsFile, "campaigns", "", "campaign configuration YAML `file`, with --postgres: arms, costs, holdout and control shares (empty: the example campaigns shipped in the binary)")
	fs.StringVar(&cfg.featuresFile, "features", "", "feature definitions YAML `file` the campaigns' inputs come from, with --postgres (empty: the built-in definitions)")
	fs.StringVar(&cfg.covariate, "covariate", "", "CUPED covariate: a `feature` of the logged feature vectors (empty: "+measurement.DefaultCovariate+" when logged)")
	if err := parseFlags(fs, env, "report", args); err != nil {
		return cfg, err
	}
	if cfg.campaign != "" || cfg.csv == "" {
		return cfg, checkCampaignReport(&cfg, metrics, shares)
	}
	switch {
	case cfg.group == "":
		return cfg, errors.New("report: --group is required: the CSV column that holds each unit's group")
	case cfg.control == "":
		return cfg, errors.New("report: --control is required: the value of the group column that marks the control group")
	case strings.TrimSpace(metrics) == "":
		return cfg, errors.New("report: --metrics is required: the numeric CSV columns to compare, comma-separated (e.g. conversion,spend)")
	case cfg.format != "table" && cfg.format != "json":
		return cfg, fmt.Errorf("report: --format %q: want table or json", cfg.format)
	case !(cfg.confidence > 0 && cfg.confidence < 1):
		return cfg, fmt.Errorf("report: --confidence %v: want a level strictly between 0 and 1, e.g. 0.95", cfg.confidence)
	}
	for m := range strings.SplitSeq(metrics, ",") {
		m = strings.TrimSpace(m)
		switch {
		case m == "":
			return cfg, fmt.Errorf("report: --metrics %q has an empty name", metrics)
		case slices.Contains(cfg.metrics, m):
			return cfg, fmt.Errorf("report: --metrics names %q twice", m)
		case m == cfg.group:
			return cfg, fmt.Errorf("report: %q is the group column; it cannot be a metric too", m)
		}
		cfg.metrics = append(cfg.metrics, m)
	}
	if shares != "" {
		cfg.shares = map[string]float64{}
		for item := range strings.SplitSeq(shares, ",") {
			i := strings.LastIndex(item, "=")
			if i < 0 {
				return cfg, fmt.Errorf("report: --shares item %q: want GROUP=SHARE", item)
			}
			name := strings.TrimSpace(item[:i])
			v, err := strconv.ParseFloat(strings.TrimSpace(item[i+1:]), 64)
			if err != nil || !(v > 0) || math.IsInf(v, 0) {
				return cfg, fmt.Errorf("report: --shares item %q: the share must be a positive number", item)
			}
			if _, dup := cfg.shares[name]; dup {
				return cfg, fmt.Errorf("report: --shares names group %q twice", name)
			}
			cfg.shares[name] = v
		}
	}
	return cfg, nil
}

// reportCmd runs `kairos report`.
func reportCmd(ctx context.Context, env environment, args []string) error {
	cfg, err := parseReport(env, args)
	if err != nil {
		return err
	}
	if cfg.campaign != "" {
		return campaignReportCmd(ctx, env, cfg)
	}
	exp, err := readExperiment(cfg.csv, cfg.group, cfg.metrics)
	if err != nil {
		return err
	}
	rep, err := buildReport(cfg, exp)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if cfg.format == "json" {
		b, err := json.Marshal(rep)
		if err != nil {
			return fmt.Errorf("report: encode: %w", err)
		}
		out.Write(b)
		out.WriteByte('\n')
	} else if err := writeReportTable(&out, cfg, exp, rep); err != nil {
		return err
	}
	return writeOutput(env, cfg.out, out.Bytes())
}

// writeOutput writes a rendered report to the file out, or to stdout when
// out is empty.
func writeOutput(env environment, out string, b []byte) error {
	if out == "" {
		_, err := env.stdout.Write(b)
		return err
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return fmt.Errorf("report: --out: %w", err)
	}
	fmt.Fprintf(env.stderr, "report: wrote %s (%d bytes)\n", out, len(b))
	return nil
}

// experiment is a CSV experiment read into per-group metric values.
type experiment struct {
	rows   int
	groups []string               // in order of first appearance
	values map[string][][]float64 // group → metric index → one value per unit
	binary []bool                 // per metric: every value is 0 or 1
}

// readExperiment reads the group column and the metric columns of the CSV
// file at path.
func readExperiment(path, groupCol string, metrics []string) (*experiment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer f.Close()
	name := filepath.Base(path)
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<16))
	r.ReuseRecord = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("report: %s is empty; it needs a header line naming the columns, then one row per unit", name)
	}
	if err != nil {
		return nil, fmt.Errorf("report: read %s: %w", name, err)
	}
	header = slices.Clone(header)
	header[0] = strings.TrimPrefix(header[0], "\ufeff") // a byte order mark
	column := func(want, role string) (int, error) {
		at := -1
		for i, h := range header {
			if h != want {
				continue
			}
			if at >= 0 {
				return 0, fmt.Errorf("report: %s has two columns named %q (the %s)", name, want, role)
			}
			at = i
		}
		if at < 0 {
			return 0, fmt.Errorf("report: %s has no column %q (the %s); its columns are %s", name, want, role, quoteList(header, 0))
		}
		return at, nil
	}
	gi, err := column(groupCol, "--group column")
	if err != nil {
		return nil, err
	}
	mi := make([]int, len(metrics))
	for k, m := range metrics {
		if mi[k], err = column(m, "metric"); err != nil {
			return nil, err
		}
	}
	exp := &experiment{values: map[string][][]float64{}, binary: make([]bool, len(metrics))}
	for k := range exp.binary {
		exp.binary[k] = true
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("report: read %s: %w", name, err)
		}
		line, _ := r.FieldPos(gi)
		g := rec[gi]
		if g == "" {
			return nil, fmt.Errorf("report: %s line %d: the group column %q is empty; every row needs a group", name, line, groupCol)
		}
		vals, ok := exp.values[g]
		if !ok {
			if len(exp.groups) == reportMaxGroups {
				return nil, fmt.Errorf("report: %s: column %q has more than %d distinct values; is it the experiment's group (arm) column?", name, groupCol, reportMaxGroups)
			}
			exp.groups = append(exp.groups, g)
			vals = make([][]float64, len(metrics))
			exp.values[g] = vals
		}
		for k, i := range mi {
			cell := strings.TrimSpace(rec[i])
			v, err := strconv.ParseFloat(cell, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				line, _ := r.FieldPos(i)
				what := fmt.Sprintf("%q is not a number", rec[i])
				if cell == "" {
					what = "the cell is empty"
				}
				return nil, fmt.Errorf("report: %s line %d, column %q: %s; metric columns must be numeric (0/1 or real values)", name, line, metrics[k], what)
			}
			if v != 0 && v != 1 {
				exp.binary[k] = false
			}
			vals[k] = append(vals[k], v)
		}
		exp.rows++
	}
	if exp.rows == 0 {
		return nil, fmt.Errorf("report: %s has a header but no rows", name)
	}
	return exp, nil
}

// quoteList returns the quoted strings, at most limit of them (0: all).
func quoteList(s []string, limit int) string {
	q := make([]string, 0, len(s))
	for i, v := range s {
		if limit > 0 && i == limit {
			q = append(q, fmt.Sprintf("and %d more", len(s)-limit))
			break
		}
		q = append(q, strconv.Quote(v))
	}
	return strings.Join(q, ", ")
}

// report is the JSON form of the report (and what the table shows).
type report struct {
	Groups      []reportGroup      `json:"groups"`
	Comparisons []reportComparison `json:"comparisons"`
	SRM         reportSRM          `json:"srm"`

	comparisons []measurement.Comparison // beside Comparisons, for the table
	srm         measurement.SRM
}

type reportGroup struct {
	Name    string        `json:"name"`
	N       int           `json:"n"`
	Metrics metricSummary `json:"metrics"`
}

// metricSummary maps metric names to summaries; it encodes as a JSON
// object whose keys keep the order of --metrics.
type metricSummary struct {
	names     []string
	summaries []measurement.Summary
}

type jsonSummary struct {
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"`
}

func (m metricSummary) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, name := range m.names {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(name)
		if err != nil {
			return nil, err
		}
		s := m.summaries[i]
		v, err := json.Marshal(jsonSummary{Mean: s.Mean, SD: s.SD})
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", name, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

type reportComparison struct {
	Group   string      `json:"group"`
	Control string      `json:"control"`
	Metric  string      `json:"metric"`
	AbsLift float64     `json:"abs_lift"`
	AbsCI   [2]float64  `json:"abs_ci"`
	RelLift *float64    `json:"rel_lift"` // null when the control's mean is 0
	RelCI   *[2]float64 `json:"rel_ci"`
	PValue  float64     `json:"p_value"`
}

type reportSRM struct {
	Chi2    float64 `json:"chi2"`
	PValue  float64 `json:"p_value"`
	Flagged bool    `json:"flagged"`
}

// buildReport summarises the groups of exp and compares each with the
// control.
func buildReport(cfg reportConfig, exp *experiment) (*report, error) {
	if _, ok := exp.values[cfg.control]; !ok {
		return nil, fmt.Errorf("report: no row has %s = %q (the --control group); the values of %s are %s",
			cfg.group, cfg.control, cfg.group, quoteList(exp.groups, 20))
	}
	if len(exp.groups) < 2 {
		return nil, fmt.Errorf("report: every row has %s = %q; an experiment needs at least one group besides the control", cfg.group, cfg.control)
	}
	rep := &report{}
	sums := map[string][]measurement.Summary{}
	sizes := make([]int, len(exp.groups))
	for i, g := range exp.groups {
		s := make([]measurement.Summary, len(cfg.metrics))
		for k := range cfg.metrics {
			s[k] = measurement.Summarize(exp.values[g][k])
		}
		sums[g] = s
		sizes[i] = len(exp.values[g][0])
		rep.Groups = append(rep.Groups, reportGroup{Name: g, N: sizes[i], Metrics: metricSummary{names: cfg.metrics, summaries: s}})
	}
	for _, g := range exp.groups {
		if g == cfg.control {
			continue
		}
		for k, m := range cfg.metrics {
			c, err := measurement.Welch(sums[g][k], sums[cfg.control][k], cfg.confidence)
			if err != nil {
				return nil, fmt.Errorf("report: comparing %s with %s on %s: %w", g, cfg.control, m, err)
			}
			rc := reportComparison{
				Group: g, Control: cfg.control, Metric: m,
				AbsLift: c.AbsLift, AbsCI: [2]float64{c.AbsCI.Lo, c.AbsCI.Hi}, PValue: c.PValue,
			}
			if c.RelNote == "" {
				rel, ci := c.RelLift, [2]float64{c.RelCI.Lo, c.RelCI.Hi}
				rc.RelLift, rc.RelCI = &rel, &ci
			}
			rep.Comparisons = append(rep.Comparisons, rc)
			rep.comparisons = append(rep.comparisons, c)
		}
	}
	var shares []float64
	if cfg.shares != nil {
		var unknown, missing []string
		for name := range cfg.shares {
			if _, ok := exp.values[name]; !ok {
				unknown = append(unknown, name)
			}
		}
		for _, g := range exp.groups {
			v, ok := cfg.shares[g]
			if !ok {
				missing = append(missing, g)
			}
			shares = append(shares, v)
		}
		slices.Sort(unknown)
		switch {
		case len(unknown) > 0:
			return nil, fmt.Errorf("report: --shares names %s, not values of %s; its values are %s", quoteList(unknown, 0), cfg.group, quoteList(exp.groups, 20))
		case len(missing) > 0:
			return nil, fmt.Errorf("report: --shares gives no share for %s; give one for every group", quoteList(missing, 0))
		}
	}
	srm, err := measurement.SampleRatio(sizes, shares)
	if err != nil {
		return nil, fmt.Errorf("report: sample ratio check: %w", err)
	}
	rep.srm = srm
	rep.SRM = reportSRM{Chi2: srm.Chi2, PValue: srm.PValue, Flagged: srm.Flagged}
	return rep, nil
}

// writeReportTable prints the report as aligned tables: the SRM warning
// first when it fires, the groups, then the comparisons.
func writeReportTable(w io.Writer, cfg reportConfig, exp *experiment, rep *report) error {
	level := formatLevel(cfg.confidence)
	expected := "equal shares"
	if cfg.shares != nil {
		var parts []string
		for i, g := range exp.groups {
			parts = append(parts, fmt.Sprintf("%s %.4g%%", g, 100*rep.srm.Expected[i]/float64(exp.rows)))
		}
		expected = "shares " + strings.Join(parts, ", ")
	}
	srmLine := fmt.Sprintf("χ² = %.4g (%d df), p = %s", rep.srm.Chi2, rep.srm.DF, formatP(rep.srm.PValue))
	if rep.srm.Flagged {
		fmt.Fprintf(w, "SAMPLE RATIO MISMATCH: %s < %g against %s.\n", srmLine, measurement.SRMAlpha, expected)
		fmt.Fprintln(w, "The group sizes are not what the assignment should produce: the assignment or the export")
		fmt.Fprintln(w, "is broken, and every comparison below may be biased.")
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%s: %d rows, groups by %s, control %q, %s confidence intervals\n\n", filepath.Base(cfg.csv), exp.rows, cfg.group, cfg.control, level)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "GROUP\tN")
	for _, m := range cfg.metrics {
		fmt.Fprintf(tw, "\t%s", m)
	}
	fmt.Fprintln(tw)
	for _, g := range rep.Groups {
		fmt.Fprintf(tw, "%s\t%d", g.Name, g.N)
		for k, s := range g.Metrics.summaries {
			if exp.binary[k] {
				fmt.Fprintf(tw, "\t%.3f%%", 100*s.Mean)
			} else {
				fmt.Fprintf(tw, "\t%s (sd %s)", formatNumber(s.Mean, false), formatNumber(s.SD, false))
			}
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "METRIC\tGROUP\tABS LIFT\t%s CI\tREL LIFT\t%s CI\tP-VALUE\n", level, level)
	var notes []string // why a relative lift is n/a
	for i, rc := range rep.Comparisons {
		c := rep.comparisons[i]
		k := slices.Index(cfg.metrics, rc.Metric)
		abs := func(v float64) string { return formatNumber(v, true) }
		if exp.binary[k] {
			abs = func(v float64) string { return fmt.Sprintf("%+.3f pp", 100*v) }
		}
		rel, relCI := "n/a", "-"
		if c.RelNote != "" && !slices.Contains(notes, c.RelNote) {
			notes = append(notes, c.RelNote)
		}
		if c.RelNote == "" {
			rel = fmt.Sprintf("%+.1f%%", 100*c.RelLift)
			relCI = fmt.Sprintf("[%+.1f%%, %+.1f%%]", 100*c.RelCI.Lo, 100*c.RelCI.Hi)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t[%s, %s]\t%s\t%s\t%s\n", rc.Metric, rc.Group,
			abs(c.AbsLift), abs(c.AbsCI.Lo), abs(c.AbsCI.Hi), rel, relCI, formatP(c.PValue))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Lifts are group minus control: absolute with Welch's t interval, relative (group mean ÷ control")
	fmt.Fprintln(w, "mean − 1) with the delta method; pp = percentage points.")
	for _, n := range notes {
		fmt.Fprintf(w, "n/a: %s.\n", n)
	}
	if !rep.srm.Flagged {
		fmt.Fprintf(w, "Sample ratio: %s against %s: no mismatch (flagged below p = %g).\n", srmLine, expected, measurement.SRMAlpha)
	}
	return nil
}

// formatNumber prints a metric's value (or lift, signed) with four
// decimals, or four significant digits when it is large or tiny.
func formatNumber(v float64, signed bool) string {
	f := "%.4f"
	if a := math.Abs(v); a >= 1e5 || (a < 1e-3 && a != 0) {
		f = "%.4g"
	}
	if signed {
		f = "%+" + f[1:]
	}
	return fmt.Sprintf(f, v)
}

// formatLevel prints a confidence level as a percentage: 95%, 99.5%.
func formatLevel(level float64) string {
	return strconv.FormatFloat(math.Round(level*1e8)/1e6, 'f', -1, 64) + "%"
}

// formatP prints a p-value: four decimals, or two significant digits
// below 0.0001.
func formatP(p float64) string {
	switch {
	case p == 0:
		return "< 1e-300"
	case p < 1e-4:
		return fmt.Sprintf("%.2g", p)
	}
	return fmt.Sprintf("%.4f", p)
}

// defaultAdminURL is the admin address of a kairos serve started with the
// defaults, which a campaign report asks without --postgres or --admin.
const defaultAdminURL = "http://127.0.0.1:7401"

// campaignOptions are the flags of a campaign report.
type campaignOptions struct {
	from, to time.Time
	// postgres is the ledger database's URL; empty: ask the server at admin.
	postgres string
	admin    string
	// campaignsFile and featuresFile are the configuration read with
	// --postgres (empty: the built-in ones).
	campaignsFile, featuresFile string
	covariate                   string
}

// campaignFormat is one --format of a campaign report: its name and the
// function writing the report in it.
type campaignFormat struct {
	name  string
	write func(io.Writer, *measurement.CampaignReport) error
}

// campaignFormats are the formats of a campaign report, the default
// first. A new format is one more entry.
var campaignFormats = []campaignFormat{
	{"table", writeCampaignTable},
	{"json", writeCampaignJSON},
	{"html", measurement.RenderPage},
}

// campaignFormatList names the formats: "table, json".
func campaignFormatList() string {
	names := make([]string, len(campaignFormats))
	for i, f := range campaignFormats {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

func findCampaignFormat(name string) (campaignFormat, bool) {
	for _, f := range campaignFormats {
		if f.name == name {
			return f, true
		}
	}
	return campaignFormat{}, false
}

// checkCampaignReport validates the flags of a campaign report (or says
// that neither --campaign nor --csv was given).
func checkCampaignReport(cfg *reportConfig, metrics, shares string) error {
	switch {
	case cfg.campaign == "":
		return errors.New("report: --campaign NAME or --csv FILE is required: --campaign reports a campaign from the decision ledger, --csv an experiment exported as CSV")
	case cfg.csv != "":
		return errors.New("report: --campaign and --csv exclude each other: give --campaign NAME for a campaign from the ledger, or --csv FILE for an exported experiment")
	case cfg.group != "" || cfg.control != "" || metrics != "" || shares != "":
		return errors.New("report: --group, --control, --metrics and --shares are for --csv experiments; a campaign's groups and metrics come from the ledger")
	case cfg.postgres != "" && cfg.admin != "":
		return errors.New("report: --postgres and --admin exclude each other: read the ledger database (--postgres URL) or ask a running kairos serve (--admin URL)")
	case !(cfg.confidence > 0 && cfg.confidence < 1):
		return fmt.Errorf("report: --confidence %v: want a level strictly between 0 and 1, e.g. 0.95", cfg.confidence)
	case !cfg.from.IsZero() && !cfg.to.IsZero() && !cfg.to.After(cfg.from):
		return fmt.Errorf("report: --to %s is not after --from %s; the period is [from, to)", cfg.to.Format(time.RFC3339), cfg.from.Format(time.RFC3339))
	}
	if _, ok := findCampaignFormat(cfg.format); !ok {
		return fmt.Errorf("report: --format %q: want one of %s", cfg.format, campaignFormatList())
	}
	if cfg.postgres == "" {
		u, err := adminURL(cmp.Or(cfg.admin, defaultAdminURL))
		if err != nil {
			return err
		}
		cfg.admin = u
	}
	return nil
}

// adminURL checks an admin address: an http(s) URL, or host:port for
// http://host:port.
func adminURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("report: --admin %q: want the admin HTTP address of kairos serve, e.g. %s or 127.0.0.1:7401", s, defaultAdminURL)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// campaignReportCmd builds (--postgres) or fetches (--admin) a campaign's
// report and writes it in the chosen format.
func campaignReportCmd(ctx context.Context, env environment, cfg reportConfig) error {
	var (
		rep *measurement.CampaignReport
		err error
	)
	if cfg.postgres != "" {
		rep, err = ledgerCampaignReport(ctx, cfg)
	} else {
		rep, err = fetchCampaignReport(ctx, cfg)
	}
	if err != nil {
		return err
	}
	// A server may not take every option: say so rather than print
	// another report than the one asked for without a word.
	if rep.Level != cfg.confidence {
		fmt.Fprintf(env.stderr, "report: warning: the report's intervals are at the %s level, not the %s of --confidence (the server at %s does not take it; --postgres does)\n",
			formatLevel(rep.Level), formatLevel(cfg.confidence), cfg.admin)
	}
	if cfg.covariate != "" && !slices.ContainsFunc(rep.CUPED, func(c measurement.CUPEDRow) bool { return c.Covariate == cfg.covariate }) {
		fmt.Fprintf(env.stderr, "report: warning: the report has no CUPED adjustment by --covariate %s (see its warnings; a server may not take --covariate, --postgres does)\n", cfg.covariate)
	}
	f, _ := findCampaignFormat(cfg.format)
	var out bytes.Buffer
	if err := f.write(&out, rep); err != nil {
		return fmt.Errorf("report: write the %s report: %w", f.name, err)
	}
	return writeOutput(env, cfg.out, out.Bytes())
}

// ledgerCampaignReport reads the campaign's decisions and rewards from the
// PostgreSQL ledger and builds its report.
func ledgerCampaignReport(ctx context.Context, cfg reportConfig) (*measurement.CampaignReport, error) {
	set := features.Default()
	if cfg.featuresFile != "" {
		var err error
		if set, err = features.Load(cfg.featuresFile); err != nil {
			return nil, fmt.Errorf("report: --features: %w", err)
		}
	}
	conf, err := loadCampaigns(cfg.campaignsFile, set)
	if err != nil {
		return nil, fmt.Errorf("report: --campaigns: %w", err)
	}
	camp, ok := conf.Campaign(cfg.campaign)
	if !ok {
		names := make([]string, len(conf.Campaigns))
		for i, c := range conf.Campaigns {
			names[i] = c.Name
		}
		src := "the example campaigns shipped in the binary"
		if cfg.campaignsFile != "" {
			src = cfg.campaignsFile
		}
		return nil, fmt.Errorf("report: no campaign %q in %s; its campaigns are %s (--campaigns FILE reads another configuration)", cfg.campaign, src, quoteList(names, 20))
	}
	st, err := pgledger.Open(ctx, cfg.postgres, pgledger.Options{})
	if err != nil {
		return nil, fmt.Errorf("report: --postgres: %w", err)
	}
	defer st.Close()
	src := &ledgerReports{cfg: conf, ledger: st, covariate: cfg.covariate, level: cfg.confidence}
	rep, err := src.Report(ctx, camp.Name, cfg.from, cfg.to)
	if errors.Is(err, measurement.ErrNoDecisions) {
		return nil, fmt.Errorf("report: the ledger holds no decision of campaign %q %s", camp.Name, periodText(cfg.from, cfg.to))
	}
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return rep, nil
}

// reportFetchTimeout bounds the request for a report to kairos serve.
const reportFetchTimeout = 2 * time.Minute

// reportMaxBytes bounds the size of a report fetched from kairos serve.
const reportMaxBytes = 64 << 20

// fetchCampaignReport asks the kairos serve at cfg.admin for the
// campaign's report: GET /reports/{campaign}.json?from=&to=&covariate=&level=.
func fetchCampaignReport(ctx context.Context, cfg reportConfig) (*measurement.CampaignReport, error) {
	q := url.Values{}
	if !cfg.from.IsZero() {
		q.Set("from", cfg.from.Format(time.RFC3339Nano))
	}
	if !cfg.to.IsZero() {
		q.Set("to", cfg.to.Format(time.RFC3339Nano))
	}
	if cfg.covariate != "" {
		q.Set("covariate", cfg.covariate)
	}
	if cfg.confidence != 0.95 {
		q.Set("level", strconv.FormatFloat(cfg.confidence, 'g', -1, 64))
	}
	u := cfg.admin + "/reports/" + url.PathEscape(cfg.campaign) + ".json"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, reportFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("report: no kairos serve answers at %s (%w); start one, give its admin address with --admin, or read the ledger database with --postgres URL", cfg.admin, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, reportMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("report: read the report from %s: %w", u, err)
	}
	if len(body) > reportMaxBytes {
		return nil, fmt.Errorf("report: the report from %s is larger than %d MiB", u, reportMaxBytes>>20)
	}
	if resp.StatusCode != http.StatusOK {
		var answer struct{ Error string }
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &answer) == nil && answer.Error != "" {
			msg = answer.Error
		} else if resp.StatusCode == http.StatusNotFound {
			msg += " (is it a kairos serve with report pages?)"
		}
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		return nil, fmt.Errorf("report: GET %s: %s: %s", u, resp.Status, msg)
	}
	var rep measurement.CampaignReport
	if err := json.Unmarshal(body, &rep); err != nil {
		return nil, fmt.Errorf("report: the answer of %s is not a campaign report: %w", u, err)
	}
	return &rep, nil
}

// periodText describes [from, to) for a message: "from 2026-09-01 to
// 2026-10-01", "since …", "before …" or "at any time".
func periodText(from, to time.Time) string {
	f := func(t time.Time) string { return timeValue{&t}.String() }
	switch {
	case !from.IsZero() && !to.IsZero():
		return "from " + f(from) + " to " + f(to)
	case !from.IsZero():
		return "since " + f(from)
	case !to.IsZero():
		return "before " + f(to)
	}
	return "at any time"
}

// writeCampaignJSON writes the report as one line of JSON (NaN and ±Inf
// as null).
func writeCampaignJSON(w io.Writer, r *measurement.CampaignReport) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeCampaignTable prints the report as aligned tables: the SRM
// warnings first when they fire, the decisions by outcome, the warnings,
// the comparisons on first exposures with their simultaneous intervals,
// the per-customer comparison, CUPED, attribution, the weekly cohorts and
// the off-policy evaluation.
func writeCampaignTable(w io.Writer, r *measurement.CampaignReport) error {
	level := formatLevel(r.Level)
	type check struct {
		name, what, among string
		srm               *measurement.SRM
		share             float64
	}
	checks := []check{
		{"campaign holdout", "held out", "customers (first exposures)", r.SRM, r.HoldoutShare},
		{"global control", "in the global control", "customers (first exposures)", r.GlobalSRM, r.ControlShare},
	}
	srmText := func(c check) string {
		n := c.srm.Observed[0] + c.srm.Observed[1]
		return fmt.Sprintf("%d of %d %s %s (%s), configured %s: χ² = %.4g (%d df), p = %s",
			c.srm.Observed[1], n, c.among, c.what, pct(float64(c.srm.Observed[1])/float64(n), 2), pct(c.share, 2), c.srm.Chi2, c.srm.DF, formatP(c.srm.PValue))
	}
	flagged := false
	for _, c := range checks {
		if c.srm != nil && c.srm.Flagged {
			fmt.Fprintf(w, "SAMPLE RATIO MISMATCH (%s): %s < %g.\n", c.name, srmText(c), measurement.SRMAlpha)
			flagged = true
		}
	}
	if flagged {
		fmt.Fprintln(w, "The group sizes are not what the assignment should produce: the assignment or the logging is")
		fmt.Fprintln(w, "broken (or caps and cooldowns suppress treated customers more often than held-out ones), and")
		fmt.Fprintln(w, "the comparisons below may be biased.")
		fmt.Fprintln(w)
	}

	period := periodText(r.From, r.To) + " (UTC"
	if !r.To.IsZero() {
		period += ", the end excluded"
	}
	fmt.Fprintf(w, "Campaign %s, decisions %s), %s intervals; generated %s\n", r.Campaign, period, level, r.GeneratedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "Holdout %s of the campaign's eligible customers, global control %s of all customers.\n\n", pct(r.HoldoutShare, 2), pct(r.ControlShare, 2))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	total := 0
	for _, n := range r.Decisions {
		total += n
	}
	fmt.Fprintln(tw, "OUTCOME\tDECISIONS\tSHARE")
	names := []string{"SEND", "NO_ACTION", "HOLDOUT", "GLOBAL_CONTROL", "SUPPRESSED"}
	for name := range r.Decisions {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	for _, name := range names {
		n := r.Decisions[name]
		fmt.Fprintf(tw, "%s\t%d\t%s\n", name, n, pct(float64(n)/float64(max(total, 1)), 1))
	}
	fmt.Fprintf(tw, "total\t%d\t\n", total)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Warnings) > 0 {
		fmt.Fprintln(w)
		for _, warning := range r.Warnings {
			fmt.Fprintf(w, "warning: %s\n", warning)
		}
	}

	conv := func(m string) bool { return m == measurement.MetricConversion }
	mean := func(m string, v float64) string {
		if conv(m) {
			return pct(v, 3)
		}
		return num(v, false)
	}
	lift := func(m string, v float64) string {
		if !finiteNum(v) {
			return "n/a"
		}
		if conv(m) {
			return fmt.Sprintf("%+.3f pp", 100*v)
		}
		return formatNumber(v, true)
	}
	interval := func(f func(float64) string, ci [2]float64) string {
		if !finiteNum(ci[0]) || !finiteNum(ci[1]) {
			return "-"
		}
		return "[" + f(ci[0]) + ", " + f(ci[1]) + "]"
	}
	relPct := func(v float64) string {
		if !finiteNum(v) {
			return "n/a"
		}
		return fmt.Sprintf("%+.1f%%", 100*v)
	}
	pval := func(p float64) string {
		if !finiteNum(p) {
			return "n/a"
		}
		return formatP(p)
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "Treated against control on first exposures: each customer's first eligible decision, which no earlier")
	fmt.Fprintln(w, "message of the campaign changed, so each row is the effect of one decision (treated − control;")
	fmt.Fprintln(w, "conversion in %, revenue per decision; N: first exposures with a reward):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "SCOPE\tMETRIC\tN TREATED\tN CONTROL\tTREATED\tCONTROL\tABS LIFT\t%s CI\tSIMULTANEOUS CI\tREL LIFT\t%s CI\tP-VALUE\n", level, level)
	var notes []string
	for _, c := range r.Comparisons {
		m := c.Metric
		l := func(v float64) string { return lift(m, v) }
		// Without simultaneous rows (a report from before they existed
		// decodes them as [0, 0]) there is no simultaneous interval.
		sim := "-"
		if r.SimultaneousRows > 0 {
			sim = interval(l, c.SimultaneousCI)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Scope, m, c.NTreated, c.NControl,
			mean(m, c.TreatedMean), mean(m, c.ControlMean), l(c.AbsLift), interval(l, c.AbsCI), sim, relPct(c.RelLift), interval(relPct, c.RelCI), pval(c.PValue))
		if c.Note != "" {
			notes = append(notes, fmt.Sprintf("%s %s: %s", c.Scope, m, c.Note))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.SimultaneousRows > 0 {
		fmt.Fprintf(w, "Simultaneous CI: Bonferroni over the %d rows with a lift; all %d hold at once with probability at least %s.\n",
			r.SimultaneousRows, r.SimultaneousRows, level)
	}
	fmt.Fprintf(w, "\nAlways-valid intervals (safe to read every day) and incremental conversions and revenue (lift × treated):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "SCOPE\tMETRIC\tALWAYS-VALID %s CI\tALWAYS-VALID P\tINCREMENTAL\t%s CI\n", level, level)
	for _, c := range r.Comparisons {
		m := c.Metric
		l := func(v float64) string { return lift(m, v) }
		inc := func(v float64) string {
			if !finiteNum(v) {
				return "n/a"
			}
			if conv(m) {
				return fmt.Sprintf("%+.1f", v)
			}
			return formatNumber(v, true)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Scope, m, interval(l, c.AlwaysValidCI), pval(c.AlwaysValidPValue), inc(c.Incremental), interval(inc, c.IncrementalCI))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintf(w, "note: %s.\n", n)
	}

	if err := writePerCustomer(w, r, level); err != nil {
		return err
	}

	if len(r.CUPED) > 0 {
		fmt.Fprintln(w)
		for _, c := range r.CUPED {
			l := func(v float64) string { return lift(c.Metric, v) }
			fmt.Fprintf(w, "CUPED (%s) on %s: lift %s %s, p = %s (unadjusted %s on the same %d/%d first exposures); variance reduced by %s, the lift's by %s.\n",
				c.Covariate, c.Metric, l(c.AbsLift), interval(l, c.AbsCI), pval(c.PValue), interval(l, c.UnadjustedAbsCI), c.NTreated, c.NControl,
				pct(c.VarianceReduction, 1), pct(c.SEReduction, 1))
		}
	}

	a := r.Attribution
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Attributed (last touch) against incremental (the per-customer campaign comparison):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\tCONVERSIONS\tREVENUE\n")
	fmt.Fprintf(tw, "attributed to SEND decisions\t%d\t%s\n", a.AttributedConversions, num(a.AttributedRevenue, false))
	incConv := func(v float64) string {
		if !finiteNum(v) {
			return "n/a"
		}
		return fmt.Sprintf("%+.1f", v)
	}
	incRev := func(v float64) string { return num(v, true) }
	fmt.Fprintf(tw, "incremental\t%s %s\t%s %s\n", incConv(a.IncrementalConversions), interval(incConv, a.IncrementalConversionsCI),
		incRev(a.IncrementalRevenue), interval(incRev, a.IncrementalRevenueCI))
	if err := tw.Flush(); err != nil {
		return err
	}
	if a.AttributedRevenue > 0 && finiteNum(a.IncrementalRevenue) {
		fmt.Fprintf(w, "Incremental revenue is %s of the attributed revenue.\n", pct(a.IncrementalRevenue/a.AttributedRevenue, 0))
	}
	roi := "n/a (no cost)"
	if finiteNum(a.ROI) {
		roi = fmt.Sprintf("%s %s", relPct(a.ROI), interval(relPct, a.ROICI))
	}
	fmt.Fprintf(w, "Cost %s, ROI %s; revenue per triggered decision %s.\n", num(a.Cost, false), roi, num(a.RevenuePerDecision, false))

	if err := writeCohorts(w, r.Cohorts); err != nil {
		return err
	}

	if len(r.OPE) > 0 {
		reward := cmp.Or(r.OPEReward, "reward")
		fmt.Fprintf(w, "\nOff-policy evaluation: the expected %s per decision of each policy, from the logged propensities (%d rounds):\n", reward, r.OPE[0].N)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "POLICY\tIPS\t%s CI\tSNIPS\t%s CI\tDR\t%s CI\tESS\tMAX WEIGHT\n", level, level, level)
		f := func(v float64) string { return num(v, false) }
		for _, o := range r.OPE {
			dr, drCI := "n/a", "-"
			if o.DR != nil {
				dr, drCI = f(o.DR.Value), interval(f, [2]float64{o.DR.CI.Lo, o.DR.CI.Hi})
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\n", o.Policy, f(o.IPS.Value), interval(f, [2]float64{o.IPS.CI.Lo, o.IPS.CI.Hi}),
				f(o.SNIPS.Value), interval(f, [2]float64{o.SNIPS.CI.Lo, o.SNIPS.CI.Hi}), dr, drCI, o.ESS, f(o.MaxWeight))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, o := range r.OPE {
			for _, warning := range o.Warnings {
				fmt.Fprintf(w, "warning: %s: %s\n", o.Policy, warning)
			}
		}
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "Unit: the first exposure (a customer's first decision in a compared group) in the comparisons, the")
	fmt.Fprintln(w, "customer in the per-customer table. Treated: SEND and NO_ACTION decisions with an arm; control: HOLDOUT")
	fmt.Fprintln(w, "(intent to treat), per arm and channel by the arm the holdout would have been sent. Relative lifts by")
	fmt.Fprintln(w, "the delta method, pp = percentage points. 'kairos report -h' and the measurement package documentation")
	fmt.Fprintln(w, "define every figure.")
	for _, c := range checks {
		if c.srm != nil && !c.srm.Flagged {
			fmt.Fprintf(w, "Sample ratio (%s): %s: no mismatch (flagged below p = %g).\n", c.name, srmText(c), measurement.SRMAlpha)
		}
	}
	return nil
}

// writePerCustomer prints the per-customer comparison: the total effect
// of the campaign on the customers first exposed in the period.
func writePerCustomer(w io.Writer, r *measurement.CampaignReport, level string) error {
	fmt.Fprintln(w)
	if len(r.PerCustomer) == 0 {
		fmt.Fprintln(w, "Per customer: no customer to compare in the period.")
		return nil
	}
	fmt.Fprintln(w, "Per customer, the total effect: each customer first exposed in the period, in the group of that first")
	fmt.Fprintln(w, "exposure, with the conversions and revenue of all their decisions in the period summed (later messages")
	fmt.Fprintln(w, "and their carry-over included). The attribution's incremental figures come from here:")
	f := func(v float64) string { return num(v, false) }
	signed := func(v float64) string { return num(v, true) }
	interval := func(ci [2]float64) string {
		if !finiteNum(ci[0]) || !finiteNum(ci[1]) {
			return "-"
		}
		return "[" + signed(ci[0]) + ", " + signed(ci[1]) + "]"
	}
	p := func(v float64) string {
		if !finiteNum(v) {
			return "n/a"
		}
		return formatP(v)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "SCOPE\tMETRIC\tCUSTOMERS TREATED\tCUSTOMERS CONTROL\tTREATED\tCONTROL\tLIFT\t%s CI\tP-VALUE\tINCREMENTAL\t%s CI\n", level, level)
	var notes []string
	for _, c := range r.PerCustomer {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Scope, c.Metric, c.NTreated, c.NControl,
			f(c.TreatedMean), f(c.ControlMean), signed(c.AbsLift), interval(c.AbsCI), p(c.PValue), signed(c.Incremental), interval(c.IncrementalCI))
		if c.Note != "" {
			notes = append(notes, fmt.Sprintf("%s %s: %s", c.Scope, c.Metric, c.Note))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintf(w, "note: per customer %s.\n", n)
	}
	return nil
}

// writeCohorts prints the weekly cohorts: one row per week and group,
// the share of the cohort active in each week after its own.
func writeCohorts(w io.Writer, cohorts []measurement.CohortRow) error {
	fmt.Fprintln(w)
	if len(cohorts) == 0 {
		fmt.Fprintln(w, "Cohorts by first-exposure week: none in the period.")
		return nil
	}
	fmt.Fprintln(w, "Cohorts by first-exposure week (weeks from Monday, UTC): the share of each cohort active in week k after")
	fmt.Fprintln(w, "its own (W0 = 100%). Active: a decision of this campaign or a conversion in the week; the ledger holds")
	fmt.Fprintln(w, "only this campaign's records. Weeks that end after the period are blank:")
	weeks := 0
	for _, c := range cohorts {
		weeks = max(weeks, len(c.Retained))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"WEEK", "GROUP", "CUSTOMERS"}
	for k := range weeks {
		head = append(head, fmt.Sprintf("W%d", k))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, c := range cohorts {
		cells := []string{c.Week, c.Group, strconv.Itoa(c.Customers)}
		for _, x := range c.Retained {
			cells = append(cells, pct(x, 1))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

func finiteNum(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// pct prints a fraction as a percentage with the given decimals, n/a
// when it is not a number.
func pct(v float64, decimals int) string {
	if !finiteNum(v) {
		return "n/a"
	}
	return strconv.FormatFloat(100*v, 'f', decimals, 64) + "%"
}

// num prints a number as formatNumber does, n/a when it is not a number.
func num(v float64, signed bool) string {
	if !finiteNum(v) {
		return "n/a"
	}
	return formatNumber(v, signed)
}
