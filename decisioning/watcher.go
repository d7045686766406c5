package decisioning

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"kairos/features"
	"kairos/internal/prom"
	"kairos/internal/retry"
	"kairos/models"
)

// WatcherGroup is the event-log consumer group of the trigger watchers.
const WatcherGroup = "triggers"

// JournalEntry is one step of a customer's triggered journeys, for
// `kairos explain`: a trigger that fired or was refused, a condition that
// changed, a timer set, cancelled or fired, a decision made.
type JournalEntry struct {
	At       time.Time `json:"at"`
	Campaign string    `json:"campaign,omitempty"`
	// Kind is one of the Journal* constants.
	Kind string `json:"kind"`
	// Detail says what happened and why, for a person.
	Detail string `json:"detail"`
	// EventID is the event behind the step, DecisionID the decision it
	// made; empty when none.
	EventID    string `json:"event_id,omitempty"`
	DecisionID string `json:"decision_id,omitempty"`
}

// Kinds of JournalEntry.
const (
	JournalTriggered      = "triggered"       // the trigger matched and the customer entered
	JournalRefused        = "refused"         // the trigger matched; the entry rule kept the customer out
	JournalCondition      = "condition"       // a threshold condition changed value
	JournalTimerSet       = "timer_set"       // a timer was set
	JournalTimerCancelled = "timer_cancelled" // the follow-up event came: timers cancelled
	JournalTimerFired     = "timer_fired"     // a timer came due and was fired
	JournalDecided        = "decided"         // the decision the trigger made
	JournalFailed         = "failed"          // a step failed (retried)
	JournalSegmentEntered = "segment_entered" // the customer entered a live segment
	JournalSegmentExited  = "segment_exited"  // the customer left a live segment
)

// Entry is TriggerState.Enter's answer.
type Entry struct {
	Entered bool
	// Reason says why a customer was kept out: "in_journey",
	// "entered_before" (once), "entered_within_period" (once_per),
	// "followed" (the absence trigger's follow-up came already).
	Reason string
}

// TriggerState keeps, per customer, what the trigger watchers need to
// remember between events: journeys (entries, their end, follow-up events
// of absence triggers), the last value of each condition, and the journal.
// memstate and redisstate implement it.
type TriggerState interface {
	// Enter admits the customer into campaign's journey at `at` (the
	// triggering event's time) until `until` (when its decision is due),
	// unless rule, a journey still in progress at `at`, or a follow-up
	// event recorded in [at, until) keeps them out. Atomic.
	// Entering again with the journey's own event (a log entry read
	// again after a failure) is admitted again.
	Enter(ctx context.Context, customerID, campaign, eventID string, at, until time.Time, rule EntryRule) (Entry, error)
	// Follow records a follow-up event of campaign's absence trigger at
	// `at` and ends the journey in progress.
	Follow(ctx context.Context, customerID, campaign string, at time.Time) error
	// Followed reports whether the last follow-up event recorded falls in
	// [since, until).
	Followed(ctx context.Context, customerID, campaign string, since, until time.Time) (bool, error)
	// SetFlag stores the value of a named condition of the customer and
	// returns the previous one (false when it was never set).
	SetFlag(ctx context.Context, customerID, name string, value bool) (bool, error)
	// AppendJournal adds steps to the customer's journal, which keeps the
	// newest MaxJournal.
	AppendJournal(ctx context.Context, customerID string, es []JournalEntry) error
	// Journal returns the customer's journal, oldest first.
	Journal(ctx context.Context, customerID string) ([]JournalEntry, error)
}

// MaxJournal is how many steps a customer's journal keeps.
const MaxJournal = 500

// WatcherOptions configures a Watcher.
type WatcherOptions struct {
	Config *Config
	Engine *Engine
	Log    features.EventLog
	Timers Timers
	State  TriggerState
	// Segments keeps the live segments' members and Store receives their
	// segment_entered and segment_exited events; without them (nil) the
	// configuration's segments are not kept.
	Segments Segments
	Store    features.Store
	// Consumer names this watcher in the consumer group; unique per
	// process.
	Consumer string
	// Batch is how many log entries a read takes; 256 when 0.
	Batch int
	// ClaimIdle: see JoinerOptions; 30 s when 0.
	ClaimIdle time.Duration
	// Concurrency is how many customers' events are acted on at once;
	// 16 when 0.
	Concurrency int
	// Lease is how long a claimed timer is this watcher's before another
	// may fire it; 30 s when 0.
	Lease      time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
	// OnDecision, when set, is called with each decision the watcher makes
	// and the time from its trigger's moment (the event's arrival, or the
	// timer's due time) to the decision: kairos bench triggers measures
	// with it. It is called from several goroutines at once.
	OnDecision func(d *Decision, lag time.Duration)
}

