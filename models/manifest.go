package models

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"
)

// Task is what a model predicts, and so where the decision layer uses it.
type Task string

// The tasks.
const (
	// Churn: a binary model; its probability is Scores.Churn.
	Churn Task = "churn"
	// Propensity: a binary model of purchase propensity; Scores.Propensity.
	Propensity Task = "propensity"
	// NBA (next best action): a multiclass model over Manifest.Classes;
	// its class probabilities are Scores.NBA.
	NBA Task = "nba"
)

// Tasks lists the tasks in the order Scores reports them.
var Tasks = []Task{Churn, Propensity, NBA}

// Stages of a model version.
const (
	StageActive = "active"
	StageShadow = "shadow"
)

// Manifest describes one model version: <dir>/<name>/<version>/manifest.json.
type Manifest struct {
	Name    string `json:"name"`
	Task    Task   `json:"task"`
	Version string `json:"version"`
	// Features are the model's inputs, in the model's order; each must be
	// defined in the feature definitions.
	Features []string `json:"features"`
	// Classes names the outputs of a multiclass model, in class-index order.
	Classes []string `json:"classes,omitempty"`
	// Categorical maps a categorical feature to its categories in code
	// order (as pandas.Categorical codes them).
	Categorical map[string][]string `json:"categorical,omitempty"`
	// Output is "probability" or "raw".
	Output string `json:"output"`
	// Stage is "active" (may serve) or "shadow" (scores beside the active
	// version, never decides).
	Stage        string             `json:"stage"`
	TrainedAt    time.Time          `json:"trained_at"`
	TrainingData json.RawMessage    `json:"training_data,omitempty"`
	Metrics      map[string]float64 `json:"metrics,omitempty"`
	// Golden holds inputs and LightGBM's own outputs for them: the parity
	// check every version must pass before it may serve.
	Golden Golden `json:"golden"`
}

// Golden inputs and outputs. An input value is a number, null (missing) or,
// for a categorical feature, a category name.
type Golden struct {
	Inputs  [][]any     `json:"inputs"`
	Outputs [][]float64 `json:"outputs"`
}

// ParseManifest decodes and checks a manifest. Errors are *RuleError with
// rule "manifest", naming the field.
func ParseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, ruleErr(RuleManifest, "manifest.json is not valid: %v", err)
	}
	fail := func(format string, args ...any) (*Manifest, error) {
		return nil, ruleErr(RuleManifest, format, args...)
	}
	switch {
	case m.Name == "":
		return fail("name is required")
	case m.Version == "":
		return fail("version is required")
	case !slices.Contains(Tasks, m.Task):
		return fail("task %q: want churn, propensity or nba", m.Task)
	case len(m.Features) == 0:
		return fail("features: at least one feature is required")
	case m.Output != "probability" && m.Output != "raw":
		return fail("output %q: want probability or raw", m.Output)
	case m.Stage != StageActive && m.Stage != StageShadow:
		return fail("stage %q: want active or shadow", m.Stage)
	case m.Task == NBA && len(m.Classes) < 2:
		return fail("classes: an nba model needs at least two classes, got %d", len(m.Classes))
	case m.Task != NBA && len(m.Classes) > 0:
		return fail("classes: only nba models have classes (task is %s)", m.Task)
	case len(m.Golden.Inputs) == 0:
		return fail("golden.inputs: at least one golden row is required (LightGBM's own predictions prove parity)")
	case len(m.Golden.Inputs) != len(m.Golden.Outputs):
		return fail("golden: %d inputs but %d outputs", len(m.Golden.Inputs), len(m.Golden.Outputs))
	}
	seen := map[string]bool{}
	for i, f := range m.Features {
		if f == "" || seen[f] {
			return fail("features[%d]: %q is empty or repeated", i, f)
		}
		seen[f] = true
	}
	for f, cats := range m.Categorical {
		if !seen[f] {
			return fail("categorical: %q is not one of the features", f)
		}
		if len(cats) == 0 {
			return fail("categorical.%s: no categories", f)
		}
	}
	for i, row := range m.Golden.Inputs {
		if len(row) != len(m.Features) {
			return fail("golden.inputs[%d]: %d values for %d features", i, len(row), len(m.Features))
		}
		for j, v := range row {
			switch v.(type) {
			case nil, json.Number:
			case string:
				if _, ok := m.Categorical[m.Features[j]]; !ok {
					return fail("golden.inputs[%d][%d]: %q for %s, which is not categorical", i, j, v, m.Features[j])
				}
			default:
				return fail("golden.inputs[%d][%d]: want a number, null or a category name", i, j)
			}
		}
	}
	return &m, nil
}
