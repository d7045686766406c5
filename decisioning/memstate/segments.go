package memstate

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"kairos/decisioning"
)

// segmentSet is memstate's decisioning.Segments.
type segmentSet struct {
	mu      sync.Mutex
	members map[string]map[string]bool // segment → customers
	days    map[string]map[string]int64
}

var _ decisioning.Segments = (*State)(nil)

// SetMember implements decisioning.Segments.
func (s *State) SetMember(ctx context.Context, segment, customerID string, in bool, at time.Time) (bool, error) {
	g := &s.sg
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.members == nil {
		g.members, g.days = map[string]map[string]bool{}, map[string]map[string]int64{}
	}
	m := g.members[segment]
	if m == nil {
		m = map[string]bool{}
		g.members[segment] = m
	}
	if m[customerID] == in {
		return false, nil
	}
	if in {
		m[customerID] = true
	} else {
		delete(m, customerID)
	}
	d := g.days[segment]
	if d == nil {
		d = map[string]int64{}
		g.days[segment] = d
	}
	d[at.UTC().Format(time.DateOnly)] = int64(len(m))
	return true, nil
}

// SegmentSize implements decisioning.Segments.
func (s *State) SegmentSize(ctx context.Context, segment string) (int64, error) {
	g := &s.sg
	g.mu.Lock()
	defer g.mu.Unlock()
	return int64(len(g.members[segment])), nil
}

// SegmentMembers implements decisioning.Segments: members in id order,
// the cursor the offset of the next page.
func (s *State) SegmentMembers(ctx context.Context, segment, cursor string, n int) ([]string, string, error) {
	off := 0
	if cursor != "" {
		var err error
		if off, err = strconv.Atoi(cursor); err != nil || off < 0 {
			return nil, "", fmt.Errorf("memstate: segment cursor %q is not one a previous page returned", cursor)
		}
	}
	g := &s.sg
	g.mu.Lock()
	ids := make([]string, 0, len(g.members[segment]))
	for id := range g.members[segment] {
		ids = append(ids, id)
	}
	g.mu.Unlock()
	slices.Sort(ids)
	if off >= len(ids) {
		return nil, "", nil
	}
	end := min(off+max(n, 1), len(ids))
	next := ""
	if end < len(ids) {
		next = strconv.Itoa(end)
	}
	return ids[off:end], next, nil
}

// SegmentHistory implements decisioning.Segments.
func (s *State) SegmentHistory(ctx context.Context, segment string) ([]decisioning.SegmentDay, error) {
	g := &s.sg
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]decisioning.SegmentDay, 0, len(g.days[segment]))
	for d, n := range g.days[segment] {
		out = append(out, decisioning.SegmentDay{Date: d, Size: n})
	}
	slices.SortFunc(out, func(a, b decisioning.SegmentDay) int { return strings.Compare(a.Date, b.Date) })
	return out, nil
}
