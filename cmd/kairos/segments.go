package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"kairos/decisioning"
)

// segmentsHandler serves the live segments on the admin address:
//
//	GET /segments                        every segment: name, condition, size, daily history
//	GET /segments/<name>?cursor=C&n=N    a page of its members (n: 1-10000, default 1000)
func segmentsHandler(cfg *decisioning.Config, segs decisioning.Segments, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "segments: use GET /segments or GET /segments/<name>", http.StatusMethodNotAllowed)
			return
		}
		name := strings.Trim(strings.TrimPrefix(r.URL.Path, "/segments"), "/")
		if name == "" {
			type segment struct {
				Name    string                   `json:"name"`
				When    string                   `json:"when"`
				Size    int64                    `json:"size"`
				History []decisioning.SegmentDay `json:"history"`
			}
			out := []segment{}
			for _, sg := range cfg.Segments {
				n, err := segs.SegmentSize(r.Context(), sg.Name)
				if err != nil {
					unavailable(w, logger, err)
					return
				}
				hist, err := segs.SegmentHistory(r.Context(), sg.Name)
				if err != nil {
					unavailable(w, logger, err)
					return
				}
				out = append(out, segment{sg.Name, sg.When, n, append([]decisioning.SegmentDay{}, hist...)})
			}
			writeJSON(w, map[string]any{"segments": out})
			return
		}
		if !slices.ContainsFunc(cfg.Segments, func(sg decisioning.Segment) bool { return sg.Name == name }) {
			http.Error(w, "segments: no segment "+strconv.Quote(name)+" in "+cfg.Source+"; GET /segments lists them", http.StatusNotFound)
			return
		}
		n := 1000
		if v := r.URL.Query().Get("n"); v != "" {
			k, err := strconv.Atoi(v)
			if err != nil || k < 1 || k > 10000 {
				http.Error(w, "segments: n must be a number of members from 1 to 10000", http.StatusBadRequest)
				return
			}
			n = k
		}
		cursor := r.URL.Query().Get("cursor")
		if _, err := strconv.ParseUint(cursor, 10, 64); cursor != "" && err != nil {
			http.Error(w, "segments: cursor must be the next cursor of a previous page (or absent for the first)", http.StatusBadRequest)
			return
		}
		members, next, err := segs.SegmentMembers(r.Context(), name, cursor, n)
		if err != nil {
			unavailable(w, logger, err)
			return
		}
		writeJSON(w, map[string]any{"segment": name, "members": append([]string{}, members...), "next": next})
	})
}

// unavailable answers 503 for a store that failed.
func unavailable(w http.ResponseWriter, logger *slog.Logger, err error) {
	logger.Error("segments", "err", err)
	http.Error(w, "segments: "+err.Error()+"; try again when the store is back", http.StatusServiceUnavailable)
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
