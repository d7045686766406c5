package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"kairos/features"
	"kairos/models"
)

// scoreBenchResult is what `kairos bench score --json` prints.
type scoreBenchResult struct {
	Name string `json:"name"`
	// Models are the serving versions scored, one per task.
	Models []string `json:"models"`
	// P50ns and P99ns are the latencies of scoring one customer with
	// every serving model (Registry.Score).
	P50ns float64 `json:"p50_ns"`
	P99ns float64 `json:"p99_ns"`
	// RowsPerSec is batch throughput, one goroutine: customers scored by
	// all models per second.
	RowsPerSec float64 `json:"rows_per_sec"`
	// AllocsPerScore must be 0.
	AllocsPerScore float64 `json:"allocs_per_score"`
	// BaselineRowsPerSec is LightGBM's own Python batch prediction of the
	// same rows with the same models, one thread, in the same run; Ratio is
	// ours ÷ it.
	BaselineRowsPerSec float64 `json:"baseline_rows_per_sec"`
	Ratio              float64 `json:"ratio"`
}

// benchScore runs `kairos bench score`.
func benchScore(ctx context.Context, env environment, args []string) error {
	var dir string
	var duration time.Duration
	var asJSON bool
	fs := flagSet("bench score", "Measures scoring with the serving models beside LightGBM's own batch prediction.", env)
	fs.StringVar(&dir, "models", "", "model `directory` (empty: the models shipped in the binary)")
	fs.DurationVar(&duration, "duration", 3*time.Second, "length of each measured phase")
	fs.BoolVar(&asJSON, "json", false, "print the result as one JSON object, the last line of stdout")
	if err := parseFlags(fs, env, "bench score", args); err != nil {
		return err
	}
	set := features.Default()
	reg, err := openRegistry(dir, set, nil, nil)
	if err != nil {
		return fmt.Errorf("bench score: %w", err)
	}
	rows, err := benchRows(reg, set)
	if err != nil {
		return fmt.Errorf("bench score: %w", err)
	}
	r := scoreBenchResult{Name: "score"}
	for _, t := range models.Tasks {
		if m := reg.Serving(t); m != nil {
			r.Models = append(r.Models, m.Manifest.Name+"@"+m.Manifest.Version)
		}
	}
	vec := features.Vector{Names: set.Names()}
	var s models.Scores
	// Latency of one customer, and throughput, in one goroutine.
	var lat []time.Duration
	n := 0
	start := time.Now()
	for time.Since(start) < duration {
		for _, row := range rows {
			vec.Values = row
			t := time.Now()
			reg.Score(vec, &s)
			lat = append(lat, time.Since(t))
		}
		n += len(rows)
	}
	start = time.Now()
	m := 0
	for time.Since(start) < duration {
		for _, row := range rows {
			vec.Values = row
			reg.Score(vec, &s)
		}
		m += len(rows)
	}
	r.RowsPerSec = float64(m) / time.Since(start).Seconds()
	slices.Sort(lat)
	r.P50ns = float64(lat[len(lat)/2].Nanoseconds())
	r.P99ns = float64(lat[len(lat)*99/100].Nanoseconds())
	vec.Values = rows[0]
	r.AllocsPerScore = allocsPerRun(100, func() { reg.Score(vec, &s) })

	base, err := lightgbmBaseline(ctx, env, reg, set, rows, duration)
	if err != nil {
		return fmt.Errorf("bench score: the LightGBM baseline: %w", err)
	}
	r.BaselineRowsPerSec = base
	r.Ratio = r.RowsPerSec / base
	fmt.Fprintf(env.stdout, "score (%s): p50 %.0f ns, p99 %.0f ns per customer, %.0f customers/s, %.0f allocs (LightGBM Python batch: %.0f customers/s, ratio %.2f)\n",
		strings.Join(r.Models, ", "), r.P50ns, r.P99ns, r.RowsPerSec, r.AllocsPerScore, base, r.Ratio)
	if asJSON {
		b, _ := json.Marshal(r)
		fmt.Fprintln(env.stdout, string(b))
	}
	return nil
}

// benchRows builds full feature vectors from the serving models' golden
// inputs: realistic customers (sampled from the validation period of their
// training data), with their missing values.
func benchRows(reg *models.Registry, set *features.Set) ([][]float64, error) {
	names := set.Names()
	var rows [][]float64
	for _, t := range models.Tasks {
		m := reg.Serving(t)
		if m == nil {
			continue
		}
		for _, in := range m.Manifest.Golden.Inputs {
			row := make([]float64, len(names))
			for i := range row {
				row[i] = math.NaN()
			}
			for j, v := range in {
				if num, ok := v.(json.Number); ok {
					if f, err := num.Float64(); err == nil {
						row[slices.Index(names, m.Manifest.Features[j])] = f
					}
				}
			}
			rows = append(rows, row)
		}
	}
	if len(rows) == 0 {
		return nil, errors.New("no serving model has golden inputs to score")
	}
	return rows, nil
}

// lightgbmBaseline writes the serving models and the rows to a temporary
// directory and times LightGBM's Python batch prediction of them.
func lightgbmBaseline(ctx context.Context, env environment, reg *models.Registry, set *features.Set, rows [][]float64, d time.Duration) (float64, error) {
	tmp, err := os.MkdirTemp("", "kairos-bench-score-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	for _, t := range models.Tasks {
		m := reg.Serving(t)
		if m == nil {
			continue
		}
		text, err := fs.ReadFile(reg.FS(), m.Dir+"/model.txt")
		if err != nil {
			return 0, err
		}
		dst := filepath.Join(tmp, "models", m.Dir)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(dst, "model.txt"), text, 0o644); err != nil {
			return 0, err
		}
	}
	var b strings.Builder
	b.WriteString(strings.Join(set.Names(), ","))
	b.WriteByte('\n')
	for _, row := range rows {
		for i, v := range row {
			if i > 0 {
				b.WriteByte(',')
			}
			if !math.IsNaN(v) {
				b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			}
		}
		b.WriteByte('\n')
	}
	csvPath := filepath.Join(tmp, "rows.csv")
	if err := os.WriteFile(csvPath, []byte(b.String()), 0o644); err != nil {
		return 0, err
	}
	script, err := repoFile("training/python/bench_predict.py")
	if err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, "python3", script, filepath.Join(tmp, "models"), csvPath, strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
	cmd.Stderr = env.stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("python3 %s (needs lightgbm and pandas: pip install -r training/requirements.txt): %w", script, err)
	}
	var res struct {
		RowsPerSec float64 `json:"rows_per_sec"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, fmt.Errorf("read %q: %w", out, err)
	}
	return res.RowsPerSec, nil
}

// repoFile finds a file of the repository from the working directory or
// one of its parents (bench commands run from a checkout).
func repoFile(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%s not found: run kairos bench score from the Kairos repository", rel)
		}
		dir = parent
	}
}

// allocsPerRun is the average number of heap allocations of f (as
// testing.AllocsPerRun counts them), after one warm-up call.
func allocsPerRun(n int, f func()) float64 {
	f()
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	for range n {
		f()
	}
	runtime.ReadMemStats(&b)
	return float64(b.Mallocs-a.Mallocs) / float64(n)
}
