// Package inapptest is the contract suite every inapp.Store passes.
package inapptest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"kairos/channels/inapp"
)

// Run runs the suite against stores made by open with the given options.
func Run(t *testing.T, open func(t *testing.T, opts inapp.Options) inapp.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	msg := func(id string, at time.Time) inapp.Message {
		return inapp.Message{ID: id, CustomerID: "c1", Campaign: "cart", Offer: "reminder", Title: "Your cart", Body: "Still there",
			Data: map[string]string{"k": id}, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	}
	ids := func(ms []inapp.Message) string {
		s := ""
		for _, m := range ms {
			s += m.ID + " "
		}
		return s
	}
	t.Run("PutListAck", func(t *testing.T) {
		s := open(t, inapp.Options{MaxSize: 3})
		for i := range 4 {
			if err := s.Put(ctx, msg(fmt.Sprint("m", i), t0.Add(time.Duration(i)*time.Minute))); err != nil {
				t.Fatal(err)
			}
		}
		// A repeat changes nothing (not even its position).
		if err := s.Put(ctx, msg("m2", t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		got, err := s.List(ctx, "c1", 10, t0.Add(5*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if ids(got) != "m3 m2 m1 " {
			t.Fatalf("List = %q, want the 3 newest, newest first", ids(got))
		}
		if m := got[0]; m.Title != "Your cart" || m.Body != "Still there" || m.Data["k"] != "m3" || m.Campaign != "cart" ||
			!m.CreatedAt.Equal(t0.Add(3*time.Minute)) || !m.ExpiresAt.Equal(t0.Add(3*time.Minute+time.Hour)) {
			t.Errorf("message %+v", m)
		}
		if got, _ := s.List(ctx, "c1", 2, t0.Add(5*time.Minute)); ids(got) != "m3 m2 " {
			t.Errorf("List limit 2 = %q", ids(got))
		}
		n, err := s.Ack(ctx, "c1", []string{"m2", "nope"})
		if err != nil || n != 1 {
			t.Fatalf("Ack = %d, %v; want 1", n, err)
		}
		if got, _ := s.List(ctx, "c1", 10, t0.Add(5*time.Minute)); ids(got) != "m3 m1 " {
			t.Errorf("after ack: %q", ids(got))
		}
		if got, _ := s.List(ctx, "other", 10, t0); len(got) != 0 {
			t.Errorf("another customer's inbox: %q", ids(got))
		}
	})
	t.Run("Expiry", func(t *testing.T) {
		s := open(t, inapp.Options{})
		if err := s.Put(ctx, msg("old", t0)); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, msg("new", t0.Add(30*time.Minute))); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.List(ctx, "c1", 10, t0.Add(time.Hour)); ids(got) != "new " {
			t.Errorf("at +1h: %q, want only the unexpired one", ids(got))
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		s := open(t, inapp.Options{})
		bad := msg("", t0)
		if err := s.Put(ctx, bad); err == nil {
			t.Error("empty id accepted")
		}
		if _, err := s.List(ctx, "c1", 0, t0); err == nil {
			t.Error("limit 0 accepted")
		}
		if _, err := s.List(ctx, "c1", inapp.MaxList+1, t0); err == nil {
			t.Error("limit over MaxList accepted")
		}
	})
}
