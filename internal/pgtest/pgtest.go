// Package pgtest runs a real, throwaway PostgreSQL server for tests.
//
// A test binary calls Main from TestMain. The first test that asks for a
// database starts one server for the whole binary: initdb into a temporary
// directory (fsync off: the data is thrown away), the server listening on a
// free 127.0.0.1 port with its unix socket in that directory. A template
// database is created once and prepared by Main's setup function (for
// example, migrations); NewDB gives each test its own clone of it, dropped
// when the test ends, so tests are isolated and may run in parallel. When
// the tests are done Main stops the server and removes the directory.
//
// A test that needs PostgreSQL to go away and come back (an outage) calls
// Stop and then Restart: the server restarts on the same port with its data
// kept, so clients reconnect to it. Such a test must not call t.Parallel,
// because the server is shared by every test of the binary.
//
// The server binaries (initdb, postgres) are looked up on PATH, then in
// /usr/lib/postgresql/<version>/bin, newest version first. Without them
// tests are skipped, except when the environment variable CI is "true",
// where they fail. PostgreSQL refuses to run as root: when the tests run as
// root, the server runs as the "postgres" user, or "nobody", and owns the
// temporary directory.
//
// It is imported only by tests, and runs on Linux and other Unix systems.
package pgtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"kairos/internal/testproc"
)

const (
	// startTimeout bounds how long a started server may take to accept
	// connections (crash recovery after Stop included).
	startTimeout = 60 * time.Second
	// bootTimeout bounds initdb, the first start and the setup function.
	bootTimeout = 5 * time.Minute
	// stopTimeout bounds how long the server may take to exit after the
	// shutdown signal; it is killed then.
	stopTimeout = 15 * time.Second
	// bindAttempts is how often a start picks a port again (or, on restart,
	// retries the same one) when another process holds it.
	bindAttempts = 5
	// superuser is the server's superuser; local connections are trusted.
	superuser = "postgres"
	// templateDB is the database NewDB clones.
	templateDB = "kairos_template"

	missingMsg = "pgtest: PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin; run `make test` or `apt-get install postgresql`"
)

// errMissing reports that the server binaries are not installed.
var errMissing = errors.New(missingMsg)

// state is the test binary's one server, started by the first test that
// needs it.
var state struct {
	main  atomic.Bool
	setup func(ctx context.Context, url string) error
	once  sync.Once
	srv   *server
	err   error // from booting, returned to every later caller
	seq   atomic.Int64
}

