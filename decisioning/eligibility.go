package decisioning

import (
	"strconv"
	"time"

	"kairos/features"
)

// Reasons an arm is removed by eligibility, as they appear in
// Decision.Reasons: "removed:<channel>/<offer>:<reason>".
const (
	reasonNoAddress = "no_address" // no email address, phone or push token
	reasonNoConsent = "no_consent" // consent for the channel not given or revoked
	// reasonUnreachable: the provider refused the customer's address on the
	// channel for good (a hard bounce, an unregistered push token, an
	// invalid number); it holds until the address changes.
	reasonUnreachable = "unreachable"
	reasonCooldown    = "cooldown" // the campaign messaged the customer within its cooldown
	reasonCapPrefix   = "cap:"     // cap:<scope>:<channel>:<max>/<per>
)

// eligible returns the mask of the campaign's arms the customer may
// receive now (bit i: arm i), adding a reason to d for every arm removed.
// The none arm is always eligible.
//
// The rules, in order: the channel must reach the customer (an email
// address, a phone number, a push token; in-app and webhook need none),
// that address must not be one the provider refused for good
// (Snapshot.Unreachable), and the channel must have consent (email, push and SMS need consents[channel] = true —
// opt-in; in-app and webhook only need it not to be false, i.e. not
// unsubscribed); the campaign's cooldown; then the global caps (messages of
// every campaign) and the campaign's own caps, each counting the messages
// sent on its channel ("any": all) within its rolling window.
func (e *Engine) eligible(d *Decision, c *compiled, snap *Snapshot, now time.Time) uint64 {
	var mask uint64
	cust := snap.Profile.Customer
	cooling := c.Cooldown > 0 && lastSent(snap.Sent, c.Name).After(now.Add(-c.Cooldown))
	for i, a := range c.Arms {
		if a.Channel == ChannelNone {
			mask |= 1 << uint(i)
			continue
		}
		reason := ""
		switch {
		case !Reachable(cust, a.Channel):
			reason = reasonNoAddress
		case snap.Unreachable[a.Channel] != "" && snap.Unreachable[a.Channel] == Address(cust, a.Channel):
			reason = reasonUnreachable
		case !Consented(cust, a.Channel):
			reason = reasonNoConsent
		case cooling:
			reason = reasonCooldown + ":" + features.FormatDuration(c.Cooldown)
		default:
			reason = capReached("global", e.cfg.Global.Caps, snap.Sent, "", a.Channel, now)
			if reason == "" {
				reason = capReached("campaign", c.Caps, snap.Sent, c.Name, a.Channel, now)
			}
		}
		if reason != "" {
			d.Reasons = append(d.Reasons, "removed:"+a.Channel+"/"+a.Offer+":"+reason)
			continue
		}
		mask |= 1 << uint(i)
	}
	return mask
}

// Address returns the customer's address on a channel that needs one:
// their email address, phone number or push token; "" for the other
// channels and for a customer without a record.
func Address(c *features.Customer, channel string) string {
	if c == nil {
		return ""
	}
	switch channel {
	case ChannelEmail:
		return c.Email
	case ChannelSMS:
		return c.Phone
	case ChannelPush:
		return c.PushToken
	}
	return ""
}

// Reachable reports whether the customer has the contact details the
// channel needs.
func Reachable(c *features.Customer, channel string) bool {
	switch channel {
	case ChannelEmail, ChannelSMS, ChannelPush:
		return Address(c, channel) != ""
	}
	return true
}

// Consented applies the consent rule of the channel.
func Consented(c *features.Customer, channel string) bool {
	switch channel {
	case ChannelEmail, ChannelSMS, ChannelPush:
		return c != nil && c.Consents[channel]
	}
	if c == nil {
		return true
	}
	v, ok := c.Consents[channel]
	return !ok || v
}

// lastSent returns the time of the campaign's latest message, zero when
// there is none.
func lastSent(sent []Sent, campaign string) time.Time {
	var last time.Time
	for i := range sent {
		if sent[i].Campaign == campaign && sent[i].At.After(last) {
			last = sent[i].At
		}
	}
	return last
}

// capReached returns the reason of the first cap that a message on channel
// would exceed, "" when none does. campaign "" counts every campaign's
// messages.
func capReached(scope string, caps []Cap, sent []Sent, campaign, channel string, now time.Time) string {
	for _, cp := range caps {
		if cp.Channel != AnyChannel && cp.Channel != channel {
			continue
		}
		from := now.Add(-cp.Per)
		n := 0
		for i := range sent {
			s := &sent[i]
			if s.At.After(from) && !s.At.After(now) &&
				(campaign == "" || s.Campaign == campaign) &&
				(cp.Channel == AnyChannel || s.Channel == cp.Channel) {
				n++
			}
		}
		if n >= cp.Max {
			return reasonCapPrefix + scope + ":" + cp.Channel + ":" + strconv.Itoa(cp.Max) + "/" + features.FormatDuration(cp.Per)
		}
	}
	return ""
}
