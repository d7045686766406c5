// Package ledger owns the durable record of what Kairos decided and did:
// decisions (holdouts and suppressions included, as measurement depends on
// them), dispatch attempts, and closed reward windows. It declares the
// Ledger contract, its two errors and its validation rules, and holds
// Memory, the embedded ledger; ledger/pgledger is the PostgreSQL one and
// ledger/ledgertest the suite both pass. Queue and Drainer carry records
// from the decision path to a Ledger in batches.
//
// It is pure: it imports decisioning but must not import pgx, Redis or
// gRPC.
//
// # Contract
//
// Writes are idempotent, so that a batch may be retried after an error or
// replayed after a crash: a decision is identified by Decision.ID, a reward
// by (Reward.DecisionID, Reward.Metric) — a decision has one reward for its
// reward window (Metric "") and one per metric window — and a dispatch by
// (DecisionID, Attempt). The first
// record written under a key wins; a later one with the same key, even a
// changed copy (or a second one in the same batch), is ignored without
// error. A batch with an invalid record (see ValidateDecision,
// ValidateReward, ValidateDispatch) is refused as a whole before anything is
// written.
//
// A record reads back exactly as written (NaN and ±Inf scores, features
// and probabilities, the sign of zero, nil versus empty slices and maps
// are all kept) except for its times, which every implementation keeps
// alike: truncated (toward the past) to the microsecond, PostgreSQL's
// resolution (Precision), and read back in UTC; a zero time stays zero.
// Query bounds are truncated the same way, so that filters and order agree
// across implementations. Time returns a time as a ledger keeps it.
//
// Decisions and rewards are listed in the order of their time (decided_at,
// closed_at), ties broken by decision id (and, for rewards, then by metric).
// Rewards lists the rewards of metric windows too: a reader that wants one
// reward per decision keeps those with Metric "" only.
package ledger

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"kairos/decisioning"
)

// ErrNotFound is returned for a decision the ledger does not hold.
var ErrNotFound = errors.New("ledger: not found")

// ErrUnavailable is wrapped by the errors of an implementation that cannot
// reach its database (connection refused or lost, server shutting down);
// the operation may succeed when retried later. Invalid data and other
// failures do not wrap it.
var ErrUnavailable = errors.New("ledger unavailable")

// ErrRefused is wrapped by the error of a write the ledger refuses because
// of the data itself (a record that fails ValidateDecision, ValidateReward
// or ValidateDispatch, or that the database rejects as invalid): retrying
// it cannot succeed. Every other failure may be retried.
var ErrRefused = errors.New("ledger refused the record")

// refusal marks a validation error as ErrRefused, keeping its message.
type refusal struct{ err error }

func (r refusal) Error() string   { return r.err.Error() }
func (r refusal) Unwrap() []error { return []error{r.err, ErrRefused} }

func refuse(err error) error {
	if err == nil {
		return nil
	}
	return refusal{err}
}

// Precision is the resolution of the times a ledger keeps.
const Precision = time.Microsecond

// MaxKeyLen bounds the length in bytes of the identifiers a ledger indexes:
// decision ids, customer ids, campaign names and dispatch statuses.
const MaxKeyLen = 1024

// Ledger is the durable record of decisions, dispatches and rewards.
// Implementations are safe for concurrent use.
type Ledger interface {
	// WriteDecisions records decisions; idempotent by Decision.ID: a
	// decision already recorded is left unchanged, so a batch may be
	// retried or replayed.
	WriteDecisions(ctx context.Context, ds []decisioning.Decision) error
	// WriteRewards records closed reward and metric windows; idempotent
	// by (Reward.DecisionID, Reward.Metric).
	WriteRewards(ctx context.Context, rs []decisioning.Reward) error
	// WriteDispatches records dispatch attempts; idempotent by
	// (DecisionID, Attempt).
	WriteDispatches(ctx context.Context, ds []Dispatch) error
	// Decision returns the decision with the given id, or an error
	// wrapping ErrNotFound.
	Decision(ctx context.Context, id string) (decisioning.Decision, error)
	// Decisions returns the decisions matching q by DecidedAt, ordered by
	// (DecidedAt, ID).
	Decisions(ctx context.Context, q Query) ([]decisioning.Decision, error)
	// Rewards returns the rewards matching q by ClosedAt, those of metric
	// windows included, ordered by (ClosedAt, DecisionID, Metric).
	Rewards(ctx context.Context, q Query) ([]decisioning.Reward, error)
	// Dispatches returns a decision's dispatch attempts ordered by
	// Attempt; none (and no error) for a decision without any.
	Dispatches(ctx context.Context, decisionID string) ([]Dispatch, error)
	// Ping reports whether the ledger is reachable; an error wraps
	// ErrUnavailable when it is not.
	Ping(ctx context.Context) error
}

