// Package channels delivers decided messages: the message model, the
// Transport each channel's adapter implements, and the classification of
// delivery errors (transient: retry; permanent: the address is dead;
// invalid: the message is; ambiguous: it may have been delivered).
// Each transport is a sub-package named after its channel: email (SMTP),
// push (Firebase Cloud Messaging HTTP v1), sms (Twilio Messages API),
// webhook (HMAC-signed HTTP POST).
//
// It must not import the decisioning internals (decisioning/memstate,
// decisioning/redisstate, decisioning/bandit).
package channels

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Message is one rendered message to one recipient.
type Message struct {
	// ID is the decision id: the idempotency key end to end (a transport
	// passes it to the provider where the provider takes one).
	ID         string
	CustomerID string
	Campaign   string
	Offer      string
	Channel    string
	// To is the recipient on the channel: an email address, an E.164
	// phone number, a push registration token, or a webhook URL.
	To string
	// Subject (email) and Title (push).
	Subject string
	Title   string
	// Text is the plain-text body (email text part, SMS body, push body);
	// HTML the email's HTML part.
	Text string
	HTML string
	// Data are extra key/value pairs (push data, webhook payload).
	Data map[string]string
	// UnsubscribeURL, when set, is announced in the email's
	// List-Unsubscribe header (one-click, RFC 8058).
	UnsubscribeURL string
}

// Receipt is what a provider answered to an accepted message.
type Receipt struct {
	// ProviderID is the provider's id of the message (SMTP queue id, FCM
	// message name, Twilio SID), recorded in the ledger.
	ProviderID string
}

// Transport sends messages on one channel. Implementations are safe for
// concurrent use and honour ctx's deadline.
type Transport interface {
	Send(ctx context.Context, m *Message) (Receipt, error)
}

// Kind classifies a delivery error.
type Kind uint8

// Kinds of delivery errors.
const (
	// Transient: a timeout, a 5xx, a 429; the same message may succeed
	// later (after RetryAfter when the provider said so).
	Transient Kind = iota + 1
	// Permanent: the address is invalid or gone (hard bounce, unregistered
	// token, invalid number); retrying cannot succeed, and the channel is
	// unreachable for the customer.
	Permanent
	// Invalid: the message itself is at fault (a header or body the
	// provider refuses, a payload too large); retrying the same message
	// cannot succeed, but the address may be fine.
	Invalid
	// Ambiguous: the request reached the provider, and the answer was lost
	// (a timeout or a broken connection after the request was written, or
	// after SMTP's final "."): the provider may have accepted the message.
	// Retrying may deliver it twice unless the provider deduplicates by the
	// message id.
	Ambiguous
)

func (k Kind) String() string {
	switch k {
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	case Invalid:
		return "invalid"
	case Ambiguous:
		return "ambiguous"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Error is a classified delivery error.
type Error struct {
	Kind Kind
	// Code is the provider's error code ("UNREGISTERED", "21211", "550"),
	// empty when there is none.
	Code string
	// RetryAfter is how long the provider asked to wait (429, 503); zero
	// when it did not say.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	s := e.Kind.String() + " delivery error"
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorKind returns the kind of a delivery error: its Kind for an *Error,
// and Transient for anything else (a network error, an
// expired deadline) — an unclassified failure may pass on retry.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Transient
}

// RetryAfter returns how long the provider asked to wait before a retry,
// zero when it did not say.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// maxRetryAfter caps a provider's Retry-After: a larger value is absurd
// (and would overflow a Duration).
const maxRetryAfter = 365 * 24 * time.Hour

// ParseRetryAfter reads an HTTP Retry-After value: delay-seconds or an
// HTTP date (RFC 9110 §10.2.3), relative to now. It returns zero when v is
// empty, malformed or in the past, and at most a year.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(maxRetryAfter/time.Second))) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := at.Sub(now); d > 0 {
			return min(d, maxRetryAfter)
		}
	}
	return 0
}

// Exchange sends req with client and reads at most limit bytes of the
// response body (the body is closed). A failure is an *Error wrapping the
// cause under what (e.g. `push: message "d1"`): Transient when the request
// was not written in full (nothing reached the provider: a retry is safe),
// Ambiguous when it was and the answer was lost (a timeout waiting for it,
// a broken connection, a 2xx whose body could not be read).
func Exchange(client *http.Client, req *http.Request, limit int64, what string) (*http.Response, []byte, error) {
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		if info.Err == nil {
			wrote.Store(true)
		}
	}}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := client.Do(req)
	if err != nil {
		kind := Transient
		if wrote.Load() {
			kind = Ambiguous
		}
		return nil, nil, &Error{Kind: kind, Err: fmt.Errorf("%s: %w", what, err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		kind := Transient
		if resp.StatusCode/100 == 2 {
			kind = Ambiguous // accepted, but without its receipt
		}
		return nil, nil, &Error{Kind: kind, Err: fmt.Errorf("%s: read response: %w", what, err)}
	}
	return resp, raw, nil
}

// Unreceipted is the error of a 2xx answer that lacks the provider's id
// of the message (its body is not the provider's: a proxy, a mangled
// answer) under what (e.g. `push: message "d1"`). The provider most likely
// accepted the message, so it is Ambiguous: a retry could deliver it
// twice.
func Unreceipted(what string, status int, raw []byte, idName string) error {
	return &Error{Kind: Ambiguous, Err: fmt.Errorf("%s: HTTP %d without a %s: %s", what, status, idName, Snippet(raw))}
}

// Snippet returns the start of a provider's unexpected response body for
// an error message: trimmed, at most 200 bytes, valid UTF-8.
func Snippet(raw []byte) string {
	s := strings.TrimSpace(string(raw))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
