package features

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestDefaultSet(t *testing.T) {
	s := Default()
	if n := len(s.Names()); n < 30 || n > 40 {
		t.Fatalf("default set has %d features, want 30-40", n)
	}
	// It covers the signals ARCHITECTURE.md names.
	for _, name := range []string{"pricing_views_24h", "revenue_30d", "max_order_30d", "products_viewed_7d",
		"since_last_login", "since_first_seen", "last_plan", "login_trend", "payment_failures_30d", "email_opens_30d"} {
		if _, ok := (Vector{Names: s.Names()}).index(name); !ok {
			t.Errorf("default set lacks %s", name)
		}
	}
}

func (v Vector) index(name string) (int, bool) {
	for i, n := range v.Names {
		if n == name {
			return i, true
		}
	}
	return 0, false
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		line       int
		msg        string
	}{
		{"not yaml", "features:\n  - {name: a, event: login, agg: count}\n\t- {name: b}\n", 3, "invalid YAML"},
		{"empty", "", 1, "empty file"},
		{"no features", "custom_events: [x_y]\n", 1, "at least one feature"},
		{"unknown top key", "feature:\n  - {name: a}\n", 1, `unknown key "feature"`},
		{"unknown feature key", "features:\n  - {name: a, event: login, agg: count}\n  - {name: b, evnt: login, agg: count}\n", 3, `unknown key "evnt"`},
		{"bad name", "features:\n  - {name: A-B, event: login, agg: count}\n", 2, "must match"},
		{"duplicate", "features:\n  - {name: a, event: login, agg: count}\n  - {name: a, event: login, agg: count}\n", 3, "defined twice"},
		{"unknown event", "features:\n  - {name: a, event: teleport, agg: count}\n", 2, "unknown event type"},
		{"bad agg", "features:\n  - {name: a, event: login, agg: median}\n", 2, "'agg' must be one of"},
		{"sum without field", "features:\n  - {name: a, event: purchase, agg: sum}\n", 2, "needs a 'field'"},
		{"count with field", "features:\n  - {name: a, event: purchase, agg: count, field: amount}\n", 2, "takes no 'field'"},
		{"short window", "features:\n  - {name: a, event: login, agg: count, window: 1m}\n", 2, "at least 5m"},
		{"long window", "features:\n  - {name: a, event: login, agg: count, window: 91d}\n", 2, "at most 90d"},
		{"bad unit", "features:\n  - {name: a, event: login, agg: count, window: 3w}\n", 2, "unit must be"},
		{"not a tile multiple", "features:\n  - {name: a, event: login, agg: count, window: 62m}\n", 2, "whole number of them"},
		{"ratio missing", "features:\n  - {name: a, ratio: [b, c]}\n", 2, `refers to "b"`},
		{"ratio of ratio", "features:\n  - {name: b, event: login, agg: count}\n  - {name: a, ratio: [b, b]}\n  - {name: c, ratio: [a, b]}\n", 4, "itself a ratio"},
		{"ratio with extras", "features:\n  - {name: b, event: login, agg: count}\n  - {name: a, ratio: [b, b], window: 7d}\n", 3, "only name and ratio"},
		{"where not map", "features:\n  - {name: a, event: login, agg: count, where: pricing}\n", 2, "'where' must be"},
		{"custom twice", "custom_events: [x_y, x_y]\nfeatures:\n  - {name: a, event: x_y, agg: count}\n", 1, "declared twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "f.yaml")
			if err == nil {
				t.Fatal("parsed, want an error")
			}
			de, ok := err.(*DefinitionError)
			if !ok {
				t.Fatalf("error %T %v, want *DefinitionError", err, err)
			}
			if de.Line != tc.line || !strings.Contains(de.Msg, tc.msg) || !strings.HasPrefix(err.Error(), "f.yaml:") {
				t.Fatalf("got %q, want line %d and a message containing %q", err, tc.line, tc.msg)
			}
		})
	}
}

func TestWindows(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		tile time.Duration
	}{
		{"5m", 5 * time.Minute, time.Minute},
		{"59m", 59 * time.Minute, time.Minute},
		{"1h", time.Hour, 5 * time.Minute},
		{"90m", 90 * time.Minute, 5 * time.Minute},
		{"12h", 12 * time.Hour, time.Hour},
		{"7d", 7 * 24 * time.Hour, time.Hour},
		{"12d", 12 * 24 * time.Hour, 24 * time.Hour},
		{"90d", 90 * 24 * time.Hour, 24 * time.Hour},
		{"lifetime", 0, 0},
	} {
		got, err := parseWindow(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseWindow(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			continue
		}
		if got > 0 && granularityFor(got).size != tc.tile {
			t.Errorf("window %s tiled by %v, want %v", tc.in, granularityFor(got).size, tc.tile)
		}
		if got > 0 && granularityFor(got).size*12 > got && got >= time.Hour {
			t.Errorf("window %s has fewer than 12 tiles", tc.in)
		}
	}
}

