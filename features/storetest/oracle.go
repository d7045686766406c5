package storetest

import (
	"math"
	"time"

	"kairos/features"
)

// oracle computes feature values by brute force from the raw events, written
// from the documented rules (package features) and independently of the
// tile code: it keeps every accepted event and scans them all on each read.
type oracle struct {
	set *features.Set
	// seen[customer][event id] = arrival week of the accepted event.
	seen   map[string]map[string]int64
	events map[string][]arrived
}

type arrived struct {
	e   features.Event
	at  time.Time
	seq int
}

func newOracle(set *features.Set) *oracle {
	return &oracle{set: set, seen: map[string]map[string]int64{}, events: map[string][]arrived{}}
}

// track returns the status the contract gives each event of a batch.
func (o *oracle) track(events []features.Event, now time.Time, seq *int) []features.Status {
	out := make([]features.Status, len(events))
	// Weeks since the Unix epoch (a Thursday); an id is remembered for
	// the rest of its arrival week and the next.
	week := now.Unix() / (7 * 86400)
	for i, e := range events {
		ids := o.seen[e.CustomerID]
		if ids == nil {
			ids = map[string]int64{}
			o.seen[e.CustomerID] = ids
		}
		if w, ok := ids[e.ID]; ok && w >= week-1 {
			out[i] = features.Duplicate
			continue
		}
		ids[e.ID] = week
		out[i] = features.Accepted
		*seq++
		// Late events (before every window) reach the log but no feature.
		if !e.Time.Before(o.earliest(now)) {
			o.events[e.CustomerID] = append(o.events[e.CustomerID], arrived{e, now, *seq})
		}
	}
	return out
}

// earliest is the start of the longest window at now.
func (o *oracle) earliest(now time.Time) time.Time {
	earliest := now.Add(-90 * 24 * time.Hour)
	if o.set.Longest() > 0 {
		earliest = from(now, o.set.Longest())
	}
	return earliest
}

// tileSize is the documented tile rule.
func tileSize(w time.Duration) time.Duration {
	switch {
	case w < time.Hour:
		return time.Minute
	case w < 12*time.Hour:
		return 5 * time.Minute
	case w < 12*24*time.Hour:
		return time.Hour
	}
	return 24 * time.Hour
}

// from is the earliest event time a window includes at now: the start of
// the tile (of the window's tile size, aligned to the Unix epoch) holding
// now-w.
func from(now time.Time, w time.Duration) time.Time {
	if w == 0 {
		return time.Time{}
	}
	t := now.Add(-w)
	return t.Truncate(tileSize(w))
}

func (o *oracle) vector(customer string, now time.Time) []float64 {
	defs := o.set.Definitions()
	vals := make([]float64, len(defs))
	index := map[string]int{}
	for i, d := range defs {
		index[d.Name] = i
	}
	for i, d := range defs {
		if d.Ratio[0] != "" {
			continue
		}
		start := from(now, d.Window)
		var n, sum float64
		minV, maxV := math.Inf(1), math.Inf(-1)
		distinct := map[string]bool{}
		var first, last time.Time
		var lastVal float64
		var lastEv arrived
		haveLast := false
		for _, a := range o.events[customer] {
			e := a.e
			if d.Event != features.AnyEvent && e.Type != d.Event {
				continue
			}
			match := true
			for k, v := range d.Where {
				p, ok := e.Properties[k]
				if !ok || p.String() != v {
					match = false
				}
			}
			if !match {
				continue
			}
			// since_last and last look at the newest event overall and
			// then check the window.
			if d.Agg == features.SinceLast {
				if last.IsZero() || e.Time.After(last) {
					last = e.Time
				}
				continue
			}
			if d.Agg == features.Last {
				f, ok := e.Properties[d.Field].Float()
				if !ok {
					continue
				}
				if !haveLast || !e.Time.Before(lastEv.e.Time) {
					// later event time wins; on a tie the later arrival
					lastEv, lastVal, haveLast = a, f, true
				}
				continue
			}
			if e.Time.Before(start) {
				continue
			}
			n++
			if f, ok := e.Properties[d.Field].Float(); ok {
				sum += f
				minV = math.Min(minV, f)
				maxV = math.Max(maxV, f)
			}
			if p, ok := e.Properties[d.Field]; ok {
				distinct[p.String()] = true
			}
			if first.IsZero() || e.Time.Before(first) {
				first = e.Time
			}
		}
		nan := math.NaN()
		secs := func(t time.Time) float64 {
			return math.Max(0, float64(now.UnixMilli()-t.UnixMilli())/1000)
		}
		switch d.Agg {
		case features.Count:
			vals[i] = n
		case features.Sum:
			vals[i] = sum
		case features.Min:
			vals[i] = minV
			if math.IsInf(minV, 1) {
				vals[i] = nan
			}
		case features.Max:
			vals[i] = maxV
			if math.IsInf(maxV, -1) {
				vals[i] = nan
			}
		case features.Distinct:
			vals[i] = float64(len(distinct))
		case features.SinceFirst:
			vals[i] = nan
			if !first.IsZero() {
				vals[i] = secs(first)
			}
		case features.SinceLast:
			vals[i] = nan
			if !last.IsZero() && !last.Before(start) {
				vals[i] = secs(last)
			}
		case features.Last:
			vals[i] = nan
			if haveLast && !lastEv.e.Time.Before(start) {
				vals[i] = lastVal
			}
		}
	}
	for i, d := range defs {
		if d.Ratio[0] == "" {
			continue
		}
		a, b := vals[index[d.Ratio[0]]], vals[index[d.Ratio[1]]]
		if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
			vals[i] = math.NaN()
		} else {
			vals[i] = a / b
		}
	}
	return vals
}
