package sim

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"kairos/features"
)

// Channel, offer, campaign and plan codes of the compact event form.
const (
	chNone = iota
	chEmail
	chPush
	chSMS
	chInApp
	nChannels
)

var channelNames = [nChannels]string{ChannelNone, ChannelEmail, ChannelPush, ChannelSMS, ChannelInApp}

const (
	offNone = iota
	offReminder
	offDiscount
	offUpgrade
	nOffers
)

var offerNames = [nOffers]string{OfferNone, OfferReminder, OfferDiscount, OfferUpgrade}

const (
	campCart = iota
	campWinback
	campUpgrade
	campNewsletter
	nCampaigns
)

var campaignNames = [nCampaigns]string{CampaignCartRecovery, CampaignWinback, CampaignUpgrade, CampaignNewsletter}

const (
	planFree = iota
	planPlus
	planPremium
)

var planNames = []string{"free", "plus", "premium"}

var (
	platforms     = []string{"web", "ios", "android"}
	loginMethods  = []string{"password", "sso", "magic_link"}
	clickElements = []string{"nav", "cta", "product_card", "banner", "footer"}
	featureNames  = []string{"dashboard", "reports", "export", "search", "alerts", "sharing",
		"api", "integrations", "wishlist", "settings", "mobile_sync", "templates"}
	acquisitions = []string{"organic", "paid_search", "social", "referral", "email"}
	firstNames   = []string{"ada", "alan", "grace", "linus", "edsger", "barbara", "ken", "margaret",
		"dennis", "frances", "john", "radia", "tim", "katherine", "donald", "hedy", "niklaus", "shafi",
		"yukihiro", "anita", "guido", "sophie", "carlos", "mei", "arjun", "fatima", "lars", "ines"}
	lastNames = []string{"lovelace", "turing", "hopper", "torvalds", "dijkstra", "liskov", "thompson",
		"hamilton", "ritchie", "allen", "backus", "perlman", "lee", "johnson", "knuth", "lamarr",
		"wirth", "goldwasser", "matsumoto", "borg", "rossum", "wilson", "garcia", "chen", "patel",
		"haddad", "nilsson", "moreau"}
	emailDomains = []string{"example.com", "example.org", "example.net"}
)

// zone is a time zone customers live in, with its country and the calling
// code of their phone numbers.
type zone struct {
	name    string
	country string
	calling string
	weight  float64
	loc     *time.Location
}

var zones = []zone{
	{name: "Europe/Berlin", country: "DE", calling: "49", weight: 0.18},
	{name: "Europe/London", country: "GB", calling: "44", weight: 0.12},
	{name: "Europe/Paris", country: "FR", calling: "33", weight: 0.09},
	{name: "Europe/Madrid", country: "ES", calling: "34", weight: 0.06},
	{name: "America/New_York", country: "US", calling: "1", weight: 0.15},
	{name: "America/Chicago", country: "US", calling: "1", weight: 0.06},
	{name: "America/Los_Angeles", country: "US", calling: "1", weight: 0.08},
	{name: "America/Sao_Paulo", country: "BR", calling: "55", weight: 0.05},
	{name: "Asia/Tokyo", country: "JP", calling: "81", weight: 0.06},
	{name: "Asia/Kolkata", country: "IN", calling: "91", weight: 0.06},
	{name: "Asia/Singapore", country: "SG", calling: "65", weight: 0.04},
	{name: "Australia/Sydney", country: "AU", calling: "61", weight: 0.05},
}

// categories of the catalogue and their typical prices.
var categories = []struct {
	name  string
	price float64
}{
	{"electronics", 120}, {"books", 15}, {"home", 45}, {"fashion", 40},
	{"beauty", 25}, {"sports", 50}, {"toys", 30}, {"grocery", 12},
}

const productsPerCategory = 60

// product is one article of the catalogue.
type product struct {
	id       string
	category int
	price    float64
}

func newCatalog(seed uint64) []product {
	r := newRNG().seed(seed, streamCatalog, 0, 0)
	ps := make([]product, 0, len(categories)*productsPerCategory)
	for c, cat := range categories {
		for i := 0; i < productsPerCategory; i++ {
			price := cat.price * math.Exp(0.5*r.NormFloat64())
			price = math.Max(1, math.Floor(price)) + 0.99
			ps = append(ps, product{id: fmt.Sprintf("sku-%05d", len(ps)+1), category: c, price: price})
		}
	}
	return ps
}

