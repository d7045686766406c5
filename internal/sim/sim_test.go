package sim

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata"

	"kairos/features"
)

// record is the part of an event the tests look at.
type record struct {
	t        int64 // unix ms
	cust     int32
	typ      string
	page     string
	product  string
	campaign string
	channel  string
	decision string
	reason   string
	plan     string
	amount   float64
	price    float64
	attempt  float64
}

// recorder is a Sink that checks every call as it comes and keeps a
// compact copy of the stream.
type recorder struct {
	set      *features.Set
	now      time.Time
	prefix   string
	index    map[string]int32 // customer id -> index
	records  map[string]features.Customer
	seq      map[string]int
	evs      []record
	last     features.Event
	problems []string
	nProblem int
	dayCalls int
}

func newRecorder(seed uint64, end time.Time) *recorder {
	return &recorder{set: features.Default(), now: end, prefix: "s" + strconv.FormatUint(seed, 10) + "-",
		index: map[string]int32{}, records: map[string]features.Customer{}, seq: map[string]int{}}
}

func (r *recorder) problem(format string, args ...any) {
	r.nProblem++
	if len(r.problems) < 20 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

func (r *recorder) Customers(_ context.Context, cs []features.Customer) error {
	for _, c := range cs {
		if err := features.ValidateCustomer(&c); err != nil {
			r.problem("customer %s: %v", c.ID, err)
		}
		if _, ok := r.index[c.ID]; !ok {
			r.index[c.ID] = int32(len(r.index))
		}
		r.records[c.ID] = c
	}
	return nil
}

func (r *recorder) Events(_ context.Context, evs []features.Event) error {
	r.dayCalls++
	for i := range evs {
		e := evs[i]
		if e.Time.IsZero() {
			r.problem("event %s has no time", e.ID)
		}
		if err := r.set.ValidateEvent(&e, r.now); err != nil {
			r.problem("event %s (%s): %v", e.ID, e.Type, err)
		}
		idx, ok := r.index[e.CustomerID]
		if !ok {
			r.problem("event %s of customer %s before the customer's record", e.ID, e.CustomerID)
		}
		if r.last.ID != "" {
			if c := features.CompareEvents(r.last, e); c >= 0 {
				r.problem("event %s at %s after %s at %s: not sorted by (Time, CustomerID, ID)", e.ID, e.Time, r.last.ID, r.last.Time)
			}
		}
		r.last = e
		want := r.prefix + e.CustomerID + "-"
		seq, err := strconv.Atoi(strings.TrimPrefix(e.ID, want))
		if !strings.HasPrefix(e.ID, want) || err != nil || len(e.ID)-len(want) < 6 {
			r.problem("event id %q is not %s<6-digit sequence>", e.ID, want)
		}
		if seq != r.seq[e.CustomerID]+1 {
			r.problem("event id %q: sequence %d after %d", e.ID, seq, r.seq[e.CustomerID])
		}
		r.seq[e.CustomerID] = seq
		p := e.Properties
		str := func(k string) string { return p[k].Str }
		r.evs = append(r.evs, record{
			t: e.Time.UnixMilli(), cust: idx, typ: e.Type, page: str("page"), product: str("product_id"),
			campaign: str("campaign"), channel: str("channel"), decision: str("decision_id"), reason: str("reason"),
			plan: str("plan"), amount: p["amount"].Num, price: p["plan_price"].Num, attempt: p["attempt"].Num,
		})
	}
	return nil
}

// run is one recorded simulation.
type run struct {
	cfg Config
	w   *World
	res *Result
	rec *recorder
	// byCust are the indices into rec.evs of each customer's events.
	byCust [][]int
}

func (r *run) customer(id string) int32 { return r.rec.index[id] }

var testEnd = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)

