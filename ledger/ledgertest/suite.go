// Package ledgertest is the contract every ledger.Ledger must pass: the
// embedded ledger.Memory and pgledger's PostgreSQL store run the same
// suite, so that they keep the same semantics (idempotent writes, exact
// round trips with microsecond times, query filters and order, validation,
// exactly-once under concurrent writers). Sample makes realistic decisions
// for benchmarks.
//
// It is imported only by tests.
package ledgertest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"kairos/decisioning"
	"kairos/ledger"
)

// Opener returns a new, empty ledger for t, closed when t ends.
type Opener func(t *testing.T) ledger.Ledger

// Run runs the whole contract against ledgers made by open. The subtests
// run in parallel, each with a ledger of its own.
func Run(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name string
		test func(*testing.T, ledger.Ledger)
	}{
		{"RoundTrip", testRoundTrip},
		{"NoAliasing", testNoAliasing},
		{"Idempotent", testIdempotent},
		{"Queries", testQueries},
		{"Rewards", testRewards},
		{"Dispatches", testDispatches},
		{"NotFound", testNotFound},
		{"Invalid", testInvalid},
		{"Canceled", testCanceled},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ConflictingWriters", testConflictingWriters},
		{"Sample", testSample},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, open(t))
		})
	}
}

// exact compares floats bit for bit, except that all NaNs are equal; times
// compare with time.Time.Equal (go-cmp uses the Equal method).
var exact = gocmp.Comparer(func(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || math.IsNaN(a) && math.IsNaN(b)
})

// want returns d as the contract says it reads back: times truncated to
// the microsecond, in UTC.
func want(d decisioning.Decision) decisioning.Decision {
	d.DecidedAt, d.SendAfter, d.RewardUntil = ledger.Time(d.DecidedAt), ledger.Time(d.SendAfter), ledger.Time(d.RewardUntil)
	d.Metrics = slices.Clone(d.Metrics)
	for i := range d.Metrics {
		d.Metrics[i].Until = ledger.Time(d.Metrics[i].Until)
	}
	return d
}

func wants(ds []decisioning.Decision) []decisioning.Decision {
	out := make([]decisioning.Decision, len(ds))
	for i, d := range ds {
		out[i] = want(d)
	}
	return out
}

func wantReward(r decisioning.Reward) decisioning.Reward {
	r.EventAt, r.ClosedAt = ledger.Time(r.EventAt), ledger.Time(r.ClosedAt)
	return r
}

// sorted orders decisions as queries return them.
func sorted(ds []decisioning.Decision) []decisioning.Decision {
	ds = slices.Clone(ds)
	slices.SortFunc(ds, func(a, b decisioning.Decision) int {
		return cmp.Or(a.DecidedAt.Compare(b.DecidedAt), cmp.Compare(a.ID, b.ID))
	})
	return ds
}

// checkUTC fails t for a non-zero time not in UTC.
func checkUTC(t *testing.T, what string, times ...time.Time) {
	t.Helper()
	for _, tm := range times {
		if !tm.IsZero() && tm.Location() != time.UTC {
			t.Errorf("%s: time %v is in %v, want UTC", what, tm, tm.Location())
		}
	}
}

func write(t *testing.T, l ledger.Ledger, ds ...decisioning.Decision) {
	t.Helper()
	if err := l.WriteDecisions(context.Background(), ds); err != nil {
		t.Fatalf("WriteDecisions: %v", err)
	}
}

func all(t *testing.T, l ledger.Ledger) []decisioning.Decision {
	t.Helper()
	got, err := l.Decisions(context.Background(), ledger.Query{})
	if err != nil {
		t.Fatalf("Decisions: %v", err)
	}
	return got
}

// zone is a zone with a half-hour offset, to catch times that keep it.
var zone = time.FixedZone("IST", 5*3600+1800)

