package archive_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"kairos/features"
	"kairos/features/memstore"
	"kairos/features/redisstore"
	"kairos/internal/logbuf"
	"kairos/internal/prom"
	"kairos/internal/redistest"
	"kairos/training/archive"
)

// logStore is a feature store with its event log, as both stores are.
type logStore interface {
	features.Store
	features.EventLog
}

var stores = []struct {
	name string
	open func(t *testing.T) (logStore, *redistest.Server)
}{
	{"memstore", func(t *testing.T) (logStore, *redistest.Server) {
		return memstore.New(features.Default(), memstore.Options{}), nil
	}},
	{"redis", func(t *testing.T) (logStore, *redistest.Server) {
		srv := redistest.Start(t)
		return redisstore.New(srv.Client(t), features.Default(), redisstore.Options{}), srv
	}},
}

func debugLogger(l *logbuf.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// batches returns n Track batches of size events of distinct ids, with
// times over the last 36 hours (so over two or three UTC dates).
func batches(prefix string, n, size int, now time.Time) [][]features.Event {
	types := []string{"page_view", "purchase", "login", "feature_used"}
	out := make([][]features.Event, n)
	for b := range out {
		for i := range size {
			k := b*size + i
			e := features.Event{
				ID:         fmt.Sprintf("%s-%d", prefix, k),
				CustomerID: fmt.Sprintf("cust-%d", k%13),
				Type:       types[k%len(types)],
				Time:       now.Add(-time.Duration(k*37%2160) * time.Minute).Truncate(time.Millisecond),
			}
			switch e.Type {
			case "purchase":
				e.Properties = props{"amount": num(float64(k) / 4), "currency": str("EUR"), "gift": flag(k%2 == 0)}
			case "page_view":
				e.Properties = props{"page": str(fmt.Sprintf("/p/%d", k%5))}
			}
			out[b] = append(out[b], e)
		}
	}
	return out
}

func trackAll(t *testing.T, s features.Store, now time.Time, bs ...[]features.Event) {
	t.Helper()
	for _, b := range bs {
		st, err := s.Track(context.Background(), b, now)
		if err != nil {
			t.Fatalf("Track: %v", err)
		}
		for i, s := range st {
			if s != features.Accepted {
				t.Fatalf("Track: event %s status %v, want accepted", b[i].ID, s)
			}
		}
	}
}

func flatten(bs [][]features.Event) []features.Event {
	var out []features.Event
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// running is an Archiver running in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func start(a *archive.Archiver) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	return r
}

// stop cancels the archiver and returns what Run returned.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		return err
	case <-time.After(40 * time.Second):
		t.Fatal("Run did not return within 40s of cancel")
		return nil
	}
}

