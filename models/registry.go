package models

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kairos/features"
)

// StateFile is the file in a model's directory that records which version
// serves: {"active": version, "history": [earlier active versions, newest
// first]}. `kairos models promote` and `rollback` write it; without it, the
// newest valid version whose manifest says stage "active" serves.
const StateFile = "serving.json"

// DefaultPoll is how often Watch looks for changes in the model directory.
const DefaultPoll = time.Second

// Options configures a Registry.
type Options struct {
	// FS is the model directory: <name>/<version>/{manifest.json,model.txt}.
	FS fs.FS
	// Dir is the directory's path on disk, when it is on disk; Promote and
	// Rollback need it. Empty for an embedded directory.
	Dir string
	// Set is the feature definitions the models' features must come from.
	Set *features.Set
	// Parse reads model files: lgbm.Parser.
	Parse      Parser
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Poll is Watch's interval; zero: DefaultPoll.
	Poll time.Duration
}

// Registry holds the validated models and serves the active one of each
// task, with atomic hot swaps: Score always sees one consistent set.
type Registry struct {
	opts    Options
	logger  *slog.Logger
	metrics *metrics
	cur     atomic.Pointer[serving]

	mu     sync.Mutex // serialises reloads
	cache  map[string]cached
	status []Status
	// print is the directory's fingerprint as the last reload found it.
	print atomic.Uint64
}

// serving is one consistent set of models: what Score reads.
type serving struct {
	byTask  [3]*Model // by index in Tasks
	shadows []*Model
	byName  map[string]*Model // the active version of each name
}

// cached is a validated (or refused) version and the fingerprint of the
// files it was read from.
type cached struct {
	print uint64
	model *Model
	err   error
}

