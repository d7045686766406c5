package memstate_test

import (
	"testing"

	"kairos/decisioning"
	"kairos/decisioning/memstate"
	"kairos/decisioning/timertest"
	"kairos/features"
	"kairos/features/memstore"
)

func TestTimersContract(t *testing.T) {
	timertest.Run(t, func(t *testing.T) decisioning.Timers {
		return memstate.New(memstore.New(features.Default(), memstore.Options{}), memstate.Options{})
	})
}
