// Package server is the network edge of Kairos: the gRPC service
// kairos.v1.Kairos with its interceptors (panic recovery, API-key auth,
// Prometheus metrics), the standard health and reflection services, and the
// admin HTTP handler (/healthz, /readyz, /metrics).
//
// It maps proto messages to the domain types of package features and back,
// and domain errors to gRPC statuses through one table (errors.go). It holds
// no business logic: validation is features', storage is the Store's.
package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	kairosv1 "kairos/api/proto/kairos/v1"
	"kairos/channels/inapp"
	"kairos/decisioning"
	"kairos/features"
	"kairos/ledger"
)

// ReadyTimeout bounds the store ping of /readyz.
const ReadyTimeout = time.Second

// Options configures a Server.
type Options struct {
	// Store keeps features and the event log. Required.
	Store features.Store
	// Set is the compiled feature definitions; it validates events. Required.
	Set *features.Set
	// Logger receives internal errors, panics and store outages. nil
	// discards logs.
	Logger *slog.Logger
	// Registerer receives the server's metrics. When nil, a new registry
	// is used (and serves as Gatherer when that is nil too).
	Registerer prometheus.Registerer
	// Gatherer is what /metrics serves. nil: the Registerer when it is a
	// *prometheus.Registry, nothing otherwise.
	Gatherer prometheus.Gatherer
	// Keys are the API keys that may call the service; nil disables auth.
	Keys *Keys
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// RequestTimeout bounds an RPC whose client set no deadline (or a
	// later one); 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Engine decides; nil: Decide answers Unimplemented.
	Engine *decisioning.Engine
	// Ledger answers ExplainDecision; nil: it answers Unimplemented.
	Ledger ledger.Ledger
	// Checks are the readiness checks of /readyz beyond the feature store.
	Checks []Check
	// Inbox is the in-app inbox store of GetInbox and AckInbox; nil: they
	// answer Unimplemented.
	Inbox inapp.Store
}

// Check is a readiness check of a dependency. Ready fails when the
// dependency stops the server from serving (/readyz answers 503); Degraded
// returns a non-empty reason when the server serves with reduced function
// (/readyz answers 200 "degraded: ...").
type Check struct {
	Name     string
	Ready    func(ctx context.Context) error
	Degraded func() string
}

// DefaultRequestTimeout is the deadline the server sets for an RPC when the
// client set none: long enough for a full Track batch against a slow Redis,
// short enough that a stuck dependency frees the handler.
const DefaultRequestTimeout = 5 * time.Second

// Server implements kairos.v1.Kairos on a features.Store, and the admin
// HTTP endpoints. It is safe for concurrent use.
type Server struct {
	// UnimplementedKairosServer is embedded for forward compatibility
	// only: every RPC of the proto is implemented below.
	kairosv1.UnimplementedKairosServer

	store    features.Store
	set      *features.Set
	logger   *slog.Logger
	keys     *Keys
	now      func() time.Time
	timeout  time.Duration
	metrics  *metrics
	gatherer prometheus.Gatherer
	// health is the gRPC health service of every server GRPC returns.
	health *health.Server
	engine *decisioning.Engine
	ledger ledger.Ledger
	checks []Check
	inbox  inapp.Store
}

var _ kairosv1.KairosServer = (*Server)(nil)

// New returns a Server. It panics if Store or Set is nil.
func New(opts Options) *Server {
	if opts.Store == nil || opts.Set == nil {
		panic("server: Options.Store and Options.Set are required")
	}
	s := &Server{
		store:    opts.Store,
		set:      opts.Set,
		logger:   opts.Logger,
		keys:     opts.Keys,
		now:      opts.Now,
		timeout:  opts.RequestTimeout,
		gatherer: opts.Gatherer,
		health:   health.NewServer(),
		engine:   opts.Engine,
		ledger:   opts.Ledger,
		checks:   opts.Checks,
		inbox:    opts.Inbox,
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(kairosv1.Kairos_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	if s.logger == nil {
		s.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.timeout <= 0 {
		s.timeout = DefaultRequestTimeout
	}
	reg := opts.Registerer
	if reg == nil {
		r := prometheus.NewRegistry()
		reg = r
	}
	if s.gatherer == nil {
		if g, ok := reg.(prometheus.Gatherer); ok {
			s.gatherer = g
		} else {
			s.gatherer = prometheus.Gatherers{}
		}
	}
	s.metrics = newMetrics(reg)
	return s
}

// MaxRequestBytes is the largest request the gRPC server accepts: a full
// batch of 1,000 events with a few properties each is far below it; larger
// requests fail with ResourceExhausted.
const MaxRequestBytes = 16 << 20

// GRPC returns a new gRPC server with the interceptors installed and the
// Kairos, health (SERVING for "" and kairos.v1.Kairos until Shutdown) and
// reflection services registered. The caller serves and stops it.
func (s *Server) GRPC(opts ...grpc.ServerOption) *grpc.Server {
	opts = append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxRequestBytes),
		grpc.ChainUnaryInterceptor(s.unaryMetrics, s.unaryRecover, s.unaryAuth, s.unaryDeadline),
		grpc.ChainStreamInterceptor(s.streamMetrics, s.streamRecover, s.streamAuth),
	}, opts...)
	gs := grpc.NewServer(opts...)
	kairosv1.RegisterKairosServer(gs, s)
	healthpb.RegisterHealthServer(gs, s.health)
	reflection.Register(gs)
	return gs
}

