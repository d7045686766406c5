package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"slices"
	"strconv"

	"kairos/features"
)

// The validation rules. Every refusal names one, in errors, in
// `kairos models status` and in the kairos_model_refused_total metric.
const (
	RuleManifest      = "manifest"       // manifest.json missing, malformed or incomplete
	RuleFormatVersion = "format_version" // LightGBM text format other than v2, v3, v4
	RuleFeatureNames  = "feature_names"  // file's feature_names ≠ manifest's, or undefined features
	RuleObjective     = "objective"      // objective not on the allow-list, or not the task's
	RuleLinearTree    = "linear_tree"    // linear trees (leaves ignores their coefficients)
	RuleTreeCounts    = "tree_counts"    // tree_sizes, num_tree_per_iteration, num_class disagree
	RuleParse         = "parse"          // truncated or corrupt model text
	RuleClassCount    = "class_count"    // num_class ≠ len(classes)
	RuleCategorical   = "categorical"    // categorical mapping disagrees with the model
	RuleGoldenParity  = "golden_parity"  // leaves' outputs ≠ LightGBM's golden outputs
	RuleTask          = "task"           // another model already serves the task
)

// RuleError is a model refused by a validation rule.
type RuleError struct {
	Rule string
	Msg  string
}

func (e *RuleError) Error() string { return e.Rule + ": " + e.Msg }

func ruleErr(rule, format string, args ...any) *RuleError {
	return &RuleError{Rule: rule, Msg: fmt.Sprintf(format, args...)}
}

// Header is what a model file says about the model besides its trees.
type Header struct {
	// Version is the LightGBM text format version: "v2", "v3" or "v4".
	Version       string
	NumClass      int
	MaxFeatureIdx int
	FeatureNames  []string
	// Objective is the whole objective line ("binary sigmoid:1"),
	// ObjectiveName its first word.
	Objective, ObjectiveName string
	// PandasCategorical holds the category lists of pandas_categorical,
	// one per categorical column in order (nil when there is none).
	PandasCategorical [][]string
	// CategoricalFeatures are the feature indices some split uses as
	// categorical, ascending.
	CategoricalFeatures []int
}

// Booster is a parsed model file, ready to predict: what models/lgbm
// provides (the only package that imports leaves).
type Booster interface {
	Info() Header
	// NumOutputs is 1, or the number of classes.
	NumOutputs() int
	// Predict writes the model's transformed outputs (probabilities for
	// binary and multiclass) for row (NaN = missing) into out, without
	// allocating; PredictRaw writes raw scores.
	Predict(row, out []float64)
	PredictRaw(row, out []float64)
}

// Parser parses a model file, refusing it with a *RuleError for the rules
// of the file itself (format version, objective, linear trees, tree
// counts, integrity).
type Parser func(text []byte) (Booster, error)

// GoldenTolerance is the largest difference allowed between leaves' and
// LightGBM's outputs on the golden inputs.
const GoldenTolerance = 1e-6

// Model is one validated model version, ready to score.
type Model struct {
	Manifest *Manifest
	// Dir is the version's directory, as the registry found it.
	Dir string
	m   Booster
	// idString is name@version.
	idString string
	// index maps the model's inputs to positions in the feature vector of
	// the registry's feature set.
	index []int
	cats  map[int]Categories
	// numCats maps, for each categorical input, a feature value to its
	// category code (absent: unseen, missing).
	numCats map[int]map[float64]float64
}

// NumOutputs is the number of outputs: 1, or the number of classes.
func (m *Model) NumOutputs() int { return m.m.NumOutputs() }

// Load reads and validates the model version in directory dir of fsys
// (manifest.json and model.txt) against the feature definitions of set.
// parse reads model.txt (lgbm.Parser). A refused model comes back as a
// *RuleError naming the rule.
func Load(fsys fs.FS, dir string, set *features.Set, parse Parser) (*Model, error) {
	data, err := fs.ReadFile(fsys, path.Join(dir, "manifest.json"))
	if err != nil {
		return nil, ruleErr(RuleManifest, "read manifest.json: %v", err)
	}
	man, err := ParseManifest(data)
	if err != nil {
		return nil, err
	}
	text, err := fs.ReadFile(fsys, path.Join(dir, "model.txt"))
	if err != nil {
		return nil, ruleErr(RuleParse, "read model.txt: %v", err)
	}
	lm, err := parse(text)
	if err != nil {
		if re := (*RuleError)(nil); errors.As(err, &re) {
			return nil, re
		}
		return nil, ruleErr(RuleParse, "%v", err)
	}
	if path.Base(dir) != man.Version {
		return nil, ruleErr(RuleManifest, "version %q, but the version directory is %q", man.Version, path.Base(dir))
	}
	if parent := path.Dir(dir); parent != "." && path.Base(parent) != man.Name {
		return nil, ruleErr(RuleManifest, "name %q, but the model directory is %q", man.Name, path.Base(parent))
	}
	m := &Model{Manifest: man, Dir: dir, m: lm, idString: man.Name + "@" + man.Version}
	if err := m.check(set); err != nil {
		return nil, err
	}
	return m, nil
}

