package training

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"kairos/features"
)

// Source is the event archive as an export reads it: one UTC day at a time,
// each day's events de-duplicated and sorted by time (archive.Reader).
type Source interface {
	// Days returns the UTC midnights of the days that have events, sorted.
	Days() []time.Time
	// ReadDay returns the events of one day.
	ReadDay(day time.Time) ([]features.Event, error)
}

// Format is the file format of a training set.
type Format string

// The training set formats.
const (
	Parquet Format = "parquet"
	Arrow   Format = "arrow" // Arrow IPC file
)

// Options configures an Export.
type Options struct {
	// Set computes the features: the same definitions as the online store.
	Set *features.Set
	// Snapshots are taken at From, From+Every, … up to and including To.
	From, To time.Time
	Every    time.Duration
	// Labels to compute (see ParseLabels); may be empty.
	Labels []Label
	// Activity is the event types that count as activity for churn labels;
	// empty: DefaultActivity.
	Activity []string
	// ActiveWithin limits the rows of a snapshot t to customers with an
	// event in [t-ActiveWithin, t]; zero: every customer seen at or before t.
	ActiveWithin time.Duration
	// DataEnd is when the archive's data ends: a label whose window runs
	// past it is censored (null). Zero: the end of the archive's last day.
	DataEnd time.Time
	// Format of the output; empty: Parquet.
	Format Format
	// Progress, when set, is called after each day read, with the number
	// of events of that day. An export reads every day twice (labels, then
	// features), so it is called 2×len(Days()) times.
	Progress func(events int)
}

// Stats summarises an export.
type Stats struct {
	// Events is the number of events replayed (after de-duplication).
	Events int64 `json:"events"`
	// Rows written, one per (customer, snapshot).
	Rows      int64 `json:"rows"`
	Customers int   `json:"customers"`
	Snapshots int   `json:"snapshots"`
	Days      int   `json:"days"`
}

// customerState is one customer during the replay: its tiles and when it
// was first and last seen (unix ms).
type customerState struct {
	tiles       features.Tiles
	first, last int64
}

