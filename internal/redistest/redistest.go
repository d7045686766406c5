// Package redistest starts a real, throwaway redis-server for tests.
//
// Start runs the installed redis-server binary on a free loopback port with
// its data (and append-only file) in the test's temporary directory, and
// stops it when the test ends. A test that needs Redis to go away and come
// back (an outage) uses Stop and Restart; data written before Stop survives
// Restart through the AOF.
//
// It is imported only by tests.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"

	"kairos/internal/testproc"
)

// Main runs a test binary whose tests stop and start Redis: call it from
// TestMain. Unless -v is given it silences go-redis's own logger (a process
// global, which writes "failed to dial" lines to stderr while Redis is
// down).
func Main(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		logging.Disable()
	}
	os.Exit(m.Run())
}

const (
	// startTimeout bounds how long a started server may take to answer PING.
	startTimeout = 5 * time.Second
	// bindAttempts is how often Start picks a new port when another process
	// took the chosen one between probing and redis binding it.
	bindAttempts = 5
	missingMsg   = "redistest: redis-server not installed; run `make test` or `apt-get install redis-server`"
)

// Server is a running redis-server owned by one test.
type Server struct {
	// Addr is the server's host:port on 127.0.0.1.
	Addr string

	bin  string
	dir  string
	port int

	mu  sync.Mutex
	cmd *exec.Cmd
	// exited is closed when cmd has been waited for.
	exited chan struct{}
}

// Start starts a redis-server for t and registers its shutdown with
// t.Cleanup. It skips the test when redis-server is not installed, unless
// the environment variable CI is "true", where a missing server fails it.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(missingMsg)
		}
		t.Skip(missingMsg)
	}
	s := &Server{bin: bin, dir: t.TempDir()}
	var last error
	for range bindAttempts {
		port, err := testproc.FreePort()
		if err != nil {
			t.Fatalf("redistest: pick a free port: %v", err)
		}
		s.port = port
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		last = s.start()
		if last == nil {
			t.Cleanup(s.Stop)
			return s
		}
		if !errors.Is(last, errAddrInUse) {
			break
		}
	}
	t.Fatal(last)
	return nil
}

// URL returns the server's address as a redis:// URL for database 0.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Client returns a new client of the server, closed when t ends. Its
// context deadlines are honoured (ContextTimeoutEnabled).
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop kills the server (SIGKILL, like a crash) and waits for it to exit.
// Writes acknowledged before Stop are in the AOF (written, fsynced within a
// second by the OS). Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd, s.exited = nil, nil
}

// Restart stops the server if it runs and starts it again on the same port
// and directory, so that clients reconnect to it and its data survives.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	// The port was just released; a stranger may grab it in between, which
	// a few attempts cannot fix, so fail clearly then.
	var err error
	for range bindAttempts {
		if err = s.start(); !errors.Is(err, errAddrInUse) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
}

var errAddrInUse = errors.New("address already in use")

// start launches redis-server on s.port and waits until it answers PING.
func (s *Server) start() error {
	logPath := filepath.Join(s.dir, "redis.log")
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--logfile", logPath,
		"--appendonly", "yes",
		"--appendfsync", "everysec",
		"--save", "",
		"--daemonize", "no",
		"--databases", "16",
		// The client's own timeouts decide; never drop an idle test client.
		"--timeout", "0",
	)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start %s: %w", s.bin, err)
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
			log := testproc.LogTail(logPath, 0)
			if strings.Contains(log, "Address already in use") {
				return fmt.Errorf("redistest: port %d: %w", s.port, errAddrInUse)
			}
			return fmt.Errorf("redistest: redis-server exited during start (%v); log:\n%s", waitErr, log)
		default:
		}
		if ping(s.Addr) == nil {
			s.mu.Lock()
			s.cmd, s.exited = cmd, exited
			s.mu.Unlock()
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redistest: redis-server on %s did not answer PING within %s; log:\n%s",
				s.Addr, startTimeout, testproc.LogTail(logPath, 0))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ping sends one PING and reports whether +PONG came back (LOADING and
// other errors mean "not ready yet").
func ping(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("redistest: PING answered %q", strings.TrimSpace(line))
	}
	return nil
}
