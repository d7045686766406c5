package features

import (
	"context"
	"errors"
	"time"
)

// ErrUnavailable is returned by a store whose backing system cannot be
// reached. Nothing of the failed call was reported as accepted; the caller
// may retry it (event ids make Track idempotent).
var ErrUnavailable = errors.New("feature store unavailable")

// DedupWeek is the dedup period of an arrival time: the number of whole
// weeks since the Unix epoch. A store remembers an accepted event id for the
// rest of its arrival week and all of the next (7 to 14 days), so a repeat
// within 7 days is always a Duplicate and one after 14 days never is.
func DedupWeek(arrival time.Time) int64 {
	return floorDiv(arrival.UnixMilli(), 7*24*time.Hour.Milliseconds())
}

// Status is what a store did with one event of a Track batch.
type Status uint8

// Statuses of a tracked event.
const (
	// Accepted: the event is new; it is in the event log and, unless it is
	// late, in the customer's features.
	Accepted Status = iota + 1
	// Duplicate: an event with the same id was accepted for the same customer
	// within the dedup horizon (see DedupWeek); nothing changed.
	Duplicate
)

// Store keeps rolling per-customer features and the event log.
//
// Both implementations (memstore, redisstore) pass the shared suite in
// features/storetest.
type Store interface {
	// Track appends valid events (see Set.ValidateEvent) and returns one
	// status per event. It is all or nothing: on error, no event of the batch
	// was reported as accepted and retrying the batch is safe.
	Track(ctx context.Context, events []Event, now time.Time) ([]Status, error)
	// Profile reads a customer's features as of now, in one round trip.
	// A customer Kairos never heard of has an empty profile (zero UpdatedAt),
	// not an error.
	Profile(ctx context.Context, customerID string, now time.Time) (Profile, error)
	// UpsertCustomer creates or replaces a customer's record.
	UpsertCustomer(ctx context.Context, c Customer, now time.Time) error
	// Ping reports whether the store can serve.
	Ping(ctx context.Context) error
}

// Profile is one customer's state as of a read.
type Profile struct {
	CustomerID string
	Vector     Vector
	// Customer is nil when no record was upserted.
	Customer *Customer
	// UpdatedAt is when the last event or record of this customer was
	// accepted; zero when there is none.
	UpdatedAt time.Time
}

// Vector is a feature vector: values in definition order, NaN for "no value".
type Vector struct {
	// Names is shared by every vector of a Set; do not modify it.
	Names  []string
	Values []float64
}

// Get returns the value of the named feature and whether it is defined.
func (v Vector) Get(name string) (float64, bool) {
	for i, n := range v.Names {
		if n == name {
			return v.Values[i], true
		}
	}
	return 0, false
}

// DefaultLogMaxLen is how many entries (Track calls) the event log keeps by
// default; older entries are dropped, read or not. Consumers must keep up.
const DefaultLogMaxLen = 100_000

// LogEntry is one entry of the event log: the events one Track call
// accepted, in request order. (One entry per call rather than per event
// keeps the hot path to one log append per batch.)
type LogEntry struct {
	// ID is the log position; pass it to Ack.
	ID      string
	Events  []Event
	Arrived time.Time
}

// EventLog is the durable, ordered log of accepted events, read through
// consumer groups with at-least-once delivery: an entry read by a consumer
// stays pending for its group until acknowledged, and a pending entry whose
// consumer went away is handed to another by Claim.
type EventLog interface {
	// CreateGroup creates a consumer group that starts at the beginning of
	// the log. Creating an existing group is not an error.
	CreateGroup(ctx context.Context, group string) error
	// Read returns up to count (at least 1) entries never delivered to the
	// group, waiting up to block for the first one (block 0: do not wait).
	Read(ctx context.Context, group, consumer string, count int, block time.Duration) ([]LogEntry, error)
	// Ack marks entries as processed by the group.
	Ack(ctx context.Context, group string, ids ...string) error
	// Claim hands to consumer up to count entries pending in the group for
	// longer than minIdle, e.g. those of a consumer that crashed.
	Claim(ctx context.Context, group, consumer string, minIdle time.Duration, count int) ([]LogEntry, error)
	// Len returns the number of entries in the log.
	Len(ctx context.Context) (int64, error)
}
