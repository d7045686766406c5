package memstate

import (
	"context"
	"sync"
	"time"

	"kairos/decisioning"
)

// triggerState is memstate's decisioning.TriggerState: journeys, flags
// and journals per customer.
type triggerState struct {
	mu       sync.Mutex
	journeys map[[2]string]*journey // customer, campaign
	flags    map[[2]string]bool     // customer, name
	journals map[string][]decisioning.JournalEntry
}

type journey struct {
	event    string    // the event of the last entry
	entered  time.Time // the last entry; zero: never
	until    time.Time // the journey in progress ends
	followed time.Time // the last follow-up event
}

var _ decisioning.TriggerState = (*State)(nil)

func (t *triggerState) init() {
	if t.journeys == nil {
		t.journeys = map[[2]string]*journey{}
		t.flags = map[[2]string]bool{}
		t.journals = map[string][]decisioning.JournalEntry{}
	}
}

// Enter implements decisioning.TriggerState.
func (s *State) Enter(ctx context.Context, customerID, campaign, eventID string, at, until time.Time, rule decisioning.EntryRule) (decisioning.Entry, error) {
	t := &s.ts
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	k := [2]string{customerID, campaign}
	j := t.journeys[k]
	if j == nil {
		j = &journey{}
	}
	if j.event == eventID && eventID != "" {
		return decisioning.Entry{Entered: true}, nil // the same entry again
	}
	if reason := decisioning.EntryRefusal(j.entered, j.until, j.followed, at, until, rule); reason != "" {
		return decisioning.Entry{Reason: reason}, nil
	}
	j.event, j.entered, j.until = eventID, at, until
	t.journeys[k] = j
	return decisioning.Entry{Entered: true}, nil
}

// Follow implements decisioning.TriggerState.
func (s *State) Follow(ctx context.Context, customerID, campaign string, at time.Time) error {
	t := &s.ts
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	k := [2]string{customerID, campaign}
	j := t.journeys[k]
	if j == nil {
		j = &journey{}
		t.journeys[k] = j
	}
	if at.After(j.followed) {
		j.followed = at
	}
	if !at.Before(j.entered) && at.Before(j.until) {
		j.until = time.Time{} // the follow-up ends the journey in progress
	}
	return nil
}

// Followed implements decisioning.TriggerState.
func (s *State) Followed(ctx context.Context, customerID, campaign string, since, until time.Time) (bool, error) {
	t := &s.ts
	t.mu.Lock()
	defer t.mu.Unlock()
	j := t.journeys[[2]string{customerID, campaign}]
	return j != nil && !j.followed.IsZero() && !j.followed.Before(since) && j.followed.Before(until), nil
}

// SetFlag implements decisioning.TriggerState.
func (s *State) SetFlag(ctx context.Context, customerID, name string, value bool) (bool, error) {
	t := &s.ts
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	k := [2]string{customerID, name}
	was := t.flags[k]
	if value {
		t.flags[k] = true
	} else {
		delete(t.flags, k)
	}
	return was, nil
}

// AppendJournal implements decisioning.TriggerState.
func (s *State) AppendJournal(ctx context.Context, customerID string, es []decisioning.JournalEntry) error {
	t := &s.ts
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	j := append(t.journals[customerID], es...)
	if n := len(j) - decisioning.MaxJournal; n > 0 {
		j = append(j[:0:0], j[n:]...)
	}
	t.journals[customerID] = j
	return nil
}

// Journal implements decisioning.TriggerState.
func (s *State) Journal(ctx context.Context, customerID string) ([]decisioning.JournalEntry, error) {
	t := &s.ts
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]decisioning.JournalEntry(nil), t.journals[customerID]...), nil
}
