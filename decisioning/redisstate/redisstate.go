// Package redisstate keeps the decision state in Redis beside the feature
// store (features/redisstore), shared by every Kairos instance: recent
// sends, request ids, open reward and metric windows, the campaigns'
// policy state, the ledger and dispatch queues, and the trigger timers.
// It must not import decisioning/memstate.
//
// # Keys
//
// Per customer, in the customer's hash slot (redisstore.CustomerKey):
//
//	ms          sends counted by caps and cooldowns: a sorted set of
//	            binary decisioning.Sent scored by send time (ms); trimmed to
//	            the lookback window and expiring after it
//	mc          the number of sends ever added (expiring with ms): the token
//	            with which Commit detects a send made since Load
//	r:<request> the decision returned to a request id (binary), expiring after
//	            RequestTTL
//	o           open windows: a hash of window key → binary
//	            decisioning.Window, where the key is decisioning.WindowKey:
//	            the decision id for its reward window, the decision id, a
//	            unit separator (0x1f) and the metric's name for each of its
//	            metric windows
//	u           unreachable channels: a hash of channel → the address the
//	            provider refused for good (decisioning.DispatchBounced)
//	d:<id>      the dispatch attempts of a SEND decision: a hash with s
//	            (sending, retry, interrupted, done), a (attempts started),
//	            l (the lease of the attempt in flight, ms), r (retry time,
//	            ms), x (final status); kept 7 days once settled
//	t           the customer's trigger timers: a hash of timer ID →
//	            campaign, the index of CancelTimers and PendingTimers (the
//	            timers are in kairos:timers:data); deleted with its last
//	            timer
//	trig        the trigger state: journeys and condition flags (triggers.go)
//	journal     the steps of the customer's triggered journeys, for explain
//	            (triggers.go)
//
// Records are in the binary encodings of package decisioning (Decision,
// Sent, Window, Reward: MarshalBinary) and ledger.Entry; the policy state
// is JSON. Shared:
//
//	kairos:ledger          the ledger queue: a stream, one entry per commit
//	                       (field e: binary ledger.Entry), read by the ledger
//	                       drainers through the consumer group "ledger" and
//	                       deleted once the ledger holds it — never trimmed,
//	                       so a Postgres outage only grows it
//	kairos:ledger:dead     ledger entries the ledger refused or that could not
//	                       be decoded (fields id, reason, e), for inspection
//	kairos:dispatch        the dispatch queue: a stream of SEND decisions
//	                       (field d: binary decisioning.Decision) read by the
//	                       dispatchers through the consumer group "dispatch",
//	                       an entry deleted when its attempt settles; never
//	                       trimmed (a trimmed entry would be a lost message),
//	                       so a stopped dispatcher only grows it
//	kairos:dispatch:later  messages waiting for a time (quiet hours, retry
//	                       backoff): a sorted set of the same records scored
//	                       by due time (ms), moved back into the stream when due
//	kairos:dispatch:dead   dead-lettered messages (field r: JSON
//	                       decisioning.DeadDispatch), capped at 100,000
//	kairos:dispatch:stats  settled attempts: a hash of "channel/status" → count
//	kairos:rate:<channel>  a channel's shared rate limit (Reserve): the
//	                       theoretical arrival time of its next slot (µs)
//	kairos:due             open windows by end time: a sorted set of
//	                       JSON [customer, window key] scored by RewardUntil
//	                       (ms); the key of a reward window is its decision id
//	kairos:policy:<name>   a campaign's policy: a hash with v (update count)
//	                       and s (JSON bandit.State)
//	kairos:timers          trigger timers by time: a sorted set of timer IDs
//	                       scored by Due (ms) while no watcher holds them, by
//	                       the end of the lease (ms, Redis's clock) while one
//	                       does
//	kairos:timers:data     the timers: a hash of timer ID → binary record
//	                       (customer, campaign, Due, SetAt and event id,
//	                       times in ms)
//	kairos:timers:lease    the leases: a hash of timer ID → the token of the
//	                       last claim, from the first claim until the timer
//	                       is done or cancelled
//
// # Round trips and atomicity
//
// Load is one pipeline: the feature store's Profile commands, the sends
// and the request id. Commit is one Lua script: it checks and sets the
// request id, appends to the ledger queue, adds sends, opens windows and
// queues dispatches, all or nothing — so an acknowledged decision is in the
// ledger queue (Redis's own durability applies: run it with appendonly yes
// and appendfsync everysec or always). CloseWindows is one script per
// batch: an HDEL that succeeds is the one close of a window, and its reward
// goes to the ledger queue in the same script. The dispatch queue's Begin
// and Settle are one script each: Begin leases an attempt (a compare and
// set on d:<id>), Settle checks that lease and records the attempt's
// result, its ledger record, its effect on the caps and the removal of the
// job together, so a message is never sent by two dispatchers and its
// result is never half recorded. The trigger timers' SetTimers,
// CancelTimers, ClaimDue, DoneTimers and PendingTimers are one script each:
// ClaimDue judges Due by the caller's now and the end of a lease by
// Redis's clock (TIME), and moves a timer it claims to its lease end in
// kairos:timers with its token in kairos:timers:lease, so two live leases
// never hold one timer and a lease that ends leaves the timer due again;
// DoneTimers removes a timer only while its lease has the caller's token.
//
// Commit touches the customer's keys and the shared streams in one script,
// so, like Track, it needs standalone Redis (or a Sentinel-managed
// primary), not Redis Cluster. So do the timer scripts: SetTimers,
// CancelTimers, DoneTimers and PendingTimers touch a customer's index and
// the shared timer keys together, and the three shared timer keys are in
// different slots.
package redisstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"kairos/decisioning"
	"kairos/decisioning/bandit"
	"kairos/features/redisstore"
	"kairos/ledger"
)

