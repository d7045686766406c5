package sim_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"kairos/features"
	"kairos/internal/sim"
)

// dayCounter counts the days the sink has received.
type dayCounter struct{ days atomic.Int64 }

func (s *dayCounter) Customers(context.Context, []features.Customer) error { return nil }

func (s *dayCounter) Events(context.Context, []features.Event) error {
	time.Sleep(2 * time.Millisecond) // a slow sink
	s.days.Add(1)
	return nil
}

// lockstepPolicy checks that the sink has every earlier day when it is
// asked about a decision point.
type lockstepPolicy struct {
	sink  *dayCounter
	start time.Time
	err   error
	n     int
}

func (p *lockstepPolicy) Choose(_ context.Context, dp sim.DecisionPoint) (sim.Arm, error) {
	p.n++
	day := int64(dp.At.Sub(p.start) / (24 * time.Hour))
	if got := p.sink.days.Load(); got != day && p.err == nil {
		p.err = fmt.Errorf("decision point %s on day %d: the sink has %d days", dp.DecisionID, day, got)
	}
	return dp.Arms[len(dp.Arms)-1], nil
}

func TestLockstep(t *testing.T) {
	end := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	sink := &dayCounter{}
	p := &lockstepPolicy{sink: sink, start: end.AddDate(0, 0, -20)}
	w, err := sim.New(sim.Config{Customers: 500, Days: 20, Seed: 7, End: end, Policy: p, Lockstep: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Run(context.Background(), sink, nil); err != nil {
		t.Fatal(err)
	}
	if p.n == 0 {
		t.Fatal("no decision point")
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
}
