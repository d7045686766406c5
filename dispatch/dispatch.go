// Package dispatch delivers the messages of SEND decisions: a Dispatcher
// takes jobs from the durable dispatch queue (decisioning.DispatchQueue;
// several instances at once), waits for each message's send_after (quiet
// hours), renders it from the templates, sends it through its channel's
// transport within that channel's rate and concurrency limits, retries
// transient failures with exponential backoff and jitter, and records
// every attempt in the ledger.
//
// # Exactly once
//
// The decision id is the message's idempotency key end to end. Before a
// send, Begin leases the attempt to this dispatcher in the store; after
// it, Settle records the result, the ledger record and the effect on the
// frequency caps in one atomic step and removes the job. So:
//   - a message settled once is never sent again (a late copy of its job
//     is dropped at Begin);
//   - two dispatchers never send the same message at once (the lease);
//   - a dispatcher killed after the provider accepted the message but
//     before Settle leaves a lease that expires: the next dispatcher sees
//     an interrupted attempt. When the channel's provider deduplicates by
//     the decision id (Channel.Idempotent: the in-app inbox, webhooks,
//     whose receivers dedupe by the Idempotency-Key header), it sends again
//     under the same id; otherwise (SMTP, FCM, Twilio) it cannot know
//     whether the message left, and records the attempt as "unknown"
//     rather than risk a second copy — visible in the ledger and in
//     `kairos channels status`. The customer is read and the message
//     rendered before the lease, so the window is the time of one
//     provider call;
//   - a provider call that ends ambiguously (channels.Ambiguous: a timeout
//     or a broken connection after the request was written) is treated
//     alike: retried under the same id where the provider deduplicates,
//     recorded as unknown where it cannot.
//
// Begin and Settle carry a lease token, so a store call repeated after a
// lost reply is answered as the first; Settle is retried while the store
// is unreachable, up to the claim idle time.
//
// Sends are not cancelled by shutdown: a send in progress completes (up to
// its channel's timeout) and is settled before Run returns, because a send
// abandoned half-way is exactly the ambiguous case.
//
// # Failures
//
// A transient failure (a connection that failed before the request was
// written, a 5xx, a 429) is retried after
// min(MaxBackoff, Backoff·2^(attempt-1)), jittered to between half and
// all of it, and never sooner than the provider's Retry-After; after
// MaxAttempts attempts the message is dead-lettered. A permanent failure
// of the address marks the channel unreachable for the customer (until
// their address changes), so decisioning stops choosing it; a message
// that is itself invalid (no template or transport, a template error,
// content the provider refuses) is recorded as invalid without blaming
// the address. A message whose consent was revoked (or whose address was
// removed) while it waited, or that waited past its channel's MaxAge, is
// cancelled. Every final status but sent and
// unknown gives the message's place in the frequency caps back: caps
// count what was sent.
//
// # Engagement
//
// A sent message is tracked as a message_delivered event and a bounce as
// message_bounced, through the feature store's normal Track path (event
// ids derived from the decision id, so a repeat is deduplicated).
//
// It sits beside channels rather than inside it (where ARCHITECTURE.md
// draws the dispatcher): channels must not depend on decisioning, whose
// root imports the bandit, and the dispatcher consumes decisioning's
// Decision and DispatchQueue. It must not import the stores
// (decisioning/memstate, decisioning/redisstate, features/memstore,
// features/redisstore): the command wires them in.
package dispatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kairos/channels"
	"kairos/decisioning"
	"kairos/features"
	"kairos/internal/prom"
	"kairos/internal/retry"
)

// Defaults of Channel and Options.
const (
	DefaultConcurrency = 4
	DefaultMaxAttempts = 6
	DefaultTimeout     = 15 * time.Second
	DefaultBackoff     = 2 * time.Second
	DefaultMaxBackoff  = 10 * time.Minute
	DefaultMaxAge      = 48 * time.Hour
	DefaultClaimIdle   = 60 * time.Second
	DefaultBatch       = 64
)

