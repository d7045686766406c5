package dispatch

import (
	"context"
	"math"
	"sync"
	"time"

	"kairos/internal/retry"
)

// bucket is a token bucket: rate tokens a second, at most burst saved:
// an instance's own rate limit, when no shared Limiter is set or while it
// fails. A nil bucket never waits.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

// newBucket returns a bucket of rate per second (nil when rate is 0) with
// burst tokens (at least 1; rate rounded up when burst is 0).
func newBucket(rate float64, burst int) *bucket {
	if rate <= 0 {
		return nil
	}
	b := float64(burst)
	if b <= 0 {
		b = math.Ceil(rate)
	}
	b = max(b, 1)
	return &bucket{rate: rate, burst: b, tokens: b, last: time.Now()}
}

// wait takes a token, sleeping until one is available; false when ctx
// ended first.
func (b *bucket) wait(ctx context.Context) bool {
	if b == nil {
		return ctx.Err() == nil
	}
	b.mu.Lock()
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens-- // reserve, possibly going negative: later callers queue behind
	need := -b.tokens
	b.mu.Unlock()
	if need <= 0 {
		return ctx.Err() == nil
	}
	if !retry.Sleep(ctx, time.Duration(need/b.rate*float64(time.Second))) {
		b.mu.Lock()
		b.tokens++ // give the reservation back
		b.mu.Unlock()
		return false
	}
	return true
}
