// Package memstore is the embedded feature store: features, customer records
// and the event log kept in process memory, behind the same interfaces as
// redisstore. It is the default of `kairos serve` and `kairos demo`, so that
// the whole loop runs with nothing installed.
//
// It applies the very same tile updates (features.Set.Plan, features.Apply)
// and read computation (features.Set.Compute) as redisstore; the shared suite
// in features/storetest holds both to one contract.
//
// Durability: data lives as long as the process. Use redisstore (kairos serve
// --redis) for data that must survive a restart.
//
// memstore must not import redisstore.
package memstore

import (
	"context"
	"hash/maphash"
	"maps"
	"sync"
	"time"

	"kairos/features"
)

// Options configures a Store.
type Options struct {
	// LogMaxLen bounds the event log; the oldest entries are dropped beyond
	// it. Zero or negative: features.DefaultLogMaxLen.
	LogMaxLen int64
}

const shards = 64

// Store is the in-memory features.Store and features.EventLog.
type Store struct {
	set    *features.Set
	seed   maphash.Seed
	shards [shards]shard
	log    eventLog
}

var (
	_ features.Store    = (*Store)(nil)
	_ features.EventLog = (*Store)(nil)
)

type shard struct {
	mu        sync.Mutex
	customers map[string]*customer
}

type customer struct {
	record *features.Customer
	tiles  features.Tiles
	// seen maps event hashes to their arrival week (features.DedupWeek).
	seen       map[string]int64
	prunedWeek int64
	prunedTile time.Time
}

// New returns an empty store computing features of set.
func New(set *features.Set, opts Options) *Store {
	if opts.LogMaxLen <= 0 {
		opts.LogMaxLen = features.DefaultLogMaxLen
	}
	s := &Store{set: set, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].customers = map[string]*customer{}
	}
	s.log.init(opts.LogMaxLen)
	return s
}

func (s *Store) shard(id string) *shard {
	return &s.shards[maphash.String(s.seed, id)%shards]
}

func (sh *shard) get(id string) *customer {
	c := sh.customers[id]
	if c == nil {
		c = &customer{tiles: features.Tiles{}, seen: map[string]int64{}}
		sh.customers[id] = c
	}
	return c
}

// Track implements features.Store.
func (s *Store) Track(ctx context.Context, events []features.Event, now time.Time) ([]features.Status, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	statuses := make([]features.Status, len(events))
	week := features.DedupWeek(now)
	var ops []features.Op
	updated := features.UpdatedOp(now)
	var rec []byte
	for i := range events {
		e := &events[i]
		sh := s.shard(e.CustomerID)
		sh.mu.Lock()
		c := sh.get(e.CustomerID)
		c.pruneSeen(week)
		h := features.EventHash(e.ID)
		if w, dup := c.seen[h]; dup && w >= week-1 {
			statuses[i] = features.Duplicate
			sh.mu.Unlock()
			continue
		}
		c.seen[h] = week
		ops = s.set.Plan(ops[:0], e, now)
		ops = append(ops, updated)
		for _, op := range ops {
			c.tiles.Apply(op)
		}
		c.pruneTiles(s.set, now)
		sh.mu.Unlock()
		statuses[i] = features.Accepted
		if len(rec) > 0 {
			rec = append(rec, '\n')
		}
		rec = features.AppendLogRecord(rec, e, now)
	}
	if len(rec) > 0 {
		// One log entry per call, as redisstore writes it. (Two concurrent
		// calls for one customer may log in either order, as in Redis.)
		s.log.append(rec, now)
	}
	return statuses, nil
}

// pruneSeen forgets event ids from before last week, once a week.
func (c *customer) pruneSeen(week int64) {
	if c.prunedWeek == week {
		return
	}
	c.prunedWeek = week
	for h, w := range c.seen {
		if w < week-1 {
			delete(c.seen, h)
		}
	}
}

// pruneTiles drops tile buckets that left every window, at most once per
// minute of store time, so memory per customer stays bounded.
func (c *customer) pruneTiles(set *features.Set, now time.Time) {
	if now.Sub(c.prunedTile) < time.Minute && !now.Before(c.prunedTile) {
		return
	}
	c.prunedTile = now
	c.tiles.Prune(set, now)
}

// Profile implements features.Store.
func (s *Store) Profile(ctx context.Context, id string, now time.Time) (features.Profile, error) {
	if err := ctx.Err(); err != nil {
		return features.Profile{}, err
	}
	keys := s.set.ReadKeys(now)
	var hashes []map[string]string
	p := features.Profile{CustomerID: id}
	sh := s.shard(id)
	sh.mu.Lock()
	if c := sh.customers[id]; c != nil {
		// Copies, so that the features are computed outside the lock.
		hashes = c.tiles.Hashes(s.set, keys, now)
		for i, h := range hashes {
			hashes[i] = maps.Clone(h)
		}
		if c.record != nil {
			r := cloneCustomer(*c.record)
			p.Customer = &r
		}
	}
	sh.mu.Unlock()
	p.Vector, p.UpdatedAt = s.set.Compute(now, keys, hashes)
	return p, nil
}

// UpsertCustomer implements features.Store.
func (s *Store) UpsertCustomer(ctx context.Context, rec features.Customer, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := cloneCustomer(rec)
	sh := s.shard(rec.ID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := sh.get(rec.ID)
	c.record = &r
	c.tiles.Apply(features.UpdatedOp(now))
	return nil
}

// Ping implements features.Store; the embedded store is always ready.
func (s *Store) Ping(ctx context.Context) error { return ctx.Err() }

func cloneCustomer(c features.Customer) features.Customer {
	c.Consents = maps.Clone(c.Consents)
	c.Attributes = maps.Clone(c.Attributes)
	return c
}
