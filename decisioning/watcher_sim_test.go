package decisioning_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kairos/decisioning"
	"kairos/features"
	"kairos/internal/sim"
)

// simCartConfig is the cart-abandonment journey: a reminder 60
// minutes after an add_to_cart unless a purchase came first.
const simCartConfig = `
global: {control_group: 0%, salt: g}
campaigns:
  - name: cart
    holdout: 0%
    salt: c1
    arms:
      - {channel: email, offer: reminder}
      - {channel: none}
    reward: {event: purchase, within: 72h, value: amount}
    policy: {kind: thompson}
    trigger: {on: {event: add_to_cart}, unless: {event: purchase}, within: 60m}
`

// simCartWithin is the trigger's within.
const simCartWithin = 60 * time.Minute

// silent is a simulator policy that never messages: the none arm, last.
type silent struct{}

func (silent) Choose(_ context.Context, p sim.DecisionPoint) (sim.Arm, error) {
	return p.Arms[len(p.Arms)-1], nil
}

// watcherSink feeds the simulated world to a harness's feature store day
// by day, and drains the watcher at the end of each day with the clock
// there: timers due within a day fire at its end, after all of that
// day's events were read.
type watcherSink struct {
	h       *harness
	w       *watch
	records map[string]features.Customer
	// evs holds every customer's add_to_cart and purchase events, in the
	// simulator's order.
	evs map[string][]features.Event
	// wrong lists triggered decisions whose outcome or arm was not the
	// one the customer's record (as upserted then) calls for.
	mu    sync.Mutex // the watcher decides for several customers at once
	wrong []string
	sends int
}

func (s *watcherSink) Customers(ctx context.Context, cs []features.Customer) error {
	now := s.h.clock()
	for _, c := range cs {
		if err := s.h.b.feats.UpsertCustomer(ctx, c, now); err != nil {
			return err
		}
		s.records[c.ID] = c
	}
	return nil
}

func (s *watcherSink) Events(ctx context.Context, evs []features.Event) error {
	if len(evs) == 0 {
		return nil
	}
	end := evs[0].Time.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	for _, e := range evs {
		if !e.Time.Before(end) {
			return fmt.Errorf("event %s at %s after the end of its day %s", e.ID, e.Time, end)
		}
		if e.Type == "add_to_cart" || e.Type == "purchase" {
			s.evs[e.CustomerID] = append(s.evs[e.CustomerID], e)
		}
	}
	s.set(end)
	for b := range slices.Chunk(evs, features.MaxBatch) {
		if _, err := s.h.b.feats.Track(ctx, b, end); err != nil {
			return err
		}
	}
	return s.drain(ctx)
}

// set sets the harness's clock.
func (s *watcherSink) set(now time.Time) {
	s.h.mu.Lock()
	s.h.now = now
	s.h.mu.Unlock()
}

