package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	kairosv1 "kairos/api/proto/kairos/v1"
	"kairos/features"
	"kairos/internal/logbuf"
	"kairos/internal/prom"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testEnv is a Server behind a real gRPC server on a loopback port, and a
// real client connected to it.
type testEnv struct {
	srv    *Server
	store  *fakeStore
	reg    *prometheus.Registry
	logs   *logbuf.Buffer
	conn   *grpc.ClientConn
	client kairosv1.KairosClient
}

func start(t *testing.T, keys *Keys) *testEnv {
	t.Helper()
	set := features.Default()
	env := &testEnv{store: newFakeStore(set), reg: prometheus.NewRegistry(), logs: &logbuf.Buffer{}}
	env.srv = New(Options{
		Store:      env.store,
		Set:        set,
		Logger:     slog.New(slog.NewTextHandler(env.logs, nil)),
		Registerer: env.reg,
		Gatherer:   env.reg,
		Keys:       keys,
		Now:        func() time.Time { return testNow },
	})
	gs := env.srv.GRPC()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- gs.Serve(ln) }()
	t.Cleanup(func() {
		gs.Stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	env.conn, err = grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.conn.Close() })
	env.client = kairosv1.NewKairosClient(env.conn)
	return env
}

// counter returns the value of the counter name with the given label
// values, or 0 when it has no such series.
// counter returns the value of the series name{labels}; 0 when absent.
// dial serves srv on a loopback port until t ends and returns a client.
func dial(t *testing.T, srv *Server) kairosv1.KairosClient {
	t.Helper()
	gs := srv.GRPC()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return kairosv1.NewKairosClient(conn)
}

func counter(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	v, _ := prom.Value(g, name, labels)
	return v
}

func ev(id, customer, typ string, props map[string]*structpb.Value) *kairosv1.Event {
	return &kairosv1.Event{EventId: id, CustomerId: customer, Type: typ, Properties: props}
}

func wantCode(t *testing.T, err error, code codes.Code, msgContains string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code || !strings.Contains(st.Message(), msgContains) {
		t.Fatalf("got %v (%q), want %v containing %q", st.Code(), st.Message(), code, msgContains)
	}
}

