package decisioning_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"kairos/decisioning"
)

func clockMin(h, m int) int { return h*60 + m }

func loadZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func parseInstant(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Times are written with their UTC offset, so that each names one instant
// even in an hour that a fall-back repeats.
func TestQuietHoursNextAllowed(t *testing.T) {
	night := decisioning.QuietHours{From: clockMin(21, 0), To: clockMin(8, 0)}
	lunch := decisioning.QuietHours{From: clockMin(12, 0), To: clockMin(14, 0)}
	for _, tc := range []struct {
		zone string
		q    decisioning.QuietHours
		at   string
		want string // "": at is allowed
	}{
		// UTC, wrapping past midnight and not.
		{"UTC", night, "2024-06-01T20:59:59Z", ""},
		{"UTC", night, "2024-06-01T21:00:00Z", "2024-06-02T08:00:00Z"},
		{"UTC", night, "2024-06-01T23:59:59Z", "2024-06-02T08:00:00Z"},
		{"UTC", night, "2024-06-02T00:00:00Z", "2024-06-02T08:00:00Z"},
		{"UTC", night, "2024-06-02T07:59:59Z", "2024-06-02T08:00:00Z"},
		{"UTC", night, "2024-06-02T08:00:00Z", ""},
		{"UTC", night, "2024-12-31T22:00:00Z", "2025-01-01T08:00:00Z"},
		{"UTC", night, "2024-02-28T23:00:00Z", "2024-02-29T08:00:00Z"},
		{"UTC", lunch, "2024-06-01T11:59:59Z", ""},
		{"UTC", lunch, "2024-06-01T12:00:00Z", "2024-06-01T14:00:00Z"},
		{"UTC", lunch, "2024-06-01T13:59:59.999Z", "2024-06-01T14:00:00Z"},
		{"UTC", lunch, "2024-06-01T14:00:00Z", ""},
		{"UTC", lunch, "2024-06-01T22:00:00Z", ""},
		{"UTC", decisioning.QuietHours{From: clockMin(22, 0), To: 0}, "2024-06-01T23:30:00Z", "2024-06-02T00:00:00Z"},
		{"UTC", decisioning.QuietHours{From: clockMin(22, 0), To: 0}, "2024-06-02T00:00:00Z", ""},
		{"UTC", decisioning.QuietHours{From: 0, To: clockMin(6, 0)}, "2024-06-02T00:00:00Z", "2024-06-02T06:00:00Z"},
		{"UTC", decisioning.QuietHours{From: 0, To: clockMin(6, 0)}, "2024-06-01T23:59:59Z", ""},
		// The wall clock of the zone decides, not UTC.
		{"America/New_York", night, "2024-06-01T20:30:00-04:00", ""},
		{"America/New_York", night, "2024-06-01T22:00:00-04:00", "2024-06-02T08:00:00-04:00"},
		{"America/New_York", night, "2024-06-02T01:00:00Z", "2024-06-02T08:00:00-04:00"}, // 21:00 local
		{"America/New_York", lunch, "2024-06-01T16:30:00Z", "2024-06-01T14:00:00-04:00"},
		// Spring forward (2024-03-10, 02:00 EST -> 03:00 EDT): the night is
		// an hour shorter; an end in the skipped hour moves to its end.
		{"America/New_York", night, "2024-03-09T22:00:00-05:00", "2024-03-10T08:00:00-04:00"},
		{"America/New_York", decisioning.QuietHours{From: clockMin(21, 0), To: clockMin(2, 30)}, "2024-03-10T01:50:00-05:00", "2024-03-10T03:00:00-04:00"},
		{"America/New_York", decisioning.QuietHours{From: clockMin(21, 0), To: clockMin(2, 30)}, "2024-03-09T23:00:00-05:00", "2024-03-10T03:00:00-04:00"},
		{"America/New_York", decisioning.QuietHours{From: clockMin(22, 0), To: clockMin(2, 0)}, "2024-03-10T01:59:00-05:00", "2024-03-10T03:00:00-04:00"},
		{"America/New_York", decisioning.QuietHours{From: clockMin(1, 0), To: clockMin(2, 59)}, "2024-03-10T01:30:00-05:00", "2024-03-10T03:00:00-04:00"},
		{"America/New_York", decisioning.QuietHours{From: clockMin(21, 0), To: clockMin(3, 0)}, "2024-03-10T01:30:00-05:00", "2024-03-10T03:00:00-04:00"},
		{"America/New_York", decisioning.QuietHours{From: clockMin(21, 0), To: clockMin(2, 30)}, "2024-03-10T03:00:00-04:00", ""},
		// Fall back (2024-11-03, 02:00 EDT -> 01:00 EST): the night is an
		// hour longer; an end in the repeated hour is its first occurrence
		// after the time asked about.
		{"America/New_York", night, "2024-11-02T22:00:00-04:00", "2024-11-03T08:00:00-05:00"},
		{"America/New_York", decisioning.QuietHours{From: clockMin(21, 0), To: clockMin(1, 30)}, "2024-11-02T23:00:00-04:00", "2024-11-03T01:30:00-04:00"},
		{"America/New_York", decisioning.QuietHours{From: clockMin(21, 0), To: clockMin(1, 30)}, "2024-11-03T01:10:00-04:00", "2024-11-03T01:30:00-04:00"},
		{"America/New_York", decisioning.QuietHours{From: clockMin(21, 0), To: clockMin(1, 30)}, "2024-11-03T01:45:00-04:00", ""},
		{"America/New_York", decisioning.QuietHours{From: clockMin(21, 0), To: clockMin(1, 30)}, "2024-11-03T01:10:00-05:00", "2024-11-03T01:30:00-05:00"},
		{"America/New_York", decisioning.QuietHours{From: clockMin(21, 0), To: clockMin(1, 30)}, "2024-11-03T01:45:00-05:00", ""},
		{"America/New_York", decisioning.QuietHours{From: clockMin(1, 15), To: clockMin(1, 45)}, "2024-11-03T01:20:00-05:00", "2024-11-03T01:45:00-05:00"},
		// The fall-back itself sets the clock back out of quiet hours that
		// began at 01:45: allowed from 01:00 EST until 01:45 comes again.
		{"America/New_York", decisioning.QuietHours{From: clockMin(1, 45), To: clockMin(8, 0)}, "2024-11-03T01:50:00-04:00", "2024-11-03T01:00:00-05:00"},
		{"America/New_York", decisioning.QuietHours{From: clockMin(1, 45), To: clockMin(8, 0)}, "2024-11-03T01:50:00-05:00", "2024-11-03T08:00:00-05:00"},
		// Europe/Berlin: spring forward 2024-03-31 02:00 CET -> 03:00 CEST,
		// fall back 2024-10-27 03:00 CEST -> 02:00 CET.
		{"Europe/Berlin", night, "2024-03-30T23:00:00+01:00", "2024-03-31T08:00:00+02:00"},
		{"Europe/Berlin", decisioning.QuietHours{From: clockMin(22, 0), To: clockMin(2, 30)}, "2024-03-30T23:00:00+01:00", "2024-03-31T03:00:00+02:00"},
		{"Europe/Berlin", decisioning.QuietHours{From: clockMin(22, 0), To: clockMin(2, 30)}, "2024-10-27T02:10:00+02:00", "2024-10-27T02:30:00+02:00"},
		{"Europe/Berlin", decisioning.QuietHours{From: clockMin(22, 0), To: clockMin(2, 30)}, "2024-10-27T02:10:00+01:00", "2024-10-27T02:30:00+01:00"},
		{"Europe/Berlin", decisioning.QuietHours{From: clockMin(22, 0), To: clockMin(2, 30)}, "2024-10-27T02:40:00+02:00", ""},
		{"Europe/Berlin", lunch, "2024-07-01T13:00:00+02:00", "2024-07-01T14:00:00+02:00"},
		// Asia/Kolkata, +5:30 all year.
		{"Asia/Kolkata", night, "2024-01-15T15:29:00Z", ""}, // 20:59 local
		{"Asia/Kolkata", night, "2024-01-15T15:30:00Z", "2024-01-16T08:00:00+05:30"},
		{"Asia/Kolkata", decisioning.QuietHours{From: clockMin(21, 30), To: clockMin(7, 30)}, "2024-01-15T16:00:00Z", "2024-01-16T02:00:00Z"},
		// Australia/Lord_Howe: a 30-minute DST. Fall back 2024-04-07 02:00
		// +11 -> 01:30 +10:30; spring forward 2024-10-06 02:00 +10:30 ->
		// 02:30 +11.
		{"Australia/Lord_Howe", night, "2024-04-06T22:00:00+11:00", "2024-04-07T08:00:00+10:30"},
		{"Australia/Lord_Howe", decisioning.QuietHours{From: clockMin(21, 0), To: clockMin(1, 45)}, "2024-04-07T01:35:00+11:00", "2024-04-07T01:45:00+11:00"},
		{"Australia/Lord_Howe", decisioning.QuietHours{From: clockMin(21, 0), To: clockMin(1, 45)}, "2024-04-07T01:35:00+10:30", "2024-04-07T01:45:00+10:30"},
		{"Australia/Lord_Howe", decisioning.QuietHours{From: clockMin(22, 0), To: clockMin(2, 15)}, "2024-10-06T01:00:00+10:30", "2024-10-06T02:30:00+11:00"},
		{"Australia/Lord_Howe", night, "2024-10-05T21:00:00+10:30", "2024-10-06T08:00:00+11:00"},
		// Pacific/Kiritimati, +14: the local day is ahead of UTC.
		{"Pacific/Kiritimati", night, "2024-06-01T07:00:00Z", "2024-06-01T18:00:00Z"}, // 21:00 local on June 1
		{"Pacific/Kiritimati", night, "2024-06-01T09:59:00Z", "2024-06-01T18:00:00Z"},
		{"Pacific/Kiritimati", night, "2024-06-01T18:00:00Z", ""},
		{"Pacific/Kiritimati", lunch, "2024-05-31T22:30:00Z", "2024-06-01T00:00:00Z"}, // 12:30 local on June 1
		// Kiritimati skipped 1994-12-31 (23:59:59 -10:00 -> 00:00 +14:00):
		// the end of the night of Dec 30 is skipped with the whole day, and
		// the first instant after it, midnight of Jan 1, is night again.
		{"Pacific/Kiritimati", night, "1994-12-30T22:00:00-10:00", "1995-01-01T08:00:00+14:00"},
	} {
		t.Run(fmt.Sprintf("%s/%s/%s", tc.zone, tc.q, tc.at), func(t *testing.T) {
			loc := loadZone(t, tc.zone)
			at := parseInstant(t, tc.at)
			want := at
			if tc.want != "" {
				want = parseInstant(t, tc.want)
			}
			if got := tc.q.Contains(at, loc); got != (tc.want != "") {
				t.Errorf("Contains(%s) = %v", at.In(loc), got)
			}
			got := tc.q.NextAllowed(at, loc)
			if !got.Equal(want) {
				t.Errorf("NextAllowed(%s) = %s, want %s", at.In(loc), got.In(loc), want.In(loc))
			}
			if tc.q.Contains(got, loc) {
				t.Errorf("NextAllowed(%s) = %s is in the quiet hours", at.In(loc), got.In(loc))
			}
		})
	}
}

func TestQuietHoursNilLocationAndEmpty(t *testing.T) {
	q := decisioning.QuietHours{From: clockMin(21, 0), To: clockMin(8, 0)}
	at := time.Date(2024, 6, 1, 22, 0, 0, 0, time.UTC)
	if got, want := q.NextAllowed(at, nil), time.Date(2024, 6, 2, 8, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("NextAllowed with a nil location = %s, want %s (UTC)", got, want)
	}
	empty := decisioning.QuietHours{From: clockMin(8, 0), To: clockMin(8, 0)}
	if empty.Contains(at, time.UTC) || !empty.NextAllowed(at, time.UTC).Equal(at) {
		t.Error("empty quiet hours contain a time")
	}
	if got := q.String(); got != "21:00-08:00" {
		t.Errorf("String() = %q", got)
	}
}

// Against an oracle: near every DST transition of 2024 (and Kiritimati's
// skipped day), NextAllowed is at or after t, allowed, and every minute
// from t up to it is quiet — so it is the first allowed time.
func TestQuietHoursNextAllowedOracle(t *testing.T) {
	zones := []string{"UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Kiritimati", "America/Santiago", "Pacific/Chatham"}
	var around []time.Time // instants near which to test
	for _, z := range zones {
		loc := loadZone(t, z)
		for u := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC); ; {
			_, end := u.In(loc).ZoneBounds()
			if end.IsZero() || end.Year() > 2024 {
				break
			}
			around = append(around, end)
			u = end
		}
	}
	around = append(around, time.Date(1995, 1, 1, 0, 0, 0, 0, loadZone(t, "Pacific/Kiritimati")), time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC))
	r := rand.New(rand.NewPCG(1, 2))
	n := 400
	if testing.Short() {
		n = 100
	}
	for range n {
		loc := loadZone(t, zones[r.IntN(len(zones))])
		// From and To on a 15-minute grid, sometimes on the minute.
		q := decisioning.QuietHours{From: 15 * r.IntN(96), To: 15 * r.IntN(96)}
		if r.IntN(4) == 0 {
			q.To = r.IntN(24 * 60)
		}
		if q.From == q.To {
			continue
		}
		base := around[r.IntN(len(around))]
		at := base.Add(time.Duration(r.Int64N(int64(72*time.Hour))) - 36*time.Hour).Truncate(time.Second)
		got := q.NextAllowed(at, loc)
		if got.Before(at) || q.Contains(got, loc) {
			t.Fatalf("%s in %s: NextAllowed(%s) = %s", q, loc, at.In(loc), got.In(loc))
		}
		// Two days at most: a gap can swallow a whole allowed interval
		// (03:00-02:45 on the day New York skips 02:00-03:00).
		if got.Sub(at) > 50*time.Hour {
			t.Fatalf("%s in %s: NextAllowed(%s) = %s, more than two days later", q, loc, at.In(loc), got.In(loc))
		}
		for u := at; u.Before(got); u = u.Truncate(time.Minute).Add(time.Minute) {
			if !q.Contains(u, loc) {
				t.Fatalf("%s in %s: NextAllowed(%s) = %s, but %s is allowed", q, loc, at.In(loc), got.In(loc), u.In(loc))
			}
		}
	}
}
