package decisioning_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"kairos/decisioning"
	"kairos/features"
	"kairos/internal/sim"
)

const oneDay = 24 * time.Hour

// exampleYAML is the configuration of the issue; it must parse.
const exampleYAML = `global: {control_group: 5%, salt: g1,
         caps: [{channel: any, max: 3, per: 7d}, {channel: sms, max: 1, per: 7d}],
         quiet_hours: {from: "21:00", to: "08:00"},      # customer's own timezone
         default_timezone: UTC, fallback: no_action}
campaigns:
  - name: cart_recovery
    holdout: 10%
    salt: cr1
    arms:
      - {channel: email, offer: reminder}
      - {channel: push,  offer: reminder}
      - {channel: email, offer: discount_10, cost: 1.50}
      - {channel: none}                                   # the explicit "don't send" arm
    reward: {event: purchase, within: 72h, value: amount} # or value: 1
    policy: {kind: linear_thompson, context: [churn, propensity, cart_value_7d], epsilon: 0.05, half_life: 14d}
    cooldown: 24h
    caps: [{channel: any, max: 1, per: 24h}]              # optional, this campaign's messages only
`

func TestParseConfigExample(t *testing.T) {
	cfg, err := decisioning.ParseConfig("campaigns.yaml", []byte(exampleYAML), features.Default())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(exampleYAML))
	want := &decisioning.Config{
		Global: decisioning.Global{
			ControlGroup: 500,
			Salt:         "g1",
			Caps: []decisioning.Cap{
				{Channel: "any", Max: 3, Per: 7 * oneDay},
				{Channel: "sms", Max: 1, Per: 7 * oneDay},
			},
			QuietHours:      &decisioning.QuietHours{From: 21 * 60, To: 8 * 60},
			DefaultTimezone: "UTC",
			Fallback:        decisioning.FallbackNoAction,
		},
		Campaigns: []decisioning.Campaign{{
			Name:    "cart_recovery",
			Holdout: 1000,
			Salt:    "cr1",
			Arms: []decisioning.Arm{
				{Channel: "email", Offer: "reminder"},
				{Channel: "push", Offer: "reminder"},
				{Channel: "email", Offer: "discount_10", Cost: 1.5},
				{Channel: "none"},
			},
			Reward: decisioning.RewardRule{Event: "purchase", Within: 72 * time.Hour, Value: "amount"},
			Policy: decisioning.PolicyConfig{
				Kind:     decisioning.PolicyLinearThompson,
				Context:  []string{"churn", "propensity", "cart_value_7d"},
				Epsilon:  0.05,
				HalfLife: 14 * oneDay,
			},
			Cooldown: 24 * time.Hour,
			Caps:     []decisioning.Cap{{Channel: "any", Max: 1, Per: 24 * time.Hour}},
			Line:     6,
		}},
		Source:  "campaigns.yaml",
		Version: hex.EncodeToString(sum[:])[:12],
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("ParseConfig (-want +got):\n%s", diff)
	}
	c, ok := cfg.Campaign("cart_recovery")
	if !ok || c != &cfg.Campaigns[0] {
		t.Errorf("Campaign(cart_recovery) = %p, %v; want the first campaign", c, ok)
	}
	if c, ok := cfg.Campaign("nope"); ok || c != nil {
		t.Errorf("Campaign(nope) = %v, %v; want nil, false", c, ok)
	}
}

