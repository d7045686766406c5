package decisioning

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"kairos/decisioning/expr"
	"kairos/features"
	"kairos/internal/yamlconf"
)

// Limits of a campaign configuration.
const (
	// MaxArms is the most arms a campaign may have (the bandit keeps the
	// eligible arms in a 64-bit mask).
	MaxArms = 64
	// MaxContext is the most inputs of a linear_thompson policy.
	MaxContext = 16
	// MaxSegmentBounds is the most bounds of a thompson policy's segments
	// (so at most 16 segments).
	MaxSegmentBounds = 15
	// MaxRewardWindow is the longest attribution window of a reward or
	// of a metric.
	MaxRewardWindow = 90 * 24 * time.Hour
	// MaxMetrics is the most metrics a campaign may declare (each is one
	// more window per decision to open and close).
	MaxMetrics = 16
	// MaxCapWindow is the longest window of a cap and the longest cooldown.
	MaxCapWindow = 90 * 24 * time.Hour
	// MaxOfferVars is the most variables an offer may have.
	MaxOfferVars = 32
	// MaxOfferVarBytes is the longest value of an offer variable, in bytes.
	MaxOfferVarBytes = 1024
)

// ConfigError is a problem in a campaign configuration file: where it is
// and which rule it breaks. Its text reads
// "campaigns.yaml:14:11: campaigns[0].policy.kind: unknown policy ...".
// It is the error of every strict configuration parser (yamlconf.Error):
// dispatch's channels file reports its problems with it too.
type ConfigError = yamlconf.Error

//go:embed campaigns.yaml
var defaultCampaigns []byte

// DefaultConfigYAML returns the built-in campaign configuration file, a
// documented example of every field.
func DefaultConfigYAML() []byte { return slices.Clone(defaultCampaigns) }

// DefaultConfig parses the built-in campaign configuration against set.
// It fails only when set lacks a feature the built-in campaigns use.
func DefaultConfig(set *features.Set) (*Config, error) {
	return ParseConfig("decisioning/campaigns.yaml", defaultCampaigns, set)
}

// Campaign returns the campaign called name.
func (c *Config) Campaign(name string) (*Campaign, bool) {
	for i := range c.Campaigns {
		if c.Campaigns[i].Name == name {
			return &c.Campaigns[i], true
		}
	}
	return nil, false
}

// OfferVars returns the variables of offer ("discount": "10%"), or nil
// when the campaign gives it none. The map is the campaign's own: callers
// must not modify it.
func (c *Campaign) OfferVars(offer string) map[string]string {
	return c.Offers[offer]
}

// OfferVars returns the variables of offer in the campaign called
// campaign, or nil when there is no such campaign or it gives the offer
// none. Callers must not modify the map.
func (c *Config) OfferVars(campaign, offer string) map[string]string {
	if camp, ok := c.Campaign(campaign); ok {
		return camp.OfferVars(offer)
	}
	return nil
}

