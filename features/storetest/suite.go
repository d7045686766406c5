// Package storetest is the contract every features.Store and
// features.EventLog implementation must pass: memstore and redisstore run
// the same suite, and a property test holds both to a brute-force oracle
// written from the documented window rules, independently of the tile code.
package storetest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kairos/features"
)

// Factory returns a fresh, empty store computing the features of set. The
// same value usually implements both interfaces.
type Factory func(t *testing.T, set *features.Set) (features.Store, features.EventLog)

// testYAML covers every aggregation, tile granularity, filter and ratio.
const testYAML = `
custom_events: [trial_extended]
features:
  - {name: views_5m,      event: page_view, agg: count, window: 5m}
  - {name: views_1h,      event: page_view, agg: count, window: 1h}
  - {name: views_24h,     event: page_view, agg: count, window: 24h}
  - {name: pricing_2h,    event: page_view, where: {page: pricing}, agg: count, window: 2h}
  - {name: flagged_7d,    event: page_view, where: {flag: true, page: home}, agg: count, window: 7d}
  - {name: products_7d,   event: page_view, agg: distinct, field: product_id, window: 7d}
  - {name: products_life, event: page_view, agg: distinct, field: product_id}
  - {name: revenue_1h,    event: purchase, agg: sum, field: amount, window: 1h}
  - {name: revenue_30d,   event: purchase, agg: sum, field: amount, window: 30d}
  - {name: revenue_life,  event: purchase, agg: sum, field: amount, window: lifetime}
  - {name: min_order_7d,  event: purchase, agg: min, field: amount, window: 7d}
  - {name: max_order_30d, event: purchase, agg: max, field: amount, window: 30d}
  - {name: max_order_life, event: purchase, agg: max, field: amount}
  - {name: min_order_life, event: purchase, agg: min, field: amount}
  - {name: purchases_life, event: purchase, agg: count}
  - {name: last_plan,     event: subscription_started, agg: last, field: plan_price}
  - {name: last_plan_24h, event: subscription_started, agg: last, field: plan_price, window: 24h}
  - {name: since_login,   event: login, agg: since_last}
  - {name: since_login_2h, event: login, agg: since_last, window: 2h}
  - {name: since_first,   event: "*", agg: since_first}
  - {name: since_first_24h, event: "*", agg: since_first, window: 24h}
  - {name: events_15m,    event: "*", agg: count, window: 15m}
  - {name: trials_30d,    event: trial_extended, agg: count, window: 30d}
  - {name: logins_7d,     event: login, agg: count, window: 7d}
  - {name: logins_30d,    event: login, agg: count, window: 30d}
  - {name: login_trend,   ratio: [logins_7d, logins_30d]}
`

