// Package memstate is the embedded decision state: recent sends, request
// ids, open reward and metric windows, the shared policy state, the
// ledger and dispatch queues and the trigger timers, kept in process
// memory beside a memstore feature store.
// It is what `kairos serve` uses without --redis, so the whole loop runs
// with nothing installed. Nothing survives a restart: use redisstate for
// that.
//
// It must not import decisioning/redisstate.
package memstate

import (
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"maps"
	"strconv"
	"sync"
	"time"

	"kairos/decisioning"
	"kairos/decisioning/bandit"
	"kairos/features/memstore"
	"kairos/ledger"
)

// RequestTTL is how long a request id is remembered.
const RequestTTL = 24 * time.Hour

// Options configures a State.
type Options struct {
	// Lookback is how long sends are kept: the longest cap window or
	// cooldown of the configuration (at least a day is kept).
	Lookback time.Duration
	// Now is the clock that tells when a scheduled dispatch job (quiet
	// hours, retry backoff) is due; time.Now when nil. Leases, claims and
	// blocking reads keep real time whatever it says, so a simulated clock
	// (kairos demo) may run far ahead of it.
	Now func() time.Time
}

const shards = 64

// State is the in-memory decisioning.State, PolicyStore, Windows and
// Timers, and the ledger.Queue of the decisions it records. It is safe
// for concurrent use.
type State struct {
	feats    *memstore.Store
	lookback time.Duration
	now      func() time.Time
	seed     maphash.Seed
	shards   [shards]shard

	pmu      sync.Mutex
	policies map[string][]byte // campaign → JSON of bandit.State

	qmu     sync.Mutex
	qcond   *sync.Cond
	qnext   uint64
	queue   []queued // new, in order
	pending map[string]queued
	dead    []DeadEntry

	dq dispatchQueue
	ts triggerState
	sg segmentSet

	timers timerStore

	dmu sync.Mutex
	due dueHeap
}

// DeadEntry is a ledger-queue entry the ledger refused.
type DeadEntry struct {
	ID     string
	Raw    []byte
	Reason string
}

type queued struct {
	entry     ledger.Entry
	consumer  string
	delivered time.Time
}

type shard struct {
	mu    sync.Mutex
	sends map[string][]decisioning.Sent // in time order
	// seq counts the sends added per customer: the token of
	// Snapshot.SentToken.
	seq         map[string]uint64
	unreachable map[string]map[string]string
	requests    map[string]request // customer \x00 request id
	// open holds the open windows by customer, then by
	// decisioning.WindowKey (the reward window under the decision id, a
	// metric window under the id and the metric).
	open      map[string]map[string]decisioning.Window
	lastSweep time.Time
}

type request struct {
	decision *decisioning.Decision
	at       time.Time
}

var (
	_ decisioning.State       = (*State)(nil)
	_ decisioning.PolicyStore = (*State)(nil)
	_ decisioning.Windows     = (*State)(nil)
	_ ledger.Queue            = (*State)(nil)
)

// New returns an empty State reading features from feats.
func New(feats *memstore.Store, opts Options) *State {
	s := &State{feats: feats, lookback: max(opts.Lookback, 24*time.Hour), now: opts.Now, seed: maphash.MakeSeed(),
		policies: map[string][]byte{}, pending: map[string]queued{}}
	if s.now == nil {
		s.now = time.Now
	}
	s.qcond = sync.NewCond(&s.qmu)
	s.dq.init()
	s.timers.init()
	for i := range s.shards {
		s.shards[i] = shard{sends: map[string][]decisioning.Sent{}, seq: map[string]uint64{}, unreachable: map[string]map[string]string{}, requests: map[string]request{}, open: map[string]map[string]decisioning.Window{}}
	}
	return s
}

func (s *State) shard(id string) *shard { return &s.shards[maphash.String(s.seed, id)%shards] }

// Load implements decisioning.State.
func (s *State) Load(ctx context.Context, customerID, requestID string, now, since time.Time) (decisioning.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return decisioning.Snapshot{}, err
	}
	var snap decisioning.Snapshot
	sh := s.shard(customerID)
	sh.mu.Lock()
	if requestID != "" {
		if r, ok := sh.requests[customerID+"\x00"+requestID]; ok && now.Sub(r.at) < RequestTTL {
			snap.Prior = r.decision
		}
	}
	for _, m := range sh.sends[customerID] {
		if !m.At.Before(since) {
			snap.Sent = append(snap.Sent, m)
		}
	}
	snap.SentToken = sh.token(customerID)
	if u := sh.unreachable[customerID]; len(u) > 0 {
		snap.Unreachable = maps.Clone(u)
	}
	sh.mu.Unlock()
	if snap.Prior != nil {
		return snap, nil
	}
	p, err := s.feats.Profile(ctx, customerID, now)
	if err != nil {
		return decisioning.Snapshot{}, err
	}
	snap.Profile = p
	return snap, nil
}

