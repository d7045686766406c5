package memstate_test

import (
	"testing"

	"kairos/decisioning/dispatchtest"
	"kairos/decisioning/memstate"
	"kairos/features"
	"kairos/features/memstore"
)

func TestDispatchContract(t *testing.T) {
	dispatchtest.Run(t, func(t *testing.T) dispatchtest.State {
		return memstate.New(memstore.New(features.Default(), memstore.Options{}), memstate.Options{})
	})
}
