package features

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// granularity is a tile size and how many tiles share one storage bucket.
type granularity struct {
	name   string
	letter byte // key suffix letter
	size   time.Duration
	// perBucket tiles are stored together in one bucket (one Redis hash),
	// which expires as a whole when its newest tile leaves every window.
	perBucket int64
}

// The tile rule (see the package documentation).
var granularities = [...]granularity{
	{"1m", 'm', time.Minute, 10},
	{"5m", 'f', 5 * time.Minute, 12},
	{"1h", 'h', time.Hour, 24},
	{"1d", 'd', 24 * time.Hour, 30},
}

const metaGran = -1

// granularityFor returns the tile granularity of a window: the largest tile
// no longer than a twelfth of the window (a fifth below one hour).
func granularityFor(w time.Duration) *granularity {
	switch {
	case w < time.Hour:
		return &granularities[0]
	case w < 12*time.Hour:
		return &granularities[1]
	case w < 12*24*time.Hour:
		return &granularities[2]
	default:
		return &granularities[3]
	}
}

func granIndex(w time.Duration) int8 {
	g := granularityFor(w)
	for i := range granularities {
		if &granularities[i] == g {
			return int8(i)
		}
	}
	panic("unreachable")
}

// tileIndex is the index of the tile of size d that holds t.
func tileIndex(t time.Time, d time.Duration) int64 {
	return floorDiv(t.UnixMilli(), d.Milliseconds())
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// windowStart is the earliest event time a window of length w ending at now
// includes: the start of the tile holding now-w (the sawtooth rule).
func windowStart(now time.Time, w time.Duration) int64 {
	g := granularityFor(w)
	ms := g.size.Milliseconds()
	return floorDiv(now.Add(-w).UnixMilli(), ms) * ms
}

// Key names one storage unit (one Redis hash) of a customer: the meta hash
// of lifetime values, or one bucket of tiles.
type Key struct {
	// Gran is an index into granularities, or metaGran.
	Gran   int8
	Bucket int64
}

// MetaKey is the customer's hash of lifetime values and last-seen times.
var MetaKey = Key{Gran: metaGran}

// Suffix returns the key's name below the customer's prefix: "l" for the
// meta hash, a granularity letter and the bucket number for a tile bucket.
func (k Key) Suffix() string {
	if k.Gran == metaGran {
		return "l"
	}
	return string(granularities[k.Gran].letter) + strconv.FormatInt(k.Bucket, 10)
}

// ExpireAt is when the bucket leaves every window that reads it; zero for
// the meta hash, which does not expire.
func (s *Set) ExpireAt(k Key) time.Time {
	if k.Gran == metaGran {
		return time.Time{}
	}
	g := &granularities[k.Gran]
	end := time.UnixMilli((k.Bucket + 1) * g.perBucket * g.size.Milliseconds())
	return end.Add(s.retention[k.Gran]).Add(g.size)
}

// OpCode is a tile update, applied once per accepted event. Ops commute, so
// events may arrive in any order, with one exception: OpLast on two events
// of the same millisecond keeps the one applied last (the later arrival).
type OpCode uint8

// The tile updates. Values are strings, as Redis stores them.
const (
	// OpIncr adds the integer Arg.
	OpIncr OpCode = iota + 1
	// OpAddFloat adds the number Arg.
	OpAddFloat
	// OpMin keeps the smaller of the stored number and Arg.
	OpMin
	// OpMax keeps the larger of the stored number and Arg.
	OpMax
	// OpLast keeps whichever of the stored and the given "ms|value" pair has
	// the later time; on a tie the given one.
	OpLast
	// OpKMV inserts the 8-byte hash Arg into the sorted list of the KMVSize
	// smallest distinct hashes.
	OpKMV
)

// Op is one update of one field of one of a customer's keys.
type Op struct {
	Code  OpCode
	Key   Key
	Field string
	Arg   string
}

// KMVSize is the number of hashes a distinct-count sketch keeps: distinct
// counts are exact up to KMVSize-1 values in a window, estimated above that.
const KMVSize = 64

// Apply applies op to a stored field value (present says whether the field
// exists) and returns the new value. It is the reference semantics of every
// op; redisstore implements the same in Lua and the shared store tests hold
// the two to it.
func Apply(op Op, old string, present bool) string {
	if !present {
		return op.Arg
	}
	switch op.Code {
	case OpIncr:
		a, _ := strconv.ParseInt(old, 10, 64)
		b, _ := strconv.ParseInt(op.Arg, 10, 64)
		return strconv.FormatInt(a+b, 10)
	case OpAddFloat:
		a, _ := strconv.ParseFloat(old, 64)
		b, _ := strconv.ParseFloat(op.Arg, 64)
		return formatFloat(a + b)
	case OpMin, OpMax:
		a, _ := strconv.ParseFloat(old, 64)
		b, _ := strconv.ParseFloat(op.Arg, 64)
		if (op.Code == OpMin && b < a) || (op.Code == OpMax && b > a) {
			return op.Arg
		}
		return old
	case OpLast:
		if lastTime(op.Arg) >= lastTime(old) {
			return op.Arg
		}
		return old
	case OpKMV:
		return kmvInsert(old, op.Arg)
	}
	return old
}

func lastTime(pair string) int64 {
	i := strings.IndexByte(pair, '|')
	if i < 0 {
		return math.MinInt64
	}
	t, _ := strconv.ParseInt(pair[:i], 10, 64)
	return t
}

// kmvInsert inserts the 8-byte big-endian hash h into the sorted sketch.
func kmvInsert(sketch, h string) string {
	// Linear scan: sketches are at most KMVSize entries.
	n := len(sketch) / 8
	pos := n
	for j := 0; j < n; j++ {
		c := sketch[j*8 : j*8+8]
		if c == h {
			return sketch
		}
		if c > h {
			pos = j
			break
		}
	}
	if pos >= KMVSize {
		return sketch
	}
	out := make([]byte, 0, len(sketch)+8)
	out = append(out, sketch[:pos*8]...)
	out = append(out, h...)
	out = append(out, sketch[pos*8:]...)
	if len(out) > KMVSize*8 {
		out = out[:KMVSize*8]
	}
	return string(out)
}

// kmvEstimate estimates the number of distinct values from the union of
// sketches: exact while fewer than KMVSize hashes are kept, else
// (k-1)/U(k) where U(k) is the k-th smallest hash scaled to [0,1).
func kmvEstimate(hashes []uint64) float64 {
	if len(hashes) == 0 {
		return 0
	}
	slices.Sort(hashes)
	hashes = slices.Compact(hashes)
	if len(hashes) < KMVSize {
		return float64(len(hashes))
	}
	u := (float64(hashes[KMVSize-1]) + 1) / math.Exp2(64)
	return float64(KMVSize-1) / u
}

// hash64 is FNV-1a followed by the splitmix64 finalizer: stable across
// processes and versions, well mixed for sketches.
func hash64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// hashBytes renders a hash as 8 big-endian bytes, so that byte order is
// numeric order.
func hashBytes(h uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], h)
	return string(b[:])
}

// EventHash is the dedup identity of an event id: 8 bytes, as the stores
// keep it. Two ids collide with probability 2^-64.
func EventHash(eventID string) string { return hashBytes(hash64(eventID)) }

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
