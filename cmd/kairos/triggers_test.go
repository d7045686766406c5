package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	kairosv1 "kairos/api/proto/kairos/v1"
	"kairos/decisioning/redisstate"
	"kairos/features"
	"kairos/features/redisstore"
	"kairos/internal/pgtest"
	"kairos/internal/redistest"
	"kairos/internal/testproc"
	"kairos/ledger"
	"kairos/ledger/pgledger"
)

// cartAbsence decides cart_recovery 3 s after an add_to_cart that no
// purchase followed. Its arms are covered by the built-in channels and
// templates (cart_recovery/reminder/email.*), so serve needs no
// --channels; the test's customers have no record (no email address, no
// consent), so every decision is recorded and none sends.
var cartAbsence = oneArm + "    trigger: {on: {event: add_to_cart}, unless: {event: purchase}, within: 3s}\n"

// triggerChild is a kairos serve child process and its admin address.
type triggerChild struct {
	*child
	name, admin string
}

// startTriggerChild starts a child serving its admin HTTP on a port of
// its own, which startChild does not report.
func startTriggerChild(t *testing.T, name string, args ...string) *triggerChild {
	t.Helper()
	port, err := testproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	admin := fmt.Sprintf("127.0.0.1:%d", port)
	return &triggerChild{child: startChild(t, append(args, "--http-addr", admin)...), name: name, admin: admin}
}

var triggerSteps = regexp.MustCompile(`(?m)^kairos_triggers_total\{campaign="cart_recovery",kind="timer_fired"\} (\d+)$`)