// Stream and key names.
const (
	LedgerStream   = "kairos:ledger"
	DeadStream     = "kairos:ledger:dead"
	DispatchStream = "kairos:dispatch"
	DueKey         = "kairos:due"
	policyPrefix   = "kairos:policy:"
	ledgerGroup    = "ledger"
)

// RequestTTL is how long a request id is remembered.
const RequestTTL = 24 * time.Hour

// Options configures a State.
type Options struct {
	// Lookback is how long sends are kept: the longest cap window or
	// cooldown (at least a day).
	Lookback time.Duration
	// Logger receives what the queue cannot deliver (undecodable or
	// newer-format entries); nothing is logged when nil.
	Logger *slog.Logger
}

// State is the Redis decisioning.State, PolicyStore, Windows and Timers,
// and the ledger.Queue of what it records.
type State struct {
	feats    *redisstore.Store
	client   redis.UniversalClient
	lookback time.Duration
	log      *slog.Logger
	commit   *redis.Script
	close    *redis.Script
	cas      *redis.Script
	// The consumer groups of the ledger and dispatch queues.
	lgroup, dgroup group

	cursorMu    sync.Mutex
	claimCursor string // where the next XAUTOCLAIM of the dispatch queue starts
}

var (
	_ decisioning.State       = (*State)(nil)
	_ decisioning.PolicyStore = (*State)(nil)
	_ decisioning.Windows     = (*State)(nil)
	_ ledger.Queue            = (*State)(nil)
)

// New returns a State on the feature store's Redis.
func New(feats *redisstore.Store, opts Options) *State {
	s := &State{
		feats: feats, client: feats.Client(), lookback: max(opts.Lookback, 24*time.Hour),
		commit: redis.NewScript(commitLua), close: redis.NewScript(closeLua), cas: redis.NewScript(casLua),
	}
	s.lgroup.stream, s.lgroup.name = LedgerStream, ledgerGroup
	s.dgroup.stream, s.dgroup.name = DispatchStream, dispatchGroup
	s.log = opts.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "redisstate")
	return s
}

