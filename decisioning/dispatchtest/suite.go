// Package dispatchtest is the contract every decisioning.DispatchQueue
// must pass: memstate's embedded queue and redisstate's Redis queue run the
// same suite, so that delivery and claiming, leases, retries, deferrals,
// the effect of every dispatch status on the caps, the unreachable
// channels, the dead letters and the ledger queue, and exactly-once
// settlement under competing dispatchers mean the same on both.
//
// It is imported only by tests and must not import decisioning/memstate
// or decisioning/redisstate.
package dispatchtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"kairos/decisioning"
	"kairos/ledger"
)

// State is what the suite drives: the decision state that SEND decisions
// enter through Commit, the dispatch queue they wait in, and the ledger
// queue that Settle appends dispatch records to.
type State interface {
	decisioning.State
	decisioning.DispatchQueue
	ledger.Queue
}

// Run runs the whole contract against states made by newState, each new
// and empty. The subtests run in parallel, each with a state of its own.
func Run(t *testing.T, newState func(t *testing.T) State) {
	for _, tc := range []struct {
		name string
		test func(*testing.T, State)
	}{
		{"Delivery", testDelivery},
		{"Lease", testLease},
		{"Sent", testSent},
		{"Retry", testRetry},
		{"Unknown", testUnknown},
		{"Interrupted", testInterrupted},
		{"Defer", testDefer},
		{"Status", testStatus},
		{"ConcurrentDispatchers", testConcurrent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, newState(t))
		})
	}
	for _, status := range []string{decisioning.DispatchDead, decisioning.DispatchBounced, decisioning.DispatchInvalid, decisioning.DispatchCancelled} {
		t.Run("Final/"+status, func(t *testing.T) {
			t.Parallel()
			testFinal(t, newState(t), status)
		})
	}
}

const (
	channel = "email"
	address = "ada@example.com"
	// never is a claimIdle no pending job reaches during a test.
	never = time.Hour
	// wait bounds how long a test waits for a job that is due.
	wait = 5 * time.Second
)

// equal compares decisions as a queue returns them: times by Equal
// (go-cmp uses the method), nil and empty alike.
var equal = cmpopts.EquateEmpty()

// ms returns t at millisecond precision, as Redis scores keep times.
func ms(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()) }

// sendDecision returns a SEND decision for customer at at.
func sendDecision(customer string, at time.Time) decisioning.Decision {
	return decisioning.Decision{
		ID: decisioning.NewID(at), CustomerID: customer, Campaign: "winback", Outcome: decisioning.Send,
		Channel: channel, Offer: "reminder", ArmIndex: 0, Propensity: 0.5, Reasons: []string{"policy"},
		DecidedAt: ms(at),
	}
}

// commit enters a new SEND decision for customer through Commit, with the
// sent token Load gives, and returns it.
func commit(t *testing.T, st State, customer string) decisioning.Decision {
	t.Helper()
	d := sendDecision(customer, time.Now())
	snap := load(t, st, customer)
	prior, err := st.Commit(context.Background(), "", snap.SentToken, []decisioning.Decision{d})
	if err != nil || prior != nil {
		t.Fatalf("Commit(SEND for %s) = %v, %v; want nil, nil", customer, prior, err)
	}
	return d
}

// load returns the customer's snapshot with the sends of the last day.
func load(t *testing.T, st State, customer string) decisioning.Snapshot {
	t.Helper()
	now := time.Now()
	snap, err := st.Load(context.Background(), customer, "", now, now.Add(-24*time.Hour))
	if err != nil {
		t.Fatalf("Load(%s): %v", customer, err)
	}
	return snap
}

// next returns up to n jobs for consumer without waiting.
func next(t *testing.T, st State, consumer string, n int, claimIdle time.Duration) []decisioning.DispatchJob {
	t.Helper()
	jobs, err := st.NextDispatches(context.Background(), consumer, n, claimIdle, 0)
	if err != nil {
		t.Fatalf("NextDispatches(%s): %v", consumer, err)
	}
	return jobs
}