// fired returns how many timers c has fired (its kairos_triggers_total
// of kind timer_fired), or -1 when it does not answer.
func (c *triggerChild) fired() int {
	resp, err := http.Get("http://" + c.admin + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return -1
	}
	m := triggerSteps.FindSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// explainTimeline is GET /explain's answer.
type explainTimeline struct {
	Customer string        `json:"customer"`
	Steps    []explainStep `json:"steps"`
}

func (c *triggerChild) explain(t *testing.T, customer string) explainTimeline {
	t.Helper()
	resp, err := http.Get("http://" + c.admin + "/explain?" + url.Values{"customer": {customer}, "campaign": {"cart_recovery"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tl explainTimeline
	if err := json.NewDecoder(resp.Body).Decode(&tl); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("/explain?customer=%s: %s, %v", customer, resp.Status, err)
	}
	return tl
}

// TestTriggersSurviveSIGKILL: two kairos serve instances share the
// timers of an absence trigger (add_to_cart not followed by a purchase
// within 3 s); one is killed (SIGKILL) while firing them. The other fires
// the rest, those the dead one held under lease included once the lease
// ends, and every abandoned cart is decided exactly once — a timer fired
// by both instances is one decision, by its request id — and no cart
// followed by a purchase is decided.
func TestTriggersSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis, PostgreSQL and two kairos processes, and waits out a 30 s timer lease")
	}
	start := time.Now()
	ctx := t.Context()
	rs := redistest.Start(t)
	pgURL := pgtest.NewDB(t)
	campaigns := filepath.Join(t.TempDir(), "campaigns.yaml")
	if err := os.WriteFile(campaigns, []byte(cartAbsence), 0o600); err != nil {
		t.Fatal(err)
	}
	// --claim-idle hands the event-log and ledger-queue entries of the
	// killed instance over quickly; the timers' lease is the watcher's
	// default (30 s), which serve does not configure.
	args := []string{"--redis", rs.URL(), "--postgres", pgURL, "--campaigns", campaigns, "--claim-idle", "500ms"}
	insts := []*triggerChild{startTriggerChild(t, "first", args...), startTriggerChild(t, "second", args...)}

	const customers, buyers = 200, 50
	cust := func(i int) string { return fmt.Sprintf("k%03d", i) }
	carts := make([]*kairosv1.Event, customers)
	for i := range carts {
		carts[i] = &kairosv1.Event{EventId: "cart-" + cust(i), CustomerId: cust(i), Type: "add_to_cart",
			Properties: map[string]*structpb.Value{"amount": structpb.NewNumberValue(40)}}
	}
	if resp, err := insts[0].client.Track(ctx, &kairosv1.TrackRequest{Events: carts}); err != nil || resp.GetAccepted() != customers {
		t.Fatalf("Track carts: %v, %v", resp, err)
	}
	tracked := time.Now()
	time.Sleep(time.Second)
	var purchases []*kairosv1.Event
	for i := range buyers {
		purchases = append(purchases, &kairosv1.Event{EventId: "buy-" + cust(i), CustomerId: cust(i), Type: "purchase",
			Properties: map[string]*structpb.Value{"amount": structpb.NewNumberValue(40)}})
	}
	if resp, err := insts[1].client.Track(ctx, &kairosv1.TrackRequest{Events: purchases}); err != nil || resp.GetAccepted() != buyers {
		t.Fatalf("Track purchases: %v, %v", resp, err)
	}

	// Kill the instance that is firing once a quarter of the timers fired:
	// it holds the rest of its claim under lease.
	const abandoned = customers - buyers
	var victim, survivor *triggerChild
	deadline := time.Now().Add(15 * time.Second)
	for victim == nil {
		a, b := insts[0].fired(), insts[1].fired()
		switch {
		case a+b >= abandoned/4 && a >= b:
			victim, survivor = insts[0], insts[1]
		case a+b >= abandoned/4:
			victim, survivor = insts[1], insts[0]
		case time.Now().After(deadline):
			t.Fatalf("%d and %d timers fired 15s after the carts; logs:\n%s\n%s", a, b, insts[0].logs, insts[1].logs)
		default:
			time.Sleep(2 * time.Millisecond)
		}
	}
	victimFired := victim.fired()
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()
	killed := time.Now()
	survivorFired := survivor.fired()
	feats := redisstore.New(rs.Client(t), features.Default(), redisstore.Options{})
	timers := redisstate.New(feats, redisstate.Options{})
	left, err := timers.TimerCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed the %s instance %.1fs after the carts, when it had fired %d timers (at least) and the %s %d; %d timers left",
		victim.name, killed.Sub(tracked).Seconds(), victimFired, survivor.name, survivorFired, left)

	// The survivor fires every timer, those the victim held once their
	// lease ends, and its drainer takes over the victim's ledger queue.
	led, err := pgledger.Open(ctx, pgURL, pgledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	deadline = time.Now().Add(45 * time.Second)
	for {
		left, err = timers.TimerCount(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := led.Decisions(ctx, ledger.Query{Campaign: "cart_recovery"})
		if err != nil {
			t.Fatal(err)
		}
		if left == 0 && len(ds) >= abandoned {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("45s after the kill: %d timers left, %d decisions in the ledger; survivor log:\n%s", left, len(ds), survivor.logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	done := time.Now()

	// Each customer's timeline on the survivor: the buyers' timers were
	// cancelled, every abandoned cart decided once, though perhaps fired
	// twice.
	refired, late := 0, 0
	for i := range customers {
		tl := survivor.explain(t, cust(i))
		kinds := map[string]int{}
		decided := map[string]bool{}
		for _, s := range tl.Steps {
			kinds[s.Kind]++
			if s.Kind == "decided" {
				decided[s.DecisionID] = true
			}
		}
		switch {
		case i < buyers:
			// The timer is cancelled, or never set when the purchase was
			// read before the cart.
			if kinds["timer_cancelled"]+kinds["refused"] == 0 || kinds["timer_fired"] > 0 || kinds["decided"] > 0 || kinds["decision"] > 0 {
				t.Errorf("buyer %s: steps %v, want the timer cancelled and no decision: %+v", cust(i), kinds, tl.Steps)
			}
		case len(decided) != 1 || kinds["decision"] != 1 || kinds["timer_fired"] == 0:
			t.Errorf("%s: steps %v and decisions %v, want one decision: %+v", cust(i), kinds, decided, tl.Steps)
		default:
			if kinds["timer_fired"] > 1 {
				refired++
			}
			for _, s := range tl.Steps {
				if s.Kind == "timer_fired" && s.At.After(killed.Add(20*time.Second)) {
					late++
					break
				}
			}
		}
	}
	survivorFired = survivor.fired()
	survivor.stopCleanly(t)

	// The ledger, after the survivor's last flush: one decision per
	// abandoned cart, under its trigger's request id.
	ds, err := led.Decisions(ctx, ledger.Query{Campaign: "cart_recovery"})
	if err != nil {
		t.Fatal(err)
	}
	byRequest := map[string][]string{}
	outcomes := map[string]int{}
	for _, d := range ds {
		byRequest[d.RequestID] = append(byRequest[d.RequestID], d.ID)
		outcomes[d.Outcome.String()]++
		if want := "trigger:cart_recovery:cart-" + d.CustomerID; d.RequestID != want {
			t.Errorf("decision %s of %s: request id %q, want %q", d.ID, d.CustomerID, d.RequestID, want)
		}
		if d.Context["trigger"] != "absence" || d.Context["trigger_event"] != "cart-"+d.CustomerID {
			t.Errorf("decision %s of %s: context %v, want the absence trigger and its cart", d.ID, d.CustomerID, d.Context)
		}
	}
	for id, xs := range byRequest {
		if len(xs) > 1 {
			t.Errorf("request id %s: %d decisions %v, want one", id, len(xs), xs)
		}
	}
	for i := range customers {
		want := 1
		if i < buyers {
			want = 0
		}
		if n := len(byRequest["trigger:cart_recovery:cart-"+cust(i)]); n != want {
			t.Errorf("%s (buyer: %t): %d decisions, want %d", cust(i), i < buyers, n, want)
		}
	}
	t.Logf("%d decisions %v in the ledger for %d abandoned carts; the %s instance fired %d timers (at least) before it was killed, the %s %d, "+
		"%d of them a second time after the lease; %d customers' timers fired more than 20s after the kill; all fired %.1fs after the kill, test %.1fs",
		len(ds), outcomes, abandoned, victim.name, victimFired, survivor.name, survivorFired, refired, late,
		done.Sub(killed).Seconds(), time.Since(start).Seconds())
}
