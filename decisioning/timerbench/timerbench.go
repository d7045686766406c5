// Package timerbench measures a trigger timer store (decisioning.Timers)
// holding many pending timers: the memory each pending timer takes, how
// fast timers are set and claimed, and how late a due timer is claimed by
// a watcher that polls every 10 ms while the others wait. It backs
// `kairos bench triggers`.
//
// It takes the store as a decisioning.Timers and must not import
// decisioning/memstate or decisioning/redisstate.
package timerbench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"kairos/decisioning"
)

// Campaign is the campaign of every timer Run sets; Run marks done only
// timers of this campaign.
const Campaign = "timerbench"

const (
	// setBatch is the number of timers of one SetTimers.
	setBatch = 1000
	// claimBatch is the most timers of one ClaimDue.
	claimBatch = 1000
	// probes is the number of timers whose claim lateness is measured,
	// due every probeEvery from probeLead after they are set.
	probes     = 1000
	probeEvery = 2 * time.Millisecond
	probeLead  = 200 * time.Millisecond
	// Poll is how often the lateness watcher claims.
	Poll = 10 * time.Millisecond
	// lease is the lease of every claim: longer than the run's claims
	// take, so no timer is claimed twice.
	lease = 5 * time.Minute
)

// Result is what Run measured.
type Result struct {
	// Pending is the number of pending timers set (n).
	Pending int
	// SetTime is how long setting them took, in SetTimers batches of
	// 1,000, and SetRate the timers set per second.
	SetTime time.Duration
	SetRate float64
	// BytesPerTimer is how much the store's memory grew per pending
	// timer (mem after the set minus mem before, over Pending); 0
	// without mem.
	BytesPerTimer float64
	// Probes is the number of timers due during the run, each claimed
	// by a watcher polling every 10 ms (ClaimDue with time.Now) while
	// the pending timers wait; Lateness* is how long after its Due each
	// was in the watcher's hands (a ClaimDue returned it).
	Probes                                int
	LatenessP50, LatenessP99, LatenessMax time.Duration
	// ClaimTime is how long claiming the pending timers and marking them
	// done took (ClaimDue of up to 1,000 with a now after the last Due,
	// then DoneTimers), and ClaimRate the timers claimed and done per
	// second.
	ClaimTime time.Duration
	ClaimRate float64
}

// Run measures st with n pending timers, each for a customer of its own,
// due over a day from an hour on. mem, when not nil, returns the store's
// memory in bytes (redisstate's UsedMemory); progress, when not nil, is
// called with the timers set so far, then with n plus those claimed so
// far (up to 2n).
//
// Run refuses a store that holds timers: it claims every timer due in
// the next day and a day. It removes the timers it set, unless it fails
// part way.
func Run(ctx context.Context, st decisioning.Timers, mem func(context.Context) (int64, error), n int, progress func(done int)) (Result, error) {
	res := Result{Pending: n}
	if n <= 0 {
		return res, errors.New("timerbench: no timers to set")
	}
	if progress == nil {
		progress = func(int) {}
	}
	if k, err := st.TimerCount(ctx); err != nil {
		return res, fmt.Errorf("timerbench: %w", err)
	} else if k > 0 {
		return res, fmt.Errorf("timerbench: the store holds %d timers; run against one without timers", k)
	}
	var before int64
	if mem != nil {
		var err error
		if before, err = mem(ctx); err != nil {
			return res, fmt.Errorf("timerbench: memory before: %w", err)
		}
	}

	base := time.Now()
	first := base.Add(time.Hour)
	spread := 24 * time.Hour
	batch := make([]decisioning.Timer, 0, setBatch)
	start := time.Now()
	for i := range n {
		due := first.Add(time.Duration(float64(spread) * float64(i) / float64(n)))
		batch = append(batch, timer(fmt.Sprintf("bench-%08d", i), due, base))
		if len(batch) == setBatch || i == n-1 {
			if err := st.SetTimers(ctx, batch); err != nil {
				return res, fmt.Errorf("timerbench: set: %w", err)
			}
			batch = batch[:0]
			progress(i + 1)
		}
	}
	res.SetTime = time.Since(start)
	res.SetRate = float64(n) / res.SetTime.Seconds()
	if mem != nil {
		after, err := mem(ctx)
		if err != nil {
			return res, fmt.Errorf("timerbench: memory after: %w", err)
		}
		res.BytesPerTimer = float64(after-before) / float64(n)
	}

	lateness, err := probe(ctx, st)
	if err != nil {
		return res, err
	}
	slices.Sort(lateness)
	res.Probes = len(lateness)
	res.LatenessP50 = lateness[len(lateness)/2]
	res.LatenessP99 = lateness[(len(lateness)*99+99)/100-1]
	res.LatenessMax = lateness[len(lateness)-1]

	// Every pending timer is due by the last Due.
	end := first.Add(spread)
	start = time.Now()
	claimed := 0
	for {
		cs, err := st.ClaimDue(ctx, end, lease, claimBatch)
		if err != nil {
			return res, fmt.Errorf("timerbench: claim: %w", err)
		}
		if len(cs) == 0 {
			break
		}
		ours := slices.DeleteFunc(cs, func(c decisioning.ClaimedTimer) bool { return c.Campaign != Campaign })
		if _, err := st.DoneTimers(ctx, ours); err != nil {
			return res, fmt.Errorf("timerbench: done: %w", err)
		}
		claimed += len(ours)
		progress(n + claimed)
	}
	res.ClaimTime = time.Since(start)
	res.ClaimRate = float64(claimed) / res.ClaimTime.Seconds()
	if claimed != n {
		return res, fmt.Errorf("timerbench: claimed %d of the %d pending timers", claimed, n)
	}
	return res, nil
}

