package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // the simulated customers live in IANA time zones

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	kairosv1 "kairos/api/proto/kairos/v1"
	"kairos/features"
	"kairos/internal/progress"
	"kairos/internal/server"
	"kairos/internal/sim"
	"kairos/training/archive"
)

// simulateConfig is the configuration of `kairos simulate`.
type simulateConfig struct {
	customers   int
	days        int
	seed        uint64
	end         string
	out         string
	truth       string
	target      string
	apiKey      string
	concurrency int
	speed       float64
}

// maxTrackBatch is the number of events per Track request of simulate.
const maxTrackBatch = 500

func simulateFlags(cfg *simulateConfig, env environment) *flag.FlagSet {
	fs := flagSet("simulate", "Simulates a customer base with known true campaign effects (see package kairos/internal/sim)\n"+
		"and writes it to a Parquet archive (--out), a running Kairos (--target), or both.", env)
	fs.IntVar(&cfg.customers, "customers", 20000, "`number` of customers (15% of them sign up during the period)")
	fs.IntVar(&cfg.days, "days", 90, "simulated `days`")
	fs.Uint64Var(&cfg.seed, "seed", 7, "`seed` of the world: the same flags give the same events, byte for byte")
	fs.StringVar(&cfg.end, "end", "", "end of the simulated period, a `date` YYYY-MM-DD (exclusive, UTC; default today)")
	fs.StringVar(&cfg.out, "out", "", "write the events to the Parquet archive in `dir`, and the ground truth to dir/_sim")
	fs.StringVar(&cfg.truth, "truth", "", "write the true effects (JSON) to `file` (default dir/_sim/truth.json with --out)")
	fs.StringVar(&cfg.target, "target", "", "send the customers and events to the Kairos gRPC service at `address`, e.g. 127.0.0.1:7400")
	fs.StringVar(&cfg.apiKey, "api-key", "", "API `key` for --target (needs the scopes customers:write and track)")
	fs.IntVar(&cfg.concurrency, "concurrency", 4, "concurrent `requests` to --target")
	fs.Float64Var(&cfg.speed, "speed", 0, "simulated seconds per real second sent to --target (0: as fast as possible)")
	return fs
}

// parseSimulate parses the flags of simulate, falling back to the
// environment for flags not given, and checks them.
func parseSimulate(env environment, args []string) (simulateConfig, error) {
	var cfg simulateConfig
	if err := parseFlags(simulateFlags(&cfg, env), env, "simulate", args); err != nil {
		return cfg, err
	}
	switch {
	case cfg.out == "" && cfg.target == "":
		return cfg, errors.New("nothing to write to: pass --out DIR (a Parquet archive) and/or --target ADDR (a running 'kairos serve', e.g. 127.0.0.1:7400)")
	case cfg.customers < 1 || cfg.customers > sim.MaxCustomers:
		return cfg, fmt.Errorf("--customers must be 1 to %d, got %d", sim.MaxCustomers, cfg.customers)
	case cfg.days < 1 || cfg.days > sim.MaxDays:
		return cfg, fmt.Errorf("--days must be 1 to %d, got %d", sim.MaxDays, cfg.days)
	case cfg.concurrency < 1:
		return cfg, fmt.Errorf("--concurrency must be at least 1, got %d", cfg.concurrency)
	case cfg.speed < 0:
		return cfg, fmt.Errorf("--speed must be 0 (as fast as possible) or more simulated seconds per second, got %v", cfg.speed)
	case cfg.apiKey != "" && cfg.target == "":
		return cfg, errors.New("--api-key is for --target; pass --target ADDR too")
	}
	return cfg, nil
}

// endDate returns the end of the simulated period: --end, or today (UTC).
func (cfg simulateConfig) endDate(now time.Time) (time.Time, error) {
	today := now.UTC().Truncate(24 * time.Hour)
	if cfg.end == "" {
		return today, nil
	}
	end, err := time.Parse(time.DateOnly, cfg.end)
	if err != nil {
		return time.Time{}, fmt.Errorf("--end must be a date YYYY-MM-DD, got %q", cfg.end)
	}
	if cfg.target != "" && end.After(today) {
		return time.Time{}, fmt.Errorf("--end %s is in the future: Kairos rejects events more than %s ahead of its clock; pass --end %s or earlier with --target",
			cfg.end, features.MaxFutureSkew, today.Format(time.DateOnly))
	}
	return end, nil
}

