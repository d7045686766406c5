package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"kairos/decisioning"
	"kairos/features"
	"kairos/internal/pgtest"
	"kairos/internal/pyenv"
	"kairos/ledger"
	"kairos/ledger/pgledger"
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

// campaignRecords makes n decisions of the built-in campaign
// cart_recovery over 10 days from start, each held out with probability
// holdout (the global control 5%), and their rewards: 5% of SEND
// decisions convert, 4% of the others, for an amount that grows with
// revenue_30d.
func campaignRecords(t *testing.T, seed uint64, n int, start time.Time, holdout float64) ([]decisioning.Decision, []decisioning.Reward) {
	t.Helper()
	conf, err := decisioning.DefaultConfig(features.Default())
	if err != nil {
		t.Fatal(err)
	}
	camp, ok := conf.Campaign("cart_recovery")
	if !ok {
		t.Fatal("no cart_recovery among the built-in campaigns")
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	probs := make([]float64, len(camp.Arms))
	for i := range probs {
		probs[i] = 1 / float64(len(probs))
	}
	var ds []decisioning.Decision
	var rs []decisioning.Reward
	step := (10 * 24 * time.Hour / time.Duration(n)).Truncate(time.Microsecond)
	groups := map[string]decisioning.Outcome{} // sticky, like the engine's buckets
	for i := range n {
		at := start.Add(time.Duration(i) * step)
		arm := rng.IntN(len(camp.Arms))
		a := camp.Arms[arm]
		customer := fmt.Sprintf("c%04d", rng.IntN(3000))
		outcome, ok := groups[customer]
		if !ok {
			outcome = decisioning.Send
			switch {
			case rng.Float64() < 0.05:
				outcome = decisioning.GlobalControl
			case rng.Float64() < holdout:
				outcome = decisioning.Holdout
			}
			groups[customer] = outcome
		}
		if outcome == decisioning.Send && a.Channel == decisioning.ChannelNone {
			outcome = decisioning.NoAction
		}
		if i%50 == 49 {
			outcome, arm, a = decisioning.Suppressed, -1, decisioning.Arm{}
		}
		cov := rng.ExpFloat64() * 100
		d := decisioning.Decision{
			ID: fmt.Sprintf("d%06d", i), CustomerID: customer, Campaign: camp.Name,
			Outcome: outcome, Channel: a.Channel, Offer: a.Offer, ArmIndex: arm, DecidedAt: at,
			FeatureNames: []string{"revenue_30d"}, Features: []float64{cov}, Reasons: []string{"test"},
		}
		if arm >= 0 {
			d.Propensity = probs[arm]
			d.RewardEvent, d.RewardValue, d.RewardUntil = "purchase", "amount", at.Add(camp.Reward.Within)
			for j, x := range camp.Arms {
				d.Arms = append(d.Arms, decisioning.ArmProbability{Channel: x.Channel, Offer: x.Offer, Probability: probs[j]})
			}
		}
		ds = append(ds, d)
		if arm < 0 {
			continue
		}
		r := decisioning.Reward{DecisionID: d.ID, CustomerID: d.CustomerID, Campaign: camp.Name, ClosedAt: d.RewardUntil}
		p := 0.04
		if outcome == decisioning.Send {
			p = 0.05
		}
		if rng.Float64() < p {
			r.Converted, r.Value = true, math.Round(100*(20+0.5*cov))/100
			r.EventID, r.EventAt = "e"+d.ID, at.Add(time.Hour)
		}
		rs = append(rs, r)
	}
	return ds, rs
}

// writeLedger writes records to the PostgreSQL ledger at url.
func writeLedger(t *testing.T, url string, ds []decisioning.Decision, rs []decisioning.Reward) {
	t.Helper()
	st, err := pgledger.Open(t.Context(), url, pgledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.WriteDecisions(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteRewards(t.Context(), rs); err != nil {
		t.Fatal(err)
	}
}

// campaignJSON decodes the JSON of a campaign report.
func campaignJSON(t *testing.T, out string) *measurement.CampaignReport {
	t.Helper()
	if strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("report --format json printed several lines, want one JSON object:\n%.500s", out)
	}
	var rep measurement.CampaignReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("decode %.500s: %v", out, err)
	}
	return &rep
}

// TestReportCampaignPostgres: the report of a campaign read from the
// PostgreSQL ledger is BuildCampaign's on the same records, in JSON and as
// tables.
func TestReportCampaignPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pgURL := pgtest.NewDB(t)
	start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -20)
	ds, rs := campaignRecords(t, 1, 6_000, start, 0.10)
	writeLedger(t, pgURL, ds, rs)
	from, to := start.Format(time.DateOnly), start.AddDate(0, 0, 8).Format(time.DateOnly)
	args := []string{"--campaign", "cart_recovery", "--postgres", pgURL, "--from", from, "--to", to}

	out, err := runReport(t, append(args, "--format", "json")...)
	if err != nil {
		t.Fatal(err)
	}
	got := campaignJSON(t, out)
	conf, err := decisioning.DefaultConfig(features.Default())
	if err != nil {
		t.Fatal(err)
	}
	camp, _ := conf.Campaign("cart_recovery")
	want, err := measurement.BuildCampaign(measurement.CampaignInput{
		Campaign: camp, ControlGroup: conf.Global.ControlGroup, Decisions: ds, Rewards: rs,
		From: start, To: start.AddDate(0, 0, 8), Level: 0.95, Now: got.GeneratedAt,
	})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(got.GeneratedAt) > time.Minute {
		t.Errorf("generated at %v", got.GeneratedAt)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateNaNs(), cmpopts.EquateApprox(0, 1e-12)); diff != "" {
		t.Errorf("report from PostgreSQL (-BuildCampaign +kairos report):\n%s", diff)
	}
	if got.Decisions["SEND"] == 0 || got.Decisions["SUPPRESSED"] == 0 || len(got.OPE) != 7 || len(got.CUPED) != 2 || got.SRM == nil || got.SRM.Flagged {
		t.Errorf("report: decisions %v, %d OPE rows, %d CUPED rows, SRM %+v", got.Decisions, len(got.OPE), len(got.CUPED), got.SRM)
	}

	out, err = runReport(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{
		`^Campaign cart_recovery, decisions from ` + from + ` to ` + to + ` \(UTC, the end excluded\), 95% intervals`,
		`(?m)^SEND +\d+ +\d+\.\d%$`, `(?m)^SUPPRESSED +\d+ `, `(?m)^total +\d+`,
		`Treated against control on first exposures: each customer's first eligible decision`,
		// Lift, its interval and the simultaneous one, then the relative lift.
		`(?m)^campaign +conversion +\d+ +\d+ +\d\.\d{3}% +\d\.\d{3}% +[+-]\d\.\d{3} pp +\[[+-]\d\.\d{3} pp, [+-]\d\.\d{3} pp\] +\[[+-]\d+\.\d{3} pp, [+-]\d+\.\d{3} pp\] +[+-]\d+\.\d% +\[`,
		`(?m)^arm:email/discount_10 +revenue `, `(?m)^channel:sms +conversion `, `(?m)^global_control +revenue `,
		`SIMULTANEOUS CI`, fmt.Sprintf(`(?m)^Simultaneous CI: Bonferroni over the %d rows with a lift; all %d hold at once with probability at least 95%%\.$`, got.SimultaneousRows, got.SimultaneousRows),
		`(?m)^Per customer, the total effect: each customer first exposed in the period`,
		`(?m)^SCOPE +METRIC +CUSTOMERS TREATED +CUSTOMERS CONTROL +TREATED +CONTROL +LIFT +95% CI +P-VALUE +INCREMENTAL +95% CI$`,
		`(?m)^Cohorts by first-exposure week`, `(?m)^WEEK +GROUP +CUSTOMERS +W0$`,
		`on the same \d+/\d+ first exposures`,
		`ALWAYS-VALID 95% CI`, `CUPED \(revenue_30d\) on conversion: lift`, `variance reduced by \d+\.\d%`,
		`(?m)^attributed to SEND decisions +\d+ +\d+\.\d{4}$`, `Cost \d+\.\d{4}, ROI [+-]\d+\.\d%`,
		`(?m)^logged +\d+\.\d{4} +\[`, `(?m)^never_send `, `(?m)^arm:sms/reminder `,
		`Sample ratio \(campaign holdout\): \d+ of \d+ customers \(first exposures\) held out \(\d+\.\d\d%\), configured 10\.00%`,
		`Sample ratio \(global control\): \d+ of \d+ customers \(first exposures\) in the global control \(\d+\.\d\d%\), configured 5\.00%`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("table does not match %q", re)
		}
	}
	// The per-customer rows, each with its counts; the campaign's revenue
	// row's incremental revenue is the attribution's.
	if len(got.PerCustomer) != 4 {
		t.Fatalf("%d per-customer rows, want campaign and global control, conversions and revenue", len(got.PerCustomer))
	}
	for _, c := range got.PerCustomer {
		re := fmt.Sprintf(`(?m)^%s +%s +%d +%d +\d+\.\d{4} +\d+\.\d{4} +[+-]\d+\.\d{4} +\[`, c.Scope, c.Metric, c.NTreated, c.NControl)
		if c.Scope == "campaign" && c.Metric == "revenue" {
			inc := regexp.QuoteMeta(formatNumber(c.Incremental, true))
			re += `.* ` + inc + ` +\[`
			if want := `(?m)^incremental +.* ` + inc + ` \[`; !regexp.MustCompile(want).MatchString(out) {
				t.Errorf("the attribution's incremental revenue is not the per-customer row's %s", inc)
			}
		}
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("no per-customer row %s %s matching %q", c.Scope, c.Metric, re)
		}
	}
	// One line per cohort, in the report's order.
	if len(got.Cohorts) == 0 {
		t.Fatal("no cohorts in the report")
	}
	cohortLines := regexp.MustCompile(`(?m)^(\d{4}-\d\d-\d\d) +(treated|holdout|global_control) +(\d+) +100\.0%$`).FindAllStringSubmatch(out, -1)
	if len(cohortLines) != len(got.Cohorts) {
		t.Errorf("%d cohort lines, want %d", len(cohortLines), len(got.Cohorts))
	}
	for i, m := range cohortLines {
		if c := got.Cohorts[min(i, len(got.Cohorts)-1)]; m[1] != c.Week || m[2] != c.Group || m[3] != strconv.Itoa(c.Customers) {
			t.Errorf("cohort line %d = %q, want %s %s %d", i, m[0], c.Week, c.Group, c.Customers)
		}
	}
	if strings.Contains(out, "MISMATCH") || strings.Contains(out, "NaN") {
		t.Errorf("table of a healthy campaign has a mismatch or a NaN")
	}
	t.Logf("\n%s", out)

	// --out writes the file, and nothing to stdout.
	path := filepath.Join(t.TempDir(), "report.json")
	out, err = runReport(t, append(args, "--format", "json", "--out", path)...)
	if err != nil || out != "" {
		t.Fatalf("report --out = %q, %v", out, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fromFile := campaignJSON(t, string(b)); fromFile.Campaign != "cart_recovery" || fromFile.Decisions["SEND"] != got.Decisions["SEND"] {
		t.Errorf("--out file holds %+v", fromFile.Decisions)
	}

	// Outside the period: no decisions.
	_, err = runReport(t, "--campaign", "cart_recovery", "--postgres", pgURL, "--from", start.AddDate(1, 0, 0).Format(time.DateOnly))
	if err == nil || !strings.Contains(err.Error(), `no decision of campaign "cart_recovery" since`) {
		t.Errorf("report of an empty period = %v, want an error saying so", err)
	}
}

// TestReportCampaignSRM: a holdout twice its configured size opens the
// table with the mismatch.
func TestReportCampaignSRM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pgURL := pgtest.NewDB(t)
	start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -20)
	ds, rs := campaignRecords(t, 2, 3_000, start, 0.20)
	writeLedger(t, pgURL, ds, rs)
	out, err := runReport(t, "--campaign", "cart_recovery", "--postgres", pgURL, "--confidence", "0.9")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^SAMPLE RATIO MISMATCH \(campaign holdout\): \d+ of \d+ customers \(first exposures\) held out \(\d+\.\d+%\), configured 10\.00%: χ² = [\d.]+ \(1 df\), p = .* < 0\.001\.\n`).MatchString(out) ||
		!strings.Contains(out, "90% CI") || strings.Contains(out, "SAMPLE RATIO MISMATCH (global control)") {
		t.Errorf("table does not start with the holdout's mismatch alone (or lacks the 90%% CI):\n%s", out)
	}
}

// TestReportCampaignAdmin: without --postgres the report is asked of the
// kairos serve at --admin, decoded (null numbers as NaN) and printed.
func TestReportCampaignAdmin(t *testing.T) {
	conf, err := decisioning.DefaultConfig(features.Default())
	if err != nil {
		t.Fatal(err)
	}
	camp, _ := conf.Campaign("cart_recovery")
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	ds, rs := campaignRecords(t, 3, 2_000, start, 0.10)
	rep, err := measurement.BuildCampaign(measurement.CampaignInput{Campaign: camp, ControlGroup: conf.Global.ControlGroup,
		Decisions: ds, Rewards: rs, From: start, To: start.AddDate(0, 0, 30), Bootstrap: 50, Now: start.AddDate(0, 0, 40)})
	if err != nil {
		t.Fatal(err)
	}
	// As when the control never converts.
	rep.Comparisons[0].RelLift, rep.Comparisons[0].RelCI = math.NaN(), [2]float64{math.NaN(), math.NaN()}
	recorded, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.RequestURI())
		if r.URL.Path != "/reports/cart_recovery.json" {
			http.Error(w, "404 page not found", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(recorded)
	}))
	defer srv.Close()

	out, err := runReport(t, "--campaign", "cart_recovery", "--admin", srv.URL, "--from", "2026-09-01", "--to", "2026-10-01T00:00:00Z",
		"--covariate", "revenue_30d", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	if want := "/reports/cart_recovery.json?covariate=revenue_30d&from=2026-09-01T00%3A00%3A00Z&to=2026-10-01T00%3A00%3A00Z"; len(asked) != 1 || asked[0] != want {
		t.Errorf("asked %q, want %q", asked, want)
	}
	if strings.TrimSpace(out) != string(recorded) {
		t.Errorf("JSON printed differs from the server's:\n got %.300s\nwant %.300s", out, recorded)
	}
	got := campaignJSON(t, out)
	if diff := cmp.Diff(rep, got, cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("decoded report (-served +got):\n%s", diff)
	}

	// A host:port address, the table, a level other than 95%, which this
	// server ignores: a warning says so.
	var stdout, stderr bytes.Buffer
	err = runEnv(context.Background(), testEnv(&stdout, &stderr, nil),
		[]string{"report", "--campaign", "cart_recovery", "--admin", strings.TrimPrefix(srv.URL, "http://"), "--confidence", "0.9"})
	if err != nil {
		t.Fatal(err)
	}
	out = stdout.String()
	if !strings.Contains(stderr.String(), "warning: the report's intervals are at the 95% level, not the 90% of --confidence") {
		t.Errorf("stderr = %q, want a warning that --confidence was not applied", stderr.String())
	}
	if asked[1] != "/reports/cart_recovery.json?level=0.9" || !strings.HasPrefix(out, "Campaign cart_recovery, decisions from 2026-09-01 to 2026-10-01") ||
		!regexp.MustCompile(`(?m)^campaign +conversion +\d+ +\d+ +\S+ +\S+ +\S+ pp +\[[^]]*\] +\[[^]]* pp\] +n/a +- `).MatchString(out) {
		t.Errorf("asked %q; table:\n%s", asked[1], out)
	}
	// The cohorts of the weeks from Monday 2026-08-31 and 2026-09-07,
	// followed to the end of the period (October 1): four weeks and three.
	for _, re := range []string{
		`(?m)^WEEK +GROUP +CUSTOMERS +W0 +W1 +W2 +W3$`,
		`(?m)^2026-08-31 +treated +\d+ +100\.0% +\d+\.\d% +\d+\.\d% +\d+\.\d%$`,
		`(?m)^2026-08-31 +holdout +\d+ +100\.0% +\d+\.\d% +\d+\.\d% +\d+\.\d%$`,
		`(?m)^2026-09-07 +treated +\d+ +100\.0% +\d+\.\d% +\d+\.\d%$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("cohort table does not match %q:\n%s", re, out)
		}
	}

	// Errors: an unknown campaign, no server.
	_, err = runReport(t, "--campaign", "nope", "--admin", srv.URL)
	if err == nil || !strings.Contains(err.Error(), "404 Not Found: 404 page not found (is it a kairos serve with report pages?)") {
		t.Errorf("report of an unknown campaign = %v", err)
	}
	srv.Close()
	_, err = runReport(t, "--campaign", "cart_recovery", "--admin", srv.URL)
	if err == nil || !strings.Contains(err.Error(), "no kairos serve answers at "+srv.URL) || !strings.Contains(err.Error(), "--postgres") {
		t.Errorf("report without a server = %v", err)
	}
}