// Shutdown marks the gRPC health of "" and kairos.v1.Kairos NOT_SERVING,
// for good, so that health checks and load balancers stop sending new RPCs.
// Call it before GracefulStop; it stops nothing itself.
func (s *Server) Shutdown() {
	s.health.Shutdown()
}

// AdminHandler returns the admin HTTP handler: /healthz is 200 while the
// process runs, /readyz is 200 when the store answers a ping within
// ReadyTimeout and every Check is ready (503 with the reason otherwise),
// with body "degraded: <reasons>" when a Check reports degraded service, /metrics serves the
// Gatherer in the Prometheus formats.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelError),
	}))
	return mux
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.store.Ping(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: feature store: %v\n", err)
		return
	}
	var degraded []string
	for _, c := range s.checks {
		if c.Ready != nil {
			if err := c.Ready(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintf(w, "not ready: %s: %v\n", c.Name, err)
				return
			}
		}
		if c.Degraded != nil {
			if why := c.Degraded(); why != "" {
				degraded = append(degraded, c.Name+": "+why)
			}
		}
	}
	if len(degraded) > 0 {
		fmt.Fprintf(w, "degraded: %s\n", strings.Join(degraded, "; "))
		return
	}
	io.WriteString(w, "ok\n")
}

// Track validates a batch of events and hands the valid ones to the store.
// Invalid events are reported per index; valid ones are accepted even when
// others are not. A store failure fails the whole call.
func (s *Server) Track(ctx context.Context, req *kairosv1.TrackRequest) (*kairosv1.TrackResponse, error) {
	now := s.now()
	events := req.GetEvents()
	if n := len(events); n == 0 || n > features.MaxBatch {
		return nil, s.status(ctx, &features.FieldError{
			Field: "events",
			Rule:  fmt.Sprintf("a batch holds 1 to %d events, got %d", features.MaxBatch, n),
		})
	}
	resp := &kairosv1.TrackResponse{}
	valid := make([]features.Event, 0, len(events))
	for i, pe := range events {
		e, ferr := eventFromProto(pe)
		if ferr == nil {
			ferr = s.set.ValidateEvent(&e, now)
		}
		if ferr != nil {
			resp.Errors = append(resp.Errors, &kairosv1.EventError{Index: int32(i), Field: ferr.Field, Reason: ferr.Rule})
			continue
		}
		valid = append(valid, e)
	}
	if len(valid) > 0 {
		statuses, err := s.store.Track(ctx, valid, now)
		if err != nil {
			return nil, s.status(ctx, fmt.Errorf("server: track %d events: %w", len(valid), err))
		}
		if len(statuses) != len(valid) {
			return nil, s.status(ctx, fmt.Errorf("server: track: store returned %d statuses for %d events", len(statuses), len(valid)))
		}
		for _, st := range statuses {
			switch st {
			case features.Accepted:
				resp.Accepted++
			case features.Duplicate:
				resp.Duplicates++
			default:
				return nil, s.status(ctx, fmt.Errorf("server: track: store returned unknown status %d", st))
			}
		}
	}
	s.metrics.trackResult(int(resp.Accepted), int(resp.Duplicates), len(resp.Errors))
	return resp, nil
}

// GetProfile returns a customer's current features and record.
func (s *Server) GetProfile(ctx context.Context, req *kairosv1.GetProfileRequest) (*kairosv1.Profile, error) {
	id := req.GetCustomerId()
	if ferr := features.ValidateCustomerID("customer_id", id); ferr != nil {
		return nil, s.status(ctx, ferr)
	}
	p, err := s.store.Profile(ctx, id, s.now())
	if err != nil {
		return nil, s.status(ctx, fmt.Errorf("server: profile %q: %w", id, err))
	}
	if len(p.Vector.Names) != len(p.Vector.Values) {
		return nil, s.status(ctx, fmt.Errorf("server: profile %q: store returned %d values for %d features", id, len(p.Vector.Values), len(p.Vector.Names)))
	}
	return profileToProto(id, p), nil
}

// UpsertCustomer validates and stores a customer's contact record.
func (s *Server) UpsertCustomer(ctx context.Context, req *kairosv1.UpsertCustomerRequest) (*kairosv1.UpsertCustomerResponse, error) {
	if req.GetCustomer() == nil {
		return nil, s.status(ctx, &features.FieldError{Field: "customer", Rule: "is required"})
	}
	c := customerFromProto(req.GetCustomer())
	if ferr := features.ValidateCustomer(&c); ferr != nil {
		return nil, s.status(ctx, ferr)
	}
	if err := s.store.UpsertCustomer(ctx, c, s.now()); err != nil {
		return nil, s.status(ctx, fmt.Errorf("server: upsert customer %q: %w", c.ID, err))
	}
	return &kairosv1.UpsertCustomerResponse{}, nil
}
