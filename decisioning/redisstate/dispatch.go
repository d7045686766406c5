package redisstate

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"kairos/decisioning"
	"kairos/features/redisstore"
	"kairos/ledger"
)

// Keys of the dispatch queue (see the package documentation).
const (
	LaterKey           = "kairos:dispatch:later"
	DispatchDeadStream = "kairos:dispatch:dead"
	dispatchStatsKey   = "kairos:dispatch:stats"
	dispatchGroup      = "dispatch"
)

// Retention of the dispatch keys.
const (
	// attemptTTL keeps a message's attempt state while it is in flight
	// (longer than any quiet-hours wait or retry backoff).
	attemptTTL = 30 * 24 * time.Hour
	// settledTTL keeps a settled message's state, so that a late copy of
	// its job is recognised and dropped.
	settledTTL = 7 * 24 * time.Hour
	// unreachableTTL keeps an unreachable mark (refreshed by every bounce).
	unreachableTTL = 400 * 24 * time.Hour
	// deadMaxLen caps the dead-letter stream (approximately); the ledger
	// keeps every dead letter.
	deadMaxLen = 100_000
)

var _ decisioning.DispatchQueue = (*State)(nil)

// serverNow is the Lua expression of Redis's clock in ms: the scripts
// compare due times and leases with one clock, whatever the skew between
// the instances.
const serverNow = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// promoteLua moves due scheduled jobs back into the dispatch stream.
// KEYS: 1 later set, 2 dispatch stream. ARGV: 1 max jobs.
const promoteLua = `#!lua
` + serverNow + `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[1])
for _, m in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'd', m)
  redis.call('ZREM', KEYS[1], m)
end
return #due
`

// deferLua schedules a job and removes it from the stream.
// KEYS: 1 later set, 2 dispatch stream. ARGV: 1 ref, 2 at (ms), 3 record.
const deferLua = `#!lua
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('XACK', KEYS[2], 'dispatch', ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
return 1
`

// beginLua starts an attempt. The attempt state is a hash: s (status:
// sending, retry, interrupted, done), a (attempts started), l (lease end,
// ms), o (the lease's token), r (retry time, ms), k (the token of the last
// settled lease).
// KEYS: 1 attempt state, 2 dispatch stream, 3 later set. ARGV: 1 ref,
// 2 lease (ms), 3 state TTL (ms), 4 token, 5 record.
// Returns {result, attempt}. A replay of the same call (same token: a
// client retrying after a lost reply) returns what the first returned.
const beginLua = `#!lua
` + serverNow + `
local st = redis.call('HMGET', KEYS[1], 's', 'a', 'l', 'o', 'r')
local s, a = st[1], tonumber(st[2] or '0')
local lease = now + tonumber(ARGV[2])
local function drop()
  redis.call('XACK', KEYS[2], 'dispatch', ARGV[1])
  redis.call('XDEL', KEYS[2], ARGV[1])
end
if s == 'sending' and st[4] == ARGV[4] then return {'begun', a} end
if s == 'done' then
  drop()
  return {'skip', a}
end
if s == 'sending' then
  if tonumber(st[3]) > now then return {'busy', a} end
  -- The lease ended without a result: take it over, to settle it.
  redis.call('HSET', KEYS[1], 'l', lease, 'o', ARGV[4])
  return {'interrupted', a}
end
if s == 'retry' and tonumber(st[5]) > now then
  -- An early copy: the retry waits in the later set; make sure of it.
  redis.call('ZADD', KEYS[3], 'NX', st[5], ARGV[5])
  drop()
  return {'skip', a}
end
a = a + 1
redis.call('HSET', KEYS[1], 's', 'sending', 'a', a, 'l', lease, 'o', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {'begun', a}
`

