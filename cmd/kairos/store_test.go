package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"kairos/internal/logbuf"
)

func TestRedisLogsThroughSlog(t *testing.T) {
	logs := &logbuf.Buffer{}
	err := run(t.Context(), []string{"serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--redis", "redis://127.0.0.1:1/0"}, io.Discard, logs)
	if err == nil {
		t.Fatal("serve with an unreachable Redis = nil error")
	}
	// go-redis may log from a pool goroutine, a moment after run returns;
	// and, its logger being a process global, clients of earlier tests may
	// log here too.
	want := []string{"level=WARN", `msg="connection pool: failed to dial`, "127.0.0.1:1:", "component=redis"}
	for deadline := time.Now().Add(5 * time.Second); !hasLineWithAll(logs.String(), want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("log has no line with all of %q:\n%s", want, logs)
		}
	}
}

func hasLineWithAll(s string, subs []string) bool {
	for line := range strings.Lines(s) {
		found := true
		for _, sub := range subs {
			found = found && strings.Contains(line, sub)
		}
		if found {
			return true
		}
	}
	return false
}