// Watcher is the trigger watcher: it reads the event log (its own
// consumer group, shared by every instance's watcher), starts the
// journeys of triggered campaigns — deciding at once, or setting a timer
// — cancels absence timers when the follow-up event comes, evaluates
// threshold conditions after each customer's events, and fires the timers
// that came due. A decision it makes is a normal Decide (holdouts,
// guardrails, policy) whose request id is the trigger's: "trigger:"
// campaign ":" event id, so a trigger that fires twice (a timer whose
// lease ran out, a log entry read again after a crash) decides once.
//
// Timers fire only while the watcher has read the log to its end, so
// that a follow-up event already in the log cancels its timer before the
// timer can fire; a follow-up event that arrives after its timer's due
// time does not undo the decision.
type Watcher struct {
	opts    WatcherOptions
	camps   []*Campaign // the triggered campaigns
	log     *slog.Logger
	metrics *watcherMetrics
}

type watcherMetrics struct {
	fired    *prometheus.CounterVec
	segments *prometheus.CounterVec
	errors   prometheus.Counter
	pending  prometheus.GaugeFunc
	lag      prometheus.Histogram
}

// NewWatcher returns a Watcher of the campaigns of opts.Config that have
// a trigger.
func NewWatcher(opts WatcherOptions) *Watcher {
	if opts.Batch <= 0 {
		opts.Batch = 256
	}
	if opts.ClaimIdle <= 0 {
		opts.ClaimIdle = 30 * time.Second
	}
	if opts.Lease <= 0 {
		opts.Lease = 30 * time.Second
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{opts: opts, log: opts.Logger.With("component", "watcher")}
	for i := range opts.Config.Campaigns {
		if c := &opts.Config.Campaigns[i]; c.Trigger != nil {
			w.camps = append(w.camps, c)
		}
	}
	w.metrics = &watcherMetrics{
		fired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_triggers_total",
			Help: "Trigger steps by campaign and kind (triggered, refused, timer_set, timer_cancelled, timer_fired, decided).",
		}, []string{"campaign", "kind"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_trigger_watcher_errors_total", Help: "Watcher rounds that failed and will be retried.",
		}),
		segments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_segment_changes_total", Help: "Customers entering (segment_entered) and leaving (segment_exited) each live segment.",
		}, []string{"segment", "event"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kairos_trigger_latency_seconds",
			Help:    "From a triggering event's arrival (or a timer's due time) to its decision.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
	}
	if opts.Registerer != nil {
		w.metrics.fired = prom.Register(opts.Registerer, w.metrics.fired)
		w.metrics.errors = prom.Register(opts.Registerer, w.metrics.errors)
		w.metrics.lag = prom.Register(opts.Registerer, w.metrics.lag)
		w.metrics.segments = prom.Register(opts.Registerer, w.metrics.segments)
		if opts.Segments != nil {
			for _, sg := range opts.Config.Segments {
				prom.Register(opts.Registerer, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
					Name: "kairos_segment_members", Help: "Members of each live segment (every instance's).",
					ConstLabels: prometheus.Labels{"segment": sg.Name},
				}, func() float64 {
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					defer cancel()
					n, err := opts.Segments.SegmentSize(ctx, sg.Name)
					if err != nil {
						return -1
					}
					return float64(n)
				}))
			}
		}
		w.metrics.pending = prom.Register(opts.Registerer, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kairos_trigger_timers", Help: "Trigger timers waiting in the store (every instance's).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			n, err := opts.Timers.TimerCount(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
	return w
}

// Triggered reports whether any campaign has a trigger or the
// configuration a live segment: without either the watcher has nothing to
// do.
func (w *Watcher) Triggered() bool { return len(w.camps) > 0 || w.segmented() }

func (w *Watcher) segmented() bool {
	return len(w.opts.Config.Segments) > 0 && w.opts.Segments != nil && w.opts.Store != nil
}

// Run reads and acts until ctx is done. Failures are logged once per
// outage and retried with backoff; entries are acknowledged only once
// acted on, so a crash loses none (another watcher claims them after
// ClaimIdle). Run returns nil when ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	failing := false
	fail := func(err error) {
		w.metrics.errors.Inc()
		if !failing {
			w.log.Warn("trigger watcher failing; retrying", "err", err)
			failing = true
		}
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if err := w.opts.Log.CreateGroup(ctx, WatcherGroup); err != nil {
			if ctx.Err() == nil {
				fail(err)
				retry.Sleep(ctx, backoff)
			}
			continue
		}
		break
	}
	nextClaim := time.Now()
	for ctx.Err() == nil {
		err := w.round(ctx, &nextClaim)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			fail(err)
			retry.Sleep(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		case failing:
			w.log.Info("trigger watcher recovered")
			failing = false
		}
		backoff = 100 * time.Millisecond
	}
	return nil
}

