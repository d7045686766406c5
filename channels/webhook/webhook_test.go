package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kairos/channels"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef") // 32 bytes
	clock  = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
)

func fixedNow() time.Time { return clock }

// request is what a test server saw.
type request struct {
	method string
	path   string
	header http.Header
	body   []byte
}

// recorder is an httptest server that records requests and answers with
// respond.
func recorder(t *testing.T, respond func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, func() []request) {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []request
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		mu.Lock()
		seen = append(seen, request{r.Method, r.URL.Path, r.Header.Clone(), b})
		mu.Unlock()
		respond(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), seen...)
	}
}

func newTransport(t *testing.T, url string) *Transport {
	t.Helper()
	tr, err := New(Options{URL: url, Secret: secret, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func message() *channels.Message {
	return &channels.Message{
		ID: "d-123", CustomerID: "c-9", Campaign: "cart_recovery", Offer: "reminder",
		Channel: "webhook", Subject: "Your cart", Title: "Still there?",
		Text: "You left 2 items", HTML: "<p>You left 2 items</p>",
		Data: map[string]string{"cart_value": "42.50"},
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string // substring of the error; "" for success
	}{
		{"ok", Options{URL: "https://hooks.example.com/kairos", Secret: secret}, ""},
		{"no default URL", Options{Secret: secret}, ""},
		{"no secret", Options{URL: "https://x.example"}, "Options.Secret must be at least 32 bytes, got 0"},
		{"short secret", Options{URL: "https://x.example", Secret: secret[:31]}, "Options.Secret must be at least 32 bytes, got 31"},
		{"ftp", Options{URL: "ftp://x.example/in", Secret: secret}, `Options.URL must be an http or https URL, got scheme "ftp"`},
		{"relative", Options{URL: "/hooks", Secret: secret}, `Options.URL must be an http or https URL, got scheme ""`},
		{"no host", Options{URL: "https:///hooks", Secret: secret}, "Options.URL must be an absolute http or https URL with a host"},
		{"unparsable", Options{URL: "https://x.example/%zz", Secret: secret}, "Options.URL must be an absolute http or https URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("New: error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestSendSignsAndShapes(t *testing.T) {
	srv, seen := recorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderRequestID, "req-77")
		w.WriteHeader(http.StatusAccepted)
	})
	tr := newTransport(t, srv.URL+"/hooks/kairos")

	rcpt, err := tr.Send(context.Background(), message())
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if rcpt.ProviderID != "req-77" {
		t.Errorf("ProviderID = %q, want the X-Request-Id req-77", rcpt.ProviderID)
	}
	reqs := seen()
	if len(reqs) != 1 {
		t.Fatalf("server saw %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/hooks/kairos" {
		t.Errorf("request %s %s, want POST /hooks/kairos", r.method, r.path)
	}
	for h, want := range map[string]string{
		"Content-Type":    "application/json",
		HeaderTimestamp:   "1773500966",
		HeaderIdempotency: "d-123",
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}

	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	want := map[string]any{
		"decision_id": "d-123", "customer_id": "c-9", "campaign": "cart_recovery",
		"offer": "reminder", "channel": "webhook", "subject": "Your cart",
		"title": "Still there?", "text": "You left 2 items", "html": "<p>You left 2 items</p>",
		"data": map[string]any{"cart_value": "42.50"},
	}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}

	ts, sig := r.header.Get(HeaderTimestamp), r.header.Get(HeaderSignature)
	if !strings.HasPrefix(sig, "v1=") || len(sig) != len("v1=")+64 {
		t.Errorf("signature %q, want v1=<64 hex digits>", sig)
	}
	tolerance := 5 * time.Minute
	if err := Verify(secret, ts, sig, r.body, clock.Add(30*time.Second), tolerance); err != nil {
		t.Errorf("Verify(genuine request): %v", err)
	}

	tampered := []byte(strings.Replace(string(r.body), "42.50", "4250", 1))
	otherSecret := []byte(strings.ToUpper(string(secret)))
	for _, tc := range []struct {
		name    string
		secret  []byte
		ts, sig string
		body    []byte
		now     time.Time
		want    error
	}{
		{"tampered body", secret, ts, sig, tampered, clock, ErrSignature},
		{"wrong secret", otherSecret, ts, sig, r.body, clock, ErrSignature},
		{"timestamp changed", secret, "1773500967", sig, r.body, clock, ErrSignature},
		{"no signature", secret, ts, "", r.body, clock, ErrSignature},
		{"other scheme only", secret, ts, "v0=" + sig[3:], r.body, clock, ErrSignature},
		{"not hex", secret, ts, "v1=zz", r.body, clock, ErrSignature},
		{"stale", secret, ts, sig, r.body, clock.Add(tolerance + time.Second), ErrTimestamp},
		{"from the future", secret, ts, sig, r.body, clock.Add(-tolerance - time.Second), ErrTimestamp},
		{"malformed timestamp", secret, "yesterday", sig, r.body, clock, ErrTimestamp},
		{"no timestamp", secret, "", sig, r.body, clock, ErrTimestamp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.secret, tc.ts, tc.sig, tc.body, tc.now, tolerance)
			if !errors.Is(err, tc.want) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}

	// During a rotation the header may carry several signatures.
	rotated := Sign(otherSecret, ts, r.body) + "," + sig
	if err := Verify(secret, ts, rotated, r.body, clock, tolerance); err != nil {
		t.Errorf("Verify(two signatures, second matches): %v", err)
	}
	if err := Verify(secret, ts, sig, r.body, clock, 0); err == nil {
		t.Error("Verify accepted a zero tolerance")
	}
}

func TestSendDefaults(t *testing.T) {
	srv, seen := recorder(t, func(w http.ResponseWriter, r *http.Request) {})
	tr := newTransport(t, "https://never.invalid/hooks")

	m := message()
	m.To = srv.URL + "/per-customer"
	m.Data = nil
	rcpt, err := tr.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if rcpt.ProviderID != m.ID {
		t.Errorf("ProviderID = %q, want the decision id %q without X-Request-Id", rcpt.ProviderID, m.ID)
	}
	r := seen()[0]
	if r.path != "/per-customer" {
		t.Errorf("path %q: Message.To did not override Options.URL", r.path)
	}
	if !strings.Contains(string(r.body), `"data":{}`) {
		t.Errorf("body %s: nil Data must be sent as {}", r.body)
	}
}

func TestSendStatus(t *testing.T) {
	retryDate := clock.Add(90 * time.Second).Format(http.TimeFormat)
	for _, tc := range []struct {
		status     int
		retryAfter string
		kind       channels.Kind // 0: success
		wantRetry  time.Duration
	}{
		{200, "", 0, 0},
		{201, "", 0, 0},
		{204, "", 0, 0},
		{400, "", channels.Invalid, 0},
		{404, "", channels.Invalid, 0},
		{410, "", channels.Invalid, 0},
		{422, "", channels.Invalid, 0},
		{408, "", channels.Transient, 0},
		{425, "", channels.Transient, 0},
		{429, "7", channels.Transient, 7 * time.Second},
		{429, retryDate, channels.Transient, 90 * time.Second},
		{429, "soon", channels.Transient, 0},
		{429, "-3", channels.Transient, 0},
		{500, "", channels.Transient, 0},
		{502, "", channels.Transient, 0},
		{503, "120", channels.Transient, 2 * time.Minute},
		{504, "", channels.Transient, 0},
		// Not about the recipient: retried, never Permanent.
		{401, "", channels.Transient, 0},
		{403, "", channels.Transient, 0},
		{307, "", channels.Transient, 0}, // the default client does not follow redirects
	} {
		t.Run(strconv.Itoa(tc.status)+"/"+tc.retryAfter, func(t *testing.T) {
			srv, seen := recorder(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				if tc.status == 307 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.status)
				if tc.status >= 300 {
					io.WriteString(w, `{"error":"nope"}`)
				}
			})
			_, err := newTransport(t, srv.URL).Send(context.Background(), message())
			if n := len(seen()); n != 1 {
				t.Errorf("server saw %d requests, want 1", n)
			}
			if tc.kind == 0 {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				return
			}
			var ce *channels.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Send = %v, want a *channels.Error", err)
			}
			if ce.Kind != tc.kind || ce.Code != strconv.Itoa(tc.status) || ce.RetryAfter != tc.wantRetry {
				t.Errorf("Send = {%v %q %v}, want {%v %q %v}", ce.Kind, ce.Code, ce.RetryAfter, tc.kind, strconv.Itoa(tc.status), tc.wantRetry)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), `nope`) {
				t.Errorf("error %q does not quote the response body", err)
			}
		})
	}
}

