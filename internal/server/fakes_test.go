package server

import (
	"context"
	"math"
	"sync"
	"time"

	"kairos/features"
)

// fakeStore is a hand-written features.Store: it deduplicates event ids per
// customer, keeps what it was given, and fails or panics on demand.
type fakeStore struct {
	set *features.Set

	mu        sync.Mutex
	seen      map[string]bool
	tracked   []features.Event
	customers map[string]features.Customer

	// trackErr, profileErr, upsertErr and pingErr are returned by the
	// method of that name when set.
	trackErr, profileErr, upsertErr, pingErr error
	// panicIn names a method that panics.
	panicIn string
	// blockPing makes Ping wait for its context to end.
	blockPing bool
}

var _ features.Store = (*fakeStore)(nil)

func newFakeStore(set *features.Set) *fakeStore {
	return &fakeStore{set: set, seen: map[string]bool{}, customers: map[string]features.Customer{}}
}

func (f *fakeStore) Track(ctx context.Context, events []features.Event, now time.Time) ([]features.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panicIn == "Track" {
		panic("fake store: Track exploded")
	}
	if f.trackErr != nil {
		return nil, f.trackErr
	}
	out := make([]features.Status, len(events))
	for i, e := range events {
		k := e.CustomerID + "\x00" + e.ID
		if f.seen[k] {
			out[i] = features.Duplicate
			continue
		}
		f.seen[k] = true
		f.tracked = append(f.tracked, e)
		out[i] = features.Accepted
	}
	return out, nil
}

func (f *fakeStore) Profile(ctx context.Context, id string, now time.Time) (features.Profile, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panicIn == "Profile" {
		panic("fake store: Profile exploded")
	}
	if f.profileErr != nil {
		return features.Profile{}, f.profileErr
	}
	names := f.set.Names()
	p := features.Profile{CustomerID: id, Vector: features.Vector{Names: names, Values: make([]float64, len(names))}}
	for i := range p.Vector.Values {
		p.Vector.Values[i] = math.NaN()
	}
	if c, ok := f.customers[id]; ok {
		p.Customer = &c
		p.UpdatedAt = now
	}
	for _, e := range f.tracked {
		if e.CustomerID == id {
			p.UpdatedAt = now
		}
	}
	return p, nil
}

func (f *fakeStore) UpsertCustomer(ctx context.Context, c features.Customer, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.upsertErr != nil {
		return f.upsertErr
	}
	f.customers[c.ID] = c
	return nil
}

func (f *fakeStore) Ping(ctx context.Context) error {
	f.mu.Lock()
	block, err := f.blockPing, f.pingErr
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

// configure changes the store's behaviour under its lock.
func (f *fakeStore) configure(fn func(f *fakeStore)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeStore) customerCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.customers)
}

func (f *fakeStore) trackedEvents() []features.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]features.Event(nil), f.tracked...)
}
