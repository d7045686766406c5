package decisioning

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Timer is a trigger's pending decision: decide Campaign for CustomerID
// once Due comes, unless the timer is cancelled first (an absence
// trigger's follow-up event arrived, or the customer left the journey).
//
// A timer is owned by no process: it waits in the store (a Redis sorted
// set, or memstate's equivalent) and whichever trigger watcher claims it
// when due fires it. A claim is a lease: a watcher that dies before
// Done leaves the timer to be claimed again once the lease ends, so a
// timer fires at least once; its ID is the request id of the decision it
// fires, and Decide answers a repeated request id with the first
// decision, so a timer that fires twice still decides (and sends) once.
type Timer struct {
	// ID identifies the timer: unique per campaign, customer and the
	// event that set it. Setting a timer whose ID is pending changes
	// nothing.
	ID         string    `json:"id"`
	CustomerID string    `json:"customer_id"`
	Campaign   string    `json:"campaign"`
	Due        time.Time `json:"due"`
	// SetAt is when the timer was set and EventID the event that set it.
	SetAt   time.Time `json:"set_at"`
	EventID string    `json:"event_id,omitempty"`
}

// ClaimedTimer is a timer leased to one watcher until LeaseUntil.
type ClaimedTimer struct {
	Timer
	// Token identifies the lease: DoneTimers removes the timer only while
	// this lease holds it.
	Token      string
	LeaseUntil time.Time
}

// Timers is the durable store of trigger timers, shared by every Kairos
// instance. memstate and redisstate implement it; decisioning/timertest
// is its contract suite.
type Timers interface {
	// SetTimers schedules timers atomically. A timer whose ID is already
	// pending (or leased) is left as it is.
	SetTimers(ctx context.Context, ts []Timer) error
	// CancelTimers removes the customer's pending timers of campaign
	// (every campaign when campaign is empty), leased ones included, and
	// returns those it removed; with ids, only those of them whose ID is
	// one of ids.
	CancelTimers(ctx context.Context, customerID, campaign string, ids ...string) ([]Timer, error)
	// ClaimDue leases up to n timers whose Due is at or before now and
	// that no live lease holds, for lease, earliest Due first. A timer
	// whose lease ended is due again.
	ClaimDue(ctx context.Context, now time.Time, lease time.Duration, n int) ([]ClaimedTimer, error)
	// DoneTimers removes fired timers. A timer whose lease was taken over
	// by another claim (or that was cancelled) is left as it is; done[i]
	// reports whether ts[i] was removed by this call.
	DoneTimers(ctx context.Context, ts []ClaimedTimer) (done []bool, err error)
	// PendingTimers lists the customer's timers, earliest Due first.
	PendingTimers(ctx context.Context, customerID string) ([]Timer, error)
	// TimerCount returns the number of timers in the store.
	TimerCount(ctx context.Context) (int64, error)
}

// ErrTimer reports a timer the store refuses: an empty ID, customer or
// campaign, or a zero Due.
var ErrTimer = errors.New("decisioning: invalid timer")

// ValidateTimer checks what every store requires of a timer.
func ValidateTimer(t *Timer) error {
	switch {
	case t.ID == "":
		return fmt.Errorf("%w: id is empty", ErrTimer)
	case t.CustomerID == "":
		return fmt.Errorf("%w: customer_id is empty", ErrTimer)
	case t.Campaign == "":
		return fmt.Errorf("%w: campaign is empty", ErrTimer)
	case t.Due.IsZero():
		return fmt.Errorf("%w: due is zero", ErrTimer)
	}
	return nil
}