func simulate(cfg Config) (*run, error) {
	w, err := New(cfg)
	if err != nil {
		return nil, err
	}
	rec := newRecorder(cfg.Seed, cfg.End)
	res, err := w.Run(context.Background(), rec, nil)
	if err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, w: w, res: res, rec: rec, byCust: make([][]int, len(rec.index))}
	for i, e := range rec.evs {
		r.byCust[e.cust] = append(r.byCust[e.cust], i)
	}
	return r, nil
}

// sharedRun is the run most tests look at: big enough for the statistics,
// small enough for go test -race.
var sharedRun = sync.OnceValues(func() (*run, error) {
	return simulate(Config{Customers: 4000, Days: 60, Seed: 11, End: testEnd})
})

func shared(t *testing.T) *run {
	t.Helper()
	r, err := sharedRun()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestStreamValid(t *testing.T) {
	r := shared(t)
	if r.rec.nProblem > 0 {
		t.Errorf("%d problems in the stream, the first:\n%s", r.rec.nProblem, strings.Join(r.rec.problems, "\n"))
	}
	if r.rec.dayCalls != r.cfg.Days {
		t.Errorf("Events called %d times, want once per day (%d)", r.rec.dayCalls, r.cfg.Days)
	}
	if got := int64(len(r.rec.evs)); got != r.res.Events {
		t.Errorf("sink got %d events, Result.Events = %d", got, r.res.Events)
	}
	var byType, byDate int64
	for _, n := range r.res.ByType {
		byType += n
	}
	for _, n := range r.res.ByDate {
		byDate += n
	}
	if byType != r.res.Events || byDate != r.res.Events || len(r.res.ByDate) != r.cfg.Days {
		t.Errorf("ByType sums to %d, ByDate to %d over %d dates; want %d events over %d days", byType, byDate, len(r.res.ByDate), r.res.Events, r.cfg.Days)
	}
	for _, typ := range features.StandardTypes {
		if typ == "message_bounced" || typ == "segment_entered" || typ == "segment_exited" {
			continue // the simulated addresses are all valid; Kairos emits the segments'
		}
		if r.res.ByType[typ] == 0 {
			t.Errorf("no %s event", typ)
		}
	}
	perDay := float64(r.res.Events) / float64(r.cfg.Customers*r.cfg.Days)
	if perDay < 2.8 || perDay > 4.4 {
		t.Errorf("%.2f events per customer-day, want 2.8 to 4.4 (5-8 million for 20,000 customers over 90 days)", perDay)
	}
	if len(r.rec.records) != r.cfg.Customers || len(r.res.Records) != r.cfg.Customers || len(r.res.Traits) != r.cfg.Customers {
		t.Errorf("%d records sent, %d in Result, %d traits; want %d", len(r.rec.records), len(r.res.Records), len(r.res.Traits), r.cfg.Customers)
	}
	for _, c := range r.res.Records {
		if got := r.rec.records[c.ID]; !equalCustomer(got, c) {
			t.Errorf("last record sent of %s = %+v, Result has %+v", c.ID, got, c)
		}
		if len(c.Consents) == 0 || c.Timezone == "" || c.Attributes["signup_date"] == "" {
			t.Errorf("record %+v lacks consents, time zone or signup date", c)
		}
	}
}

func equalCustomer(a, b features.Customer) bool {
	return a.ID == b.ID && a.Email == b.Email && a.Phone == b.Phone && a.PushToken == b.PushToken &&
		a.Timezone == b.Timezone && maps.Equal(a.Consents, b.Consents) && maps.Equal(a.Attributes, b.Attributes)
}

// TestUnsubscribeRevokesConsent: every unsubscribe is reflected in the
// customer's record, sent to the sink.
func TestUnsubscribeRevokesConsent(t *testing.T) {
	r := shared(t)
	ids := make([]string, len(r.rec.index))
	for id, i := range r.rec.index {
		ids[i] = id
	}
	n := 0
	for _, e := range r.rec.evs {
		if e.typ != "unsubscribed" {
			continue
		}
		n++
		if rec := r.rec.records[ids[e.cust]]; rec.Consents[e.channel] {
			t.Errorf("%s unsubscribed from %s at %d, but the record sent last has consent %v", ids[e.cust], e.channel, e.t, rec.Consents)
		}
	}
	if n == 0 {
		t.Error("no unsubscribes")
	}
}

func TestLifecycleOrder(t *testing.T) {
	r := shared(t)
	cancelled := 0
	for ci, idx := range r.byCust {
		var lastFailure, lastPricing int64 = -1, -1
		tr := &r.res.Traits[ci]
		for k, i := range idx {
			e := &r.rec.evs[i]
			switch e.typ {
			case "payment_failed":
				lastFailure = e.t
			case "page_view":
				if e.page == "pricing" {
					lastPricing = e.t
				}
			case "subscription_cancelled":
				cancelled++
				if k != len(idx)-1 {
					t.Errorf("%s: %d events after subscription_cancelled", tr.CustomerID, len(idx)-1-k)
				}
				if tr.ChurnedAt.UnixMilli() != e.t || tr.ChurnReason != e.reason {
					t.Errorf("%s: cancelled at %d (%s), traits say %s (%s)", tr.CustomerID, e.t, e.reason, tr.ChurnedAt, tr.ChurnReason)
				}
				if e.reason == "payment_failed" && (lastFailure < 0 || e.t-lastFailure > 3*hourMs) {
					t.Errorf("%s: cancelled for payment_failed at %d, last payment failure at %d", tr.CustomerID, e.t, lastFailure)
				}
			case "subscription_started":
				if e.plan == "free" {
					if tr.Existing || k != 0 || e.t != tr.SignupAt.UnixMilli() {
						t.Errorf("%s: signup (plan free) as event %d at %d; traits: existing %v, signup %s", tr.CustomerID, k, e.t, tr.Existing, tr.SignupAt)
					}
					continue
				}
				if lastPricing < 0 || e.t-lastPricing > 7*dayMs+10*minuteMs {
					t.Errorf("%s: upgrade to %s at %d, last pricing page view at %d", tr.CustomerID, e.plan, e.t, lastPricing)
				}
			}
		}
		if !tr.ChurnedAt.IsZero() && (len(idx) == 0 || r.rec.evs[idx[len(idx)-1]].typ != "subscription_cancelled") && tr.ChurnedAt.UnixMilli() >= r.w.start {
			t.Errorf("%s churned at %s without a subscription_cancelled as the last event", tr.CustomerID, tr.ChurnedAt)
		}
	}
	if cancelled != r.res.Churned || cancelled == 0 {
		t.Errorf("%d subscription_cancelled events, Result.Churned = %d", cancelled, r.res.Churned)
	}
}

func TestDailyRhythm(t *testing.T) {
	r := shared(t)
	locs := map[string]*time.Location{}
	ids := make([]string, len(r.rec.index))
	for id, i := range r.rec.index {
		ids[i] = id
	}
	var hours [24]int
	for _, e := range r.rec.evs {
		if e.typ != "session_start" {
			continue
		}
		tz := r.rec.records[ids[e.cust]].Timezone
		loc := locs[tz]
		if loc == nil {
			var err error
			if loc, err = time.LoadLocation(tz); err != nil {
				t.Fatal(err)
			}
			locs[tz] = loc
		}
		hours[time.UnixMilli(e.t).In(loc).Hour()]++
	}
	peak := 0
	for h, n := range hours {
		if n > hours[peak] {
			peak = h
		}
	}
	if peak < 9 || peak > 22 {
		t.Errorf("sessions peak at local hour %d, want daytime (9-22); histogram %v", peak, hours)
	}
	if night := hours[3] + hours[4]; float64(night) > 0.2*float64(hours[peak]) {
		t.Errorf("%d sessions at 3-5 local time vs %d at the peak; want few at night", night, hours[peak])
	}
	if len(locs) < 10 {
		t.Errorf("customers in %d time zones, want the 12 of the model", len(locs))
	}
}

// digest hashes everything a run sends to its sink, and its truth.
type digest struct {
	h hash.Hash
}

func (d *digest) Customers(_ context.Context, cs []features.Customer) error {
	for _, c := range cs {
		b, _ := json.Marshal(c)
		d.h.Write(b)
	}
	return nil
}

func (d *digest) Events(_ context.Context, evs []features.Event) error {
	for _, e := range evs {
		fmt.Fprintf(d.h, "%s|%s|%s|%d|", e.ID, e.CustomerID, e.Type, e.Time.UnixNano())
		for _, k := range slices.Sorted(maps.Keys(e.Properties)) {
			fmt.Fprintf(d.h, "%s=%v;", k, e.Properties[k])
		}
	}
	return nil
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Customers: 300, Days: 20, Seed: 5, End: testEnd}
	sum := func(procs int) string {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		d := &digest{h: sha256.New()}
		res, err := w.Run(t.Context(), d, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(res.Truth)
		d.h.Write(b)
		b, _ = json.Marshal(res.Decisions)
		d.h.Write(b)
		return fmt.Sprintf("%x (%d events)", d.h.Sum(nil), res.Events)
	}
	one, two, again := sum(1), sum(2), sum(4)
	if one != two || one != again {
		t.Errorf("runs differ: GOMAXPROCS 1: %s, 2: %s, 4: %s", one, two, again)
	}
	cfg.Seed = 6
	if other := sum(2); other == two {
		t.Error("another seed gave the same world")
	}
}

func TestConfigErrors(t *testing.T) {
	ok := Config{Customers: 10, Days: 5, Seed: 1, End: testEnd}
	tests := []struct {
		name  string
		edit  func(*Config)
		field string
		rule  string
	}{
		{"no customers", func(c *Config) { c.Customers = 0 }, "Customers", "must be 1 to"},
		{"too many customers", func(c *Config) { c.Customers = MaxCustomers + 1 }, "Customers", "must be 1 to"},
		{"no days", func(c *Config) { c.Days = 0 }, "Days", "must be 1 to"},
		{"no end", func(c *Config) { c.End = time.Time{} }, "End", "is required"},
		{"end not midnight", func(c *Config) { c.End = testEnd.Add(time.Hour) }, "End", "must be a UTC midnight"},
		{"end local midnight", func(c *Config) { c.End = time.Date(2026, 2, 1, 0, 0, 0, 0, time.FixedZone("x", 3600)) }, "End", "must be a UTC midnight"},
		{"too early", func(c *Config) { c.End = time.Date(2005, 1, 3, 0, 0, 0, 0, time.UTC) }, "End", "on or after 2005-01-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			_, err := New(cfg)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field || !strings.Contains(ce.Rule, tt.rule) {
				t.Fatalf("New = %v, want a ConfigError on %s saying %q", err, tt.field, tt.rule)
			}
			if !strings.HasPrefix(err.Error(), "sim: Config."+tt.field+": ") {
				t.Errorf("error %q does not name the field", err)
			}
		})
	}
	if _, err := New(ok); err != nil {
		t.Errorf("New(%+v) = %v", ok, err)
	}
}

