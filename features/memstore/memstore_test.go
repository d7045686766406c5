package memstore_test

import (
	"testing"

	"kairos/features"
	"kairos/features/memstore"
	"kairos/features/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, set *features.Set) (features.Store, features.EventLog) {
		s := memstore.New(set, memstore.Options{})
		return s, s
	})
}
