package decisioning_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"kairos/decisioning"
	"kairos/decisioning/bandit"
	"kairos/decisioning/memstate"
	"kairos/features"
	"kairos/features/memstore"
	"kairos/internal/prom"
	"kairos/ledger"
)

func TestJoinerRewardsAndDrain(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		for _, id := range []string{"buyer", "idle", "late"} {
			h.customer(reachable(id))
		}
		buy := h.sendVia("buyer", "cart", "email", 0, 5)
		idle := h.sendVia("idle", "cart", "push", 2, 5)
		late := h.sendVia("late", "cart", "sms", 1, 5)
		j := decisioning.NewJoiner(decisioning.JoinerOptions{
			Config: h.cfg, Log: h.b.evlog, Windows: h.b.wins, Policies: h.b.pols, Consumer: "j1",
			Registerer: prometheus.NewRegistry(), Now: h.clock,
		})
		if err := h.b.evlog.CreateGroup(ctx, decisioning.JoinerGroup); err != nil {
			t.Fatal(err)
		}
		at := h.clock()
		track := func(evs ...features.Event) {
			t.Helper()
			if _, err := h.b.feats.Track(ctx, evs, h.clock()); err != nil {
				t.Fatal(err)
			}
		}
		purchase := func(id, cust string, ts time.Time, amount float64) features.Event {
			return features.Event{ID: id, CustomerID: cust, Type: "purchase", Time: ts,
				Properties: map[string]features.Value{"amount": features.Number(amount), "currency": features.String("EUR")}}
		}
		h.advance(2 * time.Hour)
		track(
			purchase("p0", "buyer", at.Add(-time.Minute), 99),                                            // before the decision: not its reward
			purchase("p2", "buyer", at.Add(90*time.Minute), 20),                                          // the second purchase
			purchase("p1", "buyer", at.Add(30*time.Minute), 42.5),                                        // the first: the reward
			features.Event{ID: "s1", CustomerID: "idle", Type: "session_start", Time: at.Add(time.Hour)}, // not cart's reward event
		)
		for {
			n, err := j.Step(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		// The late purchase comes after the window (72h).
		h.advance(73 * time.Hour)
		track(purchase("p3", "late", h.clock().Add(-time.Minute), 10))
		if _, err := j.Step(ctx, 0); err != nil {
			t.Fatal(err)
		}
		n, err := j.CloseDue(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("CloseDue closed %d windows, want 2 (idle, late)", n)
		}
		// Again: nothing left, nothing counted twice.
		if n, err := j.CloseDue(ctx, 100); err != nil || n != 0 {
			t.Errorf("second CloseDue: %d, %v", n, err)
		}

		mem := ledger.NewMemory()
		dr := ledger.NewDrainer(h.b.queue, mem, ledger.DrainOptions{Consumer: "d1"})
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := dr.Flush(fctx); err != nil {
			t.Fatal(err)
		}
		rs, err := mem.Rewards(ctx, ledger.Query{Campaign: "cart"})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]decisioning.Reward{}
		for _, r := range rs {
			got[r.DecisionID] = r
		}
		if len(got) != 3 {
			t.Fatalf("%d rewards, want 3: %+v", len(got), rs)
		}
		if r := got[buy.ID]; !r.Converted || r.Value != 42.5 || r.EventID != "p1" {
			t.Errorf("buyer reward %+v, want the first purchase in the window (p1, 42.5)", r)
		}
		for _, d := range []*decisioning.Decision{idle, late} {
			if r := got[d.ID]; r.Converted || r.Value != 0 {
				t.Errorf("%s reward %+v, want expired with 0", d.CustomerID, r)
			}
		}
		if _, err := mem.Decision(ctx, buy.ID); err != nil {
			t.Errorf("decision not drained to the ledger: %v", err)
		}
		// The policy learned from the three closed windows.
		states, err := h.b.pols.LoadPolicies(ctx, []string{"cart"})
		if err != nil {
			t.Fatal(err)
		}
		if st := states["cart"]; st == nil || st.Updates != 3 {
			t.Fatalf("cart policy after 3 closed windows: %+v", st)
		}
		if err := h.engine.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if d := h.decide("buyer", "cart"); d.Versions["policy"] != "thompson@3" {
			t.Errorf("policy version %q after refresh, want thompson@3", d.Versions["policy"])
		}
	})
}