func (s *State) fail(ctx context.Context, op string, err error) error {
	return s.feats.Fail(ctx, "redisstate: "+op, err)
}

// Load implements decisioning.State: one pipeline.
func (s *State) Load(ctx context.Context, customerID, requestID string, now, since time.Time) (decisioning.Snapshot, error) {
	pipe := s.client.Pipeline()
	var prior *redis.StringCmd
	if requestID != "" {
		prior = pipe.Get(ctx, redisstore.CustomerKey(customerID, "r:"+requestID))
	}
	sendsKey := redisstore.CustomerKey(customerID, "ms")
	sends := pipe.ZRangeByScore(ctx, sendsKey, &redis.ZRangeBy{
		Min: strconv.FormatInt(since.UnixMilli(), 10), Max: "+inf",
	})
	// The customer's send counter: Commit compares it, as the script sees
	// it, with this token.
	counter := pipe.Get(ctx, redisstore.CustomerKey(customerID, "mc"))
	unreachable := pipe.HGetAll(ctx, redisstore.CustomerKey(customerID, "u"))
	profile := s.feats.QueueProfile(ctx, pipe, customerID, now)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return decisioning.Snapshot{}, s.fail(ctx, "load", err)
	}
	var snap decisioning.Snapshot
	if prior != nil {
		switch raw, err := prior.Bytes(); {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return snap, s.fail(ctx, "load", err)
		default:
			snap.Prior = new(decisioning.Decision)
			if err := snap.Prior.UnmarshalBinary(raw); err != nil {
				return snap, fmt.Errorf("redisstate: load %q: decode prior decision: %w", customerID, err)
			}
			return snap, nil
		}
	}
	raw, err := sends.Result()
	if err != nil {
		return snap, s.fail(ctx, "load", err)
	}
	snap.SentToken = counter.Val() // "" when no send was ever counted
	if u := unreachable.Val(); len(u) > 0 {
		snap.Unreachable = u
	}
	snap.Sent = make([]decisioning.Sent, len(raw))
	for i, r := range raw {
		if err := snap.Sent[i].UnmarshalBinary([]byte(r)); err != nil {
			return snap, fmt.Errorf("redisstate: load %q: decode send: %w", customerID, err)
		}
	}
	if snap.Profile, err = profile(); err != nil {
		return snap, err
	}
	return snap, nil
}

// commitLua records one request's decisions (see Commit).
//
// KEYS: 1 request key, 2 sends, 3 open windows, 4 ledger stream,
// 5 dispatch stream, 6 due set, 7 send counter.
// ARGV: 1 "1" when there is a request id, 2 response, 3 request TTL (ms),
// 4 ledger entry, 5 prune sends before (ms), 6 sends TTL (ms), 7 the sent
// token Load saw (the send counter, "" for none), 8 number of sends
// n, then n × (score, member, dispatch record: empty for a shadow send),
// then m × (window key, window, until ms, due member): the reward window
// and the metric windows of each Open decision. A send counter that
// changed since Load fails the script with KAIROS_CONFLICT before anything
// is written.
const commitLua = `#!lua
if ARGV[1] == '1' then
  local prior = redis.call('GET', KEYS[1])
  if prior then return prior end
end
local n = tonumber(ARGV[8])
if n > 0 then
  if (redis.call('GET', KEYS[7]) or '') ~= ARGV[7] then return redis.error_reply('KAIROS_CONFLICT') end
  redis.call('INCRBY', KEYS[7], n)
  redis.call('PEXPIRE', KEYS[7], ARGV[6])
end
if ARGV[1] == '1' then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
redis.call('XADD', KEYS[4], '*', 'e', ARGV[4])
local i = 9
for _ = 1, n do
  redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i+1])
  if ARGV[i+2] ~= '' then redis.call('XADD', KEYS[5], '*', 'd', ARGV[i+2]) end
  i = i + 3
end
if n > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
while i <= #ARGV do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i+1])
  redis.call('ZADD', KEYS[6], ARGV[i+2], ARGV[i+3])
  i = i + 4
end
return false
`