func TestTrackPartialAcceptance(t *testing.T) {
	future := timestamppb.New(testNow.Add(time.Hour))
	past := timestamppb.New(testNow.Add(-time.Hour))
	listVal := structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewNumberValue(1)}})
	structVal := structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"a": structpb.NewBoolValue(true)}})
	tests := []struct {
		name   string
		events []*kairosv1.Event
		want   *kairosv1.TrackResponse
	}{
		{
			name: "all good",
			events: []*kairosv1.Event{
				ev("e1", "c1", "page_view", map[string]*structpb.Value{"page": structpb.NewStringValue("pricing")}),
				ev("e2", "c1", "purchase", map[string]*structpb.Value{
					"amount": structpb.NewNumberValue(12.5), "currency": structpb.NewStringValue("EUR"), "gift": structpb.NewBoolValue(false),
				}),
			},
			want: &kairosv1.TrackResponse{Accepted: 2},
		},
		{
			name: "good and bad mixed",
			events: []*kairosv1.Event{
				ev("e1", "c1", "page_view", nil),
				ev("", "c1", "page_view", nil),
				ev("e3", "", "page_view", nil),
				ev("e4", "c1", "teleport", nil),
				ev("e5", "c1", "click", map[string]*structpb.Value{"x": structpb.NewNullValue()}),
				ev("e6", "c1", "click", map[string]*structpb.Value{"x": listVal}),
				ev("e7", "c1", "click", map[string]*structpb.Value{"x": structVal}),
				ev("e8", "c1", "purchase", map[string]*structpb.Value{"amount": structpb.NewStringValue("12")}),
				{EventId: "e9", CustomerId: "c1", Type: "login", Timestamp: future},
				{EventId: "e10", CustomerId: "c1", Type: "login", Timestamp: past},
				{EventId: "e11", CustomerId: "c1", Type: "login", Timestamp: &timestamppb.Timestamp{Seconds: 1, Nanos: -1}},
				ev("e12", "c1", "click", map[string]*structpb.Value{"x": {}}),
			},
			want: &kairosv1.TrackResponse{
				Accepted: 2,
				Errors: []*kairosv1.EventError{
					{Index: 1, Field: "event_id", Reason: "is required"},
					{Index: 2, Field: "customer_id", Reason: "is required"},
					{Index: 3, Field: "type", Reason: `unknown event type "teleport": use a standard type or declare it in custom_events`},
					{Index: 4, Field: "properties.x", Reason: "must be a string, number or bool"},
					{Index: 5, Field: "properties.x", Reason: "must be a string, number or bool"},
					{Index: 6, Field: "properties.x", Reason: "must be a string, number or bool"},
					{Index: 7, Field: "properties.amount", Reason: "must be a finite number"},
					{Index: 8, Field: "timestamp", Reason: "must not be more than 5m0s in the future (server time 2026-03-01T12:00:00Z)"},
					{Index: 10, Field: "timestamp", Reason: "must be a valid timestamp (seconds within years 1-9999, nanos 0-999999999)"},
					{Index: 11, Field: "properties.x", Reason: "must be a string, number or bool"},
				},
			},
		},
		{
			name: "duplicates within the batch",
			events: []*kairosv1.Event{
				ev("e1", "c1", "page_view", nil),
				ev("e1", "c1", "page_view", nil),
				ev("e1", "c2", "page_view", nil),
			},
			want: &kairosv1.TrackResponse{Accepted: 2, Duplicates: 1},
		},
		{
			name: "all bad: the store is not called",
			events: []*kairosv1.Event{
				ev("", "c1", "page_view", nil),
			},
			want: &kairosv1.TrackResponse{Errors: []*kairosv1.EventError{{Index: 0, Field: "event_id", Reason: "is required"}}},
		},
		{
			name: "earlier rules win over property kinds",
			events: []*kairosv1.Event{
				ev("e1", "c1", "teleport", map[string]*structpb.Value{"x": structpb.NewNullValue()}),
			},
			want: &kairosv1.TrackResponse{Errors: []*kairosv1.EventError{
				{Index: 0, Field: "type", Reason: `unknown event type "teleport": use a standard type or declare it in custom_events`},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := start(t, nil)
			got, err := env.client.Track(t.Context(), &kairosv1.TrackRequest{Events: tt.events})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("Track (-want +got):\n%s", diff)
			}
			if n := len(env.store.trackedEvents()); n != int(tt.want.Accepted) {
				t.Errorf("store holds %d events, want %d", n, tt.want.Accepted)
			}
			for result, want := range map[string]int32{"accepted": tt.want.Accepted, "duplicate": tt.want.Duplicates, "rejected": int32(len(tt.want.Errors))} {
				if got := counter(t, env.reg, "kairos_track_events_total", map[string]string{"result": result}); got != float64(want) {
					t.Errorf("kairos_track_events_total{result=%q} = %v, want %d", result, got, want)
				}
			}
		})
	}
}

