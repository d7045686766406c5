package ledger_test

import (
	"context"
	"strconv"
	"testing"

	"kairos/ledger"
	"kairos/ledger/ledgertest"
)

func TestMemory(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) ledger.Ledger { return ledger.NewMemory() })
}

func BenchmarkMemoryWriteDecisions(b *testing.B) {
	const batch = 500
	ds := ledgertest.Sample(batch, 1)
	m := ledger.NewMemory()
	ctx := context.Background()
	b.ReportAllocs()
	for i := range b.N {
		if i%100 == 99 {
			// Bound the benchmark's memory: a fresh ledger now and then.
			b.StopTimer()
			m = ledger.NewMemory()
			b.StartTimer()
		}
		for j := range ds {
			ds[j].ID = strconv.Itoa(i*batch + j)
		}
		if err := m.WriteDecisions(ctx, ds); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "decisions/s")
}
