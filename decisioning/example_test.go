package decisioning_test

import (
	"context"
	"fmt"
	"time"

	"kairos/decisioning"
	"kairos/decisioning/memstate"
	"kairos/features"
	"kairos/features/memstore"
	"kairos/models"
	"kairos/models/lgbm"
)

// An engine on the embedded store with the built-in campaigns and the
// shipped models decides for a customer who can only be reached by email.
func ExampleEngine_Decide() {
	set := features.Default()
	cfg, err := decisioning.DefaultConfig(set)
	if err != nil {
		panic(err)
	}
	registry, err := models.New(models.Options{FS: models.Shipped(), Set: set, Parse: lgbm.Parser})
	if err != nil {
		panic(err)
	}
	store := memstore.New(set, memstore.Options{})
	state := memstate.New(store, memstate.Options{Lookback: cfg.Lookback()})
	engine, err := decisioning.New(decisioning.Options{Config: cfg, Set: set, State: state, Scorer: registry, Policies: state})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	ada := features.Customer{ID: "ada", Email: "ada@example.com", Timezone: "Europe/London", Consents: map[string]bool{"email": true}}
	if err := store.UpsertCustomer(ctx, ada, time.Now()); err != nil {
		panic(err)
	}
	d, err := engine.Decide(ctx, decisioning.Request{CustomerID: "ada", Campaigns: []string{"cart_recovery"}, RequestID: "checkout-42"})
	if err != nil {
		panic(err)
	}
	// The outcome depends on the policy's draw and on ada's buckets; the
	// push and SMS arms are never eligible for her.
	for _, a := range d.Arms {
		if a.Channel == "push" || a.Channel == "sms" {
			fmt.Printf("%s/%s: %.0f\n", a.Channel, a.Offer, a.Probability)
		}
	}
	again, _ := engine.Decide(ctx, decisioning.Request{CustomerID: "ada", Campaigns: []string{"cart_recovery"}, RequestID: "checkout-42"})
	fmt.Println("same decision for the same request id:", again.ID == d.ID)
	// Output:
	// push/reminder: 0
	// sms/reminder: 0
	// same decision for the same request id: true
}
