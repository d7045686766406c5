// Package redisstore is the Redis implementation of features.Store and
// features.EventLog: rolling per-customer feature tiles, customer records,
// event-id dedup and the event log (a Redis Stream read through consumer
// groups). It must not import features/memstore.
//
// # Key layout
//
// Every key of a customer is k:{<tag>}:<suffix>; the {...} hash tag keeps
// one customer's keys in one Redis Cluster slot. The tag is the customer id
// itself, except for an id that would break the hash tag or could be taken
// for a derived tag: one containing '{' or '}' (Redis hashes only what lies
// between the first '{' and the next '}', so the id "}x" would give the
// empty tag of k:{}x}:l), or one of the form "#" and 32 lower-case hex
// digits. Such an id's tag is derived from it: "#" and the lower-case hex of
// the first 16 bytes of its SHA-256, so the id "}x" has the keys
// k:{#<32 hex digits>}:<suffix>. Two ids share a tag only if they are equal
// or their SHA-256 digests agree in 16 bytes. Suffixes:
//
//	c        the customer record: a string, JSON of features.Customer
//	s2968    event-id dedup of week 2968 (weeks of the Unix epoch): a set of
//	         features.EventHash as signed 64-bit integers (a compact
//	         intset); Track checks this week's and last week's, so an id is
//	         remembered 7 to 14 days; the set expires a day after the end
//	         of the next week
//	l        the meta hash (features.MetaKey): lifetime values and the
//	         UpdatedField; it never expires
//	h41571…  tile buckets (features.Key.Suffix): hashes of tile values,
//	         expiring at features.Set.ExpireAt
//
// The event log is the stream kairos:events (StreamKey). Each entry has one
// field, e, holding features.AppendLogRecord of the event.
//
// # Round trips
//
// Track is one EVALSHA of a Lua script per batch (dedup, log append and
// tile updates for every event, atomically), Profile one pipeline (GET and
// one HGETALL per key of features.Set.ReadKeys), UpsertCustomer one small
// script.
//
// Track needs the stream and the batch's customers in one script, so it
// works against standalone Redis (and Sentinel-managed primaries), not
// Redis Cluster, where such a script fails with CROSSSLOT.
//
// # Errors
//
// Errors name the operation ("redisstore: track: ..."). Failures to reach
// or use Redis (connection errors, timeouts, LOADING, READONLY, OOM,
// MASTERDOWN, ...) wrap features.ErrUnavailable; a cancelled or expired
// context is returned as the context's error; redis.Nil never escapes.
package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"kairos/features"
)

// StreamKey is the Redis Stream holding the event log.
const StreamKey = "kairos:events"

// Options configures a Store.
type Options struct {
	// LogMaxLen is the approximate maximum number of entries of the event
	// stream (XADD MAXLEN ~); features.DefaultLogMaxLen when zero or
	// negative.
	LogMaxLen int64
	// Logger receives debug messages; nothing is logged when nil.
	Logger *slog.Logger
}

// Store keeps features, customer records and the event log in Redis. It is
// safe for concurrent use.
type Store struct {
	client    redis.UniversalClient
	owned     bool // opened by Open: Close closes the client
	set       *features.Set
	stream    string
	logMaxLen int64
	log       *slog.Logger

	// The Track script, its SHA and source boxed once (see runTrack).
	trackSHA, trackSrc any
	upsert             *redis.Script
	batches            sync.Pool
}

var (
	_ features.Store    = (*Store)(nil)
	_ features.EventLog = (*Store)(nil)
)

// New returns a store using client and computing features with set. The
// caller keeps ownership of client: Close does not close it.
func New(client redis.UniversalClient, set *features.Set, opts Options) *Store {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	maxLen := opts.LogMaxLen
	if maxLen <= 0 {
		maxLen = features.DefaultLogMaxLen
	}
	src := trackSource()
	s := &Store{
		client:    client,
		set:       set,
		stream:    StreamKey,
		logMaxLen: maxLen,
		log:       logger.With("component", "redisstore"),
		trackSHA:  redis.NewScript(src).Hash(),
		trackSrc:  src,
		upsert:    redis.NewScript(upsertLua),
	}
	s.batches.New = func() any { return newBatch(set) }
	return s
}

