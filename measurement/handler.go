// The report pages over HTTP, served by the admin server.

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
	"slices"
	"strings"
	"time"
)

// ReportSource gives the report pages their campaigns and reports. The
// command implements it with the ledger and BuildCampaign.
type ReportSource interface {
	// Campaigns lists the configured campaigns.
	Campaigns() []string
	// Report builds the report of a campaign over [from, to); a zero time
	// leaves that end of the period open.
	Report(ctx context.Context, campaign string, from, to time.Time) (*CampaignReport, error)
}

// pageCSP lets a page use nothing but its own inline styles and data:
// images (the icon): no script runs, nothing is loaded from elsewhere.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Handler serves the incrementality reports:
//
//	GET /reports                   the index of campaigns (HTML)
//	GET /reports/{campaign}        a campaign's report page (HTML)
//	GET /reports/{campaign}.json   its CampaignReport as JSON
//	GET /reports/segments.json     the live segments: {"segments": [SegmentSeries…]}
//
// When src is also a SegmentSource, the index shows its live segments
// after the campaigns: each one's members now and a chart of its size by
// day; when they cannot be read the section says so and the rest of the
// index is shown. Without a SegmentSource, /reports/segments.json answers
// 404. A campaign named "segments" keeps /reports/segments.json as its
// JSON route (the index then links to no segments JSON).
//
// Each takes optional from and to query parameters bounding the period,
// in RFC 3339 (2026-03-01T00:00:00Z) or as a date (2026-03-01, UTC): from
// a date is its first instant, to a date includes that whole day (the
// period ends at the next midnight). A malformed parameter is answered
// with 400 naming it and the accepted forms, an unknown campaign with 404
// listing the campaigns, and a source that fails with 503 and a generic
// message; the failure itself goes to logger (nil: discarded; the caller
// names the component), never to the client. A campaign without decisions in the period (ErrNoDecisions)
// has a page that says so, and its JSON route answers 404. Errors of the JSON route are JSON ({"error": …}), the
// others plain text.
func Handler(src ReportSource, logger *slog.Logger) http.Handler {
	return newHandler(src, logger, time.Now)
}