// timer returns a timer of customer set at now. Its ID and event id are
// as long as decision ids (26 characters).
func timer(customer string, due, now time.Time) decisioning.Timer {
	return decisioning.Timer{ID: decisioning.NewID(now), CustomerID: customer, Campaign: Campaign,
		Due: due, SetAt: now, EventID: decisioning.NewID(now)}
}

// probe sets timers due over the next 2 s and claims them every Poll as a
// watcher does, returning how late each was claimed.
func probe(ctx context.Context, st decisioning.Timers) ([]time.Duration, error) {
	now := time.Now()
	ts := make([]decisioning.Timer, probes)
	due := map[string]time.Time{}
	for i := range ts {
		ts[i] = timer(fmt.Sprintf("probe-%04d", i), now.Add(probeLead+time.Duration(i)*probeEvery), now)
		// Due as the store keeps it (Redis: milliseconds).
		ts[i].Due = time.UnixMilli(ts[i].Due.UnixMilli())
		due[ts[i].ID] = ts[i].Due
	}
	if err := st.SetTimers(ctx, ts); err != nil {
		return nil, fmt.Errorf("timerbench: set probes: %w", err)
	}
	deadline := ts[len(ts)-1].Due.Add(10 * time.Second)
	tick := time.NewTicker(Poll)
	defer tick.Stop()
	var lateness []time.Duration
	for len(lateness) < probes {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("timerbench: %d of %d probe timers claimed 10 s after the last was due", len(lateness), probes)
		}
		cs, err := st.ClaimDue(ctx, time.Now(), lease, claimBatch)
		at := time.Now()
		if err != nil {
			return nil, fmt.Errorf("timerbench: claim probes: %w", err)
		}
		var ours []decisioning.ClaimedTimer
		for _, c := range cs {
			d, ok := due[c.ID]
			if !ok {
				if c.Campaign == Campaign {
					return nil, fmt.Errorf("timerbench: timer %s, due %v, was claimed at %v", c.ID, c.Due, at)
				}
				continue // not ours: left to its lease
			}
			lateness = append(lateness, at.Sub(d))
			ours = append(ours, c)
		}
		if _, err := st.DoneTimers(ctx, ours); err != nil {
			return nil, fmt.Errorf("timerbench: done probes: %w", err)
		}
	}
	return lateness, nil
}