// settleLua records an attempt's result.
// KEYS: 1 attempt state, 2 dispatch stream, 3 later set, 4 ledger
// stream, 5 sends, 6 send counter, 7 unreachable marks, 8 dead stream,
// 9 stats.
// ARGV: 1 ref, 2 attempt, 3 status, 4 ledger entry, 5 record, 6 retry
// at (ms), 7 the send as decided, 8 the send as sent, 9 sent at (ms),
// 10 channel, 11 unreachable address, 12 dead letter (JSON), 13 stats
// field, 14 sends TTL (ms), 15 settled TTL (ms), 16 release ("1": the
// message leaves the caps), 17 unreachable TTL (ms), 18 dead cap,
// 19 token. A replay (this token settled this attempt already) returns 1
// and changes nothing.
const settleLua = `#!lua
local st = redis.call('HMGET', KEYS[1], 's', 'a', 'o', 'k')
if st[4] == ARGV[19] .. ':' .. ARGV[2] then return 1 end
if st[1] ~= 'sending' or st[2] ~= ARGV[2] or st[3] ~= ARGV[19] then return redis.error_reply('KAIROS_STALE') end
redis.call('HSET', KEYS[1], 'k', ARGV[19] .. ':' .. ARGV[2])
redis.call('XADD', KEYS[4], '*', 'e', ARGV[4])
redis.call('HINCRBY', KEYS[9], ARGV[13], 1)
local status = ARGV[3]
if status == 'interrupted' then
  redis.call('HSET', KEYS[1], 's', 'interrupted')
  return 1
end
if status == 'failed' then
  redis.call('HSET', KEYS[1], 's', 'retry', 'r', ARGV[6])
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[5])
else
  redis.call('HSET', KEYS[1], 's', 'done', 'x', status)
  redis.call('PEXPIRE', KEYS[1], ARGV[15])
  if status == 'sent' then
    redis.call('ZREM', KEYS[5], ARGV[7])
    redis.call('ZADD', KEYS[5], ARGV[9], ARGV[8])
    redis.call('PEXPIRE', KEYS[5], ARGV[14])
    redis.call('INCR', KEYS[6])
    redis.call('PEXPIRE', KEYS[6], ARGV[14])
  elseif ARGV[16] == '1' then
    redis.call('ZREM', KEYS[5], ARGV[7])
  end
  if status == 'bounced' then
    redis.call('HSET', KEYS[7], ARGV[10], ARGV[11])
    redis.call('PEXPIRE', KEYS[7], ARGV[17])
  end
  if status == 'dead' then
    redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[18], '*', 'r', ARGV[12])
  end
end
redis.call('XACK', KEYS[2], 'dispatch', ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
return 1
`

var (
	promoteScript = redis.NewScript(promoteLua)
	deferScript   = redis.NewScript(deferLua)
	beginScript   = redis.NewScript(beginLua)
	settleScript  = redis.NewScript(settleLua)
)

// attemptKey is the attempt state of a decision's message, in its
// customer's slot.
func attemptKey(d *decisioning.Decision) string {
	return redisstore.CustomerKey(d.CustomerID, "d:"+d.ID)
}

// NextDispatches implements decisioning.DispatchQueue: due scheduled jobs
// move back into the stream, then jobs idle longer than claimIdle are
// claimed, then new ones are read.
func (s *State) NextDispatches(ctx context.Context, consumer string, n int, claimIdle, block time.Duration) ([]decisioning.DispatchJob, error) {
	if err := s.dgroup.ensure(ctx, s); err != nil {
		return nil, err
	}
	n = max(n, 1)
	pipe := s.client.Pipeline()
	// Eval, not Run: in a pipeline Run cannot fall back from EVALSHA when
	// Redis does not have the script yet (NOSCRIPT surfaces at Exec).
	promoteScript.Eval(ctx, pipe, []string{LaterKey, DispatchStream}, n)
	// XAUTOCLAIM scans the pending list from a cursor, COUNT entries at a
	// time: keep the cursor, so that every entry is reached in turn.
	s.cursorMu.Lock()
	start := cmp.Or(s.claimCursor, "0-0")
	s.cursorMu.Unlock()
	claim := pipe.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: DispatchStream, Group: dispatchGroup, Consumer: consumer, MinIdle: claimIdle, Start: start, Count: int64(n),
	})
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		if s.dgroup.gone(err) {
			return nil, nil
		}
		return nil, s.fail(ctx, "claim dispatch queue", err)
	}
	msgs, next, _ := claim.Result()
	s.cursorMu.Lock()
	s.claimCursor = next
	s.cursorMu.Unlock()
	if len(msgs) == 0 {
		args := &redis.XReadGroupArgs{Group: dispatchGroup, Consumer: consumer, Streams: []string{DispatchStream, ">"}, Count: int64(n), Block: block}
		if block <= 0 {
			args.Block = -1
		}
		res, err := s.client.XReadGroup(ctx, args).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			if s.dgroup.gone(err) {
				return nil, nil
			}
			return nil, s.fail(ctx, "read dispatch queue", err)
		}
		for _, st := range res {
			msgs = append(msgs, st.Messages...)
		}
	}
	jobs := make([]decisioning.DispatchJob, 0, len(msgs))
	for _, m := range msgs {
		raw, _ := m.Values["d"].(string)
		job := decisioning.DispatchJob{Ref: m.ID, Record: []byte(raw)}
		if err := job.Decision.UnmarshalBinary(job.Record); err != nil {
			if errors.Is(err, decisioning.ErrNewerEncoding) {
				s.log.Warn("dispatch job written by a newer Kairos; leaving it to an upgraded instance", "entry", m.ID, "err", err)
				continue
			}
			s.log.Error("undecodable dispatch job moved to the dead letters", "entry", m.ID, "err", err, "stream", DispatchDeadStream)
			if err := s.deadUndecodable(ctx, m.ID, raw, err); err != nil {
				return nil, err
			}
			continue
		}
		jobs = append(jobs, job)
	}
	return jobs, nil
}

