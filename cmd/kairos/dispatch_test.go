package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	kairosv1 "kairos/api/proto/kairos/v1"
	"kairos/channels/email/emailtest"
	"kairos/channels/inapp"
	"kairos/channels/inapp/redisinbox"
	"kairos/channels/push/pushtest"
	"kairos/channels/sms/smstest"
	"kairos/channels/webhook"
	"kairos/decisioning"
	"kairos/decisioning/redisstate"
	"kairos/features"
	"kairos/features/redisstore"
	"kairos/internal/pgtest"
	"kairos/internal/redistest"
	"kairos/internal/testproc"
	"kairos/ledger"
	"kairos/ledger/pgledger"
)

// slow puts a delay in front of a fake provider, so that sends are in
// flight when a dispatcher is killed.
func slow(t *testing.T, target string, delay time.Duration) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// hooks is a webhook receiver that checks signatures and counts the
// requests per Idempotency-Key.
type hooks struct {
	mu     sync.Mutex
	secret []byte
	seen   map[string]int
}

func (h *hooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := webhook.Verify(h.secret, r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), time.Minute); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	time.Sleep(20 * time.Millisecond)
	h.mu.Lock()
	h.seen[r.Header.Get(webhook.HeaderIdempotency)]++
	h.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

var messageID = regexp.MustCompile(`(?m)^Message-ID: <([^@>]+)@`)

