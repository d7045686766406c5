package measurement

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSource serves fixed reports, or errors, by campaign, and records
// the periods asked for; it serves segs, or segErr, as the live segments.
type fakeSource struct {
	names   []string
	reports map[string]*CampaignReport
	errs    map[string]error
	segs    []SegmentSeries
	segErr  error

	mu    sync.Mutex
	asked []fakeCall
}

type fakeCall struct {
	campaign string
	from, to time.Time
}

var (
	_ ReportSource  = (*fakeSource)(nil)
	_ SegmentSource = (*fakeSource)(nil)
)

func (s *fakeSource) Segments(ctx context.Context) ([]SegmentSeries, error) {
	return s.segs, s.segErr
}

func (s *fakeSource) Campaigns() []string { return s.names }

func (s *fakeSource) Report(ctx context.Context, campaign string, from, to time.Time) (*CampaignReport, error) {
	s.mu.Lock()
	s.asked = append(s.asked, fakeCall{campaign, from, to})
	s.mu.Unlock()
	if err := s.errs[campaign]; err != nil {
		return nil, err
	}
	r, ok := s.reports[campaign]
	if !ok {
		return nil, fmt.Errorf("fake: no report of %q", campaign)
	}
	c := *r
	c.From, c.To = from, to
	return &c, nil
}

func (s *fakeSource) calls() []fakeCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]fakeCall(nil), s.asked...)
}

// newFakeSource has three campaigns: the sample report under a hostile
// name, one whose name holds a slash, and one whose source fails; and the
// live segments of sampleSegments.
func newFakeSource() *fakeSource {
	plain := sampleReport()
	plain.Campaign = "spring/sale"
	return &fakeSource{
		names:   []string{hostileName, "spring/sale", "broken"},
		reports: map[string]*CampaignReport{hostileName: sampleReport(), "spring/sale": plain},
		errs:    map[string]error{"broken": errors.New("pgledger: connection refused (secret detail)")},
		segs:    sampleSegments(),
	}
}

type response struct {
	code int
	hdr  http.Header
	body string
}

func get(t *testing.T, h http.Handler, target string) response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return response{rec.Code, rec.Header(), rec.Body.String()}
}

func campaignPath(name string) string { return "/reports/" + url.PathEscape(name) }

func TestHandlerPages(t *testing.T) {
	src := newFakeSource()
	h := Handler(src, nil)

	t.Run("index", func(t *testing.T) {
		r := get(t, h, "/reports")
		if r.code != http.StatusOK || !strings.HasPrefix(r.hdr.Get("Content-Type"), "text/html") {
			t.Fatalf("GET /reports: %d %s\n%s", r.code, r.hdr.Get("Content-Type"), r.body)
		}
		if csp := r.hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("Content-Security-Policy %q", csp)
		}
		doc := parsePage(t, r.body)
		text := textOf(doc)
		for _, want := range []string{hostileName, "spring/sale", "broken report unavailable", "sample ratio mismatch"} {
			if !strings.Contains(text, want) {
				t.Errorf("the index lacks %q", want)
			}
		}
		if strings.Contains(r.body, "secret detail") {
			t.Errorf("the index shows the source's error")
		}
	})

	t.Run("page", func(t *testing.T) {
		r := get(t, h, campaignPath(hostileName))
		if r.code != http.StatusOK {
			t.Fatalf("GET page: %d\n%s", r.code, r.body)
		}
		doc := parsePage(t, r.body)
		if h1 := find(doc, byTag("h1")); len(h1) != 1 || textOf(h1[0]) != hostileName {
			t.Errorf("the page is not the campaign's")
		}
		if len(find(doc, byTag("script"))) > 0 {
			t.Errorf("the page has a script element")
		}
		if r.hdr.Get("X-Content-Type-Options") != "nosniff" || r.hdr.Get("Cache-Control") != "no-store" {
			t.Errorf("headers %v", r.hdr)
		}
	})

	t.Run("escaped slash", func(t *testing.T) {
		r := get(t, h, "/reports/spring%2Fsale")
		if r.code != http.StatusOK || !strings.Contains(r.body, "<h1 id=\"campaign\">spring/sale</h1>") {
			t.Errorf("GET /reports/spring%%2Fsale: %d", r.code)
		}
	})

	t.Run("json", func(t *testing.T) {
		r := get(t, h, "/reports/spring%2Fsale.json?from=2026-03-01&to=2026-03-30")
		if r.code != http.StatusOK || r.hdr.Get("Content-Type") != "application/json" {
			t.Fatalf("GET json: %d %s\n%s", r.code, r.hdr.Get("Content-Type"), r.body)
		}
		var got CampaignReport
		if err := json.Unmarshal([]byte(r.body), &got); err != nil {
			t.Fatalf("the JSON does not decode: %v", err)
		}
		if got.Campaign != "spring/sale" || len(got.Comparisons) != 16 || len(got.Daily) != 30 {
			t.Errorf("decoded %q with %d comparisons and %d days", got.Campaign, len(got.Comparisons), len(got.Daily))
		}
		if !got.From.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) || !got.To.Equal(time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("period %v – %v, want 2026-03-01 up to the end of 2026-03-30", got.From, got.To)
		}
	})

	t.Run("trailing slash", func(t *testing.T) {
		r := get(t, h, "/reports/?from=2026-03-01")
		if r.code != http.StatusMovedPermanently || r.hdr.Get("Location") != "/reports?from=2026-03-01" {
			t.Errorf("GET /reports/: %d to %q", r.code, r.hdr.Get("Location"))
		}
	})

	t.Run("method", func(t *testing.T) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/reports", nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST /reports: %d", rec.Code)
		}
	})
}

