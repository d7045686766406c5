package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"kairos/decisioning"
	"kairos/features"
	"kairos/internal/bench"
)

// benchDecide runs `kairos bench decide`: Decide over loopback gRPC with
// the whole decision stack (store, models, policies, ledger drainer and
// reward joiner running), beside an empty handler.
func benchDecide(ctx context.Context, env environment, args []string) error {
	var o bench.Options
	var asJSON bool
	var postgres, campaignsFile, names string
	fs := flag.NewFlagSet("bench decide", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.BoolVar(&asJSON, "json", false, "print the result as one JSON object, the last line of stdout")
	fs.StringVar(&o.RedisURL, "redis", "", "Redis `URL` of the store under test (empty: the embedded store); must be an empty database")
	fs.BoolVar(&o.Force, "force", false, "benchmark against a Redis database that already holds keys")
	fs.StringVar(&postgres, "postgres", "", "PostgreSQL `URL` of the ledger (empty: the embedded ledger)")
	fs.StringVar(&campaignsFile, "campaigns", "", "campaign configuration `file` (empty: the shipped examples)")
	fs.StringVar(&names, "decide", "cart_recovery", "comma-separated `campaigns` each Decide names")
	fs.DurationVar(&o.Duration, "duration", 0, "length of each measured phase (default 10s)")
	fs.IntVar(&o.Concurrency, "concurrency", 0, "closed-loop clients (default 8)")
	fs.IntVar(&o.Customers, "customers", 0, "customers in the workload (default 2000)")
	fs.IntVar(&o.Days, "days", 7, "days of activity per customer before deciding")
	fs.IntVar(&o.Rate, "rate", 0, "decisions per second of the latency phase (default 2000)")
	var cpuProfile string
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to `file`")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("bench decide: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench decide takes no arguments, got %q", fs.Args())
	}
	o.Set = features.Default()
	o.Campaigns = strings.Split(names, ",")
	logger := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, err := loadCampaigns(campaignsFile, o.Set)
	if err != nil {
		return fmt.Errorf("bench decide: --campaigns: %w", err)
	}
	for _, n := range o.Campaigns {
		if _, ok := cfg.Campaign(n); !ok {
			return fmt.Errorf("bench decide: --decide: no campaign %q in %s", n, cfg.Source)
		}
	}
	if o.RedisURL != "" && !o.Force {
		// Checked before the drainer and joiner create their streams.
		if err := bench.CheckEmpty(ctx, o.RedisURL); err != nil {
			return err
		}
		o.Force = true
	}
	st, err := openStore(ctx, o.RedisURL, o.Set, 0, logger)
	if err != nil {
		return fmt.Errorf("bench decide: %w", err)
	}
	defer st.close()
	reg := prometheus.NewRegistry()
	registry, err := openRegistry("", o.Set, logger, reg)
	if err != nil {
		return fmt.Errorf("bench decide: %w", err)
	}
	dec, err := openDecisioning(ctx, cfg, st, o.Set, registry, decisionOptions{postgres: postgres, deadline: decisioning.DefaultDeadline}, logger, reg)
	if err != nil {
		return fmt.Errorf("bench decide: %w", err)
	}
	defer dec.close()
	o.Store, o.Engine, o.Progress = st.store, dec.engine, env.stderr

	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return fmt.Errorf("bench decide: --cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench decide: --cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	bg, stop := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(bg)
	g.Go(func() error { return dec.drainer.Run(gctx) })
	if dec.connect != nil {
		g.Go(func() error { return dec.connect(gctx) })
	}
	if dec.joiner != nil {
		g.Go(func() error { return dec.joiner.Run(gctx) })
	}
	res, err := bench.Decide(ctx, o)
	stop()
	_ = g.Wait()
	if err != nil {
		return err
	}
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	fmt.Fprintln(env.stderr, "  draining the ledger queue...")
	if err := dec.drainer.Flush(fctx); err != nil {
		return fmt.Errorf("bench decide: drain the ledger: %w", err)
	}
	res.Recorded, res.Ledger = dec.drainer.Drained(), dec.kind
	printResult(env.stdout, res, asJSON)
	return nil
}
