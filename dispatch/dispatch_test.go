package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kairos/channels"
	"kairos/channels/builtin"
	"kairos/decisioning"
	"kairos/decisioning/memstate"
	"kairos/dispatch"
	"kairos/features"
	"kairos/features/memstore"
	"kairos/internal/prom"
	"kairos/ledger"
)

// recorder is a Transport that records what it is given and answers with
// fail's error for the n-th call of a message (1-based), nil when fail is
// nil or returns nil.
type recorder struct {
	mu       sync.Mutex
	sent     map[string][]channels.Message
	calls    atomic.Int64
	inflight atomic.Int64
	maxIn    atomic.Int64
	delay    time.Duration
	fail     func(m *channels.Message, n int) error
}

func newRecorder() *recorder { return &recorder{sent: map[string][]channels.Message{}} }

func (r *recorder) Send(ctx context.Context, m *channels.Message) (channels.Receipt, error) {
	r.calls.Add(1)
	in := r.inflight.Add(1)
	defer r.inflight.Add(-1)
	for {
		old := r.maxIn.Load()
		if in <= old || r.maxIn.CompareAndSwap(old, in) {
			break
		}
	}
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.sent[m.ID]) + 1
	if r.fail != nil {
		if err := r.fail(m, n); err != nil {
			r.sent[m.ID] = append(r.sent[m.ID], channels.Message{}) // an attempt, not a delivery
			return channels.Receipt{}, err
		}
	}
	r.sent[m.ID] = append(r.sent[m.ID], *m)
	return channels.Receipt{ProviderID: "p-" + m.ID}, nil
}

// delivered returns the messages delivered (not failed) under id.
func (r *recorder) delivered(id string) []channels.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []channels.Message
	for _, m := range r.sent[id] {
		if m.ID != "" {
			out = append(out, m)
		}
	}
	return out
}

// env is a memstate with customers, and a dispatcher under test.
type env struct {
	t     *testing.T
	set   *features.Set
	feats *memstore.Store
	st    *memstate.State
	n     int
}

func newEnv(t *testing.T) *env {
	set := features.Default()
	feats := memstore.New(set, memstore.Options{})
	return &env{t: t, set: set, feats: feats, st: memstate.New(feats, memstate.Options{Lookback: 7 * 24 * time.Hour})}
}

// customer creates a customer reachable on every channel.
func (e *env) customer(id string, edit ...func(*features.Customer)) {
	c := features.Customer{ID: id, Email: id + "@example.com", Phone: "+14155550100", PushToken: "tok-" + id,
		Consents: map[string]bool{"email": true, "sms": true, "push": true}, Attributes: map[string]string{"first_name": "Ada"}}
	for _, f := range edit {
		f(&c)
	}
	if err := e.feats.UpsertCustomer(context.Background(), c, time.Now()); err != nil {
		e.t.Fatal(err)
	}
}

// send commits a SEND decision for the customer on channel (offer
// reminder of cart_recovery) and returns it.
func (e *env) send(customer, channel string, sendAfter time.Time) decisioning.Decision {
	e.t.Helper()
	e.n++
	ctx := context.Background()
	snap, err := e.st.Load(ctx, customer, "", time.Now(), time.Now().Add(-time.Hour))
	if err != nil {
		e.t.Fatal(err)
	}
	d := decisioning.Decision{ID: decisioning.NewID(time.Now()), CustomerID: customer, Campaign: "cart_recovery", Outcome: decisioning.Send,
		Channel: channel, Offer: "reminder", ArmIndex: 0, DecidedAt: time.Now().UTC(), SendAfter: sendAfter,
		Scores: decisioning.Scores{Churn: 0.3, Propensity: 0.6}}
	if _, err := e.st.Commit(ctx, "", snap.SentToken, []decisioning.Decision{d}); err != nil {
		e.t.Fatal(err)
	}
	return d
}

