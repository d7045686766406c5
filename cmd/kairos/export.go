package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"kairos/features"
	"kairos/internal/progress"
	"kairos/training"
	"kairos/training/archive"
)

// exportMemoryLimit is the export's soft memory limit (runtime/debug).
const exportMemoryLimit = 1536 << 20

// exportConfig is the configuration of `kairos export`.
type exportConfig struct {
	archive      string
	features     string
	snapshots    string
	from, to     time.Time
	dataEnd      time.Time
	labels       string
	activity     string
	activeWithin time.Duration
	out          string
	format       string
	asJSON       bool
}

func parseExport(env environment, args []string) (exportConfig, error) {
	cfg := exportConfig{activeWithin: 30 * 24 * time.Hour}
	fs := flagSet("export", "Replays the event archive through the feature definitions and writes a point-in-time\ntraining set: one row per (customer, snapshot time) with every feature and the labels.", env)
	fs.StringVar(&cfg.archive, "archive", "", "event archive `directory` (as kairos serve --archive or kairos simulate --out write it)")
	fs.StringVar(&cfg.features, "features", "", "feature definitions YAML `file` (empty: the built-in definitions)")
	fs.StringVar(&cfg.snapshots, "snapshots", "daily", "snapshot `period`: daily, hourly, weekly or a duration such as 6h")
	fs.Var(timeValue{&cfg.from}, "from", "first snapshot `time` (a date is midnight UTC; default: the archive's first day)")
	fs.Var(timeValue{&cfg.to}, "to", "last snapshot `time` (default: the archive's last day)")
	fs.Var(timeValue{&cfg.dataEnd}, "data-end", "`time` the archive's data ends; labels whose window runs past it are null (default: the end of its last day)")
	fs.StringVar(&cfg.labels, "labels", "churn30,purchase7,next_category14", "`labels`: churnN, purchaseN, next_categoryN (N days), comma-separated")
	fs.StringVar(&cfg.activity, "activity-events", strings.Join(training.DefaultActivity, ","), "event `types` that count as activity for churn labels")
	fs.Var(dayDuration{&cfg.activeWithin}, "active-within", "rows only for customers with an event in the `period` before the snapshot (0: every customer seen)")
	fs.StringVar(&cfg.out, "out", "", "output `file` (written to a temporary file first, renamed when complete)")
	fs.StringVar(&cfg.format, "format", "", "output `format`: parquet or arrow (default: arrow for .arrow/.feather files, else parquet)")
	fs.BoolVar(&cfg.asJSON, "json", false, "print the export's figures as one JSON object on stdout")
	if err := parseFlags(fs, env, "export", args); err != nil {
		return cfg, err
	}
	switch {
	case cfg.archive == "":
		return cfg, errors.New("export: --archive is required: the directory written by 'kairos serve --archive' or 'kairos simulate --out'")
	case cfg.out == "":
		return cfg, errors.New("export: --out is required: the training set file to write, e.g. train.parquet")
	}
	if cfg.format == "" {
		cfg.format = string(training.Parquet)
		if ext := filepath.Ext(cfg.out); ext == ".arrow" || ext == ".feather" {
			cfg.format = string(training.Arrow)
		}
	}
	return cfg, nil
}

// exportCmd runs `kairos export`.
func exportCmd(ctx context.Context, env environment, args []string) error {
	cfg, err := parseExport(env, args)
	if err != nil {
		return err
	}
	set := features.Default()
	if cfg.features != "" {
		if set, err = features.Load(cfg.features); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	every, err := training.ParseSnapshots(cfg.snapshots)
	if err != nil {
		return fmt.Errorf("export: --%w", err)
	}
	labels, err := training.ParseLabels(cfg.labels)
	if err != nil {
		return fmt.Errorf("export: --%w", err)
	}
	var activity []string
	for _, t := range strings.Split(cfg.activity, ",") {
		if t = strings.TrimSpace(t); t != "" {
			if !set.KnownType(t) {
				return fmt.Errorf("export: --activity-events: %q is not an event type (neither standard nor a custom_events entry of the feature definitions)", t)
			}
			activity = append(activity, t)
		}
	}
	arch, err := archive.Open(cfg.archive)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	days := arch.Days()
	if cfg.from.IsZero() {
		cfg.from = days[0]
	}
	if cfg.to.IsZero() {
		cfg.to = days[len(days)-1]
	}
	// The replay's live heap stays well under 1 GiB for 10 million events;
	// a soft limit keeps the collector's headroom from taking the process
	// much past 1.5 GiB. GOMEMLIMIT, when set, wins.
	if _, ok := env.lookupEnv("GOMEMLIMIT"); !ok {
		debug.SetMemoryLimit(exportMemoryLimit)
	}
	bar := progress.Start(env.stderr, progress.Options{Label: "export", Total: int64(2 * len(days)), Unit: "events"})
	opts := training.Options{
		Set: set, From: cfg.from, To: cfg.to, Every: every, Labels: labels, Activity: activity,
		ActiveWithin: cfg.activeWithin, DataEnd: cfg.dataEnd, Format: training.Format(cfg.format),
		Progress: func(n int) { bar.Step(1); bar.Count(int64(n)) },
	}
	start := time.Now()
	var st training.Stats
	err = writeFile(cfg.out, func(w io.Writer) (err error) {
		st, err = training.Export(ctx, arch, w, opts)
		return err
	})
	bar.Done()
	if err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(env.stderr, "export: wrote %s: %s rows (%d snapshots, %s customers) from %s events in %s\n",
		cfg.out, progress.Thousands(st.Rows), st.Snapshots, progress.Thousands(int64(st.Customers)),
		progress.Thousands(st.Events), el.Round(time.Millisecond))
	if cfg.asJSON {
		return json.NewEncoder(env.stdout).Encode(struct {
			training.Stats
			Seconds      float64 `json:"seconds"`
			EventsPerSec float64 `json:"events_per_sec"`
		}{st, el.Seconds(), float64(st.Events) / el.Seconds()})
	}
	return nil
}

// writeFile writes path through write, buffered, into a temporary file in
// the same directory that replaces path only once write succeeded and the
// file is synced: a failed or interrupted command leaves no partial file.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	bw := bufio.NewWriterSize(f, 1<<16)
	if err := write(bw); err != nil {
		f.Close()
		return err
	}
	err = bw.Flush()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