var (
	campaignNameRE = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)
	offerRE        = regexp.MustCompile(`^[a-z0-9_]{0,64}$`)
	propertyRE     = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)
	offerVarRE     = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	clockRE        = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$`)
	metricNameRE   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
)

// reservedMetrics are the names a metric may not take: the reports name
// the reward's own metrics so.
var reservedMetrics = []string{"conversion", "revenue"}

// ParseConfig reads and validates a campaign configuration. name is the
// file's name, used in errors and as Config.Source; set is the feature
// set, which says which event types and features the campaigns may name.
// An invalid file is refused as a whole with a *ConfigError naming the
// line, the field and the rule.
//
// The format (campaigns.yaml is a commented example):
//
//	global:
//	  control_group: 5%          # share never messaged; 0% to 99.99%, at most 2 decimals
//	  salt: g1                   # required; hashes customers into buckets
//	  caps: [{channel: any, max: 3, per: 7d}]
//	  quiet_hours: {from: "21:00", to: "08:00"}
//	  default_timezone: UTC      # IANA zone of customers whose record names none
//	  fallback: no_action        # or decide
//	campaigns:
//	  - name: cart_recovery      # required, [a-z0-9_]{1,64}, unique
//	    holdout: 10%
//	    salt: cr1                # required, distinct from every other salt
//	    arms: [{channel: email, offer: reminder, cost: 0.01}, {channel: none}]
//	    reward: {event: purchase, within: 72h, value: amount}   # value: 1 or a property
//	    metrics:                 # optional: event rates after each decision
//	      - {name: unsubscribe, event: unsubscribed, within: 7d}
//	    policy: {kind: linear_thompson, context: [churn, propensity], epsilon: 0.05, half_life: 14d}
//	    cooldown: 24h
//	    caps: [{channel: any, max: 1, per: 24h}]
//	    offers:                  # optional: variables of the arms' offers for templates
//	      reminder: {}
//	      discount_10: {discount: "10%", code: CART10}
//
// Durations are a whole number of days ("7d") or a Go duration ("30m",
// "24h", "1h30m"). An offer's variables are named [a-z][a-z0-9_]* (at most
// 64 characters), at most MaxOfferVars per offer; their values are single
// values kept as written (1.50 is "1.50", true is "true"), valid UTF-8
// without NUL bytes, of at most MaxOfferVarBytes bytes. A metric's name is
// [a-z][a-z0-9_]* (at most 32 characters), unique within its campaign and
// neither conversion nor revenue (the reward's names in reports); its
// event is a type the feature set knows, as the reward's; within is
// positive and at most MaxRewardWindow; a campaign has at most MaxMetrics.
func ParseConfig(name string, data []byte, set *features.Set) (*Config, error) {
	if set == nil {
		return nil, errors.New("decisioning: ParseConfig needs the feature set")
	}
	p := &parser{file: name, set: set}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlconf.FromYAML(name, err)
	}
	if len(doc.Content) == 0 {
		return nil, &ConfigError{File: name, Line: 1, Msg: "empty file: expected a mapping with 'global' and 'campaigns'"}
	}
	root := yamlconf.Deref(doc.Content[0])
	m, err := p.mapping(root, "", "global", "campaigns", "segments")
	if err != nil {
		return nil, err
	}
	cfg := &Config{Source: name}
	if m["global"] == nil {
		return nil, p.errAt(root, "global", "required: a mapping with at least 'salt'")
	}
	if cfg.Global, err = p.global(m["global"]); err != nil {
		return nil, err
	}
	list := m["campaigns"]
	if list == nil {
		return nil, p.errAt(root, "campaigns", "required: a list of at least one campaign")
	}
	if list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		return nil, p.errAt(list, "campaigns", "must be a list of at least one campaign")
	}
	// salts maps every salt to the layer that uses it: layers must be
	// independent, so no two may share one.
	salts := map[string]string{cfg.Global.Salt: "global"}
	names := map[string]int{}
	for i, n := range list.Content {
		path := fmt.Sprintf("campaigns[%d]", i)
		c, err := p.campaign(yamlconf.Deref(n), path)
		if err != nil {
			return nil, err
		}
		if first, dup := names[c.Name]; dup {
			return nil, p.errAt(p.valueOf(n, "name"), path+".name", "campaign %q is defined twice (first at line %d); names must be unique", c.Name, first)
		}
		names[c.Name] = c.Line
		if other, dup := salts[c.Salt]; dup {
			return nil, p.errAt(p.valueOf(n, "salt"), path+".salt", "salt %q is already used by %s; every campaign needs its own salt, distinct from the global one, so that holdouts are independent", c.Salt, other)
		}
		salts[c.Salt] = "campaign " + c.Name
		cfg.Campaigns = append(cfg.Campaigns, c)
	}
	if v := m["segments"]; v != nil {
		if cfg.Segments, err = p.segments(v); err != nil {
			return nil, err
		}
	}
	sum := sha256.Sum256(data)
	cfg.Version = hex.EncodeToString(sum[:6])
	return cfg, nil
}

// parser holds what every rule needs: the file name for errors and the
// feature set.
type parser struct {
	file string
	set  *features.Set
}

func (p *parser) errAt(n *yaml.Node, path, format string, args ...any) error {
	return yamlconf.Errorf(p.file, n, path, format, args...)
}

// valueOf returns the value of key in mapping n, or n when there is none
// (for error positions).
func (p *parser) valueOf(n *yaml.Node, key string) *yaml.Node {
	n = yamlconf.Deref(n)
	if n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return yamlconf.Deref(n.Content[i+1])
			}
		}
	}
	return n
}

// mapping checks that n is a mapping whose keys are among keys, each given
// once, and returns its values by key (aliases resolved; a key with a null
// value is absent), or its first problem.
func (p *parser) mapping(n *yaml.Node, path string, keys ...string) (map[string]*yaml.Node, error) {
	m, errs := yamlconf.Mapping(p.file, n, path, keys...)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return m, nil
}

// scalar returns the text of a single value.
func (p *parser) scalar(n *yaml.Node, path string) (string, error) {
	s, e := yamlconf.Scalar(p.file, n, path)
	if e != nil {
		return "", e
	}
	return s, nil
}

// global parses the global section.
func (p *parser) global(n *yaml.Node) (Global, error) {
	g := Global{DefaultTimezone: "UTC", Fallback: FallbackNoAction}
	m, err := p.mapping(n, "global", "control_group", "salt", "caps", "quiet_hours", "default_timezone", "fallback")
	if err != nil {
		return g, err
	}
	if v := m["control_group"]; v != nil {
		if g.ControlGroup, err = p.share(v, "global.control_group"); err != nil {
			return g, err
		}
		if g.ControlGroup >= Buckets {
			return g, p.errAt(v, "global.control_group", "must be below 100%%: a control group of 100%% leaves no one to message")
		}
	}
	if g.Salt, err = p.salt(n, m, "global"); err != nil {
		return g, err
	}
	if v := m["caps"]; v != nil {
		if g.Caps, err = p.caps(v, "global.caps"); err != nil {
			return g, err
		}
	}
	if v := m["quiet_hours"]; v != nil {
		q, err := p.quietHours(v, "global.quiet_hours")
		if err != nil {
			return g, err
		}
		g.QuietHours = &q
	}
	if v := m["default_timezone"]; v != nil {
		tz, err := p.scalar(v, "global.default_timezone")
		if err != nil {
			return g, err
		}
		if tz == "" || tz == "Local" || len(tz) > 64 || !validZone(tz) {
			return g, p.errAt(v, "global.default_timezone", "unknown time zone %q: use an IANA name such as Europe/Berlin or UTC", tz)
		}
		g.DefaultTimezone = tz
	}
	if v := m["fallback"]; v != nil {
		f, err := p.scalar(v, "global.fallback")
		if err != nil {
			return g, err
		}
		if f != FallbackNoAction && f != FallbackDecide {
			return g, p.errAt(v, "global.fallback", "unknown fallback %q; use no_action or decide", f)
		}
		g.Fallback = f
	}
	return g, nil
}

// salt reads the required salt of the mapping n at path.
func (p *parser) salt(n *yaml.Node, m map[string]*yaml.Node, path string) (string, error) {
	v := m["salt"]
	if v == nil {
		return "", p.errAt(n, path+".salt", "required: a non-empty string that hashes customers into holdout buckets")
	}
	s, err := p.scalar(v, path+".salt")
	if err != nil {
		return "", err
	}
	switch {
	case s == "":
		return "", p.errAt(v, path+".salt", "must not be empty")
	case len(s) > 128:
		return "", p.errAt(v, path+".salt", "must be at most 128 bytes")
	case strings.IndexByte(s, 0) >= 0:
		return "", p.errAt(v, path+".salt", "must not contain a NUL byte (it separates salt and customer id in the hash)")
	}
	return s, nil
}

// share parses a percentage such as 5%, 12.5% or 0%.
func (p *parser) share(n *yaml.Node, path string) (Share, error) {
	s, err := p.scalar(n, path)
	if err != nil {
		return 0, err
	}
	sh, err := ParseShare(s)
	if err != nil {
		return 0, p.errAt(n, path, "%v", err)
	}
	return sh, nil
}

// duration parses a duration of at most hi (no limit when hi is 0);
// positive refuses 0.
func (p *parser) duration(n *yaml.Node, path string, positive bool, hi time.Duration) (time.Duration, error) {
	s, err := p.scalar(n, path)
	if err != nil {
		return 0, err
	}
	d, err := features.ParseDuration(s)
	if err != nil {
		return 0, p.errAt(n, path, "%v", err)
	}
	if positive && d == 0 {
		return 0, p.errAt(n, path, "must be a positive duration such as 30m, 24h or 7d, not %q", s)
	}
	if hi > 0 && d > hi {
		return 0, p.errAt(n, path, "%s is too long: at most %s", s, features.FormatDuration(hi))
	}
	return d, nil
}

// number parses a finite number.
func (p *parser) number(n *yaml.Node, path string) (float64, error) {
	f, e := yamlconf.Number(p.file, n, path)
	if e != nil {
		return 0, e
	}
	return f, nil
}

// caps parses a list of caps.
func (p *parser) caps(n *yaml.Node, path string) ([]Cap, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errAt(n, path, "must be a list of caps such as [{channel: any, max: 3, per: 7d}]")
	}
	var caps []Cap
	for i, cn := range n.Content {
		cn = yamlconf.Deref(cn)
		cp := fmt.Sprintf("%s[%d]", path, i)
		m, err := p.mapping(cn, cp, "channel", "max", "per")
		if err != nil {
			return nil, err
		}
		var c Cap
		for _, k := range []string{"channel", "max", "per"} {
			if m[k] == nil {
				return nil, p.errAt(cn, cp+"."+k, "required: a cap is {channel: any|<channel>, max: N, per: <duration>}")
			}
		}
		if c.Channel, err = p.scalar(m["channel"], cp+".channel"); err != nil {
			return nil, err
		}
		if c.Channel == ChannelNone || (c.Channel != AnyChannel && !slices.Contains(Channels, c.Channel)) {
			return nil, p.errAt(m["channel"], cp+".channel", "unknown channel %q; use any or one of %s", c.Channel, strings.Join(Channels[:len(Channels)-1], ", "))
		}
		ms, err := p.scalar(m["max"], cp+".max")
		if err != nil {
			return nil, err
		}
		if c.Max, err = strconv.Atoi(ms); err != nil || c.Max < 1 || c.Max > 1_000_000 {
			return nil, p.errAt(m["max"], cp+".max", "%q must be a whole number of messages from 1 to 1000000", ms)
		}
		if c.Per, err = p.duration(m["per"], cp+".per", true, MaxCapWindow); err != nil {
			return nil, err
		}
		caps = append(caps, c)
	}
	return caps, nil
}

// quietHours parses {from: "HH:MM", to: "HH:MM"}.
func (p *parser) quietHours(n *yaml.Node, path string) (QuietHours, error) {
	var q QuietHours
	m, err := p.mapping(n, path, "from", "to")
	if err != nil {
		return q, err
	}
	for _, k := range []string{"from", "to"} {
		v := m[k]
		if v == nil {
			return q, p.errAt(n, path+"."+k, `required: quiet hours are {from: "21:00", to: "08:00"} in the customer's time zone`)
		}
		s, err := p.scalar(v, path+"."+k)
		if err != nil {
			return q, err
		}
		c := clockRE.FindStringSubmatch(s)
		if c == nil {
			return q, p.errAt(v, path+"."+k, "%q is not a time of day: write HH:MM on a 24-hour clock, e.g. \"21:00\"", s)
		}
		h, _ := strconv.Atoi(c[1])
		mm, _ := strconv.Atoi(c[2])
		if k == "from" {
			q.From = h*60 + mm
		} else {
			q.To = h*60 + mm
		}
	}
	if q.From == q.To {
		return q, p.errAt(n, path, "from and to are both %s: quiet hours need an end different from their start", clock(q.From))
	}
	return q, nil
}

