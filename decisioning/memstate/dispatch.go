package memstate

import (
	"container/heap"
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"kairos/decisioning"
	"kairos/ledger"
)

// settledTTL is how long a settled message's attempt state is kept, so
// that a late copy of its job is recognised and dropped.
const settledTTL = 7 * 24 * time.Hour

// maxDead bounds the dead letters kept in memory (the ledger keeps all).
const maxDead = 10_000

var _ decisioning.DispatchQueue = (*State)(nil)

// dispatchQueue is the embedded dispatch queue: ready jobs in order,
// jobs delivered to a dispatcher, jobs waiting for a time, and the
// attempt state of every message.
type dispatchQueue struct {
	mu       sync.Mutex
	cond     *sync.Cond
	next     uint64
	ready    []decisioning.DispatchJob
	inflight map[string]delivered // by ref
	later    laterHeap
	attempts map[string]*attempt // by decision id
	tokens   atomic.Uint64
	stats    map[string]map[string]int64
	dead     []decisioning.DeadDispatch // newest last
	ndead    int64
	swept    time.Time
}

type delivered struct {
	job      decisioning.DispatchJob
	consumer string
	at       time.Time
}

// attempt is the dispatch state of one message (see redisstate's d:<id>).
type attempt struct {
	status  string // sending, retry, interrupted, done
	n       int
	lease   time.Time
	token   string // the lease's
	settled string // token:attempt of the last settled lease
	retry   time.Time
	expires time.Time // done: forgotten after
}

type laterItem struct {
	at  time.Time
	job decisioning.DispatchJob
}

type laterHeap []laterItem

func (h laterHeap) Len() int           { return len(h) }
func (h laterHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h laterHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *laterHeap) Push(x any)        { *h = append(*h, x.(laterItem)) }
func (h *laterHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

func (q *dispatchQueue) init() {
	q.cond = sync.NewCond(&q.mu)
	q.inflight = map[string]delivered{}
	q.attempts = map[string]*attempt{}
	q.stats = map[string]map[string]int64{}
}

// push queues a job (q.mu held). Nothing is ever dropped: a dropped job
// would be a lost message.
func (q *dispatchQueue) push(job decisioning.DispatchJob) {
	q.next++
	job.Ref = strconv.FormatUint(q.next, 10)
	q.ready = append(q.ready, job)
}

// DispatchLen returns the number of messages queued and not settled
// (ready, in flight and scheduled).
func (s *State) DispatchLen() int {
	q := &s.dq
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ready) + len(q.inflight) + len(q.later)
}

// NextDispatches implements decisioning.DispatchQueue.
func (s *State) NextDispatches(ctx context.Context, consumer string, n int, claimIdle, block time.Duration) ([]decisioning.DispatchJob, error) {
	q := &s.dq
	n = max(n, 1)
	deadline := time.Now().Add(block)
	stop := context.AfterFunc(ctx, func() { q.cond.Broadcast() })
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		now, due := time.Now(), s.now()
		for len(q.later) > 0 && !q.later[0].at.After(due) {
			it := heap.Pop(&q.later).(laterItem)
			q.push(it.job)
		}
		var out []decisioning.DispatchJob
		for ref, d := range q.inflight {
			if len(out) == n {
				break
			}
			if now.Sub(d.at) >= claimIdle {
				q.inflight[ref] = delivered{job: d.job, consumer: consumer, at: now}
				out = append(out, d.job)
			}
		}
		for len(out) < n && len(q.ready) > 0 {
			job := q.ready[0]
			q.ready = q.ready[1:]
			q.inflight[job.Ref] = delivered{job: job, consumer: consumer, at: now}
			out = append(out, job)
		}
		if len(out) > 0 || block <= 0 || !now.Before(deadline) || ctx.Err() != nil {
			return out, ctx.Err()
		}
		wait := deadline.Sub(now)
		if len(q.later) > 0 {
			wait = min(wait, q.later[0].at.Sub(due))
		}
		t := time.AfterFunc(wait, func() { q.cond.Broadcast() })
		q.cond.Wait()
		t.Stop()
	}
}

// remove drops a job from the queue (q.mu held).
func (q *dispatchQueue) remove(ref string) { delete(q.inflight, ref) }

// Defer implements decisioning.DispatchQueue.
func (s *State) Defer(ctx context.Context, job *decisioning.DispatchJob, at time.Time) error {
	q := &s.dq
	q.mu.Lock()
	q.remove(job.Ref)
	heap.Push(&q.later, laterItem{at: at, job: *job})
	q.mu.Unlock()
	q.cond.Broadcast()
	return ctx.Err()
}

// Begin implements decisioning.DispatchQueue.
func (s *State) Begin(ctx context.Context, job *decisioning.DispatchJob, now, leaseUntil time.Time) (decisioning.Begin, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	q := &s.dq
	q.mu.Lock()
	defer q.mu.Unlock()
	a := q.attempts[job.Decision.ID]
	if a == nil {
		a = &attempt{}
		q.attempts[job.Decision.ID] = a
	}
	job.Attempt = a.n
	job.Token = strconv.FormatUint(q.tokens.Add(1), 10)
	switch {
	case a.status == "done":
		q.remove(job.Ref)
		return decisioning.Skip, nil
	case a.status == "retry" && a.retry.After(now):
		// An early copy: the retry stays scheduled.
		q.remove(job.Ref)
		if !q.scheduled(job.Decision.ID) {
			heap.Push(&q.later, laterItem{at: a.retry, job: *job})
		}
		return decisioning.Skip, nil
	case a.status == "sending" && a.lease.After(now):
		return decisioning.Busy, nil
	case a.status == "sending":
		a.lease, a.token = leaseUntil, job.Token // taken over, to settle
		return decisioning.Interrupted, nil
	}
	a.n++
	a.status, a.lease, a.token = "sending", leaseUntil, job.Token
	job.Attempt = a.n
	return decisioning.Begun, nil
}