// Traits are a customer's latent traits and what became of them. They are
// the ground truth behind the customer's events.
type Traits struct {
	CustomerID string `json:"customer_id"`
	// Engagement is the mean number of sessions per day when active;
	// Segment is its segment (low, mid, high).
	Engagement float64 `json:"engagement"`
	Segment    string  `json:"segment"`
	// PriceSensitivity in [0, 1] lowers purchases after a cart, raises
	// payment failures and scales the lift of discounts.
	PriceSensitivity float64 `json:"price_sensitivity"`
	// UpgradeIntent in [0, 1] raises pricing page views.
	UpgradeIntent float64 `json:"upgrade_intent"`
	// Categories are the two preferred product categories.
	Categories []string `json:"categories"`
	// Channel is the preferred channel: messages on it engage more.
	Channel  string `json:"preferred_channel"`
	Platform string `json:"platform"`
	Timezone string `json:"timezone"`
	// Existing is true for customers who signed up before the period.
	Existing bool      `json:"existing"`
	SignupAt time.Time `json:"signup_at"`
	// InitialStage and InitialPlan are the stage and plan at the start of
	// the period or at signup.
	InitialStage string `json:"initial_stage"`
	InitialPlan  string `json:"initial_plan"`
	// FinalStage and FinalPlan are the stage and plan at the end, or at
	// churn.
	FinalStage string `json:"final_stage"`
	FinalPlan  string `json:"final_plan"`
	// ChurnedAt is when the customer churned; zero when they did not.
	ChurnedAt time.Time `json:"churned_at,omitzero"`
	// ChurnReason is "voluntary" or "payment_failed".
	ChurnReason string `json:"churn_reason,omitempty"`
}

// customer is the state of one simulated customer.
type customer struct {
	idx      int32
	id       string
	idPrefix string // of event ids, e.g. "s7-c000123-"
	rec      features.Customer
	loc      *time.Location

	e, s, intent float64
	seg          int
	platform     uint8
	pref         uint8 // preferred channel
	cats         [2]uint8
	feats        [3]uint8
	reach        [nChannels]bool  // contact details present (consent aside)
	consent0     [nChannels]bool  // consent at the start
	revoked      [nChannels]int64 // ms the first unsubscribe revoked the channel's consent; 0: never

	signup      int64 // ms
	churnAt     int64 // ms; 0 while a customer
	churnReason uint8
	stage       uint8
	initStage   uint8
	initPlan    uint8
	plan        uint8
	nextCharge  int32 // day index of the next charge
	dunning     uint8 // failed attempts of the current charge
	retryDay    int32
	lastWinback int64

	// The hazard multiplier of a winback arm, in force in [hazFrom, hazUntil).
	hazMult           float64
	hazFrom, hazUntil int64

	lastPricing   int64 // ms of the last organic pricing page view
	lastUpgradeEp int64 // ms of the last upgrade episode

	// The open decision: its index + 1 (0: none), window end, and the
	// organic outcome seen in the window so far.
	open      int32
	windowEnd int64
	orgFirstT int64 // -1: no organic conversion yet
	orgFirstV float64

	// Where today's events are in the output of the worker that built them.
	outW, outOff int32

	seq      int32 // events emitted
	episodes int32
	pending  []ev // events after today, by time
	eps      []episode
	day      []ev
	changed  bool

	stats custStats
}

// custStats is what a customer's life contributes to Result.Lifecycle.
type custStats struct {
	stageDays     [nStages]int32
	expectedChurn [nStages]float64
	churned       [nStages]int32 // voluntary churn draws that came true
	involuntary   int32          // last payment attempts that failed
	// Organic sessions on days that are neither the signup nor the churn
	// day, and the sum of their Poisson means.
	sessions         int32
	expectedSessions float64
	charges          int32
	failures         int32 // first attempts that failed
	expectedFailures float64
}