// Commit implements decisioning.State.
func (s *State) Commit(ctx context.Context, requestID, sentToken string, ds []decisioning.Decision) (*decisioning.Decision, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, nil
	}
	cid, now := ds[0].CustomerID, ds[0].DecidedAt
	sh := s.shard(cid)
	sh.mu.Lock()
	if requestID != "" {
		key := cid + "\x00" + requestID
		if r, ok := sh.requests[key]; ok && now.Sub(r.at) < RequestTTL {
			sh.mu.Unlock()
			return r.decision, nil
		}
	}
	for i := range ds {
		if ds[i].Counts() && sh.token(cid) != sentToken {
			sh.mu.Unlock()
			return nil, decisioning.ErrConflict
		}
	}
	if requestID != "" {
		first := ds[0]
		sh.requests[cid+"\x00"+requestID] = request{decision: &first, at: now}
	}
	var opened []decisioning.Window
	for i := range ds {
		d := &ds[i]
		if d.Counts() {
			sh.sends[cid] = append(prune(sh.sends[cid], now.Add(-s.lookback)), decisioning.Sent{
				DecisionID: d.ID, Campaign: d.Campaign, Channel: d.Channel, At: d.DecidedAt,
			})
			sh.seq[cid]++
		}
		if d.Open() {
			if sh.open[cid] == nil {
				sh.open[cid] = map[string]decisioning.Window{}
			}
			for _, w := range decisioning.WindowsOf(d) {
				sh.open[cid][decisioning.WindowKey(w.DecisionID, w.Metric)] = w
				opened = append(opened, w)
			}
		}
	}
	if now.Sub(sh.lastSweep) > time.Hour {
		sh.sweep(now, s.lookback)
	}
	sh.mu.Unlock()
	if len(opened) > 0 {
		s.dmu.Lock()
		for _, w := range opened {
			heap.Push(&s.due, dueItem{until: w.RewardUntil, customer: w.CustomerID, key: decisioning.WindowKey(w.DecisionID, w.Metric)})
		}
		s.dmu.Unlock()
	}
	s.enqueue(ledger.Entry{Decisions: append([]decisioning.Decision(nil), ds...)}, ds)
	return nil, nil
}

// token is the customer's Snapshot.SentToken: "" before the first send.
func (sh *shard) token(cid string) string {
	n := sh.seq[cid]
	if n == 0 {
		return ""
	}
	return strconv.FormatUint(n, 10)
}

// prune drops sends before from.
func prune(ms []decisioning.Sent, from time.Time) []decisioning.Sent {
	i := 0
	for i < len(ms) && ms[i].At.Before(from) {
		i++
	}
	return ms[i:]
}

// sweep forgets expired request ids and old sends of the shard.
func (sh *shard) sweep(now time.Time, lookback time.Duration) {
	sh.lastSweep = now
	for k, r := range sh.requests {
		if now.Sub(r.at) >= RequestTTL {
			delete(sh.requests, k)
		}
	}
	for k, ms := range sh.sends {
		if ms = prune(ms, now.Add(-lookback)); len(ms) == 0 {
			delete(sh.sends, k)
			delete(sh.seq, k)
		} else {
			sh.sends[k] = ms
		}
	}
}

// enqueue appends an entry to the ledger queue and the sends of ds to the
// dispatch queue.
func (s *State) enqueue(e ledger.Entry, ds []decisioning.Decision) {
	s.qmu.Lock()
	s.qnext++
	e.ID = strconv.FormatUint(s.qnext, 10)
	s.queue = append(s.queue, queued{entry: e})
	s.qmu.Unlock()
	s.qcond.Broadcast()
	sends := false
	s.dq.mu.Lock()
	for i := range ds {
		if ds[i].Sends() {
			s.dq.push(decisioning.DispatchJob{Decision: ds[i]})
			sends = true
		}
	}
	s.dq.mu.Unlock()
	if sends {
		s.dq.cond.Broadcast()
	}
}

// ReadQueue implements ledger.Queue.
func (s *State) ReadQueue(ctx context.Context, consumer string, count int, minIdle, block time.Duration) ([]ledger.Entry, error) {
	count = max(count, 1)
	deadline := time.Now().Add(block)
	stop := context.AfterFunc(ctx, func() { s.qcond.Broadcast() })
	defer stop()
	s.qmu.Lock()
	defer s.qmu.Unlock()
	for {
		var out []ledger.Entry
		now := time.Now()
		for id, q := range s.pending {
			if len(out) == count {
				break
			}
			// The consumer's own pending entries (a write that failed is
			// retried at once), and those of consumers gone idle.
			if q.consumer == consumer || now.Sub(q.delivered) >= minIdle {
				q.consumer, q.delivered = consumer, now
				s.pending[id] = q
				out = append(out, q.entry)
			}
		}
		for len(out) < count && len(s.queue) > 0 {
			q := s.queue[0]
			s.queue = s.queue[1:]
			q.consumer, q.delivered = consumer, now
			s.pending[q.entry.ID] = q
			out = append(out, q.entry)
		}
		if len(out) > 0 || block <= 0 || !now.Before(deadline) || ctx.Err() != nil {
			return out, ctx.Err()
		}
		t := time.AfterFunc(deadline.Sub(now), func() { s.qcond.Broadcast() })
		s.qcond.Wait()
		t.Stop()
	}
}