// DefaultLeaseMargin is how much longer than its timeout an attempt's
// lease runs by default.
const DefaultLeaseMargin = 5 * time.Second

// Channel configures the delivery of one channel.
type Channel struct {
	Transport channels.Transport
	// Rate caps the messages sent per second by this dispatcher (0: no
	// cap), with bursts of up to Burst (Rate rounded up when 0).
	Rate  float64
	Burst int
	// Concurrency is the number of sends in flight at once;
	// DefaultConcurrency when 0.
	Concurrency int
	// MaxAttempts is the number of attempts before a transiently failing
	// message is dead-lettered; DefaultMaxAttempts when 0.
	MaxAttempts int
	// Timeout bounds one send; DefaultTimeout when 0.
	Timeout time.Duration
	// MaxAge is how long after its decision a message may still be sent
	// (quiet hours and retries delay it); an older one is cancelled as
	// expired. DefaultMaxAge when 0.
	MaxAge time.Duration
	// Idempotent: the provider deduplicates messages by their id (the
	// decision id), so an interrupted attempt may be sent again.
	Idempotent bool
	// Address, when set, is the recipient of every message of the channel
	// (a webhook's URL); otherwise it is the customer's address on the
	// channel (decisioning.Address), or their id for in-app.
	Address string
}

// Limiter is a rate limit shared by every dispatching instance
// (decisioning/redisstate implements it on Redis's clock).
type Limiter interface {
	// Reserve takes the next slot of the limit name (rate slots a second,
	// bursts of up to burst) and returns how long to wait before using it.
	Reserve(ctx context.Context, name string, rate float64, burst int) (time.Duration, error)
}

// Profiles reads customers' records and features: the feature store.
type Profiles interface {
	Profile(ctx context.Context, customerID string, now time.Time) (features.Profile, error)
}

// Events records engagement events: the feature store's Track.
type Events interface {
	Track(ctx context.Context, events []features.Event, now time.Time) ([]features.Status, error)
}

// Links mints a message's tracking links: the signed open, click and
// unsubscribe URLs of the admin server (tracking.Signer).
type Links func(d *decisioning.Decision) channels.Links

