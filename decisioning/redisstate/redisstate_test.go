package redisstate_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"kairos/decisioning"
	"kairos/decisioning/redisstate"
	"kairos/features"
	"kairos/features/redisstore"
	"kairos/internal/redistest"
	"kairos/ledger"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func newState(t *testing.T) (*redisstate.State, *redis.Client) {
	t.Helper()
	srv := redistest.Start(t)
	c := srv.Client(t)
	rs := redisstore.New(c, features.Default(), redisstore.Options{})
	return redisstate.New(rs, redisstate.Options{}), c
}

func decision(customer string, at time.Time) decisioning.Decision {
	return decisioning.Decision{ID: decisioning.NewID(at), CustomerID: customer, Campaign: "cart",
		Outcome: decisioning.NoAction, ArmIndex: -1, DecidedAt: at}
}

// TestUndecodableEntryIsDeadLettered: a damaged entry moves to the
// dead-letter stream, the entries after it are read, and the queue drains;
// an entry a newer Kairos wrote stays in the queue for an instance that
// reads it.
func TestUndecodableEntryIsDeadLettered(t *testing.T) {
	st, c := newState(t)
	ctx := context.Background()
	now := time.Now()
	if _, err := st.Commit(ctx, "", "", []decisioning.Decision{decision("a", now)}); err != nil {
		t.Fatal(err)
	}
	if err := c.XAdd(ctx, &redis.XAddArgs{Stream: redisstate.LedgerStream, Values: []any{"e", "E\x01\x05zz"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(ctx, "", "", []decisioning.Decision{decision("b", now)}); err != nil {
		t.Fatal(err)
	}
	mem := ledger.NewMemory()
	dr := ledger.NewDrainer(st, mem, ledger.DrainOptions{Consumer: "d"})
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := dr.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := mem.Decisions(ctx, ledger.Query{}); len(got) != 2 {
		t.Errorf("ledger holds %d decisions, want the 2 decodable ones", len(got))
	}
	dead, err := c.XRange(ctx, redisstate.DeadStream, "-", "+").Result()
	if err != nil || len(dead) != 1 || dead[0].Values["e"] != "E\x01\x05zz" {
		t.Fatalf("dead letters %v, %v; want the undecodable entry", dead, err)
	}
	if n, _ := st.QueueLen(ctx); n != 0 {
		t.Errorf("queue holds %d entries", n)
	}

	if err := c.XAdd(ctx, &redis.XAddArgs{Stream: redisstate.LedgerStream, Values: []any{"e", "E\x02future"}}).Err(); err != nil {
		t.Fatal(err)
	}
	sctx, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	if err := dr.Flush(sctx); err == nil {
		t.Error("Flush finished with a newer-format entry in the queue")
	}
	if n, _ := st.QueueLen(ctx); n != 1 {
		t.Errorf("queue holds %d entries, want the newer-format one left", n)
	}
	if n, _ := c.XLen(ctx, redisstate.DeadStream).Result(); n != 1 {
		t.Errorf("dead letters %d, want still 1", n)
	}
}

// TestCommitConflict: a send committed with a stale token is refused and
// writes nothing; with the fresh token it goes through.
func TestCommitConflict(t *testing.T) {
	st, c := newState(t)
	ctx := context.Background()
	now := time.Now()
	send := func(id string) decisioning.Decision {
		d := decision("c1", now)
		d.ID, d.Outcome, d.Channel, d.Offer, d.ArmIndex = id, decisioning.Send, "email", "reminder", 0
		return d
	}
	snap, err := st.Load(ctx, "c1", "", now, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	first := send(decisioning.NewID(now))
	if _, err := st.Commit(ctx, "", snap.SentToken, []decisioning.Decision{first}); err != nil {
		t.Fatal(err)
	}
	// A second decision made on the same (now stale) read.
	before, _ := c.XLen(ctx, redisstate.LedgerStream).Result()
	if _, err := st.Commit(ctx, "r2", snap.SentToken, []decisioning.Decision{send(decisioning.NewID(now))}); err != decisioning.ErrConflict {
		t.Fatalf("stale commit: %v, want ErrConflict", err)
	}
	if after, _ := c.XLen(ctx, redisstate.LedgerStream).Result(); after != before {
		t.Errorf("a refused commit wrote %d ledger entries", after-before)
	}
	if n, _ := c.Exists(ctx, redisstore.CustomerKey("c1", "r:r2")).Result(); n != 0 {
		t.Error("a refused commit kept its request id")
	}
	fresh, err := st.Load(ctx, "c1", "", now, now.Add(-time.Hour))
	if err != nil || len(fresh.Sent) != 1 {
		t.Fatalf("reload: %v, %v", fresh.Sent, err)
	}
	if _, err := st.Commit(ctx, "r2", fresh.SentToken, []decisioning.Decision{send(decisioning.NewID(now))}); err != nil {
		t.Fatalf("fresh commit: %v", err)
	}
}
