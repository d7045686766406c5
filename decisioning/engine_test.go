package decisioning_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kairos/decisioning"
	"kairos/decisioning/memstate"
	"kairos/decisioning/redisstate"
	"kairos/features"
	"kairos/features/memstore"
	"kairos/features/redisstore"
	"kairos/internal/redistest"
	"kairos/ledger"
	"kairos/models"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// testConfig has two campaigns with every kind of arm, caps and quiet
// hours, no holdouts (tests that need them set their own).
const testConfig = `
global: {control_group: 0%, salt: g,
         caps: [{channel: any, max: 2, per: 7d}, {channel: sms, max: 1, per: 7d}],
         quiet_hours: {from: "21:00", to: "08:00"}}
campaigns:
  - name: cart
    holdout: 0%
    salt: c1
    arms:
      - {channel: email, offer: reminder}
      - {channel: sms, offer: reminder, cost: 0.04}
      - {channel: push, offer: reminder}
      - {channel: inapp, offer: reminder}
      - {channel: none}
    reward: {event: purchase, within: 72h, value: amount}
    policy: {kind: thompson, epsilon: 0.2}
    cooldown: 24h
  - name: winback
    holdout: 0%
    salt: w1
    arms:
      - {channel: email, offer: discount_10}
      - {channel: push, offer: reminder}
      - {channel: none}
    reward: {event: session_start, within: 7d, value: 1}
    policy: {kind: linear_thompson, context: [churn, propensity, sessions_7d], epsilon: 0.1}
    caps: [{channel: any, max: 1, per: 30d}]
`

// scorer is a fixed Scorer: the real registry is tested in models and
// through kairos serve.
type scorer struct {
	churn, propensity float64
	missing           bool
}

func (s scorer) Score(vec features.Vector, out *models.Scores) {
	out.Churn, out.Propensity = s.churn, s.propensity
	out.NBA, out.Classes = []float64{0.7, 0.3}, []string{"books", "games"}
	out.Versions = [3]string{"churn@t1", "propensity@t1", "nba@t1"}
	if s.missing {
		out.Churn, out.Versions[0] = math.NaN(), ""
	}
}

// backend is one implementation of the decision state with its feature
// store.
type backend struct {
	name  string
	feats features.Store
	evlog features.EventLog
	state decisioning.State
	pols  decisioning.PolicyStore
	wins  decisioning.Windows
	queue ledger.Queue
	dlen  func() int
}

func backends(t *testing.T, set *features.Set, lookback time.Duration) []func(t *testing.T) backend {
	return []func(t *testing.T) backend{
		func(t *testing.T) backend {
			ms := memstore.New(set, memstore.Options{})
			st := memstate.New(ms, memstate.Options{Lookback: lookback})
			return backend{"memory", ms, ms, st, st, st, st, st.DispatchLen}
		},
		func(t *testing.T) backend {
			srv := redistest.Start(t)
			rs := redisstore.New(srv.Client(t), set, redisstore.Options{})
			st := redisstate.New(rs, redisstate.Options{Lookback: lookback})
			return backend{"redis", rs, rs, st, st, st, st, func() int {
				n, err := st.DispatchLen(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				return int(n)
			}}
		},
	}
}

// forEach runs f against every backend.
func forEach(t *testing.T, f func(t *testing.T, h *harness)) {
	forEachConfig(t, testConfig, f)
}

// forEachConfig is forEach with another campaign configuration.
func forEachConfig(t *testing.T, yaml string, f func(t *testing.T, h *harness)) {
	set := features.Default()
	cfg, err := decisioning.ParseConfig("test.yaml", []byte(yaml), set)
	if err != nil {
		t.Fatal(err)
	}
	for i, mk := range backends(t, set, cfg.Lookback()) {
		name := []string{"memory", "redis"}[i]
		t.Run(name, func(t *testing.T) {
			b := mk(t)
			f(t, newHarness(t, b, set, cfg, scorer{churn: 0.2, propensity: 0.4}))
		})
	}
}

// harness is an engine on a backend with a settable clock.
type harness struct {
	t      *testing.T
	b      backend
	set    *features.Set
	cfg    *decisioning.Config
	engine *decisioning.Engine
	mu     sync.Mutex
	now    time.Time
	u      float64
}

func newHarness(t *testing.T, b backend, set *features.Set, cfg *decisioning.Config, sc decisioning.Scorer) *harness {
	h := &harness{t: t, b: b, set: set, cfg: cfg, now: time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC), u: 0.5}
	e, err := decisioning.New(decisioning.Options{
		Config: cfg, Set: set, State: b.state, Scorer: sc, Policies: b.pols,
		Registerer: prometheus.NewRegistry(), Now: h.clock, Uniform: h.uniform, Deadline: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.engine = e
	return h
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *harness) uniform(*decisioning.Decision) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.u
}

func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	h.now = h.now.Add(d)
	h.mu.Unlock()
}