// Options configures a Dispatcher.
type Options struct {
	// Consumer names this dispatcher in the queue; unique per process.
	Consumer string
	// Channels maps channel names to their delivery; a message on a
	// channel without an entry is recorded as invalid.
	Channels map[string]Channel
	// Templates renders messages; every channel but webhook needs one per
	// (campaign, offer, channel).
	Templates *channels.TemplateSet
	// OfferVars returns an offer's variables for templates; nil: none.
	OfferVars func(campaign, offer string) map[string]string
	// Links mints tracking links; nil: messages carry none.
	Links Links
	// Set validates the engagement events and names the features.
	Set      *features.Set
	Profiles Profiles
	// Events records engagement events; nil: none are recorded.
	Events Events
	// Limiter, when set, holds the channels' rate limits for every
	// instance together; while it fails (and without one) each instance
	// keeps its own.
	Limiter Limiter
	// Backoff is the first retry delay, doubling up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Batch is how many jobs one queue read takes; ClaimIdle how long a
	// job may stay with a dispatcher that went away.
	Batch     int
	ClaimIdle time.Duration
	// LeaseMargin is how much longer than its channel's timeout an
	// attempt's lease runs (DefaultLeaseMargin when 0): a send ends, and
	// is settled, before another dispatcher may take its message over.
	// ClaimIdle must be at least the longest timeout plus the margin.
	LeaseMargin time.Duration
	Logger      *slog.Logger
	// Registerer receives the metrics; nil: not registered.
	Registerer prometheus.Registerer
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Dispatcher delivers the messages of the dispatch queue.
type Dispatcher struct {
	q       decisioning.DispatchQueue
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	lanes   map[string]*lane
	metrics metrics
	// degraded is set while the queue cannot be read.
	degraded atomic.Bool
	settled  atomic.Int64
}

// lane is one channel's workers.
type lane struct {
	name  string
	ch    Channel
	jobs  chan decisioning.DispatchJob
	limit *bucket
	// The lane's metrics.
	handoff, sendSeconds prometheus.Observer
	// sharedDown is set while the shared rate limit fails.
	sharedDown atomic.Bool
}

type metrics struct {
	attempts *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	send     *prometheus.HistogramVec
	queue    *prometheus.GaugeVec
	dead     prometheus.Gauge
}

// New returns a Dispatcher of q's jobs. It checks the options: every
// channel needs a transport.
func New(q decisioning.DispatchQueue, opts Options) (*Dispatcher, error) {
	if opts.Consumer == "" {
		return nil, errors.New("dispatch: Options.Consumer is empty")
	}
	if opts.Profiles == nil || opts.Set == nil {
		return nil, errors.New("dispatch: Options.Profiles and Options.Set are required")
	}
	opts.Backoff = cmp.Or(opts.Backoff, DefaultBackoff)
	opts.MaxBackoff = cmp.Or(opts.MaxBackoff, DefaultMaxBackoff)
	opts.ClaimIdle = cmp.Or(opts.ClaimIdle, DefaultClaimIdle)
	opts.Batch = cmp.Or(opts.Batch, DefaultBatch)
	opts.LeaseMargin = cmp.Or(opts.LeaseMargin, DefaultLeaseMargin)
	d := &Dispatcher{q: q, opts: opts, log: opts.Logger, now: opts.Now, lanes: map[string]*lane{}}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.log = d.log.With("component", "dispatch")
	if d.now == nil {
		d.now = time.Now
	}
	for name, ch := range opts.Channels {
		if ch.Transport == nil {
			return nil, fmt.Errorf("dispatch: channel %s: no transport", name)
		}
		ch.Concurrency = cmp.Or(ch.Concurrency, DefaultConcurrency)
		ch.MaxAttempts = cmp.Or(ch.MaxAttempts, DefaultMaxAttempts)
		ch.Timeout = cmp.Or(ch.Timeout, DefaultTimeout)
		ch.MaxAge = cmp.Or(ch.MaxAge, DefaultMaxAge)
		if opts.ClaimIdle < ch.Timeout+opts.LeaseMargin {
			return nil, fmt.Errorf("dispatch: channel %s: its timeout %s plus the lease margin %s exceeds the claim idle time %s: raise the claim idle time (serve --claim-idle) to at least %s, or lower the channel's timeout",
				name, ch.Timeout, opts.LeaseMargin, opts.ClaimIdle, ch.Timeout+opts.LeaseMargin)
		}
		// Room for a few batches, so that a burst is taken in rather than
		// deferred, and a busy channel keeps its workers fed.
		d.lanes[name] = &lane{name: name, ch: ch, jobs: make(chan decisioning.DispatchJob, 4*opts.Batch+4*ch.Concurrency),
			limit: newBucket(ch.Rate, ch.Burst)}
	}
	d.metrics = metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_dispatch_attempts_total", Help: "Settled dispatch attempts by channel and status (sent, failed, dead, bounced, invalid, cancelled, unknown, interrupted).",
		}, []string{"channel", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kairos_dispatch_handoff_seconds", Help: "Time from the decision (or its send_after) to the provider accepting the message.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16),
		}, []string{"channel"}),
		send: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kairos_dispatch_send_seconds", Help: "Duration of one provider call.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"channel"}),
	}
	d.metrics.queue = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kairos_dispatch_queue_messages", Help: "Messages in the dispatch queue (all instances), by state: ready, in_flight, scheduled (quiet hours, retry backoff). Sampled every 10 s.",
	}, []string{"state"})
	d.metrics.dead = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "kairos_dispatch_dead_letters", Help: "Dead-lettered messages kept for inspection (all instances). Sampled every 10 s.",
	})
	if opts.Registerer != nil {
		d.metrics.attempts = prom.Register(opts.Registerer, d.metrics.attempts)
		d.metrics.latency = prom.Register(opts.Registerer, d.metrics.latency)
		d.metrics.send = prom.Register(opts.Registerer, d.metrics.send)
		d.metrics.queue = prom.Register(opts.Registerer, d.metrics.queue)
		d.metrics.dead = prom.Register(opts.Registerer, d.metrics.dead)
	}
	for name, l := range d.lanes {
		l.handoff = d.metrics.latency.WithLabelValues(name)
		l.sendSeconds = d.metrics.send.WithLabelValues(name)
	}
	return d, nil
}

