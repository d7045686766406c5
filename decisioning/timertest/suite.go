// Package timertest is the contract every decisioning.Timers must pass:
// memstate's embedded store and redisstate's Redis store run the same
// suite, so that setting (idempotent by ID), validation, due-ness and
// claim order, leases and their takeover, cancellation and listing mean
// the same on both, and so that watchers claiming concurrently are each
// handed a due timer exactly once while leases live, and a watcher that
// dies leaves its timers to the others once its lease ends.
//
// It is imported only by tests and must not import decisioning/memstate
// or decisioning/redisstate.
package timertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"kairos/decisioning"
)

// Run runs the whole contract against stores made by newStore, each new
// and empty. The subtests run in parallel, each with a store of its own.
func Run(t *testing.T, newStore func(t *testing.T) decisioning.Timers) {
	for _, tc := range []struct {
		name string
		test func(*testing.T, decisioning.Timers)
	}{
		{"Set", testSet},
		{"Validation", testValidation},
		{"ClaimOrder", testClaimOrder},
		{"NotDue", testNotDue},
		{"Lease", testLease},
		{"Cancel", testCancel},
		{"Pending", testPending},
		{"Count", testCount},
		{"ContextDone", testContextDone},
		{"ConcurrentWatchers", testConcurrent},
		{"DeadWatcher", testDeadWatcher},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, newStore(t))
		})
	}
}

const (
	// long is a lease no test outlives.
	long = time.Minute
	// short is a lease a test waits out. An implementation may time
	// leases by its own clock (Redis's), so a test waits for one to end
	// rather than passing a later now.
	short = 300 * time.Millisecond
)

// equal compares timers as a store returns them: times by Equal (go-cmp
// uses the method, so the location does not matter), nil and empty alike.
var equal = cmpopts.EquateEmpty()

// ms returns t at millisecond precision, as Redis scores keep times.
func ms(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()) }

// timer returns a timer set 30 minutes before due by event "e-"+id.
func timer(id, customer, campaign string, due time.Time) decisioning.Timer {
	return decisioning.Timer{ID: id, CustomerID: customer, Campaign: campaign, Due: ms(due),
		SetAt: ms(due.Add(-30 * time.Minute)), EventID: "e-" + id}
}

func set(t *testing.T, st decisioning.Timers, ts ...decisioning.Timer) {
	t.Helper()
	if err := st.SetTimers(context.Background(), ts); err != nil {
		t.Fatalf("SetTimers(%d timers): %v", len(ts), err)
	}
}

func claim(t *testing.T, st decisioning.Timers, now time.Time, lease time.Duration, n int) []decisioning.ClaimedTimer {
	t.Helper()
	cs, err := st.ClaimDue(context.Background(), now, lease, n)
	if err != nil {
		t.Fatalf("ClaimDue(n=%d): %v", n, err)
	}
	return cs
}

func done(t *testing.T, st decisioning.Timers, cs ...decisioning.ClaimedTimer) []bool {
	t.Helper()
	d, err := st.DoneTimers(context.Background(), cs)
	if err != nil {
		t.Fatalf("DoneTimers(%d timers): %v", len(cs), err)
	}
	if len(d) != len(cs) {
		t.Fatalf("DoneTimers(%d timers) returned %d results", len(cs), len(d))
	}
	return d
}

func pending(t *testing.T, st decisioning.Timers, customer string) []decisioning.Timer {
	t.Helper()
	ts, err := st.PendingTimers(context.Background(), customer)
	if err != nil {
		t.Fatalf("PendingTimers(%s): %v", customer, err)
	}
	return ts
}

func cancel(t *testing.T, st decisioning.Timers, customer, campaign string) []decisioning.Timer {
	t.Helper()
	ts, err := st.CancelTimers(context.Background(), customer, campaign)
	if err != nil {
		t.Fatalf("CancelTimers(%s, %q): %v", customer, campaign, err)
	}
	return ts
}

func count(t *testing.T, st decisioning.Timers) int64 {
	t.Helper()
	n, err := st.TimerCount(context.Background())
	if err != nil {
		t.Fatalf("TimerCount: %v", err)
	}
	return n
}

func checkCount(t *testing.T, st decisioning.Timers, what string, want int64) {
	t.Helper()
	if got := count(t, st); got != want {
		t.Errorf("%s: TimerCount = %d, want %d", what, got, want)
	}
}

