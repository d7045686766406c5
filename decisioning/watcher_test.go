package decisioning_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kairos/decisioning"
	"kairos/features"
)

// cartConfig has the absence trigger alone.
var cartConfig = triggerConfig[:strings.Index(triggerConfig, "  - name: upgrade")]

// triggerConfig has a campaign of each trigger kind.
const triggerConfig = `
global: {control_group: 0%, salt: g}
campaigns:
  - name: cart
    holdout: 0%
    salt: c1
    arms:
      - {channel: email, offer: reminder}
      - {channel: none}
    reward: {event: purchase, within: 72h, value: amount}
    policy: {kind: thompson, epsilon: 0.2}
    trigger: {on: {event: add_to_cart}, unless: {event: purchase}, within: 30m}
  - name: upgrade
    holdout: 0%
    salt: u1
    arms:
      - {channel: inapp, offer: upgrade_offer}
      - {channel: none}
    reward: {event: subscription_started, within: 7d, value: 1}
    policy: {kind: thompson}
    trigger: {when: "pricing_views_24h >= 2"}
  - name: payment
    holdout: 0%
    salt: p1
    arms:
      - {channel: email, offer: update_card}
      - {channel: none}
    reward: {event: subscription_started, within: 7d, value: 1}
    policy: {kind: thompson}
    trigger: {on: {event: payment_failed, where: {attempt: 1}}}
    entry: {limit: once_per, period: 14d}
`

// watch is a watcher on a harness's backend with the harness's clock.
type watch struct {
	*decisioning.Watcher
	h      *harness
	timers decisioning.Timers
	state  decisioning.TriggerState
}

func newWatch(t *testing.T, h *harness, consumer string) *watch {
	t.Helper()
	timers, ok1 := h.b.state.(decisioning.Timers)
	ts, ok2 := h.b.state.(decisioning.TriggerState)
	if !ok1 || !ok2 {
		t.Fatalf("the %s state keeps no timers or trigger state", h.b.name)
	}
	if err := h.b.evlog.CreateGroup(context.Background(), decisioning.WatcherGroup); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.u = 0 // the policy's draw picks the first eligible arm: a send
	// Near the real time: Redis expires feature tiles on the real clock,
	// so events a month old would vanish at once.
	h.now = time.Now().UTC().Truncate(time.Hour)
	h.mu.Unlock()
	w := decisioning.NewWatcher(decisioning.WatcherOptions{
		Config: h.cfg, Engine: h.engine, Log: h.b.evlog, Timers: timers, State: ts, Consumer: consumer,
		Lease: time.Minute, Registerer: prometheus.NewRegistry(), Now: h.clock,
	})
	return &watch{Watcher: w, h: h, timers: timers, state: ts}
}

// track tracks events at the harness's clock.
func (w *watch) track(t *testing.T, evs ...features.Event) {
	t.Helper()
	if _, err := w.h.b.feats.Track(context.Background(), evs, w.h.clock()); err != nil {
		t.Fatal(err)
	}
}

