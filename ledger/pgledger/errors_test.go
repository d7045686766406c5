package pgledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"kairos/ledger"
)

func TestUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"connection refused", fmt.Errorf("dial: %w", refused), true},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true},
		{"unexpected EOF", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		{"conn closed", fmt.Errorf("begin: %w", pgconn.ErrConnClosed), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"check violation", &pgconn.PgError{Code: "23514"}, false},
		{"bad password", &pgconn.PgError{Code: "28P01"}, false},
		{"query canceled", &pgconn.PgError{Code: "57014"}, false},
		{"canceled", context.Canceled, false},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), false},
		{"other", errors.New("boom"), false},
		{"nil", nil, false},
	} {
		if got := unavailable(tc.err); got != tc.want {
			t.Errorf("%s: unavailable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
		if tc.err == nil {
			continue
		}
		if got := errors.Is(wrap("op", tc.err), ledger.ErrUnavailable); got != tc.want {
			t.Errorf("%s: wrap wraps ErrUnavailable = %v, want %v", tc.name, got, tc.want)
		}
		if !errors.Is(wrap("op", tc.err), tc.err) {
			t.Errorf("%s: wrap lost the cause", tc.name)
		}
	}
}

// TestErrorsHideThePassword: neither a refused connection nor an
// unparsable URL prints the password.
func TestErrorsHideThePassword(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	const pw = "s3cr3t-pa55"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		url         string
		unavailable bool
	}{
		{"postgres://kairos:" + pw + "@" + closed + "/ledger?sslmode=disable", true},
		{"postgresql://kairos:" + pw + "@" + closed + "/ledger?sslmode=disable&connect_timeout=2", true},
		{"host=127.0.0.1 port=" + strings.Split(closed, ":")[1] + " user=kairos password=" + pw + " sslmode=disable", true},
		{"postgres://kairos:" + pw + "@127.0.0.1:notaport/ledger", false},
		{"postgres://kairos:" + pw + "@[::1/ledger", false},
		{"postgres://kairos:" + pw + "@127.0.0.1/ledger?sslmode=bogus", false},
		{"host=127.0.0.1 password='" + pw + "' sslmode=bogus", false},
	} {
		_, err := Open(ctx, tc.url, Options{})
		if err == nil {
			t.Errorf("Open(%q) succeeded", tc.url)
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("Open error shows the password: %v", err)
		}
		if got := errors.Is(err, ledger.ErrUnavailable); got != tc.unavailable {
			t.Errorf("Open(%q) = %v; wraps ErrUnavailable: %v, want %v", strings.ReplaceAll(tc.url, pw, "xxx"), err, got, tc.unavailable)
		}
		err = Migrate(ctx, tc.url)
		if err == nil || strings.Contains(err.Error(), pw) {
			t.Errorf("Migrate error shows the password or is nil: %v", err)
		}
	}
}