// full returns a decision with every field set, including awkward values:
// NaN, ±Inf and -0 among the numbers, times with nanoseconds in a zone
// other than UTC, and text that needs quoting in SQL, JSON and arrays.
func full(id string) decisioning.Decision {
	at := time.Date(2026, 3, 14, 15, 9, 26, 535897932, zone)
	return decisioning.Decision{
		ID:         id,
		CustomerID: `cust "ö" \ {1,2}`,
		Campaign:   "winback",
		RequestID:  "req-0001",
		Outcome:    decisioning.Send,
		Channel:    decisioning.ChannelEmail,
		Offer:      "discount_10 <b>&amp;</b>",
		ArmIndex:   1,
		Propensity: 0.3125,
		Arms: []decisioning.ArmProbability{
			{Channel: decisioning.ChannelPush, Offer: "discount_10", Probability: 0.25},
			{Channel: decisioning.ChannelEmail, Offer: "discount_10 <b>&amp;</b>", Probability: 0.3125},
			{Channel: decisioning.ChannelSMS, Probability: math.NaN()},
			{Channel: decisioning.ChannelNone, Probability: math.Copysign(0, -1)},
			{Channel: "webhook", Offer: "∞", Probability: math.Inf(1)},
		},
		Scores: decisioning.Scores{
			Churn:      math.NaN(),
			Propensity: 0.1 + 0.2,
			NextBestAction: map[string]float64{
				"email": 0.7, "push": math.NaN(), "none": math.Inf(-1), "sms": 5e-324, "inapp": math.MaxFloat64,
			},
		},
		Reasons:   []string{"eligible", "cap:sms:1/7d", `quiet "hours"`, "", "NULL", "a,b", "{x}"},
		DecidedAt: at,
		SendAfter: at.Add(8*time.Hour + 999),
		Versions: map[string]string{
			"churn": "churn-2026-03-01", "propensity": "prop-7", "nba": "nba-3", "policy": "thompson-v3", "campaigns": "a1b2c3d4e5f6",
			"": "empty key", `quote"key`: "\\",
		},
		FeatureNames:  []string{"logins_7d", "logins_30d", "login_trend", "revenue_30d", "since_login", "neg_zero", "ninf"},
		Features:      []float64{3, 12, 0.25, math.NaN(), math.Inf(1), math.Copysign(0, -1), math.Inf(-1)},
		Context:       map[string]string{"platform": "ios", "locale": "de-DE", "emoji": "🚀"},
		ExpectedValue: -0.125,
		Segment:       7,
		PolicyContext: []float64{1, math.NaN(), -2.5e-300, math.Inf(1)},
		RewardEvent:   "purchase",
		RewardValue:   "amount",
		RewardUntil:   at.Add(7 * 24 * time.Hour),
		Metrics: []decisioning.MetricWindow{
			{Name: "unsubscribe", Event: "unsubscribed", Until: at.Add(7*24*time.Hour + 1)},
			{Name: `churn "30d" \ {x}`, Event: "subscription_cancelled", Until: at.Add(30 * 24 * time.Hour).In(time.UTC)},
			{Name: "", Event: "", Until: time.Time{}},
		},
	}
}

