package tracking

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"kairos/features"
)

// Customers is what the handler needs of the feature store: Track for the
// engagement events, Profile and UpsertCustomer to revoke a consent.
type Customers interface {
	Track(ctx context.Context, events []features.Event, now time.Time) ([]features.Status, error)
	Profile(ctx context.Context, customerID string, now time.Time) (features.Profile, error)
	UpsertCustomer(ctx context.Context, c features.Customer, now time.Time) error
}

// pixel is a 1×1 transparent GIF.
var pixel = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

// Handler serves /t/o/<token> (open pixel), /t/c/<token> (click
// redirect) and /t/u/<token> (one-click unsubscribe: POST as RFC 8058
// mail clients send it, or GET, which shows a confirmation form).
type Handler struct {
	signer *Signer
	store  Customers
	set    *features.Set
	log    *slog.Logger
	now    func() time.Time
}

// NewHandler returns the tracking handler; logger nil discards.
func NewHandler(signer *Signer, store Customers, set *features.Set, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{signer: signer, store: store, set: set, log: logger.With("component", "tracking"), now: signer.now}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/t/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	kind, token, ok := strings.Cut(rest, "/")
	if !ok {
		h.page(w, http.StatusNotFound, "This link is not valid.")
		return
	}
	c, err := h.signer.Verify(token)
	if err != nil || c.Kind != kind {
		h.page(w, http.StatusNotFound, "This link is not valid or has expired.")
		return
	}
	switch kind {
	case Open:
		h.track(r.Context(), c, "opened", "")
		w.Header().Set("Content-Type", "image/gif")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(pixel)
	case Click:
		h.track(r.Context(), c, "clicked", c.URL)
		http.Redirect(w, r, c.URL, http.StatusFound)
	case Unsubscribe:
		if r.Method == http.MethodGet {
			h.page(w, http.StatusOK, `<form method="post"><p>Stop receiving `+html.EscapeString(c.Channel)+
				` messages?</p><button type="submit" name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form>`)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			h.page(w, http.StatusMethodNotAllowed, "Use the unsubscribe button.")
			return
		}
		io.Copy(io.Discard, io.LimitReader(r.Body, 4096))
		if err := h.unsubscribe(r.Context(), c); err != nil {
			h.log.Error("unsubscribe failed", "decision", c.DecisionID, "err", err)
			h.page(w, http.StatusServiceUnavailable, "We could not unsubscribe you right now; please try again in a minute.")
			return
		}
		h.page(w, http.StatusOK, "You are unsubscribed from "+html.EscapeString(c.Channel)+" messages.")
	default:
		h.page(w, http.StatusNotFound, "This link is not valid.")
	}
}

// eventType names the engagement event of a channel.
func eventType(channel, what string) string {
	switch {
	case channel == "email":
		return "email_" + what
	case channel == "push" && what == "clicked":
		return "push_clicked"
	}
	return "inapp_interaction"
}

// track records an engagement event; a failure is logged, not shown (the
// pixel and the redirect must work whatever happens).
func (h *Handler) track(ctx context.Context, c Claims, what, url string) {
	id := what + "-" + c.DecisionID
	if url != "" {
		sum := sha256.Sum256([]byte(url))
		id += "-" + hex.EncodeToString(sum[:6])
	}
	ev := features.Event{ID: id, CustomerID: c.CustomerID, Type: eventType(c.Channel, what), Properties: map[string]features.Value{
		"decision_id": features.String(c.DecisionID), "campaign": features.String(c.Campaign), "channel": features.String(c.Channel),
	}}
	if url != "" {
		ev.Properties["url"] = features.String(truncate(url, features.MaxStringBytes))
	}
	if err := h.record(ctx, ev); err != nil {
		h.log.Warn("engagement event not recorded", "event", ev.ID, "err", err)
	}
}

func (h *Handler) record(ctx context.Context, ev features.Event) error {
	now := h.now()
	if fe := h.set.ValidateEvent(&ev, now); fe != nil {
		return fe
	}
	_, err := h.store.Track(ctx, []features.Event{ev}, now)
	return err
}

// unsubscribe revokes the channel's consent and records the event.
func (h *Handler) unsubscribe(ctx context.Context, c Claims) error {
	now := h.now()
	p, err := h.store.Profile(ctx, c.CustomerID, now)
	if err != nil {
		return fmt.Errorf("read customer: %w", err)
	}
	if p.Customer != nil {
		rec := *p.Customer
		consents := make(map[string]bool, len(rec.Consents)+1)
		for k, v := range rec.Consents {
			consents[k] = v
		}
		consents[c.Channel] = false
		rec.Consents = consents
		if err := h.store.UpsertCustomer(ctx, rec, now); err != nil {
			return fmt.Errorf("revoke consent: %w", err)
		}
	}
	ev := features.Event{ID: "unsubscribed-" + c.DecisionID, CustomerID: c.CustomerID, Type: "unsubscribed", Properties: map[string]features.Value{
		"decision_id": features.String(c.DecisionID), "campaign": features.String(c.Campaign), "channel": features.String(c.Channel),
	}}
	if err := h.record(ctx, ev); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("record unsubscribe: %w", err)
	}
	return nil
}

func (h *Handler) page(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>Kairos</title><p>%s</p>\n", body)
}

// truncate cuts s to at most n bytes of valid UTF-8.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