// policyFunc adapts a function to Policy.
type policyFunc func(ctx context.Context, p DecisionPoint) (Arm, error)

func (f policyFunc) Choose(ctx context.Context, p DecisionPoint) (Arm, error) { return f(ctx, p) }

func TestPolicies(t *testing.T) {
	cfg := Config{Customers: 200, Days: 10, Seed: 3, End: testEnd}
	var w *World
	tests := []struct {
		name   string
		policy policyFunc
		want   string // error substring; "" for none
	}{
		{"always none", func(_ context.Context, p DecisionPoint) (Arm, error) { return p.Arms[len(p.Arms)-1], nil }, ""},
		{"delivers itself", func(_ context.Context, p DecisionPoint) (Arm, error) {
			a := p.Arms[0]
			return a, w.Deliver(Message{DecisionID: p.DecisionID, CustomerID: p.CustomerID, Campaign: p.Campaign, Channel: a.Channel, Offer: a.Offer, At: p.At})
		}, ""},
		{"delivers one, chooses another", func(_ context.Context, p DecisionPoint) (Arm, error) {
			a := p.Arms[0]
			if err := w.Deliver(Message{DecisionID: p.DecisionID, CustomerID: p.CustomerID, Campaign: p.Campaign, Channel: a.Channel, Offer: a.Offer}); err != nil {
				return Arm{}, err
			}
			return p.Arms[1], nil
		}, "delivered"},
		{"unknown arm", func(_ context.Context, p DecisionPoint) (Arm, error) {
			return Arm{Channel: "pigeon", Offer: "none"}, nil
		}, "not an arm of campaign"},
		{"policy fails", func(_ context.Context, p DecisionPoint) (Arm, error) { return Arm{}, errors.New("bandit down") }, "bandit down"},
		{"wrong customer", func(_ context.Context, p DecisionPoint) (Arm, error) {
			return p.Arms[0], w.Deliver(Message{DecisionID: p.DecisionID, CustomerID: "c999999", Campaign: p.Campaign, Channel: p.Arms[0].Channel, Offer: p.Arms[0].Offer})
		}, "customer_id"},
		{"deliver none", func(_ context.Context, p DecisionPoint) (Arm, error) {
			return p.Arms[0], w.Deliver(Message{DecisionID: p.DecisionID, CustomerID: p.CustomerID, Campaign: p.Campaign, Channel: "none", Offer: "none"})
		}, "not a message arm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg.Policy = tt.policy
			var err error
			if w, err = New(cfg); err != nil {
				t.Fatal(err)
			}
			res, err := w.Run(t.Context(), &digest{h: sha256.New()}, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Decisions) == 0 {
					t.Fatal("no decisions")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, want an error saying %q", err, tt.want)
			}
		})
	}
	if err := w.Deliver(Message{DecisionID: "s3-c000001-d0001"}); err == nil || !strings.Contains(err.Error(), "no decision point awaits") {
		t.Errorf("Deliver outside Run = %v, want an error", err)
	}
	if _, err := w.Run(t.Context(), &digest{h: sha256.New()}, nil); err == nil {
		t.Error("a second Run = nil error")
	}
}

// failSink fails on the n-th call of Events.
type failSink struct{ n int }

func (f *failSink) Customers(context.Context, []features.Customer) error { return nil }
func (f *failSink) Events(context.Context, []features.Event) error {
	if f.n--; f.n == 0 {
		return errors.New("disk full")
	}
	return nil
}

func TestSinkError(t *testing.T) {
	w, err := New(Config{Customers: 100, Days: 10, Seed: 1, End: testEnd})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Run(t.Context(), &failSink{n: 3}, nil); err == nil || err.Error() != "disk full" {
		t.Errorf("Run = %v, want the sink's error", err)
	}
	w, _ = New(Config{Customers: 100, Days: 10, Seed: 1, End: testEnd})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := w.Run(ctx, &failSink{}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context = %v, want context.Canceled", err)
	}
}

func BenchmarkGenerate(b *testing.B) {
	cfg := Config{Customers: 2000, Days: 30, Seed: 7, End: testEnd}
	var events int64
	b.ReportAllocs()
	for b.Loop() {
		w, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		res, err := w.Run(b.Context(), discard{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		events += res.Events
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
}

type discard struct{}

func (discard) Customers(context.Context, []features.Customer) error { return nil }
func (discard) Events(context.Context, []features.Event) error       { return nil }
