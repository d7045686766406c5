package redisstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"kairos/features"
	"kairos/features/redisstore"
	"kairos/internal/redistest"
)

const day = 24 * time.Hour

func newStore(t *testing.T) (*redisstore.Store, *redistest.Server, *redis.Client) {
	t.Helper()
	srv := redistest.Start(t)
	c := srv.Client(t)
	return redisstore.New(c, features.Default(), redisstore.Options{}), srv, c
}

func pageView(id, customer string, at time.Time) features.Event {
	return features.Event{ID: id, CustomerID: customer, Type: "page_view", Time: at,
		Properties: map[string]features.Value{"page": features.String("home")}}
}

func track(t *testing.T, s *redisstore.Store, now time.Time, events ...features.Event) []features.Status {
	t.Helper()
	st, err := s.Track(context.Background(), events, now)
	if err != nil {
		t.Fatalf("Track: %v", err)
	}
	return st
}

func feature(t *testing.T, s *redisstore.Store, customer, name string, now time.Time) float64 {
	t.Helper()
	p, err := s.Profile(context.Background(), customer, now)
	if err != nil {
		t.Fatalf("Profile(%q): %v", customer, err)
	}
	v, ok := p.Vector.Get(name)
	if !ok {
		t.Fatalf("no feature %q", name)
	}
	return v
}

const (
	A = features.Accepted
	D = features.Duplicate
)

func TestTrackDuplicates(t *testing.T) {
	s, _, _ := newStore(t)
	now := time.Now().UTC()
	got := track(t, s, now,
		pageView("a", "c1", now), pageView("a", "c1", now), pageView("b", "c1", now), pageView("a", "c2", now))
	if diff := cmp.Diff([]features.Status{A, D, A, A}, got); diff != "" {
		t.Errorf("first batch (-want +got):\n%s", diff)
	}
	got = track(t, s, now, pageView("b", "c1", now), pageView("c", "c1", now))
	if diff := cmp.Diff([]features.Status{D, A}, got); diff != "" {
		t.Errorf("second batch (-want +got):\n%s", diff)
	}
	if v := feature(t, s, "c1", "page_views_1h", now); v != 3 {
		t.Errorf("c1 page_views_1h = %v, want 3 (duplicates change nothing)", v)
	}
	if n := loggedEvents(t, s); n != 4 {
		t.Errorf("%d events logged, want the 4 accepted", n)
	}
	if got, err := s.Track(context.Background(), nil, now); err != nil || len(got) != 0 {
		t.Errorf("empty batch: %v, %v", got, err)
	}
}

// TestDedupSets: ids go to this week's set, a compact intset that expires a
// day after the end of next week. (The horizon itself is in the contract
// suite.)
func TestDedupSets(t *testing.T) {
	s, _, client := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	track(t, s, now, pageView("x", "c", now), pageView("y", "c", now))
	w := features.DedupWeek(now)
	key := fmt.Sprintf("k:{c}:s%d", w)
	if enc, err := client.ObjectEncoding(ctx, key).Result(); err != nil || enc != "intset" {
		t.Fatalf("dedup set %s: encoding %q, %v; want intset", key, enc, err)
	}
	exp, err := client.Do(ctx, "PEXPIRETIME", key).Int64()
	if err != nil {
		t.Fatal(err)
	}
	if want := (w+2)*7*day.Milliseconds() + day.Milliseconds(); exp != want {
		t.Errorf("dedup set expires at %v, want %v", time.UnixMilli(exp).UTC(), time.UnixMilli(want).UTC())
	}
}

