package models_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kairos/features"
	"kairos/internal/prom"
	"kairos/models"
	"kairos/models/lgbm"
)

var set = features.Default()

// copyShipped copies the shipped models to a directory on disk.
func copyShipped(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, models.Shipped()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func open(t *testing.T, dir string, reg prometheus.Registerer) *models.Registry {
	t.Helper()
	r, err := models.New(models.Options{FS: os.DirFS(dir), Dir: dir, Set: set, Parse: lgbm.Parser, Registerer: reg, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// vectorOf builds a full feature vector from golden input i of m.
func vectorOf(t testing.TB, m *models.Model, i int) features.Vector {
	t.Helper()
	names := set.Names()
	vals := make([]float64, len(names))
	for k := range vals {
		vals[k] = math.NaN()
	}
	for j, v := range m.Manifest.Golden.Inputs[i] {
		k := slices.Index(names, m.Manifest.Features[j])
		if n, ok := v.(json.Number); ok {
			vals[k], _ = n.Float64()
		}
	}
	return features.Vector{Names: names, Values: vals}
}

func TestShippedModelsServeEveryTask(t *testing.T) {
	r, err := models.New(models.Options{FS: models.Shipped(), Set: set, Parse: lgbm.Parser})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range r.Status() {
		if st.State == models.StateRefused {
			t.Errorf("shipped model %s/%s refused: %s", st.Name, st.Version, st.Reason)
		}
	}
	var s models.Scores
	for ti, task := range models.Tasks {
		m := r.Serving(task)
		if m == nil {
			t.Fatalf("no shipped model serves %s", task)
		}
		for i := range m.Manifest.Golden.Inputs {
			r.Score(vectorOf(t, m, i), &s)
			var got []float64
			switch task {
			case models.Churn:
				got = []float64{s.Churn}
			case models.Propensity:
				got = []float64{s.Propensity}
			case models.NBA:
				got = s.NBA
				if !slices.Equal(s.Classes, m.Manifest.Classes) {
					t.Fatalf("classes %v, want %v", s.Classes, m.Manifest.Classes)
				}
			}
			for k, want := range m.Manifest.Golden.Outputs[i] {
				if math.Abs(got[k]-want) > models.GoldenTolerance {
					t.Fatalf("%s golden row %d output %d: Score gives %v, LightGBM %v", task, i, k, got[k], want)
				}
			}
			if want := m.Manifest.Name + "@" + m.Manifest.Version; s.Versions[ti] != want {
				t.Fatalf("Versions[%d] = %q, want %q", ti, s.Versions[ti], want)
			}
		}
	}
}

func TestScoreAllocatesNothing(t *testing.T) {
	r, err := models.New(models.Options{FS: models.Shipped(), Set: set, Parse: lgbm.Parser})
	if err != nil {
		t.Fatal(err)
	}
	vec := vectorOf(t, r.Serving(models.Churn), 0)
	var s models.Scores
	if n := testing.AllocsPerRun(200, func() { r.Score(vec, &s) }); n != 0 {
		t.Errorf("Score allocates %v times per call, want 0", n)
	}
}

// addVersion copies version from of model name to a new version, editing
// its manifest with edit, and (when model is non-nil) its model text.
func addVersion(t *testing.T, dir, name, from, to string, edit func(m map[string]any), model func(string) string) {
	t.Helper()
	src, dst := filepath.Join(dir, name, from), filepath.Join(dir, name, to)
	tmp := filepath.Join(dir, name, "_"+to) // copied in under a hidden name, then renamed
	if err := os.CopyFS(tmp, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	var man map[string]any
	data, _ := os.ReadFile(filepath.Join(tmp, "manifest.json"))
	if err := json.Unmarshal(data, &man); err != nil {
		t.Fatal(err)
	}
	man["version"] = to
	if edit != nil {
		edit(man)
	}
	data, _ = json.Marshal(man)
	os.WriteFile(filepath.Join(tmp, "manifest.json"), data, 0o644)
	if model != nil {
		text, _ := os.ReadFile(filepath.Join(tmp, "model.txt"))
		os.WriteFile(filepath.Join(tmp, "model.txt"), []byte(model(string(text))), 0o644)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

func servingOf(t *testing.T, r *models.Registry, task models.Task) *models.Model {
	t.Helper()
	m := r.Serving(task)
	if m == nil {
		t.Fatalf("nothing serves %s", task)
	}
	return m
}

func TestRefusedVersionsNeverServe(t *testing.T) {
	dir := copyShipped(t)
	reg := prometheus.NewRegistry()
	r := open(t, dir, reg)
	churn := servingOf(t, r, models.Churn)
	nba := servingOf(t, r, models.NBA)
	name, v := churn.Manifest.Name, churn.Manifest.Version
	cases := []struct {
		model, version string
		rule           string
		edit           func(map[string]any)
		text           func(string) string
	}{
		{name, "zz1-truncated", models.RuleParse, nil, func(s string) string { return s[:len(s)/2] }},
		{name, "zz2-format", models.RuleFormatVersion, nil, func(s string) string { return strings.Replace(s, "version=v4", "version=v9", 1) }},
		{name, "zz3-order", models.RuleFeatureNames, func(m map[string]any) {
			f := m["features"].([]any)
			f[0], f[1] = f[1], f[0]
		}, nil},
		{name, "zz4-undefined", models.RuleFeatureNames, func(m map[string]any) {
			f := m["features"].([]any)
			f[0] = "not_a_feature"
		}, func(s string) string {
			return strings.Replace(s, "feature_names="+churn.Manifest.Features[0]+" ", "feature_names=not_a_feature ", 1)
		}},
		{name, "zz5-parity", models.RuleGoldenParity, func(m map[string]any) {
			g := m["golden"].(map[string]any)["outputs"].([]any)
			row := g[0].([]any)
			row[0] = row[0].(float64) + 1e-3
		}, nil},
		{name, "zz6-manifest", models.RuleManifest, func(m map[string]any) { delete(m, "golden") }, nil},
		{name, "zz9-raw", models.RuleObjective, func(m map[string]any) { m["output"] = "raw" }, nil},
		{name, "zza-dirname", models.RuleManifest, func(m map[string]any) { m["version"] = "elsewhere" }, nil},
		{nba.Manifest.Name, "zz7-classes", models.RuleClassCount, func(m map[string]any) {
			c := m["classes"].([]any)
			m["classes"] = c[:len(c)-1]
		}, nil},
		{nba.Manifest.Name, "zz8-task", models.RuleObjective, func(m map[string]any) { m["task"] = "churn"; delete(m, "classes") }, nil},
	}
	for _, tc := range cases {
		from := churn.Manifest.Version
		if tc.model == nba.Manifest.Name {
			from = nba.Manifest.Version
		}
		addVersion(t, dir, tc.model, from, tc.version, tc.edit, tc.text)
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	got := map[string]models.Status{}
	for _, st := range r.Status() {
		got[st.Version] = st
	}
	for _, tc := range cases {
		st := got[tc.version]
		if st.State != models.StateRefused || !strings.HasPrefix(st.Reason, tc.rule+":") {
			t.Errorf("%s: state %s, reason %q; want refused by %s", tc.version, st.State, st.Reason, tc.rule)
		}
	}
	if m := servingOf(t, r, models.Churn); m.Manifest.Version != v {
		t.Errorf("a refused version replaced %s@%s: now %s", name, v, m.Manifest.Version)
	}
	if m := servingOf(t, r, models.NBA); m != nba {
		t.Errorf("a refused version replaced the nba model")
	}
	if n, _ := prom.Value(reg, "kairos_model_refused_total", map[string]string{"model": name, "rule": models.RuleGoldenParity}); n != 1 {
		t.Errorf("kairos_model_refused_total{rule=golden_parity} = %v, want 1", n)
	}
}

// TestHotSwapUnderConcurrentScoring: while goroutines score, new versions
// arrive and serve; every score comes from one whole model (run with -race).
func TestHotSwapUnderConcurrentScoring(t *testing.T) {
	dir := copyShipped(t)
	r := open(t, dir, nil)
	churn := servingOf(t, r, models.Churn)
	vec := vectorOf(t, churn, 0)
	want := churn.Manifest.Golden.Outputs[0][0]
	var stop atomic.Bool
	var wg sync.WaitGroup
	var versions sync.Map
	for range 4 {
		wg.Go(func() {
			var s models.Scores
			for !stop.Load() {
				r.Score(vec, &s)
				if math.Abs(s.Churn-want) > models.GoldenTolerance {
					t.Errorf("churn %v during a swap, want %v", s.Churn, want)
					return
				}
				versions.Store(s.Versions[0], true)
			}
		})
	}
	for i := range 5 {
		addVersion(t, dir, churn.Manifest.Name, churn.Manifest.Version, churn.Manifest.Version+"-h"+string(rune('a'+i)), nil, nil)
		if err := r.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if got := servingOf(t, r, models.Churn).Manifest.Version; got != churn.Manifest.Version+"-he" {
		t.Errorf("serving %s after the swaps, want the newest", got)
	}
	n := 0
	versions.Range(func(any, any) bool { n++; return true })
	if n < 2 {
		t.Errorf("scorers saw %d versions; the swaps did not reach them", n)
	}
}

func TestWatchServesANewVersionWithin5s(t *testing.T) {
	dir := copyShipped(t)
	r := open(t, dir, nil)
	churn := servingOf(t, r, models.Churn)
	ctx := t.Context()
	go r.Watch(ctx)
	time.Sleep(100 * time.Millisecond)
	// A broken version first: refused, the old one keeps serving.
	addVersion(t, dir, churn.Manifest.Name, churn.Manifest.Version, churn.Manifest.Version+"-x1", nil, func(s string) string { return s[:100] })
	time.Sleep(500 * time.Millisecond)
	if got := r.ServingVersion(churn.Manifest.Name); got != churn.Manifest.Version {
		t.Fatalf("serving %s after a broken version arrived", got)
	}
	start := time.Now()
	addVersion(t, dir, churn.Manifest.Name, churn.Manifest.Version, churn.Manifest.Version+"-x2", nil, nil)
	for r.ServingVersion(churn.Manifest.Name) != churn.Manifest.Version+"-x2" {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("the new version does not serve after 5s; status %+v", r.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("a new version served %v after it was dropped in", time.Since(start).Round(time.Millisecond))
}

func TestPromoteRollbackAndShadow(t *testing.T) {
	dir := copyShipped(t)
	r := open(t, dir, nil)
	churn := servingOf(t, r, models.Churn)
	name, v1 := churn.Manifest.Name, churn.Manifest.Version
	addVersion(t, dir, name, v1, v1+"-shadow", func(m map[string]any) { m["stage"] = "shadow" }, nil)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := r.ServingVersion(name); got != v1 {
		t.Fatalf("a shadow version serves: %s", got)
	}
	var s models.Scores
	r.Score(vectorOf(t, churn, 0), &s)
	if len(s.Shadow) != 1 || s.Shadow[0].Model != name+"@"+v1+"-shadow" || s.Shadow[0].Outputs[0] != s.Churn {
		t.Errorf("shadow scores %+v (churn %v)", s.Shadow, s.Churn)
	}
	if err := r.Promote(name, v1+"-shadow"); err != nil {
		t.Fatal(err)
	}
	if got := r.ServingVersion(name); got != v1+"-shadow" {
		t.Fatalf("after promote: %s serves", got)
	}
	if err := r.Rollback(name); err != nil {
		t.Fatal(err)
	}
	if got := r.ServingVersion(name); got != v1 {
		t.Fatalf("after rollback: %s serves, want %s", got, v1)
	}
	addVersion(t, dir, name, v1, v1+"-broken", nil, func(s string) string { return s[:200] })
	if err := r.Promote(name, v1+"-broken"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("promoting a broken version: %v", err)
	}
	if err := r.Rollback("no-such-model"); err == nil {
		t.Error("rollback of an unknown model succeeded")
	}
	emb, _ := models.New(models.Options{FS: models.Shipped(), Set: set, Parse: lgbm.Parser})
	if err := emb.Promote(name, v1); err == nil {
		t.Error("promote on the embedded models succeeded")
	}
}

func TestUnreadableDirectory(t *testing.T) {
	_, err := models.New(models.Options{FS: fstest.MapFS{"x": &fstest.MapFile{Data: []byte("file, not dir")}}, Set: set, Parse: lgbm.Parser})
	if err != nil {
		t.Fatalf("a directory without models is not an error: %v", err)
	}
	_, err = models.New(models.Options{FS: os.DirFS(filepath.Join(t.TempDir(), "missing")), Set: set, Parse: lgbm.Parser})
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v", err)
	}
}

func BenchmarkScore(b *testing.B) {
	r, err := models.New(models.Options{FS: models.Shipped(), Set: set, Parse: lgbm.Parser})
	if err != nil {
		b.Fatal(err)
	}
	m := r.Serving(models.Churn)
	var vecs []features.Vector
	for i := range m.Manifest.Golden.Inputs {
		vecs = append(vecs, vectorOf(b, m, i))
	}
	var s models.Scores
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Score(vecs[i%len(vecs)], &s)
		i++
	}
}

// TestRegistryKeepsServing: a refused version never leaves a task without
// a model or sends it back to an older one.
func TestRegistryKeepsServing(t *testing.T) {
	dir := copyShipped(t)
	r := open(t, dir, nil)
	churn := servingOf(t, r, models.Churn)
	name, v1 := churn.Manifest.Name, churn.Manifest.Version
	addVersion(t, dir, name, v1, v1+"-b", nil, nil)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := r.ServingVersion(name); got != v1+"-b" {
		t.Fatalf("serving %s, want the newest %s-b", got, v1)
	}
	// The serving version is overwritten in place with a broken file: its
	// validated copy keeps serving (not the older v1).
	model := filepath.Join(dir, name, v1+"-b", "model.txt")
	text, _ := os.ReadFile(model)
	os.WriteFile(model, text[:len(text)/2], 0o644)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := r.ServingVersion(name); got != v1+"-b" {
		t.Errorf("after an in-place overwrite: serving %s, want the validated %s-b", got, v1)
	}
	// A restart with serving.json pinning the refused version serves the
	// newest valid one rather than nothing.
	os.WriteFile(filepath.Join(dir, name, models.StateFile), []byte(`{"active": "`+v1+`-b"}`), 0o644)
	r2 := open(t, dir, nil)
	if got := r2.ServingVersion(name); got != v1 {
		t.Errorf("after a restart pinned to a refused version: serving %q, want %s", got, v1)
	}
}

// TestHotSwapBetweenDifferentModels: scorers see whole models only — each
// score matches the version reported beside it, while two different models
// swap back and forth.
func TestHotSwapBetweenDifferentModels(t *testing.T) {
	dir := copyShipped(t)
	r := open(t, dir, nil)
	churn, prop := servingOf(t, r, models.Churn), servingOf(t, r, models.Propensity)
	// The propensity model as a churn version: same inputs, other outputs.
	other := churn.Manifest.Version + "-p"
	tmp := filepath.Join(dir, churn.Manifest.Name, "_"+other)
	if err := os.CopyFS(tmp, os.DirFS(filepath.Join(dir, prop.Dir))); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(tmp, "manifest.json"))
	var man map[string]any
	json.Unmarshal(data, &man)
	man["name"], man["task"], man["version"], man["stage"] = churn.Manifest.Name, "churn", other, "shadow"
	data, _ = json.Marshal(man)
	os.WriteFile(filepath.Join(tmp, "manifest.json"), data, 0o644)
	os.Rename(tmp, filepath.Join(dir, churn.Manifest.Name, other))
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	vec := vectorOf(t, churn, 0)
	want := map[string]float64{
		churn.Manifest.Name + "@" + churn.Manifest.Version: churn.Manifest.Golden.Outputs[0][0],
		churn.Manifest.Name + "@" + other:                  prop.Manifest.Golden.Outputs[0][0],
	}
	if w := want[churn.Manifest.Name+"@"+other]; math.Abs(w-want[churn.Manifest.Name+"@"+churn.Manifest.Version]) < 1e-9 {
		t.Fatal("the two models score the test row alike; pick another row")
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	seen := make([]map[string]bool, 4)
	for g := range seen {
		seen[g] = map[string]bool{}
		wg.Go(func() {
			var s models.Scores
			for !stop.Load() {
				r.Score(vec, &s)
				w, ok := want[s.Versions[0]]
				if !ok || math.Abs(s.Churn-w) > models.GoldenTolerance {
					t.Errorf("churn %v from %s: a torn read", s.Churn, s.Versions[0])
					return
				}
				seen[g][s.Versions[0]] = true
			}
		})
	}
	for i := range 20 {
		v := other
		if i%2 == 1 {
			v = churn.Manifest.Version
		}
		if err := r.Promote(churn.Manifest.Name, v); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	all := map[string]bool{}
	for _, m := range seen {
		maps.Copy(all, m)
	}
	if len(all) != 2 {
		t.Errorf("scorers saw versions %v; want both", all)
	}
}
