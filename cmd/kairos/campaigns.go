package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"kairos/decisioning"
	"kairos/features"
)

const campaignsUsage = `Usage:
  kairos campaigns validate FILE [--features F]   check a campaign configuration: ok with a summary, or the line and rule it breaks (exit 1)
  kairos campaigns example                        print the built-in configuration (commented; a starting point for your own)`

// campaignsCmd runs `kairos campaigns validate|example`.
func campaignsCmd(ctx context.Context, env environment, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(env.stdout, campaignsUsage)
		if len(args) == 0 {
			return errors.New("campaigns: name a subcommand: validate or example")
		}
		return nil
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "example":
		if len(rest) > 0 {
			return fmt.Errorf("campaigns example takes no arguments, got %q", rest)
		}
		_, err := env.stdout.Write(decisioning.DefaultConfigYAML())
		return err
	case "validate":
		var featuresFile string
		fs := flagSet("campaigns validate", campaignsUsage, env)
		fs.StringVar(&featuresFile, "features", "", "feature definitions YAML `file` the campaigns' inputs must come from (empty: the built-in definitions)")
		var pos []string
		for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			pos, rest = append(pos, rest[0]), rest[1:]
		}
		if err := parseFlags(fs, env, "campaigns validate", rest); err != nil {
			return err
		}
		if len(pos) != 1 {
			return fmt.Errorf("campaigns validate takes one FILE, got %q", pos)
		}
		set := features.Default()
		if featuresFile != "" {
			var err error
			if set, err = features.Load(featuresFile); err != nil {
				return fmt.Errorf("campaigns validate: %w", err)
			}
		}
		cfg, err := loadCampaigns(pos[0], set)
		if err != nil {
			return fmt.Errorf("campaigns validate: %w", err)
		}
		fmt.Fprintf(env.stdout, "ok: %s (version %s): %d campaigns, control group %s, %d global caps\n",
			cfg.Source, cfg.Version, len(cfg.Campaigns), cfg.Global.ControlGroup, len(cfg.Global.Caps))
		tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CAMPAIGN\tHOLDOUT\tARMS\tREWARD\tMETRICS\tPOLICY")
		for _, c := range cfg.Campaigns {
			arms := make([]string, len(c.Arms))
			for i, a := range c.Arms {
				arms[i] = a.Channel
				if a.Offer != "" {
					arms[i] += "/" + a.Offer
				}
			}
			metrics := make([]string, len(c.Metrics))
			for i, m := range c.Metrics {
				metrics[i] = m.Name + "=" + m.Event + "/" + features.FormatDuration(m.Within)
			}
			if len(metrics) == 0 {
				metrics = []string{"-"}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s within %s\t%s\t%s\n", c.Name, c.Holdout, strings.Join(arms, " "),
				c.Reward.Event, features.FormatDuration(c.Reward.Within), strings.Join(metrics, " "), c.Policy.Kind)
		}
		return tw.Flush()
	default:
		return fmt.Errorf("campaigns: unknown subcommand %q; run 'kairos campaigns help'", sub)
	}
}
