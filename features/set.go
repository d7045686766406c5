package features

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// slotKind is what a slot keeps per tile (or for the lifetime).
type slotKind uint8

const (
	sCount slotKind = iota + 1
	sSum
	sMin
	sMax
	sFirstTS
	sLastTS
	sLast
	sKMV
)

// slot is one stored aggregate: per tile of one granularity, or in the meta
// hash for the lifetime. Features with the same slot share its storage.
type slot struct {
	id string // stable: derived from what the slot holds, not its position
	// fields are the field names of the slot's tiles by position in a
	// bucket: id + "." + position.
	fields []string
	gran   int8
	kind   slotKind
	event  string
	where  [][2]string
	field  string
}

type feat struct {
	agg    Agg
	window time.Duration
	slot   int
	ratio  [2]int // feature indexes, for ratios
	isRate bool
}

// Set is a compiled set of feature definitions: it plans the storage updates
// of an event and computes feature vectors from what the stores keep. It is
// immutable and safe for concurrent use.
type Set struct {
	defs     []Definition
	names    []string
	feats    []feat
	slots    []slot
	slotByID map[string]int
	// tileField maps a tile field name to its slot and bucket position.
	tileField map[string]tileRef
	byType    map[string][]int // event type (or AnyEvent) -> slots
	custom    []string
	// retention[g] is how long tiles of granularity g are kept: the longest
	// window read from them plus one tile; 0 when no feature uses g.
	retention [len(granularities)]time.Duration
	// longest is the longest window; older events update nothing online.
	longest time.Duration
}

// UpdatedField is the meta field holding the time (unix ms) a customer's
// data last changed.
const UpdatedField = "u"

func compile(defs []Definition, custom []string, fail func(int, string, ...any) error) (*Set, error) {
	s := &Set{defs: defs, slotByID: map[string]int{}, tileField: map[string]tileRef{}, byType: map[string][]int{}, custom: custom}
	index := map[string]int{}
	for i, d := range defs {
		if _, dup := index[d.Name]; dup {
			return nil, fail(d.Line, "feature %q is defined twice", d.Name)
		}
		index[d.Name] = i
		s.names = append(s.names, d.Name)
	}
	for _, d := range defs {
		f := feat{agg: d.Agg, window: d.Window}
		if d.Ratio[0] != "" {
			f.isRate = true
			for j, ref := range d.Ratio {
				k, ok := index[ref]
				if !ok {
					return nil, fail(d.Line, "feature %q: ratio refers to %q, which is not defined", d.Name, ref)
				}
				if defs[k].Ratio[0] != "" {
					return nil, fail(d.Line, "feature %q: ratio refers to %q, which is itself a ratio", d.Name, ref)
				}
				f.ratio[j] = k
			}
			s.feats = append(s.feats, f)
			continue
		}
		if d.Event != AnyEvent && !slices.Contains(StandardTypes, d.Event) && !slices.Contains(custom, d.Event) {
			return nil, fail(d.Line, "feature %q: unknown event type %q: use a standard type, \"*\", or declare it in custom_events", d.Name, d.Event)
		}
		gran := int8(metaGran)
		kind := map[Agg]slotKind{Count: sCount, Sum: sSum, Min: sMin, Max: sMax, Distinct: sKMV,
			SinceFirst: sFirstTS, SinceLast: sLastTS, Last: sLast}[d.Agg]
		// since_last and last keep one value for the lifetime; the window is
		// applied when reading. The others are tiled when windowed.
		if d.Window > 0 && kind != sLastTS && kind != sLast {
			gran = granIndex(d.Window)
		}
		if d.Window > 0 {
			if gran != metaGran {
				s.retention[gran] = max(s.retention[gran], d.Window+granularities[gran].size)
			}
			s.longest = max(s.longest, d.Window)
		}
		sl := slot{gran: gran, kind: kind, event: d.Event, field: d.Field}
		for k, v := range d.Where {
			sl.where = append(sl.where, [2]string{k, v})
		}
		sort.Slice(sl.where, func(a, b int) bool { return sl.where[a][0] < sl.where[b][0] })
		sl.id = slotID(sl)
		idx, ok := s.slotByID[sl.id]
		if ok && !sameSlot(s.slots[idx], sl) {
			return nil, fail(d.Line, "feature %q: internal storage id collision; rename nothing, report this", d.Name)
		}
		if !ok {
			idx = len(s.slots)
			if gran != metaGran {
				for tib := range granularities[gran].perBucket {
					f := sl.id + "." + strconv.FormatInt(tib, 10)
					sl.fields = append(sl.fields, f)
					s.tileField[f] = tileRef{idx, tib}
				}
			}
			s.slots = append(s.slots, sl)
			s.slotByID[sl.id] = idx
			s.byType[sl.event] = append(s.byType[sl.event], idx)
		}
		f.slot = idx
		s.feats = append(s.feats, f)
	}
	if s.longest == 0 {
		s.longest = MaxWindow
	}
	return s, nil
}

