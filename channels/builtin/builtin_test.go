package builtin_test

import (
	"fmt"
	"strings"
	"testing"

	"kairos/channels"
	"kairos/channels/builtin"
	"kairos/decisioning"
	"kairos/features"
)

const (
	clickPrefix = "https://t.example/c?u="
	unsubscribe = "https://t.example/u/eyJkIjoiZC03In0.c2ln"
	smsMax      = 160
)

// templated are the channels whose messages are rendered from templates
// (webhook sends the message fields as JSON; none sends nothing).
var templated = map[string]bool{"email": true, "push": true, "sms": true, "inapp": true}

func known() channels.Known {
	return channels.Known{Features: features.Default().Names()}
}

func load(t *testing.T) *channels.TemplateSet {
	t.Helper()
	set, err := builtin.Templates(known())
	if err != nil {
		t.Fatalf("builtin.Templates:\n%v", err)
	}
	return set
}

// arms returns the templated arms of the built-in campaigns.
func arms(t *testing.T) []channels.TemplateKey {
	t.Helper()
	cfg, err := decisioning.DefaultConfig(features.Default())
	if err != nil {
		t.Fatalf("decisioning.DefaultConfig: %v", err)
	}
	var keys []channels.TemplateKey
	for _, c := range cfg.Campaigns {
		for _, a := range c.Arms {
			if templated[a.Channel] {
				keys = append(keys, channels.TemplateKey{Campaign: c.Name, Offer: a.Offer, Channel: a.Channel})
			}
		}
	}
	if len(keys) == 0 {
		t.Fatal("the built-in campaigns have no templated arms")
	}
	return keys
}

func TestLoad(t *testing.T) {
	if _, err := channels.LoadTemplates(builtin.FS, builtin.Root, known()); err != nil {
		t.Fatalf("LoadTemplates(builtin.FS, %q):\n%v", builtin.Root, err)
	}
}

// TestCoversBuiltinCampaigns: every templated arm of decisioning's
// built-in campaigns has templates, and every template is of such an arm.
func TestCoversBuiltinCampaigns(t *testing.T) {
	set := load(t)
	want := map[channels.TemplateKey]bool{}
	for _, k := range arms(t) {
		want[k] = true
		if !set.Has(k.Campaign, k.Offer, k.Channel) {
			t.Errorf("no built-in templates for campaign %s, offer %s, channel %s: add %s/%s/%s/%s.*.tmpl",
				k.Campaign, k.Offer, k.Channel, builtin.Root, k.Campaign, k.Offer, k.Channel)
		}
	}
	for _, k := range set.Keys() {
		if !want[k] {
			t.Errorf("templates for %s match no arm of the built-in campaigns", k)
		}
	}
}

// sampleData returns realistic data for a message of key.
func sampleData(k channels.TemplateKey) channels.Data {
	feats := make(map[string]float64)
	for i, name := range features.Default().Names() {
		feats[name] = float64(i) + 0.5
	}
	return channels.Data{
		Customer: channels.CustomerData{
			ID: "c-1029", Email: "alexandra@example.com", Phone: "+4915112345678", Timezone: "Europe/Berlin",
			Attributes: map[string]string{"first_name": "Alexandra", "tier": "plus"},
		},
		Features: feats,
		Scores: channels.ScoreData{Churn: 0.64, Propensity: 0.31,
			NextBestAction: map[string]float64{"electronics": 0.5, "books": 0.3, "home": 0.2}},
		Offer:      channels.OfferData{Name: k.Offer, Vars: map[string]string{"discount": "15%", "code": "WELCOME15"}},
		Campaign:   k.Campaign,
		DecisionID: "01JQ7ZK3V6W8X9Y0A1B2C3D4E5",
		Links: channels.Links{
			Unsubscribe: unsubscribe,
			Wrap:        func(u string) string { return clickPrefix + u },
		},
	}
}

// variants are the data the templates must render well with.
var variants = []struct {
	name   string
	modify func(*channels.Data)
}{
	{"full", func(*channels.Data) {}},
	{"no first_name", func(d *channels.Data) { delete(d.Customer.Attributes, "first_name") }},
	{"long first_name", func(d *channels.Data) { d.Customer.Attributes["first_name"] = "Christopher-Lee" }},
	{"no attributes", func(d *channels.Data) { d.Customer.Attributes = nil }},
	{"no offer vars", func(d *channels.Data) { d.Offer.Vars = nil }},
	{"discount without code", func(d *channels.Data) { delete(d.Offer.Vars, "code") }},
	{"bare", func(d *channels.Data) {
		d.Customer.Attributes, d.Offer.Vars, d.Features = nil, nil, nil
		d.Scores.NextBestAction = nil
	}},
}

func TestRender(t *testing.T) {
	set := load(t)
	for _, k := range set.Keys() {
		for _, v := range variants {
			t.Run(k.String()+"/"+v.name, func(t *testing.T) {
				data := sampleData(k)
				v.modify(&data)
				r, err := set.Render(k.Campaign, k.Offer, k.Channel, data)
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				checkRendered(t, k.Channel, r)
			})
		}
	}
}