// AckQueue implements ledger.Queue.
func (s *State) AckQueue(ctx context.Context, ids ...string) error {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	for _, id := range ids {
		delete(s.pending, id)
	}
	return nil
}

// DeadLetter implements ledger.Queue.
func (s *State) DeadLetter(ctx context.Context, id string, raw []byte, reason string) error {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	delete(s.pending, id)
	s.dead = append(s.dead, DeadEntry{ID: id, Raw: raw, Reason: reason})
	return nil
}

// DeadLetters returns the entries the ledger refused.
func (s *State) DeadLetters() []DeadEntry {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return append([]DeadEntry(nil), s.dead...)
}

// QueueLen implements ledger.Queue.
func (s *State) QueueLen(ctx context.Context) (int64, error) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return int64(len(s.queue) + len(s.pending)), nil
}

// LoadPolicies implements decisioning.PolicyStore.
func (s *State) LoadPolicies(ctx context.Context, campaigns []string) (map[string]*bandit.State, error) {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	out := map[string]*bandit.State{}
	for _, c := range campaigns {
		if raw, ok := s.policies[c]; ok {
			st := new(bandit.State)
			if err := json.Unmarshal(raw, st); err != nil {
				return nil, fmt.Errorf("memstate: policy %s: %w", c, err)
			}
			out[c] = st
		}
	}
	return out, nil
}

// UpdatePolicy implements decisioning.PolicyStore. The state is kept
// encoded, as in Redis, so that a policy read never shares memory with one
// being updated.
func (s *State) UpdatePolicy(ctx context.Context, campaign string, fn func(*bandit.State) (*bandit.State, error)) error {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	var cur *bandit.State
	if raw, ok := s.policies[campaign]; ok {
		cur = new(bandit.State)
		if err := json.Unmarshal(raw, cur); err != nil {
			return fmt.Errorf("memstate: policy %s: %w", campaign, err)
		}
	}
	next, err := fn(cur)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("memstate: policy %s: %w", campaign, err)
	}
	s.policies[campaign] = raw
	return nil
}

// OpenWindows implements decisioning.Windows.
func (s *State) OpenWindows(ctx context.Context, customerIDs []string) (map[string][]decisioning.Window, error) {
	out := map[string][]decisioning.Window{}
	for _, cid := range customerIDs {
		sh := s.shard(cid)
		sh.mu.Lock()
		for _, w := range sh.open[cid] {
			out[cid] = append(out[cid], w)
		}
		sh.mu.Unlock()
	}
	return out, ctx.Err()
}

// DueWindows implements decisioning.Windows.
func (s *State) DueWindows(ctx context.Context, now time.Time, n int) ([]decisioning.Window, error) {
	var out []decisioning.Window
	s.dmu.Lock()
	defer s.dmu.Unlock()
	var keep []dueItem
	for len(s.due) > 0 && len(out) < n && s.due[0].until.Before(now) {
		it := heap.Pop(&s.due).(dueItem)
		sh := s.shard(it.customer)
		sh.mu.Lock()
		w, ok := sh.open[it.customer][it.key]
		sh.mu.Unlock()
		if ok {
			out = append(out, w)
			keep = append(keep, it) // stays due until closed
		}
	}
	for _, it := range keep {
		heap.Push(&s.due, it)
	}
	return out, ctx.Err()
}

// CloseWindows implements decisioning.Windows.
func (s *State) CloseWindows(ctx context.Context, rewards []decisioning.Reward) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	closed := make([]bool, len(rewards))
	var queued []decisioning.Reward
	for i, r := range rewards {
		sh := s.shard(r.CustomerID)
		sh.mu.Lock()
		key := decisioning.WindowKey(r.DecisionID, r.Metric)
		if _, ok := sh.open[r.CustomerID][key]; ok {
			delete(sh.open[r.CustomerID], key)
			if len(sh.open[r.CustomerID]) == 0 {
				delete(sh.open, r.CustomerID)
			}
			closed[i] = true
			queued = append(queued, r)
		}
		sh.mu.Unlock()
	}
	if len(queued) > 0 {
		s.enqueue(ledger.Entry{Rewards: queued}, nil)
	}
	return closed, nil
}

type dueItem struct {
	until    time.Time
	customer string
	key      string // decisioning.WindowKey
}

type dueHeap []dueItem

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueItem)) }
func (h *dueHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
