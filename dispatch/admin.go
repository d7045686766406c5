package dispatch

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"kairos/channels/outbox"
	"kairos/decisioning"
)

// Status is what GET /channels/status answers and `kairos channels
// status` prints.
type Status struct {
	decisioning.DispatchStatus
	// Dispatching is false when this instance runs no dispatcher
	// (serve --dispatch=false).
	Dispatching bool `json:"dispatching"`
	// Degraded says why the dispatcher cannot read the queue; empty when
	// it can.
	Degraded string `json:"degraded,omitempty"`
	// Channels lists the configured channels and their providers.
	Channels map[string]string `json:"channels"`
	// Outbox is the number of messages in the outbox (the transport of
	// channels configured with provider outbox).
	Outbox int       `json:"outbox"`
	At     time.Time `json:"at"`
}

// maxDeadShown bounds the dead letters a status lists.
const maxDeadShown = 100

// AdminHandler serves the channels' admin endpoints:
//
//	GET /channels/status?dead=N   Status as JSON, with the N (default 20,
//	                              at most 100) newest dead letters
//	GET /channels/outbox?channel=C&limit=N
//	                              the newest N (default 50, at most 1000)
//	                              messages of the outbox as JSON
//
// d is nil on an instance that runs no dispatcher; ob nil without an
// outbox; providers maps channels to their provider names; store errors
// go to logger (nil: discarded), not to the client.
func AdminHandler(q decisioning.DispatchQueue, d *Dispatcher, ob *outbox.Outbox, providers map[string]string, logger *slog.Logger) http.Handler {
	log := logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /channels/status", func(w http.ResponseWriter, r *http.Request) {
		n, ok := intParam(w, r, "dead", 20, 0, maxDeadShown)
		if !ok {
			return
		}
		st, err := q.DispatchStatus(r.Context(), n)
		if err != nil {
			log.Error("channels status: cannot read the dispatch queue", "err", err)
			httpError(w, http.StatusServiceUnavailable, "cannot read the dispatch queue; the server log says why")
			return
		}
		out := Status{DispatchStatus: st, Dispatching: d != nil, Channels: providers, At: time.Now().UTC()}
		if d != nil && d.Degraded() {
			out.Degraded = "cannot read the dispatch queue; retrying"
		}
		if ob != nil {
			out.Outbox = ob.Len()
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("GET /channels/outbox", func(w http.ResponseWriter, r *http.Request) {
		n, ok := intParam(w, r, "limit", 50, 1, 1000)
		if !ok {
			return
		}
		if ob == nil {
			httpError(w, http.StatusNotFound, "no channel uses the outbox (provider: outbox)")
			return
		}
		writeJSON(w, ob.Messages(r.URL.Query().Get("channel"), n))
	})
	return mux
}

// intParam reads an integer query parameter within [lo, hi]; it answers
// 400 naming the parameter and returns false when it is not one.
func intParam(w http.ResponseWriter, r *http.Request, name string, def, lo, hi int) (int, bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		httpError(w, http.StatusBadRequest, name+": must be an integer from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
		return 0, false
	}
	return n, true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
