package decisioning

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kairos/decisioning/bandit"
	"kairos/features"
	"kairos/internal/prom"
	"kairos/internal/retry"
)

// JoinerGroup is the event-log consumer group of the reward joiners.
const JoinerGroup = "rewards"

// DefaultGrace is how long after its end a reward window waits for events
// still on their way before it closes with reward 0.
const DefaultGrace = 5 * time.Minute

// JoinerOptions configures a Joiner.
type JoinerOptions struct {
	Config   *Config
	Log      features.EventLog
	Windows  Windows
	Policies PolicyStore
	// Consumer names this joiner in the consumer group; unique per process.
	Consumer string
	// Batch is how many log entries (Track calls) a read takes; 256 when 0.
	Batch int
	// ClaimIdle is how long an entry may stay pending with a joiner that
	// went away before another claims it; 30 s when 0.
	ClaimIdle time.Duration
	// Grace is how long after its end a window stays open for events that
	// are still on their way (late events, the log's backlog); 5 minutes
	// when 0.
	Grace      time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Joiner is the reward joiner: it reads the event log, attaches to each
// open decision (holdouts included) the first event of its campaign's
// reward event within its window, closes windows that expired with reward
// 0, and updates the campaigns' policies with what it closed. A decision's
// metric windows (Campaign.Metrics) are joined and closed the same way,
// each with its own event and end, valued 1 (converted) or 0 (expired),
// and recorded under their Metric; they never reach the policy. Several
// joiners (one per Kairos instance) share the work through the consumer
// group; closing a window is atomic, so each reward counts once.
//
// "First" is the earliest qualifying event among those read together;
// an event that arrives after its window was closed (late, or behind a
// later event of the same type) does not reopen it. A window closes with
// reward 0 only once it ended more than Grace ago and this joiner has
// caught up with the log (its last read returned less than a full batch),
// so a backlog after an outage is joined before windows expire.
//
// Every closed window's reward goes to the ledger; the policy learns only
// from the reward windows (Metric "") of SEND and NO_ACTION decisions (a
// held-out arm was never sent).
//
// The counter kairos_reward_windows_closed_total{campaign, metric,
// result} counts the closed windows; metric is "" for reward windows (so
// {metric=""} selects them) and the metric's name for metric windows. A
// policy update that fails is kept in memory and retried with the next
// batch; a process that dies in between loses those observations for the
// policy (never for the ledger).
type Joiner struct {
	opts    JoinerOptions
	camps   map[string]*Campaign
	events  map[string]bool // the event types some window waits for
	log     *slog.Logger
	metrics *joinerMetrics

	mu      sync.Mutex
	pending map[string][]bandit.Observation // policy updates to retry
}

type joinerMetrics struct {
	closed  *prometheus.CounterVec
	errors  prometheus.Counter
	dropped prometheus.Counter
}

// NewJoiner returns a Joiner.
func NewJoiner(opts JoinerOptions) *Joiner {
	if opts.Batch <= 0 {
		opts.Batch = 256
	}
	if opts.ClaimIdle <= 0 {
		opts.ClaimIdle = 30 * time.Second
	}
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	j := &Joiner{opts: opts, camps: map[string]*Campaign{}, events: map[string]bool{}, log: opts.Logger.With("component", "joiner"),
		pending: map[string][]bandit.Observation{}}
	for i := range opts.Config.Campaigns {
		c := &opts.Config.Campaigns[i]
		j.camps[c.Name] = c
		j.events[c.Reward.Event] = true
		for _, m := range c.Metrics {
			j.events[m.Event] = true
		}
	}
	j.metrics = &joinerMetrics{
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_reward_windows_closed_total",
			Help: "Reward and metric windows closed by the joiner, by campaign, metric (empty for the reward window) and result (converted, expired).",
		}, []string{"campaign", "metric", "result"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_reward_joiner_errors_total", Help: "Joiner rounds that failed and will be retried.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_policy_observations_dropped_total", Help: "Observations a joiner dropped because policy updates kept failing.",
		}),
	}
	if opts.Registerer != nil {
		j.metrics.closed = prom.Register(opts.Registerer, j.metrics.closed)
		j.metrics.errors = prom.Register(opts.Registerer, j.metrics.errors)
		j.metrics.dropped = prom.Register(opts.Registerer, j.metrics.dropped)
	}
	return j
}

