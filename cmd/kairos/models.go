package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/prometheus/client_golang/prometheus"

	"kairos/features"
	"kairos/models"
	"kairos/models/lgbm"
)

const modelsUsage = `kairos models: inspect and manage the model directory.

  kairos models status   [--models DIR] [--features FILE] [--json]   every version and what serves
  kairos models validate PATH [--features FILE]                        validate one version directory
  kairos models promote  NAME VERSION --models DIR                     make a version serve
  kairos models rollback NAME --models DIR                             go back to the version before
  kairos models score    PATH --csv FILE [--features FILE]             score a CSV with one version

Without --models, status uses the models shipped in the binary. A running 'kairos serve
--models DIR' picks up promote and rollback within a second.`

// modelsCmd runs `kairos models <subcommand>`.
func modelsCmd(ctx context.Context, env environment, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(env.stdout, modelsUsage)
		if len(args) == 0 {
			return errors.New("models: name a subcommand: status, validate, promote, rollback or score")
		}
		return nil
	}
	sub, rest := args[0], args[1:]
	var dir, featuresFile, csvFile string
	var asJSON bool
	fs := flagSet("models "+sub, modelsUsage, env)
	fs.StringVar(&featuresFile, "features", "", "feature definitions YAML `file` the models' features must come from (empty: the built-in definitions)")
	switch sub {
	case "status", "promote", "rollback":
		fs.StringVar(&dir, "models", "", "model `directory` (empty: the models shipped in the binary)")
		fs.BoolVar(&asJSON, "json", false, "print the status as JSON")
	case "score":
		fs.StringVar(&csvFile, "csv", "", "CSV `file` whose header names the model's features (an empty cell is missing)")
	case "validate":
	default:
		return fmt.Errorf("models: unknown subcommand %q; run 'kairos models help'", sub)
	}
	// Positional arguments come first (kairos models validate PATH --features F).
	var pos []string
	for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		pos, rest = append(pos, rest[0]), rest[1:]
	}
	if err := parseFlags(fs, env, "models "+sub, rest); err != nil {
		return err
	}
	set := features.Default()
	if featuresFile != "" {
		var err error
		if set, err = features.Load(featuresFile); err != nil {
			return fmt.Errorf("models %s: %w", sub, err)
		}
	}
	want := map[string]int{"status": 0, "validate": 1, "promote": 2, "rollback": 1, "score": 1}[sub]
	if len(pos) != want {
		return fmt.Errorf("models %s takes %d argument(s), got %q; run 'kairos models help'", sub, want, pos)
	}
	switch sub {
	case "validate":
		return validateModel(env, pos[0], set)
	case "score":
		if csvFile == "" {
			return errors.New("models score: --csv FILE is required")
		}
		return scoreCSV(env, pos[0], csvFile, set)
	}
	reg, err := openRegistry(dir, set, nil, nil)
	if err != nil {
		return fmt.Errorf("models %s: %w", sub, err)
	}
	switch sub {
	case "promote":
		if err := reg.Promote(pos[0], pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s/%s now serves (%s)\n", pos[0], pos[1], filepath.Join(dir, pos[0], models.StateFile))
		return nil
	case "rollback":
		if err := reg.Rollback(pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s: %s now serves\n", pos[0], reg.ServingVersion(pos[0]))
		return nil
	}
	return printStatus(env.stdout, reg.Status(), asJSON)
}

// openRegistry opens the model directory dir, or the shipped models when
// dir is empty.
func openRegistry(dir string, set *features.Set, logger *slog.Logger, reg prometheus.Registerer) (*models.Registry, error) {
	opts := models.Options{FS: models.Shipped(), Set: set, Parse: lgbm.Parser, Logger: logger, Registerer: reg}
	if dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("model directory %s: not a directory", dir)
		}
		opts.FS, opts.Dir = os.DirFS(dir), dir
	}
	return models.New(opts)
}

func printStatus(w io.Writer, status []models.Status, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(status)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tVERSION\tTASK\tSTAGE\tSTATE\tAUC\tLOGLOSS\tREASON")
	for _, s := range status {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Version, s.Task, s.Stage, s.State,
			metric(s.Metrics, "auc"), metric(s.Metrics, "logloss"), s.Reason)
	}
	return tw.Flush()
}

func metric(m map[string]float64, k string) string {
	v, ok := m[k]
	if !ok {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

// loadVersion loads the model version directory path.
func loadVersion(path string, set *features.Set) (*models.Model, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%s: not a model version directory (want <dir>/<name>/<version> with manifest.json and model.txt)", path)
	}
	// Read as <name>/<version>, so that the manifest's name and version are
	// checked against the directories, as the registry does.
	return models.Load(os.DirFS(filepath.Dir(filepath.Dir(abs))), filepath.Base(filepath.Dir(abs))+"/"+filepath.Base(abs), set, lgbm.Parser)
}

func validateModel(env environment, path string, set *features.Set) error {
	m, err := loadVersion(path, set)
	if err != nil {
		return fmt.Errorf("models validate: %s refused: %w", path, err)
	}
	man := m.Manifest
	fmt.Fprintf(env.stdout, "ok: %s/%s (task %s, stage %s, %d features, %d outputs): %d golden rows match LightGBM within %g\n",
		man.Name, man.Version, man.Task, man.Stage, len(man.Features), m.NumOutputs(), len(man.Golden.Inputs), models.GoldenTolerance)
	return nil
}

// scoreCSV prints the model's outputs for every row of a CSV, tab-separated.
func scoreCSV(env environment, path, csvFile string, set *features.Set) error {
	m, err := loadVersion(path, set)
	if err != nil {
		return fmt.Errorf("models score: %s refused: %w", path, err)
	}
	f, err := os.Open(csvFile)
	if err != nil {
		return fmt.Errorf("models score: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("models score: %s: read the header: %w", csvFile, err)
	}
	seen := map[string]bool{}
	for _, h := range header {
		h = strings.TrimSpace(h)
		if seen[h] {
			return fmt.Errorf("models score: %s: column %q appears twice in the header", csvFile, h)
		}
		seen[h] = true
	}
	cols := make([]int, len(m.Manifest.Features))
	for i, name := range m.Manifest.Features {
		cols[i] = -1
		for j, h := range header {
			if strings.TrimSpace(h) == name {
				cols[i] = j
			}
		}
		if cols[i] < 0 {
			return fmt.Errorf("models score: %s: no column %q (the model's feature %d); the header must name every feature of the manifest", csvFile, name, i)
		}
	}
	row := make([]float64, len(cols))
	out := make([]float64, m.NumOutputs())
	var line []byte
	for n := 2; ; n++ {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("models score: %s: %w", csvFile, err)
		}
		for i, c := range cols {
			cell := strings.TrimSpace(rec[c])
			switch code, categorical := m.Category(i, cell); {
			case cell == "":
				row[i] = math.NaN()
			case categorical:
				row[i] = code
			default:
				v, err := strconv.ParseFloat(cell, 64)
				if err != nil {
					return fmt.Errorf("models score: %s line %d, column %q: %q is not a number", csvFile, n, header[c], cell)
				}
				row[i] = v
			}
		}
		m.ScoreRow(row, out)
		line = line[:0]
		for k, v := range out {
			if k > 0 {
				line = append(line, '\t')
			}
			line = strconv.AppendFloat(line, v, 'g', -1, 64)
		}
		line = append(line, '\n')
		if _, err := env.stdout.Write(line); err != nil {
			return err
		}
	}
}
