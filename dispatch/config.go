package dispatch

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"kairos/channels"
	"kairos/channels/email"
	"kairos/channels/inapp"
	"kairos/channels/outbox"
	"kairos/channels/push"
	"kairos/channels/sms"
	"kairos/channels/webhook"
	"kairos/decisioning"
	"kairos/features"
	"kairos/internal/yamlconf"
)

// Providers a channel can use (ChannelConfig.Provider).
const (
	// ProviderOutbox keeps messages in the in-memory outbox
	// (channels/outbox) instead of sending them: any channel but inapp.
	ProviderOutbox = "outbox"
	// ProviderSMTP sends email through an SMTP server (channels/email).
	ProviderSMTP = "smtp"
	// ProviderFCM sends push notifications through Firebase Cloud
	// Messaging (channels/push).
	ProviderFCM = "fcm"
	// ProviderTwilio sends SMS through Twilio (channels/sms).
	ProviderTwilio = "twilio"
	// ProviderHTTP POSTs signed webhooks (channels/webhook).
	ProviderHTTP = "http"
	// ProviderInbox puts in-app messages into the store's inbox
	// (channels/inapp): the in-app channel's only provider.
	ProviderInbox = "inbox"
)

// Defaults and limits of a channels file.
const (
	// DefaultTrackingTTL is how long tracking links work when tracking.ttl
	// is not given.
	DefaultTrackingTTL = 30 * 24 * time.Hour
	// MaxTTL bounds tracking.ttl and an in-app message's ttl.
	MaxTTL = 365 * 24 * time.Hour
	// MaxConcurrency bounds a channel's concurrency, MaxAttemptsLimit its
	// max_attempts.
	MaxConcurrency   = 1024
	MaxAttemptsLimit = 100
	// MaxTimeout is the longest timeout of a send.
	MaxTimeout = 5 * time.Minute
	// MaxMessageAge bounds a channel's max_age.
	MaxMessageAge = 30 * 24 * time.Hour
	// MaxInboxSize bounds an in-app inbox's max_size.
	MaxInboxSize = 10_000
	// maxRate bounds a rate (messages/s) and a burst.
	maxRate = 1_000_000
	// maxCredentials bounds the size of an FCM credentials file.
	maxCredentials = 64 << 10
)

// Config is a validated channels file (kairos serve --channels FILE):
// which transport delivers each channel, within which limits, and the
// settings the dispatcher shares. Every duration and limit holds its
// effective value: defaults are filled in.
type Config struct {
	// Source names the file the configuration was read from.
	Source   string
	Tracking Tracking
	// Templates is the directory of the message templates
	// (channels.LoadTemplates), relative to the working directory; empty
	// means the built-in templates (channels/builtin).
	Templates string
	Retry     Retry
	// Channels maps each enabled channel (email, push, sms, inapp,
	// webhook) to its configuration; a channel without an entry is
	// disabled, and the dispatcher records its messages as invalid.
	Channels map[string]ChannelConfig
}

// Tracking configures the open, click and unsubscribe links of messages.
type Tracking struct {
	// BaseURL is where the links point (the admin server's /t/ handler
	// must be reachable there), an absolute http or https URL; empty means
	// the caller's default (kairos serve: its admin HTTP address).
	BaseURL string
	// TTL is how long a link works.
	TTL time.Duration
}

// Retry configures the delay between the attempts of a message:
// Options.Backoff and Options.MaxBackoff.
type Retry struct {
	Backoff, MaxBackoff time.Duration
}

// ChannelConfig configures the delivery of one channel.
type ChannelConfig struct {
	// Provider is one of the Provider constants the channel takes: email
	// smtp|outbox, push fcm|outbox, sms twilio|outbox, webhook
	// http|outbox, inapp inbox.
	Provider string
	// Rate caps the messages sent per second (0: no cap), in bursts of up
	// to Burst (0: Rate rounded up): by all instances together on Redis
	// (Options.Limiter), by the one instance when embedded.
	Rate  float64
	Burst int
	// Concurrency is the number of sends in flight at once in each
	// instance (1 to MaxConcurrency).
	Concurrency int
	// MaxAttempts is the number of attempts before a transiently failing
	// message is dead-lettered (1 to MaxAttemptsLimit).
	MaxAttempts int
	// Timeout bounds one send (at most MaxTimeout).
	Timeout time.Duration
	// MaxAge is how old a message may be when it is sent (quiet hours and
	// retries delay it); an older one is cancelled as expired.
	MaxAge time.Duration
	// The provider's settings: the one of Provider is set, the others are
	// nil (and all are for outbox and inbox).
	SMTP   *SMTPSettings
	FCM    *FCMSettings
	Twilio *TwilioSettings
	HTTP   *HTTPSettings
	// TTL (how long a message stays in the inbox) and MaxSize (how many
	// messages an inbox keeps) are the in-app channel's: inapp.Options of
	// the store (see Config.InboxOptions).
	TTL     time.Duration
	MaxSize int
}