// TestSet returns the feature set the suite uses.
func TestSet(t testing.TB) *features.Set {
	set, err := features.Parse([]byte(testYAML), "storetest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// Run runs the whole contract against stores made by newStores.
func Run(t *testing.T, newStores Factory) {
	t.Run("Oracle", func(t *testing.T) { testOracle(t, newStores) })
	t.Run("UnknownCustomer", func(t *testing.T) { testUnknownCustomer(t, newStores) })
	t.Run("CustomerRecord", func(t *testing.T) { testCustomerRecord(t, newStores) })
	t.Run("DedupHorizon", func(t *testing.T) { testDedupHorizon(t, newStores) })
	t.Run("LateEvents", func(t *testing.T) { testLateEvents(t, newStores) })
	t.Run("DistinctEstimate", func(t *testing.T) { testDistinctEstimate(t, newStores) })
	t.Run("ConcurrentTrack", func(t *testing.T) { testConcurrentTrack(t, newStores) })
	t.Run("EventLog", func(t *testing.T) { testEventLog(t, newStores) })
}

// base is the start of simulated time: near the real clock, because Redis
// expires tile buckets on its own clock.
func base() time.Time { return time.Now().UTC().Truncate(time.Minute) }

// gen makes random, realistic-enough events with duplicates, out-of-order
// and late times, future times within the allowed skew, and properties of
// every kind.
type gen struct {
	r    *rand.Rand
	n    int
	sent []features.Event
}

var genTypes = []string{"page_view", "page_view", "page_view", "purchase", "login", "subscription_started", "trial_extended", "click"}

func (g *gen) event(now time.Time, customers []string) features.Event {
	g.n++
	if len(g.sent) > 0 && g.r.IntN(8) == 0 {
		// A duplicate id; its content may differ and must change nothing.
		d := g.sent[g.r.IntN(len(g.sent))]
		if g.r.IntN(2) == 0 {
			d.Time = now
			d.Properties = map[string]features.Value{"amount": features.Number(1e6)}
		}
		return d
	}
	e := features.Event{
		ID:         fmt.Sprintf("ev-%d", g.n),
		CustomerID: customers[g.r.IntN(len(customers))],
		Type:       genTypes[g.r.IntN(len(genTypes))],
		Properties: map[string]features.Value{},
	}
	switch k := g.r.IntN(20); {
	case k < 12: // recent
		e.Time = now.Add(-time.Duration(g.r.Int64N(int64(2 * time.Hour))))
	case k < 16: // out of order, up to 10 days old
		e.Time = now.Add(-time.Duration(g.r.Int64N(int64(240 * time.Hour))))
	case k < 17: // late, or close to: around the start of the longest window
		e.Time = now.Add(-29*24*time.Hour - time.Duration(g.r.Int64N(int64(240*time.Hour))))
	case k < 18: // slightly in the future
		e.Time = now.Add(time.Duration(g.r.Int64N(int64(features.MaxFutureSkew))))
	default: // exactly now, on a tile edge
		e.Time = now
	}
	e.Time = e.Time.Truncate(time.Millisecond)
	switch e.Type {
	case "page_view":
		e.Properties["page"] = features.String([]string{"home", "pricing", "docs"}[g.r.IntN(3)])
		e.Properties["product_id"] = features.String(fmt.Sprintf("p%d", g.r.IntN(25)))
		if g.r.IntN(3) == 0 {
			e.Properties["flag"] = features.Bool(g.r.IntN(2) == 0)
		}
	case "purchase":
		if g.r.IntN(6) != 0 {
			e.Properties["amount"] = features.Number(math.Round(g.r.Float64()*20000)/100 - 5)
		}
		e.Properties["currency"] = features.String("EUR")
	case "subscription_started":
		if g.r.IntN(5) != 0 {
			e.Properties["plan_price"] = features.Number(float64(g.r.IntN(4)) * 9.5)
		}
	}
	g.sent = append(g.sent, e)
	return e
}

func testOracle(t *testing.T, newStores Factory) {
	set := TestSet(t)
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			store, log := newStores(t, set)
			ctx := context.Background()
			if err := log.CreateGroup(ctx, "check"); err != nil {
				t.Fatal(err)
			}
			o := newOracle(set)
			g := &gen{r: rand.New(rand.NewPCG(seed, 99))}
			customers := []string{"alice", "bob", "{carol}", "ünï"}
			now := base()
			var accepted []string
			seq := 0
			for batch := 0; batch < 120; batch++ {
				// Time moves in steps from seconds to most of a day.
				steps := []time.Duration{time.Second, 37 * time.Second, 4 * time.Minute, 50 * time.Minute, 7 * time.Hour}
				now = now.Add(steps[g.r.IntN(len(steps))])
				events := make([]features.Event, 1+g.r.IntN(25))
				for i := range events {
					events[i] = g.event(now, customers)
				}
				want := o.track(events, now, &seq)
				got, err := store.Track(ctx, slices.Clone(events), now)
				if err != nil {
					t.Fatalf("batch %d: Track: %v", batch, err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("batch %d: statuses (-want +got):\n%s", batch, diff)
				}
				for i, s := range want {
					if s == features.Accepted {
						accepted = append(accepted, events[i].CustomerID+"/"+events[i].ID)
					}
				}
				// Read at the batch time and a little later, as windows slide.
				for _, at := range []time.Time{now, now.Add(time.Duration(g.r.Int64N(int64(3 * time.Hour))))} {
					for _, c := range customers {
						checkProfile(t, store, o, c, at, fmt.Sprintf("batch %d", batch))
					}
				}
			}
			// Every accepted event is in the log exactly once, in order per
			// customer; duplicates are not.
			var logged []string
			for {
				entries, err := log.Read(ctx, "check", "c1", 500, 0)
				if err != nil {
					t.Fatal(err)
				}
				if len(entries) == 0 {
					break
				}
				for _, e := range entries {
					for _, ev := range e.Events {
						logged = append(logged, ev.CustomerID+"/"+ev.ID)
					}
				}
			}
			slices.Sort(accepted)
			slices.Sort(logged)
			if diff := cmp.Diff(accepted, logged); diff != "" {
				t.Fatalf("event log vs accepted events (-accepted +logged):\n%s", diff)
			}
		})
	}
}

