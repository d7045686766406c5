package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"kairos/channels"
	"kairos/channels/email"
	"kairos/channels/email/emailtest"
	"kairos/channels/push"
	"kairos/channels/push/pushtest"
	"kairos/channels/sms"
	"kairos/channels/sms/smstest"
	"kairos/decisioning"
	"kairos/dispatch"
	"kairos/features"
	"kairos/internal/progress"
)

// DispatchChannels are the channels the dispatch benchmark can send on,
// each to a local fake of its provider.
var DispatchChannels = []string{decisioning.ChannelEmail, decisioning.ChannelPush, decisioning.ChannelSMS}

// DispatchState is the state under test of the dispatch benchmark: it
// records SEND decisions (Commit) and is the dispatcher's queue —
// memstate or redisstate.
type DispatchState interface {
	decisioning.State
	decisioning.DispatchQueue
}

// DispatchOptions configures a dispatch benchmark run.
type DispatchOptions struct {
	// State records the decisions and queues their messages; Store holds
	// the customers, whose records the dispatcher reads and where it
	// tracks its engagement events; Set names the features.
	State DispatchState
	Store features.Store
	Set   *features.Set
	// RedisURL, when State is a Redis state, names its Redis: the
	// benchmark checks it is empty (unless Force) and measures a raw PING
	// there.
	RedisURL string
	Force    bool
	// Transports send each channel's messages, by channel name
	// (StartProviders); the benchmark sends on all of them.
	Transports map[string]channels.Transport
	// Templates render the messages; OfferVars and Links are as in
	// dispatch.Options (nil: none).
	Templates *channels.TemplateSet
	OfferVars func(campaign, offer string) map[string]string
	Links     dispatch.Links
	// Messages is the number of messages of each throughput phase, spread
	// evenly over the channels; Concurrency the sends in flight per
	// channel, in the baseline as in the dispatcher.
	Messages    int
	Concurrency int
	// Rate is the messages per second of the latency phases, which last
	// Duration each.
	Rate     int
	Duration time.Duration
	// Progress receives human-readable progress (e.g. stderr).
	Progress io.Writer
}

