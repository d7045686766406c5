package dispatch

import (
	"fmt"
	"html"
	"math"
	"strings"

	"kairos/channels"
	"kairos/decisioning"
	"kairos/features"
)

// Compose renders the message of a SEND decision for the customer of p:
// the recipient (to, or the customer's address on the channel, or their id
// for in-app), the parts rendered from ts, the tracking links, and for
// email the one-click unsubscribe URL and an open pixel. Webhook messages
// are not templated: their Data carries the offer's variables. It is what
// the dispatcher sends and what `kairos channels preview` shows; offerVars
// and links may be nil.
func Compose(dec *decisioning.Decision, p features.Profile, to string, ts *channels.TemplateSet,
	offerVars func(campaign, offer string) map[string]string, links Links) (*channels.Message, error) {
	m := &channels.Message{ID: dec.ID, CustomerID: dec.CustomerID, Campaign: dec.Campaign, Offer: dec.Offer, Channel: dec.Channel, To: to}
	if m.To == "" {
		m.To = decisioning.Address(p.Customer, dec.Channel)
	}
	if m.To == "" && dec.Channel == decisioning.ChannelInApp {
		m.To = dec.CustomerID
	}
	var vars map[string]string
	if offerVars != nil {
		vars = offerVars(dec.Campaign, dec.Offer)
	}
	var l channels.Links
	if links != nil {
		l = links(dec)
	}
	m.UnsubscribeURL = l.Unsubscribe
	if dec.Channel == decisioning.ChannelWebhook {
		m.Data = make(map[string]string, len(vars))
		for k, v := range vars {
			m.Data[k] = v
		}
		return m, nil
	}
	if ts == nil {
		return nil, fmt.Errorf("no templates are loaded for %s/%s/%s", dec.Campaign, dec.Offer, dec.Channel)
	}
	data := channels.Data{
		Customer:   customerData(dec.CustomerID, p.Customer),
		Features:   make(map[string]float64, len(p.Vector.Names)),
		Scores:     channels.ScoreData{Churn: dec.Scores.Churn, Propensity: dec.Scores.Propensity, NextBestAction: dec.Scores.NextBestAction},
		Offer:      channels.OfferData{Name: dec.Offer, Vars: vars},
		Campaign:   dec.Campaign,
		DecisionID: dec.ID,
		Links:      l,
	}
	// A missing feature is absent, so it renders as 0 like any missing
	// map entry.
	for i, name := range p.Vector.Names {
		if v := p.Vector.Values[i]; !math.IsNaN(v) {
			data.Features[name] = v
		}
	}
	r, err := ts.Render(dec.Campaign, dec.Offer, dec.Channel, data)
	if err != nil {
		return nil, err
	}
	r.Fill(m)
	if m.HTML != "" && l.Open != "" {
		m.HTML = withPixel(m.HTML, l.Open)
	}
	return m, nil
}

// customerData is the customer's record as templates see it.
func customerData(id string, c *features.Customer) channels.CustomerData {
	if c == nil {
		return channels.CustomerData{ID: id}
	}
	return channels.CustomerData{ID: id, Email: c.Email, Phone: c.Phone, Timezone: c.Timezone, Attributes: c.Attributes}
}

// withPixel adds the open pixel at the end of an HTML body.
func withPixel(body, src string) string {
	img := `<img src="` + html.EscapeString(src) + `" width="1" height="1" alt="" style="display:block;border:0">`
	if i := strings.LastIndex(strings.ToLower(body), "</body>"); i >= 0 {
		return body[:i] + img + body[i:]
	}
	return body + img
}
