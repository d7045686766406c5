package bench_test

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"
	"time"

	"kairos/channels"
	"kairos/channels/builtin"
	"kairos/channels/push"
	"kairos/decisioning/memstate"
	"kairos/decisioning/redisstate"
	"kairos/features"
	"kairos/features/memstore"
	"kairos/features/redisstore"
	"kairos/internal/bench"
	"kairos/internal/pyenv"
	"kairos/internal/redistest"
)

// TestDispatch runs a tiny dispatch benchmark on each store and checks
// that every message reached its provider's fake exactly once and that
// the result is sane.
func TestDispatch(t *testing.T) {
	tests := []struct {
		name     string
		channels []string
		redis    bool
	}{
		{"embedded/push,sms", []string{"push", "sms"}, false},
		{"embedded/email,push,sms", []string{"email", "push", "sms"}, false},
		{"redis/email,push,sms", []string{"email", "push", "sms"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Contains(strings.Join(tt.channels, ","), "email") {
				// The email fake is aiosmtpd: skipped (failed under CI)
				// when it is missing.
				pyenv.Python(t, "aiosmtpd")
			}
			set := features.Default()
			ts, err := builtin.Templates(channels.Known{Features: set.Names()})
			if err != nil {
				t.Fatal(err)
			}
			o := bench.DispatchOptions{Set: set, Templates: ts, Messages: 200, Concurrency: 4, Rate: 200, Duration: 300 * time.Millisecond}
			if tt.redis {
				srv := redistest.Start(t)
				rs, err := redisstore.Open(t.Context(), srv.URL(), set, redisstore.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { rs.Close() })
				o.Store, o.State, o.RedisURL = rs, redisstate.New(rs, redisstate.Options{Lookback: 24 * time.Hour}), srv.URL()
			} else {
				ms := memstore.New(set, memstore.Options{})
				o.Store, o.State = ms, memstate.New(ms, memstate.Options{Lookback: 24 * time.Hour})
			}
			p, err := bench.StartProviders(tt.channels, o.Concurrency)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			o.Transports = p.Transports

			res, err := bench.Dispatch(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			t.Log(res.JSON())

			for _, f := range []struct {
				name string
				v    float64
			}{
				{"ops_per_sec", res.OpsPerSec}, {"baseline_ops_per_sec", res.BaselineOpsPerSec}, {"ratio", res.Ratio},
				{"p50_ms", res.P50ms}, {"baseline_p50_ms", res.BaselineP50ms},
				{"rate_p50_ms", res.RateP50ms}, {"baseline_rate_p99_ms", res.BaselineRateP99ms},
			} {
				if !(f.v > 0) {
					t.Errorf("%s = %v, want > 0", f.name, f.v)
				}
			}
			if res.P99ms < res.P50ms || res.BaselineP99ms < res.BaselineP50ms || res.RateP99ms < res.RateP50ms {
				t.Errorf("p99 below p50: p50 %v p99 %v, baseline p50 %v p99 %v, rate p50 %v p99 %v",
					res.P50ms, res.P99ms, res.BaselineP50ms, res.BaselineP99ms, res.RateP50ms, res.RateP99ms)
			}
			wantStore := map[bool]string{false: "embedded", true: "redis"}[tt.redis]
			if res.Name != "dispatch" || res.Store != wantStore || res.Messages != 200 || res.RateMessages != 60 || len(res.PerChannel) != len(tt.channels) {
				t.Errorf("name %q, store %q, messages %d, rate messages %d, %d channels; want dispatch, %s, 200, 60, %d",
					res.Name, res.Store, res.Messages, res.RateMessages, len(res.PerChannel), wantStore, len(tt.channels))
			}
			if tt.redis && !(res.RedisPingP50ms > 0) {
				t.Errorf("redis_ping_p50_ms = %v, want > 0", res.RedisPingP50ms)
			}
			n := 0
			for _, c := range res.PerChannel {
				n += c.Messages
				if !(c.OpsPerSec > 0 && c.BaselineOpsPerSec > 0 && c.P99ms > 0 && c.BaselineP99ms > 0) {
					t.Errorf("channel %+v: want positive numbers", c)
				}
			}
			if n != res.Messages {
				t.Errorf("per-channel messages sum to %d, want %d", n, res.Messages)
			}

			// Each phase sent its own messages: every id arrived exactly
			// once, at the fake of its channel.
			seen := map[string]int{}
			if p.FCM != nil {
				for _, r := range p.FCM.Received() {
					seen[r.Data[push.DataDecisionID]]++
				}
			}
			if p.Twilio != nil {
				if sent, reqs := len(p.Twilio.Sent()), len(p.Twilio.Requests()); sent != reqs {
					t.Errorf("Twilio fake: %d requests, %d created a message; want every request to", reqs, sent)
				}
				for _, r := range p.Twilio.Sent() {
					seen[r.IdempotencyToken]++
				}
			}
			if p.SMTP != nil {
				for _, r := range p.SMTP.Messages() {
					m, err := mail.ReadMessage(bytes.NewReader(r.Data))
					if err != nil {
						t.Fatal(err)
					}
					id, _, _ := strings.Cut(strings.Trim(m.Header.Get("Message-ID"), "<>"), "@")
					seen[id]++
				}
			}
			total := 0
			for id, k := range seen {
				total += k
				if k != 1 || id == "" {
					t.Errorf("message %q arrived %d times, want once", id, k)
				}
			}
			if want := 2*res.Messages + 2*res.RateMessages; total != want {
				t.Errorf("the fakes received %d messages, want %d (%d per burst, %d per latency phase, each directly and through the dispatcher)",
					total, want, res.Messages, res.RateMessages)
			}
		})
	}
}

func TestStartProvidersErrors(t *testing.T) {
	if _, err := bench.StartProviders([]string{"fax"}, 1); err == nil || !strings.Contains(err.Error(), `"fax"`) {
		t.Errorf("StartProviders(fax) = %v, want an error naming the channel", err)
	}
	// Without python3 the email fake cannot start; the error says how to
	// install it.
	t.Setenv("PATH", t.TempDir())
	_, err := bench.StartProviders([]string{"push", "email"}, 1)
	if err == nil || !strings.Contains(err.Error(), "pip install -r training/requirements.txt") {
		t.Errorf("StartProviders(email) without python3 = %v, want an error naming pip install -r training/requirements.txt", err)
	}
}