func (o *DispatchOptions) defaults() {
	if o.Messages <= 0 {
		o.Messages = 5000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Rate <= 0 {
		o.Rate = 200
	}
	if o.Duration <= 0 {
		o.Duration = 5 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// DispatchResult is what a dispatch benchmark measured. In Result,
// ops_per_sec is the messages per second the dispatcher handed to the
// providers, draining a queue of Messages decisions, and p50/p99 their
// time from decision to hand-off (from the dispatcher's start for the
// decisions made before it); the baseline is the same messages sent by
// calling each transport's Send directly with the same concurrency, its
// latency counted from the start of the burst. The rate fields are the
// latency phases: decisions made at Rate per second, decision to
// hand-off, beside direct sends at the same rate, due time to hand-off.
type DispatchResult struct {
	Result
	// Messages of each throughput phase, RateMessages of each latency
	// phase; Channels sent on.
	Messages     int      `json:"messages"`
	RateMessages int      `json:"rate_messages"`
	Channels     []string `json:"channels"`
	// PerChannel breaks the throughput phases down by channel.
	PerChannel []ChannelResult `json:"per_channel"`
}

// ChannelResult is one channel's share of the throughput phases: its
// messages per second (counted to its own last hand-off) and its p99 time
// to hand-off, through the dispatcher and directly.
type ChannelResult struct {
	Channel           string  `json:"channel"`
	Messages          int     `json:"messages"`
	OpsPerSec         float64 `json:"ops_per_sec"`
	P99ms             float64 `json:"p99_ms"`
	BaselineOpsPerSec float64 `json:"baseline_ops_per_sec"`
	BaselineP99ms     float64 `json:"baseline_p99_ms"`
}

// JSON renders r as one line.
func (r DispatchResult) JSON() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// Providers are local fakes of the channels' providers and the transports
// that send to them: an aiosmtpd SMTP server (emailtest) for email, the
// FCM HTTP v1 fake (pushtest) for push, the Twilio fake (smstest) for sms.
type Providers struct {
	// Transports are the real transports (email.New, push.New, sms.New)
	// pointed at the fakes, by channel name.
	Transports map[string]channels.Transport
	// The fakes of the channels started; nil for the others.
	SMTP   *emailtest.Server
	FCM    *pushtest.Server
	Twilio *smstest.Server

	dir string
}

// Credentials of the fakes.
const (
	fakeProject = "kairos-bench"
	fakeBearer  = "bench-oauth-token"
	fakeSID     = "ACbench0000000000000000000000000000"
	fakeAuth    = "bench-auth-token"
)

// StartProviders starts the fakes of the named channels (of
// DispatchChannels) and transports to them whose connection pools hold
// concurrency idle connections, so that sends reuse them. Close them when
// done. Email needs python3 with aiosmtpd; without it StartProviders fails
// with an error that names `pip install -r training/requirements.txt`.
func StartProviders(names []string, concurrency int) (_ *Providers, err error) {
	p := &Providers{Transports: map[string]channels.Transport{}}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	client := &http.Client{Timeout: dispatch.DefaultTimeout, Transport: pooled(concurrency)}
	for _, name := range names {
		if _, dup := p.Transports[name]; dup {
			return nil, fmt.Errorf("bench: channel %s named twice", name)
		}
		var t channels.Transport
		switch name {
		case decisioning.ChannelEmail:
			if p.dir, err = os.MkdirTemp("", "kairos-bench-smtp-"); err != nil {
				return nil, fmt.Errorf("bench: %w", err)
			}
			if p.SMTP, err = emailtest.Run(p.dir); err != nil {
				return nil, fmt.Errorf("bench: the email channel needs a local SMTP server: %w", err)
			}
			t, err = email.New(email.Options{Addr: p.SMTP.Addr, From: "Kairos Shop <shop@example.com>", AllowPlaintext: true})
		case decisioning.ChannelPush:
			p.FCM = pushtest.NewServer(fakeProject, fakeBearer)
			t, err = push.New(push.Options{BaseURL: p.FCM.URL, Project: fakeProject, TokenSource: push.StaticToken(fakeBearer), HTTPClient: client})
		case decisioning.ChannelSMS:
			p.Twilio = smstest.NewServer(fakeSID, fakeAuth)
			t, err = sms.New(sms.Options{BaseURL: p.Twilio.URL, AccountSID: fakeSID, AuthToken: fakeAuth, From: "+15017122661", HTTPClient: client})
		default:
			return nil, fmt.Errorf("bench: no provider fake for channel %q (want one of %v)", name, DispatchChannels)
		}
		if err != nil {
			return nil, fmt.Errorf("bench: %s transport: %w", name, err)
		}
		p.Transports[name] = t
	}
	return p, nil
}

// pooled is http.DefaultTransport keeping n idle connections per host
// (instead of 2) for n concurrent senders.
func pooled(n int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(t.MaxIdleConns, 4*n)
	t.MaxIdleConnsPerHost = n
	return t
}

// Close stops the fakes and removes their files.
func (p *Providers) Close() {
	if p.SMTP != nil {
		p.SMTP.Stop()
	}
	if p.FCM != nil {
		p.FCM.Close()
	}
	if p.Twilio != nil {
		p.Twilio.Close()
	}
	if p.dir != "" {
		os.RemoveAll(p.dir)
	}
}

// Campaign and offer of the benchmark's messages.
const (
	benchCampaign = "cart_recovery"
	benchOffer    = "reminder"
)

// dispatchRun is the state of one Dispatch run.
type dispatchRun struct {
	o     DispatchOptions
	names []string // channels, sorted
	rec   *handoffs
}

// Dispatch measures the dispatcher delivering SEND decisions to the
// providers behind o.Transports, beside the same messages sent directly.
// It creates o.Messages customers reachable on every channel, then runs
// four phases: a burst of o.Messages messages sent directly, o.Concurrency
// workers per channel (baseline); o.Messages decisions committed to
// o.State and drained by a dispatcher with o.Concurrency sends per channel
// and no rate limit; direct sends at o.Rate for o.Duration (baseline);
// decisions at o.Rate for o.Duration through the running dispatcher. It
// fails unless every message reaches its provider exactly once.
func Dispatch(ctx context.Context, o DispatchOptions) (DispatchResult, error) {
	o.defaults()
	if o.State == nil || o.Store == nil || o.Set == nil || o.Templates == nil || len(o.Transports) == 0 {
		return DispatchResult{}, errors.New("bench: dispatch needs DispatchOptions.State, Store, Set, Templates and Transports")
	}
	var rc *redis.Client
	if o.RedisURL != "" {
		if !o.Force {
			if err := CheckEmpty(ctx, o.RedisURL); err != nil {
				return DispatchResult{}, err
			}
		}
		opt, err := redis.ParseURL(o.RedisURL)
		if err != nil {
			return DispatchResult{}, fmt.Errorf("bench: --redis: %w", err)
		}
		rc = redis.NewClient(opt)
		defer rc.Close()
	}
	r := &dispatchRun{o: o, names: slices.Sorted(maps.Keys(o.Transports)), rec: newHandoffs()}
	store := "embedded"
	if o.RedisURL != "" {
		store = "redis"
	}
	m := int(o.Duration.Seconds() * float64(o.Rate))
	res := DispatchResult{
		Result: Result{Name: "dispatch", Store: store, Concurrency: o.Concurrency, Customers: o.Messages,
			DurationSec: o.Duration.Seconds()},
		Messages: o.Messages, RateMessages: m, Channels: r.names,
	}
	fmt.Fprintf(o.Progress, "bench dispatch: %s store, %d messages over %v, %d sends in flight per channel\n",
		store, o.Messages, r.names, o.Concurrency)
	if err := r.customers(ctx); err != nil {
		return DispatchResult{}, err
	}

	// Throughput: a burst sent directly, then the same burst decided and
	// drained by the dispatcher.
	msgs, err := r.compose(ctx, o.Messages)
	if err != nil {
		return DispatchResult{}, err
	}
	bdur, bat, err := r.direct(ctx, msgs)
	if err != nil {
		return DispatchResult{}, err
	}
	d, err := r.dispatcher()
	if err != nil {
		return DispatchResult{}, err
	}
	from := r.mark(d)
	decided, err := r.commitAll(ctx, o.Messages)
	if err != nil {
		return DispatchResult{}, err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- d.Run(runCtx) }()
	defer func() {
		stop()
		<-done
	}()
	bar := progress.Start(o.Progress, progress.Options{Label: "  dispatcher, burst", Total: int64(o.Messages), Unit: "messages", Interval: time.Second})
	err = r.wait(ctx, d, from, decided, bar)
	bar.Done()
	if err != nil {
		return DispatchResult{}, err
	}
	ddur := time.Since(start)

	// Per message: hand-off since the start of the burst (the baseline),
	// or since the decision or the dispatcher's start, whichever is later.
	var lat, blat []time.Duration
	chLat, chBlat := map[string][]time.Duration{}, map[string][]time.Duration{}
	chEnd, chBend := map[string]time.Duration{}, map[string]time.Duration{}
	for _, msg := range msgs {
		l := bat[msg.ID]
		blat = append(blat, l)
		chBlat[msg.Channel] = append(chBlat[msg.Channel], l)
		chBend[msg.Channel] = max(chBend[msg.Channel], l)
	}
	for id, dc := range decided {
		l := r.rec.at(id).Sub(start)
		if dc.at.After(start) {
			l = r.rec.at(id).Sub(dc.at)
		}
		lat = append(lat, l)
		chLat[dc.channel] = append(chLat[dc.channel], l)
		chEnd[dc.channel] = max(chEnd[dc.channel], r.rec.at(id).Sub(start))
	}
	ops, bops := float64(o.Messages)/ddur.Seconds(), float64(o.Messages)/bdur.Seconds()
	res.OpsPerSec, res.BaselineOpsPerSec, res.Ratio = round(ops, 1), round(bops, 1), round(ops/bops, 3)
	res.P50ms, res.P99ms = round(Percentile(lat, .5), 3), round(Percentile(lat, .99), 3)
	res.BaselineP50ms, res.BaselineP99ms = round(Percentile(blat, .5), 3), round(Percentile(blat, .99), 3)
	for _, ch := range r.names {
		n := len(chLat[ch])
		res.PerChannel = append(res.PerChannel, ChannelResult{Channel: ch, Messages: n,
			OpsPerSec: round(float64(n)/chEnd[ch].Seconds(), 1), P99ms: round(Percentile(chLat[ch], .99), 3),
			BaselineOpsPerSec: round(float64(n)/chBend[ch].Seconds(), 1), BaselineP99ms: round(Percentile(chBlat[ch], .99), 3)})
	}

	// Latency at a fixed rate: direct sends, then decisions through the
	// running dispatcher.
	if m > 0 {
		if err := r.latency(ctx, d, &res); err != nil {
			return DispatchResult{}, err
		}
	}
	if rc != nil {
		if res.RedisPingP50ms, res.RedisPingP99ms, err = pingLatency(ctx, rc); err != nil {
			return DispatchResult{}, err
		}
	}
	return res, nil
}

// customer is the id of the benchmark's i-th customer.
func customer(i int) string { return "bench-" + strconv.Itoa(i) }

// channel is the channel of the i-th message: round robin.
func (r *dispatchRun) channel(i int) string { return r.names[i%len(r.names)] }

// customers creates o.Messages customers reachable and consenting on
// every channel.
func (r *dispatchRun) customers(ctx context.Context) error {
	now := time.Now()
	return parallel(ctx, r.o.Messages, func(ctx context.Context, i int) error {
		id := customer(i)
		c := features.Customer{ID: id, Email: id + "@example.com", Phone: "+14155550123", PushToken: "token-" + id,
			Timezone: "UTC", Consents: map[string]bool{"email": true, "push": true, "sms": true},
			Attributes: map[string]string{"first_name": "Ada"}}
		if err := r.o.Store.UpsertCustomer(ctx, c, now); err != nil {
			return fmt.Errorf("bench: customers: %w", err)
		}
		return nil
	})
}

// parallel runs f(i) for i in [0, n) on 8 goroutines and returns the
// first error.
func parallel(ctx context.Context, n int, f func(ctx context.Context, i int) error) error {
	var next atomic.Int64
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				if errs[w] = f(ctx, i); errs[w] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

// decision is the benchmark's SEND decision for customer on channel.
func decision(customer, channel string) decisioning.Decision {
	now := time.Now()
	return decisioning.Decision{ID: decisioning.NewID(now), CustomerID: customer, Campaign: benchCampaign, Outcome: decisioning.Send,
		Channel: channel, Offer: benchOffer, DecidedAt: now.UTC(), Scores: decisioning.Scores{Churn: 0.3, Propensity: 0.6}}
}

// compose renders n messages, as the dispatcher would, for the direct
// sends: message i goes to customer i mod o.Messages on channel(i).
func (r *dispatchRun) compose(ctx context.Context, n int) ([]*channels.Message, error) {
	msgs := make([]*channels.Message, n)
	err := parallel(ctx, n, func(ctx context.Context, i int) error {
		d := decision(customer(i%r.o.Messages), r.channel(i))
		p, err := r.o.Store.Profile(ctx, d.CustomerID, time.Now())
		if err != nil {
			return fmt.Errorf("bench: read customer %s: %w", d.CustomerID, err)
		}
		if msgs[i], err = dispatch.Compose(&d, p, "", r.o.Templates, r.o.OfferVars, r.o.Links); err != nil {
			return fmt.Errorf("bench: compose: %w", err)
		}
		return nil
	})
	return msgs, err
}

// direct sends msgs by calling each channel's Send from o.Concurrency
// workers per channel, all channels at once. It returns the time until the
// last was handed off and each message's time to hand-off by id.
func (r *dispatchRun) direct(ctx context.Context, msgs []*channels.Message) (time.Duration, map[string]time.Duration, error) {
	byChannel := map[string][]*channels.Message{}
	for _, m := range msgs {
		byChannel[m.Channel] = append(byChannel[m.Channel], m)
	}
	bar := progress.Start(r.o.Progress, progress.Options{Label: "  baseline, burst (direct Send)", Total: int64(len(msgs)), Unit: "messages", Interval: time.Second})
	type sent struct {
		id  string
		lat time.Duration
	}
	out := make([][]sent, len(r.names)*r.o.Concurrency)
	errs := make([]error, len(out))
	var wg sync.WaitGroup
	start := time.Now()
	for c, ch := range r.names {
		queue := byChannel[ch]
		var next atomic.Int64
		t := r.o.Transports[ch]
		for w := range r.o.Concurrency {
			slot := c*r.o.Concurrency + w
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < len(queue) && ctx.Err() == nil; i = int(next.Add(1) - 1) {
					if _, err := t.Send(ctx, queue[i]); err != nil {
						errs[slot] = fmt.Errorf("bench: baseline: %s Send: %w", ch, err)
						return
					}
					out[slot] = append(out[slot], sent{queue[i].ID, time.Since(start)})
					bar.Step(1)
					bar.Count(1)
				}
			})
		}
	}
	wg.Wait()
	el := time.Since(start)
	bar.Done()
	if err := errors.Join(errs...); err != nil {
		return 0, nil, err
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	at := make(map[string]time.Duration, len(msgs))
	for _, s := range slices.Concat(out...) {
		at[s.id] = s.lat
	}
	return el, at, nil
}

// committed is a decision the benchmark committed: its channel and time.
type committed struct {
	channel string
	at      time.Time
}

// commit records a SEND decision for customer on channel, as the engine
// does: it loads the customer's newest send and commits against it.
func (r *dispatchRun) commit(ctx context.Context, customer, channel string) (decisioning.Decision, error) {
	for {
		d := decision(customer, channel)
		snap, err := r.o.State.Load(ctx, customer, "", d.DecidedAt, d.DecidedAt.Add(-time.Hour))
		if err != nil {
			return d, fmt.Errorf("bench: load %s: %w", customer, err)
		}
		_, err = r.o.State.Commit(ctx, "", snap.SentToken, []decisioning.Decision{d})
		if errors.Is(err, decisioning.ErrConflict) {
			continue // another message of the customer committed meanwhile
		}
		if err != nil {
			return d, fmt.Errorf("bench: commit: %w", err)
		}
		return d, nil
	}
}

// commitAll commits n decisions, decision i for customer i on channel(i),
// before any dispatcher runs.
func (r *dispatchRun) commitAll(ctx context.Context, n int) (map[string]committed, error) {
	fmt.Fprintf(r.o.Progress, "  committing %d decisions...\n", n)
	var mu sync.Mutex
	out := make(map[string]committed, n)
	err := parallel(ctx, n, func(ctx context.Context, i int) error {
		d, err := r.commit(ctx, customer(i), r.channel(i))
		if err != nil {
			return err
		}
		mu.Lock()
		out[d.ID] = committed{d.Channel, d.DecidedAt}
		mu.Unlock()
		return nil
	})
	return out, err
}

// dispatcher builds the dispatcher under test: every channel through a
// probe, o.Concurrency sends in flight each, no rate limit.
func (r *dispatchRun) dispatcher() (*dispatch.Dispatcher, error) {
	chans := make(map[string]dispatch.Channel, len(r.names))
	for _, ch := range r.names {
		chans[ch] = dispatch.Channel{Transport: &probe{Transport: r.o.Transports[ch], rec: r.rec}, Concurrency: r.o.Concurrency}
	}
	d, err := dispatch.New(r.o.State, dispatch.Options{Consumer: "bench", Channels: chans, Templates: r.o.Templates,
		OfferVars: r.o.OfferVars, Links: r.o.Links, Set: r.o.Set, Profiles: r.o.Store, Events: r.o.Store,
		Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return d, nil
}

// stall is how long wait waits without a message handed off or settled.
const stall = 30 * time.Second

// mark is the count of hand-offs and of settled attempts at a point in
// time (before a phase commits its decisions).
type mark struct{ handoffs, settled int64 }

func (r *dispatchRun) mark(d *dispatch.Dispatcher) mark {
	return mark{r.rec.count(), d.Settled()}
}

// wait waits until every decision of want, committed after from, was
// handed off and settled, counting hand-offs on bar (when not nil). It
// fails when one was handed off twice, or when nothing happens for the
// stall time.
func (r *dispatchRun) wait(ctx context.Context, d *dispatch.Dispatcher, from mark, want map[string]committed, bar *progress.Bar) error {
	base, settled0 := from.handoffs, from.settled
	last, lastChange := base, time.Now()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		n, failed := r.rec.count(), r.rec.failures()
		if n > last {
			if bar != nil {
				bar.Step(n - last)
				bar.Count(n - last)
			}
			last, lastChange = n, time.Now()
		}
		// Every message handed off, and every attempt (failed ones
		// included) settled.
		if n-base >= int64(len(want)) && d.Settled()-settled0 >= n-base+failed {
			break
		}
		if time.Since(lastChange) > stall {
			return fmt.Errorf("bench: dispatcher stalled: %d of %d messages handed off, %d attempts settled, %d sends failed, in %s",
				n-base, len(want), d.Settled()-settled0, failed, stall)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	if dup := r.rec.duplicates(); dup > 0 {
		return fmt.Errorf("bench: %d messages were handed off more than once", dup)
	}
	for id := range want {
		if r.rec.at(id).IsZero() {
			return fmt.Errorf("bench: decision %s was not handed off", id)
		}
	}
	return nil
}

// latency runs the latency phases into res: direct sends at o.Rate, then
// decisions at o.Rate through the running dispatcher d, each for
// o.Duration.
func (r *dispatchRun) latency(ctx context.Context, d *dispatch.Dispatcher, res *DispatchResult) error {
	o := r.o
	msgs, err := r.compose(ctx, res.RateMessages)
	if err != nil {
		return err
	}
	// The same concurrency per channel as the dispatcher: a send waits
	// for a slot, and that wait counts.
	slots := map[string]chan struct{}{}
	for _, ch := range r.names {
		slots[ch] = make(chan struct{}, o.Concurrency)
	}
	fmt.Fprintf(o.Progress, "  latency at %d messages/s for %s: baseline (direct Send)...\n", o.Rate, o.Duration)
	blat, err := openLoop(ctx, o.Rate, o.Duration, func(ctx context.Context, i int) error {
		m := msgs[i]
		slots[m.Channel] <- struct{}{}
		defer func() { <-slots[m.Channel] }()
		if _, err := o.Transports[m.Channel].Send(ctx, m); err != nil {
			return fmt.Errorf("bench: baseline: %s Send: %w", m.Channel, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Progress, "  latency at %d messages/s for %s: dispatcher...\n", o.Rate, o.Duration)
	var mu sync.Mutex
	want := make(map[string]committed, res.RateMessages)
	from := r.mark(d)
	_, err = openLoop(ctx, o.Rate, o.Duration, func(ctx context.Context, i int) error {
		d, err := r.commit(ctx, customer(i%o.Messages), r.channel(i))
		if err != nil {
			return err
		}
		mu.Lock()
		want[d.ID] = committed{d.Channel, d.DecidedAt}
		mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	if err := r.wait(ctx, d, from, want, nil); err != nil {
		return err
	}
	lat := make([]time.Duration, 0, len(want))
	for id, c := range want {
		lat = append(lat, r.rec.at(id).Sub(c.at))
	}
	res.RatePerSec = float64(o.Rate)
	res.RateP50ms, res.RateP99ms = round(Percentile(lat, .5), 3), round(Percentile(lat, .99), 3)
	res.BaselineRateP99ms = round(Percentile(blat, .99), 3)
	return nil
}

// probe is a transport that records when each message was handed off:
// when the provider accepted it.
type probe struct {
	channels.Transport
	rec *handoffs
}

func (p *probe) Send(ctx context.Context, m *channels.Message) (channels.Receipt, error) {
	r, err := p.Transport.Send(ctx, m)
	p.rec.record(m.ID, err)
	return r, err
}

// handoffs are the hand-off times of the messages by id. It is safe for
// concurrent use.
type handoffs struct {
	mu     sync.Mutex
	times  map[string]time.Time
	n      atomic.Int64 // len(times)
	failed atomic.Int64
	dups   atomic.Int64
}

func newHandoffs() *handoffs { return &handoffs{times: map[string]time.Time{}} }

func (h *handoffs) record(id string, err error) {
	now := time.Now()
	if err != nil {
		h.failed.Add(1)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.times[id]; ok {
		h.dups.Add(1)
		return
	}
	h.times[id] = now
	h.n.Add(1)
}

// at returns when the message id was handed off; zero if it was not.
func (h *handoffs) at(id string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.times[id]
}

func (h *handoffs) count() int64      { return h.n.Load() }
func (h *handoffs) failures() int64   { return h.failed.Load() }
func (h *handoffs) duplicates() int64 { return h.dups.Load() }