// run starts a dispatcher on the channels and stops it at the end of the
// test.
func (e *env) run(chs map[string]dispatch.Channel, edit ...func(*dispatch.Options)) *dispatch.Dispatcher {
	e.t.Helper()
	ts, err := builtin.Templates(channels.Known{Features: e.set.Names()})
	if err != nil {
		e.t.Fatal(err)
	}
	opts := dispatch.Options{Consumer: "test", Channels: chs, Templates: ts, Set: e.set, Profiles: e.feats, Events: e.feats,
		Backoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Links: func(d *decisioning.Decision) channels.Links {
			return channels.Links{Unsubscribe: "https://k.example/t/u/" + d.ID, Open: "https://k.example/t/o/" + d.ID}
		}}
	for _, f := range edit {
		f(&opts)
	}
	d, err := dispatch.New(e.st, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("Run: %v", err)
		}
	})
	return d
}

// attempts drains the ledger queue and returns the dispatch records by
// decision id.
func (e *env) attempts() map[string][]ledger.Dispatch {
	e.t.Helper()
	out := map[string][]ledger.Dispatch{}
	es, err := e.st.ReadQueue(context.Background(), "t", 100_000, time.Hour, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, en := range es {
		for _, x := range en.Dispatches {
			out[x.DecisionID] = append(out[x.DecisionID], x)
		}
		if err := e.st.AckQueue(context.Background(), en.ID); err != nil {
			e.t.Fatal(err)
		}
	}
	return out
}

// statuses lists a decision's attempt statuses in order.
func statuses(xs []ledger.Dispatch) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf("%d:%s", x.Attempt, x.Status))
	}
	return strings.Join(s, ",")
}

