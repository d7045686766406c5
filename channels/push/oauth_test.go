package push

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kairos/channels"
	"kairos/channels/push/pushtest"
)

const (
	saEmail = "kairos-push@kairos-test.iam.gserviceaccount.com"
	saKeyID = "3f2b9c0d41e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9"
)

// The service account's key, and a key of no one; generated once, as 2048
// bit keys are slow to generate.
var (
	testKey  = sync.OnceValue(genKey)
	otherKey = sync.OnceValue(genKey)
)

func genKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// clock is a settable clock shared by the token source and the token
// server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTokenServer(t testing.TB) *pushtest.TokenServer {
	t.Helper()
	ts := pushtest.NewTokenServer(saEmail, saKeyID, &testKey().PublicKey)
	t.Cleanup(ts.Close)
	return ts
}

// newServiceAccountOn returns a token source for creds whose clock, and the
// token server's, is c.
func newServiceAccountOn(t testing.TB, ts *pushtest.TokenServer, creds []byte, c *clock) *serviceAccount {
	t.Helper()
	sa, err := newServiceAccount(creds, nil)
	if err != nil {
		t.Fatal(err)
	}
	sa.now = c.Now
	ts.SetClock(c.Now)
	return sa
}

// setup returns a token server, a token source for its account and their
// clock.
func setup(t testing.TB) (*pushtest.TokenServer, *serviceAccount, *clock) {
	t.Helper()
	ts := newTokenServer(t)
	c := newClock()
	return ts, newServiceAccountOn(t, ts, ts.Credentials(testKey()), c), c
}

