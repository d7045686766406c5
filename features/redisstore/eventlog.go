package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"kairos/features"
)

// DecodeError reports log entries that could not be decoded. Read and
// Claim return it together with the entries that could be decoded; the
// undecodable ones stay pending in the group until acknowledged, so a
// consumer should log and Ack them (or move them aside) rather than retry.
type DecodeError struct {
	// IDs are the undecodable entries, in log order.
	IDs []string
	// Err is the decoding error of the first of them.
	Err error
}

func (e *DecodeError) Error() string {
	msg := fmt.Sprintf("undecodable log entry %s: %v", e.IDs[0], e.Err)
	if len(e.IDs) > 1 {
		msg += fmt.Sprintf(" (and %d more: %s)", len(e.IDs)-1, strings.Join(e.IDs[1:], " "))
	}
	return msg
}

// Unwrap returns the first decoding error.
func (e *DecodeError) Unwrap() error { return e.Err }

// CreateGroup creates a consumer group reading the log from its beginning,
// creating the stream if needed. An existing group is left as it is.
func (s *Store) CreateGroup(ctx context.Context, group string) error {
	err := s.client.XGroupCreateMkStream(ctx, s.stream, group, "0").Err()
	if err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
		return s.fail(ctx, "create group "+group, err)
	}
	return nil
}

// Read returns up to count entries never delivered to group, waiting up to
// block for the first (block 0: do not wait). The entries stay pending for
// consumer until acknowledged. On a *DecodeError the decodable entries are
// returned along with it.
func (s *Store) Read(ctx context.Context, group, consumer string, count int, block time.Duration) ([]features.LogEntry, error) {
	if count <= 0 {
		return nil, fmt.Errorf("redisstore: read: count must be positive, got %d", count)
	}
	// go-redis sends no BLOCK for a negative Block; BLOCK 0 would wait
	// forever. A positive block is rounded up to whole milliseconds.
	b := time.Duration(-1)
	if block > 0 {
		b = (block + time.Millisecond - 1).Truncate(time.Millisecond)
	}
	res, err := s.client.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group:    group,
		Consumer: consumer,
		Streams:  []string{s.stream, ">"},
		Count:    int64(count),
		Block:    b,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil // nothing new within block
	}
	if err != nil {
		return nil, s.fail(ctx, "read", err)
	}
	var msgs []redis.XMessage
	for _, st := range res {
		msgs = append(msgs, st.Messages...)
	}
	return decodeEntries("read", msgs)
}

// Ack marks entries as processed by group.
func (s *Store) Ack(ctx context.Context, group string, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := s.client.XAck(ctx, s.stream, group, ids...).Err(); err != nil {
		return s.fail(ctx, "ack", err)
	}
	return nil
}

// Claim hands to consumer up to count entries that have been pending in
// group for at least minIdle (XAUTOCLAIM). On a *DecodeError the decodable
// entries are returned along with it.
func (s *Store) Claim(ctx context.Context, group, consumer string, minIdle time.Duration, count int) ([]features.LogEntry, error) {
	if count <= 0 {
		return nil, fmt.Errorf("redisstore: claim: count must be positive, got %d", count)
	}
	if minIdle > 0 && minIdle < time.Millisecond {
		minIdle = time.Millisecond
	}
	var msgs []redis.XMessage
	// XAUTOCLAIM scans a bounded part of the pending list per call; go on
	// from its cursor until count entries or the end of the list.
	for start := "0-0"; len(msgs) < count; {
		got, next, err := s.client.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream:   s.stream,
			Group:    group,
			Consumer: consumer,
			MinIdle:  minIdle,
			Start:    start,
			Count:    int64(count - len(msgs)),
		}).Result()
		if err != nil {
			return nil, s.fail(ctx, "claim", err)
		}
		msgs = append(msgs, got...)
		if next == "0-0" {
			break
		}
		start = next
	}
	return decodeEntries("claim", msgs)
}

// Len returns the number of entries in the log.
func (s *Store) Len(ctx context.Context) (int64, error) {
	n, err := s.client.XLen(ctx, s.stream).Result()
	if err != nil {
		return 0, s.fail(ctx, "len", err)
	}
	return n, nil
}

// decodeEntries decodes stream entries written by Track.
func decodeEntries(op string, msgs []redis.XMessage) ([]features.LogEntry, error) {
	out := make([]features.LogEntry, 0, len(msgs))
	var bad *DecodeError
	for _, m := range msgs {
		var (
			evs []features.Event
			at  time.Time
			err error
		)
		if raw, ok := m.Values["e"].(string); ok {
			evs, at, err = features.DecodeLogEntry([]byte(raw))
		} else {
			err = errors.New(`no field "e"`)
		}
		if err != nil {
			if bad == nil {
				bad = &DecodeError{Err: err}
			}
			bad.IDs = append(bad.IDs, m.ID)
			continue
		}
		out = append(out, features.LogEntry{ID: m.ID, Events: evs, Arrived: at})
	}
	if bad != nil {
		return out, fmt.Errorf("redisstore: %s: %w", op, bad)
	}
	return out, nil
}