func TestSendRefuses(t *testing.T) {
	srv, seen := recorder(t, func(w http.ResponseWriter, r *http.Request) {})
	noDefault, err := New(Options{Secret: secret, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tr   *Transport
		edit func(*channels.Message)
		want string
	}{
		{"ftp", newTransport(t, srv.URL), func(m *channels.Message) { m.To = "ftp://files.example/in" }, `got scheme "ftp"`},
		{"file", newTransport(t, srv.URL), func(m *channels.Message) { m.To = "file:///etc/passwd" }, `got scheme "file"`},
		{"javascript", newTransport(t, srv.URL), func(m *channels.Message) { m.To = "javascript:alert(1)" }, `got scheme "javascript"`},
		{"no host", newTransport(t, srv.URL), func(m *channels.Message) { m.To = "http:/path" }, "with a host"},
		{"no URL at all", noDefault, func(m *channels.Message) {}, "no URL"},
		{"no ID", newTransport(t, srv.URL), func(m *channels.Message) { m.ID = "" }, "no ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := message()
			tc.edit(m)
			_, err := tc.tr.Send(context.Background(), m)
			if channels.ErrorKind(err) != channels.Invalid || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Send = %v, want an invalid-message error containing %q", err, tc.want)
			}
		})
	}
	if n := len(seen()); n != 0 {
		t.Errorf("server saw %d requests, want none", n)
	}
}

