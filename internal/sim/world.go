package sim

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

const (
	minuteMs = int64(60 * 1000)
	hourMs   = 60 * minuteMs
	dayMs    = 24 * hourMs
)

// World is one simulated customer base. New builds it; Run simulates it,
// once.
type World struct {
	cfg     Config
	p       *Params
	policy  Policy
	start   int64 // ms
	end     int64 // ms
	idWidth int
	zones   []zone
	catalog []product
	camps   []campaign
	chans   [nChannels]*ChannelParams
	share   [nOffers]float64 // cost share of each offer
	custs   []customer

	// mu guards decs, awaiting and epRNG: Deliver may be called by a
	// policy while Run waits in Choose.
	mu       sync.Mutex
	decs     []decState
	awaiting map[string]int
	epRNG    *rng
	ran      bool

	byType [nTypes]int64
	byDay  []int64
}

// campaign is a built-in campaign, compiled.
type campaign struct {
	code   int
	p      *CampaignParams
	window int64
	arms   []Arm
	ch     []uint8
	off    []uint8
	none   int
	conv   [nTypes]bool
	// returns: episodes have a return (cart bought, upgrade) without a
	// message, too.
	returns bool
}

func (c *campaign) armIndex(channel, offer string) int {
	for i, a := range c.arms {
		if a.Channel == channel && a.Offer == offer {
			return i
		}
	}
	return -1
}

// maxArms bounds the arms of a campaign.
const maxArms = 6

// episode is a moment that may become a decision point: a cart abandoned,
// a customer fallen at risk, pricing pages viewed.
type episode struct {
	at   int64
	amt  float64 // cart amount
	no   int32   // the customer's episode number
	prod int16   // cart product
	camp uint8
}

type dueEp struct {
	episode
	cust int32
}

// draws are the random numbers of an episode, drawn in this order from
// (Seed, customer, episode number) before anything depends on the arm:
// the common random numbers of the potential outcomes.
type draws struct {
	conv, ret, unsub, unsubT, eng, engT, click, clickT, deliverT float64
}

func drawEpisode(r *rng) draws {
	return draws{conv: r.Float64(), ret: r.Float64(), unsub: r.Float64(), unsubT: r.Float64(),
		eng: r.Float64(), engT: r.Float64(), click: r.Float64(), clickT: r.Float64(), deliverT: r.Float64()}
}

// decState is a decision point and, once its window closed, its potential
// outcomes.
type decState struct {
	id       string
	at       int64
	tRet     int64 // when the episode's return happens, if it does
	tUnsub   int64 // when a message makes the customer unsubscribe, if it does
	value    float64
	s        float64
	amt      float64
	d        draws
	cust     int32
	no       int32
	prod     int16
	camp     uint8
	seg      uint8
	arm      int8 // assigned; -1 while the policy chooses
	msgArm   int8 // delivered through Deliver; -1: none
	done     bool
	deliver  [maxArms]bool // whether each arm's message reaches the customer
	outcomes [maxArms]Outcome
}

