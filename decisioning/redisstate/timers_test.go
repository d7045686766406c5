package redisstate_test

import (
	"context"
	"errors"
	"flag"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"kairos/decisioning"
	"kairos/decisioning/redisstate"
	"kairos/decisioning/timerbench"
	"kairos/decisioning/timertest"
	"kairos/features"
	"kairos/features/redisstore"
	"kairos/internal/redistest"
)

func TestTimersContract(t *testing.T) {
	timertest.Run(t, func(t *testing.T) decisioning.Timers {
		st, _ := newState(t)
		return st
	})
}

// TestTimerKeys: a customer's timer index is in the customer's slot
// (also for an id that cannot be its own hash tag), and every timer key
// is gone once the timers are done or cancelled.
func TestTimerKeys(t *testing.T) {
	st, c := newState(t)
	ctx := context.Background()
	now := time.UnixMilli(time.Now().UnixMilli())
	customers := []string{"c1", "}x{"}
	var ts []decisioning.Timer
	for i, cid := range customers {
		for j, campaign := range []string{"cart", "winback"} {
			ts = append(ts, decisioning.Timer{ID: cid + "/" + campaign, CustomerID: cid, Campaign: campaign,
				Due: now.Add(time.Duration(i*2+j-10) * time.Second), SetAt: now})
		}
	}
	if err := st.SetTimers(ctx, ts); err != nil {
		t.Fatal(err)
	}
	for _, cid := range customers {
		key := redisstore.CustomerKey(cid, "t")
		if n, err := c.HLen(ctx, key).Result(); err != nil || n != 2 {
			t.Errorf("the index %s holds %d timers (%v), want 2", key, n, err)
		}
	}
	claimed, err := st.ClaimDue(ctx, now, time.Minute, 10)
	if err != nil || len(claimed) != 4 {
		t.Fatalf("ClaimDue = %d timers, %v; want 4", len(claimed), err)
	}
	if n, _ := c.HLen(ctx, "kairos:timers:lease").Result(); n != 4 {
		t.Errorf("%d leases, want 4", n)
	}
	if _, err := st.CancelTimers(ctx, "}x{", ""); err != nil {
		t.Fatal(err)
	}
	done, err := st.DoneTimers(ctx, claimed)
	if err != nil {
		t.Fatal(err)
	}
	if n := countTrue(done); n != 2 {
		t.Errorf("DoneTimers removed %d timers, want c1's 2", n)
	}
	if keys, err := c.Keys(ctx, "*").Result(); err != nil || len(keys) != 0 {
		t.Errorf("keys left once every timer is done or cancelled: %v (%v)", keys, err)
	}
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// TestTimersOutage: with Redis down every method returns an error
// wrapping features.ErrUnavailable (and none panics); once Redis is back
// the timers set before the outage are there.
func TestTimersOutage(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	// Without retries, so that each call fails fast.
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	st := redisstate.New(redisstore.New(c, features.Default(), redisstore.Options{}), redisstate.Options{})
	ctx := context.Background()
	now := time.UnixMilli(time.Now().UnixMilli())
	tm := decisioning.Timer{ID: "t1", CustomerID: "c1", Campaign: "cart", Due: now}
	if err := st.SetTimers(ctx, []decisioning.Timer{tm}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for _, c := range []struct {
		op   string
		call func(context.Context) error
	}{
		{"SetTimers", func(ctx context.Context) error { return st.SetTimers(ctx, []decisioning.Timer{tm}) }},
		{"ClaimDue", func(ctx context.Context) error { _, err := st.ClaimDue(ctx, now, time.Minute, 10); return err }},
		{"DoneTimers", func(ctx context.Context) error {
			_, err := st.DoneTimers(ctx, []decisioning.ClaimedTimer{{Timer: tm, Token: "x"}})
			return err
		}},
		{"CancelTimers", func(ctx context.Context) error { _, err := st.CancelTimers(ctx, "c1", ""); return err }},
		{"PendingTimers", func(ctx context.Context) error { _, err := st.PendingTimers(ctx, "c1"); return err }},
		{"TimerCount", func(ctx context.Context) error { _, err := st.TimerCount(ctx); return err }},
		{"UsedMemory", func(ctx context.Context) error { _, err := st.UsedMemory(ctx); return err }},
	} {
		// A deadline beyond the client's dial attempts: the error is the
		// outage, not the context.
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := c.call(octx); !errors.Is(err, features.ErrUnavailable) {
			t.Errorf("%s with Redis down: %v, want features.ErrUnavailable", c.op, err)
		}
		cancel()
	}

	srv.Restart(t)
	// The client redials in the background after failed dials.
	var claimed []decisioning.ClaimedTimer
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if claimed, err = st.ClaimDue(ctx, now, time.Minute, 10); err == nil {
			break
		}
	}
	if err != nil || len(claimed) != 1 || claimed[0].ID != tm.ID {
		t.Fatalf("ClaimDue after the restart = %v, %v; want t1", claimed, err)
	}
}

// BenchmarkTimersSetClaimDone: one op is one timer set, claimed and done,
// in batches of 100 (a script each).
func BenchmarkTimersSetClaimDone(b *testing.B) {
	srv := redistest.Start(b)
	st := redisstate.New(redisstore.New(srv.Client(b), features.Default(), redisstore.Options{}), redisstate.Options{})
	ctx := context.Background()
	const batch = 100
	now := time.Now()
	ts := make([]decisioning.Timer, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		k := min(batch, b.N-i)
		for j := range k {
			id := decisioning.NewID(now)
			ts[j] = decisioning.Timer{ID: id, CustomerID: "c" + id[20:], Campaign: "cart", Due: now, SetAt: now, EventID: id}
		}
		if err := st.SetTimers(ctx, ts[:k]); err != nil {
			b.Fatal(err)
		}
		cs, err := st.ClaimDue(ctx, now, time.Minute, k)
		if err != nil || len(cs) != k {
			b.Fatalf("ClaimDue = %d timers, %v; want %d", len(cs), err, k)
		}
		if _, err := st.DoneTimers(ctx, cs); err != nil {
			b.Fatal(err)
		}
	}
}

var pendingTimers = flag.Int("timers.pending", 100_000, "pending timers of BenchmarkTimersPending")

// BenchmarkTimersPending runs timerbench against a fresh Redis with
// -timers.pending pending timers (run it with -benchtime 1x): memory per
// pending timer, set and claim rates, and the lateness of a watcher
// polling every 10 ms.
func BenchmarkTimersPending(b *testing.B) {
	for range b.N {
		srv := redistest.Start(b)
		st := redisstate.New(redisstore.New(srv.Client(b), features.Default(), redisstore.Options{}), redisstate.Options{})
		res, err := timerbench.Run(context.Background(), st, st.UsedMemory, *pendingTimers, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.BytesPerTimer, "B/pending")
		b.ReportMetric(res.SetRate, "set/s")
		b.ReportMetric(res.ClaimRate, "claim+done/s")
		b.ReportMetric(float64(res.LatenessP50.Microseconds())/1000, "late-p50-ms")
		b.ReportMetric(float64(res.LatenessP99.Microseconds())/1000, "late-p99-ms")
		b.ReportMetric(float64(res.LatenessMax.Microseconds())/1000, "late-max-ms")
		b.Logf("%d pending: %+v", *pendingTimers, res)
	}
}
