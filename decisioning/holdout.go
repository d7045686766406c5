package decisioning

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"regexp"
	"strconv"
)

// Bucket returns the holdout bucket of a customer under a salt, in
// [0, Buckets):
//
//	bucket = uint64_be(SHA-256(salt ‖ 0x00 ‖ customerID)[0:8]) mod 10000
//
// that is, the first 8 bytes of the SHA-256 digest of the salt's bytes, one
// zero byte and the customer id's bytes, read as a big-endian unsigned
// 64-bit integer, modulo Buckets. An analyst reproduces it in Python with
//
//	import hashlib
//	def bucket(salt: str, customer_id: str) -> int:
//	    d = hashlib.sha256(salt.encode() + b"\x00" + customer_id.encode()).digest()
//	    return int.from_bytes(d[:8], "big") % 10000
//
// (strings as UTF-8). The bucket depends on nothing but its inputs, so it
// is the same on every instance and after every restart, and a layer (the
// global control group, a campaign's holdout) with its own salt assigns
// customers independently of every other layer.
func Bucket(salt, customerID string) int {
	var stack [192]byte
	buf := append(stack[:0], salt...)
	buf = append(buf, 0)
	buf = append(buf, customerID...)
	sum := sha256.Sum256(buf)
	return int(binary.BigEndian.Uint64(sum[:8]) % Buckets)
}

// Contains reports whether a bucket is in the share: the share s holds the
// buckets [0, s). Raising a share therefore keeps every customer it held
// and only adds; lowering it only removes.
func (s Share) Contains(bucket int) bool { return bucket >= 0 && bucket < int(s) }

// String renders the share as a percentage with the decimals it needs:
// "5%", "12.5%", "0.25%", "100%". ParseShare is its inverse.
func (s Share) String() string {
	b := strconv.AppendUint(nil, uint64(s/100), 10)
	if frac := s % 100; frac != 0 {
		b = append(b, '.', byte('0'+frac/10))
		if frac%10 != 0 {
			b = append(b, byte('0'+frac%10))
		}
	}
	return string(append(b, '%'))
}

var shareRE = regexp.MustCompile(`^([0-9]{1,3})(?:\.([0-9]{1,2}))?%$`)

// ParseShare parses a percentage from 0% to 100% with at most two
// decimals, such as "5%", "12.5%" or "0.25%": the inverse of Share.String.
func ParseShare(s string) (Share, error) {
	m := shareRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a percentage: write it like 5%%, 12.5%% or 0%% (at most two decimals)", s)
	}
	whole, _ := strconv.Atoi(m[1])
	frac := 0
	if m[2] != "" {
		frac, _ = strconv.Atoi(m[2])
		if len(m[2]) == 1 {
			frac *= 10
		}
	}
	bp := whole*100 + frac
	if bp > Buckets {
		return 0, fmt.Errorf("%s is out of range: a percentage must be between 0%% and 100%%", s)
	}
	return Share(bp), nil
}
