package sim

import (
	"strconv"
	"time"

	"kairos/features"
)

// Event type codes, in the order of features.StandardTypes.
const (
	tPageView = iota
	tClick
	tFeatureUsed
	tSessionStart
	tScroll
	tLogin
	tAddToCart
	tPurchase
	tSubscriptionStarted
	tPaymentFailed
	tSubscriptionCancelled
	tEmailOpened
	tEmailClicked
	tPushClicked
	tSMSReplied
	tInAppInteraction
	tMessageDelivered
	tUnsubscribed
	tMessageBounced // never simulated: the simulated addresses are all valid
	tSegmentEntered // never simulated: Kairos's trigger watcher emits them
	tSegmentExited
	nTypes
)

var typeNames = func() [nTypes]string {
	if len(features.StandardTypes) != nTypes {
		panic("sim: features.StandardTypes changed; update the event type codes")
	}
	var names [nTypes]string
	copy(names[:], features.StandardTypes)
	return names
}()

// Page codes.
const (
	pageHome = iota
	pageProduct
	pageCategory
	pageSearch
	pageAccount
	pageBlog
	pagePricing
)

var pageNames = []string{"home", "product", "category", "search", "account", "blog", "pricing"}

// pageWeights are the weights of the pages other than pricing.
var pageWeights = []float64{0.2, 0.45, 0.15, 0.1, 0.05, 0.05}

// Event flags.
const (
	// flagSignup marks the subscription_started of a signup (plan free),
	// which is never dropped.
	flagSignup = 1 << iota
)

// ev is an event in compact form; build turns it into a features.Event
// once its place in the stream (and so its id) is known.
type ev struct {
	t     int64   // unix milliseconds
	amt   float64 // amount, plan_price, scroll depth
	owner int32   // 1 + index of the decision whose message or return it is; 0: organic
	prod  int16   // product, feature, category or offer code
	typ   uint8
	a, b  uint8 // type-specific codes (page, platform, channel, plan, attempt, ...)
	flags uint8
	order uint16 // generation order within a customer-day, for stable ties
}

// Codes of the subscription_cancelled reasons.
const (
	reasonVoluntary = iota
	reasonPaymentFailed
)

var failureReasons = []string{"card_declined", "insufficient_funds", "expired_card"}

// appendID appends the id of c's event number seq to idbuf.
func appendID(idbuf []byte, c *customer, seq int32) []byte {
	var num [20]byte
	digits := strconv.AppendInt(num[:0], int64(seq), 10)
	idbuf = append(idbuf, c.idPrefix...)
	for i := len(digits); i < 6; i++ {
		idbuf = append(idbuf, '0')
	}
	return append(idbuf, digits...)
}

// build returns e as a features.Event of c, without its id.
func (w *World) build(c *customer, e *ev) features.Event {
	out := features.Event{
		CustomerID: c.id,
		Type:       typeNames[e.typ],
		Time:       time.UnixMilli(e.t).UTC(),
	}
	var props map[string]features.Value
	switch e.typ {
	case tSessionStart:
		props = make(map[string]features.Value, 3)
		props["platform"] = features.String(platforms[e.a])
		if e.b != chNone {
			props["channel"] = features.String(channelNames[e.b])
			props["campaign"] = features.String(CampaignWinback)
		}
	case tLogin:
		props = map[string]features.Value{"method": features.String(loginMethods[e.a])}
	case tPageView:
		props = make(map[string]features.Value, 3)
		props["page"] = features.String(pageNames[e.a])
		switch e.a {
		case pageProduct:
			p := &w.catalog[e.prod]
			props["product_id"] = features.String(p.id)
			props["category"] = features.String(categories[p.category].name)
		case pageCategory:
			props["category"] = features.String(categories[e.prod].name)
		}
	case tScroll:
		props = map[string]features.Value{"page": features.String(pageNames[e.a]), "depth": features.Number(e.amt)}
	case tClick:
		props = map[string]features.Value{"element": features.String(clickElements[e.a])}
	case tFeatureUsed:
		props = map[string]features.Value{"feature": features.String(featureNames[e.prod])}
	case tAddToCart, tPurchase:
		p := &w.catalog[e.prod]
		props = make(map[string]features.Value, 4)
		props["product_id"] = features.String(p.id)
		props["category"] = features.String(categories[p.category].name)
		props["amount"] = features.Number(e.amt)
		props["currency"] = features.String(Currency)
	case tSubscriptionStarted:
		props = make(map[string]features.Value, 3)
		props["plan"] = features.String(planNames[e.a])
		props["plan_price"] = features.Number(e.amt)
		props["currency"] = features.String(Currency)
	case tPaymentFailed:
		props = make(map[string]features.Value, 5)
		props["plan"] = features.String(planNames[e.a])
		props["amount"] = features.Number(e.amt)
		props["currency"] = features.String(Currency)
		props["attempt"] = features.Number(float64(e.b))
		props["reason"] = features.String(failureReasons[e.prod])
	case tSubscriptionCancelled:
		props = map[string]features.Value{"plan": features.String(planNames[e.a]), "reason": features.String(churnReasons[e.b])}
	default: // message events
		props = make(map[string]features.Value, 4)
		props["channel"] = features.String(channelNames[e.a])
		props["campaign"] = features.String(campaignNames[e.b])
		props["offer"] = features.String(offerNames[e.prod])
		if e.owner > 0 {
			props["decision_id"] = features.String(w.decs[e.owner-1].id)
		}
	}
	out.Properties = props
	return out
}
