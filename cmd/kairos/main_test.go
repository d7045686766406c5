package main

import (
	"os"
	"testing"
)

// TestMain lets the test binary stand in for the kairos binary: commands
// that run kairos as a child process (bench export) re-execute
// os.Executable(), which in tests is this binary.
func TestMain(m *testing.M) {
	if os.Getenv("KAIROS_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
