package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	kairosv1 "kairos/api/proto/kairos/v1"
	"kairos/channels"
	"kairos/channels/inapp"
	"kairos/decisioning"
	"kairos/decisioning/memstate"
	"kairos/features"
	"kairos/features/memstore"
	"kairos/ledger"
	"kairos/models"
	"kairos/models/lgbm"
)

// decideEnv is a server with the whole embedded decision stack.
type decideEnv struct {
	client  kairosv1.KairosClient
	store   *memstore.Store
	drainer *ledger.Drainer
	srv     *Server
}

func startDecide(t *testing.T, checks ...Check) *decideEnv {
	t.Helper()
	set := features.Default()
	cfg, err := decisioning.DefaultConfig(set)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := models.New(models.Options{FS: models.Shipped(), Set: set, Parse: lgbm.Parser})
	if err != nil {
		t.Fatal(err)
	}
	ms := memstore.New(set, memstore.Options{})
	st := memstate.New(ms, memstate.Options{Lookback: cfg.Lookback()})
	engine, err := decisioning.New(decisioning.Options{Config: cfg, Set: set, State: st, Scorer: reg, Policies: st})
	if err != nil {
		t.Fatal(err)
	}
	led := ledger.NewMemory()
	env := &decideEnv{store: ms, drainer: ledger.NewDrainer(st, led, ledger.DrainOptions{Consumer: "t"})}
	env.srv = New(Options{Store: ms, Set: set, Engine: engine, Ledger: led, Checks: checks,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	env.client = dial(t, env.srv)
	return env
}

func TestDecideAndExplain(t *testing.T) {
	env := startDecide(t)
	ctx := context.Background()
	if _, err := env.client.UpsertCustomer(ctx, &kairosv1.UpsertCustomerRequest{Customer: &kairosv1.Customer{
		CustomerId: "c1", Email: "c1@example.com", Timezone: "Europe/Berlin", Consents: map[string]bool{"email": true},
	}}); err != nil {
		t.Fatal(err)
	}
	resp, err := env.client.Decide(ctx, &kairosv1.DecideRequest{CustomerId: "c1", Campaigns: []string{"cart_recovery", "winback"},
		RequestId: "r1", Context: map[string]string{"page": "cart"}})
	if err != nil {
		t.Fatal(err)
	}
	d := resp.GetDecision()
	if d.GetDecisionId() == "" || d.GetCustomerId() != "c1" || d.GetOutcome() == kairosv1.Outcome_OUTCOME_UNSPECIFIED ||
		d.GetDecidedAt() == nil || len(d.GetArms()) == 0 || len(d.GetReasons()) == 0 || d.GetVersions()["churn"] == "" {
		t.Fatalf("decision %v", d)
	}
	if len(d.GetFeatures()) != 0 {
		t.Errorf("Decide returned %d features; only ExplainDecision should", len(d.GetFeatures()))
	}
	again, err := env.client.Decide(ctx, &kairosv1.DecideRequest{CustomerId: "c1", Campaigns: []string{"cart_recovery", "winback"}, RequestId: "r1"})
	if err != nil || again.GetDecision().GetDecisionId() != d.GetDecisionId() {
		t.Fatalf("retry with the same request_id: %v, %v", again, err)
	}
	_, err = env.client.ExplainDecision(ctx, &kairosv1.ExplainDecisionRequest{DecisionId: d.GetDecisionId()})
	wantCode(t, err, codes.NotFound, "retry shortly")
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := env.drainer.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	ex, err := env.client.ExplainDecision(ctx, &kairosv1.ExplainDecisionRequest{DecisionId: d.GetDecisionId()})
	if err != nil {
		t.Fatal(err)
	}
	if ex.GetDecisionId() != d.GetDecisionId() || ex.GetOutcome() != d.GetOutcome() || len(ex.GetFeatures()) != len(features.Default().Names()) {
		t.Errorf("explained %v with %d features", ex.GetOutcome(), len(ex.GetFeatures()))
	}
}

func TestDecideInvalidArgument(t *testing.T) {
	env := startDecide(t)
	ctx := context.Background()
	for _, tc := range []struct {
		req  *kairosv1.DecideRequest
		want string
	}{
		{&kairosv1.DecideRequest{Campaigns: []string{"cart_recovery"}}, "customer_id"},
		{&kairosv1.DecideRequest{CustomerId: "c"}, "campaigns"},
		{&kairosv1.DecideRequest{CustomerId: "c", Campaigns: []string{"nope"}}, "campaigns[0]: unknown campaign"},
		{&kairosv1.DecideRequest{CustomerId: "c", Campaigns: []string{"cart_recovery"}, Context: map[string]string{"k": strings.Repeat("x", 2000)}}, "context.k"},
	} {
		_, err := env.client.Decide(ctx, tc.req)
		wantCode(t, err, codes.InvalidArgument, tc.want)
	}
	for _, id := range []string{"", "nope", "a\x00b", "01M6E22WG0SZ23FAB13PNQRRZ8"} {
		_, err := env.client.ExplainDecision(ctx, &kairosv1.ExplainDecisionRequest{DecisionId: id})
		wantCode(t, err, codes.InvalidArgument, "decision_id")
	}
}

func TestDecideNotConfigured(t *testing.T) {
	env := start(t, nil)
	_, err := env.client.Decide(context.Background(), &kairosv1.DecideRequest{CustomerId: "c", Campaigns: []string{"x"}})
	wantCode(t, err, codes.Unimplemented, "decisioning is off")
}

func TestReadyzDegraded(t *testing.T) {
	degraded := ""
	env := startDecide(t, Check{Name: "ledger", Degraded: func() string { return degraded }})
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		env.srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get(); code != 200 || body != "ok\n" {
		t.Fatalf("ready: %d %q", code, body)
	}
	degraded = "postgres down"
	if code, body := get(); code != 200 || !strings.Contains(body, "degraded: ledger: postgres down") {
		t.Fatalf("degraded: %d %q", code, body)
	}
}

func TestInbox(t *testing.T) {
	set := features.Default()
	store := inapp.NewMemory(inapp.Options{})
	srv := New(Options{Store: memstore.New(set, memstore.Options{}), Set: set, Inbox: store, Now: func() time.Time { return testNow }})
	client := dial(t, srv)
	ctx := context.Background()
	tr := inapp.NewTransport(store, time.Hour, func() time.Time { return testNow })
	for _, id := range []string{"01m6e22wg0sz23fab13pnqrrz1", "01m6e22wg0sz23fab13pnqrrz2"} {
		if _, err := tr.Send(ctx, &channels.Message{ID: id, CustomerID: "c1", Campaign: "cart", Offer: "reminder", Title: "Your cart", Text: "Still there?"}); err != nil {
			t.Fatal(err)
		}
	}
	box, err := client.GetInbox(ctx, &kairosv1.GetInboxRequest{CustomerId: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(box.GetMessages()) != 2 || box.GetMessages()[0].GetTitle() != "Your cart" || box.GetMessages()[0].GetExpiresAt().AsTime() != testNow.Add(time.Hour) {
		t.Fatalf("inbox %v", box)
	}
	ack, err := client.AckInbox(ctx, &kairosv1.AckInboxRequest{CustomerId: "c1", MessageIds: []string{box.GetMessages()[0].GetMessageId(), "unknown"}})
	if err != nil || ack.GetAcked() != 1 {
		t.Fatalf("AckInbox = %v, %v", ack, err)
	}
	if box, _ := client.GetInbox(ctx, &kairosv1.GetInboxRequest{CustomerId: "c1", Limit: 5}); len(box.GetMessages()) != 1 {
		t.Errorf("after ack: %d messages", len(box.GetMessages()))
	}
	_, err = client.GetInbox(ctx, &kairosv1.GetInboxRequest{CustomerId: "c1", Limit: 101})
	wantCode(t, err, codes.InvalidArgument, "limit")
	_, err = client.AckInbox(ctx, &kairosv1.AckInboxRequest{CustomerId: "c1"})
	wantCode(t, err, codes.InvalidArgument, "message_ids")
	_, err = client.GetInbox(ctx, &kairosv1.GetInboxRequest{})
	wantCode(t, err, codes.InvalidArgument, "customer_id")
}
