package sim

import (
	"math"
	"testing"
)

// tolerance is how many standard errors a measurement may be off.
const tolerance = 4

// near checks that got is within tolerance standard errors of want.
func near(t *testing.T, name string, got, want, se float64) {
	t.Helper()
	if d := math.Abs(got - want); d > tolerance*se+1e-12 {
		t.Errorf("%s = %.5g, want %.5g ± %.2g (%.1f standard errors off)", name, got, want, tolerance*se, d/se)
	}
}

// binomial checks k successes of n trials against probability p.
func binomial(t *testing.T, name string, k, n int, p float64) {
	t.Helper()
	if n == 0 {
		t.Errorf("%s: no trials", name)
		return
	}
	near(t, name, float64(k)/float64(n), p, math.Sqrt(p*(1-p)/float64(n)))
}

// TestEventRates measures the rates of the activity model from the event
// stream and compares them with its parameters.
func TestEventRates(t *testing.T) {
	r := shared(t)
	a := DefaultParams().Activity
	start := r.w.start
	var sessions, organic, logins, views, scrolls, clicks, feats, carts, eligible int
	var inSession int
	var inSessionWant, inSessionVar float64
	var nlDelivered, nlOpened int
	var nlWant, nlVar float64
	for ci, idx := range r.byCust {
		tr := &r.res.Traits[ci]
		signupDay, churnDay := int64(-1), int64(-1)
		if !tr.Existing {
			signupDay = (tr.SignupAt.UnixMilli() - start) / dayMs
		}
		if !tr.ChurnedAt.IsZero() {
			churnDay = (tr.ChurnedAt.UnixMilli() - start) / dayMs
		}
		lastCart := map[string]int64{}
		for _, i := range idx {
			e := &r.rec.evs[i]
			switch e.typ {
			case "session_start":
				sessions++
				if e.campaign == "" {
					organic++
					if d := (e.t - start) / dayMs; d != signupDay && d != churnDay {
						eligible++
					}
				}
			case "login":
				logins++
			case "page_view":
				views++
			case "scroll":
				scrolls++
			case "click":
				clicks++
			case "feature_used":
				feats++
			case "add_to_cart":
				carts++
				lastCart[e.product] = e.t
				p := a.PurchaseGivenCart - a.PurchasePriceSensitivity*tr.PriceSensitivity
				inSessionWant += p
				inSessionVar += p * (1 - p)
			case "purchase":
				if t0, ok := lastCart[e.product]; ok && e.t-t0 <= 100*1000 {
					inSession++
				}
			case "message_delivered":
				if e.campaign == CampaignNewsletter {
					nlDelivered++
					p := DefaultParams().Newsletter.OpenBase + DefaultParams().Newsletter.OpenEngagement*min(tr.Engagement, 2)
					nlWant += p
					nlVar += p * (1 - p)
				}
			case "email_opened":
				if e.campaign == CampaignNewsletter {
					nlOpened++
				}
			}
		}
	}
	lc := r.res.Lifecycle
	if int64(eligible) != lc.Sessions {
		t.Errorf("%d organic sessions on days without signup or churn in the stream, the model drew %d", eligible, lc.Sessions)
	}
	near(t, "sessions (organic, days without signup or churn)", float64(lc.Sessions), lc.ExpectedSessions, math.Sqrt(lc.ExpectedSessions))
	binomial(t, "logins per session", logins, sessions, a.LoginPerSession)
	n := float64(sessions)
	near(t, "page views per session", float64(views)/n, 1+a.ExtraPageViews, math.Sqrt(a.ExtraPageViews/n))
	binomial(t, "scrolls per page view", scrolls, views, a.ScrollPerPageView)
	near(t, "clicks per session", float64(clicks)/n, a.ClicksPerSession, math.Sqrt(a.ClicksPerSession/n))
	near(t, "features used per organic session", float64(feats)/float64(organic), a.FeaturesPerSession, math.Sqrt(a.FeaturesPerSession/float64(organic)))
	binomial(t, "carts per organic session", carts, organic, a.CartPerSession)
	near(t, "carts bought in their session", float64(inSession), inSessionWant, math.Sqrt(inSessionVar))
	near(t, "newsletters opened", float64(nlOpened), nlWant, math.Sqrt(nlVar))
	near(t, "first payment attempts failed", float64(lc.PaymentFailures), lc.ExpectedPaymentFailures, math.Sqrt(lc.ExpectedPaymentFailures))
	if sessions < 100000 {
		t.Errorf("only %d sessions: the test run is too small for these checks", sessions)
	}
}

