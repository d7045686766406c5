package pgledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"kairos/decisioning"
	"kairos/ledger"
)

// Later is a ledger whose database was unreachable when the process
// started: every call answers ledger.ErrUnavailable until Run has
// connected (and migrated), then it is the Store. Decisions go on
// meanwhile and wait in the ledger queue, as in any outage.
type Later struct {
	url    string
	opts   Options
	log    *slog.Logger
	store  atomic.Pointer[Store]
	mu     sync.Mutex // orders Close against Run's connecting
	closed bool
}

var _ ledger.Ledger = (*Later)(nil)

// OpenLater returns a Later for url; call Run to connect.
func OpenLater(url string, opts Options) *Later {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Later{url: url, opts: opts, log: log.With("component", "ledger")}
}

// Run tries to open the store, with backoff up to 30 s, until it succeeds
// or ctx ends. A failure retrying cannot cure (a schema newer than this
// Kairos, a wrong password) is logged at error level at each attempt.
func (l *Later) Run(ctx context.Context) error {
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		s, err := Open(ctx, l.url, l.opts)
		if err == nil {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.closed {
				s.Close()
				return nil
			}
			l.store.Store(s)
			l.log.Info("connected to the ledger database")
			return nil
		}
		if ctx.Err() != nil {
			break
		}
		if errors.Is(err, ledger.ErrUnavailable) {
			l.log.Warn("ledger database unreachable; retrying", "err", err, "in", backoff)
		} else {
			l.log.Error("cannot open the ledger database; retrying", "err", err, "in", backoff)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	return nil
}

// Close closes the store once connected; a connection Run makes after
// Close is closed at once.
func (l *Later) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if s := l.store.Load(); s != nil {
		s.Close()
	}
}

// Connected reports whether Run has connected.
func (l *Later) Connected() bool { return l.store.Load() != nil }

func (l *Later) get() (*Store, error) {
	if s := l.store.Load(); s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("pgledger: not connected yet: %w", ledger.ErrUnavailable)
}

// Ping implements ledger.Ledger.
func (l *Later) Ping(ctx context.Context) error {
	s, err := l.get()
	if err != nil {
		return err
	}
	return s.Ping(ctx)
}

// WriteDecisions implements ledger.Ledger.
func (l *Later) WriteDecisions(ctx context.Context, ds []decisioning.Decision) error {
	s, err := l.get()
	if err != nil {
		return err
	}
	return s.WriteDecisions(ctx, ds)
}

// WriteRewards implements ledger.Ledger.
func (l *Later) WriteRewards(ctx context.Context, rs []decisioning.Reward) error {
	s, err := l.get()
	if err != nil {
		return err
	}
	return s.WriteRewards(ctx, rs)
}

// WriteDispatches implements ledger.Ledger.
func (l *Later) WriteDispatches(ctx context.Context, ds []ledger.Dispatch) error {
	s, err := l.get()
	if err != nil {
		return err
	}
	return s.WriteDispatches(ctx, ds)
}

// Decision implements ledger.Ledger.
func (l *Later) Decision(ctx context.Context, id string) (decisioning.Decision, error) {
	s, err := l.get()
	if err != nil {
		return decisioning.Decision{}, err
	}
	return s.Decision(ctx, id)
}

// Decisions implements ledger.Ledger.
func (l *Later) Decisions(ctx context.Context, q ledger.Query) ([]decisioning.Decision, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.Decisions(ctx, q)
}

// Rewards implements ledger.Ledger.
func (l *Later) Rewards(ctx context.Context, q ledger.Query) ([]decisioning.Reward, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.Rewards(ctx, q)
}

// Dispatches implements ledger.Ledger.
func (l *Later) Dispatches(ctx context.Context, decisionID string) ([]ledger.Dispatch, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.Dispatches(ctx, decisionID)
}
