package decisioning

import (
	"fmt"
	"time"
)

// Contains reports whether t falls in the quiet hours: whether its local
// wall clock in loc (nil: UTC), to the minute, is in [From, To), wrapping
// past midnight when From > To. Empty quiet hours (From == To) contain
// nothing.
func (q QuietHours) Contains(t time.Time, loc *time.Location) bool {
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	m := lt.Hour()*60 + lt.Minute()
	switch {
	case q.From < q.To:
		return q.From <= m && m < q.To
	case q.From > q.To:
		return m >= q.From || m < q.To
	}
	return false
}

// NextAllowed returns the first time at or after t outside the quiet hours
// in loc (nil: UTC), in loc: t itself when it is outside them, else the end
// of the quiet period, the next instant whose local wall clock reads To.
// It follows the zone's rules on the day of that end:
//   - when To does not exist that day (it falls in a spring-forward gap),
//     the first instant after the gap;
//   - when To occurs twice (in the hour repeated at a fall-back), its first
//     occurrence after t;
//   - when a change of offset before To sets the clock back out of the
//     quiet hours (a fall-back from 03:30 to 02:30 with quiet hours
//     03:00–08:00), the instant of that change.
func (q QuietHours) NextAllowed(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	// A skipped local day (Pacific/Kiritimati in 1994, Pacific/Apia in
	// 2011) can move the end of one quiet period into the next; a few
	// rounds settle it.
	for range 4 {
		if !q.Contains(t, loc) {
			return t
		}
		lt := t.In(loc)
		y, mo, d := lt.Date()
		if q.From > q.To && lt.Hour()*60+lt.Minute() >= q.From {
			d++ // quiet since this evening: it ends tomorrow
		}
		end := wallTimeAfter(y, mo, d, q.To/60, q.To%60, t, loc)
		// Between t and end the wall clock moves continuously except at
		// offset changes, so only those can leave the quiet hours earlier.
		for u := lt; ; {
			_, next := u.ZoneBounds()
			if next.IsZero() || !next.Before(end) {
				break
			}
			if !q.Contains(next, loc) {
				return next
			}
			u = next
		}
		t = end
	}
	return t
}

// wallTimeAfter returns the first instant after `after` at which the wall
// clock in loc reads hh:mm on the given date (d may overflow the month, as
// for time.Date), or the first instant after the gap when the zone skips
// that wall time.
func wallTimeAfter(y int, mo time.Month, d, hh, mm int, after time.Time, loc *time.Location) time.Time {
	want := time.Date(y, mo, d, hh, mm, 0, 0, time.UTC) // the wall time, as a UTC label
	c := time.Date(y, mo, d, hh, mm, 0, 0, loc)
	if got := wallLabel(c); !got.Equal(want) {
		// A gap: time.Date read the wall time with the offset of one side of
		// the transition, landing before it (wall clock too early) or after
		// it (too late). The gap ends at the transition.
		start, end := c.ZoneBounds()
		if got.Before(want) {
			return end
		}
		return start
	}
	// The wall time may occur twice (fall-back): time.Date returns one of
	// the two. Candidates: the occurrence one offset change earlier (in the
	// previous zone period) and c; take the first after `after`.
	start, _ := c.ZoneBounds()
	if !start.IsZero() {
		_, prevOff := start.Add(-time.Nanosecond).Zone()
		_, off := c.Zone()
		if prevOff > off {
			if e := c.Add(-time.Duration(prevOff-off) * time.Second); e.Before(start) && wallLabel(e).Equal(want) && e.After(after) {
				return e
			}
		}
	}
	_, end := c.ZoneBounds()
	if !c.After(after) && !end.IsZero() {
		// c is the first occurrence and already past: the second one is in
		// the next zone period.
		_, nextOff := end.Zone()
		_, off := c.Zone()
		if off > nextOff {
			if e := c.Add(time.Duration(off-nextOff) * time.Second); !e.Before(end) && wallLabel(e).Equal(want) {
				return e
			}
		}
	}
	return c
}

// wallLabel returns t's wall clock in its location as the same reading in
// UTC, so that wall times can be compared.
func wallLabel(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// String renders the quiet hours as "21:00-08:00".
func (q QuietHours) String() string { return clock(q.From) + "-" + clock(q.To) }

// clock renders minutes after midnight as HH:MM.
func clock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }
