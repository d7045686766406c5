package inapp_test

import (
	"context"
	"testing"
	"time"

	"kairos/channels"
	"kairos/channels/inapp"
	"kairos/channels/inapp/inapptest"
)

func TestMemory(t *testing.T) {
	inapptest.Run(t, func(t *testing.T, opts inapp.Options) inapp.Store { return inapp.NewMemory(opts) })
}

func TestTransport(t *testing.T) {
	s := inapp.NewMemory(inapp.Options{})
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	tr := inapp.NewTransport(s, time.Hour, func() time.Time { return now })
	m := &channels.Message{ID: "d1", CustomerID: "c1", Campaign: "cart", Offer: "reminder", Title: "Hi", Text: "Come back"}
	for range 2 { // exactly once: the repeat changes nothing
		r, err := tr.Send(context.Background(), m)
		if err != nil || r.ProviderID != "d1" {
			t.Fatalf("Send = %v, %v", r, err)
		}
	}
	got, err := s.List(context.Background(), "c1", 10, now)
	if err != nil || len(got) != 1 || got[0].Title != "Hi" || got[0].Body != "Come back" || !got[0].ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("inbox %+v, %v", got, err)
	}
	_, err = tr.Send(context.Background(), &channels.Message{ID: "", CustomerID: "c1"})
	if channels.ErrorKind(err) != channels.Invalid {
		t.Errorf("invalid message: %v, want an invalid-message error", err)
	}
}
