package models

import (
	"github.com/prometheus/client_golang/prometheus"

	"kairos/internal/prom"
)

type metrics struct {
	reloads prometheus.Counter
	refused *prometheus.CounterVec
	info    *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_model_reloads_total", Help: "Reads of the model directory."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_model_refused_total", Help: "Model versions refused, by model name and the rule they broke."}, []string{"model", "rule"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kairos_model_versions", Help: "Model versions by state (serving, shadow, standby, refused): 1 per version."}, []string{"model", "version", "state"}),
	}
	if reg != nil {
		m.reloads = prom.Register(reg, m.reloads)
		m.refused = prom.Register(reg, m.refused)
		m.info = prom.Register(reg, m.info)
	}
	return m
}

// observe publishes the state of every version.
func (m *metrics) observe(status []Status) {
	m.info.Reset()
	for _, s := range status {
		m.info.WithLabelValues(s.Name, s.Version, s.State).Set(1)
	}
}
