package decisioning

import (
	"fmt"
	"time"

	"kairos/features"
)

// Outcome is what a decision did.
type Outcome uint8

// Outcomes of a decision; the numbers match kairos.v1.Outcome.
const (
	// Send: the chosen arm is sent (queued for dispatch at SendAfter).
	Send Outcome = iota + 1
	// Holdout: the customer is in the campaign's holdout; the arm that
	// would have been sent is recorded (intent to treat), nothing is sent.
	Holdout
	// GlobalControl: the customer is in the global control group, never
	// messaged; the would-be arm is recorded as for Holdout.
	GlobalControl
	// Suppressed: no arm was eligible (consent, caps, cooldown, ...) or the
	// campaign lost to a more valuable one of the same request.
	Suppressed
	// NoAction: the policy chose the "none" arm, or a dependency failed and
	// the fallback applied.
	NoAction
)

var outcomeNames = [...]string{"", "SEND", "HOLDOUT", "GLOBAL_CONTROL", "SUPPRESSED", "NO_ACTION"}

// String returns the outcome's name as in the API, e.g. "GLOBAL_CONTROL".
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) && o != 0 {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// ParseOutcome is the inverse of Outcome.String.
func ParseOutcome(s string) (Outcome, error) {
	for i, n := range outcomeNames {
		if n == s && i != 0 {
			return Outcome(i), nil
		}
	}
	return 0, fmt.Errorf("decisioning: unknown outcome %q", s)
}

// ArmProbability is the probability with which the policy would have chosen
// one arm of a decision.
type ArmProbability struct {
	Channel     string  `json:"channel"`
	Offer       string  `json:"offer,omitempty"`
	Probability float64 `json:"probability"`
}

// Scores are a customer's model scores at a decision; NaN when the model
// was unavailable.
type Scores struct {
	Churn      float64 `json:"churn"`
	Propensity float64 `json:"propensity"`
	// NextBestAction maps each class of the next-best-action model to its
	// probability.
	NextBestAction map[string]float64 `json:"next_best_action,omitempty"`
}

// Decision is the record of one decision of one campaign for one customer:
// everything measurement and ExplainDecision need. It is what the ledger
// stores.
type Decision struct {
	ID         string `json:"decision_id"`
	CustomerID string `json:"customer_id"`
	Campaign   string `json:"campaign"`
	// RequestID is the caller's idempotency key; empty when none was given.
	RequestID string  `json:"request_id,omitempty"`
	Outcome   Outcome `json:"outcome"`
	// Channel and Offer are the chosen arm, also for holdouts (the arm that
	// would have been sent); empty when no arm was chosen.
	Channel string `json:"channel,omitempty"`
	Offer   string `json:"offer,omitempty"`
	// ArmIndex is the position of the chosen arm in the campaign's arms;
	// -1 when none was chosen.
	ArmIndex int `json:"arm_index"`
	// Propensity is the probability with which the policy chose the arm.
	Propensity float64 `json:"propensity"`
	// Arms holds every arm's probability; arms removed by eligibility have
	// probability 0.
	Arms   []ArmProbability `json:"arms,omitempty"`
	Scores Scores           `json:"scores"`
	// Reasons say which rules decided, in the order they applied, e.g.
	// "holdout", "cap:sms:1/7d", "quiet_hours", "lost_to:winback".
	Reasons   []string  `json:"reasons"`
	DecidedAt time.Time `json:"decided_at"`
	// SendAfter is when a SEND may be dispatched (quiet hours); zero means
	// at once.
	SendAfter time.Time `json:"send_after,omitzero"`
	// Versions name the models, policy and campaign configuration used:
	// "churn", "propensity", "nba", "policy", "campaigns".
	Versions map[string]string `json:"versions,omitempty"`
	// FeatureNames and Features are the feature vector used (NaN: missing).
	FeatureNames []string  `json:"feature_names,omitempty"`
	Features     []float64 `json:"features,omitempty"`
	// Context is the caller's request context.
	Context map[string]string `json:"context,omitempty"`
	// ExpectedValue is the policy's expected incremental value of the
	// chosen arm over sending nothing, used to rank campaigns.
	ExpectedValue float64 `json:"expected_value"`
	// Segment and PolicyContext are the policy's inputs, kept so that the
	// reward joiner can update it: the Thompson segment and the linear
	// context vector.
	Segment       int       `json:"segment"`
	PolicyContext []float64 `json:"policy_context,omitempty"`
	// RewardEvent and RewardUntil are the campaign's reward window: the
	// first RewardEvent after DecidedAt and at or before RewardUntil is the
	// decision's reward. Empty for a decision without a chosen arm.
	RewardEvent string    `json:"reward_event,omitempty"`
	RewardValue string    `json:"reward_value,omitempty"`
	RewardUntil time.Time `json:"reward_until,omitzero"`
	// Metrics are the campaign's metric windows (Campaign.Metrics), opened
	// beside the reward window: each is 1 when its Event follows
	// DecidedAt at or before its Until. Nil without a reward window or
	// when the campaign declares no metrics.
	Metrics []MetricWindow `json:"metrics,omitempty"`
}

// MetricWindow is one metric window of a decision: the first Event after
// the decision and at or before Until makes metric Name 1.
type MetricWindow struct {
	Name  string    `json:"name"`
	Event string    `json:"event"`
	Until time.Time `json:"until"`
}

// Counts reports whether the decision takes a place in the customer's
// frequency caps and cooldowns: a SEND, and — so that the campaign
// holdout and the global control stay comparable with the treated — a
// HOLDOUT or GLOBAL_CONTROL decision whose would-have-sent arm is a
// message (a shadow send: counted, never dispatched). Without it, held-out
// customers, never capped, would decide more often and in other states
// than the treated, and the holdout comparison would be biased.
func (d *Decision) Counts() bool {
	switch d.Outcome {
	case Send, Holdout, GlobalControl:
		return d.Channel != "" && d.Channel != ChannelNone
	}
	return false
}

// Sends reports whether the decision sends a message: outcome SEND on a
// channel other than "none".
func (d *Decision) Sends() bool {
	return d.Outcome == Send && d.Channel != "" && d.Channel != ChannelNone
}

// Open reports whether the decision waits for a reward: it chose an arm
// (holdouts included, intent to treat) and has a reward window.
func (d *Decision) Open() bool {
	return d.ArmIndex >= 0 && d.RewardEvent != "" && !d.RewardUntil.IsZero()
}

// Reward is the outcome of one window of a decision: its reward window
// (Metric "") or one of its metric windows (Metric the metric's name). A
// decision has at most one Reward per Metric.
type Reward struct {
	DecisionID string `json:"decision_id"`
	CustomerID string `json:"customer_id"`
	Campaign   string `json:"campaign"`
	// Metric names the metric window closed; "" for the reward window,
	// whose reward teaches the policy.
	Metric string `json:"metric,omitempty"`
	// Converted: a qualifying event arrived within the window.
	Converted bool `json:"converted"`
	// Value is the reward value (1, or the event's property; always 1 for
	// a metric), 0 when not converted.
	Value float64 `json:"value"`
	// EventID and EventAt identify the converting event; empty when not
	// converted.
	EventID string    `json:"event_id,omitempty"`
	EventAt time.Time `json:"event_at,omitzero"`
	// ClosedAt is when the joiner closed the window.
	ClosedAt time.Time `json:"closed_at"`
}

// Sent is one message counted by the frequency caps and cooldowns.
type Sent struct {
	DecisionID string    `json:"decision_id"`
	Campaign   string    `json:"campaign"`
	Channel    string    `json:"channel"`
	At         time.Time `json:"at"`
}

// ArmKey names an arm "channel/offer", the channel alone for the none arm
// or an arm without an offer ("" for no arm): how reports, the journal and
// explain write an arm.
func ArmKey(channel, offer string) string {
	if offer == "" || channel == ChannelNone {
		return channel
	}
	return channel + "/" + offer
}

// FeatureVector returns the decision's features as a features.Vector.
func (d *Decision) FeatureVector() features.Vector {
	return features.Vector{Names: d.FeatureNames, Values: d.Features}
}

// MarshalText writes the outcome's name.
func (o Outcome) MarshalText() ([]byte, error) {
	if o == 0 || int(o) >= len(outcomeNames) {
		return nil, fmt.Errorf("decisioning: invalid outcome %d", uint8(o))
	}
	return []byte(outcomeNames[o]), nil
}

// UnmarshalText reads an outcome's name.
func (o *Outcome) UnmarshalText(b []byte) error {
	v, err := ParseOutcome(string(b))
	if err != nil {
		return err
	}
	*o = v
	return nil
}