// New validates cfg and draws the customers of the world.
func New(cfg Config) (*World, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	w := &World{cfg: cfg, p: DefaultParams(), policy: cfg.Policy, awaiting: map[string]int{}, epRNG: newRNG()}
	if w.policy == nil {
		w.policy = Randomized{Seed: cfg.Seed}
	}
	end := cfg.End.UTC()
	w.end = end.UnixMilli()
	w.start = end.AddDate(0, 0, -cfg.Days).UnixMilli()
	w.idWidth = max(6, len(fmt.Sprint(cfg.Customers-1)))
	w.zones = slices.Clone(zones)
	for i := range w.zones {
		loc, err := time.LoadLocation(w.zones[i].name)
		if err != nil {
			return nil, fmt.Errorf("sim: load time zone %s: %w (build with time/tzdata or install the tz database)", w.zones[i].name, err)
		}
		w.zones[i].loc = loc
	}
	w.catalog = newCatalog(cfg.Seed)
	for i := range w.p.Channels {
		ch := &w.p.Channels[i]
		w.chans[slices.Index(channelNames[:], ch.Name)] = ch
	}
	for _, o := range w.p.Offers {
		w.share[slices.Index(offerNames[:], o.Name)] = o.CostShare
	}
	for i := range w.p.Campaigns {
		cp := &w.p.Campaigns[i]
		c := campaign{code: slices.Index(campaignNames[:], cp.Name), p: cp, window: int64(cp.WindowHours) * hourMs}
		c.returns = c.code != campWinback
		for j, a := range cp.Arms {
			ch := slices.Index(channelNames[:], a.Channel)
			off := slices.Index(offerNames[:], a.Offer)
			cost := 0.0
			if ch != chNone {
				cost = w.chans[ch].Cost
			} else {
				c.none = j
			}
			c.arms = append(c.arms, Arm{Channel: a.Channel, Offer: a.Offer, Cost: cost})
			c.ch = append(c.ch, uint8(ch))
			c.off = append(c.off, uint8(off))
		}
		for _, t := range cp.Conversion {
			c.conv[slices.Index(typeNames[:], t)] = true
		}
		w.camps = append(w.camps, c)
	}

	n := cfg.Customers
	signups := int(math.Round(float64(n) * w.p.SignupShare))
	existing := n - signups
	r := newRNG().seed(cfg.Seed, streamSignups, 0, 0)
	times := make([]int64, signups)
	for i := range times {
		times[i] = w.start + int64(r.Float64()*float64(w.end-w.start))
	}
	slices.Sort(times)
	w.custs = make([]customer, n)
	for i := range w.custs {
		var signup int64
		if i >= existing {
			signup = times[i-existing]
		}
		w.custs[i] = w.newCustomer(i, signup, i < existing, r)
	}
	return w, nil
}

// Start and End return the simulated period [Start, End).
func (w *World) Start() time.Time { return time.UnixMilli(w.start).UTC() }

// End returns the end of the simulated period.
func (w *World) End() time.Time { return time.UnixMilli(w.end).UTC() }

// deliverable reports whether a message on channel ch at time at reaches
// c: contact details, consent, and no unsubscribe before at.
func (c *customer) deliverable(ch int, at int64) bool {
	if ch == chNone || !c.reach[ch] || !c.consent0[ch] {
		return false
	}
	return c.revoked[ch] == 0 || c.revoked[ch] > at
}

// returnProb is the probability of an episode's return under arm i.
func (w *World) returnProb(camp *campaign, seg int, s float64, i int, delivered bool) float64 {
	a := &camp.p.Arms[i]
	if camp.code == campWinback {
		if !delivered {
			return 0
		}
		return a.Lift.at(seg)
	}
	p := camp.p.Baseline.at(seg)
	if delivered {
		lift := a.Lift.at(seg)
		if camp.off[i] == offDiscount {
			lift *= 0.5 + s
		}
		p += lift
	}
	return min(max(p, 0), 1)
}

// decide turns the episodes due today into decision points (asking the
// policy) or, when a decision point is not possible, plays out their
// returns without a message. It runs alone, between the parallel phases.
func (w *World) decide(ctx context.Context, due []dueEp) error {
	slices.SortFunc(due, func(a, b dueEp) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.cust, b.cust), cmp.Compare(a.no, b.no))
	})
	for i := range due {
		e := &due[i]
		c := &w.custs[e.cust]
		if c.churnAt != 0 && e.at >= c.churnAt {
			continue
		}
		camp := &w.camps[e.camp]
		planAt := uint8(planFree)
		if camp.code == campUpgrade {
			planAt = c.planAt(e.at)
			if planAt >= planPremium {
				continue
			}
		}
		if e.at >= w.start && e.at+camp.window <= w.end && c.windowEnd <= e.at {
			if c.open != 0 {
				w.closeEarly(c)
			}
			if err := w.decision(ctx, c, camp, e, planAt); err != nil {
				return err
			}
			continue
		}
		if camp.returns {
			w.mu.Lock()
			r := w.epRNG.seed(w.cfg.Seed, streamEpisode, uint64(c.idx), uint64(e.no))
			d := drawEpisode(r)
			if d.conv < w.returnProb(camp, c.seg, c.s, camp.none, false) {
				c.insertPending(w.returnEvent(camp, e.at+w.returnDelay(camp, d.ret), e.prod, e.amt, 0))
			}
			w.mu.Unlock()
		}
	}
	return nil
}

