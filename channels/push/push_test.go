package push

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kairos/channels"
	"kairos/channels/push/pushtest"
)

const (
	project = "kairos-test"
	bearer  = "ya29.test-token"
)

func newTransport(t *testing.T, srv *pushtest.Server) *Transport {
	t.Helper()
	tr, err := New(Options{BaseURL: srv.URL, Project: project, TokenSource: StaticToken(bearer)})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func newServer(t *testing.T) *pushtest.Server {
	t.Helper()
	srv := pushtest.NewServer(project, bearer)
	t.Cleanup(srv.Close)
	return srv
}

func msg(to string) *channels.Message {
	return &channels.Message{
		ID:       "dec-" + to,
		Campaign: "cart_recovery",
		Channel:  "push",
		To:       to,
		Title:    "Still thinking?",
		Text:     "Your cart is waiting.",
		Data:     map[string]string{"offer": "reminder", "deeplink": "app://cart"},
	}
}

func TestNew(t *testing.T) {
	tok := StaticToken("x")
	for _, tc := range []struct {
		name string
		opts Options
		want string // substring of the error; "" for success
	}{
		{"defaults", Options{Project: "p", TokenSource: tok}, ""},
		{"no project", Options{TokenSource: tok}, "Options.Project: required"},
		{"project with slash", Options{Project: "p/../q", TokenSource: tok}, "Options.Project"},
		{"no token source", Options{Project: "p"}, "Options.TokenSource: required"},
		{"relative base URL", Options{BaseURL: "fcm.googleapis.com", Project: "p", TokenSource: tok}, "Options.BaseURL"},
		{"ftp base URL", Options{BaseURL: "ftp://fcm.googleapis.com", Project: "p", TokenSource: tok}, "Options.BaseURL"},
		{"base URL with user", Options{BaseURL: "https://u:pw@fcm.googleapis.com", Project: "p", TokenSource: tok}, "Options.BaseURL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := New(tc.opts)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if want := DefaultBaseURL + "/v1/projects/p/messages:send"; tr.endpoint != want {
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
		})
	}
}

func TestSend(t *testing.T) {
	srv := newServer(t)
	tr := newTransport(t, srv)

	r, err := tr.Send(context.Background(), msg("tok-a"))
	if err != nil {
		t.Fatal(err)
	}
	// A data-only message: no title, no text, no campaign; the caller's
	// decision_id is overwritten by the message id.
	r2, err := tr.Send(context.Background(), &channels.Message{ID: "dec-2", To: "tok-b", Data: map[string]string{"decision_id": "forged"}})
	if err != nil {
		t.Fatal(err)
	}

	got := srv.Received()
	want := []pushtest.Received{
		{
			Token: "tok-a", Title: "Still thinking?", Body: "Your cart is waiting.",
			Data:   map[string]string{"offer": "reminder", "deeplink": "app://cart", "decision_id": "dec-tok-a", "campaign": "cart_recovery"},
			Status: http.StatusOK, Name: r.ProviderID,
		},
		{Token: "tok-b", Data: map[string]string{"decision_id": "dec-2"}, Status: http.StatusOK, Name: r2.ProviderID},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("received (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(r.ProviderID, "projects/"+project+"/messages/") || r.ProviderID == r2.ProviderID {
		t.Errorf("receipts %q, %q", r.ProviderID, r2.ProviderID)
	}
}

func TestSendRequest(t *testing.T) {
	// The raw request, independent of the fake's parsing.
	var got *http.Request
	var body string
	srv := newRawServer(t, func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.Write([]byte(`{"name": "projects/p/messages/1"}`))
	})
	tr, err := New(Options{BaseURL: srv + "/", Project: "p", TokenSource: StaticToken("T")})
	if err != nil {
		t.Fatal(err)
	}
	m := &channels.Message{ID: "d1", To: "tok", Title: "t", Text: "b"}
	if _, err := tr.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if got.Method != http.MethodPost || got.URL.Path != "/v1/projects/p/messages:send" {
		t.Errorf("request %s %s", got.Method, got.URL.Path)
	}
	if a := got.Header.Get("Authorization"); a != "Bearer T" {
		t.Errorf("Authorization %q", a)
	}
	if ct := got.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	want := `{"message":{"token":"tok","notification":{"title":"t","body":"b"},"data":{"decision_id":"d1"}}}`
	if body != want {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}
}

