package decisioning_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"kairos/decisioning"
	"kairos/decisioning/bandit"
	"kairos/decisioning/memstate"
	"kairos/decisioning/redisstate"
	"kairos/features"
	"kairos/features/memstore"
	"kairos/features/redisstore"
	"kairos/internal/redistest"
	"kairos/ledger"
)

func memHarness(t *testing.T, yaml string) (*harness, *memstate.State) {
	set := features.Default()
	cfg, err := decisioning.ParseConfig("test.yaml", []byte(yaml), set)
	if err != nil {
		t.Fatal(err)
	}
	ms := memstore.New(set, memstore.Options{})
	st := memstate.New(ms, memstate.Options{Lookback: cfg.Lookback()})
	return newHarness(t, backend{"memory", ms, ms, st, st, st, st, st.DispatchLen}, set, cfg, scorer{churn: 0.2, propensity: 0.4}), st
}

// Holdout decisions (nothing sent) are fed to the bandit as observations of the would-be arm.
func TestReviewHoldoutTrainsPolicy(t *testing.T) {
	yaml := strings.Replace(testConfig, "holdout: 0%\n    salt: c1", "holdout: 99.99%\n    salt: c1", 1)
	h, _ := memHarness(t, yaml)
	ctx := context.Background()
	held := 0
	for i := range 20 {
		id := "h" + string(rune('a'+i))
		h.customer(reachable(id))
		if d := h.decide(id, "cart"); d.Outcome == decisioning.Holdout {
			held++
		}
	}
	j := decisioning.NewJoiner(decisioning.JoinerOptions{Config: h.cfg, Log: h.b.evlog, Windows: h.b.wins, Policies: h.b.pols, Consumer: "j", Now: h.clock})
	h.advance(73 * time.Hour)
	n, err := j.CloseDue(ctx, 100)
	st, _ := h.b.pols.LoadPolicies(ctx, []string{"cart"})
	t.Logf("holdout decisions %d, windows closed %d (err %v), cart policy updates %d", held, n, err, st["cart"].Updates)
}

// A conversion still unread in the event log when its window's end passes is closed as 0.
func TestReviewCloseDueBeforeLogCaughtUp(t *testing.T) {
	h, _ := memHarness(t, testConfig)
	ctx := context.Background()
	h.customer(reachable("buyer"))
	h.customer(reachable("other"))
	d := h.sendVia("buyer", "cart", "email", 0, 5)
	j := decisioning.NewJoiner(decisioning.JoinerOptions{Config: h.cfg, Log: h.b.evlog, Windows: h.b.wins, Policies: h.b.pols, Consumer: "j", Now: h.clock, Batch: 1})
	if err := h.b.evlog.CreateGroup(ctx, decisioning.JoinerGroup); err != nil {
		t.Fatal(err)
	}
	at := h.clock()
	// joiner down for a while: a page view and then a purchase 1h after the decision are logged
	h.b.feats.Track(ctx, []features.Event{{ID: "pv", CustomerID: "other", Type: "page_view", Time: at.Add(time.Minute)}}, at.Add(time.Minute))
	h.b.feats.Track(ctx, []features.Event{{ID: "p1", CustomerID: "buyer", Type: "purchase", Time: at.Add(time.Hour),
		Properties: map[string]features.Value{"amount": features.Number(50), "currency": features.String("EUR")}}}, at.Add(time.Hour))
	h.advance(73 * time.Hour)
	// what Run does first after it comes back: one Step, then CloseDue
	j.Step(ctx, 0)
	j.CloseDue(ctx, 1000)
	for {
		n, err := j.Step(ctx, 0)
		if err != nil || n == 0 {
			break
		}
	}
	mem := ledger.NewMemory()
	dr := ledger.NewDrainer(h.b.queue, mem, ledger.DrainOptions{Consumer: "d"})
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	dr.Flush(fctx)
	rs, _ := mem.Rewards(ctx, ledger.Query{})
	for _, r := range rs {
		if r.DecisionID == d.ID {
			t.Logf("reward of the buyer's decision: converted=%v value=%v (purchase p1 at +1h, window 72h)", r.Converted, r.Value)
		}
	}
}