// TestMemoryBounded drives one customer through 120 days of simulated time
// ending now (Redis expires keys on its own clock) and checks that only
// tile buckets some window still reads remain, each expiring when
// features.Set.ExpireAt says.
func TestMemoryBounded(t *testing.T) {
	s, _, client := newStore(t)
	ctx := context.Background()
	set := features.Default()
	end := time.Now().UTC()
	r := rand.New(rand.NewPCG(3, 4))
	n := 0
	for now := end.Add(-120 * day); !now.After(end); now = now.Add(2 * time.Hour) {
		var batch []features.Event
		for range 1 + r.IntN(6) {
			n++
			e := features.Event{ID: fmt.Sprint(n), CustomerID: "mem", Time: now.Add(-time.Duration(r.Int64N(int64(3 * time.Hour))))}
			switch r.IntN(5) {
			case 0:
				e.Type, e.Properties = "purchase", map[string]features.Value{"amount": features.Number(float64(r.IntN(10000)) / 100)}
			case 1:
				e.Type = "login"
			case 2:
				e.Type, e.Properties = "feature_used", map[string]features.Value{"feature": features.String(fmt.Sprint("f", r.IntN(40)))}
			default:
				e.Type, e.Properties = "page_view", map[string]features.Value{"product_id": features.String(fmt.Sprint("p", r.IntN(300)))}
			}
			batch = append(batch, e)
		}
		track(t, s, now, batch...)
	}

	readKeys := map[string]features.Key{}
	for _, k := range set.ReadKeys(end) {
		readKeys[k.Suffix()] = k
	}
	var tiles []string
	iter := client.Scan(ctx, 0, "k:{mem}:*", 1000).Iterator()
	for iter.Next(ctx) {
		suffix := strings.TrimPrefix(iter.Val(), "k:{mem}:")
		switch suffix {
		case "l": // the meta hash never expires
			if ttl, _ := client.PTTL(ctx, iter.Val()).Result(); ttl != -1*time.Nanosecond && ttl != -1 {
				t.Errorf("meta hash has TTL %v", ttl)
			}
			continue
		}
		if strings.HasPrefix(suffix, "s") { // dedup sets: this week's and last week's
			if w, _ := strconv.ParseInt(suffix[1:], 10, 64); w < features.DedupWeek(end)-1 {
				t.Errorf("dedup set %s of an old week remains", suffix)
			}
			continue
		}
		tiles = append(tiles, suffix)
		exp, err := client.Do(ctx, "PEXPIRETIME", iter.Val()).Int64()
		k, ok := readKeys[suffix]
		if !ok {
			// A bucket outlives the windows that read it by at most one
			// tile (features.Set.ExpireAt), e.g. just after midnight UTC
			// for hourly buckets.
			tile := map[byte]time.Duration{'m': time.Minute, 'f': 5 * time.Minute, 'h': time.Hour, 'd': day}[suffix[0]]
			if err != nil || exp <= end.UnixMilli() || exp > end.Add(tile).UnixMilli() {
				t.Errorf("tile bucket %s remains until %v (%v), but no window reads it at %v", suffix, time.UnixMilli(exp), err, end)
			}
			continue
		}
		if err != nil || exp != set.ExpireAt(k).UnixMilli() {
			t.Errorf("bucket %s expires at %d (%v), want %d", suffix, exp, err, set.ExpireAt(k).UnixMilli())
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if len(tiles) == 0 || len(tiles) > len(readKeys)+3 {
		t.Errorf("%d tile buckets remain after 120 days, want 1..%d", len(tiles), len(readKeys)+3)
	}
	t.Logf("%d events over 120 days: %d tile buckets remain (%d readable)", n, len(tiles), len(readKeys)-1)
	// The features still come out of what remains.
	if v := feature(t, s, "mem", "purchases_90d", end); v == 0 {
		t.Errorf("purchases_90d = 0 after 120 days of purchases")
	}
}

func TestOutage(t *testing.T) {
	s, srv, _ := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	track(t, s, now, pageView("before-1", "c", now), pageView("before-2", "c", now))

	srv.Stop()
	short, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := s.Track(short, []features.Event{pageView("during", "c", now)}, now)
	if !errors.Is(err, features.ErrUnavailable) || short.Err() != nil {
		t.Fatalf("Track during the outage: %v; want an error wrapping ErrUnavailable (before the deadline)", err)
	}
	if !strings.HasPrefix(err.Error(), "redisstore: track: ") {
		t.Errorf("error %q does not name the operation", err)
	}
	if err := s.Ping(short); !errors.Is(err, features.ErrUnavailable) {
		t.Fatalf("Ping during the outage: %v; want ErrUnavailable", err)
	}
	if _, err := s.Profile(short, "c", now); !errors.Is(err, features.ErrUnavailable) {
		t.Fatalf("Profile during the outage: %v; want ErrUnavailable", err)
	}

	srv.Restart(t) // same client, same store: it reconnects
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
	got := track(t, s, now, pageView("before-1", "c", now), pageView("during", "c", now))
	if diff := cmp.Diff([]features.Status{D, A}, got); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
	if v := feature(t, s, "c", "page_views_1h", now); v != 3 {
		t.Errorf("page_views_1h = %v after restart, want 3 (2 before the outage survive in the AOF)", v)
	}
	if n := loggedEvents(t, s); n != 3 {
		t.Errorf("%d events logged, want 3", n)
	}
}

// loggedEvents counts the events in the whole log.
func loggedEvents(t *testing.T, s *redisstore.Store) int {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateGroup(ctx, "count"); err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		entries, err := s.Read(ctx, "count", "c", 100, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			return n
		}
		for _, e := range entries {
			n += len(e.Events)
		}
	}
}

func TestUnavailableReplies(t *testing.T) {
	s, _, client := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	track(t, s, now, pageView("1", "c", now))

	t.Run("OOM", func(t *testing.T) {
		if err := client.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
			t.Fatal(err)
		}
		defer client.ConfigSet(ctx, "maxmemory", "0")
		_, err := s.Track(ctx, []features.Event{pageView("2", "c", now)}, now)
		if !errors.Is(err, features.ErrUnavailable) || !strings.Contains(err.Error(), "OOM") {
			t.Fatalf("Track with Redis out of memory: %v; want ErrUnavailable (OOM)", err)
		}
		// Reads still work.
		if v := feature(t, s, "c", "page_views_1h", now); v != 1 {
			t.Fatalf("page_views_1h = %v, want 1", v)
		}
	})
	t.Run("READONLY", func(t *testing.T) {
		// A replica of nothing refuses writes, as a demoted primary does.
		if err := client.Do(ctx, "REPLICAOF", "127.0.0.1", "1").Err(); err != nil {
			t.Fatal(err)
		}
		defer client.Do(ctx, "REPLICAOF", "NO", "ONE")
		_, err := s.Track(ctx, []features.Event{pageView("3", "c", now)}, now)
		if !errors.Is(err, features.ErrUnavailable) || !strings.Contains(err.Error(), "READONLY") {
			t.Fatalf("Track against a replica: %v; want ErrUnavailable (READONLY)", err)
		}
	})
	t.Run("Context", func(t *testing.T) {
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		_, err := s.Track(cancelled, []features.Event{pageView("4", "c", now)}, now)
		if !errors.Is(err, context.Canceled) || errors.Is(err, features.ErrUnavailable) {
			t.Fatalf("Track with a cancelled context: %v; want context.Canceled, not ErrUnavailable", err)
		}
		if err := s.CreateGroup(ctx, "g"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Read(ctx, "g", "c1", 100, 0); err != nil { // drain
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = s.Read(short, "g", "c1", 10, 5*time.Second)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
			t.Fatalf("blocking Read past its deadline: %v after %v; want context.DeadlineExceeded", err, time.Since(start))
		}
	})
}

func TestOpen(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	set := features.Default()
	s, err := redisstore.Open(ctx, srv.URL(), set, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A server that is not there: the error names the address, not the password.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	short, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = redisstore.Open(short, "redis://kairos:s3cret-pw@"+addr+"/0", set, redisstore.Options{})
	if err == nil || !errors.Is(err, features.ErrUnavailable) || !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("Open of a missing server: %v; want ErrUnavailable naming %s without the password", err, addr)
	}
	for _, bad := range []string{"redis://kairos:s3cret-pw@host:port/0", "http://kairos:s3cret-pw@host/0", "redis://kairos:s3cret-pw@host/x"} {
		_, err := redisstore.Open(ctx, bad, set, redisstore.Options{})
		if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("Open(%q) = %v; want an error without the password", bad, err)
		}
	}
}

