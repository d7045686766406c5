package decisioning

import "time"

// Channels an arm may use. ChannelNone is the explicit "send nothing" arm.
const (
	ChannelEmail   = "email"
	ChannelPush    = "push"
	ChannelSMS     = "sms"
	ChannelInApp   = "inapp"
	ChannelWebhook = "webhook"
	ChannelNone    = "none"
)

// Channels lists every channel an arm may name, "none" last.
var Channels = []string{ChannelEmail, ChannelPush, ChannelSMS, ChannelInApp, ChannelWebhook, ChannelNone}

// Buckets is the number of holdout buckets: hash(salt, customer id) falls
// in [0, Buckets), and a percentage p holds the buckets below p×Buckets/100.
const Buckets = 10_000

// Share is a percentage in hundredths of a percent (basis points), which is
// exactly a number of holdout buckets: 5% is 500, 12.34% is 1234.
type Share uint16

// Policy kinds.
const (
	PolicyThompson       = "thompson"
	PolicyLinearThompson = "linear_thompson"
)

// Config is a validated campaign configuration (--campaigns FILE).
type Config struct {
	Global    Global
	Campaigns []Campaign
	// Segments are the live segments: named conditions whose members the
	// trigger watchers keep up to date.
	Segments []Segment
	// Source names the file it was read from; Version is the first 12 hex
	// digits of its SHA-256, recorded in every decision.
	Source  string
	Version string
}

// Global holds the rules every campaign shares.
type Global struct {
	// ControlGroup is the share of customers never messaged by any
	// campaign, assigned by hash(Salt, customer id).
	ControlGroup Share
	Salt         string
	// Caps bound the messages sent to a customer across campaigns.
	Caps []Cap
	// QuietHours, when set, delays a send that falls in them to their end,
	// in the customer's own time zone.
	QuietHours *QuietHours
	// DefaultTimezone is the zone of a customer whose record names none;
	// UTC when empty.
	DefaultTimezone string
	// Fallback is what a decision does when a model is unavailable:
	// FallbackNoAction (default) or FallbackDecide (decide with NaN scores).
	Fallback string
}

// Fallbacks when a model is unavailable.
const (
	FallbackNoAction = "no_action"
	FallbackDecide   = "decide"
)

// Cap allows at most Max messages per rolling window Per. Channel is a
// channel name or "any". In Global.Caps it counts the messages of every
// campaign; in Campaign.Caps only the campaign's own.
type Cap struct {
	Channel string
	Max     int
	Per     time.Duration
}

// AnyChannel in a Cap counts messages on every channel.
const AnyChannel = "any"

// QuietHours is a daily local-time interval [From, To) in minutes after
// midnight; From > To wraps past midnight (21:00–08:00).
type QuietHours struct {
	From, To int
}

// Campaign is one campaign: its arms, holdout, reward, event-rate
// metrics and policy.
type Campaign struct {
	Name    string
	Holdout Share
	Salt    string
	// Arms are the campaign's choices; an arm on channel "none" is the
	// explicit "don't send".
	Arms   []Arm
	Reward RewardRule
	// Metrics are the event rates recorded after each decision besides its
	// reward (unsubscribes, churn), each in a window of its own; they never
	// teach the policy. Nil when the campaign declares none.
	Metrics []MetricRule
	Policy  PolicyConfig
	// Cooldown is the least time between two messages of this campaign to
	// one customer.
	Cooldown time.Duration
	// Caps are the campaign's own caps (counting its messages only).
	Caps []Cap
	// Offers holds the variables of the campaign's offers for message
	// templates ({{.Offer.Vars.discount}}), by offer name and then by
	// variable name. Only offers with at least one variable have an
	// entry; nil when none has. Read it with OfferVars.
	Offers map[string]map[string]string
	// Trigger, when set, makes Kairos decide the campaign by itself when
	// the customer's behaviour calls for it (Watcher); nil: the campaign
	// is decided only when an app calls Decide.
	Trigger *Trigger
	// Entry says how often a customer may enter the campaign's triggered
	// journey.
	Entry EntryRule
	// Line is where the campaign starts in its file.
	Line int
}

// Segment is a live segment: the customers for whom Cond holds, kept up
// to date as their events arrive (Watcher). Entering and leaving emit the
// events segment_entered and segment_exited (property segment), so that
// triggers and reports can use them.
type Segment struct {
	Name string
	// When is the condition as written, Cond its compiled form.
	When string
	Cond *Condition
	Line int
}

// Kinds of Trigger.
const (
	// TriggerEvent fires on an event (after Delay, when set).
	TriggerEvent = "event"
	// TriggerAbsence fires when On's event is not followed by Unless's
	// within Within (after Delay more, when set); Unless's event cancels it.
	TriggerAbsence = "absence"
	// TriggerThreshold fires when When turns from false to true (after
	// Delay, when set), not again while it stays true.
	TriggerThreshold = "threshold"
)

// Trigger is what starts a campaign by itself.
type Trigger struct {
	Kind string
	// On is the entering event (event and absence triggers).
	On EventMatch
	// Unless is the follow-up event whose arrival within Within of On's
	// cancels an absence trigger.
	Unless EventMatch
	Within time.Duration
	// When is the condition of a threshold trigger, as written, and Cond
	// its compiled form.
	When string
	Cond *Condition
	// Delay is how long to wait after the trigger before deciding.
	Delay time.Duration
	Line  int
}

// EventMatch matches events of one type whose properties pass Where
// (features.MatchWhere).
type EventMatch struct {
	Event string
	Where map[string]string
}

// Entry limits of EntryRule.
const (
	EntryEveryTime = "every_time"
	EntryOnce      = "once"
	EntryOncePer   = "once_per"
)

// EntryRule limits how often a customer enters a triggered journey; a
// customer already in it (a timer of the campaign pending) never enters
// again. The zero value is every time.
type EntryRule struct {
	// Limit is EntryEveryTime (or empty), EntryOnce (once ever) or
	// EntryOncePer (once per Period).
	Limit  string
	Period time.Duration
}

// Arm is a channel and an offer, with the cost of sending it.
type Arm struct {
	Channel string
	Offer   string
	Cost    float64
}

// RewardRule says what a decision earns: the first Event after it, within
// Within, valued at 1 (Value "1") or at the event's numeric property Value.
type RewardRule struct {
	Event  string
	Within time.Duration
	Value  string
}

// MetricRule declares an event-rate metric of a campaign: whether Event
// follows a decision within Within. Like the reward it is recorded for
// every decision with a reward window (holdouts included), valued 1 when
// such an event comes and 0 when none does, under its Name.
type MetricRule struct {
	Name   string
	Event  string
	Within time.Duration
}

// PolicyConfig configures a campaign's bandit.
type PolicyConfig struct {
	// Kind is PolicyThompson or PolicyLinearThompson.
	Kind string
	// Context names the linear policy's inputs: "churn", "propensity",
	// "nba:<class>" or a feature name.
	Context []string
	// SegmentBy and SegmentBounds split customers for PolicyThompson:
	// a customer is in segment i when SegmentBounds[i-1] <= value <
	// SegmentBounds[i] of input SegmentBy (same names as Context; NaN goes
	// to segment 0). Empty: one segment.
	SegmentBy     string
	SegmentBounds []float64
	// Epsilon is the exploration floor: every eligible arm keeps a
	// probability of at least Epsilon/K.
	Epsilon float64
	// HalfLife discounts old observations; zero keeps them all.
	HalfLife time.Duration
}