// round is one round of Run: entries left by a watcher that went away
// (now and then), a read, and the due timers once caught up.
func (w *Watcher) round(ctx context.Context, nextClaim *time.Time) error {
	if time.Now().After(*nextClaim) {
		*nextClaim = time.Now().Add(w.opts.ClaimIdle / 2)
		es, err := w.opts.Log.Claim(ctx, WatcherGroup, w.opts.Consumer, w.opts.ClaimIdle, w.opts.Batch)
		if err != nil {
			return fmt.Errorf("watcher: claim: %w", err)
		}
		if err := w.process(ctx, es); err != nil {
			return err
		}
	}
	n, err := w.Step(ctx, 100*time.Millisecond)
	if err != nil || n >= w.opts.Batch {
		return err
	}
	return w.fireUntil(ctx, w.opts.Now())
}

// Step reads up to a batch of log entries (waiting up to block for the
// first), acts on them and acknowledges them; it returns how many it read.
func (w *Watcher) Step(ctx context.Context, block time.Duration) (int, error) {
	es, err := w.opts.Log.Read(ctx, WatcherGroup, w.opts.Consumer, w.opts.Batch, block)
	if err != nil {
		return 0, fmt.Errorf("watcher: read the event log: %w", err)
	}
	return len(es), w.process(ctx, es)
}