// campaign parses one campaign.
func (p *parser) campaign(n *yaml.Node, path string) (Campaign, error) {
	c := Campaign{}
	m, err := p.mapping(n, path, "name", "holdout", "salt", "arms", "reward", "metrics", "policy", "cooldown", "caps", "offers", "trigger", "entry")
	if err != nil {
		return c, err
	}
	c.Line = n.Line
	for _, k := range []string{"name", "salt", "arms", "reward", "policy"} {
		if m[k] == nil {
			return c, p.errAt(n, path+"."+k, "required: a campaign has a name, salt, arms, reward and policy")
		}
	}
	if c.Name, err = p.scalar(m["name"], path+".name"); err != nil {
		return c, err
	}
	if !campaignNameRE.MatchString(c.Name) {
		return c, p.errAt(m["name"], path+".name", "campaign name %q must be 1-64 characters of a-z, 0-9 and _", c.Name)
	}
	if c.Name == "segments" {
		return c, p.errAt(m["name"], path+".name", "campaign name %q is reserved: the reports page serves the live segments at /reports/segments.json", c.Name)
	}
	if v := m["holdout"]; v != nil {
		if c.Holdout, err = p.share(v, path+".holdout"); err != nil {
			return c, err
		}
		if c.Holdout >= Buckets {
			return c, p.errAt(v, path+".holdout", "must be below 100%%: a holdout of 100%% leaves no one to message")
		}
	}
	if c.Salt, err = p.salt(n, m, path); err != nil {
		return c, err
	}
	if c.Arms, err = p.arms(m["arms"], path+".arms"); err != nil {
		return c, err
	}
	if c.Reward, err = p.reward(m["reward"], path+".reward"); err != nil {
		return c, err
	}
	if v := m["metrics"]; v != nil {
		if c.Metrics, err = p.metrics(v, path+".metrics"); err != nil {
			return c, err
		}
	}
	if c.Policy, err = p.policy(m["policy"], path+".policy"); err != nil {
		return c, err
	}
	if v := m["cooldown"]; v != nil {
		if c.Cooldown, err = p.duration(v, path+".cooldown", false, MaxCapWindow); err != nil {
			return c, err
		}
	}
	if v := m["caps"]; v != nil {
		if c.Caps, err = p.caps(v, path+".caps"); err != nil {
			return c, err
		}
	}
	if v := m["offers"]; v != nil {
		if c.Offers, err = p.offers(v, path+".offers", c.Arms); err != nil {
			return c, err
		}
	}
	if v := m["trigger"]; v != nil {
		if c.Trigger, err = p.trigger(v, path+".trigger"); err != nil {
			return c, err
		}
	}
	if v := m["entry"]; v != nil {
		if c.Trigger == nil {
			return c, p.errAt(v, path+".entry", "an entry rule needs a trigger: it limits how often the trigger lets a customer in")
		}
		if c.Entry, err = p.entry(v, path+".entry"); err != nil {
			return c, err
		}
	}
	return c, nil
}

