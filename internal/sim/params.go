package sim

// Engagement segments, by a customer's latent engagement (mean sessions per
// day when active).
const (
	segLow = iota
	segMid
	segHigh
	nSegments
)

// Segments names the engagement segments, in order.
var Segments = []string{"low", "mid", "high"}

// Lifecycle stages.
const (
	stageOnboarding = iota
	stageActive
	stageAtRisk
	nStages
)

// Stages names the lifecycle stages a living customer is in; churned
// customers leave the world.
var Stages = []string{"onboarding", "active", "at_risk"}

// Channels and offers of campaign arms. ChannelNone is the arm that sends
// nothing.
const (
	ChannelNone  = "none"
	ChannelEmail = "email"
	ChannelPush  = "push"
	ChannelSMS   = "sms"
	ChannelInApp = "inapp"

	OfferNone     = "none"
	OfferReminder = "reminder"
	OfferDiscount = "discount_10"
	OfferUpgrade  = "upgrade_offer"
)

// Campaign names.
const (
	CampaignCartRecovery = "cart_recovery"
	CampaignWinback      = "winback"
	CampaignUpgrade      = "upgrade_prompt"
	// CampaignNewsletter is the weekly broadcast email; it is not a
	// decision and has no arms.
	CampaignNewsletter = "newsletter"
)

// Currency is the currency of every amount and price.
const Currency = "EUR"

// BySegment is a value per engagement segment.
type BySegment struct {
	Low  float64 `json:"low"`
	Mid  float64 `json:"mid"`
	High float64 `json:"high"`
}

func (b BySegment) at(seg int) float64 {
	switch seg {
	case segLow:
		return b.Low
	case segMid:
		return b.Mid
	}
	return b.High
}

// ByStage is a value per lifecycle stage.
type ByStage struct {
	Onboarding float64 `json:"onboarding"`
	Active     float64 `json:"active"`
	AtRisk     float64 `json:"at_risk"`
}

func (b ByStage) at(stage int) float64 {
	switch stage {
	case stageOnboarding:
		return b.Onboarding
	case stageActive:
		return b.Active
	}
	return b.AtRisk
}

// Params are the parameters of the world. They are fixed (DefaultParams);
// Truth carries them so that a report can be checked against the model as
// well as against the realised effects.
type Params struct {
	Currency string `json:"currency"`
	// Engagement is log-normal: exp(N(ln Median, Sigma²)), clamped to
	// [Min, Max]; it is a customer's mean sessions per day when active.
	Engagement struct {
		Median float64 `json:"median"`
		Sigma  float64 `json:"sigma"`
		Min    float64 `json:"min"`
		Max    float64 `json:"max"`
	} `json:"engagement"`
	// A customer is in segment low below LowBelow, high from HighFrom, mid
	// between.
	SegmentCuts struct {
		LowBelow float64 `json:"low_below"`
		HighFrom float64 `json:"high_from"`
	} `json:"segment_cuts"`
	// SignupShare of the customers sign up during the period (at uniform
	// random times); the others exist at its start.
	SignupShare float64          `json:"signup_share"`
	Activity    ActivityParams   `json:"activity"`
	Lifecycle   LifecycleParams  `json:"lifecycle"`
	Billing     BillingParams    `json:"billing"`
	Newsletter  NewsletterParams `json:"newsletter"`
	Channels    []ChannelParams  `json:"channels"`
	Offers      []OfferParams    `json:"offers"`
	Campaigns   []CampaignParams `json:"campaigns"`
}