func (w *Watcher) process(ctx context.Context, es []features.LogEntry) error {
	if len(es) == 0 {
		return nil
	}
	if w.Triggered() {
		// Customers are independent: each one's events, in log order, then
		// its conditions (evaluated once, after its events of the batch; the
		// last of those names a crossing) run beside the other customers'.
		type item struct {
			ev      *features.Event
			arrived time.Time
		}
		var order []string
		byCustomer := map[string][]item{}
		for i := range es {
			for k := range es[i].Events {
				ev := &es[i].Events[k]
				if _, ok := byCustomer[ev.CustomerID]; !ok {
					order = append(order, ev.CustomerID)
				}
				byCustomer[ev.CustomerID] = append(byCustomer[ev.CustomerID], item{ev, es[i].Arrived})
			}
		}
		var g errgroup.Group
		g.SetLimit(w.opts.Concurrency)
		for _, cid := range order {
			items := byCustomer[cid]
			g.Go(func() error {
				for _, it := range items {
					if err := w.onEvent(ctx, it.ev, it.arrived); err != nil {
						return err
					}
				}
				// The watcher's own segment events change no feature a
				// condition reads: evaluate after the last other event.
				for i := len(items) - 1; i >= 0; i-- {
					if t := items[i].ev.Type; t != "segment_entered" && t != "segment_exited" {
						return w.evaluate(ctx, items[i].ev)
					}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	ids := make([]string, len(es))
	for i := range es {
		ids[i] = es[i].ID
	}
	if err := w.opts.Log.Ack(ctx, WatcherGroup, ids...); err != nil {
		return fmt.Errorf("watcher: acknowledge: %w", err)
	}
	return nil
}

// matches reports whether an event matches m.
func matches(m EventMatch, ev *features.Event) bool {
	return ev.Type == m.Event && features.MatchWhere(m.Where, ev.Properties)
}

// onEvent starts and cancels journeys on one event.
func (w *Watcher) onEvent(ctx context.Context, ev *features.Event, arrived time.Time) error {
	for _, c := range w.camps {
		t := c.Trigger
		if t.Kind == TriggerAbsence && matches(t.Unless, ev) {
			if err := w.follow(ctx, c, ev); err != nil {
				return err
			}
		}
		if (t.Kind == TriggerEvent || t.Kind == TriggerAbsence) && matches(t.On, ev) {
			if err := w.enter(ctx, c, ev, arrived, ev.Type+" "+ev.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// follow records a follow-up event of c's absence trigger and cancels
// the customer's timers of c whose window it falls in. A timer whose
// window closed before the follow-up (due at or before it: the reminder
// was owed already, the watcher had not fired it yet) stays, and fires.
func (w *Watcher) follow(ctx context.Context, c *Campaign, ev *features.Event) error {
	t := c.Trigger
	if err := w.opts.State.Follow(ctx, ev.CustomerID, c.Name, ev.Time); err != nil {
		return fmt.Errorf("watcher: %s: record %s: %w", c.Name, ev.Type, err)
	}
	pending, err := w.opts.Timers.PendingTimers(ctx, ev.CustomerID)
	if err != nil {
		return fmt.Errorf("watcher: %s: pending timers: %w", c.Name, err)
	}
	var ids []string
	for _, tm := range pending {
		start, end := tm.Due.Add(-t.Within-t.Delay), tm.Due.Add(-t.Delay)
		if tm.Campaign == c.Name && !ev.Time.Before(start) && ev.Time.Before(end) {
			ids = append(ids, tm.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	cancelled, err := w.opts.Timers.CancelTimers(ctx, ev.CustomerID, c.Name, ids...)
	if err != nil {
		return fmt.Errorf("watcher: %s: cancel timers: %w", c.Name, err)
	}
	for _, tm := range cancelled {
		w.journal(ctx, ev.CustomerID, JournalEntry{At: w.opts.Now(), Campaign: c.Name, Kind: JournalTimerCancelled, EventID: ev.ID,
			Detail: fmt.Sprintf("%s %s came within %s of %s: the timer due %s is cancelled", ev.Type, ev.ID, features.FormatDuration(t.Within), tm.EventID, tm.Due.UTC().Format(time.RFC3339))})
	}
	return nil
}

// evaluate evaluates the threshold conditions and the live segments of
// the customer of ev after their events, enters the journeys whose
// condition rose, and records segment changes (with their events).
func (w *Watcher) evaluate(ctx context.Context, ev *features.Event) error {
	var vec features.Vector
	var sc *models.Scores
	defer func() { w.opts.Engine.ReleaseScores(sc) }()
	inputs := func() error {
		if sc != nil {
			return nil
		}
		var err error
		if vec, sc, err = w.opts.Engine.Inputs(ctx, ev.CustomerID); err != nil {
			return fmt.Errorf("watcher: %w", err)
		}
		return nil
	}
	for _, c := range w.camps {
		t := c.Trigger
		if t.Kind != TriggerThreshold {
			continue
		}
		if err := inputs(); err != nil {
			return err
		}
		if err := w.threshold(ctx, c, ev, vec, sc, ev.Time, fmt.Sprintf("after %s %s", ev.Type, ev.ID), ""); err != nil {
			return err
		}
	}
	if !w.segmented() {
		return nil
	}
	var emit []features.Event
	for _, sg := range w.opts.Config.Segments {
		if err := inputs(); err != nil {
			return err
		}
		// Explained (each input's value) only when the membership changed.
		in := sg.Cond.Eval(vec, sc, nil)
		at := w.opts.Now()
		changed, err := w.opts.Segments.SetMember(ctx, sg.Name, ev.CustomerID, in, at)
		if err != nil {
			return fmt.Errorf("watcher: segment %s: %w", sg.Name, err)
		}
		if !changed {
			continue
		}
		_, why := sg.Cond.Explain(vec, sc)
		typ, kind := "segment_exited", JournalSegmentExited
		if in {
			typ, kind = "segment_entered", JournalSegmentEntered
		}
		// The id names the change: the same change read twice (a log entry
		// claimed again) is a duplicate the store drops.
		id := boundedID(fmt.Sprintf("%s:%s:%s:%s", typ, sg.Name, ev.CustomerID, ev.ID))
		emit = append(emit, features.Event{ID: id, CustomerID: ev.CustomerID, Type: typ, Time: at,
			Properties: map[string]features.Value{"segment": features.String(sg.Name)}})
		w.metrics.segments.WithLabelValues(sg.Name, typ).Inc()
		w.journal(ctx, ev.CustomerID, JournalEntry{At: at, Kind: kind, EventID: ev.ID,
			Detail: fmt.Sprintf("segment %s (%q): %s (after %s %s)", sg.Name, sg.When, why, ev.Type, ev.ID)})
	}
	if len(emit) > 0 {
		if _, err := w.opts.Store.Track(ctx, emit, w.opts.Now()); err != nil {
			// Undo the changes, so that the evaluation tried again makes
			// them (and their events) again.
			errs := []error{fmt.Errorf("watcher: track segment events: %w", err)}
			for _, e := range emit {
				seg, in := e.Properties["segment"].Str, e.Type == "segment_entered"
				if _, err := w.opts.Segments.SetMember(ctx, seg, ev.CustomerID, !in, e.Time); err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		}
	}
	return nil
}

// Rechecks: a threshold condition may change with no event of the
// customer (since_last_login grows, windowed counts drift), so after each
// evaluation a recheck timer evaluates it again: when a since_* input
// will cross its literal, at most RecheckEvery later, for MaxRecheck
// after the customer's last event.
const (
	RecheckEvery  = 24 * time.Hour
	MaxRecheck    = 90 * 24 * time.Hour
	recheckPrefix = "recheck:"
)

// threshold evaluates c's condition for ev's customer, enters the
// journey when it rose, and schedules the next recheck; anchor is the
// customer's last event's time, why what prompted the evaluation.
func (w *Watcher) threshold(ctx context.Context, c *Campaign, ev *features.Event, vec features.Vector, sc *models.Scores, anchor time.Time, why, firing string) error {
	t := c.Trigger
	now := t.Cond.Eval(vec, sc, nil)
	was, err := w.opts.State.SetFlag(ctx, ev.CustomerID, "trigger:"+c.Name, now)
	if err != nil {
		return fmt.Errorf("watcher: %s: %w", c.Name, err)
	}
	if now != was {
		_, explain := t.Cond.Explain(vec, sc) // each input's value, for the journal
		w.journal(ctx, ev.CustomerID, JournalEntry{At: w.opts.Now(), Campaign: c.Name, Kind: JournalCondition, EventID: ev.ID,
			Detail: fmt.Sprintf("when %q: %s (%s)", t.When, explain, why)})
		if now {
			if err := w.enter(ctx, c, ev, time.Time{}, fmt.Sprintf("%q turned true", t.When)); err != nil {
				// Put the flag back, so that the evaluation tried again sees
				// the crossing again.
				if _, ferr := w.opts.State.SetFlag(ctx, ev.CustomerID, "trigger:"+c.Name, false); ferr != nil {
					return errors.Join(err, ferr)
				}
				return err
			}
		}
	}
	next := RecheckEvery
	if !now {
		next = t.Cond.NextChange(vec, sc, RecheckEvery)
	}
	return w.recheck(ctx, c, ev.CustomerID, anchor, w.opts.Now().Add(next), firing)
}

// recheck makes sure a recheck of c's condition for the customer is due
// by due: an earlier one pending (other than firing, the recheck being
// fired) is enough; a later one is replaced.
func (w *Watcher) recheck(ctx context.Context, c *Campaign, customerID string, anchor, due time.Time, firing string) error {
	if due.After(anchor.Add(MaxRecheck)) {
		return nil
	}
	pending, err := w.opts.Timers.PendingTimers(ctx, customerID)
	if err != nil {
		return fmt.Errorf("watcher: %s: pending timers: %w", c.Name, err)
	}
	prefix := recheckPrefix + c.Name + ":" + customerID + ":"
	var replace []string
	for _, tm := range pending {
		if !strings.HasPrefix(tm.ID, prefix) || tm.ID == firing {
			continue
		}
		old, _ := recheckAnchor(tm.ID)
		if !tm.Due.After(due) && !old.Before(anchor) {
			return nil // an earlier recheck, as recent an anchor
		}
		// Keep the earlier due time and the later anchor.
		replace = append(replace, tm.ID)
		if tm.Due.Before(due) {
			due = tm.Due
		}
		if old.After(anchor) {
			anchor = old
		}
	}
	if len(replace) > 0 {
		if _, err := w.opts.Timers.CancelTimers(ctx, customerID, c.Name, replace...); err != nil {
			return fmt.Errorf("watcher: %s: replace a recheck: %w", c.Name, err)
		}
	}
	id := fmt.Sprintf("%s%d:%d", prefix, anchor.UnixMilli(), due.UnixMilli())
	return w.opts.Timers.SetTimers(ctx, []Timer{{ID: id, CustomerID: customerID, Campaign: c.Name, Due: due, SetAt: w.opts.Now()}})
}

// fireRecheck evaluates a threshold condition again when its recheck
// timer comes due.
func (w *Watcher) fireRecheck(ctx context.Context, c *Campaign, tm ClaimedTimer) error {
	anchor, err := recheckAnchor(tm.ID)
	if err != nil {
		return err
	}
	vec, sc, err := w.opts.Engine.Inputs(ctx, tm.CustomerID)
	if err != nil {
		return fmt.Errorf("watcher: %w", err)
	}
	defer w.opts.Engine.ReleaseScores(sc)
	now := w.opts.Now()
	ev := &features.Event{ID: fmt.Sprintf("recheck-%d", tm.Due.UnixMilli()), CustomerID: tm.CustomerID, Type: "recheck", Time: now}
	return w.threshold(ctx, c, ev, vec, sc, anchor, "rechecked with no new event", tm.ID)
}

// recheckAnchor reads the anchor (the customer's last event's time) from
// a recheck timer's id, recheck:<campaign>:<customer>:<anchor ms>:<due
// ms> (read from the end: a customer id may hold colons).
func recheckAnchor(id string) (time.Time, error) {
	parts := strings.Split(id, ":")
	ms, err := strconv.ParseInt(parts[len(parts)-2], 10, 64)
	if err != nil || len(parts) < 5 {
		return time.Time{}, fmt.Errorf("watcher: recheck timer %q: not recheck:<campaign>:<customer>:<anchor ms>:<due ms>", id)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// enter starts c's journey for ev's customer, if the entry rule lets them
// in: a decision now, or a timer.
func (w *Watcher) enter(ctx context.Context, c *Campaign, ev *features.Event, arrived time.Time, why string) error {
	t := c.Trigger
	wait := t.Delay
	if t.Kind == TriggerAbsence {
		wait += t.Within
	}
	due := ev.Time.Add(wait)
	e, err := w.opts.State.Enter(ctx, ev.CustomerID, c.Name, ev.ID, ev.Time, due, c.Entry)
	if err != nil {
		return fmt.Errorf("watcher: %s: enter: %w", c.Name, err)
	}
	now := w.opts.Now()
	if !e.Entered {
		w.journal(ctx, ev.CustomerID, JournalEntry{At: now, Campaign: c.Name, Kind: JournalRefused, EventID: ev.ID,
			Detail: fmt.Sprintf("%s, but the customer does not enter: %s", why, refusal(e.Reason, c.Entry))})
		return nil
	}
	id := boundedID("trigger:" + c.Name + ":" + ev.ID)
	if wait == 0 {
		w.journal(ctx, ev.CustomerID, JournalEntry{At: now, Campaign: c.Name, Kind: JournalTriggered, EventID: ev.ID, Detail: why + ": deciding now"})
		return w.decide(ctx, c, ev.CustomerID, id, ev.ID, arrived)
	}
	tm := Timer{ID: id, CustomerID: ev.CustomerID, Campaign: c.Name, Due: due, SetAt: now, EventID: ev.ID}
	if err := w.opts.Timers.SetTimers(ctx, []Timer{tm}); err != nil {
		return fmt.Errorf("watcher: %s: set timer: %w", c.Name, err)
	}
	what := "deciding then"
	if t.Kind == TriggerAbsence {
		what = fmt.Sprintf("deciding then unless %s comes first", t.Unless.Event)
	}
	w.journal(ctx, ev.CustomerID, JournalEntry{At: now, Campaign: c.Name, Kind: JournalTriggered, EventID: ev.ID, Detail: why})
	w.journal(ctx, ev.CustomerID, JournalEntry{At: now, Campaign: c.Name, Kind: JournalTimerSet, EventID: ev.ID,
		Detail: fmt.Sprintf("timer %s due %s: %s", id, due.UTC().Format(time.RFC3339), what)})
	return nil
}

// EntryRefusal is the entry rule both stores apply: why a customer whose
// last entry was at entered (zero: never), whose journey in progress
// ends at until and whose last follow-up event was at followed may not
// enter at `at` a journey due at due under rule; "" when they may. A
// follow-up event inside the new journey's window (read first, by
// another watcher) keeps the customer out; one after it does not.
func EntryRefusal(entered, until, followed, at, due time.Time, rule EntryRule) string {
	switch {
	case !followed.IsZero() && !followed.Before(at) && followed.Before(due):
		return "followed"
	case !until.IsZero() && at.Before(until):
		return "in_journey"
	case rule.Limit == EntryOnce && !entered.IsZero():
		return "entered_before"
	case rule.Limit == EntryOncePer && !entered.IsZero() && at.Before(entered.Add(rule.Period)):
		return "entered_within_period"
	}
	return ""
}

// boundedID returns id when it fits an id's limit (features.MaxIDBytes,
// MaxRequestIDBytes: 128 bytes), else its first 64 bytes, "~" and 32 hex
// digits of its SHA-256: still unique, and the same for the same id.
func boundedID(id string) string {
	if len(id) <= features.MaxIDBytes {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return strings.ToValidUTF8(id[:64], "") + "~" + hex.EncodeToString(sum[:16])
}

func refusal(reason string, rule EntryRule) string {
	switch reason {
	case "in_journey":
		return "already in the journey (a timer of the campaign is pending)"
	case "entered_before":
		return "entered before, and the entry rule is once"
	case "entered_within_period":
		return "entered less than " + features.FormatDuration(rule.Period) + " ago (once_per)"
	case "followed":
		return "the follow-up event came already"
	}
	return reason
}

// fireUntil fires every timer due at or before t.
func (w *Watcher) fireUntil(ctx context.Context, t time.Time) error {
	for {
		n, err := w.fireDue(ctx, t, fireBatch)
		if err != nil || n < fireBatch {
			return err
		}
	}
}

// fireBatch is how many timers one claim takes.
const fireBatch = 100

// FireDue fires up to n timers that came due and returns how many it
// claimed. Call it once the log is read to its end (Run does).
func (w *Watcher) FireDue(ctx context.Context, n int) (int, error) {
	return w.fireDue(ctx, w.opts.Now(), n)
}

// fireDue fires up to n timers due at or before due.
func (w *Watcher) fireDue(ctx context.Context, due time.Time, n int) (int, error) {
	now := w.opts.Now()
	ts, err := w.opts.Timers.ClaimDue(ctx, due, w.opts.Lease, n)
	if err != nil {
		return 0, fmt.Errorf("watcher: claim due timers: %w", err)
	}
	var (
		mu   sync.Mutex
		done []ClaimedTimer
		errs []error
		g    errgroup.Group
	)
	g.SetLimit(w.opts.Concurrency)
	// Customers in parallel; one customer's timers in Due order (ClaimDue's),
	// so that each decision sees the earlier one's send.
	var order []string
	byCustomer := map[string][]ClaimedTimer{}
	for _, tm := range ts {
		if _, ok := byCustomer[tm.CustomerID]; !ok {
			order = append(order, tm.CustomerID)
		}
		byCustomer[tm.CustomerID] = append(byCustomer[tm.CustomerID], tm)
	}
	for _, cid := range order {
		g.Go(func() error {
			for _, tm := range byCustomer[cid] {
				ok, err := w.fire(ctx, tm, now)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				if ok {
					done = append(done, tm)
				}
				mu.Unlock()
			}
			return nil
		})
	}
	g.Wait()
	if len(done) > 0 {
		if _, err := w.opts.Timers.DoneTimers(ctx, done); err != nil {
			errs = append(errs, fmt.Errorf("watcher: timers done: %w", err))
		}
	}
	return len(ts), errors.Join(errs...)
}

// fire acts on one claimed timer; done reports whether it is finished
// with (decided, or dropped) and may be removed.
func (w *Watcher) fire(ctx context.Context, tm ClaimedTimer, now time.Time) (done bool, err error) {
	c, ok := w.opts.Config.Campaign(tm.Campaign)
	if !ok || c.Trigger == nil {
		// The campaign or its trigger is gone from the configuration.
		w.journal(ctx, tm.CustomerID, JournalEntry{At: now, Campaign: tm.Campaign, Kind: JournalTimerCancelled, EventID: tm.EventID,
			Detail: fmt.Sprintf("timer %s dropped: campaign %s has no trigger in the configuration any more", tm.ID, tm.Campaign)})
		return true, nil
	}
	if strings.HasPrefix(tm.ID, recheckPrefix) {
		if c.Trigger.Kind != TriggerThreshold {
			return true, nil // the trigger changed kind
		}
		err := w.fireRecheck(ctx, c, tm)
		return err == nil, err
	}
	if c.Trigger.Kind == TriggerAbsence {
		// A follow-up read by another watcher may not have cancelled this
		// timer yet.
		followed, err := w.opts.State.Followed(ctx, tm.CustomerID, c.Name, tm.Due.Add(-c.Trigger.Within-c.Trigger.Delay), tm.Due.Add(-c.Trigger.Delay))
		if err != nil {
			return false, err
		}
		if followed {
			w.journal(ctx, tm.CustomerID, JournalEntry{At: now, Campaign: c.Name, Kind: JournalTimerCancelled, EventID: tm.EventID,
				Detail: fmt.Sprintf("timer %s: %s came within %s: not deciding", tm.ID, c.Trigger.Unless.Event, features.FormatDuration(c.Trigger.Within))})
			return true, nil
		}
	}
	w.journal(ctx, tm.CustomerID, JournalEntry{At: now, Campaign: c.Name, Kind: JournalTimerFired, EventID: tm.EventID,
		Detail: fmt.Sprintf("timer %s due %s fired %s late", tm.ID, tm.Due.UTC().Format(time.RFC3339), now.Sub(tm.Due).Round(time.Millisecond))})
	if err := w.decide(ctx, c, tm.CustomerID, tm.ID, tm.EventID, tm.Due); err != nil {
		return false, err
	}
	return true, nil
}

// decide makes the trigger's decision; since is when the trigger's
// moment came (the event's arrival, the timer's due time), zero when
// unknown.
func (w *Watcher) decide(ctx context.Context, c *Campaign, customerID, requestID, eventID string, since time.Time) error {
	d, err := w.opts.Engine.Decide(ctx, Request{
		CustomerID: customerID, Campaigns: []string{c.Name}, RequestID: requestID,
		Context: map[string]string{"trigger": c.Trigger.Kind, "trigger_event": eventID},
	})
	if err == nil && slices.Contains(d.Reasons, NotRecorded) {
		// Decide fell back (its deadline, the store): nothing was recorded,
		// so the trigger is tried again (the log entry stays unacknowledged,
		// the timer stays), under the same request id.
		err = fmt.Errorf("the decision fell back and was not recorded (%s)", strings.Join(d.Reasons, ", "))
	}
	var fe *features.FieldError
	if errors.As(err, &fe) {
		// Decide refuses the request itself (it would refuse it again):
		// the trigger is dropped, with the reason in the journal.
		w.journal(ctx, customerID, JournalEntry{At: w.opts.Now(), Campaign: c.Name, Kind: JournalFailed, EventID: eventID, Detail: "decide refused the trigger: " + err.Error()})
		return nil
	}
	if err != nil {
		w.journal(ctx, customerID, JournalEntry{At: w.opts.Now(), Campaign: c.Name, Kind: JournalFailed, EventID: eventID, Detail: "decide: " + err.Error() + "; tried again"})
		return fmt.Errorf("watcher: %s: decide: %w", c.Name, err)
	}
	if !since.IsZero() {
		lag := max(w.opts.Now().Sub(since), 0)
		w.metrics.lag.Observe(lag.Seconds())
		if w.opts.OnDecision != nil {
			w.opts.OnDecision(d, lag)
		}
	}
	w.journal(ctx, customerID, JournalEntry{At: d.DecidedAt, Campaign: c.Name, Kind: JournalDecided, EventID: eventID, DecisionID: d.ID,
		Detail: fmt.Sprintf("%s %s (%s)", d.Outcome, ArmKey(d.Channel, d.Offer), joinReasons(d.Reasons))})
	return nil
}

func joinReasons(rs []string) string {
	if len(rs) == 0 {
		return "no reason recorded"
	}
	return fmt.Sprint(rs)
}

// journal appends a step to the customer's journal and counts it. A
// journal that cannot be written is logged, never an error: it is the
// explanation, not the decision.
func (w *Watcher) journal(ctx context.Context, customerID string, e JournalEntry) {
	w.metrics.fired.WithLabelValues(e.Campaign, e.Kind).Inc()
	if err := w.opts.State.AppendJournal(ctx, customerID, []JournalEntry{e}); err != nil {
		w.log.Warn("journal not written", "customer", customerID, "kind", e.Kind, "err", err)
	}
}