// MaxSegments bounds the live segments of a configuration.
const MaxSegments = 64

var segmentNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// segments parses {<name>: "<condition>", ...}.
func (p *parser) segments(n *yaml.Node) ([]Segment, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errAt(n, "segments", "must be a mapping of name: condition, e.g. {churn_risk: \"churn > 0.7\"}")
	}
	if len(n.Content)/2 > MaxSegments {
		return nil, p.errAt(n, "segments", "%d segments: at most %d", len(n.Content)/2, MaxSegments)
	}
	var out []Segment
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], yamlconf.Deref(n.Content[i+1])
		path := "segments." + k.Value
		switch first, dup := lines[k.Value]; {
		case !segmentNameRE.MatchString(k.Value):
			return nil, p.errAt(k, path, "segment name %q must be 1-64 characters of a-z, 0-9 and _, starting with a letter", k.Value)
		case dup:
			return nil, p.errAt(k, path, "segment %q is defined twice (first at line %d)", k.Value, first)
		}
		lines[k.Value] = k.Line
		src, err := p.scalar(v, path)
		if err != nil {
			return nil, err
		}
		cond, err := p.condition(v, path, src)
		if err != nil {
			return nil, err
		}
		out = append(out, Segment{Name: k.Value, When: src, Cond: cond, Line: k.Line})
	}
	return out, nil
}

// MaxTriggerWait bounds a trigger's within and delay.
const MaxTriggerWait = 30 * 24 * time.Hour

