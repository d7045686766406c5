package sim_test

import (
	"context"
	"fmt"
	"time"

	"kairos/features"
	"kairos/internal/sim"
)

// firstEvents keeps the first event of the run and counts the records.
type firstEvents struct {
	records int
	first   *features.Event
}

func (s *firstEvents) Customers(_ context.Context, cs []features.Customer) error {
	s.records += len(cs)
	return nil
}

func (s *firstEvents) Events(_ context.Context, evs []features.Event) error {
	if s.first == nil && len(evs) > 0 {
		e := evs[0]
		s.first = &e
	}
	return nil
}

func Example() {
	w, err := sim.New(sim.Config{Customers: 200, Days: 14, Seed: 7, End: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		panic(err)
	}
	sink := &firstEvents{}
	res, err := w.Run(context.Background(), sink, nil)
	if err != nil {
		panic(err)
	}
	// A record is sent again when an unsubscribe revokes a consent.
	fmt.Println("customers:", res.Customers, "records sent:", sink.records)
	fmt.Println("first event:", sink.first.ID, sink.first.Type, sink.first.Time.Format(time.RFC3339))
	for _, c := range res.Truth.Campaigns {
		fmt.Println(c.Campaign, "arms:", len(c.Arms))
	}
	// Output:
	// customers: 200 records sent: 201
	// first event: s7-c000041-000001 session_start 2026-02-15T00:10:03Z
	// cart_recovery arms: 5
	// winback arms: 4
	// upgrade_prompt arms: 3
}