// SMTPSettings are the settings of provider smtp: email.Options.
type SMTPSettings struct {
	// Addr is the server's host:port.
	Addr string
	// From is the sender, an address optionally with a display name.
	From string
	// Username and Password (read from the environment variable
	// PasswordEnv) authenticate with AUTH PLAIN; both or neither.
	Username    string
	PasswordEnv string
	Password    Secret
	// AllowPlaintext permits a server that does not offer STARTTLS.
	AllowPlaintext bool
	// LocalName is the name given in EHLO; empty means localhost.
	LocalName string
}

// FCMSettings are the settings of provider fcm: push.Options. Exactly one
// of TokenEnv and CredentialsFile is set.
type FCMSettings struct {
	// Project is the Firebase project id.
	Project string
	// BaseURL is the FCM endpoint; empty means push.DefaultBaseURL.
	BaseURL string
	// TokenEnv names the environment variable holding an OAuth2 bearer
	// token (Token), used as is for every request.
	TokenEnv string
	Token    Secret
	// CredentialsFile is a Google service-account key (JSON), read and
	// checked when the file is parsed (Credentials): the transport mints
	// and refreshes its own tokens with it
	// (push.ServiceAccountTokenSource).
	CredentialsFile string
	Credentials     Secret
}

// TwilioSettings are the settings of provider twilio: sms.Options. Exactly
// one of From and MessagingServiceSID is set.
type TwilioSettings struct {
	// BaseURL is the Twilio endpoint; empty means sms.DefaultBaseURL.
	BaseURL string
	// AccountSID ("AC…") and AuthToken (read from the environment
	// variable AuthTokenEnv) authenticate every request.
	AccountSID   string
	AuthTokenEnv string
	AuthToken    Secret
	// From is the sender, an E.164 number.
	From string
	// MessagingServiceSID ("MG…") lets a Messaging Service pick the
	// sender.
	MessagingServiceSID string
	// StatusCallback, when set, is the URL Twilio posts delivery status
	// updates to.
	StatusCallback string
}

// HTTPSettings are the settings of provider http: webhook.Options.
type HTTPSettings struct {
	// URL receives every message of the channel (Channel.Address).
	URL string
	// Secret (read from the environment variable SecretEnv, at least
	// webhook.MinSecretLen bytes) signs the requests.
	SecretEnv string
	Secret    Secret
}

// Secret is a credential read from the environment. It prints as
// "[redacted]" (with %v, %s, %q, %#v, in JSON and text encodings); convert
// it to a string to use it.
type Secret string

const redacted = "[redacted]"

// String implements fmt.Stringer: it hides the value.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer: it hides the value.
func (Secret) GoString() string { return redacted }

// MarshalText implements encoding.TextMarshaler: it hides the value.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// channelProviders lists the providers of each channel, the first the one
// of a real deployment.
var channelProviders = map[string][]string{
	decisioning.ChannelEmail:   {ProviderSMTP, ProviderOutbox},
	decisioning.ChannelPush:    {ProviderFCM, ProviderOutbox},
	decisioning.ChannelSMS:     {ProviderTwilio, ProviderOutbox},
	decisioning.ChannelWebhook: {ProviderHTTP, ProviderOutbox},
	decisioning.ChannelInApp:   {ProviderInbox},
}

// channelNames are the channels a file may configure, in the order of
// decisioning.Channels.
var channelNames = []string{decisioning.ChannelEmail, decisioning.ChannelPush, decisioning.ChannelSMS,
	decisioning.ChannelInApp, decisioning.ChannelWebhook}

// Keys of a channel's mapping: those of every provider, and each
// provider's own.
var (
	commonKeys   = []string{"provider", "rate", "burst", "concurrency", "max_attempts", "timeout", "max_age"}
	providerKeys = map[string][]string{
		ProviderOutbox: nil,
		ProviderSMTP:   {"addr", "from", "username", "password_env", "allow_plaintext", "local_name"},
		ProviderFCM:    {"project", "base_url", "token_env", "credentials_file"},
		ProviderTwilio: {"account_sid", "auth_token_env", "from", "messaging_service_sid", "status_callback", "base_url"},
		ProviderHTTP:   {"url", "secret_env"},
		ProviderInbox:  {"ttl", "max_size"},
	}
)

//go:embed channels.yaml
var exampleConfig []byte

// ExampleConfigYAML returns dispatch/channels.yaml: a channels file that
// documents every field in its comments, a starting point for your own.
// Its secrets name environment variables (KAIROS_SMTP_PASSWORD,
// KAIROS_FCM_TOKEN, KAIROS_TWILIO_AUTH_TOKEN, KAIROS_WEBHOOK_SECRET).
func ExampleConfigYAML() []byte { return slices.Clone(exampleConfig) }