func testRoundTrip(t *testing.T, l ledger.Ledger) {
	ctx := context.Background()
	minimal := decisioning.Decision{
		ID: "minimal", CustomerID: "c1", Campaign: "onboarding", Outcome: decisioning.NoAction,
		ArmIndex: -1, DecidedAt: time.Unix(1_770_000_000, 1).UTC(),
		Scores: decisioning.Scores{Churn: math.NaN(), Propensity: math.NaN()},
	}
	empty := decisioning.Decision{
		ID: "empty", CustomerID: "c2", Campaign: "onboarding", Outcome: decisioning.Suppressed,
		ArmIndex: -1, DecidedAt: time.Unix(1_770_000_000, 999).In(zone),
		Arms: []decisioning.ArmProbability{}, Reasons: []string{},
		Scores:   decisioning.Scores{NextBestAction: map[string]float64{}},
		Versions: map[string]string{}, FeatureNames: []string{}, Features: []float64{},
		Context: map[string]string{}, PolicyContext: []float64{}, Metrics: []decisioning.MetricWindow{},
	}
	ds := []decisioning.Decision{full("full"), minimal, empty}
	for o := decisioning.Send; o <= decisioning.NoAction; o++ {
		d := full("outcome-" + o.String())
		d.Outcome = o
		d.SendAfter = time.Time{}
		ds = append(ds, d)
	}
	write(t, l, ds...)

	for _, d := range ds {
		got, err := l.Decision(ctx, d.ID)
		if err != nil {
			t.Fatalf("Decision(%q): %v", d.ID, err)
		}
		if diff := gocmp.Diff(want(d), got, exact); diff != "" {
			t.Errorf("Decision(%q) (-want +got):\n%s", d.ID, diff)
		}
		checkUTC(t, "Decision("+d.ID+")", got.DecidedAt, got.SendAfter, got.RewardUntil)
		for _, m := range got.Metrics {
			checkUTC(t, "Decision("+d.ID+").Metrics", m.Until)
		}
		if (d.Metrics == nil) != (got.Metrics == nil) {
			t.Errorf("Decision(%q): metrics %#v read back as %#v: nil and empty not kept apart", d.ID, d.Metrics, got.Metrics)
		}
		// Spelled out, since go-cmp's Equal on times hides these.
		if d.SendAfter.IsZero() != got.SendAfter.IsZero() || d.RewardUntil.IsZero() != got.RewardUntil.IsZero() {
			t.Errorf("Decision(%q): zero times not kept: send_after %v, reward_until %v", d.ID, got.SendAfter, got.RewardUntil)
		}
		if got.DecidedAt.Nanosecond()%1000 != 0 {
			t.Errorf("Decision(%q): decided_at %v has sub-microsecond digits", d.ID, got.DecidedAt)
		}
	}
	if diff := gocmp.Diff(sorted(wants(ds)), all(t, l), exact); diff != "" {
		t.Errorf("Decisions(all) (-want +got):\n%s", diff)
	}
	if err := l.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// testNoAliasing: a ledger keeps its own copy; neither the written value
// nor a returned one shares memory with it.
func testNoAliasing(t *testing.T, l ledger.Ledger) {
	ctx := context.Background()
	d := full("alias")
	orig := full("alias")
	write(t, l, d)
	d.Reasons[0], d.Features[0], d.Arms[0].Probability = "changed", 99, 99
	d.Versions["churn"], d.Context["platform"], d.Scores.NextBestAction["email"] = "x", "x", 99
	d.FeatureNames[0], d.PolicyContext[0] = "x", 99
	d.Metrics[0].Name = "x"

	got, err := l.Decision(ctx, "alias")
	if err != nil {
		t.Fatal(err)
	}
	got.Reasons[0], got.Features[0], got.Versions["churn"] = "changed", 99, "x"
	got.Metrics[0].Until = time.Time{}
	again, err := l.Decision(ctx, "alias")
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(want(orig), again, exact); diff != "" {
		t.Errorf("stored decision changed through the caller's slices or maps (-want +got):\n%s", diff)
	}
}

func testIdempotent(t *testing.T, l ledger.Ledger) {
	ctx := context.Background()
	a := Sample(10, 1)
	write(t, l, a...)
	write(t, l, a...) // the same batch again
	if diff := gocmp.Diff(sorted(wants(a)), all(t, l), exact); diff != "" {
		t.Fatalf("after writing a batch twice (-want +got):\n%s", diff)
	}

	// An overlapping batch adds only the new decisions.
	b := append(slices.Clone(a[5:]), Sample(15, 2)[10:]...)
	write(t, l, b...)
	if diff := gocmp.Diff(sorted(wants(append(slices.Clone(a), b[5:]...))), all(t, l), exact); diff != "" {
		t.Fatalf("after an overlapping batch (-want +got):\n%s", diff)
	}

	// A changed copy of a recorded decision changes nothing, alone or
	// beside new ones; within one batch, the first copy wins.
	changed := full(a[0].ID)
	write(t, l, changed)
	fresh1, fresh2 := full("fresh-1"), full("fresh-2")
	fresh1dup := full("fresh-1")
	fresh1dup.Outcome, fresh1dup.Reasons = decisioning.Holdout, []string{"second copy"}
	write(t, l, fresh1, changed, fresh1dup, fresh2)
	got, err := l.Decision(ctx, a[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(want(a[0]), got, exact); diff != "" {
		t.Errorf("a changed copy overwrote the recorded decision (-want +got):\n%s", diff)
	}
	got, err = l.Decision(ctx, "fresh-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(want(fresh1), got, exact); diff != "" {
		t.Errorf("within one batch, the first copy must win (-want +got):\n%s", diff)
	}
	if n := len(all(t, l)); n != 17 {
		t.Errorf("ledger holds %d decisions, want 17", n)
	}

	if err := l.WriteDecisions(ctx, nil); err != nil {
		t.Errorf("WriteDecisions(nil): %v", err)
	}
	if err := l.WriteDecisions(ctx, []decisioning.Decision{}); err != nil {
		t.Errorf("WriteDecisions(empty): %v", err)
	}
}

func testQueries(t *testing.T, l ledger.Ledger) {
	ctx := context.Background()
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var ds []decisioning.Decision
	campaigns := []string{"winback", "onboarding", "upsell"}
	customers := []string{"c1", "c2", "c3", "c4"}
	for i := range 48 {
		d := full(fmt.Sprintf("q-%02d", 47-i)) // id order opposite to time order
		d.Campaign = campaigns[i%3]
		d.CustomerID = customers[i%4]
		d.DecidedAt = base.Add(time.Duration(i/2) * time.Minute).In(zone) // pairs share a time
		ds = append(ds, d)
	}
	// Two decisions in the same microsecond, their nanoseconds in the
	// opposite order of their ids: they sort by id.
	tieA, tieB := full("tie-a"), full("tie-b")
	tieA.DecidedAt = base.Add(90*time.Minute + 900)
	tieB.DecidedAt = base.Add(90*time.Minute + 100)
	ds = append(ds, tieA, tieB)
	// Write in shuffled batches.
	r := rand.New(rand.NewPCG(3, 3))
	shuffled := slices.Clone(ds)
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for c := range slices.Chunk(shuffled, 7) {
		write(t, l, c...)
	}

	// The oracle: filter and sort the normalised decisions.
	oracle := func(q ledger.Query) []decisioning.Decision {
		from, to := ledger.Time(q.From), ledger.Time(q.To)
		var out []decisioning.Decision
		for _, d := range sorted(wants(ds)) {
			if (q.Campaign == "" || d.Campaign == q.Campaign) && (q.CustomerID == "" || d.CustomerID == q.CustomerID) &&
				(from.IsZero() || !d.DecidedAt.Before(from)) && (to.IsZero() || d.DecidedAt.Before(to)) {
				out = append(out, d)
			}
		}
		if q.Limit > 0 && len(out) > q.Limit {
			out = out[:q.Limit]
		}
		return out
	}
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	for _, tc := range []struct {
		name  string
		q     ledger.Query
		count int // sanity check of the oracle
	}{
		{"all", ledger.Query{}, 50},
		{"campaign", ledger.Query{Campaign: "winback"}, 16 + 2},
		{"customer", ledger.Query{CustomerID: "c2"}, 12},
		{"campaign and customer", ledger.Query{Campaign: "winback", CustomerID: "c1"}, 4},
		{"from", ledger.Query{From: at(20)}, 8 + 2},
		{"to", ledger.Query{To: at(3)}, 6},
		{"from and to", ledger.Query{From: at(2), To: at(5)}, 6},
		{"from in another zone", ledger.Query{From: at(2).In(zone), To: at(5).In(zone)}, 6},
		{"from inside the tie microsecond", ledger.Query{From: at(90).Add(500)}, 2},
		{"to inside the tie microsecond", ledger.Query{From: at(89), To: at(90).Add(500)}, 0},
		{"to just after the tie", ledger.Query{To: at(90).Add(time.Microsecond)}, 50},
		{"empty interval", ledger.Query{From: at(5), To: at(5)}, 0},
		{"reversed interval", ledger.Query{From: at(6), To: at(5)}, 0},
		{"limit", ledger.Query{Limit: 1}, 1},
		{"limit with campaign and time", ledger.Query{Campaign: "onboarding", From: at(4), Limit: 5}, 5},
		{"limit beyond", ledger.Query{Campaign: "upsell", Limit: 1000}, 16},
		{"unknown campaign", ledger.Query{Campaign: "nope"}, 0},
	} {
		got, err := l.Decisions(ctx, tc.q)
		if err != nil {
			t.Errorf("%s: Decisions(%+v): %v", tc.name, tc.q, err)
			continue
		}
		w := oracle(tc.q)
		if len(w) != tc.count {
			t.Errorf("%s: the oracle selects %d decisions, the test expects %d", tc.name, len(w), tc.count)
		}
		if diff := gocmp.Diff(w, got, exact, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: Decisions(%+v) (-want +got):\n%s", tc.name, tc.q, diff)
		}
	}
	if _, err := l.Decisions(ctx, ledger.Query{Limit: -1}); err == nil {
		t.Error("Decisions with a negative limit: no error")
	}
}

func testRewards(t *testing.T, l ledger.Ledger) {
	ctx := context.Background()
	closed := time.Date(2026, 6, 8, 0, 0, 0, 123456789, zone)
	rs := []decisioning.Reward{
		{DecisionID: "d1", CustomerID: "c1", Campaign: "winback", Converted: true, Value: 42.5,
			EventID: "ev-9", EventAt: closed.Add(-48*time.Hour + 1), ClosedAt: closed},
		{DecisionID: "d2", CustomerID: "c2", Campaign: "winback", ClosedAt: closed.Add(time.Hour)},
		{DecisionID: "d3", CustomerID: "c1", Campaign: "onboarding", Converted: true, Value: 1,
			EventID: "ev-10", EventAt: closed.Add(-time.Hour), ClosedAt: closed.Add(2 * time.Hour)},
		{DecisionID: "d4", CustomerID: "c3", Campaign: "winback", Value: math.NaN(), ClosedAt: closed.Add(2 * time.Hour)},
		{DecisionID: "d0", CustomerID: "c3", Campaign: "winback", Value: math.Copysign(0, -1), ClosedAt: closed.Add(2*time.Hour + 200)},
		// Metric windows of d1: keyed apart from its reward and from each
		// other; closed in the same microsecond as the reward, they sort
		// after it by metric.
		{DecisionID: "d1", CustomerID: "c1", Campaign: "winback", Metric: "unsubscribe", Converted: true, Value: 1,
			EventID: "ev-11", EventAt: closed.Add(-time.Hour), ClosedAt: closed.Add(500)},
		{DecisionID: "d1", CustomerID: "c1", Campaign: "winback", Metric: "churn_30d", ClosedAt: closed},
		{DecisionID: "d2", CustomerID: "c2", Campaign: "winback", Metric: `churn "30d" \ {x}`, ClosedAt: closed.Add(3 * time.Hour)},
	}
	if err := l.WriteRewards(ctx, rs); err != nil {
		t.Fatalf("WriteRewards: %v", err)
	}
	// Idempotent: the same batch again and changed copies (of a reward and
	// of a metric) change nothing.
	changed := rs[0]
	changed.Converted, changed.Value = false, 0
	changedMetric := rs[5]
	changedMetric.Converted, changedMetric.Value, changedMetric.EventID, changedMetric.EventAt = false, 0, "", time.Time{}
	if err := l.WriteRewards(ctx, append(slices.Clone(rs), changed, changedMetric)); err != nil {
		t.Fatalf("WriteRewards again: %v", err)
	}
	if err := l.WriteRewards(ctx, nil); err != nil {
		t.Errorf("WriteRewards(nil): %v", err)
	}
	// A batch that repeats a new key keeps its first copy.
	first := decisioning.Reward{DecisionID: "d9", CustomerID: "c9", Campaign: "x", Metric: "m", Converted: true, Value: 1, EventID: "e", EventAt: closed, ClosedAt: closed.Add(4 * time.Hour)}
	second := first
	second.Converted, second.Value, second.EventID, second.EventAt = false, 0, "", time.Time{}
	if err := l.WriteRewards(ctx, []decisioning.Reward{first, second}); err != nil {
		t.Fatalf("WriteRewards with a repeated key: %v", err)
	}

	norm := make([]decisioning.Reward, len(rs))
	for i, r := range rs {
		norm[i] = wantReward(r)
	}
	// d1's reward and metric churn_30d close in one microsecond and
	// unsubscribe in the same one: they sort by metric. d0 closed in the
	// same microsecond as d3 and d4: it sorts by id.
	ordered := []decisioning.Reward{norm[0], norm[6], norm[5], norm[1], norm[4], norm[2], norm[3], norm[7]}
	for _, tc := range []struct {
		name string
		q    ledger.Query
		want []decisioning.Reward
	}{
		{"all", ledger.Query{To: closed.Add(4 * time.Hour)}, ordered},
		{"campaign", ledger.Query{Campaign: "winback"}, []decisioning.Reward{norm[0], norm[6], norm[5], norm[1], norm[4], norm[3], norm[7]}},
		{"customer", ledger.Query{CustomerID: "c1"}, []decisioning.Reward{norm[0], norm[6], norm[5], norm[2]}},
		{"closed from", ledger.Query{From: closed.Add(time.Hour), To: closed.Add(4 * time.Hour)}, ordered[3:]},
		{"closed before", ledger.Query{To: closed.Add(time.Hour)}, ordered[:3]},
		{"limit", ledger.Query{Campaign: "winback", Limit: 2}, []decisioning.Reward{norm[0], norm[6]}},
		{"none", ledger.Query{CustomerID: "c8"}, nil},
		{"first copy", ledger.Query{CustomerID: "c9"}, []decisioning.Reward{wantReward(first)}},
	} {
		got, err := l.Rewards(ctx, tc.q)
		if err != nil {
			t.Errorf("%s: Rewards: %v", tc.name, err)
			continue
		}
		if diff := gocmp.Diff(tc.want, got, exact, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: Rewards(%+v) (-want +got):\n%s", tc.name, tc.q, diff)
		}
		for _, r := range got {
			checkUTC(t, "Rewards", r.EventAt, r.ClosedAt)
			if r.EventAt.IsZero() != (r.EventID == "") {
				t.Errorf("reward %s: event_at %v with event id %q", r.DecisionID, r.EventAt, r.EventID)
			}
		}
	}
	if _, err := l.Rewards(ctx, ledger.Query{Limit: -1}); err == nil {
		t.Error("Rewards with a negative limit: no error")
	}
}

func testDispatches(t *testing.T, l ledger.Ledger) {
	ctx := context.Background()
	at := time.Date(2026, 6, 1, 8, 0, 0, 987654321, zone)
	ds := []ledger.Dispatch{
		{DecisionID: "d1", Attempt: 2, Status: "sent", Channel: "email", ProviderMessageID: "<msg-2@example.com>", At: at.Add(time.Minute)},
		{DecisionID: "d1", Attempt: 1, Status: "failed", Channel: "email", Error: "smtp: 451 4.7.1 try again later", At: at},
		{DecisionID: "d2", Attempt: 0, Status: "rejected", Channel: "sms", Error: "no phone number", At: at},
		{DecisionID: "d1", Attempt: 3, Status: "sent", Channel: "email", At: at.Add(2 * time.Minute)},
	}
	if err := l.WriteDispatches(ctx, ds); err != nil {
		t.Fatalf("WriteDispatches: %v", err)
	}
	changed := ds[1]
	changed.Status, changed.Error = "sent", ""
	if err := l.WriteDispatches(ctx, []ledger.Dispatch{changed, ds[0]}); err != nil {
		t.Fatalf("WriteDispatches again: %v", err)
	}
	norm := func(d ledger.Dispatch) ledger.Dispatch { d.At = ledger.Time(d.At); return d }
	got, err := l.Dispatches(ctx, "d1")
	if err != nil {
		t.Fatalf("Dispatches: %v", err)
	}
	if diff := gocmp.Diff([]ledger.Dispatch{norm(ds[1]), norm(ds[0]), norm(ds[3])}, got); diff != "" {
		t.Errorf("Dispatches(d1) (-want +got):\n%s", diff)
	}
	for _, d := range got {
		checkUTC(t, "Dispatches", d.At)
	}
	got, err = l.Dispatches(ctx, "none")
	if err != nil || len(got) != 0 {
		t.Errorf("Dispatches of a decision without any = %v, %v; want none, nil", got, err)
	}
}

func testNotFound(t *testing.T, l ledger.Ledger) {
	write(t, l, full("present"))
	_, err := l.Decision(context.Background(), "absent")
	if !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("Decision(absent) = %v, want an error wrapping ErrNotFound", err)
	}
	if errors.Is(err, ledger.ErrUnavailable) {
		t.Errorf("Decision(absent) = %v, which wraps ErrUnavailable", err)
	}
}

func testInvalid(t *testing.T, l ledger.Ledger) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(d *decisioning.Decision)
	}{
		{"empty id", func(d *decisioning.Decision) { d.ID = "" }},
		{"empty customer", func(d *decisioning.Decision) { d.CustomerID = "" }},
		{"empty campaign", func(d *decisioning.Decision) { d.Campaign = "" }},
		{"outcome 0", func(d *decisioning.Decision) { d.Outcome = 0 }},
		{"outcome 6", func(d *decisioning.Decision) { d.Outcome = 6 }},
		{"zero time", func(d *decisioning.Decision) { d.DecidedAt = time.Time{} }},
		{"long id", func(d *decisioning.Decision) { d.ID = strings.Repeat("x", ledger.MaxKeyLen+1) }},
		{"arm index", func(d *decisioning.Decision) { d.ArmIndex = math.MaxInt32 + 1 }},
		{"segment", func(d *decisioning.Decision) { d.Segment = math.MinInt32 - 1 }},
		{"NUL in customer", func(d *decisioning.Decision) { d.CustomerID = "c\x00" }},
		{"invalid UTF-8 in a reason", func(d *decisioning.Decision) { d.Reasons = []string{"ok", "\xff"} }},
		{"NUL in a version", func(d *decisioning.Decision) { d.Versions["policy"] = "\x00" }},
		{"invalid UTF-8 in a context key", func(d *decisioning.Decision) { d.Context["\xc3"] = "v" }},
		{"NUL in a feature name", func(d *decisioning.Decision) { d.FeatureNames[1] = "a\x00b" }},
		{"invalid UTF-8 in an offer", func(d *decisioning.Decision) { d.Arms[0].Offer = "\xe2\x82" }},
		{"NUL in a next-best-action class", func(d *decisioning.Decision) { d.Scores.NextBestAction["\x00"] = 1 }},
		{"NUL in a metric name", func(d *decisioning.Decision) { d.Metrics[0].Name = "un\x00sub" }},
		{"invalid UTF-8 in a metric event", func(d *decisioning.Decision) { d.Metrics[1].Event = "\xff" }},
	} {
		bad := full("bad-" + strings.ReplaceAll(tc.name, " ", "-"))
		tc.change(&bad)
		good := full("good-" + strings.ReplaceAll(tc.name, " ", "-"))
		if err := l.WriteDecisions(ctx, []decisioning.Decision{good, bad}); err == nil {
			t.Errorf("%s: WriteDecisions accepted an invalid decision", tc.name)
		} else if errors.Is(err, ledger.ErrUnavailable) {
			t.Errorf("%s: WriteDecisions = %v, which wraps ErrUnavailable", tc.name, err)
		}
		if _, err := l.Decision(ctx, good.ID); !errors.Is(err, ledger.ErrNotFound) {
			t.Errorf("%s: the valid decision of a refused batch was written (Decision: %v)", tc.name, err)
		}
	}

	closed := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, r := range []decisioning.Reward{
		{CustomerID: "c", Campaign: "x", ClosedAt: closed},
		{DecisionID: "d", Campaign: "x", ClosedAt: closed},
		{DecisionID: "d", CustomerID: "c", Campaign: "x"},
		{DecisionID: "d", CustomerID: "c", Campaign: "x", ClosedAt: closed, EventID: "\x00"},
		{DecisionID: "d", CustomerID: "c", Campaign: "x", ClosedAt: closed, Metric: "churn\x00"},
		{DecisionID: "d", CustomerID: "c", Campaign: "x", ClosedAt: closed, Metric: "\xc3"},
		{DecisionID: "d", CustomerID: "c", Campaign: "x", ClosedAt: closed, Metric: strings.Repeat("m", ledger.MaxKeyLen+1)},
	} {
		if err := l.WriteRewards(ctx, []decisioning.Reward{r}); err == nil {
			t.Errorf("WriteRewards accepted %+v", r)
		}
	}
	for _, d := range []ledger.Dispatch{
		{Attempt: 1, Status: "sent", At: closed},
		{DecisionID: "d", Attempt: 1, At: closed},
		{DecisionID: "d", Attempt: -1, Status: "sent", At: closed},
		{DecisionID: "d", Attempt: 1, Status: "sent"},
		{DecisionID: "d", Attempt: 1, Status: "failed", Error: "\xff", At: closed},
	} {
		if err := l.WriteDispatches(ctx, []ledger.Dispatch{d}); err == nil {
			t.Errorf("WriteDispatches accepted %+v", d)
		}
	}
	if rs, err := l.Rewards(ctx, ledger.Query{}); err != nil || len(rs) != 0 {
		t.Errorf("after refused writes Rewards = %v, %v; want none", rs, err)
	}
	if ds, err := l.Dispatches(ctx, "d"); err != nil || len(ds) != 0 {
		t.Errorf("after refused writes Dispatches = %v, %v; want none", ds, err)
	}
}

