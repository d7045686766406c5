package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	kairosv1 "kairos/api/proto/kairos/v1"
	"kairos/features"
	"kairos/internal/logbuf"
	"kairos/internal/redistest"
	"kairos/training/archive"
)

var servingLine = regexp.MustCompile(`^kairos: serving gRPC on (\S+), admin HTTP on (\S+) \(store: (\w+), ledger: (\w+), campaigns: \d+\)$`)

// instance is a `kairos serve` running in the test process.
type instance struct {
	grpcAddr, httpAddr, store string
	logs                      *logbuf.Buffer
	conn                      *grpc.ClientConn
	client                    kairosv1.KairosClient
	// stop cancels the context of run and returns what run returned.
	stop func() error
}

// startServe runs serve with args (loopback, any free ports) until the
// test ends, and connects a gRPC client to it.
func startServe(t *testing.T, args ...string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	inst := &instance{logs: &logbuf.Buffer{}}
	errc := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, args...), pw, inst.logs)
		pw.Close()
		errc <- err
	}()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for first := true; sc.Scan(); first = false {
			if first {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	var once sync.Once
	var runErr error
	inst.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-errc:
			case <-time.After(20 * time.Second):
				runErr = fmt.Errorf("run did not return within 20s of cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := inst.stop(); err != nil {
			t.Errorf("run: %v", err)
		}
	})

	select {
	case line, ok := <-lines:
		m := servingLine.FindStringSubmatch(line)
		if !ok || m == nil {
			cancel()
			t.Fatalf("first stdout line %q does not match %s; run: %v; log:\n%s", line, servingLine, <-errc, inst.logs)
		}
		inst.grpcAddr, inst.httpAddr, inst.store = m[1], m[2], m[3]
	case <-time.After(10 * time.Second):
		t.Fatalf("serve printed nothing within 10s; log:\n%s", inst.logs)
	}
	conn, err := grpc.NewClient(inst.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	inst.conn = conn
	inst.client = kairosv1.NewKairosClient(conn)
	return inst
}

func (inst *instance) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + inst.httpAddr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func feature(t *testing.T, p *kairosv1.Profile, name string) float64 {
	t.Helper()
	for _, f := range p.Features {
		if f.Name == name {
			return f.Value
		}
	}
	t.Fatalf("profile has no feature %q", name)
	return 0
}