// trigger parses {on, unless, within, when, delay}.
func (p *parser) trigger(n *yaml.Node, path string) (*Trigger, error) {
	const shapes = "{on: {event: <type>}} (on an event), {on: …, unless: {event: <type>}, within: <duration>} (its absence) or {when: \"<condition>\"} (a threshold crossing), each with an optional delay"
	m, err := p.mapping(n, path, "on", "unless", "within", "when", "delay")
	if err != nil {
		return nil, err
	}
	t := &Trigger{Line: n.Line}
	switch {
	case m["on"] != nil && m["when"] != nil:
		return nil, p.errAt(m["when"], path+".when", "a trigger has either on or when, not both: %s", shapes)
	case m["on"] == nil && m["when"] == nil:
		return nil, p.errAt(n, path, "a trigger needs on or when: %s", shapes)
	case m["when"] != nil && (m["unless"] != nil || m["within"] != nil):
		k := "unless"
		if m["unless"] == nil {
			k = "within"
		}
		return nil, p.errAt(m[k], path+"."+k, "%s belongs to an absence trigger (on … unless … within), not to when", k)
	case (m["unless"] == nil) != (m["within"] == nil):
		if m["unless"] == nil {
			return nil, p.errAt(m["within"], path+".within", "within needs unless: {on: {event: add_to_cart}, unless: {event: purchase}, within: 30m}; to wait before deciding, use delay")
		}
		return nil, p.errAt(m["unless"], path+".unless", "unless needs within: how long the follow-up event may take, e.g. within: 30m")
	}
	if v := m["on"]; v != nil {
		t.Kind = TriggerEvent
		if t.On, err = p.eventMatch(v, path+".on"); err != nil {
			return nil, err
		}
	}
	if v := m["unless"]; v != nil {
		t.Kind = TriggerAbsence
		if t.Unless, err = p.eventMatch(v, path+".unless"); err != nil {
			return nil, err
		}
		if t.Within, err = p.duration(m["within"], path+".within", true, MaxTriggerWait); err != nil {
			return nil, err
		}
	}
	if v := m["when"]; v != nil {
		t.Kind = TriggerThreshold
		if t.When, err = p.scalar(v, path+".when"); err != nil {
			return nil, err
		}
		if t.Cond, err = p.condition(v, path+".when", t.When); err != nil {
			return nil, err
		}
	}
	if v := m["delay"]; v != nil {
		if t.Delay, err = p.duration(v, path+".delay", false, MaxTriggerWait); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// eventMatch parses {event: <type>, where: {<property>: <value>, ...}}.
func (p *parser) eventMatch(n *yaml.Node, path string) (EventMatch, error) {
	var em EventMatch
	m, err := p.mapping(n, path, "event", "where")
	if err != nil {
		return em, err
	}
	if m["event"] == nil {
		return em, p.errAt(n, path+".event", "required: {event: <type>, where: {<property>: <value>}}")
	}
	if em.Event, err = p.scalar(m["event"], path+".event"); err != nil {
		return em, err
	}
	if !p.set.KnownType(em.Event) {
		return em, p.errAt(m["event"], path+".event", "unknown event type %q: use a standard type or declare it in the features' custom_events", em.Event)
	}
	if w := m["where"]; w != nil {
		if w.Kind != yaml.MappingNode || len(w.Content) == 0 {
			return em, p.errAt(w, path+".where", "must be a non-empty mapping of property: value, e.g. {currency: EUR}")
		}
		em.Where = map[string]string{}
		for i := 0; i+1 < len(w.Content); i += 2 {
			k, v := w.Content[i], yamlconf.Deref(w.Content[i+1])
			if k.Value == "" || len(k.Value) > features.MaxPropertyKeyBytes || v.Kind != yaml.ScalarNode {
				return em, p.errAt(k, path+".where", "entries are property: value, with a key of 1-%d bytes and a single value", features.MaxPropertyKeyBytes)
			}
			if _, dup := em.Where[k.Value]; dup {
				return em, p.errAt(k, path+".where."+k.Value, "property %q is given twice", k.Value)
			}
			em.Where[k.Value] = features.CanonicalScalar(v)
		}
	}
	return em, nil
}

// condition compiles a condition written in n; an error points at its
// column in the file.
func (p *parser) condition(n *yaml.Node, path, src string) (*Condition, error) {
	c, err := CompileCondition(src, p.set)
	var xe *expr.Error
	if errors.As(err, &xe) {
		col := n.Column + xe.Pos
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			col++ // the opening quote
		}
		at := *n
		at.Column = col
		return nil, p.errAt(&at, path, "%s in %q", xe.Msg, src)
	}
	return c, err
}

// entry parses {limit: once|once_per|every_time, period: <duration>}.
func (p *parser) entry(n *yaml.Node, path string) (EntryRule, error) {
	var e EntryRule
	m, err := p.mapping(n, path, "limit", "period")
	if err != nil {
		return e, err
	}
	if m["limit"] == nil {
		return e, p.errAt(n, path+".limit", "required: {limit: once | once_per | every_time, period: <duration> for once_per}")
	}
	if e.Limit, err = p.scalar(m["limit"], path+".limit"); err != nil {
		return e, err
	}
	switch e.Limit {
	case EntryOnce, EntryEveryTime:
		if m["period"] != nil {
			return e, p.errAt(m["period"], path+".period", "a period goes with limit: once_per, not %s", e.Limit)
		}
	case EntryOncePer:
		if m["period"] == nil {
			return e, p.errAt(n, path+".period", "required with once_per: how long before the customer may enter again, e.g. period: 14d")
		}
		if e.Period, err = p.duration(m["period"], path+".period", true, MaxCapWindow); err != nil {
			return e, err
		}
	default:
		return e, p.errAt(m["limit"], path+".limit", "unknown limit %q: use once, once_per (with a period) or every_time", e.Limit)
	}
	return e, nil
}

// offers parses {<offer>: {<variable>: <value>, ...}, ...}: the variables
// of offers that arms name. Offers without variables get no entry.
func (p *parser) offers(n *yaml.Node, path string, arms []Arm) (map[string]map[string]string, error) {
	var known []string
	for _, a := range arms {
		if a.Offer != "" && !slices.Contains(known, a.Offer) {
			known = append(known, a.Offer)
		}
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errAt(n, path, `must be a mapping of offers to their variables such as {discount_10: {discount: "10%%", code: CART10}}`)
	}
	var offers map[string]map[string]string
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamlconf.Deref(n.Content[i]), yamlconf.Deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return nil, p.errAt(k, path, "an offer's name must be a single value, not a list or mapping")
		}
		op := yamlconf.JoinPath(path, k.Value)
		if !slices.Contains(known, k.Value) {
			return nil, p.errAt(k, op, "unknown offer %q; the campaign's arms offer %s", k.Value, strings.Join(known, ", "))
		}
		if seen[k.Value] {
			return nil, p.errAt(k, op, "offer %q is given twice", k.Value)
		}
		seen[k.Value] = true
		vars, err := p.offerVars(v, op)
		if err != nil {
			return nil, err
		}
		if len(vars) == 0 {
			continue
		}
		if offers == nil {
			offers = map[string]map[string]string{}
		}
		offers[k.Value] = vars
	}
	return offers, nil
}

