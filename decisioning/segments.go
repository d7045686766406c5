package decisioning

import (
	"context"
	"time"
)

// SegmentDay is a live segment's size at the end of a UTC day.
type SegmentDay struct {
	Date string `json:"date"` // YYYY-MM-DD
	Size int64  `json:"size"`
}

// Segments keeps the members of the live segments, shared by every Kairos
// instance. memstate and redisstate implement it.
type Segments interface {
	// SetMember puts the customer in the segment (in) or out of it at
	// `at`, and reports whether that changed the membership; a change
	// also records the segment's size for at's UTC day. Atomic.
	SetMember(ctx context.Context, segment, customerID string, in bool, at time.Time) (changed bool, err error)
	// SegmentSize returns the number of members.
	SegmentSize(ctx context.Context, segment string) (int64, error)
	// SegmentMembers lists up to n members from cursor ("" for the
	// first page) and returns the cursor of the next page ("" after the
	// last). Members come in no particular order.
	SegmentMembers(ctx context.Context, segment, cursor string, n int) (members []string, next string, err error)
	// SegmentHistory returns the segment's size at the end of each UTC
	// day on which its membership changed, oldest first.
	SegmentHistory(ctx context.Context, segment string) ([]SegmentDay, error)
}
