package redistest_test

import (
	"context"
	"testing"
	"time"

	"kairos/internal/redistest"
)

func TestStartStopRestart(t *testing.T) {
	srv := redistest.Start(t)
	if got, want := srv.URL(), "redis://"+srv.Addr+"/0"; got != want {
		t.Errorf("URL() = %q, want %q", got, want)
	}
	c := srv.Client(t)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}

	srv.Stop()
	srv.Stop() // idempotent
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := c.Ping(short).Err(); err == nil {
		t.Fatal("PING after Stop succeeded")
	}

	srv.Restart(t)
	got, err := c.Get(ctx, "k").Result()
	if err != nil {
		t.Fatalf("GET after Restart: %v", err)
	}
	if got != "v" {
		t.Errorf("GET after Restart = %q, want %q (AOF should keep it)", got, "v")
	}
}

func TestTwoServersAreIndependent(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	if a.Addr == b.Addr {
		t.Fatalf("both servers on %s", a.Addr)
	}
	ctx := context.Background()
	if err := a.Client(t).Set(ctx, "only-a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Client(t).Exists(ctx, "only-a").Result(); err != nil || n != 0 {
		t.Errorf("EXISTS on the other server = %d, %v; want 0, nil", n, err)
	}
}
