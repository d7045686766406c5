package sim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Truth is the ground truth of a run: for every campaign, arm and segment,
// the sample average treatment effect over all of the campaign's decision
// points (whatever arm each was assigned), computed from the potential
// outcomes of every decision point; and the parameters of the model.
//
// Its JSON form, as WriteTruth writes it:
//
//	seed, customers, days, start, end   the run (start and end in RFC 3339)
//	segments                            ["low", "mid", "high"]
//	campaigns[]                         one per built-in campaign:
//	  campaign, trigger                 its name and when its decision points happen
//	  conversion, value, window_hours   the reward: the first conversion event (any of
//	                                    conversion) within window_hours of the decision
//	                                    point; its value property (revenue), if any
//	  decisions                         the number of its decision points
//	  arms[]                            one per arm, "none" last:
//	    channel, offer
//	    all                             a Cell over all decision points of the campaign
//	    segments.{low,mid,high}         a Cell over those of the segment
//	params                              the model parameters (Params), among them the
//	                                    channel costs, offer cost shares and the true lifts
//
// and a Cell is
//
//	decisions     decision points in the cell
//	assigned      of which the policy chose this arm
//	delivered     share of them at which this arm's message would reach the customer
//	converted     {baseline, arm, effect}: the share converted within the window
//	              without a message (arm none), with this arm, and the difference
//	revenue       {baseline, arm, effect}: mean revenue per decision point
//	unsubscribed  {baseline, arm, effect}: the share that unsubscribed in response to
//	              the message within the window (baseline 0)
//	cost          mean cost per decision point of this arm (message + offer)
//	net           {baseline, arm, effect}: mean revenue minus cost
//
// The effects are exact for this sample: every decision point's outcome
// under every arm is known (Decision.Potential), so a report's estimate
// for an arm should fall within its confidence interval of effect.
type Truth struct {
	Seed      uint64          `json:"seed"`
	Customers int             `json:"customers"`
	Days      int             `json:"days"`
	Start     time.Time       `json:"start"`
	End       time.Time       `json:"end"`
	Segments  []string        `json:"segments"`
	Campaigns []CampaignTruth `json:"campaigns"`
	Params    *Params         `json:"params"`
}

// CampaignTruth is the truth of one campaign.
type CampaignTruth struct {
	Campaign    string     `json:"campaign"`
	Trigger     string     `json:"trigger"`
	Conversion  []string   `json:"conversion"`
	Value       string     `json:"value,omitempty"`
	WindowHours int        `json:"window_hours"`
	Decisions   int        `json:"decisions"`
	Arms        []ArmTruth `json:"arms"`
}

// ArmTruth is the truth of one arm, over all segments and per segment.
type ArmTruth struct {
	Channel  string          `json:"channel"`
	Offer    string          `json:"offer"`
	All      Cell            `json:"all"`
	Segments map[string]Cell `json:"segments"`
}

// Cell holds the mean outcomes of an arm and of none over a set of decision
// points.
type Cell struct {
	Decisions    int     `json:"decisions"`
	Assigned     int     `json:"assigned"`
	Delivered    float64 `json:"delivered"`
	Converted    Effect  `json:"converted"`
	Revenue      Effect  `json:"revenue"`
	Unsubscribed Effect  `json:"unsubscribed"`
	Cost         float64 `json:"cost"`
	Net          Effect  `json:"net"`
}

// Effect compares the mean of an outcome under an arm with its mean
// without a message: Effect = Arm - Baseline.
type Effect struct {
	Baseline float64 `json:"baseline"`
	Arm      float64 `json:"arm"`
	Effect   float64 `json:"effect"`
}

// cellSum accumulates a Cell.
type cellSum struct {
	n, assigned                 int
	delivered, conv, unsub      float64
	convNone, unsubNone         float64
	rev, revNone, cost, netNone float64
}

func (s *cellSum) add(d *Decision, arm, none int) {
	o, b := &d.Potential[arm], &d.Potential[none]
	s.n++
	s.delivered += b2f(o.Delivered)
	s.conv += b2f(o.Converted)
	s.convNone += b2f(b.Converted)
	s.unsub += b2f(o.Unsubscribed)
	s.unsubNone += b2f(b.Unsubscribed)
	s.rev += o.Revenue
	s.revNone += b.Revenue
	s.cost += o.Cost
	s.netNone += b.Revenue - b.Cost
}

func (s *cellSum) cell() Cell {
	if s.n == 0 {
		return Cell{}
	}
	n := float64(s.n)
	eff := func(base, arm float64) Effect {
		return Effect{Baseline: base / n, Arm: arm / n, Effect: (arm - base) / n}
	}
	return Cell{
		Decisions:    s.n,
		Assigned:     s.assigned,
		Delivered:    s.delivered / n,
		Converted:    eff(s.convNone, s.conv),
		Revenue:      eff(s.revNone, s.rev),
		Unsubscribed: eff(s.unsubNone, s.unsub),
		Cost:         s.cost / n,
		Net:          eff(s.netNone, s.rev-s.cost),
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// truth aggregates the decisions' potential outcomes.
func (w *World) truth(decs []Decision) Truth {
	t := Truth{
		Seed: w.cfg.Seed, Customers: len(w.custs), Days: int((w.end - w.start) / dayMs),
		Start: w.Start(), End: w.End(), Segments: Segments, Params: w.p,
	}
	for ci := range w.camps {
		camp := &w.camps[ci]
		ct := CampaignTruth{Campaign: camp.p.Name, Trigger: camp.p.Trigger, Conversion: camp.p.Conversion,
			Value: camp.p.Value, WindowHours: camp.p.WindowHours}
		all := make([]cellSum, len(camp.arms))
		bySeg := make([][nSegments]cellSum, len(camp.arms))
		for di := range decs {
			d := &decs[di]
			if d.Campaign != camp.p.Name {
				continue
			}
			ct.Decisions++
			seg := segmentIndex(d.Segment)
			for a := range camp.arms {
				all[a].add(d, a, camp.none)
				bySeg[a][seg].add(d, a, camp.none)
				if d.Arm.Channel == camp.arms[a].Channel && d.Arm.Offer == camp.arms[a].Offer {
					all[a].assigned++
					bySeg[a][seg].assigned++
				}
			}
		}
		for a, arm := range camp.arms {
			at := ArmTruth{Channel: arm.Channel, Offer: arm.Offer, All: all[a].cell(), Segments: make(map[string]Cell, nSegments)}
			for s := range nSegments {
				at.Segments[Segments[s]] = bySeg[a][s].cell()
			}
			ct.Arms = append(ct.Arms, at)
		}
		t.Campaigns = append(t.Campaigns, ct)
	}
	return t
}

func segmentIndex(name string) int {
	for i, s := range Segments {
		if s == name {
			return i
		}
	}
	return segMid
}

// WriteTruth writes r.Truth to path as indented JSON (see Truth for the
// fields), replacing the file atomically.
func (r *Result) WriteTruth(path string) error {
	b, err := json.MarshalIndent(r.Truth, "", "  ")
	if err != nil {
		return fmt.Errorf("sim: encode truth: %w", err)
	}
	return writeFileAtomic(path, append(b, '\n'))
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it into place.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("sim: write %s: %w", path, err)
	}
	werr := f.Chmod(0o644)
	if werr == nil {
		_, werr = f.Write(data)
	}
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
		return fmt.Errorf("sim: write %s: %w", path, werr)
	}
	return nil
}
