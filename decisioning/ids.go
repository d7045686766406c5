package decisioning

import (
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"time"
)

// crockford is the alphabet of decision ids: Crockford's base32, lower
// case (no i, l, o, u), which sorts like the bytes it encodes.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// NewID returns a new decision id: 26 characters of lower-case Crockford
// base32 encoding 48 bits of milliseconds since the Unix epoch and 80
// random bits (the ULID layout), so ids sort by decision time and two
// instances never collide in practice.
func NewID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], uint64(now.UnixMilli())<<16)
	binary.BigEndian.PutUint64(b[8:16], rand.Uint64())
	r := rand.Uint32()
	b[6], b[7] = byte(r>>8), byte(r)
	// 128 bits → 26 base32 digits (the first holds 3 bits).
	var out [26]byte
	hi := binary.BigEndian.Uint64(b[0:8])
	lo := binary.BigEndian.Uint64(b[8:16])
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// ValidID reports whether id has the form NewID gives: 26 characters of
// lower-case Crockford base32.
func ValidID(id string) bool {
	if len(id) != 26 || id[0] > '7' { // 128 bits: the first digit holds 3
		return false
	}
	for i := 0; i < len(id); i++ {
		if strings.IndexByte(crockford, id[i]) < 0 {
			return false
		}
	}
	return true
}
