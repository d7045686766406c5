package prom

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegisterTwiceSharesTheCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "kairos_test_total", Help: "test"}
	a := Register(reg, prometheus.NewCounter(opts))
	b := Register(reg, prometheus.NewCounter(opts))
	if a != b {
		t.Fatal("a second registration returned a new, unregistered collector")
	}
	defer func() {
		if recover() == nil {
			t.Error("a conflicting registration did not panic")
		}
	}()
	Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "kairos_test_total", Help: "other"}))
}

func TestValue(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kairos_things_total", Help: "test"}, []string{"kind"}))
	c.WithLabelValues("a").Add(2)
	c.WithLabelValues("b").Add(5)
	if v, ok := Value(reg, "kairos_things_total", map[string]string{"kind": "b"}); !ok || v != 5 {
		t.Errorf("Value{kind=b} = %v, %v", v, ok)
	}
	if _, ok := Value(reg, "kairos_missing", nil); ok {
		t.Error("a missing metric has a value")
	}
}