func checkProfile(t *testing.T, store features.Store, o *oracle, customer string, at time.Time, where string) {
	t.Helper()
	p, err := store.Profile(context.Background(), customer, at)
	if err != nil {
		t.Fatalf("%s: Profile(%q): %v", where, customer, err)
	}
	want := o.vector(customer, at)
	if !slices.Equal(p.Vector.Names, o.set.Names()) {
		t.Fatalf("%s: names %v, want %v", where, p.Vector.Names, o.set.Names())
	}
	for i, name := range p.Vector.Names {
		if !approxEqual(want[i], p.Vector.Values[i]) {
			t.Errorf("%s: customer %q at %s: %s = %v, oracle says %v", where, customer, at.Format(time.RFC3339), name, p.Vector.Values[i], want[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// approxEqual compares feature values: NaN equals NaN; sums may differ in the last
// bits because stores add in another order (Redis in long double).
func approxEqual(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func get(t *testing.T, p features.Profile, name string) float64 {
	t.Helper()
	v, ok := p.Vector.Get(name)
	if !ok {
		t.Fatalf("feature %q not in profile", name)
	}
	return v
}

func testUnknownCustomer(t *testing.T, newStores Factory) {
	store, _ := newStores(t, TestSet(t))
	p, err := store.Profile(context.Background(), "nobody", base())
	if err != nil {
		t.Fatal(err)
	}
	if p.Customer != nil || !p.UpdatedAt.IsZero() || p.CustomerID != "nobody" {
		t.Fatalf("unknown customer: got %+v", p)
	}
	for i, name := range p.Vector.Names {
		v := p.Vector.Values[i]
		d := TestSet(t).Definitions()[i]
		zero := d.Agg == features.Count || d.Agg == features.Sum || d.Agg == features.Distinct
		if zero && v != 0 || !zero && !math.IsNaN(v) {
			t.Errorf("%s = %v for an unknown customer; want 0 for count/sum/distinct, NaN otherwise", name, v)
		}
	}
}

func testCustomerRecord(t *testing.T, newStores Factory) {
	store, _ := newStores(t, TestSet(t))
	ctx := context.Background()
	now := base()
	c := features.Customer{ID: "ada", Email: "ada@example.com", Phone: "+14155550123", Timezone: "Europe/Berlin",
		Consents: map[string]bool{"email": true, "sms": false}, Attributes: map[string]string{"tier": "gold"}}
	if err := store.UpsertCustomer(ctx, c, now); err != nil {
		t.Fatal(err)
	}
	p, err := store.Profile(ctx, "ada", now)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&c, p.Customer); diff != "" {
		t.Fatalf("record (-want +got):\n%s", diff)
	}
	if !p.UpdatedAt.Equal(now) {
		t.Fatalf("UpdatedAt = %v, want %v", p.UpdatedAt, now)
	}
	// Upsert replaces the whole record.
	c2 := features.Customer{ID: "ada", PushToken: "tok"}
	later := now.Add(time.Minute)
	if err := store.UpsertCustomer(ctx, c2, later); err != nil {
		t.Fatal(err)
	}
	p, _ = store.Profile(ctx, "ada", later)
	if diff := cmp.Diff(&c2, p.Customer); diff != "" {
		t.Fatalf("replaced record (-want +got):\n%s", diff)
	}
	if !p.UpdatedAt.Equal(later) {
		t.Fatalf("UpdatedAt = %v, want %v", p.UpdatedAt, later)
	}
}

func testDedupHorizon(t *testing.T, newStores Factory) {
	store, _ := newStores(t, TestSet(t))
	ctx := context.Background()
	// Start at the beginning of a dedup week (weeks of the Unix epoch).
	now := time.Unix((features.DedupWeek(base())+1)*7*86400, 0).UTC()
	if now.After(base().Add(7 * 24 * time.Hour)) {
		t.Fatal("test start too far from the real clock")
	}
	ev := func(at time.Time) []features.Event {
		return []features.Event{{ID: "same", CustomerID: "c", Type: "login", Time: at}}
	}
	for _, step := range []struct {
		after time.Duration
		want  features.Status
	}{
		{0, features.Accepted},
		{time.Hour, features.Duplicate},
		{6 * 24 * time.Hour, features.Duplicate},
		{7 * 24 * time.Hour, features.Duplicate}, // the next week
		{14*24*time.Hour - time.Second, features.Duplicate},
		{14 * 24 * time.Hour, features.Accepted}, // two weeks on: forgotten
		{14*24*time.Hour + time.Minute, features.Duplicate},
	} {
		at := now.Add(step.after)
		got, err := store.Track(ctx, ev(at), at)
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != step.want {
			t.Fatalf("after %v: status %v, want %v", step.after, got[0], step.want)
		}
	}
}

func testLateEvents(t *testing.T, newStores Factory) {
	set := TestSet(t)
	store, log := newStores(t, set)
	ctx := context.Background()
	if err := log.CreateGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	now := base()
	late := features.Event{ID: "old", CustomerID: "c", Type: "purchase", Time: now.Add(-set.Longest() - 48*time.Hour),
		Properties: map[string]features.Value{"amount": features.Number(10)}}
	st, err := store.Track(ctx, []features.Event{late}, now)
	if err != nil || st[0] != features.Accepted {
		t.Fatalf("late event: status %v, err %v; want accepted", st, err)
	}
	p, _ := store.Profile(ctx, "c", now)
	if v := get(t, p, "revenue_life"); v != 0 {
		t.Fatalf("a late event changed revenue_life to %v", v)
	}
	entries, err := log.Read(ctx, "g", "x", 10, 0)
	if err != nil || len(entries) != 1 || len(entries[0].Events) != 1 || entries[0].Events[0].ID != "old" {
		t.Fatalf("late event not in the log: %v, %v", entries, err)
	}
}

func testDistinctEstimate(t *testing.T, newStores Factory) {
	store, _ := newStores(t, TestSet(t))
	ctx := context.Background()
	now := base()
	track := func(prefix string, n int) {
		var batch []features.Event
		for i := 0; i < n; i++ {
			batch = append(batch, features.Event{ID: fmt.Sprintf("%s-%d", prefix, i), CustomerID: prefix, Type: "page_view", Time: now,
				Properties: map[string]features.Value{"product_id": features.String(fmt.Sprintf("sku-%d", i))}})
			if len(batch) == features.MaxBatch || i == n-1 {
				if _, err := store.Track(ctx, batch, now); err != nil {
					t.Fatal(err)
				}
				batch = nil
			}
		}
	}
	// Exact below the sketch size.
	track("exact", features.KMVSize-1)
	p, _ := store.Profile(ctx, "exact", now)
	if v := get(t, p, "products_7d"); v != features.KMVSize-1 {
		t.Fatalf("products_7d = %v, want exactly %d", v, features.KMVSize-1)
	}
	// Estimated above it, within the documented relative standard error
	// 1/sqrt(k-2) (three of them, so the test is not flaky across hashes).
	track("many", 5000)
	p, _ = store.Profile(ctx, "many", now)
	rse := 1 / math.Sqrt(features.KMVSize-2)
	for _, name := range []string{"products_7d", "products_life"} {
		if v := get(t, p, name); math.Abs(v-5000)/5000 > 3*rse {
			t.Fatalf("%s = %v, want 5000 within ±%.0f%%", name, v, 300*rse)
		}
	}
}

func testConcurrentTrack(t *testing.T, newStores Factory) {
	store, _ := newStores(t, TestSet(t))
	ctx := context.Background()
	now := base()
	const workers, batches, per = 8, 10, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				batch := make([]features.Event, per)
				for i := range batch {
					// Every worker also re-sends worker 0's ids: each id
					// must be accepted exactly once overall.
					id := fmt.Sprintf("w%d-b%d-%d", w, b, i)
					if i%2 == 0 {
						id = fmt.Sprintf("w0-b%d-%d", b, i)
					}
					batch[i] = features.Event{ID: id, CustomerID: "hot", Type: "page_view", Time: now}
				}
				if _, err := store.Track(ctx, batch, now); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	p, _ := store.Profile(ctx, "hot", now)
	// Worker 0 sends 50 distinct ids per batch; the others add 25 of their own.
	want := float64(batches * (per + (workers-1)*per/2))
	if v := get(t, p, "views_1h"); v != want {
		t.Fatalf("views_1h = %v after concurrent tracking, want %v", v, want)
	}
}

func testEventLog(t *testing.T, newStores Factory) {
	store, log := newStores(t, TestSet(t))
	ctx := context.Background()
	now := base()
	for _, g := range []string{"archiver", "joiner"} {
		if err := log.CreateGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
		if err := log.CreateGroup(ctx, g); err != nil {
			t.Fatalf("creating an existing group: %v", err)
		}
	}
	// Three Track calls: each call's accepted events are one entry;
	// duplicates are not logged, and a call of only duplicates logs nothing.
	ev := func(id string, i int) features.Event {
		return features.Event{ID: id, CustomerID: "c", Type: "click", Time: now,
			Properties: map[string]features.Value{"n": features.Number(float64(i)), "s": features.String("x\ny\"z\x01"), "b": features.Bool(true)}}
	}
	calls := [][]features.Event{
		{ev("a1", 1), ev("a2", 2)},
		{ev("a2", 2), ev("b1", 3)},
		{ev("a1", 1)},
		{ev("c1", 4)},
	}
	want := [][]features.Event{calls[0], calls[1][1:], calls[3]}
	for _, c := range calls {
		if _, err := store.Track(ctx, c, now); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := log.Len(ctx); err != nil || n != 3 {
		t.Fatalf("Len = %d, %v; want 3 entries", n, err)
	}
	got, err := log.Read(ctx, "archiver", "a1", 2, 0)
	if err != nil || len(got) != 2 {
		t.Fatalf("Read: %d entries, %v; want 2", len(got), err)
	}
	for i, e := range got {
		if diff := cmp.Diff(want[i], e.Events); diff != "" {
			t.Fatalf("entry %d (-want +got):\n%s", i, diff)
		}
		if !e.Arrived.Equal(now) {
			t.Fatalf("Arrived = %v, want %v", e.Arrived, now)
		}
	}
	// The other group sees everything, independently.
	other, _ := log.Read(ctx, "joiner", "j1", 10, 0)
	if len(other) != 3 {
		t.Fatalf("second group read %d entries, want 3", len(other))
	}
	// a1 acks the first and "crashes"; a2 claims the one still pending.
	if err := log.Ack(ctx, "archiver", got[0].ID); err != nil {
		t.Fatal(err)
	}
	claimed, err := log.Claim(ctx, "archiver", "a2", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if ids := entryIDs(claimed); !slices.Equal(ids, entryIDs(got[1:])) {
		t.Fatalf("claimed %v, want the unacknowledged %v", ids, entryIDs(got[1:]))
	}
	// Entries pending for less than minIdle are not claimed.
	if c, _ := log.Claim(ctx, "archiver", "a3", time.Hour, 10); len(c) != 0 {
		t.Fatalf("claimed %d fresh entries, want none", len(c))
	}
	rest, _ := log.Read(ctx, "archiver", "a2", 10, 0)
	if len(rest) != 1 || rest[0].Events[0].ID != "c1" {
		t.Fatalf("read %v, want the remaining entry", rest)
	}
	// A blocking read returns as soon as an event arrives.
	done := make(chan []features.LogEntry)
	go func() {
		e, _ := log.Read(ctx, "archiver", "a2", 10, 5*time.Second)
		done <- e
	}()
	time.Sleep(50 * time.Millisecond)
	if _, err := store.Track(ctx, []features.Event{{ID: "late-arrival", CustomerID: "c", Type: "click", Time: now}}, now); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-done:
		if len(e) != 1 || len(e[0].Events) != 1 || e[0].Events[0].ID != "late-arrival" {
			t.Fatalf("blocking read got %v", e)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("blocking read did not return when an event arrived")
	}
	// A count below 1 is a caller's bug, not an empty read.
	if _, err := log.Read(ctx, "archiver", "a2", 0, 0); err == nil {
		t.Error("Read with count 0 succeeded")
	}
	if _, err := log.Claim(ctx, "archiver", "a2", 0, 0); err == nil {
		t.Error("Claim with count 0 succeeded")
	}
	// A non-blocking read of an empty group returns at once.
	start := time.Now()
	if e, err := log.Read(ctx, "archiver", "a2", 10, 0); err != nil || len(e) != 0 || time.Since(start) > time.Second {
		t.Fatalf("non-blocking read: %v, %v after %v", e, err, time.Since(start))
	}
}

func entryIDs(es []features.LogEntry) []string {
	var ids []string
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	return ids
}