// waitFor polls cond until it holds, failing the test after a timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// archived reports how many distinct events the archive in dir holds;
// 0 while it has no partitions.
func archived(t *testing.T, dir string) int {
	t.Helper()
	r, err := archive.Open(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, d := range r.Days() {
		evs, err := r.ReadDay(d)
		if err != nil {
			t.Fatal(err)
		}
		n += len(evs)
	}
	return n
}

func count(t *testing.T, dir string) int64 {
	t.Helper()
	r, err := archive.Open(dir)
	if err != nil {
		return 0
	}
	n, err := r.Count()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// assertNothingPending fails when the group has entries not acknowledged.
func assertNothingPending(t *testing.T, log features.EventLog) {
	t.Helper()
	left, err := log.Claim(context.Background(), archive.DefaultGroup, "probe", 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("%d log entries still pending after the archivers stopped, e.g. %s", len(left), left[0].ID)
	}
}

func TestArchiver(t *testing.T) {
	modes := []struct {
		name string
		opts archive.ArchiverOptions
		// flushed is how many events are in files before shutdown.
		flushed int
	}{
		{"flush by interval", archive.ArchiverOptions{FlushInterval: 30 * time.Millisecond}, 200},
		// One 10-event entry per read, a flush at 30 events: 180 are
		// flushed while running, the last 20 at shutdown.
		{"flush by count", archive.ArchiverOptions{Batch: 1, FlushEvents: 30, FlushInterval: time.Hour}, 180},
	}
	for _, st := range stores {
		for _, mode := range modes {
			t.Run(st.name+"/"+mode.name, func(t *testing.T) {
				s, _ := st.open(t)
				now := time.Now().UTC()
				bs := batches("e", 20, 10, now)
				want := flatten(bs)
				trackAll(t, s, now, bs[:10]...) // before the group exists: read from the log's start

				dir := t.TempDir()
				reg := prometheus.NewRegistry()
				logs := &logbuf.Buffer{}
				opts := mode.opts
				opts.Registerer, opts.Logger = reg, debugLogger(logs)
				a := archive.NewArchiver(s, newWriter(t, dir, "a1"), opts)
				run := start(a)
				trackAll(t, s, now, bs[10:]...)

				waitFor(t, fmt.Sprintf("%d events in files", mode.flushed), func() bool { return count(t, dir) == int64(mode.flushed) })
				time.Sleep(100 * time.Millisecond)
				if n := count(t, dir); n != int64(mode.flushed) {
					t.Errorf("%d events in files before shutdown, want %d", n, mode.flushed)
				}
				if err := run.stop(t); err != nil {
					t.Fatalf("Run = %v, want nil\nlog:\n%s", err, logs)
				}
				if diff := cmp.Diff(normalized(want), readAll(t, dir)); diff != "" {
					t.Errorf("archive (-want +got):\n%s", diff)
				}
				assertNothingPending(t, s)
				if got := metricOf(t, reg, "kairos_archive_events_total"); got != 200 {
					t.Errorf("kairos_archive_events_total = %v, want 200", got)
				}
				if got := metricOf(t, reg, "kairos_archive_buffered_events"); got != 0 {
					t.Errorf("kairos_archive_buffered_events = %v, want 0", got)
				}
				files := len(relFiles(t, dir))
				if got := metricOf(t, reg, "kairos_archive_files_total"); got != float64(files) {
					t.Errorf("kairos_archive_files_total = %v, want %d (the files in the directory)", got, files)
				}
				if n := flushes(t, reg); n == 0 {
					t.Error("kairos_archive_flush_seconds observed no flush")
				}
			})
		}
	}
}

// flushes returns the sample count of kairos_archive_flush_seconds.
func flushes(t *testing.T, reg *prometheus.Registry) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "kairos_archive_flush_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// TestArchiverAcksOnlyAfterFlush: an archiver whose flush fails (here one
// of two partitions cannot be created) and which then stops acknowledges
// nothing; a second archiver claims the entries once they have been idle
// for ClaimIdle and archives them. The date the first archiver did write is
// written twice; reading removes the duplicates.
func TestArchiverAcksOnlyAfterFlush(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s, _ := st.open(t)
			now := time.Date(2026, 1, 3, 6, 0, 0, 0, time.UTC)
			// Each batch has events of the 2nd and the 3rd.
			bs := batches("e", 5, 8, now)
			want := flatten(bs)
			trackAll(t, s, now, bs...)

			dir := t.TempDir()
			blocker := filepath.Join(dir, "date=2026-01-03")
			if err := os.WriteFile(blocker, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			logsA := &logbuf.Buffer{}
			a := archive.NewArchiver(s, newWriter(t, dir, "a"), archive.ArchiverOptions{
				FlushInterval: 20 * time.Millisecond, ClaimIdle: time.Hour, Logger: debugLogger(logsA),
			})
			runA := start(a)
			waitFor(t, "the first archiver's failed flush", func() bool {
				return strings.Contains(logsA.String(), "flush archive; keeping the events buffered")
			})
			err := runA.stop(t)
			if err == nil || !strings.Contains(err.Error(), "final flush") || !strings.Contains(err.Error(), "date=2026-01-03") {
				t.Errorf("Run of the archiver that cannot flush = %v, want a final flush error naming the partition", err)
			}
			written, _ := filepath.Glob(filepath.Join(dir, "date=2026-01-02", "part-a-*.parquet"))
			if len(written) != 1 {
				t.Fatalf("first archiver wrote %v, want one file of 2026-01-02", written)
			}

			if err := os.Remove(blocker); err != nil {
				t.Fatal(err)
			}
			logsB := &logbuf.Buffer{}
			b := archive.NewArchiver(s, newWriter(t, dir, "b"), archive.ArchiverOptions{
				FlushInterval: 20 * time.Millisecond, ClaimIdle: 200 * time.Millisecond, Logger: debugLogger(logsB),
			})
			runB := start(b)
			waitFor(t, "every event archived", func() bool { return archived(t, dir) == len(want) })
			if err := runB.stop(t); err != nil {
				t.Fatalf("Run of the second archiver = %v\nlog:\n%s", err, logsB)
			}
			if !strings.Contains(logsB.String(), "claimed log entries") {
				t.Errorf("second archiver's log lacks the claim:\n%s", logsB)
			}
			if diff := cmp.Diff(normalized(want), readAll(t, dir)); diff != "" {
				t.Errorf("archive (-want +got):\n%s", diff)
			}
			if n := count(t, dir); n <= int64(len(want)) {
				t.Errorf("Count = %d, want more than %d: the first archiver's file of 2026-01-02 is archived again", n, len(want))
			}
			assertNothingPending(t, s)
		})
	}
}

