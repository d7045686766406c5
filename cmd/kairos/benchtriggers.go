package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kairos/decisioning"
	"kairos/decisioning/timerbench"
	"kairos/features"
	"kairos/internal/bench"
	"kairos/internal/progress"
)

// benchTriggerConfig is the campaign of `kairos bench triggers`: an
// immediate trigger on payment_failed, no holdout, caps or cooldown, so
// that every trigger decides and sends.
const benchTriggerConfig = `
global: {control_group: 0%, salt: bench-g}
campaigns:
  - name: bench_payment
    holdout: 0%
    salt: bench-p
    arms:
      - {channel: email, offer: update_card}
      - {channel: push, offer: update_card}
      - {channel: none}
    reward: {event: subscription_started, within: 7d, value: 1}
    policy: {kind: thompson, epsilon: 0.1}
    trigger: {on: {event: payment_failed}}
`

// triggerBench is the result of `kairos bench triggers`.
type triggerBench struct {
	Store string `json:"store"`
	// The latency phase: events tracked at Rate per second for Duration,
	// one in TriggerEvery a payment_failed that triggers a decision.
	Rate         int     `json:"rate"`
	AchievedRate float64 `json:"achieved_rate"`
	Events       int64   `json:"events"`
	Triggers     int64   `json:"triggers"`
	Decided      int64   `json:"decided"`
	// Event-to-decision latency (from the event's arrival in the log to
	// its decision), in milliseconds.
	LatencyP50 float64 `json:"latency_p50_ms"`
	LatencyP99 float64 `json:"latency_p99_ms"`
	LatencyMax float64 `json:"latency_max_ms"`
	// The baseline of the same run: a Decide of the same campaign called
	// directly.
	DecideP50 float64 `json:"decide_p50_ms"`
	DecideP99 float64 `json:"decide_p99_ms"`
	// The timers phase.
	Timers *timerBench `json:"timers,omitempty"`
}

// timerBench is the timers phase of `kairos bench triggers`
// (timerbench.Result in milliseconds and bytes).
type timerBench struct {
	Pending         int     `json:"pending"`
	BytesPerTimer   float64 `json:"bytes_per_timer"`
	SetPerSecond    float64 `json:"set_per_second"`
	ClaimPerSecond  float64 `json:"claim_done_per_second"`
	Probes          int     `json:"probes"`
	LatenessP50MS   float64 `json:"lateness_p50_ms"`
	LatenessP99MS   float64 `json:"lateness_p99_ms"`
	LatenessMaxMS   float64 `json:"lateness_max_ms"`
	MemoryMeasuring string  `json:"memory"`
}

