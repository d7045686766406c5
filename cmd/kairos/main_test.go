package main

import (
	"io"
	"os"
	"testing"

	"kairos/internal/pgtest"
	"kairos/ledger/pgledger"
)

// TestMain lets the test binary stand in for the kairos binary: commands
// that run kairos as a child process (bench export) re-execute
// os.Executable(), which in tests is this binary.
func TestMain(m *testing.M) {
	if os.Getenv("KAIROS_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	pgtest.Main(m, pgledger.Migrate)
}

// testEnv is a command environment writing to stdout and stderr (nil:
// discarded) whose environment variables are vars.
func testEnv(stdout, stderr io.Writer, vars map[string]string) environment {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	return environment{stdout: stdout, stderr: stderr, lookupEnv: func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}}
}
