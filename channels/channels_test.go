package channels

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestErrorKind(t *testing.T) {
	perm := fmt.Errorf("push: send: %w", &Error{Kind: Permanent, Code: "UNREGISTERED", Err: errors.New("token gone")})
	if ErrorKind(perm) != Permanent || RetryAfter(perm) != 0 {
		t.Errorf("wrapped permanent: %v, %v", ErrorKind(perm), RetryAfter(perm))
	}
	slow := &Error{Kind: Transient, Code: "429", RetryAfter: 3 * time.Second}
	if ErrorKind(slow) != Transient || RetryAfter(slow) != 3*time.Second {
		t.Errorf("429: %v, %v", ErrorKind(slow), RetryAfter(slow))
	}
	if ErrorKind(context.DeadlineExceeded) != Transient {
		t.Error("an unclassified error is not transient")
	}
	if got := perm.Error(); got != "push: send: permanent delivery error UNREGISTERED: token gone" {
		t.Errorf("message %q", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"-5", 0}, {"garbage", 0}, {" 30 ", 30 * time.Second},
		{"Mon, 02 Nov 2026 12:01:00 GMT", time.Minute}, {"Mon, 02 Nov 2026 11:00:00 GMT", 0},
		{"99999999999", 365 * 24 * time.Hour},
	} {
		if got := ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestExchangeKinds: a request that was never written is Transient; one
// written whose answer is lost is Ambiguous.
func TestExchangeKinds(t *testing.T) {
	hung := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hung:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hung)
	client := &http.Client{Timeout: 100 * time.Millisecond}
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("{}"))
	if _, _, err := Exchange(client, req, 1024, "test"); ErrorKind(err) != Ambiguous {
		t.Errorf("hung after the request: %v (kind %v), want ambiguous", err, ErrorKind(err))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: the dial fails
	req, _ = http.NewRequest(http.MethodPost, "http://"+addr, strings.NewReader("{}"))
	if _, _, err := Exchange(client, req, 1024, "test"); ErrorKind(err) != Transient {
		t.Errorf("connection refused: %v (kind %v), want transient", err, ErrorKind(err))
	}
}