func (h *harness) customer(c features.Customer) {
	h.t.Helper()
	if err := h.b.feats.UpsertCustomer(context.Background(), c, h.clock()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) decide(id string, campaigns ...string) *decisioning.Decision {
	h.t.Helper()
	d, err := h.engine.Decide(context.Background(), decisioning.Request{CustomerID: id, Campaigns: campaigns})
	if err != nil {
		h.t.Fatalf("Decide(%s, %v): %v", id, campaigns, err)
	}
	return d
}

// reachable is a customer every channel can reach, in UTC.
func reachable(id string) features.Customer {
	return features.Customer{ID: id, Email: id + "@example.com", Phone: "+14155550123", PushToken: "tok-" + id,
		Timezone: "UTC", Consents: map[string]bool{"email": true, "sms": true, "push": true}}
}

// eligibleArms returns "channel/offer" of the arms with probability > 0.
func eligibleArms(d *decisioning.Decision) []string {
	var out []string
	for _, a := range d.Arms {
		if a.Probability > 0 && a.Channel != decisioning.ChannelNone {
			out = append(out, a.Channel+"/"+a.Offer)
		}
	}
	return out
}

func TestEligibility(t *testing.T) {
	full := reachable("c")
	cases := []struct {
		name     string
		customer *features.Customer
		want     []string // eligible sending arms of campaign cart
		reasons  []string
	}{
		{"all reachable", &full, []string{"email/reminder", "sms/reminder", "push/reminder", "inapp/reminder"}, nil},
		{"no record: only in-app", nil, []string{"inapp/reminder"},
			[]string{"unknown_customer", "removed:email/reminder:no_address", "removed:sms/reminder:no_address", "removed:push/reminder:no_address"}},
		{"no email address", &features.Customer{ID: "c", Phone: "+14155550123", PushToken: "t", Consents: map[string]bool{"email": true, "sms": true, "push": true}},
			[]string{"sms/reminder", "push/reminder", "inapp/reminder"}, []string{"removed:email/reminder:no_address"}},
		{"sms consent missing (opt-in)", &features.Customer{ID: "c", Email: "c@example.com", Phone: "+14155550123", PushToken: "t", Consents: map[string]bool{"email": true, "push": true}},
			[]string{"email/reminder", "push/reminder", "inapp/reminder"}, []string{"removed:sms/reminder:no_consent"}},
		{"email unsubscribed, in-app revoked", &features.Customer{ID: "c", Email: "c@example.com", Phone: "+14155550123", PushToken: "t", Consents: map[string]bool{"email": false, "sms": true, "push": true, "inapp": false}},
			[]string{"sms/reminder", "push/reminder"}, []string{"removed:email/reminder:no_consent", "removed:inapp/reminder:no_consent"}},
	}
	forEach(t, func(t *testing.T, h *harness) {
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				id := fmt.Sprintf("c%d", i)
				if tc.customer != nil {
					c := *tc.customer
					c.ID = id
					h.customer(c)
				}
				d := h.decide(id, "cart")
				if diff := cmpStrings(tc.want, eligibleArms(d)); diff != "" {
					t.Errorf("eligible arms (-want +got):\n%s\nreasons %v", diff, d.Reasons)
				}
				for _, r := range tc.reasons {
					if !slices.Contains(d.Reasons, r) {
						t.Errorf("reasons %v lack %q", d.Reasons, r)
					}
				}
			})
		}
	})
}

