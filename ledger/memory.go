package ledger

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"kairos/decisioning"
)

// Memory is the embedded ledger: records kept in process memory, behind the
// same contract as pgledger, for `kairos serve` and `kairos demo` without
// PostgreSQL and for tests.
//
// It is not durable: everything is lost when the process ends, and it
// grows with every record. Queries scan every record; it suits demos,
// simulations and tests, not a long history.
type Memory struct {
	mu         sync.RWMutex
	decisions  map[string]decisioning.Decision
	rewards    map[rewardKey]decisioning.Reward
	dispatches map[string][]Dispatch // by decision id, ordered by attempt
}

var _ Ledger = (*Memory)(nil)

// rewardKey identifies a reward: its decision and metric.
type rewardKey struct{ decision, metric string }

// NewMemory returns an empty embedded ledger.
func NewMemory() *Memory {
	return &Memory{
		decisions:  map[string]decisioning.Decision{},
		rewards:    map[rewardKey]decisioning.Reward{},
		dispatches: map[string][]Dispatch{},
	}
}

// WriteDecisions implements Ledger.
func (m *Memory) WriteDecisions(ctx context.Context, ds []decisioning.Decision) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range ds {
		if err := ValidateDecision(&ds[i]); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range ds {
		if _, ok := m.decisions[ds[i].ID]; !ok {
			m.decisions[ds[i].ID] = cloneDecision(&ds[i])
		}
	}
	return nil
}

// WriteRewards implements Ledger.
func (m *Memory) WriteRewards(ctx context.Context, rs []decisioning.Reward) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range rs {
		if err := ValidateReward(&rs[i]); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rs {
		k := rewardKey{r.DecisionID, r.Metric}
		if _, ok := m.rewards[k]; !ok {
			r.EventAt, r.ClosedAt = Time(r.EventAt), Time(r.ClosedAt)
			m.rewards[k] = r
		}
	}
	return nil
}

// WriteDispatches implements Ledger.
func (m *Memory) WriteDispatches(ctx context.Context, ds []Dispatch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range ds {
		if err := ValidateDispatch(&ds[i]); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range ds {
		attempts := m.dispatches[d.DecisionID]
		i, found := slices.BinarySearchFunc(attempts, d.Attempt, func(x Dispatch, a int) int { return cmp.Compare(x.Attempt, a) })
		if found {
			continue
		}
		d.At = Time(d.At)
		m.dispatches[d.DecisionID] = slices.Insert(attempts, i, d)
	}
	return nil
}

// Decision implements Ledger.
func (m *Memory) Decision(ctx context.Context, id string) (decisioning.Decision, error) {
	if err := ctx.Err(); err != nil {
		return decisioning.Decision{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	d, ok := m.decisions[id]
	if !ok {
		return decisioning.Decision{}, fmt.Errorf("ledger: decision %q: %w", id, ErrNotFound)
	}
	return cloneDecision(&d), nil
}

// Decisions implements Ledger.
func (m *Memory) Decisions(ctx context.Context, q Query) ([]decisioning.Decision, error) {
	out, err := query(ctx, m, q, m.decisions, func(d *decisioning.Decision) (string, string, time.Time, string, string) {
		return d.Campaign, d.CustomerID, d.DecidedAt, d.ID, ""
	})
	for i := range out {
		out[i] = cloneDecision(&out[i])
	}
	return out, err
}

// Rewards implements Ledger.
func (m *Memory) Rewards(ctx context.Context, q Query) ([]decisioning.Reward, error) {
	return query(ctx, m, q, m.rewards, func(r *decisioning.Reward) (string, string, time.Time, string, string) {
		return r.Campaign, r.CustomerID, r.ClosedAt, r.DecisionID, r.Metric
	})
}

// query returns the records of all that q selects, ordered by (time, id,
// sub) and limited as q says; fields gives a record's campaign, customer,
// time, id and sub (the metric of a reward, "" for a decision).
func query[K comparable, T any](ctx context.Context, m *Memory, q Query, all map[K]T, fields func(*T) (campaign, customer string, at time.Time, id, sub string)) ([]T, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	in := q.matcher()
	m.mu.RLock()
	var out []T
	for _, r := range all {
		if c, cu, at, _, _ := fields(&r); in(c, cu, at) {
			out = append(out, r)
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b T) int {
		_, _, ta, ia, sa := fields(&a)
		_, _, tb, ib, sb := fields(&b)
		return cmp.Or(ta.Compare(tb), cmp.Compare(ia, ib), cmp.Compare(sa, sb))
	})
	return limit(q, out), nil
}

// Dispatches implements Ledger.
func (m *Memory) Dispatches(ctx context.Context, decisionID string) ([]Dispatch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return slices.Clone(m.dispatches[decisionID]), nil
}

// Ping implements Ledger; the embedded ledger is always available.
func (m *Memory) Ping(ctx context.Context) error { return ctx.Err() }

// matcher returns the query's filter; times are compared as a ledger keeps
// them, truncated to Precision.
func (q Query) matcher() func(campaign, customer string, at time.Time) bool {
	from, to := Time(q.From), Time(q.To)
	return func(campaign, customer string, at time.Time) bool {
		return (q.Campaign == "" || campaign == q.Campaign) &&
			(q.CustomerID == "" || customer == q.CustomerID) &&
			(from.IsZero() || !at.Before(from)) &&
			(to.IsZero() || at.Before(to))
	}
}

func limit[T any](q Query, s []T) []T {
	if q.Limit > 0 && len(s) > q.Limit {
		return s[:q.Limit]
	}
	return s
}

// cloneDecision returns a copy of d sharing no memory with it, its times
// as a ledger keeps them.
func cloneDecision(d *decisioning.Decision) decisioning.Decision {
	c := *d
	c.Arms = slices.Clone(d.Arms)
	c.Scores.NextBestAction = maps.Clone(d.Scores.NextBestAction)
	c.Reasons = slices.Clone(d.Reasons)
	c.Versions = maps.Clone(d.Versions)
	c.FeatureNames = slices.Clone(d.FeatureNames)
	c.Features = slices.Clone(d.Features)
	c.Context = maps.Clone(d.Context)
	c.PolicyContext = slices.Clone(d.PolicyContext)
	c.DecidedAt, c.SendAfter, c.RewardUntil = Time(d.DecidedAt), Time(d.SendAfter), Time(d.RewardUntil)
	c.Metrics = slices.Clone(d.Metrics)
	for i := range c.Metrics {
		c.Metrics[i].Until = Time(c.Metrics[i].Until)
	}
	return c
}