// waitSettled waits until every decision has a final attempt recorded and
// returns the records.
func (e *env) waitSettled(ds ...decisioning.Decision) map[string][]ledger.Dispatch {
	e.t.Helper()
	all := map[string][]ledger.Dispatch{}
	deadline := time.Now().Add(10 * time.Second)
	for {
		for id, xs := range e.attempts() {
			all[id] = append(all[id], xs...)
		}
		done := true
		for _, d := range ds {
			xs := all[d.ID]
			if len(xs) == 0 || !decisioning.DispatchFinal(xs[len(xs)-1].Status) {
				done = false
			}
		}
		if done {
			return all
		}
		if time.Now().After(deadline) {
			for _, d := range ds {
				e.t.Logf("%s: %s", d.ID, statuses(all[d.ID]))
			}
			e.t.Fatal("messages not settled within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) snapshot(customer string) decisioning.Snapshot {
	e.t.Helper()
	snap, err := e.st.Load(context.Background(), customer, "", time.Now(), time.Now().Add(-24*time.Hour))
	if err != nil {
		e.t.Fatal(err)
	}
	return snap
}

func TestSendsRenderedMessagesOnce(t *testing.T) {
	e := newEnv(t)
	rec := newRecorder()
	var ds []decisioning.Decision
	for i := range 5 {
		id := fmt.Sprintf("c%d", i)
		e.customer(id)
		ds = append(ds, e.send(id, "email", time.Time{}))
	}
	e.run(map[string]dispatch.Channel{"email": {Transport: rec}})
	got := e.waitSettled(ds...)
	for _, d := range ds {
		if s := statuses(got[d.ID]); s != "1:sent" {
			t.Errorf("%s: attempts %s, want 1:sent", d.ID, s)
		}
		if got[d.ID][0].ProviderMessageID != "p-"+d.ID {
			t.Errorf("%s: provider id %q", d.ID, got[d.ID][0].ProviderMessageID)
		}
		ms := rec.delivered(d.ID)
		if len(ms) != 1 {
			t.Fatalf("%s delivered %d times, want 1", d.ID, len(ms))
		}
		m := ms[0]
		if m.To != d.CustomerID+"@example.com" || m.Subject == "" || !strings.Contains(m.Text, "Ada") ||
			m.UnsubscribeURL != "https://k.example/t/u/"+d.ID || !strings.Contains(m.HTML, `src="https://k.example/t/o/`+d.ID) {
			t.Errorf("message %+v: want the customer's address, a subject, the greeting, the unsubscribe URL and the open pixel", m)
		}
		// The send counts from when it was sent, not decided.
		snap := e.snapshot(d.CustomerID)
		if len(snap.Sent) != 1 || !snap.Sent[0].At.After(d.DecidedAt) {
			t.Errorf("%s: sends %+v, want one counted from the send time (after %v)", d.ID, snap.Sent, d.DecidedAt)
		}
		// message_delivered went through Track.
		p, err := e.feats.Profile(context.Background(), d.CustomerID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := p.Vector.Get("messages_delivered_30d"); v != 1 {
			t.Errorf("%s: messages_delivered_30d = %v, want 1", d.ID, v)
		}
	}
	if e.st.DispatchLen() != 0 {
		t.Errorf("%d jobs left in the queue", e.st.DispatchLen())
	}
}

func TestWaitsForSendAfter(t *testing.T) {
	e := newEnv(t)
	e.customer("c1")
	rec := newRecorder()
	at := time.Now().Add(400 * time.Millisecond)
	d := e.send("c1", "email", at)
	e.run(map[string]dispatch.Channel{"email": {Transport: rec}})
	time.Sleep(200 * time.Millisecond)
	if n := len(rec.delivered(d.ID)); n != 0 {
		t.Fatalf("sent %d times before send_after", n)
	}
	got := e.waitSettled(d)
	if s := statuses(got[d.ID]); s != "1:sent" {
		t.Errorf("attempts %s, want 1:sent", s)
	}
	if got[d.ID][0].At.Before(at) {
		t.Errorf("sent at %v, before send_after %v", got[d.ID][0].At, at)
	}
}

func TestRetriesTransientFailures(t *testing.T) {
	e := newEnv(t)
	e.customer("c1")
	rec := newRecorder()
	rec.fail = func(m *channels.Message, n int) error {
		if n <= 2 {
			return &channels.Error{Kind: channels.Transient, Code: "451", Err: errors.New("try later")}
		}
		return nil
	}
	d := e.send("c1", "email", time.Time{})
	e.run(map[string]dispatch.Channel{"email": {Transport: rec, MaxAttempts: 5}})
	got := e.waitSettled(d)
	if s := statuses(got[d.ID]); s != "1:failed,2:failed,3:sent" {
		t.Errorf("attempts %s, want 1:failed,2:failed,3:sent", s)
	}
	if n := len(rec.delivered(d.ID)); n != 1 {
		t.Errorf("delivered %d times", n)
	}
}

func TestHonoursRetryAfter(t *testing.T) {
	e := newEnv(t)
	e.customer("c1")
	rec := newRecorder()
	rec.fail = func(m *channels.Message, n int) error {
		if n == 1 {
			return &channels.Error{Kind: channels.Transient, Code: "429", RetryAfter: 600 * time.Millisecond, Err: errors.New("slow down")}
		}
		return nil
	}
	d := e.send("c1", "sms", time.Time{})
	e.run(map[string]dispatch.Channel{"sms": {Transport: rec}})
	got := e.waitSettled(d)
	xs := got[d.ID]
	if statuses(xs) != "1:failed,2:sent" {
		t.Fatalf("attempts %s", statuses(xs))
	}
	if gap := xs[1].At.Sub(xs[0].At); gap < 550*time.Millisecond {
		t.Errorf("retried %v after a 429 asking for 600ms", gap)
	}
}

func TestDeadLettersAfterMaxAttempts(t *testing.T) {
	e := newEnv(t)
	e.customer("c1")
	rec := newRecorder()
	rec.fail = func(*channels.Message, int) error {
		return &channels.Error{Kind: channels.Transient, Code: "503", Err: errors.New("service unavailable")}
	}
	d := e.send("c1", "push", time.Time{})
	e.run(map[string]dispatch.Channel{"push": {Transport: rec, MaxAttempts: 3}})
	got := e.waitSettled(d)
	if s := statuses(got[d.ID]); s != "1:failed,2:failed,3:dead" {
		t.Errorf("attempts %s, want 1:failed,2:failed,3:dead", s)
	}
	if last := got[d.ID][2].Error; !strings.Contains(last, "gave up after 3 attempts") || !strings.Contains(last, "service unavailable") {
		t.Errorf("dead letter error %q: want the attempts and the last error", last)
	}
	st, err := e.st.DispatchStatus(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if st.DeadLetters != 1 || len(st.Dead) != 1 || st.Dead[0].DecisionID != d.ID || st.Dead[0].Attempts != 3 {
		t.Errorf("status %+v: want the dead letter", st)
	}
	if st.Totals["push"]["failed"] != 2 || st.Totals["push"]["dead"] != 1 {
		t.Errorf("totals %v", st.Totals)
	}
	// Never sent: it no longer counts in the caps.
	if snap := e.snapshot("c1"); len(snap.Sent) != 0 {
		t.Errorf("sends %+v after a dead letter, want none", snap.Sent)
	}
}

func TestBounceMarksTheChannelUnreachable(t *testing.T) {
	e := newEnv(t)
	e.customer("c1")
	rec := newRecorder()
	rec.fail = func(*channels.Message, int) error {
		return &channels.Error{Kind: channels.Permanent, Code: "550", Err: errors.New("no such user")}
	}
	d := e.send("c1", "email", time.Time{})
	e.run(map[string]dispatch.Channel{"email": {Transport: rec}})
	got := e.waitSettled(d)
	if s := statuses(got[d.ID]); s != "1:bounced" {
		t.Errorf("attempts %s, want 1:bounced", s)
	}
	snap := e.snapshot("c1")
	if snap.Unreachable["email"] != "c1@example.com" || len(snap.Sent) != 0 {
		t.Errorf("snapshot unreachable %v, sends %v: want email unreachable at c1@example.com and no send", snap.Unreachable, snap.Sent)
	}
	p, _ := e.feats.Profile(context.Background(), "c1", time.Now())
	if p.UpdatedAt.IsZero() {
		t.Fatal("no profile")
	}
}

func TestInvalidMessageBlamesNoAddress(t *testing.T) {
	e := newEnv(t)
	e.customer("c1")
	rec := newRecorder()
	rec.fail = func(*channels.Message, int) error {
		return &channels.Error{Kind: channels.Invalid, Code: "554", Err: errors.New("content rejected")}
	}
	d := e.send("c1", "email", time.Time{})
	noLane := e.send("c1", "webhook", time.Time{})
	e.run(map[string]dispatch.Channel{"email": {Transport: rec}})
	got := e.waitSettled(d, noLane)
	if s := statuses(got[d.ID]); s != "1:invalid" {
		t.Errorf("attempts %s, want 1:invalid", s)
	}
	if s, msg := statuses(got[noLane.ID]), got[noLane.ID][0].Error; s != "1:invalid" || !strings.Contains(msg, "no transport is configured for channel \"webhook\"") {
		t.Errorf("webhook without a transport: %s %q", s, msg)
	}
	if snap := e.snapshot("c1"); len(snap.Unreachable) != 0 {
		t.Errorf("unreachable %v after an invalid message, want none", snap.Unreachable)
	}
}

func TestCancelsWhenConsentWasWithdrawn(t *testing.T) {
	e := newEnv(t)
	e.customer("c1")
	rec := newRecorder()
	d := e.send("c1", "sms", time.Time{})
	e.customer("c1", func(c *features.Customer) { c.Consents["sms"] = false })
	e.run(map[string]dispatch.Channel{"sms": {Transport: rec}})
	got := e.waitSettled(d)
	if s := statuses(got[d.ID]); s != "1:cancelled" || !strings.Contains(got[d.ID][0].Error, "no_consent") {
		t.Errorf("attempts %s (%q), want 1:cancelled for no_consent", s, got[d.ID][0].Error)
	}
	if rec.calls.Load() != 0 {
		t.Errorf("the transport was called %d times", rec.calls.Load())
	}
}

func TestConcurrencyAndRateLimits(t *testing.T) {
	e := newEnv(t)
	rec := newRecorder()
	rec.delay = 20 * time.Millisecond
	var ds []decisioning.Decision
	for i := range 30 {
		id := fmt.Sprintf("c%d", i)
		e.customer(id)
		ds = append(ds, e.send(id, "email", time.Time{}))
	}
	start := time.Now()
	e.run(map[string]dispatch.Channel{"email": {Transport: rec, Concurrency: 3, Rate: 40, Burst: 1}})
	e.waitSettled(ds...)
	elapsed := time.Since(start)
	if m := rec.maxIn.Load(); m > 3 {
		t.Errorf("%d sends in flight at once, want at most 3", m)
	}
	// 30 messages at 40/s with a burst of 1 take at least 29/40 s.
	if elapsed < 700*time.Millisecond {
		t.Errorf("30 messages at 40/s took %v, want at least 725ms", elapsed)
	}
}

func TestInterruptedAttempt(t *testing.T) {
	for _, idempotent := range []bool{false, true} {
		t.Run(fmt.Sprintf("idempotent=%v", idempotent), func(t *testing.T) {
			e := newEnv(t)
			e.customer("c1")
			d := e.send("c1", "email", time.Time{})
			// A dispatcher that began the attempt and died: its lease
			// ended.
			ctx := context.Background()
			jobs, err := e.st.NextDispatches(ctx, "dead", 10, time.Hour, 0)
			if err != nil || len(jobs) != 1 {
				t.Fatalf("NextDispatches: %v, %v", jobs, err)
			}
			now := time.Now()
			if r, err := e.st.Begin(ctx, &jobs[0], now, now.Add(10*time.Millisecond)); err != nil || r != decisioning.Begun {
				t.Fatalf("Begin: %v, %v", r, err)
			}
			time.Sleep(20 * time.Millisecond)
			rec := newRecorder()
			e.run(map[string]dispatch.Channel{"email": {Transport: rec, Idempotent: idempotent, Timeout: 10 * time.Millisecond}}, func(o *dispatch.Options) {
				o.ClaimIdle, o.LeaseMargin = 30*time.Millisecond, 10*time.Millisecond
				o.Backoff = time.Millisecond
			})
			got := e.waitSettled(d)
			want, sends := "1:unknown", 0
			if idempotent {
				want, sends = "1:interrupted,2:sent", 1
			}
			if s := statuses(got[d.ID]); s != want {
				t.Errorf("attempts %s, want %s", s, want)
			}
			if n := len(rec.delivered(d.ID)); n != sends {
				t.Errorf("sent %d times, want %d", n, sends)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 10: time.Minute, 200: time.Minute} {
		for range 100 {
			got := dispatch.Backoff(time.Second, time.Minute, n)
			if got < want/2 || got > want {
				t.Fatalf("Backoff(1s, 1m, %d) = %v, want within [%v, %v]", n, got, want/2, want)
			}
		}
	}
}

// TestAmbiguousFailure: a provider call whose answer was lost after the
// request went out is never retried where the provider cannot
// deduplicate (it may have been delivered: unknown), and retried under
// the same id where it can.
func TestAmbiguousFailure(t *testing.T) {
	for _, idempotent := range []bool{false, true} {
		t.Run(fmt.Sprintf("idempotent=%v", idempotent), func(t *testing.T) {
			e := newEnv(t)
			e.customer("c1")
			rec := newRecorder()
			rec.fail = func(m *channels.Message, n int) error {
				if n == 1 {
					return &channels.Error{Kind: channels.Ambiguous, Err: errors.New("timeout awaiting the answer")}
				}
				return nil
			}
			d := e.send("c1", "push", time.Time{})
			e.run(map[string]dispatch.Channel{"push": {Transport: rec, Idempotent: idempotent}})
			got := e.waitSettled(d)
			want := "1:unknown"
			if idempotent {
				want = "1:failed,2:sent"
			}
			if s := statuses(got[d.ID]); s != want {
				t.Errorf("attempts %s, want %s", s, want)
			}
			if n := rec.calls.Load(); idempotent && n != 2 || !idempotent && n != 1 {
				t.Errorf("%d provider calls", n)
			}
			// An unknown message may have been delivered: it keeps its
			// place in the caps.
			if snap := e.snapshot("c1"); !idempotent && len(snap.Sent) != 1 {
				t.Errorf("sends %v after unknown, want the message kept", snap.Sent)
			}
		})
	}
}

// TestSlowChannelDoesNotHoldUpOthers: a channel whose workers are busy
// does not delay the messages of another.
func TestSlowChannelDoesNotHoldUpOthers(t *testing.T) {
	e := newEnv(t)
	slow, fast := newRecorder(), newRecorder()
	slow.delay = 200 * time.Millisecond
	var ds []decisioning.Decision
	for i := range 40 {
		id := fmt.Sprintf("s%d", i)
		e.customer(id)
		ds = append(ds, e.send(id, "email", time.Time{}))
	}
	e.customer("f1")
	pushed := e.send("f1", "push", time.Time{})
	start := time.Now()
	e.run(map[string]dispatch.Channel{"email": {Transport: slow, Concurrency: 1}, "push": {Transport: fast}})
	e.waitSettled(pushed)
	if took := time.Since(start); took > time.Second {
		t.Errorf("the push message waited %v behind 40 slow emails", took)
	}
}

// limiter is a Limiter that answers with wait, or fails while down.
type limiter struct {
	calls atomic.Int64
	wait  time.Duration
	down  atomic.Bool
}

func (l *limiter) Reserve(ctx context.Context, name string, rate float64, burst int) (time.Duration, error) {
	l.calls.Add(1)
	if l.down.Load() {
		return 0, errors.New("redis: connection refused")
	}
	return l.wait, nil
}

// TestSharedRateLimit: with a shared limiter every send takes its slot
// from it; while it fails, the instance's own bucket limits the rate.
func TestSharedRateLimit(t *testing.T) {
	for _, down := range []bool{false, true} {
		t.Run(fmt.Sprintf("down=%v", down), func(t *testing.T) {
			e := newEnv(t)
			rec := newRecorder()
			lim := &limiter{wait: 50 * time.Millisecond}
			lim.down.Store(down)
			var ds []decisioning.Decision
			for i := range 10 {
				id := fmt.Sprintf("c%d", i)
				e.customer(id)
				ds = append(ds, e.send(id, "sms", time.Time{}))
			}
			// Up, the limiter's 50 ms a send is the limit (the rate alone
			// would allow 10 sends in 10 ms); down, the rate of 20/s is.
			rate := 1000.0
			if down {
				rate = 20
			}
			start := time.Now()
			e.run(map[string]dispatch.Channel{"sms": {Transport: rec, Concurrency: 1, Rate: rate, Burst: 1}}, func(o *dispatch.Options) {
				o.Limiter = lim
			})
			e.waitSettled(ds...)
			took := time.Since(start)
			if got := lim.calls.Load(); got < 10 {
				t.Errorf("the limiter was asked %d times for 10 sends", got)
			}
			if took < 420*time.Millisecond {
				t.Errorf("10 sends took %v, want at least 450 ms", took)
			}
			if n := len(rec.sent); n != 10 {
				t.Errorf("%d messages sent, want 10", n)
			}
		})
	}
}

// TestExpiredMessageIsCancelled: a message older than its channel's
// max_age when its time comes is cancelled, not sent late.
func TestExpiredMessageIsCancelled(t *testing.T) {
	e := newEnv(t)
	e.customer("c1")
	rec := newRecorder()
	d := e.send("c1", "email", time.Time{})
	e.run(map[string]dispatch.Channel{"email": {Transport: rec, MaxAge: time.Hour}}, func(o *dispatch.Options) {
		o.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	})
	got := e.waitSettled(d)
	if s := statuses(got[d.ID]); s != "1:cancelled" || !strings.Contains(got[d.ID][0].Error, "expired") {
		t.Errorf("attempts %s (%q), want 1:cancelled as expired", s, got[d.ID][0].Error)
	}
	if rec.calls.Load() != 0 {
		t.Errorf("the transport was called %d times", rec.calls.Load())
	}
}

// TestQueueGauges: the dispatcher samples the queue into /metrics.
func TestQueueGauges(t *testing.T) {
	e := newEnv(t)
	e.customer("c1")
	at := time.Now().Add(time.Hour)
	e.send("c1", "email", at) // waits: scheduled
	reg := prometheus.NewRegistry()
	e.run(map[string]dispatch.Channel{"email": {Transport: newRecorder()}}, func(o *dispatch.Options) { o.Registerer = reg })
	deadline := time.Now().Add(5 * time.Second)
	for {
		ready, _ := prom.Value(reg, "kairos_dispatch_queue_messages", map[string]string{"state": "ready"})
		inFlight, _ := prom.Value(reg, "kairos_dispatch_queue_messages", map[string]string{"state": "in_flight"})
		scheduled, _ := prom.Value(reg, "kairos_dispatch_queue_messages", map[string]string{"state": "scheduled"})
		if ready+inFlight+scheduled == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue gauges ready %v, in flight %v, scheduled %v; want the one message", ready, inFlight, scheduled)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok := prom.Value(reg, "kairos_dispatch_dead_letters", nil); !ok {
		t.Error("no kairos_dispatch_dead_letters gauge")
	}
}