func cmpStrings(want, got []string) string {
	if slices.Equal(want, got) {
		return ""
	}
	return fmt.Sprintf("-%v\n+%v", want, got)
}

// sendVia decides once with the policy's draw steered to the arm at
// position pos of k equally likely eligible arms (the untrained policy's
// probabilities are uniform up to Monte Carlo error), and checks that it
// sent on channel.
func (h *harness) sendVia(id, campaign, channel string, pos, k int) *decisioning.Decision {
	h.t.Helper()
	h.mu.Lock()
	h.u = (float64(pos) + 0.5) / float64(k)
	h.mu.Unlock()
	d := h.decide(id, campaign)
	if d.Outcome != decisioning.Send || d.Channel != channel {
		h.t.Fatalf("steered %s to %s: got %v on %q (arms %+v, reasons %v)", campaign, channel, d.Outcome, d.Channel, d.Arms, d.Reasons)
	}
	return d
}

// peek decides with the draw steered to the last arm, "none" in both test
// campaigns, so that it records a decision but sends nothing.
func (h *harness) peek(id, campaign string) *decisioning.Decision {
	h.t.Helper()
	h.mu.Lock()
	h.u = 0.9999
	h.mu.Unlock()
	d := h.decide(id, campaign)
	if d.Sends() {
		h.t.Fatalf("peek sent on %s", d.Channel)
	}
	return d
}

func TestCapsAndCooldown(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		h.customer(reachable("c1"))
		first := h.sendVia("c1", "cart", "sms", 1, 5)
		// Cooldown: cart sent a moment ago.
		h.advance(time.Hour)
		d := h.peek("c1", "cart")
		if d.Outcome != decisioning.Suppressed || !slices.Contains(d.Reasons, "removed:email/reminder:cooldown:1d") {
			t.Fatalf("within cooldown: %v %v", d.Outcome, d.Reasons)
		}
		// After the cooldown, the SMS cap (1/7d) still removes SMS only.
		h.advance(24 * time.Hour)
		d = h.peek("c1", "cart")
		if !slices.Contains(d.Reasons, "removed:sms/reminder:cap:global:sms:1/7d") || slices.Contains(eligibleArms(d), "sms/reminder") {
			t.Fatalf("sms cap: %v %v", eligibleArms(d), d.Reasons)
		}
		// The winback campaign's own cap counts only its messages: the
		// cart SMS does not stop it, but the global any-cap (2/7d) does
		// once two messages went out.
		if got := eligibleArms(h.peek("c1", "winback")); len(got) != 2 {
			t.Fatalf("winback arms after one cart send: %v", got)
		}
		h.advance(25 * time.Hour)
		h.sendVia("c1", "cart", "email", 0, 4)
		h.advance(time.Minute)
		d = h.peek("c1", "winback")
		if d.Outcome != decisioning.Suppressed || !slices.Contains(d.Reasons, "removed:push/reminder:cap:global:any:2/7d") {
			t.Fatalf("global cap: %v %v", d.Outcome, d.Reasons)
		}
		// Rolling window: 7 days after the first send it no longer counts.
		h.advance(first.DecidedAt.Add(7*24*time.Hour + time.Second).Sub(h.clock()))
		if got := eligibleArms(h.peek("c1", "winback")); len(got) != 2 {
			t.Fatalf("winback arms once the first send left the window: %v (%v)", got, h.peek("c1", "winback").Reasons)
		}
	})
}

func TestQuietHours(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		c := reachable("ny")
		c.Timezone = "America/New_York"
		h.customer(c)
		// 2026-11-03 03:00 UTC is 22:00 in New York (EST): quiet until
		// 08:00 EST = 13:00 UTC.
		h.advance(time.Date(2026, 11, 3, 3, 0, 0, 0, time.UTC).Sub(h.clock()))
		d := h.sendVia("ny", "cart", "email", 0, 5)
		if want := time.Date(2026, 11, 3, 13, 0, 0, 0, time.UTC); !d.SendAfter.Equal(want) || !slices.Contains(d.Reasons, "quiet_hours") {
			t.Errorf("email at 22:00 local: send_after %v, want %v (reasons %v)", d.SendAfter, want, d.Reasons)
		}
		// In-app is not delayed.
		c2 := reachable("ny2")
		c2.Timezone = "America/New_York"
		h.customer(c2)
		d = h.sendVia("ny2", "cart", "inapp", 3, 5)
		if !d.SendAfter.IsZero() {
			t.Errorf("in-app delayed to %v", d.SendAfter)
		}
	})
}