func TestSendNetworkError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more
	_, err := newTransport(t, url).Send(context.Background(), message())
	var ce *channels.Error
	if !errors.As(err, &ce) || ce.Kind != channels.Transient {
		t.Fatalf("Send to a closed port = %v, want a transient *channels.Error", err)
	}
}

func TestSendHonoursDeadline(t *testing.T) {
	release := make(chan struct{})
	srv, _ := recorder(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release) // before srv.Close (cleanup), which waits for handlers

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := newTransport(t, srv.URL).Send(ctx, message())
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Send took %v with a 100ms deadline", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) || channels.ErrorKind(err) != channels.Transient {
		t.Errorf("Send = %v, want a transient error wrapping context.DeadlineExceeded", err)
	}
	t.Log(err)
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{" 12 ", 12 * time.Second},
		{"99999999999999", 365 * 24 * time.Hour},
		{clock.Add(time.Hour).Format(http.TimeFormat), time.Hour},
		{clock.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"Sunday, 06-Nov-94 08:49:37 GMT", 0}, // RFC 850, in the past
		{"1.5", 0},
	} {
		if got := channels.ParseRetryAfter(tc.v, clock); got != tc.want {
			t.Errorf("channels.ParseRetryAfter(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("1773500966", "v1=00", []byte(`{"decision_id":"d"}`))
	f.Add("", "", []byte{})
	f.Add("-9223372036854775808", "v1=,v1=zz,v0=1", []byte("x"))
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		err := Verify(secret, ts, sig, body, clock, time.Hour)
		if err == nil && sig != Sign(secret, ts, body) && !strings.Contains(strings.ToLower(sig), Sign(secret, ts, body)[3:]) {
			t.Fatalf("Verify accepted %q for %q", sig, body)
		}
		// A genuine signature always verifies when the time is right.
		if err := Verify(secret, "1773500966", Sign(secret, "1773500966", body), body, clock, time.Hour); err != nil {
			t.Fatalf("Verify(genuine): %v", err)
		}
	})
}
