// Package pgledger is the PostgreSQL ledger: a ledger.Ledger on pgx v5 and
// pgxpool, used by `kairos serve --postgres`. It owns the ledger's schema
// and its migrations; ledger/ledgertest holds it to the same contract as
// the embedded ledger.Memory.
//
// # Schema
//
// migrations/0001_init.sql creates three tables, which
// migrations/0002_metrics.sql extends with metric windows:
//
//   - decisions: one row per decisioning.Decision, keyed by decision_id.
//     The outcome is its name (text, with a CHECK of the five names);
//     reasons and feature_names are text[], features and policy_context
//     float8[]; arms, scores, versions, context and metrics (the metric
//     windows: [{name, event, until}], until an RFC 3339 UTC text) are
//     jsonb. Indexed by (campaign, decided_at) and (customer_id,
//     decided_at) for reports.
//   - rewards: one row per closed window, keyed by (decision_id, metric):
//     metric is empty text for the decision's reward window, the metric's
//     name for a metric window. Indexed by (campaign, closed_at) and
//     (customer_id, closed_at).
//   - dispatches: one row per dispatch attempt, keyed by (decision_id,
//     attempt), indexed by (status, at).
//
// Empty strings are stored as empty text (NOT NULL), zero times as NULL, and nil
// slices and maps as NULL, so that empty and nil ones stay apart. float8
// columns and arrays keep NaN, ±Inf and -0 as they are; jsonb cannot hold
// them, so inside jsonb those numbers are the strings "NaN", "Infinity",
// "-Infinity" and "-0", PostgreSQL's own spelling: `(scores->>'churn')::float8`
// reads every value back. Times are timestamptz, of microsecond resolution,
// as the ledger contract says.
//
// # Migrations
//
// Migrations are SQL files embedded in the binary, migrations/NNNN_name.sql,
// numbered from 1 without gaps. Open (and Migrate) applies the pending ones
// in order, in one transaction that holds a transaction-level advisory
// lock, so that several instances may start at once, and records each in
// kairos_schema_migrations(version, applied_at). A shipped migration is
// never edited: a change is a new file. A database whose schema is newer
// than the binary's migrations is refused ("upgrade kairos"), since this
// binary could not read what a newer one writes.
//
// # Writes
//
// Each batch is validated first (ledger.ValidateDecision and friends), so
// that an invalid record refuses the whole batch before anything is
// written; duplicates within the batch are dropped, the first copy kept.
// Then, in chunks of up to 5,000 records, one transaction each: COPY into
// a temporary table (ON COMMIT DROP) like the target, then INSERT … SELECT
// ordered by key … ON CONFLICT DO NOTHING. The order makes concurrent
// writers of overlapping batches take their row locks in the same order,
// so they cannot deadlock. A failed chunk leaves earlier chunks written;
// since writes are idempotent, retrying the batch is safe.
//
// # Errors
//
// An error caused by the database being unreachable wraps
// ledger.ErrUnavailable: a failure to connect (refused, reset, timed out
// while connecting), a connection lost or found closed (network errors,
// unexpected EOF, pgconn.ErrConnClosed), SQLSTATE class 08 (connection exception), 57P01
// admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now and 53300
// too_many_connections. Constraint violations, invalid data and other
// server errors do not; nor does the caller's context ending, which wraps
// context.Canceled or context.DeadlineExceeded (unless it ended while
// connecting). An unknown decision wraps ledger.ErrNotFound. No error
// includes the database URL's password.
package pgledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"kairos/ledger"
)

// Options configures a Store.
type Options struct {
	// Logger receives the store's few messages (migrations applied); nil
	// discards them.
	Logger *slog.Logger
	// MaxConns bounds the connection pool; zero keeps pgxpool's default
	// (the larger of 4 and the number of CPUs) or the URL's pool_max_conns.
	MaxConns int32
}

// Store is the PostgreSQL ledger. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

var _ ledger.Ledger = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string, as pgx accepts), applies pending migrations, and
// returns a Store. Close it when done.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "ledger")
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, parseError(url, err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "kairos"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, wrap("open", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, wrap("open", err)
	}
	err = migrate(ctx, conn.Conn(), log)
	conn.Release()
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool}, nil
}

// Close closes the store's connections, waiting for those in use.
func (s *Store) Close() { s.pool.Close() }

// Ping implements ledger.Ledger: it runs an empty statement on a pooled
// connection.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return wrap("ping", err)
	}
	return nil
}

// wrap names the operation and, when the database could not be reached,
// wraps ledger.ErrUnavailable as well as err.
func wrap(op string, err error) error {
	if unavailable(err) {
		return fmt.Errorf("pgledger: %s: %w: %w", op, ledger.ErrUnavailable, err)
	}
	// Data exceptions (class 22) and integrity violations (23) are the
	// records' own fault; anything else (read-only standby, disk full,
	// timeouts, permissions) may pass once the database is fixed.
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")) {
		return fmt.Errorf("pgledger: %s: %w: %w", op, ledger.ErrRefused, err)
	}
	return fmt.Errorf("pgledger: %s: %w", op, err)
}

// unavailable reports whether err means that the database could not be
// reached (see the package comment).
func unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	// A server's answer decides, also during a connection attempt: a bad
	// password or an unknown database is no outage.
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "53300":
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08")
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// parseError reports an unparsable connection string without its
// password: pgx redacts what it recognises, and any password that
// net/url or the key=value syntax reveals is removed from the text as
// well. The pgx error is not wrapped, as it holds the string.
func parseError(conn string, err error) error {
	msg := err.Error()
	for _, pw := range passwords(conn) {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return fmt.Errorf("pgledger: invalid database URL: %s", msg)
}

// passwords returns the passwords a connection string may hold.
func passwords(conn string) []string {
	var out []string
	if u, err := url.Parse(conn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			out = append(out, pw, url.QueryEscape(pw), url.PathEscape(pw))
		}
		if pw := u.Query().Get("password"); pw != "" {
			out = append(out, pw)
		}
	}
	// A URL too broken for net/url: the text between "user:" and "@".
	for _, scheme := range []string{"postgres://", "postgresql://"} {
		if rest, ok := strings.CutPrefix(conn, scheme); ok {
			if at := strings.LastIndex(rest, "@"); at >= 0 {
				if _, pw, ok := strings.Cut(rest[:at], ":"); ok && pw != "" {
					out = append(out, pw)
				}
			}
		}
	}
	for _, f := range strings.Fields(conn) {
		if pw, ok := strings.CutPrefix(f, "password="); ok && pw != "" {
			out = append(out, strings.Trim(pw, "'"))
		}
	}
	return out
}
