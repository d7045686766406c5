package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"kairos/decisioning"
	"kairos/decisioning/memstate"
	"kairos/features"
	"kairos/features/memstore"
)

// TestSegmentsHandler: the segments with their sizes and history, pages
// of members, and the errors a client can make.
func TestSegmentsHandler(t *testing.T) {
	set := features.Default()
	cfg, err := decisioning.ParseConfig("s.yaml", []byte(`
global: {salt: g}
segments:
  high_value: "revenue_30d > 200"
  churn_risk: "churn > 0.7"
campaigns:
  - {name: c, salt: s, arms: [{channel: email, offer: o}, {channel: none}], reward: {event: purchase, within: 72h}, policy: {kind: thompson}}
`), set)
	if err != nil {
		t.Fatal(err)
	}
	st := memstate.New(memstore.New(set, memstore.Options{}), memstate.Options{})
	ctx := context.Background()
	day1 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	for _, m := range []struct {
		id string
		in bool
		at time.Time
	}{{"a", true, day1}, {"b", true, day1}, {"c", true, day1.Add(24 * time.Hour)}, {"a", false, day1.Add(24 * time.Hour)}} {
		if _, err := st.SetMember(ctx, "high_value", m.id, m.in, m.at); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(segmentsHandler(cfg, st, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	get := func(path string, want int, v any) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s: %s, want %d", path, resp.Status, want)
		}
		if v != nil {
			if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
				t.Fatal(err)
			}
		}
	}
	var all struct {
		Segments []struct {
			Name, When string
			Size       int64
			History    []decisioning.SegmentDay
		}
	}
	get("/segments", http.StatusOK, &all)
	if len(all.Segments) != 2 || all.Segments[0].Name != "high_value" || all.Segments[0].Size != 2 || all.Segments[0].When != "revenue_30d > 200" ||
		len(all.Segments[0].History) != 2 || all.Segments[0].History[0] != (decisioning.SegmentDay{Date: "2026-11-01", Size: 2}) ||
		all.Segments[0].History[1].Size != 2 || all.Segments[1].Size != 0 || all.Segments[1].History == nil {
		t.Errorf("GET /segments = %+v", all)
	}
	var page struct {
		Members []string
		Next    string
	}
	get("/segments/high_value?n=1", http.StatusOK, &page)
	if len(page.Members) != 1 || page.Members[0] != "b" || page.Next == "" {
		t.Fatalf("first page %+v", page)
	}
	next := page.Next
	page.Members, page.Next = nil, ""
	get("/segments/high_value?n=1&cursor="+next, http.StatusOK, &page)
	if len(page.Members) != 1 || page.Members[0] != "c" || page.Next != "" {
		t.Errorf("second page %+v", page)
	}
	get("/segments/nope", http.StatusNotFound, nil)
	get("/segments/high_value?n=0", http.StatusBadRequest, nil)
	get("/segments/high_value?cursor=zz", http.StatusBadRequest, nil)
}