func TestTrackMapsEvents(t *testing.T) {
	env := start(t, nil)
	at := testNow.Add(-time.Minute)
	_, err := env.client.Track(t.Context(), &kairosv1.TrackRequest{Events: []*kairosv1.Event{
		ev("e1", "c1", "page_view", nil),
		{EventId: "e2", CustomerId: "c1", Type: "purchase", Timestamp: timestamppb.New(at), Properties: map[string]*structpb.Value{
			"amount": structpb.NewNumberValue(9.5), "currency": structpb.NewStringValue("EUR"), "first": structpb.NewBoolValue(true),
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []features.Event{
		{ID: "e1", CustomerID: "c1", Type: "page_view", Time: testNow},
		{ID: "e2", CustomerID: "c1", Type: "purchase", Time: at, Properties: map[string]features.Value{
			"amount": features.Number(9.5), "currency": features.String("EUR"), "first": features.Bool(true),
		}},
	}
	if diff := cmp.Diff(want, env.store.trackedEvents()); diff != "" {
		t.Errorf("events given to the store (-want +got):\n%s", diff)
	}
}

func TestTrackBatchLimits(t *testing.T) {
	env := start(t, nil)
	batch := func(n int) []*kairosv1.Event {
		evs := make([]*kairosv1.Event, n)
		for i := range evs {
			evs[i] = ev(fmt.Sprint("e", i), "c1", "page_view", nil)
		}
		return evs
	}
	for _, tt := range []struct {
		n       int
		wantErr string
	}{
		{0, "events: a batch holds 1 to 1000 events, got 0"},
		{1001, "events: a batch holds 1 to 1000 events, got 1001"},
		{1000, ""},
	} {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			resp, err := env.client.Track(t.Context(), &kairosv1.TrackRequest{Events: batch(tt.n)})
			if tt.wantErr == "" {
				if err != nil || resp.Accepted != int32(tt.n) {
					t.Fatalf("Track(%d events) = %v, %v; want %d accepted", tt.n, resp, err, tt.n)
				}
				return
			}
			st, _ := status.FromError(err)
			if st.Code() != codes.InvalidArgument || st.Message() != tt.wantErr {
				t.Fatalf("Track(%d events): got %v %q, want InvalidArgument %q", tt.n, st.Code(), st.Message(), tt.wantErr)
			}
		})
	}
}

func TestToStatus(t *testing.T) {
	tests := []struct {
		err          error
		code         codes.Code
		msg          string
		wantInternal bool
	}{
		{&features.FieldError{Field: "customer_id", Rule: "is required"}, codes.InvalidArgument, "customer_id: is required", false},
		{fmt.Errorf("wrapped: %w", &features.FieldError{Field: "events", Rule: "too many"}), codes.InvalidArgument, "events: too many", false},
		{fmt.Errorf("redisstore: track: %w", features.ErrUnavailable), codes.Unavailable, "feature store unavailable; retry later (Track is safe to retry with the same event ids)", false},
		{fmt.Errorf("redisstore: read: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "deadline exceeded", false},
		{context.Canceled, codes.Canceled, "request canceled", false},
		{errors.New("redis: WRONGTYPE key s3cret"), codes.Internal, "internal error", true},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			st, internal := toStatus(tt.err)
			if st.Code() != tt.code || st.Message() != tt.msg || internal != tt.wantInternal {
				t.Errorf("toStatus(%v) = %v %q internal=%v, want %v %q internal=%v", tt.err, st.Code(), st.Message(), internal, tt.code, tt.msg, tt.wantInternal)
			}
		})
	}
}

func TestStoreErrors(t *testing.T) {
	events := []*kairosv1.Event{
		ev("e1", "c1", "page_view", nil),
		ev("", "c1", "page_view", nil), // invalid: nothing is reported for it either
	}
	tests := []struct {
		name    string
		err     error
		code    codes.Code
		msg     string
		logged  string // in the log when not empty
		notSent string // must not reach the client
	}{
		{"unavailable", fmt.Errorf("redisstore: dial 10.0.0.7:6379: %w", features.ErrUnavailable), codes.Unavailable,
			"feature store unavailable; retry later (Track is safe to retry with the same event ids)", `msg="store unavailable"`, "10.0.0.7"},
		{"random error", errors.New("redis: WRONGTYPE Operation against key {c1}:s3cret"), codes.Internal,
			"internal error", "WRONGTYPE Operation against key {c1}:s3cret", "s3cret"},
		{"deadline", fmt.Errorf("redisstore: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "deadline exceeded", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := start(t, nil)
			env.store.configure(func(f *fakeStore) { f.trackErr, f.profileErr, f.upsertErr = tt.err, tt.err, tt.err })

			resp, err := env.client.Track(t.Context(), &kairosv1.TrackRequest{Events: events})
			if resp != nil {
				t.Errorf("Track returned %v with the error; want nothing reported", resp)
			}
			st, _ := status.FromError(err)
			if st.Code() != tt.code || st.Message() != tt.msg {
				t.Errorf("Track: got %v %q, want %v %q", st.Code(), st.Message(), tt.code, tt.msg)
			}
			if tt.notSent != "" && strings.Contains(st.Message(), tt.notSent) {
				t.Errorf("Track: the client saw %q", tt.notSent)
			}
			if got := counter(t, env.reg, "kairos_track_events_total", map[string]string{"result": "accepted"}); got != 0 {
				t.Errorf("accepted counter = %v after a failed Track, want 0", got)
			}
			if got := counter(t, env.reg, "kairos_grpc_requests_total", map[string]string{"method": kairosv1.Kairos_Track_FullMethodName, "code": tt.code.String()}); got != 1 {
				t.Errorf("requests counter for Track/%v = %v, want 1", tt.code, got)
			}

			_, err = env.client.GetProfile(t.Context(), &kairosv1.GetProfileRequest{CustomerId: "c1"})
			wantCode(t, err, tt.code, tt.msg)
			_, err = env.client.UpsertCustomer(t.Context(), &kairosv1.UpsertCustomerRequest{Customer: &kairosv1.Customer{CustomerId: "c1"}})
			wantCode(t, err, tt.code, tt.msg)

			logs := env.logs.String()
			if tt.logged != "" {
				// Logged once per failing call, at the edge.
				if n := strings.Count(logs, tt.logged); n != 3 {
					t.Errorf("log holds %q %d times, want 3 (once per call):\n%s", tt.logged, n, logs)
				}
			}
		})
	}
}

func TestGetProfile(t *testing.T) {
	env := start(t, nil)
	_, err := env.client.GetProfile(t.Context(), &kairosv1.GetProfileRequest{})
	wantCode(t, err, codes.InvalidArgument, "customer_id: is required")
	_, err = env.client.GetProfile(t.Context(), &kairosv1.GetProfileRequest{CustomerId: strings.Repeat("x", 129)})
	wantCode(t, err, codes.InvalidArgument, "customer_id: must be at most 128 bytes, got 129")

	// A customer never heard of: every feature, NaN, no record, no time.
	p, err := env.client.GetProfile(t.Context(), &kairosv1.GetProfileRequest{CustomerId: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	names := features.Default().Names()
	if len(p.Features) != len(names) {
		t.Fatalf("got %d features, want %d", len(p.Features), len(names))
	}
	for i, f := range p.Features {
		if f.Name != names[i] || !math.IsNaN(f.Value) {
			t.Errorf("feature %d = %s %v, want %s NaN", i, f.Name, f.Value, names[i])
		}
	}
	if p.CustomerId != "nobody" || p.Customer != nil || p.UpdatedAt != nil {
		t.Errorf("empty profile: customer_id %q, customer %v, updated_at %v; want nobody, nil, nil", p.CustomerId, p.Customer, p.UpdatedAt)
	}

	rec := &kairosv1.Customer{
		CustomerId: "c1", Email: "ada@example.com", Phone: "+14155550123", PushToken: "tok",
		Timezone: "Europe/Berlin", Consents: map[string]bool{"email": true, "sms": false}, Attributes: map[string]string{"plan": "pro"},
	}
	if _, err := env.client.UpsertCustomer(t.Context(), &kairosv1.UpsertCustomerRequest{Customer: rec}); err != nil {
		t.Fatal(err)
	}
	p, err = env.client.GetProfile(t.Context(), &kairosv1.GetProfileRequest{CustomerId: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rec, p.Customer, protocmp.Transform()); diff != "" {
		t.Errorf("customer (-want +got):\n%s", diff)
	}
	if !p.UpdatedAt.AsTime().Equal(testNow) {
		t.Errorf("updated_at = %v, want %v", p.UpdatedAt.AsTime(), testNow)
	}
}

func TestUpsertCustomerValidation(t *testing.T) {
	env := start(t, nil)
	tests := []struct {
		c    *kairosv1.Customer
		want string
	}{
		{nil, "customer: is required"},
		{&kairosv1.Customer{}, "customer.customer_id: is required"},
		{&kairosv1.Customer{CustomerId: "c1", Email: "Ada <ada@example.com>"}, "customer.email: must be a bare address such as ada@example.com"},
		{&kairosv1.Customer{CustomerId: "c1", Timezone: "Mars/Olympus"}, `customer.timezone: unknown time zone "Mars/Olympus"`},
	}
	for _, tt := range tests {
		_, err := env.client.UpsertCustomer(t.Context(), &kairosv1.UpsertCustomerRequest{Customer: tt.c})
		wantCode(t, err, codes.InvalidArgument, tt.want)
	}
	if n := env.store.customerCount(); n != 0 {
		t.Errorf("the store got %d invalid records", n)
	}
}

func TestPanicRecovery(t *testing.T) {
	env := start(t, nil)
	env.store.configure(func(f *fakeStore) { f.panicIn = "Profile" })
	_, err := env.client.GetProfile(t.Context(), &kairosv1.GetProfileRequest{CustomerId: "c1"})
	wantCode(t, err, codes.Internal, "internal error")
	if st, _ := status.FromError(err); strings.Contains(st.Message(), "exploded") {
		t.Errorf("the client saw the panic: %q", st.Message())
	}
	logs := env.logs.String()
	for _, want := range []string{"panic in handler", "Profile exploded", "goroutine", "runtime/debug.Stack"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if got := counter(t, env.reg, "kairos_grpc_requests_total", map[string]string{"method": kairosv1.Kairos_GetProfile_FullMethodName, "code": "Internal"}); got != 1 {
		t.Errorf("requests counter for GetProfile/Internal = %v, want 1", got)
	}
	// The server goes on serving.
	if _, err := env.client.Track(t.Context(), &kairosv1.TrackRequest{Events: []*kairosv1.Event{ev("e1", "c1", "login", nil)}}); err != nil {
		t.Fatalf("Track after a panic: %v", err)
	}
}

const (
	webKey    = "web-key-0123456789abcdef"
	adminKey  = "admin-key-0123456789abcdef"
	writerKey = "writer-key-0123456789abcdef"
)

func testKeys(t *testing.T) *Keys {
	t.Helper()
	yaml := fmt.Sprintf(`keys:
  - {name: web, key: %q, scopes: [track, profile:read]}
  - {name: ops, key: "sha256:%x", scopes: [admin]}
  - {name: crm, key: %q, scopes: [customers:write]}
`, webKey, sha256Sum(adminKey), writerKey)
	k, err := ParseKeys([]byte(yaml), "keys.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func withKey(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

func TestAuth(t *testing.T) {
	track := func(c kairosv1.KairosClient, ctx context.Context) error {
		_, err := c.Track(ctx, &kairosv1.TrackRequest{Events: []*kairosv1.Event{ev("e1", "c1", "login", nil)}})
		return err
	}
	profile := func(c kairosv1.KairosClient, ctx context.Context) error {
		_, err := c.GetProfile(ctx, &kairosv1.GetProfileRequest{CustomerId: "c1"})
		return err
	}
	upsert := func(c kairosv1.KairosClient, ctx context.Context) error {
		_, err := c.UpsertCustomer(ctx, &kairosv1.UpsertCustomerRequest{Customer: &kairosv1.Customer{CustomerId: "c1"}})
		return err
	}
	type call = func(kairosv1.KairosClient, context.Context) error
	tests := []struct {
		name    string
		auth    bool
		md      []string // outgoing metadata pairs
		call    call
		code    codes.Code
		msgPart string
	}{
		{"auth off: no key needed", false, nil, track, codes.OK, ""},
		{"auth off: a key is ignored", false, []string{"authorization", "Bearer nonsense"}, upsert, codes.OK, ""},
		{"missing key", true, nil, track, codes.Unauthenticated, `"authorization: Bearer <key>"`},
		{"wrong key", true, []string{"authorization", "Bearer wrong-key-0123456789abcdef"}, track, codes.Unauthenticated, "invalid API key"},
		{"not a bearer", true, []string{"authorization", "Basic " + webKey}, track, codes.Unauthenticated, "Bearer"},
		{"the digest itself is no key", true, []string{"authorization", fmt.Sprintf("Bearer sha256:%x", sha256Sum(adminKey))}, track, codes.Unauthenticated, "invalid API key"},
		{"good key, scope", true, []string{"authorization", "Bearer " + webKey}, track, codes.OK, ""},
		{"bearer scheme case-insensitive", true, []string{"authorization", "bearer " + webKey}, profile, codes.OK, ""},
		{"missing scope", true, []string{"authorization", "Bearer " + webKey}, upsert, codes.PermissionDenied, `API key "web" lacks scope "customers:write", which UpsertCustomer requires`},
		{"missing scope 2", true, []string{"authorization", "Bearer " + writerKey}, profile, codes.PermissionDenied, `lacks scope "profile:read"`},
		{"sha256 key, admin: track", true, []string{"authorization", "Bearer " + adminKey}, track, codes.OK, ""},
		{"sha256 key, admin: upsert", true, []string{"authorization", "Bearer " + adminKey}, upsert, codes.OK, ""},
		{"sha256 key, admin: profile", true, []string{"authorization", "Bearer " + adminKey}, profile, codes.OK, ""},
		{"two authorization values", true, []string{"authorization", "Bearer " + webKey, "authorization", "Bearer " + adminKey}, track, codes.Unauthenticated, "exactly one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var keys *Keys
			if tt.auth {
				keys = testKeys(t)
			}
			env := start(t, keys)
			ctx := t.Context()
			if tt.md != nil {
				ctx = metadata.AppendToOutgoingContext(ctx, tt.md...)
			}
			err := tt.call(env.client, ctx)
			st, _ := status.FromError(err)
			if st.Code() != tt.code || !strings.Contains(st.Message(), tt.msgPart) {
				t.Fatalf("got %v %q, want %v containing %q", st.Code(), st.Message(), tt.code, tt.msgPart)
			}
		})
	}
}

func TestAuthHealthAndReflection(t *testing.T) {
	env := start(t, testKeys(t))
	hc := healthpb.NewHealthClient(env.conn)
	for _, svc := range []string{"", "kairos.v1.Kairos"} {
		resp, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health check %q without a key = %v, %v; want SERVING", svc, resp, err)
		}
	}

	listServices := func(ctx context.Context) ([]string, error) {
		stream, err := reflectionpb.NewServerReflectionClient(env.conn).ServerReflectionInfo(ctx)
		if err != nil {
			return nil, err
		}
		if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil && err != io.EOF {
			return nil, err
		}
		resp, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		var names []string
		for _, s := range resp.GetListServicesResponse().GetService() {
			names = append(names, s.GetName())
		}
		return names, stream.CloseSend()
	}
	_, err := listServices(t.Context())
	wantCode(t, err, codes.Unauthenticated, "missing API key")
	// Any valid key will do, whatever its scopes.
	names, err := listServices(withKey(t.Context(), writerKey))
	if err != nil {
		t.Fatalf("reflection with a key: %v", err)
	}
	if !strings.Contains(strings.Join(names, ","), "kairos.v1.Kairos") {
		t.Errorf("reflection lists %v, want kairos.v1.Kairos among them", names)
	}
}

func TestShutdownMarksNotServing(t *testing.T) {
	env := start(t, testKeys(t))
	ctx := t.Context()
	hc := healthpb.NewHealthClient(env.conn)
	watch, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: "kairos.v1.Kairos"})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health watch before Shutdown = %v, %v; want SERVING", resp, err)
	}

	env.srv.Shutdown()
	if resp, err := watch.Recv(); err != nil || resp.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health watch after Shutdown = %v, %v; want NOT_SERVING", resp, err)
	}
	for _, svc := range []string{"", "kairos.v1.Kairos"} {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("health check %q after Shutdown = %v, %v; want NOT_SERVING", svc, resp, err)
		}
	}
	// Shutdown stops nothing: RPCs in flight, and new ones until
	// GracefulStop, are still served.
	if _, err := env.client.GetProfile(withKey(ctx, webKey), &kairosv1.GetProfileRequest{CustomerId: "c1"}); err != nil {
		t.Errorf("GetProfile after Shutdown: %v", err)
	}
}

func TestAdminHandler(t *testing.T) {
	env := start(t, nil)
	// One RPC so that the request counter has a series.
	if _, err := env.client.GetProfile(t.Context(), &kairosv1.GetProfileRequest{CustomerId: "c1"}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(env.srv.AdminHandler())
	defer ts.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	if code, body := get("/readyz"); code != 200 {
		t.Errorf("/readyz with a healthy store = %d %q, want 200", code, body)
	}
	env.store.configure(func(f *fakeStore) { f.pingErr = fmt.Errorf("redisstore: ping: %w", features.ErrUnavailable) })
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "feature store unavailable") {
		t.Errorf("/readyz with a failing store = %d %q, want 503 with the reason", code, body)
	}
	env.store.configure(func(f *fakeStore) { f.pingErr, f.blockPing = nil, true })
	start := time.Now()
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "deadline exceeded") {
		t.Errorf("/readyz with a hanging store = %d %q, want 503 deadline exceeded", code, body)
	}
	if d := time.Since(start); d > ReadyTimeout+time.Second {
		t.Errorf("/readyz took %v with a hanging store, want about %v", d, ReadyTimeout)
	}
	code, body := get("/metrics")
	if code != 200 || !strings.Contains(body, `kairos_grpc_requests_total{code="OK",method="/kairos.v1.Kairos/GetProfile"} 1`) {
		t.Errorf("/metrics = %d, lacks the GetProfile request counter:\n%s", code, body)
	}
	if !strings.Contains(body, "kairos_grpc_request_duration_seconds_bucket") {
		t.Errorf("/metrics lacks the latency histogram")
	}
}

func TestNewSharesRegistry(t *testing.T) {
	// Two servers on one registry (e.g. tests) share the collectors
	// instead of panicking.
	reg := prometheus.NewRegistry()
	set := features.Default()
	New(Options{Store: newFakeStore(set), Set: set, Registerer: reg})
	New(Options{Store: newFakeStore(set), Set: set, Registerer: reg})
}

// deadlineStore records the deadline of the context Track gets.
type deadlineStore struct {
	features.Store
	deadline chan time.Time
}

func (d deadlineStore) Track(ctx context.Context, events []features.Event, now time.Time) ([]features.Status, error) {
	dl, _ := ctx.Deadline()
	d.deadline <- dl
	st := make([]features.Status, len(events))
	for i := range st {
		st[i] = features.Accepted
	}
	return st, nil
}

func TestRequestTimeout(t *testing.T) {
	set := features.Default()
	st := deadlineStore{Store: newFakeStore(set), deadline: make(chan time.Time, 2)}
	srv := New(Options{Store: st, Set: set, RequestTimeout: 2 * time.Second})
	client := dial(t, srv)
	req := &kairosv1.TrackRequest{Events: []*kairosv1.Event{{EventId: "e", CustomerId: "c", Type: "login"}}}
	// No client deadline: the server's applies.
	start := time.Now()
	if _, err := client.Track(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if dl := <-st.deadline; dl.Before(start.Add(time.Second)) || dl.After(start.Add(3*time.Second)) {
		t.Fatalf("deadline %v after start, want the server's 2s", dl.Sub(start))
	}
	// A shorter client deadline wins.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := client.Track(ctx, req); err != nil {
		t.Fatal(err)
	}
	if dl := <-st.deadline; dl.After(start.Add(time.Second)) {
		t.Fatalf("deadline %v after start, want the client's 500ms", dl.Sub(start))
	}
}
