package pgledger_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"kairos/decisioning"
	"kairos/ledger"
	"kairos/ledger/pgledger"
)

// Open migrates the database and returns the ledger; a database that
// cannot be reached is reported as ledger.ErrUnavailable, which a caller
// may retry.
func ExampleOpen() {
	ctx := context.Background()
	s, err := pgledger.Open(ctx, "postgres://kairos@localhost:5432/kairos", pgledger.Options{MaxConns: 8})
	if errors.Is(err, ledger.ErrUnavailable) {
		fmt.Println("PostgreSQL is down; retry later:", err)
		return
	}
	if err != nil {
		fmt.Println(err) // e.g. the schema is newer than this binary
		return
	}
	defer s.Close()
	err = s.WriteDecisions(ctx, []decisioning.Decision{{
		ID: "d-1", CustomerID: "c-42", Campaign: "winback", Outcome: decisioning.Suppressed,
		ArmIndex: -1, Reasons: []string{"cap:sms:1/7d"}, DecidedAt: time.Now(),
	}})
	if err != nil {
		fmt.Println(err)
	}
}
