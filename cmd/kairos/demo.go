package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	kairosv1 "kairos/api/proto/kairos/v1"
	"kairos/channels/inapp"
	"kairos/channels/tracking"
	"kairos/decisioning"
	"kairos/dispatch"
	"kairos/features"
	"kairos/internal/progress"
	"kairos/internal/server"
	"kairos/internal/sim"
	"kairos/ledger"
	"kairos/measurement"
)

// demoCampaigns are the built-in campaigns the simulator knows: the demo
// decides these (the others of the built-in configuration have no
// decision points in the simulated world).
var demoCampaigns = []string{sim.CampaignCartRecovery, sim.CampaignUpgrade, sim.CampaignWinback}

// demoConfig is the configuration of `kairos demo`.
type demoConfig struct {
	customers   int
	days        int
	seed        uint64
	end         string
	addr        string
	noServe     bool
	concurrency int
}

func demoFlags(cfg *demoConfig, env environment) *flag.FlagSet {
	fs := flagSet("demo", "Runs the whole loop in one process on embedded defaults: Kairos (embedded store and ledger,\n"+
		"shipped models, the built-in campaigns) and the simulated customer base playing into it over gRPC\n"+
		"on a simulated clock; then prints each campaign's incrementality report beside the simulator's\n"+
		"true effects and serves the report page until interrupted.", env)
	fs.IntVar(&cfg.customers, "customers", 20000, "`number` of simulated customers")
	fs.IntVar(&cfg.days, "days", 60, "simulated `days`")
	fs.Uint64Var(&cfg.seed, "seed", 7, "`seed` of the simulated world and of the policies' draws")
	fs.StringVar(&cfg.end, "end", "", "end of the simulated period, a `date` YYYY-MM-DD (exclusive, UTC; default today)")
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:7401", "`address` serving the report page /reports (and /metrics) after the run")
	fs.BoolVar(&cfg.noServe, "no-serve", false, "exit after printing the reports instead of serving the report page")
	fs.IntVar(&cfg.concurrency, "concurrency", 4, "concurrent Track `requests`")
	return fs
}

// simClock is a simulated clock shared by the components of the demo. It
// only moves forward: the simulator advances it to each decision point
// and to the end of each simulated day.
type simClock struct{ ns atomic.Int64 }

func newSimClock(t time.Time) *simClock {
	c := &simClock{}
	c.ns.Store(t.UnixNano())
	return c
}