// TestSawtoothEdge pins the documented window edge: the window includes the
// whole tile holding now-W, and nothing older.
func TestSawtoothEdge(t *testing.T) {
	set, err := Parse([]byte("features:\n  - {name: v, event: page_view, agg: count, window: 1h}\n"), "x")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 12, 3, 0, 0, time.UTC) // now-1h = 11:03, in tile [11:00, 11:05)
	count := func(at time.Time) float64 {
		e := Event{ID: "e", CustomerID: "c", Type: "page_view", Time: at}
		ops := set.Plan(nil, &e, now)
		keys := set.ReadKeys(now)
		hashes := make([]map[string]string, len(keys))
		for _, op := range ops {
			for i, k := range keys {
				if k == op.Key {
					if hashes[i] == nil {
						hashes[i] = map[string]string{}
					}
					old, ok := hashes[i][op.Field]
					hashes[i][op.Field] = Apply(op, old, ok)
				}
			}
		}
		v, _ := set.Compute(now, keys, hashes)
		return v.Values[0]
	}
	for _, tc := range []struct {
		at   time.Time
		want float64
	}{
		{now, 1},
		{now.Add(-time.Hour), 1},
		{time.Date(2026, 11, 28, 11, 0, 0, 0, time.UTC), 1},       // start of the edge tile: inside (3 minutes extra)
		{time.Date(2026, 11, 28, 10, 59, 59, 999e6, time.UTC), 0}, // the tile before: outside
		{now.Add(4 * time.Minute), 1},                             // future within skew
	} {
		if got := count(tc.at); got != tc.want {
			t.Errorf("event at %s: views_1h = %v, want %v", tc.at.Format(time.TimeOnly), got, tc.want)
		}
	}
}

func TestApply(t *testing.T) {
	for _, tc := range []struct {
		op      Op
		old     string
		present bool
		want    string
	}{
		{Op{Code: OpIncr, Arg: "1"}, "", false, "1"},
		{Op{Code: OpIncr, Arg: "1"}, "41", true, "42"},
		{Op{Code: OpAddFloat, Arg: "0.25"}, "1.5", true, "1.75"},
		{Op{Code: OpMin, Arg: "3"}, "2.5", true, "2.5"},
		{Op{Code: OpMin, Arg: "-1"}, "2.5", true, "-1"},
		{Op{Code: OpMax, Arg: "1e3"}, "999", true, "1e3"},
		{Op{Code: OpLast, Arg: "100|7"}, "200|9", true, "200|9"},
		{Op{Code: OpLast, Arg: "200|7"}, "200|9", true, "200|7"},
		{Op{Code: OpKMV, Arg: hashBytes(5)}, hashBytes(3) + hashBytes(9), true, hashBytes(3) + hashBytes(5) + hashBytes(9)},
		{Op{Code: OpKMV, Arg: hashBytes(9)}, hashBytes(3) + hashBytes(9), true, hashBytes(3) + hashBytes(9)},
	} {
		if got := Apply(tc.op, tc.old, tc.present); got != tc.want {
			t.Errorf("Apply(%v %q, %q) = %q, want %q", tc.op.Code, tc.op.Arg, tc.old, got, tc.want)
		}
	}
	// A full sketch keeps only the KMVSize smallest.
	var sk string
	for i := 200; i > 0; i-- {
		sk = Apply(Op{Code: OpKMV, Arg: hashBytes(uint64(i))}, sk, sk != "")
	}
	if len(sk) != KMVSize*8 || sk[:8] != hashBytes(1) || sk[len(sk)-8:] != hashBytes(KMVSize) {
		t.Fatalf("sketch of 200 values: %d bytes, want the %d smallest", len(sk), KMVSize)
	}
}

func TestSlotIDsStable(t *testing.T) {
	a, err := Parse([]byte("features:\n  - {name: x, event: login, agg: count, window: 7d}\n  - {name: y, event: purchase, agg: sum, field: amount}\n"), "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte("features:\n  - {name: y2, event: purchase, agg: sum, field: amount}\n  - {name: z, event: click, agg: count}\n  - {name: x2, event: login, agg: count, window: 7d}\n"), "b")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	e := Event{ID: "e", CustomerID: "c", Type: "login", Time: now}
	if pa, pb := a.Plan(nil, &e, now), b.Plan(nil, &e, now); pa[0] != pb[0] {
		t.Fatalf("reordering definitions moved stored data: %+v vs %+v", pa[0], pb[0])
	}
}

func TestRatioNaN(t *testing.T) {
	s := Default()
	v, _ := s.Compute(time.Now(), s.ReadKeys(time.Now()), make([]map[string]string, len(s.ReadKeys(time.Now()))))
	i, _ := v.index("login_trend")
	if !math.IsNaN(v.Values[i]) {
		t.Fatalf("0/0 ratio = %v, want NaN", v.Values[i])
	}
}

func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML())
	f.Add([]byte("features:\n  - {name: a, event: login, agg: count, window: 7d}\n  - {name: r, ratio: [a, a]}\n"))
	f.Add([]byte("custom_events: [x]\nfeatures:\n  - {name: a, event: x, where: {k: 1.50, b: true}, agg: distinct, field: f}\n"))
	f.Add([]byte("features: {"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b, "fuzz.yaml")
		if err != nil {
			if _, ok := err.(*DefinitionError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if len(s.Names()) == 0 || len(s.Names()) > MaxFeatures {
			t.Fatalf("parsed a set of %d features", len(s.Names()))
		}
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		keys := s.ReadKeys(now)
		v, _ := s.Compute(now, keys, make([]map[string]string, len(keys)))
		if len(v.Values) != len(s.Names()) {
			t.Fatalf("vector of %d values for %d features", len(v.Values), len(s.Names()))
		}
	})
}
