package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"kairos/features"
	"kairos/internal/redistest"
)

// applyOps is the test hook into the Track script's op applier: it runs one
// script with one pseudo-event per element of events, each carrying those
// ops for customer cid, and writes its log records to a throwaway stream.
func applyOps(ctx context.Context, s *Store, cid string, events [][]features.Op, now time.Time, seq *int) error {
	b := newBatch(s.set)
	b.reset("test:ops", now, len(events), 1000)
	for _, ops := range events {
		*seq++
		b.addEvent(cid, features.EventHash("op-event-"+strconv.Itoa(*seq)), nil, ops)
	}
	_, err := s.runTrack(ctx, b)
	return err
}

// opGen makes random ops whose args look like those Plan makes, with ties,
// equal numbers spelled differently and full-precision numbers, so that the
// script's parsing, comparisons and formatting are exercised.
type opGen struct {
	r      *rand.Rand
	hashes []string
}

func (g *opGen) number() string {
	switch g.r.IntN(8) {
	case 0: // spellings of 100: a tie must keep the earlier string
		return []string{"100", "1e+02", "100.0", "1e2"}[g.r.IntN(4)]
	case 1: // more digits than %.14g keeps
		return strconv.FormatFloat(1+g.r.Float64()*1e-12, 'g', -1, 64)
	case 2: // unix ms
		return strconv.FormatInt(1_700_000_000_000+g.r.Int64N(1000), 10)
	case 3:
		return strconv.Itoa(g.r.IntN(5) - 2)
	default:
		f := g.r.NormFloat64() * math.Pow(10, float64(g.r.IntN(12)-4))
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
}

func (g *opGen) arg(code features.OpCode) string {
	switch code {
	case features.OpIncr:
		return strconv.Itoa(g.r.IntN(2001) - 1000)
	case features.OpAddFloat, features.OpMin, features.OpMax:
		return g.number()
	case features.OpLast:
		if g.r.IntN(20) == 0 {
			return "no-time-" + g.number() // no '|': older than any pair
		}
		// Few distinct times, so ties (the given pair wins) are common.
		return strconv.FormatInt(1_700_000_000_000+g.r.Int64N(6)-3, 10) + "|" + g.number()
	case features.OpKMV:
		return g.hashes[g.r.IntN(len(g.hashes))]
	}
	panic(code)
}

// TestOpsMatchApply holds the Lua op applier to features.Apply, the
// reference semantics: random sequences of every OpCode, several ops of a
// field per pseudo-event and per script run (which the script combines),
// over several runs (which start from stored values).
func TestOpsMatchApply(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	set := features.Default()
	s := New(client, set, Options{})
	ctx := context.Background()
	now := time.Now().UTC()

	g := &opGen{r: rand.New(rand.NewPCG(1, 2))}
	for range 150 { // more than KMVSize, so sketches fill and truncate
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], g.r.Uint64())
		switch g.r.IntN(6) { // edge bytes: NUL, high bit, equal prefixes
		case 0:
			b[0] = 0
		case 1:
			b[0], b[1] = 0xff, 0x80
		case 2:
			copy(b[:4], "\x7f\x80\x00\xff")
		}
		g.hashes = append(g.hashes, string(b[:]))
	}

	codes := []features.OpCode{features.OpIncr, features.OpAddFloat, features.OpMin, features.OpMax, features.OpLast, features.OpKMV}
	keys := set.ReadKeys(now)
	keys = []features.Key{features.MetaKey, keys[len(keys)-1], keys[len(keys)-2]} // current tile buckets
	type field struct {
		key  features.Key
		name string
		code features.OpCode
	}
	var fields []field
	for _, k := range keys {
		for _, c := range codes {
			for i := range 3 {
				fields = append(fields, field{k, fmt.Sprintf("f%d.%d", c, i), c})
			}
		}
	}

	want := map[features.Key]map[string]string{}
	for _, k := range keys {
		want[k] = map[string]string{}
	}
	// absSum bounds the rounding error of each float sum.
	absSum := map[string]float64{}
	seq := 0
	for run := range 60 {
		var events [][]features.Op
		for range 1 + g.r.IntN(4) {
			var ops []features.Op
			for range 1 + g.r.IntN(30) {
				f := fields[g.r.IntN(len(fields))]
				if g.r.IntN(3) == 0 { // hammer a few fields
					f = fields[g.r.IntN(6)]
				}
				op := features.Op{Code: f.code, Key: f.key, Field: f.name, Arg: g.arg(f.code)}
				ops = append(ops, op)
				old, ok := want[f.key][f.name]
				want[f.key][f.name] = features.Apply(op, old, ok)
				if f.code == features.OpAddFloat {
					a, _ := strconv.ParseFloat(op.Arg, 64)
					absSum[f.key.Suffix()+f.name] += math.Abs(a)
				}
			}
			events = append(events, ops)
		}
		if err := applyOps(ctx, s, "ops", events, now, &seq); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		// Every tile bucket got its expiry when it was created.
		for _, k := range keys[1:] {
			exp, err := client.Do(ctx, "PEXPIRETIME", customerKey("ops", k.Suffix())).Int64()
			if err != nil || (exp != -2 && exp != set.ExpireAt(k).UnixMilli()) {
				t.Fatalf("run %d: bucket %s expires at %d (%v), want %d", run, k.Suffix(), exp, err, set.ExpireAt(k).UnixMilli())
			}
		}
		for _, f := range fields {
			got, err := client.HGet(ctx, customerKey("ops", f.key.Suffix()), f.name).Result()
			w, present := want[f.key][f.name]
			switch {
			case !present:
				if err == nil {
					t.Fatalf("run %d: %s %s = %q, want absent", run, f.key.Suffix(), f.name, got)
				}
				continue
			case err != nil:
				t.Fatalf("run %d: %s %s: %v, want %q", run, f.key.Suffix(), f.name, err, w)
			}
			if f.code == features.OpAddFloat {
				a, errA := strconv.ParseFloat(w, 64)
				b, errB := strconv.ParseFloat(got, 64)
				if errA != nil || errB != nil || math.Abs(a-b) > 1e-12*math.Max(1, absSum[f.key.Suffix()+f.name]) {
					t.Fatalf("run %d: %s %s (op %d) = %q, Apply says %q", run, f.key.Suffix(), f.name, f.code, got, w)
				}
				continue
			}
			if got != w {
				t.Fatalf("run %d: %s %s (op %d) = %q, Apply says %q", run, f.key.Suffix(), f.name, f.code, got, w)
			}
		}
	}
}