// simulate runs `kairos simulate`.
func simulate(ctx context.Context, env environment, args []string) error {
	cfg, err := parseSimulate(env, args)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	end, err := cfg.endDate(time.Now())
	if err == nil && end.AddDate(0, 0, -cfg.days).Before(time.Date(2005, 1, 1, 0, 0, 0, 0, time.UTC)) {
		err = fmt.Errorf("--end %s minus --days %d starts before 2005-01-01: pick a later --end or fewer --days", end.Format(time.DateOnly), cfg.days)
	}
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	world, err := sim.New(sim.Config{Customers: cfg.customers, Days: cfg.days, Seed: cfg.seed, End: end})
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}

	var sinks multiSink
	var out *archiveSink
	if cfg.out != "" {
		if out, err = openArchiveSink(cfg.out, world.Start()); err != nil {
			return fmt.Errorf("simulate: --out: %w", err)
		}
		sinks = append(sinks, out)
	}
	var target *targetSink
	if cfg.target != "" {
		if target, err = dialTarget(ctx, cfg, world.Start()); err != nil {
			return fmt.Errorf("simulate: --target: %w", err)
		}
		defer target.conn.Close()
		sinks = append(sinks, target)
	}

	fmt.Fprintf(env.stderr, "simulate: %s customers, %d days from %s to %s, seed %d\n",
		progress.Thousands(int64(cfg.customers)), cfg.days, world.Start().Format(time.DateOnly), end.AddDate(0, 0, -1).Format(time.DateOnly), cfg.seed)
	bar := progress.Start(env.stderr, progress.Options{Label: "simulate", Total: int64(cfg.days), Unit: "events"})
	res, err := world.Run(ctx, sinks, bar)
	bar.Done()
	if out != nil {
		if cerr := out.w.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close archive: %w", cerr)
		}
	}
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}

	fmt.Fprintf(env.stdout, "simulated %s events of %s customers (%s churned), %s decisions\n",
		progress.Thousands(res.Events), progress.Thousands(int64(res.Customers)), progress.Thousands(int64(res.Churned)), progress.Thousands(int64(len(res.Decisions))))
	if target != nil {
		fmt.Fprintf(env.stdout, "target %s: %s events accepted, %s duplicates, %s rejected; %s customer records upserted\n", cfg.target,
			progress.Thousands(target.accepted.Load()), progress.Thousands(target.duplicates.Load()),
			progress.Thousands(target.rejected.Load()), progress.Thousands(target.upserts.Load()))
		for _, r := range target.rejections() {
			fmt.Fprintf(env.stdout, "  rejected: %s\n", r)
		}
	}
	if cfg.out != "" {
		if err := writeSimFiles(filepath.Join(cfg.out, "_sim"), cfg, res, target); err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
		fmt.Fprintf(env.stdout, "archive %s: %s files; ground truth in %s\n", cfg.out, progress.Thousands(int64(out.files)), filepath.Join(cfg.out, "_sim"))
	}
	if truth := cfg.truthPath(); truth != "" {
		if err := res.WriteTruth(truth); err != nil {
			return fmt.Errorf("simulate: --truth: %w", err)
		}
		fmt.Fprintf(env.stdout, "true effects: %s\n", truth)
	}
	return nil
}

func (cfg simulateConfig) truthPath() string {
	if cfg.truth != "" {
		return cfg.truth
	}
	if cfg.out != "" {
		return filepath.Join(cfg.out, "_sim", "truth.json")
	}
	return ""
}

// multiSink sends the world to several sinks in turn.
type multiSink []sim.Sink

func (m multiSink) Customers(ctx context.Context, cs []features.Customer) error {
	for _, s := range m {
		if err := s.Customers(ctx, cs); err != nil {
			return err
		}
	}
	return nil
}

func (m multiSink) Events(ctx context.Context, evs []features.Event) error {
	for _, s := range m {
		if err := s.Events(ctx, evs); err != nil {
			return err
		}
	}
	return nil
}

// archiveSink writes each simulated day to the archive as if it had
// arrived at the end of that day, one Flush per day.
type archiveSink struct {
	w     *archive.Writer
	day   time.Time // the next day the world sends
	files int
}

