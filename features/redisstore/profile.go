package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"kairos/features"
)

// Profile reads a customer's features and record as of now in one pipeline:
// GET of the record and HGETALL of every key of features.Set.ReadKeys.
func (s *Store) Profile(ctx context.Context, customerID string, now time.Time) (features.Profile, error) {
	pipe := s.client.Pipeline()
	profile := s.QueueProfile(ctx, pipe, customerID, now)
	// Exec reports the first failed command, which may be the GET of an
	// absent record (redis.Nil); profile checks each command.
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return features.Profile{}, s.fail(ctx, "profile", err)
	}
	return profile()
}

// QueueProfile queues the commands of a Profile read on pipe, so that a
// caller can read more of the customer's keys in the same round trip, and
// returns the function that decodes the profile once pipe has run (its
// error, as Profile's, wraps features.ErrUnavailable on Redis failures).
func (s *Store) QueueProfile(ctx context.Context, pipe redis.Pipeliner, customerID string, now time.Time) func() (features.Profile, error) {
	keys := s.set.ReadKeys(now)
	get := pipe.Get(ctx, customerKey(customerID, "c"))
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HGetAll(ctx, customerKey(customerID, k.Suffix()))
	}
	return func() (features.Profile, error) {
		hashes := make([]map[string]string, len(keys))
		for i, c := range cmds {
			h, err := c.Result()
			if err != nil {
				return features.Profile{}, s.fail(ctx, "profile", err)
			}
			hashes[i] = h
		}
		var cust *features.Customer
		switch raw, err := get.Bytes(); {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return features.Profile{}, s.fail(ctx, "profile", err)
		default:
			cust = new(features.Customer)
			if err := json.Unmarshal(raw, cust); err != nil {
				return features.Profile{}, fmt.Errorf("redisstore: profile %q: decode customer record: %w", customerID, err)
			}
		}
		vec, updated := s.set.Compute(now, keys, hashes)
		return features.Profile{CustomerID: customerID, Vector: vec, Customer: cust, UpdatedAt: updated}, nil
	}
}

// CustomerKey returns the name of one of a customer's keys: k:{<tag>}:suffix
// (see the package documentation). Packages that keep more per-customer
// data beside the features (decisioning/redisstate) name their keys with
// it, so that all of a customer's keys share one hash slot.
func CustomerKey(customerID, suffix string) string { return customerKey(customerID, suffix) }

// Client returns the store's Redis client.
func (s *Store) Client() redis.UniversalClient { return s.client }

// Fail classifies a Redis error as the store does: failures to reach or
// use Redis wrap features.ErrUnavailable, a done context is returned as the
// context's error. op names the operation.
func (s *Store) Fail(ctx context.Context, op string, err error) error { return s.fail(ctx, op, err) }

// upsertLua sets a customer record (KEYS[1]) and applies features.UpdatedOp
// (field ARGV[2], time ARGV[3]: OpMax) to the meta hash (KEYS[2]).
const upsertLua = `#!lua
redis.call('SET', KEYS[1], ARGV[1])
local old = redis.call('HGET', KEYS[2], ARGV[2])
if not old or tonumber(ARGV[3]) > (tonumber(old) or 0) then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
end
return 1
`

// UpsertCustomer creates or replaces a customer's record and marks the
// customer's data as changed at now, atomically in one round trip.
func (s *Store) UpsertCustomer(ctx context.Context, c features.Customer, now time.Time) error {
	rec, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("redisstore: upsert customer %q: %w", c.ID, err)
	}
	keys := []string{customerKey(c.ID, "c"), customerKey(c.ID, features.MetaKey.Suffix())}
	if err := s.upsert.Run(ctx, s.client, keys, rec, features.UpdatedField, strconv.FormatInt(now.UnixMilli(), 10)).Err(); err != nil {
		return s.fail(ctx, "upsert customer", err)
	}
	return nil
}
