package redisstate

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"kairos/decisioning"
	"kairos/features/redisstore"
)

// Keys of the trigger timers (see the package documentation).
const (
	TimersKey     = "kairos:timers"
	timerDataKey  = "kairos:timers:data"
	timerLeaseKey = "kairos:timers:lease"
	// timerIndex is the suffix of a customer's timer index.
	timerIndex = "t"
)

var _ decisioning.Timers = (*State)(nil)

// luaBatch defines batch(cmd, key, args): one call of cmd on key per
// 1,000 arguments (Lua's unpack has a stack limit), and the results
// concatenated. The scripts call Redis once per batch rather than once per
// timer: a call from Lua costs more than the command's own work.
const luaBatch = `local function batch(cmd, key, args)
  local out = {}
  for i = 1, #args, 1000 do
    local r = redis.call(cmd, key, unpack(args, i, math.min(i + 999, #args)))
    if type(r) == 'table' then
      for _, v in ipairs(r) do out[#out+1] = v end
    end
  end
  return out
end
`

// setTimersLua sets the timers whose ID is not in the records (the first
// of one ID in the batch).
// KEYS: 1 due set, 2 records, then the customer index of each timer.
// ARGV: 4 per timer: id, due (ms), campaign, record. Returns the number
// set.
const setTimersLua = `#!lua
` + luaBatch + `
local n = #KEYS - 2
local ids = {}
for i = 1, n do ids[i] = ARGV[4*i-3] end
local have = batch('HMGET', KEYS[2], ids)
local seen, recs, dues, idx = {}, {}, {}, {}
for i = 1, n do
  local a, id = 4*i-4, ids[i]
  if not have[i] and not seen[id] then
    seen[id] = true
    recs[#recs+1] = id
    recs[#recs+1] = ARGV[a+4]
    dues[#dues+1] = ARGV[a+2]
    dues[#dues+1] = id
    local k = idx[KEYS[2+i]]
    if not k then
      k = {}
      idx[KEYS[2+i]] = k
    end
    k[#k+1] = id
    k[#k+1] = ARGV[a+3]
  end
end
if #recs == 0 then return 0 end
batch('HSET', KEYS[2], recs)
batch('ZADD', KEYS[1], dues)
for key, fields in pairs(idx) do batch('HSET', key, fields) end
return #recs / 2
`

// cancelTimersLua removes a customer's timers of campaign ARGV[1] (every
// campaign when it is empty), leased ones included.
// KEYS: 1 customer index, 2 due set, 3 records, 4 leases. Returns id,
// record, id, record, ...
const cancelTimersLua = `#!lua
` + luaBatch + `
local idx = redis.call('HGETALL', KEYS[1])
local only
if #ARGV > 1 then
  only = {}
  for i = 2, #ARGV do only[ARGV[i]] = true end
end
local ids = {}
for i = 1, #idx, 2 do
  if (ARGV[1] == '' or idx[i+1] == ARGV[1]) and (not only or only[idx[i]]) then ids[#ids+1] = idx[i] end
end
if #ids == 0 then return {} end
local recs = batch('HMGET', KEYS[3], ids)
batch('HDEL', KEYS[1], ids)
batch('ZREM', KEYS[2], ids)
batch('HDEL', KEYS[3], ids)
batch('HDEL', KEYS[4], ids)
local out = {}
for i, id in ipairs(ids) do
  if recs[i] then
    out[#out+1] = id
    out[#out+1] = recs[i]
  end
end
return out
`

