// Package pushtest is a local fake of the Firebase Cloud Messaging HTTP v1
// API for tests and benchmarks: an httptest.Server that serves
// POST /v1/projects/{project}/messages:send, checks the bearer token and the
// JSON shape the way FCM does, records what it accepted, and answers each
// registration token with programmed responses, including FCM's documented
// error bodies (UNREGISTERED, INVALID_ARGUMENT, QUOTA_EXCEEDED with
// Retry-After, 5xx, a malformed body, no answer at all).
//
// It imports only the standard library; it does not import package push, so
// a test of any package can use it.
package pushtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Response is a programmed answer to one messages:send request.
// The zero Response is a success: 200 with a fresh message name.
type Response struct {
	// Status is the HTTP status; 200 when zero.
	Status int
	// ErrorCode is the FcmError errorCode put in the error's details
	// ("UNREGISTERED"); none when empty.
	ErrorCode string
	// ErrorStatus is the error's google.rpc status ("NOT_FOUND"); derived
	// from Status when empty.
	ErrorStatus string
	// Message is the error's message.
	Message string
	// FieldViolation, when set, adds a google.rpc.BadRequest detail naming
	// that field ("message.data[0].value").
	FieldViolation string
	// RetryAfter is sent as the Retry-After header when set.
	RetryAfter string
	// Body, when set, is sent verbatim instead of a JSON body (a proxy's
	// HTML page, a truncated answer).
	Body string
	// Hang makes the server never answer: it holds the request until the
	// client gives up or the server is closed.
	Hang bool
}

// Unregistered is FCM's answer for a token that is no longer valid (the app
// was uninstalled): 404 NOT_FOUND, errorCode UNREGISTERED.
func Unregistered() Response {
	return Response{Status: http.StatusNotFound, ErrorCode: "UNREGISTERED", Message: "Requested entity was not found."}
}

// InvalidToken is FCM's answer for a malformed registration token: 400
// INVALID_ARGUMENT, errorCode INVALID_ARGUMENT.
func InvalidToken() Response {
	return Response{Status: http.StatusBadRequest, ErrorCode: "INVALID_ARGUMENT", Message: "The registration token is not a valid FCM registration token"}
}

// InvalidField is FCM's answer for an invalid field other than the token:
// 400 INVALID_ARGUMENT with a google.rpc.BadRequest naming field.
func InvalidField(field string) Response {
	return Response{Status: http.StatusBadRequest, FieldViolation: field, Message: "Invalid value at '" + field + "'"}
}

// SenderIDMismatch is FCM's answer for a token that belongs to another
// sender: 403 PERMISSION_DENIED, errorCode SENDER_ID_MISMATCH.
func SenderIDMismatch() Response {
	return Response{Status: http.StatusForbidden, ErrorCode: "SENDER_ID_MISMATCH", Message: "SenderId mismatch"}
}

// ThirdPartyAuthError is FCM's answer when the APNs certificate or web push
// key is invalid: 401 UNAUTHENTICATED, errorCode THIRD_PARTY_AUTH_ERROR.
func ThirdPartyAuthError() Response {
	return Response{Status: http.StatusUnauthorized, ErrorCode: "THIRD_PARTY_AUTH_ERROR", Message: "Auth error from APNS or Web Push Service"}
}

// QuotaExceeded is FCM's answer when a sending limit is hit: 429
// RESOURCE_EXHAUSTED, errorCode QUOTA_EXCEEDED, with a Retry-After header
// when retryAfter is not empty.
func QuotaExceeded(retryAfter string) Response {
	return Response{Status: http.StatusTooManyRequests, ErrorCode: "QUOTA_EXCEEDED", Message: "Quota exceeded.", RetryAfter: retryAfter}
}

// Unavailable is FCM's answer when it is overloaded: 503 UNAVAILABLE,
// errorCode UNAVAILABLE, with a Retry-After header when retryAfter is set.
func Unavailable(retryAfter string) Response {
	return Response{Status: http.StatusServiceUnavailable, ErrorCode: "UNAVAILABLE", Message: "The service is currently unavailable.", RetryAfter: retryAfter}
}

// Internal is FCM's answer to an unknown internal error: 500 INTERNAL,
// errorCode INTERNAL.
func Internal() Response {
	return Response{Status: http.StatusInternalServerError, ErrorCode: "INTERNAL", Message: "Internal error encountered."}
}

// Malformed is an answer with the given status and a body that is not JSON.
func Malformed(status int) Response {
	return Response{Status: status, Body: "<html><body>Bad Gateway</body></html>"}
}

// Hang is a request the server never answers.
func Hang() Response { return Response{Hang: true} }

// Received is one well-formed messages:send request, as the server saw it.
type Received struct {
	Token string
	// Title and Body are the notification's; empty when it had none.
	Title string
	Body  string
	Data  map[string]string
	// Status is the HTTP status the server answered with, and Name the
	// message name it returned (empty on an error).
	Status int
	Name   string
}

// Server is a fake FCM server. It is safe for concurrent use.
type Server struct {
	// URL is the base URL to put in push.Options.BaseURL.
	URL string
	// Project and Token are the project id and the bearer token the server
	// accepts.
	Project string
	Token   string

	srv     *httptest.Server
	closing chan struct{}
	once    sync.Once

	mu       sync.Mutex
	scripts  map[string][]Response
	received []Received
	seq      int
}

// NewServer starts a fake FCM server for project that accepts the bearer
// token. Close it when done.
func NewServer(project, token string) *Server {
	s := &Server{
		Project: project,
		Token:   token,
		closing: make(chan struct{}),
		scripts: make(map[string][]Response),
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close releases hanging requests and shuts the server down.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closing) })
	s.srv.Close()
}