func checkRendered(t *testing.T, channel string, r channels.Rendered) {
	t.Helper()
	parts := map[string]string{"subject": r.Subject, "title": r.Title, "text": r.Text, "html": r.HTML, "body": r.Body}
	for name, s := range parts {
		for _, bad := range []string{"<no value>", "{{", "%!", "  "} {
			if strings.Contains(s, bad) && !(bad == "  " && (name == "html" || name == "text")) {
				t.Errorf("%s contains %q:\n%s", name, bad, s)
			}
		}
		if s != strings.TrimSpace(s) {
			t.Errorf("%s has leading or trailing space: %q", name, s)
		}
		// Every link to the shop goes through the click tracker.
		if n, tracked := strings.Count(s, "https://shop.example/"), strings.Count(s, clickPrefix+"https://shop.example/"); n != tracked {
			t.Errorf("%s has %d links to the shop, only %d tracked:\n%s", name, n, tracked, s)
		}
	}
	switch channel {
	case "email":
		for name, s := range map[string]string{"subject": r.Subject, "text": r.Text, "html": r.HTML} {
			if s == "" {
				t.Errorf("empty %s", name)
			}
		}
		for name, s := range map[string]string{"text": r.Text, "html": r.HTML} {
			if !strings.Contains(s, unsubscribe) {
				t.Errorf("%s lacks the unsubscribe link %s:\n%s", name, unsubscribe, s)
			}
			if !strings.Contains(s, clickPrefix) {
				t.Errorf("%s has no tracked link:\n%s", name, s)
			}
		}
		oneLine(t, "subject", r.Subject)
		if lower := strings.ToLower(r.HTML); strings.Contains(lower, "<script") || strings.Contains(lower, "<link") ||
			strings.Contains(lower, "<style") || strings.Contains(lower, "javascript:") {
			t.Errorf("html has external or embedded CSS/JS:\n%s", r.HTML)
		}
	case "push", "inapp":
		if r.Title == "" || r.Body == "" {
			t.Errorf("title %q, body %q: want both", r.Title, r.Body)
		}
		oneLine(t, "title", r.Title)
	case "sms":
		if n := len(r.Body); n > smsMax {
			t.Errorf("SMS body is %d bytes, want at most %d:\n%s", n, smsMax, r.Body)
		}
		if !strings.HasSuffix(r.Body, "Reply STOP to opt out") {
			t.Errorf("SMS body does not end with the opt-out line:\n%s", r.Body)
		}
		// One GSM-7 segment: plain ASCII (no curly quotes, no emoji).
		for _, c := range r.Body {
			if c > 0x7e || c < 0x20 {
				t.Errorf("SMS body has %q, which is not plain ASCII:\n%s", c, r.Body)
				break
			}
		}
	}
}

func oneLine(t *testing.T, name, s string) {
	t.Helper()
	if strings.ContainsAny(s, "\r\n") {
		t.Errorf("%s is not one line: %q", name, s)
	}
}

// TestHTMLEscapes: a customer attribute holding markup is escaped in the
// email html part and reaches the text parts unchanged.
func TestHTMLEscapes(t *testing.T) {
	const name = `<script>alert("x")</script>`
	set := load(t)
	emails := 0
	for _, k := range set.Keys() {
		data := sampleData(k)
		data.Customer.Attributes["first_name"] = name
		data.Offer.Vars["code"] = `<b onmouseover="x">`
		r, err := set.Render(k.Campaign, k.Offer, k.Channel, data)
		if err != nil {
			t.Fatalf("Render %s: %v", k, err)
		}
		if k.Channel != "email" {
			continue
		}
		emails++
		if strings.Contains(r.HTML, "<script") || strings.Contains(r.HTML, "<b onmouseover") {
			t.Errorf("%s: html does not escape the attribute:\n%s", k, r.HTML)
		}
		if !strings.Contains(r.HTML, "&lt;script&gt;") {
			t.Errorf("%s: html lacks the escaped attribute &lt;script&gt;:\n%s", k, r.HTML)
		}
		if !strings.Contains(r.Text, name) {
			t.Errorf("%s: text part lacks the attribute as given:\n%s", k, r.Text)
		}
	}
	if emails == 0 {
		t.Fatal("no email templates")
	}
}

func ExampleTemplates() {
	set, err := builtin.Templates(channels.Known{Features: features.Default().Names()})
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := set.Render("cart_recovery", "reminder", "sms", channels.Data{
		Customer: channels.CustomerData{Attributes: map[string]string{"first_name": "Ada"}},
		Links:    channels.Links{Wrap: func(u string) string { return "https://t.example/c/tok?u=" + u }},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Body)
	// Output:
	// Kairos Shop: Hi Ada, your cart is still saved. Finish your order: https://t.example/c/tok?u=https://shop.example/cart Reply STOP to opt out
}