// claimTimersLua leases up to n timers: those that no lease holds whose
// score (Due) is at or before the caller's now, and those whose lease
// ended by Redis's clock (a leased timer's score is its lease end), in
// score order. A claimed timer is scored by its new lease end and its
// lease records the token.
//
// The range read is up to the later of the two clocks, and a timer in it
// may not qualify (a live lease when the caller's now runs ahead of
// Redis's clock, a timer not due by the caller's now when it runs
// behind): those are skipped, and at most ARGV[5] candidates are looked
// at. Claimed timers leave the range or move behind the skipped ones, so
// the skipped ones are where the next read starts (a timer read twice is
// skipped the second time: its lease is live).
// KEYS: 1 due set, 2 records, 3 leases. ARGV: 1 now (ms), 2 lease (ms),
// 3 n, 4 token, 5 scan limit. Returns id, record, id, record, ...
const claimTimersLua = `#!lua
` + serverNow + luaBatch + `
local due = tonumber(ARGV[1])
local n = tonumber(ARGV[3])
local limit = tonumber(ARGV[5])
local untilMs = now + tonumber(ARGV[2])
local bound = math.max(due, now)
local out = {}
local claimed, skipped, scanned = 0, 0, 0
while claimed < n and scanned < limit do
  local got = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', bound, 'WITHSCORES', 'LIMIT', skipped, math.min(n - claimed, 1000))
  if #got == 0 then break end
  local ids = {}
  for i = 1, #got, 2 do ids[#ids+1] = got[i] end
  local held = batch('HMGET', KEYS[3], ids)
  local recs = batch('HMGET', KEYS[2], ids)
  local dues, leases, gone = {}, {}, {}
  for i, id in ipairs(ids) do
    local score = tonumber(got[2*i])
    scanned = scanned + 1
    local ok
    if held[i] then ok = score <= now else ok = score <= due end
    if ok and recs[i] then
      dues[#dues+1] = untilMs
      dues[#dues+1] = id
      leases[#leases+1] = id
      leases[#leases+1] = ARGV[4]
      out[#out+1] = id
      out[#out+1] = recs[i]
      claimed = claimed + 1
    elseif ok then
      gone[#gone+1] = id -- no record (never written by these scripts)
    else
      skipped = skipped + 1
    end
  end
  if #dues > 0 then
    batch('ZADD', KEYS[1], dues)
    batch('HSET', KEYS[3], leases)
  end
  if #gone > 0 then
    batch('ZREM', KEYS[1], gone)
    batch('HDEL', KEYS[3], gone)
  end
end
return out
`

// doneTimersLua removes the timers whose lease still has the caller's
// token. KEYS: 1 due set, 2 records, 3 leases, then the customer index of
// each timer. ARGV: 2 per timer: id, token. Returns one 0/1 per timer.
const doneTimersLua = `#!lua
` + luaBatch + `
local n = #KEYS - 3
local ids = {}
for i = 1, n do ids[i] = ARGV[2*i-1] end
local held = batch('HMGET', KEYS[3], ids)
local out, seen, gone, idx = {}, {}, {}, {}
for i = 1, n do
  local id, token = ids[i], ARGV[2*i]
  if token ~= '' and held[i] == token and not seen[id] then
    seen[id] = true
    gone[#gone+1] = id
    local k = idx[KEYS[3+i]]
    if not k then
      k = {}
      idx[KEYS[3+i]] = k
    end
    k[#k+1] = id
    out[i] = 1
  else
    out[i] = 0
  end
end
if #gone > 0 then
  batch('ZREM', KEYS[1], gone)
  batch('HDEL', KEYS[2], gone)
  batch('HDEL', KEYS[3], gone)
  for key, fields in pairs(idx) do batch('HDEL', key, fields) end
end
return out
`

// pendingTimersLua reads a customer's timers. KEYS: 1 customer index,
// 2 records. Returns id, record, id, record, ...
const pendingTimersLua = `#!lua
local ids = redis.call('HKEYS', KEYS[1])
local out = {}
for _, id in ipairs(ids) do
  local rec = redis.call('HGET', KEYS[2], id)
  if rec then
    out[#out+1] = id
    out[#out+1] = rec
  end
end
return out
`

var (
	setTimersScript     = redis.NewScript(setTimersLua)
	cancelTimersScript  = redis.NewScript(cancelTimersLua)
	claimTimersScript   = redis.NewScript(claimTimersLua)
	doneTimersScript    = redis.NewScript(doneTimersLua)
	pendingTimersScript = redis.NewScript(pendingTimersLua)
)

// timerKey is a customer's timer index, in the customer's slot.
func timerKey(customerID string) string { return redisstore.CustomerKey(customerID, timerIndex) }

