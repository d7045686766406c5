package measurement

import (
	"bytes"
	"encoding/json"
	"errors"
	"kairos/decisioning"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// hostileCondition is a segment condition that would run a script if the
// index did not escape it.
const hostileCondition = `tier == "<script>alert(1)</script>" && spend >= 5`

// segmentsToday is the clock of the segment tests: the charts end on
// 2026-03-06.
var segmentsToday = time.Date(2026, 3, 6, 15, 4, 0, 0, time.UTC)

// sampleSegments has a segment that grows with days between its changes,
// one without history (a single point) under a hostile condition, and one
// that shrank to nothing.
func sampleSegments() []SegmentSeries {
	return []SegmentSeries{
		{Name: "big_spender", When: "revenue_30d > 100", Size: 1234, History: []decisioning.SegmentDay{
			{Date: "2026-03-01", Size: 1000}, {Date: "2026-03-04", Size: 1200}, {Date: "2026-03-05", Size: 1234},
		}},
		{Name: "vip", When: hostileCondition, Size: 7},
		{Name: "lapsed", When: "days_since_last_order >= 30", Size: 0, History: []decisioning.SegmentDay{
			{Date: "2026-02-27", Size: 3}, {Date: "2026-03-02", Size: 0},
		}},
	}
}

func TestSegmentDays(t *testing.T) {
	type day struct {
		Date    string
		Size    int64
		Changed bool
	}
	for _, tc := range []struct {
		name    string
		history []decisioning.SegmentDay
		size    int64
		want    []day
	}{
		{"no history", nil, 7, []day{{"2026-03-06", 7, false}}},
		{"changed today only", []decisioning.SegmentDay{{Date: "2026-03-06", Size: 5}}, 5, []day{{"2026-03-06", 5, false}}},
		{"carried forward", []decisioning.SegmentDay{{Date: "2026-03-02", Size: 10}, {Date: "2026-03-04", Size: 12}}, 12, []day{
			{"2026-03-02", 10, false}, {"2026-03-03", 10, false}, {"2026-03-04", 12, true}, {"2026-03-05", 12, false}, {"2026-03-06", 12, false},
		}},
		// Today's size is the members now, even when the history has
		// not caught up.
		{"now differs", []decisioning.SegmentDay{{Date: "2026-03-05", Size: 10}}, 11, []day{{"2026-03-05", 10, false}, {"2026-03-06", 11, true}}},
		{"unsorted, duplicate and malformed dates", []decisioning.SegmentDay{
			{Date: "2026-03-05", Size: 4}, {Date: "yesterday", Size: 99}, {Date: "2026-03-04", Size: 2}, {Date: "2026-03-05", Size: 3}, {Date: "2026-3-6", Size: 98},
		}, 3, []day{{"2026-03-04", 2, false}, {"2026-03-05", 3, true}, {"2026-03-06", 3, false}}},
		// A change dated after today (a skewed clock) ends the chart.
		{"future", []decisioning.SegmentDay{{Date: "2026-03-06", Size: 1}, {Date: "2026-03-07", Size: 2}}, 1, []day{{"2026-03-06", 1, false}, {"2026-03-07", 2, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []day
			for _, d := range segmentDays(tc.history, tc.size, segmentsToday) {
				got = append(got, day{d.date.Format(time.DateOnly), d.size, d.changed})
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("segmentDays (-want +got):\n%s", diff)
			}
		})
	}

	// A long history shows its last maxSegmentDays days, from the size
	// carried into them.
	days := segmentDays([]decisioning.SegmentDay{{Date: "2024-01-01", Size: 1}, {Date: "2025-01-01", Size: 2}, {Date: "2026-03-01", Size: 3}}, 3, segmentsToday)
	if len(days) != maxSegmentDays {
		t.Fatalf("%d days, want %d", len(days), maxSegmentDays)
	}
	first := segmentsToday.Truncate(24*time.Hour).AddDate(0, 0, 1-maxSegmentDays)
	if !days[0].date.Equal(first) || days[0].size != 2 || days[len(days)-1].size != 3 {
		t.Errorf("the window starts %v with %d and ends with %d; want %v with 2, ending with 3", days[0].date, days[0].size, days[len(days)-1].size, first)
	}
}

func TestSegmentsIndex(t *testing.T) {
	src := newFakeSource()
	r := get(t, newHandler(src, nil, func() time.Time { return segmentsToday }), "/reports")
	if r.code != http.StatusOK {
		t.Fatalf("GET /reports: %d\n%s", r.code, r.body)
	}
	doc := parsePage(t, r.body)
	if len(find(doc, byTag("script"))) > 0 {
		t.Fatalf("the index has a script element: the condition ran as markup")
	}
	if !strings.Contains(r.body, "tier == &#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34; &amp;&amp; spend &gt;= 5") {
		t.Errorf("the condition is not escaped as text")
	}
	sec := find(doc, byID("segments"))
	if len(sec) != 1 {
		t.Fatalf("the index has %d #segments, want 1", len(sec))
	}
	if h := find(sec[0], byTag("h2")); len(h) != 1 || textOf(h[0]) != "Live segments" {
		t.Errorf("the section's heading is not \"Live segments\"")
	}
	rows := find(find(doc, byID("segment-sizes"))[0], byTag("tr"))
	var got []string
	for _, row := range rows[1:] {
		got = append(got, textOf(row))
	}
	want := []string{"big_spender revenue_30d > 100 1,234", "vip " + hostileCondition + " 7", "lapsed days_since_last_order >= 30 0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("segment rows (-want +got):\n%s", diff)
	}
	links := find(sec[0], byTag("a"))
	if len(links) != 4 || attr(links[0], "href") != "/reports/segments.json" || attr(links[1], "href") != "#segment-1" {
		t.Errorf("the section's links: want the JSON then one per segment")
	}
	if len(find(doc, byID("segment-1"))) != 1 {
		t.Errorf("no chart heading #segment-1")
	}

	charts := svgFragments(sectionHTML(t, r.body))
	if len(charts) != 3 {
		t.Fatalf("%d segment charts, want 3", len(charts))
	}
	for _, c := range charts {
		checkSVG(t, c)
	}

	// big_spender: the days between its changes carry the size forward.
	for _, w := range []string{
		"<title>Members of segment big_spender by day, 2026-03-01 to 2026-03-06 (UTC): 1,234 now</title>",
		"<title>2026-03-01: 1,000 members</title>",
		"<title>2026-03-02: 1,000 members</title>",
		"<title>2026-03-03: 1,000 members</title>",
		"<title>2026-03-04: 1,200 members (+200)</title>",
		"<title>2026-03-05: 1,234 members (+34)</title>",
		"<title>2026-03-06: 1,234 members</title>",
		">Mar 1, 2026</text>", ">Mar 6</text>", ">members</text>", ">day (UTC)</text>",
	} {
		if !strings.Contains(charts[0], w) {
			t.Errorf("the chart of big_spender lacks %s", w)
		}
	}
	if n := strings.Count(charts[0], `class="hover"`); n != 6 {
		t.Errorf("the chart of big_spender has %d days, want 6", n)
	}
	// Three changes drawn: the start, 03-04 and 03-05; one step per change.
	if n := strings.Count(charts[0], `class="dot"`); n != 3 {
		t.Errorf("the chart of big_spender has %d dots, want 3 (the first day and two changes)", n)
	}
	if d := seriesPath(t, charts[0]); strings.Count(d, "V") != 2 {
		t.Errorf("the step line of big_spender %q has not 2 steps", d)
	}

	// vip: one point, a flat line across the plot.
	if !strings.Contains(charts[1], "2026-03-06 (UTC): 7 now</title>") || !regexp.MustCompile(`^M72\.0 [0-9.]+ H936\.0$`).MatchString(seriesPath(t, charts[1])) {
		t.Errorf("the chart of vip is not a flat line across: %q", seriesPath(t, charts[1]))
	}
	// lapsed: down to zero.
	if !strings.Contains(charts[2], "<title>2026-03-02: 0 members (−3)</title>") || !strings.Contains(charts[2], "<title>2026-03-01: 3 members</title>") {
		t.Errorf("the chart of lapsed lacks its fall to zero")
	}
	if strings.Contains(r.body, "NaN") {
		t.Errorf("the index shows NaN")
	}
}

// sectionHTML returns the index's segments section as written.
func sectionHTML(t *testing.T, page string) string {
	t.Helper()
	i := strings.Index(page, `<section id="segments">`)
	j := strings.Index(page, "</section>")
	if i < 0 || j < i {
		t.Fatalf("no segments section")
	}
	return page[i:j]
}

// seriesPath returns the d of a chart's line.
func seriesPath(t *testing.T, chart string) string {
	t.Helper()
	m := regexp.MustCompile(`<path d="([^"]*)" fill="none" stroke="[^"]*" class="series"/>`).FindStringSubmatch(chart)
	if m == nil {
		t.Fatalf("no line in %s", chart)
	}
	return m[1]
}

func TestSegmentsIndexWithout(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  ReportSource
	}{
		{"no segment source", struct{ ReportSource }{newFakeSource()}},
		{"no segments", &fakeSource{names: []string{"spring/sale"}, reports: newFakeSource().reports}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, Handler(tc.src, nil), "/reports")
			if r.code != http.StatusOK || strings.Contains(r.body, "Live segments") || strings.Contains(r.body, "<h2>") {
				t.Errorf("GET /reports: %d, with a segments section or heading", r.code)
			}
		})
	}
}

