package memstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"kairos/features"
)

// eventLog is an in-process stream with consumer groups that behaves like
// the Redis Stream redisstore uses: entries have increasing ids
// "<unix ms>-<seq>", each group delivers an entry to one consumer, and an
// entry stays pending until acknowledged.
type eventLog struct {
	mu      sync.Mutex
	maxLen  int64
	first   uint64 // sequence number of entries[0]
	entries []logEntry
	next    uint64
	groups  map[string]*group
	// grew is closed and replaced whenever entries are appended.
	grew chan struct{}
}

type logEntry struct {
	seq    uint64
	ms     int64
	record []byte
}

type group struct {
	delivered uint64 // next sequence number to deliver
	pending   map[uint64]*pending
}

type pending struct {
	consumer  string
	delivered time.Time
}

func (l *eventLog) init(maxLen int64) {
	l.maxLen = maxLen
	l.groups = map[string]*group{}
	l.grew = make(chan struct{})
	l.next = 1
	l.first = 1
}

func (l *eventLog) append(record []byte, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, logEntry{seq: l.next, ms: now.UnixMilli(), record: append([]byte(nil), record...)})
	l.next++
	if over := int64(len(l.entries)) - l.maxLen; over > 0 {
		clear(l.entries[:over])
		l.entries = l.entries[over:]
		l.first += uint64(over)
	}
	close(l.grew)
	l.grew = make(chan struct{})
}

func (l *eventLog) entry(seq uint64) (logEntry, bool) {
	if seq < l.first || seq >= l.next {
		return logEntry{}, false
	}
	return l.entries[seq-l.first], true
}

func decode(e logEntry) (features.LogEntry, error) {
	id := strconv.FormatInt(e.ms, 10) + "-" + strconv.FormatUint(e.seq, 10)
	evs, at, err := features.DecodeLogEntry(e.record)
	if err != nil {
		return features.LogEntry{}, fmt.Errorf("memstore: log entry %s: %w", id, err)
	}
	return features.LogEntry{ID: id, Events: evs, Arrived: at}, nil
}

func parseID(id string) (uint64, error) {
	_, seq, ok := strings.Cut(id, "-")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil {
		return 0, fmt.Errorf("memstore: invalid log entry id %q", id)
	}
	return n, nil
}

// CreateGroup implements features.EventLog.
func (s *Store) CreateGroup(ctx context.Context, name string) error {
	l := &s.log
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.groups[name]; !ok {
		l.groups[name] = &group{delivered: 0, pending: map[uint64]*pending{}}
	}
	return nil
}

func (l *eventLog) group(name string) (*group, error) {
	g, ok := l.groups[name]
	if !ok {
		return nil, fmt.Errorf("memstore: consumer group %q does not exist; create it first", name)
	}
	return g, nil
}

// Read implements features.EventLog.
func (s *Store) Read(ctx context.Context, groupName, consumer string, count int, block time.Duration) ([]features.LogEntry, error) {
	if count <= 0 {
		return nil, fmt.Errorf("memstore: read: count must be positive, got %d", count)
	}
	l := &s.log
	var deadline <-chan time.Time
	if block > 0 {
		t := time.NewTimer(block)
		defer t.Stop()
		deadline = t.C
	}
	for {
		l.mu.Lock()
		g, err := l.group(groupName)
		if err != nil {
			l.mu.Unlock()
			return nil, err
		}
		if g.delivered < l.first {
			g.delivered = l.first // trimmed before delivery
		}
		var out []features.LogEntry
		now := time.Now()
		for len(out) < count && g.delivered < l.next {
			e, _ := l.entry(g.delivered)
			g.delivered++
			g.pending[e.seq] = &pending{consumer: consumer, delivered: now}
			le, err := decode(e)
			if err != nil {
				l.mu.Unlock()
				return out, err
			}
			out = append(out, le)
		}
		grew := l.grew
		l.mu.Unlock()
		if len(out) > 0 || block <= 0 {
			return out, nil
		}
		select {
		case <-grew:
		case <-deadline:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Ack implements features.EventLog.
func (s *Store) Ack(ctx context.Context, groupName string, ids ...string) error {
	l := &s.log
	l.mu.Lock()
	defer l.mu.Unlock()
	g, err := l.group(groupName)
	if err != nil {
		return err
	}
	for _, id := range ids {
		seq, err := parseID(id)
		if err != nil {
			return err
		}
		delete(g.pending, seq)
	}
	return nil
}

// Claim implements features.EventLog.
func (s *Store) Claim(ctx context.Context, groupName, consumer string, minIdle time.Duration, count int) ([]features.LogEntry, error) {
	if count <= 0 {
		return nil, fmt.Errorf("memstore: claim: count must be positive, got %d", count)
	}
	l := &s.log
	l.mu.Lock()
	defer l.mu.Unlock()
	g, err := l.group(groupName)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	seqs := make([]uint64, 0, len(g.pending))
	for seq := range g.pending {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	var out []features.LogEntry
	for _, seq := range seqs {
		if len(out) >= count {
			break
		}
		p := g.pending[seq]
		if now.Sub(p.delivered) < minIdle {
			continue
		}
		e, ok := l.entry(seq)
		if !ok { // trimmed away, as XAUTOCLAIM drops deleted entries
			delete(g.pending, seq)
			continue
		}
		p.consumer, p.delivered = consumer, now
		le, err := decode(e)
		if err != nil {
			return out, err
		}
		out = append(out, le)
	}
	return out, nil
}

// Len implements features.EventLog.
func (s *Store) Len(ctx context.Context) (int64, error) {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	return int64(len(s.log.entries)), nil
}