// DefaultConfig returns the configuration kairos serve uses without
// --channels: email, push, sms and webhook on the outbox provider and
// inapp on the inbox, with the default limits, retries and tracking, and
// the built-in templates. Nothing leaves the process: the messages go to
// the in-memory outbox, which the admin server shows, and into the
// customers' in-app inboxes.
func DefaultConfig() *Config {
	c := &Config{
		Source:   "default",
		Tracking: Tracking{TTL: DefaultTrackingTTL},
		Retry:    Retry{Backoff: DefaultBackoff, MaxBackoff: DefaultMaxBackoff},
		Channels: make(map[string]ChannelConfig, len(channelNames)),
	}
	for _, name := range channelNames {
		ch := ChannelConfig{Provider: ProviderOutbox, Concurrency: DefaultConcurrency,
			MaxAttempts: DefaultMaxAttempts, Timeout: DefaultTimeout, MaxAge: DefaultMaxAge}
		if name == decisioning.ChannelInApp {
			ch.Provider, ch.TTL, ch.MaxSize = ProviderInbox, inapp.DefaultTTL, inapp.DefaultMaxSize
		}
		c.Channels[name] = ch
	}
	return c
}

// Enabled reports whether the configuration delivers channel.
func (c *Config) Enabled(channel string) bool {
	_, ok := c.Channels[channel]
	return ok
}

// Providers maps every enabled channel to its provider.
func (c *Config) Providers() map[string]string {
	m := make(map[string]string, len(c.Channels))
	for name, ch := range c.Channels {
		m[name] = ch.Provider
	}
	return m
}

// InboxOptions returns the options of the in-app inbox store the
// configuration asks for (the inapp channel's ttl and max_size; the
// defaults when the channel is disabled). The caller builds the store with
// them and passes it in Deps.Inbox.
func (c *Config) InboxOptions() inapp.Options {
	ch := c.Channels[decisioning.ChannelInApp]
	return inapp.Options{TTL: ch.TTL, MaxSize: ch.MaxSize}.WithDefaults()
}

// ParseConfig reads and validates a channels file. name is the file's
// name, used in errors and as Config.Source; getenv reads the environment
// variables that hold the secrets (os.Getenv when nil). A relative
// credentials_file is read from the working directory.
//
// An invalid file is refused as a whole. The error lists every problem
// found, one per line, sorted by position; each is a *yamlconf.Error
// (alias decisioning.ConfigError) naming the line and column, the field
// and the rule ("channels.yaml:12:11: channels.email.addr: must be host:port ...").
// The error unwraps (errors.As, or Unwrap() []error) to them.
//
// The format (channels.yaml, ExampleConfigYAML, documents every field):
//
//	tracking: {base_url: https://t.example.com, ttl: 30d}
//	templates: ./templates           # empty: the built-in templates
//	retry: {backoff: 2s, max_backoff: 10m}
//	channels:                        # a channel left out is disabled
//	  email:
//	    provider: smtp               # or outbox
//	    rate: 50                     # and burst, concurrency, max_attempts, timeout
//	    addr: smtp.example.com:587
//	    from: Kairos Shop <news@example.com>
//	    username: kairos
//	    password_env: KAIROS_SMTP_PASSWORD
//	  push: {provider: fcm, project: kairos-shop, credentials_file: /etc/kairos/fcm.json}
//	  sms: {provider: twilio, account_sid: AC…, auth_token_env: KAIROS_TWILIO_AUTH_TOKEN, from: "+15017122661"}
//	  webhook: {provider: http, url: https://hooks.example.com/kairos, secret_env: KAIROS_WEBHOOK_SECRET}
//	  inapp: {provider: inbox, ttl: 7d, max_size: 50}
//
// Durations are a whole number of days ("7d") or a Go duration ("30s",
// "10m", "1h30m"). Secrets are never in the file: the *_env keys name the
// environment variables that hold them, and a variable that is unset or
// empty is an error.
func ParseConfig(name string, data []byte, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	p := &parser{file: name, getenv: getenv}
	cfg := p.config(data)
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *yamlconf.Error) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Column - b.Column
		})
		errs := make([]error, len(p.errs))
		for i, e := range p.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// parser collects the problems of a file.
type parser struct {
	file   string
	getenv func(string) string
	errs   []*yamlconf.Error
}

// fail records a problem at node n (the file's first line when nil).
func (p *parser) fail(n *yaml.Node, path, format string, args ...any) {
	p.errs = append(p.errs, yamlconf.Errorf(p.file, n, path, format, args...))
}

// ok records e, when there is one, and reports whether there was none.
func (p *parser) ok(e *yamlconf.Error) bool {
	if e != nil {
		p.errs = append(p.errs, e)
		return false
	}
	return true
}