// Query selects decisions (by DecidedAt) or rewards (by ClosedAt).
type Query struct {
	// Campaign and CustomerID, when not empty, select that campaign's or
	// customer's records only.
	Campaign, CustomerID string
	// From and To bound the time to the half-open interval [From, To); a
	// zero time leaves that side unbounded.
	From, To time.Time
	// Limit caps the number of records returned, the earliest first; zero
	// means no limit.
	Limit int
}

// Validate reports a query no ledger can answer: a negative limit.
func (q Query) Validate() error {
	if q.Limit < 0 {
		return fmt.Errorf("ledger: query limit %d is negative", q.Limit)
	}
	return nil
}

// Dispatch is one attempt to deliver the message of a decision that sends.
// The channels package decides the vocabulary of Status; the ledger keeps
// what it is given.
type Dispatch struct {
	DecisionID string `json:"decision_id"`
	// Attempt numbers the attempts of one decision, from 0 or 1 as the
	// dispatcher counts; never negative.
	Attempt int `json:"attempt"`
	// Status is the attempt's result, e.g. "sent", "failed", "rejected".
	Status  string `json:"status"`
	Channel string `json:"channel"`
	// ProviderMessageID is the transport's id of the message; empty when
	// the provider gave none.
	ProviderMessageID string `json:"provider_message_id,omitempty"`
	// Error describes a failed attempt; empty otherwise.
	Error string `json:"error,omitempty"`
	// At is when the attempt finished.
	At time.Time `json:"at"`
}

// Time returns t as a ledger keeps it: truncated to Precision, in UTC. A
// zero time stays zero.
func Time(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(Precision).UTC()
}

// ValidateDecision reports why a ledger must refuse d: an empty id,
// customer or campaign, an unknown outcome, a zero DecidedAt, an arm index
// or segment beyond 32 bits, an identifier longer than MaxKeyLen, or text
// (any string, map key or value) that is not valid UTF-8 or holds a NUL
// byte, which PostgreSQL cannot store.
func ValidateDecision(d *decisioning.Decision) error { return refuse(validateDecision(d)) }