// offerVars parses one offer's {<variable>: <value>, ...}; null or {} is
// no variables.
func (p *parser) offerVars(n *yaml.Node, path string) (map[string]string, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errAt(n, path, `must be a mapping of variables to values such as {discount: "10%%", code: CART10}, or {} for none`)
	}
	if k := len(n.Content) / 2; k > MaxOfferVars {
		return nil, p.errAt(n, path, "%d variables: an offer has at most %d", k, MaxOfferVars)
	}
	vars := make(map[string]string, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamlconf.Deref(n.Content[i]), yamlconf.Deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return nil, p.errAt(k, path, "a variable's name must be a single value, not a list or mapping")
		}
		vp := yamlconf.JoinPath(path, k.Value)
		if !offerVarRE.MatchString(k.Value) {
			return nil, p.errAt(k, vp, "variable name %q must be 1-64 characters of a-z, 0-9 and _, starting with a letter", k.Value)
		}
		if _, dup := vars[k.Value]; dup {
			return nil, p.errAt(k, vp, "variable %q is given twice", k.Value)
		}
		if v.Kind != yaml.ScalarNode {
			return nil, p.errAt(v, vp, "must be a single value (text, a number or true/false), not a list or mapping")
		}
		if v.Tag == "!!null" {
			return nil, p.errAt(v, vp, `has no value: write "" for an empty one`)
		}
		switch s := v.Value; {
		case len(s) > MaxOfferVarBytes:
			return nil, p.errAt(v, vp, "%d bytes: a value has at most %d", len(s), MaxOfferVarBytes)
		case !utf8.ValidString(s):
			return nil, p.errAt(v, vp, "must be valid UTF-8 text")
		case strings.IndexByte(s, 0) >= 0:
			return nil, p.errAt(v, vp, "must not contain a NUL byte")
		}
		vars[k.Value] = v.Value
	}
	return vars, nil
}