// one returns the one job NextDispatches gives consumer, failing t when it
// gives another number.
func one(t *testing.T, st State, consumer string, claimIdle time.Duration, what string) decisioning.DispatchJob {
	t.Helper()
	jobs := next(t, st, consumer, 10, claimIdle)
	if len(jobs) != 1 {
		t.Fatalf("%s: NextDispatches(%s) returned %d jobs, want 1", what, consumer, len(jobs))
	}
	return jobs[0]
}

// none fails t when NextDispatches gives consumer any job.
func none(t *testing.T, st State, consumer string, claimIdle time.Duration, what string) {
	t.Helper()
	if jobs := next(t, st, consumer, 10, claimIdle); len(jobs) != 0 {
		t.Errorf("%s: NextDispatches(%s, claimIdle %v) returned %d jobs (decision %s), want none",
			what, consumer, claimIdle, len(jobs), jobs[0].Decision.ID)
	}
}

// waitOne polls NextDispatches for consumer until it gives a job, which
// must be the only one.
func waitOne(t *testing.T, st State, consumer string, what string) decisioning.DispatchJob {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		jobs, err := st.NextDispatches(context.Background(), consumer, 10, never, 50*time.Millisecond)
		if err != nil {
			t.Fatalf("%s: NextDispatches(%s): %v", what, consumer, err)
		}
		switch len(jobs) {
		case 0:
			continue
		case 1:
			return jobs[0]
		default:
			t.Fatalf("%s: NextDispatches(%s) returned %d jobs, want 1", what, consumer, len(jobs))
		}
	}
	t.Fatalf("%s: no job within %v", what, wait)
	return decisioning.DispatchJob{}
}

// notBefore checks that the job is not returned before at, then waits
// until at and returns it.
func notBefore(t *testing.T, st State, at time.Time, what string) decisioning.DispatchJob {
	t.Helper()
	if jobs := next(t, st, "early", 10, 0); len(jobs) > 0 {
		if time.Now().Before(at) {
			t.Fatalf("%s: NextDispatches returned the job %v before it is due", what, time.Until(at))
		}
		// The machine was too slow to look before at: nothing to check.
		t.Logf("%s: the check before the due time came too late", what)
		return jobs[0]
	}
	time.Sleep(time.Until(at))
	return waitOne(t, st, "due", what+", once due")
}

var beginNames = map[decisioning.Begin]string{
	decisioning.Begun: "Begun", decisioning.Skip: "Skip", decisioning.Busy: "Busy", decisioning.Interrupted: "Interrupted",
}

func beginName(b decisioning.Begin) string {
	if n, ok := beginNames[b]; ok {
		return n
	}
	return fmt.Sprintf("Begin(%d)", b)
}

// testLeaseTime is the lease begin takes: short, because an
// implementation may time leases by its own clock (Redis's), so a test
// waits for one to end rather than passing a later now.
const testLeaseTime = 200 * time.Millisecond

// afterLease waits for a lease begin took to end and returns the time.
func afterLease() time.Time {
	time.Sleep(testLeaseTime + 50*time.Millisecond)
	return time.Now()
}

// begin calls Begin with a lease of testLeaseTime from now and checks its
// result and the attempt it reports.
func begin(t *testing.T, st State, job *decisioning.DispatchJob, now time.Time, want decisioning.Begin, attempt int, what string) {
	t.Helper()
	got, err := st.Begin(context.Background(), job, now, now.Add(testLeaseTime))
	if err != nil {
		t.Fatalf("%s: Begin: %v", what, err)
	}
	if got != want {
		t.Fatalf("%s: Begin = %s (attempt %d), want %s", what, beginName(got), job.Attempt, beginName(want))
	}
	if attempt > 0 && job.Attempt != attempt {
		t.Errorf("%s: Begin = %s with job.Attempt %d, want attempt %d", what, beginName(got), job.Attempt, attempt)
	}
}

func settle(t *testing.T, st State, job *decisioning.DispatchJob, s decisioning.Settlement, what string) {
	t.Helper()
	if err := st.Settle(context.Background(), job, s); err != nil {
		t.Fatalf("%s: Settle(%s, attempt %d): %v", what, s.Status, job.Attempt, err)
	}
}