func TestEventLogAtLeastOnce(t *testing.T) {
	s, _, client := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := s.CreateGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	// Three Track calls: three log entries.
	var batch []features.Event
	for i := range 3 {
		batch = append(batch, pageView(fmt.Sprint("e", i), "c", now))
		track(t, s, now, batch[i])
	}

	read, err := s.Read(ctx, "g", "c1", 10, 0)
	if err != nil || len(read) != 3 {
		t.Fatalf("Read: %d entries, %v; want 3", len(read), err)
	}
	for i, e := range read {
		if diff := cmp.Diff([]features.Event{batch[i]}, e.Events); diff != "" || !e.Arrived.Equal(now) {
			t.Fatalf("entry %d (-want +got):\n%s arrived %v", i, diff, e.Arrived)
		}
	}
	// c1 never acks. Before minIdle nothing is claimable; after it c2
	// gets the very same entries.
	if got, err := s.Claim(ctx, "g", "c2", 200*time.Millisecond, 10); err != nil || len(got) != 0 {
		t.Fatalf("Claim before minIdle: %d entries, %v; want none", len(got), err)
	}
	time.Sleep(250 * time.Millisecond)
	claimed, err := s.Claim(ctx, "g", "c2", 200*time.Millisecond, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(read, claimed); diff != "" {
		t.Fatalf("claimed (-read +claimed):\n%s", diff)
	}
	if err := s.Ack(ctx, "g", claimed[0].ID, claimed[1].ID); err != nil {
		t.Fatal(err)
	}
	pending, err := client.XPending(ctx, redisstore.StreamKey, "g").Result()
	if err != nil || pending.Count != 1 || pending.Lower != claimed[2].ID {
		t.Fatalf("pending after Ack = %+v, %v; want only %s", pending, err, claimed[2].ID)
	}
	if err := s.Ack(ctx, "g"); err != nil {
		t.Fatalf("Ack of nothing: %v", err)
	}
	// Nothing new: a non-blocking read returns at once, a blocking one
	// after its wait.
	start := time.Now()
	if got, err := s.Read(ctx, "g", "c1", 10, 0); err != nil || len(got) != 0 {
		t.Fatalf("Read of nothing: %v, %v", got, err)
	}
	if got, err := s.Read(ctx, "g", "c1", 10, 300*time.Millisecond); err != nil || len(got) != 0 || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("blocking Read of nothing: %v, %v after %v", got, err, time.Since(start))
	}
	if _, err := s.Read(ctx, "g", "c1", 0, 0); err == nil {
		t.Error("Read of count 0 succeeded")
	}
}

