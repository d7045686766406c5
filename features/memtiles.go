package features

import "time"

// Tiles is one customer's stored state held in process memory: for each key
// (the meta hash or a tile bucket) its fields and values, exactly as a
// Redis hash holds them. memstore keeps one per customer, and the offline
// export (kairos/training) replays the event archive into them, so online
// and offline features come from the same updates (Plan, Apply) and the same
// read (Compute).
type Tiles map[Key]map[string]string

// Apply applies one update.
func (t Tiles) Apply(op Op) {
	h := t[op.Key]
	if h == nil {
		h = map[string]string{}
		t[op.Key] = h
	}
	old, ok := h[op.Field]
	h[op.Field] = Apply(op, old, ok)
}

// Prune drops the tile buckets that left every window of s by now, so that
// memory per customer stays bounded.
func (t Tiles) Prune(s *Set, now time.Time) {
	for k := range t {
		if exp := s.ExpireAt(k); !exp.IsZero() && !exp.After(now) {
			delete(t, k)
		}
	}
}

// Hashes returns the hashes of keys (as ReadKeys(now) returned them) as of
// now: nil for a key that is absent or has expired. The maps are t's own;
// callers that keep them past a change of t must copy them.
func (t Tiles) Hashes(s *Set, keys []Key, now time.Time) []map[string]string {
	hashes := make([]map[string]string, len(keys))
	for i, k := range keys {
		if h := t[k]; h != nil {
			if exp := s.ExpireAt(k); exp.IsZero() || exp.After(now) {
				hashes[i] = h
			}
		}
	}
	return hashes
}
