package email_test

import (
	"context"
	"errors"
	"log"
	"time"

	"kairos/channels"
	"kairos/channels/email"
)

// A transport for a submission server with STARTTLS (required by
// default) and AUTH PLAIN; Send's errors tell a dead address from a
// failure worth a retry.
func ExampleTransport_Send() {
	tr, err := email.New(email.Options{
		Addr:     "smtp.example.com:587",
		Username: "kairos",
		Password: "secret",
		From:     "Kairos <news@example.com>",
		Timeout:  15 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	rcpt, err := tr.Send(context.Background(), &channels.Message{
		ID:             "01jz3k7m9q2rstvwxyz0abcdef", // the decision id: Message-ID <01jz…@example.com>
		Campaign:       "cart_recovery",
		To:             "ana@example.com",
		Subject:        "Ihr Warenkorb wartet",
		Text:           "Hallo Ana, …",
		HTML:           "<p>Hallo Ana, …</p>",
		UnsubscribeURL: "https://kairos.example/u/TOKEN",
	})
	var ce *channels.Error
	switch {
	case errors.As(err, &ce) && ce.Kind == channels.Permanent:
		log.Printf("address dead (%s): %v", ce.Code, err)
	case err != nil:
		log.Printf("retry later: %v", err)
	default:
		log.Printf("queued as %s", rcpt.ProviderID)
	}
}
