package decisioning

import (
	"bytes"
	"encoding/hex"
	"errors"
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
		Metrics: []MetricWindow{
			{Name: "unsubscribe", Event: "unsubscribed", Until: at.Add(7 * 24 * time.Hour)},
			{Name: "churn_30d", Event: "subscription_cancelled", Until: at.Add(30 * 24 * time.Hour)},
		},
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
	rm := r
	rm.Metric = "churn_30d"
	rb, _ = rm.MarshalBinary()
	var rm2 Reward
	if err := rm2.UnmarshalBinary(rb); err != nil || !cmp.Equal(rm, rm2) {
		t.Errorf("metric reward: %v %v", err, cmp.Diff(rm, rm2))
	}
	ws := WindowsOf(&d)
	if len(ws) != 3 || ws[0].Metric != "" || ws[2].Metric != "churn_30d" || ws[2].RewardEvent != "subscription_cancelled" ||
		ws[2].RewardValue != "1" || !ws[2].RewardUntil.Equal(d.Metrics[1].Until) {
		t.Fatalf("WindowsOf = %+v, want the reward window and one per metric", ws)
	}
	for _, w := range ws {
		wb, _ := w.MarshalBinary()
		var w2 Window
		if err := w2.UnmarshalBinary(wb); err != nil || !cmp.Equal(w, w2, opts) {
			t.Errorf("window %q: %v %v", w.Metric, err, cmp.Diff(w, w2, opts))
		}
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

// Records written before metrics (version 1; these bytes are what that
// Kairos wrote) read back with metric "" and no metric windows, and a
// record without metrics is still written as version 1, which that
// Kairos reads.
func TestBinaryVersion1(t *testing.T) {
	at := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		hex  string
		rec  interface {
			MarshalBinary() ([]byte, error)
			UnmarshalBinary([]byte) error
		}
		want any
	}{
		{"reward", "5201026431026331046361727401000000000000f03f026531018080c9e7f0f89de4310180808ef3b6ca9fe431", new(Reward),
			&Reward{DecisionID: "d1", CustomerID: "c1", Campaign: "cart", Converted: true, Value: 1, EventID: "e1", EventAt: at.Add(time.Hour), ClosedAt: at.Add(2 * time.Hour)}},
		{"window", "5701026431026331046361727401020001000000000000e03f01808084dcaaa79ce43108707572636861736506616d6f756e74018080ec9ae19692e531", new(Window),
			&Window{DecisionID: "d1", CustomerID: "c1", Campaign: "cart", Outcome: Send, ArmIndex: 1, PolicyContext: []float64{0.5}, DecidedAt: at, RewardEvent: "purchase", RewardValue: "amount", RewardUntil: at.Add(72 * time.Hour)}},
		{"decision", "44010264310263310463617274000105656d61696c0872656d696e64657200000000000000e03f0000000000000000000000000000000000000001808084dcaaa79ce43100000000000000000000000000000008707572636861736506616d6f756e74018080ec9ae19692e531", new(Decision),
			&Decision{ID: "d1", CustomerID: "c1", Campaign: "cart", Outcome: Send, Channel: "email", Offer: "reminder", Propensity: 0.5, DecidedAt: at, RewardEvent: "purchase", RewardValue: "amount", RewardUntil: at.Add(72 * time.Hour)}},
	} {
		b, err := hex.DecodeString(tc.hex)
		if err != nil {
			t.Fatal(err)
		}
		if err := tc.rec.UnmarshalBinary(b); err != nil {
			t.Fatalf("%s: version 1: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, tc.rec); diff != "" {
			t.Errorf("%s: version 1 (-want +got):\n%s", tc.name, diff)
		}
		again, _ := tc.rec.MarshalBinary()
		if !bytes.Equal(again, b) {
			t.Errorf("%s without metrics encodes as %x, want the version 1 bytes %x", tc.name, again, b)
		}
	}
	// An empty metric list is kept apart from none (version 2).
	d := Decision{ID: "d1", CustomerID: "c1", Campaign: "cart", Outcome: Send, DecidedAt: at, Metrics: []MetricWindow{}}
	b, _ := d.MarshalBinary()
	var got Decision
	if err := got.UnmarshalBinary(b); err != nil || got.Metrics == nil || len(got.Metrics) != 0 || b[1] != metricsVersion {
		t.Errorf("empty metrics: version %d, read back %#v, %v", b[1], got.Metrics, err)
	}
	// A version this Kairos does not know is left for a newer one.
	b[1] = metricsVersion + 1
	if err := got.UnmarshalBinary(b); !errors.Is(err, ErrNewerEncoding) {
		t.Errorf("version %d: %v, want ErrNewerEncoding", b[1], err)
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
	d.Metrics = nil
	b, _ = d.MarshalBinary()
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