// drain reads the log to its end, then fires the due timers.
func (s *watcherSink) drain(ctx context.Context) error {
	for {
		n, err := s.w.Step(ctx, 0)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	for {
		n, err := s.w.FireDue(ctx, 1000)
		if err != nil {
			return err
		}
		if n < 1000 {
			return nil
		}
	}
}

// decided checks a triggered decision against the customer's record: the
// policy's draw (0) picks the first eligible arm, email/reminder when the
// record has an email address with consent, else only none is left and
// the decision is suppressed.
func (s *watcherSink) decided(d *decisioning.Decision, _ time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.records[d.CustomerID]
	email := ok && decisioning.Reachable(&rec, decisioning.ChannelEmail) && decisioning.Consented(&rec, decisioning.ChannelEmail)
	got := d.Outcome.String()
	if d.Channel != "" {
		got += " " + d.Channel + "/" + d.Offer
	}
	want := "SUPPRESSED" // no arm: only none was eligible
	if email {
		want = "SEND email/reminder"
	}
	if d.Outcome == decisioning.Send {
		s.sends++
	}
	if got != want {
		s.wrong = append(s.wrong, fmt.Sprintf("%s (trigger %s): %s, want %s (reasons %v)", d.CustomerID, d.Context["trigger_event"], got, want, d.Reasons))
	}
}

// cartJourneys applies the journey rule to a customer's add_to_cart and
// purchase events in time order: a cart starts a journey unless one is in
// progress (an earlier cart's window [t0, t0+within) still open and not
// ended by a purchase); a purchase within the window ends it with no
// decision; a window that passes without a purchase (or is still open
// when the events end, no purchase can follow) is abandoned. It returns
// the starting carts' ids of both.
func cartJourneys(evs []features.Event, within time.Duration) (abandoned, bought []string) {
	open := false
	var start time.Time
	var startID string
	for _, e := range evs {
		if open && !e.Time.Before(start.Add(within)) {
			abandoned, open = append(abandoned, startID), false
		}
		switch e.Type {
		case "purchase":
			if open {
				bought, open = append(bought, startID), false
			}
		case "add_to_cart":
			if !open {
				open, start, startID = true, e.Time, e.ID
			}
		}
	}
	if open {
		abandoned = append(abandoned, startID)
	}
	return abandoned, bought
}

// TestWatcherCartAbandonmentOnSimulator is the acceptance test:
// a cart-abandonment journey sends exactly one reminder per abandoned cart
// and none when the purchase arrives within the delay, on the simulator's
// carts (bought in their session, or abandoned and maybe bought later).
// The simulator's own campaigns send nothing.
func TestWatcherCartAbandonmentOnSimulator(t *testing.T) {
	const customers, days = 300, 10
	forEachConfig(t, simCartConfig, func(t *testing.T, h *harness) {
		ctx := context.Background()
		start := time.Now()
		w := newWatch(t, h, "sim")
		sink := &watcherSink{h: h, w: w, records: map[string]features.Customer{}, evs: map[string][]features.Event{}}
		w.Watcher = decisioning.NewWatcher(decisioning.WatcherOptions{
			Config: h.cfg, Engine: h.engine, Log: h.b.evlog, Timers: w.timers, State: w.state, Consumer: "sim",
			Lease: time.Minute, Registerer: prometheus.NewRegistry(), Now: h.clock, OnDecision: sink.decided,
		})
		// Near the real time: Redis expires feature tiles on the real clock.
		end := time.Now().UTC().Truncate(24 * time.Hour)
		sink.set(end.AddDate(0, 0, -days))
		world, err := sim.New(sim.Config{Customers: customers, Days: days, Seed: 7, End: end, Policy: silent{}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := world.Run(ctx, sink, nil); err != nil {
			t.Fatal(err)
		}
		// The journeys still open at the end: no purchase follows them.
		sink.set(end.Add(simCartWithin + time.Minute))
		if err := sink.drain(ctx); err != nil {
			t.Fatal(err)
		}

		var nAbandoned, nBought, nDecided, nCarts int
		for id := range sink.records {
			abandoned, bought := cartJourneys(sink.evs[id], simCartWithin)
			nAbandoned += len(abandoned)
			nBought += len(bought)
			for _, e := range sink.evs[id] {
				if e.Type == "add_to_cart" {
					nCarts++
				}
			}
			var decided, set []string
			for _, d := range w.steps(t, id, "cart", decisioning.JournalDecided) {
				decided = append(decided, d.EventID)
			}
			for _, d := range w.steps(t, id, "cart", decisioning.JournalTimerSet) {
				set = append(set, d.EventID)
			}
			nDecided += len(decided)
			if slices.Equal(abandoned, decided) &&
				slices.Equal(slices.Sorted(slices.Values(slices.Concat(abandoned, bought))), slices.Sorted(slices.Values(set))) {
				continue
			}
			var evs []string
			for _, e := range sink.evs[id] {
				evs = append(evs, e.Time.Format("01-02T15:04:05.000")+" "+e.Type+" "+e.ID)
			}
			for _, b := range bought {
				if slices.Contains(decided, b) {
					t.Errorf("%s: decided on %s, whose cart was bought within %s", id, b, simCartWithin)
				}
			}
			t.Errorf("%s: decided on %v, want the abandoned journeys %v (bought %v); timers set for %v; events:\n\t%s",
				id, decided, abandoned, bought, set, strings.Join(evs, "\n\t"))
		}
		t.Logf("%s: %d customers, %d days: %d carts, %d journeys abandoned, %d bought within %s; %d decisions (%d SEND); %s",
			h.b.name, customers, days, nCarts, nAbandoned, nBought, simCartWithin, nDecided, sink.sends, time.Since(start).Round(time.Millisecond))
		if nAbandoned == 0 || nBought == 0 {
			t.Errorf("%d journeys abandoned, %d bought within the delay: the test needs both", nAbandoned, nBought)
		}
		if sink.sends == 0 {
			t.Error("no decision sent the reminder")
		}
		for _, s := range sink.wrong {
			t.Error(s)
		}
		if got := h.b.dlen(); got != sink.sends {
			t.Errorf("%d messages queued for dispatch, want the %d SEND decisions", got, sink.sends)
		}
		if n, err := w.timers.TimerCount(ctx); err != nil || n != 0 {
			t.Errorf("%d timers left (%v), want 0", n, err)
		}
	})
}
