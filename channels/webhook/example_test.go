package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"kairos/channels"
	"kairos/channels/webhook"
)

// A receiver verifies each request against the raw body before decoding
// it, and deduplicates on the Idempotency-Key header.
func ExampleVerify() {
	secret := bytes.Repeat([]byte("k"), 32) // shared out of band

	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		err = webhook.Verify(secret, r.Header.Get(webhook.HeaderTimestamp),
			r.Header.Get(webhook.HeaderSignature), body, time.Now(), 5*time.Minute)
		if err != nil {
			// 401 is transient for kairos: a rotated secret does not mark
			// the customer's channel unreachable.
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		fmt.Println("verified", r.Header.Get(webhook.HeaderIdempotency))
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(receiver)
	defer srv.Close()

	tr, err := webhook.New(webhook.Options{URL: srv.URL, Secret: secret})
	if err != nil {
		panic(err)
	}
	rcpt, err := tr.Send(context.Background(), &channels.Message{ID: "d-1", CustomerID: "c-1", Channel: "webhook"})
	fmt.Println(rcpt.ProviderID, err)
	// Output:
	// verified d-1
	// d-1 <nil>
}
