package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"kairos/features"
	"kairos/internal/bench"
)

// benchCmd runs `kairos bench track|profile`: a real server over loopback
// gRPC beside an empty handler, printing the result as one JSON line last.
func benchCmd(ctx context.Context, env environment, args []string) error {
	tuneGC(env) // the servers under test run as serve runs them
	if len(args) > 0 && args[0] == "export" {
		return benchExport(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "score" {
		return benchScore(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "decide" {
		return benchDecide(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "dispatch" {
		return benchDispatch(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "triggers" {
		return benchTriggers(ctx, env, args[1:])
	}
	if len(args) == 0 || (args[0] != "track" && args[0] != "profile") {
		return fmt.Errorf("bench: name a benchmark: 'kairos bench track', 'profile', 'decide', 'dispatch', 'triggers', 'score' or 'export' (-h for flags)")
	}
	name := args[0]
	var o bench.Options
	var asJSON bool
	fs := flag.NewFlagSet("bench "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.BoolVar(&asJSON, "json", false, "print the result as one JSON object, the last line of stdout")
	fs.StringVar(&o.RedisURL, "redis", "", "Redis `URL` of the store under test (empty: the embedded store); must be an empty database")
	fs.BoolVar(&o.Force, "force", false, "benchmark against a Redis database that already holds keys")
	fs.DurationVar(&o.Duration, "duration", 0, "length of each measured phase (default 10s)")
	fs.IntVar(&o.Concurrency, "concurrency", 0, "closed-loop clients (default 8)")
	fs.IntVar(&o.Customers, "customers", 0, "customers in the workload (default 10000 for track, 2000 for profile)")
	if name == "track" {
		fs.IntVar(&o.Batch, "batch", 0, "events per Track request (default 100)")
	} else {
		fs.IntVar(&o.Days, "days", 0, "days of activity per customer before reading (default 30)")
		fs.IntVar(&o.Rate, "rate", 0, "reads per second of the latency phase (default 2000)")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("bench %s: %w", name, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench %s takes no arguments, got %q", name, fs.Args())
	}
	o.Set = features.Default()
	logger := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := openStore(ctx, o.RedisURL, o.Set, 0, logger)
	if err != nil {
		return fmt.Errorf("bench %s: %w", name, err)
	}
	defer st.close()
	o.Store = st.store
	o.Progress = env.stderr
	run := bench.Track
	if name == "profile" {
		run = bench.Profile
	}
	res, err := run(ctx, o)
	if err != nil {
		return err
	}
	printResult(env.stdout, res, asJSON)
	return nil
}

func printResult(w io.Writer, r bench.Result, asJSON bool) {
	fmt.Fprintf(w, "%s (%s store): %.0f ops/s (baseline %.0f, ratio %.3f), p50 %.3f ms, p99 %.3f ms (baseline p50 %.3f, p99 %.3f)\n",
		r.Name, r.Store, r.OpsPerSec, r.BaselineOpsPerSec, r.Ratio, r.P50ms, r.P99ms, r.BaselineP50ms, r.BaselineP99ms)
	if r.EventsPerSec > 0 {
		fmt.Fprintf(w, "  %.0f events/s in batches of %d\n", r.EventsPerSec, r.Batch)
	}
	if r.RatePerSec > 0 {
		unit := "reads"
		if r.Name == "decide" {
			unit = "decisions"
		}
		fmt.Fprintf(w, "  at %.0f %s/s: p50 %.3f ms, p99 %.3f ms (baseline p99 %.3f ms)\n", r.RatePerSec, unit, r.RateP50ms, r.RateP99ms, r.BaselineRateP99ms)
	}
	if r.Recorded > 0 {
		fmt.Fprintf(w, "  %d decisions and rewards recorded in the %s ledger\n", r.Recorded, r.Ledger)
	}
	if r.RedisBytesPerCustomer > 0 {
		fmt.Fprintf(w, "  Redis memory: %.0f bytes per customer\n", r.RedisBytesPerCustomer)
	}
	if r.RedisPingP50ms > 0 {
		fmt.Fprintf(w, "  raw Redis PING round trip: p50 %.3f ms, p99 %.3f ms\n", r.RedisPingP50ms, r.RedisPingP99ms)
	}
	if asJSON {
		fmt.Fprintln(w, r.JSON())
	}
}
