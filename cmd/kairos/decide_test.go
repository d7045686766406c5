package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	kairosv1 "kairos/api/proto/kairos/v1"
	"kairos/internal/logbuf"
	"kairos/internal/pgtest"
	"kairos/internal/redistest"
	"kairos/ledger"
	"kairos/ledger/pgledger"
)

// child is `kairos serve` running as a child process (the test binary
// standing in for kairos), so that a test can SIGKILL it.
type child struct {
	cmd    *exec.Cmd
	logs   *logbuf.Buffer
	client kairosv1.KairosClient
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{logs: &logbuf.Buffer{}}
	c.cmd = exec.Command(self, append([]string{"serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, args...)...)
	c.cmd.Env = append(os.Environ(), "KAIROS_TEST_AS_MAIN=1")
	c.cmd.Stderr = c.logs
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		for sc.Scan() {
		}
	}()
	select {
	case line := <-lines:
		m := servingLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("first stdout line %q; log:\n%s", line, c.logs)
		}
		conn, err := grpc.NewClient(m[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		c.client = kairosv1.NewKairosClient(conn)
	case <-time.After(20 * time.Second):
		t.Fatalf("serve printed nothing within 20s; log:\n%s", c.logs)
	}
	return c
}

// stopCleanly stops the child with SIGTERM and fails the test when it
// exits with an error or logged one.
func (c *child) stopCleanly(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Wait(); err != nil {
		t.Errorf("kairos serve: %v; log:\n%s", err, c.logs)
	}
	if strings.Contains(c.logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", c.logs)
	}
}

// TestDecideSurvivesSIGKILL: decisions acknowledged by a kairos serve that
// is killed (SIGKILL) under load all reach PostgreSQL, each exactly once,
// once another instance takes over the queue.
func TestDecideSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis, PostgreSQL and two kairos processes")
	}
	rs := redistest.Start(t)
	pgURL := pgtest.NewDB(t)
	args := []string{"--redis", rs.URL(), "--postgres", pgURL, "--claim-idle", "500ms"}
	first := startChild(t, args...)
	ctx := t.Context()
	const customers = 200
	for i := range customers {
		id := fmt.Sprintf("k%03d", i)
		if _, err := first.client.UpsertCustomer(ctx, &kairosv1.UpsertCustomerRequest{Customer: &kairosv1.Customer{
			CustomerId: id, Email: id + "@example.com", Consents: map[string]bool{"email": true},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := first.client.Decide(ctx, &kairosv1.DecideRequest{
					CustomerId: fmt.Sprintf("k%03d", (w*7919+i)%customers), Campaigns: []string{"cart_recovery", "winback"},
					RequestId: fmt.Sprintf("w%d-%d", w, i),
				})
				if err != nil {
					return // the server died
				}
				if d := resp.GetDecision(); !slices.Contains(d.GetReasons(), "not_recorded") {
					mu.Lock()
					acked = append(acked, d.GetDecisionId())
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	close(stop)
	wg.Wait()
	if len(acked) < 100 {
		t.Fatalf("only %d decisions acknowledged before the kill; log:\n%s", len(acked), first.logs)
	}

	// A second instance drains what the first left in the queue.
	second := startChild(t, args...)
	led, err := pgledger.Open(ctx, pgURL, pgledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	deadline := time.Now().Add(30 * time.Second)
	var missing []string
	for {
		all, err := led.Decisions(ctx, ledger.Query{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, d := range all {
			seen[d.ID]++
		}
		missing = missing[:0]
		for _, id := range acked {
			if seen[id] != 1 {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			t.Logf("%d acknowledged decisions (of %d recorded) in PostgreSQL after SIGKILL", len(acked), len(all))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged decisions not in the ledger exactly once, e.g. %v; second instance log:\n%s",
				len(missing), len(acked), missing[:min(5, len(missing))], second.logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	second.stopCleanly(t)
}

// TestDecidePostgresOutage: with PostgreSQL down, Decide goes on, /readyz
// says degraded, and the backlog drains when it is back.
func TestDecidePostgresOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis and PostgreSQL")
	}
	rs := redistest.Start(t)
	pgURL := pgtest.NewDB(t)
	inst := startServe(t, "--redis", rs.URL(), "--postgres", pgURL)
	ctx := t.Context()
	decide := func(n int, prefix string) []string {
		var ids []string
		for i := range n {
			resp, err := inst.client.Decide(ctx, &kairosv1.DecideRequest{CustomerId: fmt.Sprintf("%s%d", prefix, i), Campaigns: []string{"cart_recovery"}})
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			ids = append(ids, resp.GetDecision().GetDecisionId())
		}
		return ids
	}
	before := decide(20, "a")
	pgtest.Stop(t)
	during := decide(50, "b")
	waitFor(t, 15*time.Second, func() bool {
		code, body := inst.get(t, "/readyz")
		return code == 200 && strings.Contains(body, "degraded: ledger")
	}, "/readyz to say degraded")
	pgtest.Restart(t)
	led, err := pgledger.Open(ctx, pgURL, pgledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	waitFor(t, 30*time.Second, func() bool {
		for _, id := range append(before, during...) {
			if _, err := led.Decision(ctx, id); err != nil {
				return false
			}
		}
		code, body := inst.get(t, "/readyz")
		return code == 200 && body == "ok\n"
	}, "every decision in PostgreSQL and /readyz ok")
}

func waitFor(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDecideStartsWithPostgresDown: serve starts while PostgreSQL is
// unreachable, decides, says degraded, and fills the ledger once it is up.
func TestDecideStartsWithPostgresDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis and PostgreSQL")
	}
	rs := redistest.Start(t)
	pgURL := pgtest.NewDB(t)
	pgtest.Stop(t)
	inst := startServe(t, "--redis", rs.URL(), "--postgres", pgURL)
	ctx := t.Context()
	// Degraded from the start, before any decision needs writing.
	if code, body := inst.get(t, "/readyz"); code != 200 || !strings.Contains(body, "degraded: ledger: not connected") {
		t.Errorf("/readyz with PostgreSQL down at start = %d %q", code, body)
	}
	resp, err := inst.client.Decide(ctx, &kairosv1.DecideRequest{CustomerId: "p1", Campaigns: []string{"cart_recovery"}})
	if err != nil {
		t.Fatal(err)
	}
	pgtest.Restart(t)
	led, err := pgledger.Open(ctx, pgURL, pgledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	waitFor(t, 30*time.Second, func() bool {
		_, err := led.Decision(ctx, resp.GetDecision().GetDecisionId())
		return err == nil
	}, "the decision made while PostgreSQL was down to reach it")
}
