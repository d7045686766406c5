package features

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkPlan measures planning the tile updates of one event (on the
// Track hot path, once per event).
func BenchmarkPlan(b *testing.B) {
	s := Default()
	now := time.Now()
	e := Event{ID: "e", CustomerID: "c", Type: "page_view", Time: now,
		Properties: map[string]Value{"page": String("pricing"), "product_id": String("sku-1")}}
	var ops []Op
	b.ReportAllocs()
	for b.Loop() {
		ops = s.Plan(ops[:0], &e, now)
	}
	b.ReportMetric(float64(len(ops)), "ops/event")
}

// BenchmarkCompute measures computing the default vector from a month of
// stored tiles (on the profile read hot path).
func BenchmarkCompute(b *testing.B) {
	s := Default()
	now := time.Now()
	keys := s.ReadKeys(now)
	hashes := make([]map[string]string, len(keys))
	index := map[Key]int{}
	for i, k := range keys {
		index[k] = i
	}
	types := []string{"page_view", "login", "purchase", "add_to_cart", "session_start", "email_opened"}
	for i := 0; i < 600; i++ {
		e := Event{ID: strconv.Itoa(i), CustomerID: "c", Type: types[i%len(types)], Time: now.Add(-time.Duration(i) * 71 * time.Minute),
			Properties: map[string]Value{"amount": Number(12), "product_id": String(strconv.Itoa(i % 40))}}
		for _, op := range s.Plan(nil, &e, now) {
			j, ok := index[op.Key]
			if !ok {
				continue
			}
			if hashes[j] == nil {
				hashes[j] = map[string]string{}
			}
			old, present := hashes[j][op.Field]
			hashes[j][op.Field] = Apply(op, old, present)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Compute(now, keys, hashes)
	}
}
