package main

import (
	"context"
	"fmt"
	"log/slog"

	"kairos/features"
	"kairos/features/memstore"
	"kairos/features/redisstore"
)

// openedStore is the feature store serve runs on.
type openedStore struct {
	store features.Store
	// kind is "embedded" or "redis", as printed at startup.
	kind  string
	close func() error
}

// openStore opens the Redis store at redisURL, or the embedded store when
// redisURL is empty.
func openStore(ctx context.Context, redisURL string, set *features.Set, logger *slog.Logger) (openedStore, error) {
	if redisURL == "" {
		return openedStore{
			store: memstore.New(set, memstore.Options{}),
			kind:  "embedded",
			close: func() error { return nil },
		}, nil
	}
	rs, err := redisstore.Open(ctx, redisURL, set, redisstore.Options{Logger: logger.With("component", "redisstore")})
	if err != nil {
		return openedStore{}, fmt.Errorf("open redis store: %w", err)
	}
	return openedStore{store: rs, kind: "redis", close: rs.Close}, nil
}
