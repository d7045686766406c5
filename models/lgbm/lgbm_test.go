package lgbm

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"kairos/models"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// tolerance bounds |leaves − LightGBM| per output: absolute for values
// within ±1, relative beyond (raw scores and poisson outputs can be large).
const tolerance = 1e-6

func within(got, want float64) bool {
	return math.Abs(got-want) <= tolerance*max(1, math.Abs(want))
}

func readModel(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parse(t testing.TB, name string) *Model {
	t.Helper()
	m, err := Parse(readModel(t, name))
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return m
}

// readCSV reads a gzipped CSV of testdata: its header and records.
func readCSV(t testing.TB, name string) ([]string, [][]string) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(zr).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return recs[0], recs[1:]
}

// num reads a CSV number; empty is NaN. ParseFloat reads Python's repr
// ("nan", "inf", "-inf" included) exactly.
func num(t testing.TB, s string) float64 {
	t.Helper()
	if s == "" {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// golden is LightGBM's raw and transformed outputs, row by row.
type golden struct{ raw, pred [][]float64 }

func readGolden(t testing.TB, name string) golden {
	t.Helper()
	header, recs := readCSV(t, name)
	k := len(header) / 2
	var g golden
	for _, r := range recs {
		var raw, pred []float64
		for i, s := range r {
			if i < k {
				raw = append(raw, num(t, s))
			} else {
				pred = append(pred, num(t, s))
			}
		}
		g.raw, g.pred = append(g.raw, raw), append(g.pred, pred)
	}
	return g
}

// numericRows reads an inputs file of numbers.
func numericRows(t testing.TB, name string) [][]float64 {
	t.Helper()
	_, recs := readCSV(t, name)
	rows := make([][]float64, len(recs))
	for i, r := range recs {
		for _, s := range r {
			rows[i] = append(rows[i], num(t, s))
		}
	}
	return rows
}

// namedRows reads categorical.csv.gz: category names become codes through
// Categories made from the model's pandas_categorical, the k-th list for
// the k-th categorical column (the training DataFrame's category columns,
// which are also the model's categorical features here).
func namedRows(t testing.TB, m *Model, name string) [][]float64 {
	t.Helper()
	h := m.Header()
	cats := map[int]models.Categories{}
	for k, j := range h.CategoricalFeatures {
		cats[j] = models.NewCategories(h.PandasCategorical[k])
	}
	header, recs := readCSV(t, name)
	if !slices.Equal(header, h.FeatureNames) {
		t.Fatalf("%s columns %v, model features %v", name, header, h.FeatureNames)
	}
	rows := make([][]float64, len(recs))
	missing, unseen := 0, 0
	for i, r := range recs {
		for j, s := range r {
			c, ok := cats[j]
			if !ok {
				rows[i] = append(rows[i], num(t, s))
				continue
			}
			code := c.Code(s) // "" (missing) and unseen names are NaN
			switch {
			case s == "":
				missing++
			case math.IsNaN(code):
				unseen++
			}
			rows[i] = append(rows[i], code)
		}
	}
	if missing == 0 || unseen == 0 {
		t.Fatalf("%s: %d missing and %d unseen categories, want some of each", name, missing, unseen)
	}
	return rows
}

// TestParity compares leaves' outputs, through Model, with LightGBM 4.7's
// own predict on thousands of rows per model (gen.py).
func TestParity(t *testing.T) {
	tests := []struct {
		model, inputs, golden string
	}{
		{"binary.txt", "inputs.csv.gz", "binary.golden.csv.gz"},
		{"binary_v3.txt", "inputs.csv.gz", "binary.golden.csv.gz"},
		{"multiclass.txt", "inputs.csv.gz", "multiclass.golden.csv.gz"},
		{"regression.txt", "inputs.csv.gz", "regression.golden.csv.gz"},
		{"poisson.txt", "inputs.csv.gz", "poisson.golden.csv.gz"},
		{"rf.txt", "inputs.csv.gz", "rf.golden.csv.gz"},
		{"categorical.txt", "categorical.csv.gz", "categorical.golden.csv.gz"},
		{"categorical.txt", "categorical_codes.csv.gz", "categorical_codes.golden.csv.gz"},
	}
	for _, tt := range tests {
		t.Run(tt.model+"/"+tt.inputs, func(t *testing.T) {
			m := parse(t, tt.model)
			var rows [][]float64
			if tt.inputs == "categorical.csv.gz" {
				rows = namedRows(t, m, tt.inputs)
			} else {
				rows = numericRows(t, tt.inputs)
			}
			g := readGolden(t, tt.golden)
			if len(rows) != len(g.raw) || len(rows) < 1000 {
				t.Fatalf("%d input rows, %d golden rows", len(rows), len(g.raw))
			}
			raw, pred := make([]float64, m.NumOutputs()), make([]float64, m.NumOutputs())
			var maxRaw, maxPred float64
			nan := 0
			for i, row := range rows {
				if slices.ContainsFunc(row, math.IsNaN) {
					nan++
				}
				m.PredictRaw(row, raw)
				m.Predict(row, pred)
				for k := range raw {
					if !within(raw[k], g.raw[i][k]) || !within(pred[k], g.pred[i][k]) {
						t.Fatalf("row %d %v output %d: leaves raw %.17g pred %.17g, LightGBM raw %.17g pred %.17g",
							i, row, k, raw[k], pred[k], g.raw[i][k], g.pred[i][k])
					}
					maxRaw = max(maxRaw, math.Abs(raw[k]-g.raw[i][k]))
					maxPred = max(maxPred, math.Abs(pred[k]-g.pred[i][k]))
				}
			}
			if nan == 0 {
				t.Error("no row has a NaN")
			}
			t.Logf("%d rows (%d with NaN): max |Δ| raw %.3g, predict %.3g", len(rows), nan, maxRaw, maxPred)
		})
	}
}

// TestV3AndV4 shows that the v4 file and its v3 rewrite load to the same
// model (TestParity checks both against LightGBM).
func TestV3AndV4(t *testing.T) {
	v4, v3 := parse(t, "binary.txt"), parse(t, "binary_v3.txt")
	if v4.Header().Version != "v4" || v3.Header().Version != "v3" {
		t.Fatalf("versions %q, %q", v4.Header().Version, v3.Header().Version)
	}
	h4, h3 := v4.Header(), v3.Header()
	h3.Version = "v4"
	if !equalHeaders(h4, h3) {
		t.Errorf("headers differ:\n%+v\n%+v", h4, h3)
	}
}

func equalHeaders(a, b Header) bool {
	return a.Version == b.Version && a.NumClass == b.NumClass && a.NumTreePerIteration == b.NumTreePerIteration &&
		a.MaxFeatureIdx == b.MaxFeatureIdx && slices.Equal(a.FeatureNames, b.FeatureNames) &&
		a.Objective == b.Objective && a.ObjectiveName == b.ObjectiveName && a.LinearTree == b.LinearTree &&
		a.NumTrees == b.NumTrees && slices.Equal(a.TreeSizes, b.TreeSizes) &&
		slices.EqualFunc(a.PandasCategorical, b.PandasCategorical, slices.Equal) &&
		slices.Equal(a.CategoricalFeatures, b.CategoricalFeatures) && a.AverageOutput == b.AverageOutput
}

func TestHeader(t *testing.T) {
	tests := []struct {
		model string
		want  Header
	}{
		{"binary.txt", Header{Version: "v4", NumClass: 1, NumTreePerIteration: 1, MaxFeatureIdx: 5,
			FeatureNames: []string{"sessions_7d", "sessions_30d", "purchases_30d", "days_since_login", "spend_90d", "tenure_days"},
			Objective:    "binary sigmoid:1", ObjectiveName: "binary", NumTrees: 12}},
		{"multiclass.txt", Header{Version: "v4", NumClass: 3, NumTreePerIteration: 3, MaxFeatureIdx: 5,
			FeatureNames: []string{"sessions_7d", "sessions_30d", "purchases_30d", "days_since_login", "spend_90d", "tenure_days"},
			Objective:    "multiclass num_class:3", ObjectiveName: "multiclass", NumTrees: 18}},
		{"rf.txt", Header{Version: "v4", NumClass: 1, NumTreePerIteration: 1, MaxFeatureIdx: 5,
			FeatureNames: []string{"sessions_7d", "sessions_30d", "purchases_30d", "days_since_login", "spend_90d", "tenure_days"},
			Objective:    "binary sigmoid:1", ObjectiveName: "binary", NumTrees: 5, AverageOutput: true}},
		{"categorical.txt", Header{Version: "v4", NumClass: 1, NumTreePerIteration: 1, MaxFeatureIdx: 4,
			FeatureNames: []string{"sessions_7d", "plan", "channel", "spend_90d", "country"},
			Objective:    "binary sigmoid:1", ObjectiveName: "binary", NumTrees: 12,
			PandasCategorical: [][]string{
				{"basic", "plus", "pro"},
				{"ch00", "ch01", "ch02", "ch03", "ch04", "ch05", "ch06", "ch07", "ch08", "ch09", "ch10", "ch11"},
				{"c00", "c01", "c02", "c03", "c04", "c05", "c06", "c07", "c08", "c09", "c10", "c11", "c12", "c13", "c14",
					"c15", "c16", "c17", "c18", "c19", "c20", "c21", "c22", "c23", "c24", "c25", "c26", "c27", "c28", "c29",
					"c30", "c31", "c32", "c33", "c34", "c35", "c36", "c37", "c38", "c39", "c40", "c41", "c42", "c43", "c44"},
			},
			CategoricalFeatures: []int{1, 2, 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			m := parse(t, tt.model)
			got := m.Header()
			if len(got.TreeSizes) != got.NumTrees {
				t.Errorf("%d tree sizes for %d trees", len(got.TreeSizes), got.NumTrees)
			}
			got.TreeSizes = nil
			if !equalHeaders(tt.want, got) {
				t.Errorf("Header():\nwant %+v\ngot  %+v", tt.want, got)
			}
			if m.NumOutputs() != tt.want.NumClass || m.NumFeatures() != tt.want.MaxFeatureIdx+1 {
				t.Errorf("NumOutputs %d, NumFeatures %d", m.NumOutputs(), m.NumFeatures())
			}
		})
	}
}

// TestRules has one failing fixture per rule, each made by LightGBM (and,
// for what no training option produces, edited as gen.py says).
func TestRules(t *testing.T) {
	binary := string(readModel(t, "binary.txt"))
	cat := string(readModel(t, "categorical.txt"))
	tests := []struct {
		name string
		text []byte
		rule string
		msg  string // in the error's Msg
	}{
		{"linear tree", readModel(t, "linear_tree.txt"), RuleLinearTree, `linear trees`},
		{"objective cross_entropy", readModel(t, "cross_entropy.txt"), RuleObjective, `"cross_entropy" is not on the allow-list`},
		{"objective regression sqrt", readModel(t, "regression_sqrt.txt"), RuleObjective, `"regression sqrt"`},
		{"objective multiclassova", readModel(t, "multiclassova.txt"), RuleObjective, `"multiclassova num_class:3 sigmoid:1" is not on the allow-list`},
		{"objective num_class differs from num_class", readModel(t, "multiclass_num_class.txt"), RuleObjective, `want "multiclass num_class:3"`},
		{"version v9", readModel(t, "version_v9.txt"), RuleFormatVersion, `version=v9`},
		{"version v9 with a new key", edit(t, binary, "version=v4\nnum_class=1\n", "version=v9\nnum_class=1\nnew_key=1\n"), RuleFormatVersion, `version=v9`},
		{"truncated in a tree", readModel(t, "truncated.txt"), RuleParse, `truncated: no "end of trees"`},
		{"tree_sizes one short", readModel(t, "tree_sizes.txt"), RuleTreeCounts, `tree_sizes lists 5 trees, the file has 6`},
		{"num_tree_per_iteration differs from num_class", readModel(t, "num_tree_per_iteration.txt"), RuleTreeCounts, `num_tree_per_iteration=1 but num_class=3`},
		{"feature_names one short", readModel(t, "feature_names.txt"), RuleFeatureNames, `feature_names has 5 names, max_feature_idx+1 = 6`},
		// Edits of binary.txt in the test, where a fixture file would only repeat it.
		{"no version", edit(t, binary, "version=v4\n", ""), RuleFormatVersion, `no version line`},
		{"unknown header key", edit(t, binary, "label_index=0\n", "label_index=0\nnew_key=1\n"), RuleFormatVersion, `unknown header key "new_key"`},
		{"unknown tree key", edit(t, binary, "shrinkage=1\n", "shrinkage=1\nnew_key=1\n"), RuleFormatVersion, `Tree=0: unknown key "new_key"`},
		{"is_linear=1", edit(t, binary, "is_linear=0\n", "is_linear=1\n"), RuleLinearTree, `linear trees`},
		{"parameters linear_tree: 1", edit(t, binary, "[linear_tree: 0]\n", "[linear_tree: 1]\n"), RuleLinearTree, `linear trees`},
		{"no objective", edit(t, binary, "objective=binary sigmoid:1\n", ""), RuleObjective, `no objective line`},
		{"binary sigmoid:2", edit(t, binary, "objective=binary sigmoid:1\n", "objective=binary sigmoid:2\n"), RuleObjective, `only "binary sigmoid:1"`},
		{"lambdarank", edit(t, binary, "objective=binary sigmoid:1\n", "objective=lambdarank\n"), RuleObjective, `"lambdarank" is not on the allow-list`},
		{"repeated feature name", edit(t, binary, "sessions_30d ", "sessions_7d "), RuleFeatureNames, `"sessions_7d" appears twice`},
		{"no feature_names", editRe(t, binary, `(?m)^feature_names=.*\n`, ""), RuleFeatureNames, `no feature_names line`},
		{"tree size wrong", edit(t, binary, "tree_sizes=", "tree_sizes=1"), RuleTreeCounts, `Tree=0 is 963 bytes, tree_sizes says 1963`},
		{"no tree_sizes", editRe(t, binary, `(?m)^tree_sizes=.*\n`, ""), RuleTreeCounts, `no tree_sizes line`},
		{"truncated before end of trees", []byte(binary[:strings.Index(binary, "end of trees")]), RuleParse, `truncated: no "end of trees"`},
		{"truncated in parameters", []byte(binary[:strings.Index(binary, "[max_bin:")]), RuleParse, `truncated: "parameters:" without`},
		{"truncated in the header", []byte(binary[:strings.Index(binary, "feature_infos=")]), RuleParse, `truncated: the text ends before the first tree`},
		{"truncated in pandas_categorical", []byte(cat[:len(cat)-20]), RuleParse, `truncated: pandas_categorical`},
		{"CRLF", bytes.ReplaceAll([]byte(binary), []byte("\n"), []byte("\r\n")), RuleParse, `carriage returns`},
		{"split feature beyond max_feature_idx", editRe(t, binary, `split_feature=\d+`, "split_feature=6"), RuleParse, `splits on feature 6, max_feature_idx is 5`},
		{"child out of range", editRe(t, binary, `left_child=-?\d+`, "left_child=99"), RuleParse, `has child 99`},
		{"child reached twice", editRe(t, binary, `left_child=-?\d+ -?\d+`, "left_child=-1 -1"), RuleParse, `is reached twice`},
		{"root as a child", editRe(t, binary, `left_child=-?\d+`, "left_child=0"), RuleParse, `has child 0`},
		{"leaf_value one short", editRe(t, binary, `(leaf_value=\S+) \S+`, "$1"), RuleParse, `leaf_value has 7 values, want 8`},
		{"huge num_leaves", editRe(t, binary, `num_leaves=\d+`, "num_leaves=1000000000000"), RuleParse, `want 1000000000000`},
		{"missing type 3", editRe(t, binary, `decision_type=\d+`, "decision_type=12"), RuleParse, `decision_type 12 unknown`},
		{"no blank line between trees", editRe(t, binary, `\n\n+Tree=1\n`, "\nTree=1\n"), RuleParse, `no blank line between Tree=0 and "Tree=1"`},
		{"tree out of order", edit(t, binary, "Tree=1\n", "Tree=2\n"), RuleParse, `found "Tree=2" where "Tree=1" should start`},
		{"no end of trees but parameters", edit(t, binary, "end of trees\n", ""), RuleParse, `unexpected line "feature_importances:"`},
		{"empty", nil, RuleParse, `not a LightGBM text model`},
		{"JSON dump", []byte(`{"name":"tree","version":"v4"}`), RuleParse, `not a LightGBM text model`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.text)
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("Parse = %v, %v; want a *RuleError %q", m, err, tt.rule)
			}
			if re.Rule != tt.rule {
				t.Errorf("rule %q (%v), want %q", re.Rule, err, tt.rule)
			}
			if !strings.Contains(re.Msg, tt.msg) {
				t.Errorf("error %q, want it to say %q", err, tt.msg)
			}
			if m != nil {
				t.Error("a model came back with the error")
			}
		})
	}
}

// edit replaces the first old in s with new, failing when s has no old.
func edit(t testing.TB, s, old, new string) []byte {
	t.Helper()
	i := strings.Index(s, old)
	if i < 0 {
		t.Fatalf("edit: %q not found", old)
	}
	return []byte(s[:i] + new + s[i+len(old):])
}

// editRe replaces the first match of the regular expression re in s with
// repl (which may use $1), failing when nothing matches.
func editRe(t testing.TB, s, re, repl string) []byte {
	t.Helper()
	r := regexp.MustCompile(re)
	loc := r.FindStringSubmatchIndex(s)
	if loc == nil {
		t.Fatalf("editRe: %q does not match", re)
	}
	return []byte(s[:loc[0]] + string(r.ExpandString(nil, repl, s, loc)) + s[loc[1]:])
}
