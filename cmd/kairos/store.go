package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"

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
	// Exactly one of mem and redis is set: the concrete store, which the
	// decision state lives beside.
	mem   *memstore.Store
	redis *redisstore.Store
}

// openStore opens the Redis store at redisURL, or the embedded store when
// redisURL is empty. logMaxLen bounds the event log (0: the default).
func openStore(ctx context.Context, redisURL string, set *features.Set, logMaxLen int64, logger *slog.Logger) (openedStore, error) {
	if redisURL == "" {
		ms := memstore.New(set, memstore.Options{LogMaxLen: logMaxLen})
		return openedStore{store: ms, kind: "embedded", close: func() error { return nil }, mem: ms}, nil
	}
	// go-redis logs through a process global of its own (to stderr by
	// default); the command owns the process, so it sets it, here.
	redis.SetLogger(redisLogger{logger.With("component", "redis")})
	rs, err := redisstore.Open(ctx, redisURL, set, redisstore.Options{Logger: logger, LogMaxLen: logMaxLen})
	if err != nil {
		return openedStore{}, fmt.Errorf("open redis store: %w", err)
	}
	return openedStore{store: rs, kind: "redis", close: rs.Close, redis: rs}, nil
}

// redisLogger is the logger of go-redis (redis.SetLogger): it passes the
// library's messages, such as "connection pool: failed to dial", to slog
// at warn level.
type redisLogger struct {
	logger *slog.Logger
}

// Printf logs one message of go-redis.
func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if !l.logger.Enabled(ctx, slog.LevelWarn) {
		return
	}
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	l.logger.Log(ctx, slog.LevelWarn, strings.TrimPrefix(msg, "redis: "))
}