// Commit implements decisioning.State: one script.
func (s *State) Commit(ctx context.Context, requestID, sentToken string, ds []decisioning.Decision) (*decisioning.Decision, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	cid, now := ds[0].CustomerID, ds[0].DecidedAt
	// Each decision is encoded once: the ledger entry frames them all, the
	// request key and the dispatch queue reuse the same bytes.
	recs := make([][]byte, len(ds))
	entry := append(make([]byte, 0, 2048*len(ds)), ledger.EntryHeader...)
	for i := range ds {
		rec, err := ds[i].AppendBinary(make([]byte, 0, 2048))
		if err != nil {
			return nil, fmt.Errorf("redisstate: commit: %w", err)
		}
		recs[i] = rec
		entry = ledger.AppendFramed(entry, rec)
	}
	resp := recs[0]
	hasReq := "0"
	reqKey := redisstore.CustomerKey(cid, "r:")
	if requestID != "" {
		hasReq, reqKey = "1", redisstore.CustomerKey(cid, "r:"+requestID)
	}
	keys := []string{reqKey, redisstore.CustomerKey(cid, "ms"), redisstore.CustomerKey(cid, "o"), LedgerStream, DispatchStream, DueKey,
		redisstore.CustomerKey(cid, "mc")}
	args := []any{hasReq, resp, RequestTTL.Milliseconds(), entry,
		now.Add(-s.lookback).UnixMilli(), s.lookback.Milliseconds(), sentToken, 0}
	n := 0
	for i := range ds {
		d := &ds[i]
		if !d.Counts() {
			continue
		}
		sent, err := (&decisioning.Sent{DecisionID: d.ID, Campaign: d.Campaign, Channel: d.Channel, At: d.DecidedAt}).MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("redisstate: commit: %w", err)
		}
		var job []byte // a shadow send is counted, not dispatched
		if d.Sends() {
			job = recs[i]
		}
		args = append(args, d.DecidedAt.UnixMilli(), sent, job)
		n++
	}
	args[7] = n
	for i := range ds {
		d := &ds[i]
		if !d.Open() {
			continue
		}
		for _, win := range decisioning.WindowsOf(d) {
			w, err := win.MarshalBinary()
			if err != nil {
				return nil, fmt.Errorf("redisstate: commit: %w", err)
			}
			key := decisioning.WindowKey(win.DecisionID, win.Metric)
			member, _ := json.Marshal([2]string{d.CustomerID, key})
			args = append(args, key, w, win.RewardUntil.UnixMilli(), member)
		}
	}
	raw, err := s.commit.Run(ctx, s.client, keys, args...).Text()
	var rerr redis.Error
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil
	case errors.As(err, &rerr) && strings.Contains(rerr.Error(), "KAIROS_CONFLICT"):
		return nil, decisioning.ErrConflict
	case err != nil:
		return nil, s.fail(ctx, "commit", err)
	}
	prior := new(decisioning.Decision)
	if err := prior.UnmarshalBinary([]byte(raw)); err != nil {
		return nil, fmt.Errorf("redisstate: commit %q: decode prior decision: %w", cid, err)
	}
	return prior, nil
}

// group is a consumer group this State reads, created once per State; a
// read that finds it gone (NOGROUP: the stream was deleted) clears ok so
// that the next read creates it again.
type group struct {
	stream, name string
	ok           atomic.Bool
}