// dispatches reads and acknowledges every entry of the ledger queue and
// returns the dispatch records among them, in queue order.
func dispatches(t *testing.T, st State) []ledger.Dispatch {
	t.Helper()
	ctx := context.Background()
	var out []ledger.Dispatch
	for {
		es, err := st.ReadQueue(ctx, "audit", 1000, never, 0)
		if err != nil {
			t.Fatalf("ReadQueue: %v", err)
		}
		if len(es) == 0 {
			return out
		}
		ids := make([]string, len(es))
		for i, e := range es {
			ids[i] = e.ID
			out = append(out, e.Dispatches...)
		}
		if err := st.AckQueue(ctx, ids...); err != nil {
			t.Fatalf("AckQueue: %v", err)
		}
	}
}

// checkLedger checks the dispatch records added to the ledger queue since
// the last call.
func checkLedger(t *testing.T, st State, what string, want ...ledger.Dispatch) {
	t.Helper()
	if diff := gocmp.Diff(want, dispatches(t, st), equal); diff != "" {
		t.Errorf("%s: dispatch records in the ledger queue (-want +got):\n%s", what, diff)
	}
}

// checkSent checks the customer's sends counted by the caps.
func checkSent(t *testing.T, st State, customer, what string, want ...decisioning.Sent) decisioning.Snapshot {
	t.Helper()
	snap := load(t, st, customer)
	if diff := gocmp.Diff(want, snap.Sent, equal); diff != "" {
		t.Errorf("%s: Load(%s).Sent (-want +got):\n%s", what, customer, diff)
	}
	return snap
}

func sentOf(d *decisioning.Decision, at time.Time) decisioning.Sent {
	return decisioning.Sent{DecisionID: d.ID, Campaign: d.Campaign, Channel: d.Channel, At: at}
}

func status(t *testing.T, st State) decisioning.DispatchStatus {
	t.Helper()
	s, err := st.DispatchStatus(context.Background(), 10)
	if err != nil {
		t.Fatalf("DispatchStatus: %v", err)
	}
	return s
}

// checkCounts checks DispatchStatus's Ready, InFlight and Scheduled.
func checkCounts(t *testing.T, st State, what string, ready, inFlight, scheduled int64) decisioning.DispatchStatus {
	t.Helper()
	s := status(t, st)
	if s.Ready != ready || s.InFlight != inFlight || s.Scheduled != scheduled {
		t.Errorf("%s: DispatchStatus Ready, InFlight, Scheduled = %d, %d, %d; want %d, %d, %d",
			what, s.Ready, s.InFlight, s.Scheduled, ready, inFlight, scheduled)
	}
	return s
}

func checkTotals(t *testing.T, st State, what string, want map[string]int64) {
	t.Helper()
	if diff := gocmp.Diff(map[string]map[string]int64{channel: want}, status(t, st).Totals); diff != "" {
		t.Errorf("%s: DispatchStatus.Totals (-want +got):\n%s", what, diff)
	}
}

// testDelivery: a committed SEND is delivered once, stays with its
// consumer until it has been pending for claimIdle, and is claimed by
// another consumer after that.
func testDelivery(t *testing.T, st State) {
	d := commit(t, st, "c1")
	job := one(t, st, "a", never, "after one SEND")
	if diff := gocmp.Diff(d, job.Decision, equal); diff != "" {
		t.Errorf("the job's Decision differs from the committed one (-want +got):\n%s", diff)
	}
	if job.Ref == "" {
		t.Error("the job has no Ref")
	}
	if job.Record != nil {
		var rec decisioning.Decision
		if err := rec.UnmarshalBinary(job.Record); err != nil {
			t.Errorf("the job's Record does not decode: %v", err)
		} else if diff := gocmp.Diff(d, rec, equal); diff != "" {
			t.Errorf("the job's Record is not the committed decision (-want +got):\n%s", diff)
		}
	}
	none(t, st, "b", never, "another consumer, before claimIdle")
	none(t, st, "a", never, "the same consumer again")

	time.Sleep(100 * time.Millisecond)
	claimed := one(t, st, "b", 50*time.Millisecond, "another consumer, after claimIdle")
	if claimed.Decision.ID != d.ID {
		t.Errorf("the claimed job is decision %s, want %s", claimed.Decision.ID, d.ID)
	}
	none(t, st, "c", never, "a third consumer, before claimIdle of the claim")
	none(t, st, "a", never, "the first consumer, after the claim")
}

