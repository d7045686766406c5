package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// command is one subcommand of kairos.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env environment, args []string) error
}

// environment is what a command gets from the process: its output streams
// and its environment variables (injected so that tests need not set the
// real ones).
type environment struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
}

func commands() []command {
	return []command{
		{"serve", "run the gRPC service and the admin HTTP endpoints", serve},
		{"demo", "the whole loop in one process: Kairos on embedded defaults, a simulated customer base playing into it, and the incrementality reports beside the true effects", demo},
		{"simulate", "simulate customers with known true campaign effects into an archive or a running Kairos", simulate},
		{"export", "write a point-in-time training set (Parquet or Arrow) from the event archive", exportCmd},
		{"models", "status, validate, promote, rollback and score the models (kairos models help)", modelsCmd},
		{"campaigns", "validate a campaign configuration, or print the built-in example (kairos campaigns help)", campaignsCmd},
		{"channels", "dispatch status, message previews, and the channels configuration (kairos channels help)", channelsCmd},
		{"report", "incrementality report of a campaign (from the ledger) or of an experiment exported as CSV: lifts with confidence intervals, SRM, CUPED, attribution, off-policy evaluation", reportCmd},
		{"explain", "why did (or didn't) a customer get a message: trigger steps, timers, decisions with their reasons and delivery attempts, oldest first", explain},
		{"bench", "benchmark Track, GetProfile, Decide (against an empty gRPC handler), score or export", benchCmd},
	}
}

// run runs the subcommand named by args[0] with the rest of args.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runEnv(ctx, environment{stdout: stdout, stderr: stderr, lookupEnv: os.LookupEnv}, args)
}

func runEnv(ctx context.Context, env environment, args []string) error {
	if len(args) == 0 {
		usage(env.stderr)
		return fmt.Errorf("no command given; run 'kairos help' to list the commands")
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		usage(env.stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == name {
			err := c.run(ctx, env, args[1:])
			if errors.Is(err, flag.ErrHelp) {
				return nil // -h: the command printed its usage
			}
			return err
		}
	}
	return fmt.Errorf("unknown command %q; run 'kairos help' to list the commands", name)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Kairos is a real-time customer scoring and decisioning service.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: kairos <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	fmt.Fprintf(tw, "  %s\t%s\n", "help", "list the commands")
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'kairos <command> -h' for the flags of a command.")
}

// envName returns the environment variable mirroring a flag:
// --grpc-addr is KAIROS_GRPC_ADDR.
func envName(flag string) string {
	return "KAIROS_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}
