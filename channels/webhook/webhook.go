// Package webhook is the webhook transport: it POSTs a channels.Message as
// JSON to an HTTP(S) endpoint, signed with HMAC-SHA256 so the receiver can
// check that the request comes from kairos and is fresh.
//
// It owns the webhook wire format and its signature scheme, nothing else:
// no retries (the dispatcher retries), no state. It imports only the
// standard library and kairos/channels, never the decisioning internals.
//
// # Request
//
// Each message is one request:
//
//	POST <URL>
//	Content-Type: application/json
//	Idempotency-Key: <decision id>
//	Kairos-Timestamp: <unix seconds>
//	Kairos-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
//	{"decision_id": "...", "customer_id": "...", "campaign": "...",
//	 "offer": "...", "channel": "...", "subject": "...", "title": "...",
//	 "text": "...", "html": "...", "data": {"key": "value"}}
//
// Every field is always present (empty strings, and {} for data).
//
// # Verifying a request
//
// A receiver recomputes the signature over the raw request body, exactly
// as received (before any JSON decoding):
//
//  1. Read the Kairos-Timestamp header (decimal unix seconds) and refuse
//     the request when it is further than a tolerance (5 minutes is usual)
//     from the receiver's clock; this bounds replays.
//  2. Compute HMAC-SHA256 with the shared secret as key over the bytes of
//     the timestamp header, one ".", and the body; hex-encode it
//     (lower case).
//  3. Compare it in constant time with the value after "v1=" in
//     Kairos-Signature. The header may carry several comma-separated
//     signatures (during a secret rotation); one match suffices, and
//     schemes other than v1 are ignored.
//  4. Deduplicate on Idempotency-Key: a retry after an ambiguous failure
//     (a timeout after the receiver accepted the request) repeats the same
//     key, and the receiver must act on it once.
//
// Verify does all of steps 1-3 for Go receivers.
//
// # Responses
//
// A 2xx accepts the message (the receipt's ProviderID is the response's
// X-Request-Id header, else the decision id). 400, 404, 410 and 422 are
// invalid-message failures (channels.Invalid: the endpoint refuses this
// message or is gone; the endpoint is shared by every customer, so no
// customer's channel is marked unreachable); 408,
// 425, 429 and 5xx are transient, with the delay of a Retry-After header
// (seconds or an HTTP date). Any other status is transient too: it says
// nothing about the recipient (a 401 or 403 is a secret or configuration
// problem), so it must not mark the channel unreachable; the dispatcher
// retries and then dead-letters it. Network errors and deadlines are
// transient.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"kairos/channels"
)

// Header names of a webhook request.
const (
	HeaderTimestamp   = "Kairos-Timestamp"
	HeaderSignature   = "Kairos-Signature"
	HeaderIdempotency = "Idempotency-Key"
	// HeaderRequestID is the response header whose value becomes the
	// receipt's ProviderID.
	HeaderRequestID = "X-Request-Id"
)

// MinSecretLen is the minimum length of a signing secret in bytes.
const MinSecretLen = 32

// DefaultTimeout bounds a request when Options.HTTPClient is nil.
const DefaultTimeout = 10 * time.Second

// maxErrBody bounds how much of an error response body is quoted in the
// error; maxDrain how much of any body is read to reuse the connection.
const (
	maxErrBody = 256
	maxDrain   = 64 << 10
)

// Errors returned by Verify.
var (
	// ErrSignature reports a missing or mismatching signature.
	ErrSignature = errors.New("webhook: signature mismatch")
	// ErrTimestamp reports a missing, malformed, too old or too new
	// timestamp.
	ErrTimestamp = errors.New("webhook: timestamp outside tolerance")
)

