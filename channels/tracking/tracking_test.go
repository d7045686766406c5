package tracking_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"kairos/channels/tracking"
	"kairos/features"
	"kairos/features/memstore"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func TestSigner(t *testing.T) {
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := tracking.NewSigner(key, clock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tracking.NewSigner(key[:31], nil); err == nil {
		t.Error("a 31-byte key accepted")
	}
	c := tracking.Claims{Kind: tracking.Click, DecisionID: "d1", CustomerID: "c1", Campaign: "cart", Channel: "email",
		URL: "https://shop.example/cart", Expires: now.Add(time.Hour).Unix()}
	tok := s.Token(c)
	if got, err := s.Verify(tok); err != nil || got != c {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	other, _ := tracking.NewSigner([]byte("another key that is long enough!!"), clock)
	payload, sig, _ := strings.Cut(tok, ".")
	forged := tracking.Claims{Kind: tracking.Click, DecisionID: "d1", CustomerID: "c1", URL: "https://evil.example/", Expires: c.Expires}
	fp, _, _ := strings.Cut(s.Token(forged), ".")
	for name, bad := range map[string]string{
		"other key":       other.Token(c),
		"swapped payload": fp + "." + sig,
		"truncated":       payload,
		"garbage":         "x.y",
		"bit flip":        payload + "." + sig[:len(sig)-1] + string(sig[len(sig)-1]^1),
	} {
		if _, err := s.Verify(bad); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	later, _ := tracking.NewSigner(key, func() time.Time { return now.Add(2 * time.Hour) })
	if _, err := later.Verify(tok); err == nil {
		t.Error("an expired token verified")
	}
}

func TestHandler(t *testing.T) {
	now := time.Now().UTC()
	set := features.Default()
	store := memstore.New(set, memstore.Options{})
	ctx := context.Background()
	if err := store.UpsertCustomer(ctx, features.Customer{ID: "c1", Email: "c1@example.com", Consents: map[string]bool{"email": true, "sms": true}}, now); err != nil {
		t.Fatal(err)
	}
	s, _ := tracking.NewSigner(key, nil)
	srv := httptest.NewServer(tracking.NewHandler(s, store, set, nil))
	defer srv.Close()
	links := s.For(srv.URL, "d1", "c1", "cart", "email", time.Hour)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) *http.Response {
		t.Helper()
		resp, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	feature := func(name string) float64 {
		t.Helper()
		p, err := store.Profile(ctx, "c1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		v, _ := p.Vector.Get(name)
		return v
	}
	for range 2 { // a repeated open counts once
		if resp := get(links.Open()); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/gif" {
			t.Fatalf("open: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if got := feature("email_opens_30d"); got != 1 {
		t.Errorf("email_opens_30d = %v, want 1", got)
	}
	resp := get(links.Click("https://shop.example/cart?x=1"))
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://shop.example/cart?x=1" {
		t.Fatalf("click: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := feature("email_clicks_30d"); got != 1 {
		t.Errorf("email_clicks_30d = %v, want 1", got)
	}
	// A forged link: a plain error page, no redirect, nothing recorded.
	u, _ := url.Parse(links.Click("https://shop.example/"))
	parts := strings.Split(u.Path, "/")
	payload, sig, _ := strings.Cut(parts[len(parts)-1], ".")
	resp = get(srv.URL + "/t/c/" + payload + "x." + sig)
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Location") != "" {
		t.Errorf("forged click: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The kind in the path must match the token's.
	if resp := get(strings.Replace(links.Open(), "/t/o/", "/t/c/", 1)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an open token on the click path: %d", resp.StatusCode)
	}
	if got := feature("email_clicks_30d"); got != 1 {
		t.Errorf("email_clicks_30d after forged clicks = %v, want 1", got)
	}
	// Unsubscribe: GET shows a form and changes nothing; POST revokes.
	if resp := get(links.Unsubscribe()); resp.StatusCode != 200 {
		t.Errorf("unsubscribe GET: %d", resp.StatusCode)
	}
	p, _ := store.Profile(ctx, "c1", time.Now())
	if !p.Customer.Consents["email"] {
		t.Fatal("GET unsubscribed")
	}
	resp, err := client.Post(links.Unsubscribe(), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("unsubscribe POST: %d", resp.StatusCode)
	}
	p, _ = store.Profile(ctx, "c1", time.Now())
	if p.Customer.Consents["email"] || !p.Customer.Consents["sms"] {
		t.Errorf("consents after unsubscribe: %v, want email revoked, sms kept", p.Customer.Consents)
	}
	if v, _ := p.Vector.Get("since_unsubscribed"); v != v || v > 60 {
		t.Errorf("since_unsubscribed = %v, want the event just recorded", v)
	}
}