// planAt returns c's plan at time at of today: the plan at the start of the
// day plus the upgrades (organic or returns) before at.
func (c *customer) planAt(at int64) uint8 {
	plan := c.plan
	for i := range c.day {
		if e := &c.day[i]; e.typ == tSubscriptionStarted && e.flags&flagSignup == 0 && e.t < at {
			plan++
		}
	}
	for i := range c.pending {
		if e := &c.pending[i]; e.typ == tSubscriptionStarted && e.t < at {
			plan++
		}
	}
	return min(plan, planPremium)
}

func (w *World) returnDelay(camp *campaign, u float64) int64 {
	mean := w.p.Activity.ReturnMeanHours
	if camp.code == campCart {
		mean = w.p.Activity.CartReturnMeanHours
	}
	const lead = 20 * minuteMs
	return lead + int64(truncExp(u, mean*float64(hourMs), float64(camp.window-lead-minuteMs)))
}

// returnEvent is the conversion of an episode: the cart bought or the
// upgrade (a winback return is a session, see respond).
func (w *World) returnEvent(camp *campaign, t int64, prod int16, amt float64, owner int32) ev {
	if camp.code == campCart {
		return ev{t: t, typ: tPurchase, prod: prod, amt: amt, owner: owner}
	}
	return ev{t: t, typ: tSubscriptionStarted, owner: owner}
}

func planPrice(p *Params, plan uint8) float64 {
	switch plan {
	case planPlus:
		return p.Billing.PlusPrice
	case planPremium:
		return p.Billing.PremiumPrice
	}
	return 0
}