// testLease: Begin leases the first attempt; a copy of the job cannot
// begin while the lease lasts (Busy), and finds it Interrupted after the
// lease ends, taking the lease over without starting an attempt.
func testLease(t *testing.T, st State) {
	commit(t, st, "c1")
	job := one(t, st, "a", never, "after one SEND")
	copied := job
	now := time.Now()
	begin(t, st, &job, now, decisioning.Begun, 1, "first Begin")
	begin(t, st, &copied, time.Now(), decisioning.Busy, 0, "Begin on a copy during the lease")
	later := afterLease()
	begin(t, st, &copied, later, decisioning.Interrupted, 1, "Begin on a copy after the lease")
	// Interrupted took the lease over: a third copy is Busy, the former
	// leaseholder is stale, the new one settles.
	third := job
	begin(t, st, &third, time.Now(), decisioning.Busy, 0, "Begin on another copy after the takeover")
	if err := st.Settle(context.Background(), &job, decisioning.Settlement{Status: decisioning.DispatchSent, At: ms(time.Now())}); !errors.Is(err, decisioning.ErrStale) {
		t.Errorf("the former leaseholder's Settle after the takeover = %v, want ErrStale", err)
	}
	settle(t, st, &copied, decisioning.Settlement{Status: decisioning.DispatchUnknown, At: ms(time.Now())}, "the new leaseholder")
}

// testSent: a sent message leaves the queue, counts in the caps from the
// settlement time, and has one ledger record; a late copy is skipped and a
// second Settle is stale.
func testSent(t *testing.T, st State) {
	d := commit(t, st, "c1")
	before := load(t, st, "c1").SentToken
	dispatches(t, st) // the decision's own entry
	job := one(t, st, "a", never, "after one SEND")
	stale := job
	begin(t, st, &job, time.Now(), decisioning.Begun, 1, "Begin")
	s := decisioning.Settlement{Status: decisioning.DispatchSent, ProviderID: "<msg-1@example.com>", At: ms(time.Now().Add(time.Second))}
	settle(t, st, &job, s, "sent")

	none(t, st, "b", 0, "after Sent, claimIdle 0")
	none(t, st, "a", 0, "after Sent, the same consumer")
	snap := checkSent(t, st, "c1", "after Sent", sentOf(&d, s.At))
	if snap.SentToken == before {
		t.Errorf("SentToken is still %q after Sent: a decision made before would not see the send move", before)
	}
	if len(snap.Unreachable) != 0 {
		t.Errorf("Unreachable = %v after Sent, want none", snap.Unreachable)
	}
	checkLedger(t, st, "after Sent", ledger.Dispatch{DecisionID: d.ID, Attempt: 1, Status: decisioning.DispatchSent,
		Channel: channel, ProviderMessageID: s.ProviderID, At: s.At})

	begin(t, st, &stale, time.Now(), decisioning.Skip, 0, "Begin on a stale copy after Sent")
	// The same Settle again (a client retrying after a lost reply) is
	// answered as the first and records nothing; another lease's is stale.
	if err := st.Settle(context.Background(), &job, s); err != nil {
		t.Errorf("Settle repeated after Sent = %v, want nil", err)
	}
	if err := st.Settle(context.Background(), &stale, s); !errors.Is(err, decisioning.ErrStale) {
		t.Errorf("Settle of a stale copy after Sent = %v, want ErrStale", err)
	}
	checkLedger(t, st, "after a stale Begin and Settle")
	checkSent(t, st, "c1", "after a stale Settle", sentOf(&d, s.At))
	checkTotals(t, st, "after one Sent", map[string]int64{decisioning.DispatchSent: 1})
	checkCounts(t, st, "after Sent", 0, 0, 0)
}

