package redistest_test

import (
	"flag"
	"os"
	"testing"

	"github.com/redis/go-redis/v9/logging"
)

// TestMain silences go-redis's own logger (a process global, which writes
// "failed to dial" lines to stderr while tests stop Redis) unless -v.
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		logging.Disable()
	}
	os.Exit(m.Run())
}
