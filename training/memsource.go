package training

import (
	"context"
	"slices"
	"time"

	"kairos/features"
)

// MemorySource is an event archive held in memory: events grouped by UTC
// day, each day sorted as archive.Reader returns it. It also has the
// methods of a simulator sink (internal/sim.Sink), so a simulated world can
// be exported without files — what tests and demos do.
type MemorySource struct {
	days  []time.Time
	byDay map[time.Time][]features.Event
	dirty bool
}

// NewMemorySource returns a source holding evs.
func NewMemorySource(evs []features.Event) *MemorySource {
	s := &MemorySource{byDay: map[time.Time][]features.Event{}}
	s.Add(evs)
	return s
}

// Add adds events (copies of them).
func (s *MemorySource) Add(evs []features.Event) {
	for _, e := range evs {
		d := e.Time.UTC().Truncate(24 * time.Hour)
		if _, ok := s.byDay[d]; !ok {
			s.days = append(s.days, d)
		}
		s.byDay[d] = append(s.byDay[d], e)
	}
	s.dirty = s.dirty || len(evs) > 0
}

// Events adds a simulated day's events.
func (s *MemorySource) Events(_ context.Context, evs []features.Event) error {
	s.Add(evs)
	return nil
}

// Customers ignores customer records: an archive holds events only.
func (s *MemorySource) Customers(context.Context, []features.Customer) error { return nil }

// Days implements Source.
func (s *MemorySource) Days() []time.Time {
	if s.dirty {
		slices.SortFunc(s.days, time.Time.Compare)
		for _, evs := range s.byDay {
			slices.SortStableFunc(evs, features.CompareEvents)
		}
		s.dirty = false
	}
	return s.days
}

// ReadDay implements Source.
func (s *MemorySource) ReadDay(day time.Time) ([]features.Event, error) {
	s.Days()
	return slices.Clone(s.byDay[day]), nil
}