// Export replays the archive through the feature code of the online store
// and writes one row per (customer, snapshot time) to w: customer_id,
// snapshot_at, every feature of opts.Set in definition order (NaN when
// missing) and the labels.
//
// The feature values of a row at t are what GetProfile would have returned
// at t had the same events been tracked as they happened: every event with
// a time at or before t counts, none after. Labels look only at events
// strictly after t (see LabelKind).
//
// Events count as arriving at their event time: an event that reached the
// online store late (after a snapshot it precedes) is in that snapshot
// offline but was not online, and one the store dropped as late counts
// here. (The archive keeps arrived_at; replaying by arrival is future work.)
//
// Memory grows with the number of customers (their tiles) and with the
// label facts (8 bytes per activity event and per purchase), not with the
// events themselves: it reads the archive twice, first for the labels'
// facts, then for the features, a day at a time (and the next day ahead).
func Export(ctx context.Context, src Source, w io.Writer, opts Options) (Stats, error) {
	snaps, err := opts.snapshots()
	if err != nil {
		return Stats{}, err
	}
	days := src.Days()
	st := Stats{Snapshots: len(snaps), Days: len(days)}
	if len(days) == 0 {
		return st, errors.New("export: the archive has no events")
	}
	dataEnd := opts.DataEnd
	if dataEnd.IsZero() {
		// The end of the last day; lowered to its last event below when
		// the labels read that day (it may be today's, still arriving).
		dataEnd = days[len(days)-1].Add(24 * time.Hour)
	}
	if snaps[len(snaps)-1].After(dataEnd) {
		return st, fmt.Errorf("export: the last snapshot (%s) is after the end of the data (%s): rows there would show made-up inactivity; pick an earlier --to",
			snaps[len(snaps)-1].Format(time.RFC3339), dataEnd.Format(time.RFC3339))
	}
	activity := opts.Activity
	if len(activity) == 0 {
		activity = DefaultActivity
	}

	// Pass 1: the facts the labels need.
	ix := newLabelIndex(activity)
	lastLabelDay := snaps[len(snaps)-1].Add(maxHorizon(opts.Labels))
	if len(opts.Labels) > 0 {
		var last time.Time
		read := daysUntil(days, lastLabelDay)
		for evs, err := range readDays(ctx, src, read) {
			if err != nil {
				return st, err
			}
			for i := range evs {
				ix.add(&evs[i])
			}
			if len(evs) > 0 {
				last = evs[len(evs)-1].Time
			}
			opts.progress(len(evs))
		}
		if opts.DataEnd.IsZero() && len(read) == len(days) && !last.IsZero() {
			dataEnd = last
		}
	}

	out, err := newDatasetWriter(w, opts.format(), opts.Set, opts.Labels, opts.metadata())
	if err != nil {
		return st, err
	}
	// Pass 2: replay the features, taking each snapshot once every event at
	// or before it has been applied.
	r := replay{set: opts.Set, customers: map[string]*customerState{}, ix: ix, out: out,
		labels: opts.Labels, activeWithin: opts.ActiveWithin.Milliseconds(), dataEnd: dataEnd.UnixMilli(),
		workers: runtime.GOMAXPROCS(0)}
	next := 0
	var ops []features.Op
	lastSnap := snaps[len(snaps)-1]
	for evs, err := range readDays(ctx, src, daysUntil(days, lastSnap)) {
		if err != nil {
			return st, err
		}
		for i := range evs {
			e := &evs[i]
			for next < len(snaps) && snaps[next].Before(e.Time) {
				if err := r.snapshot(snaps[next]); err != nil {
					return st, err
				}
				next++
			}
			if e.Time.After(lastSnap) {
				break
			}
			ops = r.apply(ops, e)
			st.Events++
		}
		opts.progress(len(evs))
	}
	for ; next < len(snaps); next++ {
		if err := r.snapshot(snaps[next]); err != nil {
			return st, err
		}
	}
	if err := out.close(); err != nil {
		return st, err
	}
	st.Rows, st.Customers = r.rows, len(r.customers)
	return st, nil
}

// replay is the state of pass 2.
type replay struct {
	set          *features.Set
	customers    map[string]*customerState
	ids          []string // sorted when !dirty
	dirty        bool
	ix           *labelIndex
	out          *datasetWriter
	labels       []Label
	activeWithin int64
	dataEnd      int64
	rows         int64
	workers      int
	due          []string    // the customers of the snapshot being taken
	vecs         [][]float64 // and their feature values
}

// apply applies one event as the online store does when the event arrives
// as it happens (now = its time).
func (r *replay) apply(ops []features.Op, e *features.Event) []features.Op {
	c := r.customers[e.CustomerID]
	ms := e.Time.UnixMilli()
	if c == nil {
		c = &customerState{tiles: features.Tiles{}, first: ms}
		id := strings.Clone(e.CustomerID)
		r.customers[id] = c
		r.ids = append(r.ids, id)
		r.dirty = true
	}
	c.last = max(c.last, ms)
	ops = r.set.Plan(ops[:0], e, e.Time)
	for _, op := range ops {
		c.tiles.Apply(op)
	}
	return ops
}

// snapshot writes the rows of snapshot time t. The feature vectors are
// computed by all cores, each on its own customers, and written in order.
func (r *replay) snapshot(t time.Time) error {
	if r.dirty {
		slices.Sort(r.ids)
		r.dirty = false
	}
	ms := t.UnixMilli()
	r.due = r.due[:0]
	for _, id := range r.ids {
		c := r.customers[id]
		if c.first > ms || (r.activeWithin > 0 && c.last < ms-r.activeWithin) {
			continue
		}
		r.due = append(r.due, id)
	}
	r.vecs = slices.Grow(r.vecs[:0], len(r.due))[:len(r.due)]
	keys := r.set.ReadKeys(t)
	workers := max(1, min(r.workers, len(r.due)/256))
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := len(r.due)*w/workers, len(r.due)*(w+1)/workers
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				c := r.customers[r.due[i]]
				c.tiles.Prune(r.set, t)
				vec, _ := r.set.Compute(t, keys, c.tiles.Hashes(r.set, keys, t))
				r.vecs[i] = vec.Values
			}
		})
	}
	wg.Wait()
	for i, id := range r.due {
		r.out.row(id, t, r.vecs[i])
		for li, l := range r.labels {
			num, cat, known := r.ix.value(l, id, ms, r.dataEnd)
			r.out.label(li, l.Kind, num, cat, known)
		}
		if err := r.out.endRow(); err != nil {
			return err
		}
		r.rows++
	}
	return nil
}