func TestHoldoutsAndControl(t *testing.T) {
	set := features.Default()
	yaml := strings.Replace(strings.Replace(testConfig, "control_group: 0%", "control_group: 10%", 1), "holdout: 0%\n    salt: c1", "holdout: 30%\n    salt: c1", 1)
	cfg, err := decisioning.ParseConfig("test.yaml", []byte(yaml), set)
	if err != nil {
		t.Fatal(err)
	}
	ms := memstore.New(set, memstore.Options{})
	st := memstate.New(ms, memstate.Options{Lookback: cfg.Lookback()})
	h := newHarness(t, backend{"memory", ms, ms, st, st, st, st, st.DispatchLen}, set, cfg, scorer{churn: 0.2, propensity: 0.4})
	counts := map[decisioning.Outcome]int{}
	const n = 4000
	for i := range n {
		id := fmt.Sprintf("h%05d", i)
		h.customer(reachable(id))
		d := h.decide(id, "cart")
		counts[d.Outcome]++
		inControl := decisioning.Share(1000).Contains(decisioning.Bucket("g", id))
		inHoldout := decisioning.Share(3000).Contains(decisioning.Bucket("c1", id))
		switch {
		case inControl && d.Outcome != decisioning.GlobalControl,
			!inControl && inHoldout && d.Outcome != decisioning.Holdout,
			!inControl && !inHoldout && (d.Outcome == decisioning.GlobalControl || d.Outcome == decisioning.Holdout):
			t.Fatalf("%s (control %v, holdout %v): outcome %v", id, inControl, inHoldout, d.Outcome)
		}
		// Intent to treat: the would-be arm is recorded with its propensity.
		if (d.Outcome == decisioning.Holdout || d.Outcome == decisioning.GlobalControl) && (d.Channel == "" || d.Propensity <= 0 || d.RewardEvent == "") {
			t.Fatalf("%s: %v without an arm: %+v", id, d.Outcome, d)
		}
	}
	// Nothing held out was queued for dispatch.
	if got, want := st.DispatchLen(), counts[decisioning.Send]; got != want {
		t.Errorf("dispatch queue %d, want the %d SEND decisions", got, want)
	}
	ctl, hold := float64(counts[decisioning.GlobalControl])/n, float64(counts[decisioning.Holdout])/n
	if math.Abs(ctl-0.10) > 0.02 || math.Abs(hold-0.27) > 0.03 {
		t.Errorf("control %.3f (want 0.10), holdout %.3f (want 0.9×0.3 = 0.27)", ctl, hold)
	}
}

func TestIdempotentConcurrentRetries(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		h.customer(reachable("c1"))
		var wg sync.WaitGroup
		ids := make([]string, 16)
		for i := range ids {
			wg.Go(func() {
				d, err := h.engine.Decide(context.Background(), decisioning.Request{CustomerID: "c1", Campaigns: []string{"cart", "winback"}, RequestID: "req-1"})
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = d.ID
			})
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("concurrent retries got different decisions: %v", ids)
			}
		}
		es := takeQueue(t, h.b.queue)
		if len(es) != 1 || len(es[0].Decisions) != 2 {
			t.Fatalf("ledger queue: %d entries, want 1 with both campaigns", len(es))
		}
		// A new request id is a new decision.
		d, err := h.engine.Decide(context.Background(), decisioning.Request{CustomerID: "c1", Campaigns: []string{"cart"}, RequestID: "req-2"})
		if err != nil || d.ID == ids[0] {
			t.Fatalf("new request id: %v, %v", d, err)
		}
	})
}

// takeQueue reads and acknowledges what the ledger queue holds.
func takeQueue(t *testing.T, q ledger.Queue) []ledger.Entry {
	t.Helper()
	es, err := q.ReadQueue(context.Background(), "t", 1000, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if err := q.AckQueue(context.Background(), e.ID); err != nil {
			t.Fatal(err)
		}
	}
	return es
}

