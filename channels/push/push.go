// Package push is the push-notification transport: it sends a
// channels.Message through the Firebase Cloud Messaging HTTP v1 API
// (POST /v1/projects/{project}/messages:send) and classifies FCM's
// documented error responses into channels.Error.
//
// It owns the FCM wire format and its credentials: the caller supplies a
// TokenSource, either ServiceAccountTokenSource (the OAuth 2.0 JWT bearer
// grant with a Google service-account key, in oauth.go) or a fixed token;
// no retries (the dispatcher retries), no state.
// It imports only the standard library and kairos/channels, never the
// decisioning internals.
//
// Idempotency: FCM v1 takes no idempotency key, so a retry after an
// ambiguous failure (a timeout after FCM accepted the message) can deliver
// the notification twice. Every message therefore carries the decision id in
// its data payload under the key "decision_id"; the app must drop a
// notification whose decision_id it has already shown.
package push

import (
	"bytes"
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
)

// DefaultBaseURL is the production FCM endpoint.
const DefaultBaseURL = "https://fcm.googleapis.com"

// Data keys the transport adds to every message's data payload. They
// overwrite keys of the same name in channels.Message.Data.
const (
	// DataDecisionID carries channels.Message.ID, for the app to drop
	// duplicates (FCM has no idempotency key).
	DataDecisionID = "decision_id"
	// DataCampaign carries channels.Message.Campaign when it is set.
	DataCampaign = "campaign"
)

// ErrCredentials reports that FCM rejected the transport's credentials
// (HTTP 401 or 403, THIRD_PARTY_AUTH_ERROR), or that the token endpoint
// refused the service-account key: the OAuth2 token, the service
// account's permissions or the project are wrong. It says nothing about the
// recipient, so it is not a channels.Error and never Permanent.
var ErrCredentials = errors.New("push: FCM rejected the credentials")

// maxBody bounds how much of a response body is read.
const maxBody = 64 << 10

// Options configure a Transport.
type Options struct {
	// BaseURL is the FCM endpoint, DefaultBaseURL when empty; tests point it
	// at a pushtest.Server.
	BaseURL string
	// Project is the Firebase project id (required).
	Project string
	// TokenSource returns the OAuth2 bearer token for each request
	// (required). It must be safe for concurrent use and should cache the
	// token until shortly before it expires. Production uses
	// ServiceAccountTokenSource with the service account's key file; tests
	// use StaticToken.
	TokenSource func(ctx context.Context) (string, error)
	// HTTPClient sends the requests; a client with a 10s timeout when nil.
	HTTPClient *http.Client
}

// StaticToken returns a TokenSource that always returns tok.
func StaticToken(tok string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return tok, nil }
}

// Transport sends messages through FCM. It is safe for concurrent use.
type Transport struct {
	endpoint string // {BaseURL}/v1/projects/{project}/messages:send
	token    func(context.Context) (string, error)
	client   *http.Client
	now      func() time.Time // for Retry-After dates; replaced in tests
}

var _ channels.Transport = (*Transport)(nil)

// New validates opts and returns a Transport.
func New(opts Options) (*Transport, error) {
	base := opts.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("push: Options.BaseURL %q: must be an absolute http or https URL", base)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("push: Options.BaseURL %q: must not carry user info, a query or a fragment", base)
	}
	if opts.Project == "" {
		return nil, errors.New("push: Options.Project: required")
	}
	if strings.ContainsAny(opts.Project, "/?#% ") {
		return nil, fmt.Errorf("push: Options.Project %q: must be a bare project id (no '/', '?', '#', '%%' or spaces)", opts.Project)
	}
	if opts.TokenSource == nil {
		return nil, errors.New("push: Options.TokenSource: required")
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Transport{
		endpoint: strings.TrimRight(base, "/") + "/v1/projects/" + opts.Project + "/messages:send",
		token:    opts.TokenSource,
		client:   client,
		now:      time.Now,
	}, nil
}

// Wire format of messages:send (the subset the transport uses).
type (
	sendRequest struct {
		Message message `json:"message"`
	}
	message struct {
		Token        string            `json:"token"`
		Notification *notification     `json:"notification,omitempty"`
		Data         map[string]string `json:"data,omitempty"`
	}
	notification struct {
		Title string `json:"title,omitempty"`
		Body  string `json:"body,omitempty"`
	}
	sendResponse struct {
		Name string `json:"name"`
	}
	errorResponse struct {
		Error struct {
			Code    int           `json:"code"`
			Message string        `json:"message"`
			Status  string        `json:"status"`
			Details []errorDetail `json:"details"`
		} `json:"error"`
	}
	errorDetail struct {
		Type            string `json:"@type"`
		ErrorCode       string `json:"errorCode"` // FcmError
		FieldViolations []struct {
			Field       string `json:"field"`
			Description string `json:"description"`
		} `json:"fieldViolations"` // google.rpc.BadRequest
	}
)

const (
	typeFcmError   = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
	typeBadRequest = "type.googleapis.com/google.rpc.BadRequest"
)

