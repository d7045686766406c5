// Package inapp is the in-app channel: a per-customer inbox of messages
// that apps read with GetInbox and acknowledge with AckInbox. It owns the
// message model, the Store interface, the embedded store (Memory) and the
// Transport that delivers a channels.Message into a Store. The Redis store
// is inapp/redisinbox; both pass the contract suite in inapp/inapptest.
//
// An inbox keeps at most Options.MaxSize messages (the oldest go first)
// and each message expires Options.TTL after it was put.
package inapp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"kairos/channels"
)

// Defaults of Options.
const (
	DefaultTTL     = 7 * 24 * time.Hour
	DefaultMaxSize = 50
	// MaxList bounds a List.
	MaxList = 100
)

// Message is one in-app message.
type Message struct {
	// ID is the decision id; putting the same id again changes nothing.
	ID         string
	CustomerID string
	Campaign   string
	Offer      string
	Title      string
	Body       string
	Data       map[string]string
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// Store keeps the inboxes.
type Store interface {
	// Put adds m to its customer's inbox unless a message with its id is
	// there; beyond the store's maximum size the oldest messages go.
	Put(ctx context.Context, m Message) error
	// List returns up to limit (1..MaxList) unexpired messages, newest
	// first.
	List(ctx context.Context, customerID string, limit int, now time.Time) ([]Message, error)
	// Ack removes the messages with the given ids and returns how many
	// were there.
	Ack(ctx context.Context, customerID string, ids []string) (int, error)
}

// Options configure a store.
type Options struct {
	TTL     time.Duration
	MaxSize int
}

// WithDefaults fills zero fields with the defaults.
func (o Options) WithDefaults() Options {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	return o
}

// ErrInvalid is wrapped by the errors of a Put or List whose arguments
// break the contract (empty ids, a limit out of range).
var ErrInvalid = errors.New("inapp: invalid argument")

// Validate checks a message before it is stored.
func (m *Message) Validate() error {
	switch {
	case m.ID == "":
		return fmt.Errorf("%w: message id is empty", ErrInvalid)
	case m.CustomerID == "":
		return fmt.Errorf("%w: customer id is empty", ErrInvalid)
	case m.CreatedAt.IsZero() || !m.ExpiresAt.After(m.CreatedAt):
		return fmt.Errorf("%w: message %s: expires_at must be after created_at", ErrInvalid, m.ID)
	}
	return nil
}

// CheckLimit validates a List limit.
func CheckLimit(limit int) error {
	if limit < 1 || limit > MaxList {
		return fmt.Errorf("%w: limit must be 1 to %d, got %d", ErrInvalid, MaxList, limit)
	}
	return nil
}

// Memory is the embedded Store: inboxes in process memory.
type Memory struct {
	opts Options
	mu   sync.Mutex
	box  map[string][]Message // per customer, oldest first
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty embedded store.
func NewMemory(opts Options) *Memory {
	return &Memory{opts: opts.WithDefaults(), box: map[string][]Message{}}
}

// Put implements Store.
func (s *Memory) Put(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := s.box[m.CustomerID]
	if slices.ContainsFunc(ms, func(x Message) bool { return x.ID == m.ID }) {
		return nil
	}
	m.Data = maps.Clone(m.Data)
	ms = append(ms, m)
	slices.SortStableFunc(ms, func(a, b Message) int { return a.CreatedAt.Compare(b.CreatedAt) })
	if over := len(ms) - s.opts.MaxSize; over > 0 {
		ms = ms[over:]
	}
	s.box[m.CustomerID] = ms
	return ctx.Err()
}

// List implements Store.
func (s *Memory) List(ctx context.Context, customerID string, limit int, now time.Time) ([]Message, error) {
	if err := CheckLimit(limit); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := slices.DeleteFunc(s.box[customerID], func(m Message) bool { return !m.ExpiresAt.After(now) })
	s.box[customerID] = ms
	out := make([]Message, 0, min(limit, len(ms)))
	for i := len(ms) - 1; i >= 0 && len(out) < limit; i-- {
		m := ms[i]
		m.Data = maps.Clone(m.Data)
		out = append(out, m)
	}
	return out, ctx.Err()
}

// Ack implements Store.
func (s *Memory) Ack(ctx context.Context, customerID string, ids []string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before := len(s.box[customerID])
	s.box[customerID] = slices.DeleteFunc(s.box[customerID], func(m Message) bool { return slices.Contains(ids, m.ID) })
	return before - len(s.box[customerID]), ctx.Err()
}

// Transport delivers channels.Messages into a Store: the in-app channel.
type Transport struct {
	store Store
	ttl   time.Duration
	now   func() time.Time
}

var _ channels.Transport = (*Transport)(nil)

// NewTransport returns a Transport putting messages into store, expiring
// after ttl (DefaultTTL when 0); now nil means time.Now.
func NewTransport(store Store, ttl time.Duration, now func() time.Time) *Transport {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Transport{store: store, ttl: ttl, now: now}
}

// Send implements channels.Transport: the message is in the inbox when it
// returns. A repeated decision id changes nothing (exactly once).
func (t *Transport) Send(ctx context.Context, m *channels.Message) (channels.Receipt, error) {
	now := t.now()
	err := t.store.Put(ctx, Message{
		ID: m.ID, CustomerID: m.CustomerID, Campaign: m.Campaign, Offer: m.Offer,
		Title: cmp.Or(m.Title, m.Subject), Body: m.Text, Data: m.Data,
		CreatedAt: now, ExpiresAt: now.Add(t.ttl),
	})
	if errors.Is(err, ErrInvalid) {
		return channels.Receipt{}, &channels.Error{Kind: channels.Invalid, Code: "invalid", Err: err}
	}
	if err != nil {
		return channels.Receipt{}, err
	}
	return channels.Receipt{ProviderID: m.ID}, nil
}