func TestMultiCampaignPicksMostValuable(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		for i := range 50 {
			id := fmt.Sprintf("m%d", i)
			h.customer(reachable(id))
			h.mu.Lock()
			h.u = float64(i) / 50
			h.mu.Unlock()
			d := h.decide(id, "cart", "winback")
			es := takeQueue(t, h.b.queue)
			if len(es) != 1 || len(es[0].Decisions) != 2 {
				t.Fatalf("queue: %d entries", len(es))
			}
			other := es[0].Decisions[1]
			if es[0].Decisions[0].ID != d.ID {
				t.Fatalf("the response is not the first recorded decision")
			}
			if d.Outcome == decisioning.Suppressed {
				continue // neither campaign had an eligible arm
			}
			if other.Outcome != decisioning.Suppressed || !slices.Contains(other.Reasons, "lost_to:"+d.Campaign) {
				t.Fatalf("loser %s: %v %v", other.Campaign, other.Outcome, other.Reasons)
			}
			if other.ArmIndex >= 0 && other.ExpectedValue > d.ExpectedValue {
				t.Fatalf("%s won with value %v over %s's %v", d.Campaign, d.ExpectedValue, other.Campaign, other.ExpectedValue)
			}
			if other.Open() {
				t.Fatalf("a losing decision waits for a reward")
			}
		}
	})
}

func TestInvalidRequests(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		big := map[string]string{}
		for i := range 33 {
			big[fmt.Sprint(i)] = "v"
		}
		cases := []struct {
			req   decisioning.Request
			field string
		}{
			{decisioning.Request{Campaigns: []string{"cart"}}, "customer_id"},
			{decisioning.Request{CustomerID: "c"}, "campaigns"},
			{decisioning.Request{CustomerID: "c", Campaigns: []string{"cart", "nope"}}, "campaigns[1]"},
			{decisioning.Request{CustomerID: "c", Campaigns: []string{"cart", "cart"}}, "campaigns[1]"},
			{decisioning.Request{CustomerID: "c", Campaigns: []string{"cart"}, RequestID: strings.Repeat("r", 129)}, "request_id"},
			{decisioning.Request{CustomerID: "c", Campaigns: []string{"cart"}, Context: big}, "context"},
			{decisioning.Request{CustomerID: "c", Campaigns: []string{"cart"}, Context: map[string]string{"k": strings.Repeat("v", 1025)}}, "context.k"},
			{decisioning.Request{CustomerID: "c\x00d", Campaigns: []string{"cart"}}, "customer_id"},
			{decisioning.Request{CustomerID: "c", Campaigns: []string{"cart"}, RequestID: "r\x00"}, "request_id"},
			{decisioning.Request{CustomerID: "c", Campaigns: []string{"cart"}, Context: map[string]string{"k": "\x00"}}, "context.k"},
		}
		for _, tc := range cases {
			_, err := h.engine.Decide(context.Background(), tc.req)
			var fe *features.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Errorf("%+v: got %v, want a FieldError on %s", tc.req, err, tc.field)
			}
		}
	})
}

func TestUnknownCustomerDecidesOnEmptyFeatures(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		d := h.decide("nobody", "cart")
		if !slices.Contains(d.Reasons, "unknown_customer") {
			t.Errorf("reasons %v", d.Reasons)
		}
		if len(d.Features) != len(h.set.Names()) {
			t.Fatalf("%d features, want %d", len(d.Features), len(h.set.Names()))
		}
		nan := 0
		for _, v := range d.Features {
			if math.IsNaN(v) {
				nan++
			}
		}
		if nan == 0 {
			t.Errorf("no missing features for an unknown customer")
		}
		// In-app needs no contact details: an unknown customer may still
		// be messaged in the app.
		if got := eligibleArms(d); !slices.Equal(got, []string{"inapp/reminder"}) {
			t.Errorf("eligible %v", got)
		}
	})
}

// failingState fails every Load with err, or blocks until the context
// ends when err is nil.
type failingState struct{ err error }

func (f failingState) Load(ctx context.Context, _, _ string, _, _ time.Time) (decisioning.Snapshot, error) {
	if f.err == nil {
		<-ctx.Done()
		return decisioning.Snapshot{}, ctx.Err()
	}
	return decisioning.Snapshot{}, f.err
}