// ensure creates the group (and the stream) unless it was.
func (g *group) ensure(ctx context.Context, s *State) error {
	if g.ok.Load() {
		return nil
	}
	err := s.client.XGroupCreateMkStream(ctx, g.stream, g.name, "0").Err()
	if err != nil && !isBusyGroup(err) {
		return s.fail(ctx, "create consumer group "+g.name, err)
	}
	g.ok.Store(true)
	return nil
}

// gone reports an error saying the group no longer exists, and forgets it.
func (g *group) gone(err error) bool {
	if isNoGroup(err) {
		g.ok.Store(false)
		return true
	}
	return false
}

func isNoGroup(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "NOGROUP")
}

func isBusyGroup(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "BUSYGROUP")
}

// ReadQueue implements ledger.Queue.
func (s *State) ReadQueue(ctx context.Context, consumer string, count int, minIdle, block time.Duration) ([]ledger.Entry, error) {
	if err := s.lgroup.ensure(ctx, s); err != nil {
		return nil, err
	}
	count = max(count, 1)
	// First the consumer's own pending entries (a write that failed is
	// retried at once), then those of consumers gone idle, then new ones.
	own, err := s.client.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: ledgerGroup, Consumer: consumer, Streams: []string{LedgerStream, "0"}, Count: int64(count), Block: -1,
	}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		s.lgroup.gone(err)
		return nil, s.fail(ctx, "read pending ledger queue", err)
	}
	var msgs []redis.XMessage
	for _, st := range own {
		msgs = append(msgs, st.Messages...)
	}
	if len(msgs) == 0 {
		msgs, _, err = s.client.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: LedgerStream, Group: ledgerGroup, Consumer: consumer, MinIdle: minIdle, Start: "0-0", Count: int64(count),
		}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, s.fail(ctx, "claim ledger queue", err)
		}
	}
	if len(msgs) == 0 {
		args := &redis.XReadGroupArgs{Group: ledgerGroup, Consumer: consumer, Streams: []string{LedgerStream, ">"}, Count: int64(count), Block: block}
		if block <= 0 {
			args.Block = -1
		}
		res, err := s.client.XReadGroup(ctx, args).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, s.fail(ctx, "read ledger queue", err)
		}
		for _, st := range res {
			msgs = append(msgs, st.Messages...)
		}
	}
	out := make([]ledger.Entry, 0, len(msgs))
	for _, m := range msgs {
		raw, _ := m.Values["e"].(string)
		var e ledger.Entry
		if err := e.UnmarshalBinary([]byte(raw)); err != nil {
			if errors.Is(err, decisioning.ErrNewerEncoding) {
				// A newer Kairos (a rolling upgrade) wrote it: leave it
				// pending for an instance that reads it.
				s.log.Warn("ledger queue entry written by a newer Kairos; leaving it to an upgraded instance", "entry", m.ID, "err", err)
				continue
			}
			// Damaged: set it aside rather than fail every read after it.
			s.log.Error("undecodable ledger queue entry moved to the dead-letter stream", "entry", m.ID, "err", err, "stream", DeadStream)
			if derr := s.DeadLetter(ctx, m.ID, []byte(raw), "cannot decode: "+err.Error()); derr != nil {
				return nil, derr
			}
			continue
		}
		e.ID = m.ID
		out = append(out, e)
	}
	return out, nil
}

// DeadLetter implements ledger.Queue: the entry moves to the stream
// kairos:ledger:dead (fields id, reason, e) in one transaction.
func (s *State) DeadLetter(ctx context.Context, id string, raw []byte, reason string) error {
	pipe := s.client.TxPipeline()
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: DeadStream, Values: []any{"id", id, "reason", reason, "e", raw}})
	pipe.XAck(ctx, LedgerStream, ledgerGroup, id)
	pipe.XDel(ctx, LedgerStream, id)
	if _, err := pipe.Exec(ctx); err != nil {
		return s.fail(ctx, "dead-letter ledger entry", err)
	}
	return nil
}