// withField returns creds with field set to v, or removed when v is nil.
func withField(t testing.TB, creds []byte, field string, v any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(creds, &m); err != nil {
		t.Fatal(err)
	}
	if v == nil {
		delete(m, field)
	} else {
		m[field] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pkcs1PEM(k *rsa.PrivateKey) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

func TestServiceAccountAssertion(t *testing.T) {
	_, sa, c := setup(t)
	jwt, err := sa.assertion(c.Now())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("assertion %q: want header.claims.signature", jwt)
	}
	decode := func(seg string, v any) {
		t.Helper()
		b, err := base64.RawURLEncoding.DecodeString(seg)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	var header map[string]string
	decode(parts[0], &header)
	if diff := cmp.Diff(map[string]string{"alg": "RS256", "typ": "JWT", "kid": saKeyID}, header); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	var claims map[string]any
	decode(parts[1], &claims)
	iat := c.Now().Add(-clockSkew).Unix()
	want := map[string]any{
		"iss":   saEmail,
		"scope": "https://www.googleapis.com/auth/firebase.messaging",
		"aud":   sa.tokenURI,
		"iat":   float64(iat),
		"exp":   float64(iat + 3600),
	}
	if diff := cmp.Diff(want, claims); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&testKey().PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		t.Errorf("signature: %v", err)
	}
}

func TestServiceAccountToken(t *testing.T) {
	ts, sa, c := setup(t)
	ctx := t.Context()
	get := func(want string, requests int) {
		t.Helper()
		tok, err := sa.token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tok != want || ts.Requests() != requests {
			t.Errorf("token %q after %d requests, want %q after %d", tok, ts.Requests(), want, requests)
		}
	}
	get("ya29.fake-1", 1)
	get("ya29.fake-1", 1) // cached
	// The fake's tokens expire in 3599s; the cached one is replaced 60s
	// before that.
	c.Advance(3599*time.Second - refreshEarly - time.Second)
	get("ya29.fake-1", 1)
	c.Advance(time.Second)
	get("ya29.fake-2", 2)
	get("ya29.fake-2", 2)
	c.Advance(2 * time.Hour)
	get("ya29.fake-3", 3)
}

func TestServiceAccountTokenWithoutExpiry(t *testing.T) {
	ts, sa, _ := setup(t)
	ts.Respond(pushtest.TokenResponse{ExpiresIn: -1}) // no expires_in
	for i := 1; i <= 2; i++ {
		tok, err := sa.token(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("ya29.fake-%d", i); tok != want || ts.Requests() != i {
			t.Errorf("token %q after %d requests, want %q after %d (a token without expires_in is not cached)", tok, ts.Requests(), want, i)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestServiceAccountTokenConcurrent(t *testing.T) {
	ts := newTokenServer(t)
	// Hold the token request until every caller is waiting for it.
	started, release := make(chan struct{}, 1), make(chan struct{})
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
		return http.DefaultTransport.RoundTrip(r)
	})}
	sa, err := newServiceAccount(ts.Credentials(testKey()), client)
	if err != nil {
		t.Fatal(err)
	}

	const callers = 20
	var wg sync.WaitGroup
	toks, errs := make([]string, callers), make([]error, callers)
	for i := range callers {
		wg.Go(func() { toks[i], errs[i] = sa.token(t.Context()) })
	}
	<-started
	time.Sleep(20 * time.Millisecond) // let the other callers queue up
	close(release)
	wg.Wait()

	for i := range callers {
		if errs[i] != nil || toks[i] != "ya29.fake-1" {
			t.Errorf("caller %d: %q, %v; want ya29.fake-1", i, toks[i], errs[i])
		}
	}
	if n := ts.Requests(); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

func TestServiceAccountTokenErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		resp       pushtest.TokenResponse
		want       []string // substrings of the error
		creds      bool     // errors.Is(err, ErrCredentials)
		kind       channels.Kind
		retryAfter time.Duration
	}{
		{
			name:  "invalid_grant",
			resp:  pushtest.TokenResponse{Status: 400, Error: "invalid_grant", Description: "Invalid JWT Signature."},
			want:  []string{"HTTP 400 invalid_grant: Invalid JWT Signature.", "check the service account key", saEmail},
			creds: true,
			kind:  channels.Transient, // not a channels.Error: ErrorKind's default
		},
		{
			name:  "disabled client",
			resp:  pushtest.TokenResponse{Status: 401, Error: "invalid_client", Description: "The OAuth client was disabled."},
			want:  []string{"HTTP 401 invalid_client: The OAuth client was disabled.", "check the service account key"},
			creds: true,
			kind:  channels.Transient,
		},
		{
			name:  "forbidden without a body",
			resp:  pushtest.TokenResponse{Status: 403, Body: " "},
			want:  []string{"HTTP 403", "check the service account key"},
			creds: true,
			kind:  channels.Transient,
		},
		{
			name:       "unavailable",
			resp:       pushtest.TokenResponse{Status: 503, Error: "temporarily_unavailable", RetryAfter: "7"},
			want:       []string{"HTTP 503 temporarily_unavailable"},
			kind:       channels.Transient,
			retryAfter: 7 * time.Second,
		},
		{
			name: "rate limited",
			resp: pushtest.TokenResponse{Status: 429, Body: "slow down"},
			want: []string{"HTTP 429: slow down"},
			kind: channels.Transient,
		},
		{
			name: "not a token endpoint",
			resp: pushtest.TokenResponse{Status: 404, Body: "<html>Not Found</html>"},
			want: []string{"HTTP 404: <html>Not Found</html>", "check token_uri"},
			kind: channels.Transient,
		},
		{
			name: "not JSON",
			resp: pushtest.TokenResponse{Body: "<html>hello</html>"},
			want: []string{"HTTP 200 with a body that is not a token response", "token_uri"},
			kind: channels.Transient,
		},
		{
			name: "no access token",
			resp: pushtest.TokenResponse{Body: `{"token_type":"Bearer","expires_in":3599}`},
			want: []string{"without an access_token"},
			kind: channels.Transient,
		},
		{
			name: "not a bearer token",
			resp: pushtest.TokenResponse{Body: `{"access_token":"x","token_type":"mac","expires_in":3599}`},
			want: []string{`token_type "mac": want Bearer`},
			kind: channels.Transient,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, sa, _ := setup(t)
			ts.Respond(tc.resp)
			for i := 1; i <= 2; i++ { // a failure is not cached
				tok, err := sa.token(t.Context())
				if err == nil {
					t.Fatalf("token %q, want an error", tok)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				if got := errors.Is(err, ErrCredentials); got != tc.creds {
					t.Errorf("errors.Is(%v, ErrCredentials) = %v", err, got)
				}
				if got := channels.ErrorKind(err); got != tc.kind {
					t.Errorf("ErrorKind(%v) = %v, want %v", err, got, tc.kind)
				}
				if got := channels.RetryAfter(err); got != tc.retryAfter {
					t.Errorf("RetryAfter(%v) = %v, want %v", err, got, tc.retryAfter)
				}
				if n := ts.Requests(); n != i {
					t.Errorf("%d token requests, want %d", n, i)
				}
			}
			ts.Respond()
			if tok, err := sa.token(t.Context()); err != nil || tok != "ya29.fake-1" {
				t.Errorf("after recovery: %q, %v; want ya29.fake-1", tok, err)
			}
		})
	}
}

// TestServiceAccountRefused checks assertions the token endpoint refuses
// on its own (and so that the fake checks them).
func TestServiceAccountRefused(t *testing.T) {
	ts := newTokenServer(t)
	good := ts.Credentials(testKey())
	for _, tc := range []struct {
		name  string
		creds []byte
		skew  time.Duration // of the token source's clock
		want  string
	}{
		{"another key", ts.Credentials(otherKey()), 0, "invalid_grant: Invalid JWT Signature."},
		{"another account", withField(t, good, "client_email", "someone@kairos-test.iam.gserviceaccount.com"), 0, "invalid_grant: Invalid email or User ID"},
		{"another key id", withField(t, good, "private_key_id", "0000"), 0, `kid "0000"`},
		{"clock an hour late", good, -time.Hour, "invalid_grant: Invalid JWT: Token must be a short-lived token"},
		{"clock an hour early", good, time.Hour, "invalid_grant: Invalid JWT: Token must be a short-lived token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			sa := newServiceAccountOn(t, ts, tc.creds, c)
			sa.now = func() time.Time { return c.Now().Add(tc.skew) }
			_, err := sa.token(t.Context())
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrCredentials) {
				t.Errorf("error %v, want ErrCredentials containing %q", err, tc.want)
			}
		})
	}
}