// newCustomer draws customer i's traits, contact details and initial state.
func (w *World) newCustomer(i int, signup int64, existing bool, r *rng) customer {
	p := w.p
	r.seed(w.cfg.Seed, streamTraits, uint64(i), 0)
	id := "c" + pad(i, w.idWidth)
	c := customer{idx: int32(i), id: id, idPrefix: "s" + strconv.FormatUint(w.cfg.Seed, 10) + "-" + id + "-", orgFirstT: -1, hazMult: 1}

	e := p.Engagement.Median * math.Exp(p.Engagement.Sigma*r.NormFloat64())
	c.e = min(max(e, p.Engagement.Min), p.Engagement.Max)
	switch {
	case c.e < p.SegmentCuts.LowBelow:
		c.seg = segLow
	case c.e >= p.SegmentCuts.HighFrom:
		c.seg = segHigh
	default:
		c.seg = segMid
	}
	c.s = (r.Float64() + r.Float64() + r.Float64()) / 3
	u := r.Float64()
	c.intent = u * u
	c.cats[0] = uint8(r.IntN(len(categories)))
	c.cats[1] = uint8((int(c.cats[0]) + 1 + r.IntN(len(categories)-1)) % len(categories))
	c.feats[0] = uint8(r.IntN(len(featureNames)))
	c.feats[1] = uint8((int(c.feats[0]) + 1 + r.IntN(len(featureNames)-1)) % len(featureNames))
	c.feats[2] = uint8(r.IntN(len(featureNames)))
	c.pref = uint8(pick(r.Float64(), []float64{0, 0.4, 0.3, 0.1, 0.2}))
	c.platform = uint8(pick(r.Float64(), []float64{0.5, 0.3, 0.2}))
	z := &w.zones[pick(r.Float64(), zoneWeights)]
	c.loc = z.loc

	first, last := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
	rec := features.Customer{ID: id, Timezone: z.name, Consents: make(map[string]bool, 4)}
	if r.Float64() < 0.97 {
		rec.Email = first + "." + last + "." + strconv.Itoa(i) + "@" + emailDomains[r.IntN(len(emailDomains))]
		c.reach[chEmail] = true
	}
	if r.Float64() < 0.7 {
		// 555 numbers are fictional in many plans; the index keeps them unique.
		rec.Phone = "+" + z.calling + "555" + pad(i, 7)
		c.reach[chSMS] = true
	}
	tokenP := 0.8
	if c.platform == 0 {
		tokenP = 0.2
	}
	if r.Float64() < tokenP {
		rec.PushToken = fmt.Sprintf("pt-%016x%016x", r.Uint64(), r.Uint64())
		c.reach[chPush] = true
	}
	c.reach[chInApp] = true
	consent := [nChannels]float64{chEmail: 0.85, chPush: 0.8, chSMS: 0.5}
	for ch := chEmail; ch <= chSMS; ch++ {
		ok := r.Float64() < consent[ch] // drawn whether or not the contact exists
		if c.reach[ch] {
			rec.Consents[channelNames[ch]] = ok
			c.consent0[ch] = ok
		}
	}
	rec.Consents[ChannelInApp] = true
	c.consent0[chInApp] = true

	ageDays := r.ExpFloat64() * 300
	within := r.Float64()
	stageU := r.Float64()
	planU, premiumU := r.Float64(), r.Float64()
	chargeU := r.Float64()
	acq := acquisitions[r.IntN(len(acquisitions))]
	winbackU := r.Float64()
	if existing {
		signup = w.start - int64((ageDays+within)*float64(dayMs))
	}
	c.signup = signup
	rec.Attributes = map[string]string{
		"country":     z.country,
		"signup_date": time.UnixMilli(signup).In(c.loc).Format(time.DateOnly),
		"acquisition": acq,
	}
	c.rec = rec

	lc := p.Lifecycle
	c.stage = stageOnboarding
	if existing && ageDays >= float64(lc.OnboardingDays) {
		a := lc.ActiveToAtRisk / (1 + c.e)
		rc := lc.Recover * c.e / (1 + c.e)
		c.stage = stageActive
		if stageU < a/(a+rc) {
			c.stage = stageAtRisk
			// Fallen at risk some time ago: their winback decision points
			// spread over the first weeks instead of all on day one.
			c.lastWinback = w.start - int64(winbackU*float64(int64(p.Lifecycle.WinbackRepeatDays)*dayMs))
		}
	}
	if existing {
		paid := 0.1 + 0.1*min(c.e, 2) + 0.1*c.intent
		if planU < paid {
			c.plan = planPlus
			if premiumU < 1.0/3 {
				c.plan = planPremium
			}
		}
		c.nextCharge = int32(chargeU * float64(p.Billing.PeriodDays))
	}
	c.initStage, c.initPlan = c.stage, c.plan
	return c
}

var zoneWeights = func() []float64 {
	ws := make([]float64, len(zones))
	for i, z := range zones {
		ws[i] = z.weight
	}
	return ws
}()

// pick returns the index drawn by u in [0, 1) from weights (not necessarily
// normalised).
func pick(u float64, weights []float64) int {
	total := 0.0
	for _, w := range weights {
		total += w
	}
	x := u * total
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// pad formats n with at least width digits.
func pad(n, width int) string {
	s := strconv.Itoa(n)
	for len(s) < width {
		s = "0" + s
	}
	return s
}

// traits returns c's Traits.
func (w *World) traits(c *customer) Traits {
	t := Traits{
		CustomerID:       c.id,
		Engagement:       c.e,
		Segment:          Segments[c.seg],
		PriceSensitivity: c.s,
		UpgradeIntent:    c.intent,
		Categories:       []string{categories[c.cats[0]].name, categories[c.cats[1]].name},
		Channel:          channelNames[c.pref],
		Platform:         platforms[c.platform],
		Timezone:         c.rec.Timezone,
		Existing:         c.signup < w.start,
		SignupAt:         time.UnixMilli(c.signup).UTC(),
		InitialStage:     Stages[c.initStage],
		InitialPlan:      planNames[c.initPlan],
		FinalStage:       Stages[c.stage],
		FinalPlan:        planNames[c.plan],
	}
	if c.churnAt != 0 {
		t.ChurnedAt = time.UnixMilli(c.churnAt).UTC()
		t.ChurnReason = churnReasons[c.churnReason]
	}
	return t
}

var churnReasons = []string{"voluntary", "payment_failed"}