func openArchiveSink(dir string, start time.Time) (*archiveSink, error) {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if len(entries) > 0 {
		return nil, fmt.Errorf("%s is not empty: simulate writes a new archive; pass an empty or new directory (or remove %s)", dir, dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, "_sim"), 0o755); err != nil {
		return nil, err
	}
	w, err := archive.NewWriter(dir, archive.WriterOptions{ID: "sim"})
	if err != nil {
		return nil, err
	}
	return &archiveSink{w: w, day: start}, nil
}

func (a *archiveSink) Customers(context.Context, []features.Customer) error { return nil }

func (a *archiveSink) Events(_ context.Context, evs []features.Event) error {
	a.day = a.day.Add(24 * time.Hour)
	a.w.Write(evs, a.day, "")
	paths, err := a.w.Flush()
	a.files += len(paths)
	if err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	return nil
}

// writeSimFiles writes the ground truth beside the archive: customers.jsonl
// (records and latent traits), decisions.csv, summary.json (and truth.json,
// by the caller).
func writeSimFiles(dir string, cfg simulateConfig, res *sim.Result, target *targetSink) error {
	if err := writeFile(filepath.Join(dir, "customers.jsonl"), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for i := range res.Records {
			line := struct {
				features.Customer
				Traits sim.Traits `json:"traits"`
			}{res.Records[i], res.Traits[i]}
			if err := enc.Encode(line); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "decisions.csv"), func(w io.Writer) error {
		cw := csv.NewWriter(w)
		cw.Write([]string{"decision_id", "customer_id", "campaign", "segment", "at", "channel", "offer", "delivered", "converted", "revenue", "unsubscribed", "cost"})
		for _, d := range res.Decisions {
			cw.Write([]string{d.DecisionID, d.CustomerID, d.Campaign, d.Segment, d.At.Format("2006-01-02T15:04:05.000Z07:00"),
				d.Arm.Channel, d.Arm.Offer, strconv.FormatBool(d.Delivered), strconv.FormatBool(d.Converted),
				strconv.FormatFloat(d.Revenue, 'f', -1, 64), strconv.FormatBool(d.Unsubscribed), strconv.FormatFloat(d.Cost, 'f', -1, 64)})
		}
		cw.Flush()
		return cw.Error()
	}); err != nil {
		return err
	}
	summary := map[string]any{
		"seed": cfg.seed, "customers": res.Customers, "days": cfg.days,
		"start": res.Truth.Start, "end": res.Truth.End,
		"events": res.Events, "churned": res.Churned, "decisions": len(res.Decisions),
		"events_by_type": res.ByType, "events_by_date": res.ByDate, "lifecycle": res.Lifecycle,
	}
	if target != nil {
		summary["target"] = map[string]any{"address": cfg.target, "accepted": target.accepted.Load(),
			"duplicates": target.duplicates.Load(), "rejected": target.rejected.Load()}
	}
	return writeFile(filepath.Join(dir, "summary.json"), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(summary)
	})
}

// targetSink sends the world to a running Kairos: UpsertCustomer for every
// record, Track for the events in batches, each customer's events in time
// order (a customer's events always go through the same worker), paced by
// --speed.
type targetSink struct {
	addr        string
	conn        *grpc.ClientConn
	client      kairosv1.KairosClient
	apiKey      string
	concurrency int
	speed       float64
	simStart    time.Time
	realStart   time.Time

	accepted, duplicates, rejected, upserts atomic.Int64
	mu                                      sync.Mutex
	examples                                []string
}

// dialTarget connects to Kairos at cfg.target and checks that it serves.
func dialTarget(ctx context.Context, cfg simulateConfig, simStart time.Time) (*targetSink, error) {
	conn, err := grpc.NewClient(cfg.target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.target, err)
	}
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	hc, err := healthpb.NewHealthClient(conn).Check(hctx, &healthpb.HealthCheckRequest{Service: kairosv1.Kairos_ServiceDesc.ServiceName})
	if err == nil && hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		err = fmt.Errorf("health is %s", hc.GetStatus())
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("cannot reach Kairos at %s (%v): is 'kairos serve' running there? Start it, or pass the right --target", cfg.target, err)
	}
	return &targetSink{addr: cfg.target, conn: conn, client: kairosv1.NewKairosClient(conn), apiKey: cfg.apiKey,
		concurrency: cfg.concurrency, speed: cfg.speed, simStart: simStart}, nil
}

func (s *targetSink) authed(ctx context.Context) context.Context {
	if s.apiKey == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.apiKey)
}

