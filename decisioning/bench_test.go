package decisioning_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"kairos/decisioning"
	"kairos/decisioning/memstate"
	"kairos/decisioning/redisstate"
	"kairos/features"
	"kairos/features/memstore"
	"kairos/features/redisstore"
	"kairos/internal/redistest"
	"kairos/models"
	"kairos/models/lgbm"
)

// BenchmarkDecide decides with the shipped campaigns and models on the
// embedded store (the engine's own cost: no network) and on Redis (one
// pipeline to load, one script to commit), from one goroutine.
func BenchmarkDecide(b *testing.B) {
	b.Run("embedded", func(b *testing.B) {
		set := features.Default()
		ms := memstore.New(set, memstore.Options{})
		benchDecide(b, set, ms, func(cfg *decisioning.Config) stateAll {
			return memstate.New(ms, memstate.Options{Lookback: cfg.Lookback()})
		})
	})
	b.Run("redis", func(b *testing.B) {
		set := features.Default()
		rs := redisstore.New(redistest.Start(b).Client(b), set, redisstore.Options{})
		benchDecide(b, set, rs, func(cfg *decisioning.Config) stateAll {
			return redisstate.New(rs, redisstate.Options{Lookback: cfg.Lookback()})
		})
	})
}

type stateAll interface {
	decisioning.State
	decisioning.PolicyStore
}

func benchDecide(b *testing.B, set *features.Set, ms features.Store, newState func(*decisioning.Config) stateAll) {
	cfg, err := decisioning.DefaultConfig(set)
	if err != nil {
		b.Fatal(err)
	}
	reg, err := models.New(models.Options{FS: models.Shipped(), Set: set, Parse: lgbm.Parser})
	if err != nil {
		b.Fatal(err)
	}
	st := newState(cfg)
	e, err := decisioning.New(decisioning.Options{Config: cfg, Set: set, State: st, Scorer: reg, Policies: st})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	const customers = 1000
	for i := range customers {
		id := "c" + strconv.Itoa(i)
		if err := ms.UpsertCustomer(ctx, features.Customer{ID: id, Email: id + "@example.com", Timezone: "Europe/Berlin",
			Consents: map[string]bool{"email": true}}, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := e.Decide(ctx, decisioning.Request{CustomerID: "c" + strconv.Itoa(i%customers), Campaigns: []string{"cart_recovery"}}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