// SetTimers implements decisioning.Timers: one script for the batch, after
// every timer is validated. Times are kept at millisecond precision.
func (s *State) SetTimers(ctx context.Context, ts []decisioning.Timer) error {
	if len(ts) == 0 {
		return nil
	}
	keys := make([]string, 2, 2+len(ts))
	keys[0], keys[1] = TimersKey, timerDataKey
	args := make([]any, 0, 4*len(ts))
	for i := range ts {
		t := &ts[i]
		if err := decisioning.ValidateTimer(t); err != nil {
			return fmt.Errorf("redisstate: set timers: %w", err)
		}
		keys = append(keys, timerKey(t.CustomerID))
		args = append(args, t.ID, t.Due.UnixMilli(), t.Campaign, appendTimer(nil, t))
	}
	if err := setTimersScript.Run(ctx, s.client, keys, args...).Err(); err != nil {
		return s.fail(ctx, "set timers", err)
	}
	return nil
}

// CancelTimers implements decisioning.Timers: one script. The removed
// timers are returned earliest Due first.
func (s *State) CancelTimers(ctx context.Context, customerID, campaign string, ids ...string) ([]decisioning.Timer, error) {
	args := make([]any, 0, 1+len(ids))
	args = append(args, campaign)
	for _, id := range ids {
		args = append(args, id)
	}
	res, err := cancelTimersScript.Run(ctx, s.client,
		[]string{timerKey(customerID), TimersKey, timerDataKey, timerLeaseKey}, args...).StringSlice()
	if err != nil {
		return nil, s.fail(ctx, "cancel timers", err)
	}
	return s.decodeTimers(res, "cancelled"), nil
}

// claimScan bounds how many candidates one ClaimDue looks at per timer it
// may claim (see claimTimersLua).
const claimScan = 10

// ClaimDue implements decisioning.Timers: one script. Due-ness is judged
// by now, leases by Redis's clock: a lease ends lease after the script
// runs. LeaseUntil is when the call began plus lease, on this process's
// clock: no later than the lease ends, when the clocks agree.
func (s *State) ClaimDue(ctx context.Context, now time.Time, lease time.Duration, n int) ([]decisioning.ClaimedTimer, error) {
	if lease < time.Millisecond {
		return nil, fmt.Errorf("redisstate: claim timers: lease %v is shorter than a millisecond", lease)
	}
	if n <= 0 {
		return nil, nil
	}
	start := time.Now()
	token := newToken()
	res, err := claimTimersScript.Run(ctx, s.client, []string{TimersKey, timerDataKey, timerLeaseKey},
		now.UnixMilli(), lease.Milliseconds(), n, token, max(claimScan*n, 1000)).StringSlice()
	if err != nil {
		return nil, s.fail(ctx, "claim timers", err)
	}
	out := make([]decisioning.ClaimedTimer, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		var c decisioning.ClaimedTimer
		if err := decodeTimer(&c.Timer, res[i], []byte(res[i+1])); err != nil {
			// Left leased: it is claimed again when the lease ends, by an
			// upgraded instance for a newer record.
			s.log.Error("undecodable timer left to its lease", "timer", res[i], "err", err)
			continue
		}
		c.Token, c.LeaseUntil = token, start.Add(lease)
		out = append(out, c)
	}
	return out, nil
}

// DoneTimers implements decisioning.Timers: one script for the batch.
func (s *State) DoneTimers(ctx context.Context, ts []decisioning.ClaimedTimer) ([]bool, error) {
	if len(ts) == 0 {
		return nil, nil
	}
	keys := make([]string, 3, 3+len(ts))
	keys[0], keys[1], keys[2] = TimersKey, timerDataKey, timerLeaseKey
	args := make([]any, 0, 2*len(ts))
	for i := range ts {
		keys = append(keys, timerKey(ts[i].CustomerID))
		args = append(args, ts[i].ID, ts[i].Token)
	}
	res, err := doneTimersScript.Run(ctx, s.client, keys, args...).Int64Slice()
	if err != nil {
		return nil, s.fail(ctx, "done timers", err)
	}
	if len(res) != len(ts) {
		return nil, fmt.Errorf("redisstate: done timers: %d results for %d timers", len(res), len(ts))
	}
	done := make([]bool, len(res))
	for i, v := range res {
		done[i] = v == 1
	}
	return done, nil
}