// testCanceled: a canceled context fails every call with its error, which
// is not an outage.
func testCanceled(t *testing.T, l ledger.Ledger) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	check := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context = %v, want an error wrapping context.Canceled", name, err)
		}
		if errors.Is(err, ledger.ErrUnavailable) {
			t.Errorf("%s with a canceled context = %v, which wraps ErrUnavailable", name, err)
		}
	}
	check("WriteDecisions", l.WriteDecisions(ctx, []decisioning.Decision{full("c")}))
	_, err := l.Decisions(ctx, ledger.Query{})
	check("Decisions", err)
	_, err = l.Decision(ctx, "c")
	check("Decision", err)
	if _, err := l.Decision(context.Background(), "c"); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("a write with a canceled context was recorded (Decision: %v)", err)
	}
}

// testConcurrentWriters: writers of overlapping batches, in different
// orders and with repeats, record every decision exactly once.
func testConcurrentWriters(t *testing.T, l ledger.Ledger) {
	pool := Sample(200, 4)
	const writers, batches = 8, 6
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches)
	for w := range writers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 5))
			for range batches {
				batch := make([]decisioning.Decision, 0, 80)
				for range 80 {
					batch = append(batch, pool[r.IntN(len(pool))])
				}
				if err := l.WriteDecisions(context.Background(), batch); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent WriteDecisions: %v", err)
	}
	// Then every decision, so that the whole pool is recorded.
	write(t, l, pool...)
	if diff := gocmp.Diff(sorted(wants(pool)), all(t, l), exact); diff != "" {
		t.Errorf("after concurrent overlapping writes (-want +got):\n%s", diff)
	}
}

