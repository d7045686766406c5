package redisstore

import (
	"context"
	_ "embed"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"kairos/features"
)

//go:embed track.lua
var trackLua string

// trackSource returns the Track script: a shebang, a generated line of
// constants from package features, then track.lua.
//
// The shebang (Redis 7 script flags, none set) makes Redis refuse the whole
// script before it runs when Redis is out of memory (maxmemory) or a
// read-only replica. Without it, Redis checks memory only at a script's
// first write command, and a write that frees memory (ZREMRANGEBYSCORE)
// lets every later write of the script through.
func trackSource() string {
	return fmt.Sprintf("#!lua\nlocal OP_INCR, OP_ADDFLOAT, OP_MIN, OP_MAX, OP_LAST, OP_KMV, KMV_SIZE = %d, %d, %d, %d, %d, %d, %d\n",
		features.OpIncr, features.OpAddFloat, features.OpMin, features.OpMax, features.OpLast, features.OpKMV,
		features.KMVSize) + trackLua
}

const (
	day = 24 * time.Hour
	// week is the period of one dedup set: an id is remembered for the
	// rest of its arrival week (weeks counted from the Unix epoch) and all
	// of the next, 7 to 14 days.
	week = 7 * day
	// expireNever is the expiry code of a key that has no expiry.
	expireNever = 0
)

// Track appends events to the event log and applies their feature updates,
// in one EVALSHA. See features.Store.
//
// A duplicate event id (earlier in the batch, or accepted for the same
// customer within the dedup horizon: the rest of its arrival week and the
// next, at least 7 days) is
// reported as features.Duplicate and changes nothing. Day numbers come from
// now, not from the Redis clock. If the call fails, nothing is reported as
// accepted; the script is atomic and retrying the batch is safe, though an
// event accepted by a call whose reply was lost is then reported as a
// duplicate.
func (s *Store) Track(ctx context.Context, events []features.Event, now time.Time) ([]features.Status, error) {
	if len(events) == 0 {
		return []features.Status{}, nil
	}
	if len(events) > features.MaxBatch {
		return nil, fmt.Errorf("redisstore: track: batch of %d events exceeds the maximum of %d", len(events), features.MaxBatch)
	}
	b := s.getBatch()
	defer s.putBatch(b)
	b.reset(s.stream, now, len(events), s.logMaxLen)
	for i := range events {
		e := &events[i]
		b.ops = s.set.Plan(b.ops[:0], e, now)
		b.addEvent(e.CustomerID, features.EventHash(e.ID), e, b.ops)
	}
	reply, err := s.runTrack(ctx, b)
	if err != nil {
		return nil, s.fail(ctx, "track", err)
	}
	if len(reply) != len(events) {
		return nil, fmt.Errorf("redisstore: track: script returned %d statuses for %d events", len(reply), len(events))
	}
	st := make([]features.Status, len(events))
	for i := range len(reply) {
		switch reply[i] {
		case '1':
			st[i] = features.Accepted
		case '2':
			st[i] = features.Duplicate
		default:
			return nil, fmt.Errorf("redisstore: track: script returned status %q", reply[i])
		}
	}
	return st, nil
}

// runTrack runs the Track script over b with one EVALSHA, or EVAL when
// Redis lost its script cache (a restart, SCRIPT FLUSH): what
// redis.Script.Run does, but with arguments that need no allocation (see
// argRef).
func (s *Store) runTrack(ctx context.Context, b *batch) (string, error) {
	args := b.finish("evalsha", s.trackSHA)
	res, err := s.client.Do(ctx, args...).Text()
	if err != nil && isNoScript(err) {
		s.log.DebugContext(ctx, "Track script not in the Redis script cache; sending it with EVAL")
		args[0], args[1] = "eval", s.trackSrc
		res, err = s.client.Do(ctx, args...).Text()
	}
	return res, err
}

// argRef is a command argument that is a slice of a batch's buffers. go-redis
// writes any encoding.BinaryMarshaler as a bulk string, and a pointer is
// stored in an interface without allocating, so a batch of any size is sent
// without one allocation per argument.
type argRef struct{ b []byte }

// MarshalBinary returns the argument's bytes.
func (a *argRef) MarshalBinary() ([]byte, error) { return a.b, nil }

// span is a byte range of one of a batch's buffers.
type span struct {
	start, end uint32
	ev         bool // in ebuf, else sbuf
}

type custInfo struct {
	zset, meta uint32 // KEYS indexes
	// merged holds the customer's updates of this batch folded per field
	// in request order (features.Apply), grouped by hash in first-touch
	// order: what the script applies when none of the customer's events is
	// a duplicate, without combining anything itself.
	merged   []mergedKey
	keyIndex map[uint32]int // KEYS index -> position in merged
	// unmergeable is set if one field got two op codes (Plan never does
	// that); the script then takes the per-event path.
	unmergeable bool
}

