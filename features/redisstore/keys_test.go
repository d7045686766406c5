package redisstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kairos/features"
)

// crc16 is the CRC16 of Redis Cluster (XMODEM: polynomial 0x1021, initial
// value 0).
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// keySlot is the Redis Cluster slot of key: CRC16 of the hash tag (what lies
// between the first '{' and the next '}', if not empty), else of the key,
// modulo 16384.
func keySlot(key string) int {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	return int(crc16(key) % 16384)
}

func TestKeySlot(t *testing.T) {
	// The examples of the Redis Cluster specification.
	if got := crc16("123456789"); got != 0x31C3 {
		t.Errorf("crc16(123456789) = %#x, want 0x31c3", got)
	}
	for key, want := range map[string]uint16{
		"foo": 12182, "{user1000}.following": crc16("user1000"), "foo{}{bar}": crc16("foo{}{bar}"),
		"foo{{bar}}zap": crc16("{bar"), "foo{bar}{zap}": crc16("bar"),
	} {
		if got := keySlot(key); got != int(want%16384) {
			t.Errorf("keySlot(%q) = %d, want %d", key, got, want)
		}
	}
}

// derivedTag is the tag the package comment promises for an id that cannot
// be its own.
func derivedTag(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "#" + hex.EncodeToString(sum[:16])
}

func TestCustomerKeysShareASlot(t *testing.T) {
	s, _, client := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, tt := range []struct{ id, tag string }{
		{"ada", "ada"},
		{"}a{b}", derivedTag("}a{b}")},
		{"a}", derivedTag("a}")},
		{"{", derivedTag("{")},
		{"#" + strings.Repeat("0", 32), derivedTag("#" + strings.Repeat("0", 32))},
		{"#" + strings.Repeat("0", 31) + "g", "#" + strings.Repeat("0", 31) + "g"},
	} {
		t.Run(tt.id, func(t *testing.T) {
			if err := client.FlushDB(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			track(t, s, now, pageView("e1", tt.id, now), pageView("e2", tt.id, now.Add(-48*time.Hour)))
			c := features.Customer{ID: tt.id, Email: "ada@example.com"}
			if err := s.UpsertCustomer(ctx, c, now); err != nil {
				t.Fatal(err)
			}
			keys, err := client.Keys(ctx, "k:*").Result()
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) < 4 {
				t.Fatalf("keys = %q, want the record, the meta hash, a dedup set and tile buckets", keys)
			}
			want := keySlot(tt.tag)
			for _, k := range keys {
				if !strings.HasPrefix(k, "k:{"+tt.tag+"}:") || keySlot(k) != want {
					t.Errorf("key %q (slot %d), want k:{%s}:… in slot %d", k, keySlot(k), tt.tag, want)
				}
			}
			p, err := s.Profile(ctx, tt.id, now)
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := p.Vector.Get("page_views_1h"); v != 1 {
				t.Errorf("page_views_1h = %v, want 1", v)
			}
			if diff := cmp.Diff(&c, p.Customer); diff != "" {
				t.Errorf("record (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCustomerKeysDoNotCollide(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	// Ids that would share keys if braces were dropped or escaped
	// carelessly, and a plain id spelled like the derived tag of another.
	ids := []string{"a", "a}", "{a", "{a}", "}a{", "a{}", "}x", derivedTag("}x")}
	for i, id := range ids {
		var evs []features.Event
		for j := range i + 1 {
			evs = append(evs, pageView(fmt.Sprint(j), id, now))
		}
		track(t, s, now, evs...)
		if err := s.UpsertCustomer(ctx, features.Customer{ID: id, Email: fmt.Sprintf("c%d@example.com", i)}, now); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range ids {
		p, err := s.Profile(ctx, id, now)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := p.Vector.Get("page_views_1h"); v != float64(i+1) {
			t.Errorf("%q: page_views_1h = %v, want %d", id, v, i+1)
		}
		if want := fmt.Sprintf("c%d@example.com", i); p.Customer == nil || p.Customer.ID != id || p.Customer.Email != want {
			t.Errorf("%q: record %+v, want id %q and email %s", id, p.Customer, id, want)
		}
	}
}
