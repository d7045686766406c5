package archive_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kairos/features"
	"kairos/internal/pyenv"
)

// TestPythonReadsArchive checks the archive with pyarrow.dataset and pandas,
// as the training pipeline reads it.
func TestPythonReadsArchive(t *testing.T) {
	py := pyenv.Python(t, "pyarrow", "pandas")
	script, err := filepath.Abs("../python/check_archive.py")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	types := []string{"page_view", "purchase", "login"}
	var events []features.Event
	dates, byType := map[string]int{}, map[string]int{}
	for i := range 300 {
		at := day0.Add(time.Duration(i) * 17 * time.Minute) // about 3.5 days
		e := features.Event{ID: "e" + time.Duration(i).String(), CustomerID: "c" + string(rune('a'+i%5)), Type: types[i%3], Time: at}
		switch e.Type {
		case "purchase":
			e.Properties = props{"amount": num(float64(i)), "currency": str("EUR"), "coupon": flag(i%2 == 0)}
		case "page_view":
			e.Properties = props{"page": str("/p"), "ab": str("b")}
		}
		events = append(events, e)
		dates[at.UTC().Format(time.DateOnly)]++
		byType[e.Type]++
	}
	w := newWriter(t, dir, "py")
	w.Write(events[:200], day0, "1-0")
	flush(t, w)
	w.Write(events[200:], day0, "2-0")
	// A duplicate: rows are counted as they are in the files.
	w.Write(events[:1], day0, "1-0")
	dates[events[0].Time.Format(time.DateOnly)]++
	byType[events[0].Type]++
	flush(t, w)
	// Leftovers the Go reader ignores must not trouble pyarrow either.
	if err := os.WriteFile(filepath.Join(dir, "date=2026-01-02", "part-py-000099.parquet.tmp-12345678"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}

	run := func(expected map[string]any) (string, error) {
		b, err := json.Marshal(expected)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "expected.json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(py, script, dir, path).CombinedOutput()
		return string(out), err
	}
	out, err := run(map[string]any{"version": "1", "dates": dates, "types": byType})
	if err != nil {
		t.Fatalf("check_archive.py: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(out))

	// The check does check: a wrong count fails, naming it.
	byType["login"]++
	out, err = run(map[string]any{"version": "1", "dates": dates, "types": byType})
	if err == nil || !strings.Contains(out, "type login:") {
		t.Errorf("check_archive.py with a wrong login count = %v, %q; want a failure naming it", err, out)
	}
}
