// Package bench drives a real Kairos gRPC server over loopback and reports
// throughput and latency beside a baseline measured in the same run: an
// empty gRPC handler taking the same requests (and, for Redis, a raw PING
// round trip), because absolute times on shared machines are noisy.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	kairosv1 "kairos/api/proto/kairos/v1"
	"kairos/decisioning"
	"kairos/features"
	"kairos/internal/server"
)

// Options configures a benchmark run.
type Options struct {
	// Store is the store under test and Set its features.
	Store features.Store
	Set   *features.Set
	// RedisURL, when Store is a Redis store, names its Redis: the benchmark
	// checks it is empty, measures memory and a raw PING there.
	RedisURL string
	// Force allows a Redis database that already holds keys.
	Force bool
	// Duration of each measured phase; Concurrency of closed-loop clients.
	Duration    time.Duration
	Concurrency int
	// Batch is the number of events per Track request.
	Batch int
	// Customers in the workload; Days of history before profile reads.
	Customers int
	Days      int
	// Rate is the fixed request rate of the profile latency phase.
	Rate int
	// Progress receives human-readable progress (e.g. stderr).
	Progress io.Writer
	// Engine decides (Decide benchmark) on Store; Campaigns are the
	// campaigns each Decide names.
	Engine    *decisioning.Engine
	Campaigns []string
}

// Result is what a run measured. Ratio is ops_per_sec over
// baseline_ops_per_sec.
type Result struct {
	Name                  string  `json:"name"`
	Store                 string  `json:"store"`
	OpsPerSec             float64 `json:"ops_per_sec"`
	EventsPerSec          float64 `json:"events_per_sec,omitempty"`
	P50ms                 float64 `json:"p50_ms"`
	P99ms                 float64 `json:"p99_ms"`
	BaselineOpsPerSec     float64 `json:"baseline_ops_per_sec"`
	BaselineP50ms         float64 `json:"baseline_p50_ms"`
	BaselineP99ms         float64 `json:"baseline_p99_ms"`
	Ratio                 float64 `json:"ratio"`
	RatePerSec            float64 `json:"rate_per_sec,omitempty"`
	RateP50ms             float64 `json:"rate_p50_ms,omitempty"`
	RateP99ms             float64 `json:"rate_p99_ms,omitempty"`
	BaselineRateP99ms     float64 `json:"baseline_rate_p99_ms,omitempty"`
	RedisPingP50ms        float64 `json:"redis_ping_p50_ms,omitempty"`
	RedisPingP99ms        float64 `json:"redis_ping_p99_ms,omitempty"`
	RedisBytesPerCustomer float64 `json:"redis_bytes_per_customer,omitempty"`
	Concurrency           int     `json:"concurrency"`
	Batch                 int     `json:"batch,omitempty"`
	Customers             int     `json:"customers"`
	DurationSec           float64 `json:"duration_sec"`
	// Recorded is the number of decisions and rewards the ledger received
	// (Decide benchmark), Ledger which ledger ("embedded", "postgres").
	Recorded int64  `json:"recorded,omitempty"`
	Ledger   string `json:"ledger,omitempty"`
}

// JSON renders r as one line.
func (r Result) JSON() string {
	b, _ := json.Marshal(r)
	return string(b)
}