// The JSON route encodes NaN as null (CampaignReport.MarshalJSON); were a
// report ever unencodable, the answer would be a 500 that says so.
func TestHandlerJSONNaN(t *testing.T) {
	src := newFakeSource()
	h := Handler(src, nil)
	r := get(t, h, campaignPath(hostileName)+".json")
	if _, err := json.Marshal(src.reports[hostileName]); err != nil {
		if r.code != http.StatusInternalServerError || !strings.Contains(r.body, "cannot be encoded as JSON") {
			t.Errorf("an unencodable report: %d %s", r.code, r.body)
		}
		return
	}
	if r.code != http.StatusOK || !strings.Contains(r.body, `"abs_lift":null`) {
		t.Errorf("a report with NaN: %d, null for NaN: %v", r.code, strings.Contains(r.body, "null"))
	}
	var got CampaignReport
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Campaign != hostileName || !got.SRM.Flagged {
		t.Errorf("decoded %q, SRM %+v", got.Campaign, got.SRM)
	}
}

func TestHandlerPeriod(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		query    string
		from, to time.Time
	}{
		{"", time.Time{}, time.Time{}},
		{"?from=2026-03-01", day(1), time.Time{}},
		{"?to=2026-03-30", time.Time{}, day(31)},
		{"?from=2026-03-01&to=2026-03-01", day(1), day(2)},
		{"?from=2026-03-01T02:00:00%2B02:00&to=2026-03-05T12:00:00Z", day(1), day(5).Add(12 * time.Hour)},
		{"?from=2026-03-01T02:00:00+02:00", day(1), time.Time{}}, // "+" unescaped: a space
		{"?from=&to=", time.Time{}, time.Time{}},                 // the form's empty inputs
	} {
		t.Run(tc.query, func(t *testing.T) {
			src := newFakeSource()
			r := get(t, Handler(src, nil), "/reports/spring%2Fsale"+tc.query)
			if r.code != http.StatusOK {
				t.Fatalf("%d %s", r.code, r.body)
			}
			calls := src.calls()
			if len(calls) != 1 || !calls[0].from.Equal(tc.from) || !calls[0].to.Equal(tc.to) {
				t.Errorf("asked for %+v, want [%v, %v)", calls, tc.from, tc.to)
			}
		})
	}
}

