package pgledger_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"kairos/internal/pgtest"
	"kairos/ledger/pgledger"
)

// latest is the number of embedded migrations.
const latest = 1

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// versions returns the recorded migrations and when they were applied.
func versions(t *testing.T, conn *pgx.Conn) map[int]time.Time {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT version, applied_at FROM kairos_schema_migrations")
	if err != nil {
		t.Fatalf("read kairos_schema_migrations: %v", err)
	}
	out := map[int]time.Time{}
	var v int
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&v, &at}, func() error { out[v] = at; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkSchema(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	if got := versions(t, conn); len(got) != latest || got[latest].IsZero() {
		t.Errorf("kairos_schema_migrations = %v, want versions 1..%d", got, latest)
	}
	for _, table := range []string{"decisions", "rewards", "dispatches"} {
		var ok bool
		if err := conn.QueryRow(context.Background(), "SELECT to_regclass($1) IS NOT NULL", table).Scan(&ok); err != nil || !ok {
			t.Errorf("table %s missing (%v)", table, err)
		}
	}
	var indexes int
	err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_indexes WHERE indexname IN
		('decisions_campaign_decided_at', 'decisions_customer_decided_at', 'rewards_campaign_closed_at', 'dispatches_status_at')`).Scan(&indexes)
	if err != nil || indexes != 4 {
		t.Errorf("report indexes: %d of 4 (%v)", indexes, err)
	}
}

func TestMigrateFreshDatabase(t *testing.T) {
	t.Parallel()
	url := pgtest.NewEmptyDB(t)
	openURL(t, url)
	checkSchema(t, connect(t, url))
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewEmptyDB(t)
	if err := pgledger.Migrate(ctx, url); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	conn := connect(t, url)
	before := versions(t, conn)
	if err := pgledger.Migrate(ctx, url); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	openURL(t, url)
	openURL(t, url)
	if after := versions(t, conn); len(after) != len(before) || !after[latest].Equal(before[latest]) {
		t.Errorf("migrating again changed kairos_schema_migrations: %v, then %v", before, after)
	}
	checkSchema(t, conn)
}

// TestMigrateConcurrently: instances starting at once against a fresh
// database all open it; the schema is created once.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := pgtest.NewEmptyDB(t)
	const instances = 4
	stores := make([]*pgledger.Store, instances)
	errs := make([]error, instances)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range instances {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = pgledger.Open(context.Background(), url, pgledger.Options{MaxConns: 2})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
			continue
		}
		stores[i].Close()
	}
	checkSchema(t, connect(t, url))
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDB(t) // migrated
	conn := connect(t, url)
	if _, err := conn.Exec(context.Background(), "INSERT INTO kairos_schema_migrations (version) VALUES (2), (3)"); err != nil {
		t.Fatal(err)
	}
	const want = "pgledger: database schema is at version 3 but this kairos knows up to 1; upgrade kairos"
	_, err := pgledger.Open(context.Background(), url, pgledger.Options{})
	if err == nil || err.Error() != want {
		t.Errorf("Open = %v, want %q", err, want)
	}
	if err := pgledger.Migrate(context.Background(), url); err == nil || !strings.Contains(err.Error(), "upgrade kairos") {
		t.Errorf("Migrate = %v, want the refusal", err)
	}
}

func TestOpenLogsMigrations(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil))
	s, err := pgledger.Open(context.Background(), pgtest.NewEmptyDB(t), pgledger.Options{Logger: log, MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	mu.Lock()
	defer mu.Unlock()
	if got := buf.String(); !strings.Contains(got, "ledger schema migrated") || !strings.Contains(got, "component=ledger") || !strings.Contains(got, "to=1") {
		t.Errorf("log = %q, want the migration with component=ledger", got)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