func (o *Options) defaults(customers int) {
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.Customers <= 0 {
		o.Customers = customers
	}
	if o.Days <= 0 {
		o.Days = 30
	}
	if o.Rate <= 0 {
		o.Rate = 2000
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// rig is a Kairos server and a baseline server on loopback, with clients.
type rig struct {
	set      *features.Set
	store    features.Store
	redis    *redis.Client
	kairos   kairosv1.KairosClient
	baseline kairosv1.KairosClient
	close    []func()
}

func (r *rig) Close() {
	for i := len(r.close) - 1; i >= 0; i-- {
		r.close[i]()
	}
}

// empty is the baseline: a Kairos handler that does nothing.
type empty struct {
	kairosv1.UnimplementedKairosServer
}

func (empty) Track(context.Context, *kairosv1.TrackRequest) (*kairosv1.TrackResponse, error) {
	return &kairosv1.TrackResponse{}, nil
}

func (empty) GetProfile(context.Context, *kairosv1.GetProfileRequest) (*kairosv1.Profile, error) {
	return &kairosv1.Profile{}, nil
}

func (empty) Decide(context.Context, *kairosv1.DecideRequest) (*kairosv1.DecideResponse, error) {
	return &kairosv1.DecideResponse{Decision: &kairosv1.Decision{}}, nil
}

func newRig(ctx context.Context, o Options) (*rig, error) {
	r := &rig{set: o.Set, store: o.Store}
	ok := false
	defer func() {
		if !ok {
			r.Close()
		}
	}()
	if o.RedisURL != "" {
		opt, err := redis.ParseURL(o.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("bench: --redis: %w", err)
		}
		r.redis = redis.NewClient(opt)
		r.close = append(r.close, func() { r.redis.Close() })
		if !o.Force {
			if err := CheckEmpty(ctx, o.RedisURL); err != nil {
				return nil, err
			}
		}
	}
	reg := prometheus.NewRegistry()
	srv := server.New(server.Options{Store: r.store, Set: r.set, Logger: slog.New(slog.DiscardHandler),
		Registerer: reg, Gatherer: reg, Now: time.Now, Engine: o.Engine})
	var err error
	if r.kairos, err = r.serve(srv.GRPC()); err != nil {
		return nil, err
	}
	base := grpc.NewServer()
	kairosv1.RegisterKairosServer(base, empty{})
	if r.baseline, err = r.serve(base); err != nil {
		return nil, err
	}
	ok = true
	return r, nil
}

// CheckEmpty fails unless the Redis database at url holds no keys: a
// benchmark writes test data and measures memory.
func CheckEmpty(ctx context.Context, url string) error {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return fmt.Errorf("bench: --redis: %w", err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	n, err := c.DBSize(ctx).Result()
	if err != nil {
		return fmt.Errorf("bench: redis %s: %w", opt.Addr, err)
	}
	if n > 0 {
		return fmt.Errorf("bench: redis %s db %d holds %d keys; the benchmark writes test data and measures memory, so point it at an empty database (e.g. .ci/with-redis) or pass --force", opt.Addr, opt.DB, n)
	}
	return nil
}

func (r *rig) serve(s *grpc.Server) (kairosv1.KairosClient, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: listen: %w", err)
	}
	go s.Serve(lis)
	r.close = append(r.close, s.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("bench: dial: %w", err)
	}
	r.close = append(r.close, func() { conn.Close() })
	return kairosv1.NewKairosClient(conn), nil
}

// closedLoop runs op from conc goroutines for d and returns the operations
// per second and the latencies.
func closedLoop(ctx context.Context, conc int, d time.Duration, op func(ctx context.Context, worker, i int) error) (float64, []time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lat := make([][]time.Duration, conc)
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && time.Now().Before(end); i++ {
				t := time.Now()
				if err := op(ctx, w, i); err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
						cancel()
					}
					return
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, nil, err
	}
	all := slices.Concat(lat...)
	return float64(len(all)) / time.Since(start).Seconds(), all, nil
}

// openLoop issues op at a fixed rate for d through a pool of workers large
// enough that a slow response never delays the next request. Latency counts
// from when a request was handed to the pool, so time spent waiting for a
// free worker counts too. The sleep between requests is coarse (about a
// millisecond), so requests leave in small bursts at the average rate.
func openLoop(ctx context.Context, rate int, d time.Duration, op func(ctx context.Context, i int) error) ([]time.Duration, error) {
	type job struct {
		i    int
		sent time.Time
	}
	n := int(d.Seconds() * float64(rate))
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	jobs := make(chan job, n)
	var wg sync.WaitGroup
	for range 128 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				errs[j.i] = op(ctx, j.i)
				lat[j.i] = time.Since(j.sent)
			}
		}()
	}
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if w := time.Until(start.Add(time.Duration(i) * interval)); w > 0 {
			time.Sleep(w)
		}
		jobs <- job{i, time.Now()}
	}
	close(jobs)
	wg.Wait()
	return lat, errors.Join(errs...)
}