type flakyPolicies struct {
	decisioning.PolicyStore
	fail int
}

func (f *flakyPolicies) UpdatePolicy(ctx context.Context, c string, fn func(*bandit.State) (*bandit.State, error)) error {
	if f.fail > 0 {
		f.fail--
		return errors.New("redis: connection reset")
	}
	return f.PolicyStore.UpdatePolicy(ctx, c, fn)
}

// A failed policy update after CloseWindows loses the observation for good.
func TestReviewPolicyUpdateLost(t *testing.T) {
	h, _ := memHarness(t, testConfig)
	ctx := context.Background()
	h.customer(reachable("idle"))
	h.sendVia("idle", "cart", "email", 0, 5)
	fp := &flakyPolicies{PolicyStore: h.b.pols, fail: 1}
	j := decisioning.NewJoiner(decisioning.JoinerOptions{Config: h.cfg, Log: h.b.evlog, Windows: h.b.wins, Policies: fp, Consumer: "j", Now: h.clock, Registerer: prometheus.NewRegistry()})
	h.advance(73 * time.Hour)
	_, err1 := j.CloseDue(ctx, 100)
	n, err2 := j.CloseDue(ctx, 100)
	st, _ := h.b.pols.LoadPolicies(ctx, []string{"cart"})
	t.Logf("first CloseDue err=%v; retry closed %d err=%v; policy state %v", err1, n, err2, st["cart"])
}

// Commit whose reply is late: the script runs, the caller is told NO_ACTION not_recorded.
type slowCommit struct {
	decisioning.State
	block func()
}

func (s slowCommit) Commit(ctx context.Context, req string, ds []decisioning.Decision) (*decisioning.Decision, error) {
	s.block()
	return s.State.Commit(ctx, req, ds)
}

func TestReviewCommitTimeoutStillRecorded(t *testing.T) {
	set := features.Default()
	cfg, err := decisioning.ParseConfig("test.yaml", []byte(testConfig), set)
	if err != nil {
		t.Fatal(err)
	}
	srv := redistest.Start(t)
	client := srv.Client(t)
	other := srv.Client(t)
	rs := redisstore.New(client, set, redisstore.Options{})
	st := redisstate.New(rs, redisstate.Options{Lookback: cfg.Lookback()})
	ctx := context.Background()
	block := func() {
		// another client's slow script (or a fork/AOF fsync stall) holds Redis for 300 ms
		go other.Eval(ctx, "local t = redis.call('TIME'); local s = t[1]*1e6+t[2]; repeat local n = redis.call('TIME') until n[1]*1e6+n[2] - s > 300000; return 1", nil)
		time.Sleep(10 * time.Millisecond)
	}
	e, err := decisioning.New(decisioning.Options{Config: cfg, Set: set, State: slowCommit{st, block}, Scorer: scorer{churn: 0.2, propensity: 0.4}, Policies: st, Deadline: 50 * time.Millisecond, Uniform: func() float64 { return 0.1 }})
	if err != nil {
		t.Fatal(err)
	}
	c := reachable("c1")
	c.Timezone = "Pacific/Kiritimati"
	rs.UpsertCustomer(ctx, c, time.Now())
	d, err := e.Decide(ctx, decisioning.Request{CustomerID: "c1", Campaigns: []string{"cart"}, RequestID: "r1"})
	t.Logf("Decide answered %v %v err=%v", d.Outcome, d.Reasons, err)
	time.Sleep(500 * time.Millisecond)
	dl, _ := st.DispatchLen(ctx)
	ql, _ := st.QueueLen(ctx)
	t.Logf("after the stall: dispatch queue %d, ledger queue %d", dl, ql)
	d2, err := decisioning.New(decisioning.Options{Config: cfg, Set: set, State: st, Scorer: scorer{churn: 0.2, propensity: 0.4}, Policies: st})
	r, err := d2.Decide(ctx, decisioning.Request{CustomerID: "c1", Campaigns: []string{"cart"}, RequestID: "r1"})
	t.Logf("retry with the same request id: %v %s %v", r.Outcome, r.Channel, err)
}

