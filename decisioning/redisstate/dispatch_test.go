package redisstate_test

import (
	"context"
	"testing"
	"time"

	"kairos/decisioning"
	"kairos/decisioning/dispatchtest"
	"kairos/decisioning/redisstate"
	"kairos/features"
	"kairos/features/redisstore"
	"kairos/internal/redistest"
)

func TestDispatchContract(t *testing.T) {
	dispatchtest.Run(t, func(t *testing.T) dispatchtest.State {
		srv := redistest.Start(t)
		return redisstate.New(redisstore.New(srv.Client(t), features.Default(), redisstore.Options{}), redisstate.Options{})
	})
}

// TestDispatchRecord: a Redis job carries the queue's encoding of its
// decision, so that Defer and a retry queue it again byte for byte.
func TestDispatchRecord(t *testing.T) {
	st, _ := newState(t)
	ctx := context.Background()
	now := time.Now()
	d := decision("c1", now)
	d.Outcome, d.Channel, d.Offer, d.ArmIndex = decisioning.Send, "email", "reminder", 0
	if _, err := st.Commit(ctx, "", "", []decisioning.Decision{d}); err != nil {
		t.Fatal(err)
	}
	jobs, err := st.NextDispatches(ctx, "a", 1, time.Hour, 0)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("NextDispatches = %d jobs, %v; want 1", len(jobs), err)
	}
	if len(jobs[0].Record) == 0 {
		t.Fatal("the job has no Record")
	}
	var rec decisioning.Decision
	if err := rec.UnmarshalBinary(jobs[0].Record); err != nil || rec.ID != d.ID {
		t.Errorf("Record decodes to decision %q, %v; want %q", rec.ID, err, d.ID)
	}
}