// Degraded reports whether the queue could not be read at the last try.
func (d *Dispatcher) Degraded() bool { return d.degraded.Load() }

// Settled returns the number of attempts this dispatcher settled.
func (d *Dispatcher) Settled() int64 { return d.settled.Load() }

// Run dispatches until ctx ends, then lets the sends in progress finish
// and settle (each within its channel's timeout) and returns nil.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, l := range d.lanes {
		for range l.ch.Concurrency {
			wg.Go(func() {
				for job := range l.jobs {
					d.process(ctx, l, job)
				}
			})
		}
	}
	defer func() {
		for _, l := range d.lanes {
			close(l.jobs)
		}
		wg.Wait()
	}()
	wg.Go(func() { d.sampleQueue(ctx) })
	failures := 0
	for ctx.Err() == nil {
		jobs, err := d.q.NextDispatches(ctx, d.opts.Consumer, d.opts.Batch, d.opts.ClaimIdle, time.Second)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			if !d.degraded.Swap(true) {
				d.log.Error("cannot read the dispatch queue; retrying", "err", err)
			}
			retry.Sleep(ctx, min(time.Duration(failures)*200*time.Millisecond, 5*time.Second))
			continue
		}
		if d.degraded.Swap(false) {
			d.log.Info("dispatch queue readable again")
		}
		failures = 0
		for _, job := range jobs {
			d.route(ctx, job)
		}
	}
	return nil
}

// queueSample is how often the queue gauges are refreshed.
const queueSample = 10 * time.Second

// sampleQueue refreshes the queue gauges until ctx ends, so that an alert
// can see a backlog grow (a stopped or overwhelmed dispatcher, a channel
// whose provider is down).
func (d *Dispatcher) sampleQueue(ctx context.Context) {
	for {
		qctx, cancel := context.WithTimeout(ctx, storeTimeout)
		st, err := d.q.DispatchStatus(qctx, 0)
		cancel()
		if err == nil {
			d.metrics.queue.WithLabelValues("ready").Set(float64(st.Ready))
			d.metrics.queue.WithLabelValues("in_flight").Set(float64(st.InFlight))
			d.metrics.queue.WithLabelValues("scheduled").Set(float64(st.Scheduled))
			d.metrics.dead.Set(float64(st.DeadLetters))
		}
		if !retry.Sleep(ctx, queueSample) {
			return
		}
	}
}

// route hands a job to its channel's workers, or defers it: to its
// send_after, or for two to four seconds when the channel's workers are
// saturated, so that one slow channel never holds up the others. A job
// left in hand at shutdown stays queued and is claimed again.
func (d *Dispatcher) route(ctx context.Context, job decisioning.DispatchJob) {
	if ctx.Err() != nil {
		return
	}
	now := d.now()
	if at := job.Decision.SendAfter; at.After(now) {
		d.deferJob(ctx, &job, at)
		return
	}
	l := d.lanes[job.Decision.Channel]
	if l == nil {
		d.noLane(ctx, job)
		return
	}
	select {
	case l.jobs <- job:
	default:
		d.deferJob(ctx, &job, now.Add(2*time.Second+rand.N(2*time.Second)))
	}
}

func (d *Dispatcher) deferJob(ctx context.Context, job *decisioning.DispatchJob, at time.Time) {
	if err := d.q.Defer(ctx, job, at); err != nil && ctx.Err() == nil {
		// The job stays with this consumer and is claimed again later.
		d.log.Warn("cannot defer a dispatch job; it is retried after the claim idle time", "decision", job.Decision.ID, "err", err)
	}
}