type mergedKey struct {
	key    uint32 // KEYS index
	fields []mergedField
	index  map[uint32]int // field ARGV index -> position in fields
}

type mergedField struct {
	code  features.OpCode
	field uint32 // ARGV index
	op    features.Op
}

// merge folds op (on KEYS[k], field ARGV[f]) into the customer's merged
// updates.
func (c *custInfo) merge(k, f uint32, op *features.Op) {
	i, ok := c.keyIndex[k]
	if !ok {
		i = len(c.merged)
		c.keyIndex[k] = i
		if i < cap(c.merged) {
			// Reuse the entry (and its slice and map) of an earlier batch.
			c.merged = c.merged[:i+1]
			mk := &c.merged[i]
			mk.key, mk.fields = k, mk.fields[:0]
			if mk.index == nil { // capacity that append left unused
				mk.index = map[uint32]int{}
			}
			clear(mk.index)
		} else {
			c.merged = append(c.merged, mergedKey{key: k, index: map[uint32]int{}})
		}
	}
	mk := &c.merged[i]
	j, ok := mk.index[f]
	if !ok {
		mk.index[f] = len(mk.fields)
		mk.fields = append(mk.fields, mergedField{op.Code, f, *op})
		return
	}
	mf := &mk.fields[j]
	if mf.code != op.Code {
		c.unmergeable = true
		return
	}
	mf.op.Arg = features.Apply(*op, mf.op.Arg, true)
}

type hashKey struct {
	cid string
	key features.Key
}

type keyInfo struct {
	suffix   string
	expireMs int64 // 0: never
}

// batch encodes one run of the Track script. It is reused through the
// store's pool.
//
// KEYS[1] is the event stream; KEYS[2...] are the customers' keys in the
// order the batch first needs them: when a customer first appears, its
// dedup sets of this week and of last week (at consecutive indexes) and its
// meta hash; tile buckets as ops name them. Keys are never repeated.
//
// ARGV:
//
//	[1] approximate MAXLEN of the stream
//	[2] unix ms at which this week's dedup set expires (a day after the end
//	    of next week)
//	[3] now in unix ms (the arg of features.UpdatedOp)
//	[4] features.UpdatedField
//	[5] number of events N
//	[6] expiry table: 3 bytes per key KEYS[2...] in order: the ARGV index of
//	    its PEXPIREAT time, 0 for none
//	[7+3i], [8+3i], [9+3i] for event i (from 0): its ops, its dedup hash
//	    (features.EventHash as a signed 64-bit decimal) and its log record
//	    (features.AppendLogRecord)
//	[7+3N...] a dictionary of the distinct field names, op args and expiry
//	    times the ops and the expiry table refer to;
//	the last C entries, one per customer in order of first appearance: its
//	    merged updates (custInfo.merged), used when none of its events is a
//	    duplicate: 3 bytes dedup set index, 3 bytes meta index, 1 byte
//	    (1: do not use, take the per-event ops), then per hash its KEYS
//	    index and field count (3 bytes each) and per field the OpCode (1
//	    byte), the ARGV index of the field and of the merged arg (3 bytes
//	    each).
//
// The ops of an event are 3 bytes (KEYS index of the customer's dedup set of this week),
// 3 bytes (KEYS index of its meta hash), then 10 bytes per op: the OpCode,
// the KEYS index of the hash, the ARGV index of the field and the ARGV
// index of the arg, each big-endian in 3 bytes. features.MaxBatch keeps
// every index far below 2^24 (an event plans at most two ops per feature).
type batch struct {
	set       *features.Set
	stream    string
	now       time.Time
	week      int64  // week number of now
	n         int    // events planned
	nAdded    int    // events added
	dictBase  int    // ARGV index of the first dictionary entry
	sbuf      []byte // key names, header and dictionary strings
	ebuf      []byte // event ops, hashes and records
	hdr       [6]span
	numKeys   span
	keys      []span   // KEYS[2...]
	expiry    []uint32 // per key: expiry code
	events    []span
	dict      []span
	dictIdx   map[string]uint32
	expIdx    map[int64]uint32
	custs     map[string]*custInfo
	custOrder []*custInfo
	custFree  []*custInfo // reset for reuse by the next batch
	merged    []span
	hkeys     map[hashKey]uint32
	keyInfo   map[features.Key]keyInfo // per Set, kept across batches
	ops       []features.Op
	refs      []argRef
	args      []any
	streamArg any
}

// maxKeptBuffer is the largest buffer a batch keeps for reuse.
const maxKeptBuffer = 1 << 20

func newBatch(set *features.Set) *batch {
	return &batch{
		set:     set,
		dictIdx: map[string]uint32{},
		expIdx:  map[int64]uint32{},
		custs:   map[string]*custInfo{},
		hkeys:   map[hashKey]uint32{},
		keyInfo: map[features.Key]keyInfo{},
	}
}

