package sms

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kairos/channels"
	"kairos/channels/sms/smstest"
)

const (
	accountSID = "AC00000000000000000000000000000001"
	authToken  = "s3cr3t-auth-token"
	sender     = "+15017122661"
	service    = "MG00000000000000000000000000000002"
	callback   = "https://kairos.example/hooks/twilio/status"
)

func newServer(t *testing.T) *smstest.Server {
	t.Helper()
	srv := smstest.NewServer(accountSID, authToken)
	t.Cleanup(srv.Close)
	return srv
}

func newTransport(t *testing.T, srv *smstest.Server) *Transport {
	t.Helper()
	tr, err := New(Options{BaseURL: srv.URL, AccountSID: accountSID, AuthToken: authToken, From: sender, StatusCallback: callback})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func msg(to string) *channels.Message {
	return &channels.Message{ID: "dec-" + to, Campaign: "cart_recovery", Channel: "sms", To: to, Text: "Your cart is waiting: https://k.example/c/1"}
}

func TestNew(t *testing.T) {
	ok := Options{AccountSID: accountSID, AuthToken: authToken, From: sender}
	with := func(f func(*Options)) Options { o := ok; f(&o); return o }
	for _, tc := range []struct {
		name string
		opts Options
		want string // substring of the error; "" for success
	}{
		{"defaults", ok, ""},
		{"messaging service", with(func(o *Options) { o.From, o.MessagingServiceSID = "", service }), ""},
		{"no account", with(func(o *Options) { o.AccountSID = "" }), "Options.AccountSID: required"},
		{"account not AC", with(func(o *Options) { o.AccountSID = "SK123" }), "Options.AccountSID"},
		{"account with slash", with(func(o *Options) { o.AccountSID = "AC1/../x" }), "Options.AccountSID"},
		{"no token", with(func(o *Options) { o.AuthToken = "" }), "Options.AuthToken: required"},
		{"no sender", with(func(o *Options) { o.From = "" }), "one is required"},
		{"both senders", with(func(o *Options) { o.MessagingServiceSID = service }), "set only one"},
		{"From not E.164", with(func(o *Options) { o.From = "5017122661" }), "Options.From"},
		{"service not MG", with(func(o *Options) { o.From, o.MessagingServiceSID = "", "AC1" }), "Options.MessagingServiceSID"},
		{"relative callback", with(func(o *Options) { o.StatusCallback = "/hooks" }), "Options.StatusCallback"},
		{"bad base URL", with(func(o *Options) { o.BaseURL = "api.twilio.com" }), "Options.BaseURL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := New(tc.opts)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if want := DefaultBaseURL + "/2010-04-01/Accounts/" + accountSID + "/Messages.json"; tr.endpoint != want {
					t.Errorf("endpoint %q, want %q", tr.endpoint, want)
				}
				if tr.client.Timeout != 10*time.Second {
					t.Errorf("default client timeout %v", tr.client.Timeout)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), authToken) {
				t.Errorf("error shows the auth token: %v", err)
			}
		})
	}
}

