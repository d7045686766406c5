package sim

import (
	"slices"
	"time"

	"kairos/features"
)

// maxSessions bounds a customer's sessions per day (far above the Poisson
// means), which bounds the events of a customer-day below 8,192.
const maxSessions = 60

// worker is the scratch state of one goroutine of the parallel phases.
type worker struct {
	id     int32
	w      *World
	r      *rng
	day0   int64
	day1   int64
	d      int32
	times  []int64
	sess   []ev
	due    []dueEp
	out    []features.Event
	keys   []uint64
	idbuf  []byte
	idEnds []int
	count  [nTypes]int64
}

// add appends an organic event of today to c, or to its pending events
// when it spills over midnight.
func (wk *worker) add(c *customer, e ev) {
	if e.t >= wk.day1 {
		c.insertPending(e)
		return
	}
	c.day = append(c.day, e)
}

// organic generates c's own behaviour on day d: lifecycle, churn, billing,
// sessions, the newsletter, and the episodes they raise. It touches c only.
func (wk *worker) organic(c *customer) {
	w, p := wk.w, wk.w.p
	c.day = c.day[:0]
	day0, day1 := wk.day0, wk.day1
	if c.churnAt != 0 || c.signup >= day1 {
		return
	}
	r := wk.r.seed(w.cfg.Seed, streamDay, uint64(c.idx), uint64(wk.d))
	signupDay := c.signup >= day0
	_, off := time.UnixMilli(day0 + dayMs/2).In(c.loc).Zone()
	offMin := off / 60
	uStage, uChurn, uChurnT := r.Float64(), r.Float64(), r.Float64()
	uBill, uBillT, uReason := r.Float64(), r.Float64(), r.IntN(len(failureReasons))
	uWinT := r.Float64()
	churnDay := false
	plan := c.plan
	st := &c.stats
	if signupDay {
		wk.add(c, ev{t: c.signup, typ: tSubscriptionStarted, a: planFree, flags: flagSignup})
	} else {
		lc := &p.Lifecycle
		prev := c.stage
		switch c.stage {
		case stageOnboarding:
			if day0-c.signup >= int64(lc.OnboardingDays)*dayMs {
				c.stage = stageActive
			} else if uStage < lc.OnboardingToAtRisk/(1+c.e) {
				c.stage = stageAtRisk
			}
		case stageActive:
			if uStage < lc.ActiveToAtRisk/(1+c.e) {
				c.stage = stageAtRisk
			}
		case stageAtRisk:
			if uStage < lc.Recover*c.e/(1+c.e) {
				c.stage = stageActive
			}
		}
		if c.stage == stageAtRisk && (prev != stageAtRisk || day0-c.lastWinback >= int64(lc.WinbackRepeatDays)*dayMs) {
			c.lastWinback = day0
			c.addEpisode(localAt(day0, offMin, 10*60+uWinT*8*60), campWinback, 0, 0)
		}

		h := lc.ChurnHazard.at(int(c.stage))
		if c.dunning > 0 {
			h *= lc.DunningMultiplier
		}
		if day0 >= c.hazFrom && day0 < c.hazUntil {
			h *= c.hazMult
		}
		st.stageDays[c.stage]++
		st.expectedChurn[c.stage] += h
		if uChurn < h {
			c.churnAt, c.churnReason, churnDay = day0+int64(uChurnT*float64(dayMs)), reasonVoluntary, true
			st.churned[c.stage]++
		}

		if plan != planFree {
			b := &p.Billing
			t := day0 + int64(uBillT*20*float64(hourMs))
			failed := ev{t: t, typ: tPaymentFailed, a: plan, amt: planPrice(p, plan), prod: int16(uReason)}
			switch {
			case c.dunning > 0 && wk.d >= c.retryDay:
				if uBill < b.RetryFail {
					c.dunning++
					failed.b = c.dunning
					wk.add(c, failed)
					c.retryDay = wk.d + int32(b.RetryAfterDays)
					if int(c.dunning) >= b.Attempts {
						// The last attempt failed: the subscription ends.
						st.involuntary++
						if at := t + 2*hourMs; c.churnAt == 0 || at < c.churnAt {
							c.churnAt, c.churnReason, churnDay = at, reasonPaymentFailed, true
						}
					}
				} else {
					c.dunning = 0
				}
			case c.dunning == 0 && wk.d >= c.nextCharge:
				st.charges++
				pf := b.FailBase + b.FailPriceSensitivity*c.s
				st.expectedFailures += pf
				c.nextCharge = wk.d + int32(b.PeriodDays)
				if uBill < pf {
					st.failures++
					c.dunning = 1
					c.retryDay = wk.d + int32(b.RetryAfterDays)
					failed.b = 1
					wk.add(c, failed)
				}
			}
		}
	}

	lam := c.e * p.Activity.StageFactor.at(int(c.stage))
	if wd := time.UnixMilli(day0).UTC().Weekday(); wd == time.Saturday || wd == time.Sunday {
		lam *= p.Activity.WeekendFactor
	}
	n := min(r.poisson(lam), maxSessions)
	if !signupDay && !churnDay {
		st.sessions += int32(n)
		st.expectedSessions += lam
	}
	times := wk.times[:0]
	for range n {
		times = append(times, w.sessionTime(r, day0, offMin))
	}
	slices.Sort(times)
	wk.times = times
	if signupDay {
		wk.organicSession(c, r, c.signup+30*1000, &plan)
	}
	for _, t := range times {
		if signupDay && t <= c.signup || c.churnAt != 0 && t >= c.churnAt {
			continue
		}
		wk.organicSession(c, r, t, &plan)
	}

	if time.UnixMilli(day0).UTC().Weekday() == time.Tuesday {
		nl := &p.Newsletter
		uT, uOpen, uOpenT, uClick, uClickT, uUnsub, uUnsubT := r.Float64(), r.Float64(), r.Float64(), r.Float64(), r.Float64(), r.Float64(), r.Float64()
		t := localAt(day0, offMin, 9*60+uT*120)
		tUnsub := t + minuteMs + int64(uUnsubT*3*float64(hourMs))
		if t > c.signup && (c.churnAt == 0 || t < c.churnAt) && c.deliverable(chEmail, t) {
			msg := ev{t: t, typ: tMessageDelivered, a: chEmail, b: campNewsletter, prod: offNone}
			wk.add(c, msg)
			if uOpen < nl.OpenBase+nl.OpenEngagement*min(c.e, 2) {
				msg.typ, msg.t = tEmailOpened, t+int64(truncExp(uOpenT, 2*float64(hourMs), 20*float64(hourMs)))
				wk.add(c, msg)
				if uClick < nl.ClickGivenOpen {
					msg.typ, msg.t = tEmailClicked, msg.t+30*1000+int64(uClickT*10*float64(minuteMs))
					wk.add(c, msg)
				}
			}
			// Unless a campaign email made them unsubscribe first.
			if uUnsub < nl.Unsubscribe && c.deliverable(chEmail, tUnsub) {
				msg.typ, msg.t = tUnsubscribed, tUnsub
				wk.add(c, msg)
				c.revoked[chEmail] = tUnsub
			}
		}
	}

	if churnDay {
		wk.add(c, ev{t: c.churnAt, typ: tSubscriptionCancelled, a: plan, b: c.churnReason})
	}

	// The episodes due today go to the decision phase.
	keep := c.eps[:0]
	for _, e := range c.eps {
		if e.at < day1 {
			wk.due = append(wk.due, dueEp{episode: e, cust: c.idx})
		} else {
			keep = append(keep, e)
		}
	}
	c.eps = keep
}