// noLane records a message on a channel nothing delivers as invalid.
func (d *Dispatcher) noLane(ctx context.Context, job decisioning.DispatchJob) {
	if !d.begin(ctx, &job, nil, 0) {
		return
	}
	d.settle(&job, decisioning.Settlement{Status: decisioning.DispatchInvalid,
		Error: fmt.Sprintf("no transport is configured for channel %q: add it to the channels configuration (--channels)", job.Decision.Channel)})
}

// wait takes a slot of the lane's rate: from the shared limiter when
// there is one and it answers, else from the instance's own bucket. It
// returns false when ctx ended first.
func (d *Dispatcher) wait(ctx context.Context, l *lane) bool {
	if l.ch.Rate <= 0 {
		return ctx.Err() == nil
	}
	if d.opts.Limiter != nil {
		rctx, cancel := context.WithTimeout(ctx, storeTimeout)
		w, err := d.opts.Limiter.Reserve(rctx, l.name, l.ch.Rate, cmp.Or(l.ch.Burst, int(math.Ceil(l.ch.Rate))))
		cancel()
		if err == nil {
			if l.sharedDown.Swap(false) {
				d.log.Info("the shared rate limit answers again", "channel", l.name)
			}
			return retry.Sleep(ctx, w)
		}
		if ctx.Err() != nil {
			return false
		}
		if !l.sharedDown.Swap(true) {
			d.log.Warn("the shared rate limit is unavailable; this instance keeps its own until it is back", "channel", l.name, "err", err)
		}
	}
	return l.limit.wait(ctx)
}

// storeTimeout bounds one call to the store (a profile read, a Begin).
const storeTimeout = 5 * time.Second

// begin leases the job's next attempt for timeout plus the lease margin
// and reports whether the caller holds it. An interrupted attempt it
// finds is settled first: sent again under the same id on a channel
// whose provider deduplicates (l.ch.Idempotent), recorded as unknown
// otherwise. The call is not cut short by shutdown: a Begin whose reply
// was lost would strand its lease.
func (d *Dispatcher) begin(ctx context.Context, job *decisioning.DispatchJob, l *lane, timeout time.Duration) bool {
	for {
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		now := d.now()
		r, err := d.q.Begin(bctx, job, now, now.Add(timeout+d.opts.LeaseMargin))
		cancel()
		switch {
		case err != nil:
			d.log.Warn("cannot begin a dispatch attempt; the job stays queued", "decision", job.Decision.ID, "err", err)
			return false
		case r == decisioning.Begun:
			return true
		case r != decisioning.Interrupted:
			return false // settled already, scheduled, or in another dispatcher's hands
		case l == nil || !l.ch.Idempotent:
			name := job.Decision.Channel
			d.settle(job, decisioning.Settlement{Status: decisioning.DispatchUnknown, Error: fmt.Sprintf(
				"the dispatcher stopped during attempt %d; %s cannot deduplicate, so the message is not sent again (it may or may not have been delivered)",
				job.Attempt, name)})
			return false
		}
		if d.settle(job, decisioning.Settlement{Status: decisioning.DispatchInterrupted,
			Error: "the dispatcher stopped during the attempt; sent again under the same id"}) != nil {
			return false
		}
	}
}

