package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDemo runs a small demo end to end: Kairos in-process, the simulator
// deciding through it over gRPC on the simulated clock, the reward join,
// and the reports beside the true effects.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a simulated month")
	}
	var out bytes.Buffer
	err := runEnv(context.Background(), testEnv(&out, nil, nil),
		[]string{"demo", "--customers", "2000", "--days", "30", "--end", "2026-03-01", "--no-serve"})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, c := range demoCampaigns {
		if !strings.Contains(text, "\n"+c+" — ") {
			t.Errorf("no report of %s:\n%s", c, text)
		}
	}
	// Kairos's reward join sees exactly what the simulator says happened.
	agree := regexp.MustCompile(`outcome \(conversion and value\): ([0-9,]+) of ([0-9,]+) decisions`).FindAllStringSubmatch(text, -1)
	if len(agree) != len(demoCampaigns) {
		t.Fatalf("want %d join checks, got %d:\n%s", len(demoCampaigns), len(agree), text)
	}
	for _, m := range agree {
		if m[1] != m[2] || m[2] == "0" {
			t.Errorf("reward join agrees on %s of %s decisions, want all:\n%s", m[1], m[2], text)
		}
	}
	if strings.Contains(text, "events rejected") {
		t.Errorf("events rejected on the simulated clock:\n%s", text)
	}
	m := regexp.MustCompile(`(\d+) of (\d+) true effects inside`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no coverage line:\n%s", text)
	}
	inside, _ := strconv.Atoi(m[1])
	total, _ := strconv.Atoi(m[2])
	// Simultaneous 95% intervals: every true effect inside.
	if total < 6 || inside != total {
		t.Errorf("%d of %d true effects inside the intervals:\n%s", inside, total, text)
	}
	t.Log(text)
}