// A source that cannot read its segments gives a note in the section; the
// campaigns are shown, and the error is logged, not shown.
func TestSegmentsIndexError(t *testing.T) {
	var logs bytes.Buffer
	src := newFakeSource()
	src.segErr = errors.New("redisstore: segment sizes: connection refused (secret detail)")
	r := get(t, Handler(src, slog.New(slog.NewTextHandler(&logs, nil))), "/reports")
	if r.code != http.StatusOK {
		t.Fatalf("GET /reports: %d %s", r.code, r.body)
	}
	doc := parsePage(t, r.body)
	note := find(doc, byID("segments-note"))
	if len(note) != 1 || !strings.HasPrefix(textOf(note[0]), "segments unavailable: ") {
		t.Errorf("no note that the segments are unavailable")
	}
	if !strings.Contains(textOf(doc), "spring/sale") || len(find(doc, byID("segment-sizes"))) > 0 {
		t.Errorf("the index lacks its campaigns, or shows a segment table")
	}
	if strings.Contains(r.body, "secret detail") || !strings.Contains(logs.String(), "secret detail") {
		t.Errorf("the error is shown, or not logged: %s", logs.String())
	}
}

func TestSegmentsJSON(t *testing.T) {
	t.Run("ok", func(t *testing.T) {
		src := newFakeSource()
		r := get(t, Handler(src, nil), "/reports/segments.json")
		if r.code != http.StatusOK || r.hdr.Get("Content-Type") != "application/json" || r.hdr.Get("Cache-Control") != "no-store" {
			t.Fatalf("GET /reports/segments.json: %d %v\n%s", r.code, r.hdr, r.body)
		}
		var got struct {
			Segments []SegmentSeries `json:"segments"`
		}
		if err := json.Unmarshal([]byte(r.body), &got); err != nil {
			t.Fatal(err)
		}
		want := sampleSegments()
		want[1].History = []decisioning.SegmentDay{} // an empty list, never null
		if diff := cmp.Diff(want, got.Segments); diff != "" {
			t.Errorf("segments (-want +got):\n%s", diff)
		}
		if !strings.Contains(r.body, `{"name":"big_spender","when":"revenue_30d \u003e 100","size":1234,"history":[{"date":"2026-03-01","size":1000},`) ||
			!strings.Contains(r.body, `"size":7,"history":[]}`) {
			t.Errorf("the JSON's names: %s", r.body)
		}
	})

	t.Run("none", func(t *testing.T) {
		r := get(t, Handler(&fakeSource{}, nil), "/reports/segments.json")
		if r.code != http.StatusOK || strings.TrimSpace(r.body) != `{"segments":[]}` {
			t.Errorf("no segments: %d %s", r.code, r.body)
		}
	})

	var logs bytes.Buffer
	failing := newFakeSource()
	failing.segErr = errors.New("redisstore: connection refused (secret detail)")
	for _, tc := range []struct {
		name string
		src  ReportSource
		code int
		want string
	}{
		{"no segment source", struct{ ReportSource }{newFakeSource()}, http.StatusNotFound, "no live segments"},
		{"error", failing, http.StatusServiceUnavailable, "the live segments cannot be read right now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, Handler(tc.src, slog.New(slog.NewTextHandler(&logs, nil))), "/reports/segments.json")
			var e map[string]string
			if r.code != tc.code || r.hdr.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(r.body), &e) != nil || !strings.Contains(e["error"], tc.want) {
				t.Errorf("%d %s %s, want %d and a JSON error with %q", r.code, r.hdr.Get("Content-Type"), r.body, tc.code, tc.want)
			}
			if strings.Contains(r.body, "secret detail") {
				t.Errorf("the client sees the source's error")
			}
		})
	}
	if !strings.Contains(logs.String(), "secret detail") {
		t.Errorf("the source's error is not logged: %s", logs.String())
	}
}