func sameSlot(a, b slot) bool {
	return a.gran == b.gran && a.kind == b.kind && a.event == b.event && a.field == b.field && slices.Equal(a.where, b.where)
}

// slotID derives a short, stable storage id from what a slot holds, so that
// editing or reordering definitions keeps the data of unchanged features.
func slotID(sl slot) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d|%d|%s|%s|", sl.gran, sl.kind, sl.event, sl.field)
	for _, w := range sl.where {
		fmt.Fprintf(h, "%s=%s;", w[0], w[1])
	}
	return "s" + strconv.FormatUint(uint64(h.Sum32()), 36)
}

// Names returns the feature names in definition order.
func (s *Set) Names() []string { return s.names }

// Definitions returns the definitions the set was compiled from.
func (s *Set) Definitions() []Definition { return s.defs }

// Longest is the longest window of the set (90 days when all are lifetime).
// Events older than the start of that window update nothing online.
func (s *Set) Longest() time.Duration { return s.longest }

// KnownType reports whether t is a standard event type or one of the set's
// custom_events.
func (s *Set) KnownType(t string) bool {
	return slices.Contains(StandardTypes, t) || slices.Contains(s.custom, t)
}

// IsLate reports whether an event is too old to update features online:
// its time is before every window of the set (each window starting where the
// tile rule puts it; see the package documentation).
func (s *Set) IsLate(e *Event, now time.Time) bool {
	return e.Time.UnixMilli() < windowStart(now, s.longest)
}

// Plan appends to ops the storage updates of one accepted event. A late
// event plans nothing.
func (s *Set) Plan(ops []Op, e *Event, now time.Time) []Op {
	if s.IsLate(e, now) {
		return ops
	}
	ms := e.Time.UnixMilli()
	msStr := ""
	for _, list := range [2][]int{s.byType[e.Type], s.byType[AnyEvent]} {
		for _, idx := range list {
			sl := &s.slots[idx]
			if !matches(sl.where, e.Properties) {
				continue
			}
			op := Op{Key: MetaKey, Field: sl.id}
			if sl.gran != metaGran {
				if e.Time.Before(now.Add(-s.retention[sl.gran])) {
					continue
				}
				g := &granularities[sl.gran]
				t := floorDiv(ms, g.size.Milliseconds())
				b := floorDiv(t, g.perBucket)
				op.Key = Key{Gran: sl.gran, Bucket: b}
				op.Field = sl.fields[t-b*g.perBucket]
			}
			switch sl.kind {
			case sCount:
				op.Code, op.Arg = OpIncr, "1"
			case sSum, sMin, sMax, sLast:
				v, ok := e.Properties[sl.field].Float()
				if !ok {
					continue
				}
				op.Code, op.Arg = slotOps[sl.kind], formatFloat(v)
				if sl.kind == sLast {
					if msStr == "" {
						msStr = strconv.FormatInt(ms, 10)
					}
					op.Arg = msStr + "|" + op.Arg
				}
			case sFirstTS, sLastTS:
				if msStr == "" {
					msStr = strconv.FormatInt(ms, 10)
				}
				op.Code, op.Arg = OpMin, msStr
				if sl.kind == sLastTS {
					op.Code = OpMax
				}
			case sKMV:
				v, ok := e.Properties[sl.field]
				if !ok {
					continue
				}
				op.Code, op.Arg = OpKMV, hashBytes(hash64(v.String()))
			}
			ops = append(ops, op)
		}
	}
	return ops
}

