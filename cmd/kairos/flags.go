package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"kairos/features"
)

// parseFlags parses the flags of command name: flags given on the command
// line win, then KAIROS_* environment variables (see envName), then the
// defaults. A parse error is returned once (main reports it) with a hint;
// -h prints the usage and returns flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, env environment, name string, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(env.stderr)
			fs.Usage()
			return err
		}
		return fmt.Errorf("%w; run 'kairos %s -h' for the flags", err, name)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s takes no arguments, got %q; run 'kairos %s -h' for the flags", name, fs.Args(), name)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		name := envName(f.Name)
		if v, ok := env.lookupEnv(name); ok && v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("environment variable %s=%q: %w", name, v, serr)
			}
		}
	})
	return err
}

// flagSet returns a flag set for command name whose usage explains the
// KAIROS_* environment variables.
func flagSet(name, synopsis string, env environment) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: kairos %s [flags]\n\n%s\n\n", name, synopsis)
		fmt.Fprintln(fs.Output(), "Each flag may also be set by an environment variable, KAIROS_ and the flag name")
		fmt.Fprintln(fs.Output(), "in upper case with underscores (e.g. KAIROS_GRPC_ADDR); a flag given wins.")
		fmt.Fprintln(fs.Output())
		fs.PrintDefaults()
	}
	return fs
}

// dayDuration is a flag value of a duration that also accepts whole days:
// 30d, 36h, 90m.
type dayDuration struct{ d *time.Duration }

func (v dayDuration) String() string {
	if v.d == nil {
		return "0"
	}
	return features.FormatDuration(*v.d)
}

func (v dayDuration) Set(s string) error {
	d, err := features.ParseDuration(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

// timeValue is a flag value of a UTC time given as a date (2026-09-01,
// midnight UTC) or in RFC 3339.
type timeValue struct{ t *time.Time }

func (v timeValue) String() string {
	if v.t == nil || v.t.IsZero() {
		return ""
	}
	if v.t.Equal(v.t.Truncate(24 * time.Hour)) {
		return v.t.Format(time.DateOnly)
	}
	return v.t.Format(time.RFC3339)
}

func (v timeValue) Set(s string) error {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		*v.t = t.UTC()
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("%q: want a date (2026-09-01) or an RFC 3339 time (2026-09-01T06:00:00Z)", s)
	}
	*v.t = t.UTC()
	return nil
}