// The error of the issue, in full: file, line, column, field and rule.
func TestParseConfigErrorText(t *testing.T) {
	data := strings.Replace(exampleYAML, "kind: linear_thompson", "kind: ucb", 1)
	_, err := decisioning.ParseConfig("campaigns.yaml", []byte(data), features.Default())
	const want = `campaigns.yaml:15:20: campaigns[0].policy.kind: unknown policy "ucb"; use thompson or linear_thompson`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	var ce *decisioning.ConfigError
	if !errors.As(err, &ce) || ce.Line != 15 || ce.Column != 20 || ce.Path != "campaigns[0].policy.kind" || ce.File != "campaigns.yaml" {
		t.Errorf("ConfigError = %+v", ce)
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg, err := decisioning.DefaultConfig(features.Default())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cfg.Campaigns {
		names = append(names, c.Name)
	}
	wantNames := []string{"cart_recovery", "upgrade_prompt", "winback", "renewal_reminder", "onboarding_nudge"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("campaigns = %v, want %v", names, wantNames)
	}
	g := cfg.Global
	wantGlobal := decisioning.Global{
		ControlGroup: 500, Salt: g.Salt,
		Caps:            []decisioning.Cap{{Channel: "any", Max: 3, Per: 7 * oneDay}, {Channel: "sms", Max: 1, Per: 7 * oneDay}},
		QuietHours:      &decisioning.QuietHours{From: 21 * 60, To: 8 * 60},
		DefaultTimezone: "UTC", Fallback: decisioning.FallbackNoAction,
	}
	if diff := cmp.Diff(wantGlobal, g); diff != "" {
		t.Errorf("global (-want +got):\n%s", diff)
	}
	sum := sha256.Sum256(decisioning.DefaultConfigYAML())
	if want := hex.EncodeToString(sum[:6]); cfg.Version != want || cfg.Source != "decisioning/campaigns.yaml" {
		t.Errorf("version %q, source %q; want %q, decisioning/campaigns.yaml", cfg.Version, cfg.Source, want)
	}
	// Every campaign ends with its none arm.
	for _, c := range cfg.Campaigns {
		if last := c.Arms[len(c.Arms)-1]; last.Channel != decisioning.ChannelNone {
			t.Errorf("%s: last arm %v, want the none arm", c.Name, last)
		}
	}
	// The offers' variables, for the message templates.
	wantOffers := map[string]map[string]map[string]string{
		"cart_recovery":  {"discount_10": {"discount": "10%", "code": "CART10"}},
		"upgrade_prompt": {"upgrade_offer": {"discount": "50%", "months": "1", "code": "UPGRADE50"}},
		"winback":        {"discount_10": {"discount": "10%", "code": "COMEBACK10"}},
	}
	for _, c := range cfg.Campaigns {
		if diff := cmp.Diff(wantOffers[c.Name], c.Offers); diff != "" {
			t.Errorf("%s offers (-want +got):\n%s", c.Name, diff)
		}
	}
	// Every built-in campaign records unsubscribes and churn besides its
	// reward.
	wantMetrics := []decisioning.MetricRule{
		{Name: "unsubscribe", Event: "unsubscribed", Within: 7 * oneDay},
		{Name: "churn_30d", Event: "subscription_cancelled", Within: 30 * oneDay},
	}
	for _, c := range cfg.Campaigns {
		if diff := cmp.Diff(wantMetrics, c.Metrics); diff != "" {
			t.Errorf("%s metrics (-want +got):\n%s", c.Name, diff)
		}
	}
	cr, _ := cfg.Campaign("cart_recovery")
	if got := cr.OfferVars("discount_10")["code"]; got != "CART10" {
		t.Errorf("cart_recovery OfferVars(discount_10)[code] = %q, want CART10", got)
	}
	if got := cr.OfferVars("reminder"); got != nil {
		t.Errorf("cart_recovery OfferVars(reminder) = %v, want nil", got)
	}
}

// The offers of a campaign carry the variables of its message templates;
// values are kept as written, and offers without variables have none.
func TestParseConfigOffers(t *testing.T) {
	const data = `global: {salt: g}
campaigns:
  - name: cart_recovery
    salt: cr1
    offers:                   # before the arms it names: order does not matter
      discount_10:
        discount: "10%"
        code: CART10
        amount: 1.50
        months: 1
        stackable: false
        note: ""
        greeting: Grüße, 👋
      reminder: {}
      push_only: ~
    arms:
      - {channel: email, offer: reminder}
      - {channel: email, offer: discount_10}
      - {channel: push, offer: push_only}
      - {channel: none}
    reward: {event: purchase, within: 72h}
    policy: {kind: thompson}
  - name: winback
    salt: wb1
    arms: [{channel: email, offer: discount_10}, {channel: none}]
    reward: {event: session_start, within: 7d}
    policy: {kind: thompson}
`
	cfg, err := decisioning.ParseConfig("x.yaml", []byte(data), features.Default())
	if err != nil {
		t.Fatal(err)
	}
	cr, wb := &cfg.Campaigns[0], &cfg.Campaigns[1]
	want := map[string]map[string]string{
		"discount_10": {
			"discount": "10%", "code": "CART10", "amount": "1.50", "months": "1",
			"stackable": "false", "note": "", "greeting": "Grüße, 👋",
		},
	}
	if diff := cmp.Diff(want, cr.Offers); diff != "" {
		t.Errorf("offers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want["discount_10"], cr.OfferVars("discount_10")); diff != "" {
		t.Errorf("OfferVars(discount_10) (-want +got):\n%s", diff)
	}
	for _, offer := range []string{"reminder", "push_only", "none", ""} {
		if got := cr.OfferVars(offer); got != nil {
			t.Errorf("OfferVars(%q) = %v, want nil", offer, got)
		}
	}
	// Variables belong to one campaign's offer, not to the offer's name.
	if wb.Offers != nil || wb.OfferVars("discount_10") != nil {
		t.Errorf("winback offers = %v, want none", wb.Offers)
	}
	// Config.OfferVars looks the campaign up by name.
	if got := cfg.OfferVars("cart_recovery", "discount_10")["code"]; got != "CART10" {
		t.Errorf("Config.OfferVars(cart_recovery, discount_10)[code] = %q, want CART10", got)
	}
	for _, tc := range [][2]string{{"winback", "discount_10"}, {"cart_recovery", "reminder"}, {"nope", "discount_10"}} {
		if got := cfg.OfferVars(tc[0], tc[1]); got != nil {
			t.Errorf("Config.OfferVars(%s, %s) = %v, want nil", tc[0], tc[1], got)
		}
	}
}

// The built-in campaigns that the simulator also runs have its arms (in its
// order; its none arm has offer "none", ours none) and its reward, so that
// the simulator can drive Kairos.
func TestDefaultConfigMatchesSimulator(t *testing.T) {
	cfg, err := decisioning.DefaultConfig(features.Default())
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range sim.DefaultParams().Campaigns {
		c, ok := cfg.Campaign(sc.Name)
		if !ok {
			t.Errorf("simulator campaign %s is not built in", sc.Name)
			continue
		}
		var want, got []string
		for _, a := range sc.Arms {
			offer := a.Offer
			if a.Channel == sim.ChannelNone {
				offer = ""
			}
			want = append(want, a.Channel+"/"+offer)
		}
		for _, a := range c.Arms {
			got = append(got, a.Channel+"/"+a.Offer)
		}
		if !slices.Equal(want, got) {
			t.Errorf("%s arms = %v, simulator has %v", sc.Name, got, want)
		}
		if c.Reward.Event != sc.Conversion[0] || c.Reward.Within != time.Duration(sc.WindowHours)*time.Hour {
			t.Errorf("%s reward = %+v, simulator converts on %v within %dh", sc.Name, c.Reward, sc.Conversion, sc.WindowHours)
		}
		wantValue := sc.Value
		if wantValue == "" {
			wantValue = "1"
		}
		if c.Reward.Value != wantValue {
			t.Errorf("%s reward value = %q, simulator values it at %q", sc.Name, c.Reward.Value, wantValue)
		}
	}
}

// The built-in file names only features of the built-in feature set; a set
// without them refuses it.
func TestDefaultConfigNeedsItsFeatures(t *testing.T) {
	set, err := features.Parse([]byte("features:\n  - {name: logins_7d, event: login, agg: count, window: 7d}\n"), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decisioning.DefaultConfig(set); err == nil || !strings.Contains(err.Error(), `unknown input "cart_value_7d"`) {
		t.Errorf("DefaultConfig with a small feature set: %v", err)
	}
	if _, err := decisioning.ParseConfig("x.yaml", []byte(exampleYAML), nil); err == nil {
		t.Error("ParseConfig with a nil feature set did not fail")
	}
}

// campaign renders one campaign as a flow mapping: the defaults, with over
// replacing (or, with value "-", removing) fields.
func campaignFlow(over map[string]string) string {
	f := map[string]string{
		"name":   "c",
		"salt":   "s",
		"arms":   "[{channel: email, offer: o}, {channel: none}]",
		"reward": "{event: purchase, within: 72h}",
		"policy": "{kind: thompson}",
	}
	for k, v := range over {
		f[k] = v
	}
	order := []string{"name", "holdout", "salt", "arms", "reward", "metrics", "policy", "cooldown", "caps"}
	var keys []string
	for k := range f {
		if !slices.Contains(order, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range append(order, keys...) {
		if v, ok := f[k]; ok && v != "-" {
			parts = append(parts, k+": "+v)
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// doc is a configuration with global on line 1 and the campaigns from
// line 3, one per line.
func configDoc(global string, campaigns ...string) string {
	if global == "" {
		global = "{salt: g}"
	}
	var b strings.Builder
	b.WriteString("global: " + global + "\ncampaigns:\n")
	for _, c := range campaigns {
		b.WriteString("  - " + c + "\n")
	}
	return b.String()
}

func TestParseConfigRules(t *testing.T) {
	set, err := features.Parse([]byte(`features:
  - {name: logins_7d, event: login, agg: count, window: 7d}
  - {name: spend_7d, event: purchase, agg: sum, field: amount, window: 7d}
custom_events: [trial_converted]
`), "features.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := func(kv ...string) string {
		over := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			over[kv[i]] = kv[i+1]
		}
		return campaignFlow(over)
	}
	g := func(s string) string { return "{salt: g, " + s + "}" }
	ok := configDoc("", c())
	for _, tc := range []struct {
		name string
		yaml string
		line int    // 0: the file parses
		want string // a substring of the error
	}{
		{"minimal", ok, 0, ""},
		// The file.
		{"empty", "", 1, "empty file"},
		{"not yaml", "global: [", 1, "invalid YAML"},
		{"not a mapping", "- 1\n", 1, "the file must be a mapping"},
		{"unknown top key", ok + "extra: 1\n", 4, `extra: unknown key "extra"`},
		{"duplicate top key", ok + "global: {salt: h}\n", 4, `key "global" is given twice`},
		{"no global", "campaigns:\n  - " + c() + "\n", 1, "global: required"},
		{"no campaigns", "global: {salt: g}\n", 1, "campaigns: required"},
		{"empty campaigns", "global: {salt: g}\ncampaigns: []\n", 2, "campaigns: must be a list of at least one campaign"},
		// global.
		{"global unknown key", configDoc(g("salty: x")), 1, `global.salty: unknown key "salty"`},
		{"global salt missing", configDoc("{control_group: 5%}", c()), 1, "global.salt: required"},
		{"global salt empty", configDoc(`{salt: ""}`, c()), 1, "global.salt: must not be empty"},
		{"global salt null", configDoc("{salt: ~}", c()), 1, "global.salt: required"},
		{"global salt list", configDoc("{salt: [a]}", c()), 1, "global.salt: must be a single value"},
		{"control group", configDoc(g("control_group: 12.5%"), c()), 0, ""},
		{"control group 0%", configDoc(g("control_group: 0%"), c()), 0, ""},
		{"control group 99.99%", configDoc(g("control_group: 99.99%"), c()), 0, ""},
		{"control group 100%", configDoc(g("control_group: 100%"), c()), 1, "global.control_group: must be below 100%"},
		{"control group 101%", configDoc(g("control_group: 101%"), c()), 1, "101% is out of range"},
		{"control group no %", configDoc(g("control_group: 5"), c()), 1, `"5" is not a percentage`},
		{"control group 3 decimals", configDoc(g("control_group: 1.125%"), c()), 1, "at most two decimals"},
		{"control group negative", configDoc(g("control_group: -1%"), c()), 1, "not a percentage"},
		{"cap unknown channel", configDoc(g("caps: [{channel: fax, max: 1, per: 1d}]"), c()), 1, `global.caps[0].channel: unknown channel "fax"`},
		{"cap on none", configDoc(g("caps: [{channel: none, max: 1, per: 1d}]"), c()), 1, `unknown channel "none"`},
		{"cap webhook", configDoc(g("caps: [{channel: webhook, max: 1, per: 30m}]"), c()), 0, ""},
		{"cap max 0", configDoc(g("caps: [{channel: any, max: 0, per: 1d}]"), c()), 1, "global.caps[0].max: \"0\" must be a whole number"},
		{"cap max fraction", configDoc(g("caps: [{channel: any, max: 1.5, per: 1d}]"), c()), 1, "global.caps[0].max"},
		{"cap per unparseable", configDoc(g("caps: [{channel: any, max: 1, per: 1w}]"), c()), 1, `global.caps[0].per: "1w" is not a duration`},
		{"cap per zero", configDoc(g("caps: [{channel: any, max: 1, per: 0d}]"), c()), 1, "global.caps[0].per: must be a positive duration"},
		{"cap per negative", configDoc(g("caps: [{channel: any, max: 1, per: -1h}]"), c()), 1, `"-1h" is negative`},
		{"cap per too long", configDoc(g("caps: [{channel: any, max: 1, per: 91d}]"), c()), 1, "at most 90d"},
		{"cap missing per", configDoc(g("caps: [{channel: any, max: 1}]"), c()), 1, "global.caps[0].per: required"},
		{"cap unknown key", configDoc(g("caps: [{channel: any, max: 1, per: 1d, min: 0}]"), c()), 1, `global.caps[0].min: unknown key "min"`},
		{"caps not a list", configDoc(g("caps: {channel: any}"), c()), 1, "global.caps: must be a list"},
		{"quiet hours", configDoc(g(`quiet_hours: {from: "22:30", to: "06:15"}`), c()), 0, ""},
		{"quiet hours unquoted", configDoc(g(`quiet_hours: {from: 22:30, to: 06:15}`), c()), 0, ""},
		{"quiet hours 24h", configDoc(g(`quiet_hours: {from: "24:00", to: "08:00"}`), c()), 1, `global.quiet_hours.from: "24:00" is not a time of day`},
		{"quiet hours 12h clock", configDoc(g(`quiet_hours: {from: "9pm", to: "08:00"}`), c()), 1, `"9pm" is not a time of day`},
		{"quiet hours one digit", configDoc(g(`quiet_hours: {from: "21:00", to: "8:00"}`), c()), 1, `global.quiet_hours.to: "8:00"`},
		{"quiet hours from = to", configDoc(g(`quiet_hours: {from: "08:00", to: "08:00"}`), c()), 1, "global.quiet_hours: from and to are both 08:00"},
		{"quiet hours no to", configDoc(g(`quiet_hours: {from: "08:00"}`), c()), 1, "global.quiet_hours.to: required"},
		{"timezone", configDoc(g("default_timezone: Asia/Kolkata"), c()), 0, ""},
		{"timezone unknown", configDoc(g("default_timezone: Mars/Olympus"), c()), 1, `global.default_timezone: unknown time zone "Mars/Olympus"`},
		{"timezone Local", configDoc(g("default_timezone: Local"), c()), 1, `unknown time zone "Local"`},
		{"fallback decide", configDoc(g("fallback: decide"), c()), 0, ""},
		{"fallback unknown", configDoc(g("fallback: guess"), c()), 1, `global.fallback: unknown fallback "guess"; use no_action or decide`},
		// Campaign fields.
		{"campaign not a mapping", configDoc("", "cart"), 3, "campaigns[0]: must be a mapping with keys name, holdout"},
		{"campaign unknown key", configDoc("", c("channel", "email")), 3, `campaigns[0].channel: unknown key "channel"`},
		{"campaign duplicate key", configDoc("", "{name: c, name: d, salt: s, arms: [{channel: none}], reward: {event: login, within: 1d}, policy: {kind: thompson}}"), 3, `campaigns[0].name: key "name" is given twice`},
		{"name missing", configDoc("", c("name", "-")), 3, "campaigns[0].name: required"},
		{"salt missing", configDoc("", c("salt", "-")), 3, "campaigns[0].salt: required"},
		{"arms missing", configDoc("", c("arms", "-")), 3, "campaigns[0].arms: required"},
		{"reward missing", configDoc("", c("reward", "-")), 3, "campaigns[0].reward: required"},
		{"policy missing", configDoc("", c("policy", "-")), 3, "campaigns[0].policy: required"},
		{"name upper case", configDoc("", c("name", "Cart")), 3, `campaigns[0].name: campaign name "Cart" must be 1-64 characters`},
		{"name too long", configDoc("", c("name", strings.Repeat("a", 65))), 3, "must be 1-64 characters"},
		{"name 64", configDoc("", c("name", strings.Repeat("a", 64))), 0, ""},
		{"name empty", configDoc("", c("name", `""`)), 3, `campaign name "" must be`},
		{"names unique", configDoc("", c(), c("salt", "t")), 4, `campaigns[1].name: campaign "c" is defined twice (first at line 3)`},
		{"salt empty", configDoc("", c("salt", `""`)), 3, "campaigns[0].salt: must not be empty"},
		{"salt NUL", configDoc("", c("salt", `"a\0b"`)), 3, "NUL"},
		{"salt = global salt", configDoc("", c("salt", "g")), 3, `campaigns[0].salt: salt "g" is already used by global`},
		{"salts distinct", configDoc("", c(), c("name", "d")), 4, `campaigns[1].salt: salt "s" is already used by campaign c`},
		{"holdout", configDoc("", c("holdout", "12.34%")), 0, ""},
		{"holdout 100%", configDoc("", c("holdout", "100%")), 3, "campaigns[0].holdout: must be below 100%"},
		{"holdout 100.01%", configDoc("", c("holdout", "100.01%")), 3, "out of range"},
		{"holdout 1000%", configDoc("", c("holdout", "1000%")), 3, "not a percentage"},
		{"holdout comma", configDoc("", c("holdout", `"5,5%"`)), 3, "not a percentage"},
		// Arms.
		{"arms empty", configDoc("", c("arms", "[]")), 3, "campaigns[0].arms: must be a list of at least one arm"},
		{"arms not a list", configDoc("", c("arms", "{channel: email}")), 3, "campaigns[0].arms: must be a list"},
		{"arm unknown channel", configDoc("", c("arms", "[{channel: fax, offer: o}]")), 3, `campaigns[0].arms[0].channel: unknown channel "fax"; use one of email, push, sms, inapp, webhook, none`},
		{"arm any channel", configDoc("", c("arms", "[{channel: any, offer: o}]")), 3, `unknown channel "any"`},
		{"arm no channel", configDoc("", c("arms", "[{offer: o}]")), 3, "campaigns[0].arms[0].channel: required"},
		{"arm unknown key", configDoc("", c("arms", "[{channel: email, offer: o, price: 1}]")), 3, `campaigns[0].arms[0].price: unknown key "price"`},
		{"arm no offer", configDoc("", c("arms", "[{channel: email}]")), 3, "campaigns[0].arms[0].offer: required: an arm on channel email needs an offer"},
		{"arm empty offer", configDoc("", c("arms", `[{channel: push, offer: ""}]`)), 3, "campaigns[0].arms[0].offer: required"},
		{"arm bad offer", configDoc("", c("arms", "[{channel: email, offer: 10%off}]")), 3, `campaigns[0].arms[0].offer: offer "10%off" must be`},
		{"arm offer 65", configDoc("", c("arms", "[{channel: email, offer: "+strings.Repeat("o", 65)+"}]")), 3, "at most 64 characters"},
		{"none arm with offer", configDoc("", c("arms", "[{channel: email, offer: o}, {channel: none, offer: none}]")), 0, ""},
		{"arm cost negative", configDoc("", c("arms", "[{channel: email, offer: o, cost: -0.5}]")), 3, "campaigns[0].arms[0].cost: must not be negative"},
		{"arm cost inf", configDoc("", c("arms", "[{channel: email, offer: o, cost: .inf}]")), 3, `campaigns[0].arms[0].cost: ".inf" is not a finite number`},
		{"arm cost nan", configDoc("", c("arms", "[{channel: email, offer: o, cost: NaN}]")), 3, "is not a finite number"},
		{"arm cost text", configDoc("", c("arms", "[{channel: email, offer: o, cost: cheap}]")), 3, "is not a finite number"},
		{"arm duplicate", configDoc("", c("arms", "[{channel: email, offer: o}, {channel: email, offer: o, cost: 1}]")), 3, "campaigns[0].arms[1]: arm email/o repeats campaigns[0].arms[0]"},
		{"two none arms", configDoc("", c("arms", "[{channel: none}, {channel: none, offer: x}]")), 3, "campaigns[0].arms[1]: a second none arm"},
		{"64 arms", configDoc("", c("arms", nArms(64))), 0, ""},
		{"65 arms", configDoc("", c("arms", nArms(65))), 3, "campaigns[0].arms: 65 arms: a campaign has at most 64"},
		// Reward.
		{"reward custom event", configDoc("", c("reward", "{event: trial_converted, within: 14d}")), 0, ""},
		{"reward unknown event", configDoc("", c("reward", "{event: bought, within: 1d}")), 3, `campaigns[0].reward.event: unknown event type "bought"`},
		{"reward no event", configDoc("", c("reward", "{within: 1d}")), 3, "campaigns[0].reward.event: required"},
		{"reward no within", configDoc("", c("reward", "{event: login}")), 3, "campaigns[0].reward.within: required"},
		{"reward within 0", configDoc("", c("reward", "{event: login, within: 0h}")), 3, "campaigns[0].reward.within: must be a positive duration"},
		{"reward within 90d", configDoc("", c("reward", "{event: login, within: 90d}")), 0, ""},
		{"reward within 2160h", configDoc("", c("reward", "{event: login, within: 2160h}")), 0, ""},
		{"reward within 91d", configDoc("", c("reward", "{event: login, within: 91d}")), 3, "campaigns[0].reward.within: 91d is too long: at most 90d"},
		{"reward within huge", configDoc("", c("reward", "{event: login, within: 99999999999999999999d}")), 3, "is not a duration"},
		{"reward value 1", configDoc("", c("reward", "{event: login, within: 1d, value: 1}")), 0, ""},
		{"reward value 2", configDoc("", c("reward", "{event: login, within: 1d, value: 2}")), 3, `campaigns[0].reward.value: "2": use 1`},
		{"reward value property", configDoc("", c("reward", "{event: purchase, within: 1d, value: amount}")), 0, ""},
		{"reward value bad", configDoc("", c("reward", "{event: purchase, within: 1d, value: Amount}")), 3, `"Amount": use 1`},
		{"reward unknown key", configDoc("", c("reward", "{event: login, within: 1d, window: 1d}")), 3, `campaigns[0].reward.window: unknown key "window"`},
		// Policy.
		// Metrics: event rates besides the reward.
		{"metrics", configDoc("", c("metrics", "[{name: unsubscribe, event: unsubscribed, within: 7d}, {name: churn_30d, event: subscription_cancelled, within: 30d}]")), 0, ""},
		{"metrics empty", configDoc("", c("metrics", "[]")), 0, ""},
		{"metric custom event", configDoc("", c("metrics", "[{name: trial, event: trial_converted, within: 14d}]")), 0, ""},
		{"metric same event as the reward", configDoc("", c("metrics", "[{name: purchase_30d, event: purchase, within: 30d}]")), 0, ""},
		{"metric names per campaign", configDoc("", c("metrics", "[{name: u, event: unsubscribed, within: 7d}]"), c("name", "d", "salt", "t", "metrics", "[{name: u, event: unsubscribed, within: 7d}]")), 0, ""},
		{"metrics not a list", configDoc("", c("metrics", "{name: u, event: unsubscribed, within: 7d}")), 3, "campaigns[0].metrics: must be a list of metrics"},
		{"metrics 16", configDoc("", c("metrics", nMetrics(16))), 0, ""},
		{"metrics 17", configDoc("", c("metrics", nMetrics(17))), 3, "campaigns[0].metrics: 17 metrics: a campaign has at most 16"},
		{"metric not a mapping", configDoc("", c("metrics", "[unsubscribe]")), 3, "campaigns[0].metrics[0]: must be a mapping with keys name, event, within"},
		{"metric unknown key", configDoc("", c("metrics", "[{name: u, event: unsubscribed, within: 7d, value: amount}]")), 3, `campaigns[0].metrics[0].value: unknown key "value"`},
		{"metric no name", configDoc("", c("metrics", "[{event: unsubscribed, within: 7d}]")), 3, "campaigns[0].metrics[0].name: required: a metric is {name: <name>, event: <type>, within: <duration>}"},
		{"metric no event", configDoc("", c("metrics", "[{name: u, within: 7d}]")), 3, "campaigns[0].metrics[0].event: required"},
		{"metric no within", configDoc("", c("metrics", "[{name: u, event: unsubscribed}]")), 3, "campaigns[0].metrics[0].within: required"},
		{"metric name upper case", configDoc("", c("metrics", "[{name: Unsubscribe, event: unsubscribed, within: 7d}]")), 3, `campaigns[0].metrics[0].name: metric name "Unsubscribe" must be 1-32 characters of a-z, 0-9 and _, starting with a letter`},
		{"metric name digit first", configDoc("", c("metrics", "[{name: 7d_unsubscribe, event: unsubscribed, within: 7d}]")), 3, `metric name "7d_unsubscribe" must be`},
		{"metric name empty", configDoc("", c("metrics", `[{name: "", event: unsubscribed, within: 7d}]`)), 3, `metric name "" must be`},
		{"metric name 32", configDoc("", c("metrics", "[{name: "+strings.Repeat("m", 32)+", event: unsubscribed, within: 7d}]")), 0, ""},
		{"metric name 33", configDoc("", c("metrics", "[{name: "+strings.Repeat("m", 33)+", event: unsubscribed, within: 7d}]")), 3, "campaigns[0].metrics[0].name: metric name"},
		{"metric name conversion", configDoc("", c("metrics", "[{name: conversion, event: purchase, within: 7d}]")), 3, `campaigns[0].metrics[0].name: metric name "conversion" is reserved`},
		{"metric name revenue", configDoc("", c("metrics", "[{name: revenue, event: purchase, within: 7d}]")), 3, `campaigns[0].metrics[0].name: metric name "revenue" is reserved`},
		{"metric name twice", configDoc("", c("metrics", "[{name: u, event: unsubscribed, within: 7d}, {name: u, event: subscription_cancelled, within: 30d}]")), 3, `campaigns[0].metrics[1].name: metric "u" is declared twice (first at line 3); names must be unique within a campaign`},
		{"metric unknown event", configDoc("", c("metrics", "[{name: u, event: unsubscribe, within: 7d}]")), 3, `campaigns[0].metrics[0].event: unknown event type "unsubscribe"`},
		{"metric within 0", configDoc("", c("metrics", "[{name: u, event: unsubscribed, within: 0d}]")), 3, "campaigns[0].metrics[0].within: must be a positive duration"},
		{"metric within 90d", configDoc("", c("metrics", "[{name: u, event: unsubscribed, within: 90d}]")), 0, ""},
		{"metric within 91d", configDoc("", c("metrics", "[{name: u, event: unsubscribed, within: 91d}]")), 3, "campaigns[0].metrics[0].within: 91d is too long: at most 90d"},
		{"metric within bad", configDoc("", c("metrics", "[{name: u, event: unsubscribed, within: a week}]")), 3, `campaigns[0].metrics[0].within: "a week" is not a duration`},
		{"policy unknown", configDoc("", c("policy", "{kind: ucb}")), 3, `campaigns[0].policy.kind: unknown policy "ucb"; use thompson or linear_thompson`},
		{"policy no kind", configDoc("", c("policy", "{epsilon: 0.1}")), 3, "campaigns[0].policy.kind: required"},
		{"policy unknown key", configDoc("", c("policy", "{kind: thompson, alpha: 1}")), 3, `campaigns[0].policy.alpha: unknown key "alpha"`},
		{"linear", configDoc("", c("policy", "{kind: linear_thompson, context: [churn, propensity, nba:winback, logins_7d]}")), 0, ""},
		{"linear no context", configDoc("", c("policy", "{kind: linear_thompson}")), 3, "campaigns[0].policy.context: required: a linear_thompson policy needs 1-16 context inputs"},
		{"linear empty context", configDoc("", c("policy", "{kind: linear_thompson, context: []}")), 3, "campaigns[0].policy.context: must be a list of 1-16 inputs"},
		{"linear 16 inputs", configDoc("", c("policy", "{kind: linear_thompson, context: ["+nInputs(16)+"]}")), 0, ""},
		{"linear 17 inputs", configDoc("", c("policy", "{kind: linear_thompson, context: ["+nInputs(17)+"]}")), 3, "must be a list of 1-16 inputs"},
		{"linear undefined feature", configDoc("", c("policy", "{kind: linear_thompson, context: [churn, cart_value_7d]}")), 3, `campaigns[0].policy.context[1]: unknown input "cart_value_7d"`},
		{"linear repeated input", configDoc("", c("policy", "{kind: linear_thompson, context: [churn, churn]}")), 3, `campaigns[0].policy.context[1]: "churn" is listed twice`},
		{"linear empty nba class", configDoc("", c("policy", "{kind: linear_thompson, context: [\"nba:\"]}")), 3, `"nba:": the class after nba:`},
		{"linear with segment", configDoc("", c("policy", "{kind: linear_thompson, context: [churn], segment: {by: churn, bounds: [0.5]}}")), 3, "campaigns[0].policy.segment: a linear_thompson policy takes no segment"},
		{"thompson with context", configDoc("", c("policy", "{kind: thompson, context: [churn]}")), 3, "campaigns[0].policy.context: a thompson policy takes no context"},
		{"segment", configDoc("", c("policy", "{kind: thompson, segment: {by: spend_7d, bounds: [0, 10, 100]}}")), 0, ""},
		{"segment unknown input", configDoc("", c("policy", "{kind: thompson, segment: {by: ltv, bounds: [1]}}")), 3, `campaigns[0].policy.segment.by: unknown input "ltv"`},
		{"segment no bounds", configDoc("", c("policy", "{kind: thompson, segment: {by: churn}}")), 3, "campaigns[0].policy.segment.bounds: required"},
		{"segment empty bounds", configDoc("", c("policy", "{kind: thompson, segment: {by: churn, bounds: []}}")), 3, "campaigns[0].policy.segment.bounds: must be a list of 1-15 increasing numbers"},
		{"segment 15 bounds", configDoc("", c("policy", "{kind: thompson, segment: {by: churn, bounds: ["+nBounds(15)+"]}}")), 0, ""},
		{"segment 16 bounds", configDoc("", c("policy", "{kind: thompson, segment: {by: churn, bounds: ["+nBounds(16)+"]}}")), 3, "1-15 increasing numbers"},
		{"segment bounds equal", configDoc("", c("policy", "{kind: thompson, segment: {by: churn, bounds: [0.3, 0.3]}}")), 3, "campaigns[0].policy.segment.bounds[1]: 0.3 does not exceed the bound before it"},
		{"segment bounds decreasing", configDoc("", c("policy", "{kind: thompson, segment: {by: churn, bounds: [0.7, 0.3]}}")), 3, "must be strictly increasing"},
		{"segment bound inf", configDoc("", c("policy", "{kind: thompson, segment: {by: churn, bounds: [0.3, .inf]}}")), 3, `campaigns[0].policy.segment.bounds[1]: ".inf" is not a finite number`},
		{"segment unknown key", configDoc("", c("policy", "{kind: thompson, segment: {on: churn, bounds: [1]}}")), 3, `campaigns[0].policy.segment.on: unknown key "on"`},
		{"epsilon 0", configDoc("", c("policy", "{kind: thompson, epsilon: 0}")), 0, ""},
		{"epsilon 1", configDoc("", c("policy", "{kind: thompson, epsilon: 1}")), 3, "campaigns[0].policy.epsilon: 1 is out of range: epsilon must be at least 0 and below 1"},
		{"epsilon negative", configDoc("", c("policy", "{kind: thompson, epsilon: -0.1}")), 3, "out of range"},
		{"epsilon nan", configDoc("", c("policy", "{kind: thompson, epsilon: .nan}")), 3, "is not a finite number"},
		{"half life 0", configDoc("", c("policy", "{kind: thompson, half_life: 0}")), 0, ""},
		{"half life 365d", configDoc("", c("policy", "{kind: thompson, half_life: 365d}")), 0, ""},
		{"half life negative", configDoc("", c("policy", "{kind: thompson, half_life: -1h}")), 3, "campaigns[0].policy.half_life: \"-1h\" is negative"},
		{"half life unparseable", configDoc("", c("policy", "{kind: thompson, half_life: two weeks}")), 3, `"two weeks" is not a duration`},
		// Triggers and entry rules.
		{"trigger event", configDoc("", c("trigger", "{on: {event: payment_failed}}")), 0, ""},
		{"trigger event where", configDoc("", c("trigger", "{on: {event: page_view, where: {page: pricing}}, delay: 5m}")), 0, ""},
		{"trigger absence", configDoc("", c("trigger", "{on: {event: add_to_cart}, unless: {event: purchase}, within: 30m}")), 0, ""},
		{"trigger threshold", configDoc("", c("trigger", `{when: "logins_7d >= 2"}`)), 0, ""},
		{"trigger threshold scores", configDoc("", c("trigger", `{when: "logins_7d / 7 < 0.5 and spend_7d > 100 or churn > 0.7 and nba:winback > 0.2"}`)), 0, ""},
		{"trigger entry once_per", configDoc("", c("trigger", "{on: {event: payment_failed}}", "entry", "{limit: once_per, period: 14d}")), 0, ""},
		{"trigger entry once", configDoc("", c("trigger", "{on: {event: payment_failed}}", "entry", "{limit: once}")), 0, ""},
		{"trigger none", configDoc("", c("trigger", "{delay: 5m}")), 3, "campaigns[0].trigger: a trigger needs on or when"},
		{"trigger on and when", configDoc("", c("trigger", `{on: {event: login}, when: "logins_7d > 2"}`)), 3, "campaigns[0].trigger.when: a trigger has either on or when, not both"},
		{"trigger unless without within", configDoc("", c("trigger", "{on: {event: add_to_cart}, unless: {event: purchase}}")), 3, "campaigns[0].trigger.unless: unless needs within"},
		{"trigger within without unless", configDoc("", c("trigger", "{on: {event: add_to_cart}, within: 30m}")), 3, "campaigns[0].trigger.within: within needs unless"},
		{"trigger when with unless", configDoc("", c("trigger", `{when: "logins_7d > 2", unless: {event: purchase}, within: 1h}`)), 3, "campaigns[0].trigger.unless: unless belongs to an absence trigger"},
		{"trigger unknown event", configDoc("", c("trigger", "{on: {event: cart_add}}")), 3, `campaigns[0].trigger.on.event: unknown event type "cart_add"`},
		{"trigger unknown key", configDoc("", c("trigger", "{on: {event: login}, after: 5m}")), 3, `campaigns[0].trigger.after: unknown key "after"`},
		{"trigger where empty", configDoc("", c("trigger", "{on: {event: login, where: {}}}")), 3, "campaigns[0].trigger.on.where: must be a non-empty mapping"},
		{"trigger within 31d", configDoc("", c("trigger", "{on: {event: add_to_cart}, unless: {event: purchase}, within: 31d}")), 3, "campaigns[0].trigger.within: 31d is too long: at most 30d"},
		{"trigger delay negative", configDoc("", c("trigger", "{on: {event: login}, delay: -5m}")), 3, "campaigns[0].trigger.delay:"},
		{"trigger unknown feature", configDoc("", c("trigger", `{when: "login_7d >= 2"}`)), 3, `x.yaml:3:160: campaigns[0].trigger.when: unknown feature or score "login_7d" (did you mean "logins_7d"?)`},
		{"trigger type error", configDoc("", c("trigger", `{when: "logins_7d and churn > 0.5"}`)), 3, `campaigns[0].trigger.when:`},
		{"trigger syntax error", configDoc("", c("trigger", `{when: "logins_7d >= "}`)), 3, `campaigns[0].trigger.when:`},
		{"entry without trigger", configDoc("", c("entry", "{limit: once}")), 3, "campaigns[0].entry: an entry rule needs a trigger"},
		{"entry unknown limit", configDoc("", c("trigger", "{on: {event: login}}", "entry", "{limit: twice}")), 3, `campaigns[0].entry.limit: unknown limit "twice"`},
		{"entry once_per no period", configDoc("", c("trigger", "{on: {event: login}}", "entry", "{limit: once_per}")), 3, "campaigns[0].entry.period: required with once_per"},
		{"entry once with period", configDoc("", c("trigger", "{on: {event: login}}", "entry", "{limit: once, period: 7d}")), 3, "campaigns[0].entry.period: a period goes with limit: once_per"},
		// Cooldown and campaign caps.
		{"cooldown 0", configDoc("", c("cooldown", "0")), 0, ""},
		{"cooldown 90m", configDoc("", c("cooldown", "90m")), 0, ""},
		{"cooldown negative", configDoc("", c("cooldown", "-1d")), 3, "campaigns[0].cooldown: \"-1d\" is not a duration"},
		{"cooldown fractional days", configDoc("", c("cooldown", "1.5d")), 3, `campaigns[0].cooldown: "1.5d" is not a duration`},
		{"campaign caps", configDoc("", c("caps", "[{channel: email, max: 2, per: 7d}]")), 0, ""},
		{"campaign cap bad", configDoc("", c("caps", "[{channel: email, max: 2, per: soon}]")), 3, `campaigns[0].caps[0].per: "soon" is not a duration`},
		// Offers.
		{"offers", configDoc("", c("offers", `{o: {discount: "10%", code: X1, n: 10, f: 1.50, b: true, e: ""}}`)), 0, ""},
		{"offers empty", configDoc("", c("offers", "{}")), 0, ""},
		{"offer without vars", configDoc("", c("offers", "{o: {}}")), 0, ""},
		{"offer null", configDoc("", c("offers", "{o: ~}")), 0, ""},
		{"offers null", configDoc("", c("offers", "~")), 0, ""},
		{"offers not a mapping", configDoc("", c("offers", "[o]")), 3, "campaigns[0].offers: must be a mapping of offers to their variables"},
		{"offers text", configDoc("", c("offers", "o")), 3, "campaigns[0].offers: must be a mapping"},
		{"offer unknown", configDoc("", c("offers", "{p: {x: y}}")), 3, `campaigns[0].offers.p: unknown offer "p"; the campaign's arms offer o`},
		{"offer unknown lists offers", configDoc("", c("arms", "[{channel: email, offer: a}, {channel: push, offer: b}, {channel: sms, offer: a}, {channel: none}]", "offers", "{c: {}}")), 3, `campaigns[0].offers.c: unknown offer "c"; the campaign's arms offer a, b`},
		{"offer none", configDoc("", c("offers", "{none: {x: y}}")), 3, `unknown offer "none"`},
		{"offer list key", configDoc("", c("offers", "{[o]: {x: y}}")), 3, "campaigns[0].offers: an offer's name must be a single value"},
		{"offer twice", configDoc("", c("offers", "{o: {a: x}, o: {b: y}}")), 3, `campaigns[0].offers.o: offer "o" is given twice`},
		{"offer vars list", configDoc("", c("offers", "{o: [a, b]}")), 3, "campaigns[0].offers.o: must be a mapping of variables to values"},
		{"offer vars text", configDoc("", c("offers", "{o: ten}")), 3, "campaigns[0].offers.o: must be a mapping of variables"},
		{"var uppercase", configDoc("", c("offers", "{o: {Discount: x}}")), 3, `campaigns[0].offers.o.Discount: variable name "Discount" must be 1-64 characters of a-z, 0-9 and _, starting with a letter`},
		{"var digit first", configDoc("", c("offers", "{o: {1st: x}}")), 3, `campaigns[0].offers.o.1st: variable name "1st"`},
		{"var underscore first", configDoc("", c("offers", "{o: {_x: x}}")), 3, `variable name "_x"`},
		{"var hyphen", configDoc("", c("offers", "{o: {promo-code: x}}")), 3, `variable name "promo-code"`},
		{"var empty name", configDoc("", c("offers", `{o: {"": x}}`)), 3, `variable name ""`},
		{"var mapping name", configDoc("", c("offers", "{o: {{a: b}: x}}")), 3, "campaigns[0].offers.o: a variable's name must be a single value"},
		{"var name 64", configDoc("", c("offers", "{o: {"+strings.Repeat("v", 64)+": x}}")), 0, ""},
		{"var name 65", configDoc("", c("offers", "{o: {"+strings.Repeat("v", 65)+": x}}")), 3, "must be 1-64 characters"},
		{"var twice", configDoc("", c("offers", "{o: {a: x, a: y}}")), 3, `campaigns[0].offers.o.a: variable "a" is given twice`},
		{"32 vars", configDoc("", c("offers", "{o: "+nVars(32)+"}")), 0, ""},
		{"33 vars", configDoc("", c("offers", "{o: "+nVars(33)+"}")), 3, "campaigns[0].offers.o: 33 variables: an offer has at most 32"},
		{"var mapping", configDoc("", c("offers", "{o: {a: {b: c}}}")), 3, "campaigns[0].offers.o.a: must be a single value (text, a number or true/false), not a list or mapping"},
		{"var list", configDoc("", c("offers", "{o: {a: [1, 2]}}")), 3, "campaigns[0].offers.o.a: must be a single value"},
		{"var null", configDoc("", c("offers", "{o: {a: ~}}")), 3, `campaigns[0].offers.o.a: has no value: write "" for an empty one`},
		{"var missing", configDoc("", c("offers", "{o: {a: }}")), 3, "campaigns[0].offers.o.a: has no value"},
		{"var 1024 bytes", configDoc("", c("offers", "{o: {a: "+strings.Repeat("é", 512)+"}}")), 0, ""},
		{"var 1025 bytes", configDoc("", c("offers", "{o: {a: "+strings.Repeat("x", 1025)+"}}")), 3, "campaigns[0].offers.o.a: 1025 bytes: a value has at most 1024"},
		{"var NUL", configDoc("", c("offers", `{o: {a: "x\0y"}}`)), 3, "campaigns[0].offers.o.a: must not contain a NUL byte"},
		{"var escaped UTF-8", configDoc("", c("offers", `{o: {a: "\xff \u00e9"}}`)), 0, ""},
		// Invalid UTF-8 never reaches the rules: YAML refuses it, without a line.
		{"var invalid UTF-8", configDoc("", c("offers", "{o: {a: \"x\xffy\"}}")), 1, "invalid YAML: invalid leading UTF-8 octet"},
		{"aliased offers", "global: {salt: g}\ncampaigns:\n  - {name: a, salt: s1, arms: [{channel: push, offer: o}, {channel: none}], reward: {event: login, within: 1d}, policy: {kind: thompson}, offers: {o: &v {code: A}}}\n  - {name: b, salt: s2, arms: [{channel: sms, offer: o}, {channel: none}], reward: {event: login, within: 1d}, policy: {kind: thompson}, offers: {o: *v}}\n", 0, ""},
		{"aliased offers unknown", "global: {salt: g}\ncampaigns:\n  - {name: a, salt: s1, arms: [{channel: push, offer: o}, {channel: none}], reward: {event: login, within: 1d}, policy: {kind: thompson}, offers: &o {o: {code: A}}}\n  - {name: b, salt: s2, arms: [{channel: sms, offer: p}, {channel: none}], reward: {event: login, within: 1d}, policy: {kind: thompson}, offers: *o}\n", 3, `campaigns[1].offers.o: unknown offer "o"; the campaign's arms offer p`},
		// Anchors and aliases resolve; their errors point at the anchor.
		{"alias", "global: {salt: g}\narms: &a [{channel: none}]\n", 2, `unknown key "arms"`},
		{"no none arm", "global: {salt: g}\ncampaigns:\n  - {name: a, salt: s1, arms: [{channel: push, offer: o}], reward: {event: login, within: 1d}, policy: {kind: thompson}}\n", 3, "campaigns[0].arms: needs the none arm"},
		{"only the none arm", "global: {salt: g}\ncampaigns:\n  - {name: a, salt: s1, arms: [{channel: none}], reward: {event: login, within: 1d}, policy: {kind: thompson}}\n", 3, "needs an arm that sends"},
		{"aliased arms", "global: {salt: g}\ncampaigns:\n  - {name: a, salt: s1, arms: &arms [{channel: push, offer: o}, {channel: none}], reward: {event: login, within: 1d}, policy: {kind: thompson}}\n  - {name: b, salt: s2, arms: *arms, reward: {event: login, within: 1d}, policy: {kind: thompson}}\n", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := decisioning.ParseConfig("x.yaml", []byte(tc.yaml), set)
			if tc.line == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v\n%s", err, tc.yaml)
				}
				if len(cfg.Campaigns) == 0 {
					t.Fatal("no campaigns")
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; want line %d: %s\n%s", tc.line, tc.want, tc.yaml)
			}
			prefix := fmt.Sprintf("x.yaml:%d:", tc.line)
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant %q ... %q\nin:\n%s", err, prefix, tc.want, tc.yaml)
			}
			var ce *decisioning.ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error is %T, want *ConfigError", err)
			}
		})
	}
}

// A block-style file: positions point at the offending value.
func TestParseConfigPositions(t *testing.T) {
	const base = `global:
  salt: g
  caps:
    - channel: any
      max: 3
      per: 7d
campaigns:
  - name: a
    salt: s
    arms:
      - channel: email
        offer: reminder
      - channel: none
    reward:
      event: purchase
      within: 72h
    policy:
      kind: thompson
`
	for _, tc := range []struct{ old, new, want string }{
		{"per: 7d", "per: 7 days", `x.yaml:6:12: global.caps[0].per: "7 days" is not a duration`},
		{"channel: none", "channel: carrier_pigeon", `x.yaml:13:18: campaigns[0].arms[1].channel: unknown channel "carrier_pigeon"`},
		{"within: 72h", "within: 100d", "x.yaml:16:15: campaigns[0].reward.within: 100d is too long: at most 90d"},
		{"kind: thompson", "kind: thompson\n      segment: {by: churn, bounds: [0.5, 0.2]}", "x.yaml:19:42: campaigns[0].policy.segment.bounds[1]: 0.2 does not exceed"},
		{"  - name: a\n", "  - name: a\n    holdout: 10\n", `x.yaml:9:14: campaigns[0].holdout: "10" is not a percentage`},
		{"    salt: s\n", "", "x.yaml:8:5: campaigns[0].salt: required"},
		{"kind: thompson\n", "kind: thompson\n    offers:\n      reminder: {code: R1}\n      discount: {code: D1}\n", `x.yaml:21:7: campaigns[0].offers.discount: unknown offer "discount"; the campaign's arms offer reminder`},
		{"kind: thompson\n", "kind: thompson\n    offers:\n      reminder: {Code: R1}\n", `x.yaml:20:18: campaigns[0].offers.reminder.Code: variable name "Code" must be`},
		{"kind: thompson\n", "kind: thompson\n    offers:\n      reminder: " + nVars(33) + "\n", "x.yaml:20:17: campaigns[0].offers.reminder: 33 variables: an offer has at most 32"},
		{"kind: thompson\n", "kind: thompson\n    offers:\n      reminder:\n        code: R1\n        links: {home: /}\n", "x.yaml:22:16: campaigns[0].offers.reminder.links: must be a single value"},
		{"kind: thompson\n", "kind: thompson\n    offers:\n      reminder: {code: " + strings.Repeat("x", 1025) + "}\n", "x.yaml:20:24: campaigns[0].offers.reminder.code: 1025 bytes: a value has at most 1024"},
		{"kind: thompson\n", "kind: thompson\n    offers:\n      reminder: {code: \"R\\0\"}\n", "x.yaml:20:24: campaigns[0].offers.reminder.code: must not contain a NUL byte"},
		{"kind: thompson\n", "kind: thompson\n    metrics:\n      - name: unsubscribe\n        event: unsubscribed\n        within: 7d\n      - name: unsubscribe\n        event: subscription_cancelled\n        within: 30d\n", "x.yaml:23:15: campaigns[0].metrics[1].name: metric \"unsubscribe\" is declared twice (first at line 20)"},
		{"kind: thompson\n", "kind: thompson\n    metrics:\n      - name: unsubscribe\n        event: unsubscribed\n        within: 7d\n      - name: revenue\n        event: purchase\n        within: 30d\n", "x.yaml:23:15: campaigns[0].metrics[1].name: metric name \"revenue\" is reserved"},
		{"kind: thompson\n", "kind: thompson\n    metrics:\n      - name: unsubscribe\n        event: unsubscribed\n        within: 7d\n      - name: churn\n        event: cancelled\n        within: 30d\n", "x.yaml:24:16: campaigns[0].metrics[1].event: unknown event type \"cancelled\""},
		{"kind: thompson\n", "kind: thompson\n    metrics:\n      - name: unsubscribe\n        event: unsubscribed\n        within: 7d\n      - name: churn\n        event: subscription_cancelled\n        within: 91d\n", "x.yaml:25:17: campaigns[0].metrics[1].within: 91d is too long: at most 90d"},
		{"kind: thompson\n", "kind: thompson\n    metrics:\n      - name: unsubscribe\n        event: unsubscribed\n        within: 7d\n      - name: churn\n        within: 30d\n", "x.yaml:23:9: campaigns[0].metrics[1].event: required"},
	} {
		data := strings.Replace(base, tc.old, tc.new, 1)
		_, err := decisioning.ParseConfig("x.yaml", []byte(data), features.Default())
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q -> %q: err = %v\nwant %s", tc.old, tc.new, err, tc.want)
		}
	}
	if _, err := decisioning.ParseConfig("x.yaml", []byte(base), features.Default()); err != nil {
		t.Fatal(err)
	}
}

// nMetrics is a flow list of n valid metrics.
func nMetrics(n int) string {
	ms := make([]string, n)
	for i := range ms {
		ms[i] = fmt.Sprintf("{name: m%d, event: unsubscribed, within: %dd}", i, i+1)
	}
	return "[" + strings.Join(ms, ", ") + "]"
}

// nArms is n arms: n-1 email offers and the none arm.
func nArms(n int) string {
	a := []string{"{channel: none}"}
	for i := range n - 1 {
		a = append(a, fmt.Sprintf("{channel: email, offer: o%d}", i))
	}
	return "[" + strings.Join(a, ", ") + "]"
}

// nVars is a flow mapping of n offer variables.
func nVars(n int) string {
	var a []string
	for i := range n {
		a = append(a, fmt.Sprintf("v%d: x", i))
	}
	return "{" + strings.Join(a, ", ") + "}"
}

func nInputs(n int) string {
	a := []string{"churn", "propensity", "logins_7d", "spend_7d"}
	for i := len(a); i < n; i++ {
		a = append(a, fmt.Sprintf("nba:c%d", i))
	}
	return strings.Join(a[:n], ", ")
}

func nBounds(n int) string {
	var a []string
	for i := range n {
		a = append(a, fmt.Sprint(float64(i)/10))
	}
	return strings.Join(a, ", ")
}

var offerVarRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// FuzzParseConfig checks that no input makes ParseConfig panic, and that
// what it accepts keeps the rules.
func FuzzParseConfig(f *testing.F) {
	set := features.Default()
	f.Add([]byte(exampleYAML))
	f.Add(decisioning.DefaultConfigYAML())
	f.Add([]byte(configDoc("", campaignFlow(nil))))
	f.Add([]byte(configDoc(`{salt: g, control_group: 99.99%, quiet_hours: {from: "00:00", to: "23:59"}}`,
		campaignFlow(map[string]string{"policy": "{kind: thompson, segment: {by: churn, bounds: [0.1, 0.2]}}"}))))
	f.Add([]byte("global: &g {salt: g}\ncampaigns: [*g]\n"))
	f.Add([]byte(configDoc("", campaignFlow(map[string]string{
		"arms":   "[{channel: email, offer: o}, {channel: push, offer: p}, {channel: none}]",
		"offers": `{o: {discount: "10%", code: X1, n: 1.50}, p: {}}`,
	}))))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := decisioning.ParseConfig("f.yaml", data, set)
		if err != nil {
			var ce *decisioning.ConfigError
			if !errors.As(err, &ce) || ce.Line < 1 || !strings.HasPrefix(err.Error(), "f.yaml:") {
				t.Fatalf("error %q is not a positioned ConfigError", err)
			}
			return
		}
		if cfg.Global.Salt == "" || cfg.Global.ControlGroup >= decisioning.Buckets || len(cfg.Version) != 12 || len(cfg.Campaigns) == 0 {
			t.Fatalf("accepted an invalid global section: %+v", cfg.Global)
		}
		salts := map[string]bool{cfg.Global.Salt: true}
		for _, c := range cfg.Campaigns {
			if salts[c.Salt] || c.Holdout >= decisioning.Buckets || len(c.Arms) == 0 || len(c.Arms) > decisioning.MaxArms {
				t.Fatalf("accepted an invalid campaign: %+v", c)
			}
			salts[c.Salt] = true
			if got, ok := cfg.Campaign(c.Name); !ok || got.Name != c.Name {
				t.Fatalf("Campaign(%q) not found", c.Name)
			}
			for offer, vars := range c.Offers {
				if len(vars) == 0 || len(vars) > decisioning.MaxOfferVars || !slices.ContainsFunc(c.Arms, func(a decisioning.Arm) bool { return a.Offer == offer }) {
					t.Fatalf("%s: accepted offer %q with %d variables", c.Name, offer, len(vars))
				}
				for k, v := range vars {
					if !offerVarRE.MatchString(k) || len(v) > decisioning.MaxOfferVarBytes || !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
						t.Fatalf("%s: accepted variable %q = %q of offer %q", c.Name, k, v, offer)
					}
				}
			}
		}
	})
}

// ParseConfig refuses a file with any error, naming the line, the field
// and the rule.
func ExampleParseConfig() {
	_, err := decisioning.ParseConfig("campaigns.yaml", []byte(`global: {control_group: 5%, salt: g1}
campaigns:
  - name: winback
    salt: wb1
    arms: [{channel: email, offer: discount_10}, {channel: pigeon, offer: reminder}, {channel: none}]
    reward: {event: session_start, within: 7d}
    policy: {kind: thompson}
`), features.Default())
	fmt.Println(err)
	// Output: campaigns.yaml:5:60: campaigns[0].arms[1].channel: unknown channel "pigeon"; use one of email, push, sms, inapp, webhook, none
}