// daysUntil returns the days up to and including the one holding t.
func daysUntil(days []time.Time, t time.Time) []time.Time {
	n := 0
	for n < len(days) && !days[n].After(t) {
		n++
	}
	return days[:n]
}

// readDays reads days in order, reading the next day while the caller
// works on the current one. It stops at the first error, which it yields.
func readDays(ctx context.Context, src Source, days []time.Time) iter.Seq2[[]features.Event, error] {
	return func(yield func([]features.Event, error) bool) {
		type result struct {
			evs []features.Event
			err error
		}
		ch := make(chan result, 1)
		done := make(chan struct{})
		defer close(done)
		go func() {
			defer close(ch)
			for _, d := range days {
				evs, err := src.ReadDay(d)
				if err == nil {
					err = ctx.Err()
				}
				select {
				case ch <- result{evs, err}:
				case <-done:
					return
				}
				if err != nil {
					return
				}
			}
		}()
		for r := range ch {
			if !yield(r.evs, r.err) || r.err != nil {
				return
			}
		}
	}
}

func maxHorizon(labels []Label) time.Duration {
	var h time.Duration
	for _, l := range labels {
		h = max(h, l.Horizon)
	}
	return h
}

func (o *Options) progress(n int) {
	if o.Progress != nil {
		o.Progress(n)
	}
}

func (o *Options) format() Format {
	if o.Format == "" {
		return Parquet
	}
	return o.Format
}

// snapshots validates the options and returns the snapshot times.
func (o *Options) snapshots() ([]time.Time, error) {
	switch {
	case o.Set == nil:
		return nil, errors.New("export: no feature set")
	case o.Every <= 0:
		return nil, fmt.Errorf("export: snapshots: the period must be positive, got %s", o.Every)
	case o.From.IsZero() || o.To.IsZero():
		return nil, errors.New("export: from and to are required")
	case o.To.Before(o.From):
		return nil, fmt.Errorf("export: to (%s) is before from (%s)", o.To.Format(time.RFC3339), o.From.Format(time.RFC3339))
	case o.ActiveWithin < 0:
		return nil, fmt.Errorf("export: active-within must not be negative, got %s", o.ActiveWithin)
	}
	switch o.format() {
	case Parquet, Arrow:
	default:
		return nil, fmt.Errorf("export: format %q: want parquet or arrow", o.Format)
	}
	n := int64(o.To.Sub(o.From)/o.Every) + 1
	const maxSnapshots = 100_000
	if n > maxSnapshots {
		return nil, fmt.Errorf("export: %d snapshots from %s to %s every %s; at most %d: take a longer period or a shorter range", n, o.From.Format(time.RFC3339), o.To.Format(time.RFC3339), o.Every, maxSnapshots)
	}
	snaps := make([]time.Time, 0, n)
	for t := o.From.UTC(); !t.After(o.To); t = t.Add(o.Every) {
		snaps = append(snaps, t)
	}
	return snaps, nil
}

// ParseSnapshots parses a snapshot period: daily, hourly, weekly or a Go
// duration such as 6h.
func ParseSnapshots(s string) (time.Duration, error) {
	switch s {
	case "daily":
		return 24 * time.Hour, nil
	case "hourly":
		return time.Hour, nil
	case "weekly":
		return 7 * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Minute {
		return 0, fmt.Errorf("snapshots: %q: want daily, hourly, weekly or a duration of at least 1m such as 6h", s)
	}
	return d, nil
}
