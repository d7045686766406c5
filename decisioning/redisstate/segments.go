package redisstate

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"kairos/decisioning"
)

// The live segments (decisioning.Segments):
//
//	kairos:seg:{<name>}        set of the segment's members
//	kairos:seg:{<name>}:days   hash YYYY-MM-DD → the segment's size at the day's last change
//
// A segment spans customers, so its keys carry the segment's hash tag,
// not a customer's: in Redis Cluster both live in the segment's slot.
func segmentKey(name string) string { return "kairos:seg:{" + name + "}" }

var _ decisioning.Segments = (*State)(nil)

// setMember adds (ARGV[2] = "1") or removes ARGV[1] in set KEYS[1]; when
// that changed the set, it records its size under day ARGV[3] in hash
// KEYS[2] and returns 1.
var setMember = redis.NewScript(`#!lua
local changed
if ARGV[2] == '1' then changed = redis.call('SADD', KEYS[1], ARGV[1]) else changed = redis.call('SREM', KEYS[1], ARGV[1]) end
if changed == 1 then redis.call('HSET', KEYS[2], ARGV[3], redis.call('SCARD', KEYS[1])) end
return changed
`)

// SetMember implements decisioning.Segments: one script.
func (s *State) SetMember(ctx context.Context, segment, customerID string, in bool, at time.Time) (bool, error) {
	v := "0"
	if in {
		v = "1"
	}
	n, err := setMember.Run(ctx, s.client, []string{segmentKey(segment), segmentKey(segment) + ":days"},
		customerID, v, at.UTC().Format(time.DateOnly)).Int()
	if err != nil {
		return false, s.fail(ctx, "segment membership", err)
	}
	return n == 1, nil
}

// SegmentSize implements decisioning.Segments.
func (s *State) SegmentSize(ctx context.Context, segment string) (int64, error) {
	n, err := s.client.SCard(ctx, segmentKey(segment)).Result()
	if err != nil {
		return 0, s.fail(ctx, "segment size", err)
	}
	return n, nil
}

// SegmentMembers implements decisioning.Segments with SSCAN: a page may
// hold a few more or fewer than n, and the cursor is Redis's.
func (s *State) SegmentMembers(ctx context.Context, segment, cursor string, n int) ([]string, string, error) {
	var c uint64
	if cursor != "" {
		var err error
		if c, err = strconv.ParseUint(cursor, 10, 64); err != nil {
			return nil, "", fmt.Errorf("redisstate: segment cursor %q is not one a previous page returned", cursor)
		}
	}
	ids, next, err := s.client.SScan(ctx, segmentKey(segment), c, "", int64(max(n, 1))).Result()
	if err != nil {
		return nil, "", s.fail(ctx, "segment members", err)
	}
	nc := ""
	if next != 0 {
		nc = strconv.FormatUint(next, 10)
	}
	return ids, nc, nil
}

// SegmentHistory implements decisioning.Segments.
func (s *State) SegmentHistory(ctx context.Context, segment string) ([]decisioning.SegmentDay, error) {
	m, err := s.client.HGetAll(ctx, segmentKey(segment)+":days").Result()
	if err != nil {
		return nil, s.fail(ctx, "segment history", err)
	}
	out := make([]decisioning.SegmentDay, 0, len(m))
	for d, v := range m {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("redisstate: segment %s: size %q of %s: %w", segment, v, d, err)
		}
		out = append(out, decisioning.SegmentDay{Date: d, Size: n})
	}
	slices.SortFunc(out, func(a, b decisioning.SegmentDay) int { return strings.Compare(a.Date, b.Date) })
	return out, nil
}
