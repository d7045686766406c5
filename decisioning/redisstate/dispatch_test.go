package redisstate_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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

// queuedSend commits a SEND decision and returns it with the one job
// NextDispatches gives for it.
func queuedSend(t *testing.T, st *redisstate.State) (decisioning.Decision, []decisioning.DispatchJob) {
	t.Helper()
	ctx := context.Background()
	d := decision("c1", time.Now())
	d.Outcome, d.Channel, d.Offer, d.ArmIndex = decisioning.Send, "email", "reminder", 0
	if _, err := st.Commit(ctx, "", "", []decisioning.Decision{d}); err != nil {
		t.Fatal(err)
	}
	jobs, err := st.NextDispatches(ctx, "a", 10, time.Hour, 0)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("NextDispatches = %d jobs, %v; want 1", len(jobs), err)
	}
	return d, jobs
}

// TestDispatchRecord: a Redis job carries the queue's encoding of its
// decision, so that Defer and a retry queue it again byte for byte.
func TestDispatchRecord(t *testing.T) {
	st, _ := newState(t)
	d, jobs := queuedSend(t, st)
	if len(jobs[0].Record) == 0 {
		t.Fatal("the job has no Record")
	}
	var rec decisioning.Decision
	if err := rec.UnmarshalBinary(jobs[0].Record); err != nil || rec.ID != d.ID {
		t.Errorf("Record decodes to decision %q, %v; want %q", rec.ID, err, d.ID)
	}
}

// replayScripts runs every script twice, as go-redis does when it retries
// a command whose reply was lost (a read timeout after the server ran it).
type replayScripts struct{}

func (replayScripts) DialHook(next redis.DialHook) redis.DialHook { return next }
func (replayScripts) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (replayScripts) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name == "evalsha" || name == "eval" {
			if err := next(ctx, cmd); err != nil {
				return err
			}
		}
		return next(ctx, cmd)
	}
}

// TestDispatchScriptsSurviveReplay: Begin and Settle run twice (a client
// retry after a lost reply) answer as if they ran once: the attempt is
// begun, not Busy, and settled once.
func TestDispatchScriptsSurviveReplay(t *testing.T) {
	st, c := newState(t)
	ctx := context.Background()
	now := time.Now()
	_, jobs := queuedSend(t, st)
	c.AddHook(replayScripts{})
	job := jobs[0]
	if r, err := st.Begin(ctx, &job, now, now.Add(time.Minute)); err != nil || r != decisioning.Begun || job.Attempt != 1 {
		t.Fatalf("replayed Begin: %v (attempt %d), %v; want Begun, attempt 1", r, job.Attempt, err)
	}
	if err := st.Settle(ctx, &job, decisioning.Settlement{Status: decisioning.DispatchSent, At: now}); err != nil {
		t.Fatalf("replayed Settle: %v", err)
	}
	es, err := st.ReadQueue(ctx, "l", 100, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		n += len(e.Dispatches)
	}
	if n != 1 {
		t.Errorf("%d dispatch records in the ledger queue, want 1", n)
	}
}

// TestReserveIsShared: two instances on one Redis share one schedule: 40
// slots at 50/s (burst 1) reach over about 0.78 s, whoever takes them.
func TestReserveIsShared(t *testing.T) {
	srv := redistest.Start(t)
	var states [2]*redisstate.State
	for i := range states {
		states[i] = redisstate.New(redisstore.New(srv.Client(t), features.Default(), redisstore.Options{}), redisstate.Options{})
	}
	ctx := context.Background()
	var last time.Duration
	for i := range 40 {
		wait, err := states[i%2].Reserve(ctx, "sms", 50, 1)
		if err != nil {
			t.Fatal(err)
		}
		last = max(last, wait)
	}
	if last < 700*time.Millisecond || last > 900*time.Millisecond {
		t.Errorf("the 40th slot at 50/s waits %v, want about 780ms", last)
	}
	// A burst of 10 is taken at once by a fresh limit.
	for i := range 10 {
		wait, err := states[i%2].Reserve(ctx, "push", 100, 10)
		if err != nil {
			t.Fatal(err)
		}
		if wait > 5*time.Millisecond {
			t.Errorf("slot %d of a burst of 10 waits %v", i, wait)
		}
	}
	if _, err := states[0].Reserve(ctx, "x", 0, 1); err == nil {
		t.Error("a zero rate was accepted")
	}
}