func (p *parser) config(data []byte) *Config {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p.errs = append(p.errs, yamlconf.FromYAML(p.file, err))
		return nil
	}
	if len(doc.Content) == 0 {
		p.fail(nil, "", "empty file: expected a mapping with 'channels' (and optionally 'tracking', 'templates', 'retry')")
		return nil
	}
	root := yamlconf.Deref(doc.Content[0])
	m := p.mapping(root, "", "tracking", "templates", "retry", "channels")
	if m == nil {
		return nil
	}
	cfg := &Config{
		Source:   p.file,
		Tracking: Tracking{TTL: DefaultTrackingTTL},
		Retry:    Retry{Backoff: DefaultBackoff, MaxBackoff: DefaultMaxBackoff},
		Channels: map[string]ChannelConfig{},
	}
	if v := m["tracking"]; v != nil {
		tm := p.mapping(v, "tracking", "base_url", "ttl")
		if u := tm["base_url"]; u != nil {
			cfg.Tracking.BaseURL = p.url(u, "tracking.base_url", true)
		}
		if t := tm["ttl"]; t != nil {
			cfg.Tracking.TTL = p.duration(t, "tracking.ttl", time.Minute, MaxTTL, DefaultTrackingTTL)
		}
	}
	if v := m["templates"]; v != nil {
		if s, ok := p.scalar(v, "templates"); ok {
			if strings.ContainsFunc(s, isCtl) {
				p.fail(v, "templates", "must be a directory path without control characters")
			}
			cfg.Templates = s
		}
	}
	if v := m["retry"]; v != nil {
		before := len(p.errs)
		rm := p.mapping(v, "retry", "backoff", "max_backoff")
		if b := rm["backoff"]; b != nil {
			cfg.Retry.Backoff = p.duration(b, "retry.backoff", time.Millisecond, time.Hour, DefaultBackoff)
		}
		if b := rm["max_backoff"]; b != nil {
			cfg.Retry.MaxBackoff = p.duration(b, "retry.max_backoff", time.Millisecond, 7*24*time.Hour, DefaultMaxBackoff)
		}
		if len(p.errs) == before && cfg.Retry.MaxBackoff < cfg.Retry.Backoff {
			p.fail(v, "retry", "max_backoff %s is shorter than backoff %s: the delay doubles from backoff up to max_backoff",
				features.FormatDuration(cfg.Retry.MaxBackoff), features.FormatDuration(cfg.Retry.Backoff))
		}
	}
	chans := m["channels"]
	if chans == nil {
		p.fail(root, "channels", "required: a mapping of the channels to deliver (%s) to their provider and settings", strings.Join(channelNames, ", "))
		return cfg
	}
	cm := p.mapping(chans, "channels", channelNames...)
	if cm == nil {
		return cfg
	}
	if len(cm) == 0 {
		p.fail(chans, "channels", "configures no channel: give at least one of %s", strings.Join(channelNames, ", "))
	}
	var leaving []string
	for _, name := range channelNames {
		if v := cm[name]; v != nil {
			cfg.Channels[name] = p.channel(v, name)
			if pr := cfg.Channels[name].Provider; pr != ProviderOutbox && pr != ProviderInbox && pr != "" {
				leaving = append(leaving, name)
			}
		}
	}
	if len(leaving) > 0 && cfg.Tracking.BaseURL == "" {
		p.fail(root, "tracking.base_url", "required when messages leave Kairos (%s): the open, click and unsubscribe links in them must point at the public address of the admin server's /t/, e.g. https://t.example.com",
			strings.Join(leaving, ", "))
	}
	return cfg
}

// channel parses the mapping of one channel.
func (p *parser) channel(n *yaml.Node, name string) ChannelConfig {
	path := "channels." + name
	ch := ChannelConfig{Concurrency: DefaultConcurrency, MaxAttempts: DefaultMaxAttempts, Timeout: DefaultTimeout, MaxAge: DefaultMaxAge}
	allowed := channelProviders[name]
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "must be a mapping such as {provider: %s}", allowed[0])
		return ch
	}
	// The provider first: it says which other keys the mapping takes.
	pn := valueOf(n, "provider")
	switch {
	case pn == nil && name == decisioning.ChannelInApp:
		ch.Provider = ProviderInbox
	case pn == nil:
		p.fail(n, path+".provider", "required: one of %s", strings.Join(allowed, ", "))
	default:
		if s, ok := p.scalar(pn, path+".provider"); ok {
			if slices.Contains(allowed, s) {
				ch.Provider = s
			} else {
				p.fail(pn, path+".provider", "unknown provider %q for %s; use %s", s, name, orList(allowed))
			}
		}
	}
	var m map[string]*yaml.Node
	if ch.Provider == "" {
		// Unknown provider: check the keys against every provider's.
		keys := slices.Clone(commonKeys)
		for _, ks := range providerKeys {
			for _, k := range ks {
				if !slices.Contains(keys, k) {
					keys = append(keys, k)
				}
			}
		}
		m = p.mappingQuiet(n, path, keys)
	} else {
		keys := append(slices.Clone(commonKeys), providerKeys[ch.Provider]...)
		m = p.providerMapping(n, path, ch.Provider, keys)
	}
	rateOK := true
	if v := m["rate"]; v != nil {
		before := len(p.errs)
		if ch.Rate = p.number(v, path+".rate"); ch.Rate < 0 || ch.Rate > maxRate {
			p.fail(v, path+".rate", "%v is out of range: messages per second from 0 (no cap) to %d", ch.Rate, maxRate)
			ch.Rate = 0
		}
		rateOK = len(p.errs) == before
	}
	if v := m["burst"]; v != nil {
		ch.Burst = p.integer(v, path+".burst", 0, maxRate, 0)
		if ch.Burst > 0 && ch.Rate == 0 && rateOK {
			p.fail(v, path+".burst", "a burst needs a rate: without one (or with rate 0) nothing is capped")
		}
	}
	if v := m["concurrency"]; v != nil {
		ch.Concurrency = p.integer(v, path+".concurrency", 1, MaxConcurrency, DefaultConcurrency)
	}
	if v := m["max_attempts"]; v != nil {
		ch.MaxAttempts = p.integer(v, path+".max_attempts", 1, MaxAttemptsLimit, DefaultMaxAttempts)
	}
	if v := m["max_age"]; v != nil {
		ch.MaxAge = p.duration(v, path+".max_age", time.Minute, MaxMessageAge, DefaultMaxAge)
	}
	if v := m["timeout"]; v != nil {
		ch.Timeout = p.duration(v, path+".timeout", time.Millisecond, MaxTimeout, DefaultTimeout)
	}
	before := len(p.errs)
	switch ch.Provider {
	case ProviderSMTP:
		ch.SMTP = p.smtp(n, m, path)
	case ProviderFCM:
		ch.FCM = p.fcm(n, m, path)
	case ProviderTwilio:
		ch.Twilio = p.twilio(n, m, path)
	case ProviderHTTP:
		ch.HTTP = p.http(n, m, path)
	case ProviderInbox:
		ch.TTL, ch.MaxSize = inapp.DefaultTTL, inapp.DefaultMaxSize
		if v := m["ttl"]; v != nil {
			ch.TTL = p.duration(v, path+".ttl", time.Minute, MaxTTL, inapp.DefaultTTL)
		}
		if v := m["max_size"]; v != nil {
			ch.MaxSize = p.integer(v, path+".max_size", 1, MaxInboxSize, inapp.DefaultMaxSize)
		}
	}
	// The settings passed their rules: the transport's constructor (which
	// does no I/O) has the last word, so that a file that parses builds.
	if len(p.errs) == before && ch.Provider != ProviderOutbox && ch.Provider != ProviderInbox && ch.Provider != "" {
		if _, err := newTransport(ch, Deps{}); err != nil {
			p.fail(cmp.Or(pn, n), path, "%v", err)
		}
	}
	return ch
}

