package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/metadata"

	kairosv1 "kairos/api/proto/kairos/v1"
	"kairos/features"
	"kairos/internal/logbuf"
	"kairos/internal/progress"
	"kairos/internal/sim"
	"kairos/training/archive"
)

// collect is a sim.Sink that keeps everything.
type collect struct {
	records map[string]features.Customer
	events  []features.Event
}

func (c *collect) Customers(_ context.Context, cs []features.Customer) error {
	for _, r := range cs {
		c.records[r.ID] = r
	}
	return nil
}

func (c *collect) Events(_ context.Context, evs []features.Event) error {
	c.events = append(c.events, evs...)
	return nil
}

// world simulates cfg in the test, as simulate does.
func world(t *testing.T, cfg sim.Config) (*collect, *sim.Result) {
	t.Helper()
	w, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &collect{records: map[string]features.Customer{}}
	res, err := w.Run(t.Context(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, res
}

func runSimulate(t *testing.T, args ...string) (stdout string, err error) {
	t.Helper()
	var out strings.Builder
	stderr := &logbuf.Buffer{}
	err = run(t.Context(), append([]string{"simulate"}, args...), &out, stderr)
	if !strings.Contains(stderr.String(), "simulate: ") && err == nil {
		t.Errorf("stderr shows no progress:\n%s", stderr)
	}
	return out.String(), err
}

func today() time.Time { return time.Now().UTC().Truncate(24 * time.Hour) }

// TestSimulateTarget drives a Kairos on the embedded store and checks that
// it ends up holding the simulated customers' records and features.
func TestSimulateTarget(t *testing.T) {
	// The built-in campaigns' triggers decide by themselves here too;
	// without a dispatcher they send nothing, so the features are the
	// simulator's events alone.
	inst := startServe(t, "--dispatch=false")
	end := today()
	args := []string{"--target", inst.grpcAddr, "--customers", "40", "--days", "4", "--seed", "3", "--concurrency", "3", "--end", end.Format(time.DateOnly)}
	stdout, err := runSimulate(t, args...)
	if err != nil {
		t.Fatalf("simulate: %v\n%s", err, stdout)
	}
	want, res := world(t, sim.Config{Customers: 40, Days: 4, Seed: 3, End: end})
	if line := fmt.Sprintf("%s events accepted, 0 duplicates, 0 rejected", progress.Thousands(res.Events)); !strings.Contains(stdout, line) {
		t.Errorf("stdout lacks %q:\n%s", line, stdout)
	}

	count := map[string]map[string]float64{}
	for _, e := range want.events {
		if count[e.CustomerID] == nil {
			count[e.CustomerID] = map[string]float64{}
		}
		count[e.CustomerID][e.Type]++
		if e.Type == "purchase" {
			count[e.CustomerID]["revenue"] += e.Properties["amount"].Num
		}
	}
	if len(want.records) != 40 {
		t.Fatalf("the world has %d customers, want 40", len(want.records))
	}
	for id, rec := range want.records {
		p, err := inst.client.GetProfile(t.Context(), &kairosv1.GetProfileRequest{CustomerId: id})
		if err != nil {
			t.Fatal(err)
		}
		got := customerFromPB(p.Customer)
		if diff := cmp.Diff(rec, got); diff != "" {
			t.Errorf("record of %s (-want +got):\n%s", id, diff)
		}
		n := count[id]
		// Four days lie within every window below, so they are exact.
		for name, want := range map[string]float64{
			"page_views_7d": n["page_view"], "sessions_7d": n["session_start"], "logins_7d": n["login"],
			"purchases_90d": n["purchase"], "messages_delivered_30d": n["message_delivered"],
		} {
			if got := feature(t, p, name); got != want {
				t.Errorf("%s: %s = %v, want %v", id, name, got, want)
			}
		}
		if got := feature(t, p, "revenue_90d"); math.Abs(got-n["revenue"]) > 1e-6 {
			t.Errorf("%s: revenue_90d = %v, want %v", id, got, n["revenue"])
		}
	}

	// Again: every event is a duplicate.
	stdout, err = runSimulate(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	if line := fmt.Sprintf("0 events accepted, %s duplicates, 0 rejected", progress.Thousands(res.Events)); !strings.Contains(stdout, line) {
		t.Errorf("second run: stdout lacks %q:\n%s", line, stdout)
	}
}

func customerFromPB(c *kairosv1.Customer) features.Customer {
	if c == nil {
		return features.Customer{}
	}
	return features.Customer{ID: c.CustomerId, Email: c.Email, Phone: c.Phone, PushToken: c.PushToken,
		Timezone: c.Timezone, Consents: c.Consents, Attributes: c.Attributes}
}

// TestSimulateOut writes an archive and the ground truth beside it.
func TestSimulateOut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "archive")
	truth := filepath.Join(t.TempDir(), "truth.json")
	args := []string{"--out", dir, "--customers", "60", "--days", "5", "--seed", "2", "--end", "2026-01-10"}
	stdout, err := runSimulate(t, append(args, "--truth", truth)...)
	if err != nil {
		t.Fatalf("simulate: %v\n%s", err, stdout)
	}
	want, res := world(t, sim.Config{Customers: 60, Days: 5, Seed: 2, End: time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)})

	r, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.Count(); err != nil || n != res.Events {
		t.Errorf("archive holds %d events (%v), want %d", n, err, res.Events)
	}
	if days := r.Days(); len(days) != 5 || !days[0].Equal(time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("archive days %v, want 2026-01-05 to 2026-01-09", days)
	}
	day, err := r.ReadDay(time.Date(2026, 1, 7, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var wantDay []features.Event
	for _, e := range want.events {
		if e.Time.UTC().Format(time.DateOnly) == "2026-01-07" {
			wantDay = append(wantDay, e)
		}
	}
	if diff := cmp.Diff(wantDay, day); diff != "" {
		t.Errorf("archived 2026-01-07 (-want +got):\n%s", diff)
	}

	sd := filepath.Join(dir, "_sim")
	lines := readLines(t, filepath.Join(sd, "customers.jsonl"))
	if len(lines) != 60 {
		t.Errorf("customers.jsonl has %d lines, want 60", len(lines))
	}
	var line struct {
		features.Customer
		Traits sim.Traits `json:"traits"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil || line.ID != "c000000" || line.Traits.Segment == "" || line.Consents == nil {
		t.Errorf("customers.jsonl line 1 = %s (%v), want a record with traits", lines[0], err)
	}
	f, err := os.Open(filepath.Join(sd, "decisions.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != len(res.Decisions)+1 || rows[0][0] != "decision_id" {
		t.Errorf("decisions.csv: %d rows (%v), want a header and %d decisions", len(rows), err, len(res.Decisions))
	}
	var summary struct {
		Events int64            `json:"events"`
		ByType map[string]int64 `json:"events_by_type"`
		ByDate map[string]int64 `json:"events_by_date"`
	}
	readJSON(t, filepath.Join(sd, "summary.json"), &summary)
	if summary.Events != res.Events || len(summary.ByDate) != 5 || summary.ByType["page_view"] != res.ByType["page_view"] {
		t.Errorf("summary.json = %+v, want %d events over 5 dates", summary, res.Events)
	}
	var tr sim.Truth
	readJSON(t, truth, &tr)
	if len(tr.Campaigns) != 3 || tr.Seed != 2 || tr.Params == nil {
		t.Errorf("--truth file holds %d campaigns, seed %d", len(tr.Campaigns), tr.Seed)
	}
	if _, err := os.Stat(filepath.Join(sd, "truth.json")); err == nil {
		t.Error("--truth given, but truth.json written to _sim too")
	}

	// The directory now holds an archive: simulate will not mix a second
	// world into it.
	if _, err := runSimulate(t, args...); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("simulate into a non-empty --out = %v, want an error saying so", err)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestSimulateSpeed: --speed paces the events by simulated time.
func TestSimulateSpeed(t *testing.T) {
	inst := startServe(t)
	start := time.Now()
	// One day at 2 days per second: half a second.
	if _, err := runSimulate(t, "--target", inst.grpcAddr, "--customers", "20", "--days", "1", "--speed", "172800"); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Errorf("simulate --speed 172800 of one day took %s, want about 500ms", el)
	}
}

func TestSimulateRefusals(t *testing.T) {
	const key = "sim-test-key-0123456789"
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	if err := os.WriteFile(keys, []byte(fmt.Sprintf("keys:\n  - {name: app, key: %q, scopes: [track]}\n", key)), 0o600); err != nil {
		t.Fatal(err)
	}
	authed := startServe(t, "--api-keys", keys)
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tomorrow := today().AddDate(0, 0, 1).Format(time.DateOnly)
	small := []string{"--customers", "5", "--days", "1"}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"nowhere to write", small, nil, []string{"nothing to write to", "--out DIR", "--target ADDR"}},
		{"no customers", []string{"--out", "x", "--customers", "0"}, nil, []string{"--customers must be 1 to"}},
		{"no days", []string{"--out", "x", "--days", "0"}, nil, []string{"--days must be 1 to"}},
		{"bad end", []string{"--out", "x", "--end", "2026-13-01"}, nil, []string{`--end must be a date YYYY-MM-DD, got "2026-13-01"`}},
		{"future end with target", append([]string{"--target", "127.0.0.1:1", "--end", tomorrow}, small...), nil, []string{"is in the future", "--end " + today().Format(time.DateOnly)}},
		{"end too early", []string{"--out", "x", "--end", "2005-01-05", "--days", "30"}, nil, []string{"before 2005-01-01"}},
		{"no concurrency", []string{"--target", "x:1", "--concurrency", "0"}, nil, []string{"--concurrency must be at least 1"}},
		{"negative speed", []string{"--target", "x:1", "--speed", "-1"}, nil, []string{"--speed must be 0"}},
		{"key without target", []string{"--out", "x", "--api-key", "k"}, nil, []string{"--api-key is for --target"}},
		{"stray argument", []string{"--out", "x", "now"}, nil, []string{"simulate takes no arguments"}},
		{"bad flag", []string{"--customer", "5"}, nil, []string{"flag provided but not defined: -customer", "kairos simulate -h"}},
		{"bad env", []string{"--out", "x"}, map[string]string{"KAIROS_CUSTOMERS": "many"}, []string{`KAIROS_CUSTOMERS="many"`}},
		{"non-empty out", append([]string{"--out", full}, small...), nil, []string{"--out", "is not empty"}},
		{"unreachable target", append([]string{"--target", "127.0.0.1:1"}, small...), nil, []string{"cannot reach Kairos at 127.0.0.1:1", "kairos serve"}},
		{"no key", append([]string{"--target", authed.grpcAddr}, small...), nil, []string{"refused UpsertCustomer", "--api-key"}},
		{"key lacks a scope", append([]string{"--target", authed.grpcAddr, "--api-key", key}, small...), nil, []string{"customers:write"}},
		{"key from the environment", append([]string{"--target", authed.grpcAddr}, small...), map[string]string{"KAIROS_API_KEY": key}, []string{"customers:write"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := testEnv(nil, nil, tt.env)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			err := runEnv(ctx, env, append([]string{"simulate"}, tt.args...))
			if err == nil {
				t.Fatal("simulate returned nil")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
	// The key works for what it may do.
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+key)
	if _, err := authed.client.Track(ctx, &kairosv1.TrackRequest{Events: []*kairosv1.Event{{EventId: "e", CustomerId: "c", Type: "login"}}}); err != nil {
		t.Errorf("Track with the key: %v", err)
	}
}

func TestParseSimulate(t *testing.T) {
	env := testEnv(nil, nil, map[string]string{
		"KAIROS_CUSTOMERS": "100", "KAIROS_DAYS": "30", "KAIROS_SEED": "9", "KAIROS_END": "2026-01-01",
		"KAIROS_OUT": "/tmp/a", "KAIROS_TRUTH": "/tmp/t.json", "KAIROS_TARGET": "127.0.0.1:7400",
		"KAIROS_API_KEY": "k", "KAIROS_CONCURRENCY": "8", "KAIROS_SPEED": "60",
	})
	got, err := parseSimulate(env, []string{"--days", "7"})
	if err != nil {
		t.Fatal(err)
	}
	want := simulateConfig{customers: 100, days: 7, seed: 9, end: "2026-01-01", out: "/tmp/a", truth: "/tmp/t.json",
		target: "127.0.0.1:7400", apiKey: "k", concurrency: 8, speed: 60}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(simulateConfig{})); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	got, err = parseSimulate(testEnv(nil, nil, nil), []string{"--out", "d"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (simulateConfig{customers: 20000, days: 90, seed: 7, out: "d", concurrency: 4}); got != want {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}
	var help strings.Builder
	if err := run(t.Context(), []string{"simulate", "-h"}, io.Discard, &help); err != nil {
		t.Errorf("simulate -h = %v", err)
	}
	for _, want := range []string{"-customers", "-target", "environment variable, KAIROS_"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("simulate -h lacks %q:\n%s", want, help.String())
		}
	}
}