// PendingTimers implements decisioning.Timers: one script, which only reads.
func (s *State) PendingTimers(ctx context.Context, customerID string) ([]decisioning.Timer, error) {
	res, err := pendingTimersScript.Run(ctx, s.client, []string{timerKey(customerID), timerDataKey}).StringSlice()
	if err != nil {
		return nil, s.fail(ctx, "pending timers", err)
	}
	return s.decodeTimers(res, "pending"), nil
}

// TimerCount implements decisioning.Timers.
func (s *State) TimerCount(ctx context.Context) (int64, error) {
	n, err := s.client.HLen(ctx, timerDataKey).Result()
	if err != nil {
		return 0, s.fail(ctx, "timer count", err)
	}
	return n, nil
}

// decodeTimers decodes id, record pairs earliest Due first; what says
// where they come from for the log of an undecodable one.
func (s *State) decodeTimers(res []string, what string) []decisioning.Timer {
	out := make([]decisioning.Timer, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		var t decisioning.Timer
		if err := decodeTimer(&t, res[i], []byte(res[i+1])); err != nil {
			s.log.Error("undecodable timer", "timer", res[i], "in", what, "err", err)
			continue
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b decisioning.Timer) int {
		return cmp.Or(a.Due.Compare(b.Due), strings.Compare(a.ID, b.ID))
	})
	return out
}

// UsedMemory returns what Redis reports as used_memory (INFO memory):
// the bytes its allocator holds for data and overhead.
func (s *State) UsedMemory(ctx context.Context) (int64, error) {
	info, err := s.client.Info(ctx, "memory").Result()
	if err != nil {
		return 0, s.fail(ctx, "used memory", err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("redisstate: used memory: %w", err)
			}
			return n, nil
		}
	}
	return 0, errors.New("redisstate: used memory: no used_memory in INFO memory")
}

// The timer record of kairos:timers:data: a tag byte 'T' and a version
// byte, then the customer and the campaign (uvarint length and bytes), Due
// in Unix ms (varint), SetAt (a presence byte, then Due-SetAt in ms as a
// varint), and the event id. The ID is the hash field. About 40 bytes
// beside the three strings.
const (
	tagTimer     = 'T'
	timerVersion = 1
)

func appendTimer(b []byte, t *decisioning.Timer) []byte {
	b = append(b, tagTimer, timerVersion)
	b = appendString(b, t.CustomerID)
	b = appendString(b, t.Campaign)
	due := t.Due.UnixMilli()
	b = binary.AppendVarint(b, due)
	if t.SetAt.IsZero() {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendVarint(b, due-t.SetAt.UnixMilli())
	}
	return appendString(b, t.EventID)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errTimerRecord = errors.New("redisstate: truncated or malformed timer record")

// decodeTimer decodes the record of timer id into t.
func decodeTimer(t *decisioning.Timer, id string, b []byte) error {
	if len(b) < 2 || b[0] != tagTimer {
		return errTimerRecord
	}
	if b[1] != timerVersion {
		return fmt.Errorf("redisstate: timer record version %d: %w", b[1], decisioning.ErrNewerEncoding)
	}
	b = b[2:]
	str := func() (string, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return "", false
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s, true
	}
	varint := func() (int64, bool) {
		v, k := binary.Varint(b)
		if k <= 0 {
			return 0, false
		}
		b = b[k:]
		return v, true
	}
	*t = decisioning.Timer{ID: id}
	var ok bool
	if t.CustomerID, ok = str(); !ok {
		return errTimerRecord
	}
	if t.Campaign, ok = str(); !ok {
		return errTimerRecord
	}
	due, ok := varint()
	if !ok || len(b) == 0 {
		return errTimerRecord
	}
	t.Due = time.UnixMilli(due).UTC()
	hasSetAt := b[0]
	b = b[1:]
	switch hasSetAt {
	case 0:
	case 1:
		d, ok := varint()
		if !ok {
			return errTimerRecord
		}
		t.SetAt = time.UnixMilli(due - d).UTC()
	default:
		return errTimerRecord
	}
	if t.EventID, ok = str(); !ok || len(b) != 0 {
		return errTimerRecord
	}
	return nil
}
