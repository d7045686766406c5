package decisioning_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kairos/decisioning"
	"kairos/features"
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
