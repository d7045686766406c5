package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"kairos/internal/pyenv"
	"kairos/measurement"
)

// jsonReport is the JSON the report prints, as a reader decodes it.
type jsonReport struct {
	Groups []struct {
		Name    string
		N       int
		Metrics map[string]struct{ Mean, SD float64 }
	}
	Comparisons []struct {
		Group, Control, Metric string
		AbsLift                float64     `json:"abs_lift"`
		AbsCI                  [2]float64  `json:"abs_ci"`
		RelLift                *float64    `json:"rel_lift"`
		RelCI                  *[2]float64 `json:"rel_ci"`
		PValue                 float64     `json:"p_value"`
	}
	SRM struct {
		Chi2    float64
		PValue  float64 `json:"p_value"`
		Flagged bool
	}
}

// runReport runs `kairos report` with args and returns its stdout.
func runReport(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout bytes.Buffer
	err := runEnv(context.Background(), testEnv(&stdout, nil, nil), append([]string{"report"}, args...))
	return stdout.String(), err
}

func reportJSON(t *testing.T, args ...string) (jsonReport, string) {
	t.Helper()
	out, err := runReport(t, append(args, "--format", "json")...)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	if strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("report --format json printed several lines, want one JSON object:\n%s", out)
	}
	var rep jsonReport
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	return rep, out
}

// hillstromCSV returns the path of the MineThatData e-mail experiment,
// ../shared/data/hillstrom.csv from the repository root, or skips t.
func hillstromCSV(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	path := filepath.Join(dir, "..", "shared", "data", "hillstrom.csv")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("the Hillstrom e-mail data set is not at %s (../shared/data/hillstrom.csv beside the repository): %v", path, err)
	}
	return path
}

var hillstromArgs = []string{"--group", "segment", "--control", "No E-Mail", "--metrics", "conversion,visit,spend"}

// TestReportHillstrom reproduces the published figures of the MineThatData
// E-Mail Analytics challenge (K. Hillstrom, 2008): 64,000 customers in
// three randomised groups.
func TestReportHillstrom(t *testing.T) {
	path := hillstromCSV(t)
	rep, _ := reportJSON(t, append([]string{"--csv", path}, hillstromArgs...)...)

	type rates struct {
		n                 int
		conversion, visit string // percent, three decimals
		spend             string // dollars, four decimals
	}
	want := map[string]rates{
		"Mens E-Mail":   {21307, "1.253", "18.276", "1.4226"},
		"Womens E-Mail": {21387, "0.884", "15.140", "1.0772"},
		"No E-Mail":     {21306, "0.573", "10.617", "0.6528"},
	}
	var order []string
	for _, g := range rep.Groups {
		order = append(order, g.Name)
		w, ok := want[g.Name]
		if !ok {
			t.Errorf("unexpected group %q", g.Name)
			continue
		}
		got := rates{g.N, fmt.Sprintf("%.3f", 100*g.Metrics["conversion"].Mean),
			fmt.Sprintf("%.3f", 100*g.Metrics["visit"].Mean), fmt.Sprintf("%.4f", g.Metrics["spend"].Mean)}
		if got != w {
			t.Errorf("group %s = %+v, want %+v", g.Name, got, w)
		}
	}
	if strings.Join(order, "|") != "Womens E-Mail|No E-Mail|Mens E-Mail" {
		t.Errorf("groups in order %q, want the order of first appearance: Womens E-Mail, No E-Mail, Mens E-Mail", order)
	}
	if len(rep.Comparisons) != 6 {
		t.Fatalf("%d comparisons, want 2 groups × 3 metrics", len(rep.Comparisons))
	}
	for _, c := range rep.Comparisons {
		if c.Control != "No E-Mail" || c.Group == "No E-Mail" {
			t.Errorf("comparison %s vs %s", c.Group, c.Control)
		}
		if !(c.AbsCI[0] < c.AbsLift && c.AbsLift < c.AbsCI[1]) || c.RelLift == nil || c.PValue > 0.01 {
			t.Errorf("%s %s: lift %v %v, rel %v, p %v; want a significant positive lift inside its interval", c.Group, c.Metric, c.AbsLift, c.AbsCI, c.RelLift, c.PValue)
		}
		if c.Group == "Mens E-Mail" && c.Metric == "conversion" {
			// 1.2531% − 0.5726% = 0.6805 points, +118.8%.
			if math.Abs(c.AbsLift-0.006805) > 5e-7 || math.Abs(*c.RelLift-1.1884) > 5e-5 {
				t.Errorf("Mens E-Mail conversion lift = %v (rel %v), want 0.006805 (+118.84%%)", c.AbsLift, *c.RelLift)
			}
		}
	}
	if rep.SRM.Flagged || rep.SRM.PValue < 0.5 {
		t.Errorf("SRM = %+v; the Hillstrom groups are balanced (χ² ≈ 0.20, p ≈ 0.90)", rep.SRM)
	}

	out, err := runReport(t, append([]string{"--csv", path}, hillstromArgs...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{`Mens E-Mail +21307 +1\.253% +18\.276% +1\.4226 `, `No E-Mail +21306 +0\.573% `,
		`conversion +Mens E-Mail +\+0\.681 pp +\[\+0\.500 pp, \+0\.861 pp\] +\+118\.8%`, "no mismatch"} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("table does not match %q:\n%s", re, out)
		}
	}
	t.Logf("\n%s", out)
}

