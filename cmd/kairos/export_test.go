package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kairos/features"
	"kairos/training/archive"
)

// writeArchive writes a small archive: n customers with a login and a
// purchase a day over days days from start.
func writeArchive(t *testing.T, dir string, n, days int, start time.Time) int {
	t.Helper()
	w, err := archive.NewWriter(dir, archive.WriterOptions{ID: "test", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for d := range days {
		var evs []features.Event
		for c := range n {
			at := start.Add(time.Duration(d)*24*time.Hour + time.Duration(c+1)*time.Minute)
			id := fmt.Sprintf("c%02d", c)
			evs = append(evs,
				features.Event{ID: fmt.Sprintf("%s-%d-l", id, d), CustomerID: id, Type: "login", Time: at},
				features.Event{ID: fmt.Sprintf("%s-%d-p", id, d), CustomerID: id, Type: "purchase", Time: at.Add(time.Hour),
					Properties: map[string]features.Value{"amount": features.Number(10), "category": features.String("books")}})
		}
		w.Write(evs, at(start, d), "")
		count += len(evs)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return count
}

func at(start time.Time, day int) time.Time { return start.Add(time.Duration(day+1) * 24 * time.Hour) }

func TestExportCommand(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	events := writeArchive(t, dir, 5, 10, start)
	out := filepath.Join(t.TempDir(), "train.parquet")
	var stdout, stderr bytes.Buffer
	env := testEnv(&stdout, &stderr, map[string]string{"KAIROS_SNAPSHOTS": "12h"})
	err := runEnv(context.Background(), env, []string{"export", "--archive", dir, "--out", out, "--from", "2026-06-02", "--to", "2026-06-09", "--json"})
	if err != nil {
		t.Fatalf("export: %v\n%s", err, stderr.String())
	}
	var st struct {
		Events, Rows, Snapshots int
	}
	if err := json.Unmarshal(stdout.Bytes(), &st); err != nil {
		t.Fatalf("stdout %q: %v", stdout.String(), err)
	}
	// Snapshots every 12h (from the environment) from June 2 to June 9.
	if st.Snapshots != 15 || st.Rows != 15*5 {
		t.Errorf("snapshots %d rows %d, want 15 and 75", st.Snapshots, st.Rows)
	}
	// Events after the last snapshot are not replayed.
	if st.Events <= 0 || st.Events >= events {
		t.Errorf("replayed %d of %d events", st.Events, events)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() == 0 {
		t.Fatalf("output: %v", err)
	}
	if !strings.Contains(stderr.String(), "export: wrote "+out) {
		t.Errorf("stderr lacks the summary: %s", stderr.String())
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*tmp*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestExportCommandErrors(t *testing.T) {
	dir := t.TempDir()
	writeArchive(t, dir, 2, 3, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	badDefs := filepath.Join(t.TempDir(), "features.yaml")
	os.WriteFile(badDefs, []byte("features:\n  - {name: x, event: login, agg: median}\n"), 0o644)
	corrupt := t.TempDir()
	writeArchive(t, corrupt, 2, 3, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	files, _ := filepath.Glob(filepath.Join(corrupt, "date=2026-06-02", "*.parquet"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	os.WriteFile(files[0], []byte("PAR1 not really"), 0o644)
	out := filepath.Join(t.TempDir(), "train.parquet")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", out}, "--archive is required"},
		{[]string{"--archive", dir}, "--out is required"},
		{[]string{"--archive", filepath.Join(dir, "nope"), "--out", out}, "nope"},
		{[]string{"--archive", dir, "--out", out, "--labels", "churn30,revenue7"}, `unknown label "revenue7"`},
		{[]string{"--archive", dir, "--out", out, "--snapshots", "sometimes"}, "snapshots"},
		{[]string{"--archive", dir, "--out", out, "--from", "June"}, "want a date"},
		{[]string{"--archive", dir, "--out", out, "--from", "2026-06-03", "--to", "2026-06-01"}, "before from"},
		{[]string{"--archive", dir, "--out", out, "--format", "csv"}, `format "csv"`},
		{[]string{"--archive", dir, "--out", out, "--activity-events", "login,purchse"}, `"purchse" is not an event type`},
		{[]string{"--archive", dir, "--out", out, "--to", "2026-07-01"}, "after the end of the data"},
		{[]string{"--archive", dir, "--out", out, "--features", badDefs}, "features.yaml:2"},
		{[]string{"--archive", corrupt, "--out", out}, "date=2026-06-02/part-test-"},
		{[]string{"--archive", dir, "--out", filepath.Join(t.TempDir(), "missing", "train.parquet")}, "missing"},
	} {
		var stderr bytes.Buffer
		env := testEnv(&bytes.Buffer{}, &stderr, nil)
		err := runEnv(context.Background(), env, append([]string{"export"}, tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("export %q: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed export left %s", out)
	}
}

func TestBenchExport(t *testing.T) {
	t.Setenv("KAIROS_TEST_AS_MAIN", "1") // children run kairos, not the tests
	dir := t.TempDir()
	events := writeArchive(t, dir, 20, 15, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	var stdout, stderr bytes.Buffer
	env := testEnv(&stdout, &stderr, nil)
	if err := runEnv(context.Background(), env, []string{"bench", "export", "--archive", dir, "--json"}); err != nil {
		t.Fatalf("bench export: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var r exportBenchResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	if r.Events <= 0 || r.Events > int64(events) || r.Rows <= 0 || r.EventsPerSec <= 0 ||
		r.BaselineReadEventsPerSec <= 0 || r.PeakRSSMiB <= 0 || r.Ratio <= 0 {
		t.Errorf("implausible result %+v (archive of %d events)", r, events)
	}
}
