package training_test

import (
	"testing"

	"kairos/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }
