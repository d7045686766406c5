package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"kairos/internal/progress"
	"kairos/training/archive"
)

// exportBenchResult is what `kairos bench export --json` prints.
type exportBenchResult struct {
	Name   string `json:"name"`
	Events int64  `json:"events"`
	Rows   int64  `json:"rows"`
	// EventsPerSec is the export's replay throughput: events read, replayed
	// and turned into rows, per second of the whole export.
	EventsPerSec float64 `json:"events_per_sec"`
	RowsPerSec   float64 `json:"rows_per_sec"`
	Seconds      float64 `json:"seconds"`
	// PeakRSSMiB is the export process's peak resident memory.
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// BaselineReadEventsPerSec is reading the same archive alone (decode,
	// de-duplicate, sort), measured in the same run; Ratio is ours ÷ it.
	BaselineReadEventsPerSec float64 `json:"baseline_read_events_per_sec"`
	Ratio                    float64 `json:"ratio"`
}

// benchExport runs `kairos bench export`: simulate an archive (unless one is
// given), read it once as the baseline, then run `kairos export` on it in a
// child process and report its throughput and peak memory.
func benchExport(ctx context.Context, env environment, args []string) error {
	var dir string
	var customers, days int
	var asJSON bool
	fs := flagSet("bench export", "Measures kairos export on a simulated archive (at least 5 million events by default).", env)
	fs.StringVar(&dir, "archive", "", "archive `directory` to export (default: simulate one in a temporary directory)")
	fs.IntVar(&customers, "customers", 20000, "customers of the simulated archive")
	fs.IntVar(&days, "days", 90, "days of the simulated archive")
	fs.BoolVar(&asJSON, "json", false, "print the result as one JSON object, the last line of stdout")
	if err := parseFlags(fs, env, "bench export", args); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench export: find the kairos binary: %w", err)
	}
	tmp, err := os.MkdirTemp("", "kairos-bench-export-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if dir == "" {
		dir = filepath.Join(tmp, "archive")
		// A fixed end date: the same archive on every run.
		if _, err := runSelf(ctx, env, self, "simulate", "--out", dir, "--customers", strconv.Itoa(customers),
			"--days", strconv.Itoa(days), "--seed", "7", "--end", "2026-11-01"); err != nil {
			return fmt.Errorf("bench export: simulate the archive: %w", err)
		}
	}

	// Baseline: read every day of the archive, nothing else.
	arch, err := archive.Open(dir)
	if err != nil {
		return fmt.Errorf("bench export: %w", err)
	}
	bar := progress.Start(env.stderr, progress.Options{Label: "read archive (baseline)", Total: int64(len(arch.Days())), Unit: "events"})
	start := time.Now()
	var read int64
	for _, d := range arch.Days() {
		evs, err := arch.ReadDay(d)
		if err != nil {
			bar.Done()
			return fmt.Errorf("bench export: %w", err)
		}
		read += int64(len(evs))
		bar.Step(1)
		bar.Count(int64(len(evs)))
	}
	baseline := float64(read) / time.Since(start).Seconds()
	bar.Done()

	out, err := runSelf(ctx, env, self, "export", "--archive", dir, "--out", filepath.Join(tmp, "train.parquet"), "--json")
	if err != nil {
		return fmt.Errorf("bench export: %w", err)
	}
	var st struct {
		Events, Rows int64
		Seconds      float64
	}
	if err := json.Unmarshal(out.stdout, &st); err != nil {
		return fmt.Errorf("bench export: read the export's figures %q: %w", out.stdout, err)
	}
	r := exportBenchResult{Name: "export", Events: st.Events, Rows: st.Rows, Seconds: st.Seconds,
		EventsPerSec: float64(st.Events) / st.Seconds, RowsPerSec: float64(st.Rows) / st.Seconds,
		PeakRSSMiB: float64(out.maxRSSKiB) / 1024, BaselineReadEventsPerSec: baseline}
	r.Ratio = r.EventsPerSec / baseline
	fmt.Fprintf(env.stdout, "export: %s events → %s rows in %.1fs: %.0f events/s, %.0f rows/s, peak RSS %.0f MiB (baseline: reading the archive alone %.0f events/s, ratio %.3f)\n",
		progress.Thousands(r.Events), progress.Thousands(r.Rows), r.Seconds, r.EventsPerSec, r.RowsPerSec, r.PeakRSSMiB, baseline, r.Ratio)
	if asJSON {
		b, _ := json.Marshal(r)
		fmt.Fprintln(env.stdout, string(b))
	}
	return nil
}

type childResult struct {
	stdout    []byte
	maxRSSKiB int64
}

// runSelf runs this binary with args, its stderr (progress) passed through.
func runSelf(ctx context.Context, env environment, self string, args ...string) (childResult, error) {
	cmd := exec.CommandContext(ctx, self, args...)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, env.stderr
	err := cmd.Run()
	res := childResult{stdout: stdout.Bytes()}
	if cmd.ProcessState == nil { // it did not start
		return res, fmt.Errorf("kairos %s: %w", args[0], err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.maxRSSKiB = ru.Maxrss // KiB on Linux
	}
	if err != nil {
		return res, fmt.Errorf("kairos %s: %w", args[0], err)
	}
	return res, nil
}