// scheduled reports whether a job of the decision waits in the later
// heap (q.mu held).
func (q *dispatchQueue) scheduled(id string) bool {
	for _, it := range q.later {
		if it.job.Decision.ID == id {
			return true
		}
	}
	return false
}

// Settle implements decisioning.DispatchQueue.
func (s *State) Settle(ctx context.Context, job *decisioning.DispatchJob, st decisioning.Settlement) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d := &job.Decision
	q := &s.dq
	q.mu.Lock()
	a := q.attempts[d.ID]
	key := job.Token + ":" + strconv.Itoa(job.Attempt)
	if a != nil && a.settled == key {
		q.mu.Unlock()
		return nil // a replay
	}
	if a == nil || a.status != "sending" || a.n != job.Attempt || a.token != job.Token {
		q.mu.Unlock()
		return decisioning.ErrStale
	}
	a.settled = key
	if q.stats[d.Channel] == nil {
		q.stats[d.Channel] = map[string]int64{}
	}
	q.stats[d.Channel][st.Status]++
	switch st.Status {
	case decisioning.DispatchInterrupted:
		a.status = "interrupted"
	case decisioning.DispatchFailed:
		a.status, a.retry = "retry", st.RetryAt
		q.remove(job.Ref)
		heap.Push(&q.later, laterItem{at: st.RetryAt, job: *job})
	default:
		a.status, a.expires = "done", st.At.Add(settledTTL)
		q.remove(job.Ref)
		if st.Status == decisioning.DispatchDead {
			q.ndead++
			q.dead = append(q.dead, decisioning.DeadDispatch{DecisionID: d.ID, CustomerID: d.CustomerID, Campaign: d.Campaign,
				Channel: d.Channel, Attempts: job.Attempt, Error: st.Error, At: st.At.UTC()})
			if len(q.dead) > maxDead {
				q.dead = q.dead[len(q.dead)-maxDead:]
			}
		}
	}
	if st.At.Sub(q.swept) > time.Hour {
		q.swept = st.At
		for id, a := range q.attempts {
			if a.status == "done" && a.expires.Before(st.At) {
				delete(q.attempts, id)
			}
		}
	}
	q.mu.Unlock()
	q.cond.Broadcast()

	if decisioning.DispatchFinal(st.Status) {
		s.settleSend(d, st)
	}
	s.enqueue(ledger.Entry{Dispatches: []ledger.Dispatch{{DecisionID: d.ID, Attempt: job.Attempt, Status: st.Status,
		Channel: d.Channel, ProviderMessageID: st.ProviderID, Error: st.Error, At: st.At}}}, nil)
	return nil
}

// settleSend applies a final status to the customer's sends and
// unreachable channels.
func (s *State) settleSend(d *decisioning.Decision, st decisioning.Settlement) {
	sh := s.shard(d.CustomerID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sends := sh.sends[d.CustomerID]
	i := slices.IndexFunc(sends, func(m decisioning.Sent) bool { return m.DecisionID == d.ID })
	switch {
	case st.Status == decisioning.DispatchSent:
		m := decisioning.Sent{DecisionID: d.ID, Campaign: d.Campaign, Channel: d.Channel, At: st.At}
		if i >= 0 {
			sends = slices.Delete(sends, i, i+1)
		}
		// Sends stay in time order.
		j, _ := slices.BinarySearchFunc(sends, m.At, func(x decisioning.Sent, t time.Time) int { return x.At.Compare(t) })
		sh.sends[d.CustomerID] = slices.Insert(sends, j, m)
		sh.seq[d.CustomerID]++
	case decisioning.DispatchReleases(st.Status) && i >= 0:
		sh.sends[d.CustomerID] = slices.Delete(sends, i, i+1)
	}
	if st.Status == decisioning.DispatchBounced {
		if sh.unreachable[d.CustomerID] == nil {
			sh.unreachable[d.CustomerID] = map[string]string{}
		}
		sh.unreachable[d.CustomerID][d.Channel] = st.Unreachable
	}
}

// DispatchStatus implements decisioning.DispatchQueue.
func (s *State) DispatchStatus(ctx context.Context, deadLetters int) (decisioning.DispatchStatus, error) {
	q := &s.dq
	q.mu.Lock()
	defer q.mu.Unlock()
	out := decisioning.DispatchStatus{Ready: int64(len(q.ready)), InFlight: int64(len(q.inflight)), Scheduled: int64(len(q.later)),
		Totals: map[string]map[string]int64{}, DeadLetters: q.ndead}
	if len(q.later) > 0 {
		out.NextScheduled = q.later[0].at.UTC()
	}
	for c, m := range q.stats {
		out.Totals[c] = map[string]int64{}
		for k, v := range m {
			out.Totals[c][k] = v
		}
	}
	for i := len(q.dead) - 1; i >= 0 && len(out.Dead) < deadLetters; i-- {
		out.Dead = append(out.Dead, q.dead[i])
	}
	return out, ctx.Err()
}
