// Package prom registers the Prometheus collectors of a package's
// metrics struct (see STYLE.md: one struct per package, built from an
// injected prometheus.Registerer).
package prom

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c with reg and returns it; when an equal collector is
// already registered (a second server or archiver on the same registry),
// it returns that one, so both count into the same series. Any other
// registration error is a programming error and panics.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("register metrics: %v", err))
	}
	return c
}