// AckQueue implements ledger.Queue: the entries are acknowledged and
// deleted in one round trip.
func (s *State) AckQueue(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	pipe := s.client.TxPipeline()
	pipe.XAck(ctx, LedgerStream, ledgerGroup, ids...)
	pipe.XDel(ctx, LedgerStream, ids...)
	if _, err := pipe.Exec(ctx); err != nil {
		return s.fail(ctx, "ack ledger queue", err)
	}
	return nil
}

// QueueLen implements ledger.Queue: the entries not yet deleted.
func (s *State) QueueLen(ctx context.Context) (int64, error) {
	n, err := s.client.XLen(ctx, LedgerStream).Result()
	if err != nil {
		return 0, s.fail(ctx, "ledger queue length", err)
	}
	return n, nil
}

// DispatchLen returns the length of the dispatch stream.
func (s *State) DispatchLen(ctx context.Context) (int64, error) {
	n, err := s.client.XLen(ctx, DispatchStream).Result()
	if err != nil {
		return 0, s.fail(ctx, "dispatch queue length", err)
	}
	return n, nil
}

// LoadPolicies implements decisioning.PolicyStore: one pipeline.
func (s *State) LoadPolicies(ctx context.Context, campaigns []string) (map[string]*bandit.State, error) {
	pipe := s.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(campaigns))
	for i, c := range campaigns {
		cmds[i] = pipe.HGet(ctx, policyPrefix+c, "s")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, s.fail(ctx, "load policies", err)
	}
	out := map[string]*bandit.State{}
	for i, c := range campaigns {
		raw, err := cmds[i].Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, s.fail(ctx, "load policies", err)
		}
		st := new(bandit.State)
		if err := json.Unmarshal(raw, st); err != nil {
			return nil, fmt.Errorf("redisstate: policy %s: %w", c, err)
		}
		out[c] = st
	}
	return out, nil
}

// casLua sets the policy hash KEYS[1] to state ARGV[2] with version
// ARGV[1]+1 when its version is still ARGV[1]; it returns 1 when it did.
const casLua = `#!lua
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', v + 1, 's', ARGV[2])
return 1
`

// UpdatePolicy implements decisioning.PolicyStore with optimistic
// concurrency: read the version and state, apply fn, write when the
// version is unchanged, else try again (up to 20 times).
func (s *State) UpdatePolicy(ctx context.Context, campaign string, fn func(*bandit.State) (*bandit.State, error)) error {
	key := policyPrefix + campaign
	for range 20 {
		vals, err := s.client.HMGet(ctx, key, "v", "s").Result()
		if err != nil {
			return s.fail(ctx, "update policy", err)
		}
		var version int64
		var cur *bandit.State
		if v, ok := vals[0].(string); ok {
			version, _ = strconv.ParseInt(v, 10, 64)
		}
		if raw, ok := vals[1].(string); ok {
			cur = new(bandit.State)
			if err := json.Unmarshal([]byte(raw), cur); err != nil {
				return fmt.Errorf("redisstate: policy %s: %w", campaign, err)
			}
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		raw, err := json.Marshal(next)
		if err != nil {
			return fmt.Errorf("redisstate: policy %s: %w", campaign, err)
		}
		ok, err := s.cas.Run(ctx, s.client, []string{key}, version, raw).Int()
		if err != nil {
			return s.fail(ctx, "update policy", err)
		}
		if ok == 1 {
			return nil
		}
	}
	return fmt.Errorf("redisstate: update policy %s: too many concurrent updates", campaign)
}

// OpenWindows implements decisioning.Windows: one pipeline.
func (s *State) OpenWindows(ctx context.Context, customerIDs []string) (map[string][]decisioning.Window, error) {
	pipe := s.client.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(customerIDs))
	for i, c := range customerIDs {
		cmds[i] = pipe.HGetAll(ctx, redisstore.CustomerKey(c, "o"))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, s.fail(ctx, "open windows", err)
	}
	out := map[string][]decisioning.Window{}
	for i, c := range customerIDs {
		for id, raw := range cmds[i].Val() {
			var w decisioning.Window
			if err := w.UnmarshalBinary([]byte(raw)); err != nil {
				return nil, fmt.Errorf("redisstate: window %s of %q: %w", id, c, err)
			}
			out[c] = append(out[c], w)
		}
	}
	return out, nil
}

