package pgledger_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"kairos/decisioning"
	"kairos/internal/pgtest"
	"kairos/ledger"
	"kairos/ledger/pgledger"
)

// latest is the number of embedded migrations.
const latest = 2

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
	// 0002: a reward is keyed by (decision_id, metric); decisions list
	// their metric windows.
	var key string
	err = conn.QueryRow(context.Background(), `SELECT string_agg(a.attname, ',' ORDER BY k.i)
		FROM pg_index x CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, i)
		JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
		WHERE x.indrelid = 'rewards'::regclass AND x.indisprimary`).Scan(&key)
	if err != nil || key != "decision_id,metric" {
		t.Errorf("rewards primary key (%s), %v; want (decision_id,metric)", key, err)
	}
	var typ string
	err = conn.QueryRow(context.Background(), `SELECT data_type FROM information_schema.columns WHERE table_name = 'decisions' AND column_name = 'metrics'`).Scan(&typ)
	if err != nil || typ != "jsonb" {
		t.Errorf("decisions.metrics: %q, %v; want jsonb", typ, err)
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
	if _, err := conn.Exec(context.Background(), "INSERT INTO kairos_schema_migrations (version) VALUES ($1), ($2)", latest+1, latest+2); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("pgledger: database schema is at version %d but this kairos knows up to %d; upgrade kairos", latest+2, latest)
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
	if got := buf.String(); !strings.Contains(got, "ledger schema migrated") || !strings.Contains(got, "component=ledger") || !strings.Contains(got, fmt.Sprintf("to=%d", latest)) {
		t.Errorf("log = %q, want the migration with component=ledger", got)
	}
}

// TestMigrateKeepsOldRows: a ledger written at version 1 (rewards keyed by
// decision_id alone) migrates to metric windows: its rows read back as
// before, with metric "" and no metric windows, and each decision can then
// take metric rewards beside its reward, which stays the one under metric
// "".
func TestMigrateKeepsOldRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewEmptyDB(t)
	conn := connect(t, url)
	v1, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	// The database as the Kairos of version 1 left it.
	for _, sql := range []string{
		"CREATE TABLE kairos_schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
		string(v1),
		"INSERT INTO kairos_schema_migrations (version) VALUES (1)",
		`INSERT INTO decisions (decision_id, customer_id, campaign, request_id, outcome, channel, offer, arm_index, propensity,
			scores, decided_at, expected_value, segment, reward_event, reward_value, reward_until)
		 VALUES ('old-1', 'c1', 'winback', '', 'SEND', 'email', 'discount_10', 0, 0.5,
			'{"churn": 0.25, "propensity": "NaN"}', '2026-01-02T03:04:05.123456Z', 0.1, 2, 'session_start', '1', '2026-01-09T03:04:05.123456Z')`,
		`INSERT INTO rewards (decision_id, customer_id, campaign, converted, value, event_id, event_at, closed_at) VALUES
			('old-1', 'c1', 'winback', true, 1, 'ev-1', '2026-01-03T00:00:00Z', '2026-01-03T00:01:00Z'),
			('old-2', 'c2', 'winback', false, 0, '', NULL, '2026-01-09T00:00:00Z')`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	s := openURL(t, url) // migrates to the latest version
	checkSchema(t, conn)

	closed1 := time.Date(2026, 1, 3, 0, 1, 0, 0, time.UTC)
	closed2 := time.Date(2026, 1, 9, 0, 0, 0, 0, time.UTC)
	old1 := decisioning.Reward{DecisionID: "old-1", CustomerID: "c1", Campaign: "winback", Converted: true, Value: 1,
		EventID: "ev-1", EventAt: time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC), ClosedAt: closed1}
	old2 := decisioning.Reward{DecisionID: "old-2", CustomerID: "c2", Campaign: "winback", ClosedAt: closed2}
	rs, err := s.Rewards(ctx, ledger.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]decisioning.Reward{old1, old2}, rs); diff != "" {
		t.Errorf("rewards written at version 1 (-want +got):\n%s", diff)
	}
	d, err := s.Decision(ctx, "old-1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Metrics != nil || d.RewardEvent != "session_start" || d.Segment != 2 || !math.IsNaN(d.Scores.Propensity) {
		t.Errorf("decision written at version 1 reads back as %+v", d)
	}

	// A metric reward of an old decision is a row of its own; a changed
	// copy of the old reward is still ignored.
	metric := decisioning.Reward{DecisionID: "old-1", CustomerID: "c1", Campaign: "winback", Metric: "unsubscribe", ClosedAt: closed2}
	changed := old1
	changed.Converted, changed.Value = false, 0
	if err := s.WriteRewards(ctx, []decisioning.Reward{metric, changed}); err != nil {
		t.Fatal(err)
	}
	rs, err = s.Rewards(ctx, ledger.Query{CustomerID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]decisioning.Reward{old1, metric}, rs); diff != "" {
		t.Errorf("after a metric reward (-want +got):\n%s", diff)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
