package training_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kairos/features"
	"kairos/internal/pyenv"
	"kairos/internal/simtest"
	"kairos/training"
)

// writeExport exports evs to a file at path.
func writeExport(t *testing.T, path string, evs []features.Event, opts training.Options) training.Stats {
	t.Helper()
	var buf bytes.Buffer
	st, err := training.Export(context.Background(), training.NewMemorySource(evs), &buf, opts)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return st
}

// runTrain runs `python3 -m training.train args...` from the repository root.
func runTrain(t *testing.T, py string, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{"-m", "training.train"}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// manifest is the manifest.json that training/train.py writes, as far as
// this test checks it (the registry in package models validates it fully).
type manifest struct {
	Name         string              `json:"name"`
	Task         string              `json:"task"`
	Version      string              `json:"version"`
	Features     []string            `json:"features"`
	Classes      []string            `json:"classes"`
	Categorical  map[string][]string `json:"categorical"`
	Output       string              `json:"output"`
	Stage        string              `json:"stage"`
	TrainedAt    time.Time           `json:"trained_at"`
	TrainingData struct {
		Path   string            `json:"path"`
		Rows   int               `json:"rows"`
		From   time.Time         `json:"from"`
		To     time.Time         `json:"to"`
		Label  string            `json:"label"`
		Export map[string]string `json:"export"`
	} `json:"training_data"`
	Metrics map[string]float64 `json:"metrics"`
	Golden  struct {
		Inputs  [][]*float64 `json:"inputs"`
		Outputs [][]float64  `json:"outputs"`
	} `json:"golden"`
}

// TestTrainPython trains the three models with training/train.py on a
// small simulated export and checks the model directories it writes: the
// manifests, the golden rows, the model files, and that the same data
// gives the same files again.
func TestTrainPython(t *testing.T) {
	py := pyenv.Python(t, "lightgbm", "pandas", "pyarrow", "sklearn")
	start := time.Now()
	data, st := simtest.Export(t, 1500, 60)
	t.Logf("export: %d rows of %d customers from %d events in %s", st.Rows, st.Customers, st.Events, time.Since(start).Round(time.Millisecond))

	// The training time fixed, as SOURCE_DATE_EPOCH does for reproducible builds.
	env := []string{"SOURCE_DATE_EPOCH=1793491200"}
	out := t.TempDir()
	start = time.Now()
	stdout, stderr, err := runTrain(t, py, env, "--data", data, "--out", out, "--version", "20261101-s7")
	if err != nil {
		t.Fatalf("training.train: %v\n%s%s", err, stdout, stderr)
	}
	t.Logf("training.train in %s:\n%s", time.Since(start).Round(time.Millisecond), stdout)

	wantFeatures := features.Default().Names()
	tasks := map[string]string{"churn": "churn30", "propensity": "purchase7", "nba": "next_category14"}
	for name, label := range tasks {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(out, name, "20261101-s7")
			if !strings.Contains(stdout, "wrote "+dir+":") {
				t.Errorf("stdout does not report %s:\n%s", dir, stdout)
			}
			raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
			if err != nil {
				t.Fatal(err)
			}
			var m manifest
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatalf("manifest.json: %v", err)
			}
			if m.Name != name || m.Task != name || m.Version != "20261101-s7" || m.Output != "probability" || m.Stage != "active" {
				t.Errorf("name, task, version, output, stage = %q, %q, %q, %q, %q", m.Name, m.Task, m.Version, m.Output, m.Stage)
			}
			if diff := cmp.Diff(wantFeatures, m.Features); diff != "" {
				t.Errorf("features are not the export's feature columns (-want +got):\n%s", diff)
			}
			if m.Categorical == nil || len(m.Categorical) != 0 {
				t.Errorf("categorical = %v, want {}", m.Categorical)
			}
			if want := time.Unix(1793491200, 0).UTC(); !m.TrainedAt.Equal(want) || !bytes.Contains(raw, []byte(`"trained_at": "2026-11-01T00:00:00Z"`)) {
				t.Errorf("trained_at = %s, want SOURCE_DATE_EPOCH, %s, in RFC 3339 UTC", m.TrainedAt, want.Format(time.RFC3339))
			}
			td := m.TrainingData
			if td.Path != data || td.Label != label || td.Rows < 1000 || td.Rows > int(st.Rows) || !td.From.Before(td.To) {
				t.Errorf("training_data = %+v; want path %s, label %s, 1000 to %d rows", td, data, label, st.Rows)
			}
			if td.Export["kairos.export.version"] != "1" || td.Export["kairos.export.labels"] != "churn30,purchase7,next_category14" {
				t.Errorf("training_data.export = %v, want the export's kairos.export.* metadata", td.Export)
			}

			width := 1
			if name == "nba" {
				if len(m.Classes) < 3 || !slices.IsSorted(m.Classes) || !slices.Contains(m.Classes, "none") {
					t.Errorf("classes = %q, want the sorted categories and none", m.Classes)
				}
				width = len(m.Classes)
			} else if m.Classes != nil {
				t.Errorf("classes = %q, want none for a binary model", m.Classes)
			}
			for _, k := range []string{"auc", "logloss", "validation_rows", "train_rows", "best_iteration"} {
				if _, ok := m.Metrics[k]; !ok {
					t.Errorf("metrics.%s missing: %v", k, m.Metrics)
				}
			}
			if name == "churn" && m.Metrics["auc"] <= 0.6 {
				t.Errorf("churn: validation AUC %.3f, want > 0.6", m.Metrics["auc"])
			}
			if n := m.Metrics["validation_rows"] + m.Metrics["train_rows"]; int(n) != td.Rows {
				t.Errorf("train_rows + validation_rows = %v, want training_data.rows %d", n, td.Rows)
			}

			g := m.Golden
			if len(g.Inputs) != 250 || len(g.Outputs) != len(g.Inputs) {
				t.Fatalf("golden: %d inputs, %d outputs; want 250 of each (200 validation rows, 50 synthetic)", len(g.Inputs), len(g.Outputs))
			}
			nulls := 0
			for i, in := range g.Inputs {
				if len(in) != len(m.Features) {
					t.Fatalf("golden.inputs[%d]: %d values for %d features", i, len(in), len(m.Features))
				}
				for _, v := range in {
					if v == nil {
						nulls++
					}
				}
				out := g.Outputs[i]
				sum := 0.0
				for _, p := range out {
					if !(p >= 0 && p <= 1) {
						t.Fatalf("golden.outputs[%d] = %v: want probabilities", i, out)
					}
					sum += p
				}
				if len(out) != width || (width > 1 && (sum < 1-1e-9 || sum > 1+1e-9)) {
					t.Fatalf("golden.outputs[%d] = %v: want %d probabilities (summing to 1 for classes)", i, out, width)
				}
			}
			if min := len(g.Inputs) * len(m.Features) / 10; nulls < min {
				t.Errorf("golden inputs have %d nulls, want at least %d (synthetic rows with missing values)", nulls, min)
			}

			model, err := os.ReadFile(filepath.Join(dir, "model.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(model, []byte("tree\nversion=v4\n")) {
				t.Errorf("model.txt starts %q, want LightGBM's v4 text format", model[:min(len(model), 20)])
			}
			if !bytes.Contains(model, []byte("\nfeature_names="+strings.Join(wantFeatures, " ")+"\n")) {
				t.Error("model.txt: feature_names are not the manifest's features")
			}
			if len(model) > 1<<20 {
				t.Errorf("model.txt is %d bytes, want < 1 MiB", len(model))
			}
		})
	}

	// The same data and seed give the same files, byte for byte.
	t.Run("reproducible", func(t *testing.T) {
		again := t.TempDir()
		if stdout, stderr, err := runTrain(t, py, env, "--data", data, "--out", again, "--version", "20261101-s7", "--models", "churn"); err != nil {
			t.Fatalf("training.train: %v\n%s%s", err, stdout, stderr)
		}
		for _, f := range []string{"model.txt", "manifest.json"} {
			a, errA := os.ReadFile(filepath.Join(out, "churn", "20261101-s7", f))
			b, errB := os.ReadFile(filepath.Join(again, "churn", "20261101-s7", f))
			if errA != nil || errB != nil {
				t.Fatal(errA, errB)
			}
			if !bytes.Equal(a, b) {
				t.Errorf("%s differs between two runs on the same data", f)
			}
		}
	})

	// An existing version is not replaced without --overwrite.
	t.Run("immutable", func(t *testing.T) {
		_, stderr, err := runTrain(t, py, nil, "--data", data, "--out", out, "--version", "20261101-s7", "--models", "propensity")
		if err == nil || !strings.Contains(stderr, filepath.Join(out, "propensity", "20261101-s7")+": exists") {
			t.Errorf("training again into an existing version: %v, %q; want a failure naming the directory", err, stderr)
		}
	})
}