// deadUndecodable sets a damaged job aside.
func (s *State) deadUndecodable(ctx context.Context, ref, raw string, cause error) error {
	rec, _ := json.Marshal(decisioning.DeadDispatch{Error: "cannot decode the job " + ref + ": " + cause.Error(), At: time.Now().UTC()})
	pipe := s.client.TxPipeline()
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: DispatchDeadStream, MaxLen: deadMaxLen, Approx: true, Values: []any{"r", rec, "raw", raw}})
	pipe.XAck(ctx, DispatchStream, dispatchGroup, ref)
	pipe.XDel(ctx, DispatchStream, ref)
	if _, err := pipe.Exec(ctx); err != nil {
		return s.fail(ctx, "dead-letter dispatch job", err)
	}
	return nil
}

// Defer implements decisioning.DispatchQueue.
func (s *State) Defer(ctx context.Context, job *decisioning.DispatchJob, at time.Time) error {
	err := deferScript.Run(ctx, s.client, []string{LaterKey, DispatchStream}, job.Ref, at.UnixMilli(), job.Record).Err()
	if err != nil {
		return s.fail(ctx, "defer dispatch", err)
	}
	return nil
}

// Begin implements decisioning.DispatchQueue. Leases and retry times are
// compared on Redis's clock: the lease runs leaseUntil-now from when the
// script runs.
func (s *State) Begin(ctx context.Context, job *decisioning.DispatchJob, now, leaseUntil time.Time) (decisioning.Begin, error) {
	job.Token = newToken()
	res, err := beginScript.Run(ctx, s.client, []string{attemptKey(&job.Decision), DispatchStream, LaterKey},
		job.Ref, max(leaseUntil.Sub(now).Milliseconds(), 1), attemptTTL.Milliseconds(), job.Token, job.Record).Slice()
	if err != nil {
		return 0, s.fail(ctx, "begin dispatch", err)
	}
	if len(res) != 2 {
		return 0, fmt.Errorf("redisstate: begin dispatch: unexpected reply %v", res)
	}
	job.Attempt = int(res[1].(int64))
	switch res[0] {
	case "begun":
		return decisioning.Begun, nil
	case "skip":
		return decisioning.Skip, nil
	case "busy":
		return decisioning.Busy, nil
	case "interrupted":
		return decisioning.Interrupted, nil
	}
	return 0, fmt.Errorf("redisstate: begin dispatch: unexpected reply %v", res)
}

