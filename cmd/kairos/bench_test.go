package main

import (
	"encoding/json"
	"strings"
	"testing"

	"kairos/internal/logbuf"
	"kairos/internal/redistest"
)

// runBench runs `kairos <args>` and returns the JSON object on the last
// line of stdout.
func runBench(t *testing.T, args ...string) map[string]any {
	t.Helper()
	var stdout strings.Builder
	stderr := &logbuf.Buffer{}
	if err := run(t.Context(), args, &stdout, stderr); err != nil {
		t.Fatalf("run %q: %v; stderr:\n%s", args, err, stderr)
	}
	lines := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
	var res map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("last line of stdout is not a JSON object: %v; stdout:\n%s", err, stdout.String())
	}
	return res
}

// checkResult checks that res has each key of want: a string equal to it,
// or, for the empty string, a number greater than zero.
func checkResult(t *testing.T, res map[string]any, want map[string]string) {
	t.Helper()
	for key, w := range want {
		v, ok := res[key]
		switch n, isNum := v.(float64); {
		case !ok:
			t.Errorf("result lacks %q: %v", key, res)
		case w != "" && v != w:
			t.Errorf("%s = %v, want %q", key, v, w)
		case w == "" && (!isNum || n <= 0):
			t.Errorf("%s = %v, want a number > 0", key, v)
		}
	}
	if p50, p99 := res["p50_ms"].(float64), res["p99_ms"].(float64); p50 > p99 {
		t.Errorf("p50_ms %v > p99_ms %v", p50, p99)
	}
}

func TestBenchJSON(t *testing.T) {
	timings := map[string]string{"p50_ms": "", "p99_ms": "", "ops_per_sec": "", "baseline_ops_per_sec": "", "ratio": ""}
	with := func(m map[string]string) map[string]string {
		for k, v := range timings {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		args []string
		want map[string]string
	}{
		{[]string{"bench", "track", "--json", "--duration", "300ms", "--customers", "50"},
			with(map[string]string{"name": "track", "store": "embedded", "events_per_sec": ""})},
		{[]string{"bench", "profile", "--json", "--duration", "300ms", "--customers", "30", "--days", "2", "--rate", "200"},
			with(map[string]string{"name": "profile", "store": "embedded", "rate_p99_ms": ""})},
		{[]string{"bench", "decide", "--json", "--duration", "300ms", "--customers", "30", "--days", "1", "--rate", "200", "--decide", "cart_recovery,winback"},
			with(map[string]string{"name": "decide", "store": "embedded", "rate_p99_ms": "", "recorded": "", "ledger": "embedded"})},
		// The email fake needs aiosmtpd; internal/bench's tests cover it.
		{[]string{"bench", "dispatch", "--json", "--messages", "60", "--channels", "push,sms", "--rate", "200", "--duration", "200ms"},
			with(map[string]string{"name": "dispatch", "store": "embedded", "rate_p99_ms": "", "messages": ""})},
	}
	for _, tt := range tests {
		t.Run(tt.args[1], func(t *testing.T) {
			checkResult(t, runBench(t, tt.args...), tt.want)
		})
	}
}

func TestBenchRedis(t *testing.T) {
	srv := redistest.Start(t)
	args := []string{"bench", "profile", "--json", "--redis", srv.URL(), "--duration", "300ms", "--customers", "30", "--days", "2", "--rate", "200"}
	res := runBench(t, args...)
	checkResult(t, res, map[string]string{"name": "profile", "store": "redis", "ops_per_sec": "", "ratio": "",
		"p50_ms": "", "p99_ms": "", "redis_bytes_per_customer": "", "redis_ping_p50_ms": ""})

	// The database now holds the first run's keys.
	err := run(t.Context(), args, &strings.Builder{}, &logbuf.Buffer{})
	if err == nil {
		t.Fatal("bench against a non-empty database without --force = nil error")
	}
	for _, want := range []string{"holds", "keys", "empty database", "--force"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestBenchTriggers: every trigger is decided, the latencies and the
// timers' figures are there, on the embedded store and on Redis.
func TestBenchTriggers(t *testing.T) {
	srv := redistest.Start(t)
	for _, store := range []string{"", srv.URL()} {
		args := []string{"bench", "triggers", "--json", "--duration", "500ms", "--rate", "2000", "--customers", "100", "--timers", "3000"}
		if store != "" {
			args = append(args, "--redis", store)
		}
		res := runBench(t, args...)
		if res["triggers"].(float64) < 50 || res["decided"] != res["triggers"] {
			t.Errorf("%v: %v of %v triggers decided", args, res["decided"], res["triggers"])
		}
		if p50, p99 := res["latency_p50_ms"].(float64), res["latency_p99_ms"].(float64); !(p50 > 0 && p50 <= p99 && p99 < 1000) {
			t.Errorf("%v: latency p50 %v p99 %v ms", args, p50, p99)
		}
		tm, _ := res["timers"].(map[string]any)
		// The embedded store's bytes per timer is a difference of Go heaps:
		// at 3,000 timers the collector's noise can outweigh it.
		b, _ := tm["bytes_per_timer"].(float64)
		bytesOK := store == "" || b > 0
		if tm == nil || tm["pending"].(float64) != 3000 || !bytesOK || !(tm["set_per_second"].(float64) > 0) {
			t.Errorf("%v: timers %v", args, tm)
		}
	}
}