// Run joins until ctx ends. Failures of the log, the windows or the
// policy store are logged once per outage and retried; entries are
// acknowledged only after their rewards are closed, so none is lost.
func (j *Joiner) Run(ctx context.Context) error {
	failing := false
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if err := j.opts.Log.CreateGroup(ctx, JoinerGroup); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			j.fail(&failing, err)
			retry.Sleep(ctx, backoff)
			continue
		}
		break
	}
	lastDue := time.Time{}
	for ctx.Err() == nil {
		n, err := j.Step(ctx, time.Second)
		if err == nil && n < j.opts.Batch && time.Since(lastDue) >= time.Second {
			// Caught up with the log: expired windows may close, as many
			// as have expired (in batches).
			for {
				var due int
				if _, due, err = j.closeDue(ctx, dueBatch); err != nil || due < dueBatch {
					break
				}
			}
			lastDue = time.Now()
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			j.fail(&failing, err)
			retry.Sleep(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		case failing:
			j.log.Info("reward joiner recovered")
			failing = false
		}
		backoff = 100 * time.Millisecond
	}
	return nil
}

func (j *Joiner) fail(failing *bool, err error) {
	j.metrics.errors.Inc()
	if !*failing {
		j.log.Warn("reward joiner failing; retrying", "err", err)
		*failing = true
	}
}

// Step processes one batch of the log: entries pending with a joiner that
// went away, else new ones (waiting up to block). It returns the number of
// entries processed.
func (j *Joiner) Step(ctx context.Context, block time.Duration) (int, error) {
	entries, err := j.opts.Log.Claim(ctx, JoinerGroup, j.opts.Consumer, j.opts.ClaimIdle, j.opts.Batch)
	if err != nil {
		return 0, fmt.Errorf("joiner: claim: %w", err)
	}
	if len(entries) == 0 {
		entries, err = j.opts.Log.Read(ctx, JoinerGroup, j.opts.Consumer, j.opts.Batch, block)
		if err != nil {
			return 0, fmt.Errorf("joiner: read: %w", err)
		}
	}
	if len(entries) == 0 {
		return 0, nil
	}
	if err := j.join(ctx, entries); err != nil {
		return 0, err
	}
	ids := make([]string, len(entries))
	for i := range entries {
		ids[i] = entries[i].ID
	}
	if err := j.opts.Log.Ack(ctx, JoinerGroup, ids...); err != nil {
		return 0, fmt.Errorf("joiner: ack: %w", err)
	}
	return len(entries), nil
}

// join closes the windows that the events of entries convert.
func (j *Joiner) join(ctx context.Context, entries []features.LogEntry) error {
	byCustomer := map[string][]*features.Event{}
	var customers []string
	for i := range entries {
		for k := range entries[i].Events {
			ev := &entries[i].Events[k]
			if !j.rewardType(ev.Type) {
				continue
			}
			if _, ok := byCustomer[ev.CustomerID]; !ok {
				customers = append(customers, ev.CustomerID)
			}
			byCustomer[ev.CustomerID] = append(byCustomer[ev.CustomerID], ev)
		}
	}
	if len(customers) == 0 {
		return nil
	}
	open, err := j.opts.Windows.OpenWindows(ctx, customers)
	if err != nil {
		return fmt.Errorf("joiner: open windows: %w", err)
	}
	now := j.opts.Now()
	var rewards []Reward
	var wins []Window
	for _, cid := range customers {
		for _, w := range open[cid] {
			var first *features.Event
			for _, ev := range byCustomer[cid] {
				if ev.Type == w.RewardEvent && ev.Time.After(w.DecidedAt) && !ev.Time.After(w.RewardUntil) &&
					(first == nil || ev.Time.Before(first.Time)) {
					first = ev
				}
			}
			if first == nil {
				continue
			}
			rewards = append(rewards, Reward{
				DecisionID: w.DecisionID, CustomerID: w.CustomerID, Campaign: w.Campaign, Metric: w.Metric,
				Converted: true, Value: rewardValue(first, w.RewardValue),
				EventID: first.ID, EventAt: first.Time, ClosedAt: now,
			})
			wins = append(wins, w)
		}
	}
	_, err = j.close(ctx, rewards, wins)
	return err
}

