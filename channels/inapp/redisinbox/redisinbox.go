// Package redisinbox is the Redis inapp.Store, beside the feature store's
// keys in each customer's hash slot (redisstore.CustomerKey):
//
//	ib   the inbox's order: a sorted set of message ids scored by creation
//	     time (ms)
//	ibm  the messages: a hash of id → JSON inapp.Message
//
// Both expire TTL after the last put. Put is one script (dedup, add, trim
// to MaxSize, expire); List is one ZREVRANGE and one HMGET; expired
// messages are removed as List meets them.
package redisinbox

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"kairos/channels/inapp"
	"kairos/features/redisstore"
)

// Store is the Redis inbox store.
type Store struct {
	feats *redisstore.Store
	c     redis.UniversalClient
	opts  inapp.Options
	put   *redis.Script
}

var _ inapp.Store = (*Store)(nil)

// New returns a store on the feature store's Redis.
func New(feats *redisstore.Store, opts inapp.Options) *Store {
	return &Store{feats: feats, c: feats.Client(), opts: opts.WithDefaults(), put: redis.NewScript(putLua)}
}

// putLua: KEYS 1 order, 2 messages; ARGV 1 id, 2 score, 3 message,
// 4 max size, 5 TTL (ms). Returns 1 when the message is new.
const putLua = `#!lua
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local max = tonumber(ARGV[4])
local n = redis.call('ZCARD', KEYS[1])
if n > max then
  local old = redis.call('ZRANGE', KEYS[1], 0, n - max - 1)
  redis.call('ZREM', KEYS[1], unpack(old))
  redis.call('HDEL', KEYS[2], unpack(old))
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 1
`

func keys(customerID string) (order, msgs string) {
	return redisstore.CustomerKey(customerID, "ib"), redisstore.CustomerKey(customerID, "ibm")
}

// Put implements inapp.Store.
func (s *Store) Put(ctx context.Context, m inapp.Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("redisinbox: put %s: %w", m.ID, err)
	}
	order, msgs := keys(m.CustomerID)
	ttl := max(s.opts.TTL, m.ExpiresAt.Sub(m.CreatedAt))
	if err := s.put.Run(ctx, s.c, []string{order, msgs}, m.ID, m.CreatedAt.UnixMilli(), raw, s.opts.MaxSize, ttl.Milliseconds()).Err(); err != nil {
		return s.feats.Fail(ctx, "redisinbox: put", err)
	}
	return nil
}

// List implements inapp.Store.
func (s *Store) List(ctx context.Context, customerID string, limit int, now time.Time) ([]inapp.Message, error) {
	if err := inapp.CheckLimit(limit); err != nil {
		return nil, err
	}
	order, msgs := keys(customerID)
	ids, err := s.c.ZRevRange(ctx, order, 0, int64(s.opts.MaxSize)-1).Result()
	if err != nil {
		return nil, s.feats.Fail(ctx, "redisinbox: list", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	vals, err := s.c.HMGet(ctx, msgs, ids...).Result()
	if err != nil {
		return nil, s.feats.Fail(ctx, "redisinbox: list", err)
	}
	var out []inapp.Message
	var expired []string
	for i, v := range vals {
		raw, ok := v.(string)
		if !ok {
			expired = append(expired, ids[i]) // order without message
			continue
		}
		var m inapp.Message
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			return nil, fmt.Errorf("redisinbox: list %q: message %s: %w", customerID, ids[i], err)
		}
		if !m.ExpiresAt.After(now) {
			expired = append(expired, ids[i])
			continue
		}
		if len(out) < limit {
			out = append(out, m)
		}
	}
	if len(expired) > 0 {
		if _, err := s.Ack(ctx, customerID, expired); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Ack implements inapp.Store: one transaction.
func (s *Store) Ack(ctx context.Context, customerID string, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	order, msgs := keys(customerID)
	members := make([]any, len(ids))
	for i, id := range ids {
		members[i] = id
	}
	pipe := s.c.TxPipeline()
	n := pipe.ZRem(ctx, order, members...)
	pipe.HDel(ctx, msgs, ids...)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, s.feats.Fail(ctx, "redisinbox: ack", err)
	}
	return int(n.Val()), nil
}
