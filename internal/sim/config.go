package sim

import (
	"context"
	"fmt"
	"time"

	"kairos/features"
)

// Limits of a Config.
const (
	MaxCustomers = 10_000_000
	MaxDays      = 3650
)

// Config says which world to simulate.
type Config struct {
	// Customers is the number of customers: SignupShare of them sign up
	// during the period, the others exist at its start. 1 to MaxCustomers.
	Customers int
	// Days is the length of the simulated period. 1 to MaxDays.
	Days int
	// Seed selects the world: the same Config gives the same events, byte
	// for byte.
	Seed uint64
	// End is the end of the simulated period [End-Days*24h, End); it must
	// be a UTC midnight.
	End time.Time
	// Policy picks the arm at every decision point; nil means Randomized
	// with Seed.
	Policy Policy
	// Lockstep makes Run wait, before it asks the Policy about a day's
	// decision points, until the Sink has returned from every earlier
	// call: the events of the days before and the customers signing up
	// that day. A policy that reads what the sink wrote (a live Kairos:
	// features, consents) then sees the world as of the start of the
	// day, whatever the machine's speed. It costs the overlap of that
	// day's decisions with the sink.
	Lockstep bool
}

// Sink receives the simulated world. Run calls it from one goroutine, in
// order: the customers existing at the start; then per simulated day the
// customers signing up that day, the day's events, and the records changed
// that day (consent revoked by an unsubscribe).
type Sink interface {
	// Customers receives customer records: each before its first event,
	// and again when it changes. Every record passes
	// features.ValidateCustomer.
	Customers(ctx context.Context, cs []features.Customer) error
	// Events receives one simulated day of events, sorted by (Time,
	// CustomerID, ID); every event passes Set.ValidateEvent of
	// features.Default(). The slice is reused once Events returns: keep
	// the events, not the slice.
	Events(ctx context.Context, evs []features.Event) error
}

// DecisionPoint is a moment at which a campaign may message a customer.
type DecisionPoint struct {
	// DecisionID is unique and deterministic, e.g. "s7-c000123-d0004".
	DecisionID string
	CustomerID string
	Campaign   string
	At         time.Time
	// Segment is the customer's engagement segment (low, mid, high).
	Segment string
	// Arms are the campaign's arms, "none" (send nothing) last.
	Arms []Arm
}

// Arm is one choice of a campaign: a channel and an offer. Channel "none"
// means sending nothing.
type Arm struct {
	Channel string `json:"channel"`
	Offer   string `json:"offer"`
	// Cost is the channel's cost per delivered message, in Currency. An
	// offer costs a share of the reward value when the customer converts
	// (Params.Offers); Truth holds the mean cost of each arm.
	Cost float64 `json:"cost"`
}

// Policy chooses an arm at a decision point. Run calls Choose once per
// decision point, in order of (At, CustomerID, DecisionID) within each
// simulated day, before that day's events reach the Sink. The returned arm
// must be one of p.Arms (Cost may differ).
type Policy interface {
	Choose(ctx context.Context, p DecisionPoint) (Arm, error)
}

// Randomized is the uniform random policy: every arm of the campaign,
// "none" included, with equal probability, drawn from (Seed, DecisionID)
// so that the choice is deterministic.
type Randomized struct {
	Seed uint64
}

// Choose implements Policy.
func (r Randomized) Choose(_ context.Context, p DecisionPoint) (Arm, error) {
	if len(p.Arms) == 0 {
		return Arm{}, fmt.Errorf("sim: decision point %s has no arms", p.DecisionID)
	}
	h := mix(r.Seed, streamPolicy, hashString(p.DecisionID))
	return p.Arms[h%uint64(len(p.Arms))], nil
}

var _ Policy = Randomized{}

// Message is a campaign message to a customer at a decision point.
type Message struct {
	DecisionID string
	CustomerID string
	Campaign   string
	Channel    string
	Offer      string
	At         time.Time
}

// ConfigError says which field of a Config broke which rule.
type ConfigError struct {
	Field string
	Rule  string
}

func (e *ConfigError) Error() string { return "sim: Config." + e.Field + ": " + e.Rule }

// earliestStart keeps every simulated event after features' minimum event
// time (2000-01-01), with room for the signup dates of existing customers.
var earliestStart = time.Date(2005, 1, 1, 0, 0, 0, 0, time.UTC)

func (c Config) validate() error {
	switch {
	case c.Customers < 1 || c.Customers > MaxCustomers:
		return &ConfigError{"Customers", fmt.Sprintf("must be 1 to %d, got %d", MaxCustomers, c.Customers)}
	case c.Days < 1 || c.Days > MaxDays:
		return &ConfigError{"Days", fmt.Sprintf("must be 1 to %d, got %d", MaxDays, c.Days)}
	case c.End.IsZero():
		return &ConfigError{"End", "is required (a UTC midnight, e.g. 2026-03-01T00:00:00Z)"}
	}
	if u := c.End.UTC(); !u.Equal(time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)) {
		return &ConfigError{"End", fmt.Sprintf("must be a UTC midnight, got %s", c.End.Format(time.RFC3339Nano))}
	}
	if start := c.End.UTC().AddDate(0, 0, -c.Days); start.Before(earliestStart) {
		return &ConfigError{"End", fmt.Sprintf("the period must start on or after %s, got %s", earliestStart.Format(time.DateOnly), start.Format(time.DateOnly))}
	}
	return nil
}
