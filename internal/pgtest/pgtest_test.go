package pgtest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) {
	Main(m, func(ctx context.Context, url string) error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "CREATE TABLE seeded (n int); INSERT INTO seeded VALUES (1), (2)")
		return err
	})
}

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

func count(t *testing.T, conn *pgx.Conn, table string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func TestNewDBClonesTheTemplate(t *testing.T) {
	t.Parallel()
	a, b := NewDB(t), NewDB(t)
	if a == b {
		t.Fatalf("two databases with one URL %s", a)
	}
	ca, cb := connect(t, a), connect(t, b)
	if got := count(t, ca, "seeded"); got != 2 {
		t.Errorf("clone has %d seeded rows, want 2", got)
	}
	if _, err := ca.Exec(context.Background(), "INSERT INTO seeded VALUES (3)"); err != nil {
		t.Fatal(err)
	}
	if got := count(t, cb, "seeded"); got != 2 {
		t.Errorf("other clone has %d seeded rows after a write to the first, want 2", got)
	}
}

func TestNewEmptyDB(t *testing.T) {
	t.Parallel()
	conn := connect(t, NewEmptyDB(t))
	var exists bool
	if err := conn.QueryRow(context.Background(), "SELECT to_regclass('seeded') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Error("empty database has the template's table")
	}
}

func TestStopRestartKeepsData(t *testing.T) {
	url := NewDB(t)
	ctx := context.Background()
	conn := connect(t, url)
	if _, err := conn.Exec(ctx, "INSERT INTO seeded VALUES (42)"); err != nil {
		t.Fatal(err)
	}

	Stop(t)
	Stop(t) // idempotent
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if c, err := pgx.Connect(short, url); err == nil {
		_ = c.Close(ctx)
		t.Fatal("connected after Stop")
	}

	Restart(t)
	if got := count(t, connect(t, url), "seeded"); got != 3 {
		t.Errorf("after Restart: %d rows, want 3 (the committed insert must survive)", got)
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"15", "15", 0},
		{"9.6", "10", -1},
		{"16", "15", 1},
		{"10", "9", 1},
	} {
		if got := compareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestFindBinaries(t *testing.T) {
	root := t.TempDir()
	install := func(dir string, names ...string) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, v := range []string{"9.6", "15", "13"} {
		install(filepath.Join(root, "lib", v, "bin"), "initdb", "postgres")
	}
	install(filepath.Join(root, "lib", "16", "bin"), "initdb") // incomplete
	notOnPath := func(string) (string, error) { return "", exec.ErrNotFound }
	pattern := filepath.Join(root, "lib", "*", "bin")

	if got, err := findBinariesIn(notOnPath, pattern); err != nil || got != filepath.Join(root, "lib", "15", "bin") {
		t.Errorf("newest complete version = %q, %v; want lib/15/bin", got, err)
	}
	onPath := filepath.Join(root, "path")
	install(onPath, "initdb", "postgres")
	lookPath := func(name string) (string, error) { return filepath.Join(onPath, name), nil }
	if got, err := findBinariesIn(lookPath, pattern); err != nil || got != onPath {
		t.Errorf("with initdb on PATH = %q, %v; want %q", got, err, onPath)
	}
	if _, err := findBinariesIn(notOnPath, filepath.Join(root, "none", "*", "bin")); !errors.Is(err, errMissing) {
		t.Errorf("nothing installed: %v, want errMissing", err)
	}
	if !strings.Contains(missingMsg, "make test") || !strings.Contains(missingMsg, "apt-get install postgresql") {
		t.Errorf("the message for a missing server does not say how to install it: %s", missingMsg)
	}
}