// TestAddFloatBeyondDoubleRange: Redis adds in long double, so a sum beyond
// the double range is stored as a (long) finite decimal; it must read back
// as +Inf, which is what Apply computes, and must not fail the batch.
func TestAddFloatBeyondDoubleRange(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	s := New(client, features.Default(), Options{})
	ctx := context.Background()
	seq := 0
	op := features.Op{Code: features.OpAddFloat, Key: features.MetaKey, Field: "big", Arg: "1.5e308"}
	for range 2 {
		if err := applyOps(ctx, s, "c", [][]features.Op{{op}}, time.Now(), &seq); err != nil {
			t.Fatal(err)
		}
	}
	got, err := client.HGet(ctx, customerKey("c", "l"), "big").Result()
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := strconv.ParseFloat(got, 64); !math.IsInf(f, 1) { // ErrRange: +Inf
		t.Fatalf("1.5e308 + 1.5e308 stored as %q; want +Inf as Apply computes it", got)
	}
}

// TestExpiredBucketDeleted: ops on a bucket that has already left every
// window (a backfill) do not leave the bucket behind.
func TestExpiredBucketDeleted(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	set := features.Default()
	s := New(client, set, Options{})
	ctx := context.Background()
	now := time.Now()
	keys := set.ReadKeys(now.Add(-200 * 24 * time.Hour))
	old := keys[len(keys)-1]
	if !set.ExpireAt(old).Before(now) {
		t.Fatalf("test setup: bucket %s expires at %v, after now", old.Suffix(), set.ExpireAt(old))
	}
	seq := 0
	ops := []features.Op{{Code: features.OpIncr, Key: old, Field: "x", Arg: "1"}}
	if err := applyOps(ctx, s, "c", [][]features.Op{ops}, now, &seq); err != nil {
		t.Fatal(err)
	}
	if n, err := client.Exists(ctx, customerKey("c", old.Suffix())).Result(); err != nil || n != 0 {
		t.Fatalf("expired bucket exists: %d, %v", n, err)
	}
}

// TestScriptErrorIsInternal: a failing script is a bug, not an outage.
func TestScriptErrorIsInternal(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	s := New(client, features.Default(), Options{})
	ctx := context.Background()
	seq := 0
	// A hash command on a key of another type fails inside the script.
	if err := client.Set(ctx, customerKey("c", features.MetaKey.Suffix()), "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	ops := [][]features.Op{{{Code: features.OpIncr, Key: features.MetaKey, Field: "x", Arg: "1"}}}
	err := applyOps(ctx, s, "c", ops, time.Now(), &seq)
	if err == nil {
		t.Fatal("no error from a failing script")
	}
	err = s.fail(ctx, "track", err)
	if errors.Is(err, features.ErrUnavailable) {
		t.Fatalf("script error %v wraps ErrUnavailable", err)
	}
}

// TestAddFloatOnNonNumber: HINCRBYFLOAT refuses a field that holds no
// number; the script applies Apply's rule (the old value counts as 0).
func TestAddFloatOnNonNumber(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	s := New(client, features.Default(), Options{})
	ctx := context.Background()
	seq := 0
	ops := []features.Op{
		{Code: features.OpLast, Key: features.MetaKey, Field: "x", Arg: "1|2"},
		{Code: features.OpAddFloat, Key: features.MetaKey, Field: "x", Arg: "1.5"},
	}
	want := features.Apply(ops[1], features.Apply(ops[0], "", false), true)
	for _, op := range ops {
		if err := applyOps(ctx, s, "c", [][]features.Op{{op}}, time.Now(), &seq); err != nil {
			t.Fatal(err)
		}
	}
	got, err := client.HGet(ctx, customerKey("c", "l"), "x").Result()
	if err != nil || got != want {
		t.Fatalf("got %q, %v; Apply says %q", got, err, want)
	}
}
