package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	b := &Bar{opts: Options{Label: "simulate", Total: 90, Unit: "events"}}
	b.Step(45)
	b.Count(1_500_000)
	got := b.line(10 * time.Second)
	for _, want := range []string{"simulate: [", "50%", "45/90", "1,500,000 events", "150,000 events/s", "10s left"} {
		if !strings.Contains(got, want) {
			t.Errorf("line %q lacks %q", got, want)
		}
	}
}

func TestNotATerminalPrintsLinesAndSummary(t *testing.T) {
	var buf bytes.Buffer
	b := Start(&buf, Options{Label: "export", Unit: "rows", Interval: 5 * time.Millisecond})
	b.Count(42)
	time.Sleep(30 * time.Millisecond)
	b.Done()
	b.Done() // idempotent
	out := buf.String()
	if strings.Contains(out, "\r") {
		t.Errorf("redraws in place on a non-terminal: %q", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[len(lines)-1], "export: 42 rows in ") {
		t.Errorf("want periodic lines then a summary, got %q", out)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