// testRetry: a failed attempt waits for its RetryAt, is then delivered
// once and begins as attempt 2; the message keeps its place in the caps.
func testRetry(t *testing.T, st State) {
	d := commit(t, st, "c1")
	dispatches(t, st)
	job := one(t, st, "a", never, "after one SEND")
	stale := job
	begin(t, st, &job, time.Now(), decisioning.Begun, 1, "Begin")
	retryAt := ms(time.Now().Add(500 * time.Millisecond))
	s := decisioning.Settlement{Status: decisioning.DispatchFailed, Error: "smtp: 451 4.7.1 try again later",
		At: ms(time.Now()), RetryAt: retryAt}
	settle(t, st, &job, s, "failed")
	checkLedger(t, st, "after Failed", ledger.Dispatch{DecisionID: d.ID, Attempt: 1, Status: decisioning.DispatchFailed,
		Channel: channel, Error: s.Error, At: s.At})
	checkSent(t, st, "c1", "after Failed", sentOf(&d, d.DecidedAt))
	checkTotals(t, st, "after Failed", map[string]int64{decisioning.DispatchFailed: 1})
	// A copy of the job from before the failure must not retry early, nor
	// remove the scheduled retry.
	if now := time.Now(); now.Before(retryAt) {
		begin(t, st, &stale, now, decisioning.Skip, 0, "Begin on a stale copy before RetryAt")
	}

	retried := notBefore(t, st, retryAt, "retry")
	if retried.Decision.ID != d.ID {
		t.Fatalf("the retried job is decision %s, want %s", retried.Decision.ID, d.ID)
	}
	none(t, st, "other", never, "after the retry was delivered")
	begin(t, st, &retried, time.Now(), decisioning.Begun, 2, "Begin the retry")
	s2 := decisioning.Settlement{Status: decisioning.DispatchSent, ProviderID: "p2", At: ms(time.Now())}
	settle(t, st, &retried, s2, "the retry sent")
	checkLedger(t, st, "after the retry", ledger.Dispatch{DecisionID: d.ID, Attempt: 2, Status: decisioning.DispatchSent,
		Channel: channel, ProviderMessageID: "p2", At: s2.At})
	checkSent(t, st, "c1", "after the retry", sentOf(&d, s2.At))
	none(t, st, "other", 0, "after the retry was sent")
}

// testFinal: each final status that releases the message removes it from
// the queue and the caps, and records its own effects.
func testFinal(t *testing.T, st State, status string) {
	d := commit(t, st, "c1")
	dispatches(t, st)
	job := one(t, st, "a", never, "after one SEND")
	begin(t, st, &job, time.Now(), decisioning.Begun, 1, "Begin")
	s := decisioning.Settlement{Status: status, Error: "provider says no: " + status, At: ms(time.Now())}
	if status == decisioning.DispatchBounced {
		s.Unreachable = address
	}
	settle(t, st, &job, s, status)

	none(t, st, "b", 0, "after "+status)
	snap := checkSent(t, st, "c1", "after "+status+" (the message gives its place in the caps back)")
	want := map[string]string(nil)
	if status == decisioning.DispatchBounced {
		want = map[string]string{channel: address}
	}
	if diff := gocmp.Diff(want, snap.Unreachable, equal); diff != "" {
		t.Errorf("after %s: Load.Unreachable (-want +got):\n%s", status, diff)
	}
	checkLedger(t, st, "after "+status, ledger.Dispatch{DecisionID: d.ID, Attempt: 1, Status: status,
		Channel: channel, Error: s.Error, At: s.At})
	checkTotals(t, st, "after "+status, map[string]int64{status: 1})
	ds := checkCounts(t, st, "after "+status, 0, 0, 0)
	var dead []decisioning.DeadDispatch
	if status == decisioning.DispatchDead {
		dead = []decisioning.DeadDispatch{{DecisionID: d.ID, CustomerID: d.CustomerID, Campaign: d.Campaign,
			Channel: channel, Attempts: 1, Error: s.Error, At: s.At}}
	}
	if ds.DeadLetters != int64(len(dead)) {
		t.Errorf("after %s: DeadLetters = %d, want %d", status, ds.DeadLetters, len(dead))
	}
	if diff := gocmp.Diff(dead, ds.Dead, equal); diff != "" {
		t.Errorf("after %s: DispatchStatus.Dead (-want +got):\n%s", status, diff)
	}
	if err := st.Settle(context.Background(), &job, s); err != nil {
		t.Errorf("Settle repeated after %s = %v, want nil (a replay)", status, err)
	}
	other := job
	other.Token = "another-lease"
	if err := st.Settle(context.Background(), &other, s); !errors.Is(err, decisioning.ErrStale) {
		t.Errorf("Settle by another lease after %s = %v, want ErrStale", status, err)
	}
	checkTotals(t, st, "after repeated Settles of "+status, map[string]int64{status: 1})
}