var slotOps = [...]OpCode{sSum: OpAddFloat, sMin: OpMin, sMax: OpMax, sLast: OpLast}

// UpdatedOp is the update that records that a customer's data changed at now.
func UpdatedOp(now time.Time) Op {
	return Op{Code: OpMax, Key: MetaKey, Field: UpdatedField, Arg: strconv.FormatInt(now.UnixMilli(), 10)}
}

// MatchWhere reports whether properties pass a property filter ("where":
// every property equal to its value as CanonicalScalar renders it).
func MatchWhere(where map[string]string, props map[string]Value) bool {
	for k, want := range where {
		v, ok := props[k]
		if !ok || v.String() != want {
			return false
		}
	}
	return true
}

func matches(where [][2]string, props map[string]Value) bool {
	for _, w := range where {
		v, ok := props[w[0]]
		if !ok || v.String() != w[1] {
			return false
		}
	}
	return true
}

// ReadKeys returns the keys a profile read at now needs: the meta hash and
// every bucket that may hold a tile inside some window.
func (s *Set) ReadKeys(now time.Time) []Key {
	keys := []Key{MetaKey}
	for gi, r := range s.retention {
		if r == 0 {
			continue
		}
		g := &granularities[gi]
		from := floorDiv(tileIndex(now.Add(-r), g.size), g.perBucket)
		to := floorDiv(tileIndex(now.Add(MaxFutureSkew), g.size), g.perBucket)
		for b := from; b <= to; b++ {
			keys = append(keys, Key{Gran: int8(gi), Bucket: b})
		}
	}
	return keys
}

type tileRef struct {
	slot int
	pos  int64
}

// tileVal is one stored tile: its number parsed once, or for sketches the
// raw hashes.
type tileVal struct {
	tile int64
	f    float64
	s    string
}

// Compute computes the feature vector at now from the stored hashes of keys
// (as ReadKeys returned them; a missing hash is nil, and nil hashes means
// a customer with no data at all). It also returns the
// time the customer's data last changed (zero if never).
func (s *Set) Compute(now time.Time, keys []Key, hashes []map[string]string) (Vector, time.Time) {
	meta := make([]string, len(s.slots))
	hasMeta := make([]bool, len(s.slots))
	var updated time.Time
	total := 0
	for _, h := range hashes {
		total += len(h)
	}
	// Parse every tile once, then group the tiles by slot (a counting sort)
	// so that each feature scans only its own.
	type slotTile struct {
		slot int
		tileVal
	}
	flat := make([]slotTile, 0, total)
	for i, k := range keys {
		var h map[string]string
		if i < len(hashes) {
			h = hashes[i]
		}
		if k.Gran == metaGran {
			for f, v := range h {
				if f == UpdatedField {
					if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
						updated = time.UnixMilli(ms).UTC()
					}
					continue
				}
				if idx, ok := s.slotByID[f]; ok {
					meta[idx], hasMeta[idx] = v, true
				}
			}
			continue
		}
		per := granularities[k.Gran].perBucket
		for f, v := range h {
			ref, known := s.tileField[f]
			if !known {
				continue // a slot of definitions no longer in use
			}
			idx := ref.slot
			tv := tileVal{tile: k.Bucket*per + ref.pos}
			var err error
			if s.slots[idx].kind == sKMV {
				tv.s = v
			} else if tv.f, err = strconv.ParseFloat(v, 64); err != nil {
				continue
			}
			flat = append(flat, slotTile{idx, tv})
		}
	}
	offsets := make([]int, len(s.slots)+1)
	for _, t := range flat {
		offsets[t.slot+1]++
	}
	for i := 1; i < len(offsets); i++ {
		offsets[i] += offsets[i-1]
	}
	grouped := make([]tileVal, len(flat))
	next := slices.Clone(offsets[:len(s.slots)])
	for _, t := range flat {
		grouped[next[t.slot]] = t.tileVal
		next[t.slot]++
	}
	tiles := func(slot int) []tileVal { return grouped[offsets[slot]:offsets[slot+1]] }
	nowMs := now.UnixMilli()
	vals := make([]float64, len(s.feats))
	sortedSlot := make([]bool, len(s.slots))
	for i, f := range s.feats {
		if f.isRate {
			continue
		}
		sl := &s.slots[f.slot]
		start := int64(math.MinInt64)
		if f.window > 0 {
			start = windowStart(now, f.window)
		}
		if sl.gran == metaGran {
			vals[i] = metaValue(sl.kind, meta[f.slot], hasMeta[f.slot], start, nowMs)
			continue
		}
		startTile := floorDiv(start, granularities[sl.gran].size.Milliseconds())
		ts := tiles(f.slot)
		if sl.kind == sSum && !sortedSlot[f.slot] {
			// Floating-point sums depend on order: add the tiles in time
			// order, so a read is the same whatever the hash order.
			slices.SortFunc(ts, func(a, b tileVal) int { return cmp.Compare(a.tile, b.tile) })
			sortedSlot[f.slot] = true
		}
		vals[i] = tileValue(sl.kind, ts, startTile, nowMs)
	}
	for i, f := range s.feats {
		if f.isRate {
			a, b := vals[f.ratio[0]], vals[f.ratio[1]]
			if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
				vals[i] = math.NaN()
			} else {
				vals[i] = a / b
			}
		}
	}
	return Vector{Names: s.names, Values: vals}, updated
}