// Respond programs the answers to requests for the registration token:
// each request takes the next response, and the last one repeats. With no
// responses the token is answered with success again.
func (s *Server) Respond(token string, rs ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(rs) == 0 {
		delete(s.scripts, token)
		return
	}
	s.scripts[token] = append([]Response(nil), rs...)
}

// Received returns a copy of the well-formed requests received so far, in
// arrival order.
func (s *Server) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// Reset forgets the received requests (programmed responses stay).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = nil
}

// Wire format of messages:send. Unknown fields are refused, like FCM does.
type (
	sendRequest struct {
		Message *message `json:"message"`
	}
	message struct {
		Token        string            `json:"token"`
		Notification *notification     `json:"notification"`
		Data         map[string]string `json:"data"`
	}
	notification struct {
		Title string `json:"title"`
		Body  string `json:"body"`
	}
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	want := "/v1/projects/" + s.Project + "/messages:send"
	if r.URL.Path != want {
		writeError(w, Response{Status: http.StatusNotFound, Message: fmt.Sprintf("path %q: want %q", r.URL.Path, want)})
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, Response{Status: http.StatusMethodNotAllowed, ErrorStatus: "INVALID_ARGUMENT", Message: "method " + r.Method + ": want POST"})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		writeError(w, Response{Status: http.StatusUnauthorized, Message: "Request had invalid authentication credentials. Expected OAuth 2 access token."})
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeError(w, Response{Status: http.StatusBadRequest, Message: fmt.Sprintf("Content-Type %q: want application/json", ct)})
		return
	}
	var req sendRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, Response{Status: http.StatusBadRequest, FieldViolation: "message", Message: "Invalid JSON payload received. " + err.Error()})
		return
	}
	if req.Message == nil || req.Message.Token == "" {
		writeError(w, Response{Status: http.StatusBadRequest, FieldViolation: "message.token", Message: "Recipient of the message is not set."})
		return
	}
	if size := payloadSize(req.Message); size > 4096 {
		writeError(w, Response{Status: http.StatusBadRequest, ErrorCode: "INVALID_ARGUMENT", Message: fmt.Sprintf("Message is too big (%d bytes, limit 4096)", size)})
		return
	}
	for k := range req.Message.Data {
		if k == "from" || k == "gcm" || k == "message_type" || strings.HasPrefix(k, "google.") {
			writeError(w, Response{Status: http.StatusBadRequest, FieldViolation: "message.data", Message: fmt.Sprintf("Invalid data payload key: %q is reserved", k)})
			return
		}
	}

	m := req.Message
	rec := Received{Token: m.Token, Data: m.Data}
	if m.Notification != nil {
		rec.Title, rec.Body = m.Notification.Title, m.Notification.Body
	}

	s.mu.Lock()
	resp := Response{}
	if script := s.scripts[m.Token]; len(script) > 0 {
		resp = script[0]
		if len(script) > 1 {
			s.scripts[m.Token] = script[1:]
		}
	}
	if resp.Hang {
		s.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		// Drop the connection rather than answer: a hung server never
		// answers.
		panic(http.ErrAbortHandler)
	}
	rec.Status = resp.Status
	if rec.Status == 0 {
		rec.Status = http.StatusOK
		s.seq++
		rec.Name = fmt.Sprintf("projects/%s/messages/0:%d%%fake", s.Project, s.seq)
	}
	s.received = append(s.received, rec)
	s.mu.Unlock()

	if rec.Name != "" {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		json.NewEncoder(w).Encode(map[string]string{"name": rec.Name})
		return
	}
	writeError(w, resp)
}

// payloadSize approximates FCM's size limit: keys and values of the data
// and the notification.
func payloadSize(m *message) int {
	n := 0
	for k, v := range m.Data {
		n += len(k) + len(v)
	}
	if m.Notification != nil {
		n += len(m.Notification.Title) + len(m.Notification.Body)
	}
	return n
}

var rpcStatus = map[int]string{
	http.StatusBadRequest:          "INVALID_ARGUMENT",
	http.StatusUnauthorized:        "UNAUTHENTICATED",
	http.StatusForbidden:           "PERMISSION_DENIED",
	http.StatusNotFound:            "NOT_FOUND",
	http.StatusTooManyRequests:     "RESOURCE_EXHAUSTED",
	http.StatusInternalServerError: "INTERNAL",
	http.StatusServiceUnavailable:  "UNAVAILABLE",
}

// writeError writes r as FCM's error body: {"error": {"code", "message",
// "status", "details"}}.
func writeError(w http.ResponseWriter, r Response) {
	if r.RetryAfter != "" {
		w.Header().Set("Retry-After", r.RetryAfter)
	}
	if r.Body != "" {
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(r.Status)
		fmt.Fprint(w, r.Body)
		return
	}
	status := r.ErrorStatus
	if status == "" {
		status = rpcStatus[r.Status]
	}
	if status == "" {
		status = "UNKNOWN"
	}
	details := []map[string]any{}
	if r.ErrorCode != "" {
		details = append(details, map[string]any{
			"@type":     "type.googleapis.com/google.firebase.fcm.v1.FcmError",
			"errorCode": r.ErrorCode,
		})
	}
	if r.FieldViolation != "" {
		details = append(details, map[string]any{
			"@type": "type.googleapis.com/google.rpc.BadRequest",
			"fieldViolations": []map[string]string{
				{"field": r.FieldViolation, "description": r.Message},
			},
		})
	}
	body := map[string]any{"error": map[string]any{
		"code":    r.Status,
		"message": r.Message,
		"status":  status,
		"details": details,
	}}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(r.Status)
	json.NewEncoder(w).Encode(body)
}
