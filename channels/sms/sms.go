// Package sms is the SMS transport: it sends a channels.Message through the
// Twilio Programmable Messaging API
// (POST /2010-04-01/Accounts/{AccountSid}/Messages.json, HTTP basic auth)
// and classifies Twilio's documented error responses into channels.Error.
//
// It owns the Twilio wire format and nothing else: no retries (the
// dispatcher retries), no delivery-status webhooks (StatusCallback only
// tells Twilio where to post them), no state. It imports only the standard
// library and kairos/channels, never the decisioning internals.
//
// Idempotency: every request carries the decision id in the
// I-Twilio-Idempotency-Token header, and a retry of the same message sends
// the same value. Twilio's public documentation describes that header as
// one Twilio sets on the webhooks it sends (so receivers can drop
// redelivered callbacks); it documents no promise that the Messages
// resource deduplicates creates on it. Treat the header as best effort: the
// dispatcher's ledger, not Twilio, must keep a retry after an ambiguous
// failure (a timeout after Twilio accepted the message) from sending twice.
// A 429 is documented as never processed, so retrying it is always safe.
//
// The auth token never appears in an error or a log line.
package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"kairos/channels"

	"kairos/features"
)

// DefaultBaseURL is the production Twilio REST endpoint.
const DefaultBaseURL = "https://api.twilio.com"

// IdempotencyHeader carries channels.Message.ID on every request.
const IdempotencyHeader = "I-Twilio-Idempotency-Token"

// ErrCredentials reports that Twilio rejected the account SID or the auth
// token (HTTP 401, error 20003). It says nothing about the recipient, so it
// is not a channels.Error and never Permanent.
var ErrCredentials = errors.New("sms: Twilio rejected the credentials")

// permanent are the Twilio error codes that condemn the recipient's number:
// retrying cannot succeed.
var permanent = map[int]bool{
	21211: true, // invalid 'To' phone number
	21408: true, // sending to the number's region is not enabled
	21610: true, // the recipient unsubscribed (replied STOP)
	21614: true, // the 'To' number is not a mobile number
}

// maxBody bounds how much of a response body is read.
const maxBody = 64 << 10

// Options configure a Transport.
type Options struct {
	// BaseURL is the Twilio endpoint, DefaultBaseURL when empty; tests
	// point it at an smstest.Server.
	BaseURL string
	// AccountSID ("AC…") and AuthToken authenticate every request with
	// HTTP basic auth (required).
	AccountSID string
	AuthToken  string
	// From is the sender, an E.164 number ("+15017122661"); exactly one of
	// From and MessagingServiceSID is required.
	From string
	// MessagingServiceSID ("MG…") lets a Twilio Messaging Service pick the
	// sender.
	MessagingServiceSID string
	// StatusCallback, when set, is the absolute URL Twilio posts delivery
	// status updates to.
	StatusCallback string
	// HTTPClient sends the requests; a client with a 10s timeout when nil.
	HTTPClient *http.Client
}

// Transport sends messages through Twilio. It is safe for concurrent use.
type Transport struct {
	endpoint       string // {BaseURL}/2010-04-01/Accounts/{sid}/Messages.json
	sid, token     string
	from, service  string
	statusCallback string
	client         *http.Client
	now            func() time.Time // for Retry-After dates; replaced in tests
}

var _ channels.Transport = (*Transport)(nil)

// New validates opts and returns a Transport.
func New(opts Options) (*Transport, error) {
	base := opts.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	if err := checkURL(base); err != nil {
		return nil, fmt.Errorf("sms: Options.BaseURL %q: %w", base, err)
	}
	if opts.AccountSID == "" {
		return nil, errors.New("sms: Options.AccountSID: required")
	}
	if !sidLike(opts.AccountSID, "AC") {
		return nil, fmt.Errorf("sms: Options.AccountSID %q: must be \"AC\" followed by letters and digits", opts.AccountSID)
	}
	if opts.AuthToken == "" {
		return nil, errors.New("sms: Options.AuthToken: required")
	}
	switch {
	case opts.From == "" && opts.MessagingServiceSID == "":
		return nil, errors.New("sms: Options.From or Options.MessagingServiceSID: one is required")
	case opts.From != "" && opts.MessagingServiceSID != "":
		return nil, errors.New("sms: Options.From and Options.MessagingServiceSID: set only one")
	case opts.From != "" && !features.IsE164(opts.From):
		return nil, fmt.Errorf("sms: Options.From %q: must be an E.164 number (\"+\" and 2 to 15 digits)", opts.From)
	case opts.MessagingServiceSID != "" && !sidLike(opts.MessagingServiceSID, "MG"):
		return nil, fmt.Errorf("sms: Options.MessagingServiceSID %q: must be \"MG\" followed by letters and digits", opts.MessagingServiceSID)
	}
	if opts.StatusCallback != "" {
		if err := checkURL(opts.StatusCallback); err != nil {
			return nil, fmt.Errorf("sms: Options.StatusCallback %q: %w", opts.StatusCallback, err)
		}
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Transport{
		endpoint:       strings.TrimRight(base, "/") + "/2010-04-01/Accounts/" + opts.AccountSID + "/Messages.json",
		sid:            opts.AccountSID,
		token:          opts.AuthToken,
		from:           opts.From,
		service:        opts.MessagingServiceSID,
		statusCallback: opts.StatusCallback,
		client:         client,
		now:            time.Now,
	}, nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an absolute http or https URL")
	}
	if u.User != nil {
		return errors.New("must not carry user info")
	}
	return nil
}

