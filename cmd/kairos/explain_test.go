package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"kairos/decisioning"
	"kairos/decisioning/memstate"
	"kairos/features"
	"kairos/features/memstore"
	"kairos/ledger"
)

// explainFixture is a customer with a triggered journey in the journal, a
// triggered decision that was sent (with two attempts), an app's decision
// of another campaign that was held out, and another customer's decision.
func explainFixture(t *testing.T) (*ledger.Memory, *memstate.State) {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	st := memstate.New(memstore.New(features.Default(), memstore.Options{}), memstate.Options{})
	if err := st.AppendJournal(ctx, "c1", []decisioning.JournalEntry{
		{At: at, Campaign: "cart", Kind: decisioning.JournalTriggered, EventID: "e1", Detail: "add_to_cart e1"},
		{At: at, Campaign: "cart", Kind: decisioning.JournalTimerSet, EventID: "e1", Detail: "timer trigger:cart:e1 due 10:30"},
		{At: at.Add(30 * time.Minute), Campaign: "cart", Kind: decisioning.JournalTimerFired, EventID: "e1", Detail: "timer fired"},
	}); err != nil {
		t.Fatal(err)
	}
	l := ledger.NewMemory()
	ds := []decisioning.Decision{
		{ID: "d1", CustomerID: "c1", Campaign: "cart", Outcome: decisioning.Send, Channel: "email", Offer: "reminder", ArmIndex: 0,
			Propensity: 0.8, DecidedAt: at.Add(30 * time.Minute), RequestID: "trigger:cart:e1", Reasons: []string{"policy"},
			Context: map[string]string{"trigger": "absence", "trigger_event": "e1"}},
		{ID: "d2", CustomerID: "c1", Campaign: "winback", Outcome: decisioning.Holdout, Channel: "push", Offer: "reminder", ArmIndex: 1,
			Propensity: 0.5, DecidedAt: at.Add(-time.Hour), RequestID: "app-7", Reasons: []string{"holdout"}},
		{ID: "d3", CustomerID: "c2", Campaign: "cart", Outcome: decisioning.Send, Channel: "email", Offer: "reminder", DecidedAt: at},
	}
	if err := l.WriteDecisions(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if err := l.WriteDispatches(ctx, []ledger.Dispatch{
		{DecisionID: "d1", Attempt: 1, Status: "failed", Channel: "email", Error: "421 try later", At: at.Add(31 * time.Minute)},
		{DecisionID: "d1", Attempt: 2, Status: "sent", Channel: "email", At: at.Add(33 * time.Minute)},
	}); err != nil {
		t.Fatal(err)
	}
	return l, st
}

// TestTimeline: the journal, the decisions with their reasons and the
// attempts, oldest first; one campaign's steps alone.
func TestTimeline(t *testing.T) {
	l, st := explainFixture(t)
	steps, err := timeline(context.Background(), l, st, "c1", "")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, s := range steps {
		kinds = append(kinds, s.Campaign+"/"+s.Kind)
	}
	want := "winback/decision cart/triggered cart/timer_set cart/timer_fired cart/decision cart/dispatch cart/dispatch"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("timeline %s\nwant     %s", got, want)
	}
	if d := steps[0].Detail; !strings.Contains(d, "HOLDOUT push/reminder") || !strings.Contains(d, "holdout") || !strings.Contains(d, "asked by the app (request app-7)") {
		t.Errorf("the held-out decision reads %q", d)
	}
	if d := steps[4].Detail; !strings.Contains(d, "SEND email/reminder") || !strings.Contains(d, "triggered (absence, event e1)") || !strings.Contains(d, "probability 0.800") {
		t.Errorf("the triggered decision reads %q", d)
	}
	if d := steps[5].Detail; d != "attempt 1 on email: failed (421 try later)" {
		t.Errorf("the first attempt reads %q", d)
	}
	only, err := timeline(context.Background(), l, st, "c1", "winback")
	if err != nil || len(only) != 1 || only[0].DecisionID != "d2" {
		t.Errorf("winback's steps: %+v (%v)", only, err)
	}
}

// TestExplainHandlerAndCommand: GET /explain answers the timeline as
// JSON, refuses a request without a customer, and kairos explain prints
// it from a running serve's admin address.
func TestExplainHandlerAndCommand(t *testing.T) {
	l, st := explainFixture(t)
	srv := httptest.NewServer(explainHandler(l, st, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/explain")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("without a customer: %s, want 400", resp.Status)
	}
	resp, err = http.Get(srv.URL + "/explain?customer=c2")
	if err != nil {
		t.Fatal(err)
	}
	var tl struct {
		Customer string        `json:"customer"`
		Steps    []explainStep `json:"steps"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tl)
	resp.Body.Close()
	if err != nil || tl.Customer != "c2" || len(tl.Steps) != 1 || tl.Steps[0].DecisionID != "d3" {
		t.Errorf("c2's timeline %+v (%v)", tl, err)
	}
	var out bytes.Buffer
	if err := runEnv(context.Background(), testEnv(&out, nil, nil), []string{"explain", "--customer", "c1", "--campaign", "cart", "--admin", srv.URL}); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"customer c1 in campaign cart: 6 steps, oldest first", "timer set", "attempt 2 on email: sent", "triggered (absence, event e1)"} {
		if !strings.Contains(text, want) {
			t.Errorf("kairos explain printed no %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "winback") {
		t.Errorf("--campaign cart printed winback's steps:\n%s", text)
	}
	out.Reset()
	if err := runEnv(context.Background(), testEnv(&out, nil, nil), []string{"explain", "--customer", "nobody", "--admin", srv.URL}); err != nil || !strings.Contains(out.String(), "no trigger step, decision or delivery attempt of customer nobody") {
		t.Errorf("an unknown customer: %v\n%s", err, out.String())
	}
	if err := runEnv(context.Background(), testEnv(nil, nil, nil), []string{"explain"}); err == nil || !strings.Contains(err.Error(), "--customer is required") {
		t.Errorf("without --customer: %v", err)
	}
}