func (f failingState) Commit(context.Context, string, string, []decisioning.Decision) (*decisioning.Decision, error) {
	return nil, errors.New("not reached")
}

func TestFallbacks(t *testing.T) {
	set := features.Default()
	cfg, err := decisioning.ParseConfig("test.yaml", []byte(testConfig), set)
	if err != nil {
		t.Fatal(err)
	}
	ms := memstore.New(set, memstore.Options{})
	st := memstate.New(ms, memstate.Options{})
	for _, tc := range []struct {
		name   string
		state  decisioning.State
		reason string
	}{
		{"store down", failingState{fmt.Errorf("redis: %w", features.ErrUnavailable)}, "feature_store_unavailable"},
		{"deadline", failingState{}, "deadline_exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := decisioning.New(decisioning.Options{Config: cfg, Set: set, State: tc.state, Scorer: scorer{}, Policies: st, Deadline: 30 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			d, err := e.Decide(context.Background(), decisioning.Request{CustomerID: "c", Campaigns: []string{"cart"}})
			if err != nil {
				t.Fatal(err)
			}
			if d.Outcome != decisioning.NoAction || !slices.Contains(d.Reasons, tc.reason) {
				t.Errorf("got %v %v, want NO_ACTION with %s", d.Outcome, d.Reasons, tc.reason)
			}
			if took := time.Since(start); took > 500*time.Millisecond {
				t.Errorf("took %v with a 30ms deadline", took)
			}
		})
	}
	t.Run("model unavailable", func(t *testing.T) {
		for _, fb := range []string{"no_action", "decide"} {
			y := strings.Replace(testConfig, `quiet_hours: {from: "21:00", to: "08:00"}}`, `quiet_hours: {from: "21:00", to: "08:00"}, fallback: `+fb+`}`, 1)
			cfg, err := decisioning.ParseConfig("test.yaml", []byte(y), set)
			if err != nil {
				t.Fatal(err)
			}
			e, err := decisioning.New(decisioning.Options{Config: cfg, Set: set, State: st, Scorer: scorer{missing: true}, Policies: st})
			if err != nil {
				t.Fatal(err)
			}
			d, err := e.Decide(context.Background(), decisioning.Request{CustomerID: "c", Campaigns: []string{"cart"}})
			if err != nil {
				t.Fatal(err)
			}
			switch fb {
			case "no_action":
				if d.Outcome != decisioning.NoAction || !slices.Contains(d.Reasons, "model_unavailable:churn") {
					t.Errorf("fallback no_action: %v %v", d.Outcome, d.Reasons)
				}
			case "decide":
				if d.ArmIndex < 0 || !math.IsNaN(d.Scores.Churn) {
					t.Errorf("fallback decide: %v %v churn %v", d.Outcome, d.Reasons, d.Scores.Churn)
				}
			}
		}
	})
}

