package notebooks

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kairos/internal/pyenv"
	"kairos/internal/simtest"
)

// TestNotebooks executes every notebook headlessly (execute.py, nbclient)
// on a small simulated export, failing on any cell error, and checks what
// 01_train_models writes.
func TestNotebooks(t *testing.T) {
	py := pyenv.Python(t, "nbclient", "nbformat", "ipykernel", "matplotlib", "lightgbm", "pandas", "pyarrow", "sklearn")
	notebooks, err := filepath.Glob("*.ipynb")
	if err != nil || len(notebooks) == 0 {
		t.Fatalf("no notebooks found: %v", err)
	}
	data, _ := simtest.Export(t, 800, 60)
	out := t.TempDir()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, py, append([]string{"execute.py", "--timeout", "120", "--out", t.TempDir()}, notebooks...)...)
	cmd.Env = append(os.Environ(), "KAIROS_EXPORT="+data, "KAIROS_MODEL_OUT="+out, "KAIROS_MODEL_VERSION=nb1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("execute.py %s: %v\n%s\n%s", strings.Join(notebooks, " "), err, stdout.String(), stderr.String())
	}
	t.Logf("executed %d notebooks in %s", len(notebooks), time.Since(start).Round(time.Millisecond))

	type result struct {
		Notebook string  `json:"notebook"`
		Cells    int     `json:"cells"`
		Images   int     `json:"images"`
		Seconds  float64 `json:"seconds"`
	}
	ran := map[string]result{}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("execute.py printed %q: %v", line, err)
		}
		ran[r.Notebook] = r
		t.Logf("%s: %d cells, %d images, %.1fs", r.Notebook, r.Cells, r.Images, r.Seconds)
	}
	for _, nb := range notebooks {
		if _, ok := ran[nb]; !ok {
			t.Errorf("%s did not run", nb)
		}
	}

	// 01_train_models plots ROC curves, calibration and feature importance
	// and writes the three model directories.
	if r := ran["01_train_models.ipynb"]; r.Images < 3 {
		t.Errorf("01_train_models.ipynb shows %d images, want at least 3 (ROC, calibration, feature importance)", r.Images)
	}
	for _, name := range []string{"churn", "propensity", "nba"} {
		for _, f := range []string{"model.txt", "manifest.json"} {
			if fi, err := os.Stat(filepath.Join(out, name, "nb1", f)); err != nil || fi.Size() == 0 {
				t.Errorf("01_train_models.ipynb did not write %s/nb1/%s: %v", name, f, err)
			}
		}
	}
}

// TestNotebooksStoredWithoutOutputs keeps outputs (large, and noisy in
// diffs) out of the repository; it needs no Python.
func TestNotebooksStoredWithoutOutputs(t *testing.T) {
	notebooks, err := filepath.Glob("*.ipynb")
	if err != nil || len(notebooks) == 0 {
		t.Fatalf("no notebooks found: %v", err)
	}
	for _, nb := range notebooks {
		raw, err := os.ReadFile(nb)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			NBFormat int `json:"nbformat"`
			Cells    []struct {
				CellType       string            `json:"cell_type"`
				ExecutionCount *int              `json:"execution_count"`
				Outputs        []json.RawMessage `json:"outputs"`
			} `json:"cells"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Errorf("%s: %v", nb, err)
			continue
		}
		if doc.NBFormat != 4 {
			t.Errorf("%s: nbformat %d, want 4", nb, doc.NBFormat)
		}
		for i, c := range doc.Cells {
			if c.CellType == "code" && (len(c.Outputs) > 0 || c.ExecutionCount != nil) {
				t.Errorf("%s: cell %d is stored with outputs; clear them: jupyter nbconvert --clear-output --inplace notebooks/%s", nb, i, nb)
			}
		}
	}
}