// flakyPolicies fails the first UpdatePolicy, as a Redis blip would.
type flakyPolicies struct {
	decisioning.PolicyStore
	failed bool
}

func (f *flakyPolicies) UpdatePolicy(ctx context.Context, c string, fn func(*bandit.State) (*bandit.State, error)) error {
	if !f.failed {
		f.failed = true
		return errors.New("redis: connection reset")
	}
	return f.PolicyStore.UpdatePolicy(ctx, c, fn)
}

// TestJoinerLearnsOnlyFromTreated: held-out decisions close with their
// rewards recorded but do not teach the policy; a failed policy update is
// retried with the next round, not lost.
func TestJoinerLearnsOnlyFromTreated(t *testing.T) {
	set := features.Default()
	yaml := strings.Replace(testConfig, "holdout: 0%\n    salt: c1", "holdout: 50%\n    salt: c1", 1)
	cfg, err := decisioning.ParseConfig("test.yaml", []byte(yaml), set)
	if err != nil {
		t.Fatal(err)
	}
	ms := memstore.New(set, memstore.Options{})
	st := memstate.New(ms, memstate.Options{Lookback: cfg.Lookback()})
	h := newHarness(t, backend{"memory", ms, ms, st, st, st, st, st.DispatchLen}, set, cfg, scorer{churn: 0.2, propensity: 0.4})
	treated, held := 0, 0
	for i := range 40 {
		id := fmt.Sprintf("j%d", i)
		h.customer(reachable(id))
		switch d := h.sendVia2(id); d.Outcome {
		case decisioning.Send:
			treated++
		case decisioning.Holdout:
			held++
		}
	}
	if treated == 0 || held == 0 {
		t.Fatalf("treated %d, held %d: want both", treated, held)
	}
	pols := &flakyPolicies{PolicyStore: st}
	j := decisioning.NewJoiner(decisioning.JoinerOptions{Config: cfg, Log: ms, Windows: st, Policies: pols, Consumer: "j", Now: h.clock})
	h.advance(73 * time.Hour)
	ctx := context.Background()
	if _, err := j.CloseDue(ctx, 100); err == nil {
		t.Fatal("the failing policy update was not reported")
	}
	if n, err := j.CloseDue(ctx, 100); err != nil || n != 0 {
		t.Fatalf("second CloseDue: %d, %v (windows were already closed)", n, err)
	}
	states, err := st.LoadPolicies(ctx, []string{"cart"})
	if err != nil {
		t.Fatal(err)
	}
	if got := states["cart"]; got == nil || got.Updates != int64(treated) {
		t.Fatalf("policy updates %v, want %d (the treated decisions only, after the retry)", got, treated)
	}
	dr := ledger.NewDrainer(st, ledger.NewMemory(), ledger.DrainOptions{Consumer: "d"})
	if err := dr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := dr.Drained(); got != int64(2*(treated+held)) {
		t.Errorf("ledger got %d records, want %d decisions and as many rewards", got, 2*(treated+held))
	}
}

// sendVia2 decides cart with the draw steered to email.
func (h *harness) sendVia2(id string) *decisioning.Decision {
	h.mu.Lock()
	h.u = 0.1
	h.mu.Unlock()
	return h.decide(id, "cart")
}