// TestDispatchSurvivesSIGKILL: two kairos serve instances dispatch one
// queue to real protocol fakes (SMTP, FCM, Twilio, a webhook receiver, the
// Redis inbox); one is killed (SIGKILL) mid-run. Every message ends with a
// final status in the ledger, none is delivered twice, and on the channels
// whose provider deduplicates by id (webhook, in-app) every message has
// its effect exactly once.
func TestDispatchSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis, PostgreSQL, an SMTP server and two kairos processes")
	}
	ctx := t.Context()
	rs := redistest.Start(t)
	pgURL := pgtest.NewDB(t)
	smtp := emailtest.StartPlain(t)
	fcm := pushtest.NewServer("kairos-test", "fcm-token")
	t.Cleanup(fcm.Close)
	twilio := smstest.NewServer("AC0123456789abcdef0123456789abcdef", "twilio-token")
	twilio.SetIdempotency(false) // prove exactly-once without the provider's help
	t.Cleanup(twilio.Close)
	secret := []byte(strings.Repeat("s", 32))
	hk := &hooks{secret: secret, seen: map[string]int{}}
	hookSrv := httptest.NewServer(hk)
	t.Cleanup(hookSrv.Close)

	t.Setenv("KAIROS_TEST_FCM_TOKEN", "fcm-token")
	t.Setenv("KAIROS_TEST_TWILIO_TOKEN", "twilio-token")
	t.Setenv("KAIROS_TEST_WEBHOOK_SECRET", string(secret))
	cfgFile := filepath.Join(t.TempDir(), "channels.yaml")
	cfg := fmt.Sprintf(`
tracking: {base_url: "http://127.0.0.1:7401"}
retry: {backoff: 200ms, max_backoff: 1s}
channels:
  email: {provider: smtp, addr: %q, from: "Kairos <kairos@example.com>", allow_plaintext: true, timeout: 2s}
  push: {provider: fcm, project: kairos-test, base_url: %q, token_env: KAIROS_TEST_FCM_TOKEN, timeout: 2s}
  sms: {provider: twilio, account_sid: AC0123456789abcdef0123456789abcdef, auth_token_env: KAIROS_TEST_TWILIO_TOKEN, from: "+15017122661", base_url: %q, timeout: 2s}
  webhook: {provider: http, url: %q, secret_env: KAIROS_TEST_WEBHOOK_SECRET, timeout: 2s}
  inapp: {provider: inbox, max_size: 100}
`, smtp.Addr, slow(t, fcm.URL, 20*time.Millisecond), slow(t, twilio.URL, 20*time.Millisecond), hookSrv.URL)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	// The queue: SEND decisions on every channel, one customer each.
	set := features.Default()
	feats := redisstore.New(rs.Client(t), set, redisstore.Options{})
	state := redisstate.New(feats, redisstate.Options{Lookback: 7 * 24 * time.Hour})
	chans := []string{"email", "push", "sms", "webhook", "inapp"}
	const perChannel = 150
	var ds []decisioning.Decision
	for i := range perChannel * len(chans) {
		id := fmt.Sprintf("k%04d", i)
		c := features.Customer{ID: id, Email: id + "@example.com", Phone: fmt.Sprintf("+1415555%04d", i), PushToken: "tok-" + id,
			Consents: map[string]bool{"email": true, "sms": true, "push": true}}
		if err := feats.UpsertCustomer(ctx, c, time.Now()); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		d := decisioning.Decision{ID: decisioning.NewID(now), CustomerID: id, Campaign: "renewal_reminder", Outcome: decisioning.Send,
			Channel: chans[i%len(chans)], Offer: "reminder", DecidedAt: now}
		if _, err := state.Commit(ctx, "", "", []decisioning.Decision{d}); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}

	args := []string{"--redis", rs.URL(), "--postgres", pgURL, "--channels", cfgFile, "--claim-idle", "500ms"}
	first := startChild(t, args...)
	second := startChild(t, args...)
	delivered := func() int {
		hk.mu.Lock()
		n := len(hk.seen)
		hk.mu.Unlock()
		return n + len(fcm.Received()) + len(twilio.Requests()) + len(smtp.Messages())
	}
	deadline := time.Now().Add(20 * time.Second)
	for delivered() < len(ds)/4 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d messages delivered in 20s; logs:\n%s\n%s", delivered(), first.logs, second.logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	t.Logf("killed the first instance after %d deliveries", delivered())

	// Every message reaches a final status: the second instance takes over
	// the first's jobs once their leases end.
	led, err := pgledger.Open(ctx, pgURL, pgledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	final := map[string][]ledger.Dispatch{}
	deadline = time.Now().Add(60 * time.Second)
	for {
		pending := 0
		for _, d := range ds {
			if xs := final[d.ID]; len(xs) > 0 && decisioning.DispatchFinal(xs[len(xs)-1].Status) {
				continue
			}
			xs, err := led.Dispatches(ctx, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			final[d.ID] = xs
			if len(xs) == 0 || !decisioning.DispatchFinal(xs[len(xs)-1].Status) {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages without a final status after 60s; second instance log:\n%s", pending, len(ds), second.logs)
		}
		time.Sleep(300 * time.Millisecond)
	}

	// What each provider received, by decision id.
	got := map[string]int{}
	for _, m := range smtp.Messages() {
		if sm := messageID.FindSubmatch(m.Data); sm != nil {
			got[string(sm[1])]++
		}
	}
	for _, m := range fcm.Received() {
		got[m.Data["decision_id"]]++
	}
	for _, r := range twilio.Requests() {
		got[r.IdempotencyToken]++
	}
	hk.mu.Lock()
	for id, n := range hk.seen {
		got[id] += n
	}
	hk.mu.Unlock()
	inbox := redisinbox.New(feats, inapp.Options{})
	for _, d := range ds {
		if d.Channel != "inapp" {
			continue
		}
		ms, err := inbox.List(ctx, d.CustomerID, inapp.MaxList, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			got[m.ID]++
		}
	}

	counts := map[string]int{}
	for _, d := range ds {
		xs := final[d.ID]
		last := xs[len(xs)-1].Status
		counts[d.Channel+"/"+last]++
		idempotent := d.Channel == "webhook" || d.Channel == "inapp"
		switch {
		case last == decisioning.DispatchSent && d.Channel == "webhook":
			// The receiver may see an interrupted attempt's request again
			// under the same Idempotency-Key; it acts once.
			if got[d.ID] < 1 || got[d.ID] > 2 {
				t.Errorf("%s (%s): %d requests under its key, want 1 (2 after an interrupted attempt)", d.ID, d.Channel, got[d.ID])
			}
		case last == decisioning.DispatchSent:
			if got[d.ID] != 1 {
				t.Errorf("%s (%s): sent, and delivered %d times; attempts %v", d.ID, d.Channel, got[d.ID], xs)
			}
		case last == decisioning.DispatchUnknown && !idempotent:
			if got[d.ID] > 1 {
				t.Errorf("%s (%s): unknown, and delivered %d times", d.ID, d.Channel, got[d.ID])
			}
		default:
			t.Errorf("%s (%s): final status %s; attempts %v", d.ID, d.Channel, last, xs)
		}
	}
	var summary []string
	for k, n := range counts {
		summary = append(summary, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(summary)
	t.Logf("final statuses: %s", strings.Join(summary, " "))
	// Only the sends in flight in the killed instance can be unknown:
	// at most its concurrency (4) on each of the 3 channels that cannot
	// deduplicate.
	unknown := counts["email/unknown"] + counts["push/unknown"] + counts["sms/unknown"]
	if unknown > 12 {
		t.Errorf("%d messages unknown, more than the 12 sends the killed instance could have had in flight", unknown)
	}
	second.stopCleanly(t)
}

// oneArm is a campaign that sends email or nothing, without quiet hours
// or caps, so that a test's decisions send at once.
const oneArm = `
global: {control_group: 0%, salt: g}
campaigns:
  - name: cart_recovery
    holdout: 0%
    salt: c1
    arms:
      - {channel: email, offer: reminder}
      - {channel: none}
    reward: {event: purchase, within: 72h, value: amount}
    policy: {kind: thompson, epsilon: 0.5}
`

// decideUntilSent decides the oneArm campaign for new customers until n
// decisions send.
func decideUntilSent(t *testing.T, inst *instance, n int) []*kairosv1.Decision {
	t.Helper()
	ctx := t.Context()
	var sent []*kairosv1.Decision
	for i := 0; len(sent) < n && i < 200; i++ {
		id := fmt.Sprintf("e%03d", i)
		if _, err := inst.client.UpsertCustomer(ctx, &kairosv1.UpsertCustomerRequest{Customer: &kairosv1.Customer{
			CustomerId: id, Email: id + "@example.com", Consents: map[string]bool{"email": true},
			Attributes: map[string]string{"first_name": "Grace"},
		}}); err != nil {
			t.Fatal(err)
		}
		resp, err := inst.client.Decide(ctx, &kairosv1.DecideRequest{CustomerId: id, Campaigns: []string{"cart_recovery"}})
		if err != nil {
			t.Fatal(err)
		}
		if d := resp.GetDecision(); d.GetOutcome() == kairosv1.Outcome_OUTCOME_SEND {
			sent = append(sent, d)
		}
	}
	if len(sent) < n {
		t.Fatalf("only %d SEND decisions in 200", len(sent))
	}
	return sent
}

// outboxMessage is a message of GET /channels/outbox.
type outboxMessage struct {
	ID             string `json:"id"`
	To             string `json:"to"`
	Text           string `json:"text"`
	HTML           string `json:"html"`
	UnsubscribeURL string `json:"unsubscribe_url"`
}

// outboxEmails waits for n emails in the outbox and returns them.
func outboxEmails(t *testing.T, inst *instance, n int) []outboxMessage {
	t.Helper()
	var out []outboxMessage
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := inst.get(t, "/channels/outbox?channel=email&limit=100")
		if code != http.StatusOK {
			t.Fatalf("/channels/outbox: %d %s", code, body)
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages in the outbox after 10s; log:\n%s", len(out), n, inst.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeDispatchesEmbedded: on embedded defaults, a SEND decision's
// email is rendered from the built-in templates into the outbox, counted
// in /channels/status, tracked as message_delivered, and its one-click
// unsubscribe link revokes the consent so that decisioning stops
// choosing email.
func TestServeDispatchesEmbedded(t *testing.T) {
	campaigns := filepath.Join(t.TempDir(), "campaigns.yaml")
	if err := os.WriteFile(campaigns, []byte(oneArm), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := startServe(t, "--campaigns", campaigns)
	ctx := t.Context()
	sent := decideUntilSent(t, inst, 3)
	out := outboxEmails(t, inst, len(sent))
	byID := map[string]int{}
	for _, e := range out {
		byID[e.ID]++
	}
	for _, d := range sent {
		if byID[d.GetDecisionId()] != 1 {
			t.Errorf("decision %s: %d messages in the outbox, want 1", d.GetDecisionId(), byID[d.GetDecisionId()])
		}
	}
	m := out[0]
	if !strings.Contains(m.Text, "Grace") || !strings.Contains(m.HTML, "/t/o/") || !strings.HasPrefix(m.UnsubscribeURL, "http://"+inst.httpAddr+"/t/u/") {
		t.Errorf("message %+v: want the greeting, the open pixel and an unsubscribe link on the admin address", m)
	}
	code, body := inst.get(t, "/channels/status")
	var st struct {
		Totals map[string]map[string]int `json:"totals"`
	}
	if err := json.Unmarshal([]byte(body), &st); code != http.StatusOK || err != nil || st.Totals["email"]["sent"] != len(sent) {
		t.Errorf("/channels/status: %d %s, want %d email sent", code, body, len(sent))
	}
	// ExplainDecision shows the attempt, from the ledger.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ex, err := inst.client.ExplainDecision(ctx, &kairosv1.ExplainDecisionRequest{DecisionId: sent[0].GetDecisionId()})
		if err == nil && len(ex.GetDispatches()) == 1 {
			if x := ex.GetDispatches()[0]; x.GetStatus() != "sent" || x.GetAttempt() != 1 || x.GetChannel() != "email" || x.GetProviderMessageId() == "" {
				t.Errorf("dispatch attempt %v, want attempt 1 sent on email with the outbox's id", x)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ExplainDecision: %v, %v; want one dispatch attempt", ex, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The message was tracked as delivered.
	cust := strings.TrimSuffix(m.To, "@example.com")
	p, err := inst.client.GetProfile(ctx, &kairosv1.GetProfileRequest{CustomerId: cust})
	if err != nil {
		t.Fatal(err)
	}
	if v := feature(t, p, "messages_delivered_30d"); v != 1 {
		t.Errorf("%s: messages_delivered_30d = %v, want 1", cust, v)
	}
	// One-click unsubscribe (RFC 8058) revokes the consent: email is no
	// longer eligible.
	resp, err := http.Post(m.UnsubscribeURL, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("unsubscribe: %s", resp.Status)
	}
	dr, err := inst.client.Decide(ctx, &kairosv1.DecideRequest{CustomerId: cust, Campaigns: []string{"cart_recovery"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(dr.GetDecision().GetReasons(), "removed:email/reminder:no_consent") {
		t.Errorf("after unsubscribing: reasons %v, want email removed for no_consent", dr.GetDecision().GetReasons())
	}
}

// TestServeRefusesUnsendableCampaigns: a campaign arm on a channel the
// channels configuration leaves out stops serve at start, naming it.
func TestServeRefusesUnsendableCampaigns(t *testing.T) {
	dir := t.TempDir()
	campaigns, chans := filepath.Join(dir, "campaigns.yaml"), filepath.Join(dir, "channels.yaml")
	if err := os.WriteFile(campaigns, []byte(oneArm), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(chans, []byte("channels:\n  inapp: {provider: inbox}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errs strings.Builder
	err := run(t.Context(), []string{"serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--campaigns", campaigns, "--channels", chans}, &out, &errs)
	if err == nil || !strings.Contains(err.Error(), "campaign cart_recovery, arm email/reminder: channel email has no provider") {
		t.Errorf("serve: %v, want a refusal naming the campaign, the arm and the channel", err)
	}
}

// TestServeTrackingAddr: --tracking-addr serves the tracking links and
// nothing else, and the links in messages point at it.
func TestServeTrackingAddr(t *testing.T) {
	port, err := testproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	campaigns := filepath.Join(t.TempDir(), "campaigns.yaml")
	if err := os.WriteFile(campaigns, []byte(oneArm), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := startServe(t, "--tracking-addr", addr, "--campaigns", campaigns)
	decideUntilSent(t, inst, 1)
	if m := outboxEmails(t, inst, 1)[0]; !strings.HasPrefix(m.UnsubscribeURL, "http://"+addr+"/t/u/") {
		t.Errorf("unsubscribe link %q, want one on the tracking address %s", m.UnsubscribeURL, addr)
	}
	for path, want := range map[string]int{"/t/o/forged": http.StatusNotFound, "/metrics": http.StatusNotFound, "/channels/outbox": http.StatusNotFound} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s on the tracking address: %s, want %d", path, resp.Status, want)
		}
		if path == "/t/o/forged" && !strings.Contains(string(body), "not valid") {
			t.Errorf("a forged link: %q, want the tracking handler's page", body)
		}
	}
	if code, _ := inst.get(t, "/metrics"); code != http.StatusOK {
		t.Errorf("/metrics on the admin address: %d", code)
	}
}
