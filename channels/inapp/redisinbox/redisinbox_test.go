package redisinbox_test

import (
	"testing"

	"kairos/channels/inapp"
	"kairos/channels/inapp/inapptest"
	"kairos/channels/inapp/redisinbox"
	"kairos/features"
	"kairos/features/redisstore"
	"kairos/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func TestContract(t *testing.T) {
	inapptest.Run(t, func(t *testing.T, opts inapp.Options) inapp.Store {
		rs := redisstore.New(redistest.Start(t).Client(t), features.Default(), redisstore.Options{})
		return redisinbox.New(rs, opts)
	})
}