func sidLike(s, prefix string) bool {
	if len(s) <= len(prefix) || !strings.HasPrefix(s, prefix) {
		return false
	}
	for _, c := range s[len(prefix):] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// Wire format (the subset the transport reads).
type (
	messageResponse struct {
		SID string `json:"sid"`
	}
	errorResponse struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
		Status   int    `json:"status"`
	}
)

// Send sends m.Text to the phone number m.To. The receipt's ProviderID is
// Twilio's message SID ("SM…").
//
// Errors: a *channels.Error of Kind Permanent for a dead number (21211,
// 21408, 21610, 21614; Code is the number as a string), of Kind Transient
// for 429 (20429), 5xx and network failures (RetryAfter from the
// Retry-After header), ErrCredentials (wrapped) for 401/20003, and a plain
// error for a request Twilio refused for another reason (the payload or the
// configuration is wrong; retrying the same request will not help).
func (t *Transport) Send(ctx context.Context, m *channels.Message) (channels.Receipt, error) {
	if m.To == "" {
		return channels.Receipt{}, fmt.Errorf("sms: message %q: To (the phone number) is empty", m.ID)
	}
	if m.ID == "" {
		return channels.Receipt{}, errors.New("sms: message ID (the decision id) is empty")
	}
	if m.Text == "" {
		return channels.Receipt{}, fmt.Errorf("sms: message %q: Text (the SMS body) is empty", m.ID)
	}
	form := url.Values{"To": {m.To}, "Body": {m.Text}}
	if t.from != "" {
		form.Set("From", t.from)
	} else {
		form.Set("MessagingServiceSid", t.service)
	}
	if t.statusCallback != "" {
		form.Set("StatusCallback", t.statusCallback)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return channels.Receipt{}, fmt.Errorf("sms: message %q: %w", m.ID, err)
	}
	req.SetBasicAuth(t.sid, t.token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set(IdempotencyHeader, m.ID)

	// The error text of a failed exchange names the URL (account SID) but
	// never the auth token, which travels in a header.
	resp, raw, err := channels.Exchange(t.client, req, maxBody, fmt.Sprintf("sms: message %q", m.ID))
	if err != nil {
		return channels.Receipt{}, err
	}
	if resp.StatusCode/100 == 2 {
		var ok messageResponse
		if err := json.Unmarshal(raw, &ok); err != nil || ok.SID == "" {
			// Not Twilio's answer (a proxy?), or Twilio's answer mangled.
			return channels.Receipt{}, channels.Unreceipted(fmt.Sprintf("sms: message %q", m.ID), resp.StatusCode, raw, "message sid")
		}
		return channels.Receipt{ProviderID: ok.SID}, nil
	}
	return channels.Receipt{}, t.classify(m.ID, resp, raw)
}

// classify turns a non-2xx response into an error. Permanent needs
// Twilio's explicit error code: it marks the customer's channel
// unreachable, which a proxy's 400 page must never do.
func (t *Transport) classify(id string, resp *http.Response, raw []byte) error {
	var body errorResponse
	code, msg := 0, ""
	if json.Unmarshal(raw, &body) == nil && (body.Code != 0 || body.Message != "") {
		code, msg = body.Code, body.Message
	} else {
		msg = channels.Snippet(raw)
	}
	desc := fmt.Sprintf("HTTP %d", resp.StatusCode)
	if code != 0 {
		desc += fmt.Sprintf(" error %d", code)
	}
	if msg != "" {
		desc += ": " + msg
	}
	cause := fmt.Errorf("sms: message %q: %s", id, desc)

	if permanent[code] {
		return &channels.Error{Kind: channels.Permanent, Code: strconv.Itoa(code), Err: cause}
	}
	switch {
	case code == 20003, resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%w (check Options.AccountSID and Options.AuthToken): %s", ErrCredentials, desc)
	case code == 20429, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		c := strconv.Itoa(code)
		if code == 0 {
			c = strconv.Itoa(resp.StatusCode)
		}
		return &channels.Error{
			Kind:       channels.Transient,
			Code:       c,
			RetryAfter: channels.ParseRetryAfter(resp.Header.Get("Retry-After"), t.now()),
			Err:        cause,
		}
	}
	// Any other refusal (21602 empty body, 21606 bad From, 20404, a non-JSON
	// 4xx): the request or the configuration is wrong, not the recipient.
	return fmt.Errorf("sms: Twilio refused the request: %w", cause)
}
