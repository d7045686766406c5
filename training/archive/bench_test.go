package archive_test

import (
	"strconv"
	"testing"
	"time"

	"kairos/features"
)

// benchEvents returns n events of one UTC day, shaped like the simulator's:
// a mix of types, common properties in their columns and a few others in
// the properties JSON.
func benchEvents(n int) []features.Event {
	types := []string{"page_view", "page_view", "click", "login", "feature_used", "add_to_cart", "purchase", "email_opened"}
	pages := []string{"/", "/pricing", "/docs", "/blog/launch", "/account"}
	out := make([]features.Event, n)
	for i := range out {
		e := features.Event{
			ID:         strconv.FormatUint(uint64(i)*0x9E3779B97F4A7C15, 16), // random-looking, as client ids are
			CustomerID: "customer-" + strconv.Itoa(i*7919%50_000),
			Type:       types[i%len(types)],
			Time:       day0.Add(time.Duration(i) * (24 * time.Hour / time.Duration(n))),
		}
		switch e.Type {
		case "page_view":
			e.Properties = props{"page": str(pages[i%len(pages)])}
		case "feature_used":
			e.Properties = props{"feature": str("export"), "duration_ms": num(float64(i % 5000))}
		case "add_to_cart":
			e.Properties = props{"product_id": str("sku-" + strconv.Itoa(i%300)), "category": str("books"), "amount": num(12.5)}
		case "purchase":
			e.Properties = props{"amount": num(float64(i%200) + 0.99), "currency": str("EUR"), "product_id": str("sku-" + strconv.Itoa(i%300)), "first": flag(i%9 == 0)}
		}
		out[i] = e
	}
	return out
}

// BenchmarkWriter measures Write and Flush (Parquet encoding and zstd,
// without fsync) of batches of 100,000 events.
func BenchmarkWriter(b *testing.B) {
	events := benchEvents(100_000)
	w := newWriter(b, b.TempDir(), "bench")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i := 0; i < len(events); i += 500 {
			w.Write(events[i:i+500], day0, "1700000000000-0")
		}
		if _, err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(events)*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkReadDay measures reading, validating, de-duplicating and sorting
// a day of 200,000 events in two files.
func BenchmarkReadDay(b *testing.B) {
	events := benchEvents(200_000)
	dir := b.TempDir()
	w := newWriter(b, dir, "bench")
	w.Write(events[:100_000], day0, "1-0")
	flush(b, w)
	w.Write(events[100_000:], day0, "2-0")
	flush(b, w)
	r := open(b, dir)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		got, err := r.ReadDay(day0)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != len(events) {
			b.Fatalf("read %d events, want %d", len(got), len(events))
		}
	}
	b.ReportMetric(float64(len(events)*b.N)/b.Elapsed().Seconds(), "events/s")
}
