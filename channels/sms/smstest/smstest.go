// Package smstest is a local fake of the Twilio Messages API for tests and
// benchmarks: an httptest.Server that serves
// POST /2010-04-01/Accounts/{AccountSid}/Messages.json, checks basic auth
// and the form the way Twilio does, records every request (with its
// I-Twilio-Idempotency-Token header), and answers each recipient with
// programmed responses, including Twilio's documented error bodies (21211,
// 21610, 21614, 21408, 429/20429 with Retry-After, 5xx, a malformed body,
// no answer at all).
//
// A repeated idempotency token whose first request created a message is
// answered with that message again (same SID, nothing sent), which is what
// the transport assumes of Twilio; SetIdempotency(false) turns that off so
// a dispatcher test can prove exactly-once without the provider's help.
//
// It imports only the standard library; it does not import package sms, so
// a test of any package can use it.
package smstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"kairos/features"
)

// IdempotencyHeader is the request header the server deduplicates on.
const IdempotencyHeader = "I-Twilio-Idempotency-Token"

// Response is a programmed answer to one Messages.json request.
// The zero Response is a success: 201 with a fresh message SID.
type Response struct {
	// Status is the HTTP status; 201 when zero.
	Status int
	// Code and Message are Twilio's error code and message; the body's
	// more_info link is derived from Code.
	Code    int
	Message string
	// RetryAfter is sent as the Retry-After header when set.
	RetryAfter string
	// Body, when set, is sent verbatim instead of a JSON body.
	Body string
	// Hang makes the server never answer: it holds the request until the
	// client gives up or the server is closed.
	Hang bool
}

// InvalidNumber is Twilio's answer for an invalid 'To' number: 400, 21211.
func InvalidNumber(to string) Response {
	return Response{Status: http.StatusBadRequest, Code: 21211, Message: fmt.Sprintf("The 'To' number %s is not a valid phone number.", to)}
}

// Unsubscribed is Twilio's answer for a recipient who replied STOP: 400,
// 21610.
func Unsubscribed() Response {
	return Response{Status: http.StatusBadRequest, Code: 21610, Message: "Attempt to send to unsubscribed recipient"}
}

// NotMobile is Twilio's answer for a landline 'To' number: 400, 21614.
func NotMobile(to string) Response {
	return Response{Status: http.StatusBadRequest, Code: 21614, Message: fmt.Sprintf("'To' number %s is not a valid mobile number", to)}
}

// RegionNotEnabled is Twilio's answer when the account may not send to the
// number's country: 400, 21408.
func RegionNotEnabled(to string) Response {
	return Response{Status: http.StatusBadRequest, Code: 21408, Message: fmt.Sprintf("Permission to send an SMS has not been enabled for the region indicated by the 'To' number: %s", to)}
}

// TooManyRequests is Twilio's answer to too many concurrent requests: 429,
// 20429, with a Retry-After header when retryAfter is not empty.
func TooManyRequests(retryAfter string) Response {
	return Response{Status: http.StatusTooManyRequests, Code: 20429, Message: "Too Many Requests", RetryAfter: retryAfter}
}

// ServerError is a 5xx answer with Twilio's error body (code 20500 for
// 500, 20503 otherwise), with a Retry-After header when retryAfter is set.
func ServerError(status int, retryAfter string) Response {
	code := 20503
	if status == http.StatusInternalServerError {
		code = 20500
	}
	return Response{Status: status, Code: code, Message: http.StatusText(status), RetryAfter: retryAfter}
}

// Malformed is an answer with the given status and a body that is not JSON.
func Malformed(status int) Response {
	return Response{Status: status, Body: "<html><body>Bad Gateway</body></html>"}
}

// Hang is a request the server never answers.
func Hang() Response { return Response{Hang: true} }

// Request is one authenticated Messages.json request, as the server saw it.
type Request struct {
	To                  string
	From                string
	MessagingServiceSID string
	Body                string
	StatusCallback      string
	// IdempotencyToken is the I-Twilio-Idempotency-Token header.
	IdempotencyToken string
	// Status is the HTTP status the server answered with, and SID the
	// message SID it returned (empty on an error).
	Status int
	SID    string
	// Replayed is true when the server answered with the message an
	// earlier request with the same idempotency token created.
	Replayed bool
}

// Server is a fake Twilio server. It is safe for concurrent use.
type Server struct {
	// URL is the base URL to put in sms.Options.BaseURL.
	URL string
	// AccountSID and AuthToken are the credentials the server accepts.
	AccountSID string
	AuthToken  string

	srv     *httptest.Server
	closing chan struct{}
	once    sync.Once

	mu       sync.Mutex
	dedup    bool
	scripts  map[string][]Response
	created  map[string]created // by idempotency token
	requests []Request
	seq      int
}

type created struct {
	sid  string
	body []byte
}