// TestTrainPythonBadInput checks that training/train.py stops on bad input
// with a message naming the file and the problem, writing nothing.
func TestTrainPythonBadInput(t *testing.T) {
	py := pyenv.Python(t, "lightgbm", "pandas", "pyarrow", "sklearn")
	dir := t.TempDir()
	labels := func(s string) []training.Label {
		l, err := training.ParseLabels(s)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	// Five customers who log in every day and never buy.
	var evs []features.Event
	for d := range 20 {
		for c := range 5 {
			at := day0.AddDate(0, 0, d).Add(time.Duration(c+1) * time.Hour)
			evs = append(evs, ev(fmt.Sprintf("e%d-%d", d, c), fmt.Sprintf("c%d", c), "login", at))
		}
	}
	opts := func(from, to time.Time, l string) training.Options {
		return training.Options{Set: features.Default(), From: from, To: to, Every: 24 * time.Hour, Labels: labels(l)}
	}
	file := func(name string, o training.Options) string {
		path := filepath.Join(dir, name)
		writeExport(t, path, evs, o)
		return path
	}
	noChurn := file("purchase7.parquet", opts(day0.AddDate(0, 0, 1), day0.AddDate(0, 0, 10), "purchase7"))
	empty := file("empty.parquet", opts(day0.AddDate(0, 0, -5), day0.AddDate(0, 0, -1), "churn30,purchase7,next_category14"))
	censored := file("censored.parquet", opts(day0.AddDate(0, 0, 1), day0.AddDate(0, 0, 10), "churn30"))
	notParquet := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notParquet, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"missing label", []string{"--data", noChurn}, noChurn + ": label column 'churn30' missing (labels in the file: purchase7)"},
		{"one class", []string{"--data", noChurn, "--models", "propensity"}, noChurn + ": label purchase7 has one class (0)"},
		{"no rows", []string{"--data", empty}, empty + ": no rows"},
		{"censored", []string{"--data", censored, "--models", "churn"}, censored + ": label churn30 is null (censored) in every row"},
		{"no file", []string{"--data", filepath.Join(dir, "missing.parquet")}, filepath.Join(dir, "missing.parquet") + ": No such file or directory"},
		{"not parquet", []string{"--data", notParquet}, notParquet + ": not a Parquet or Arrow IPC file"},
		{"bad version", []string{"--data", noChurn, "--version", "../x"}, "--version '../x': use letters, digits"},
		{"bad model", []string{"--data", noChurn, "--models", "ltv"}, "--models: unknown ltv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "models")
			stdout, stderr, err := runTrain(t, py, nil, append(tc.args, "--out", out)...)
			if err == nil || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("training.train %s: %v\nstdout: %s\nstderr: %s\nwant a failure and %q in stderr", strings.Join(tc.args, " "), err, stdout, stderr, tc.stderr)
			}
			if strings.Contains(stderr, "Traceback") {
				t.Errorf("a traceback, not a message:\n%s", stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s was created", out)
			}
		})
	}
}