// benchTriggers runs `kairos bench triggers`.
func benchTriggers(ctx context.Context, env environment, args []string) error {
	var (
		asJSON, force   bool
		redisURL        string
		rate, customers int
		timers          int
		every           int
		duration        time.Duration
	)
	fs := flagSet("bench triggers", "Measures the trigger watcher: the latency from an event's arrival to the decision of an\n"+
		"immediate trigger while events are tracked at --rate per second (one in --every a trigger), beside a\n"+
		"direct Decide; then the lateness of timers with --timers pending and the store's memory per pending\n"+
		"timer (Redis INFO used_memory with --redis, the Go heap embedded).", env)
	fs.BoolVar(&asJSON, "json", false, "print the result as one JSON object, the last line of stdout")
	fs.StringVar(&redisURL, "redis", "", "Redis `URL` of the store under test (empty: the embedded store); must be an empty database")
	fs.BoolVar(&force, "force", false, "benchmark against a Redis database that already holds keys")
	fs.IntVar(&rate, "rate", 10000, "events per second tracked during the latency phase")
	fs.IntVar(&every, "every", 10, "one event in `n` is a payment_failed that triggers a decision")
	fs.IntVar(&customers, "customers", 10000, "customers the events come from")
	fs.DurationVar(&duration, "duration", 10*time.Second, "length of the latency phase")
	fs.IntVar(&timers, "timers", 1_000_000, "pending `timers` of the timers phase (0: skip it)")
	if err := parseFlags(fs, env, "bench triggers", args); err != nil {
		return err
	}
	if rate <= 0 || customers <= 0 || duration <= 0 || every <= 0 || timers < 0 {
		return errors.New("bench triggers: --rate, --customers, --duration and --every must be positive, --timers at least 0")
	}
	if redisURL != "" && !force {
		if err := bench.CheckEmpty(ctx, redisURL); err != nil {
			return err
		}
	}
	set := features.Default()
	logger := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, err := decisioning.ParseConfig("bench-triggers.yaml", []byte(benchTriggerConfig), set)
	if err != nil {
		return fmt.Errorf("bench triggers: %w", err)
	}
	st, err := openStore(ctx, redisURL, set, 0, logger)
	if err != nil {
		return fmt.Errorf("bench triggers: %w", err)
	}
	defer st.close()
	reg := prometheus.NewRegistry()
	registry, err := openRegistry("", set, logger, reg)
	if err != nil {
		return fmt.Errorf("bench triggers: models: %w", err)
	}
	var (
		mu   sync.Mutex
		lags []time.Duration
	)
	dec, err := openDecisioning(ctx, cfg, st, set, registry, decisionOptions{
		deadline: time.Second,
		onTrigger: func(d *decisioning.Decision, lag time.Duration) {
			mu.Lock()
			lags = append(lags, lag)
			mu.Unlock()
		},
	}, logger, reg)
	if err != nil {
		return fmt.Errorf("bench triggers: %w", err)
	}
	defer dec.close()
	if dec.watcher == nil {
		return errors.New("bench triggers: the store keeps no event log: nothing to watch")
	}
	res := triggerBench{Store: st.kind, Rate: rate}

	// The customers, and the baseline: Decide called directly.
	ids := make([]string, customers)
	now := time.Now()
	for i := range ids {
		ids[i] = fmt.Sprintf("bt%06d", i)
		c := features.Customer{ID: ids[i], Email: ids[i] + "@example.com", PushToken: "tok-" + ids[i], Timezone: "UTC",
			Consents: map[string]bool{"email": true, "push": true}}
		if err := st.store.UpsertCustomer(ctx, c, now); err != nil {
			return fmt.Errorf("bench triggers: customers: %w", err)
		}
	}
	var direct []time.Duration
	for i := range min(2000, customers) {
		start := time.Now()
		if _, err := dec.engine.Decide(ctx, decisioning.Request{CustomerID: ids[i], Campaigns: []string{"bench_payment"}}); err != nil {
			return fmt.Errorf("bench triggers: baseline Decide: %w", err)
		}
		direct = append(direct, time.Since(start))
	}
	res.DecideP50, res.DecideP99 = quantileMS(direct, 0.5), quantileMS(direct, 0.99)

	// The latency phase.
	wctx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { dec.watcher.Run(wctx) })
	wg.Go(func() { dec.drainer.Run(wctx) })
	defer func() { stopWatch(); wg.Wait() }()
	fmt.Fprintf(env.stderr, "bench triggers: %s store, %d events/s for %s, one in %d a trigger\n", st.kind, rate, duration, every)
	const tick = 10 * time.Millisecond
	perTick := max(rate*int(tick)/int(time.Second), 1)
	var seq, triggers atomic.Int64
	t := time.NewTicker(tick)
	began := time.Now()
	for time.Since(began) < duration {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		evs := make([]features.Event, perTick)
		at := time.Now()
		for i := range evs {
			n := seq.Add(1)
			cid := ids[int(n)%customers]
			if n%int64(every) == 0 {
				triggers.Add(1)
				evs[i] = features.Event{ID: fmt.Sprintf("bt-f%d", n), CustomerID: cid, Type: "payment_failed", Time: at,
					Properties: map[string]features.Value{"amount": features.Number(9.99), "currency": features.String("EUR")}}
			} else {
				evs[i] = features.Event{ID: fmt.Sprintf("bt-v%d", n), CustomerID: cid, Type: "page_view", Time: at,
					Properties: map[string]features.Value{"page": features.String("home")}}
			}
		}
		if _, err := st.store.Track(ctx, evs, at); err != nil {
			return fmt.Errorf("bench triggers: track: %w", err)
		}
	}
	t.Stop()
	elapsed := time.Since(began)
	res.Events, res.Triggers = seq.Load(), triggers.Load()
	res.AchievedRate = float64(res.Events) / elapsed.Seconds()
	// Wait for the watcher to catch up (at most 30 s).
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		n := int64(len(lags))
		mu.Unlock()
		if n >= res.Triggers {
			break
		}
	}
	mu.Lock()
	res.Decided = int64(len(lags))
	res.LatencyP50, res.LatencyP99 = quantileMS(lags, 0.5), quantileMS(lags, 0.99)
	if len(lags) > 0 {
		res.LatencyMax = float64(slices.Max(lags)) / 1e6
	}
	mu.Unlock()
	stopWatch()
	wg.Wait()

	// The timers phase.
	if timers > 0 {
		ts, ok := dec.dispatch.(decisioning.Timers)
		if !ok {
			return errors.New("bench triggers: the store keeps no timers")
		}
		// The store's memory: Redis's used_memory, or the Go heap after a
		// collection for the embedded store.
		mem, how := goHeap, "Go heap (embedded)"
		if u, ok := ts.(interface {
			UsedMemory(context.Context) (int64, error)
		}); ok {
			mem, how = u.UsedMemory, "Redis used_memory"
		}
		bar := progress.Start(env.stderr, progress.Options{Label: "timers", Total: int64(2 * timers), Unit: "timers"})
		last := 0
		r, err := timerbench.Run(ctx, ts, mem, timers, func(done int) { bar.Step(int64(done - last)); bar.Count(int64(done - last)); last = done })
		bar.Done()
		if err != nil {
			return fmt.Errorf("bench triggers: timers: %w", err)
		}
		ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
		res.Timers = &timerBench{Pending: r.Pending, BytesPerTimer: r.BytesPerTimer, SetPerSecond: r.SetRate, ClaimPerSecond: r.ClaimRate,
			Probes: r.Probes, LatenessP50MS: ms(r.LatenessP50), LatenessP99MS: ms(r.LatenessP99), LatenessMaxMS: ms(r.LatenessMax), MemoryMeasuring: how}
	}

	if asJSON {
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, string(b))
		return nil
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "store\t%s\n", res.Store)
	fmt.Fprintf(tw, "events tracked\t%s at %.0f/s (target %d/s), %s triggers, %s decided\n",
		progress.Thousands(res.Events), res.AchievedRate, res.Rate, progress.Thousands(res.Triggers), progress.Thousands(res.Decided))
	fmt.Fprintf(tw, "event → decision\tp50 %.1f ms, p99 %.1f ms, max %.1f ms (target p99 ≤ 1000 ms)\n", res.LatencyP50, res.LatencyP99, res.LatencyMax)
	fmt.Fprintf(tw, "baseline: Decide\tp50 %.2f ms, p99 %.2f ms\n", res.DecideP50, res.DecideP99)
	if r := res.Timers; r != nil {
		fmt.Fprintf(tw, "timers pending\t%s: %.0f bytes each (%s)\n", progress.Thousands(int64(r.Pending)), r.BytesPerTimer, r.MemoryMeasuring)
		fmt.Fprintf(tw, "timer lateness\tp50 %.1f ms, p99 %.1f ms, max %.1f ms\n", r.LatenessP50MS, r.LatenessP99MS, r.LatenessMaxMS)
		fmt.Fprintf(tw, "timer throughput\tset %.0f/s, claim+done %.0f/s\n", r.SetPerSecond, r.ClaimPerSecond)
	}
	return tw.Flush()
}

// goHeap is the live Go heap after a collection.
func goHeap(context.Context) (int64, error) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc), nil
}

// quantileMS is bench.Percentile, 0 (which JSON can hold) when ds is
// empty.
func quantileMS(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	return bench.Percentile(ds, q)
}