// process runs one attempt of a job. The customer is read and the message
// rendered before the attempt is leased, so that the lease covers the
// provider call alone: a dispatcher that dies outside it leaves nothing
// ambiguous.
func (d *Dispatcher) process(ctx context.Context, l *lane, job decisioning.DispatchJob) {
	if !d.wait(ctx, l) {
		return // shutting down: the job stays queued
	}
	dec := &job.Decision
	pctx, cancel := context.WithTimeout(ctx, storeTimeout)
	p, err := d.opts.Profiles.Profile(pctx, dec.CustomerID, d.now())
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("cannot read the customer of a message; it waits and is tried again", "decision", dec.ID, "err", err)
			d.deferJob(ctx, &job, d.now().Add(Backoff(d.opts.Backoff, d.opts.MaxBackoff, 1)))
		}
		return
	}
	var verdict *decisioning.Settlement
	cust := p.Customer
	switch age := d.now().Sub(dec.DecidedAt); {
	case age > l.ch.MaxAge:
		verdict = &decisioning.Settlement{Status: decisioning.DispatchCancelled, Error: fmt.Sprintf(
			"expired: decided %s ago, past the channel's max_age of %s", age.Round(time.Minute), l.ch.MaxAge)}
	case !decisioning.Reachable(cust, dec.Channel):
		verdict = &decisioning.Settlement{Status: decisioning.DispatchCancelled,
			Error: "no_address: the customer has no " + dec.Channel + " address any more"}
	case !decisioning.Consented(cust, dec.Channel):
		verdict = &decisioning.Settlement{Status: decisioning.DispatchCancelled,
			Error: "no_consent: the customer's " + dec.Channel + " consent was withdrawn"}
	}
	var msg *channels.Message
	if verdict == nil {
		if msg, err = Compose(dec, p, l.ch.Address, d.opts.Templates, d.opts.OfferVars, d.opts.Links); err != nil {
			verdict = &decisioning.Settlement{Status: decisioning.DispatchInvalid, Error: err.Error()}
		}
	}
	if !d.begin(ctx, &job, l, l.ch.Timeout) {
		return
	}
	// From here the attempt is leased to us: finish it even when ctx ends.
	ctx = context.WithoutCancel(ctx)
	s := verdict
	if s == nil {
		s = d.send(ctx, l, &job, msg)
	}
	if d.settle(&job, *s) == nil {
		d.track(ctx, dec, *s)
	}
}

// send hands the message to the channel's transport and returns the
// result to settle.
func (d *Dispatcher) send(ctx context.Context, l *lane, job *decisioning.DispatchJob, msg *channels.Message) *decisioning.Settlement {
	dec := &job.Decision
	sctx, cancel := context.WithTimeout(ctx, l.ch.Timeout)
	start := time.Now()
	rcpt, err := l.ch.Transport.Send(sctx, msg)
	cancel()
	l.sendSeconds.Observe(time.Since(start).Seconds())
	now := d.now()
	if err == nil {
		from := dec.DecidedAt
		if dec.SendAfter.After(from) {
			from = dec.SendAfter
		}
		l.handoff.Observe(now.Sub(from).Seconds())
		return &decisioning.Settlement{Status: decisioning.DispatchSent, ProviderID: rcpt.ProviderID, At: now}
	}
	switch channels.ErrorKind(err) {
	case channels.Permanent:
		return &decisioning.Settlement{Status: decisioning.DispatchBounced, At: now, Error: err.Error(), Unreachable: msg.To}
	case channels.Invalid:
		return &decisioning.Settlement{Status: decisioning.DispatchInvalid, At: now, Error: err.Error()}
	case channels.Ambiguous:
		if !l.ch.Idempotent {
			// Sending again could deliver it twice.
			return &decisioning.Settlement{Status: decisioning.DispatchUnknown, At: now, Error: fmt.Sprintf(
				"%v; %s cannot deduplicate, so the message is not sent again (it may or may not have been delivered)", err, l.name)}
		}
	}
	return d.failed(l, job, err, channels.RetryAfter(err))
}

// maxRetryAfter caps the wait a provider may ask for between attempts.
const maxRetryAfter = 24 * time.Hour

// failed is the settlement of a transient failure: a retry after the
// backoff (or the provider's Retry-After, up to a day), or the dead
// letters after the last attempt.
func (d *Dispatcher) failed(l *lane, job *decisioning.DispatchJob, err error, after time.Duration) *decisioning.Settlement {
	now := d.now()
	if job.Attempt >= l.ch.MaxAttempts {
		return &decisioning.Settlement{Status: decisioning.DispatchDead, At: now,
			Error: fmt.Sprintf("gave up after %d attempts: %v", job.Attempt, err)}
	}
	return &decisioning.Settlement{Status: decisioning.DispatchFailed, At: now, Error: err.Error(),
		RetryAt: now.Add(max(Backoff(d.opts.Backoff, d.opts.MaxBackoff, job.Attempt), min(after, maxRetryAfter)))}
}

