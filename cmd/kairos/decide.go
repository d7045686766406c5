package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kairos/decisioning"
	"kairos/decisioning/memstate"
	"kairos/decisioning/redisstate"
	"kairos/features"
	"kairos/internal/server"
	"kairos/ledger"
	"kairos/ledger/pgledger"
	"kairos/models"
)

// decisionStack is everything Decide needs beside the feature store: the
// engine, the reward joiner, the ledger and the drainer that fills it.
//
// A stack without campaigns (kind "none") has none of them: Decide and
// ExplainDecision answer Unimplemented.
type decisionStack struct {
	engine *decisioning.Engine
	joiner *decisioning.Joiner
	// watcher runs the campaigns' triggers; nil when no campaign has one
	// (or the store keeps no event log). triggers keeps their state and
	// journals, for kairos explain.
	watcher  *decisioning.Watcher
	triggers decisioning.TriggerState
	segments decisioning.Segments
	drainer  *ledger.Drainer
	ledger   ledger.Ledger
	// dispatch is the queue of the SEND decisions' messages.
	dispatch decisioning.DispatchQueue
	// kind is "embedded" or "postgres", as printed at startup.
	kind   string
	checks []server.Check
	close  func()
	// connect, when set, connects the ledger in the background (it was
	// unreachable at start); serve runs it. connected reports when it has.
	connect   func(ctx context.Context) error
	connected func() bool
}

// loadCampaigns reads the campaign configuration: file, or the example
// campaigns shipped in the binary when file is empty.
func loadCampaigns(file string, set *features.Set) (*decisioning.Config, error) {
	if file == "" {
		return decisioning.DefaultConfig(set)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return decisioning.ParseConfig(file, data, set)
}

// decisionOptions are the flags of the decision stack.
type decisionOptions struct {
	// postgres is the ledger's URL; empty: the embedded ledger.
	postgres string
	// deadline bounds each Decide; claimIdle is how long queue and log
	// entries stay with a consumer that went away before another takes
	// them (0: the defaults).
	deadline, claimIdle time.Duration
	// now is the clock of decisions (the engine, the embedded dispatch
	// queue's schedule); rewardNow the reward joiner's, which closes the
	// windows that ended before it. nil: time.Now. kairos demo sets them
	// to its simulated clocks.
	now, rewardNow func() time.Time
	// uniform draws the policies' random numbers; nil: math/rand/v2.
	uniform func(*decisioning.Decision) float64
	// onTrigger, when set, sees each decision the trigger watcher makes
	// and its latency (kairos bench triggers).
	onTrigger func(d *decisioning.Decision, lag time.Duration)
}

// openDecisioning builds the decision stack on the feature store st.
func openDecisioning(ctx context.Context, cfg *decisioning.Config, st openedStore, set *features.Set, scorer decisioning.Scorer,
	o decisionOptions, logger *slog.Logger, reg prometheus.Registerer) (*decisionStack, error) {
	postgresURL, deadline := o.postgres, o.deadline
	consumer := fmt.Sprintf("%s-%d", hostname(), os.Getpid())
	var (
		state    decisioning.State
		policies decisioning.PolicyStore
		windows  decisioning.Windows
		queue    ledger.Queue
		dq       decisioning.DispatchQueue
		timers   decisioning.Timers
		trig     decisioning.TriggerState
		segs     decisioning.Segments
	)
	switch {
	case st.redis != nil:
		rs := redisstate.New(st.redis, redisstate.Options{Lookback: cfg.Lookback(), Logger: logger})
		state, policies, windows, queue, dq, timers, trig, segs = rs, rs, rs, rs, rs, rs, rs, rs
	default:
		ms := memstate.New(st.mem, memstate.Options{Lookback: cfg.Lookback(), Now: o.now})
		state, policies, windows, queue, dq, timers, trig, segs = ms, ms, ms, ms, ms, ms, ms, ms
	}
	stack := &decisionStack{kind: "embedded", close: func() {}, dispatch: dq, triggers: trig, segments: segs}
	if postgresURL == "" {
		stack.ledger = ledger.NewMemory()
	} else {
		pg, err := pgledger.Open(ctx, postgresURL, pgledger.Options{Logger: logger})
		switch {
		case errors.Is(err, ledger.ErrUnavailable):
			// Decide does not need PostgreSQL to answer: start degraded and
			// connect in the background; the queue holds the decisions.
			logger.Warn("the ledger database is unreachable; serving decisions, which wait in the queue until it is back", "err", err)
			later := pgledger.OpenLater(postgresURL, pgledger.Options{Logger: logger})
			stack.ledger, stack.kind, stack.close, stack.connect = later, "postgres", later.Close, later.Run
			stack.connected = later.Connected
		case err != nil:
			return nil, fmt.Errorf("--postgres: %w", err)
		default:
			stack.ledger, stack.kind, stack.close = pg, "postgres", pg.Close
		}
	}
	engine, err := decisioning.New(decisioning.Options{
		Config: cfg, Set: set, State: state, Scorer: scorer, Policies: policies,
		Deadline: deadline, Logger: logger, Registerer: reg, Now: o.now, Uniform: o.uniform,
	})
	if err != nil {
		stack.close()
		return nil, err
	}
	stack.engine = engine
	if evlog, ok := st.store.(features.EventLog); ok {
		stack.joiner = decisioning.NewJoiner(decisioning.JoinerOptions{
			Config: cfg, Log: evlog, Windows: windows, Policies: policies, Consumer: consumer,
			ClaimIdle: o.claimIdle, Logger: logger, Registerer: reg, Now: o.rewardNow,
		})
		w := decisioning.NewWatcher(decisioning.WatcherOptions{
			Config: cfg, Engine: engine, Log: evlog, Timers: timers, State: trig, Segments: segs, Store: st.store, Consumer: consumer,
			// A dead instance's timers wait for --claim-idle too (at least
			// 5 s, longer than a batch of decisions takes).
			ClaimIdle: o.claimIdle, Lease: max(o.claimIdle, 5*time.Second), Logger: logger, Registerer: reg, Now: o.now, OnDecision: o.onTrigger,
		})
		if w.Triggered() {
			stack.watcher = w
		}
	}
	stack.drainer = ledger.NewDrainer(queue, stack.ledger, ledger.DrainOptions{Consumer: consumer, ClaimIdle: o.claimIdle, Logger: logger, Registerer: reg})
	stack.checks = []server.Check{{
		Name: "ledger",
		Degraded: func() string {
			if stack.connected != nil && !stack.connected() {
				return "not connected to the ledger database yet; decisions wait in the queue"
			}
			if stack.drainer.Degraded() {
				return "cannot write the decision ledger; decisions continue and wait in the queue"
			}
			return ""
		},
	}}
	return stack, nil
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "kairos"
	}
	return h
}

var _ decisioning.Scorer = (*models.Registry)(nil)