// newToken returns a random lease token.
func newToken() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Settle implements decisioning.DispatchQueue: one script.
func (s *State) Settle(ctx context.Context, job *decisioning.DispatchJob, st decisioning.Settlement) error {
	d := &job.Decision
	rec := ledger.Dispatch{DecisionID: d.ID, Attempt: job.Attempt, Status: st.Status, Channel: d.Channel,
		ProviderMessageID: st.ProviderID, Error: st.Error, At: st.At}
	entry := ledger.AppendFramed([]byte(ledger.EntryHeader), rec.AppendBinary(nil))
	decided, err := (&decisioning.Sent{DecisionID: d.ID, Campaign: d.Campaign, Channel: d.Channel, At: d.DecidedAt}).MarshalBinary()
	if err != nil {
		return fmt.Errorf("redisstate: settle dispatch: %w", err)
	}
	var sent []byte
	if st.Status == decisioning.DispatchSent {
		if sent, err = (&decisioning.Sent{DecisionID: d.ID, Campaign: d.Campaign, Channel: d.Channel, At: st.At}).MarshalBinary(); err != nil {
			return fmt.Errorf("redisstate: settle dispatch: %w", err)
		}
	}
	var dead []byte
	if st.Status == decisioning.DispatchDead {
		dead, _ = json.Marshal(decisioning.DeadDispatch{DecisionID: d.ID, CustomerID: d.CustomerID, Campaign: d.Campaign,
			Channel: d.Channel, Attempts: job.Attempt, Error: st.Error, At: st.At.UTC()})
	}
	release := "0"
	if decisioning.DispatchReleases(st.Status) {
		release = "1"
	}
	cid := d.CustomerID
	keys := []string{attemptKey(d), DispatchStream, LaterKey, LedgerStream, redisstore.CustomerKey(cid, "ms"),
		redisstore.CustomerKey(cid, "mc"), redisstore.CustomerKey(cid, "u"), DispatchDeadStream, dispatchStatsKey}
	err = settleScript.Run(ctx, s.client, keys,
		job.Ref, job.Attempt, st.Status, entry, job.Record, st.RetryAt.UnixMilli(), decided, sent, st.At.UnixMilli(),
		d.Channel, st.Unreachable, dead, d.Channel+"/"+st.Status, s.lookback.Milliseconds(), settledTTL.Milliseconds(),
		release, unreachableTTL.Milliseconds(), deadMaxLen, job.Token).Err()
	var rerr redis.Error
	switch {
	case errors.As(err, &rerr) && strings.Contains(rerr.Error(), "KAIROS_STALE"):
		return decisioning.ErrStale
	case err != nil:
		return s.fail(ctx, "settle dispatch", err)
	}
	return nil
}

// DispatchStatus implements decisioning.DispatchQueue: one pipeline.
func (s *State) DispatchStatus(ctx context.Context, deadLetters int) (decisioning.DispatchStatus, error) {
	var out decisioning.DispatchStatus
	pipe := s.client.Pipeline()
	length := pipe.XLen(ctx, DispatchStream)
	pending := pipe.XPending(ctx, DispatchStream, dispatchGroup)
	later := pipe.ZCard(ctx, LaterKey)
	first := pipe.ZRangeWithScores(ctx, LaterKey, 0, 0)
	stats := pipe.HGetAll(ctx, dispatchStatsKey)
	nDead := pipe.XLen(ctx, DispatchDeadStream)
	dead := pipe.XRevRangeN(ctx, DispatchDeadStream, "+", "-", int64(max(deadLetters, 0)))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) && !isNoGroup(err) {
		return out, s.fail(ctx, "dispatch status", err)
	}
	if p, err := pending.Result(); err == nil {
		out.InFlight = p.Count
	}
	out.Ready = max(length.Val()-out.InFlight, 0)
	out.Scheduled = later.Val()
	if f := first.Val(); len(f) > 0 {
		out.NextScheduled = time.UnixMilli(int64(f[0].Score)).UTC()
	}
	out.Totals = map[string]map[string]int64{}
	for k, v := range stats.Val() {
		channel, status, _ := strings.Cut(k, "/")
		n, _ := strconv.ParseInt(v, 10, 64)
		if out.Totals[channel] == nil {
			out.Totals[channel] = map[string]int64{}
		}
		out.Totals[channel][status] = n
	}
	out.DeadLetters = nDead.Val()
	if deadLetters > 0 {
		for _, m := range dead.Val() {
			raw, _ := m.Values["r"].(string)
			var dd decisioning.DeadDispatch
			if err := json.Unmarshal([]byte(raw), &dd); err != nil {
				dd.Error = "undecodable dead letter " + m.ID
			}
			out.Dead = append(out.Dead, dd)
		}
	}
	return out, nil
}