// Main runs the tests of a binary that uses PostgreSQL: call it from
// TestMain. setup, when not nil, runs once against the template database
// (its URL) before the first clone is made, typically to apply migrations;
// it must close its connections before it returns. Main stops the server
// and removes its directory after the tests, then exits.
func Main(m *testing.M, setup func(ctx context.Context, url string) error) {
	state.setup = setup
	state.main.Store(true)
	code := m.Run()
	if state.srv != nil {
		if err := state.srv.shutdown(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}

// NewDB creates a database cloned from the template prepared by Main's
// setup and returns its URL; the database is dropped when t ends. It skips
// t when PostgreSQL is not installed (fails it when CI=true).
func NewDB(t testing.TB) string {
	t.Helper()
	return newDB(t, templateDB)
}

// NewEmptyDB is NewDB for a database without the setup's work, cloned from
// PostgreSQL's pristine template0: for tests of the setup itself, such as
// migrations.
func NewEmptyDB(t testing.TB) string {
	t.Helper()
	return newDB(t, "template0")
}

func newDB(t testing.TB, template string) string {
	t.Helper()
	s := running(t)
	name := fmt.Sprintf("kairos_test_%d", state.seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	create := fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, template)
	if s.version >= 15 {
		// Copying the files (after a checkpoint, cheap here) beats
		// logging every page, the default since PostgreSQL 15.
		create += " STRATEGY FILE_COPY"
	}
	if err := s.exec(ctx, "postgres", create); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		// FORCE ends the connections a test left open.
		if err := s.exec(ctx, "postgres", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.url(name)
}

// Stop shuts the server down at once, like a crash (an immediate
// shutdown: clients are disconnected, nothing is checkpointed), and waits
// for it to exit. Committed data survives; Restart brings the server back.
// If t ends with the server still stopped, it is restarted then, so that
// later tests find it running. Stopping a stopped server does nothing.
func Stop(t testing.TB) {
	t.Helper()
	s := running(t)
	s.stop()
	t.Cleanup(func() {
		if !s.isRunning() {
			if err := s.restart(); err != nil {
				t.Errorf("pgtest: restart after the test: %v", err)
			}
		}
	})
}

// Restart starts the server again after Stop (or restarts it if it runs)
// on the same port and data directory, and waits until it accepts
// connections (after crash recovery).
func Restart(t testing.TB) {
	t.Helper()
	s := running(t)
	s.stop()
	if err := s.restart(); err != nil {
		t.Fatal(err)
	}
}

// running returns the binary's server, starting it on first use.
func running(t testing.TB) *server {
	t.Helper()
	if !state.main.Load() {
		t.Fatal("pgtest: call pgtest.Main(m, setup) from TestMain")
	}
	state.once.Do(func() { state.srv, state.err = boot(state.setup) })
	switch {
	case errors.Is(state.err, errMissing):
		if os.Getenv("CI") == "true" {
			t.Fatal(missingMsg)
		}
		t.Skip(missingMsg)
	case state.err != nil:
		t.Fatal(state.err)
	}
	return state.srv
}

// server is a PostgreSQL server process and its directory.
type server struct {
	bin     string // directory of initdb and postgres
	dir     string // temporary root: socket, log, data/
	port    int
	version int                 // major version, e.g. 15
	cred    *syscall.Credential // whom the server runs as; nil: the current user

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// boot finds the binaries, creates the cluster, starts the server and
// prepares the template. The returned server, if not nil, must be shut
// down even when err is not nil.
func boot(setup func(ctx context.Context, url string) error) (*server, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if cred != nil {
		// The server's user must own the directory it writes in.
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	s := &server{bin: bin, dir: dir, cred: cred}
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	if err := s.initdb(ctx); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if s.version, err = s.majorVersion(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	for range bindAttempts {
		if s.port, err = testproc.FreePort(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: pick a free port: %w", err)
		}
		if err = s.start(); !errors.Is(err, errAddrInUse) {
			break
		}
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := s.exec(ctx, "postgres", "CREATE DATABASE "+templateDB); err != nil {
		return s, fmt.Errorf("pgtest: create template: %w", err)
	}
	if setup != nil {
		if err := setup(ctx, s.url(templateDB)); err != nil {
			return s, fmt.Errorf("pgtest: setup of the template database: %w", err)
		}
	}
	// No connections to the template from now on: a leftover one would
	// make CREATE DATABASE … TEMPLATE fail.
	if err := s.exec(ctx, "postgres", "ALTER DATABASE "+templateDB+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return s, fmt.Errorf("pgtest: seal template: %w", err)
	}
	return s, nil
}

// findBinaries returns the directory holding initdb and postgres: the one
// on PATH, else the newest /usr/lib/postgresql/<version>/bin.
func findBinaries() (string, error) {
	return findBinariesIn(exec.LookPath, "/usr/lib/postgresql/*/bin")
}

// findBinariesIn is findBinaries with the PATH lookup and the pattern of
// the versioned directories given.
func findBinariesIn(lookPath func(string) (string, error), pattern string) (string, error) {
	if p, err := lookPath("initdb"); err == nil {
		// Resolve a symlink (/usr/local/bin/initdb → …/15/bin/initdb)
		// to find its postgres beside it.
		if resolved, err := filepath.EvalSymlinks(p); err == nil {
			p = resolved
		}
		dir := filepath.Dir(p)
		if isExecutable(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob(pattern)
	dirs = slices.DeleteFunc(dirs, func(d string) bool {
		return !isExecutable(filepath.Join(d, "initdb")) || !isExecutable(filepath.Join(d, "postgres"))
	})
	if len(dirs) == 0 {
		return "", errMissing
	}
	slices.SortFunc(dirs, func(a, b string) int {
		return compareVersions(filepath.Base(filepath.Dir(a)), filepath.Base(filepath.Dir(b)))
	})
	return dirs[len(dirs)-1], nil
}

// compareVersions orders "9.6" < "10" < "15" numerically, part by part.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(pa), len(pb)) {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if c := cmp.Compare(x, y); c != 0 {
			return c
		}
	}
	return strings.Compare(a, b)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// credential returns whom to run the server as: nil (the current user)
// unless that is root, which PostgreSQL refuses; then the "postgres" user
// the distribution packages create, or "nobody".
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		// Groups empty (and NoSetGroups false) drops root's groups.
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("pgtest: running as root, and neither a \"postgres\" nor a \"nobody\" user exists to run PostgreSQL as")
}

// majorVersion reads the cluster's major version from PG_VERSION.
func (s *server) majorVersion() (int, error) {
	b, err := os.ReadFile(filepath.Join(s.dataDir(), "PG_VERSION"))
	if err != nil {
		return 0, fmt.Errorf("pgtest: %w", err)
	}
	major, _, _ := strings.Cut(strings.TrimSpace(string(b)), ".")
	v, err := strconv.Atoi(major)
	if err != nil {
		return 0, fmt.Errorf("pgtest: PG_VERSION %q: %w", b, err)
	}
	return v, nil
}

func (s *server) dataDir() string { return filepath.Join(s.dir, "data") }
func (s *server) logPath() string { return filepath.Join(s.dir, "postgres.log") }

// url returns the URL of database db as the superuser.
func (s *server) url(db string) string {
	host := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	return "postgres://" + superuser + "@" + host + "/" + db + "?sslmode=disable"
}

// command returns a command of the server's binaries running as the
// server's user, its output appended to the log.
func (s *server) command(ctx context.Context, log *os.File, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr(s.cred)
	return cmd
}

func (s *server) initdb(ctx context.Context) error {
	log, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer log.Close()
	cmd := s.command(ctx, log, "initdb",
		"-D", s.dataDir(), "-U", superuser, "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgtest: initdb: %v; log:\n%s", err, testproc.LogTail(s.logPath(), 0))
	}
	return nil
}

var errAddrInUse = errors.New("address already in use")

// start launches postgres on s.port and waits until it accepts
// connections.
func (s *server) start() error {
	log, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer log.Close() // the child has its own copy
	logStart, _ := log.Seek(0, io.SeekEnd)
	// Not bound to a context: the server outlives this call.
	cmd := s.command(context.Background(), log, "postgres",
		"-D", s.dataDir(),
		"-p", strconv.Itoa(s.port),
		"-k", s.dir,
		"-c", "listen_addresses=127.0.0.1",
		// Throwaway data: no fsync, and the least WAL, which also makes
		// CREATE DATABASE … STRATEGY FILE_COPY take milliseconds.
		"-c", "fsync=off",
		"-c", "full_page_writes=off",
		"-c", "wal_level=minimal",
		"-c", "max_wal_senders=0",
		"-c", "max_connections=300",
	)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			out := testproc.LogTail(s.logPath(), logStart)
			if strings.Contains(out, "Address already in use") {
				return fmt.Errorf("pgtest: port %d: %w", s.port, errAddrInUse)
			}
			return fmt.Errorf("pgtest: postgres exited during start (%v); log:\n%s", waitErr, out)
		default:
		}
		if s.ping() == nil {
			s.mu.Lock()
			s.cmd, s.exited = cmd, exited
			s.mu.Unlock()
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("pgtest: postgres on port %d did not accept connections within %s; log:\n%s",
				s.port, startTimeout, testproc.LogTail(s.logPath(), logStart))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restart starts the stopped server on its port, retrying while the port
// is still held.
func (s *server) restart() error {
	var err error
	for range bindAttempts {
		if err = s.start(); !errors.Is(err, errAddrInUse) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return err
}

func (s *server) isRunning() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// stop shuts the server down immediately (SIGQUIT) and waits for it and
// its backends to exit; it kills it if that takes too long.
func (s *server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd, s.exited = nil, nil
}

// shutdown stops the server and removes its directory.
func (s *server) shutdown() error {
	s.stop()
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("pgtest: remove %s: %w", s.dir, err)
	}
	return nil
}

// ping reports whether the server accepts connections and queries.
func (s *server) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return s.exec(ctx, "postgres", "SELECT 1")
}

// exec runs one statement in database db on a connection of its own.
func (s *server) exec(ctx context.Context, db, sql string) error {
	conn, err := pgx.Connect(ctx, s.url(db))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}
