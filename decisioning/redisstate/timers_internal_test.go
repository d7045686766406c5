package redisstate

import (
	"errors"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"kairos/decisioning"
)

func TestTimerRecord(t *testing.T) {
	due := time.UnixMilli(1_780_000_000_123).UTC()
	for _, tm := range []decisioning.Timer{
		{ID: "t1", CustomerID: "c1", Campaign: "cart", Due: due, SetAt: due.Add(-30 * time.Minute), EventID: "e1"},
		{ID: "t2", CustomerID: "}x{", Campaign: "winback", Due: due},
		{ID: "t3", CustomerID: "c", Campaign: "c", Due: due, SetAt: due.Add(time.Hour)}, // set after it is due
	} {
		rec := appendTimer(nil, &tm)
		var got decisioning.Timer
		if err := decodeTimer(&got, tm.ID, rec); err != nil {
			t.Fatalf("%s: decode: %v", tm.ID, err)
		}
		if diff := gocmp.Diff(tm, got); diff != "" {
			t.Errorf("%s: round trip (-want +got):\n%s", tm.ID, diff)
		}
		for i := range rec {
			if err := decodeTimer(&got, tm.ID, rec[:i]); err == nil {
				t.Errorf("%s: a record cut to %d of %d bytes decodes", tm.ID, i, len(rec))
			}
		}
	}
	newer := []byte{tagTimer, timerVersion + 1}
	if err := decodeTimer(new(decisioning.Timer), "t", newer); !errors.Is(err, decisioning.ErrNewerEncoding) {
		t.Errorf("a newer record: %v, want decisioning.ErrNewerEncoding", err)
	}
}

// FuzzTimerRecord: decoding never panics, and what decodes encodes back
// to a record that decodes the same.
func FuzzTimerRecord(f *testing.F) {
	due := time.UnixMilli(1_780_000_000_123)
	f.Add(appendTimer(nil, &decisioning.Timer{ID: "t", CustomerID: "c1", Campaign: "cart", Due: due, SetAt: due, EventID: "e"}))
	f.Add(appendTimer(nil, &decisioning.Timer{ID: "t", CustomerID: "c1", Campaign: "cart", Due: due}))
	f.Fuzz(func(t *testing.T, rec []byte) {
		var tm decisioning.Timer
		if decodeTimer(&tm, "t", rec) != nil {
			return
		}
		var again decisioning.Timer
		if err := decodeTimer(&again, "t", appendTimer(nil, &tm)); err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if diff := gocmp.Diff(tm, again); diff != "" {
			t.Errorf("re-encoded record (-first +second):\n%s", diff)
		}
	})
}