// A campaign named "segments" (a valid name) has its JSON at
// /reports/segments.json: it keeps it, and the index links to no segments
// JSON.
func TestSegmentsJSONCampaignClash(t *testing.T) {
	rep := sampleReport()
	rep.Campaign = "segments"
	src := &fakeSource{names: []string{"segments"}, reports: map[string]*CampaignReport{"segments": rep}, segs: sampleSegments()}
	h := Handler(src, nil)
	if r := get(t, h, "/reports/segments.json"); r.code != http.StatusOK || !strings.Contains(r.body, `"campaign":"segments"`) {
		t.Errorf("GET /reports/segments.json is not the report of campaign segments: %d %.200s", r.code, r.body)
	}
	if r := get(t, h, "/reports/segments"); r.code != http.StatusOK || !strings.Contains(r.body, `<h1 id="campaign">segments</h1>`) {
		t.Errorf("GET /reports/segments is not the page of campaign segments: %d", r.code)
	}
	r := get(t, h, "/reports")
	if r.code != http.StatusOK || !strings.Contains(r.body, "Live segments") || strings.Contains(r.body, `href="/reports/segments.json"`) {
		t.Errorf("the index: %d, segments %v, links to the clashing JSON %v", r.code, strings.Contains(r.body, "Live segments"), strings.Contains(r.body, `href="/reports/segments.json"`))
	}
}