func (c *customer) addEpisode(at int64, camp int, prod int16, amt float64) {
	c.episodes++
	c.eps = append(c.eps, episode{at: at, no: c.episodes, camp: uint8(camp), prod: prod, amt: amt})
}

// localAt returns the instant of day0's UTC day at which the local clock
// (offset offMin minutes east of UTC) shows minute of the day m.
func localAt(day0 int64, offMin int, m float64) int64 {
	utc := m - float64(offMin)
	for utc < 0 {
		utc += 24 * 60
	}
	for utc >= 24*60 {
		utc -= 24 * 60
	}
	return day0 + int64(utc*float64(minuteMs))
}

// sessionTime draws the start of a session on day0's UTC day whose local
// hour follows the daily rhythm.
func (w *World) sessionTime(r *rng, day0 int64, offMin int) int64 {
	h := pick(r.Float64(), w.p.Activity.HourWeights[:])
	return localAt(day0, offMin, float64(h*60)+r.Float64()*60)
}

// organicSession generates one of c's own sessions starting at t.
func (wk *worker) organicSession(c *customer, r *rng, t int64, plan *uint8) {
	wk.sess = wk.w.session(wk.sess[:0], c, r, t, plan, true, chNone)
	for _, e := range wk.sess {
		wk.add(c, e)
	}
}