func seconds(nowMs, ms int64) float64 { return max(0, float64(nowMs-ms)/1000) }

func metaValue(kind slotKind, v string, ok bool, start, nowMs int64) float64 {
	switch kind {
	case sCount:
		n, _ := strconv.ParseInt(v, 10, 64)
		return float64(n)
	case sSum:
		f, _ := strconv.ParseFloat(v, 64)
		return f
	case sKMV:
		return kmvEstimate(sketchHashes(nil, v))
	}
	if !ok {
		return math.NaN()
	}
	switch kind {
	case sMin, sMax:
		f, _ := strconv.ParseFloat(v, 64)
		return f
	case sFirstTS, sLastTS:
		ms, _ := strconv.ParseInt(v, 10, 64)
		if ms < start {
			return math.NaN()
		}
		return seconds(nowMs, ms)
	case sLast:
		ts, val, _ := strings.Cut(v, "|")
		ms, _ := strconv.ParseInt(ts, 10, 64)
		if ms < start {
			return math.NaN()
		}
		f, _ := strconv.ParseFloat(val, 64)
		return f
	}
	return math.NaN()
}

func tileValue(kind slotKind, tiles []tileVal, startTile, nowMs int64) float64 {
	var sum float64
	best := math.NaN()
	var hashes []uint64
	for _, t := range tiles {
		if t.tile < startTile {
			continue
		}
		switch kind {
		case sCount, sSum:
			sum += t.f
		case sMin, sFirstTS:
			if math.IsNaN(best) || t.f < best {
				best = t.f
			}
		case sMax:
			if math.IsNaN(best) || t.f > best {
				best = t.f
			}
		case sKMV:
			hashes = sketchHashes(hashes, t.s)
		}
	}
	switch kind {
	case sCount, sSum:
		return sum
	case sKMV:
		return kmvEstimate(hashes)
	case sFirstTS:
		if math.IsNaN(best) {
			return best
		}
		return seconds(nowMs, int64(best))
	}
	return best
}

func sketchHashes(dst []uint64, sketch string) []uint64 {
	for i := 0; i+8 <= len(sketch); i += 8 {
		var h uint64
		for j := 0; j < 8; j++ {
			h = h<<8 | uint64(sketch[i+j])
		}
		dst = append(dst, h)
	}
	return dst
}