// Options configure a Transport.
type Options struct {
	// URL is the default endpoint, an absolute http or https URL; a
	// message's To overrides it when set. Optional when every message
	// carries its own URL.
	URL string
	// Secret is the HMAC-SHA256 signing key shared with the receivers
	// (required, at least MinSecretLen bytes).
	Secret []byte
	// HTTPClient sends the requests; when nil, a client with a
	// DefaultTimeout timeout that does not follow redirects (a redirected
	// POST may lose its body or reach another host with the signature).
	HTTPClient *http.Client
	// Now is the clock for timestamps and Retry-After dates; time.Now when
	// nil.
	Now func() time.Time
}

// Transport POSTs signed messages. It is safe for concurrent use.
type Transport struct {
	url    string
	secret []byte
	client *http.Client
	now    func() time.Time
}

var _ channels.Transport = (*Transport)(nil)

// New validates opts and returns a Transport.
func New(opts Options) (*Transport, error) {
	if len(opts.Secret) < MinSecretLen {
		return nil, fmt.Errorf("webhook: Options.Secret must be at least %d bytes, got %d", MinSecretLen, len(opts.Secret))
	}
	if opts.URL != "" {
		if _, err := parseURL(opts.URL); err != nil {
			return nil, fmt.Errorf("webhook: Options.URL %w", err)
		}
	}
	t := &Transport{
		url:    opts.URL,
		secret: bytes.Clone(opts.Secret),
		client: opts.HTTPClient,
		now:    opts.Now,
	}
	if t.client == nil {
		t.client = &http.Client{
			Timeout: DefaultTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if t.now == nil {
		t.now = time.Now
	}
	return t, nil
}

// parseURL accepts absolute http and https URLs with a host. Its errors
// complete a sentence starting with the field's name.
func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("must be an absolute http or https URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("must be an http or https URL, got scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("must be an absolute http or https URL with a host")
	}
	return u, nil
}

// payload is the JSON body of a request.
type payload struct {
	DecisionID string            `json:"decision_id"`
	CustomerID string            `json:"customer_id"`
	Campaign   string            `json:"campaign"`
	Offer      string            `json:"offer"`
	Channel    string            `json:"channel"`
	Subject    string            `json:"subject"`
	Title      string            `json:"title"`
	Text       string            `json:"text"`
	HTML       string            `json:"html"`
	Data       map[string]string `json:"data"`
}

// Send POSTs m to m.To, or to Options.URL when m.To is empty. A message
// without an ID or without a usable URL is refused as a permanent error:
// sending it again cannot succeed.
func (t *Transport) Send(ctx context.Context, m *channels.Message) (channels.Receipt, error) {
	if m.ID == "" {
		return channels.Receipt{}, invalid(errors.New("webhook: message has no ID (the idempotency key)"))
	}
	target := m.To
	if target == "" {
		target = t.url
	}
	if target == "" {
		return channels.Receipt{}, invalid(fmt.Errorf("webhook: message %s: no URL (neither Message.To nor Options.URL is set)", m.ID))
	}
	u, err := parseURL(target)
	if err != nil {
		return channels.Receipt{}, invalid(fmt.Errorf("webhook: message %s: URL %w", m.ID, err))
	}

	data := m.Data
	if data == nil {
		data = map[string]string{}
	}
	body, err := json.Marshal(payload{
		DecisionID: m.ID, CustomerID: m.CustomerID, Campaign: m.Campaign, Offer: m.Offer,
		Channel: m.Channel, Subject: m.Subject, Title: m.Title, Text: m.Text, HTML: m.HTML,
		Data: data,
	})
	if err != nil { // map[string]string and strings always marshal
		return channels.Receipt{}, invalid(fmt.Errorf("webhook: message %s: encode: %w", m.ID, err))
	}

	ts := strconv.FormatInt(t.now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return channels.Receipt{}, invalid(fmt.Errorf("webhook: message %s: %w", m.ID, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kairos-webhook/1")
	req.Header.Set(HeaderIdempotency, m.ID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(t.secret, ts, body))

	resp, err := t.client.Do(req)
	if err != nil {
		// Only the origin is quoted: a webhook URL's path or query often
		// carries the receiver's token.
		return channels.Receipt{}, &channels.Error{Kind: channels.Transient,
			Err: fmt.Errorf("webhook: message %s: POST %s://%s: %w", m.ID, u.Scheme, u.Host, unwrapURLError(err))}
	}
	defer resp.Body.Close()

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		id := resp.Header.Get(HeaderRequestID)
		if id == "" {
			id = m.ID
		}
		return channels.Receipt{ProviderID: id}, nil
	}
	return channels.Receipt{}, t.classify(m.ID, resp)
}

// unwrapURLError drops the *url.Error wrapper, whose text repeats the
// method and the full URL, keeping the cause (which may be
// context.DeadlineExceeded).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// classify turns a non-2xx response into a channels.Error.
func (t *Transport) classify(id string, resp *http.Response) error {
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrBody))
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	code := strconv.Itoa(resp.StatusCode)
	err := fmt.Errorf("webhook: message %s: endpoint answered %s%s", id, resp.Status, quote(snippet))
	switch s := resp.StatusCode; {
	case s == http.StatusBadRequest, s == http.StatusNotFound, s == http.StatusGone,
		s == http.StatusUnprocessableEntity:
		return &channels.Error{Kind: channels.Invalid, Code: code, Err: err}
	default:
		// 408, 425, 429 and 5xx by the documented contract; any other
		// status is no statement about the recipient (see the package
		// documentation), so it is retried and dead-lettered rather than
		// marking the channel unreachable.
		return &channels.Error{Kind: channels.Transient, Code: code,
			RetryAfter: channels.ParseRetryAfter(resp.Header.Get("Retry-After"), t.now()), Err: err}
	}
}

// quote returns ": <body>" for a non-empty error body, trimmed and made
// printable, or "".
func quote(b []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD"))
	if s == "" {
		return ""
	}
	if len(b) == maxErrBody {
		s += "…" // cut; a rune split by the cut became U+FFFD above
	}
	return ": " + strconv.Quote(s)
}

// invalid is the error of a message that cannot be sent as it is.
func invalid(err error) *channels.Error {
	return &channels.Error{Kind: channels.Invalid, Err: err}
}

// Sign returns the Kairos-Signature header value for body sent at
// timestamp (decimal unix seconds): "v1=" and the lower-case hex
// HMAC-SHA256 of timestamp + "." + body under secret.
func Sign(secret []byte, timestamp string, body []byte) string {
	return "v1=" + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret []byte, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a webhook request for a receiver: timestamp and signature
// are the Kairos-Timestamp and Kairos-Signature header values, body the raw
// request body, now the receiver's clock. It returns an error wrapping
// ErrTimestamp when timestamp is malformed or further than tolerance from
// now (in either direction), and one wrapping ErrSignature unless a v1
// signature in the header matches, compared in constant time. tolerance
// must be positive.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) == 0 {
		return errors.New("webhook: verify: empty secret")
	}
	if tolerance <= 0 {
		return fmt.Errorf("webhook: verify: tolerance must be positive, got %v", tolerance)
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: malformed %s %q", ErrTimestamp, HeaderTimestamp, timestamp)
	}
	// Compare in seconds to stay clear of time.Duration overflow for
	// absurd timestamps.
	skew := now.Unix() - sec
	if skew < 0 {
		skew = -skew
	}
	if skew < 0 || skew > int64(tolerance/time.Second) {
		return fmt.Errorf("%w: %s is %ds from now, tolerance %v", ErrTimestamp, timestamp, now.Unix()-sec, tolerance)
	}
	want := mac(secret, timestamp, body)
	found := false
	for part := range strings.SplitSeq(signature, ",") {
		v, ok := strings.CutPrefix(strings.TrimSpace(part), "v1=")
		if !ok {
			continue
		}
		got, err := hex.DecodeString(v)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			found = true // keep going: the time taken does not depend on which matched
		}
	}
	if !found {
		return ErrSignature
	}
	return nil
}