func TestEventLogUndecodable(t *testing.T) {
	s, _, client := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	if err := s.CreateGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	track(t, s, now, pageView("ok-1", "c", now))
	badID, err := client.XAdd(ctx, &redis.XAddArgs{Stream: redisstore.StreamKey, Values: []string{"e", "{not json"}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	track(t, s, now, pageView("ok-2", "c", now))

	got, err := s.Read(ctx, "g", "c1", 10, 0)
	var de *redisstore.DecodeError
	if !errors.As(err, &de) || !slices.Equal(de.IDs, []string{badID}) || !strings.Contains(err.Error(), badID) {
		t.Fatalf("Read: %v; want a *DecodeError naming %s", err, badID)
	}
	if len(got) != 2 || got[0].Events[0].ID != "ok-1" || got[1].Events[0].ID != "ok-2" {
		t.Fatalf("Read returned %+v; want the two decodable entries", got)
	}
}

// countHook counts what the client sends: single commands and pipelines.
type countHook struct {
	process, pipelines, pipelined atomic.Int64
}

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.process.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.pipelines.Add(1)
		h.pipelined.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// monitor records the commands Redis executes (MONITOR), to count those a
// client sent between two markers.
type monitor struct {
	mu    sync.Mutex
	lines []string
	mark  *redis.Client
	n     int
}

func startMonitor(t *testing.T, srv *redistest.Server) *monitor {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rd := bufio.NewReader(conn)
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := rd.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
		t.Fatalf("MONITOR: %q, %v", line, err)
	}
	m := &monitor{mark: srv.Client(t)}
	go func() {
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			m.mu.Lock()
			m.lines = append(m.lines, line)
			m.mu.Unlock()
		}
	}()
	return m
}