func checkPending(t *testing.T, st decisioning.Timers, customer, what string, want ...decisioning.Timer) {
	t.Helper()
	if diff := gocmp.Diff(want, pending(t, st, customer), equal); diff != "" {
		t.Errorf("%s: PendingTimers(%s) (-want +got):\n%s", what, customer, diff)
	}
}

// timersOf returns the timers of claims.
func timersOf(cs []decisioning.ClaimedTimer) []decisioning.Timer {
	out := make([]decisioning.Timer, len(cs))
	for i, c := range cs {
		out[i] = c.Timer
	}
	return out
}

// checkClaimed checks the timers claimed, in order.
func checkClaimed(t *testing.T, what string, got []decisioning.ClaimedTimer, want ...decisioning.Timer) {
	t.Helper()
	if diff := gocmp.Diff(want, timersOf(got), equal); diff != "" {
		t.Errorf("%s: ClaimDue (-want +got):\n%s", what, diff)
	}
}

func byID(ts []decisioning.Timer) []decisioning.Timer {
	out := slices.Clone(ts)
	slices.SortFunc(out, func(a, b decisioning.Timer) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// testSet: timers read back as set; setting an ID that is pending, with
// whatever fields, changes nothing, within a batch too.
func testSet(t *testing.T, st decisioning.Timers) {
	now := time.Now()
	a := timer("t1", "c1", "cart", now.Add(time.Hour))
	b := timer("t2", "c1", "cart", now.Add(2*time.Hour))
	b.SetAt, b.EventID = time.Time{}, "" // optional fields
	set(t, st, a, b)
	checkPending(t, st, "c1", "after setting two", a, b)
	checkCount(t, st, "after setting two", 2)

	moved := a
	moved.Due, moved.Campaign, moved.CustomerID = ms(now.Add(-time.Hour)), "other", "c9"
	c := timer("t3", "c2", "cart", now.Add(time.Hour))
	set(t, st, moved, c)
	checkPending(t, st, "c1", "after setting t1 again", a, b)
	checkPending(t, st, "c9", "after setting t1 again for another customer")
	checkPending(t, st, "c2", "after setting t3", c)
	checkCount(t, st, "after setting t1 again and t3", 3)
	if cs := claim(t, st, now, long, 10); len(cs) != 0 {
		t.Errorf("setting t1 again with a past Due made %d timers due, want none", len(cs))
	}

	first := timer("t4", "c3", "cart", now.Add(3*time.Hour))
	second := timer("t4", "c3", "cart", now.Add(-time.Hour))
	set(t, st, first, second)
	checkPending(t, st, "c3", "one ID twice in a batch: the first is set", first)
	checkCount(t, st, "after t4", 4)

	set(t, st) // nothing
	checkCount(t, st, "after an empty SetTimers", 4)
}

// testValidation: a batch holding an invalid timer is refused with
// decisioning.ErrTimer and sets none of its timers.
func testValidation(t *testing.T, st decisioning.Timers) {
	now := time.Now()
	valid := timer("ok", "c1", "cart", now)
	for _, tc := range []struct {
		name   string
		mutate func(*decisioning.Timer)
	}{
		{"empty id", func(t *decisioning.Timer) { t.ID = "" }},
		{"empty customer", func(t *decisioning.Timer) { t.CustomerID = "" }},
		{"empty campaign", func(t *decisioning.Timer) { t.Campaign = "" }},
		{"zero due", func(t *decisioning.Timer) { t.Due = time.Time{} }},
	} {
		bad := timer("bad", "c1", "cart", now)
		tc.mutate(&bad)
		err := st.SetTimers(context.Background(), []decisioning.Timer{valid, bad})
		if !errors.Is(err, decisioning.ErrTimer) {
			t.Errorf("%s: SetTimers = %v, want decisioning.ErrTimer", tc.name, err)
		}
	}
	checkCount(t, st, "after refused batches", 0)
	checkPending(t, st, "c1", "after refused batches")
}

// testClaimOrder: ClaimDue leases due timers earliest Due first (a timer
// due exactly at now included), at most n, each once, with a token and
// a lease; the timer comes back as set.
func testClaimOrder(t *testing.T, st decisioning.Timers) {
	now := ms(time.Now())
	t3 := timer("t3", "c1", "cart", now.Add(-3*time.Minute))
	t1 := timer("t1", "c2", "cart", now.Add(-time.Minute))
	t2 := timer("t2", "c3", "winback", now.Add(-2*time.Minute))
	t0 := timer("t0", "c1", "winback", now)
	later := timer("later", "c2", "cart", now.Add(time.Hour))
	set(t, st, later, t1, t0, t3, t2)

	before := time.Now()
	first := claim(t, st, now, long, 2)
	after := time.Now()
	checkClaimed(t, "n=2", first, t3, t2)
	for _, c := range first {
		if c.Token == "" {
			t.Errorf("claim of %s has no token", c.ID)
		}
		if c.LeaseUntil.Before(before.Add(long).Add(-time.Millisecond)) || c.LeaseUntil.After(after.Add(long).Add(time.Second)) {
			t.Errorf("claim of %s leased until %v, want about %v after the call (%v)", c.ID, c.LeaseUntil, long, before)
		}
	}
	checkClaimed(t, "n=10, next", claim(t, st, now, long, 10), t1, t0)
	checkClaimed(t, "n=10, every due timer leased", claim(t, st, now, long, 10))
	checkClaimed(t, "n=10 an hour later", claim(t, st, now.Add(time.Hour), long, 10), later)

	set(t, st, timer("t5", "c4", "cart", now))
	checkClaimed(t, "n=0", claim(t, st, now, long, 0))
	if _, err := st.ClaimDue(context.Background(), now, 0, 10); err == nil {
		t.Error("ClaimDue with a zero lease succeeded, want an error")
	}
	checkClaimed(t, "n=1 after n=0 and a refused claim", claim(t, st, now, long, 1), timer("t5", "c4", "cart", now))
	checkCount(t, st, "leased timers stay until done", 6)
}

// testNotDue: a timer is not claimed before its Due, judged by the now
// ClaimDue is given, and is claimed from its Due on.
func testNotDue(t *testing.T, st decisioning.Timers) {
	now := ms(time.Now())
	due := now.Add(time.Hour)
	tm := timer("t1", "c1", "cart", due)
	set(t, st, tm)
	checkClaimed(t, "an hour early", claim(t, st, now, long, 10))
	checkClaimed(t, "a millisecond early", claim(t, st, due.Add(-time.Millisecond), long, 10))
	checkClaimed(t, "at its Due", claim(t, st, due, long, 10), tm)

	// A past timer (set after its Due, say by a restarted instance's
	// backlog) is due at once.
	past := timer("t2", "c1", "cart", now.Add(-24*time.Hour))
	set(t, st, past)
	checkClaimed(t, "a day overdue", claim(t, st, now, long, 10), past)
}

// testLease: a leased timer is not claimed again while the lease lives;
// once it ends the timer is claimed again (taken over) with a new token,
// after which the first holder's DoneTimers reports false and leaves it.
// A lease that ended but was not taken over still lets its holder finish,
// and an ended lease makes the timer due again whatever now a watcher
// passes.
func testLease(t *testing.T, st decisioning.Timers) {
	now := ms(time.Now())
	tm := timer("t1", "c1", "cart", now.Add(-time.Second))
	set(t, st, tm)
	a := claim(t, st, now, short, 10)
	checkClaimed(t, "first claim", a, tm)
	checkClaimed(t, "during the lease", claim(t, st, time.Now(), short, 10))
	checkClaimed(t, "during the lease, with a later now", claim(t, st, now.Add(time.Hour), short, 10))

	time.Sleep(short + 100*time.Millisecond)
	b := claim(t, st, time.Now(), long, 10)
	checkClaimed(t, "after the lease ended", b, tm)
	if len(a) != 1 || len(b) != 1 {
		t.FailNow()
	}
	if b[0].Token == a[0].Token {
		t.Errorf("the takeover has the first lease's token %q", a[0].Token)
	}
	if d := done(t, st, a[0]); d[0] {
		t.Error("the first holder's DoneTimers after a takeover reported true")
	}
	checkCount(t, st, "after the first holder's DoneTimers", 1)
	checkPending(t, st, "c1", "after the first holder's DoneTimers", tm)
	checkClaimed(t, "during the second lease", claim(t, st, time.Now(), long, 10))
	if d := done(t, st, b[0]); !d[0] {
		t.Error("the second holder's DoneTimers reported false")
	}
	checkCount(t, st, "after the second holder's DoneTimers", 0)
	checkPending(t, st, "c1", "after the second holder's DoneTimers")
	if d := done(t, st, b[0]); d[0] {
		t.Error("DoneTimers of a removed timer reported true")
	}

	// A lease that ended without a takeover: its holder may still finish.
	tm2 := timer("t2", "c1", "cart", now)
	set(t, st, tm2)
	c := claim(t, st, now, short, 10)
	checkClaimed(t, "claim of t2", c, tm2)
	time.Sleep(short + 100*time.Millisecond)
	if d := done(t, st, c...); len(d) != 1 || !d[0] {
		t.Errorf("DoneTimers after the lease ended, before any takeover = %v, want [true]", d)
	}
	checkClaimed(t, "after t2 was done", claim(t, st, time.Now(), long, 10))
	checkCount(t, st, "after t2 was done", 0)

	// A timer whose lease ended is due again, also to a watcher whose now
	// is behind the timer's Due (a clock behind the first watcher's).
	tm3 := timer("t3", "c1", "cart", now)
	set(t, st, tm3)
	checkClaimed(t, "claim of t3", claim(t, st, now, short, 10), tm3)
	time.Sleep(short + 100*time.Millisecond)
	checkClaimed(t, "t3 after its lease ended, with a now before its Due", claim(t, st, now.Add(-time.Hour), long, 10), tm3)
}

// testCancel: CancelTimers removes the customer's timers of one campaign
// or of all, leased ones included, returns them, and leaves other
// customers' timers; a cancelled timer is never claimed, its holder's
// DoneTimers reports false, and its ID may be set again.
func testCancel(t *testing.T, st decisioning.Timers) {
	now := ms(time.Now())
	a1 := timer("a1", "c1", "cart", now.Add(-time.Minute))
	a2 := timer("a2", "c1", "cart", now.Add(time.Hour))
	b1 := timer("b1", "c1", "winback", now.Add(2*time.Hour))
	a3 := timer("a3", "c2", "cart", now.Add(-time.Minute))
	set(t, st, a1, a2, b1, a3)
	leased := claim(t, st, now, long, 10)
	checkClaimed(t, "due timers", leased, a1, a3)

	if diff := gocmp.Diff([]decisioning.Timer{a1, a2}, byID(cancel(t, st, "c1", "cart")), equal); diff != "" {
		t.Errorf("CancelTimers(c1, cart) (-want +got):\n%s", diff)
	}
	checkPending(t, st, "c1", "after cancelling c1's cart", b1)
	checkPending(t, st, "c2", "after cancelling c1's cart", a3)
	checkCount(t, st, "after cancelling c1's cart", 2)
	if d := done(t, st, leased...); d[0] || !d[1] {
		t.Errorf("DoneTimers(cancelled a1, a3) = %v, want [false true]", d)
	}
	checkCount(t, st, "after a3 was done", 1)

	if diff := gocmp.Diff([]decisioning.Timer{b1}, cancel(t, st, "c1", ""), equal); diff != "" {
		t.Errorf("CancelTimers(c1, every campaign) (-want +got):\n%s", diff)
	}
	if got := cancel(t, st, "c1", ""); len(got) != 0 {
		t.Errorf("CancelTimers again removed %d timers", len(got))
	}
	if got := cancel(t, st, "nobody", "cart"); len(got) != 0 {
		t.Errorf("CancelTimers of a customer without timers removed %d timers", len(got))
	}
	checkCount(t, st, "after cancelling every timer", 0)
	checkClaimed(t, "after cancelling every timer, hours later", claim(t, st, now.Add(3*time.Hour), long, 10))

	set(t, st, a1)
	checkPending(t, st, "c1", "a cancelled ID set again", a1)
	checkClaimed(t, "a cancelled ID set again", claim(t, st, now, long, 10), a1)

	// Cancelling a campaign without timers leaves the others.
	set(t, st, b1)
	if got := cancel(t, st, "c1", "none"); len(got) != 0 {
		t.Errorf("CancelTimers(c1, none) removed %v", got)
	}
	checkCount(t, st, "after cancelling an empty campaign", 2)

	// With ids, only those of the customer's timers of the campaign.
	set(t, st, a2, timer("a4", "c1", "cart", now.Add(3*time.Hour)))
	got, err := st.CancelTimers(context.Background(), "c1", "cart", "a2", "b1", "zz")
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff([]decisioning.Timer{a2}, got, equal); diff != "" {
		t.Errorf("CancelTimers(c1, cart, a2 b1 zz) (-want +got):\n%s", diff)
	}
	checkPending(t, st, "c1", "after cancelling a2 by id", a1, b1, timer("a4", "c1", "cart", now.Add(3*time.Hour)))
}

// testPending: PendingTimers lists a customer's timers, leased ones
// included, earliest Due first.
func testPending(t *testing.T, st decisioning.Timers) {
	now := ms(time.Now())
	var want []decisioning.Timer
	for i, d := range []time.Duration{3 * time.Hour, -time.Minute, time.Hour, 5 * time.Minute, 2 * time.Hour} {
		tm := timer(fmt.Sprintf("t%d", i), "c1", []string{"cart", "winback"}[i%2], now.Add(d))
		set(t, st, tm)
		want = append(want, tm)
	}
	set(t, st, timer("x", "c2", "cart", now))
	slices.SortFunc(want, func(a, b decisioning.Timer) int { return a.Due.Compare(b.Due) })
	checkPending(t, st, "c1", "five timers", want...)
	checkClaimed(t, "the due one", claim(t, st, now, long, 10), want[0], timer("x", "c2", "cart", now))
	checkPending(t, st, "c1", "one leased", want...)
	checkPending(t, st, "c3", "a customer without timers")
}

// testCount: TimerCount counts pending and leased timers.
func testCount(t *testing.T, st decisioning.Timers) {
	now := ms(time.Now())
	checkCount(t, st, "empty", 0)
	for i := range 10 {
		set(t, st, timer(fmt.Sprintf("t%d", i), fmt.Sprintf("c%d", i%3), "cart", now.Add(time.Duration(i-5)*time.Minute)))
	}
	checkCount(t, st, "ten set", 10)
	cs := claim(t, st, now, long, 3)
	checkCount(t, st, "three leased", 10)
	done(t, st, cs...)
	checkCount(t, st, "three done", 7)
	n := len(cancel(t, st, "c1", ""))
	checkCount(t, st, "c1 cancelled", int64(7-n))
}

// testContextDone: every method answers a done context with an error.
func testContextDone(t *testing.T, st decisioning.Timers) {
	ctx, stop := context.WithCancel(context.Background())
	stop()
	now := time.Now()
	if err := st.SetTimers(ctx, []decisioning.Timer{timer("t1", "c1", "cart", now)}); err == nil {
		t.Error("SetTimers with a done context succeeded")
	}
	if _, err := st.ClaimDue(ctx, now, long, 10); err == nil {
		t.Error("ClaimDue with a done context succeeded")
	}
	if _, err := st.CancelTimers(ctx, "c1", ""); err == nil {
		t.Error("CancelTimers with a done context succeeded")
	}
	if _, err := st.DoneTimers(ctx, []decisioning.ClaimedTimer{{Timer: timer("t1", "c1", "cart", now), Token: "x"}}); err == nil {
		t.Error("DoneTimers with a done context succeeded")
	}
	if _, err := st.PendingTimers(ctx, "c1"); err == nil {
		t.Error("PendingTimers with a done context succeeded")
	}
	if _, err := st.TimerCount(ctx); err == nil {
		t.Error("TimerCount with a done context succeeded")
	}
}

// dueTimers sets n timers due in the last minute, spread over 50
// customers and two campaigns, and returns their IDs.
func dueTimers(t *testing.T, st decisioning.Timers, n int) map[string]bool {
	t.Helper()
	now := ms(time.Now())
	ids := map[string]bool{}
	var batch []decisioning.Timer
	for i := range n {
		tm := timer(fmt.Sprintf("t%04d", i), fmt.Sprintf("c%02d", i%50), []string{"cart", "winback"}[i%2],
			now.Add(-time.Minute).Add(time.Duration(i)*time.Millisecond))
		batch = append(batch, tm)
		ids[tm.ID] = true
		if len(batch) == 100 {
			set(t, st, batch...)
			batch = nil
		}
	}
	set(t, st, batch...)
	return ids
}

// testConcurrent: four watchers claiming from 1,000 due timers with live
// leases are each handed every timer at most once and together all of
// them once; every DoneTimers succeeds and the store ends empty.
func testConcurrent(t *testing.T, st decisioning.Timers) {
	const (
		n        = 1000
		watchers = 4
	)
	ids := dueTimers(t, st, n)
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	var (
		mu      sync.Mutex
		claimed = map[string][]int{} // timer ID → watchers handed it
		wg      sync.WaitGroup
		total   int
	)
	for w := range watchers {
		wg.Go(func() {
			for ctx.Err() == nil {
				cs, err := st.ClaimDue(ctx, time.Now(), long, 1+w*7) // batches of 1, 8, 15, 22
				if err != nil {
					t.Errorf("watcher %d: ClaimDue: %v", w, err)
					return
				}
				if len(cs) == 0 {
					return // every due timer is leased or done
				}
				mu.Lock()
				for _, c := range cs {
					claimed[c.ID] = append(claimed[c.ID], w)
					total++
				}
				mu.Unlock()
				d, err := st.DoneTimers(ctx, cs)
				if err != nil {
					t.Errorf("watcher %d: DoneTimers: %v", w, err)
					return
				}
				for i, ok := range d {
					if !ok {
						t.Errorf("watcher %d: DoneTimers(%s) under a live lease reported false", w, cs[i].ID)
					}
				}
			}
		})
	}
	wg.Wait()
	if total != n {
		t.Errorf("the watchers were handed %d timers, want %d", total, n)
	}
	for id := range ids {
		if got := claimed[id]; len(got) != 1 {
			t.Errorf("timer %s was handed to watchers %v, want exactly one", id, got)
		}
	}
	for id := range claimed {
		if !ids[id] {
			t.Errorf("unknown timer %s was claimed", id)
		}
	}
	checkCount(t, st, "after every timer was done", 0)
	checkClaimed(t, "after every timer was done", claim(t, st, time.Now().Add(time.Hour), long, 10))
}

// testDeadWatcher: a watcher that claims timers and dies (never calls
// DoneTimers) leaves them to the live watchers once its lease ends, not
// before; each is then handed to a live watcher once, and the dead
// watcher's late DoneTimers removes nothing.
func testDeadWatcher(t *testing.T, st decisioning.Timers) {
	const (
		n        = 100
		deadN    = 40
		watchers = 3
	)
	ids := dueTimers(t, st, n)
	start := time.Now()
	dead := claim(t, st, start, short, deadN)
	if len(dead) != deadN {
		t.Fatalf("the dead watcher claimed %d timers, want %d", len(dead), deadN)
	}
	deadIDs := map[string]bool{}
	for _, c := range dead {
		deadIDs[c.ID] = true
	}

	ctx, stop := context.WithTimeout(context.Background(), 20*time.Second)
	defer stop()
	var (
		mu       sync.Mutex
		claimed  = map[string]int{}
		early    []string // the dead watcher's timers claimed before its lease ended
		finished int
		wg       sync.WaitGroup
	)
	for w := range watchers {
		wg.Go(func() {
			for ctx.Err() == nil {
				mu.Lock()
				all := finished == n
				mu.Unlock()
				if all {
					return
				}
				cs, err := st.ClaimDue(ctx, time.Now(), long, 10)
				at := time.Now()
				if err != nil {
					t.Errorf("watcher %d: ClaimDue: %v", w, err)
					return
				}
				if len(cs) == 0 {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				mu.Lock()
				for _, c := range cs {
					claimed[c.ID]++
					if deadIDs[c.ID] && at.Sub(start) < short {
						early = append(early, c.ID)
					}
				}
				mu.Unlock()
				d, err := st.DoneTimers(ctx, cs)
				if err != nil {
					t.Errorf("watcher %d: DoneTimers: %v", w, err)
					return
				}
				mu.Lock()
				for i, ok := range d {
					if ok {
						finished++
					} else {
						t.Errorf("watcher %d: DoneTimers(%s) under a live lease reported false", w, cs[i].ID)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if finished != n {
		t.Fatalf("the live watchers finished %d of %d timers", finished, n)
	}
	if len(early) > 0 {
		t.Errorf("timers %v of the dead watcher were claimed before its lease of %v ended", early, short)
	}
	for id := range ids {
		if claimed[id] != 1 {
			t.Errorf("timer %s was handed to live watchers %d times, want once", id, claimed[id])
		}
	}
	for i, ok := range done(t, st, dead...) {
		if ok {
			t.Errorf("the dead watcher's late DoneTimers(%s) reported true", dead[i].ID)
		}
	}
	checkCount(t, st, "after every timer was done", 0)
}