// ActivityParams drive sessions and what happens in them.
type ActivityParams struct {
	// Sessions per day are Poisson with mean engagement × StageFactor ×
	// (WeekendFactor on Saturdays and Sundays, UTC).
	StageFactor   ByStage `json:"stage_factor"`
	WeekendFactor float64 `json:"weekend_factor"`
	// HourWeights are the relative weights of the local hours 0–23 at which
	// sessions start (the daily rhythm, in the customer's time zone).
	HourWeights [24]float64 `json:"hour_weights"`
	// LoginPerSession is the probability that a session has a login.
	LoginPerSession float64 `json:"login_per_session"`
	// A session has 1 + Poisson(ExtraPageViews) page views (at most 30);
	// each is followed by a scroll with probability ScrollPerPageView.
	ExtraPageViews    float64 `json:"extra_page_views"`
	ScrollPerPageView float64 `json:"scroll_per_page_view"`
	// ClicksPerSession and FeaturesPerSession are Poisson means.
	ClicksPerSession   float64 `json:"clicks_per_session"`
	FeaturesPerSession float64 `json:"features_per_session"`
	// CartPerSession is the probability of an add_to_cart in a session; it
	// is bought in the same session with probability PurchaseGivenCart −
	// PurchasePriceSensitivity × price sensitivity, else abandoned.
	CartPerSession           float64 `json:"cart_per_session"`
	PurchaseGivenCart        float64 `json:"purchase_given_cart"`
	PurchasePriceSensitivity float64 `json:"purchase_price_sensitivity"`
	// A page view is the pricing page with probability PricingBase +
	// PricingIntent × upgrade intent (free and plus plans; PricingPremium on
	// premium); after a pricing view a customer on free or plus upgrades in
	// the session with probability UpgradeAfterPricing.
	PricingBase         float64 `json:"pricing_base"`
	PricingIntent       float64 `json:"pricing_intent"`
	PricingPremium      float64 `json:"pricing_premium"`
	UpgradeAfterPricing float64 `json:"upgrade_after_pricing"`
	// CartAbandonedAfterMinutes: a cart not bought in its session is
	// abandoned; its decision point is this long after the add_to_cart.
	CartAbandonedAfterMinutes int `json:"cart_abandoned_after_minutes"`
	// CartReturnMeanHours and ReturnMeanHours are the means of the
	// (truncated exponential) delay of a cart's return purchase and of an
	// upgrade or winback return after their decision points.
	CartReturnMeanHours float64 `json:"cart_return_mean_hours"`
	ReturnMeanHours     float64 `json:"return_mean_hours"`
}

// LifecycleParams drive stages and churn. Hazards are per day.
type LifecycleParams struct {
	// OnboardingDays after signup a customer becomes active.
	OnboardingDays int `json:"onboarding_days"`
	// A customer falls at risk with probability OnboardingToAtRisk/(1+e)
	// (onboarding) or ActiveToAtRisk/(1+e) (active) a day, and recovers
	// from at risk with probability Recover × e/(1+e), where e is engagement.
	OnboardingToAtRisk float64 `json:"onboarding_to_at_risk"`
	ActiveToAtRisk     float64 `json:"active_to_at_risk"`
	Recover            float64 `json:"recover"`
	// ChurnHazard is the daily probability of churning by stage, multiplied
	// by DunningMultiplier while a payment failure is unresolved and by a
	// winback arm's hazard multiplier for WinbackEffectDays after its
	// reward window.
	ChurnHazard       ByStage `json:"churn_hazard"`
	DunningMultiplier float64 `json:"dunning_multiplier"`
	WinbackEffectDays int     `json:"winback_effect_days"`
	// WinbackRepeatDays: a customer still at risk this long after the last
	// winback decision point has another.
	WinbackRepeatDays int `json:"winback_repeat_days"`
}

// BillingParams drive paid plans and payment failures.
type BillingParams struct {
	PlusPrice    float64 `json:"plus_price"`
	PremiumPrice float64 `json:"premium_price"`
	// PeriodDays between charges, counted from the upgrade.
	PeriodDays int `json:"period_days"`
	// A charge fails with probability FailBase + FailPriceSensitivity ×
	// price sensitivity; it is retried RetryAfterDays later, up to Attempts
	// in all, each retry failing with probability RetryFail. When the last
	// attempt fails, the subscription is cancelled (reason payment_failed)
	// and the customer churns.
	FailBase             float64 `json:"fail_base"`
	FailPriceSensitivity float64 `json:"fail_price_sensitivity"`
	RetryAfterDays       int     `json:"retry_after_days"`
	Attempts             int     `json:"attempts"`
	RetryFail            float64 `json:"retry_fail"`
}

// NewsletterParams drive the weekly newsletter (Tuesdays, UTC) to every
// customer with email consent.
type NewsletterParams struct {
	// Opened with probability OpenBase + OpenEngagement × min(e, 2);
	// clicked with ClickGivenOpen; unsubscribed from with Unsubscribe.
	OpenBase       float64 `json:"open_base"`
	OpenEngagement float64 `json:"open_engagement"`
	ClickGivenOpen float64 `json:"click_given_open"`
	Unsubscribe    float64 `json:"unsubscribe"`
}