// Status is the state of one model version, for `kairos models status`.
type Status struct {
	Name    string             `json:"name"`
	Version string             `json:"version"`
	Task    Task               `json:"task,omitempty"`
	Stage   string             `json:"stage,omitempty"` // the manifest's
	State   string             `json:"state"`           // serving, shadow, standby or refused
	Reason  string             `json:"reason,omitempty"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
}

// The states of a version.
const (
	StateServing = "serving"
	StateShadow  = "shadow"
	StateStandby = "standby" // valid, not serving
	StateRefused = "refused"
)

// New loads every model of the directory and returns a registry serving
// them. Refused versions are logged and reported by Status; they are not an
// error. Only an unreadable directory is.
func New(opts Options) (*Registry, error) {
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.FS == nil || opts.Set == nil || opts.Parse == nil {
		return nil, errors.New("models: Options.FS, Set and Parse are required")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Registry{opts: opts, logger: logger.With("component", "models"), metrics: newMetrics(opts.Registerer), cache: map[string]cached{}}
	r.cur.Store(&serving{byName: map[string]*Model{}})
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the directory again: new and changed versions are validated,
// and the serving set is swapped atomically. A refused version never
// replaces the one serving.
func (r *Registry) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.metrics.reloads.Inc()
	r.print.Store(fingerprint(r.opts.FS, "."))
	names, err := dirs(r.opts.FS, ".")
	if err != nil {
		return fmt.Errorf("models: read the model directory: %w", err)
	}
	prev := r.cur.Load()
	next := &serving{byName: map[string]*Model{}}
	var status []Status
	seen := map[string]bool{}
	for _, name := range names {
		st, active, shadows := r.resolve(name, prev.byName[name])
		status = append(status, st...)
		if active != nil {
			next.byName[name] = active
		}
		next.shadows = append(next.shadows, shadows...)
		for _, s := range st {
			seen[path.Join(name, s.Version)] = true
		}
	}
	for dir := range r.cache {
		if !seen[dir] {
			delete(r.cache, dir)
		}
	}
	// One model per task: on a conflict the one that served before wins,
	// else the first name.
	for _, name := range slices.Sorted(maps.Keys(next.byName)) {
		m := next.byName[name]
		t := slices.Index(Tasks, m.Manifest.Task)
		if other := next.byTask[t]; other != nil {
			loser := m
			if p := prev.byTask[t]; p != nil && p.Manifest.Name == m.Manifest.Name {
				loser, next.byTask[t] = other, m
			}
			delete(next.byName, loser.Manifest.Name)
			msg := fmt.Sprintf("task %s already served by %s", loser.Manifest.Task, next.byTask[t].idString)
			markRefused(status, loser, RuleTask, msg)
			r.metrics.refused.WithLabelValues(loser.Manifest.Name, RuleTask).Inc()
			r.logger.Error("model refused", "model", loser.Dir, "rule", RuleTask, "err", msg)
			continue
		}
		next.byTask[t] = m
	}
	r.cur.Store(next)
	r.status = status
	r.metrics.observe(status)
	return nil
}

// resolve validates the versions of one model name and picks the serving
// and shadow versions. current is the version serving now, if any.
func (r *Registry) resolve(name string, current *Model) (status []Status, active *Model, shadows []*Model) {
	versions, err := dirs(r.opts.FS, name)
	if err != nil {
		return []Status{{Name: name, State: StateRefused, Reason: err.Error()}}, current, nil
	}
	slices.SortFunc(versions, compareVersions)
	var valid []*Model
	for _, v := range versions {
		dir := path.Join(name, v)
		m, err := r.load(dir)
		st := Status{Name: name, Version: v, State: StateStandby}
		if err != nil {
			st.State, st.Reason = StateRefused, err.Error()
			if m := r.partialManifest(dir); m != nil {
				st.Task, st.Stage = m.Task, m.Stage
			}
		} else {
			st.Task, st.Stage, st.Metrics = m.Manifest.Task, m.Manifest.Stage, m.Manifest.Metrics
			valid = append(valid, m)
		}
		status = append(status, st)
	}
	want, pinned, stateErr := r.wanted(name, valid)
	// The serving version's files changed and are refused now (overwritten
	// in place, half copied)?
	curRefused := current != nil && slices.Contains(versions, current.Manifest.Version) &&
		!slices.ContainsFunc(valid, func(m *Model) bool { return m.Manifest.Version == current.Manifest.Version })
	switch i := slices.IndexFunc(valid, func(m *Model) bool { return m.Manifest.Version == want }); {
	case stateErr != nil:
		r.logger.Error("model serving state unreadable; keeping the serving version", "model", name, "err", stateErr)
		active = current
	case curRefused && !pinned:
		// Keep its validated copy rather than fall back to an older
		// version.
		active = current
		r.logger.Warn("serving model version changed on disk and is refused; its validated copy keeps serving", "model", name, "version", current.Manifest.Version)
	case i >= 0:
		active = valid[i]
	case current != nil:
		// The wanted version is refused (or gone): keep what serves.
		active = current
		r.logger.Warn("model version wanted but not valid; the serving version keeps serving",
			"model", name, "wanted", want, "serving", current.Manifest.Version)
	default:
		// Nothing serves yet (a restart): the newest valid active version
		// rather than nothing.
		for k := len(valid) - 1; k >= 0; k-- {
			if valid[k].Manifest.Stage == StageActive {
				active = valid[k]
				break
			}
		}
		if active != nil && want != "" {
			r.logger.Warn("model version wanted but not valid; serving the newest valid version",
				"model", name, "wanted", want, "serving", active.Manifest.Version)
		}
	}
	for i := range status {
		switch {
		case active != nil && status[i].Version == active.Manifest.Version && status[i].State != StateRefused:
			status[i].State = StateServing
		case status[i].State == StateStandby && status[i].Stage == StageShadow:
			status[i].State = StateShadow
		}
	}
	for _, m := range valid {
		if m.Manifest.Stage == StageShadow && m != active {
			shadows = append(shadows, m)
		}
	}
	return status, active, shadows
}

// wanted returns the version that should serve: the state file's (pinned),
// or the newest valid version with stage active ("" when there is none).
func (r *Registry) wanted(name string, valid []*Model) (version string, pinned bool, err error) {
	st, err := readState(r.opts.FS, name)
	if err != nil {
		return "", false, err
	}
	if st.Active != "" {
		return st.Active, true, nil
	}
	for i := len(valid) - 1; i >= 0; i-- {
		if valid[i].Manifest.Stage == StageActive {
			return valid[i].Manifest.Version, false, nil
		}
	}
	return "", false, nil
}

// load validates one version directory, reusing the last result while its
// files are unchanged.
func (r *Registry) load(dir string) (*Model, error) {
	p := fingerprint(r.opts.FS, dir)
	if c, ok := r.cache[dir]; ok && c.print == p {
		return c.model, c.err
	}
	m, err := Load(r.opts.FS, dir, r.opts.Set, r.opts.Parse)
	r.cache[dir] = cached{print: p, model: m, err: err}
	if err != nil {
		rule := RuleParse
		var re *RuleError
		if errors.As(err, &re) {
			rule = re.Rule
		}
		r.metrics.refused.WithLabelValues(path.Dir(dir), rule).Inc()
		r.logger.Error("model refused", "model", dir, "rule", rule, "err", err)
	} else {
		r.logger.Info("model validated", "model", dir, "task", m.Manifest.Task, "stage", m.Manifest.Stage,
			"features", len(m.Manifest.Features), "golden_rows", len(m.Manifest.Golden.Inputs))
	}
	return m, err
}

// validated validates one version directory through the reload cache:
// versions the registry has seen are not read and checked again.
func (r *Registry) validated(dir string) (*Model, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.load(dir)
}

// partialManifest reads a refused version's manifest for its task and
// stage, if it parses at all.
func (r *Registry) partialManifest(dir string) *Manifest {
	data, err := fs.ReadFile(r.opts.FS, path.Join(dir, "manifest.json"))
	if err != nil {
		return nil
	}
	var m Manifest
	if json.Unmarshal(data, &m) != nil {
		return nil
	}
	return &m
}

// Status reports every version and what the registry does with it.
func (r *Registry) Status() []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.status)
}

// Serving returns the model serving a task, or nil.
func (r *Registry) Serving(t Task) *Model {
	i := slices.Index(Tasks, t)
	if i < 0 {
		return nil
	}
	return r.cur.Load().byTask[i]
}

// FS returns the model directory the registry reads.
func (r *Registry) FS() fs.FS { return r.opts.FS }

// ServingVersion returns the version of model name that serves, or "".
func (r *Registry) ServingVersion(name string) string {
	if m := r.cur.Load().byName[name]; m != nil {
		return m.Manifest.Version
	}
	return ""
}

// Watch reloads the registry whenever the model directory changes, until
// ctx ends. A model dropped in (or a promote/rollback) serves within one
// poll interval plus its validation.
func (r *Registry) Watch(ctx context.Context) error {
	t := time.NewTicker(r.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if fingerprint(r.opts.FS, ".") == r.print.Load() {
			continue
		}
		if err := r.Reload(); err != nil {
			r.logger.Error("reload models", "err", err)
		}
	}
}

func markRefused(status []Status, m *Model, rule, msg string) {
	for i := range status {
		if status[i].Name == m.Manifest.Name && status[i].Version == m.Manifest.Version {
			status[i].State, status[i].Reason = StateRefused, rule+": "+msg
		}
	}
}

// dirs lists the sub-directories of dir, skipping names starting with "."
// or "_".
func dirs(fsys fs.FS, dir string) ([]string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && !strings.HasPrefix(e.Name(), "_") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// fingerprint hashes the names, sizes and modification times of every file
// below dir: cheap enough to poll every second.
func fingerprint(fsys fs.FS, dir string) uint64 {
	h := fnv.New64a()
	fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			fmt.Fprintf(h, "%s!%v;", p, err)
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			fmt.Fprintf(h, "%s:%d:%d;", p, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return h.Sum64()
}

// compareVersions orders versions as strings, except that runs of digits
// compare as numbers (v9 < v10).
func compareVersions(a, b string) int {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// state is the content of StateFile.
type state struct {
	Active  string   `json:"active"`
	History []string `json:"history,omitempty"`
}

func readState(fsys fs.FS, name string) (state, error) {
	var st state
	data, err := fs.ReadFile(fsys, path.Join(name, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("%s: %w", path.Join(name, StateFile), err)
	}
	return st, nil
}

// maxHistory bounds the versions a state file remembers for rollback.
const maxHistory = 20

// Promote makes version serve for model name, remembering the version
// serving now for Rollback. The version must be valid. A registry watching
// the directory (kairos serve) switches within a poll interval.
func (r *Registry) Promote(name, version string) error {
	if r.opts.Dir == "" {
		return errors.New("models: promote needs a model directory on disk (--models DIR)")
	}
	m, err := r.validated(path.Join(name, version))
	if err != nil {
		return fmt.Errorf("models: %s/%s is refused, not promoted: %w", name, version, err)
	}
	if m.Manifest.Name != name {
		return fmt.Errorf("models: %s/%s: its manifest names model %q", name, version, m.Manifest.Name)
	}
	st, err := readState(r.opts.FS, name)
	if err != nil {
		return err
	}
	cur := r.cur.Load().byName[name]
	if cur != nil && cur.Manifest.Version == version {
		return fmt.Errorf("models: %s/%s already serves", name, version)
	}
	if cur != nil {
		st.History = append([]string{cur.Manifest.Version}, st.History...)
	}
	st.Active = version
	return r.writeState(name, st)
}

// Rollback makes the version that served before the current one serve
// again: the newest entry of the state file's history, or else the newest
// valid active-stage version older than the one serving.
func (r *Registry) Rollback(name string) error {
	if r.opts.Dir == "" {
		return errors.New("models: rollback needs a model directory on disk (--models DIR)")
	}
	st, err := readState(r.opts.FS, name)
	if err != nil {
		return err
	}
	cur := r.cur.Load().byName[name]
	if cur == nil {
		return fmt.Errorf("models: %s has no serving version to roll back from", name)
	}
	for len(st.History) > 0 {
		prev := st.History[0]
		st.History = st.History[1:]
		if _, err := r.validated(path.Join(name, prev)); err == nil && prev != cur.Manifest.Version {
			st.Active = prev
			return r.writeState(name, st)
		}
	}
	// No usable history: the newest valid active-stage version older than
	// the current one.
	versions, err := dirs(r.opts.FS, name)
	if err != nil {
		return err
	}
	slices.SortFunc(versions, compareVersions)
	for i := len(versions) - 1; i >= 0; i-- {
		v := versions[i]
		if compareVersions(v, cur.Manifest.Version) >= 0 {
			continue
		}
		if m, err := r.validated(path.Join(name, v)); err == nil && m.Manifest.Stage == StageActive {
			st.Active = v
			return r.writeState(name, st)
		}
	}
	return fmt.Errorf("models: %s: no earlier valid version to roll back to from %s", name, cur.Manifest.Version)
}

// writeState writes the state file atomically and reloads.
func (r *Registry) writeState(name string, st state) error {
	if len(st.History) > maxHistory {
		st.History = st.History[:maxHistory]
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	dst := filepath.Join(r.opts.Dir, name, StateFile)
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("models: write %s: %w", dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("models: write %s: %w", dst, err)
	}
	return r.Reload()
}
