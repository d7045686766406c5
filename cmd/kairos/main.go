// Command kairos is the one Kairos binary. Its subcommands are listed by
// `kairos help`; `kairos serve` runs the gRPC service and the admin HTTP
// endpoints.
//
// main is thin: it turns signals into context cancellation, calls run and
// prints run's error, once, to stderr.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kairos:", err)
		os.Exit(1)
	}
}
