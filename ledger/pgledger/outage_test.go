package pgledger_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"kairos/internal/pgtest"
	"kairos/ledger"
	"kairos/ledger/ledgertest"
)

// TestOutage: while PostgreSQL is down, writes fail fast with
// ErrUnavailable; after it is back they succeed, and a batch retried
// across the outage is recorded exactly once. It stops the shared server,
// so it must not run in parallel.
func TestOutage(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	batch := ledgertest.Sample(200, 7)
	before, during := batch[:100], batch[50:]
	if err := s.WriteDecisions(ctx, before); err != nil {
		t.Fatalf("WriteDecisions before the outage: %v", err)
	}

	pgtest.Stop(t)
	for _, call := range []struct {
		name string
		f    func(context.Context) error
	}{
		{"WriteDecisions", func(ctx context.Context) error { return s.WriteDecisions(ctx, during) }},
		{"Decisions", func(ctx context.Context) error { _, err := s.Decisions(ctx, ledger.Query{}); return err }},
		{"Ping", s.Ping},
	} {
		const bound = 5 * time.Second
		ctx, cancel := context.WithTimeout(ctx, bound)
		start := time.Now()
		err := call.f(ctx)
		took := time.Since(start)
		cancel()
		if !errors.Is(err, ledger.ErrUnavailable) {
			t.Errorf("%s while PostgreSQL is down = %v, want an error wrapping ErrUnavailable", call.name, err)
		}
		if took >= bound {
			t.Errorf("%s took %v, as long as its deadline", call.name, took)
		}
		t.Logf("%s while down: %v after %v", call.name, err, took.Round(time.Millisecond))
	}

	pgtest.Restart(t)
	// The caller retries until the ledger is back; the pool replaces its
	// dead connections.
	deadline := time.Now().Add(30 * time.Second)
	for attempt := 1; ; attempt++ {
		err := s.WriteDecisions(ctx, during)
		if err == nil {
			t.Logf("WriteDecisions after the restart succeeded at attempt %d", attempt)
			break
		}
		if !errors.Is(err, ledger.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("WriteDecisions after the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Replaying the whole batch adds nothing.
	if err := s.WriteDecisions(ctx, batch); err != nil {
		t.Fatalf("WriteDecisions replay: %v", err)
	}
	got, err := s.Decisions(ctx, ledger.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(batch) {
		t.Fatalf("after the outage the ledger holds %d decisions, want %d", len(got), len(batch))
	}
	for i, d := range got {
		if d.ID != batch[i].ID { // Sample's ids and times are both increasing
			t.Fatalf("decision %d is %s, want %s", i, d.ID, batch[i].ID)
		}
	}
}