// smtp parses the settings of provider smtp.
func (p *parser) smtp(n *yaml.Node, m map[string]*yaml.Node, path string) *SMTPSettings {
	s := &SMTPSettings{}
	if v := p.required(n, m, path, "addr", "the SMTP server's host:port, such as smtp.example.com:587"); v != nil {
		s.Addr, _ = p.scalar(v, path+".addr")
		if !hostPort(s.Addr) {
			p.fail(v, path+".addr", "%q must be host:port, such as smtp.example.com:587", s.Addr)
		}
	}
	if v := p.required(n, m, path, "from", "the sender, such as Kairos Shop <news@example.com>"); v != nil {
		s.From, _ = p.scalar(v, path+".from")
		if _, err := mail.ParseAddress(s.From); err != nil || strings.ContainsFunc(s.From, isCtl) {
			p.fail(v, path+".from", "%q is not an email address: write news@example.com or Kairos Shop <news@example.com>", s.From)
		}
	}
	if v := m["username"]; v != nil {
		s.Username, _ = p.scalar(v, path+".username")
		if strings.ContainsFunc(s.Username, isCtl) {
			p.fail(v, path+".username", "must not contain control characters")
		}
	}
	if v := m["password_env"]; v != nil {
		s.PasswordEnv, s.Password = p.secret(v, path+".password_env")
	}
	switch {
	case s.Username != "" && m["password_env"] == nil:
		p.fail(m["username"], path+".password_env", "required with username: the environment variable holding the SMTP password")
	case s.Username == "" && m["password_env"] != nil:
		p.fail(m["password_env"], path+".username", "required with password_env: AUTH needs both")
	}
	if v := m["allow_plaintext"]; v != nil {
		s.AllowPlaintext = p.boolean(v, path+".allow_plaintext")
	}
	if v := m["local_name"]; v != nil {
		s.LocalName, _ = p.scalar(v, path+".local_name")
		if s.LocalName == "" || strings.ContainsFunc(s.LocalName, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			p.fail(v, path+".local_name", "%q must be a host name without spaces or control characters", s.LocalName)
		}
	}
	return s
}

// fcm parses the settings of provider fcm.
func (p *parser) fcm(n *yaml.Node, m map[string]*yaml.Node, path string) *FCMSettings {
	s := &FCMSettings{}
	if v := p.required(n, m, path, "project", "the Firebase project id"); v != nil {
		s.Project, _ = p.scalar(v, path+".project")
		if s.Project == "" || strings.ContainsAny(s.Project, "/?#% ") || strings.ContainsFunc(s.Project, isCtl) {
			p.fail(v, path+".project", "%q must be a bare Firebase project id (no '/', '?', '#', '%%' or spaces)", s.Project)
		}
	}
	if v := m["base_url"]; v != nil {
		s.BaseURL = p.url(v, path+".base_url", true)
	}
	tok, cred := m["token_env"], m["credentials_file"]
	switch {
	case tok == nil && cred == nil:
		p.fail(n, path+".credentials_file", "required: credentials_file (a service-account key) or token_env (an OAuth2 bearer token)")
	case tok != nil && cred != nil:
		p.fail(tok, path+".token_env", "give credentials_file or token_env, not both")
	case tok != nil:
		s.TokenEnv, s.Token = p.secret(tok, path+".token_env")
	default:
		s.CredentialsFile, _ = p.scalar(cred, path+".credentials_file")
		raw, err := readCredentials(s.CredentialsFile)
		if err != nil {
			p.fail(cred, path+".credentials_file", "%v", err)
		} else {
			s.Credentials = Secret(raw)
		}
	}
	return s
}

// readCredentials reads a Google service-account key file and checks it
// with push.ServiceAccountTokenSource.
func readCredentials(name string) ([]byte, error) {
	if name == "" {
		return nil, errors.New("must name a service-account key file (JSON)")
	}
	// Stat first: opening a FIFO would block, and a device could be
	// endless.
	fi, err := os.Stat(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read the service-account key: %v", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read the service-account key: %v", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxCredentials+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the service-account key: %v", err)
	}
	if len(raw) > maxCredentials {
		return nil, fmt.Errorf("%s is larger than %d KiB: not a service-account key", name, maxCredentials>>10)
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("%s is not a service-account key: not JSON", name)
	}
	// The token source's own checks (no I/O: it only reads the key).
	if _, err := push.ServiceAccountTokenSource(raw, nil); err != nil {
		return nil, fmt.Errorf("%s is not a usable service-account key: %s", name,
			strings.TrimPrefix(err.Error(), "push: service account credentials: "))
	}
	return raw, nil
}

// twilio parses the settings of provider twilio.
func (p *parser) twilio(n *yaml.Node, m map[string]*yaml.Node, path string) *TwilioSettings {
	s := &TwilioSettings{}
	if v := m["base_url"]; v != nil {
		s.BaseURL = p.url(v, path+".base_url", false)
	}
	if v := p.required(n, m, path, "account_sid", `the account SID, "AC" and 32 hex digits`); v != nil {
		s.AccountSID, _ = p.scalar(v, path+".account_sid")
		if !sidLike(s.AccountSID, "AC") {
			p.fail(v, path+".account_sid", "%q must be \"AC\" followed by letters and digits", s.AccountSID)
		}
	}
	if v := p.required(n, m, path, "auth_token_env", "the environment variable holding the auth token"); v != nil {
		s.AuthTokenEnv, s.AuthToken = p.secret(v, path+".auth_token_env")
	}
	from, svc := m["from"], m["messaging_service_sid"]
	switch {
	case from == nil && svc == nil:
		p.fail(n, path+".from", "required: from (an E.164 number) or messaging_service_sid")
	case from != nil && svc != nil:
		p.fail(svc, path+".messaging_service_sid", "give from or messaging_service_sid, not both")
	case from != nil:
		s.From, _ = p.scalar(from, path+".from")
		if !features.IsE164(s.From) {
			p.fail(from, path+".from", "%q is not an E.164 number: \"+\", the country code and the number, 8 to 15 digits (quote it: \"+15017122661\")", s.From)
		}
	default:
		s.MessagingServiceSID, _ = p.scalar(svc, path+".messaging_service_sid")
		if !sidLike(s.MessagingServiceSID, "MG") {
			p.fail(svc, path+".messaging_service_sid", "%q must be \"MG\" followed by letters and digits", s.MessagingServiceSID)
		}
	}
	if v := m["status_callback"]; v != nil {
		s.StatusCallback = p.url(v, path+".status_callback", false)
	}
	return s
}

// http parses the settings of provider http.
func (p *parser) http(n *yaml.Node, m map[string]*yaml.Node, path string) *HTTPSettings {
	s := &HTTPSettings{}
	if v := p.required(n, m, path, "url", "the endpoint that receives the messages"); v != nil {
		s.URL = p.url(v, path+".url", false)
	}
	if v := p.required(n, m, path, "secret_env", fmt.Sprintf("the environment variable holding the signing secret (at least %d bytes)", webhook.MinSecretLen)); v != nil {
		s.SecretEnv, s.Secret = p.secret(v, path+".secret_env")
		if s.Secret != "" && len(s.Secret) < webhook.MinSecretLen {
			p.fail(v, path+".secret_env", "the secret in %s is %d bytes; a signing secret needs at least %d (openssl rand -hex 32 makes one)",
				s.SecretEnv, len(s.Secret), webhook.MinSecretLen)
		}
	}
	return s
}

// required returns m[key], recording a problem at n when it is absent.
func (p *parser) required(n *yaml.Node, m map[string]*yaml.Node, path, key, what string) *yaml.Node {
	v := m[key]
	if v == nil {
		p.fail(n, path+"."+key, "required: %s", what)
	}
	return v
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// secret reads the environment variable named by n.
func (p *parser) secret(n *yaml.Node, path string) (string, Secret) {
	name, ok := p.scalar(n, path)
	if !ok {
		return "", ""
	}
	if !envNameRE.MatchString(name) {
		p.fail(n, path, "%q is not an environment variable name: letters, digits and _, such as KAIROS_SECRET (the secret itself never goes in the file)", name)
		return name, ""
	}
	v := p.getenv(name)
	if v == "" {
		p.fail(n, path, "the environment variable %s is unset or empty", name)
	}
	return name, Secret(v)
}

// valueOf returns the value of key in mapping n, nil when there is none.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := yamlconf.Deref(n.Content[i]); k != nil && k.Kind == yaml.ScalarNode && k.Value == key {
			return yamlconf.Deref(n.Content[i+1])
		}
	}
	return nil
}

// mapping checks that n is a mapping whose keys are among keys, each given
// once, and returns its values by key (aliases resolved; a key with a null
// value is absent). It returns nil when n is not a mapping.
func (p *parser) mapping(n *yaml.Node, path string, keys ...string) map[string]*yaml.Node {
	m, errs := yamlconf.Mapping(p.file, n, path, keys...)
	p.errs = append(p.errs, errs...)
	return m
}

// mappingQuiet is mapping for a mapping whose problems were reported
// already (a channel whose provider is unknown): it reports only keys that
// no provider takes.
func (p *parser) mappingQuiet(n *yaml.Node, path string, keys []string) map[string]*yaml.Node {
	return p.keys(n, path, keys, func(k string) string {
		return fmt.Sprintf("unknown key %q; a channel takes %s and its provider's settings", k, strings.Join(commonKeys, ", "))
	})
}

// providerMapping is mapping for a channel on provider: a key of another
// provider says so.
func (p *parser) providerMapping(n *yaml.Node, path, provider string, keys []string) map[string]*yaml.Node {
	return p.keys(n, path, keys, func(k string) string {
		var owners []string
		for _, pr := range []string{ProviderSMTP, ProviderFCM, ProviderTwilio, ProviderHTTP, ProviderInbox} {
			if slices.Contains(providerKeys[pr], k) {
				owners = append(owners, pr)
			}
		}
		if len(owners) > 0 {
			return fmt.Sprintf("%q is a setting of provider %s, not %s; %s with provider %s takes %s",
				k, orList(owners), provider, path, provider, strings.Join(keys, ", "))
		}
		return fmt.Sprintf("unknown key %q; %s with provider %s takes %s", k, path, provider, strings.Join(keys, ", "))
	})
}

func (p *parser) keys(n *yaml.Node, path string, keys []string, unknown func(string) string) map[string]*yaml.Node {
	m, errs := yamlconf.Fields(p.file, n, path, keys, unknown)
	p.errs = append(p.errs, errs...)
	return m
}

// scalar returns the text of a single value.
func (p *parser) scalar(n *yaml.Node, path string) (string, bool) {
	s, e := yamlconf.Scalar(p.file, n, path)
	return s, p.ok(e)
}

// duration parses a duration from lo to hi; def when it is invalid.
func (p *parser) duration(n *yaml.Node, path string, lo, hi, def time.Duration) time.Duration {
	s, ok := p.scalar(n, path)
	if !ok {
		return def
	}
	d, err := features.ParseDuration(s)
	switch {
	case err != nil:
		p.fail(n, path, "%v", err)
	case d < lo:
		p.fail(n, path, "%s is too short: at least %s", s, features.FormatDuration(lo))
	case d > hi:
		p.fail(n, path, "%s is too long: at most %s", s, features.FormatDuration(hi))
	default:
		return d
	}
	return def
}

// integer parses a whole number from lo to hi; def when it is invalid.
func (p *parser) integer(n *yaml.Node, path string, lo, hi, def int) int {
	s, ok := p.scalar(n, path)
	if !ok {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		p.fail(n, path, "%q must be a whole number from %d to %d", s, lo, hi)
		return def
	}
	return v
}

// number parses a finite number; 0 when it is invalid.
func (p *parser) number(n *yaml.Node, path string) float64 {
	f, e := yamlconf.Number(p.file, n, path)
	p.ok(e)
	return f
}

// boolean parses true or false.
func (p *parser) boolean(n *yaml.Node, path string) bool {
	s, ok := p.scalar(n, path)
	if !ok {
		return false
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	p.fail(n, path, "%q must be true or false", s)
	return false
}

// url parses an absolute http or https URL; base URLs may not carry a
// query or fragment.
func (p *parser) url(n *yaml.Node, path string, base bool) string {
	s, ok := p.scalar(n, path)
	if !ok {
		return ""
	}
	if err := checkURL(s, base); err != nil {
		p.fail(n, path, "%q %v", s, err)
	}
	return s
}

func checkURL(s string, base bool) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an absolute http or https URL, such as https://example.com/path")
	}
	if u.User != nil {
		return errors.New("must not carry user info (credentials go in the *_env settings)")
	}
	if base && (u.RawQuery != "" || u.Fragment != "") {
		return errors.New("must not carry a query or a fragment")
	}
	return nil
}

// hostPort reports whether s is host:port with a port from 1 to 65535.
func hostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}

func sidLike(s, prefix string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || rest == "" {
		return false
	}
	return !strings.ContainsFunc(rest, func(c rune) bool {
		return !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z')
	})
}

func isCtl(r rune) bool { return r < ' ' || r == 0x7f }

