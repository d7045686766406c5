package main

import (
	"context"
	"encoding/json"
	"errors"
	"kairos/decisioning"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kairos/measurement"
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

func TestSegmentSeries(t *testing.T) {
	sizes := map[string]int64{"big_spender": 1234, "vip": 0}
	histories := map[string][]decisioning.SegmentDay{"big_spender": {{Date: "2026-03-01", Size: 1000}, {Date: "2026-03-04", Size: 1234}}}
	down := errors.New("redis: connection refused")
	size := func(name string) (int64, error) {
		if name == "broken_size" {
			return 0, down
		}
		return sizes[name], nil
	}
	history := func(name string) ([]decisioning.SegmentDay, error) {
		if name == "broken_history" {
			return nil, down
		}
		return histories[name], nil
	}
	for _, tc := range []struct {
		name         string
		names, whens []string
		want         []measurement.SegmentSeries
		err          string
	}{
		{"none", nil, nil, []measurement.SegmentSeries{}, ""},
		{"two", []string{"big_spender", "vip"}, []string{"revenue_30d > 100", `tier == "gold"`}, []measurement.SegmentSeries{
			{Name: "big_spender", When: "revenue_30d > 100", Size: 1234, History: histories["big_spender"]},
			{Name: "vip", When: `tier == "gold"`},
		}, ""},
		{"size fails", []string{"vip", "broken_size"}, []string{"a", "b"}, nil, "segment broken_size: size: redis: connection refused"},
		{"history fails", []string{"broken_history"}, []string{"a"}, nil, "segment broken_history: history: redis: connection refused"},
		{"unpaired", []string{"vip"}, nil, nil, "segments: 1 names but 0 conditions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := segmentSeries(tc.names, tc.whens, size, history)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err || (tc.name != "unpaired" && !errors.Is(err, down)) {
					t.Errorf("error %v, want %q wrapping the store's", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("segmentSeries (-want +got):\n%s", diff)
			}
		})
	}
}

// ledgerReports knows no segments until the store's functions are set;
// then it reads each configured segment with the request's context.
func TestReportsSegments(t *testing.T) {
	r := &ledgerReports{segNames: []string{"vip"}, segWhens: []string{"spend > 5"}}
	if got, err := r.Segments(t.Context()); got != nil || err != nil {
		t.Errorf("without a store: %v, %v; want none", got, err)
	}
	type key struct{}
	ctx := context.WithValue(t.Context(), key{}, "request")
	r.segSize = func(c context.Context, name string) (int64, error) {
		if c.Value(key{}) != "request" {
			t.Errorf("SegmentSize without the request's context")
		}
		return 7, nil
	}
	got, err := r.Segments(ctx)
	want := []measurement.SegmentSeries{{Name: "vip", When: "spend > 5", Size: 7}}
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("without history: %v (-want +got):\n%s", err, diff)
	}
	r.segHistory = func(c context.Context, name string) ([]decisioning.SegmentDay, error) {
		if c.Value(key{}) != "request" {
			t.Errorf("SegmentHistory without the request's context")
		}
		return []decisioning.SegmentDay{{Date: "2026-03-01", Size: 7}}, nil
	}
	got, err = r.Segments(ctx)
	want[0].History = []decisioning.SegmentDay{{Date: "2026-03-01", Size: 7}}
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("with history: %v (-want +got):\n%s", err, diff)
	}
}