// Percentile returns the p-quantile (nearest rank) of lat in
// milliseconds, NaN when lat is empty.
func Percentile(lat []time.Duration, p float64) float64 {
	if len(lat) == 0 {
		return math.NaN()
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return float64(s[max(0, i)]) / float64(time.Millisecond)
}

func round(f float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(f*p) / p
}

func storeName(o Options) string {
	if o.RedisURL == "" {
		return "embedded"
	}
	return "redis"
}

// Track measures Track with batches of o.Batch events over o.Customers
// customers.
func Track(ctx context.Context, o Options) (Result, error) {
	o.defaults(10000)
	r, err := newRig(ctx, o)
	if err != nil {
		return Result{}, err
	}
	defer r.Close()
	// Each worker owns a pool of realistic events (proto, built once) and
	// sends the next Batch of them with fresh ids each time.
	pools := make([][]*kairosv1.Event, o.Concurrency)
	act := newActivity(1)
	day := time.Now().UTC().Truncate(24 * time.Hour)
	for w := range pools {
		var evs []features.Event
		for len(evs) < 20*o.Batch {
			c := "bench-" + strconv.Itoa(act.r.IntN(o.Customers))
			evs = act.session(evs, c, day)
		}
		for _, e := range evs {
			pe := server.EventToProto(e)
			pe.Timestamp = nil // server time: the pool is sent again and again
			pools[w] = append(pools[w], pe)
		}
	}
	run := func(client kairosv1.KairosClient, prefix string) func(ctx context.Context, w, i int) error {
		return func(ctx context.Context, w, i int) error {
			pool := pools[w]
			off := (i * o.Batch) % (len(pool) - o.Batch)
			req := &kairosv1.TrackRequest{Events: pool[off : off+o.Batch]}
			ts := timestamppb.Now()
			for k, e := range req.Events {
				e.EventId = prefix + strconv.Itoa(w) + "-" + strconv.Itoa(i) + "-" + strconv.Itoa(k)
				e.Timestamp = ts
			}
			resp, err := client.Track(ctx, req)
			if err != nil {
				return err
			}
			if len(resp.Errors) > 0 {
				return fmt.Errorf("bench: Track rejected events: %v", resp.Errors[0])
			}
			return nil
		}
	}
	fmt.Fprintf(o.Progress, "bench track: %s store, %d clients, batches of %d, %s per phase\n", storeName(o), o.Concurrency, o.Batch, o.Duration)
	fmt.Fprintln(o.Progress, "  baseline (empty handler)...")
	bops, blat, err := closedLoop(ctx, o.Concurrency, o.Duration, run(r.baseline, "b"))
	if err != nil {
		return Result{}, fmt.Errorf("bench: baseline: %w", err)
	}
	fmt.Fprintln(o.Progress, "  kairos...")
	ops, lat, err := closedLoop(ctx, o.Concurrency, o.Duration, run(r.kairos, "k"))
	if err != nil {
		return Result{}, fmt.Errorf("bench: track: %w", err)
	}
	res := Result{Name: "track", Store: storeName(o), Concurrency: o.Concurrency, Batch: o.Batch, Customers: o.Customers,
		DurationSec: o.Duration.Seconds(),
		OpsPerSec:   round(ops, 1), EventsPerSec: round(ops*float64(o.Batch), 0),
		P50ms: round(Percentile(lat, .5), 3), P99ms: round(Percentile(lat, .99), 3),
		BaselineOpsPerSec: round(bops, 1), BaselineP50ms: round(Percentile(blat, .5), 3), BaselineP99ms: round(Percentile(blat, .99), 3),
		Ratio: round(ops/bops, 3)}
	if r.redis != nil {
		res.RedisPingP50ms, res.RedisPingP99ms, err = pingLatency(ctx, r.redis)
	}
	return res, err
}

func pingLatency(ctx context.Context, c *redis.Client) (p50, p99 float64, err error) {
	lat := make([]time.Duration, 0, 2000)
	for i := 0; i < 2000; i++ {
		t := time.Now()
		if err := c.Ping(ctx).Err(); err != nil {
			return 0, 0, fmt.Errorf("bench: redis ping: %w", err)
		}
		lat = append(lat, time.Since(t))
	}
	return round(Percentile(lat, .5), 3), round(Percentile(lat, .99), 3), nil
}

// Profile fills the store with o.Days of activity of o.Customers customers,
// measures Redis memory per customer, then GetProfile throughput (closed
// loop) and latency at a fixed rate, each beside the empty handler.
func Profile(ctx context.Context, o Options) (Result, error) {
	o.defaults(2000)
	r, err := newRig(ctx, o)
	if err != nil {
		return Result{}, err
	}
	defer r.Close()
	fmt.Fprintf(o.Progress, "bench profile: %s store, %d customers with %d days of activity\n", storeName(o), o.Customers, o.Days)
	if err := populate(ctx, r, o); err != nil {
		return Result{}, err
	}
	res := Result{Name: "profile", Store: storeName(o), Concurrency: o.Concurrency, Customers: o.Customers, DurationSec: o.Duration.Seconds()}
	if r.redis != nil {
		if res.RedisBytesPerCustomer, err = bytesPerCustomer(ctx, r.redis, o.Customers); err != nil {
			return Result{}, err
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var mu sync.Mutex
	pick := func() string {
		mu.Lock()
		defer mu.Unlock()
		return "bench-" + strconv.Itoa(rng.IntN(o.Customers))
	}
	err = measure(ctx, r, o, &res, "reads", func(ctx context.Context, client kairosv1.KairosClient) error {
		_, err := client.GetProfile(ctx, &kairosv1.GetProfileRequest{CustomerId: pick()})
		return err
	})
	return res, err
}

// Decide fills the store with o.Days of activity and a contact record per
// customer, then measures Decide throughput (closed loop) and latency at
// the fixed rate o.Rate, each beside the empty handler. Every decision is
// recorded as in production: the caller runs the ledger drainer.
func Decide(ctx context.Context, o Options) (Result, error) {
	o.defaults(2000)
	if o.Engine == nil || len(o.Campaigns) == 0 {
		return Result{}, errors.New("bench: decide needs Options.Engine and Campaigns")
	}
	r, err := newRig(ctx, o)
	if err != nil {
		return Result{}, err
	}
	defer r.Close()
	fmt.Fprintf(o.Progress, "bench decide: %s store, %d customers with %d days of activity, campaigns %v\n", storeName(o), o.Customers, o.Days, o.Campaigns)
	for c := range o.Customers {
		id := "bench-" + strconv.Itoa(c)
		rec := features.Customer{ID: id, Email: id + "@example.com", Phone: "+14155550123", PushToken: "token-" + id,
			Timezone: "UTC", Consents: map[string]bool{"email": true, "push": c%2 == 0, "sms": c%3 == 0}}
		if err := r.store.UpsertCustomer(ctx, rec, time.Now()); err != nil {
			return Result{}, fmt.Errorf("bench: customers: %w", err)
		}
	}
	if err := populate(ctx, r, o); err != nil {
		return Result{}, err
	}
	res := Result{Name: "decide", Store: storeName(o), Concurrency: o.Concurrency, Customers: o.Customers, DurationSec: o.Duration.Seconds()}
	rng := rand.New(rand.NewPCG(5, 6))
	var mu sync.Mutex
	pick := func() string {
		mu.Lock()
		defer mu.Unlock()
		return "bench-" + strconv.Itoa(rng.IntN(o.Customers))
	}
	err = measure(ctx, r, o, &res, "decisions", func(ctx context.Context, client kairosv1.KairosClient) error {
		_, err := client.Decide(ctx, &kairosv1.DecideRequest{CustomerId: pick(), Campaigns: o.Campaigns})
		return err
	})
	return res, err
}

// measure runs the phases of a one-request-at-a-time benchmark into res:
// closed-loop throughput of o.Concurrency clients, then latency at the
// fixed rate o.Rate, each for the empty handler and then for Kairos, and
// for Redis a raw PING round trip. unit names the requests in progress
// lines ("reads", "decisions").
func measure(ctx context.Context, r *rig, o Options, res *Result, unit string, call func(context.Context, kairosv1.KairosClient) error) error {
	open := func(client kairosv1.KairosClient) func(ctx context.Context, i int) error {
		return func(ctx context.Context, i int) error { return call(ctx, client) }
	}
	closed := func(client kairosv1.KairosClient) func(ctx context.Context, w, i int) error {
		return func(ctx context.Context, w, i int) error { return call(ctx, client) }
	}
	fmt.Fprintf(o.Progress, "  throughput, %d clients, %s per phase: baseline...\n", o.Concurrency, o.Duration)
	bops, blat, err := closedLoop(ctx, o.Concurrency, o.Duration, closed(r.baseline))
	if err != nil {
		return fmt.Errorf("bench: baseline: %w", err)
	}
	fmt.Fprintln(o.Progress, "  throughput: kairos...")
	ops, lat, err := closedLoop(ctx, o.Concurrency, o.Duration, closed(r.kairos))
	if err != nil {
		return fmt.Errorf("bench: %s: %w", res.Name, err)
	}
	res.OpsPerSec, res.BaselineOpsPerSec, res.Ratio = round(ops, 1), round(bops, 1), round(ops/bops, 3)
	res.P50ms, res.P99ms = round(Percentile(lat, .5), 3), round(Percentile(lat, .99), 3)
	res.BaselineP50ms, res.BaselineP99ms = round(Percentile(blat, .5), 3), round(Percentile(blat, .99), 3)
	fmt.Fprintf(o.Progress, "  latency at %d %s/s: baseline...\n", o.Rate, unit)
	if blat, err = openLoop(ctx, o.Rate, o.Duration, open(r.baseline)); err != nil {
		return fmt.Errorf("bench: baseline: %w", err)
	}
	fmt.Fprintf(o.Progress, "  latency at %d %s/s: kairos...\n", o.Rate, unit)
	if lat, err = openLoop(ctx, o.Rate, o.Duration, open(r.kairos)); err != nil {
		return fmt.Errorf("bench: %s: %w", res.Name, err)
	}
	res.RatePerSec = float64(o.Rate)
	res.RateP50ms, res.RateP99ms = round(Percentile(lat, .5), 3), round(Percentile(lat, .99), 3)
	res.BaselineRateP99ms = round(Percentile(blat, .99), 3)
	if r.redis != nil {
		res.RedisPingP50ms, res.RedisPingP99ms, err = pingLatency(ctx, r.redis)
	}
	return err
}

// populate tracks o.Days of activity per customer straight into the store,
// day by day with the store's clock at the end of each day (the last day
// ends now), as if it had happened live.
func populate(ctx context.Context, r *rig, o Options) error {
	end := time.Now().UTC()
	start := end.Add(-time.Duration(o.Days) * 24 * time.Hour)
	act := newActivity(2)
	levels := make([]float64, o.Customers)
	for i := range levels {
		levels[i] = act.engagement()
	}
	total := 0
	began := time.Now()
	var batch []features.Event
	for d := 0; d < o.Days; d++ {
		dayStart := start.Add(time.Duration(d) * 24 * time.Hour)
		now := dayStart.Add(24 * time.Hour)
		for c := 0; c < o.Customers; c++ {
			batch = act.day(batch[:0], "bench-"+strconv.Itoa(c), dayStart, levels[c])
			batch = slices.DeleteFunc(batch, func(e features.Event) bool { return e.Time.After(now) })
			for len(batch) > 0 {
				n := min(len(batch), features.MaxBatch)
				if _, err := r.store.Track(ctx, batch[:n], now); err != nil {
					return fmt.Errorf("bench: populate: %w", err)
				}
				total += n
				batch = batch[n:]
			}
		}
		el := time.Since(began).Seconds()
		fmt.Fprintf(o.Progress, "\r  populating: day %2d/%d, %d events, %.0f events/s ", d+1, o.Days, total, float64(total)/el)
	}
	fmt.Fprintln(o.Progress)
	return nil
}

// bytesPerCustomer sums MEMORY USAGE over every customer key (k:{id}:*).
func bytesPerCustomer(ctx context.Context, c *redis.Client, customers int) (float64, error) {
	var total int64
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, "k:*", 1000).Result()
		if err != nil {
			return 0, fmt.Errorf("bench: scan: %w", err)
		}
		pipe := c.Pipeline()
		cmds := make([]*redis.IntCmd, len(keys))
		for i, k := range keys {
			cmds[i] = pipe.MemoryUsage(ctx, k, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return 0, fmt.Errorf("bench: memory usage: %w", err)
		}
		for _, cmd := range cmds {
			total += cmd.Val()
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	return round(float64(total)/float64(customers), 0), nil
}