func TestSend(t *testing.T) {
	srv := newServer(t)
	tr := newTransport(t, srv)
	r, err := tr.Send(context.Background(), msg("+14155550100"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.ProviderID, "SM") || len(r.ProviderID) != 34 {
		t.Errorf("receipt %q", r.ProviderID)
	}

	svc, err := New(Options{BaseURL: srv.URL, AccountSID: accountSID, AuthToken: authToken, MessagingServiceSID: service})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := svc.Send(context.Background(), &channels.Message{ID: "dec-2", To: "+447700900123", Text: "Hello"})
	if err != nil {
		t.Fatal(err)
	}

	want := []smstest.Request{
		{To: "+14155550100", From: sender, Body: "Your cart is waiting: https://k.example/c/1", StatusCallback: callback, IdempotencyToken: "dec-+14155550100", Status: 201, SID: r.ProviderID},
		{To: "+447700900123", MessagingServiceSID: service, Body: "Hello", IdempotencyToken: "dec-2", Status: 201, SID: r2.ProviderID},
	}
	if diff := cmp.Diff(want, srv.Requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestSendRequest(t *testing.T) {
	// The raw request, independent of the fake's parsing.
	var got *http.Request
	var body string
	raw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"sid": "SM1", "status": "queued"}`))
	}))
	defer raw.Close()
	tr, err := New(Options{BaseURL: raw.URL + "/", AccountSID: accountSID, AuthToken: authToken, From: sender, StatusCallback: callback})
	if err != nil {
		t.Fatal(err)
	}
	r, err := tr.Send(context.Background(), &channels.Message{ID: "d1", To: "+14155550100", Text: "Hi & bye"})
	if err != nil || r.ProviderID != "SM1" {
		t.Fatalf("Send: %+v, %v", r, err)
	}
	if got.Method != http.MethodPost || got.URL.Path != "/2010-04-01/Accounts/"+accountSID+"/Messages.json" {
		t.Errorf("request %s %s", got.Method, got.URL.Path)
	}
	if u, p, ok := got.BasicAuth(); !ok || u != accountSID || p != authToken {
		t.Errorf("basic auth %q %q %v", u, p, ok)
	}
	if h := got.Header.Get("I-Twilio-Idempotency-Token"); h != "d1" {
		t.Errorf("idempotency header %q", h)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type %q", ct)
	}
	form, err := url.ParseQuery(body)
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"To": {"+14155550100"}, "From": {sender}, "Body": {"Hi & bye"}, "StatusCallback": {callback}}
	if diff := cmp.Diff(want, form); diff != "" {
		t.Errorf("form (-want +got):\n%s", diff)
	}
}

func TestSendErrors(t *testing.T) {
	date := "Wed, 21 Oct 2026 07:28:00 GMT"
	now, _ := http.ParseTime("Wed, 21 Oct 2026 07:27:45 GMT")
	const to = "+14155550100"

	type want struct {
		kind       channels.Kind // 0: not a *channels.Error
		code       string
		retryAfter time.Duration
		creds      bool // errors.Is(err, ErrCredentials)
	}
	for _, tc := range []struct {
		name string
		resp smstest.Response
		want want
	}{
		{"invalid number", smstest.InvalidNumber(to), want{kind: channels.Permanent, code: "21211"}},
		{"unsubscribed", smstest.Unsubscribed(), want{kind: channels.Permanent, code: "21610"}},
		{"not mobile", smstest.NotMobile(to), want{kind: channels.Permanent, code: "21614"}},
		{"region not enabled", smstest.RegionNotEnabled(to), want{kind: channels.Permanent, code: "21408"}},
		{"429 seconds", smstest.TooManyRequests("4"), want{kind: channels.Transient, code: "20429", retryAfter: 4 * time.Second}},
		{"429 HTTP date", smstest.TooManyRequests(date), want{kind: channels.Transient, code: "20429", retryAfter: 15 * time.Second}},
		{"429 no Retry-After", smstest.TooManyRequests(""), want{kind: channels.Transient, code: "20429"}},
		{"500", smstest.ServerError(500, ""), want{kind: channels.Transient, code: "20500"}},
		{"503 Retry-After", smstest.ServerError(503, "60"), want{kind: channels.Transient, code: "20503", retryAfter: time.Minute}},
		{"not JSON 502", smstest.Malformed(502), want{kind: channels.Transient, code: "502"}},
		// A 2xx (Twilio answers 201) is acceptance, even without the sid.
		{"not JSON 201", smstest.Malformed(201), want{kind: channels.Ambiguous}},
		{"not JSON 429", smstest.Response{Status: 429, Body: "slow down", RetryAfter: "2"}, want{kind: channels.Transient, code: "429", retryAfter: 2 * time.Second}},
		{"401", smstest.Response{Status: 401, Code: 20003, Message: "Authenticate"}, want{creds: true}},
		{"not JSON 401", smstest.Malformed(401), want{creds: true}},
		{"not JSON 400 is never permanent", smstest.Malformed(400), want{}},
		{"bad From", smstest.Response{Status: 400, Code: 21606, Message: "The 'From' phone number provided is not a valid message-capable Twilio phone number."}, want{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			tr := newTransport(t, srv)
			tr.now = func() time.Time { return now }
			srv.Respond(to, tc.resp)

			r, err := tr.Send(context.Background(), msg(to))
			if err == nil {
				t.Fatalf("Send: receipt %+v, no error", r)
			}
			if strings.Contains(err.Error(), authToken) {
				t.Errorf("error shows the auth token: %v", err)
			}
			if got := errors.Is(err, ErrCredentials); got != tc.want.creds {
				t.Errorf("errors.Is(%v, ErrCredentials) = %v", err, got)
			}
			var ce *channels.Error
			if !errors.As(err, &ce) {
				if tc.want.kind != 0 {
					t.Fatalf("error %v (%T), want a %v *channels.Error", err, err, tc.want.kind)
				}
				return
			}
			got := want{kind: ce.Kind, code: ce.Code, retryAfter: ce.RetryAfter}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("%v: (-want +got):\n%s", err, diff)
			}
		})
	}
}

func TestSendFakeValidates(t *testing.T) {
	// The fake answers Twilio's own validation errors.
	srv := newServer(t)
	tr := newTransport(t, srv)
	_, err := tr.Send(context.Background(), msg("555-0100"))
	if channels.ErrorKind(err) != channels.Permanent || !strings.Contains(err.Error(), "21211") {
		t.Errorf("non-E.164 To: %v", err)
	}
}

func TestSendWrongCredentials(t *testing.T) {
	srv := newServer(t)
	for _, opts := range []Options{
		{BaseURL: srv.URL, AccountSID: accountSID, AuthToken: "wrong-token-value", From: sender},
		{BaseURL: srv.URL, AccountSID: "AC99", AuthToken: authToken, From: sender}, // 404 on another account's path
	} {
		tr, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tr.Send(context.Background(), msg("+14155550100"))
		if err == nil || channels.ErrorKind(err) == channels.Permanent {
			t.Errorf("%s: %v", opts.AccountSID, err)
		}
		if strings.Contains(err.Error(), opts.AuthToken) {
			t.Errorf("error shows the auth token: %v", err)
		}
		if opts.AuthToken != authToken && !errors.Is(err, ErrCredentials) {
			t.Errorf("wrong token: %v, want ErrCredentials", err)
		}
	}
	if n := len(srv.Sent()); n != 0 {
		t.Errorf("server sent %d messages", n)
	}
}

func TestSendIdempotency(t *testing.T) {
	srv := newServer(t)
	tr := newTransport(t, srv)
	m := msg("+14155550100")
	// The first attempt hits a 503 (not processed), the second creates the
	// message, the third (a retry after a lost answer) is a replay.
	srv.Respond(m.To, smstest.ServerError(503, "1"), smstest.Response{})
	if _, err := tr.Send(context.Background(), m); channels.ErrorKind(err) != channels.Transient || channels.RetryAfter(err) != time.Second {
		t.Fatalf("first attempt: %v", err)
	}
	r1, err := tr.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := tr.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if r1 != r2 {
		t.Errorf("retry got a new SID: %q, %q", r1.ProviderID, r2.ProviderID)
	}
	reqs := srv.Requests()
	got := []bool{}
	for _, r := range reqs {
		got = append(got, r.Replayed)
		if r.IdempotencyToken != m.ID {
			t.Errorf("token %q, want %q", r.IdempotencyToken, m.ID)
		}
	}
	if diff := cmp.Diff([]bool{false, false, true}, got); diff != "" {
		t.Errorf("replayed (-want +got):\n%s", diff)
	}
	if n := len(srv.Sent()); n != 1 {
		t.Errorf("%d messages sent, want 1", n)
	}

	// Without deduplication, the same retry sends twice.
	srv.SetIdempotency(false)
	if _, err := tr.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Sent()); n != 2 {
		t.Errorf("%d messages sent without dedup, want 2", n)
	}
}

func TestSendInvalidMessage(t *testing.T) {
	srv := newServer(t)
	tr := newTransport(t, srv)
	for _, m := range []*channels.Message{
		{ID: "d", Text: "x"},
		{To: "+14155550100", Text: "x"},
		{ID: "d", To: "+14155550100"},
	} {
		if _, err := tr.Send(context.Background(), m); err == nil || channels.ErrorKind(err) == channels.Permanent {
			t.Errorf("Send(%+v): %v", m, err)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}

func TestSendDeadline(t *testing.T) {
	srv := newServer(t)
	tr := newTransport(t, srv)
	srv.Respond("+14155550100", smstest.Hang())

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := tr.Send(ctx, msg("+14155550100"))
	// The request was written: Twilio may have accepted it.
	if !errors.Is(err, context.DeadlineExceeded) || channels.ErrorKind(err) != channels.Ambiguous {
		t.Errorf("Send on a hung server: %v, want an ambiguous DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send returned after %v", d)
	}
	if strings.Contains(err.Error(), authToken) {
		t.Errorf("error shows the auth token: %v", err)
	}
}

func TestSendServerClosed(t *testing.T) {
	srv := smstest.NewServer(accountSID, authToken)
	tr := newTransport(t, srv)
	srv.Close()
	_, err := tr.Send(context.Background(), msg("+14155550100"))
	var ce *channels.Error
	if !errors.As(err, &ce) || ce.Kind != channels.Transient {
		t.Errorf("closed server: %v, want a transient *channels.Error", err)
	}
	if strings.Contains(err.Error(), authToken) {
		t.Errorf("error shows the auth token: %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 10, 21, 7, 28, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"5", 5 * time.Second},
		{"1.5", 0},
		{"later", 0},
		{"Wed, 21 Oct 2026 07:29:30 GMT", 90 * time.Second},
		{"Wednesday, 21-Oct-26 07:28:10 GMT", 10 * time.Second},
		{"Wed, 21 Oct 2026 07:27:00 GMT", 0},
	} {
		if got := channels.ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("channels.ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestConcurrentSend runs under -race; concurrent retries of one message
// create it once.
func TestConcurrentSend(t *testing.T) {
	srv := newServer(t)
	tr := newTransport(t, srv)
	srv.Respond("+14155550199", smstest.Unsubscribed())
	var wg sync.WaitGroup
	var mu sync.Mutex
	sids := map[string]bool{}
	for i := range 40 {
		wg.Go(func() {
			m := msg("+14155550100") // same decision id: one message
			if i%4 == 0 {
				m = msg("+14155550199")
			}
			r, err := tr.Send(context.Background(), m)
			if m.To == "+14155550199" {
				if channels.ErrorKind(err) != channels.Permanent {
					t.Errorf("unsubscribed: %v", err)
				}
				return
			}
			if err != nil {
				t.Errorf("Send: %v", err)
				return
			}
			mu.Lock()
			sids[r.ProviderID] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(sids) != 1 || len(srv.Sent()) != 1 {
		t.Errorf("sids %v, %d sent; want one message", sids, len(srv.Sent()))
	}
	if n := len(srv.Requests()); n != 40 {
		t.Errorf("%d requests, want 40", n)
	}
}