func TestSendErrors(t *testing.T) {
	date := "Wed, 21 Oct 2026 07:28:00 GMT"
	now, _ := http.ParseTime("Wed, 21 Oct 2026 07:27:30 GMT")

	type want struct {
		kind       channels.Kind // 0: not a *channels.Error
		code       string
		retryAfter time.Duration
		creds      bool // errors.Is(err, ErrCredentials)
	}
	for _, tc := range []struct {
		name string
		resp pushtest.Response
		want want
	}{
		{"unregistered", pushtest.Unregistered(), want{kind: channels.Permanent, code: "UNREGISTERED"}},
		{"invalid token", pushtest.InvalidToken(), want{kind: channels.Permanent, code: "INVALID_ARGUMENT"}},
		{"invalid token field", pushtest.Response{Status: 400, ErrorCode: "INVALID_ARGUMENT", FieldViolation: "message.token", Message: "bad"}, want{kind: channels.Permanent, code: "INVALID_ARGUMENT"}},
		{"invalid data field", pushtest.InvalidField("message.data[0].value"), want{kind: channels.Invalid, code: "INVALID_ARGUMENT"}},
		{"message too big", pushtest.Response{Status: 400, ErrorCode: "INVALID_ARGUMENT", Message: "Message is too big"}, want{kind: channels.Invalid, code: "INVALID_ARGUMENT"}},
		{"sender id mismatch", pushtest.SenderIDMismatch(), want{kind: channels.Permanent, code: "SENDER_ID_MISMATCH"}},
		{"quota, seconds", pushtest.QuotaExceeded("7"), want{kind: channels.Transient, code: "QUOTA_EXCEEDED", retryAfter: 7 * time.Second}},
		{"quota, HTTP date", pushtest.QuotaExceeded(date), want{kind: channels.Transient, code: "QUOTA_EXCEEDED", retryAfter: 30 * time.Second}},
		{"quota, no Retry-After", pushtest.QuotaExceeded(""), want{kind: channels.Transient, code: "QUOTA_EXCEEDED"}},
		{"unavailable", pushtest.Unavailable("120"), want{kind: channels.Transient, code: "UNAVAILABLE", retryAfter: 2 * time.Minute}},
		{"internal", pushtest.Internal(), want{kind: channels.Transient, code: "INTERNAL"}},
		{"third-party auth", pushtest.ThirdPartyAuthError(), want{creds: true}},
		{"403 permission denied", pushtest.Response{Status: 403, Message: "Permission 'cloudmessaging.messages.create' denied"}, want{creds: true}},
		{"not JSON 502", pushtest.Malformed(502), want{kind: channels.Transient, code: "502"}},
		// A 2xx is FCM's acceptance, even without the message name.
		{"not JSON 200", pushtest.Malformed(200), want{kind: channels.Ambiguous}},
		{"not JSON 503 with Retry-After", pushtest.Response{Status: 503, Body: "busy", RetryAfter: "3"}, want{kind: channels.Transient, code: "503", retryAfter: 3 * time.Second}},
		{"not JSON 429", pushtest.Response{Status: 429, Body: "slow down"}, want{kind: channels.Transient, code: "429"}},
		{"not JSON 401", pushtest.Malformed(401), want{creds: true}},
		{"not JSON 404 is never permanent", pushtest.Malformed(404), want{}},
		{"404 without errorCode", pushtest.Response{Status: 404, Message: "project not found"}, want{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			tr := newTransport(t, srv)
			tr.now = func() time.Time { return now }
			srv.Respond("tok", tc.resp)

			r, err := tr.Send(context.Background(), msg("tok"))
			if err == nil {
				t.Fatalf("Send: receipt %+v, no error", r)
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

func TestSendNoNameIsAnError(t *testing.T) {
	srv := newRawServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>ok</html>")) })
	tr, err := New(Options{BaseURL: srv, Project: "p", TokenSource: StaticToken("T")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Send(context.Background(), msg("tok")); err == nil || channels.ErrorKind(err) == channels.Permanent {
		t.Errorf("200 without a name: %v, want a non-permanent error", err)
	}
}

func TestSendWrongCredentials(t *testing.T) {
	srv := newServer(t)
	tr, err := New(Options{BaseURL: srv.URL, Project: project, TokenSource: StaticToken("expired")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.Send(context.Background(), msg("tok"))
	if !errors.Is(err, ErrCredentials) || channels.ErrorKind(err) == channels.Permanent {
		t.Errorf("wrong bearer token: %v", err)
	}
	if strings.Contains(err.Error(), "expired") {
		t.Errorf("the error shows the token: %v", err)
	}
	if n := len(srv.Received()); n != 0 {
		t.Errorf("server recorded %d messages", n)
	}
}

func TestSendWrongProject(t *testing.T) {
	srv := newServer(t)
	tr, err := New(Options{BaseURL: srv.URL, Project: "other", TokenSource: StaticToken(bearer)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.Send(context.Background(), msg("tok"))
	var ce *channels.Error
	if err == nil || errors.As(err, &ce) {
		t.Errorf("wrong project: %v, want a plain error", err)
	}
}

func TestSendTokenSource(t *testing.T) {
	srv := newServer(t)
	boom := errors.New("metadata server down")
	for _, ts := range []func(context.Context) (string, error){
		func(context.Context) (string, error) { return "", boom },
		StaticToken(""),
	} {
		tr, err := New(Options{BaseURL: srv.URL, Project: project, TokenSource: ts})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Send(context.Background(), msg("tok")); err == nil || channels.ErrorKind(err) != channels.Transient {
			t.Errorf("token source failure: %v", err)
		}
	}
	if n := len(srv.Received()); n != 0 {
		t.Errorf("server recorded %d messages", n)
	}
}

func TestSendInvalidMessage(t *testing.T) {
	tr := newTransport(t, newServer(t))
	for _, m := range []*channels.Message{{ID: "d"}, {To: "tok"}} {
		if _, err := tr.Send(context.Background(), m); err == nil || channels.ErrorKind(err) == channels.Permanent {
			t.Errorf("Send(%+v): %v", m, err)
		}
	}
}

func TestSendScript(t *testing.T) {
	srv := newServer(t)
	tr := newTransport(t, srv)
	srv.Respond("tok", pushtest.Unavailable("1"), pushtest.Response{})
	if _, err := tr.Send(context.Background(), msg("tok")); channels.ErrorKind(err) != channels.Transient || channels.RetryAfter(err) != time.Second {
		t.Fatalf("first attempt: %v", err)
	}
	if _, err := tr.Send(context.Background(), msg("tok")); err != nil {
		t.Fatalf("retry: %v", err)
	}
	got := srv.Received()
	if len(got) != 2 || got[0].Status != 503 || got[1].Status != 200 || got[1].Data["decision_id"] != "dec-tok" {
		t.Errorf("received %+v", got)
	}
}

func TestSendDeadline(t *testing.T) {
	srv := newServer(t)
	tr := newTransport(t, srv)
	srv.Respond("tok", pushtest.Hang())

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := tr.Send(ctx, msg("tok"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send on a hung server: %v, want DeadlineExceeded", err)
	}
	// The request was written: FCM may have accepted it.
	if channels.ErrorKind(err) != channels.Ambiguous {
		t.Errorf("kind %v, want ambiguous", channels.ErrorKind(err))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send returned after %v", d)
	}
}

func TestSendServerClosed(t *testing.T) {
	srv := pushtest.NewServer(project, bearer)
	tr := newTransport(t, srv)
	srv.Close()
	_, err := tr.Send(context.Background(), msg("tok"))
	var ce *channels.Error
	if !errors.As(err, &ce) || ce.Kind != channels.Transient {
		t.Errorf("closed server: %v, want a transient *channels.Error", err)
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
		{" 30 ", 30 * time.Second},
		{"99999999999999999999", 0}, // overflows int64: malformed
		{"9999999999999", 365 * 24 * time.Hour},
		{"1.5", 0},
		{"soon", 0},
		{"Wed, 21 Oct 2026 07:29:30 GMT", 90 * time.Second},     // IMF-fixdate
		{"Wednesday, 21-Oct-26 07:28:10 GMT", 10 * time.Second}, // RFC 850
		{"Wed Oct 21 07:28:05 2026", 5 * time.Second},           // asctime
		{"Wed, 21 Oct 2026 07:27:00 GMT", 0},                    // past
	} {
		if got := channels.ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("channels.ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestConcurrentSend runs under -race: the transport and the fake are
// shared by many goroutines.
func TestConcurrentSend(t *testing.T) {
	srv := newServer(t)
	tr := newTransport(t, srv)
	srv.Respond("dead", pushtest.Unregistered())
	errs := make(chan error, 40)
	for i := range 40 {
		go func() {
			to := "tok"
			if i%4 == 0 {
				to = "dead"
			}
			_, err := tr.Send(context.Background(), msg(to))
			errs <- err
		}()
	}
	perm := 0
	for range 40 {
		if err := <-errs; err != nil {
			if channels.ErrorKind(err) != channels.Permanent {
				t.Errorf("unexpected error %v", err)
			}
			perm++
		}
	}
	if perm != 10 || len(srv.Received()) != 40 {
		t.Errorf("%d permanent errors, %d received", perm, len(srv.Received()))
	}
}

// newRawServer serves h and returns its URL.
func newRawServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