// TestChurnHazard compares the churns of each stage with the hazard model.
func TestChurnHazard(t *testing.T) {
	r := shared(t)
	lc := r.res.Lifecycle
	hazard := DefaultParams().Lifecycle.ChurnHazard
	var voluntary int64
	for s, st := range lc.Stages {
		near(t, "voluntary churns at stage "+st.Stage, float64(st.Churned), st.ExpectedChurn, math.Sqrt(st.ExpectedChurn)+0.5)
		// Without dunning and winback, expected/customer-days is the
		// stage's hazard; with them it is at least that (dunning ×3, the
		// winback multipliers are near 1).
		if rate := st.ExpectedChurn / float64(st.CustomerDays); rate < 0.8*hazard.at(s) || rate > 1.5*hazard.at(s) {
			t.Errorf("mean hazard at stage %s = %.5f, want about %.5f", st.Stage, rate, hazard.at(s))
		}
		voluntary += st.Churned
	}
	var paymentFailed, volCancelled int64
	for _, tr := range r.res.Traits {
		switch tr.ChurnReason {
		case "payment_failed":
			paymentFailed++
		case "voluntary":
			volCancelled++
		}
	}
	if paymentFailed > lc.InvoluntaryChurns || paymentFailed < lc.InvoluntaryChurns*9/10 || paymentFailed == 0 {
		t.Errorf("%d churns for payment_failed, %d last attempts failed", paymentFailed, lc.InvoluntaryChurns)
	}
	if volCancelled > voluntary || volCancelled < voluntary-paymentFailed {
		t.Errorf("%d voluntary churns in traits, %d drawn", volCancelled, voluntary)
	}
	// At-risk customers churn far more than active ones.
	if at, act := lc.Stages[stageAtRisk], lc.Stages[stageActive]; float64(at.Churned)/float64(at.CustomerDays) < 5*float64(act.Churned)/float64(act.CustomerDays) {
		t.Errorf("churn rate at risk %d/%d is not well above active %d/%d", at.Churned, at.CustomerDays, act.Churned, act.CustomerDays)
	}
	rate := float64(r.res.Churned) / float64(r.cfg.Customers)
	if rate < 0.05 || rate > 0.3 {
		t.Errorf("%.1f%% of customers churned in %d days, want 5-30%%", 100*rate, r.cfg.Days)
	}
}

// TestTruthConsistent recomputes Truth from the decisions' potential
// outcomes and checks its identities.
func TestTruthConsistent(t *testing.T) {
	r := shared(t)
	truth := r.res.Truth
	if len(truth.Campaigns) != 3 {
		t.Fatalf("truth has %d campaigns, want 3", len(truth.Campaigns))
	}
	perCampaign := map[string]int{}
	for _, d := range r.res.Decisions {
		perCampaign[d.Campaign]++
		i := armIndexOf(truth, d.Campaign, d.Arm)
		if i < 0 {
			t.Fatalf("decision %s chose %+v, not an arm of %s", d.DecisionID, d.Arm, d.Campaign)
		}
		if d.Potential[i] != d.Outcome {
			t.Errorf("decision %s: observed %+v, potential of its arm %+v", d.DecisionID, d.Outcome, d.Potential[i])
		}
		none := d.Potential[len(d.Potential)-1]
		if none.Delivered || none.Cost != 0 {
			t.Errorf("decision %s: none arm %+v delivered or costs", d.DecisionID, none)
		}
		for _, o := range d.Potential {
			if !o.Delivered && (o != none) {
				t.Errorf("decision %s: undelivered arm %+v differs from none %+v", d.DecisionID, o, none)
			}
		}
	}
	for _, ct := range truth.Campaigns {
		if ct.Decisions != perCampaign[ct.Campaign] || ct.Decisions < 500 {
			t.Errorf("%s: truth counts %d decisions, %d recorded (want at least 500)", ct.Campaign, ct.Decisions, perCampaign[ct.Campaign])
		}
		assigned := 0
		for ai, at := range ct.Arms {
			assigned += at.All.Assigned
			sum := 0
			var conv float64
			for _, seg := range Segments {
				c := at.Segments[seg]
				sum += c.Decisions
				conv += c.Converted.Arm * float64(c.Decisions)
				checkEffects(t, ct.Campaign+" "+at.Channel+"/"+at.Offer+" "+seg, c)
			}
			checkEffects(t, ct.Campaign+" "+at.Channel+"/"+at.Offer, at.All)
			if sum != ct.Decisions || at.All.Decisions != ct.Decisions {
				t.Errorf("%s %s/%s: segments hold %d decisions, all %d, campaign %d", ct.Campaign, at.Channel, at.Offer, sum, at.All.Decisions, ct.Decisions)
			}
			if math.Abs(conv/float64(ct.Decisions)-at.All.Converted.Arm) > 1e-9 {
				t.Errorf("%s %s/%s: segments average to %v converted, all says %v", ct.Campaign, at.Channel, at.Offer, conv/float64(ct.Decisions), at.All.Converted.Arm)
			}
			// Recompute from the potential outcomes.
			var n, k float64
			for _, d := range r.res.Decisions {
				if d.Campaign == ct.Campaign {
					n++
					k += b2f(d.Potential[ai].Converted)
				}
			}
			if math.Abs(k/n-at.All.Converted.Arm) > 1e-9 {
				t.Errorf("%s %s/%s: %v converted from the potential outcomes, truth says %v", ct.Campaign, at.Channel, at.Offer, k/n, at.All.Converted.Arm)
			}
			if last := ai == len(ct.Arms)-1; last != (at.Channel == ChannelNone) {
				t.Errorf("%s: arm %d is %s; want none last", ct.Campaign, ai, at.Channel)
			}
		}
		if assigned != ct.Decisions {
			t.Errorf("%s: %d assigned over arms, %d decisions", ct.Campaign, assigned, ct.Decisions)
		}
		none := ct.Arms[len(ct.Arms)-1].All
		if none.Converted.Effect != 0 || none.Revenue.Effect != 0 || none.Unsubscribed.Effect != 0 || none.Cost != 0 {
			t.Errorf("%s: none has effects %+v", ct.Campaign, none)
		}
	}
}

