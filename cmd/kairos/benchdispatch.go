package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"kairos/channels/tracking"
	"kairos/decisioning/memstate"
	"kairos/decisioning/redisstate"
	"kairos/dispatch"
	"kairos/features"
	"kairos/internal/bench"
)

// benchDispatch runs `kairos bench dispatch`: SEND decisions delivered by
// the dispatcher to local fakes of the providers (an aiosmtpd SMTP server,
// the FCM and Twilio fakes), beside the same messages sent by calling the
// transports directly.
func benchDispatch(ctx context.Context, env environment, args []string) error {
	o := bench.DispatchOptions{Progress: env.stderr}
	var asJSON bool
	var names string
	fs := flagSet("bench dispatch", "Measures messages per second through the dispatcher to local fakes of the providers (SMTP, FCM,\n"+
		"Twilio) and the time from decision to hand-off, beside the same messages sent by calling each\n"+
		"transport's Send directly with the same concurrency. Email needs python3 with aiosmtpd\n"+
		"(pip install -r training/requirements.txt).", env)
	fs.BoolVar(&asJSON, "json", false, "print the result as one JSON object, the last line of stdout")
	fs.StringVar(&o.RedisURL, "redis", "", "Redis `URL` of the state under test (empty: the embedded store); must be an empty database")
	fs.BoolVar(&o.Force, "force", false, "benchmark against a Redis database that already holds keys")
	fs.IntVar(&o.Messages, "messages", 5000, "`number` of messages of each throughput phase, spread evenly over the channels")
	fs.IntVar(&o.Concurrency, "concurrency", 8, "sends in flight per channel, in the dispatcher and in the baseline")
	fs.StringVar(&names, "channels", strings.Join(bench.DispatchChannels, ","), "comma-separated `channels` to send on")
	fs.IntVar(&o.Rate, "rate", 200, "messages per second of the latency phases")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "length of each latency phase")
	if err := parseFlags(fs, env, "bench dispatch", args); err != nil {
		return err
	}
	if o.Messages <= 0 || o.Concurrency <= 0 || o.Rate <= 0 || o.Duration <= 0 {
		return fmt.Errorf("bench dispatch: --messages, --concurrency, --rate and --duration must be positive")
	}
	set := features.Default()
	logger := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	campaigns, err := loadCampaigns("", set)
	if err != nil {
		return fmt.Errorf("bench dispatch: campaigns: %w", err)
	}
	ts, err := loadTemplates("", set)
	if err != nil {
		return fmt.Errorf("bench dispatch: templates: %w", err)
	}
	key := make([]byte, tracking.MinKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("bench dispatch: %w", err)
	}
	signer, err := tracking.NewSigner(key, nil)
	if err != nil {
		return fmt.Errorf("bench dispatch: %w", err)
	}
	// The fakes first: a missing aiosmtpd fails before any store is filled.
	providers, err := bench.StartProviders(strings.Split(names, ","), o.Concurrency)
	if err != nil {
		return fmt.Errorf("bench dispatch: --channels: %w", err)
	}
	defer providers.Close()
	if o.RedisURL != "" && !o.Force {
		// Checked before the store writes anything.
		if err := bench.CheckEmpty(ctx, o.RedisURL); err != nil {
			return err
		}
		o.Force = true
	}
	st, err := openStore(ctx, o.RedisURL, set, 0, logger)
	if err != nil {
		return fmt.Errorf("bench dispatch: %w", err)
	}
	defer st.close()
	if st.redis != nil {
		o.State = redisstate.New(st.redis, redisstate.Options{Lookback: campaigns.Lookback(), Logger: logger})
	} else {
		o.State = memstate.New(st.mem, memstate.Options{Lookback: campaigns.Lookback()})
	}
	o.Store, o.Set, o.Templates, o.OfferVars = st.store, set, ts, campaigns.OfferVars
	o.Transports = providers.Transports
	o.Links = trackingLinks(signer, "http://127.0.0.1:7401", dispatch.DefaultTrackingTTL)
	res, err := bench.Dispatch(ctx, o)
	if err != nil {
		return err
	}
	printDispatch(env.stdout, res, asJSON)
	return nil
}

func printDispatch(w io.Writer, r bench.DispatchResult, asJSON bool) {
	fmt.Fprintf(w, "dispatch (%s store, %s, %d in flight per channel): %.0f messages/s (direct Send %.0f, ratio %.3f)\n",
		r.Store, strings.Join(r.Channels, ","), r.Concurrency, r.OpsPerSec, r.BaselineOpsPerSec, r.Ratio)
	fmt.Fprintf(w, "  burst of %d: decision to hand-off p50 %.3f ms, p99 %.3f ms (direct Send p50 %.3f, p99 %.3f)\n",
		r.Messages, r.P50ms, r.P99ms, r.BaselineP50ms, r.BaselineP99ms)
	for _, c := range r.PerChannel {
		fmt.Fprintf(w, "    %-5s %5d messages: %.0f messages/s, p99 %.3f ms (direct Send %.0f messages/s, p99 %.3f ms)\n",
			c.Channel, c.Messages, c.OpsPerSec, c.P99ms, c.BaselineOpsPerSec, c.BaselineP99ms)
	}
	if r.RatePerSec > 0 {
		fmt.Fprintf(w, "  at %.0f messages/s: decision to hand-off p50 %.3f ms, p99 %.3f ms (direct Send p99 %.3f ms)\n",
			r.RatePerSec, r.RateP50ms, r.RateP99ms, r.BaselineRateP99ms)
	}
	if r.RedisPingP50ms > 0 {
		fmt.Fprintf(w, "  raw Redis PING round trip: p50 %.3f ms, p99 %.3f ms\n", r.RedisPingP50ms, r.RedisPingP99ms)
	}
	if asJSON {
		fmt.Fprintln(w, r.JSON())
	}
}