// metricsConfig is testConfig with metrics on both campaigns.
var metricsConfig = strings.Replace(strings.Replace(testConfig,
	"    reward: {event: purchase, within: 72h, value: amount}\n",
	"    reward: {event: purchase, within: 72h, value: amount}\n"+
		"    metrics:\n"+
		"      - {name: unsubscribe, event: unsubscribed, within: 7d}\n"+
		"      - {name: churn_30d, event: subscription_cancelled, within: 30d}\n", 1),
	"    reward: {event: session_start, within: 7d, value: 1}\n",
	"    reward: {event: session_start, within: 7d, value: 1}\n"+
		"    metrics: [{name: unsubscribe, event: unsubscribed, within: 3d}]\n", 1)

// TestJoinerMetricWindows: a decision opens one window per metric of its
// campaign beside its reward window; a metric's event within its window
// closes that window converted (valued 1) and leaves the others open, an
// event before the decision or after the window does not count, expired
// metric windows close with 0, metric windows never teach the policy, and
// closing a window again changes nothing.
func TestJoinerMetricWindows(t *testing.T) {
	forEachConfig(t, metricsConfig, func(t *testing.T, h *harness) {
		ctx := context.Background()
		h.customer(reachable("a"))
		h.customer(reachable("b"))
		at := h.clock()
		a := h.sendVia("a", "cart", "email", 0, 5)
		b := h.sendVia("b", "cart", "email", 0, 5)
		wantMetrics := []decisioning.MetricWindow{
			{Name: "unsubscribe", Event: "unsubscribed", Until: at.Add(7 * 24 * time.Hour)},
			{Name: "churn_30d", Event: "subscription_cancelled", Until: at.Add(30 * 24 * time.Hour)},
		}
		if diff := cmp.Diff(wantMetrics, a.Metrics); diff != "" {
			t.Fatalf("decision metrics (-want +got):\n%s", diff)
		}
		reg := prometheus.NewRegistry()
		j := decisioning.NewJoiner(decisioning.JoinerOptions{
			Config: h.cfg, Log: h.b.evlog, Windows: h.b.wins, Policies: h.b.pols, Consumer: "j1",
			Registerer: reg, Now: h.clock,
		})
		if err := h.b.evlog.CreateGroup(ctx, decisioning.JoinerGroup); err != nil {
			t.Fatal(err)
		}
		// open returns the customer's open windows by metric.
		open := func(cid string) map[string]decisioning.Window {
			t.Helper()
			ws, err := h.b.wins.OpenWindows(ctx, []string{cid})
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]decisioning.Window{}
			for _, w := range ws[cid] {
				if _, dup := out[w.Metric]; dup {
					t.Errorf("%s: two open windows of metric %q", cid, w.Metric)
				}
				out[w.Metric] = w
			}
			return out
		}
		ws := open("a")
		if len(ws) != 3 {
			t.Fatalf("open windows of a: %+v, want the reward window and 2 metric windows", ws)
		}
		for _, want := range []decisioning.Window{
			{Metric: "", RewardEvent: "purchase", RewardValue: "amount", RewardUntil: at.Add(72 * time.Hour)},
			{Metric: "unsubscribe", RewardEvent: "unsubscribed", RewardValue: "1", RewardUntil: at.Add(7 * 24 * time.Hour)},
			{Metric: "churn_30d", RewardEvent: "subscription_cancelled", RewardValue: "1", RewardUntil: at.Add(30 * 24 * time.Hour)},
		} {
			w := ws[want.Metric]
			if w.DecisionID != a.ID || w.RewardEvent != want.RewardEvent || w.RewardValue != want.RewardValue ||
				!w.RewardUntil.Equal(want.RewardUntil) || !w.DecidedAt.Equal(at) || w.Outcome != decisioning.Send {
				t.Errorf("window %q of a = %+v, want %+v", want.Metric, w, want)
			}
		}
		track := func(evs ...features.Event) {
			t.Helper()
			if _, err := h.b.feats.Track(ctx, evs, h.clock()); err != nil {
				t.Fatal(err)
			}
		}
		ev := func(id, cust, typ string, ts time.Time) features.Event {
			return features.Event{ID: id, CustomerID: cust, Type: typ, Time: ts}
		}
		drain := func() {
			t.Helper()
			for {
				n, err := j.Step(ctx, 0)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					return
				}
			}
		}
		policyUpdates := func() int64 {
			t.Helper()
			states, err := h.b.pols.LoadPolicies(ctx, []string{"cart"})
			if err != nil {
				t.Fatal(err)
			}
			if st := states["cart"]; st != nil {
				return st.Updates
			}
			return 0
		}

		h.advance(2 * time.Hour)
		track(
			ev("u0", "a", "unsubscribed", at.Add(-time.Minute)), // before the decision: not its metric
			ev("u1", "a", "unsubscribed", at.Add(time.Hour)),    // the first in the window
			ev("u2", "a", "unsubscribed", at.Add(90*time.Minute)),
			ev("u3", "b", "unsubscribed", at.Add(-time.Minute)), // b's only one: before its decision
		)
		drain()
		ws = open("a")
		if _, ok := ws["unsubscribe"]; ok || len(ws) != 2 {
			t.Errorf("a's windows after its unsubscribe: %v, want the reward and churn_30d windows only", keys(ws))
		}
		if ws := open("b"); len(ws) != 3 {
			t.Errorf("b's windows after an unsubscribe before its decision: %v, want all 3 open", keys(ws))
		}
		if n := policyUpdates(); n != 0 {
			t.Errorf("a metric window taught the policy: %d updates", n)
		}
		// Replaying the close changes nothing.
		unsub := decisioning.Reward{DecisionID: a.ID, CustomerID: "a", Campaign: "cart", Metric: "unsubscribe",
			Converted: true, Value: 1, EventID: "u1", EventAt: at.Add(time.Hour), ClosedAt: h.clock()}
		if closed, err := h.b.wins.CloseWindows(ctx, []decisioning.Reward{unsub}); err != nil || len(closed) != 1 || closed[0] {
			t.Errorf("closing a's unsubscribe window again: %v, %v; want [false]", closed, err)
		}

		// 31 days on: a cancels after its churn window (30 days), b within
		// it (its window is still open: no CloseDue yet).
		h.advance(31*24*time.Hour - 2*time.Hour)
		track(
			ev("c1", "a", "subscription_cancelled", h.clock().Add(-time.Minute)),
			ev("c2", "b", "subscription_cancelled", at.Add(29*24*time.Hour)),
		)
		drain()
		if _, ok := open("b")["churn_30d"]; ok {
			t.Error("b's cancellation within the window left its churn_30d window open")
		}
		if _, ok := open("a")["churn_30d"]; !ok {
			t.Error("a's cancellation after the window closed its churn_30d window")
		}
		n, err := j.CloseDue(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if n != 4 {
			t.Errorf("CloseDue closed %d windows, want 4 (a: reward, churn_30d; b: reward, unsubscribe)", n)
		}
		if n, err := j.CloseDue(ctx, 100); err != nil || n != 0 {
			t.Errorf("second CloseDue: %d, %v", n, err)
		}
		if n := policyUpdates(); n != 2 {
			t.Errorf("policy updates %d, want 2: the two reward windows, no metric window", n)
		}
		for _, c := range []struct {
			metric, result string
			want           float64
		}{
			{"", "expired", 2}, {"unsubscribe", "converted", 1}, {"unsubscribe", "expired", 1},
			{"churn_30d", "converted", 1}, {"churn_30d", "expired", 1},
		} {
			got, _ := prom.Value(reg, "kairos_reward_windows_closed_total", map[string]string{"campaign": "cart", "metric": c.metric, "result": c.result})
			if got != c.want {
				t.Errorf("kairos_reward_windows_closed_total{metric=%q, result=%q} = %v, want %v", c.metric, c.result, got, c.want)
			}
		}

		mem := ledger.NewMemory()
		dr := ledger.NewDrainer(h.b.queue, mem, ledger.DrainOptions{Consumer: "d1"})
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := dr.Flush(fctx); err != nil {
			t.Fatal(err)
		}
		rs, err := mem.Rewards(ctx, ledger.Query{Campaign: "cart"})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]decisioning.Reward{}
		for _, r := range rs {
			got[r.CustomerID+"/"+r.Metric] = r
		}
		for _, w := range []struct {
			key       string
			converted bool
			eventID   string
		}{
			{"a/", false, ""}, {"a/unsubscribe", true, "u1"}, {"a/churn_30d", false, ""},
			{"b/", false, ""}, {"b/unsubscribe", false, ""}, {"b/churn_30d", true, "c2"},
		} {
			r, ok := got[w.key]
			value := 0.0
			if w.converted {
				value = 1
			}
			if !ok || r.Converted != w.converted || r.Value != value || r.EventID != w.eventID {
				t.Errorf("reward %s = %+v (found %v), want converted %v, value %v, event %q", w.key, r, ok, w.converted, value, w.eventID)
			}
		}
		if len(rs) != 6 {
			t.Errorf("%d rewards in the ledger, want 6 (one per window): %+v", len(rs), rs)
		}
		// The decision reached the ledger with its metric windows.
		if d, err := mem.Decision(ctx, b.ID); err != nil || !cmp.Equal(wantMetrics, d.Metrics) {
			t.Errorf("ledger decision of b: metrics %+v, %v", d.Metrics, err)
		}

		// Replaying every close changes nothing: no window reopens, the
		// ledger keeps one reward per window.
		closed, err := h.b.wins.CloseWindows(ctx, rs)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(closed, true) {
			t.Errorf("replayed closes: %v, want none closing", closed)
		}
		if err := dr.Flush(fctx); err != nil {
			t.Fatal(err)
		}
		if again, _ := mem.Rewards(ctx, ledger.Query{}); len(again) != 6 {
			t.Errorf("after replay %d rewards, want 6", len(again))
		}
	})
}