// TestReportPythonCheck checks the report's Welch intervals, p-values,
// delta-method relative lifts and SRM against scipy and statsmodels
// (training/python/check_report.py), within 1e-6.
func TestReportPythonCheck(t *testing.T) {
	path := hillstromCSV(t)
	py := pyenv.Python(t, "scipy", "statsmodels", "pandas", "numpy")
	script, err := filepath.Abs("../../training/python/check_report.py")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KAIROS_TEST_AS_MAIN", "1") // the script runs this binary as kairos
	check := func(extra ...string) (string, error) {
		args := append([]string{script, path, "--group", "segment", "--control", "No E-Mail", "--metrics", "conversion,visit,spend"}, extra...)
		out, err := exec.Command(py, args...).CombinedOutput()
		return string(out), err
	}
	out, err := check("--kairos", self)
	if err != nil {
		t.Fatalf("check_report.py: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(out))

	// At 90% too.
	if out, err := check("--kairos", self, "--confidence", "0.9"); err != nil {
		t.Fatalf("check_report.py --confidence 0.9: %v\n%s", err, out)
	}

	// The check does check: an interval end moved by 1e-5 fails, named.
	_, js := reportJSON(t, append([]string{"--csv", path}, hillstromArgs...)...)
	var raw map[string]any
	if err := json.Unmarshal([]byte(js), &raw); err != nil {
		t.Fatal(err)
	}
	c := raw["comparisons"].([]any)[3].(map[string]any)
	ci := c["abs_ci"].([]any)
	ci[1] = ci[1].(float64) + 1e-5
	b, _ := json.Marshal(raw)
	bad := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = check("--report-json", bad)
	if err == nil || !strings.Contains(out, "Mens E-Mail vs No E-Mail, conversion: abs_ci[1]") {
		t.Errorf("check_report.py on a report with a moved interval = %v, %q; want a failure naming it", err, out)
	}
}

func writeCSV(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "exp.csv")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReportSmall checks the report on a hand-made experiment against the
// measurement package, the --shares and --confidence flags, the SRM
// banner and a relative lift against a zero control.
func TestReportSmall(t *testing.T) {
	var b strings.Builder
	b.WriteString("\ufeffid,arm,converted,revenue,unsub\n")
	treated := map[string][]float64{}
	for i := range 60 {
		arm := "send"
		if i%3 == 2 {
			arm = "holdout"
		}
		conv := float64((i * 7) % 5 / 4) // a 0/1 pattern
		rev := float64((i*13)%11) * conv
		unsub := 0.0
		if arm == "send" && i%10 == 1 {
			unsub = 1
		}
		treated[arm+"/conv"] = append(treated[arm+"/conv"], conv)
		treated[arm+"/rev"] = append(treated[arm+"/rev"], rev)
		fmt.Fprintf(&b, "u%d,%s,%g,%g,%g\n", i, arm, conv, rev, unsub)
	}
	path := writeCSV(t, b.String())
	args := []string{"--csv", path, "--group", "arm", "--control", "holdout", "--metrics", "revenue, converted,unsub", "--confidence", "0.9"}
	rep, js := reportJSON(t, args...)

	if len(rep.Groups) != 2 || rep.Groups[0].Name != "send" || rep.Groups[0].N != 40 || rep.Groups[1].N != 20 {
		t.Fatalf("groups = %+v, want send (40) then holdout (20)", rep.Groups)
	}
	// Metric keys in the order of --metrics.
	if i, j, k := strings.Index(js, `"revenue":`), strings.Index(js, `"converted":`), strings.Index(js, `"unsub":`); !(i < j && j < k) {
		t.Errorf("metrics not in --metrics order: %s", js)
	}
	want, err := measurement.Welch(measurement.Summarize(treated["send/rev"]), measurement.Summarize(treated["holdout/rev"]), 0.9)
	if err != nil {
		t.Fatal(err)
	}
	got := rep.Comparisons[0]
	if got.Metric != "revenue" || got.AbsLift != want.AbsLift || got.AbsCI != [2]float64{want.AbsCI.Lo, want.AbsCI.Hi} ||
		got.PValue != want.PValue || *got.RelLift != want.RelLift {
		t.Errorf("revenue comparison = %+v, want %+v", got, want)
	}
	// unsub is 0 in the holdout: no relative lift.
	if u := rep.Comparisons[2]; u.Metric != "unsub" || u.RelLift != nil || u.RelCI != nil || !strings.Contains(js, `"rel_lift":null`) {
		t.Errorf("unsub comparison = %+v, want rel_lift and rel_ci null", u)
	}
	// 40 against 20 is what 2:1 shares predict; against equal shares it
	// is a mismatch only at p ≈ 0.01, which is not flagged.
	if rep.SRM.Flagged || math.Abs(rep.SRM.Chi2-20.0/3) > 1e-12 {
		t.Errorf("SRM with equal shares = %+v, want χ² = 6.67, not flagged", rep.SRM)
	}
	rep, _ = reportJSON(t, append(args, "--shares", "send=2,holdout=1")...)
	if rep.SRM.Chi2 != 0 || rep.SRM.PValue != 1 || rep.SRM.Flagged {
		t.Errorf("SRM with 2:1 shares = %+v, want χ² 0, p 1", rep.SRM)
	}
	rep, _ = reportJSON(t, append(args, "--shares", "send=0.1,holdout=0.9")...)
	if !rep.SRM.Flagged {
		t.Errorf("SRM with 10%%:90%% shares = %+v, want flagged", rep.SRM)
	}
	out, err := runReport(t, append(args, "--shares", "send=0.1,holdout=0.9")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "SAMPLE RATIO MISMATCH") || !strings.Contains(out, "90% CI") || !strings.Contains(out, "n/a") {
		t.Errorf("table with a mismatch does not start with the SRM warning (or lacks the 90%% CI, or the n/a relative lift):\n%s", out)
	}
	t.Logf("\n%s", out)
}

func TestReportErrors(t *testing.T) {
	good := writeCSV(t, "g,y\na,1\nb,0\na,0\nb,1\n")
	for _, tc := range []struct {
		name    string
		csv     string // file content; "" with noFile: no --csv
		args    []string
		mention []string
	}{
		{"no csv", "-", []string{"--group", "g", "--control", "a", "--metrics", "y"}, []string{"--csv FILE is required", "ledger"}},
		{"no group", "", []string{"--control", "a", "--metrics", "y"}, []string{"--group is required"}},
		{"no metrics", "", []string{"--group", "g", "--control", "a"}, []string{"--metrics is required"}},
		{"format", "", []string{"--group", "g", "--control", "a", "--metrics", "y", "--format", "html"}, []string{`--format "html"`, "table or json"}},
		{"confidence", "", []string{"--group", "g", "--control", "a", "--metrics", "y", "--confidence", "95"}, []string{"--confidence 95", "between 0 and 1"}},
		{"metric twice", "", []string{"--group", "g", "--control", "a", "--metrics", "y,y"}, []string{`"y" twice`}},
		{"metric is the group", "", []string{"--group", "g", "--control", "a", "--metrics", "g"}, []string{"group column"}},
		{"unknown metric", "", []string{"--group", "g", "--control", "a", "--metrics", "y,spend"}, []string{`no column "spend"`, `"g", "y"`}},
		{"unknown group column", "", []string{"--group", "arm", "--control", "a", "--metrics", "y"}, []string{`no column "arm"`, `"g", "y"`}},
		{"control absent", "", []string{"--group", "g", "--control", "c", "--metrics", "y"}, []string{`g = "c"`, `"a", "b"`}},
		{"shares unknown", "", []string{"--group", "g", "--control", "a", "--metrics", "y", "--shares", "a=1,x=1"}, []string{`"x"`, `"a", "b"`}},
		{"shares missing", "", []string{"--group", "g", "--control", "a", "--metrics", "y", "--shares", "a=1"}, []string{`no share for "b"`}},
		{"shares syntax", "", []string{"--group", "g", "--control", "a", "--metrics", "y", "--shares", "a:1"}, []string{"GROUP=SHARE"}},
		{"shares zero", "", []string{"--group", "g", "--control", "a", "--metrics", "y", "--shares", "a=0,b=1"}, []string{"positive"}},
		{"empty file", "\n", []string{"--group", "g", "--control", "a", "--metrics", "y"}, []string{"is empty"}},
		{"header only", "g,y\n", []string{"--group", "g", "--control", "a", "--metrics", "y"}, []string{"header but no rows"}},
		{"not a number", "g,y\na,1\nb,x1\n", []string{"--group", "g", "--control", "a", "--metrics", "y"}, []string{"line 3", `column "y"`, `"x1" is not a number`}},
		{"empty cell", "g,y\na,1\nb,\n", []string{"--group", "g", "--control", "a", "--metrics", "y"}, []string{"line 3", "empty"}},
		{"infinite", "g,y\na,1\nb,Inf\n", []string{"--group", "g", "--control", "a", "--metrics", "y"}, []string{"line 3", `"Inf" is not a number`}},
		{"empty group", "g,y\na,1\n,1\n", []string{"--group", "g", "--control", "a", "--metrics", "y"}, []string{"line 3", "group column"}},
		{"ragged", "g,y\na,1\nb,1,2\n", []string{"--group", "g", "--control", "a", "--metrics", "y"}, []string{"line 3", "number of fields"}},
		{"only the control", "g,y\na,1\na,0\n", []string{"--group", "g", "--control", "a", "--metrics", "y"}, []string{"at least one group besides the control"}},
		{"one unit", "g,y\na,1\na,0\nb,1\n", []string{"--group", "g", "--control", "a", "--metrics", "y"}, []string{"comparing b with a on y", "1 units"}},
		{"zero variance", "g,y\na,1\na,1\nb,1\nb,1\n", []string{"--group", "g", "--control", "a", "--metrics", "y"}, []string{"comparing b with a on y", "zero variance"}},
		{"duplicate column", "g,y,y\na,1,1\n", []string{"--group", "g", "--control", "a", "--metrics", "y"}, []string{`two columns named "y"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			switch tc.csv {
			case "-":
			case "":
				args = append([]string{"--csv", good}, args...)
			default:
				args = append([]string{"--csv", writeCSV(t, tc.csv)}, args...)
			}
			_, err := runReport(t, args...)
			if err == nil {
				t.Fatalf("report %q: no error", args)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
	// A missing file names it.
	if _, err := runReport(t, "--csv", filepath.Join(t.TempDir(), "nope.csv"), "--group", "g", "--control", "a", "--metrics", "y"); err == nil || !strings.Contains(err.Error(), "nope.csv") {
		t.Errorf("report of a missing file = %v, want an error naming it", err)
	}
}