func TestHandlerErrors(t *testing.T) {
	var logs bytes.Buffer
	src := newFakeSource()
	src.names = append(src.names, "quiet")
	src.errs["quiet"] = fmt.Errorf("ledger: %w", ErrNoDecisions)
	h := Handler(src, slog.New(slog.NewTextHandler(&logs, nil)))
	for _, tc := range []struct {
		name, target string
		code         int
		json         bool
		want         []string
	}{
		{"bad from", "/reports/spring%2Fsale?from=yesterday", 400, false, []string{`from: "yesterday" is not a time`, "RFC 3339", "2026-03-01"}},
		{"bad to json", "/reports/spring%2Fsale.json?to=2026-13-01", 400, true, []string{`to: \"2026-13-01\" is not a time`, "RFC 3339"}},
		{"bad index", "/reports?to=03/01/2026", 400, false, []string{"to: ", "RFC 3339"}},
		{"order", "/reports/spring%2Fsale?from=2026-03-05&to=2026-03-01", 400, false, []string{"from (2026-03-05T00:00:00Z) must be before to (2026-03-02T00:00:00Z)"}},
		{"unknown", "/reports/autumn", 404, false, []string{`unknown campaign "autumn"`, `"spring/sale"`, `"broken"`}},
		{"unknown json", "/reports/autumn.json", 404, true, []string{`unknown campaign \"autumn\"`, `\"spring/sale\"`}},
		{"source", "/reports/broken", 503, false, []string{`the report of campaign "broken" cannot be built right now`}},
		{"source json", "/reports/broken.json", 503, true, []string{"cannot be built right now"}},
		{"no decisions", "/reports/quiet", 200, false, []string{"No decisions in the period."}},
		{"no decisions json", "/reports/quiet.json", 404, true, []string{`campaign \"quiet\" has no decisions in the period`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, h, tc.target)
			if r.code != tc.code {
				t.Fatalf("%s: %d, want %d\n%s", tc.target, r.code, tc.code, r.body)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.body, w) {
					t.Errorf("%s: body %q lacks %q", tc.target, r.body, w)
				}
			}
			if strings.Contains(r.body, "secret detail") {
				t.Errorf("the client sees the source's error: %s", r.body)
			}
			if ct := r.hdr.Get("Content-Type"); tc.json != (ct == "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			if tc.json {
				var e map[string]string
				if err := json.Unmarshal([]byte(r.body), &e); err != nil || e["error"] == "" {
					t.Errorf("not a JSON error: %s", r.body)
				}
			}
		})
	}
	if l := logs.String(); !strings.Contains(l, "secret detail") || !strings.Contains(l, "campaign=broken") {
		t.Errorf("the source's error is not logged with its campaign: %s", l)
	}
	if strings.Contains(logs.String(), "quiet") {
		t.Errorf("a campaign without decisions is logged as an error: %s", logs.String())
	}
}

func TestHandlerIndexFailures(t *testing.T) {
	src := &fakeSource{
		names: []string{"a", "b"},
		errs:  map[string]error{"a": errors.New("down"), "b": errors.New("down")},
	}
	r := get(t, Handler(src, nil), "/reports")
	if r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "cannot be built right now") {
		t.Errorf("every report failing: %d %s", r.code, r.body)
	}

	src = &fakeSource{}
	r = get(t, Handler(src, nil), "/reports")
	if r.code != http.StatusOK || !strings.Contains(r.body, "No campaigns are configured.") {
		t.Errorf("no campaigns: %d", r.code)
	}
	r = get(t, Handler(src, nil), "/reports/x")
	if r.code != http.StatusNotFound || !strings.Contains(r.body, "no campaigns are configured") {
		t.Errorf("no campaigns, GET /reports/x: %d %s", r.code, r.body)
	}
}

// A campaign may be named like the JSON route of another: the exact name
// wins.
func TestHandlerJSONSuffixName(t *testing.T) {
	a, b := sampleReport(), sampleReport()
	a.Campaign, b.Campaign = "x", "x.json"
	src := &fakeSource{names: []string{"x", "x.json"}, reports: map[string]*CampaignReport{"x": a, "x.json": b}}
	h := Handler(src, nil)
	if r := get(t, h, "/reports/x.json"); r.code != 200 || !strings.Contains(r.body, `<h1 id="campaign">x.json</h1>`) {
		t.Errorf("GET /reports/x.json is not the page of x.json: %d", r.code)
	}
	if r := get(t, h, "/reports/x.json.json"); r.code != 200 || !strings.Contains(r.body, `"campaign":"x.json"`) {
		t.Errorf("GET /reports/x.json.json is not the JSON of x.json: %d", r.code)
	}
}

// RenderPage returns the writer's error; an infinite figure renders as
// one that is missing.
func TestRenderPageErrors(t *testing.T) {
	if err := RenderPage(failingWriter{}, sampleReport()); err == nil {
		t.Errorf("RenderPage to a failing writer succeeded")
	}
	r := sampleReport()
	r.Attribution.ROI = math.Inf(1)
	var b bytes.Buffer
	if err := RenderPage(&b, r); err != nil || strings.Contains(b.String(), "Inf") {
		t.Errorf("RenderPage with an infinite ROI: %v", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }
