package dispatch_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kairos/channels"
	"kairos/channels/inapp"
	"kairos/channels/outbox"
	"kairos/decisioning"
	"kairos/dispatch"
)

const webhookSecret = "0123456789abcdef0123456789abcdef01234567" // 40 bytes

// cfgEnv is the environment of the tests: the secrets the files name.
var cfgEnv = map[string]string{
	"SMTP_PASSWORD":  "smtp-secret-value",
	"FCM_TOKEN":      "fcm-secret-value",
	"TWILIO_TOKEN":   "twilio-secret-value",
	"WEBHOOK_SECRET": webhookSecret,
	"SHORT_SECRET":   "tiny5",
	// The variables of channels.yaml.
	"KAIROS_SMTP_PASSWORD":     "smtp-secret-value",
	"KAIROS_FCM_TOKEN":         "fcm-secret-value",
	"KAIROS_TWILIO_AUTH_TOKEN": "twilio-secret-value",
	"KAIROS_WEBHOOK_SECRET":    webhookSecret,
}

func cfgGetenv(name string) string { return cfgEnv[name] }

func TestExampleConfigParses(t *testing.T) {
	cfg, err := dispatch.ParseConfig("channels.yaml", dispatch.ExampleConfigYAML(), cfgGetenv)
	if err != nil {
		t.Fatal(err)
	}
	const day = 24 * time.Hour
	want := &dispatch.Config{
		Source:    "channels.yaml",
		Tracking:  dispatch.Tracking{BaseURL: "https://t.example.com", TTL: 30 * day},
		Templates: "./templates",
		Retry:     dispatch.Retry{Backoff: 2 * time.Second, MaxBackoff: 10 * time.Minute},
		Channels: map[string]dispatch.ChannelConfig{
			"email": {Provider: "smtp", Rate: 50, Burst: 100, Concurrency: 8, MaxAttempts: 6, Timeout: 30 * time.Second, MaxAge: 48 * time.Hour,
				SMTP: &dispatch.SMTPSettings{Addr: "smtp.example.com:587", From: "Kairos Shop <news@example.com>",
					Username: "kairos", PasswordEnv: "KAIROS_SMTP_PASSWORD", Password: "smtp-secret-value",
					LocalName: "kairos.example.com"}},
			"push": {Provider: "fcm", Rate: 500, Concurrency: 16, MaxAttempts: 6, Timeout: 15 * time.Second, MaxAge: 48 * time.Hour,
				FCM: &dispatch.FCMSettings{Project: "kairos-shop", BaseURL: "https://fcm.googleapis.com",
					TokenEnv: "KAIROS_FCM_TOKEN", Token: "fcm-secret-value"}},
			"sms": {Provider: "twilio", Rate: 10, Concurrency: 4, MaxAttempts: 4, Timeout: 15 * time.Second, MaxAge: 48 * time.Hour,
				Twilio: &dispatch.TwilioSettings{BaseURL: "https://api.twilio.com", AccountSID: "AC0123456789abcdef0123456789abcdef",
					AuthTokenEnv: "KAIROS_TWILIO_AUTH_TOKEN", AuthToken: "twilio-secret-value", From: "+15017122661",
					StatusCallback: "https://kairos.example.com/twilio/status"}},
			"webhook": {Provider: "http", Concurrency: 4, MaxAttempts: 6, Timeout: 15 * time.Second, MaxAge: 48 * time.Hour,
				HTTP: &dispatch.HTTPSettings{URL: "https://hooks.example.com/kairos", SecretEnv: "KAIROS_WEBHOOK_SECRET", Secret: webhookSecret}},
			"inapp": {Provider: "inbox", Concurrency: 4, MaxAttempts: 6, Timeout: 15 * time.Second, MaxAge: 48 * time.Hour, TTL: 7 * day, MaxSize: 50},
		},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if got := cfg.InboxOptions(); got != (inapp.Options{TTL: 7 * day, MaxSize: 50}) {
		t.Errorf("InboxOptions = %+v", got)
	}
	// It builds (no network: the providers are not contacted).
	if _, err := cfg.Build(dispatch.Deps{Inbox: inapp.NewMemory(inapp.Options{})}); err != nil {
		t.Fatal(err)
	}
}

// The example's secrets come from the environment: without it, every
// *_env key is an error naming the field and the variable.
func TestExampleConfigNeedsTheEnvironment(t *testing.T) {
	_, err := dispatch.ParseConfig("channels.yaml", dispatch.ExampleConfigYAML(), func(string) string { return "" })
	if err == nil {
		t.Fatal("parsed without the secrets")
	}
	for _, want := range []string{
		"channels.email.password_env: the environment variable KAIROS_SMTP_PASSWORD is unset or empty",
		"channels.push.token_env: the environment variable KAIROS_FCM_TOKEN is unset or empty",
		"channels.sms.auth_token_env: the environment variable KAIROS_TWILIO_AUTH_TOKEN is unset or empty",
		"channels.webhook.secret_env: the environment variable KAIROS_WEBHOOK_SECRET is unset or empty",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if n := len(configErrors(t, err)); n != 4 {
		t.Errorf("%d errors, want 4:\n%v", n, err)
	}
}

// configErrors returns the problems of a ParseConfig error, checking that
// each is a positioned *decisioning.ConfigError and that they are sorted.
func configErrors(t *testing.T, err error) []*decisioning.ConfigError {
	t.Helper()
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T does not unwrap to a list: %v", err, err)
	}
	var out []*decisioning.ConfigError
	for _, e := range j.Unwrap() {
		var ce *decisioning.ConfigError
		if !errors.As(e, &ce) || ce.Line < 1 {
			t.Fatalf("%v is not a positioned *decisioning.ConfigError", e)
		}
		if n := len(out); n > 0 && (out[n-1].Line > ce.Line || out[n-1].Line == ce.Line && out[n-1].Column > ce.Column) {
			t.Errorf("errors out of order: %v before %v", out[n-1], ce)
		}
		out = append(out, ce)
	}
	if len(out) != strings.Count(err.Error(), "\n")+1 {
		t.Errorf("not one error per line:\n%v", err)
	}
	return out
}

// baseConfig is a valid block-style file; the error tests edit it.
const baseConfig = `tracking:
  base_url: https://t.example.com
  ttl: 30d
retry:
  backoff: 2s
  max_backoff: 10m
channels:
  email:
    provider: smtp
    rate: 5
    concurrency: 4
    max_attempts: 6
    timeout: 10s
    addr: smtp.example.com:587
    from: news@example.com
    username: kairos
    password_env: SMTP_PASSWORD
  push:
    provider: fcm
    project: shop
    token_env: FCM_TOKEN
  sms:
    provider: twilio
    account_sid: AC0123456789abcdef0123456789abcdef
    auth_token_env: TWILIO_TOKEN
    from: "+15017122661"
  webhook:
    provider: http
    url: https://hooks.example.com/k
    secret_env: WEBHOOK_SECRET
  inapp:
    ttl: 7d
    max_size: 50
`

func TestBaseConfigParses(t *testing.T) {
	cfg, err := dispatch.ParseConfig("x.yaml", []byte(baseConfig), cfgGetenv)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{"email", "push", "sms", "webhook", "inapp"} {
		if !cfg.Enabled(ch) {
			t.Errorf("%s is not enabled", ch)
		}
	}
	if cfg.Enabled("fax") {
		t.Error("fax is enabled")
	}
	want := map[string]string{"email": "smtp", "push": "fcm", "sms": "twilio", "webhook": "http", "inapp": "inbox"}
	if diff := cmp.Diff(want, cfg.Providers()); diff != "" {
		t.Errorf("Providers (-want +got):\n%s", diff)
	}
}

// Each rule: the error names the file, the line and column of the
// offending node, the field and the rule.
func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct{ old, new, want string }{
		// Syntax and structure.
		{"  ttl: 30d\n", "  ttl: [30d\n", "x.yaml:2: invalid YAML: did not find expected ',' or ']'"},
		{"tracking:", "version: 1\ntracking:", `x.yaml:1:1: version: unknown key "version"; the file takes tracking, templates, retry, channels`},
		{"    rate: 5\n", "    rate: 5\n    rates: 5\n", `x.yaml:11:5: channels.email.rates: unknown key "rates"; channels.email with provider smtp takes provider, rate, burst, concurrency, max_attempts, timeout, max_age, addr, from, username, password_env, allow_plaintext, local_name`},
		{"    rate: 5\n", "    rate: 5\n    rate: 6\n", `x.yaml:11:5: channels.email.rate: key "rate" is given twice`},
		{"    token_env: FCM_TOKEN\n", "    token_env: FCM_TOKEN\n    addr: a:1\n", `x.yaml:22:5: channels.push.addr: "addr" is a setting of provider smtp, not fcm; channels.push with provider fcm takes`},
		{"  inapp:", "  fax:\n    provider: outbox\n  inapp:", `x.yaml:31:3: channels.fax: unknown key "fax"; channels takes email, push, sms, inapp, webhook`},
		{"  backoff: 2s\n", "  backoff: [2s]\n", "x.yaml:5:12: retry.backoff: must be a single value, not a list or mapping"},
		// Providers.
		{"provider: smtp", "provider: sendgrid", `x.yaml:9:15: channels.email.provider: unknown provider "sendgrid" for email; use smtp or outbox`},
		{"  inapp:\n", "  inapp:\n    provider: outbox\n", `x.yaml:32:15: channels.inapp.provider: unknown provider "outbox" for inapp; use inbox`},
		{"    provider: fcm\n", "", "x.yaml:19:5: channels.push.provider: required: one of fcm, outbox"},
		// Limits.
		{"rate: 5", "rate: -1", "x.yaml:10:11: channels.email.rate: -1 is out of range: messages per second from 0 (no cap) to 1000000"},
		{"rate: 5", "rate: fast", `x.yaml:10:11: channels.email.rate: "fast" is not a finite number`},
		{"rate: 5", "burst: 5", "x.yaml:10:12: channels.email.burst: a burst needs a rate"},
		{"concurrency: 4", "concurrency: 0", `x.yaml:11:18: channels.email.concurrency: "0" must be a whole number from 1 to 1024`},
		{"concurrency: 4", "concurrency: 1025", `x.yaml:11:18: channels.email.concurrency: "1025" must be a whole number from 1 to 1024`},
		{"max_attempts: 6", "max_attempts: 101", `x.yaml:12:19: channels.email.max_attempts: "101" must be a whole number from 1 to 100`},
		{"timeout: 10s", "timeout: 10 parrots", `x.yaml:13:14: channels.email.timeout: "10 parrots" is not a duration`},
		{"timeout: 10s", "timeout: 1h", "x.yaml:13:14: channels.email.timeout: 1h is too long: at most 5m"},
		{"ttl: 7d", "ttl: 400d", "x.yaml:32:10: channels.inapp.ttl: 400d is too long: at most 365d"},
		{"max_size: 50", "max_size: 0", `x.yaml:33:15: channels.inapp.max_size: "0" must be a whole number from 1 to 10000`},
		{"ttl: 30d", "ttl: 30", `x.yaml:3:8: tracking.ttl: "30" is not a duration`},
		{"ttl: 30d", "ttl: 10s", "x.yaml:3:8: tracking.ttl: 10s is too short: at least 1m"},
		{"backoff: 2s", "backoff: 1h", "x.yaml:5:3: retry: max_backoff 10m is shorter than backoff 1h"},
		// URLs.
		{"base_url: https://t.example.com", "base_url: https://t.example.com/?q=1", `x.yaml:2:13: tracking.base_url: "https://t.example.com/?q=1" must not carry a query or a fragment`},
		{"url: https://hooks.example.com/k", "url: ftp://hooks.example.com/k", `x.yaml:29:10: channels.webhook.url: "ftp://hooks.example.com/k" must be an absolute http or https URL`},
		{"url: https://hooks.example.com/k", "url: /k", `x.yaml:29:10: channels.webhook.url: "/k" must be an absolute http or https URL`},
		{"url: https://hooks.example.com/k", "url: https://user:pw@hooks.example.com/k", `x.yaml:29:10: channels.webhook.url: "https://user:pw@hooks.example.com/k" must not carry user info`},
		// SMTP.
		{"addr: smtp.example.com:587", "addr: smtp.example.com", `x.yaml:14:11: channels.email.addr: "smtp.example.com" must be host:port`},
		{"addr: smtp.example.com:587", "addr: smtp.example.com:99999", `x.yaml:14:11: channels.email.addr: "smtp.example.com:99999" must be host:port`},
		{"from: news@example.com", "from: news at example", `x.yaml:15:11: channels.email.from: "news at example" is not an email address`},
		{"    username: kairos\n", "", "x.yaml:16:19: channels.email.username: required with password_env: AUTH needs both"},
		{"    addr: smtp.example.com:587\n", "", "x.yaml:9:5: channels.email.addr: required: the SMTP server's host:port"},
		// FCM.
		{"project: shop", "project: a/b", `x.yaml:20:14: channels.push.project: "a/b" must be a bare Firebase project id`},
		{"    token_env: FCM_TOKEN\n", "", "x.yaml:19:5: channels.push.credentials_file: required: credentials_file (a service-account key) or token_env"},
		{"    token_env: FCM_TOKEN\n", "    token_env: FCM_TOKEN\n    credentials_file: /nonexistent/key.json\n", "x.yaml:21:16: channels.push.token_env: give credentials_file or token_env, not both"},
		{"    token_env: FCM_TOKEN\n", "    credentials_file: /nonexistent/key.json\n", "x.yaml:21:23: channels.push.credentials_file: cannot read the service-account key"},
		// Twilio.
		{"account_sid: AC0123456789abcdef0123456789abcdef", "account_sid: XX123", `x.yaml:24:18: channels.sms.account_sid: "XX123" must be "AC" followed by letters and digits`},
		{`from: "+15017122661"`, `from: "15017122661"`, `x.yaml:26:11: channels.sms.from: "15017122661" is not an E.164 number`},
		{`    from: "+15017122661"` + "\n", "", "x.yaml:23:5: channels.sms.from: required: from (an E.164 number) or messaging_service_sid"},
		{`from: "+15017122661"`, `from: "+15017122661"` + "\n    messaging_service_sid: MG1", "x.yaml:27:28: channels.sms.messaging_service_sid: give from or messaging_service_sid, not both"},
		// Secrets.
		{"password_env: SMTP_PASSWORD", "password_env: NOT_SET", "x.yaml:17:19: channels.email.password_env: the environment variable NOT_SET is unset or empty"},
		{"password_env: SMTP_PASSWORD", "password_env: hunter2!", `x.yaml:17:19: channels.email.password_env: "hunter2!" is not an environment variable name`},
		{"token_env: FCM_TOKEN", "token_env: NOT_SET", "x.yaml:21:16: channels.push.token_env: the environment variable NOT_SET is unset or empty"},
		{"auth_token_env: TWILIO_TOKEN", "auth_token_env: NOT_SET", "x.yaml:25:21: channels.sms.auth_token_env: the environment variable NOT_SET is unset or empty"},
		{"secret_env: WEBHOOK_SECRET", "secret_env: NOT_SET", "x.yaml:30:17: channels.webhook.secret_env: the environment variable NOT_SET is unset or empty"},
		{"secret_env: WEBHOOK_SECRET", "secret_env: SHORT_SECRET", "x.yaml:30:17: channels.webhook.secret_env: the secret in SHORT_SECRET is 5 bytes; a signing secret needs at least 32"},
		{"    secret_env: WEBHOOK_SECRET\n", "", "x.yaml:28:5: channels.webhook.secret_env: required"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			data := strings.Replace(baseConfig, tc.old, tc.new, 1)
			if data == baseConfig {
				t.Fatalf("%q is not in the base config", tc.old)
			}
			cfg, err := dispatch.ParseConfig("x.yaml", []byte(data), cfgGetenv)
			if err == nil {
				t.Fatalf("parsed: %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("a config came with the error")
			}
			configErrors(t, err)
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error:\n%v\nwant it to start with\n%s", err, tc.want)
			}
			for _, secret := range cfgEnv {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows the secret %q", secret)
				}
			}
		})
	}
}

// Every problem is reported at once, one per line, in file order.
func TestParseConfigReportsEveryError(t *testing.T) {
	data := strings.NewReplacer(
		"ttl: 30d", "ttl: forever",
		"rate: 5", "rate: -5",
		"password_env: SMTP_PASSWORD", "password_env: NOT_SET",
		`from: "+15017122661"`, `from: "0800"`,
		"max_size: 50", "max_size: lots",
	).Replace(baseConfig)
	_, err := dispatch.ParseConfig("x.yaml", []byte(data), cfgGetenv)
	if err == nil {
		t.Fatal("parsed")
	}
	var got []string
	for _, ce := range configErrors(t, err) {
		got = append(got, fmt.Sprintf("%d %s", ce.Line, ce.Path))
	}
	want := []string{"3 tracking.ttl", "10 channels.email.rate", "17 channels.email.password_env", "26 channels.sms.from", "33 channels.inapp.max_size"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s\n%v", diff, err)
	}
}

func TestParseConfigWholeFile(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "x.yaml:1: empty file"},
		{"comment only", "# nothing\n", "x.yaml:1: empty file"},
		{"list", "- a\n", "x.yaml:1:1: the file must be a mapping"},
		{"no channels", "retry: {backoff: 1s}\n", "x.yaml:1:1: channels: required"},
		{"no channel", "channels: {}\n", "x.yaml:1:11: channels: configures no channel"},
		{"channel not a mapping", "channels: {email: smtp}\n", "x.yaml:1:19: channels.email: must be a mapping such as {provider: smtp}"},
		{"tab", "channels:\n\temail: {}\n", "x.yaml:2: invalid YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dispatch.ParseConfig("x.yaml", []byte(tc.data), cfgGetenv)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to start with %q", err, tc.want)
			}
			configErrors(t, err)
		})
	}
}

