package pgledger_test

import (
	"context"
	"strconv"
	"testing"

	"kairos/ledger/ledgertest"
)

// BenchmarkWriteDecisions writes batches of 500 new, realistic decisions
// (40 features each) to PostgreSQL through COPY.
func BenchmarkWriteDecisions(b *testing.B) {
	const batch = 500
	s := open(b)
	ds := ledgertest.Sample(batch, 1)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for j := range ds {
			ds[j].ID = strconv.Itoa(i*batch + j)
		}
		if err := s.WriteDecisions(ctx, ds); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "decisions/s")
}