func TestServiceAccountKeyFormats(t *testing.T) {
	ts := newTokenServer(t)
	pkcs8 := ts.Credentials(testKey())
	for _, tc := range []struct {
		name  string
		creds []byte
	}{
		{"PKCS #8", pkcs8},
		{"PKCS #1", withField(t, pkcs8, "private_key", pkcs1PEM(testKey()))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sa := newServiceAccountOn(t, ts, tc.creds, newClock())
			if tok, err := sa.token(t.Context()); err != nil || !strings.HasPrefix(tok, "ya29.fake-") {
				t.Errorf("token %q, %v", tok, err)
			}
		})
	}
}

func TestServiceAccountCredentials(t *testing.T) {
	good := newTokenServer(t).Credentials(testKey())
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	pemBlock := func(typ string, der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	var goodFile credentialsFile
	if err := json.Unmarshal(good, &goodFile); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		creds []byte
		want  string
	}{
		{"not JSON", []byte(`{"type":`), "not a JSON key file"},
		{"JSON array", []byte(`[]`), "not a JSON key file"},
		{"no type", withField(t, good, "type", nil), `type: missing (want "service_account"`},
		{"user credentials", withField(t, good, "type", "authorized_user"), `type "authorized_user": want "service_account"`},
		{"no client_email", withField(t, good, "client_email", nil), "client_email: missing"},
		{"client_email a number", withField(t, good, "client_email", 42), "client_email"},
		{"client_email not an email", withField(t, good, "client_email", "kairos"), `client_email "kairos": not an email address`},
		{"no private_key_id", withField(t, good, "private_key_id", nil), "private_key_id: missing"},
		{"no private_key", withField(t, good, "private_key", nil), "private_key: missing"},
		{"private_key not PEM", withField(t, good, "private_key", "hunter2"), "private_key: not PEM"},
		{"private_key escaped twice", withField(t, good, "private_key", strings.ReplaceAll(goodFile.PrivateKey, "\n", `\n`)), "private_key: not PEM: its line breaks are escaped twice"},
		{"private_key a certificate", withField(t, good, "private_key", pemBlock("CERTIFICATE", []byte("x"))), `private_key: PEM block "CERTIFICATE"`},
		{"private_key not RSA", withField(t, good, "private_key", pemBlock("PRIVATE KEY", ecDER)), "private_key: a *ecdsa.PrivateKey, want an RSA key"},
		{"private_key corrupt PKCS #8", withField(t, good, "private_key", pemBlock("PRIVATE KEY", []byte("garbage"))), "private_key: PKCS #8"},
		{"private_key corrupt PKCS #1", withField(t, good, "private_key", pemBlock("RSA PRIVATE KEY", []byte("garbage"))), "private_key: PKCS #1"},
		{"token_uri relative", withField(t, good, "token_uri", "oauth2.googleapis.com/token"), `token_uri "oauth2.googleapis.com/token"`},
		{"token_uri not HTTP", withField(t, good, "token_uri", "ftp://oauth2.googleapis.com/token"), `token_uri "ftp://oauth2.googleapis.com/token"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := ServiceAccountTokenSource(tc.creds, nil)
			if err == nil {
				t.Fatalf("no error (token source %p)", src)
			}
			if !strings.HasPrefix(err.Error(), "push: service account credentials: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "MII") {
				t.Errorf("error %q quotes the private key", err)
			}
		})
	}

	t.Run("default token_uri", func(t *testing.T) {
		sa, err := newServiceAccount(withField(t, good, "token_uri", nil), nil)
		if err != nil {
			t.Fatal(err)
		}
		if sa.tokenURI != "https://oauth2.googleapis.com/token" {
			t.Errorf("token URI %q", sa.tokenURI)
		}
	})
}

func TestServiceAccountTokenContext(t *testing.T) {
	ts, sa, _ := setup(t)
	ts.Respond(pushtest.TokenResponse{Hang: true})

	t.Run("deadline during the request", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if _, err := sa.token(ctx); !errors.Is(err, context.DeadlineExceeded) || channels.ErrorKind(err) != channels.Transient {
			t.Errorf("error %v, want a transient DeadlineExceeded", err)
		}
	})

	t.Run("deadline while waiting for another refresh", func(t *testing.T) {
		ctx1, cancel1 := context.WithCancel(t.Context())
		defer cancel1()
		errc := make(chan error, 1)
		before := ts.Requests()
		go func() {
			_, err := sa.token(ctx1)
			errc <- err
		}()
		for deadline := time.Now().Add(5 * time.Second); ts.Requests() == before; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the first caller sent no token request")
			}
		}

		ctx2, cancel2 := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel2()
		if _, err := sa.token(ctx2); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for the refresh in progress") {
			t.Errorf("waiting caller: %v, want DeadlineExceeded while waiting", err)
		}
		if n := ts.Requests(); n != before+1 {
			t.Errorf("%d token requests, want %d: the waiting caller must not send one", n, before+1)
		}

		cancel1()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("refreshing caller: %v, want Canceled", err)
		}
	})

	t.Run("canceled before the call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := sa.token(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want Canceled", err)
		}
	})

	// None of the failures was cached.
	ts.Respond()
	before := ts.Requests()
	if tok, err := sa.token(t.Context()); err != nil || tok != "ya29.fake-1" {
		t.Errorf("after the failures: %q, %v; want ya29.fake-1", tok, err)
	}
	if n := ts.Requests(); n != before+1 {
		t.Errorf("%d token requests, want %d", n, before+1)
	}
}

// TestServiceAccountSend sends through a Transport whose TokenSource is a
// service account, end to end against the fake token endpoint and the fake
// FCM.
func TestServiceAccountSend(t *testing.T) {
	ts := newTokenServer(t)
	ts.Respond(pushtest.TokenResponse{AccessToken: bearer}) // the token the fake FCM accepts
	fcm := newServer(t)
	c := newClock()
	sa := newServiceAccountOn(t, ts, ts.Credentials(testKey()), c)
	tr, err := New(Options{BaseURL: fcm.URL, Project: project, TokenSource: sa.token})
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			if _, err := tr.Send(t.Context(), msg(fmt.Sprint("device-", i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	c.Advance(time.Hour)
	if _, err := tr.Send(t.Context(), msg("device-5")); err != nil {
		t.Fatal(err)
	}
	if n := len(fcm.Received()); n != 6 {
		t.Errorf("FCM received %d messages, want 6", n)
	}
	if n := ts.Requests(); n != 2 {
		t.Errorf("%d token requests, want 2 (one, and one refresh after an hour)", n)
	}

	// A refused service account surfaces through Send as ErrCredentials.
	ts.Respond(pushtest.TokenResponse{Status: 400, Error: "invalid_grant", Description: "Invalid JWT Signature."})
	c.Advance(time.Hour)
	_, err = tr.Send(t.Context(), msg("device-6"))
	if !errors.Is(err, ErrCredentials) || !strings.Contains(err.Error(), "Invalid JWT Signature.") {
		t.Errorf("Send: %v, want ErrCredentials with the endpoint's description", err)
	}
}

func ExampleServiceAccountTokenSource() {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	// A fake Google token endpoint and a fake FCM. Production reads the
	// key file (credentials, _ := os.ReadFile("service-account.json")) and
	// leaves BaseURL empty.
	google := pushtest.NewTokenServer("kairos-push@my-project.iam.gserviceaccount.com", "key-1", &key.PublicKey)
	defer google.Close()
	credentials := google.Credentials(key)
	fcm := pushtest.NewServer("my-project", "ya29.fake-1") // the fake's first token
	defer fcm.Close()

	tokens, err := ServiceAccountTokenSource(credentials, nil)
	if err != nil {
		panic(err)
	}
	tr, err := New(Options{BaseURL: fcm.URL, Project: "my-project", TokenSource: tokens})
	if err != nil {
		panic(err)
	}
	for _, id := range []string{"dec-1", "dec-2"} {
		r, err := tr.Send(context.Background(), &channels.Message{ID: id, To: "device-token", Title: "Hi", Text: "Your cart is waiting."})
		fmt.Println(r.ProviderID, err)
	}
	fmt.Println("token requests:", google.Requests())
	// Output:
	// projects/my-project/messages/0:1%fake <nil>
	// projects/my-project/messages/0:2%fake <nil>
	// token requests: 1
}

func FuzzServiceAccountCredentials(f *testing.F) {
	ts := pushtest.NewTokenServer(saEmail, saKeyID, &testKey().PublicKey)
	defer ts.Close()
	good := ts.Credentials(testKey())
	f.Add(good)
	f.Add(withField(f, good, "private_key", pkcs1PEM(testKey())))
	f.Add(withField(f, good, "type", nil))
	f.Add([]byte(`{"type":"service_account","client_email":"a@b","private_key_id":"k","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}`))
	f.Fuzz(func(t *testing.T, creds []byte) {
		sa, err := newServiceAccount(creds, nil)
		if err != nil {
			var file credentialsFile
			if json.Unmarshal(creds, &file) == nil && len(file.PrivateKey) >= 32 &&
				strings.Contains(err.Error(), "private_key") && strings.Contains(err.Error(), file.PrivateKey) {
				t.Errorf("error %q quotes the private key", err)
			}
			return
		}
		if sa.email == "" || sa.tokenURI == "" || sa.key == nil || sa.header == "" {
			t.Errorf("accepted incomplete credentials: %+v", sa)
		}
	})
}

func FuzzTokenResponse(f *testing.F) {
	f.Add(200, []byte(`{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"}`))
	f.Add(200, []byte(`{"access_token":"ya29.x","expires_in":1e300}`))
	f.Add(400, []byte(`{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`))
	f.Add(503, []byte(`<html>`))
	sa := &serviceAccount{email: saEmail, tokenURI: defaultTokenURI}
	f.Fuzz(func(t *testing.T, status int, raw []byte) {
		resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {"3"}}}
		tok, ttl, err := sa.decode(resp, raw, time.Unix(0, 0))
		if err != nil {
			if tok != "" {
				t.Errorf("token %q with error %v", tok, err)
			}
			return
		}
		if status/100 != 2 || tok == "" || ttl < 0 || ttl > maxTokenLifetime {
			t.Errorf("HTTP %d %q: token %q, ttl %v", status, raw, tok, ttl)
		}
	})
}

func BenchmarkServiceAccountToken(b *testing.B) {
	ts := newTokenServer(b)
	sa, err := newServiceAccount(ts.Credentials(testKey()), nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := sa.token(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := sa.token(context.Background()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