// Open connects to the Redis at url (redis://, rediss:// or unix://, as
// redis.ParseURL reads them), checks it answers PING and returns a store
// that owns the connection. Errors name the server's address, never the
// URL's password.
func Open(ctx context.Context, url string, set *features.Set, opts Options) (*Store, error) {
	ro, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisstore: open: invalid Redis URL: %w", redactURLError(err))
	}
	ro.ContextTimeoutEnabled = true
	client := redis.NewClient(ro)
	s := New(client, set, opts)
	s.owned = true
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, s.fail(ctx, "open redis at "+ro.Addr, err)
	}
	return s, nil
}

// redactURLError drops the URL (and so any password) from a url.Parse error.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Close closes the connection if the store was made by Open.
func (s *Store) Close() error {
	if !s.owned {
		return nil
	}
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("redisstore: close: %w", err)
	}
	return nil
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return s.fail(ctx, "ping", err)
	}
	return nil
}

// customerKey returns the name of one of a customer's keys (see appendKey).
func customerKey(id, suffix string) string {
	var buf [256]byte
	return string(appendKey(buf[:0], id, suffix))
}

// tagHashBytes is how many bytes of an id's SHA-256 a derived tag holds.
const tagHashBytes = 16

// appendKey appends the name of one of customer id's keys,
// k:{<tag>}:<suffix>, to dst. It is the one place that names customer keys;
// the package comment says how the tag is chosen.
func appendKey(dst []byte, id, suffix string) []byte {
	dst = append(dst, "k:{"...)
	if plainTag(id) {
		dst = append(dst, id...)
	} else {
		sum := sha256.Sum256([]byte(id))
		dst = append(dst, '#')
		dst = hex.AppendEncode(dst, sum[:tagHashBytes])
	}
	dst = append(dst, "}:"...)
	return append(dst, suffix...)
}

// plainTag reports whether id can be its own hash tag: it has no '{' or
// '}', and it cannot be mistaken for a derived tag.
func plainTag(id string) bool {
	if strings.ContainsAny(id, "{}") {
		return false
	}
	if len(id) != 1+2*tagHashBytes || id[0] != '#' {
		return true
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return true
		}
	}
	return false
}

// fail wraps err from operation op: the context's error if the context
// ended the call, features.ErrUnavailable if Redis could not be reached or
// cannot serve.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	if causedByContext(err) {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("redisstore: %s: %w", op, cerr)
		}
		// The socket deadline go-redis took from the context can fire a
		// moment before the context's own timer.
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d.Add(-time.Millisecond)) {
			return fmt.Errorf("redisstore: %s: %w", op, context.DeadlineExceeded)
		}
	}
	if unavailable(err) {
		return fmt.Errorf("redisstore: %s: %w: %w", op, features.ErrUnavailable, err)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// unavailable reports whether err means Redis could not be reached or
// cannot serve. Every error that is not a Redis error reply comes from the
// connection (dial, I/O, timeouts, pool, closed client).
func unavailable(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return true
	}
	msg := rerr.Error()
	// Replies of a server that cannot serve right now, as opposed to a bad
	// command or a script bug ("ERR Error running script").
	for _, p := range [...]string{
		"LOADING ", "READONLY ", "MASTERDOWN ", "OOM ", "BUSY ", "TRYAGAIN ",
		"CLUSTERDOWN ", "NOREPLICAS ", "MISCONF ", "ERR max number of clients",
	} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// causedByContext reports whether err is what a call returns when its
// context ends: the context's error, or an I/O timeout at the deadline that
// go-redis set from it (ContextTimeoutEnabled).
func causedByContext(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isNoScript(err error) bool { return redis.HasErrorPrefix(err, "NOSCRIPT") }
