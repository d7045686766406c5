package push_test

import (
	"context"
	"fmt"

	"kairos/channels"
	"kairos/channels/push"
	"kairos/channels/push/pushtest"
)

func ExampleTransport_Send() {
	fcm := pushtest.NewServer("my-project", "oauth-token")
	defer fcm.Close()
	fcm.Respond("stale-token", pushtest.Unregistered())

	tr, err := push.New(push.Options{
		BaseURL:     fcm.URL, // production: leave empty for https://fcm.googleapis.com
		Project:     "my-project",
		TokenSource: push.StaticToken("oauth-token"), // production: a service-account token source
	})
	if err != nil {
		panic(err)
	}

	r, err := tr.Send(context.Background(), &channels.Message{ID: "dec-1", To: "fresh-token", Title: "Hi", Text: "Your cart is waiting."})
	fmt.Println(r.ProviderID, err)

	_, err = tr.Send(context.Background(), &channels.Message{ID: "dec-2", To: "stale-token", Title: "Hi", Text: "Your cart is waiting."})
	fmt.Println(channels.ErrorKind(err))
	// Output:
	// projects/my-project/messages/0:1%fake <nil>
	// permanent
}