// commands runs f and returns the names of the commands clients sent
// while it ran (not those scripts ran).
func (m *monitor) commands(t *testing.T, f func()) []string {
	t.Helper()
	ctx := context.Background()
	m.n++
	begin, end := fmt.Sprint("begin-", m.n), fmt.Sprint("end-", m.n)
	if err := m.mark.Echo(ctx, begin).Err(); err != nil {
		t.Fatal(err)
	}
	f()
	if err := m.mark.Echo(ctx, end).Err(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		m.mu.Lock()
		lines := slices.Clone(m.lines)
		m.mu.Unlock()
		var cmds []string
		in := false
		for _, l := range lines {
			switch {
			case strings.Contains(l, `"echo" "`+begin+`"`):
				in = true
			case strings.Contains(l, `"echo" "`+end+`"`):
				return cmds
			case in && !strings.Contains(l, " lua] "):
				_, rest, _ := strings.Cut(l, `] "`)
				name, _, _ := strings.Cut(rest, `"`)
				cmds = append(cmds, strings.ToLower(name))
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("MONITOR did not show the end marker")
		}
	}
}

func commandCalls(t *testing.T, c *redis.Client) map[string]int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		var n int64
		fmt.Sscan(strings.Split(rest, ",")[0], &n)
		calls[name] = n
	}
	return calls
}

// TestOneRoundTrip: Track sends one EVALSHA, Profile one pipeline of a GET
// and one HGETALL per read key, seen from the client (hook) and from Redis
// (MONITOR, INFO commandstats).
func TestOneRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	hook := &countHook{}
	client.AddHook(hook)
	set := features.Default()
	s := redisstore.New(client, set, redisstore.Options{})
	stats := srv.Client(t)
	ctx := context.Background()
	now := time.Now().UTC()

	var batch []features.Event
	for i := range 100 {
		e := pageView(fmt.Sprint("rt-", i), fmt.Sprint("cust-", i%30), now.Add(-time.Duration(i)*time.Minute))
		if i%7 == 0 {
			e.Type, e.Properties = "purchase", map[string]features.Value{"amount": features.Number(9.99)}
		}
		batch = append(batch, e)
	}
	// Warm up: load the script (EVALSHA, then EVAL) and open connections.
	track(t, s, now, pageView("warm", "cust-0", now))
	if _, err := s.Profile(ctx, "cust-0", now); err != nil {
		t.Fatal(err)
	}
	reset := func() {
		hook.process.Store(0)
		hook.pipelines.Store(0)
		hook.pipelined.Store(0)
	}

	mon := startMonitor(t, srv)
	before := commandCalls(t, stats)
	reset()
	var st []features.Status
	sent := mon.commands(t, func() { st = track(t, s, now, batch...) })
	after := commandCalls(t, stats)
	if slices.Contains(st, D) {
		t.Fatalf("statuses %v: want all accepted", st)
	}
	if diff := cmp.Diff([]string{"evalsha"}, sent); diff != "" {
		t.Errorf("Track: commands sent (-want +got):\n%s", diff)
	}
	if p, pl := hook.process.Load(), hook.pipelines.Load(); p != 1 || pl != 0 {
		t.Errorf("Track: client processed %d commands and %d pipelines, want 1 and 0", p, pl)
	}
	if d := after["evalsha"] - before["evalsha"]; d != 1 {
		t.Errorf("Track: commandstats evalsha +%d, want +1", d)
	}
	if d := after["eval"] - before["eval"]; d != 0 {
		t.Errorf("Track: commandstats eval +%d, want +0", d)
	}

	reset()
	keys := set.ReadKeys(now)
	sent = mon.commands(t, func() {
		if _, err := s.Profile(ctx, "cust-1", now); err != nil {
			t.Fatal(err)
		}
	})
	want := append([]string{"get"}, slices.Repeat([]string{"hgetall"}, len(keys))...)
	if diff := cmp.Diff(want, sent); diff != "" {
		t.Errorf("Profile: commands sent (-want +got):\n%s", diff)
	}
	if p, pl, n := hook.process.Load(), hook.pipelines.Load(), hook.pipelined.Load(); p != 0 || pl != 1 || n != int64(len(want)) {
		t.Errorf("Profile: client processed %d commands and %d pipelines of %d, want 0 and 1 of %d", p, pl, n, len(want))
	}
}

