package archive_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kairos/features"
	"kairos/internal/redistest"
	"kairos/training/archive"
)

func TestMain(m *testing.M) { redistest.Main(m) }

type props = map[string]features.Value

var (
	str  = features.String
	num  = features.Number
	flag = features.Bool
)

// day0 is a UTC midnight the tests' events happen around.
var day0 = time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)

func newWriter(t testing.TB, dir, id string) *archive.Writer {
	t.Helper()
	w, err := archive.NewWriter(dir, archive.WriterOptions{ID: id, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func flush(t testing.TB, w *archive.Writer) []string {
	t.Helper()
	paths, err := w.Flush()
	if err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return paths
}

func open(t testing.TB, dir string) *archive.Reader {
	t.Helper()
	r, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// readAll returns the events of every day of the archive in dir.
func readAll(t testing.TB, dir string) []features.Event {
	t.Helper()
	r := open(t, dir)
	var out []features.Event
	for _, d := range r.Days() {
		evs, err := r.ReadDay(d)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, evs...)
	}
	return out
}

// normalized returns events as the archive gives them back: times in UTC
// at millisecond precision, no empty property maps, sorted by (time,
// customer, id).
func normalized(events []features.Event) []features.Event {
	out := make([]features.Event, len(events))
	for i, e := range events {
		e.Time = e.Time.Truncate(time.Millisecond).UTC()
		if len(e.Properties) == 0 {
			e.Properties = nil
		}
		out[i] = e
	}
	slices.SortFunc(out, features.CompareEvents)
	return out
}

// relFiles returns the data files under dir, relative to it, sorted.
func relFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestRoundTrip(t *testing.T) {
	at := day0.Add(9*time.Hour + 30*time.Minute)
	tests := []struct {
		name   string
		events []features.Event
	}{
		{"every property kind", []features.Event{
			{ID: "e1", CustomerID: "c1", Type: "feature_used", Time: at, Properties: props{
				"feature": str("export"), "count": num(3), "ratio": num(-0.125), "beta": flag(true), "legacy": flag(false),
				"big": num(1e300), "tiny": num(5e-324), "int": num(9007199254740993), "small": num(-1.5e-7),
			}},
		}},
		{"common columns", []features.Event{
			{ID: "e1", CustomerID: "c1", Type: "purchase", Time: at, Properties: props{
				"amount": num(49.99), "currency": str("EUR"), "product_id": str("sku-1"), "category": str("books"),
			}},
			{ID: "e2", CustomerID: "c1", Type: "page_view", Time: at, Properties: props{"page": str("/pricing")}},
			{ID: "e3", CustomerID: "c2", Type: "subscription_started", Time: at, Properties: props{"plan_price": num(0), "plan": str("pro")}},
		}},
		{"common properties with another kind", []features.Event{
			{ID: "e1", CustomerID: "c1", Type: "page_view", Time: at, Properties: props{
				"page": num(3), "category": flag(true), "product_id": num(42), "plan_price": str("free"), "amount": str("12"),
			}},
			{ID: "e2", CustomerID: "c1", Type: "page_view", Time: at, Properties: props{"page": flag(false), "currency": num(978)}},
		}},
		{"unicode and escapes", []features.Event{
			{ID: "é-✓-😀", CustomerID: "客户-1", Type: "click", Time: at, Properties: props{
				"label": str("naïve \"quoted\" \\ back\nslash\ttab\x01ctl"), "página": str("日本語"), "page": str("ü/ß"), "emoji": str("🎉"),
				"html": str("<a href='x'>&amp;</a>\u2028"),
			}},
		}},
		{"empty properties", []features.Event{
			{ID: "e1", CustomerID: "c1", Type: "login", Time: at},
			{ID: "e2", CustomerID: "c1", Type: "login", Time: at, Properties: props{}},
			{ID: "e3", CustomerID: "c1", Type: "login", Time: at, Properties: props{"s": str("")}},
		}},
		{"times at millisecond precision, any zone", []features.Event{
			{ID: "e1", CustomerID: "c1", Type: "login", Time: at.Add(123456789 * time.Nanosecond).In(time.FixedZone("X", 5*3600))},
			{ID: "e2", CustomerID: "c1", Type: "login", Time: day0},
			{ID: "e3", CustomerID: "c1", Type: "login", Time: day0.Add(24*time.Hour - time.Millisecond)},
		}},
		{"many events, sorted on read", func() []features.Event {
			var evs []features.Event
			for i := range 500 {
				evs = append(evs, features.Event{ID: "e" + string(rune('a'+i%26)) + time.Duration(i).String(), CustomerID: "c" + string(rune('a'+i%7)),
					Type: "click", Time: at.Add(time.Duration(499-i) * time.Second), Properties: props{"n": num(float64(i))}})
			}
			return evs
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w := newWriter(t, dir, "rt")
			w.Write(tt.events, at, "1700000000000-0")
			if got := w.Buffered(); got != len(tt.events) {
				t.Errorf("Buffered = %d, want %d", got, len(tt.events))
			}
			flush(t, w)
			if got := w.Buffered(); got != 0 {
				t.Errorf("Buffered after Flush = %d, want 0", got)
			}
			got := readAll(t, dir)
			if diff := cmp.Diff(normalized(tt.events), got); diff != "" {
				t.Errorf("read back (-want +got):\n%s", diff)
			}
			for _, e := range got {
				if e.Time.Location() != time.UTC {
					t.Errorf("event %s time %v not in UTC", e.ID, e.Time)
				}
			}
		})
	}
}

func TestPartitionByUTCDate(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, dir, "w1")
	// 23:30 and 00:30 UTC, sent with a +02:00 offset: the local dates are
	// both the 3rd, the UTC dates the 2nd and the 3rd.
	zone := time.FixedZone("+02", 2*3600)
	late := day0.Add(23*time.Hour + 30*time.Minute)
	events := []features.Event{
		{ID: "a", CustomerID: "c", Type: "login", Time: late.In(zone)},
		{ID: "b", CustomerID: "c", Type: "login", Time: late.Add(time.Hour).In(zone)},
		{ID: "c", CustomerID: "c", Type: "login", Time: day0.Add(24*time.Hour - time.Millisecond)},
		{ID: "d", CustomerID: "c", Type: "login", Time: day0.Add(48 * time.Hour)},
	}
	w.Write(events, late, "")
	paths := flush(t, w)
	for i, p := range paths {
		paths[i], _ = filepath.Rel(dir, p)
	}
	want := []string{"date=2026-01-02/part-w1-000001.parquet", "date=2026-01-03/part-w1-000002.parquet", "date=2026-01-04/part-w1-000003.parquet"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("Flush paths (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, relFiles(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	r := open(t, dir)
	wantDays := []time.Time{day0, day0.AddDate(0, 0, 1), day0.AddDate(0, 0, 2)}
	if diff := cmp.Diff(wantDays, r.Days()); diff != "" {
		t.Errorf("Days (-want +got):\n%s", diff)
	}
	for i, wantIDs := range [][]string{{"a", "c"}, {"b"}, {"d"}} {
		evs, err := r.ReadDay(wantDays[i])
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range evs {
			ids = append(ids, e.ID)
		}
		if diff := cmp.Diff(wantIDs, ids); diff != "" {
			t.Errorf("ReadDay(%s) ids (-want +got):\n%s", wantDays[i].Format(time.DateOnly), diff)
		}
	}
	if n, err := r.Count(); err != nil || n != 4 {
		t.Errorf("Count = %d, %v; want 4", n, err)
	}
}

func TestSeqContinuesAcrossWriters(t *testing.T) {
	dir := t.TempDir()
	ev := func(id string, day int) []features.Event {
		return []features.Event{{ID: id, CustomerID: "c", Type: "login", Time: day0.AddDate(0, 0, day)}}
	}
	w := newWriter(t, dir, "w1")
	w.Write(ev("a", 0), day0, "")
	w.Write(ev("b", 1), day0, "")
	flush(t, w)
	w.Write(ev("c", 1), day0, "")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart with the same id goes on after the highest seq, in any
	// partition; another id starts at 1.
	w = newWriter(t, dir, "w1")
	w.Write(ev("d", 0), day0, "")
	flush(t, w)
	other := newWriter(t, dir, "w2")
	other.Write(ev("e", 0), day0, "")
	flush(t, other)

	want := []string{
		"date=2026-01-02/part-w1-000001.parquet",
		"date=2026-01-02/part-w1-000004.parquet",
		"date=2026-01-02/part-w2-000001.parquet",
		"date=2026-01-03/part-w1-000002.parquet",
		"date=2026-01-03/part-w1-000003.parquet",
	}
	if diff := cmp.Diff(want, relFiles(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if got := len(readAll(t, dir)); got != 5 {
		t.Errorf("read %d events, want 5", got)
	}
}

func TestSameIDNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	// Both start at seq 1; each Link collision takes the next seq.
	w1, w2 := newWriter(t, dir, "same"), newWriter(t, dir, "same")
	// A file of a third writer of the same id, ahead of both.
	w3 := newWriter(t, dir, "same")
	var all []features.Event
	for i, w := range []*archive.Writer{w3, w1, w2, w1, w2} {
		e := features.Event{ID: "e" + string(rune('0'+i)), CustomerID: "c", Type: "login", Time: day0.Add(time.Duration(i) * time.Minute)}
		all = append(all, e)
		w.Write([]features.Event{e}, day0, "")
		flush(t, w)
	}
	want := []string{
		"date=2026-01-02/part-same-000001.parquet",
		"date=2026-01-02/part-same-000002.parquet",
		"date=2026-01-02/part-same-000003.parquet",
		"date=2026-01-02/part-same-000004.parquet",
		"date=2026-01-02/part-same-000005.parquet",
	}
	if diff := cmp.Diff(want, relFiles(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(normalized(all), readAll(t, dir)); diff != "" {
		t.Errorf("events (-want +got): a file was overwritten\n%s", diff)
	}
}

func TestLeftoversIgnored(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, dir, "w1")
	events := []features.Event{{ID: "a", CustomerID: "c", Type: "login", Time: day0}}
	w.Write(events, day0, "")
	flush(t, w)
	part := filepath.Join(dir, "date=2026-01-02")
	for _, p := range []string{
		filepath.Join(part, "part-w1-000007.parquet.tmp-0badf00d"), // a crash mid-write
		filepath.Join(part, "_metadata"),
		filepath.Join(part, ".part-w1-000001.parquet.crc"),
		filepath.Join(dir, "_SUCCESS"),
		filepath.Join(dir, ".DS_Store"),
	} {
		if err := os.WriteFile(p, []byte("not parquet"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "_tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := open(t, dir)
	if diff := cmp.Diff([]time.Time{day0}, r.Days()); diff != "" {
		t.Errorf("Days (-want +got):\n%s", diff)
	}
	got, err := r.ReadDay(day0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(normalized(events), got); diff != "" {
		t.Errorf("ReadDay (-want +got):\n%s", diff)
	}
	if n, err := r.Count(); n != 1 || err != nil {
		t.Errorf("Count = %d, %v; want 1", n, err)
	}
	// The temporary file's seq is no file of w1.
	w = newWriter(t, dir, "w1")
	w.Write(events, day0, "")
	if paths := flush(t, w); len(paths) != 1 || filepath.Base(paths[0]) != "part-w1-000002.parquet" {
		t.Errorf("Flush after restart wrote %v, want part-w1-000002.parquet", paths)
	}
}

func TestNewWriterID(t *testing.T) {
	dir := t.TempDir()
	w, err := archive.NewWriter(filepath.Join(dir, "new", "archive"), archive.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if id := w.ID(); len(id) != 8 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Errorf("default ID = %q, want 8 hex characters", id)
	}
	for _, id := range []string{"a-b", "a.b", "a/b", "ü", " x"} {
		if _, err := archive.NewWriter(dir, archive.WriterOptions{ID: id}); err == nil || !strings.Contains(err.Error(), "[A-Za-z0-9_]+") {
			t.Errorf("NewWriter(ID %q) = %v, want an error naming the rule", id, err)
		}
	}
	if _, err := archive.NewWriter(dir, archive.WriterOptions{ID: "Ok_1"}); err != nil {
		t.Errorf("NewWriter(ID Ok_1) = %v", err)
	}
}

func TestFlushFailureKeepsBuffer(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, dir, "w1")
	events := []features.Event{
		{ID: "a", CustomerID: "c", Type: "login", Time: day0},
		{ID: "b", CustomerID: "c", Type: "login", Time: day0.AddDate(0, 0, 1)},
	}
	w.Write(events, day0, "")
	// A file where the second partition's directory should be.
	blocker := filepath.Join(dir, "date=2026-01-03")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	paths, err := w.Flush()
	if err == nil {
		t.Fatal("Flush with a blocked partition = nil error")
	}
	if len(paths) != 1 || w.Buffered() != 1 {
		t.Errorf("failed Flush wrote %v and kept %d buffered; want the first date written, the second kept", paths, w.Buffered())
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if paths := flush(t, w); len(paths) != 1 {
		t.Errorf("second Flush wrote %v, want one file", paths)
	}
	if diff := cmp.Diff(normalized(events), readAll(t, dir)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