func TestReviewRedisQueueWedge(t *testing.T) {
	set := features.Default()
	cfg, _ := decisioning.ParseConfig("test.yaml", []byte(testConfig), set)
	srv := redistest.Start(t)
	client := srv.Client(t)
	rs := redisstore.New(client, set, redisstore.Options{})
	st := redisstate.New(rs, redisstate.Options{Lookback: cfg.Lookback()})
	ctx := context.Background()
	// an entry this binary cannot decode (e.g. written by a newer version during a rolling deploy)
	client.XAdd(ctx, &redis.XAddArgs{Stream: redisstate.LedgerStream, Values: []any{"e", "E\x01\x03D\x02x"}})
	now := time.Now()
	d := decisioning.Decision{ID: decisioning.NewID(now), CustomerID: "a", Campaign: "cart", Outcome: decisioning.NoAction, ArmIndex: -1, DecidedAt: now}
	st.Commit(ctx, "", []decisioning.Decision{d})
	mem := ledger.NewMemory()
	dr := ledger.NewDrainer(st, mem, ledger.DrainOptions{Consumer: "d"})
	for range 3 {
		n, err := dr.Step(ctx, 0)
		t.Logf("Step: %d %v", n, err)
	}
	got, _ := mem.Decisions(ctx, ledger.Query{})
	ql, _ := st.QueueLen(ctx)
	t.Logf("ledger holds %d decisions; queue %d", len(got), ql)
}

func TestReviewNULEventIDDropsRewards(t *testing.T) {
	h, _ := memHarness(t, testConfig)
	ctx := context.Background()
	h.customer(reachable("b1"))
	h.customer(reachable("b2"))
	h.sendVia("b1", "cart", "email", 0, 5)
	h.sendVia("b2", "cart", "email", 0, 5)
	h.b.evlog.CreateGroup(ctx, decisioning.JoinerGroup)
	at := h.clock()
	p := func(id, c string) features.Event {
		return features.Event{ID: id, CustomerID: c, Type: "purchase", Time: at.Add(time.Minute),
			Properties: map[string]features.Value{"amount": features.Number(5), "currency": features.String("EUR")}}
	}
	res, err := h.b.feats.Track(ctx, []features.Event{p("ok-1", "b1"), p("bad\x00id", "b2")}, at.Add(time.Minute))
	t.Logf("Track: %+v %v", res, err)
	j := decisioning.NewJoiner(decisioning.JoinerOptions{Config: h.cfg, Log: h.b.evlog, Windows: h.b.wins, Policies: h.b.pols, Consumer: "j", Now: h.clock})
	n, err := j.Step(ctx, 0)
	t.Logf("Step %d %v", n, err)
	mem := ledger.NewMemory()
	dr := ledger.NewDrainer(h.b.queue, mem, ledger.DrainOptions{Consumer: "d"})
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	t.Log(dr.Flush(fctx))
	rs, _ := mem.Rewards(ctx, ledger.Query{})
	ds, _ := mem.Decisions(ctx, ledger.Query{})
	t.Logf("ledger: %d decisions, %d rewards", len(ds), len(rs))
}

func TestReviewRankingNoNoneArm(t *testing.T) {
	yaml := strings.Replace(testConfig, `  - name: winback`, `  - name: nudge
    salt: n1
    arms:
      - {channel: email, offer: tip}
    reward: {event: purchase, within: 72h, value: 1}
    policy: {kind: thompson}
  - name: winback`, 1)
	yaml = strings.Replace(yaml, "value: amount}\n    policy: {kind: thompson, epsilon: 0.2}", "value: 1}\n    policy: {kind: thompson, epsilon: 0.2}", 1)
	h, _ := memHarness(t, yaml)
	wins := map[string]int{}
	for i := range 20 {
		id := "r" + string(rune('a'+i))
		h.customer(reachable(id))
		h.mu.Lock()
		h.u = float64(i) / 20
		h.mu.Unlock()
		d := h.decide(id, "cart", "nudge")
		wins[d.Campaign+":"+d.Outcome.String()]++
		if i == 0 {
			t.Logf("winner %s EV %v", d.Campaign, d.ExpectedValue)
		}
	}
	t.Logf("winners: %v", wins)
}
