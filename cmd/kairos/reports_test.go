package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeReports: serve's admin address serves the campaigns' reports
// from its ledger: the index, a campaign's page, and its JSON.
func TestServeReports(t *testing.T) {
	campaigns := filepath.Join(t.TempDir(), "campaigns.yaml")
	if err := os.WriteFile(campaigns, []byte(oneArm), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := startServe(t, "--campaigns", campaigns)
	sent := decideUntilSent(t, inst, 3)
	// The decisions reach the embedded ledger through the drainer.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := inst.get(t, "/reports/cart_recovery.json")
		if code != http.StatusOK {
			t.Fatalf("/reports/cart_recovery.json: %d %s", code, body)
		}
		var r struct {
			Campaign  string         `json:"campaign"`
			Decisions map[string]int `json:"decisions"`
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("report JSON: %v\n%s", err, body)
		}
		if r.Campaign != "cart_recovery" {
			t.Fatalf("report of %q", r.Campaign)
		}
		if r.Decisions["SEND"] >= len(sent) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the report counts %v decisions, want at least %d sent", r.Decisions, len(sent))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := inst.get(t, "/reports"); code != http.StatusOK || !strings.Contains(body, "cart_recovery") {
		t.Errorf("/reports: %d, want the index naming cart_recovery:\n%.300s", code, body)
	}
	if code, body := inst.get(t, "/reports/cart_recovery"); code != http.StatusOK || !strings.Contains(body, "<svg") {
		t.Errorf("/reports/cart_recovery: %d, want the page with its charts:\n%.300s", code, body)
	}
	if code, _ := inst.get(t, "/reports/nope"); code != http.StatusNotFound {
		t.Errorf("/reports/nope: %d, want 404", code)
	}
}
