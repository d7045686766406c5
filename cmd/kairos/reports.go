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
	// The live segments of the index: their names and conditions, in
	// the configuration's order, and the store's sizes and histories.
	// Without segSize there are none; without segHistory no history.
	segNames, segWhens []string
	segSize            func(ctx context.Context, name string) (int64, error)
	segHistory         func(ctx context.Context, name string) ([]decisioning.SegmentDay, error)
}

var (
	_ measurement.ReportSource  = (*ledgerReports)(nil)
	_ measurement.SegmentSource = (*ledgerReports)(nil)
)

// Segments implements measurement.SegmentSource: each configured
// segment's size and history (none without segSize).
func (r *ledgerReports) Segments(ctx context.Context) ([]measurement.SegmentSeries, error) {
	if r.segSize == nil {
		return nil, nil
	}
	history := func(string) ([]decisioning.SegmentDay, error) { return nil, nil }
	if r.segHistory != nil {
		history = func(name string) ([]decisioning.SegmentDay, error) { return r.segHistory(ctx, name) }
	}
	return segmentSeries(r.segNames, r.segWhens, func(name string) (int64, error) { return r.segSize(ctx, name) }, history)
}

// segmentSeries builds the index's segment series from sizes and histories.
// names and whens are the segments and their conditions, pairwise; the
// first error, of size or of history, ends it.
func segmentSeries(names, whens []string, size func(string) (int64, error), history func(string) ([]decisioning.SegmentDay, error)) ([]measurement.SegmentSeries, error) {
	if len(names) != len(whens) {
		return nil, fmt.Errorf("segments: %d names but %d conditions", len(names), len(whens))
	}
	out := make([]measurement.SegmentSeries, 0, len(names))
	for i, name := range names {
		n, err := size(name)
		if err != nil {
			return nil, fmt.Errorf("segment %s: size: %w", name, err)
		}
		h, err := history(name)
		if err != nil {
			return nil, fmt.Errorf("segment %s: history: %w", name, err)
		}
		out = append(out, measurement.SegmentSeries{Name: name, When: whens[i], Size: n, History: h})
	}
	return out, nil
}

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