// Backoff returns the delay before the retry that follows attempt n (1
// for the first): base·2^(n-1) capped at limit, jittered uniformly to
// between half and all of it.
func Backoff(base, limit time.Duration, n int) time.Duration {
	d := limit
	if n-1 < 62 && base<<(n-1) > 0 && base<<(n-1) < limit {
		d = base << (n - 1)
	}
	return d/2 + rand.N(d/2+1)
}

// settle records a settlement, retrying while the store cannot be reached
// for up to the claim idle time. A late settlement is still right: the
// first one of an attempt wins, and a lease taken over in the meantime
// makes this one stale (the new holder records the attempt as
// interrupted or unknown).
func (d *Dispatcher) settle(job *decisioning.DispatchJob, s decisioning.Settlement) error {
	if s.At.IsZero() {
		s.At = d.now()
	}
	deadline := time.Now().Add(d.opts.ClaimIdle)
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		err := d.q.Settle(ctx, job, s)
		cancel()
		switch {
		case err == nil:
			d.settled.Add(1)
			d.metrics.attempts.WithLabelValues(job.Decision.Channel, s.Status).Inc()
			d.logSettled(job, s)
			return nil
		case errors.Is(err, decisioning.ErrStale):
			d.log.Info("dispatch attempt taken over by another dispatcher; its result is theirs to record",
				"decision", job.Decision.ID, "attempt", job.Attempt, "status", s.Status)
			return err
		case time.Now().After(deadline):
			d.log.Error("dispatch attempt not recorded: the store stayed unreachable", "decision", job.Decision.ID,
				"attempt", job.Attempt, "status", s.Status, "err", err)
			return err
		}
		retry.Sleep(context.Background(), min(time.Duration(i+1)*200*time.Millisecond, 2*time.Second))
	}
}

func (d *Dispatcher) logSettled(job *decisioning.DispatchJob, s decisioning.Settlement) {
	dec := &job.Decision
	switch s.Status {
	case decisioning.DispatchSent:
		d.log.Debug("message sent", "decision", dec.ID, "channel", dec.Channel, "attempt", job.Attempt, "provider_id", s.ProviderID)
	case decisioning.DispatchFailed:
		d.log.Info("message failed; will retry", "decision", dec.ID, "channel", dec.Channel, "attempt", job.Attempt,
			"retry_at", s.RetryAt.Format(time.RFC3339), "err", s.Error)
	default:
		d.log.Warn("message not sent", "decision", dec.ID, "channel", dec.Channel, "attempt", job.Attempt, "status", s.Status, "err", s.Error)
	}
}

// track records the engagement event of a settled attempt.
func (d *Dispatcher) track(ctx context.Context, dec *decisioning.Decision, s decisioning.Settlement) {
	var typ string
	switch s.Status {
	case decisioning.DispatchSent:
		typ = "message_delivered"
	case decisioning.DispatchBounced:
		typ = "message_bounced"
	default:
		return
	}
	if d.opts.Events == nil {
		return
	}
	ev := features.Event{ID: typ + "-" + dec.ID, CustomerID: dec.CustomerID, Type: typ, Time: s.At, Properties: map[string]features.Value{
		"decision_id": features.String(dec.ID), "campaign": features.String(dec.Campaign),
		"channel": features.String(dec.Channel), "offer": features.String(dec.Offer),
	}}
	now := d.now()
	if fe := d.opts.Set.ValidateEvent(&ev, now); fe != nil {
		d.log.Warn("engagement event not recorded", "event", ev.ID, "err", fe)
		return
	}
	if _, err := d.opts.Events.Track(ctx, []features.Event{ev}, now); err != nil {
		d.log.Warn("engagement event not recorded", "event", ev.ID, "err", err)
	}
}