// arms parses a campaign's arms.
func (p *parser) arms(n *yaml.Node, path string) ([]Arm, error) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return nil, p.errAt(n, path, "must be a list of at least one arm such as [{channel: email, offer: reminder}, {channel: none}]")
	}
	if len(n.Content) > MaxArms {
		return nil, p.errAt(n, path, "%d arms: a campaign has at most %d", len(n.Content), MaxArms)
	}
	arms := make([]Arm, 0, len(n.Content))
	nones := 0
	for i, an := range n.Content {
		an = yamlconf.Deref(an)
		ap := fmt.Sprintf("%s[%d]", path, i)
		m, err := p.mapping(an, ap, "channel", "offer", "cost")
		if err != nil {
			return nil, err
		}
		var a Arm
		if m["channel"] == nil {
			return nil, p.errAt(an, ap+".channel", "required: one of %s", strings.Join(Channels, ", "))
		}
		if a.Channel, err = p.scalar(m["channel"], ap+".channel"); err != nil {
			return nil, err
		}
		if !slices.Contains(Channels, a.Channel) {
			return nil, p.errAt(m["channel"], ap+".channel", "unknown channel %q; use one of %s", a.Channel, strings.Join(Channels, ", "))
		}
		if v := m["offer"]; v != nil {
			if a.Offer, err = p.scalar(v, ap+".offer"); err != nil {
				return nil, err
			}
			if !offerRE.MatchString(a.Offer) {
				return nil, p.errAt(v, ap+".offer", "offer %q must be at most 64 characters of a-z, 0-9 and _", a.Offer)
			}
		}
		if a.Offer == "" && a.Channel != ChannelNone {
			return nil, p.errAt(an, ap+".offer", "required: an arm on channel %s needs an offer (only the none arm may omit it)", a.Channel)
		}
		if v := m["cost"]; v != nil {
			if a.Cost, err = p.number(v, ap+".cost"); err != nil {
				return nil, err
			}
			if a.Cost < 0 {
				return nil, p.errAt(v, ap+".cost", "must not be negative")
			}
		}
		if a.Channel == ChannelNone {
			if nones++; nones > 1 {
				return nil, p.errAt(an, ap, "a second none arm: a campaign has at most one")
			}
		}
		for j, b := range arms {
			if b.Channel == a.Channel && b.Offer == a.Offer {
				return nil, p.errAt(an, ap, "arm %s/%s repeats %s[%d]", a.Channel, a.Offer, path, j)
			}
		}
		arms = append(arms, a)
	}
	if nones == 0 {
		return nil, p.errAt(n, path, "needs the none arm {channel: none}: the policy learns what not sending earns, and campaigns are ranked by their value over it")
	}
	if len(arms) == 1 {
		return nil, p.errAt(n, path, "needs an arm that sends besides the none arm")
	}
	return arms, nil
}

// reward parses {event, within, value}.
func (p *parser) reward(n *yaml.Node, path string) (RewardRule, error) {
	r := RewardRule{Value: "1"}
	m, err := p.mapping(n, path, "event", "within", "value")
	if err != nil {
		return r, err
	}
	for _, k := range []string{"event", "within"} {
		if m[k] == nil {
			return r, p.errAt(n, path+"."+k, "required: a reward is {event: <type>, within: <duration>, value: 1|<property>}")
		}
	}
	if r.Event, err = p.scalar(m["event"], path+".event"); err != nil {
		return r, err
	}
	if !p.set.KnownType(r.Event) {
		return r, p.errAt(m["event"], path+".event", "unknown event type %q: use a standard type or declare it in the features' custom_events", r.Event)
	}
	if r.Within, err = p.duration(m["within"], path+".within", true, MaxRewardWindow); err != nil {
		return r, err
	}
	if v := m["value"]; v != nil {
		if r.Value, err = p.scalar(v, path+".value"); err != nil {
			return r, err
		}
		if _, err := strconv.ParseFloat(r.Value, 64); r.Value != "1" && (err == nil || !propertyRE.MatchString(r.Value)) {
			return r, p.errAt(v, path+".value", "%q: use 1 (every conversion is worth 1) or a numeric property of the event such as amount", r.Value)
		}
	}
	return r, nil
}