// ChannelParams are a channel's cost and the customers' reaction to any
// message on it.
type ChannelParams struct {
	Name string `json:"name"`
	// Cost per delivered message, in Currency.
	Cost float64 `json:"cost"`
	// Engage is the probability of the channel's engagement event
	// (email_opened, push_clicked, sms_replied, inapp_interaction) per
	// message, ×PreferredBoost on the customer's preferred channel.
	Engage BySegment `json:"engage"`
	// ClickGivenOpen is the probability of email_clicked after an open.
	ClickGivenOpen float64 `json:"click_given_open,omitempty"`
	// Unsubscribe is the probability that a message makes the customer
	// unsubscribe from the channel (consent revoked).
	Unsubscribe BySegment `json:"unsubscribe"`
}

// PreferredBoost multiplies engagement on a customer's preferred channel.
const PreferredBoost = 1.3

// OfferParams are what an offer costs when the customer converts.
type OfferParams struct {
	Name string `json:"name"`
	// CostShare of the reward value (the order amount, the plan price) is
	// the cost of the offer to a customer who converts within the window.
	CostShare float64 `json:"cost_share"`
}

// CampaignParams describe a built-in campaign and the true effects of its
// arms.
type CampaignParams struct {
	Name string `json:"name"`
	// Trigger says when a decision point happens.
	Trigger string `json:"trigger"`
	// Conversion is the reward event type(s), within WindowHours of the
	// decision; Value is the property of the first one that is its value
	// ("" for none: revenue is 0).
	Conversion  []string `json:"conversion"`
	Value       string   `json:"value,omitempty"`
	WindowHours int      `json:"window_hours"`
	// Baseline is the probability of the episode's own return (the
	// abandoned cart bought, the upgrade) within the window without a
	// message. Winback has none: its baseline is the customer's organic
	// activity.
	Baseline BySegment   `json:"baseline"`
	Arms     []ArmParams `json:"arms"`
}

// ArmParams are the true effects of one arm (channel × offer).
type ArmParams struct {
	Channel string `json:"channel"`
	Offer   string `json:"offer"`
	// Lift is added to the return probability when the message is
	// delivered (negative: the message puts customers off); for
	// discount_10 it is scaled by (0.5 + price sensitivity).
	Lift BySegment `json:"lift"`
	// HazardMultiplier multiplies the churn hazard for WinbackEffectDays
	// after the reward window (winback only; 1 elsewhere).
	HazardMultiplier BySegment `json:"hazard_multiplier"`
}