// newHandler is Handler on the clock now (the segment charts end today).
func newHandler(src ReportSource, logger *slog.Logger, now func() time.Time) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &reportHandler{src: src, log: logger, now: now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /reports", h.index)
	// More specific than the campaign route, so matched first.
	mux.HandleFunc("GET /reports/segments.json", h.segments)
	mux.HandleFunc("GET /reports/{$}", func(w http.ResponseWriter, r *http.Request) {
		target := "/reports"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /reports/{campaign}", h.campaign)
	return mux
}

type reportHandler struct {
	src ReportSource
	log *slog.Logger
	now func() time.Time
}

// segmentsName is the name of the segments' JSON route. Campaign names
// are [a-z0-9_]{1,64} (decisioning), but a campaign named "segments" has
// its JSON at this route too; that campaign keeps it.
const segmentsName = "segments.json"

// segmentsClash reports whether a campaign owns /reports/segments.json.
func segmentsClash(campaigns []string) bool {
	base, _ := strings.CutSuffix(segmentsName, ".json")
	return slices.Contains(campaigns, base) || slices.Contains(campaigns, segmentsName)
}

func (h *reportHandler) index(w http.ResponseWriter, r *http.Request) {
	from, to, ok := reportPeriod(w, r, false)
	if !ok {
		return
	}
	names := h.src.Campaigns()
	entries := make([]IndexEntry, 0, len(names))
	failed := 0
	for _, name := range names {
		rep, err := h.src.Report(r.Context(), name, from, to)
		if errors.Is(err, ErrNoDecisions) {
			entries = append(entries, IndexEntry{Campaign: name, Error: "no decisions in the period"})
			continue
		}
		if err != nil {
			if r.Context().Err() != nil {
				return // the client left
			}
			h.log.Error("cannot build a campaign report for the index", "campaign", name, "err", err)
			entries = append(entries, IndexEntry{Campaign: name, Error: "report unavailable: it cannot be built right now"})
			failed++
			continue
		}
		entries = append(entries, IndexEntry{Campaign: name, Report: rep})
	}
	if failed > 0 && failed == len(names) {
		reportFail(w, false, http.StatusServiceUnavailable, "the reports cannot be built right now; the server log says why")
		return
	}
	segs, ok := h.indexSegments(r.Context(), names)
	if !ok {
		return // the client left
	}
	h.writeHTML(w, func(b *bytes.Buffer) error { return renderIndex(b, entries, segs) })
}

// indexSegments reads the live segments for the index: shown when the
// source has some, or a note when it cannot read them. It returns false
// when the client left.
func (h *reportHandler) indexSegments(ctx context.Context, campaigns []string) (segmentsView, bool) {
	ss, ok := h.src.(SegmentSource)
	if !ok {
		return segmentsView{}, true
	}
	segs, err := ss.Segments(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return segmentsView{}, false
		}
		h.log.Error("cannot read the live segments for the index", "err", err)
		return segmentsView{Show: true, Note: "segments unavailable: they cannot be read right now; the server log says why"}, true
	}
	if len(segs) == 0 {
		return segmentsView{}, true
	}
	v := segmentsView{Show: true, Days: showInt(maxSegmentDays), Rows: buildSegments(segs, h.now())}
	if !segmentsClash(campaigns) {
		v.JSONHref = "/reports/" + segmentsName
	}
	return v, true
}

// segments serves /reports/segments.json, unless a campaign owns it.
func (h *reportHandler) segments(w http.ResponseWriter, r *http.Request) {
	if segmentsClash(h.src.Campaigns()) {
		r.SetPathValue("campaign", segmentsName)
		h.campaign(w, r)
		return
	}
	ss, ok := h.src.(SegmentSource)
	if !ok {
		reportFail(w, true, http.StatusNotFound, "no live segments: this server's report source does not know segments")
		return
	}
	segs, err := ss.Segments(r.Context())
	if err != nil {
		if r.Context().Err() == nil {
			h.log.Error("cannot read the live segments", "err", err)
		}
		reportFail(w, true, http.StatusServiceUnavailable, "the live segments cannot be read right now; the server log says why")
		return
	}
	h.writeJSON(w, newSegmentsJSON(segs), "the live segments")
}

func (h *reportHandler) campaign(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("campaign")
	campaigns := h.src.Campaigns()
	asJSON := false
	if !slices.Contains(campaigns, name) {
		base, isJSON := strings.CutSuffix(name, ".json")
		if !isJSON || !slices.Contains(campaigns, base) {
			if isJSON {
				name = base
			}
			reportFail(w, isJSON, http.StatusNotFound, unknownCampaignMsg(name, campaigns))
			return
		}
		name, asJSON = base, true
	}
	from, to, ok := reportPeriod(w, r, asJSON)
	if !ok {
		return
	}
	rep, err := h.src.Report(r.Context(), name, from, to)
	if errors.Is(err, ErrNoDecisions) {
		if asJSON {
			reportFail(w, true, http.StatusNotFound, fmt.Sprintf("campaign %q has no decisions in the period", name))
			return
		}
		// The page says so, with the period form to pick another.
		rep, err = &CampaignReport{Campaign: name, From: from, To: to, Attribution: Attribution{ROI: math.NaN()}}, nil
	}
	if err == nil && rep == nil {
		err = errors.New("the source returned no report and no error")
	}
	if err != nil {
		if r.Context().Err() == nil {
			h.log.Error("cannot build a campaign report", "campaign", name, "err", err)
		}
		reportFail(w, asJSON, http.StatusServiceUnavailable, fmt.Sprintf("the report of campaign %q cannot be built right now; the server log says why", name))
		return
	}
	if asJSON {
		h.writeJSON(w, rep, fmt.Sprintf("the report of campaign %q", name), "campaign", name)
		return
	}
	h.writeHTML(w, func(b *bytes.Buffer) error { return RenderPage(b, rep) })
}

// writeJSON sends v as JSON, or 500 when it cannot be encoded: what names
// v in the answer, logArgs in the log.
func (h *reportHandler) writeJSON(w http.ResponseWriter, v any, what string, logArgs ...any) {
	b, err := json.Marshal(v)
	if err != nil {
		h.log.Error("cannot encode as JSON", append(logArgs, "err", err)...)
		reportFail(w, true, http.StatusInternalServerError, fmt.Sprintf("%s cannot be encoded as JSON: %v", what, err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(b, '\n'))
}

// writeHTML renders a page and sends it, or 500 when rendering fails.
func (h *reportHandler) writeHTML(w http.ResponseWriter, render func(*bytes.Buffer) error) {
	var b bytes.Buffer
	if err := render(&b); err != nil {
		h.log.Error("cannot render a report page", "err", err)
		reportFail(w, false, http.StatusInternalServerError, "the report page cannot be rendered; the server log says why")
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", pageCSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}

// reportPeriod reads the from and to query parameters; it answers 400 and
// returns false when one is malformed or they are out of order.
func reportPeriod(w http.ResponseWriter, r *http.Request, asJSON bool) (from, to time.Time, ok bool) {
	q := r.URL.Query()
	from, err := parsePeriodBound("from", q.Get("from"), false)
	if err == nil {
		to, err = parsePeriodBound("to", q.Get("to"), true)
	}
	if err == nil && !from.IsZero() && !to.IsZero() && !from.Before(to) {
		err = fmt.Errorf("from (%s) must be before to (%s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if err != nil {
		reportFail(w, asJSON, http.StatusBadRequest, err.Error())
		return time.Time{}, time.Time{}, false
	}
	return from, to, true
}

// parsePeriodBound parses one end of the period: RFC 3339 or a UTC date; a date
// ending the period (end) stands for the end of that day.
func parsePeriodBound(name, s string, end bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	// A "+" of a zone offset arrives as a space when the query was not
	// escaped.
	if t, err := time.Parse(time.RFC3339, strings.ReplaceAll(s, " ", "+")); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%s: %q is not a time; use RFC 3339 (2026-03-01T00:00:00Z) or a date (2026-03-01, UTC)", name, s)
}

func unknownCampaignMsg(name string, campaigns []string) string {
	if len(campaigns) == 0 {
		return fmt.Sprintf("unknown campaign %q: no campaigns are configured", name)
	}
	quoted := make([]string, len(campaigns))
	for i, c := range campaigns {
		quoted[i] = fmt.Sprintf("%q", c)
	}
	return fmt.Sprintf("unknown campaign %q; the campaigns are %s", name, strings.Join(quoted, ", "))
}

// reportFail answers an error: a JSON object {"error": msg} or plain text.
func reportFail(w http.ResponseWriter, asJSON bool, code int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	if !asJSON {
		http.Error(w, msg, code)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