// TestArchiversConcurrent: two archivers on one Redis log, with different
// writer ids in one directory, together archive every event.
func TestArchiversConcurrent(t *testing.T) {
	srv := redistest.Start(t)
	s := redisstore.New(srv.Client(t), features.Default(), redisstore.Options{})
	dir := t.TempDir()
	now := time.Now().UTC()
	bs := batches("e", 60, 15, now)
	want := flatten(bs)

	var runs []*running
	for _, id := range []string{"a", "b"} {
		a := archive.NewArchiver(s, newWriter(t, dir, id), archive.ArchiverOptions{
			Batch: 4, FlushEvents: 100, FlushInterval: 30 * time.Millisecond, ClaimIdle: 300 * time.Millisecond,
		})
		runs = append(runs, start(a))
	}
	var wg sync.WaitGroup
	for half := range 2 {
		wg.Go(func() {
			for _, b := range bs[half*30 : (half+1)*30] {
				if _, err := s.Track(context.Background(), b, now); err != nil {
					t.Errorf("Track: %v", err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	waitFor(t, "every event archived", func() bool { return archived(t, dir) == len(want) })
	for _, r := range runs {
		if err := r.stop(t); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(normalized(want), readAll(t, dir)); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
	var writers []string
	for _, f := range relFiles(t, dir) {
		w, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(f), "part-"), "-")
		if len(writers) == 0 || writers[len(writers)-1] != w {
			writers = append(writers, w)
		}
	}
	t.Logf("%d rows for %d events; files of writers %v", count(t, dir), len(want), writers)
	assertNothingPending(t, s)
}

// TestArchiverOutage: Redis goes away and comes back; the archiver logs the
// outage once, never acknowledges what it has not written, and archives
// everything in the end.
func TestArchiverOutage(t *testing.T) {
	srv := redistest.Start(t)
	s := redisstore.New(srv.Client(t), features.Default(), redisstore.Options{})
	dir := t.TempDir()
	now := time.Now().UTC()
	bs := batches("e", 10, 10, now)
	want := flatten(bs)
	logs := &logbuf.Buffer{}
	a := archive.NewArchiver(s, newWriter(t, dir, "a"), archive.ArchiverOptions{
		FlushInterval: 30 * time.Millisecond, Logger: debugLogger(logs),
	})
	run := start(a)
	trackAll(t, s, now, bs[:5]...)
	waitFor(t, "the first half archived", func() bool { return archived(t, dir) == 50 })

	srv.Stop()
	time.Sleep(1500 * time.Millisecond) // several failed reads and backoffs
	srv.Restart(t)
	trackAll(t, s, now, bs[5:]...)
	waitFor(t, "every event archived", func() bool { return archived(t, dir) == len(want) })
	if err := run.stop(t); err != nil {
		t.Fatalf("Run = %v\nlog:\n%s", err, logs)
	}
	if diff := cmp.Diff(normalized(want), readAll(t, dir)); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
	out := logs.String()
	if n := strings.Count(out, "event log unavailable; retrying"); n != 1 {
		t.Errorf("outage logged %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "event log available again"); n != 1 {
		t.Errorf("recovery logged %d times, want once:\n%s", n, out)
	}
	assertNothingPending(t, s)
}

// metricOf returns the value of the counter or gauge name in reg.
func metricOf(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	v, ok := prom.Value(reg, name, nil)
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	return v
}