func TestUpsertCustomer(t *testing.T) {
	s, _, client := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := features.Customer{ID: "ada", Email: "ada@example.com", Consents: map[string]bool{"email": true}}
	if err := s.UpsertCustomer(ctx, c, now); err != nil {
		t.Fatal(err)
	}
	// An older upsert does not move UpdatedAt back.
	if err := s.UpsertCustomer(ctx, c, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	p, err := s.Profile(ctx, "ada", now)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&c, p.Customer); diff != "" || !p.UpdatedAt.Equal(now) {
		t.Fatalf("record (-want +got):\n%s UpdatedAt %v, want %v", diff, p.UpdatedAt, now)
	}
	if err := client.Set(ctx, "k:{bad}:c", "{oops", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Profile(ctx, "bad", now); err == nil || errors.Is(err, features.ErrUnavailable) {
		t.Fatalf("Profile of a corrupt record: %v; want a decode error", err)
	}
}

// TestFailedTrackLeavesNothing: a Track whose script fails (here: the meta
// hash of a customer holds a string) writes nothing, so a retry after the
// cause is fixed is accepted, not reported as duplicates.
func TestFailedTrackLeavesNothing(t *testing.T) {
	s, _, client := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	meta := "k:{bad}:" + features.MetaKey.Suffix()
	if err := client.Set(ctx, meta, "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	batch := []features.Event{pageView("g1", "good", now), pageView("b1", "bad", now), pageView("g2", "good", now)}
	if _, err := s.Track(ctx, batch, now); err == nil {
		t.Fatal("Track succeeded on a corrupt meta hash")
	}
	keys, err := client.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != meta {
		t.Fatalf("a failed Track left keys behind: %v", keys)
	}
	if err := client.Del(ctx, meta).Err(); err != nil {
		t.Fatal(err)
	}
	if got := track(t, s, now, batch...); !slices.Equal(got, []features.Status{A, A, A}) {
		t.Fatalf("retry after the failure: %v, want all accepted", got)
	}
}

// TestWideBatch: a batch whose updates touch more fields of one hash than a
// single Redis call from Lua can take (unpack is limited to ~8000 values).
func TestWideBatch(t *testing.T) {
	var yaml strings.Builder
	yaml.WriteString("features:\n")
	for i := 0; i < 50; i++ {
		for _, agg := range []string{"sum", "min", "max"} {
			fmt.Fprintf(&yaml, "  - {name: %s_p%d, event: purchase, agg: %s, field: p%d, window: 90d}\n", agg, i, agg, i)
		}
	}
	set, err := features.Parse([]byte(yaml.String()), "wide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv := redistest.Start(t)
	s := redisstore.New(srv.Client(t), set, redisstore.Options{})
	now := time.Now().UTC()
	// 60 purchases, one a day: 150 fields per daily tile, ~4500 per bucket.
	var batch []features.Event
	for d := 0; d < 60; d++ {
		props := map[string]features.Value{}
		for i := 0; i < 50; i++ {
			props[fmt.Sprint("p", i)] = features.Number(float64(d))
		}
		batch = append(batch, features.Event{ID: fmt.Sprint(d), CustomerID: "wide", Type: "purchase", Time: now.Add(-time.Duration(d) * day), Properties: props})
	}
	track(t, s, now, batch...)
	p, err := s.Profile(context.Background(), "wide", now)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		name string
		v    float64
	}{{"sum_p7", 59 * 60 / 2}, {"min_p7", 0}, {"max_p49", 59}} {
		if v, _ := p.Vector.Get(want.name); v != want.v {
			t.Errorf("%s = %v, want %v", want.name, v, want.v)
		}
	}
}