// orList writes "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// Deps are what Build needs besides the configuration.
type Deps struct {
	// Inbox stores in-app messages; required when inapp is enabled.
	// Build it with Config.InboxOptions.
	Inbox inapp.Store
	// Outbox keeps the messages of the channels on provider outbox;
	// required when one is.
	Outbox *outbox.Outbox
	// HTTPClient sends the requests of fcm, twilio and http; nil means a
	// client per channel whose timeout is the channel's. The http
	// (webhook) provider uses a copy that does not follow redirects (a
	// redirected POST may lose its body or take the signature elsewhere).
	HTTPClient *http.Client
	// Now is the clock of the inbox and of webhook signatures; time.Now
	// when nil.
	Now func() time.Time
}

// Build constructs the transport of every enabled channel and returns the
// channels for Options.Channels. It does no I/O: a server that is down
// shows at the first send, not here. The channels on outbox, inbox and
// http are Idempotent (the outbox and the inbox deduplicate by message id;
// webhook receivers by the Idempotency-Key header); smtp, fcm and twilio
// are not. A webhook channel's Address is its URL.
func (c *Config) Build(deps Deps) (map[string]Channel, error) {
	out := make(map[string]Channel, len(c.Channels))
	var errs []error
	for _, name := range channelNames {
		cc, ok := c.Channels[name]
		if !ok {
			continue
		}
		t, err := newTransport(cc, deps)
		if err != nil {
			errs = append(errs, fmt.Errorf("dispatch: channel %s: %w", name, err))
			continue
		}
		ch := Channel{Transport: t, Rate: cc.Rate, Burst: cc.Burst, Concurrency: cc.Concurrency,
			MaxAttempts: cc.MaxAttempts, Timeout: cc.Timeout, MaxAge: cc.MaxAge}
		switch cc.Provider {
		case ProviderOutbox, ProviderInbox:
			ch.Idempotent = true
		case ProviderHTTP:
			ch.Idempotent = true
			ch.Address = cc.HTTP.URL
		}
		out[name] = ch
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Apply fills opts from the configuration: Channels (Build with deps),
// Backoff and MaxBackoff; and it raises ClaimIdle (DefaultClaimIdle when
// 0) to the longest channel timeout plus the lease margin when it is
// shorter, as New requires. The other options are the caller's.
func (c *Config) Apply(opts *Options, deps Deps) error {
	chans, err := c.Build(deps)
	if err != nil {
		return err
	}
	opts.Channels = chans
	opts.Backoff, opts.MaxBackoff = c.Retry.Backoff, c.Retry.MaxBackoff
	var longest time.Duration
	for _, ch := range chans {
		longest = max(longest, cmp.Or(ch.Timeout, DefaultTimeout))
	}
	if need := longest + cmp.Or(opts.LeaseMargin, DefaultLeaseMargin); cmp.Or(opts.ClaimIdle, DefaultClaimIdle) < need {
		opts.ClaimIdle = need
	}
	return nil
}

// newTransport constructs the transport of one channel.
func newTransport(cc ChannelConfig, deps Deps) (channels.Transport, error) {
	client := deps.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: cmp.Or(cc.Timeout, DefaultTimeout)}
	}
	switch cc.Provider {
	case ProviderOutbox:
		if deps.Outbox == nil {
			return nil, errors.New("provider outbox needs Deps.Outbox")
		}
		return deps.Outbox, nil
	case ProviderInbox:
		if deps.Inbox == nil {
			return nil, errors.New("provider inbox needs Deps.Inbox")
		}
		return inapp.NewTransport(deps.Inbox, cc.TTL, deps.Now), nil
	case ProviderSMTP:
		s := cc.SMTP
		if s == nil {
			return nil, errors.New("provider smtp: no settings")
		}
		return email.New(email.Options{Addr: s.Addr, From: s.From, Username: s.Username, Password: string(s.Password),
			AllowPlaintext: s.AllowPlaintext, Timeout: cc.Timeout, LocalName: s.LocalName})
	case ProviderFCM:
		s := cc.FCM
		if s == nil {
			return nil, errors.New("provider fcm: no settings")
		}
		var tokens func(ctx context.Context) (string, error)
		switch {
		case s.Token != "":
			tokens = push.StaticToken(string(s.Token))
		case s.Credentials != "":
			var err error
			if tokens, err = push.ServiceAccountTokenSource([]byte(s.Credentials), client); err != nil {
				return nil, fmt.Errorf("credentials_file %s: %w", s.CredentialsFile, err)
			}
		}
		return push.New(push.Options{BaseURL: s.BaseURL, Project: s.Project, TokenSource: tokens, HTTPClient: client})
	case ProviderTwilio:
		s := cc.Twilio
		if s == nil {
			return nil, errors.New("provider twilio: no settings")
		}
		return sms.New(sms.Options{BaseURL: s.BaseURL, AccountSID: s.AccountSID, AuthToken: string(s.AuthToken),
			From: s.From, MessagingServiceSID: s.MessagingServiceSID, StatusCallback: s.StatusCallback, HTTPClient: client})
	case ProviderHTTP:
		s := cc.HTTP
		if s == nil {
			return nil, errors.New("provider http: no settings")
		}
		noRedirect := *client
		noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return webhook.New(webhook.Options{URL: s.URL, Secret: []byte(s.Secret), HTTPClient: &noRedirect, Now: deps.Now})
	}
	return nil, fmt.Errorf("unknown provider %q", cc.Provider)
}