// testUnknown: an interrupted attempt settled as Unknown ends the message
// without releasing its place in the caps; the dispatcher that held the
// lease finds its attempt stale.
func testUnknown(t *testing.T, st State) {
	d := commit(t, st, "c1")
	dispatches(t, st)
	job := one(t, st, "a", never, "after one SEND")
	copied := job
	now := time.Now()
	begin(t, st, &job, now, decisioning.Begun, 1, "Begin")
	begin(t, st, &copied, afterLease(), decisioning.Interrupted, 1, "Begin on a copy after the lease")
	s := decisioning.Settlement{Status: decisioning.DispatchUnknown, Error: "interrupted while sending", At: ms(time.Now())}
	settle(t, st, &copied, s, "unknown")

	none(t, st, "b", 0, "after Unknown")
	checkSent(t, st, "c1", "after Unknown (it may have been delivered)", sentOf(&d, d.DecidedAt))
	checkLedger(t, st, "after Unknown", ledger.Dispatch{DecisionID: d.ID, Attempt: 1, Status: decisioning.DispatchUnknown,
		Channel: channel, Error: s.Error, At: s.At})
	if err := st.Settle(context.Background(), &job, decisioning.Settlement{Status: decisioning.DispatchSent, At: ms(time.Now())}); !errors.Is(err, decisioning.ErrStale) {
		t.Errorf("the former leaseholder's Settle after Unknown = %v, want ErrStale", err)
	}
	checkTotals(t, st, "after Unknown", map[string]int64{decisioning.DispatchUnknown: 1})
}

// testInterrupted: an attempt settled as Interrupted keeps the job, which
// begins again as attempt 2; the former leaseholder is stale.
func testInterrupted(t *testing.T, st State) {
	d := commit(t, st, "c1")
	dispatches(t, st)
	job := one(t, st, "a", never, "after one SEND")
	copied := job
	now := time.Now()
	begin(t, st, &job, now, decisioning.Begun, 1, "Begin")
	later := afterLease()
	begin(t, st, &copied, later, decisioning.Interrupted, 1, "Begin on a copy after the lease")
	s := decisioning.Settlement{Status: decisioning.DispatchInterrupted, Error: "interrupted while sending", At: ms(time.Now())}
	settle(t, st, &copied, s, "interrupted")
	checkSent(t, st, "c1", "after Interrupted", sentOf(&d, d.DecidedAt))

	claimed := one(t, st, "c", 0, "after Interrupted, claimIdle 0 (the job stays queued)")
	if claimed.Decision.ID != d.ID {
		t.Fatalf("the claimed job is decision %s, want %s", claimed.Decision.ID, d.ID)
	}
	begin(t, st, &claimed, later, decisioning.Begun, 2, "Begin after Interrupted")
	if err := st.Settle(context.Background(), &job, decisioning.Settlement{Status: decisioning.DispatchSent, At: ms(time.Now())}); !errors.Is(err, decisioning.ErrStale) {
		t.Errorf("the former leaseholder's Settle after a new attempt = %v, want ErrStale", err)
	}
	s2 := decisioning.Settlement{Status: decisioning.DispatchSent, ProviderID: "p2", At: ms(time.Now())}
	settle(t, st, &claimed, s2, "attempt 2 sent")
	checkLedger(t, st, "after Interrupted and Sent",
		ledger.Dispatch{DecisionID: d.ID, Attempt: 1, Status: decisioning.DispatchInterrupted, Channel: channel, Error: s.Error, At: s.At},
		ledger.Dispatch{DecisionID: d.ID, Attempt: 2, Status: decisioning.DispatchSent, Channel: channel, ProviderMessageID: "p2", At: s2.At})
	checkSent(t, st, "c1", "after attempt 2 sent", sentOf(&d, s2.At))
	none(t, st, "b", 0, "after attempt 2 sent")
	checkTotals(t, st, "after Interrupted and Sent", map[string]int64{decisioning.DispatchInterrupted: 1, decisioning.DispatchSent: 1})
}

