package decisioning

import (
	"github.com/prometheus/client_golang/prometheus"

	"kairos/internal/prom"
)

type metrics struct {
	decisions *prometheus.CounterVec
	fallback  *prometheus.CounterVec
	invalid   prometheus.Counter
	repeats   prometheus.Counter
	conflicts prometheus.Counter
	latency   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_decisions_total", Help: "Decisions recorded, by campaign and outcome.",
		}, []string{"campaign", "outcome"}),
		fallback: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_decide_fallback_total", Help: "Decide calls answered by the fallback (not recorded), by reason.",
		}, []string{"reason"}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_decide_invalid_total", Help: "Decide requests refused as invalid.",
		}),
		repeats: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_decide_repeats_total", Help: "Decide requests answered with the decision of an earlier request with the same request_id.",
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_decide_conflicts_total", Help: "Decisions made again because a message was sent to the customer while deciding (caps and cooldowns held).",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kairos_decide_seconds", Help: "Time to decide and record, in the engine.",
			Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .02, .05, .1},
		}),
	}
	if reg == nil {
		return m
	}
	m.decisions = prom.Register(reg, m.decisions)
	m.fallback = prom.Register(reg, m.fallback)
	m.invalid = prom.Register(reg, m.invalid)
	m.repeats = prom.Register(reg, m.repeats)
	m.conflicts = prom.Register(reg, m.conflicts)
	m.latency = prom.Register(reg, m.latency)
	return m
}