// session appends the events of a session starting at t. An organic
// session may hold a cart (and an abandoned cart's episode), pricing page
// views (and an upgrade episode, or an upgrade); a return session (opened
// from a winback message on channel entry) browses only.
func (w *World) session(dst []ev, c *customer, r *rng, t int64, plan *uint8, organic bool, entry uint8) []ev {
	a := &w.p.Activity
	step := func() int64 {
		t += 5000 + r.Int64N(90000)
		return t
	}
	dst = append(dst, ev{t: t, typ: tSessionStart, a: c.platform, b: entry})
	if r.Float64() < a.LoginPerSession {
		dst = append(dst, ev{t: step(), typ: tLogin, a: uint8(c.idx % int32(len(loginMethods)))})
	}
	views := 1 + min(r.poisson(a.ExtraPageViews), 29)
	lastProd := int16(-1)
	for range views {
		e := ev{t: step(), typ: tPageView}
		pricingP := a.PricingBase + a.PricingIntent*c.intent
		if *plan == planPremium {
			pricingP = a.PricingPremium
		}
		if organic && r.Float64() < pricingP {
			e.a = pagePricing
		} else {
			e.a = uint8(pick(r.Float64(), pageWeights))
		}
		switch e.a {
		case pageProduct:
			e.prod = w.pickProduct(c, r)
			lastProd = e.prod
		case pageCategory:
			e.prod = int16(c.cats[r.IntN(2)])
		}
		dst = append(dst, e)
		if e.a == pagePricing {
			upgrade := *plan < planPremium && r.Float64() < a.UpgradeAfterPricing
			if *plan < planPremium && !upgrade && c.lastPricing != 0 && t-c.lastPricing <= dayMs &&
				(c.lastUpgradeEp == 0 || t-c.lastUpgradeEp >= 7*dayMs) {
				c.lastUpgradeEp = t
				c.addEpisode(t+5*minuteMs, campUpgrade, 0, 0)
			}
			c.lastPricing = max(c.lastPricing, t)
			if upgrade {
				dst = append(dst, ev{t: step(), typ: tSubscriptionStarted})
				*plan++
			}
		}
		if r.Float64() < a.ScrollPerPageView {
			dst = append(dst, ev{t: step(), typ: tScroll, a: e.a, amt: float64(25 * (1 + r.IntN(4)))})
		}
	}
	for range r.poisson(a.ClicksPerSession) {
		dst = append(dst, ev{t: step(), typ: tClick, a: uint8(r.IntN(len(clickElements)))})
	}
	if !organic {
		return dst
	}
	for range r.poisson(a.FeaturesPerSession) {
		f := int16(c.feats[r.IntN(3)])
		if r.Float64() < 0.2 {
			f = int16(r.IntN(len(featureNames)))
		}
		dst = append(dst, ev{t: step(), typ: tFeatureUsed, prod: f})
	}
	if r.Float64() < a.CartPerSession {
		prod := lastProd
		if prod < 0 {
			prod = w.pickProduct(c, r)
		}
		amt := w.catalog[prod].price
		cart := step()
		dst = append(dst, ev{t: cart, typ: tAddToCart, prod: prod, amt: amt})
		if r.Float64() < a.PurchaseGivenCart-a.PurchasePriceSensitivity*c.s {
			dst = append(dst, ev{t: step(), typ: tPurchase, prod: prod, amt: amt})
		} else {
			c.addEpisode(cart+int64(a.CartAbandonedAfterMinutes)*minuteMs, campCart, prod, amt)
		}
	}
	return dst
}

// pickProduct draws a product: mostly from c's preferred categories, the
// popular ones more often.
func (w *World) pickProduct(c *customer, r *rng) int16 {
	cat := int(c.cats[r.IntN(2)])
	if r.Float64() < 0.3 {
		cat = r.IntN(len(categories))
	}
	u := r.Float64()
	return int16(cat*productsPerCategory + int(u*u*productsPerCategory))
}
