package notebooks

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

	"kairos/features"
	"kairos/internal/sim"
	"kairos/training"
)

// notebookPython returns the path of python3 with the packages of
// training/requirements.txt, or skips the test (fails it on CI, where
// .ci/install-deps installs them).
func notebookPython(t *testing.T) string {
	t.Helper()
	const msg = "python3 with nbclient, ipykernel, matplotlib, lightgbm, pandas, pyarrow and scikit-learn not available (pip install -r training/requirements.txt, or .ci/install-deps)"
	bin, err := exec.LookPath("python3")
	if err == nil {
		var out []byte
		if out, err = exec.Command(bin, "-c", "import nbclient, nbformat, ipykernel, matplotlib, lightgbm, pandas, pyarrow, sklearn").CombinedOutput(); err != nil {
			err = fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %v", msg, err)
		}
		t.Skipf("%s: %v", msg, err)
	}
	return bin
}

// source is a simulated world's events, by UTC day, as training.Export
// reads an archive.
type source struct {
	days  []time.Time
	byDay map[time.Time][]features.Event
}

func (s *source) Days() []time.Time { return s.days }
func (s *source) ReadDay(day time.Time) ([]features.Event, error) {
	return slices.Clone(s.byDay[day]), nil
}

func (s *source) Customers(context.Context, []features.Customer) error { return nil }

func (s *source) Events(_ context.Context, evs []features.Event) error {
	for _, e := range evs {
		d := e.Time.UTC().Truncate(24 * time.Hour)
		if _, ok := s.byDay[d]; !ok {
			s.days = append(s.days, d)
		}
		s.byDay[d] = append(s.byDay[d], e)
	}
	return nil
}

// smallExport writes what `kairos simulate --customers 800 --days 60 --seed 7
// --end 2026-11-01` and `kairos export --from 2026-09-23 --to 2026-10-02`
// write: ten daily snapshots, every label known, about 7,000 rows.
func smallExport(t *testing.T) string {
	t.Helper()
	w, err := sim.New(sim.Config{Customers: 800, Days: 60, Seed: 7, End: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	src := &source{byDay: map[time.Time][]features.Event{}}
	if _, err := w.Run(context.Background(), src, nil); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(src.days, time.Time.Compare)
	for _, evs := range src.byDay {
		slices.SortStableFunc(evs, features.CompareEvents)
	}
	labels, err := training.ParseLabels("churn30,purchase7,next_category14")
	if err != nil {
		t.Fatal(err)
	}
	from := w.Start().AddDate(0, 0, 21)
	var buf bytes.Buffer
	if _, err := training.Export(context.Background(), src, &buf, training.Options{
		Set: features.Default(), From: from, To: from.AddDate(0, 0, 9), Every: 24 * time.Hour,
		Labels: labels, ActiveWithin: 30 * 24 * time.Hour,
	}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "train.parquet")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestNotebooks executes every notebook headlessly (execute.py, nbclient)
// on a small simulated export, failing on any cell error, and checks what
// 01_train_models writes.
func TestNotebooks(t *testing.T) {
	py := notebookPython(t)
	notebooks, err := filepath.Glob("*.ipynb")
	if err != nil || len(notebooks) == 0 {
		t.Fatalf("no notebooks found: %v", err)
	}
	data := smallExport(t)
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