// testDefer: a deferred job waits until its time and uses no attempt.
func testDefer(t *testing.T, st State) {
	d := commit(t, st, "c1")
	dispatches(t, st)
	job := one(t, st, "a", never, "after one SEND")
	at := ms(time.Now().Add(500 * time.Millisecond))
	if err := st.Defer(context.Background(), &job, at); err != nil {
		t.Fatalf("Defer: %v", err)
	}
	deferred := notBefore(t, st, at, "deferred")
	if deferred.Decision.ID != d.ID {
		t.Fatalf("the deferred job is decision %s, want %s", deferred.Decision.ID, d.ID)
	}
	none(t, st, "other", never, "after the deferred job was delivered")
	begin(t, st, &deferred, time.Now(), decisioning.Begun, 1, "Begin after Defer")
	checkLedger(t, st, "after Defer and Begin")
	checkSent(t, st, "c1", "after Defer", sentOf(&d, d.DecidedAt))
}

// testStatus: Ready, InFlight, Scheduled and NextScheduled follow jobs
// through delivery, Defer and Settle.
func testStatus(t *testing.T, st State) {
	s := checkCounts(t, st, "empty", 0, 0, 0)
	if len(s.Totals) != 0 || s.DeadLetters != 0 || len(s.Dead) != 0 || !s.NextScheduled.IsZero() {
		t.Errorf("empty: DispatchStatus = %+v, want zero counts", s)
	}
	for _, c := range []string{"c1", "c2", "c3"} {
		commit(t, st, c)
	}
	checkCounts(t, st, "three committed", 3, 0, 0)
	jobs := next(t, st, "a", 1, never)
	if len(jobs) != 1 {
		t.Fatalf("NextDispatches(n=1) returned %d jobs, want 1", len(jobs))
	}
	checkCounts(t, st, "one delivered", 2, 1, 0)
	at := ms(time.Now().Add(time.Hour))
	if err := st.Defer(context.Background(), &jobs[0], at); err != nil {
		t.Fatalf("Defer: %v", err)
	}
	s = checkCounts(t, st, "one deferred", 2, 0, 1)
	if !s.NextScheduled.Equal(at) {
		t.Errorf("one deferred: NextScheduled = %v, want %v", s.NextScheduled, at)
	}
	jobs = next(t, st, "a", 2, never)
	if len(jobs) != 2 {
		t.Fatalf("NextDispatches(n=2) returned %d jobs, want 2", len(jobs))
	}
	checkCounts(t, st, "two delivered", 0, 2, 1)
	now := time.Now()
	begin(t, st, &jobs[0], now, decisioning.Begun, 1, "Begin the first")
	begin(t, st, &jobs[1], now, decisioning.Begun, 1, "Begin the second")
	checkCounts(t, st, "two begun", 0, 2, 1)
	settle(t, st, &jobs[0], decisioning.Settlement{Status: decisioning.DispatchSent, At: ms(now)}, "the first sent")
	settle(t, st, &jobs[1], decisioning.Settlement{Status: decisioning.DispatchFailed, At: ms(now), RetryAt: at.Add(time.Hour)}, "the second failed")
	s = checkCounts(t, st, "one sent, one failed", 0, 0, 2)
	if !s.NextScheduled.Equal(at) {
		t.Errorf("one sent, one failed: NextScheduled = %v, want the deferred job's %v", s.NextScheduled, at)
	}
	checkTotals(t, st, "one sent, one failed", map[string]int64{decisioning.DispatchSent: 1, decisioning.DispatchFailed: 1})
}