// TestReportCampaignTableEmpty: a report without per-customer rows,
// cohorts or simultaneous rows (as from a server older than them) says so
// instead of printing empty tables or [0, 0] intervals.
func TestReportCampaignTableEmpty(t *testing.T) {
	nan := math.NaN()
	rep := &measurement.CampaignReport{
		Campaign: "cart_recovery", Level: 0.95, Decisions: map[string]int{"SEND": 40, "HOLDOUT": 5},
		Metrics: []string{"conversion"},
		Comparisons: []measurement.ComparisonRow{{Scope: "campaign", Metric: "conversion", NTreated: 40, NControl: 5,
			TreatedMean: nan, ControlMean: nan, AbsLift: nan, AbsCI: [2]float64{nan, nan}, RelLift: nan, RelCI: [2]float64{nan, nan}, PValue: nan,
			AlwaysValidCI: [2]float64{nan, nan}, AlwaysValidPValue: nan, Incremental: nan, IncrementalCI: [2]float64{nan, nan},
			Note: "too few to compare: 40 treated, 5 control with a reward (at least 30 each)"}},
		Attribution: measurement.Attribution{IncrementalRevenue: nan, IncrementalConversions: nan, ROI: nan, RevenuePerDecision: nan},
	}
	var b bytes.Buffer
	if err := writeCampaignTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Per customer: no customer to compare in the period.",
		"Cohorts by first-exposure week: none in the period.",
		"note: campaign conversion: too few to compare: 40 treated, 5 control",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^campaign +conversion +40 +5 +n/a +n/a +n/a +- +- +n/a +- +n/a$`).MatchString(out) ||
		strings.Contains(out, "Bonferroni") || strings.Contains(out, "[0") || strings.Contains(out, "NaN") {
		t.Errorf("the comparison without figures or simultaneous rows shows intervals:\n%s", out)
	}
}

func TestReportCampaignErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		mention []string
	}{
		{"neither", nil, []string{"--campaign NAME or --csv FILE is required"}},
		{"both", []string{"--campaign", "c", "--csv", "x.csv"}, []string{"exclude each other"}},
		{"csv flags", []string{"--campaign", "c", "--metrics", "y"}, []string{"--metrics", "for --csv"}},
		{"postgres and admin", []string{"--campaign", "c", "--postgres", "postgres://x", "--admin", "http://y"}, []string{"--postgres and --admin"}},
		{"format", []string{"--campaign", "c", "--format", "xml"}, []string{`--format "xml"`, "table, json"}},
		{"confidence", []string{"--campaign", "c", "--confidence", "1"}, []string{"--confidence 1"}},
		{"from", []string{"--campaign", "c", "--from", "yesterday"}, []string{"-from", "RFC 3339"}},
		{"period", []string{"--campaign", "c", "--from", "2026-09-02", "--to", "2026-09-01"}, []string{"not after --from"}},
		{"admin", []string{"--campaign", "c", "--admin", "ftp://x"}, []string{"--admin", "127.0.0.1:7401"}},
		{"unknown campaign", []string{"--campaign", "nope", "--postgres", "postgres://127.0.0.1:1/x"}, []string{`no campaign "nope"`, `"cart_recovery"`}},
		{"campaigns file", []string{"--campaign", "c", "--postgres", "postgres://127.0.0.1:1/x", "--campaigns", "/nonexistent.yaml"}, []string{"--campaigns", "nonexistent.yaml"}},
		{"postgres", []string{"--campaign", "cart_recovery", "--postgres", "postgres://127.0.0.1:1/x?connect_timeout=2"}, []string{"--postgres"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runReport(t, tc.args...)
			if err == nil {
				t.Fatalf("report %q: no error", tc.args)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

// TestReportCSVOut: --out writes the CSV experiment's report to a file
// too, the same bytes as on stdout.
func TestReportCSVOut(t *testing.T) {
	args := []string{"--csv", writeCSV(t, "g,y\na,1\nb,0\na,0\nb,1\na,1\n"), "--group", "g", "--control", "b", "--metrics", "y"}
	for _, format := range []string{"table", "json"} {
		want, err := runReport(t, append(args, "--format", format)...)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "out")
		out, err := runReport(t, append(args, "--format", format, "--out", path)...)
		if err != nil || out != "" {
			t.Fatalf("--out: stdout %q, %v", out, err)
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != want {
			t.Errorf("%s in the --out file = %q (%v), want %q", format, got, err, want)
		}
	}
}

// TestReportCampaignServe: without --postgres the report comes from the
// report pages of kairos serve (measurement.Handler on the ledger), the
// same report BuildCampaign makes of the records.
func TestReportCampaignServe(t *testing.T) {
	conf, err := decisioning.DefaultConfig(features.Default())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	ds, rs := campaignRecords(t, 4, 2_000, start, 0.10)
	led := ledger.NewMemory()
	if err := led.WriteDecisions(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
	if err := led.WriteRewards(t.Context(), rs); err != nil {
		t.Fatal(err)
	}
	now := start.AddDate(0, 1, 0)
	srv := httptest.NewServer(measurement.Handler(&ledgerReports{cfg: conf, ledger: led, now: func() time.Time { return now }}, nil))
	defer srv.Close()

	out, err := runReport(t, "--campaign", "cart_recovery", "--admin", srv.URL, "--from", "2026-09-02", "--to", "2026-09-09T12:00:00Z", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	got := campaignJSON(t, out)
	camp, _ := conf.Campaign("cart_recovery")
	want, err := measurement.BuildCampaign(measurement.CampaignInput{Campaign: camp, ControlGroup: conf.Global.ControlGroup,
		Decisions: ds, Rewards: rs, From: start.AddDate(0, 0, 1), To: time.Date(2026, 9, 9, 12, 0, 0, 0, time.UTC), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("report from kairos serve (-BuildCampaign +kairos report):\n%s", diff)
	}

	// The same report as a web page.
	page, err := runReport(t, "--campaign", "cart_recovery", "--admin", srv.URL, "--format", "html")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(strings.TrimSpace(page), "<!DOCTYPE html>") || !strings.Contains(page, "<svg") || !strings.Contains(page, "cart_recovery") {
		t.Errorf("--format html: want a page with its charts, got %.200s", page)
	}

	// The server's own reasons reach the user.
	_, err = runReport(t, "--campaign", "nope", "--admin", srv.URL)
	if err == nil || !strings.Contains(err.Error(), "404 Not Found") || !strings.Contains(err.Error(), `"nope"`) || strings.Contains(err.Error(), `{"error"`) {
		t.Errorf("report of an unknown campaign = %v", err)
	}
	_, err = runReport(t, "--campaign", "cart_recovery", "--admin", srv.URL, "--from", "2027-01-01")
	if err == nil || !strings.Contains(err.Error(), "404 Not Found") {
		t.Errorf("report of an empty period = %v", err)
	}
	t.Logf("%v", err)
}