// Send sends m to the registration token m.To. The receipt's ProviderID is
// FCM's message name ("projects/p/messages/123").
//
// Errors: a *channels.Error of Kind Permanent for a dead token
// (UNREGISTERED, SENDER_ID_MISMATCH, INVALID_ARGUMENT naming the token),
// of Kind Invalid for INVALID_ARGUMENT about another field (the payload),
// of Kind Transient for quota, 5xx and network failures (RetryAfter from
// the Retry-After header), ErrCredentials (wrapped) for 401/403, and a plain
// error for a request FCM refused for another reason (the payload or the
// configuration is wrong; retrying the same request will not help).
func (t *Transport) Send(ctx context.Context, m *channels.Message) (channels.Receipt, error) {
	if m.To == "" {
		return channels.Receipt{}, fmt.Errorf("push: message %q: To (the registration token) is empty", m.ID)
	}
	if m.ID == "" {
		return channels.Receipt{}, errors.New("push: message ID (the decision id) is empty")
	}
	body, err := json.Marshal(sendRequest{Message: wireMessage(m)})
	if err != nil {
		return channels.Receipt{}, fmt.Errorf("push: message %q: encode: %w", m.ID, err)
	}
	tok, err := t.token(ctx)
	if err != nil {
		return channels.Receipt{}, fmt.Errorf("push: message %q: token source: %w", m.ID, err)
	}
	if tok == "" {
		return channels.Receipt{}, fmt.Errorf("push: message %q: token source returned an empty token", m.ID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.endpoint, bytes.NewReader(body))
	if err != nil {
		return channels.Receipt{}, fmt.Errorf("push: message %q: %w", m.ID, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")

	resp, raw, err := channels.Exchange(t.client, req, maxBody, fmt.Sprintf("push: message %q", m.ID))
	if err != nil {
		return channels.Receipt{}, err
	}
	if resp.StatusCode/100 == 2 {
		var ok sendResponse
		if err := json.Unmarshal(raw, &ok); err != nil || ok.Name == "" {
			// Not FCM's answer (a proxy?), or FCM's answer mangled.
			return channels.Receipt{}, channels.Unreceipted(fmt.Sprintf("push: message %q", m.ID), resp.StatusCode, raw, "message name")
		}
		return channels.Receipt{ProviderID: ok.Name}, nil
	}
	return channels.Receipt{}, t.classify(m.ID, resp, raw)
}

func wireMessage(m *channels.Message) message {
	data := make(map[string]string, len(m.Data)+2)
	for k, v := range m.Data {
		data[k] = v
	}
	data[DataDecisionID] = m.ID
	if m.Campaign != "" {
		data[DataCampaign] = m.Campaign
	}
	w := message{Token: m.To, Data: data}
	if m.Title != "" || m.Text != "" {
		w.Notification = &notification{Title: m.Title, Body: m.Text}
	}
	return w
}

// classify turns a non-2xx response into an error. Permanent needs FCM's
// explicit error code: it marks the customer's channel unreachable, which a
// proxy's HTML 404 must never do.
func (t *Transport) classify(id string, resp *http.Response, raw []byte) error {
	var body errorResponse
	parsed := json.Unmarshal(raw, &body) == nil && (body.Error.Status != "" || body.Error.Code != 0)
	status, fcmCode, msg := "", "", ""
	var violations []string
	if parsed {
		status, msg = body.Error.Status, body.Error.Message
		for _, d := range body.Error.Details {
			switch d.Type {
			case typeFcmError:
				fcmCode = d.ErrorCode
			case typeBadRequest:
				for _, v := range d.FieldViolations {
					violations = append(violations, v.Field)
				}
			}
		}
	} else {
		msg = channels.Snippet(raw)
	}
	code := fcmCode
	if code == "" {
		code = status
	}
	desc := fmt.Sprintf("HTTP %d", resp.StatusCode)
	if code != "" {
		desc += " " + code
	}
	if msg != "" {
		desc += ": " + msg
	}
	cause := fmt.Errorf("push: message %q: %s", id, desc)

	switch {
	case fcmCode == "UNREGISTERED", fcmCode == "SENDER_ID_MISMATCH":
		return &channels.Error{Kind: channels.Permanent, Code: fcmCode, Err: cause}
	case fcmCode == "INVALID_ARGUMENT" && aboutToken(msg, violations):
		return &channels.Error{Kind: channels.Permanent, Code: fcmCode, Err: cause}
	case fcmCode == "THIRD_PARTY_AUTH_ERROR",
		resp.StatusCode == http.StatusUnauthorized, resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w (check the service account, its roles and Options.Project): %s", ErrCredentials, desc)
	case fcmCode == "QUOTA_EXCEEDED", fcmCode == "UNAVAILABLE", fcmCode == "INTERNAL",
		resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		if code == "" {
			code = strconv.Itoa(resp.StatusCode)
		}
		return &channels.Error{
			Kind:       channels.Transient,
			Code:       code,
			RetryAfter: channels.ParseRetryAfter(resp.Header.Get("Retry-After"), t.now()),
			Err:        cause,
		}
	}
	if fcmCode == "INVALID_ARGUMENT" || status == "INVALID_ARGUMENT" {
		// A field of the message other than the token: this message
		// cannot be sent, the recipient is not at fault.
		return &channels.Error{Kind: channels.Invalid, Code: "INVALID_ARGUMENT", Err: cause}
	}
	// Any other refusal (a wrong project, a non-JSON 4xx): the request
	// is wrong, not the recipient.
	return fmt.Errorf("push: FCM refused the request: %w", cause)
}

// aboutToken reports whether an INVALID_ARGUMENT error is about the
// registration token rather than another field of the message. FCM marks an
// invalid token with FcmError INVALID_ARGUMENT and a message naming the
// registration token; other invalid fields come with a google.rpc.BadRequest
// naming the field.
func aboutToken(msg string, violations []string) bool {
	for _, f := range violations {
		if f == "message.token" {
			return true
		}
	}
	return len(violations) == 0 && strings.Contains(strings.ToLower(msg), "registration token")
}