// TestCapsHoldUnderConcurrentDecisions: decisions racing for one customer
// never send more than the cooldown and caps allow.
func TestCapsHoldUnderConcurrentDecisions(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		h.customer(reachable("c1"))
		h.mu.Lock()
		h.u = 0.1 // email: a send whenever it is eligible
		h.mu.Unlock()
		var wg sync.WaitGroup
		var mu sync.Mutex
		sends := 0
		for i := range 16 {
			wg.Go(func() {
				d, err := h.engine.Decide(context.Background(), decisioning.Request{CustomerID: "c1", Campaigns: []string{"cart"}, RequestID: fmt.Sprint("r", i)})
				if err != nil {
					t.Error(err)
					return
				}
				if d.Sends() {
					mu.Lock()
					sends++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if sends != 1 {
			t.Errorf("%d concurrent decisions sent %d messages; the 24h cooldown allows 1", 16, sends)
		}
	})
}

// TestBouncedAddressIsUnreachable: after a hard bounce the channel is
// removed for the customer ("unreachable") until their address changes.
func TestBouncedAddressIsUnreachable(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		h.customer(reachable("b1"))
		q, ok := h.b.state.(decisioning.DispatchQueue)
		if !ok {
			t.Fatalf("%T is not a DispatchQueue", h.b.state)
		}
		now := h.clock()
		snap, err := h.b.state.Load(ctx, "b1", "", now, now.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		d := decisioning.Decision{ID: decisioning.NewID(now), CustomerID: "b1", Campaign: "elsewhere", Outcome: decisioning.Send,
			Channel: "email", Offer: "o", DecidedAt: now}
		if _, err := h.b.state.Commit(ctx, "", snap.SentToken, []decisioning.Decision{d}); err != nil {
			t.Fatal(err)
		}
		jobs, err := q.NextDispatches(ctx, "t", 10, time.Hour, 0)
		if err != nil || len(jobs) != 1 {
			t.Fatalf("NextDispatches: %v, %v", jobs, err)
		}
		if r, err := q.Begin(ctx, &jobs[0], time.Now(), time.Now().Add(time.Minute)); err != nil || r != decisioning.Begun {
			t.Fatalf("Begin: %v, %v", r, err)
		}
		if err := q.Settle(ctx, &jobs[0], decisioning.Settlement{Status: decisioning.DispatchBounced, At: now,
			Error: "550 no such user", Unreachable: "b1@example.com"}); err != nil {
			t.Fatal(err)
		}
		got := h.peek("b1", "cart")
		if !slices.Contains(got.Reasons, "removed:email/reminder:unreachable") || slices.Contains(eligibleArms(got), "email/reminder") {
			t.Errorf("after a bounce: eligible %v, reasons %v; want email removed as unreachable", eligibleArms(got), got.Reasons)
		}
		// A new address makes the channel reachable again.
		c := reachable("b1")
		c.Email = "b1.new@example.com"
		h.customer(c)
		got = h.peek("b1", "cart")
		if !slices.Contains(eligibleArms(got), "email/reminder") {
			t.Errorf("after a new address: eligible %v, reasons %v; want email back", eligibleArms(got), got.Reasons)
		}
	})
}

// TestHoldoutCountsInCaps: a held-out decision's would-have-sent message
// takes its place in the caps and cooldowns (a shadow send) without being
// dispatched, so that held-out customers decide as often, and in the same
// states, as the treated.
func TestHoldoutCountsInCaps(t *testing.T) {
	const held = `
global: {control_group: 0%, salt: g}
campaigns:
  - name: cart
    holdout: 50%
    salt: c1
    arms:
      - {channel: email, offer: reminder}
      - {channel: none}
    reward: {event: purchase, within: 72h, value: amount}
    policy: {kind: thompson}
    cooldown: 24h
`
	set := features.Default()
	cfg, err := decisioning.ParseConfig("held.yaml", []byte(held), set)
	if err != nil {
		t.Fatal(err)
	}
	for i, mk := range backends(t, set, cfg.Lookback()) {
		t.Run([]string{"memory", "redis"}[i], func(t *testing.T) {
			h := newHarness(t, mk(t), set, cfg, scorer{churn: 0.2, propensity: 0.4})
			h.mu.Lock()
			h.u = 0.01 // the policy's draw picks the first arm, email
			h.mu.Unlock()
			var heldOut, sent string
			for n := 0; (heldOut == "" || sent == "") && n < 100; n++ {
				id := fmt.Sprintf("h%d", n)
				h.customer(reachable(id))
				switch d := h.decide(id, "cart"); d.Outcome {
				case decisioning.Holdout:
					if heldOut == "" {
						heldOut = id
					}
				case decisioning.Send:
					if sent == "" {
						sent = id
					}
				}
			}
			if heldOut == "" || sent == "" {
				t.Fatal("no held-out or no sent customer in 100")
			}
			if n := h.b.dlen(); n != 1 {
				t.Errorf("%d jobs in the dispatch queue, want the one SEND (a shadow send is never dispatched)", n)
			}
			h.advance(time.Hour)
			for _, id := range []string{heldOut, sent} {
				d := h.decide(id, "cart")
				if !slices.Contains(d.Reasons, "removed:email/reminder:cooldown:1d") {
					t.Errorf("%s decided again within the cooldown: %v %v, want the email removed by the cooldown", id, d.Outcome, d.Reasons)
				}
			}
		})
	}
}
