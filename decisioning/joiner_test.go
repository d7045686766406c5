package decisioning_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kairos/decisioning"
	"kairos/decisioning/bandit"
	"kairos/decisioning/memstate"
	"kairos/features"
	"kairos/features/memstore"
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