func checkEffects(t *testing.T, name string, c Cell) {
	t.Helper()
	for _, e := range []Effect{c.Converted, c.Revenue, c.Unsubscribed, c.Net} {
		if math.Abs(e.Arm-e.Baseline-e.Effect) > 1e-9 {
			t.Errorf("%s: effect %+v is not arm - baseline", name, e)
		}
	}
	if c.Decisions > 0 && (c.Converted.Arm < 0 || c.Converted.Arm > 1 || c.Delivered < 0 || c.Delivered > 1 || c.Cost < 0) {
		t.Errorf("%s: cell %+v out of range", name, c)
	}
}

func armIndexOf(truth Truth, campaign string, a Arm) int {
	for _, ct := range truth.Campaigns {
		if ct.Campaign == campaign {
			for i, at := range ct.Arms {
				if at.Channel == a.Channel && at.Offer == a.Offer {
					return i
				}
			}
		}
	}
	return -1
}

// TestObservedFromStream joins every decision with the event stream as a
// reward joiner would (the first conversion event in the window, an
// unsubscribe answering its message) and checks the recorded outcome.
func TestObservedFromStream(t *testing.T) {
	r := shared(t)
	conv := map[string]map[string]bool{}
	window := map[string]int64{}
	value := map[string]string{}
	for _, cp := range DefaultParams().Campaigns {
		conv[cp.Name] = map[string]bool{}
		for _, c := range cp.Conversion {
			conv[cp.Name][c] = true
		}
		window[cp.Name] = int64(cp.WindowHours) * hourMs
		value[cp.Name] = cp.Value
	}
	bad := 0
	for _, d := range r.res.Decisions {
		at := d.At.UnixMilli()
		end := at + window[d.Campaign]
		var got Outcome
		for _, i := range r.byCust[r.customer(d.CustomerID)] {
			e := &r.rec.evs[i]
			if e.t < at || e.t >= end {
				continue
			}
			if !got.Converted && conv[d.Campaign][e.typ] {
				got.Converted = true
				switch value[d.Campaign] {
				case "amount":
					got.Revenue = e.amount
				case "plan_price":
					got.Revenue = e.price
				}
			}
			if e.typ == "unsubscribed" && e.decision == d.DecisionID {
				got.Unsubscribed = true
			}
			if e.typ == "message_delivered" && e.decision == d.DecisionID {
				got.Delivered = true
				if e.channel != d.Arm.Channel {
					t.Errorf("decision %s: message on %s, arm %s", d.DecisionID, e.channel, d.Arm.Channel)
				}
			}
		}
		got.Cost = d.Cost
		if got != d.Outcome {
			if bad++; bad <= 10 {
				t.Errorf("decision %s (%s, %s/%s, at %s): the stream says %+v, recorded %+v", d.DecisionID, d.Campaign, d.Arm.Channel, d.Arm.Offer, d.At, got, d.Outcome)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d decisions disagree with the stream", bad, len(r.res.Decisions))
	}
}

// TestTreatmentEffects estimates every arm's effect from the randomised
// decisions (difference in means, arm vs none) and compares it with the
// truth, over all segments and per segment.
func TestTreatmentEffects(t *testing.T) {
	r := shared(t)
	type acc struct{ n, sum, sq float64 }
	add := func(a *acc, x float64) { a.n++; a.sum += x; a.sq += x * x }
	metrics := []struct {
		name   string
		value  func(Outcome) float64
		truth  func(Cell) Effect
		binary bool
	}{
		{"converted", func(o Outcome) float64 { return b2f(o.Converted) }, func(c Cell) Effect { return c.Converted }, true},
		{"revenue", func(o Outcome) float64 { return o.Revenue }, func(c Cell) Effect { return c.Revenue }, false},
		{"unsubscribed", func(o Outcome) float64 { return b2f(o.Unsubscribed) }, func(c Cell) Effect { return c.Unsubscribed }, true},
	}
	small := 0
	for _, ct := range r.res.Truth.Campaigns {
		for _, at := range ct.Arms[:len(ct.Arms)-1] {
			for _, seg := range append([]string{""}, Segments...) {
				cell := at.All
				if seg != "" {
					cell = at.Segments[seg]
				}
				for _, m := range metrics {
					var arm, none acc
					for _, d := range r.res.Decisions {
						if d.Campaign != ct.Campaign || seg != "" && d.Segment != seg {
							continue
						}
						switch {
						case d.Arm.Channel == at.Channel && d.Arm.Offer == at.Offer:
							add(&arm, m.value(d.Outcome))
						case d.Arm.Channel == ChannelNone:
							add(&none, m.value(d.Outcome))
						}
					}
					if arm.n < 50 || none.n < 50 {
						if seg == "" {
							t.Errorf("%s %s/%s: %v treated, %v controls: too few", ct.Campaign, at.Channel, at.Offer, arm.n, none.n)
						}
						small++
						continue
					}
					// The sample variance, or for a rare binary outcome
					// that of the true rate, whichever is larger.
					variance := func(a acc, p float64) float64 {
						mu := a.sum / a.n
						v := max(a.sq/a.n-mu*mu, 0)
						if m.binary {
							v = max(v, p*(1-p))
						}
						return v / (a.n - 1)
					}
					e := m.truth(cell)
					se := math.Sqrt(variance(arm, e.Arm) + variance(none, e.Baseline))
					est := arm.sum/arm.n - none.sum/none.n
					near(t, ct.Campaign+" "+at.Channel+"/"+at.Offer+" "+seg+" "+m.name+" effect", est, e.Effect, se)
				}
			}
		}
	}
	if small > 6 {
		t.Errorf("%d cells with fewer than 50 treated or controls", small)
	}
}

// TestTrueEffectsMatchParams measures the arms' effects on the episode
// returns and on unsubscribes from the stream and compares them with the
// parameters, and checks the documented helpful, null and harmful arms.
func TestTrueEffectsMatchParams(t *testing.T) {
	r := shared(t)
	p := DefaultParams()
	// Per campaign, arm, segment and delivered: returns seen and expected.
	type key struct {
		campaign, channel, offer string
		seg                      int
	}
	type acc struct {
		n, k       int
		want, vari float64
	}
	returns := map[key]*acc{}
	unsub := map[[2]string]*acc{} // channel, segment
	for _, d := range r.res.Decisions {
		cp := campaignParams(p, d.Campaign)
		seg := segmentIndex(d.Segment)
		ci := r.customer(d.CustomerID)
		at, end := d.At.UnixMilli(), d.At.UnixMilli()+int64(cp.WindowHours)*hourMs
		var product string
		var lastCart int64
		returned, unsubscribed := false, false
		for _, i := range r.byCust[ci] {
			e := &r.rec.evs[i]
			if e.typ == "add_to_cart" {
				if d.Campaign == CampaignCartRecovery && e.t == at-int64(p.Activity.CartAbandonedAfterMinutes)*minuteMs {
					product = e.product
				}
				if e.product == product {
					lastCart = e.t
				}
			}
			if e.t < at || e.t >= end {
				continue
			}
			switch {
			case d.Campaign == CampaignCartRecovery && e.typ == "purchase" && e.product == product && product != "" && e.t-lastCart > 100*1000:
				// The cart's product bought on its own, not in a session
				// right after putting it in a cart again.
				returned = true
			case d.Campaign == CampaignWinback && e.typ == "session_start" && e.campaign == CampaignWinback:
				returned = true
			case e.typ == "unsubscribed" && e.decision == d.DecisionID:
				unsubscribed = true
			}
		}
		if d.Campaign == CampaignUpgrade {
			continue // an upgrade return cannot be told from an organic upgrade
		}
		if d.Arm.Channel != ChannelNone && !d.Delivered {
			continue
		}
		var arm ArmParams
		for _, a := range cp.Arms {
			if a.Channel == d.Arm.Channel && a.Offer == d.Arm.Offer {
				arm = a
			}
		}
		prob := arm.Lift.at(seg)
		if arm.Offer == OfferDiscount {
			prob *= 0.5 + r.res.Traits[ci].PriceSensitivity
		}
		if d.Campaign == CampaignCartRecovery {
			prob = min(max(cp.Baseline.at(seg)+prob, 0), 1)
		}
		k := key{d.Campaign, d.Arm.Channel, d.Arm.Offer, seg}
		if returns[k] == nil {
			returns[k] = &acc{}
		}
		a := returns[k]
		a.n++
		a.k += int(b2f(returned))
		a.want += prob
		a.vari += prob * (1 - prob)
		if d.Delivered {
			uk := [2]string{d.Arm.Channel, d.Segment}
			if unsub[uk] == nil {
				unsub[uk] = &acc{}
			}
			u := unsub[uk]
			u.n++
			u.k += int(b2f(unsubscribed))
		}
	}
	for k, a := range returns {
		// A few returns are lost to churn before they happen.
		slack := 0.03 * a.want
		if d := a.want - float64(a.k); d > tolerance*math.Sqrt(a.vari)+slack+0.5 || -d > tolerance*math.Sqrt(a.vari)+0.5 {
			t.Errorf("%s %s/%s %s: %d of %d returned, the parameters say %.1f ± %.1f", k.campaign, k.channel, k.offer, Segments[k.seg], a.k, a.n, a.want, tolerance*math.Sqrt(a.vari))
		}
	}
	for k, a := range unsub {
		var want float64
		for _, ch := range p.Channels {
			if ch.Name == k[0] {
				want = ch.Unsubscribe.at(segmentIndex(k[1]))
			}
		}
		if a.n >= 20 {
			binomial(t, "unsubscribes after "+k[0]+" to "+k[1], a.k, a.n, want)
		}
	}

	truth := map[string]ArmTruth{}
	for _, ct := range r.res.Truth.Campaigns {
		for _, at := range ct.Arms {
			truth[ct.Campaign+" "+at.Channel+"/"+at.Offer] = at
		}
	}
	// Helpful: the discount email raises conversion in every segment.
	for _, seg := range Segments {
		if e := truth["cart_recovery email/discount_10"].Segments[seg].Converted.Effect; e <= 0 {
			t.Errorf("cart_recovery email/discount_10 %s: converted effect %v, want > 0", seg, e)
		}
	}
	// Null: a push reminder does nothing for low engagement (but costs).
	if c := truth["cart_recovery push/reminder"].Segments["low"]; c.Converted.Effect != 0 || c.Revenue.Effect != 0 {
		t.Errorf("cart_recovery push/reminder low: effects %+v %+v, want exactly 0", c.Converted, c.Revenue)
	}
	if c := truth["winback push/reminder"].Segments["low"]; c.Converted.Effect != 0 {
		t.Errorf("winback push/reminder low: converted effect %v, want exactly 0", c.Converted.Effect)
	}
	// Harmful: SMS to low engagement lowers conversion and raises unsubscribes.
	c := truth["cart_recovery sms/reminder"].Segments["low"]
	if c.Converted.Effect >= 0 || c.Unsubscribed.Effect < 0.01 {
		t.Errorf("cart_recovery sms/reminder low: converted %+v, unsubscribed %+v; want lower conversion, more unsubscribes", c.Converted, c.Unsubscribed)
	}
	if hi := truth["cart_recovery sms/reminder"].Segments["high"]; hi.Converted.Effect <= 0 {
		t.Errorf("cart_recovery sms/reminder high: converted effect %v, want > 0", hi.Converted.Effect)
	}
}

func campaignParams(p *Params, name string) *CampaignParams {
	for i := range p.Campaigns {
		if p.Campaigns[i].Name == name {
			return &p.Campaigns[i]
		}
	}
	panic("no campaign " + name)
}
