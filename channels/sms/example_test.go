package sms_test

import (
	"context"
	"fmt"

	"kairos/channels"
	"kairos/channels/sms"
	"kairos/channels/sms/smstest"
)

func ExampleTransport_Send() {
	twilio := smstest.NewServer("AC123", "auth-token")
	defer twilio.Close()
	twilio.Respond("+14155550199", smstest.Unsubscribed())

	tr, err := sms.New(sms.Options{
		BaseURL:    twilio.URL, // production: leave empty for https://api.twilio.com
		AccountSID: "AC123",
		AuthToken:  "auth-token",
		From:       "+15017122661",
	})
	if err != nil {
		panic(err)
	}

	r, err := tr.Send(context.Background(), &channels.Message{ID: "dec-1", To: "+14155550100", Text: "Your cart is waiting."})
	fmt.Println(r.ProviderID, err)

	_, err = tr.Send(context.Background(), &channels.Message{ID: "dec-2", To: "+14155550199", Text: "Your cart is waiting."})
	fmt.Println(channels.ErrorKind(err), err)
	// Output:
	// SM00000000000000000000000000000001 <nil>
	// permanent permanent delivery error 21610: sms: message "dec-2": HTTP 400 error 21610: Attempt to send to unsubscribed recipient
}