// DefaultParams returns the parameters of the world (see the package
// documentation for the tables).
func DefaultParams() *Params {
	p := &Params{Currency: Currency, SignupShare: 0.15}
	p.Engagement.Median, p.Engagement.Sigma, p.Engagement.Min, p.Engagement.Max = 0.5, 0.85, 0.02, 6
	p.SegmentCuts.LowBelow, p.SegmentCuts.HighFrom = 0.3, 0.9
	p.Activity = ActivityParams{
		StageFactor:   ByStage{Onboarding: 1.4, Active: 1, AtRisk: 0.15},
		WeekendFactor: 1.15,
		HourWeights: [24]float64{0.5, 0.3, 0.2, 0.15, 0.15, 0.25, 0.6, 1.2, 1.8, 2.2, 2.4, 2.5,
			2.8, 2.6, 2.4, 2.3, 2.4, 2.6, 3.0, 3.4, 3.6, 3.2, 2.2, 1.2},
		LoginPerSession:           0.45,
		ExtraPageViews:            1.8,
		ScrollPerPageView:         0.3,
		ClicksPerSession:          0.7,
		FeaturesPerSession:        0.6,
		CartPerSession:            0.12,
		PurchaseGivenCart:         0.55,
		PurchasePriceSensitivity:  0.3,
		PricingBase:               0.02,
		PricingIntent:             0.1,
		PricingPremium:            0.005,
		UpgradeAfterPricing:       0.03,
		CartAbandonedAfterMinutes: 60,
		CartReturnMeanHours:       18,
		ReturnMeanHours:           48,
	}
	p.Lifecycle = LifecycleParams{
		OnboardingDays:     14,
		OnboardingToAtRisk: 0.02,
		ActiveToAtRisk:     0.008,
		Recover:            0.05,
		ChurnHazard:        ByStage{Onboarding: 0.003, Active: 0.0005, AtRisk: 0.01},
		DunningMultiplier:  3,
		WinbackEffectDays:  30,
		WinbackRepeatDays:  21,
	}
	p.Billing = BillingParams{PlusPrice: 9.99, PremiumPrice: 19.99, PeriodDays: 30,
		FailBase: 0.03, FailPriceSensitivity: 0.07, RetryAfterDays: 3, Attempts: 3, RetryFail: 0.6}
	p.Newsletter = NewsletterParams{OpenBase: 0.08, OpenEngagement: 0.12, ClickGivenOpen: 0.2, Unsubscribe: 0.002}
	p.Channels = []ChannelParams{
		{Name: ChannelEmail, Cost: 0.001, Engage: BySegment{0.15, 0.25, 0.35}, ClickGivenOpen: 0.2, Unsubscribe: BySegment{0.005, 0.005, 0.005}},
		{Name: ChannelPush, Cost: 0.0002, Engage: BySegment{0.05, 0.10, 0.15}, Unsubscribe: BySegment{0.003, 0.003, 0.003}},
		{Name: ChannelSMS, Cost: 0.04, Engage: BySegment{0.01, 0.02, 0.03}, Unsubscribe: BySegment{0.08, 0.01, 0.01}},
		{Name: ChannelInApp, Cost: 0, Engage: BySegment{0.2, 0.3, 0.4}},
	}
	p.Offers = []OfferParams{{Name: OfferReminder}, {Name: OfferDiscount, CostShare: 0.10}, {Name: OfferUpgrade, CostShare: 0.5}}
	one := BySegment{1, 1, 1}
	p.Campaigns = []CampaignParams{
		{
			Name:        CampaignCartRecovery,
			Trigger:     "add_to_cart not bought in its session; the decision point is 60 minutes after it",
			Conversion:  []string{"purchase"},
			Value:       "amount",
			WindowHours: 72,
			Baseline:    BySegment{0.08, 0.14, 0.20},
			Arms: []ArmParams{
				{Channel: ChannelEmail, Offer: OfferReminder, Lift: BySegment{0.03, 0.05, 0.06}, HazardMultiplier: one},
				{Channel: ChannelPush, Offer: OfferReminder, Lift: BySegment{0, 0.03, 0.05}, HazardMultiplier: one},
				{Channel: ChannelEmail, Offer: OfferDiscount, Lift: BySegment{0.06, 0.08, 0.10}, HazardMultiplier: one},
				{Channel: ChannelSMS, Offer: OfferReminder, Lift: BySegment{-0.02, 0.04, 0.05}, HazardMultiplier: one},
				{Channel: ChannelNone, Offer: OfferNone, HazardMultiplier: one},
			},
		},
		{
			Name:        CampaignWinback,
			Trigger:     "the customer falls at risk (and every 21 days they stay at risk)",
			Conversion:  []string{"session_start", "login"},
			WindowHours: 7 * 24,
			Arms: []ArmParams{
				{Channel: ChannelEmail, Offer: OfferDiscount, Lift: BySegment{0.06, 0.10, 0.14}, HazardMultiplier: BySegment{0.85, 0.7, 0.6}},
				{Channel: ChannelPush, Offer: OfferReminder, Lift: BySegment{0, 0.05, 0.08}, HazardMultiplier: BySegment{1, 0.9, 0.85}},
				{Channel: ChannelSMS, Offer: OfferReminder, Lift: BySegment{0, 0.06, 0.08}, HazardMultiplier: BySegment{1.25, 0.9, 0.9}},
				{Channel: ChannelNone, Offer: OfferNone, HazardMultiplier: one},
			},
		},
		{
			Name:        CampaignUpgrade,
			Trigger:     "a pricing page view with another in the 24 hours before it (free and plus plans); the decision point is 5 minutes after it",
			Conversion:  []string{"subscription_started"},
			Value:       "plan_price",
			WindowHours: 7 * 24,
			Baseline:    BySegment{0.02, 0.04, 0.06},
			Arms: []ArmParams{
				{Channel: ChannelEmail, Offer: OfferUpgrade, Lift: BySegment{0, 0.02, 0.03}, HazardMultiplier: one},
				{Channel: ChannelInApp, Offer: OfferUpgrade, Lift: BySegment{0.01, 0.04, 0.07}, HazardMultiplier: one},
				{Channel: ChannelNone, Offer: OfferNone, HazardMultiplier: one},
			},
		},
	}
	return p
}
