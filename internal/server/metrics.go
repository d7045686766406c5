package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"kairos/internal/prom"
)

// metrics are the Prometheus metrics of the server.
type metrics struct {
	requests *prometheus.CounterVec   // method, code
	latency  *prometheus.HistogramVec // method
	// Track events by result, resolved once from one CounterVec.
	accepted, duplicates, rejected prometheus.Counter
}

// newMetrics builds the server's metrics and registers them with reg. A
// collector already registered (a second Server on the same registry)
// is shared rather than a reason to panic.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kairos",
			Subsystem: "grpc",
			Name:      "requests_total",
			Help:      "gRPC requests handled, by full method and status code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "kairos",
			Subsystem: "grpc",
			Name:      "request_duration_seconds",
			Help:      "Time to handle a gRPC request, by full method.",
			Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method"}),
	}
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "kairos",
		Subsystem: "track",
		Name:      "events_total",
		Help:      "Events received by Track, by result: accepted, duplicate or rejected (invalid).",
	}, []string{"result"})
	m.requests = prom.Register(reg, m.requests)
	m.latency = prom.Register(reg, m.latency)
	events = prom.Register(reg, events)
	m.accepted = events.WithLabelValues("accepted")
	m.duplicates = events.WithLabelValues("duplicate")
	m.rejected = events.WithLabelValues("rejected")
	return m
}

// trackResult records the outcome of one Track call.
func (m *metrics) trackResult(accepted, duplicates, rejected int) {
	m.accepted.Add(float64(accepted))
	m.duplicates.Add(float64(duplicates))
	m.rejected.Add(float64(rejected))
}