// refused explains an RPC error and what to do about it.
func (s *targetSink) refused(rpc string, err error) error {
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.Unauthenticated:
		return fmt.Errorf("Kairos at %s refused %s: %s; pass a valid key with --api-key (or KAIROS_API_KEY)", s.addr, rpc, st.Message())
	case codes.PermissionDenied:
		return fmt.Errorf("Kairos at %s refused %s: %s; simulate needs a key with the scopes customers:write and track (or admin)", s.addr, rpc, st.Message())
	case codes.Unavailable:
		return fmt.Errorf("Kairos at %s is unavailable for %s (%s); check that it and its store are up, then run simulate again (event ids make it safe to resend)", s.addr, rpc, st.Message())
	}
	return fmt.Errorf("Kairos at %s: %s: %s %s", s.addr, rpc, st.Code(), st.Message())
}

// Customers upserts the records, concurrency at a time.
func (s *targetSink) Customers(ctx context.Context, cs []features.Customer) error {
	g, gctx := errgroup.WithContext(s.authed(ctx))
	g.SetLimit(s.concurrency)
	for i := range cs {
		c := &cs[i]
		g.Go(func() error {
			_, err := s.client.UpsertCustomer(gctx, &kairosv1.UpsertCustomerRequest{Customer: &kairosv1.Customer{
				CustomerId: c.ID, Email: c.Email, Phone: c.Phone, PushToken: c.PushToken,
				Timezone: c.Timezone, Consents: c.Consents, Attributes: c.Attributes,
			}})
			if err != nil {
				return s.refused("UpsertCustomer of "+c.ID, err)
			}
			s.upserts.Add(1)
			return nil
		})
	}
	return g.Wait()
}

// Events sends one simulated day. With --speed, the day goes in slices
// of 200ms of real time, each sent when the clock reaches it.
func (s *targetSink) Events(ctx context.Context, evs []features.Event) error {
	if s.realStart.IsZero() {
		s.realStart = time.Now()
	}
	span := time.Duration(s.speed * float64(200*time.Millisecond))
	for len(evs) > 0 {
		n := len(evs)
		if s.speed > 0 {
			from := evs[0].Time
			due := s.realStart.Add(time.Duration(float64(from.Sub(s.simStart)) / s.speed))
			if wait := time.Until(due); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				case <-t.C:
				}
			}
			n = 1
			for n < len(evs) && evs[n].Time.Sub(from) < span {
				n++
			}
		}
		if err := s.send(ctx, evs[:n]); err != nil {
			return err
		}
		evs = evs[n:]
	}
	return nil
}

// send tracks evs with concurrency workers, each customer on one worker.
func (s *targetSink) send(ctx context.Context, evs []features.Event) error {
	parts := make([][]*kairosv1.Event, s.concurrency)
	for i := range evs {
		h := fnv.New32a()
		h.Write([]byte(evs[i].CustomerID))
		w := int(h.Sum32() % uint32(s.concurrency))
		parts[w] = append(parts[w], server.EventToProto(*&evs[i]))
	}
	g, gctx := errgroup.WithContext(s.authed(ctx))
	for _, part := range parts {
		g.Go(func() error {
			for len(part) > 0 {
				n := min(len(part), maxTrackBatch)
				if err := s.track(gctx, part[:n]); err != nil {
					return err
				}
				part = part[n:]
			}
			return nil
		})
	}
	return g.Wait()
}

// track sends one batch, retrying what Kairos says is safe to retry.
func (s *targetSink) track(ctx context.Context, batch []*kairosv1.Event) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		resp, err := s.client.Track(ctx, &kairosv1.TrackRequest{Events: batch})
		if err == nil {
			s.accepted.Add(int64(resp.GetAccepted()))
			s.duplicates.Add(int64(resp.GetDuplicates()))
			s.rejected.Add(int64(len(resp.GetErrors())))
			for _, e := range resp.GetErrors() {
				s.example(fmt.Sprintf("event %s: %s: %s", batch[e.GetIndex()].GetEventId(), e.GetField(), e.GetReason()))
			}
			return nil
		}
		switch status.Code(err) {
		case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded:
			if attempt < 5 && ctx.Err() == nil {
				time.Sleep(backoff)
				backoff *= 2
				continue
			}
		}
		return s.refused("Track", err)
	}
}

func (s *targetSink) example(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.examples) < 5 {
		s.examples = append(s.examples, msg)
	}
}

func (s *targetSink) rejections() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.examples
}