// DueWindows implements decisioning.Windows.
func (s *State) DueWindows(ctx context.Context, now time.Time, n int) ([]decisioning.Window, error) {
	members, err := s.client.ZRangeByScore(ctx, DueKey, &redis.ZRangeBy{
		Min: "-inf", Max: "(" + strconv.FormatInt(now.UnixMilli(), 10), Count: int64(n),
	}).Result()
	if err != nil {
		return nil, s.fail(ctx, "due windows", err)
	}
	if len(members) == 0 {
		return nil, nil
	}
	pipe := s.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(members))
	for i, m := range members {
		var ref [2]string
		if err := json.Unmarshal([]byte(m), &ref); err != nil {
			return nil, fmt.Errorf("redisstate: due member %q: %w", m, err)
		}
		cmds[i] = pipe.HGet(ctx, redisstore.CustomerKey(ref[0], "o"), ref[1])
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, s.fail(ctx, "due windows", err)
	}
	var out []decisioning.Window
	var gone []any
	for i, c := range cmds {
		raw, err := c.Bytes()
		if errors.Is(err, redis.Nil) {
			gone = append(gone, members[i]) // closed by a conversion
			continue
		}
		if err != nil {
			return nil, s.fail(ctx, "due windows", err)
		}
		var w decisioning.Window
		if err := w.UnmarshalBinary(raw); err != nil {
			return nil, fmt.Errorf("redisstate: due window: %w", err)
		}
		out = append(out, w)
	}
	if len(gone) > 0 {
		if err := s.client.ZRem(ctx, DueKey, gone...).Err(); err != nil {
			return nil, s.fail(ctx, "due windows", err)
		}
	}
	return out, nil
}

// closeLua closes windows: for each (open key, window key, due member,
// framed binary reward) in ARGV it deletes the window; when that deleted
// it, the reward is kept for the ledger. KEYS: 1 ledger stream, 2 due set. It
// returns one 0/1 per window.
const closeLua = `#!lua
local closed = {}
local rewards = {}
for i = 1, #ARGV, 4 do
  local ok = redis.call('HDEL', ARGV[i], ARGV[i+1])
  redis.call('ZREM', KEYS[2], ARGV[i+2])
  closed[#closed+1] = ok
  if ok == 1 then rewards[#rewards+1] = ARGV[i+3] end
end
if #rewards > 0 then
  redis.call('XADD', KEYS[1], '*', 'e', 'E\1' .. table.concat(rewards))
end
return closed
`

// CloseWindows implements decisioning.Windows: one script for the batch.
func (s *State) CloseWindows(ctx context.Context, rewards []decisioning.Reward) ([]bool, error) {
	if len(rewards) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 4*len(rewards))
	for i := range rewards {
		r := &rewards[i]
		raw, err := r.AppendBinary(nil)
		if err != nil {
			return nil, fmt.Errorf("redisstate: close windows: %w", err)
		}
		raw = ledger.AppendFramed(nil, raw)
		key := decisioning.WindowKey(r.DecisionID, r.Metric)
		member, _ := json.Marshal([2]string{r.CustomerID, key})
		args = append(args, redisstore.CustomerKey(r.CustomerID, "o"), key, member, raw)
	}
	res, err := s.close.Run(ctx, s.client, []string{LedgerStream, DueKey}, args...).Int64Slice()
	if err != nil {
		return nil, s.fail(ctx, "close windows", err)
	}
	closed := make([]bool, len(res))
	for i, v := range res {
		closed[i] = v == 1
	}
	return closed, nil
}