// testConflictingWriters: writers racing with different copies of the same
// decisions leave exactly one copy of each, one of those written.
func testConflictingWriters(t *testing.T, l ledger.Ledger) {
	const writers, ids = 6, 40
	copies := make([][]decisioning.Decision, writers)
	for w := range copies {
		for i := range ids {
			d := full(fmt.Sprintf("race-%02d", i))
			d.Reasons = []string{fmt.Sprintf("writer-%d", w)}
			copies[w] = append(copies[w], d)
		}
		if w%2 == 1 {
			slices.Reverse(copies[w])
		}
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			<-start
			errs[w] = l.WriteDecisions(context.Background(), copies[w])
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent WriteDecisions: %v", err)
	}
	got := all(t, l)
	if len(got) != ids {
		t.Fatalf("%d decisions recorded, want %d", len(got), ids)
	}
	for _, d := range got {
		w := -1
		if len(d.Reasons) == 1 {
			_, _ = fmt.Sscanf(d.Reasons[0], "writer-%d", &w)
		}
		if w < 0 || w >= writers {
			t.Errorf("decision %s: reasons %q are no writer's", d.ID, d.Reasons)
			continue
		}
		i := slices.IndexFunc(copies[w], func(c decisioning.Decision) bool { return c.ID == d.ID })
		if diff := gocmp.Diff(want(copies[w][i]), d, exact); diff != "" {
			t.Errorf("decision %s is not writer %d's copy (-want +got):\n%s", d.ID, w, diff)
		}
	}
}

// testSample: Sample's decisions are valid and round-trip.
func testSample(t *testing.T, l ledger.Ledger) {
	ds := Sample(200, 6)
	write(t, l, ds...)
	if diff := gocmp.Diff(sorted(wants(ds)), all(t, l), exact); diff != "" {
		t.Errorf("Sample round trip (-want +got):\n%s", diff)
	}
}