// testConcurrent: dispatchers competing for 200 messages, with claims and
// expired leases racing, settle each exactly once as sent.
func testConcurrent(t *testing.T, st State) {
	const (
		n         = 200
		consumers = 4
		claimIdle = 50 * time.Millisecond
		lease     = 100 * time.Millisecond
	)
	customers := map[string][]string{} // customer → decision ids
	ids := map[string]bool{}
	for i := range n {
		c := fmt.Sprintf("c%02d", i%20)
		d := commit(t, st, c)
		customers[c] = append(customers[c], d.ID)
		ids[d.ID] = true
	}
	dispatches(t, st)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		mu      sync.Mutex
		settled = map[string]int{} // decision id → successful Settle(Sent)
		done    atomic.Int64
		stale   atomic.Int64
		wg      sync.WaitGroup
		// delivered counts the deliveries of each decision: more than
		// one when a dispatcher claimed it from another.
		delivered = map[string]int{}
	)
	process := func(name string, rng *rand.Rand, job decisioning.DispatchJob) {
		for {
			now := time.Now()
			r, err := st.Begin(ctx, &job, now, now.Add(lease))
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("%s: Begin(%s): %v", name, job.Decision.ID, err)
				}
				return
			}
			switch r {
			case decisioning.Begun:
				if rng.IntN(20) == 0 {
					time.Sleep(lease + 50*time.Millisecond) // outlive the lease
				}
				err := st.Settle(ctx, &job, decisioning.Settlement{Status: decisioning.DispatchSent,
					ProviderID: name, At: time.Now()})
				switch {
				case errors.Is(err, decisioning.ErrStale):
					stale.Add(1)
				case err != nil:
					if ctx.Err() == nil {
						t.Errorf("%s: Settle(%s, sent): %v", name, job.Decision.ID, err)
					}
				default:
					mu.Lock()
					settled[job.Decision.ID]++
					mu.Unlock()
					done.Add(1)
				}
				return
			case decisioning.Interrupted:
				err := st.Settle(ctx, &job, decisioning.Settlement{Status: decisioning.DispatchInterrupted, At: now})
				if errors.Is(err, decisioning.ErrStale) {
					return
				}
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("%s: Settle(%s, interrupted): %v", name, job.Decision.ID, err)
					}
					return
				}
				// Begin again: the provider deduplicates by decision id.
			default: // Busy, Skip
				return
			}
		}
	}
	for c := range consumers {
		name := fmt.Sprintf("dispatcher-%d", c)
		rng := rand.New(rand.NewPCG(uint64(c), 42))
		wg.Go(func() {
			for ctx.Err() == nil && done.Load() < n {
				jobs, err := st.NextDispatches(ctx, name, 5, claimIdle, 20*time.Millisecond)
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("%s: NextDispatches: %v", name, err)
					}
					return
				}
				for _, job := range jobs {
					mu.Lock()
					delivered[job.Decision.ID]++
					mu.Unlock()
					// Slow enough that the batch's last jobs go idle and
					// other dispatchers claim them.
					time.Sleep(time.Duration(rng.IntN(25)) * time.Millisecond)
					process(name, rng, job)
				}
			}
		})
	}
	wg.Wait()
	switch got := done.Load(); {
	case got < n:
		t.Fatalf("only %d of %d messages settled as sent before the deadline", got, n)
	case got > n:
		t.Errorf("Settle(Sent) succeeded %d times for %d messages", got, n)
	}
	redelivered := 0
	for _, k := range delivered {
		redelivered += k - 1
	}
	t.Logf("%d redeliveries (claims), %d stale settlements", redelivered, stale.Load())

	for id := range ids {
		if settled[id] != 1 {
			t.Errorf("decision %s: Settle(Sent) succeeded %d times, want once", id, settled[id])
		}
	}
	sent := map[string]int{}
	for _, x := range dispatches(t, st) {
		if !ids[x.DecisionID] {
			t.Errorf("dispatch record of unknown decision %s", x.DecisionID)
		}
		if x.Status == decisioning.DispatchSent {
			sent[x.DecisionID]++
		}
	}
	for id := range ids {
		if sent[id] != 1 {
			t.Errorf("decision %s: %d sent records in the ledger queue, want 1", id, sent[id])
		}
	}
	for c, want := range customers {
		snap := load(t, st, c)
		got := map[string]int{}
		for _, m := range snap.Sent {
			got[m.DecisionID]++
		}
		for _, id := range want {
			if got[id] != 1 {
				t.Errorf("customer %s: decision %s counts %d times in Load.Sent, want once", c, id, got[id])
			}
		}
		if len(snap.Sent) != len(want) {
			t.Errorf("customer %s: Load.Sent holds %d sends, want %d", c, len(snap.Sent), len(want))
		}
	}
	none(t, st, "late", 0, "after every message was sent")
	checkCounts(t, st, "after every message was sent", 0, 0, 0)
	if s := status(t, st); s.Totals[channel][decisioning.DispatchSent] != n {
		t.Errorf("Totals[%s][sent] = %d, want %d", channel, s.Totals[channel][decisioning.DispatchSent], n)
	}
}
