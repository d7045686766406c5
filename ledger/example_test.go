package ledger_test

import (
	"context"
	"fmt"
	"time"

	"kairos/decisioning"
	"kairos/ledger"
)

func ExampleMemory() {
	ctx := context.Background()
	l := ledger.NewMemory()
	at := time.Date(2026, 3, 1, 9, 30, 0, 123456789, time.UTC)
	d := decisioning.Decision{
		ID: "d-1", CustomerID: "c-42", Campaign: "winback", Outcome: decisioning.Holdout,
		Channel: "email", Offer: "discount_10", ArmIndex: 0, Propensity: 0.8,
		Reasons: []string{"holdout"}, DecidedAt: at,
	}
	// Writes are idempotent: a retried batch records nothing twice.
	for range 2 {
		if err := l.WriteDecisions(ctx, []decisioning.Decision{d}); err != nil {
			fmt.Println(err)
		}
	}
	ds, _ := l.Decisions(ctx, ledger.Query{Campaign: "winback", From: at.Truncate(time.Hour)})
	for _, d := range ds {
		fmt.Println(d.ID, d.Outcome, d.Channel, d.DecidedAt.Format(time.RFC3339Nano))
	}
	_, err := l.Decision(ctx, "d-2")
	fmt.Println(err)
	// Output:
	// d-1 HOLDOUT email 2026-03-01T09:30:00.123456Z
	// ledger: decision "d-2": ledger: not found
}
