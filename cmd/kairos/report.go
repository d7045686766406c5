package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

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
}

func parseReport(env environment, args []string) (reportConfig, error) {
	cfg := reportConfig{}
	var metrics, shares string
	fs := flagSet("report", `Compares the groups of a randomised experiment exported as CSV, one row per unit
(customer): for each metric and each group against the control, the absolute
lift with its Welch confidence interval and p-value, the relative lift with its
delta-method interval, and a sample-ratio-mismatch check (χ², flagged when
p < 0.001).

  kairos report --csv hillstrom.csv --group segment --control "No E-Mail" \
      --metrics conversion,visit,spend [--format json]`, env)
	fs.StringVar(&cfg.csv, "csv", "", "experiment `file`: CSV with a header line, one row per unit")
	fs.StringVar(&cfg.group, "group", "", "`column` holding each unit's group (arm)")
	fs.StringVar(&cfg.control, "control", "", "group `value` of the control (holdout) group")
	fs.StringVar(&metrics, "metrics", "", "numeric metric `columns`, comma-separated (0/1 for conversions, or real values)")
	fs.StringVar(&shares, "shares", "", "expected `shares` of the groups for the SRM check, e.g. treated=0.9,holdout=0.1 (weights; default: equal)")
	fs.StringVar(&cfg.format, "format", "table", "output `format`: table or json")
	fs.Float64Var(&cfg.confidence, "confidence", 0.95, "confidence `level` of the intervals, in (0, 1)")
	if err := parseFlags(fs, env, "report", args); err != nil {
		return cfg, err
	}
	switch {
	case cfg.csv == "":
		return cfg, errors.New("report: --csv FILE is required; only experiments exported as CSV can be reported so far (reports of campaigns from the ledger are not built yet)")
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
func reportCmd(_ context.Context, env environment, args []string) error {
	cfg, err := parseReport(env, args)
	if err != nil {
		return err
	}
	exp, err := readExperiment(cfg.csv, cfg.group, cfg.metrics)
	if err != nil {
		return err
	}
	rep, err := buildReport(cfg, exp)
	if err != nil {
		return err
	}
	if cfg.format == "json" {
		b, err := json.Marshal(rep)
		if err != nil {
			return fmt.Errorf("report: encode: %w", err)
		}
		_, err = fmt.Fprintf(env.stdout, "%s\n", b)
		return err
	}
	return writeReportTable(env.stdout, cfg, exp, rep)
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