// rewardType reports whether some campaign rewards events of type t or
// counts them in one of its metrics.
func (j *Joiner) rewardType(t string) bool { return j.events[t] }

// rewardValue is the value of a converting event: 1, or its numeric
// property (0 when the event lacks it).
func rewardValue(ev *features.Event, value string) float64 {
	if value == "1" || value == "" {
		return 1
	}
	if v, ok := ev.Properties[value]; ok {
		if f, ok := v.Float(); ok {
			return f
		}
	}
	return 0
}

// CloseDue closes up to n windows that ended more than Grace ago with
// reward 0 and returns how many it closed. Call it once the log is read up
// to now (Run does).
func (j *Joiner) CloseDue(ctx context.Context, n int) (int, error) {
	closed, _, err := j.closeDue(ctx, n)
	return closed, err
}

// dueBatch is how many expired windows one round of Run closes at a time.
const dueBatch = 1000

// closeDue is CloseDue, also returning how many windows were due (up to
// n; n means there may be more).
func (j *Joiner) closeDue(ctx context.Context, n int) (closed, due int, err error) {
	now := j.opts.Now()
	ws, err := j.opts.Windows.DueWindows(ctx, now.Add(-j.opts.Grace), n)
	if err != nil {
		return 0, 0, fmt.Errorf("joiner: due windows: %w", err)
	}
	rewards := make([]Reward, len(ws))
	for i, w := range ws {
		rewards[i] = Reward{DecisionID: w.DecisionID, CustomerID: w.CustomerID, Campaign: w.Campaign, Metric: w.Metric, ClosedAt: now}
	}
	closed, err = j.close(ctx, rewards, ws)
	return closed, len(ws), err
}

// close closes windows and feeds the ones this call closed to the
// policies.
func (j *Joiner) close(ctx context.Context, rewards []Reward, wins []Window) (int, error) {
	var closed []bool
	if len(rewards) > 0 {
		var err error
		if closed, err = j.opts.Windows.CloseWindows(ctx, rewards); err != nil {
			return 0, fmt.Errorf("joiner: close windows: %w", err)
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	obs := j.pending
	j.pending = map[string][]bandit.Observation{}
	n := 0
	for i, ok := range closed {
		if !ok {
			continue
		}
		n++
		r, w := &rewards[i], &wins[i]
		at := w.RewardUntil
		result := "expired"
		if r.Converted {
			at, result = r.EventAt, "converted"
		}
		j.metrics.closed.WithLabelValues(r.Campaign, r.Metric, result).Inc()
		if w.Metric != "" {
			continue // a metric window: measured, never learned from
		}
		if w.Outcome != Send && w.Outcome != NoAction {
			continue // held out: the arm was never sent
		}
		obs[r.Campaign] = append(obs[r.Campaign], bandit.Observation{
			Arm: w.ArmIndex, Segment: w.Segment, Context: w.PolicyContext,
			Converted: r.Converted, Value: r.Value, At: at,
		})
	}
	var errs []error
	for name, os := range obs {
		c, ok := j.camps[name]
		if !ok {
			continue // a campaign removed from the configuration
		}
		cfg := c.BanditConfig()
		err := j.opts.Policies.UpdatePolicy(ctx, name, func(st *bandit.State) (*bandit.State, error) {
			if st == nil || !st.Compatible(cfg) {
				var err error
				if st, err = bandit.New(cfg); err != nil {
					return nil, err
				}
			} else {
				st = st.Clone()
			}
			for _, o := range os {
				if err := st.Update(o); err != nil {
					// An observation of an older configuration (an arm
					// index or context size that no longer exists).
					j.log.Debug("observation skipped", "campaign", name, "err", err)
				}
			}
			return st, nil
		})
		if err != nil {
			// The windows are closed and their rewards queued for the
			// ledger; the observations wait for the next round (the newest
			// maxPending of them).
			if drop := len(os) - maxPending; drop > 0 {
				j.metrics.dropped.Add(float64(drop))
				os = os[drop:]
			}
			j.pending[name] = os
			errs = append(errs, fmt.Errorf("joiner: update policy %s: %w", name, err))
		}
	}
	return n, errors.Join(errs...)
}

// maxPending bounds the observations per campaign a joiner keeps for a
// policy update that keeps failing.
const maxPending = 100_000
