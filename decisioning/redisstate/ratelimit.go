package redisstate

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
)

// rateKeyPrefix starts the key of a shared rate limit: kairos:rate:<name>
// holds the limit's theoretical arrival time (µs on Redis's clock).
const rateKeyPrefix = "kairos:rate:"

// reserveLua takes the next slot of a rate limit (the generic cell rate
// algorithm) and returns how long the caller waits before using it, in
// µs. The clock is Redis's, so every instance shares one schedule.
// KEYS: 1 the limit's key. ARGV: 1 rate (per second), 2 burst.
const reserveLua = `#!lua
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = 1000000 / tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
local next = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.ceil((next - now) / 1000) + 1000)
return math.floor(wait)
`

var reserveScript = redis.NewScript(reserveLua)

// Reserve takes the next slot of the rate limit name, shared by every
// instance on this Redis: rate slots a second, bursts of up to burst
// (at least 1). It returns how long to wait before using the slot.
func (s *State) Reserve(ctx context.Context, name string, rate float64, burst int) (time.Duration, error) {
	if rate <= 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
		return 0, fmt.Errorf("redisstate: rate limit %s: rate %v must be a positive number", name, rate)
	}
	us, err := reserveScript.Run(ctx, s.client, []string{rateKeyPrefix + name}, rate, max(burst, 1)).Int64()
	if err != nil {
		return 0, s.fail(ctx, "reserve rate limit "+name, err)
	}
	return time.Duration(us) * time.Microsecond, nil
}