// decision makes e a decision point, asks the policy and plays out the
// chosen arm.
func (w *World) decision(ctx context.Context, c *customer, camp *campaign, e *dueEp, planAt uint8) error {
	w.mu.Lock()
	r := w.epRNG.seed(w.cfg.Seed, streamEpisode, uint64(c.idx), uint64(e.no))
	ds := decState{
		id: c.idPrefix + "d" + pad(int(e.no), 4), at: e.at, cust: c.idx, no: e.no, camp: uint8(camp.code),
		seg: uint8(c.seg), s: c.s, prod: e.prod, amt: e.amt, arm: -1, msgArm: -1, d: drawEpisode(r),
	}
	ds.tRet = e.at + w.returnDelay(camp, ds.d.ret)
	ds.tUnsub = e.at + minuteMs + int64(truncExp(ds.d.unsubT, 2*float64(hourMs), float64(camp.window-2*minuteMs)))
	switch camp.code {
	case campCart:
		ds.value = e.amt
	case campUpgrade:
		ds.value = planPrice(w.p, planAt+1)
	}
	for i, ch := range camp.ch {
		ds.deliver[i] = c.deliverable(int(ch), e.at)
	}
	idx := len(w.decs)
	w.decs = append(w.decs, ds)
	w.awaiting[ds.id] = idx
	w.mu.Unlock()

	dp := DecisionPoint{DecisionID: ds.id, CustomerID: c.id, Campaign: camp.p.Name, At: time.UnixMilli(e.at).UTC(),
		Segment: Segments[c.seg], Arms: slices.Clone(camp.arms)}
	arm, err := w.policy.Choose(ctx, dp)
	if err != nil {
		return fmt.Errorf("sim: policy at decision point %s: %w", ds.id, err)
	}
	i := camp.armIndex(arm.Channel, arm.Offer)
	if i < 0 {
		return fmt.Errorf("sim: policy at decision point %s chose %s/%s, which is not an arm of campaign %s", ds.id, arm.Channel, arm.Offer, camp.p.Name)
	}
	w.mu.Lock()
	delivered := w.decs[idx].msgArm
	w.mu.Unlock()
	switch {
	case delivered >= 0 && int(delivered) != i:
		return fmt.Errorf("sim: policy at decision point %s delivered %s/%s but chose %s/%s", ds.id,
			camp.arms[delivered].Channel, camp.arms[delivered].Offer, arm.Channel, arm.Offer)
	case delivered < 0 && i != camp.none:
		if err := w.Deliver(Message{DecisionID: ds.id, CustomerID: c.id, Campaign: camp.p.Name,
			Channel: arm.Channel, Offer: arm.Offer, At: dp.At}); err != nil {
			return err
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.awaiting, ds.id)
	d := &w.decs[idx]
	d.arm = int8(i)
	if i == camp.none {
		w.respond(idx, i)
	}
	c.open = int32(idx + 1)
	c.windowEnd = e.at + camp.window
	c.orgFirstT, c.orgFirstV = -1, 0
	return nil
}

// Deliver is the world's response to a message: the interface the decision
// layer's messages go through. The message must answer a decision point
// whose policy is choosing (Run delivers the chosen arm itself unless the
// policy did), on one of its campaign's arms other than none. A message the
// customer cannot receive (no contact or consent for the channel, e.g.
// after an unsubscribe) is not delivered: no events, no effect, no cost.
// Otherwise the customer reacts as the campaign's true effects say:
// message_delivered, engagement, perhaps an unsubscribe, perhaps the
// conversion, and for winback a changed churn hazard after the window.
func (w *World) Deliver(m Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	idx, ok := w.awaiting[m.DecisionID]
	if !ok {
		return fmt.Errorf("sim: deliver: decision_id %q: no decision point awaits a message under this id (messages are delivered while the policy chooses)", m.DecisionID)
	}
	ds := &w.decs[idx]
	c := &w.custs[ds.cust]
	camp := &w.camps[ds.camp]
	i := camp.armIndex(m.Channel, m.Offer)
	switch {
	case m.CustomerID != c.id:
		return fmt.Errorf("sim: deliver %s: customer_id %q: the decision point is customer %s's", m.DecisionID, m.CustomerID, c.id)
	case m.Campaign != camp.p.Name:
		return fmt.Errorf("sim: deliver %s: campaign %q: the decision point is campaign %s's", m.DecisionID, m.Campaign, camp.p.Name)
	case !m.At.IsZero() && m.At.UnixMilli() != ds.at:
		return fmt.Errorf("sim: deliver %s: at %s: must be the decision point's time %s (or zero)", m.DecisionID, m.At.Format(time.RFC3339Nano), time.UnixMilli(ds.at).UTC().Format(time.RFC3339Nano))
	case i < 0 || i == camp.none:
		return fmt.Errorf("sim: deliver %s: channel %q, offer %q: not a message arm of campaign %s", m.DecisionID, m.Channel, m.Offer, camp.p.Name)
	case ds.msgArm >= 0:
		return fmt.Errorf("sim: deliver %s: a message was already delivered for this decision point", m.DecisionID)
	}
	ds.msgArm = int8(i)
	w.respond(idx, i)
	return nil
}

// respond schedules the events of decision idx under arm i: the message
// and the customer's reactions to it, and the return if it happens. It is
// called with w.mu held.
func (w *World) respond(idx, i int) {
	ds := &w.decs[idx]
	c := &w.custs[ds.cust]
	camp := &w.camps[ds.camp]
	owner := int32(idx + 1)
	ch := int(camp.ch[i])
	delivered := ch != chNone && ds.deliver[i]
	ret := ds.d.conv < w.returnProb(camp, int(ds.seg), ds.s, i, delivered)
	induced := ret && !(ds.d.conv < w.returnProb(camp, int(ds.seg), ds.s, camp.none, false))
	if delivered {
		cp := w.chans[ch]
		seg := int(ds.seg)
		msg := ev{typ: tMessageDelivered, a: uint8(ch), b: uint8(camp.code), prod: int16(camp.off[i]), owner: owner}
		msg.t = ds.at + 1000 + int64(ds.d.deliverT*4000)
		c.insertPending(msg)
		engage := cp.Engage.at(seg)
		if uint8(ch) == c.pref {
			engage = min(1, engage*PreferredBoost)
		}
		engaged := ds.d.eng < engage
		means := [nChannels]float64{chEmail: 3 * float64(hourMs), chPush: 30 * float64(minuteMs), chSMS: 20 * float64(minuteMs), chInApp: 2 * float64(hourMs)}
		tE := msg.t + minuteMs + int64(truncExp(ds.d.engT, means[ch], float64(ds.at+camp.window-msg.t-2*minuteMs)))
		clicked := ch == chEmail && ds.d.click < cp.ClickGivenOpen
		if induced {
			// A customer the message converts reacted to it first.
			if !engaged || tE >= ds.tRet-3*minuteMs {
				engaged, tE = true, ds.tRet-3*minuteMs
			}
			clicked = ch == chEmail
		}
		if engaged {
			typ := [nChannels]uint8{chEmail: tEmailOpened, chPush: tPushClicked, chSMS: tSMSReplied, chInApp: tInAppInteraction}[ch]
			e := msg
			e.typ, e.t = typ, tE
			c.insertPending(e)
			if clicked {
				e.typ, e.t = tEmailClicked, tE+30*1000+int64(ds.d.clickT*float64(minuteMs))
				c.insertPending(e)
			}
		}
		if ds.d.unsub < cp.Unsubscribe.at(seg) {
			e := msg
			e.typ, e.t = tUnsubscribed, ds.tUnsub
			c.insertPending(e)
			if c.revoked[ch] == 0 || ds.tUnsub < c.revoked[ch] {
				c.revoked[ch] = ds.tUnsub
			}
		}
		if camp.code == campWinback {
			c.hazMult = camp.p.Arms[i].HazardMultiplier.at(seg)
			c.hazFrom = ds.at + camp.window
			c.hazUntil = c.hazFrom + int64(w.p.Lifecycle.WinbackEffectDays)*dayMs
		}
	}
	if !ret {
		return
	}
	if camp.code != campWinback {
		c.insertPending(w.returnEvent(camp, ds.tRet, ds.prod, ds.amt, owner))
		return
	}
	// The winback return: a session opened from the message.
	r := w.epRNG.seed(w.cfg.Seed, streamEpisode, uint64(c.idx), uint64(ds.no))
	drawEpisode(r)
	var sess []ev
	plan := c.plan
	sess = w.session(sess, c, r, ds.tRet, &plan, false, uint8(ch))
	for _, e := range sess {
		e.owner = owner
		c.insertPending(e)
	}
}

// insertPending adds e to c's future events, after those at the same time.
func (c *customer) insertPending(e ev) {
	i := len(c.pending)
	for i > 0 && c.pending[i-1].t > e.t {
		i--
	}
	c.pending = slices.Insert(c.pending, i, e)
}

// finalize computes the potential outcomes of a decision whose window has
// closed, from its draws and what the customer did anyway in the window.
func (w *World) finalize(ds *decState, c *customer) {
	camp := &w.camps[ds.camp]
	seg := int(ds.seg)
	for i := range camp.arms {
		ch := int(camp.ch[i])
		delivered := ch != chNone && ds.deliver[i]
		ret := ds.d.conv < w.returnProb(camp, seg, ds.s, i, delivered) && (c.churnAt == 0 || ds.tRet < c.churnAt)
		o := Outcome{Delivered: delivered}
		switch {
		case ret && (c.orgFirstT < 0 || ds.tRet < c.orgFirstT):
			o.Converted, o.Revenue = true, ds.value
		case c.orgFirstT >= 0:
			o.Converted, o.Revenue = true, c.orgFirstV
		}
		o.Unsubscribed = delivered && ds.d.unsub < w.chans[ch].Unsubscribe.at(seg) && (c.churnAt == 0 || ds.tUnsub < c.churnAt)
		if delivered {
			o.Cost = w.chans[ch].Cost + w.share[camp.off[i]]*o.Revenue
		}
		ds.outcomes[i] = o
	}
	ds.done = true
}
