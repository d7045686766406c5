// Package retry holds what the background loops of Kairos (the archiver,
// the reward joiner, the ledger drainer) share to wait between attempts.
package retry

import (
	"context"
	"time"
)

// Sleep waits for d or until ctx ends, and reports whether it waited the
// whole time (false: ctx ended).
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
