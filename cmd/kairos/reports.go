package main

import (
	"context"
	"fmt"
	"time"

	"kairos/decisioning"
	"kairos/ledger"
	"kairos/measurement"
)

// ledgerReports builds campaign reports from a ledger: the report page of
// serve and `kairos report --postgres`.
type ledgerReports struct {
	cfg    *decisioning.Config
	ledger ledger.Ledger
	// covariate and level: see measurement.CampaignInput (empty and 0:
	// its defaults).
	covariate string
	level     float64
	now       func() time.Time
}

var _ measurement.ReportSource = (*ledgerReports)(nil)

// Campaigns implements measurement.ReportSource.
func (r *ledgerReports) Campaigns() []string {
	names := make([]string, len(r.cfg.Campaigns))
	for i := range r.cfg.Campaigns {
		names[i] = r.cfg.Campaigns[i].Name
	}
	return names
}

// Report implements measurement.ReportSource: the campaign's decisions
// before to (those before from tell who was first exposed before the
// period) and their rewards, closed at any time after from.
func (r *ledgerReports) Report(ctx context.Context, campaign string, from, to time.Time) (*measurement.CampaignReport, error) {
	c, ok := r.cfg.Campaign(campaign)
	if !ok {
		return nil, fmt.Errorf("no campaign %q in %s", campaign, r.cfg.Source)
	}
	ds, err := r.ledger.Decisions(ctx, ledger.Query{Campaign: campaign, To: to})
	if err != nil {
		return nil, fmt.Errorf("read the decisions of %s: %w", campaign, err)
	}
	// A reward window closes after its decision, possibly after to.
	rs, err := r.ledger.Rewards(ctx, ledger.Query{Campaign: campaign, From: from})
	if err != nil {
		return nil, fmt.Errorf("read the rewards of %s: %w", campaign, err)
	}
	now := time.Now
	if r.now != nil {
		now = r.now
	}
	return measurement.BuildCampaign(measurement.CampaignInput{
		Campaign: c, ControlGroup: r.cfg.Global.ControlGroup, Decisions: ds, Rewards: rs,
		From: from, To: to, Covariate: r.covariate, Level: r.level, Now: now().UTC(),
	})
}