// TestMetricWindowsOnlyWithTheReward: a decision that lost to another
// campaign has neither a reward window nor metric windows; the winner
// opens its reward window and one window per metric of its campaign.
func TestMetricWindowsOnlyWithTheReward(t *testing.T) {
	forEachConfig(t, metricsConfig, func(t *testing.T, h *harness) {
		ctx := context.Background()
		lost := 0
		for i := range 20 {
			id := fmt.Sprintf("m%d", i)
			h.customer(reachable(id))
			h.mu.Lock()
			h.u = float64(i) / 20
			h.mu.Unlock()
			d := h.decide(id, "cart", "winback")
			es := takeQueue(t, h.b.queue)
			if len(es) != 1 || len(es[0].Decisions) != 2 {
				t.Fatalf("queue: %d entries", len(es))
			}
			other := es[0].Decisions[1]
			if other.Outcome == decisioning.Suppressed && slices.Contains(other.Reasons, "lost_to:"+d.Campaign) {
				lost++
				if other.Metrics != nil || other.RewardEvent != "" {
					t.Errorf("loser %s: reward event %q, metrics %+v; want none", other.Campaign, other.RewardEvent, other.Metrics)
				}
			}
			c, _ := h.cfg.Campaign(d.Campaign)
			want := 0
			if d.Open() {
				want = 1 + len(c.Metrics)
				if len(d.Metrics) != len(c.Metrics) {
					t.Errorf("winner %s: metrics %+v, want %d", d.Campaign, d.Metrics, len(c.Metrics))
				}
			}
			ws, err := h.b.wins.OpenWindows(ctx, []string{id})
			if err != nil {
				t.Fatal(err)
			}
			if len(ws[id]) != want {
				t.Errorf("%s (%s, %v): %d open windows, want %d", id, d.Campaign, d.Outcome, len(ws[id]), want)
			}
			for _, w := range ws[id] {
				if w.DecisionID != d.ID {
					t.Errorf("%s: a window of decision %s (%s), not of the winner", id, w.DecisionID, w.Campaign)
				}
			}
		}
		if lost == 0 {
			t.Fatal("no decision lost to another campaign: the test checks nothing")
		}
	})
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
