package redisstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"kairos/features"
	"kairos/features/redisstore"
	"kairos/internal/redistest"
)

const (
	benchBatch     = 100
	benchCustomers = 10_000
)

// benchEvents returns n events of the default feature set over
// benchCustomers customers, with unique ids, times within the last hour
// and a realistic mix of types and properties.
func benchEvents(n int, now time.Time, seed uint64) []features.Event {
	r := rand.New(rand.NewPCG(seed, 7))
	events := make([]features.Event, n)
	for i := range events {
		e := features.Event{
			ID:         fmt.Sprintf("b%d-%d", seed, i),
			CustomerID: fmt.Sprintf("customer-%05d", r.IntN(benchCustomers)),
			Time:       now.Add(-time.Duration(r.Int64N(int64(time.Hour)))),
		}
		switch k := r.IntN(20); {
		case k < 10:
			e.Type = "page_view"
			e.Properties = map[string]features.Value{
				"page":       features.String([]string{"home", "pricing", "docs"}[r.IntN(3)]),
				"product_id": features.String(fmt.Sprint("p", r.IntN(500))),
			}
		case k < 13:
			e.Type = "feature_used"
			e.Properties = map[string]features.Value{"feature": features.String(fmt.Sprint("f", r.IntN(50)))}
		case k < 15:
			e.Type = "session_start"
		case k < 17:
			e.Type = "login"
		case k < 18:
			e.Type = "add_to_cart"
			e.Properties = map[string]features.Value{"amount": features.Number(float64(r.IntN(10000)) / 100)}
		case k < 19:
			e.Type = "purchase"
			e.Properties = map[string]features.Value{"amount": features.Number(float64(r.IntN(10000)) / 100), "currency": features.String("EUR")}
		default:
			e.Type = "email_opened"
		}
		events[i] = e
	}
	return events
}

func benchStore(b *testing.B) (*redisstore.Store, *redistest.Server) {
	srv := redistest.Start(b)
	return redisstore.New(srv.Client(b), features.Default(), redisstore.Options{}), srv
}

// warm tracks 20,000 events over the benchmark's customers, so that the
// measured batches find what a running server has: the script loaded and
// customers with a history (today's dedup set trimmed, tile buckets
// existing and expiring).
func warm(b *testing.B, s *redisstore.Store, now time.Time) {
	events := benchEvents(200*benchBatch, now, 0)
	for i := 0; i < len(events); i += benchBatch {
		if _, err := s.Track(context.Background(), events[i:i+benchBatch], now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrack tracks batches of 100 events over 10,000 customers, one
// batch at a time (latency of one Track), after a warm-up (see warm).
func BenchmarkTrack(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	now := time.Now().UTC()
	events := benchEvents(b.N*benchBatch, now, 1)
	warm(b, s, now)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Track(ctx, events[i*benchBatch:(i+1)*benchBatch], now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkTrackParallel is BenchmarkTrack from GOMAXPROCS goroutines
// (throughput of concurrent requests, as a server sees them).
func BenchmarkTrackParallel(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	now := time.Now().UTC()
	events := benchEvents(b.N*benchBatch, now, 1)
	warm(b, s, now)
	next := make(chan int, b.N)
	for i := range b.N {
		next <- i
	}
	close(next)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := <-next
			if _, err := s.Track(ctx, events[i*benchBatch:(i+1)*benchBatch], now); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkProfile reads the profiles of customers with a day of history.
func BenchmarkProfile(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	now := time.Now().UTC()
	// About 20 events for each of 500 customers.
	for i := range 100 {
		batch := benchEvents(benchBatch, now, uint64(100+i))
		for j := range batch {
			batch[j].CustomerID = fmt.Sprintf("customer-%05d", j%500+i%2*500)
		}
		if _, err := s.Track(ctx, batch, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Profile(ctx, fmt.Sprintf("customer-%05d", i%1000), now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisPing is the round trip of a PING to the same kind of
// server: the floor that Track and Profile are read against.
func BenchmarkRedisPing(b *testing.B) {
	srv := redistest.Start(b)
	c := srv.Client(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
	}
}