// The defaults of a file that says nothing but its providers are those of
// DefaultConfig.
func TestDefaultConfig(t *testing.T) {
	const minimal = `channels:
  email: {provider: outbox}
  push: {provider: outbox}
  sms: {provider: outbox}
  webhook: {provider: outbox}
  inapp: {}
`
	cfg, err := dispatch.ParseConfig("default", []byte(minimal), cfgGetenv)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(dispatch.DefaultConfig(), cfg); diff != "" {
		t.Errorf("DefaultConfig (-want +got):\n%s", diff)
	}
	d := dispatch.DefaultConfig()
	if d.Retry.Backoff != dispatch.DefaultBackoff || d.Tracking.TTL != dispatch.DefaultTrackingTTL || d.Templates != "" {
		t.Errorf("DefaultConfig = %+v", d)
	}
}

// The default configuration's channels deliver into the outbox and the
// inbox.
func TestBuildOutboxAndInbox(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ob := outbox.New(outbox.Options{})
	inbox := inapp.NewMemory(dispatch.DefaultConfig().InboxOptions())
	chans, err := dispatch.DefaultConfig().Build(dispatch.Deps{Inbox: inbox, Outbox: ob, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if len(chans) != 5 {
		t.Fatalf("%d channels, want 5", len(chans))
	}
	ctx := context.Background()
	for _, name := range []string{"email", "push", "sms", "webhook", "inapp"} {
		ch := chans[name]
		if !ch.Idempotent || ch.Address != "" || ch.Concurrency != dispatch.DefaultConcurrency ||
			ch.MaxAttempts != dispatch.DefaultMaxAttempts || ch.Timeout != dispatch.DefaultTimeout {
			t.Errorf("%s: %+v", name, ch)
		}
		m := &channels.Message{ID: "d-" + name, CustomerID: "c1", Campaign: "cart_recovery", Offer: "reminder",
			Channel: name, To: "to-" + name, Title: "Hello", Text: "Your cart misses you."}
		for range 2 { // the second is deduplicated
			if _, err := ch.Transport.Send(ctx, m); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	var got []string
	for _, e := range ob.Messages("", 0) {
		got = append(got, e.Message.Channel+" "+e.Message.To)
	}
	if diff := cmp.Diff([]string{"webhook to-webhook", "sms to-sms", "push to-push", "email to-email"}, got); diff != "" {
		t.Errorf("outbox (-want +got):\n%s", diff)
	}
	box, err := inbox.List(ctx, "c1", 10, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []inapp.Message{{ID: "d-inapp", CustomerID: "c1", Campaign: "cart_recovery", Offer: "reminder",
		Title: "Hello", Body: "Your cart misses you.", CreatedAt: now, ExpiresAt: now.Add(inapp.DefaultTTL)}}
	if diff := cmp.Diff(want, box); diff != "" {
		t.Errorf("inbox (-want +got):\n%s", diff)
	}
}

func TestBuildNeedsItsDeps(t *testing.T) {
	_, err := dispatch.DefaultConfig().Build(dispatch.Deps{})
	if err == nil {
		t.Fatal("built without an outbox and an inbox")
	}
	for _, want := range []string{"dispatch: channel email: provider outbox needs Deps.Outbox", "dispatch: channel inapp: provider inbox needs Deps.Inbox"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// The real providers are constructed without contacting them: Build
// succeeds against ports nothing listens on, and the first send fails
// transiently.
func TestBuildProviders(t *testing.T) {
	addr := closedAddr(t)
	data := strings.NewReplacer(
		"addr: smtp.example.com:587", "addr: "+addr,
		"project: shop", "project: shop\n    base_url: http://"+addr,
		"from: \"+15017122661\"", "from: \"+15017122661\"\n    base_url: http://"+addr,
		"url: https://hooks.example.com/k", "url: http://"+addr+"/k",
		"timeout: 10s", "timeout: 2s",
	).Replace(baseConfig)
	cfg, err := dispatch.ParseConfig("x.yaml", []byte(data), cfgGetenv)
	if err != nil {
		t.Fatal(err)
	}
	chans, err := cfg.Build(dispatch.Deps{Inbox: inapp.NewMemory(cfg.InboxOptions())})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		idempotent bool
		address    string
		to         string
	}{
		{"email", false, "", "ann@example.com"},
		{"push", false, "", "token-1"},
		{"sms", false, "", "+4915112345678"},
		{"webhook", true, "http://" + addr + "/k", ""},
		{"inapp", true, "", "c1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := chans[tc.name]
			if ch.Idempotent != tc.idempotent || ch.Address != tc.address {
				t.Errorf("Idempotent %v, Address %q; want %v, %q", ch.Idempotent, ch.Address, tc.idempotent, tc.address)
			}
			if tc.name == "inapp" {
				return
			}
			if tc.name == "email" && (ch.Rate != 5 || ch.Timeout != 2*time.Second) {
				t.Errorf("limits: %+v", ch)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			m := &channels.Message{ID: "d1", CustomerID: "c1", Channel: tc.name, To: orDefault(tc.to, tc.address),
				Subject: "Hi", Title: "Hi", Text: "Hello", HTML: "<p>Hello</p>"}
			_, err := ch.Transport.Send(ctx, m)
			if err == nil || channels.ErrorKind(err) != channels.Transient {
				t.Errorf("Send to a closed port = %v, want a transient error", err)
			}
		})
	}
}

func orDefault(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// writeServiceAccount writes a service-account key file and returns its
// path.
func writeServiceAccount(t *testing.T, edit func(map[string]string)) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sa := map[string]string{
		"type":           "service_account",
		"project_id":     "shop",
		"private_key_id": "k1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "kairos@shop.iam.gserviceaccount.com",
		"token_uri":      "https://oauth2.googleapis.com/token",
	}
	if edit != nil {
		edit(sa)
	}
	raw, _ := json.Marshal(sa)
	path := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCredentialsFile(t *testing.T) {
	withFile := func(path string) []byte {
		return []byte(strings.Replace(baseConfig, "token_env: FCM_TOKEN", "credentials_file: "+path+"\n    base_url: https://127.0.0.1:1", 1))
	}
	// The token endpoint is a closed port: the first send fails
	// transiently, fetching the token.
	tokenURI := "http://" + closedAddr(t) + "/token"
	good := writeServiceAccount(t, func(m map[string]string) { m["token_uri"] = tokenURI })
	cfg, err := dispatch.ParseConfig("x.yaml", withFile(good), cfgGetenv)
	if err != nil {
		t.Fatal(err)
	}
	fcm := cfg.Channels["push"].FCM
	raw, _ := os.ReadFile(good)
	if fcm.CredentialsFile != good || string(fcm.Credentials) != string(raw) || fcm.Token != "" || fcm.TokenEnv != "" {
		t.Errorf("FCM settings: file %q, %d bytes of credentials, token %q", fcm.CredentialsFile, len(fcm.Credentials), fcm.Token)
	}
	chans, err := cfg.Build(dispatch.Deps{Inbox: inapp.NewMemory(inapp.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = chans["push"].Transport.Send(ctx, &channels.Message{ID: "d1", CustomerID: "c1", Channel: "push", To: "token-1", Title: "Hi"})
	if channels.ErrorKind(err) != channels.Transient || !strings.Contains(err.Error(), "token") {
		t.Errorf("Send = %v, want a transient failure to get a token", err)
	}

	notJSON := filepath.Join(t.TempDir(), "key.pem")
	os.WriteFile(notJSON, []byte("-----BEGIN PRIVATE KEY-----\n"), 0o600)
	big := filepath.Join(t.TempDir(), "big.json")
	os.WriteFile(big, []byte(strings.Repeat(" ", 65<<10)), 0o600)
	for _, tc := range []struct{ name, path, want string }{
		{"missing", filepath.Join(t.TempDir(), "nope.json"), "cannot read the service-account key"},
		{"directory", t.TempDir(), "is not a regular file"},
		{"too large", big, "is larger than 64 KiB"},
		{"not JSON", notJSON, "is not a service-account key: not JSON"},
		{"no email", writeServiceAccount(t, func(m map[string]string) { delete(m, "client_email") }), "is not a usable service-account key: client_email"},
		{"no key", writeServiceAccount(t, func(m map[string]string) { m["private_key"] = "" }), "is not a usable service-account key: private_key"},
		{"bad key", writeServiceAccount(t, func(m map[string]string) { m["private_key"] = "hunter2" }), "is not a usable service-account key: private_key"},
		{"bad uri", writeServiceAccount(t, func(m map[string]string) { m["token_uri"] = "token" }), `is not a usable service-account key: token_uri "token"`},
		{"not a service account", writeServiceAccount(t, func(m map[string]string) { m["type"] = "authorized_user" }), `is not a usable service-account key: type "authorized_user"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dispatch.ParseConfig("x.yaml", withFile(tc.path), cfgGetenv)
			prefix := "x.yaml:21:23: channels.push.credentials_file: "
			if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %s…%s", err, prefix, tc.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY-----\nMII") {
				t.Errorf("the error shows the key: %v", err)
			}
		})
	}
}

// Secrets never show when a configuration is printed or encoded.
func TestSecretsAreRedacted(t *testing.T) {
	cfg, err := dispatch.ParseConfig("x.yaml", []byte(baseConfig), cfgGetenv)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ch := range cfg.Channels {
		out = append(out, fmt.Sprintf("%v %+v %#v", ch, ch, ch))
		if ch.SMTP != nil {
			out = append(out, fmt.Sprintf("%v %+v %#v %s %q", *ch.SMTP, *ch.SMTP, *ch.SMTP, ch.SMTP.Password, ch.SMTP.Password))
		}
		if ch.Twilio != nil {
			out = append(out, fmt.Sprintf("%+v %#v", *ch.Twilio, *ch.Twilio))
		}
		if ch.FCM != nil {
			out = append(out, fmt.Sprintf("%+v %#v", *ch.FCM, *ch.FCM))
		}
		if ch.HTTP != nil {
			out = append(out, fmt.Sprintf("%+v %#v", *ch.HTTP, *ch.HTTP))
		}
	}
	out = append(out, string(js))
	all := strings.Join(out, "\n")
	for _, secret := range []string{"smtp-secret-value", "fcm-secret-value", "twilio-secret-value", webhookSecret} {
		if strings.Contains(all, secret) {
			t.Errorf("%q shows:\n%s", secret, all)
		}
	}
	if !strings.Contains(all, "[redacted]") || !strings.Contains(all, "SMTP_PASSWORD") {
		t.Errorf("no [redacted] or variable name in:\n%s", all)
	}
}

func TestApply(t *testing.T) {
	data := strings.NewReplacer("timeout: 10s", "timeout: 2m", "backoff: 2s", "backoff: 5s").Replace(baseConfig)
	cfg, err := dispatch.ParseConfig("x.yaml", []byte(data), cfgGetenv)
	if err != nil {
		t.Fatal(err)
	}
	opts := dispatch.Options{Consumer: "c1"}
	if err := cfg.Apply(&opts, dispatch.Deps{Inbox: inapp.NewMemory(inapp.Options{})}); err != nil {
		t.Fatal(err)
	}
	if len(opts.Channels) != 5 || opts.Backoff != 5*time.Second || opts.MaxBackoff != 10*time.Minute || opts.Consumer != "c1" {
		t.Errorf("options: %d channels, backoff %s..%s, consumer %q", len(opts.Channels), opts.Backoff, opts.MaxBackoff, opts.Consumer)
	}
	if want := 2*time.Minute + dispatch.DefaultLeaseMargin; opts.ClaimIdle != want {
		t.Errorf("ClaimIdle = %s, want %s (the longest timeout plus the lease margin)", opts.ClaimIdle, want)
	}
	// A claim idle time long enough already is kept.
	opts = dispatch.Options{ClaimIdle: time.Hour}
	if err := cfg.Apply(&opts, dispatch.Deps{Inbox: inapp.NewMemory(inapp.Options{})}); err != nil || opts.ClaimIdle != time.Hour {
		t.Errorf("Apply = %v, ClaimIdle %s; want 1h kept", err, opts.ClaimIdle)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(string(dispatch.ExampleConfigYAML()))
	f.Add(baseConfig)
	f.Add("channels: {email: {provider: outbox, rate: 1e400}, inapp: {ttl: 99999999999d}}\n")
	f.Add("channels: &a {email: *a}\n")
	f.Add("channels:\n  push: {provider: fcm, project: p, credentials_file: /dev/null}\n")
	f.Add("channels: {sms: {provider: twilio, from: +1, <<: {x: 1}}}\n")
	f.Add("tracking: !!binary aGk=\nchannels: [1, 2]\n")
	env := func(string) string { return webhookSecret }
	f.Fuzz(func(t *testing.T, data string) {
		cfg, err := dispatch.ParseConfig("f.yaml", []byte(data), env)
		if err != nil {
			if cfg != nil {
				t.Fatal("a config came with the error")
			}
			j, ok := err.(interface{ Unwrap() []error })
			if !ok {
				t.Fatalf("error %T does not unwrap to a list", err)
			}
			for _, e := range j.Unwrap() {
				var ce *decisioning.ConfigError
				if !errors.As(e, &ce) || ce.Line < 1 || !strings.HasPrefix(e.Error(), "f.yaml:") {
					t.Fatalf("%q is not a positioned ConfigError", e)
				}
			}
			return
		}
		// A file that parses builds (the constructors' rules are checked
		// when parsing).
		if _, err := cfg.Build(dispatch.Deps{Inbox: inapp.NewMemory(cfg.InboxOptions()), Outbox: outbox.New(outbox.Options{})}); err != nil {
			t.Fatalf("parsed but does not build: %v\n%s", err, data)
		}
	})
}

func ExampleParseConfig() {
	const file = `
channels:
  email: {provider: outbox, rate: 10}
  inapp: {ttl: 3d}
`
	cfg, err := dispatch.ParseConfig("channels.yaml", []byte(file), os.Getenv)
	if err != nil {
		fmt.Println(err)
		return
	}
	ob := outbox.New(outbox.Options{})
	chans, err := cfg.Build(dispatch.Deps{Inbox: inapp.NewMemory(cfg.InboxOptions()), Outbox: ob})
	if err != nil {
		fmt.Println(err)
		return
	}
	msg := &channels.Message{ID: "d1", CustomerID: "c1", Channel: "email", To: "ann@example.com", Subject: "Hello"}
	r, _ := chans["email"].Transport.Send(context.Background(), msg)
	fmt.Println(cfg.Enabled("email"), cfg.Enabled("sms"), chans["email"].Rate, r.ProviderID, ob.Len())

	_, err = dispatch.ParseConfig("channels.yaml", []byte("channels: {sms: {provider: twilio, account_sid: AC1, auth_token_env: NO_SUCH_VARIABLE_SET, from: '+15017122661'}}\ntracking: {base_url: https://t.example.com}\n"), os.Getenv)
	fmt.Println(err)
	// Output:
	// true false 10 outbox-1 1
	// channels.yaml:1:70: channels.sms.auth_token_env: the environment variable NO_SUCH_VARIABLE_SET is unset or empty
}

// TestTrackingBaseURLRequired: links in messages that leave Kairos must
// point at a public address, which Kairos cannot guess.
func TestTrackingBaseURLRequired(t *testing.T) {
	env := func(string) string { return "secret-value-that-is-long-enough-for-webhooks" }
	_, err := dispatch.ParseConfig("x.yaml", []byte("channels:\n  webhook: {provider: http, url: 'https://h.example.com/k', secret_env: S}\n"), env)
	if err == nil || !strings.Contains(err.Error(), "x.yaml:1:1: tracking.base_url: required when messages leave Kairos (webhook)") {
		t.Errorf("ParseConfig: %v, want tracking.base_url required", err)
	}
	if _, err := dispatch.ParseConfig("x.yaml", []byte("channels:\n  email: {provider: outbox}\n  inapp: {provider: inbox}\n"), env); err != nil {
		t.Errorf("outbox and inbox without tracking.base_url: %v", err)
	}
}

func TestMaxAge(t *testing.T) {
	cfg, err := dispatch.ParseConfig("x.yaml", []byte("channels:\n  email: {provider: outbox, max_age: 6h}\n  push: {provider: outbox}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Channels["email"].MaxAge; got != 6*time.Hour {
		t.Errorf("email max_age %v, want 6h", got)
	}
	if got := cfg.Channels["push"].MaxAge; got != dispatch.DefaultMaxAge {
		t.Errorf("push max_age %v, want the default %v", got, dispatch.DefaultMaxAge)
	}
	_, err = dispatch.ParseConfig("x.yaml", []byte("channels:\n  email: {provider: outbox, max_age: 10s}\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "x.yaml:2:38: channels.email.max_age: 10s is too short") {
		t.Errorf("max_age 10s: %v, want an error naming the field and its line", err)
	}
}
