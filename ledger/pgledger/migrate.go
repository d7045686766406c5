package pgledger

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"strconv"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the key of the advisory lock that serialises
// migrations: "kairos" in ASCII.
const migrationLock int64 = 0x6b6169726f73

// migration is one embedded SQL file.
type migration struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.sql$`)

// migrations returns the embedded migrations in order, checking that they
// are numbered 1, 2, … without gaps.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries { // sorted by name
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("pgledger: migration file %s: want NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if v != len(out)+1 {
			return nil, fmt.Errorf("pgledger: migration file %s: want version %d next", e.Name(), len(out)+1)
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	return out, nil
}

// Migrate applies the pending migrations to the database at url, as Open
// does, and closes its connection: for tools and test setups that prepare
// a database without using it.
func Migrate(ctx context.Context, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return parseError(url, err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return wrap("migrate", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return migrate(ctx, conn, slog.New(slog.DiscardHandler))
}

// migrate brings the schema up to date in one transaction holding the
// migration lock: a concurrent migrate waits, then finds nothing to do.
func migrate(ctx context.Context, conn *pgx.Conn, log *slog.Logger) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return wrap("migrate", err)
	}
	defer rollback(ctx, tx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
		return wrap("migrate: lock", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS kairos_schema_migrations (
		version    integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return wrap("migrate", err)
	}
	var current int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM kairos_schema_migrations").Scan(&current); err != nil {
		return wrap("migrate", err)
	}
	if current > len(ms) {
		return fmt.Errorf("pgledger: database schema is at version %d but this kairos knows up to %d; upgrade kairos", current, len(ms))
	}
	if current == len(ms) {
		return nil
	}
	for _, m := range ms[current:] {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return wrap("migrate: "+m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO kairos_schema_migrations (version) VALUES ($1)", m.version); err != nil {
			return wrap("migrate: "+m.name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return wrap("migrate: commit", err)
	}
	log.Info("ledger schema migrated", "from", current, "to", len(ms))
	return nil
}
