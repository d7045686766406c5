package decisioning

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func fullDecision() Decision {
	at := time.Date(2026, 11, 2, 12, 0, 0, 123456789, time.UTC)
	return Decision{
		ID: NewID(at), CustomerID: "c\u00e9", Campaign: "cart", RequestID: "r1", Outcome: Holdout,
		Channel: "email", Offer: "reminder", ArmIndex: 2, Propensity: 0.25,
		Arms:    []ArmProbability{{"email", "reminder", 0.25}, {"none", "", 0.75}},
		Scores:  Scores{Churn: math.NaN(), Propensity: 0.4, NextBestAction: map[string]float64{"books": 0.7}},
		Reasons: []string{"holdout", "policy"}, DecidedAt: at, SendAfter: at.Add(time.Hour),
		Versions: map[string]string{"churn": "churn@1"}, FeatureNames: []string{"a", "b"},
		Features: []float64{1, math.NaN()}, Context: map[string]string{"page": "cart"}, ExpectedValue: -0.5,
		Segment: 1, PolicyContext: []float64{0.2, math.Inf(1)}, RewardEvent: "purchase", RewardValue: "amount",
		RewardUntil: at.Add(72 * time.Hour),
	}
}

func TestBinaryRoundTrip(t *testing.T) {
	opts := cmp.Options{cmpopts.EquateNaNs(), cmpopts.EquateEmpty()}
	d := fullDecision()
	b, err := d.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Decision
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(d, got, opts); diff != "" {
		t.Errorf("decision (-want +got):\n%s", diff)
	}
	// Every truncation is an error, never a panic or a silent half-read.
	for i := range len(b) {
		if err := new(Decision).UnmarshalBinary(b[:i]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", i, len(b))
		}
	}
	r := Reward{DecisionID: d.ID, CustomerID: "c", Campaign: "cart", Converted: true, Value: 42.5, EventID: "e1", EventAt: d.DecidedAt, ClosedAt: d.RewardUntil}
	rb, _ := r.MarshalBinary()
	var r2 Reward
	if err := r2.UnmarshalBinary(rb); err != nil || !cmp.Equal(r, r2) {
		t.Errorf("reward: %v %v", err, cmp.Diff(r, r2))
	}
	w := WindowOf(&d)
	wb, _ := w.MarshalBinary()
	var w2 Window
	if err := w2.UnmarshalBinary(wb); err != nil || !cmp.Equal(w, w2, opts) {
		t.Errorf("window: %v %v", err, cmp.Diff(w, w2, opts))
	}
	s := Sent{DecisionID: d.ID, Campaign: "cart", Channel: "sms", At: d.DecidedAt}
	sb, _ := s.MarshalBinary()
	var s2 Sent
	if err := s2.UnmarshalBinary(sb); err != nil || !cmp.Equal(s, s2) {
		t.Errorf("sent: %v %v", err, cmp.Diff(s, s2))
	}
	if err := new(Reward).UnmarshalBinary(b); err == nil {
		t.Error("a decision decoded as a reward")
	}
}

func TestValidID(t *testing.T) {
	for range 100 {
		if id := NewID(time.Now()); !ValidID(id) {
			t.Fatalf("NewID gave %q, which ValidID refuses", id)
		}
	}
	for _, bad := range []string{"", "x", "01M6E22WG0SZ23FAB13PNQRRZ8", "01m6e22wg0sz23fab13pnqrrzu", "81m6e22wg0sz23fab13pnqrrz8", "01m6e22wg0sz23fab13pnqrrz8x", "a\x00"} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func FuzzDecisionBinary(f *testing.F) {
	d := fullDecision()
	b, _ := d.MarshalBinary()
	f.Add(b)
	f.Add([]byte{tagDecision, binaryVersion, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Decision
		if d.UnmarshalBinary(b) != nil {
			return
		}
		again, err := d.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var d2 Decision
		if err := d2.UnmarshalBinary(again); err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
	})
}