func (s *Store) getBatch() *batch { return s.batches.Get().(*batch) }

func (s *Store) putBatch(b *batch) {
	if cap(b.sbuf) > maxKeptBuffer || cap(b.ebuf) > maxKeptBuffer {
		return
	}
	clear(b.refs) // drop references to the buffers held by interface values
	clear(b.args)
	s.batches.Put(b)
}

// reset starts a batch of n events at now.
func (b *batch) reset(stream string, now time.Time, n int, maxLen int64) {
	if b.stream != stream || b.streamArg == nil {
		b.streamArg = stream // boxed once, not per batch
	}
	b.stream, b.now, b.n, b.nAdded = stream, now, n, 0
	b.dictBase = 7 + 3*n
	b.sbuf, b.ebuf = b.sbuf[:0], b.ebuf[:0]
	b.keys, b.expiry, b.events, b.dict = b.keys[:0], b.expiry[:0], b.events[:0], b.dict[:0]
	clear(b.dictIdx)
	clear(b.expIdx)
	clear(b.custs)
	for _, c := range b.custOrder {
		c.merged, c.unmergeable = c.merged[:0], false
		clear(c.keyIndex)
		b.custFree = append(b.custFree, c)
	}
	clear(b.custOrder)
	b.custOrder, b.merged = b.custOrder[:0], b.merged[:0]
	clear(b.hkeys)
	if len(b.keyInfo) > 4096 {
		clear(b.keyInfo)
	}

	ms := now.UnixMilli()
	b.week = features.DedupWeek(now)
	b.hdr[0] = b.appendS(strconv.AppendInt(b.sbuf, maxLen, 10))
	// This week's dedup set lives until a day after the end of next week.
	b.hdr[1] = b.appendS(strconv.AppendInt(b.sbuf, (b.week+2)*week.Milliseconds()+day.Milliseconds(), 10))
	b.hdr[2] = b.appendS(strconv.AppendInt(b.sbuf, ms, 10))
	b.hdr[3] = b.appendS(append(b.sbuf, features.UpdatedField...))
	b.hdr[4] = b.appendS(strconv.AppendInt(b.sbuf, int64(n), 10))
	// hdr[5], the expiry table, is written by finish.

}

// appendS records that sbuf grew to next and returns the span of the new bytes.
func (b *batch) appendS(next []byte) span {
	sp := span{start: uint32(len(b.sbuf)), end: uint32(len(next))}
	b.sbuf = next
	return sp
}

// addEvent adds an event of customer cid with dedup hash h and the ops the
// set planned for it. The log record is that of e; a nil e (tests) writes
// an empty object.
func (b *batch) addEvent(cid, h string, e *features.Event, ops []features.Op) {
	c, ok := b.custs[cid]
	if !ok {
		if n := len(b.custFree); n > 0 {
			c, b.custFree = b.custFree[n-1], b.custFree[:n-1]
		} else {
			c = &custInfo{keyIndex: map[uint32]int{}}
		}
		// This week's dedup set, then last week's at the next index.
		c.zset = b.addKey(cid, b.dedupSuffix(b.week), expireNever)
		b.addKey(cid, b.dedupSuffix(b.week-1), expireNever)
		c.meta = b.addKey(cid, features.MetaKey.Suffix(), expireNever)
		b.custs[cid] = c
		b.custOrder = append(b.custOrder, c)
	}
	start := uint32(len(b.ebuf))
	b.ebuf = put3(put3(b.ebuf, c.zset), c.meta)
	for i := range ops {
		op := &ops[i]
		k := c.meta
		if op.Key != features.MetaKey {
			k = b.hashKey(cid, op.Key)
		}
		f := b.word(op.Field)
		b.ebuf = append(b.ebuf, byte(op.Code))
		b.ebuf = put3(b.ebuf, k)
		b.ebuf = put3(b.ebuf, f)
		b.ebuf = put3(b.ebuf, b.word(op.Arg))
		c.merge(k, f, op)
	}
	b.events = append(b.events, span{start, uint32(len(b.ebuf)), true})
	start = uint32(len(b.ebuf))
	// The 8-byte hash as a signed 64-bit decimal: Redis keeps a set of
	// integers as a compact intset.
	b.ebuf = strconv.AppendInt(b.ebuf, int64(binary.BigEndian.Uint64([]byte(h))), 10)
	b.events = append(b.events, span{start, uint32(len(b.ebuf)), true})
	start = uint32(len(b.ebuf))
	if e != nil {
		b.ebuf = features.AppendLogRecord(b.ebuf, e, b.now)
	} else {
		b.ebuf = append(b.ebuf, "{}"...)
	}
	b.events = append(b.events, span{start, uint32(len(b.ebuf)), true})
	b.nAdded++
}

