package ledger_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kairos/decisioning"
	"kairos/decisioning/memstate"
	"kairos/features"
	"kairos/features/memstore"
	"kairos/internal/logbuf"
	"kairos/internal/prom"
	"kairos/ledger"
)

// TestDrainerSetsAsideRefusedEntries: an entry the ledger refuses (here a
// customer id with a NUL byte, which PostgreSQL text cannot hold) is
// logged and removed; the entries around it reach the ledger.
func TestDrainerSetsAsideRefusedEntries(t *testing.T) {
	ctx := context.Background()
	st := memstate.New(memstore.New(features.Default(), memstore.Options{}), memstate.Options{})
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	for _, id := range []string{"a", "b\x00", "c"} {
		d := decisioning.Decision{ID: decisioning.NewID(now), CustomerID: id, Campaign: "cart", Outcome: decisioning.NoAction,
			ArmIndex: -1, DecidedAt: now}
		if _, err := st.Commit(ctx, "", "", []decisioning.Decision{d}); err != nil {
			t.Fatal(err)
		}
	}
	mem := ledger.NewMemory()
	logs := &logbuf.Buffer{}
	reg := prometheus.NewRegistry()
	dr := ledger.NewDrainer(st, mem, ledger.DrainOptions{Consumer: "d", Logger: slog.New(slog.NewTextHandler(logs, nil)), Registerer: reg})
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := dr.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	got, err := mem.Decisions(ctx, ledger.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].CustomerID == "b\x00" || got[1].CustomerID == "b\x00" {
		t.Fatalf("ledger holds %d decisions, want a and c", len(got))
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "the ledger refused a queue entry") {
		t.Errorf("refusal not logged:\n%s", logs)
	}
	if v, _ := prom.Value(reg, "kairos_ledger_refused_total", nil); v != 1 {
		t.Errorf("kairos_ledger_refused_total = %v, want 1", v)
	}
	if n, _ := st.QueueLen(ctx); n != 0 {
		t.Errorf("queue still holds %d entries", n)
	}
}
