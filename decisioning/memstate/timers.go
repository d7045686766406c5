package memstate

import (
	"cmp"
	"container/heap"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"time"

	"kairos/decisioning"
)

var _ decisioning.Timers = (*State)(nil)

// timerStore is the embedded store of trigger timers: every timer by ID,
// the timers never claimed in a heap by Due, the claimed ones in a heap by
// lease end, and each customer's timers.
//
// Due-ness is judged by the now ClaimDue is given; leases keep real time
// (time.Now), whatever Options.Now says, as the dispatch queue's do, so a
// simulated clock may run ahead of them without ending every lease at
// once.
type timerStore struct {
	mu        sync.Mutex
	byID      map[string]*timerEntry
	pending   timerHeap // by Due, then ID
	leased    timerHeap // by lease end
	customers map[string]map[string]*timerEntry
}

// timerEntry is a timer and its lease. A lease that ended keeps its token
// until another claim takes the timer over: until then its holder may
// still mark the timer done (as in redisstate).
type timerEntry struct {
	t      decisioning.Timer
	token  string    // of the last claim; "" before the first
	until  time.Time // lease end (real time)
	leased bool      // claimed: in the leased heap, not the pending one
	idx    int       // index in its heap
}

// timerHeap is a heap of timers indexed for removal: by Due (then ID), or
// by lease end when byLease.
type timerHeap struct {
	es      []*timerEntry
	byLease bool
}

func (h *timerHeap) Len() int { return len(h.es) }
func (h *timerHeap) Less(i, j int) bool {
	a, b := h.es[i], h.es[j]
	if h.byLease {
		return a.until.Before(b.until)
	}
	return compareTimers(a.t, b.t) < 0
}
func (h *timerHeap) Swap(i, j int) {
	h.es[i], h.es[j] = h.es[j], h.es[i]
	h.es[i].idx, h.es[j].idx = i, j
}
func (h *timerHeap) Push(x any) {
	e := x.(*timerEntry)
	e.idx = len(h.es)
	h.es = append(h.es, e)
}
func (h *timerHeap) Pop() any {
	e := h.es[len(h.es)-1]
	h.es[len(h.es)-1] = nil
	h.es = h.es[:len(h.es)-1]
	return e
}

// compareTimers orders timers earliest Due first, then by ID (as a Redis
// sorted set orders equal scores).
func compareTimers(a, b decisioning.Timer) int {
	return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.ID, b.ID))
}

func (ts *timerStore) init() {
	ts.byID = map[string]*timerEntry{}
	ts.customers = map[string]map[string]*timerEntry{}
	ts.leased.byLease = true
}

// remove drops a timer from every index (ts.mu held).
func (ts *timerStore) remove(e *timerEntry) {
	if e.leased {
		heap.Remove(&ts.leased, e.idx)
	} else {
		heap.Remove(&ts.pending, e.idx)
	}
	delete(ts.byID, e.t.ID)
	c := ts.customers[e.t.CustomerID]
	delete(c, e.t.ID)
	if len(c) == 0 {
		delete(ts.customers, e.t.CustomerID)
	}
}

// SetTimers implements decisioning.Timers: every timer is validated
// before any is set.
func (s *State) SetTimers(ctx context.Context, timers []decisioning.Timer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range timers {
		if err := decisioning.ValidateTimer(&timers[i]); err != nil {
			return fmt.Errorf("memstate: set timers: %w", err)
		}
	}
	ts := &s.timers
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, t := range timers {
		if _, ok := ts.byID[t.ID]; ok {
			continue
		}
		e := &timerEntry{t: t}
		ts.byID[t.ID] = e
		heap.Push(&ts.pending, e)
		c := ts.customers[t.CustomerID]
		if c == nil {
			c = map[string]*timerEntry{}
			ts.customers[t.CustomerID] = c
		}
		c[t.ID] = e
	}
	return nil
}

// CancelTimers implements decisioning.Timers. The removed timers are
// returned earliest Due first.
func (s *State) CancelTimers(ctx context.Context, customerID, campaign string, ids ...string) ([]decisioning.Timer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ts := &s.timers
	ts.mu.Lock()
	var out []decisioning.Timer
	for _, e := range ts.customers[customerID] {
		if (campaign == "" || e.t.Campaign == campaign) && (len(ids) == 0 || slices.Contains(ids, e.t.ID)) {
			out = append(out, e.t)
			ts.remove(e)
		}
	}
	ts.mu.Unlock()
	slices.SortFunc(out, compareTimers)
	return out, nil
}

// ClaimDue implements decisioning.Timers. Leases run on real time: a lease
// ends lease after the call, whatever now says, and a timer whose lease
// ended is claimed again whatever now says (it was due when first
// claimed).
func (s *State) ClaimDue(ctx context.Context, now time.Time, lease time.Duration, n int) ([]decisioning.ClaimedTimer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if lease <= 0 {
		return nil, fmt.Errorf("memstate: claim timers: lease %v is not positive", lease)
	}
	if n <= 0 {
		return nil, nil
	}
	token := rand.Text()
	ts := &s.timers
	ts.mu.Lock()
	defer ts.mu.Unlock()
	wall := time.Now()
	until := wall.Add(lease)
	var out []decisioning.ClaimedTimer
	for len(out) < n {
		// The earlier of the first due timer and the first timer whose
		// lease ended (due again, whatever now says), as redisstate
		// orders them by score.
		var e *timerEntry
		if ts.pending.Len() > 0 && !ts.pending.es[0].t.Due.After(now) {
			e = ts.pending.es[0]
		}
		if ts.leased.Len() > 0 {
			if l := ts.leased.es[0]; !l.until.After(wall) && (e == nil || l.until.Before(e.t.Due)) {
				e = l
			}
		}
		if e == nil {
			break
		}
		if e.leased {
			heap.Remove(&ts.leased, e.idx)
		} else {
			heap.Remove(&ts.pending, e.idx)
		}
		e.token, e.until, e.leased = token, until, true
		heap.Push(&ts.leased, e)
		out = append(out, decisioning.ClaimedTimer{Timer: e.t, Token: token, LeaseUntil: until})
	}
	return out, nil
}

// DoneTimers implements decisioning.Timers.
func (s *State) DoneTimers(ctx context.Context, timers []decisioning.ClaimedTimer) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ts := &s.timers
	ts.mu.Lock()
	defer ts.mu.Unlock()
	done := make([]bool, len(timers))
	for i := range timers {
		e, ok := ts.byID[timers[i].ID]
		if !ok || e.token == "" || e.token != timers[i].Token {
			continue
		}
		ts.remove(e)
		done[i] = true
	}
	return done, nil
}

// PendingTimers implements decisioning.Timers.
func (s *State) PendingTimers(ctx context.Context, customerID string) ([]decisioning.Timer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ts := &s.timers
	ts.mu.Lock()
	out := make([]decisioning.Timer, 0, len(ts.customers[customerID]))
	for _, e := range ts.customers[customerID] {
		out = append(out, e.t)
	}
	ts.mu.Unlock()
	slices.SortFunc(out, compareTimers)
	return out, nil
}

// TimerCount implements decisioning.Timers.
func (s *State) TimerCount(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ts := &s.timers
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return int64(len(ts.byID)), nil
}