func TestServeEndToEnd(t *testing.T) {
	inst := startServe(t)
	if inst.store != "embedded" {
		t.Errorf("store = %q, want embedded", inst.store)
	}
	if strings.HasSuffix(inst.grpcAddr, ":0") || strings.HasSuffix(inst.httpAddr, ":0") {
		t.Errorf("printed addresses %s, %s; want the real ports", inst.grpcAddr, inst.httpAddr)
	}
	ctx := t.Context()
	c := inst.client

	resp, err := c.Track(ctx, &kairosv1.TrackRequest{Events: []*kairosv1.Event{
		{EventId: "e1", CustomerId: "ada", Type: "page_view", Properties: map[string]*structpb.Value{"page": structpb.NewStringValue("pricing")}},
		{EventId: "e2", CustomerId: "ada", Type: "page_view"},
		{EventId: "e3", CustomerId: "ada", Type: "login"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&kairosv1.TrackResponse{Accepted: 3}, resp, protocmp.Transform()); diff != "" {
		t.Errorf("Track (-want +got):\n%s", diff)
	}
	resp, err = c.Track(ctx, &kairosv1.TrackRequest{Events: []*kairosv1.Event{
		{EventId: "e1", CustomerId: "ada", Type: "page_view"},
		{EventId: "e4", CustomerId: "ada", Type: "teleport"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := &kairosv1.TrackResponse{Duplicates: 1, Errors: []*kairosv1.EventError{
		{Index: 1, Field: "type", Reason: `unknown event type "teleport": use a standard type or declare it in custom_events`},
	}}
	if diff := cmp.Diff(want, resp, protocmp.Transform()); diff != "" {
		t.Errorf("Track of a duplicate (-want +got):\n%s", diff)
	}

	p, err := c.GetProfile(ctx, &kairosv1.GetProfileRequest{CustomerId: "ada"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{"page_views_1h": 2, "pricing_views_24h": 1, "logins_7d": 1} {
		if got := feature(t, p, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if p.UpdatedAt == nil || p.Customer != nil {
		t.Errorf("profile updated_at %v, customer %v; want a time and no record", p.UpdatedAt, p.Customer)
	}

	rec := &kairosv1.Customer{CustomerId: "ada", Email: "ada@example.com", Timezone: "Europe/London", Consents: map[string]bool{"email": true}}
	if _, err := c.UpsertCustomer(ctx, &kairosv1.UpsertCustomerRequest{Customer: rec}); err != nil {
		t.Fatal(err)
	}
	p, err = c.GetProfile(ctx, &kairosv1.GetProfileRequest{CustomerId: "ada"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rec, p.Customer, protocmp.Transform()); diff != "" {
		t.Errorf("customer record (-want +got):\n%s", diff)
	}

	hc, err := healthpb.NewHealthClient(inst.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "kairos.v1.Kairos"})
	if err != nil || hc.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health check = %v, %v; want SERVING", hc, err)
	}
	if code, body := inst.get(t, "/healthz"); code != 200 {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := inst.get(t, "/readyz"); code != 200 {
		t.Errorf("/readyz = %d %q", code, body)
	}
	// Tracking links are served under /t/; a forged one gets a plain page.
	if code, body := inst.get(t, "/t/c/forged.token"); code != 404 || !strings.Contains(body, "not valid") {
		t.Errorf("/t/c/forged.token = %d %q", code, body)
	}
	code, metrics := inst.get(t, "/metrics")
	for _, want := range []string{
		`kairos_track_events_total{result="accepted"} 3`,
		`kairos_track_events_total{result="duplicate"} 1`,
		`kairos_track_events_total{result="rejected"} 1`,
		`kairos_grpc_requests_total{code="OK",method="/kairos.v1.Kairos/Track"} 2`,
		`go_goroutines`,
	} {
		if code != 200 || !strings.Contains(metrics, want) {
			t.Errorf("/metrics (%d) lacks %q", code, want)
		}
	}

	if err := inst.stop(); err != nil {
		t.Fatalf("run after cancel = %v, want nil", err)
	}
	logs := inst.logs.String()
	for _, want := range []string{"component=serve", `msg=serving`, "store=embedded", "msg=stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestServeNotServingBeforeStop(t *testing.T) {
	inst := startServe(t)
	wctx, cancelWatch := context.WithCancel(t.Context())
	defer cancelWatch()
	watch, err := healthpb.NewHealthClient(inst.conn).Watch(wctx, &healthpb.HealthCheckRequest{Service: "kairos.v1.Kairos"})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health watch = %v, %v; want SERVING", resp, err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- inst.stop() }()
	// The watch is an RPC in flight, which GracefulStop waits for: it
	// sees NOT_SERVING only if health changed first.
	if resp, err := watch.Recv(); err != nil || resp.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health watch once ctx ended = %v, %v; want NOT_SERVING before the server stops", resp, err)
	}
	cancelWatch()
	if err := <-stopped; err != nil {
		t.Fatalf("run after cancel = %v, want nil", err)
	}
}

func TestServeWithAPIKeys(t *testing.T) {
	const key = "test-key-0123456789abcdef"
	path := filepath.Join(t.TempDir(), "keys.yaml")
	content := fmt.Sprintf("keys:\n  - {name: app, key: %q, scopes: [track, profile:read]}\n  - {name: ops, key: \"sha256:%x\", scopes: [admin]}\n",
		key, sha256.Sum256([]byte("ops-key-0123456789abcdef")))
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	defs := filepath.Join(t.TempDir(), "features.yaml")
	if err := os.WriteFile(defs, []byte("custom_events: [trial_started]\nfeatures:\n  - {name: trials_30d, event: trial_started, agg: count, window: 30d}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := startServe(t, "--api-keys", path, "--features", defs)
	ctx := t.Context()
	req := &kairosv1.GetProfileRequest{CustomerId: "ada"}

	_, err := inst.client.GetProfile(ctx, req)
	if st, _ := status.FromError(err); st.Code() != codes.Unauthenticated || !strings.Contains(st.Message(), "Bearer") {
		t.Errorf("GetProfile without a key: %v %q, want Unauthenticated saying how to send a key", st.Code(), st.Message())
	}
	_, err = inst.client.GetProfile(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer not-the-key-0123456789"), req)
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("GetProfile with a wrong key: %v, want Unauthenticated", err)
	}
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
	if _, err := inst.client.Track(authed, &kairosv1.TrackRequest{Events: []*kairosv1.Event{{EventId: "t1", CustomerId: "ada", Type: "trial_started"}}}); err != nil {
		t.Errorf("Track with a good key: %v", err)
	}
	p, err := inst.client.GetProfile(authed, req)
	if err != nil {
		t.Fatalf("GetProfile with a good key: %v", err)
	}
	if len(p.Features) != 1 || feature(t, p, "trials_30d") != 1 {
		t.Errorf("profile features = %v, want trials_30d = 1 from the --features file", p.Features)
	}
	_, err = inst.client.UpsertCustomer(authed, &kairosv1.UpsertCustomerRequest{Customer: &kairosv1.Customer{CustomerId: "ada"}})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("UpsertCustomer with a key lacking customers:write: %v, want PermissionDenied", err)
	}
	admin := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer ops-key-0123456789abcdef")
	if _, err := inst.client.UpsertCustomer(admin, &kairosv1.UpsertCustomerRequest{Customer: &kairosv1.Customer{CustomerId: "ada"}}); err != nil {
		t.Errorf("UpsertCustomer with the sha256-listed admin key: %v", err)
	}
	if hc, err := healthpb.NewHealthClient(inst.conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || hc.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health check without a key = %v, %v; want SERVING", hc, err)
	}
}

func TestServeRefusals(t *testing.T) {
	dir := t.TempDir()
	badFeatures := filepath.Join(dir, "features.yaml")
	if err := os.WriteFile(badFeatures, []byte("features:\n  - {name: a, event: page_view, agg: count, window: 1h}\n  - {name: b, event: page_view, agg: median}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badKeys := filepath.Join(dir, "keys.yaml")
	if err := os.WriteFile(badKeys, []byte("keys:\n  - {name: app, key: short, scopes: [track]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"non-loopback without keys", []string{"serve", "--grpc-addr", "0.0.0.0:0"}, nil,
			[]string{"refusing to serve gRPC on non-loopback address 0.0.0.0:0 without API keys", "--api-keys", "--insecure"}},
		{"all interfaces without keys", []string{"serve", "--grpc-addr", ":7400"}, nil,
			[]string{"refusing to serve gRPC on non-loopback address :7400"}},
		{"non-loopback from the environment", []string{"serve"}, map[string]string{"KAIROS_GRPC_ADDR": "0.0.0.0:0"},
			[]string{"non-loopback address 0.0.0.0:0"}},
		{"bad features file", []string{"serve", "--features", badFeatures}, nil,
			[]string{badFeatures + ":3:", "'agg' must be one of"}},
		{"missing features file", []string{"serve", "--features", filepath.Join(dir, "nope.yaml")}, nil,
			[]string{"--features", "nope.yaml"}},
		{"bad keys file", []string{"serve", "--api-keys", badKeys}, nil,
			[]string{badKeys + ":2:", "at least 16 characters"}},
		{"unreachable redis", []string{"serve", "--redis", "redis://127.0.0.1:1/0"}, nil,
			[]string{"serve: open redis store: "}},
		{"bad env value", []string{"serve"}, map[string]string{"KAIROS_INSECURE": "maybe"},
			[]string{`KAIROS_INSECURE="maybe"`}},
		{"bad flag", []string{"serve", "--grpc-adr", "x"}, nil, []string{"flag provided but not defined: -grpc-adr"}},
		{"stray argument", []string{"serve", "now"}, nil, []string{"serve takes no arguments"}},
		{"unknown command", []string{"serv"}, nil, []string{`unknown command "serv"`, "kairos help"}},
		{"no command", nil, nil, []string{"no command given"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := testEnv(nil, nil, tt.env)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err := runEnv(ctx, env, tt.args)
			if err == nil {
				t.Fatal("run returned nil")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestParseServe(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want serveConfig
	}{
		{"defaults", nil, nil, serveConfig{grpcAddr: "127.0.0.1:7400", httpAddr: "127.0.0.1:7401", logMaxLen: 100000, decideDeadline: 50 * time.Millisecond, claimIdle: 30 * time.Second, dispatch: true}},
		{"environment", nil, map[string]string{
			"KAIROS_GRPC_ADDR": "127.0.0.1:1", "KAIROS_HTTP_ADDR": "127.0.0.1:2", "KAIROS_REDIS": "redis://localhost:6379",
			"KAIROS_FEATURES": "f.yaml", "KAIROS_API_KEYS": "k.yaml", "KAIROS_INSECURE": "true", "KAIROS_LOG_MAX_LEN": "500",
			"KAIROS_ARCHIVE": "/var/lib/kairos/archive", "KAIROS_CAMPAIGNS": "c.yaml", "KAIROS_POSTGRES": "postgres://db/kairos",
			"KAIROS_DECIDE_DEADLINE": "20ms", "KAIROS_CLAIM_IDLE": "5s", "KAIROS_CHANNELS": "ch.yaml", "KAIROS_DISPATCH": "false",
		}, serveConfig{grpcAddr: "127.0.0.1:1", httpAddr: "127.0.0.1:2", redisURL: "redis://localhost:6379", features: "f.yaml", apiKeys: "k.yaml", insecure: true, logMaxLen: 500,
			archive: "/var/lib/kairos/archive", campaigns: "c.yaml", postgres: "postgres://db/kairos", decideDeadline: 20 * time.Millisecond, claimIdle: 5 * time.Second,
			channels: "ch.yaml"}},
		{"flag wins over env", []string{"--grpc-addr", "127.0.0.1:9", "--insecure=false"},
			map[string]string{"KAIROS_GRPC_ADDR": "0.0.0.0:1", "KAIROS_INSECURE": "true"},
			serveConfig{grpcAddr: "127.0.0.1:9", httpAddr: "127.0.0.1:7401", logMaxLen: 100000, decideDeadline: 50 * time.Millisecond, claimIdle: 30 * time.Second, dispatch: true}},
		{"empty env is unset", nil, map[string]string{"KAIROS_GRPC_ADDR": ""}, serveConfig{grpcAddr: "127.0.0.1:7400", httpAddr: "127.0.0.1:7401", logMaxLen: 100000, decideDeadline: 50 * time.Millisecond, claimIdle: 30 * time.Second, dispatch: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := testEnv(nil, nil, tt.env)
			got, err := parseServe(env, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(serveConfig{})); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:7400": true, "127.0.0.2:0": true, "[::1]:7400": true, "localhost:7400": true,
		"0.0.0.0:7400": false, ":7400": false, "[::]:0": false, "10.0.0.1:7400": false, "kairos.internal:7400": false,
	} {
		got, err := isLoopback(addr)
		if err != nil || got != want {
			t.Errorf("isLoopback(%q) = %v, %v; want %v", addr, got, err, want)
		}
	}
	if _, err := isLoopback("7400"); err == nil {
		t.Error("isLoopback(7400) = nil error, want one")
	}
}

func TestHelp(t *testing.T) {
	var out strings.Builder
	if err := run(t.Context(), []string{"help"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "serve") || !strings.Contains(out.String(), "Usage: kairos <command>") {
		t.Errorf("help output lacks the commands:\n%s", out.String())
	}
	var errOut strings.Builder
	if err := run(t.Context(), []string{"serve", "-h"}, io.Discard, &errOut); err != nil {
		t.Errorf("serve -h = %v, want nil", err)
	}
	if !strings.Contains(errOut.String(), "KAIROS_GRPC_ADDR") || !strings.Contains(errOut.String(), "-api-keys") {
		t.Errorf("serve -h output lacks the flags and env vars:\n%s", errOut.String())
	}
}

func TestServeRedis(t *testing.T) {
	rs := redistest.Start(t)
	inst := startServe(t, "--redis", rs.URL())
	if inst.store != "redis" {
		t.Errorf("store = %q, want redis", inst.store)
	}
	ctx := t.Context()
	batch := &kairosv1.TrackRequest{Events: []*kairosv1.Event{
		{EventId: "r1", CustomerId: "ada", Type: "page_view"},
		{EventId: "r2", CustomerId: "ada", Type: "page_view"},
	}}
	resp, err := inst.client.Track(ctx, batch)
	if err != nil || resp.Accepted != 2 {
		t.Fatalf("Track = %v, %v; want 2 accepted", resp, err)
	}
	p, err := inst.client.GetProfile(ctx, &kairosv1.GetProfileRequest{CustomerId: "ada"})
	if err != nil {
		t.Fatal(err)
	}
	if got := feature(t, p, "page_views_1h"); got != 2 {
		t.Errorf("page_views_1h = %v, want 2", got)
	}
	if code, body := inst.get(t, "/readyz"); code != 200 {
		t.Errorf("/readyz with Redis up = %d %q, want 200", code, body)
	}

	// An outage: Unavailable, nothing accepted, /readyz red.
	rs.Stop()
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = inst.client.Track(octx, &kairosv1.TrackRequest{Events: []*kairosv1.Event{{EventId: "r3", CustomerId: "ada", Type: "login"}}})
	if st, _ := status.FromError(err); st.Code() != codes.Unavailable || st.Message() != "feature store unavailable; retry later (Track is safe to retry with the same event ids)" {
		t.Errorf("Track with Redis down: %v %q, want Unavailable", st.Code(), st.Message())
	}
	if code, body := inst.get(t, "/readyz"); code != 503 {
		t.Errorf("/readyz with Redis down = %d %q, want 503", code, body)
	}

	// Back again: a client's retry is accepted once the pool has replaced
	// its dead connections (the joiner and drainer hold some in blocking
	// reads, so the first call may still meet one).
	rs.Restart(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err = inst.client.Track(ctx, &kairosv1.TrackRequest{Events: []*kairosv1.Event{{EventId: "r3", CustomerId: "ada", Type: "login"}}})
		if err == nil && resp.Accepted+resp.Duplicates == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Track after Redis restarted = %v, %v; want the event accepted within 10s", resp, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := inst.stop(); err != nil {
		t.Fatalf("run after cancel = %v, want nil", err)
	}
}

// TestServeArchive: events tracked through gRPC with --archive are in the
// archive once serve has stopped, with the embedded store and with Redis.
func TestServeArchive(t *testing.T) {
	for _, store := range []string{"embedded", "redis"} {
		t.Run(store, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "archive")
			args := []string{"--archive", dir}
			if store == "redis" {
				args = append(args, "--redis", redistest.Start(t).URL())
			}
			inst := startServe(t, args...)
			now := time.Now().UTC().Truncate(time.Millisecond)
			yesterday := now.Add(-24 * time.Hour)
			var want []features.Event
			for i := range 30 {
				at := now
				if i%3 == 0 {
					at = yesterday
				}
				e := &kairosv1.Event{EventId: fmt.Sprintf("e%d", i), CustomerId: fmt.Sprintf("c%d", i%4), Type: "purchase",
					Timestamp: timestamppb.New(at), Properties: map[string]*structpb.Value{
						"amount": structpb.NewNumberValue(float64(i)), "currency": structpb.NewStringValue("EUR"), "gift": structpb.NewBoolValue(i%2 == 0)}}
				resp, err := inst.client.Track(t.Context(), &kairosv1.TrackRequest{Events: []*kairosv1.Event{e}})
				if err != nil || resp.Accepted != 1 {
					t.Fatalf("Track = %v, %v", resp, err)
				}
				want = append(want, features.Event{ID: e.EventId, CustomerID: e.CustomerId, Type: e.Type, Time: at, Properties: map[string]features.Value{
					"amount": features.Number(float64(i)), "currency": features.String("EUR"), "gift": features.Bool(i%2 == 0)}})
			}
			if code, metrics := inst.get(t, "/metrics"); code != 200 || !strings.Contains(metrics, "kairos_archive_buffered_events") {
				t.Errorf("/metrics (%d) lacks the archive metrics", code)
			}
			if err := inst.stop(); err != nil {
				t.Fatalf("run after cancel = %v\nlog:\n%s", err, inst.logs)
			}

			r, err := archive.Open(dir)
			if err != nil {
				t.Fatalf("%v\nlog:\n%s", err, inst.logs)
			}
			var got []features.Event
			for _, d := range r.Days() {
				evs, err := r.ReadDay(d)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, evs...)
			}
			// The built-in live segments' own events are archived too (the
			// purchases move customers into high_value, the scores into
			// churn_risk): every one names its segment and its cause.
			got = slices.DeleteFunc(got, func(e features.Event) bool {
				if e.Type != "segment_entered" && e.Type != "segment_exited" {
					return false
				}
				if seg := e.Properties["segment"].Str; !strings.HasPrefix(e.ID, e.Type+":"+seg+":"+e.CustomerID+":") {
					t.Errorf("segment event %+v does not name its segment, customer and cause", e)
				}
				return true
			})
			slices.SortFunc(want, features.CompareEvents)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("archive (-want +got):\n%s", diff)
			}
			for _, want := range []string{"component=archiver", "msg=archiving", `msg="stopped archiving"`} {
				if !strings.Contains(inst.logs.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, inst.logs)
				}
			}
		})
	}
}