func TestSegmentCountAxis(t *testing.T) {
	for _, tc := range []struct {
		hi    int64
		ticks string
	}{
		{0, "0 1"},
		{3, "0 1 2 3"},
		{5, "0 1 2 3 4 5"},
		{1234, "0 500 1,000 1,500"},
	} {
		a := countAxis(tc.hi, 100, 0)
		var got []string
		for _, v := range a.ticks {
			got = append(got, a.label(v, ""))
		}
		if s := strings.Join(got, " "); s != tc.ticks {
			t.Errorf("ticks up to %d: %s, want %s", tc.hi, s, tc.ticks)
		}
		if y := a.at(float64(tc.hi)); y < 0 || y > 100 {
			t.Errorf("%d maps outside the plot to %v", tc.hi, y)
		}
	}
}

func TestSegmentDateTicks(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []int
	}{
		{0, nil},
		{1, []int{0}},
		{2, []int{0, 1}},
		{6, []int{0, 1, 2, 3, 4, 5}},
		{8, []int{0, 2, 4, 6, 7}},
		{32, []int{0, 7, 14, 21, 31}},
		{maxSegmentDays, []int{0, 36, 72, 108, 144, 179}},
	} {
		if diff := cmp.Diff(tc.want, dateTicks(tc.n, 5)); diff != "" {
			t.Errorf("dateTicks(%d) (-want +got):\n%s", tc.n, diff)
		}
	}
	// A chart across the new year names the year again.
	chart := string(segmentChart("s", segmentDays([]decisioning.SegmentDay{{Date: "2025-12-20", Size: 4}}, 5, time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC))))
	for _, w := range []string{">Dec 20, 2025</text>", ">Jan 4, 2026</text>", ">Jan 10</text>", "<title>2026-01-10: 5 members (+1)</title>"} {
		if !strings.Contains(chart, w) {
			t.Errorf("the chart across the new year lacks %s", w)
		}
	}
	checkSVG(t, chart)
}
