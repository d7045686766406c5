package decisioning

import (
	"context"
	"errors"
	"time"

	"kairos/decisioning/bandit"
	"kairos/features"
	"kairos/models"
)

// Snapshot is what Decide reads about a customer, in one round trip.
type Snapshot struct {
	Profile features.Profile
	// Sent are the messages sent to the customer since the time Load was
	// given, oldest first.
	Sent []Sent
	// Prior is the decision returned to an earlier request with the same
	// request id; nil when the request is new.
	Prior *Decision
	// SentToken identifies the newest of Sent (empty when there is none);
	// Commit refuses to add a send when it changed (ErrConflict).
	SentToken string
	// Unreachable maps a channel to the customer's address on it that the
	// provider refused for good (DispatchBounced); the channel is
	// unreachable while the customer's address is still that one.
	Unreachable map[string]string
}

// ErrConflict is returned by State.Commit when a message was sent to the
// customer between Load and Commit: the caps and cooldowns Decide checked
// are stale, and it decides again.
var ErrConflict = errors.New("decisioning: the customer's sends changed while deciding")

// State is the per-customer decision state (recent sends, request ids,
// open reward windows) beside the feature store, and the queues fed by
// Commit. decisioning/redisstate and decisioning/memstate implement it.
type State interface {
	// Load reads the customer's features and record, the messages sent to
	// them at or after since, and, when requestID is not empty, the
	// decision an earlier request with that id returned — in one round
	// trip. Store outages wrap features.ErrUnavailable.
	Load(ctx context.Context, customerID, requestID string, now, since time.Time) (Snapshot, error)
	// Commit records the decisions of one request atomically; ds[0] is the
	// one returned to the caller. When requestID is not empty and an
	// earlier Commit recorded it, Commit records nothing and returns the
	// decision returned then. When a decision Sends and the customer's
	// newest send is no longer the one sentToken (Snapshot.SentToken)
	// names, it records nothing and returns ErrConflict, so caps and
	// cooldowns hold under concurrent decisions. Otherwise every decision
	// is queued for the ledger, every decision that Sends is added to the
	// customer's sends and queued for dispatch, and the windows of every
	// Open decision (WindowsOf: its reward window and its metric windows)
	// are registered for the reward joiner; it returns nil.
	Commit(ctx context.Context, requestID, sentToken string, ds []Decision) (prior *Decision, err error)
}

// Scorer scores a feature vector: models.Registry.
type Scorer interface {
	Score(vec features.Vector, s *models.Scores)
}

var _ Scorer = (*models.Registry)(nil)

// PolicyStore keeps the learned bandit state of every campaign, shared by
// every Kairos instance.
type PolicyStore interface {
	// LoadPolicies returns the stored state of each named campaign that has
	// one.
	LoadPolicies(ctx context.Context, campaigns []string) (map[string]*bandit.State, error)
	// UpdatePolicy applies fn to the campaign's stored state (nil when there
	// is none) and stores what fn returns, atomically with respect to
	// other updates (it may call fn again when another update raced it).
	UpdatePolicy(ctx context.Context, campaign string, fn func(*bandit.State) (*bandit.State, error)) error
}

// Window is an open window of a decision: its reward window (Metric "")
// or one of its metric windows. A window is identified by (DecisionID,
// Metric): WindowKey.
type Window struct {
	DecisionID string `json:"decision_id"`
	CustomerID string `json:"customer_id"`
	Campaign   string `json:"campaign"`
	// Metric names the metric of a metric window; "" for the reward
	// window. Only reward windows teach the policy.
	Metric string `json:"metric,omitempty"`
	// Outcome is the decision's: the joiner records every window's reward,
	// but only SEND and NO_ACTION (the none arm) teach the policy — a
	// held-out arm was never sent.
	Outcome       Outcome   `json:"outcome"`
	ArmIndex      int       `json:"arm_index"`
	Segment       int       `json:"segment"`
	PolicyContext []float64 `json:"policy_context,omitempty"`
	DecidedAt     time.Time `json:"decided_at"`
	// RewardEvent, RewardValue and RewardUntil are the window's: for a
	// metric window its event, "1" and DecidedAt + its within.
	RewardEvent string    `json:"reward_event"`
	RewardValue string    `json:"reward_value"`
	RewardUntil time.Time `json:"reward_until"`
}

// WindowOf returns the reward window of an Open decision.
func WindowOf(d *Decision) Window {
	return Window{
		DecisionID: d.ID, CustomerID: d.CustomerID, Campaign: d.Campaign, Outcome: d.Outcome,
		ArmIndex: d.ArmIndex, Segment: d.Segment, PolicyContext: d.PolicyContext,
		DecidedAt: d.DecidedAt, RewardEvent: d.RewardEvent, RewardValue: d.RewardValue,
		RewardUntil: d.RewardUntil,
	}
}

// WindowsOf returns the windows an Open decision opens: its reward window
// first, then one per metric (Decision.Metrics), valued "1".
func WindowsOf(d *Decision) []Window {
	ws := make([]Window, 1, 1+len(d.Metrics))
	ws[0] = WindowOf(d)
	for _, m := range d.Metrics {
		w := ws[0]
		w.Metric, w.RewardEvent, w.RewardValue, w.RewardUntil = m.Name, m.Event, "1", m.Until
		ws = append(ws, w)
	}
	return ws
}

// WindowKey identifies a window among a customer's open windows, and a
// reward in a ledger: the decision id for the reward window (metric ""),
// the decision id, a unit separator (0x1f, which neither the ids of NewID nor
// metric names hold) and the metric's name for a metric window.
func WindowKey(decisionID, metric string) string {
	if metric == "" {
		return decisionID
	}
	return decisionID + "\x1f" + metric
}

// Windows are the open reward and metric windows, consumed by the Joiner.
type Windows interface {
	// OpenWindows returns the open windows of each customer that has any.
	OpenWindows(ctx context.Context, customerIDs []string) (map[string][]Window, error)
	// DueWindows returns up to n windows whose RewardUntil is before now.
	DueWindows(ctx context.Context, now time.Time, n int) ([]Window, error)
	// CloseWindows closes windows with their rewards: the window of
	// rewards[i] is the customer's window (DecisionID, Metric); each one
	// still open is removed and its reward queued for the ledger,
	// atomically; closed[i] reports whether rewards[i] closed its window
	// (false: it was closed before, by this or another joiner).
	CloseWindows(ctx context.Context, rewards []Reward) (closed []bool, err error)
}
