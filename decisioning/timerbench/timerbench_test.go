package timerbench_test

import (
	"context"
	"testing"
	"time"

	"kairos/decisioning"
	"kairos/decisioning/memstate"
	"kairos/decisioning/timerbench"
	"kairos/features"
	"kairos/features/memstore"
)

func newStore() *memstate.State {
	return memstate.New(memstore.New(features.Default(), memstore.Options{}), memstate.Options{})
}

// TestRun: a run sets, probes and claims every timer, reports figures in
// range and leaves the store empty.
func TestRun(t *testing.T) {
	st := newStore()
	ctx := context.Background()
	const n = 5000
	last := 0
	res, err := timerbench.Run(ctx, st, nil, n, func(done int) {
		if done < last {
			t.Errorf("progress went back from %d to %d", last, done)
		}
		last = done
	})
	if err != nil {
		t.Fatal(err)
	}
	if last != 2*n {
		t.Errorf("progress ended at %d, want %d", last, 2*n)
	}
	if res.Pending != n || res.Probes != 1000 || res.SetRate <= 0 || res.ClaimRate <= 0 || res.BytesPerTimer != 0 {
		t.Errorf("result %+v", res)
	}
	if res.LatenessP50 < 0 || res.LatenessP50 > res.LatenessP99 || res.LatenessP99 > res.LatenessMax || res.LatenessMax > 5*time.Second {
		t.Errorf("lateness p50 %v, p99 %v, max %v", res.LatenessP50, res.LatenessP99, res.LatenessMax)
	}
	if k, _ := st.TimerCount(ctx); k != 0 {
		t.Errorf("%d timers left", k)
	}
	t.Logf("%+v", res)
}

// TestRunRefusesTimers: a store holding timers is left alone.
func TestRunRefusesTimers(t *testing.T) {
	st := newStore()
	ctx := context.Background()
	tm := decisioning.Timer{ID: "t1", CustomerID: "c1", Campaign: "cart", Due: time.Now().Add(time.Hour)}
	if err := st.SetTimers(ctx, []decisioning.Timer{tm}); err != nil {
		t.Fatal(err)
	}
	if _, err := timerbench.Run(ctx, st, nil, 10, nil); err == nil {
		t.Error("Run on a store holding a timer succeeded")
	}
	if got, _ := st.PendingTimers(ctx, "c1"); len(got) != 1 {
		t.Errorf("the store's timer is gone: %v", got)
	}
}
