package redisstore_test

import (
	"testing"

	"kairos/features"
	"kairos/features/redisstore"
	"kairos/features/storetest"
	"kairos/internal/redistest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, set *features.Set) (features.Store, features.EventLog) {
		srv := redistest.Start(t)
		s := redisstore.New(srv.Client(t), set, redisstore.Options{})
		return s, s
	})
}