// metrics parses a list of {name, event, within}; an empty list is none.
func (p *parser) metrics(n *yaml.Node, path string) ([]MetricRule, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errAt(n, path, "must be a list of metrics such as [{name: unsubscribe, event: unsubscribed, within: 7d}]")
	}
	if len(n.Content) > MaxMetrics {
		return nil, p.errAt(n, path, "%d metrics: a campaign has at most %d", len(n.Content), MaxMetrics)
	}
	var out []MetricRule
	lines := map[string]int{}
	for i, mn := range n.Content {
		mn = yamlconf.Deref(mn)
		mp := fmt.Sprintf("%s[%d]", path, i)
		m, err := p.mapping(mn, mp, "name", "event", "within")
		if err != nil {
			return nil, err
		}
		for _, k := range []string{"name", "event", "within"} {
			if m[k] == nil {
				return nil, p.errAt(mn, mp+"."+k, "required: a metric is {name: <name>, event: <type>, within: <duration>}")
			}
		}
		var r MetricRule
		if r.Name, err = p.scalar(m["name"], mp+".name"); err != nil {
			return nil, err
		}
		switch first, dup := lines[r.Name]; {
		case !metricNameRE.MatchString(r.Name):
			return nil, p.errAt(m["name"], mp+".name", "metric name %q must be 1-32 characters of a-z, 0-9 and _, starting with a letter", r.Name)
		case slices.Contains(reservedMetrics, r.Name):
			return nil, p.errAt(m["name"], mp+".name", "metric name %q is reserved: reports name the reward's own metrics %s", r.Name, strings.Join(reservedMetrics, " and "))
		case dup:
			return nil, p.errAt(m["name"], mp+".name", "metric %q is declared twice (first at line %d); names must be unique within a campaign", r.Name, first)
		}
		lines[r.Name] = m["name"].Line
		if r.Event, err = p.scalar(m["event"], mp+".event"); err != nil {
			return nil, err
		}
		if !p.set.KnownType(r.Event) {
			return nil, p.errAt(m["event"], mp+".event", "unknown event type %q: use a standard type or declare it in the features' custom_events", r.Event)
		}
		if r.Within, err = p.duration(m["within"], mp+".within", true, MaxRewardWindow); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// policy parses {kind, context, segment, epsilon, half_life}.
func (p *parser) policy(n *yaml.Node, path string) (PolicyConfig, error) {
	var pc PolicyConfig
	m, err := p.mapping(n, path, "kind", "context", "segment", "epsilon", "half_life")
	if err != nil {
		return pc, err
	}
	if m["kind"] == nil {
		return pc, p.errAt(n, path+".kind", "required: thompson or linear_thompson")
	}
	if pc.Kind, err = p.scalar(m["kind"], path+".kind"); err != nil {
		return pc, err
	}
	switch pc.Kind {
	case PolicyThompson:
		if v := m["context"]; v != nil {
			return pc, p.errAt(v, path+".context", "a thompson policy takes no context; use segment to split customers, or kind linear_thompson")
		}
		if v := m["segment"]; v != nil {
			if pc.SegmentBy, pc.SegmentBounds, err = p.segment(v, path+".segment"); err != nil {
				return pc, err
			}
		}
	case PolicyLinearThompson:
		if v := m["segment"]; v != nil {
			return pc, p.errAt(v, path+".segment", "a linear_thompson policy takes no segment; name its inputs in context")
		}
		v := m["context"]
		if v == nil {
			return pc, p.errAt(n, path+".context", "required: a linear_thompson policy needs 1-%d context inputs", MaxContext)
		}
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 || len(v.Content) > MaxContext {
			return pc, p.errAt(v, path+".context", "must be a list of 1-%d inputs (churn, propensity, nba:<class> or a feature)", MaxContext)
		}
		for i, cn := range v.Content {
			cn = yamlconf.Deref(cn)
			cp := fmt.Sprintf("%s.context[%d]", path, i)
			name, err := p.input(cn, cp)
			if err != nil {
				return pc, err
			}
			if slices.Contains(pc.Context, name) {
				return pc, p.errAt(cn, cp, "%q is listed twice", name)
			}
			pc.Context = append(pc.Context, name)
		}
	default:
		return pc, p.errAt(m["kind"], path+".kind", "unknown policy %q; use thompson or linear_thompson", pc.Kind)
	}
	if v := m["epsilon"]; v != nil {
		if pc.Epsilon, err = p.number(v, path+".epsilon"); err != nil {
			return pc, err
		}
		if pc.Epsilon < 0 || pc.Epsilon >= 1 {
			return pc, p.errAt(v, path+".epsilon", "%v is out of range: epsilon must be at least 0 and below 1", pc.Epsilon)
		}
	}
	if v := m["half_life"]; v != nil {
		if pc.HalfLife, err = p.duration(v, path+".half_life", false, 0); err != nil {
			return pc, err
		}
	}
	return pc, nil
}

// segment parses {by: <input>, bounds: [b1, b2, ...]}.
func (p *parser) segment(n *yaml.Node, path string) (string, []float64, error) {
	m, err := p.mapping(n, path, "by", "bounds")
	if err != nil {
		return "", nil, err
	}
	for _, k := range []string{"by", "bounds"} {
		if m[k] == nil {
			return "", nil, p.errAt(n, path+"."+k, "required: a segment is {by: <input>, bounds: [0.3, 0.7]}")
		}
	}
	by, err := p.input(m["by"], path+".by")
	if err != nil {
		return "", nil, err
	}
	v := m["bounds"]
	if v.Kind != yaml.SequenceNode || len(v.Content) == 0 || len(v.Content) > MaxSegmentBounds {
		return "", nil, p.errAt(v, path+".bounds", "must be a list of 1-%d increasing numbers", MaxSegmentBounds)
	}
	bounds := make([]float64, 0, len(v.Content))
	for i, bn := range v.Content {
		bn = yamlconf.Deref(bn)
		bp := fmt.Sprintf("%s.bounds[%d]", path, i)
		b, err := p.number(bn, bp)
		if err != nil {
			return "", nil, err
		}
		if i > 0 && b <= bounds[i-1] {
			return "", nil, p.errAt(bn, bp, "%v does not exceed the bound before it (%v): bounds must be strictly increasing", b, bounds[i-1])
		}
		bounds = append(bounds, b)
	}
	return by, bounds, nil
}

// input parses a policy input: churn, propensity, nba:<class> or a feature
// of the set.
func (p *parser) input(n *yaml.Node, path string) (string, error) {
	s, err := p.scalar(n, path)
	if err != nil {
		return "", err
	}
	if s == "churn" || s == "propensity" {
		return s, nil
	}
	if class, ok := strings.CutPrefix(s, "nba:"); ok {
		if class == "" || len(class) > 64 || strings.ContainsFunc(class, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return "", p.errAt(n, path, "%q: the class after nba: must be 1-64 bytes without spaces", s)
		}
		return s, nil
	}
	if slices.Contains(p.set.Names(), s) {
		return s, nil
	}
	return "", p.errAt(n, path, "unknown input %q: use churn, propensity, nba:<class> or a feature that is defined", s)
}

func validZone(name string) bool {
	_, err := time.LoadLocation(name)
	return err == nil
}
