package pgledger_test

import (
	"context"
	"testing"

	"kairos/internal/pgtest"
	"kairos/ledger"
	"kairos/ledger/ledgertest"
	"kairos/ledger/pgledger"
)

// TestMain migrates the template database once; every test gets a clone.
func TestMain(m *testing.M) { pgtest.Main(m, pgledger.Migrate) }

// open returns a store on a fresh, migrated database, closed when t ends.
func open(t testing.TB) *pgledger.Store {
	t.Helper()
	return openURL(t, pgtest.NewDB(t))
}

func openURL(t testing.TB, url string) *pgledger.Store {
	t.Helper()
	s, err := pgledger.Open(context.Background(), url, pgledger.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestLedger(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) ledger.Ledger { return open(t) })
}