// dedupSuffix names the dedup set of week w: "s" and the week number.
func (b *batch) dedupSuffix(w int64) string {
	return "s" + strconv.FormatInt(w, 10)
}

// hashKey returns the KEYS index of a customer's tile bucket, adding it.
func (b *batch) hashKey(cid string, k features.Key) uint32 {
	hk := hashKey{cid, k}
	if i, ok := b.hkeys[hk]; ok {
		return i
	}
	info, ok := b.keyInfo[k]
	if !ok {
		info.suffix = k.Suffix()
		if t := b.set.ExpireAt(k); !t.IsZero() {
			info.expireMs = t.UnixMilli()
		}
		b.keyInfo[k] = info
	}
	exp := uint32(expireNever)
	if info.expireMs != 0 {
		var ok bool
		if exp, ok = b.expIdx[info.expireMs]; !ok {
			exp = b.addDict(strconv.AppendInt(b.sbuf, info.expireMs, 10))
			b.expIdx[info.expireMs] = exp
		}
	}
	i := b.addKey(cid, info.suffix, exp)
	b.hkeys[hk] = i
	return i
}

// addKey adds customer cid's key with suffix (see appendKey) and returns
// its KEYS index.
func (b *batch) addKey(cid, suffix string, exp uint32) uint32 {
	b.keys = append(b.keys, b.appendS(appendKey(b.sbuf, cid, suffix)))
	b.expiry = append(b.expiry, exp)
	return uint32(len(b.keys) + 1)
}

// word returns the ARGV index of the dictionary entry s, adding it.
func (b *batch) word(s string) uint32 {
	if i, ok := b.dictIdx[s]; ok {
		return i
	}
	i := b.addDict(append(b.sbuf, s...))
	b.dictIdx[s] = i
	return i
}

// addDict adds the bytes appended to sbuf as a dictionary entry and
// returns its ARGV index.
func (b *batch) addDict(next []byte) uint32 {
	b.dict = append(b.dict, b.appendS(next))
	return uint32(b.dictBase + len(b.dict) - 1)
}

// finish encodes the expiry table and returns the command: name, script
// (SHA or source), numkeys, KEYS, ARGV. The result is valid until the batch
// is reused.
func (b *batch) finish(name string, script any) []any {
	if b.nAdded != b.n {
		panic(fmt.Sprintf("redisstore: batch of %d events got %d", b.n, b.nAdded))
	}
	start := uint32(len(b.sbuf))
	for _, e := range b.expiry {
		b.sbuf = put3(b.sbuf, e)
	}
	b.hdr[5] = span{start, uint32(len(b.sbuf)), false}
	b.numKeys = b.appendS(strconv.AppendInt(b.sbuf, int64(len(b.keys)+1), 10))
	// Each customer's merged updates (see custInfo), with the customer's
	// features.UpdatedOp.
	updated := features.UpdatedOp(b.now)
	uf := b.word(updated.Field)
	for _, c := range b.custOrder {
		c.merge(c.meta, uf, &updated)
		start := uint32(len(b.ebuf))
		b.ebuf = put3(put3(b.ebuf, c.zset), c.meta)
		flag := byte(0)
		if c.unmergeable {
			flag = 1
		}
		b.ebuf = append(b.ebuf, flag)
		for _, mk := range c.merged {
			b.ebuf = put3(put3(b.ebuf, mk.key), uint32(len(mk.fields)))
			for _, mf := range mk.fields {
				b.ebuf = append(b.ebuf, byte(mf.code))
				b.ebuf = put3(b.ebuf, mf.field)
				b.ebuf = put3(b.ebuf, b.word(mf.op.Arg))
			}
		}
		b.merged = append(b.merged, span{start, uint32(len(b.ebuf)), true})
	}

	n := 1 + len(b.keys) + len(b.hdr) + len(b.events) + len(b.dict) + len(b.merged)
	if cap(b.refs) < n {
		b.refs = make([]argRef, n)
	}
	b.refs = b.refs[:n]
	b.args = append(b.args[:0], name, script)
	r := 0
	ref := func(sp span) {
		buf := b.sbuf
		if sp.ev {
			buf = b.ebuf
		}
		b.refs[r].b = buf[sp.start:sp.end:sp.end]
		b.args = append(b.args, &b.refs[r])
		r++
	}
	ref(b.numKeys)
	b.args = append(b.args, b.streamArg)
	for _, sp := range b.keys {
		ref(sp)
	}
	for _, sp := range b.hdr {
		ref(sp)
	}
	for _, sp := range b.events {
		ref(sp)
	}
	for _, sp := range b.dict {
		ref(sp)
	}
	for _, sp := range b.merged {
		ref(sp)
	}
	return b.args
}

func put3(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>16), byte(v>>8), byte(v))
}