// drain reads the log to its end and fires the due timers.
func (w *watch) drain(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for {
		n, err := w.Step(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if _, err := w.FireDue(ctx, 1000); err != nil {
		t.Fatal(err)
	}
}

// steps returns the customer's journal steps of kind in campaign.
func (w *watch) steps(t *testing.T, customer, campaign, kind string) []decisioning.JournalEntry {
	t.Helper()
	js, err := w.state.Journal(context.Background(), customer)
	if err != nil {
		t.Fatal(err)
	}
	var out []decisioning.JournalEntry
	for _, j := range js {
		if j.Campaign == campaign && j.Kind == kind {
			out = append(out, j)
		}
	}
	return out
}

func ev(id, customer, typ string, at time.Time, props ...any) features.Event {
	e := features.Event{ID: id, CustomerID: customer, Type: typ, Time: at}
	for i := 0; i+1 < len(props); i += 2 {
		if e.Properties == nil {
			e.Properties = map[string]features.Value{}
		}
		switch v := props[i+1].(type) {
		case string:
			e.Properties[props[i].(string)] = features.String(v)
		case float64:
			e.Properties[props[i].(string)] = features.Number(v)
		}
	}
	return e
}

func cart(id, customer string, at time.Time) features.Event {
	return ev(id, customer, "add_to_cart", at, "amount", 40.0, "currency", "EUR")
}

func purchase(id, customer string, at time.Time) features.Event {
	return ev(id, customer, "purchase", at, "amount", 40.0, "currency", "EUR")
}

// TestWatcherAbsence: an abandoned cart gets exactly one decision, 30
// minutes after it; a cart bought within the 30 minutes gets none; a
// second add_to_cart while the first's timer waits does not enter again.
func TestWatcherAbsence(t *testing.T) {
	forEachConfig(t, cartConfig, func(t *testing.T, h *harness) {
		for _, id := range []string{"abandons", "buys", "twice"} {
			h.customer(reachable(id))
		}
		w := newWatch(t, h, "w1")
		at := h.clock()
		w.track(t, cart("a1", "abandons", at), cart("b1", "buys", at), cart("t1", "twice", at))
		w.drain(t)
		h.advance(10 * time.Minute)
		w.track(t, purchase("b2", "buys", h.clock()), cart("t2", "twice", h.clock()))
		w.drain(t)
		for _, c := range []string{"abandons", "buys", "twice"} {
			if got := w.steps(t, c, "cart", decisioning.JournalDecided); len(got) != 0 {
				t.Fatalf("%s decided before the 30 minutes: %+v", c, got)
			}
		}
		if got := w.steps(t, "twice", "cart", decisioning.JournalRefused); len(got) != 1 || !strings.Contains(got[0].Detail, "already in the journey") {
			t.Errorf("twice's second cart: %+v, want one refusal (in the journey)", got)
		}
		if got := w.steps(t, "buys", "cart", decisioning.JournalTimerCancelled); len(got) != 1 || got[0].EventID != "b2" {
			t.Errorf("buys's timer: %+v, want cancelled by b2", got)
		}
		h.advance(21 * time.Minute) // 31 minutes after the carts
		w.drain(t)
		w.drain(t) // nothing fires twice
		for c, want := range map[string]int{"abandons": 1, "buys": 0, "twice": 1} {
			got := w.steps(t, c, "cart", decisioning.JournalDecided)
			if len(got) != want {
				t.Errorf("%s: %d decisions, want %d: %+v", c, len(got), want, got)
			}
			for _, d := range got {
				if !strings.HasPrefix(d.Detail, "SEND email/reminder") {
					t.Errorf("%s: decision %q, want SEND email/reminder", c, d.Detail)
				}
			}
		}
		if n, err := w.timers.TimerCount(context.Background()); err != nil || n != 0 {
			t.Errorf("%d timers left (%v), want 0", n, err)
		}
		// The decision is an ordinary one, with the trigger in its context,
		// under the trigger's request id.
		d, err := h.engine.Decide(context.Background(), decisioning.Request{CustomerID: "abandons", Campaigns: []string{"cart"}, RequestID: "trigger:cart:a1"})
		if err != nil {
			t.Fatal(err)
		}
		if d.Context["trigger"] != decisioning.TriggerAbsence || d.Context["trigger_event"] != "a1" || d.Outcome != decisioning.Send {
			t.Errorf("the triggered decision = %+v, want the absence trigger of a1 in its context", d)
		}
		// A new cart after the journey ended enters again.
		w.track(t, cart("a3", "abandons", h.clock()))
		w.drain(t)
		if got := w.steps(t, "abandons", "cart", decisioning.JournalTimerSet); len(got) != 2 {
			t.Errorf("abandons's timers: %+v, want a second one", got)
		}
	})
}

// TestWatcherThreshold: a threshold trigger fires on the crossing from
// false to true, not on every event while the condition holds, and again
// after the condition fell.
func TestWatcherThreshold(t *testing.T) {
	forEachConfig(t, triggerConfig, func(t *testing.T, h *harness) {
		h.customer(reachable("p"))
		w := newWatch(t, h, "w1")
		pricing := func(id string) features.Event {
			return ev(id, "p", "page_view", h.clock(), "page", "pricing")
		}
		w.track(t, pricing("v1"))
		w.drain(t)
		if got := w.steps(t, "p", "upgrade", decisioning.JournalDecided); len(got) != 0 {
			t.Fatalf("one pricing view decided: %+v", got)
		}
		h.advance(time.Hour)
		w.track(t, pricing("v2"))
		w.drain(t)
		h.advance(time.Hour)
		w.track(t, pricing("v3"))
		w.drain(t)
		got := w.steps(t, "p", "upgrade", decisioning.JournalDecided)
		if len(got) != 1 || got[0].EventID != "v2" {
			t.Fatalf("decisions %+v, want one, on the second view", got)
		}
		cond := w.steps(t, "p", "upgrade", decisioning.JournalCondition)
		if len(cond) != 1 || !strings.Contains(cond[0].Detail, "pricing_views_24h = 2 → true") {
			t.Errorf("condition steps %+v, want one: pricing_views_24h = 2 → true", cond)
		}
		// A day later the views fall out of the window: the condition falls
		// with the next event, and two new views cross it again.
		h.advance(25 * time.Hour)
		w.track(t, ev("l1", "p", "login", h.clock()))
		w.drain(t)
		w.track(t, pricing("v4"))
		w.drain(t)
		h.advance(time.Minute)
		w.track(t, pricing("v5"))
		w.drain(t)
		got = w.steps(t, "p", "upgrade", decisioning.JournalDecided)
		if len(got) != 2 || got[1].EventID != "v5" {
			t.Errorf("decisions %+v, want a second one on v5", got)
		}
	})
}

// TestWatcherEntryRules: once_per 14 days, and the property filter.
func TestWatcherEntryRules(t *testing.T) {
	forEachConfig(t, triggerConfig, func(t *testing.T, h *harness) {
		h.customer(reachable("f"))
		w := newWatch(t, h, "w1")
		failed := func(id string, attempt float64) features.Event {
			return ev(id, "f", "payment_failed", h.clock(), "attempt", attempt)
		}
		w.track(t, failed("f1", 1))
		w.drain(t)
		w.track(t, failed("f2", 2)) // not attempt 1: no match
		w.drain(t)
		h.advance(24 * time.Hour)
		w.track(t, failed("f3", 1)) // within 14 days: refused
		w.drain(t)
		h.advance(14 * 24 * time.Hour)
		w.track(t, failed("f4", 1)) // 15 days after f1: enters
		w.drain(t)
		var ids []string
		for _, d := range w.steps(t, "f", "payment", decisioning.JournalDecided) {
			ids = append(ids, d.EventID)
		}
		if fmt.Sprint(ids) != "[f1 f4]" {
			t.Errorf("decided on %v, want [f1 f4]", ids)
		}
		if r := w.steps(t, "f", "payment", decisioning.JournalRefused); len(r) != 1 || r[0].EventID != "f3" || !strings.Contains(r[0].Detail, "less than 14d ago") {
			t.Errorf("refusals %+v, want f3 (entered less than 14d ago)", r)
		}
	})
}

// TestWatcherTimersExactlyOnce: two watchers share the log and the
// timers; one of them dies holding claimed timers (it never finishes
// them). Every abandoned cart is decided exactly once.
func TestWatcherTimersExactlyOnce(t *testing.T) {
	forEachConfig(t, cartConfig, func(t *testing.T, h *harness) {
		const n = 60
		at := h.clock()
		var evs []features.Event
		for i := range n {
			id := fmt.Sprintf("x%02d", i)
			h.customer(reachable(id))
			evs = append(evs, cart("e"+id, id, at))
		}
		w1, w2 := newWatch(t, h, "w1"), newWatch(t, h, "w2")
		w1.track(t, evs...)
		ctx := context.Background()
		var wg sync.WaitGroup
		for _, w := range []*watch{w1, w2} {
			wg.Go(func() {
				for {
					k, err := w.Step(ctx, 0)
					if err != nil {
						t.Error(err)
						return
					}
					if k == 0 {
						return
					}
				}
			})
		}
		wg.Wait()
		if c, err := w1.timers.TimerCount(ctx); err != nil || c != n {
			t.Fatalf("%d timers (%v), want %d", c, err, n)
		}
		h.advance(31 * time.Minute)
		// A third watcher claims a third of the due timers and dies. (Leases
		// run on the store's real clock.)
		dead, err := w1.timers.ClaimDue(ctx, h.clock(), 300*time.Millisecond, n/3)
		if err != nil || len(dead) != n/3 {
			t.Fatalf("the dying watcher claimed %d (%v)", len(dead), err)
		}
		for _, w := range []*watch{w1, w2} {
			wg.Go(func() {
				if _, err := w.FireDue(ctx, n); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := w1.steps(t, dead[0].CustomerID, "cart", decisioning.JournalDecided); len(got) != 0 {
			t.Errorf("a timer leased to the dead watcher fired before its lease ended: %+v", got)
		}
		// After its lease, the dead watcher's timers fire too.
		time.Sleep(400 * time.Millisecond)
		for _, w := range []*watch{w1, w2} {
			wg.Go(func() {
				if _, err := w.FireDue(ctx, n); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		decisions := map[string]bool{}
		for i := range n {
			id := fmt.Sprintf("x%02d", i)
			got := w1.steps(t, id, "cart", decisioning.JournalDecided)
			if len(got) == 0 {
				t.Errorf("%s: no decision", id)
				continue
			}
			for _, d := range got {
				decisions[id+"/"+d.DecisionID] = true
			}
		}
		// A timer fired twice (a lease taken over) decides once: the same
		// decision id under the trigger's request id.
		if len(decisions) != n {
			t.Errorf("%d distinct decisions for %d abandoned carts", len(decisions), n)
		}
		if c, err := w1.timers.TimerCount(ctx); err != nil || c != 0 {
			t.Errorf("%d timers left (%v)", c, err)
		}
		if got := h.b.dlen(); got != n {
			t.Errorf("%d messages queued for dispatch, want %d", got, n)
		}
	})
}

// segmentConfig has a live segment and a campaign its entry triggers.
const segmentConfig = `
global: {control_group: 0%, salt: g}
segments:
  big_spender: "revenue_30d > 100"
  risky: "churn > 0.9"
campaigns:
  - name: vip
    holdout: 0%
    salt: v1
    arms:
      - {channel: email, offer: thanks}
      - {channel: none}
    reward: {event: purchase, within: 7d, value: amount}
    policy: {kind: thompson}
    trigger: {on: {event: segment_entered, where: {segment: big_spender}}}
    entry: {limit: once}
`

// TestWatcherSegments: membership follows the features, entering and
// leaving are events (which trigger campaigns), and the size, members and
// daily history are kept.
func TestWatcherSegments(t *testing.T) {
	forEachConfig(t, segmentConfig, func(t *testing.T, h *harness) {
		ctx := context.Background()
		segs, ok := h.b.state.(decisioning.Segments)
		if !ok {
			t.Fatalf("the %s state keeps no segments", h.b.name)
		}
		h.customer(reachable("s"))
		h.customer(reachable("q"))
		w := newWatch(t, h, "w1")
		start := h.clock()
		w.Watcher = decisioning.NewWatcher(decisioning.WatcherOptions{
			Config: h.cfg, Engine: h.engine, Log: h.b.evlog, Timers: w.timers, State: w.state, Segments: segs, Store: h.b.feats,
			Consumer: "w1", Registerer: prometheus.NewRegistry(), Now: h.clock,
		})
		buy := func(id, c string, amount float64) features.Event {
			return ev(id, c, "purchase", h.clock(), "amount", amount, "currency", "EUR")
		}
		w.track(t, buy("p1", "s", 60), buy("q1", "q", 20))
		w.drain(t)
		if n, err := segs.SegmentSize(ctx, "big_spender"); err != nil || n != 0 {
			t.Fatalf("big_spender has %d members (%v) after 60 EUR", n, err)
		}
		h.advance(time.Hour)
		start = h.clock() // the day s enters
		w.track(t, buy("p2", "s", 50))
		w.drain(t) // s enters: the event segment_entered goes to the log
		w.drain(t) // and triggers vip
		if n, _ := segs.SegmentSize(ctx, "big_spender"); n != 1 {
			t.Fatalf("big_spender has %d members, want 1", n)
		}
		members, next, err := segs.SegmentMembers(ctx, "big_spender", "", 10)
		if err != nil || fmt.Sprint(members) != "[s]" || next != "" {
			t.Errorf("members %v next %q (%v), want [s]", members, next, err)
		}
		if got := w.steps(t, "s", "", decisioning.JournalSegmentEntered); len(got) != 1 || !strings.Contains(got[0].Detail, "revenue_30d = 110 → true") {
			t.Errorf("segment steps %+v", got)
		}
		if got := w.steps(t, "s", "vip", decisioning.JournalDecided); len(got) != 1 {
			t.Errorf("vip decisions %+v, want one, triggered by the segment's entry", got)
		}
		// Another purchase keeps s in: no new event, no second decision.
		w.track(t, buy("p3", "s", 5))
		w.drain(t)
		w.drain(t)
		if got := w.steps(t, "s", "", decisioning.JournalSegmentEntered); len(got) != 1 {
			t.Errorf("entered %d times, want once", len(got))
		}
		// 31 days later the revenue left the window: s leaves with the next
		// event.
		h.advance(31 * 24 * time.Hour)
		w.track(t, ev("l1", "s", "login", h.clock()))
		w.drain(t)
		if n, _ := segs.SegmentSize(ctx, "big_spender"); n != 0 {
			t.Errorf("big_spender has %d members after the revenue left the window", n)
		}
		if got := w.steps(t, "s", "", decisioning.JournalSegmentExited); len(got) != 1 {
			t.Errorf("exited %+v, want once", got)
		}
		hist, err := segs.SegmentHistory(ctx, "big_spender")
		if err != nil {
			t.Fatal(err)
		}
		if day := start.Format(time.DateOnly); len(hist) != 2 || hist[0].Size != 1 || hist[1].Size != 0 || hist[0].Date != day {
			t.Errorf("history %+v, want 1 on %s, then 0", hist, day)
		}
		if n, _ := segs.SegmentSize(ctx, "risky"); n != 0 {
			t.Errorf("risky (churn 0.2 > 0.9?) has %d members", n)
		}
	})
}

// TestWatcherLateFollowUp: a purchase after the cart's window, read
// before the cart's timer fired (a backlog, a restart), does not undo the
// reminder: the timer came due first.
func TestWatcherLateFollowUp(t *testing.T) {
	forEachConfig(t, triggerConfig, func(t *testing.T, h *harness) {
		h.customer(reachable("a"))
		w := newWatch(t, h, "w1")
		at := h.clock()
		h.advance(3 * time.Hour)
		w.track(t, cart("a1", "a", at), purchase("a2", "a", at.Add(2*time.Hour)))
		w.drain(t)
		if got := w.steps(t, "a", "cart", decisioning.JournalDecided); len(got) != 1 || got[0].EventID != "a1" {
			t.Errorf("decisions %+v, want one for a1", got)
		}
		if got := w.steps(t, "a", "cart", decisioning.JournalTimerCancelled); len(got) != 0 {
			t.Errorf("the late purchase cancelled %+v", got)
		}
	})
}

// failOnce fails the first SetTimers, like a connection reset.
type failOnce struct {
	decisioning.Timers
	failed bool
}

func (f *failOnce) SetTimers(ctx context.Context, ts []decisioning.Timer) error {
	if !f.failed {
		f.failed = true
		return errors.New("injected: connection reset")
	}
	return f.Timers.SetTimers(ctx, ts)
}

// TestWatcherRetryAfterFailure: a store failure after the customer
// entered the journey and before its timer was set leaves the log entry
// unacknowledged; read again, the same entry starts its journey (Enter is
// idempotent per event), so the abandoned cart is not lost.
func TestWatcherRetryAfterFailure(t *testing.T) {
	forEachConfig(t, triggerConfig, func(t *testing.T, h *harness) {
		h.customer(reachable("c"))
		w := newWatch(t, h, "w1")
		ft := &failOnce{Timers: w.timers}
		bad := decisioning.NewWatcher(decisioning.WatcherOptions{Config: h.cfg, Engine: h.engine, Log: h.b.evlog, Timers: ft, State: w.state,
			Consumer: "w1", ClaimIdle: time.Millisecond, Lease: time.Minute, Registerer: prometheus.NewRegistry(), Now: h.clock})
		w.track(t, cart("a1", "c", h.clock()))
		if _, err := bad.Step(context.Background(), 0); err == nil {
			t.Fatal("want the injected error")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		time.Sleep(10 * time.Millisecond)
		_ = bad.Run(ctx) // claims the unacknowledged entry and processes it again
		pending, _ := w.timers.PendingTimers(context.Background(), "c")
		n := 0
		for _, tm := range pending {
			if tm.Campaign == "cart" {
				n++
			}
		}
		if r := w.steps(t, "c", "cart", decisioning.JournalRefused); len(r) != 0 {
			t.Errorf("the entry read again was refused: %+v", r)
		}
		if n != 1 {
			t.Errorf("%d timers pending after the retry, want 1: the abandoned cart is never decided", n)
		}
	})
}

// TestWatcherRecheck: a condition that turns true with the passage of
// time alone (since_last_login > 7d) fires without a new event, once;
// a login starts it over.
func TestWatcherRecheck(t *testing.T) {
	const cfg = `
global: {control_group: 0%, salt: g}
campaigns:
  - name: winback
    holdout: 0%
    salt: w1
    arms:
      - {channel: email, offer: come_back}
      - {channel: none}
    reward: {event: session_start, within: 7d, value: 1}
    policy: {kind: thompson}
    trigger: {when: "since_last_login > 7d"}
`
	forEachConfig(t, cfg, func(t *testing.T, h *harness) {
		h.customer(reachable("w"))
		w := newWatch(t, h, "w1")
		w.track(t, ev("l1", "w", "login", h.clock()))
		w.drain(t)
		pending, err := w.timers.PendingTimers(context.Background(), "w")
		if err != nil || len(pending) != 1 || !pending[0].Due.Equal(h.clock().Add(decisioning.RecheckEvery)) {
			t.Fatalf("pending %+v (%v), want one recheck in a day (7 days away, rechecked daily)", pending, err)
		}
		h.advance(6 * 24 * time.Hour)
		w.drain(t)
		if got := w.steps(t, "w", "winback", decisioning.JournalDecided); len(got) != 0 {
			t.Fatalf("decided after 6 days: %+v", got)
		}
		h.advance(24*time.Hour + 2*time.Second)
		w.drain(t)
		got := w.steps(t, "w", "winback", decisioning.JournalDecided)
		if len(got) != 1 {
			t.Fatalf("decisions after 7 days %+v, want one", got)
		}
		h.advance(3 * 24 * time.Hour) // still true: the daily rechecks decide nothing more
		w.drain(t)
		w.drain(t)
		if got := w.steps(t, "w", "winback", decisioning.JournalDecided); len(got) != 1 {
			t.Errorf("decisions while the condition stayed true: %+v", got)
		}
		w.track(t, ev("l2", "w", "login", h.clock()))
		w.drain(t)
		h.advance(7*24*time.Hour + 2*time.Second)
		w.drain(t)
		if got := w.steps(t, "w", "winback", decisioning.JournalDecided); len(got) != 2 {
			t.Errorf("decisions after a login and 7 more days: %+v, want 2", got)
		}
	})
}

// TestWatcherLongIDs: a customer and an event with ids of the longest
// kind still trigger: the request id and the segment event's id are kept
// within 128 bytes.
func TestWatcherLongIDs(t *testing.T) {
	forEachConfig(t, triggerConfig, func(t *testing.T, h *harness) {
		cid := "c-" + strings.Repeat("x", 100)
		h.customer(reachable(cid))
		w := newWatch(t, h, "w1")
		eid := "payment-failed-" + strings.Repeat("e", 110)
		w.track(t, ev(eid, cid, "payment_failed", h.clock(), "attempt", 1.0))
		w.drain(t)
		got := w.steps(t, cid, "payment", decisioning.JournalDecided)
		if len(got) != 1 {
			t.Fatalf("decisions %+v, want one", got)
		}
		if f := w.steps(t, cid, "payment", decisioning.JournalFailed); len(f) != 0 {
			t.Errorf("failures %+v", f)
		}
	})
}
