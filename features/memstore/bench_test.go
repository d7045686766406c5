package memstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"kairos/features"
	"kairos/features/memstore"
)

func BenchmarkTrack(b *testing.B) {
	s := memstore.New(features.Default(), memstore.Options{})
	ctx := context.Background()
	now := time.Now()
	batch := make([]features.Event, 100)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			n++
			batch[i] = features.Event{ID: strconv.Itoa(n), CustomerID: "c" + strconv.Itoa(n%10000), Type: "page_view", Time: now,
				Properties: map[string]features.Value{"page": features.String("pricing")}}
		}
		if _, err := s.Track(ctx, batch, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkProfile(b *testing.B) {
	s := memstore.New(features.Default(), memstore.Options{})
	ctx := context.Background()
	now := time.Now()
	var batch []features.Event
	for i := 0; i < 500; i++ {
		batch = append(batch, features.Event{ID: strconv.Itoa(i), CustomerID: "c", Type: []string{"page_view", "login", "purchase"}[i%3],
			Time: now.Add(-time.Duration(i) * time.Hour), Properties: map[string]features.Value{"amount": features.Number(5)}})
	}
	if _, err := s.Track(ctx, batch, now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Profile(ctx, "c", now); err != nil {
			b.Fatal(err)
		}
	}
}