// Now returns the simulated time.
func (c *simClock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// advance moves the clock to t unless it is already later.
func (c *simClock) advance(t time.Time) {
	n := t.UnixNano()
	for {
		cur := c.ns.Load()
		if n <= cur || c.ns.CompareAndSwap(cur, n) {
			return
		}
	}
}

// demo runs `kairos demo`.
func demo(ctx context.Context, env environment, args []string) error {
	var cfg demoConfig
	if err := parseFlags(demoFlags(&cfg, env), env, "demo", args); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	switch {
	case cfg.customers < 1 || cfg.customers > sim.MaxCustomers:
		return fmt.Errorf("demo: --customers must be 1 to %d, got %d", sim.MaxCustomers, cfg.customers)
	case cfg.days < 1 || cfg.days > sim.MaxDays:
		return fmt.Errorf("demo: --days must be 1 to %d, got %d", sim.MaxDays, cfg.days)
	case cfg.concurrency < 1:
		return fmt.Errorf("demo: --concurrency must be at least 1, got %d", cfg.concurrency)
	}
	end := time.Now().UTC().Truncate(24 * time.Hour)
	if cfg.end != "" {
		var err error
		if end, err = time.Parse(time.DateOnly, cfg.end); err != nil {
			return fmt.Errorf("demo: --end must be a date YYYY-MM-DD, got %q", cfg.end)
		}
	}
	began := time.Now()
	tuneGC(env)
	// Errors only: the demo's output is its progress and its reports.
	logger := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	policy := &kairosPolicy{}
	world, err := sim.New(sim.Config{Customers: cfg.customers, Days: cfg.days, Seed: cfg.seed, End: end, Policy: policy, Lockstep: true})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	// Two simulated clocks: now, the present of every component (decisions,
	// Track's validation, caps, quiet hours, the dispatcher), and the
	// watermark of the reward joiner: the time up to which every event is
	// in the log, so that a window closes with reward 0 only when its
	// events can no longer come.
	now, mark := newSimClock(world.Start()), newSimClock(world.Start())

	set := features.Default()
	campaigns, err := decisioning.DefaultConfig(set)
	if err != nil {
		return fmt.Errorf("demo: campaigns: %w", err)
	}
	campaigns.Campaigns = slices.DeleteFunc(campaigns.Campaigns, func(c decisioning.Campaign) bool {
		return !slices.Contains(demoCampaigns, c.Name)
	})
	campaigns.Source += " (demo: " + strings.Join(demoCampaigns, ", ") + ")"

	// The event log only needs to hold what the joiner has not read: it
	// reads after every simulated day.
	st, err := openStore(ctx, "", set, 20_000, logger)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	reg := prometheus.NewRegistry()
	registry, err := openRegistry("", set, logger, reg)
	if err != nil {
		return fmt.Errorf("demo: models: %w", err)
	}
	dec, err := openDecisioning(ctx, campaigns, st, set, registry, decisionOptions{
		deadline: time.Second, now: now.Now, rewardNow: mark.Now,
		uniform: demoDraw(cfg.seed),
	}, logger, reg)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer dec.close()
	if dec.joiner == nil {
		return errors.New("demo: the embedded store has no event log")
	}
	// The demo drives the joiner itself, day by day (Joiner.Run would on
	// real time).
	if err := st.store.(features.EventLog).CreateGroup(ctx, decisioning.JoinerGroup); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	inbox := inapp.NewMemory(dispatch.DefaultConfig().InboxOptions())
	key := make([]byte, tracking.MinKeyBytes)
	rand.Read(key)
	signer, err := tracking.NewSigner(key, nil)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	disp, err := openDispatch(dispatchOptions{run: true, adminAddr: cfg.addr, now: now.Now, noEvents: true},
		dispatch.DefaultConfig(), campaigns, dec.dispatch, st, set, inbox, signer, logger, reg)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	srv := server.New(server.Options{
		Store: st.store, Set: set, Logger: logger, Registerer: reg, Gatherer: reg,
		Engine: dec.engine, Ledger: dec.ledger, Checks: dec.checks, Inbox: inbox, Now: now.Now,
	})
	var lc net.ListenConfig
	grpcLn, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: listen for gRPC: %w", err)
	}
	var httpLn net.Listener
	if !cfg.noServe {
		// Listen now: a taken address fails before the run, not after.
		if httpLn, err = lc.Listen(ctx, "tcp", cfg.addr); err != nil {
			return fmt.Errorf("demo: --addr: %w", err)
		}
		defer httpLn.Close()
	}
	gs := srv.GRPC()
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	var g errgroup.Group
	g.Go(func() error {
		if err := gs.Serve(grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return err
		}
		return nil
	})
	g.Go(func() error { return dec.drainer.Run(bg) })
	if disp.dispatcher != nil {
		g.Go(func() error { return disp.dispatcher.Run(bg) })
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		gs.GracefulStop()
		stopBG()
		return g.Wait()
	}
	defer stop()

	conn, err := grpc.NewClient(grpcLn.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer conn.Close()
	client := kairosv1.NewKairosClient(conn)
	policy.client, policy.now = client, now
	sink := &demoSink{
		target: &targetSink{addr: grpcLn.Addr().String(), conn: conn, client: client, concurrency: cfg.concurrency},
		now:    now, mark: mark, day: world.Start(), joiner: dec.joiner, engine: dec.engine,
	}

	fmt.Fprintf(env.stderr, "demo: Kairos in-process (embedded store and ledger, shipped models, campaigns %s) on gRPC %s;\n"+
		"      %s simulated customers, %d days from %s to %s, seed %d, on a simulated clock\n",
		strings.Join(demoCampaigns, ", "), grpcLn.Addr(), progress.Thousands(int64(cfg.customers)), cfg.days,
		world.Start().Format(time.DateOnly), end.AddDate(0, 0, -1).Format(time.DateOnly), cfg.seed)
	bar := progress.Start(env.stderr, progress.Options{Label: "demo", Total: int64(cfg.days), Unit: "events"})
	res, err := world.Run(ctx, sink, bar)
	bar.Done()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	// Every window ends before the world does: close them all.
	final := world.End().Add(decisioning.DefaultGrace + time.Second)
	now.advance(final)
	mark.advance(final)
	if err := sink.join(ctx); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	stopBG()
	if err := dec.drainer.Flush(ctx); err != nil {
		return fmt.Errorf("demo: flush the ledger: %w", err)
	}
	simulated := time.Since(began)

	fmt.Fprintf(env.stdout, "simulated %s events of %s customers (%s churned) in %s; %s decision points asked Kairos (%s Decide/s over gRPC)\n",
		progress.Thousands(sink.target.accepted.Load()), progress.Thousands(int64(res.Customers)), progress.Thousands(int64(res.Churned)),
		simulated.Round(100*time.Millisecond), progress.Thousands(policy.calls.Load()),
		progress.Thousands(int64(float64(policy.calls.Load())/max(time.Duration(policy.busy.Load()).Seconds(), 1e-9))))
	if disp.dispatcher != nil {
		queued := -1
		if q, ok := dec.dispatch.(interface{ DispatchLen() int }); ok {
			queued = q.DispatchLen()
		}
		fmt.Fprintf(env.stdout, "dispatched %s messages through the in-process outbox and inbox on the simulated clock (%d left in the queue)\n",
			progress.Thousands(disp.dispatcher.Settled()), queued)
	}
	if n := sink.target.rejected.Load(); n > 0 {
		fmt.Fprintf(env.stdout, "  %s events rejected, e.g. %s\n", progress.Thousands(n), strings.Join(sink.target.rejections(), "; "))
	}
	reports := &ledgerReports{cfg: campaigns, ledger: dec.ledger, now: now.Now}
	cov, err := printDemoReports(ctx, env.stdout, reports, dec.ledger, campaigns, res, world.Start(), world.End())
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(env.stdout, "\n%d of %d true effects inside the reported simultaneous 95%% intervals (%d inside the per-row 95%% intervals; campaign and arm rows counted, global control and channel rows listed)\n",
		cov.inside, cov.total, cov.insideRow)
	fmt.Fprintf(env.stdout, "total time %s\n", time.Since(began).Round(100*time.Millisecond))
	if cfg.noServe {
		return stop()
	}

	admin := http.NewServeMux()
	admin.Handle("/", srv.AdminHandler())
	page := measurement.Handler(reports, logger)
	admin.Handle("/reports", page)
	admin.Handle("/reports/", page)
	hs := &http.Server{Handler: admin, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(env.stdout, "\nreports: http://%s/reports  (Ctrl-C to stop)\n", httpLn.Addr())
	herr := make(chan error, 1)
	go func() { herr <- hs.Serve(httpLn) }()
	select {
	case <-ctx.Done():
	case err := <-herr:
		return fmt.Errorf("demo: serve reports: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	hs.Shutdown(sctx)
	return stop()
}

// demoDraw returns the policies' draws of the demo: a function of the
// seed and of the decision's request id (the simulator's decision point)
// and campaign alone, so that the run is the same whatever the order in
// which concurrent decisions reach the engine.
func demoDraw(seed uint64) func(*decisioning.Decision) float64 {
	return func(d *decisioning.Decision) float64 {
		h := fnv.New64a()
		h.Write([]byte(d.RequestID))
		h.Write([]byte{0})
		h.Write([]byte(d.Campaign))
		return mrand.New(mrand.NewPCG(seed, h.Sum64())).Float64()
	}
}

// kairosPolicy is the simulator's policy: it asks Kairos (Decide over
// gRPC) at every decision point, on the simulated clock, and returns the
// arm Kairos sends, or none (holdout, global control, suppressed, no
// action). The simulator then delivers the message.
type kairosPolicy struct {
	client kairosv1.KairosClient
	now    *simClock
	calls  atomic.Int64
	busy   atomic.Int64 // time.Duration spent in Decide
}

// Choose implements sim.Policy.
func (p *kairosPolicy) Choose(ctx context.Context, dp sim.DecisionPoint) (sim.Arm, error) {
	p.now.advance(dp.At)
	start := time.Now()
	resp, err := p.client.Decide(ctx, &kairosv1.DecideRequest{
		CustomerId: dp.CustomerID, Campaigns: []string{dp.Campaign}, RequestId: dp.DecisionID,
	})
	p.busy.Add(int64(time.Since(start)))
	p.calls.Add(1)
	if err != nil {
		return sim.Arm{}, fmt.Errorf("Decide %s for %s: %w", dp.Campaign, dp.CustomerID, err)
	}
	none := dp.Arms[len(dp.Arms)-1]
	d := resp.GetDecision()
	if d.GetOutcome() != kairosv1.Outcome_OUTCOME_SEND {
		return none, nil
	}
	for _, a := range dp.Arms {
		if a.Channel == d.GetChannel() && a.Offer == d.GetOffer() {
			return a, nil
		}
	}
	return sim.Arm{}, fmt.Errorf("Kairos sent %s/%s at %s, which campaign %s of the simulator does not have", d.GetChannel(), d.GetOffer(), dp.DecisionID, dp.Campaign)
}

// demoSink plays the world into Kairos over gRPC (targetSink) and, after
// each simulated day, moves the clocks to its end, lets the reward joiner
// read the day's events and close the windows that ended, and reloads the
// learned policies, so that the next day decides with them.
type demoSink struct {
	target    *targetSink
	now, mark *simClock
	day       time.Time // start of the next day to be sent
	joiner    *decisioning.Joiner
	engine    *decisioning.Engine
}

func (s *demoSink) Customers(ctx context.Context, cs []features.Customer) error {
	return s.target.Customers(ctx, cs)
}

func (s *demoSink) Events(ctx context.Context, evs []features.Event) error {
	s.day = s.day.Add(24 * time.Hour)
	s.now.advance(s.day)
	if err := s.target.Events(ctx, evs); err != nil {
		return err
	}
	s.mark.advance(s.day)
	return s.join(ctx)
}

// join reads the event log to its end, closes the windows that ended more
// than the grace before the watermark, and reloads the policies.
func (s *demoSink) join(ctx context.Context) error {
	for {
		n, err := s.joiner.Step(ctx, 0)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	const batch = 10_000
	for {
		n, err := s.joiner.CloseDue(ctx, batch)
		if err != nil {
			return err
		}
		if n < batch {
			break
		}
	}
	return s.engine.Refresh(ctx)
}

// demoUnsubscribe is the event-rate metric of the built-in campaigns whose
// truth the simulator knows: unsubscribes answering the decision's own
// message (Outcome.Unsubscribed). Kairos counts every unsubscribed event
// within 7 days, a few of them the newsletter's, which the campaign does
// not cause; the row is listed beside the truth, not counted.
const demoUnsubscribe = "unsubscribe"

// coverage counts the true effects inside the reported intervals.
type coverage struct{ inside, insideRow, total int }

// truthCell accumulates, over decisions, an outcome under the arm Kairos
// chose and under none.
type truthCell struct {
	n                int
	conv, convNone   float64
	rev, revNone     float64
	unsub, unsubNone float64
}

func (c *truthCell) effect(metric string) float64 {
	if c.n == 0 {
		return math.NaN()
	}
	switch metric {
	case measurement.MetricConversion:
		return (c.conv - c.convNone) / float64(c.n)
	case measurement.MetricRevenue:
		return (c.rev - c.revNone) / float64(c.n)
	case demoUnsubscribe:
		return (c.unsub - c.unsubNone) / float64(c.n)
	}
	return math.NaN()
}

// printDemoReports prints each campaign's report rows beside the true
// effect of the same comparison, computed from the simulator's potential
// outcomes of the same decisions.
func printDemoReports(ctx context.Context, w io.Writer, reports *ledgerReports, l ledger.Ledger, cfg *decisioning.Config, res *sim.Result, from, to time.Time) (coverage, error) {
	var cov coverage
	bySim := make(map[string]*sim.Decision, len(res.Decisions))
	for i := range res.Decisions {
		bySim[res.Decisions[i].DecisionID] = &res.Decisions[i]
	}
	for _, name := range demoCampaigns {
		rep, err := reports.Report(ctx, name, from, to)
		if errors.Is(err, measurement.ErrNoDecisions) {
			fmt.Fprintf(w, "\n%s: no decisions\n", name)
			continue
		}
		if err != nil {
			return cov, err
		}
		ds, err := l.Decisions(ctx, ledger.Query{Campaign: name})
		if err != nil {
			return cov, err
		}
		rs, err := l.Rewards(ctx, ledger.Query{Campaign: name})
		if err != nil {
			return cov, err
		}
		rewards := make(map[string]*decisioning.Reward, len(rs))
		for i := range rs {
			if rs[i].Metric == "" { // the reward window, not an event-rate metric's
				rewards[rs[i].DecisionID] = &rs[i]
			}
		}
		var ct *sim.CampaignTruth
		for i := range res.Truth.Campaigns {
			if res.Truth.Campaigns[i].Campaign == name {
				ct = &res.Truth.Campaigns[i]
			}
		}
		armIndex := func(channel, offer string) int {
			for i, a := range ct.Arms {
				if a.Channel == channel && (a.Offer == offer || channel == sim.ChannelNone) {
					return i
				}
			}
			return -1
		}
		none := len(ct.Arms) - 1
		// The reward's value: a property of the converting event (the
		// simulator's revenue), or 1 per conversion.
		valueIsOne := false
		if c, ok := cfg.Campaign(name); ok && (c.Reward.Value == "1" || c.Reward.Value == "") {
			valueIsOne = true
		}
		revenue := func(o sim.Outcome) float64 {
			if valueIsOne {
				return b2f(o.Converted)
			}
			return o.Revenue
		}
		cells := map[string]*truthCell{}
		add := func(scope string, sd *sim.Decision, arm int, scale float64) {
			c := cells[scope]
			if c == nil {
				c = &truthCell{}
				cells[scope] = c
			}
			c.n++
			c.conv += scale * b2f(sd.Potential[arm].Converted)
			c.convNone += scale * b2f(sd.Potential[none].Converted)
			c.rev += scale * revenue(sd.Potential[arm])
			c.revNone += scale * revenue(sd.Potential[none])
			c.unsub += scale * b2f(sd.Potential[arm].Unsubscribed)
			c.unsubNone += scale * b2f(sd.Potential[none].Unsubscribed)
		}
		unmatched := 0
		holdoutShare := float64(rep.HoldoutShare)
		// The report compares first exposures, each customer's first
		// decision in a compared group: so does the truth.
		slices.SortStableFunc(ds, func(a, b decisioning.Decision) int { return a.DecidedAt.Compare(b.DecidedAt) })
		exposed := map[string]bool{}
		for i := range ds {
			d := &ds[i]
			if !measurement.Compared(d) || exposed[d.CustomerID] {
				continue
			}
			exposed[d.CustomerID] = true
			sd := bySim[d.RequestID]
			if sd == nil {
				unmatched++
				continue
			}
			arm := -1
			if d.ArmIndex >= 0 {
				arm = armIndex(d.Channel, d.Offer)
			}
			switch {
			case arm < 0:
				add("suppressed", sd, none, 1)
			case d.Outcome == decisioning.GlobalControl:
				add(measurement.ScopeGlobalControl, sd, arm, 1-holdoutShare)
			default:
				add(measurement.ScopeCampaign, sd, arm, 1)
				add(measurement.ScopeArmPrefix+decisioning.ArmKey(d.Channel, d.Offer), sd, arm, 1)
				if d.Channel != decisioning.ChannelNone && d.Outcome != decisioning.NoAction {
					add(measurement.ScopeChannelPrefix+d.Channel, sd, arm, 1)
				}
				// The global control row compares everyone else with it.
				add(measurement.ScopeGlobalControl, sd, arm, 1-holdoutShare)
			}
		}
		fmt.Fprintf(w, "\n%s — %s decisions (", name, progress.Thousands(int64(len(ds))))
		first := true
		for o := decisioning.Send; o <= decisioning.NoAction; o++ {
			if !first {
				fmt.Fprint(w, ", ")
			}
			first = false
			fmt.Fprintf(w, "%s %s", o, progress.Thousands(int64(rep.Decisions[o.String()])))
		}
		fmt.Fprintln(w, ")")
		agree := 0
		for _, d := range ds {
			if sd, obs := bySim[d.RequestID], rewards[d.ID]; sd != nil && obs != nil &&
				obs.Converted == sd.Converted && math.Abs(obs.Value-revenue(sd.Outcome)) < 1e-6 {
				agree++
			}
		}
		fmt.Fprintf(w, "  reward join vs the simulator's observed outcome (conversion and value): %s of %s decisions with a reward agree\n",
			progress.Thousands(int64(agree)), progress.Thousands(int64(len(rewards))))
		if unmatched > 0 {
			fmt.Fprintf(w, "  %d decisions not matched to a decision point of the simulator\n", unmatched)
		}
		for _, warn := range rep.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", warn)
		}
		if rep.SRM != nil && rep.SRM.Flagged {
			fmt.Fprintf(w, "  SAMPLE RATIO MISMATCH: p = %.2g\n", rep.SRM.PValue)
		}
		fmt.Fprintf(w, "  first exposures (each customer's first decision; simultaneous intervals over the report's %d rows):\n", rep.SimultaneousRows)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  scope\tmetric\ttreated\tholdout\treported lift\t95% CI\tsimultaneous 95% CI\ttrue effect\tinside\t")
		for _, row := range rep.Comparisons {
			c := cells[row.Scope]
			truth := math.NaN()
			if c != nil {
				truth = c.effect(row.Metric)
			}
			inside := "-"
			if !math.IsNaN(row.AbsLift) && !math.IsNaN(truth) {
				in := truth >= row.SimultaneousCI[0] && truth <= row.SimultaneousCI[1]
				inRow := truth >= row.AbsCI[0] && truth <= row.AbsCI[1]
				inside = map[bool]string{true: "yes", false: "NO"}[in]
				if !inRow {
					inside += " (not in the 95% CI)"
				}
				counted := row.Metric == measurement.MetricConversion || row.Metric == measurement.MetricRevenue
				if counted && (row.Scope == measurement.ScopeCampaign || strings.HasPrefix(row.Scope, measurement.ScopeArmPrefix)) {
					cov.total++
					if in {
						cov.inside++
					}
					if inRow {
						cov.insideRow++
					}
				}
			}
			f := demoFormat(row.Metric)
			ci := fmt.Sprintf("[%s, %s]", f(row.AbsCI[0]), f(row.AbsCI[1]))
			sim := fmt.Sprintf("[%s, %s]", f(row.SimultaneousCI[0]), f(row.SimultaneousCI[1]))
			lift := f(row.AbsLift)
			if math.IsNaN(row.AbsLift) {
				lift, ci, sim = "", row.Note, ""
			}
			shownTruth := "-" // the simulator knows no truth of this metric
			if !math.IsNaN(truth) {
				shownTruth = f(truth)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", row.Scope, row.Metric, row.NTreated, row.NControl, lift, ci, sim, shownTruth, inside)
		}
		tw.Flush()
		fmt.Fprintln(w, "  per customer (all their decisions in the period summed; the total effect, carry-over included: no per-decision truth to set beside it):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  scope\tmetric\ttreated\tholdout\treported lift\t95% CI\tincremental\t")
		for _, row := range rep.PerCustomer {
			f := demoFormat(row.Metric)
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\t[%s, %s]\t%s\t\n", row.Scope, row.Metric, row.NTreated, row.NControl,
				f(row.AbsLift), f(row.AbsCI[0]), f(row.AbsCI[1]), f(row.Incremental))
		}
		tw.Flush()
	}
	return cov, nil
}

// demoFormat formats a lift of metric: revenue and conversions per
// customer as numbers, rates (conversion, the event-rate metrics) in
// percentage points.
func demoFormat(metric string) func(float64) string {
	return func(v float64) string {
		if metric == measurement.MetricRevenue || metric == measurement.MetricConversions {
			return fmt.Sprintf("%+.3f", v)
		}
		return fmt.Sprintf("%+.2f pp", 100*v)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
