package sim

import (
	"cmp"
	"slices"
)

// Sort keys of the day's merged stream: milliseconds into the day (27
// bits), customer index (24 bits), the event's index among the customer's
// events of the day (13 bits). Customer ids are zero-padded and event ids
// end in a zero-padded sequence number, so key order is (Time, CustomerID,
// ID) order.
const (
	keyCustBits  = 24
	keyIndexBits = 13
	maxDayEvents = 1<<keyIndexBits - 1
)

// finish completes c's day: the events due from earlier days join today's,
// nothing survives a churn, the open decision sees what the customer did
// anyway, plans and consents change as events say, and the events are
// built with their ids. A decision whose window closed today is finalised.
func (wk *worker) finish(c *customer) {
	w := wk.w
	day0, day1 := wk.day0, wk.day1
	k := 0
	for k < len(c.pending) && c.pending[k].t < day1 {
		k++
	}
	if k > 0 {
		c.day = append(c.day, c.pending[:k]...)
		c.pending = c.pending[:copy(c.pending, c.pending[k:])]
	}
	if len(c.day) > 0 {
		// Organic events before the responses to a message at the same
		// millisecond; otherwise in the order they were made.
		slices.SortStableFunc(c.day, func(a, b ev) int {
			return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(min(a.owner, 1), min(b.owner, 1)))
		})
		if c.churnAt != 0 && c.churnAt < day1 {
			keep := c.day[:0]
			for _, e := range c.day {
				if e.t < c.churnAt || e.t == c.churnAt && e.typ == tSubscriptionCancelled && e.owner == 0 {
					keep = append(keep, e)
				}
			}
			c.day = keep
		}
		if len(c.day) > maxDayEvents {
			panic("sim: more than 8191 events of one customer in one day") // maxSessions prevents it
		}
	}
	if c.open != 0 {
		w.observe(c, c.day)
	}

	c.outW, c.outOff = wk.id, int32(len(wk.out))
	p := w.p
	n := 0
	ids := wk.idbuf[:0]
	ends := wk.idEnds[:0]
	for i := range c.day {
		e := &c.day[i]
		switch e.typ {
		case tSubscriptionStarted:
			if e.flags&flagSignup == 0 {
				if c.plan >= planPremium {
					continue // already on the top plan: nothing to upgrade
				}
				if c.plan == planFree {
					c.nextCharge = wk.d + int32(p.Billing.PeriodDays)
				}
				c.plan++
				e.a, e.amt = c.plan, planPrice(p, c.plan)
			}
		case tUnsubscribed:
			if name := channelNames[e.a]; c.rec.Consents[name] {
				c.rec.Consents[name] = false
				c.changed = true
			}
		}
		c.seq++
		ids = appendID(ids, c, c.seq)
		ends = append(ends, len(ids))
		wk.out = append(wk.out, w.build(c, e))
		wk.keys = append(wk.keys, uint64(e.t-day0)<<(keyCustBits+keyIndexBits)|uint64(c.idx)<<keyIndexBits|uint64(n))
		wk.count[e.typ]++
		n++
	}
	// One string holds the ids of the customer's events of the day.
	all, from := string(ids), 0
	for i, end := range ends {
		wk.out[int(c.outOff)+i].ID = all[from:end]
		from = end
	}
	wk.idbuf, wk.idEnds = ids, ends
	if c.open != 0 && c.windowEnd <= day1 {
		w.finalize(&w.decs[c.open-1], c)
		c.open = 0
	}
}

// observe records, for c's open decision, what the customer did in its
// window regardless of the message, from evs: the first conversion that is
// not the decision's own (the earliest; on a tie the one first in evs,
// which is first in the stream).
func (w *World) observe(c *customer, evs []ev) {
	ds := &w.decs[c.open-1]
	camp := &w.camps[ds.camp]
	for i := range evs {
		e := &evs[i]
		if e.t < ds.at || e.t >= c.windowEnd || e.owner == c.open || !camp.conv[e.typ] || e.flags&flagSignup != 0 ||
			c.orgFirstT >= 0 && e.t >= c.orgFirstT {
			continue
		}
		c.orgFirstT = e.t
		switch camp.code {
		case campCart:
			c.orgFirstV = e.amt
		case campUpgrade:
			// Every upgrade in the window up to the first is the same step
			// up from the plan at the decision point.
			c.orgFirstV = ds.value
		}
	}
}

// closeEarly finalises c's open decision when its window closed today
// before a new decision point of c: everything before the new one has been
// generated (today's organic events, and the due ones still pending).
func (w *World) closeEarly(c *customer) {
	w.observe(c, c.day)
	w.observe(c, c.pending)
	w.finalize(&w.decs[c.open-1], c)
	c.open = 0
}