// check applies the rules leaves' parser does not: the features, the
// objective against the task, the classes, the categories, and golden
// parity.
func (m *Model) check(set *features.Set) error {
	man, h := m.Manifest, m.m.Info()
	if !slices.Equal(h.FeatureNames, man.Features) {
		return ruleErr(RuleFeatureNames, "the model's feature_names differ from the manifest's features %s; name and position must match",
			diffNames(h.FeatureNames, man.Features))
	}
	if h.MaxFeatureIdx+1 != len(man.Features) {
		return ruleErr(RuleFeatureNames, "max_feature_idx+1 = %d but the manifest has %d features", h.MaxFeatureIdx+1, len(man.Features))
	}
	names := set.Names()
	m.index = make([]int, len(man.Features))
	for i, f := range man.Features {
		m.index[i] = slices.Index(names, f)
		if m.index[i] < 0 {
			return ruleErr(RuleFeatureNames, "feature %q is not defined in the feature definitions", f)
		}
	}
	switch man.Task {
	case Churn, Propensity:
		if h.ObjectiveName != "binary" {
			return ruleErr(RuleObjective, "a %s model must be binary, got objective %q", man.Task, h.Objective)
		}
	case NBA:
		if h.ObjectiveName != "multiclass" {
			return ruleErr(RuleObjective, "an nba model must be multiclass, got objective %q", h.Objective)
		}
		if h.NumClass != len(man.Classes) {
			return ruleErr(RuleClassCount, "the model has num_class=%d but the manifest names %d classes", h.NumClass, len(man.Classes))
		}
	}
	if man.Output != "probability" {
		// Scores.Churn, Propensity and NBA are probabilities: a raw score
		// there would be read as one.
		return ruleErr(RuleObjective, "output %q: a %s model must output probabilities", man.Output, man.Task)
	}
	if err := m.checkCategories(h); err != nil {
		return err
	}
	return m.checkGolden()
}

func (m *Model) checkCategories(h Header) error {
	man := m.Manifest
	var catIdx []int
	for i, f := range man.Features {
		if _, ok := man.Categorical[f]; ok {
			catIdx = append(catIdx, i)
		}
	}
	for _, i := range h.CategoricalFeatures {
		if !slices.Contains(catIdx, i) {
			return ruleErr(RuleCategorical, "the model splits on feature %d (%s) as categorical, but the manifest does not declare its categories", i, man.Features[i])
		}
	}
	if h.PandasCategorical != nil {
		if len(h.PandasCategorical) != len(catIdx) {
			return ruleErr(RuleCategorical, "pandas_categorical has %d features, the manifest declares %d", len(h.PandasCategorical), len(catIdx))
		}
		for k, i := range catIdx {
			if !slices.Equal(h.PandasCategorical[k], man.Categorical[man.Features[i]]) {
				return ruleErr(RuleCategorical, "categories of %s: the model's pandas_categorical %q differ from the manifest's %q",
					man.Features[i], h.PandasCategorical[k], man.Categorical[man.Features[i]])
			}
		}
	}
	m.cats = map[int]Categories{}
	m.numCats = map[int]map[float64]float64{}
	for _, i := range catIdx {
		cats := man.Categorical[man.Features[i]]
		m.cats[i] = NewCategories(cats)
		// Online, the feature vector holds numbers: a category must be a
		// number to be found there, and is mapped to its code at serve time.
		codes := make(map[float64]float64, len(cats))
		for code, c := range cats {
			v, err := strconv.ParseFloat(c, 64)
			if err != nil || math.IsNaN(v) {
				return ruleErr(RuleCategorical, "category %q of %s is not a number; online features are numbers, so categories must be too", c, man.Features[i])
			}
			codes[v] = float64(code)
		}
		m.numCats[i] = codes
	}
	return nil
}

// checkGolden scores the golden inputs and compares with LightGBM's outputs.
func (m *Model) checkGolden() error {
	man := m.Manifest
	row := make([]float64, len(man.Features))
	out := make([]float64, m.NumOutputs())
	for i, in := range man.Golden.Inputs {
		if len(man.Golden.Outputs[i]) != len(out) {
			return ruleErr(RuleManifest, "golden.outputs[%d]: %d values, the model has %d outputs", i, len(man.Golden.Outputs[i]), len(out))
		}
		for j, v := range in {
			switch v := v.(type) {
			case nil:
				row[j] = math.NaN()
			case json.Number:
				f, err := v.Float64()
				if err != nil {
					return ruleErr(RuleManifest, "golden.inputs[%d][%d]: %v", i, j, err)
				}
				row[j] = f
			case string:
				row[j] = m.cats[j].Code(v)
			}
		}
		m.predict(row, out)
		for k, want := range man.Golden.Outputs[i] {
			if d := math.Abs(out[k] - want); !(d <= GoldenTolerance) {
				return ruleErr(RuleGoldenParity, "golden row %d, output %d: leaves gives %.17g, LightGBM gave %.17g (|Δ| %.3g > %g)",
					i, k, out[k], want, d, GoldenTolerance)
			}
		}
	}
	return nil
}

// predict scores one row in the model's feature order.
func (m *Model) predict(row, out []float64) {
	if m.Manifest.Output == "raw" {
		m.m.PredictRaw(row, out)
		return
	}
	m.m.Predict(row, out)
}

// ScoreRow scores one row in the model's feature order (NaN = missing;
// categories as their codes, see Category) into out (NumOutputs values).
// It is the path of `kairos models score`; the serving path is
// Registry.Score.
func (m *Model) ScoreRow(row, out []float64) { m.predict(row, out) }

// Category returns the code of a category of the model's i-th feature,
// given by name or as the number the feature vector would hold, and
// whether that feature is categorical. An unseen category is NaN.
func (m *Model) Category(i int, value string) (float64, bool) {
	c, ok := m.cats[i]
	if !ok {
		return 0, false
	}
	if code := c.Code(value); !math.IsNaN(code) {
		return code, true
	}
	if v, err := strconv.ParseFloat(value, 64); err == nil {
		if code, ok := m.numCats[i][v]; ok {
			return code, true
		}
	}
	return math.NaN(), true
}

// diffNames describes where two name lists first differ.
func diffNames(got, want []string) string {
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return fmt.Sprintf("(first difference at position %d: model %q, manifest %q; %d vs %d names)", i, g, w, len(got), len(want))
		}
	}
	return ""
}
