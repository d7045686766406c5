// Package simtest makes small training sets for tests: a simulated world
// (internal/sim) exported as `kairos simulate` and `kairos export` would,
// without files in between.
package simtest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"kairos/features"
	"kairos/internal/sim"
	"kairos/training"
)

// End is the end of every simulated period here (exclusive).
var End = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Export simulates customers over days (seed 7, ending at End) and writes
// the ten daily snapshots from day 21 on, with the labels churn30,
// purchase7 and next_category14 (all known), to a Parquet file in a
// temporary directory of t. It returns the file and the export's figures.
func Export(t testing.TB, customers, days int) (string, training.Stats) {
	t.Helper()
	w, err := sim.New(sim.Config{Customers: customers, Days: days, Seed: 7, End: End})
	if err != nil {
		t.Fatal(err)
	}
	src := training.NewMemorySource(nil)
	if _, err := w.Run(context.Background(), src, nil); err != nil {
		t.Fatal(err)
	}
	labels, err := training.ParseLabels("churn30,purchase7,next_category14")
	if err != nil {
		t.Fatal(err)
	}
	from := w.Start().AddDate(0, 0, 21)
	var buf bytes.Buffer
	st, err := training.Export(context.Background(), src, &buf, training.Options{
		Set: features.Default(), From: from, To: from.AddDate(0, 0, 9), Every: 24 * time.Hour,
		Labels: labels, ActiveWithin: 30 * 24 * time.Hour,
	})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	path := filepath.Join(t.TempDir(), "train.parquet")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, st
}