func validateDecision(d *decisioning.Decision) error {
	if err := checkKeys("decision_id", d.ID, "customer_id", d.CustomerID, "campaign", d.Campaign); err != nil {
		return fmt.Errorf("ledger: decision %q: %w", d.ID, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("ledger: decision %q: "+format, append([]any{d.ID}, args...)...)
	}
	if _, err := decisioning.ParseOutcome(d.Outcome.String()); err != nil {
		return bad("outcome %d is not a known outcome", uint8(d.Outcome))
	}
	if d.DecidedAt.IsZero() {
		return bad("decided_at is zero")
	}
	if d.ArmIndex < math.MinInt32 || d.ArmIndex > math.MaxInt32 {
		return bad("arm_index %d is out of range", d.ArmIndex)
	}
	if d.Segment < math.MinInt32 || d.Segment > math.MaxInt32 {
		return bad("segment %d is out of range", d.Segment)
	}
	// The names of the fields are only made for an error: this runs for
	// every decision written.
	for i, s := range [...]string{d.RequestID, d.Channel, d.Offer, d.RewardEvent, d.RewardValue} {
		if p := textProblem(s); p != "" {
			return bad("%s %s", [...]string{"request_id", "channel", "offer", "reward_event", "reward_value"}[i], p)
		}
	}
	for i, m := range d.Metrics {
		if p := textProblem(m.Name); p != "" {
			return bad("metrics[%d].name %s", i, p)
		}
		if p := textProblem(m.Event); p != "" {
			return bad("metrics[%d].event %s", i, p)
		}
	}
	for i, a := range d.Arms {
		if p := textProblem(a.Channel); p != "" {
			return bad("arms[%d].channel %s", i, p)
		}
		if p := textProblem(a.Offer); p != "" {
			return bad("arms[%d].offer %s", i, p)
		}
	}
	for i, s := range d.Reasons {
		if p := textProblem(s); p != "" {
			return bad("reasons[%d] %s", i, p)
		}
	}
	for i, s := range d.FeatureNames {
		if p := textProblem(s); p != "" {
			return bad("feature_names[%d] %s", i, p)
		}
	}
	for k, v := range d.Versions {
		if p := cmp.Or(textProblem(k), textProblem(v)); p != "" {
			return bad("versions[%q] %s", k, p)
		}
	}
	for k, v := range d.Context {
		if p := cmp.Or(textProblem(k), textProblem(v)); p != "" {
			return bad("context[%q] %s", k, p)
		}
	}
	for k := range d.Scores.NextBestAction {
		if p := textProblem(k); p != "" {
			return bad("scores.next_best_action[%q] %s", k, p)
		}
	}
	return nil
}

// ValidateReward reports why a ledger must refuse r: an empty decision id,
// customer or campaign, a zero ClosedAt, an identifier (the metric
// included) longer than MaxKeyLen, or text that is not valid UTF-8 or
// holds a NUL byte.
func ValidateReward(r *decisioning.Reward) error { return refuse(validateReward(r)) }

func validateReward(r *decisioning.Reward) error {
	if err := checkKeys("decision_id", r.DecisionID, "customer_id", r.CustomerID, "campaign", r.Campaign); err != nil {
		return fmt.Errorf("ledger: reward of decision %q: %w", r.DecisionID, err)
	}
	if err := checkText("event_id", r.EventID); err != nil {
		return fmt.Errorf("ledger: reward of decision %q: %w", r.DecisionID, err)
	}
	if err := checkText("metric", r.Metric); err != nil {
		return fmt.Errorf("ledger: reward of decision %q: %w", r.DecisionID, err)
	}
	if len(r.Metric) > MaxKeyLen {
		return fmt.Errorf("ledger: reward of decision %q: metric is %d bytes long, more than %d", r.DecisionID, len(r.Metric), MaxKeyLen)
	}
	if r.ClosedAt.IsZero() {
		return fmt.Errorf("ledger: reward of decision %q: closed_at is zero", r.DecisionID)
	}
	return nil
}

// ValidateDispatch reports why a ledger must refuse d: an empty decision
// id or status, a negative or too large attempt, a zero At, an identifier
// longer than MaxKeyLen, or text that is not valid UTF-8 or holds a NUL
// byte.
func ValidateDispatch(d *Dispatch) error { return refuse(validateDispatch(d)) }

func validateDispatch(d *Dispatch) error {
	bad := func(err error) error {
		return fmt.Errorf("ledger: dispatch %d of decision %q: %w", d.Attempt, d.DecisionID, err)
	}
	if err := checkKeys("decision_id", d.DecisionID, "status", d.Status); err != nil {
		return bad(err)
	}
	if d.Attempt < 0 || d.Attempt > math.MaxInt32 {
		return bad(fmt.Errorf("attempt %d is out of range", d.Attempt))
	}
	for _, f := range []struct{ name, s string }{
		{"channel", d.Channel}, {"provider_message_id", d.ProviderMessageID}, {"error", d.Error},
	} {
		if err := checkText(f.name, f.s); err != nil {
			return bad(err)
		}
	}
	if d.At.IsZero() {
		return bad(errors.New("at is zero"))
	}
	return nil
}

// checkKeys checks (name, value) pairs of identifiers: not empty, at most
// MaxKeyLen bytes, storable text.
func checkKeys(pairs ...string) error {
	for i := 0; i < len(pairs); i += 2 {
		name, s := pairs[i], pairs[i+1]
		switch {
		case s == "":
			return fmt.Errorf("%s is empty", name)
		case len(s) > MaxKeyLen:
			return fmt.Errorf("%s is %d bytes long, more than %d", name, len(s), MaxKeyLen)
		}
		if err := checkText(name, s); err != nil {
			return err
		}
	}
	return nil
}

// checkText reports text PostgreSQL cannot store: invalid UTF-8 or a NUL.
func checkText(name, s string) error {
	if p := textProblem(s); p != "" {
		return fmt.Errorf("%s %s", name, p)
	}
	return nil
}

// textProblem says why PostgreSQL cannot store s as text, or "".
func textProblem(s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "holds a NUL byte"
	}
	return ""
}
