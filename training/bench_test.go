package training_test

import (
	"context"
	"io"
	"testing"
	"time"

	"kairos/features"
	"kairos/training"
)

// BenchmarkExport replays 40 days of 2,000 customers (from memory, so the
// archive's decoding is not measured) into daily snapshots with labels.
func BenchmarkExport(b *testing.B) {
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	evs := randomHistory(9, 2000, 40, start)
	src := training.NewMemorySource(evs)
	labels, _ := training.ParseLabels("churn30,purchase7,next_category14")
	opts := training.Options{Set: features.Default(), From: start, To: start.Add(40 * 24 * time.Hour), Every: 24 * time.Hour, Labels: labels}
	b.ReportAllocs()
	b.ResetTimer()
	var st training.Stats
	for b.Loop() {
		var err error
		if st, err = training.Export(context.Background(), src, io.Discard, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(st.Events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(st.Rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
