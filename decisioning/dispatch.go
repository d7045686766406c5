package decisioning

import (
	"context"
	"errors"
	"time"
)

// Dispatch statuses: the result of one attempt to deliver a SEND
// decision's message, as the ledger records it (ledger.Dispatch.Status).
const (
	// DispatchSent: the provider accepted the message. Final.
	DispatchSent = "sent"
	// DispatchFailed: a transient failure (timeout, 5xx, 429); the message
	// is tried again later.
	DispatchFailed = "failed"
	// DispatchDead: the last allowed attempt failed transiently; the
	// message is dead-lettered. Final.
	DispatchDead = "dead"
	// DispatchBounced: the provider refused the address for good (hard
	// bounce, unregistered token, invalid number); the channel is marked
	// unreachable for the customer until their address changes. Final.
	DispatchBounced = "bounced"
	// DispatchInvalid: the message itself cannot be sent (no transport or
	// template for it, a template that fails, content the provider
	// refuses); the address is not at fault. Final.
	DispatchInvalid = "invalid"
	// DispatchCancelled: no longer allowed, or no longer timely, when its
	// time came (consent revoked, address removed, older than the
	// channel's max_age). Final.
	DispatchCancelled = "cancelled"
	// DispatchUnknown: an attempt was interrupted (its dispatcher died
	// while sending) on a channel whose provider cannot deduplicate; the
	// message may or may not have been delivered, and it is not sent again
	// so that it is never delivered twice. Final.
	DispatchUnknown = "unknown"
	// DispatchInterrupted: an attempt interrupted on a channel whose
	// provider deduplicates by the decision id; the message is sent again
	// under the same id as the next attempt.
	DispatchInterrupted = "interrupted"
)

// DispatchFinal reports whether a status ends the message's dispatch.
func DispatchFinal(status string) bool {
	return status != DispatchFailed && status != DispatchInterrupted
}

// DispatchReleases reports whether a final status gives the message's
// place in the frequency caps back: it was certainly not delivered.
func DispatchReleases(status string) bool {
	switch status {
	case DispatchDead, DispatchBounced, DispatchInvalid, DispatchCancelled:
		return true
	}
	return false
}

// DispatchJob is one SEND decision waiting for delivery.
type DispatchJob struct {
	// Ref is the job's position in the queue, passed back to Defer,
	// Begin and Settle.
	Ref      string
	Decision Decision
	// Record is the queue's encoding of Decision, kept so that the job is
	// queued again byte for byte.
	Record []byte
	// Attempt is the number of the attempt Begin started (1 for the
	// first), or of the interrupted one it reported; set by Begin.
	Attempt int
	// Token identifies the lease Begin took; Settle presents it. A store
	// recognises a repeated call with the same token (a client retrying
	// after a lost reply) and answers it as the first.
	Token string
}

// Begin is the result of DispatchQueue.Begin.
type Begin uint8

const (
	// Begun: the attempt is started and leased to the caller, who must
	// Settle it.
	Begun Begin = iota + 1
	// Skip: the message was settled already, or waits for a retry later
	// (which stays scheduled); this copy of the job was removed from the
	// queue and there is nothing to do.
	Skip
	// Busy: another dispatcher's attempt is in flight (its lease has not
	// expired); the job stays queued.
	Busy
	// Interrupted: an earlier attempt (job.Attempt) started and its lease
	// expired without a result (its dispatcher died while sending). The
	// caller now holds that attempt's lease (its former holder can no
	// longer settle it) and settles it: as DispatchInterrupted, then
	// begins again, when the provider deduplicates by decision id; as
	// DispatchUnknown otherwise.
	Interrupted
)

// Settlement is the result of one attempt, recorded by DispatchQueue.Settle.
type Settlement struct {
	// Status is one of the Dispatch statuses (not DispatchInterrupted).
	Status string
	// ProviderID is the provider's message id of a sent message.
	ProviderID string
	// Error describes a failure; empty when sent.
	Error string
	// At is when the attempt finished: for DispatchSent, when the message
	// counts in the caps from.
	At time.Time
	// RetryAt is when a DispatchFailed message is tried again.
	RetryAt time.Time
	// Unreachable is the address a DispatchBounced message was refused
	// at; the channel is unreachable for the customer while their address
	// on it is this one.
	Unreachable string
}

// ErrStale is returned by Settle when the attempt is no longer the
// message's current one (another dispatcher took it over after the lease
// expired); nothing was recorded.
var ErrStale = errors.New("decisioning: the dispatch attempt is no longer current")

// DispatchQueue is the durable queue of SEND decisions, fed by
// State.Commit and consumed by the dispatchers of every instance. Each
// message is delivered at most once: Begin leases an attempt, Settle
// records its result, the ledger record of the attempt and the effect on
// the caps atomically.
type DispatchQueue interface {
	// NextDispatches returns up to n jobs for consumer: messages whose
	// wait (send_after, a retry's backoff, a Defer) is over, jobs pending
	// longer than claimIdle with a consumer that went away, and new ones,
	// waiting up to block for the first.
	NextDispatches(ctx context.Context, consumer string, n int, claimIdle, block time.Duration) ([]DispatchJob, error)
	// Defer puts a job back to wait until at, without an attempt.
	Defer(ctx context.Context, job *DispatchJob, at time.Time) error
	// Begin starts the job's next attempt, leased to the caller until
	// leaseUntil, and sets job.Attempt to its number (see Begin for the
	// other results).
	Begin(ctx context.Context, job *DispatchJob, now, leaseUntil time.Time) (Begin, error)
	// Settle records the result of the job's current attempt (job.Attempt)
	// atomically with its ledger record and its effects, and, unless the
	// status is DispatchInterrupted, removes the job from the queue:
	// DispatchSent moves the message's place in the customer's caps to
	// s.At; DispatchFailed queues it again at s.RetryAt; the statuses
	// DispatchReleases names remove it from the caps; DispatchBounced marks
	// the channel unreachable; DispatchDead adds it to the dead letters.
	// ErrStale: the attempt is not current, or its lease was taken over.
	// A repeated call (same token and attempt) after a success returns nil
	// and records nothing more.
	Settle(ctx context.Context, job *DispatchJob, s Settlement) error
	// DispatchStatus summarises the queue for operators.
	DispatchStatus(ctx context.Context, deadLetters int) (DispatchStatus, error)
}

// DispatchStatus is a summary of the dispatch queue.
type DispatchStatus struct {
	// Ready counts messages waiting for a dispatcher; InFlight those
	// delivered to a dispatcher and not settled; Scheduled those waiting
	// for a time (quiet hours, retry backoff).
	Ready     int64 `json:"ready"`
	InFlight  int64 `json:"in_flight"`
	Scheduled int64 `json:"scheduled"`
	// NextScheduled is when the earliest scheduled message is due; zero
	// when none is.
	NextScheduled time.Time `json:"next_scheduled,omitzero"`
	// Totals counts settled attempts by channel and status since the
	// queue was created.
	Totals map[string]map[string]int64 `json:"totals"`
	// DeadLetters is the number of dead-lettered messages; Dead the most
	// recent ones, newest first.
	DeadLetters int64          `json:"dead_letters"`
	Dead        []DeadDispatch `json:"dead,omitempty"`
}

// DeadDispatch is a dead-lettered message.
type DeadDispatch struct {
	DecisionID string    `json:"decision_id"`
	CustomerID string    `json:"customer_id"`
	Campaign   string    `json:"campaign"`
	Channel    string    `json:"channel"`
	Attempts   int       `json:"attempts"`
	Error      string    `json:"error"`
	At         time.Time `json:"at"`
}