// NewServer starts a fake Twilio server that accepts the account SID and
// auth token. Close it when done.
func NewServer(accountSID, authToken string) *Server {
	s := &Server{
		AccountSID: accountSID,
		AuthToken:  authToken,
		closing:    make(chan struct{}),
		dedup:      true,
		scripts:    make(map[string][]Response),
		created:    make(map[string]created),
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

// SetIdempotency turns deduplication by idempotency token on (the default)
// or off.
func (s *Server) SetIdempotency(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dedup = on
}

// Respond programs the answers to requests for the recipient to: each
// request takes the next response, and the last one repeats. With no
// responses the recipient is answered with success again.
func (s *Server) Respond(to string, rs ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(rs) == 0 {
		delete(s.scripts, to)
		return
	}
	s.scripts[to] = append([]Response(nil), rs...)
}

// Requests returns a copy of the authenticated requests received so far,
// in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Sent returns the requests that created a message (answered 201 and not a
// replay): what would have reached phones.
func (s *Server) Sent() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if r.SID != "" && !r.Replayed {
			out = append(out, r)
		}
	}
	return out
}

// Reset forgets the received requests and the idempotency tokens
// (programmed responses stay).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
	s.created = make(map[string]created)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	want := "/2010-04-01/Accounts/" + s.AccountSID + "/Messages.json"
	if r.URL.Path != want {
		writeError(w, Response{Status: http.StatusNotFound, Code: 20404, Message: fmt.Sprintf("The requested resource %s was not found", r.URL.Path)})
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, Response{Status: http.StatusMethodNotAllowed, Code: 20004, Message: "Method not allowed"})
		return
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != s.AccountSID || pass != s.AuthToken {
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		writeError(w, Response{Status: http.StatusUnauthorized, Code: 20003, Message: "Authenticate"})
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		writeError(w, Response{Status: http.StatusBadRequest, Code: 20001, Message: fmt.Sprintf("Content-Type %q: want application/x-www-form-urlencoded", ct)})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		writeError(w, Response{Status: http.StatusBadRequest, Code: 20001, Message: "Invalid form: " + err.Error()})
		return
	}
	req := Request{
		To:                  r.PostForm.Get("To"),
		From:                r.PostForm.Get("From"),
		MessagingServiceSID: r.PostForm.Get("MessagingServiceSid"),
		Body:                r.PostForm.Get("Body"),
		StatusCallback:      r.PostForm.Get("StatusCallback"),
		IdempotencyToken:    r.Header.Get(IdempotencyHeader),
	}

	s.mu.Lock()
	if c, ok := s.created[req.IdempotencyToken]; ok && s.dedup && req.IdempotencyToken != "" {
		req.Status, req.SID, req.Replayed = http.StatusCreated, c.sid, true
		s.requests = append(s.requests, req)
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, c.body)
		return
	}
	resp := validate(req)
	if resp.Status == 0 {
		if script := s.scripts[req.To]; len(script) > 0 {
			resp = script[0]
			if len(script) > 1 {
				s.scripts[req.To] = script[1:]
			}
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
	var body []byte
	req.Status = resp.Status
	if req.Status == 0 {
		s.seq++
		req.Status, req.SID = http.StatusCreated, fmt.Sprintf("SM%032x", s.seq)
		body = s.messageBody(req)
		if req.IdempotencyToken != "" {
			s.created[req.IdempotencyToken] = created{sid: req.SID, body: body}
		}
	}
	s.requests = append(s.requests, req)
	s.mu.Unlock()

	if body != nil {
		writeJSON(w, http.StatusCreated, body)
		return
	}
	writeError(w, resp)
}

// validate answers a request missing what Twilio requires; the zero
// Response when the request is fine.
func validate(r Request) Response {
	switch {
	case r.To == "":
		return Response{Status: http.StatusBadRequest, Code: 21604, Message: "A 'To' phone number is required."}
	case r.From == "" && r.MessagingServiceSID == "":
		return Response{Status: http.StatusBadRequest, Code: 21603, Message: "A 'From' phone number is required."}
	case r.Body == "":
		return Response{Status: http.StatusBadRequest, Code: 21602, Message: "Message body is required."}
	case !features.IsE164(r.To):
		return InvalidNumber(r.To)
	}
	return Response{}
}

// messageBody is the Message resource Twilio answers a create with
// (the fields a client reads).
func (s *Server) messageBody(r Request) []byte {
	status := "queued"
	if r.MessagingServiceSID != "" {
		status = "accepted"
	}
	var from, service any
	if r.From != "" {
		from = r.From
	}
	if r.MessagingServiceSID != "" {
		service = r.MessagingServiceSID
	}
	now := time.Now().UTC().Format(time.RFC1123Z)
	b, _ := json.Marshal(map[string]any{
		"sid":                   r.SID,
		"account_sid":           s.AccountSID,
		"to":                    r.To,
		"from":                  from,
		"messaging_service_sid": service,
		"body":                  r.Body,
		"status":                status,
		"num_segments":          "1",
		"direction":             "outbound-api",
		"api_version":           "2010-04-01",
		"date_created":          now,
		"date_updated":          now,
		"error_code":            nil,
		"error_message":         nil,
		"uri":                   "/2010-04-01/Accounts/" + s.AccountSID + "/Messages/" + r.SID + ".json",
	})
	return b
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

// writeError writes r as Twilio's error body: {"code", "message",
// "more_info", "status"}.
func writeError(w http.ResponseWriter, r Response) {
	if r.RetryAfter != "" {
		w.Header().Set("Retry-After", r.RetryAfter)
	}
	if r.Body != "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(r.Status)
		fmt.Fprint(w, r.Body)
		return
	}
	body, _ := json.Marshal(map[string]any{
		"code":      r.Code,
		"message":   r.Message,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", r.Code),
		"status":    r.Status,
	})
	writeJSON(w, r.Status, body)
}
