package archive

import (
	"github.com/prometheus/client_golang/prometheus"

	"kairos/internal/prom"
)

// metrics are the Prometheus metrics of an Archiver.
type metrics struct {
	events   prometheus.Counter
	files    prometheus.Counter
	flush    prometheus.Histogram
	buffered prometheus.Gauge
}

// newMetrics builds an Archiver's metrics and registers them with reg
// (none when nil). A collector already registered (a second Archiver on
// the same registry) is shared rather than a reason to panic.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "kairos", Subsystem: "archive", Name: "events_total",
			Help: "Events written to archive files (an event archived again after a crash counts again).",
		}),
		files: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "kairos", Subsystem: "archive", Name: "files_total",
			Help: "Archive files written.",
		}),
		flush: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "kairos", Subsystem: "archive", Name: "flush_seconds",
			Help:    "Time to write the buffered events to archive files, failed flushes included.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		buffered: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "kairos", Subsystem: "archive", Name: "buffered_events",
			Help: "Events read from the event log and not yet written to the archive.",
		}),
	}
	if reg != nil {
		m.events = prom.Register(reg, m.events)
		m.files = prom.Register(reg, m.files)
		m.flush = prom.Register(reg, m.flush)
		m.buffered = prom.Register(reg, m.buffered)
	}
	return m
}
