package decisioning

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"kairos/decisioning/bandit"
	"kairos/features"
	"kairos/models"
)

// Limits on a Decide request.
const (
	MaxCampaignsPerRequest = 16
	MaxRequestIDBytes      = 128
	MaxContextEntries      = 32
	maxContextKeyBytes     = 64
	maxContextValueBytes   = 1024
)

// DefaultDeadline bounds a Decide whose caller allows more time.
const DefaultDeadline = 50 * time.Millisecond

// maxConflicts is how often Decide decides again when sends changed under
// it before it gives up (NO_ACTION, reason "contention").
const maxConflicts = 3

// DefaultRefresh is how often an Engine reloads the shared policy state.
const DefaultRefresh = time.Second

// ErrNotFound is returned for a decision or campaign that does not exist.
var ErrNotFound = errors.New("decisioning: not found")

// Request is one Decide call.
type Request struct {
	CustomerID string
	Campaigns  []string
	RequestID  string
	Context    map[string]string
}

// Options configures an Engine.
type Options struct {
	Config *Config
	Set    *features.Set
	State  State
	Scorer Scorer
	// Policies keeps the shared bandit state; required.
	Policies PolicyStore
	// Deadline bounds each Decide (DefaultDeadline when zero); a caller's
	// earlier deadline wins.
	Deadline time.Duration
	Logger   *slog.Logger
	// Registerer receives the engine's metrics; nil: not registered.
	Registerer prometheus.Registerer
	// Now returns the current time; nil: time.Now.
	Now func() time.Time
	// Uniform returns a uniform number in [0, 1) for the policy's draw
	// of decision d (its customer, campaign and request id are set); nil:
	// math/rand/v2. A function of d alone makes the draws reproducible
	// whatever the order of concurrent decisions.
	Uniform func(d *Decision) float64
}

// Engine makes decisions. It is safe for concurrent use.
type Engine struct {
	cfg      *Config
	set      *features.Set
	state    State
	scorer   Scorer
	policies PolicyStore
	deadline time.Duration
	log      *slog.Logger
	now      func() time.Time
	uniform  func(*Decision) float64
	metrics  *metrics

	camps    map[string]*compiled
	names    []string // campaign names in config order
	lookback time.Duration
	bandits  atomic.Pointer[banditSet]
	scores   sync.Pool
	zones    sync.Map // time zone name → *time.Location
	defZone  *time.Location
}

// compiled is a campaign prepared for deciding.
type compiled struct {
	*Campaign
	bcfg    bandit.Config
	none    int // index of the none arm, -1 when there is none
	context []input
	segment *input
}

// input is one policy input: a score or a feature.
type input struct {
	name    string
	kind    inputKind
	feature int    // index in the feature vector
	class   string // nba class
}

type inputKind uint8

const (
	inputFeature inputKind = iota
	inputChurn
	inputPropensity
	inputNBA
)

type banditSet struct {
	policies map[string]*bandit.Policy
	versions map[string]string
}

// New returns an Engine for a validated configuration. Call Refresh (or
// run RunRefresh) to load the learned policy state; until then every
// campaign decides with its prior.
func New(opts Options) (*Engine, error) {
	if opts.Config == nil || opts.Set == nil || opts.State == nil || opts.Scorer == nil || opts.Policies == nil {
		return nil, errors.New("decisioning: Options.Config, Set, State, Scorer and Policies are required")
	}
	e := &Engine{
		cfg: opts.Config, set: opts.Set, state: opts.State, scorer: opts.Scorer, policies: opts.Policies,
		deadline: opts.Deadline, log: opts.Logger, now: opts.Now, uniform: opts.Uniform,
		camps: map[string]*compiled{}, defZone: time.UTC,
	}
	if e.deadline <= 0 {
		e.deadline = DefaultDeadline
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.log = e.log.With("component", "decisioning")
	if e.now == nil {
		e.now = time.Now
	}
	if e.uniform == nil {
		e.uniform = func(*Decision) float64 { return rand.Float64() }
	}
	if tz := e.cfg.Global.DefaultTimezone; tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("decisioning: global.default_timezone: %w", err)
		}
		e.defZone = loc
	}
	e.metrics = newMetrics(opts.Registerer)
	e.lookback = e.cfg.Lookback()
	for i := range e.cfg.Campaigns {
		c := &e.cfg.Campaigns[i]
		cc, err := e.compile(c)
		if err != nil {
			return nil, err
		}
		e.camps[c.Name] = cc
		e.names = append(e.names, c.Name)
	}
	e.scores.New = func() any { return new(models.Scores) }
	empty := &banditSet{policies: map[string]*bandit.Policy{}, versions: map[string]string{}}
	for name, c := range e.camps {
		st, err := bandit.New(c.bcfg)
		if err != nil {
			return nil, fmt.Errorf("decisioning: campaign %s: %w", name, err)
		}
		empty.policies[name] = st.Policy(c.bcfg)
		empty.versions[name] = c.Policy.Kind + "@0"
	}
	e.bandits.Store(empty)
	return e, nil
}

// Lookback is how far back Decide reads a customer's sends: the longest
// cap window or cooldown. A State keeps sends at least this long.
func (c *Config) Lookback() time.Duration {
	var d time.Duration
	for _, cp := range c.Global.Caps {
		d = max(d, cp.Per)
	}
	for _, camp := range c.Campaigns {
		d = max(d, camp.Cooldown)
		for _, cp := range camp.Caps {
			d = max(d, cp.Per)
		}
	}
	return d
}

// BanditConfig returns the bandit configuration of a campaign.
func (c *Campaign) BanditConfig() bandit.Config {
	bc := bandit.Config{
		Arms: len(c.Arms), None: -1, Segments: 1,
		Epsilon: c.Policy.Epsilon, HalfLife: c.Policy.HalfLife,
		UnitValue: c.Reward.Value == "1",
	}
	for i, a := range c.Arms {
		bc.Costs = append(bc.Costs, a.Cost)
		if a.Channel == ChannelNone {
			bc.None = i
		}
	}
	switch c.Policy.Kind {
	case PolicyLinearThompson:
		bc.Kind, bc.Dim = bandit.LinearThompson, len(c.Policy.Context)
	default:
		bc.Kind, bc.Segments = bandit.Thompson, len(c.Policy.SegmentBounds)+1
	}
	return bc
}

func (e *Engine) compile(c *Campaign) (*compiled, error) {
	cc := &compiled{Campaign: c, bcfg: c.BanditConfig()}
	cc.none = cc.bcfg.None
	if err := cc.bcfg.Validate(); err != nil {
		return nil, fmt.Errorf("decisioning: campaign %s: %w", c.Name, err)
	}
	resolve := func(name string) (input, error) {
		if in, ok := resolveInput(e.set, name); ok {
			return in, nil
		}
		return input{}, fmt.Errorf("decisioning: campaign %s: policy input %q is not a score or a defined feature", c.Name, name)
	}
	for _, name := range c.Policy.Context {
		in, err := resolve(name)
		if err != nil {
			return nil, err
		}
		cc.context = append(cc.context, in)
	}
	if c.Policy.SegmentBy != "" {
		in, err := resolve(c.Policy.SegmentBy)
		if err != nil {
			return nil, err
		}
		cc.segment = &in
	}
	return cc, nil
}

// Config returns the engine's campaign configuration.
func (e *Engine) Config() *Config { return e.cfg }

// Refresh reloads the learned state of every campaign's policy. A stored
// state that no longer fits its campaign (arms or policy changed) is
// ignored: the campaign starts again from its prior, and the reward joiner
// replaces the state at its next update.
func (e *Engine) Refresh(ctx context.Context) error {
	states, err := e.policies.LoadPolicies(ctx, e.names)
	if err != nil {
		return fmt.Errorf("decisioning: refresh policies: %w", err)
	}
	next := &banditSet{policies: make(map[string]*bandit.Policy, len(e.camps)), versions: make(map[string]string, len(e.camps))}
	cur := e.bandits.Load()
	for name, c := range e.camps {
		st := states[name]
		if st == nil || !st.Compatible(c.bcfg) {
			next.policies[name], next.versions[name] = cur.policies[name], cur.versions[name]
			if st != nil && cur.versions[name] != c.Policy.Kind+"@0" {
				// The stored state went incompatible: back to the prior.
				fresh, _ := bandit.New(c.bcfg)
				next.policies[name], next.versions[name] = fresh.Policy(c.bcfg), c.Policy.Kind+"@0"
			}
			continue
		}
		v := c.Policy.Kind + "@" + strconv.FormatInt(st.Updates, 10)
		if v == cur.versions[name] {
			next.policies[name], next.versions[name] = cur.policies[name], v
			continue
		}
		next.policies[name], next.versions[name] = st.Policy(c.bcfg), v
	}
	e.bandits.Store(next)
	return nil
}

// RunRefresh calls Refresh every interval until ctx ends. Failures are
// logged once per outage; deciding continues with the last state.
func (e *Engine) RunRefresh(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = DefaultRefresh
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		err := e.Refresh(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !failing:
			e.log.Warn("cannot refresh policy state; deciding with the last one", "err", err)
			failing = true
		case err == nil && failing:
			e.log.Info("policy state refreshed again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// validate checks a request and names the field and rule it breaks.
func (e *Engine) validate(r *Request) *features.FieldError {
	if err := features.ValidateCustomerID("customer_id", r.CustomerID); err != nil {
		return err
	}
	switch n := len(r.Campaigns); {
	case n == 0:
		return &features.FieldError{Field: "campaigns", Rule: "must name at least one campaign"}
	case n > MaxCampaignsPerRequest:
		return &features.FieldError{Field: "campaigns", Rule: fmt.Sprintf("must name at most %d campaigns, got %d", MaxCampaignsPerRequest, n)}
	}
	for i, name := range r.Campaigns {
		field := "campaigns[" + strconv.Itoa(i) + "]"
		if _, ok := e.camps[name]; !ok {
			return &features.FieldError{Field: field, Rule: fmt.Sprintf("unknown campaign %q (configured: %v)", truncate(name, 64), e.names)}
		}
		for _, prev := range r.Campaigns[:i] {
			if prev == name {
				return &features.FieldError{Field: field, Rule: fmt.Sprintf("campaign %q is named twice", name)}
			}
		}
	}
	if len(r.RequestID) > MaxRequestIDBytes || !utf8.ValidString(r.RequestID) || strings.IndexByte(r.RequestID, 0) >= 0 {
		return &features.FieldError{Field: "request_id", Rule: fmt.Sprintf("must be at most %d bytes of UTF-8 without NUL", MaxRequestIDBytes)}
	}
	if len(r.Context) > MaxContextEntries {
		return &features.FieldError{Field: "context", Rule: fmt.Sprintf("must have at most %d entries, got %d", MaxContextEntries, len(r.Context))}
	}
	for k, v := range r.Context {
		if k == "" || len(k) > maxContextKeyBytes || !utf8.ValidString(k) || strings.IndexByte(k, 0) >= 0 {
			return &features.FieldError{Field: "context", Rule: fmt.Sprintf("keys must be 1-%d bytes of UTF-8 without NUL", maxContextKeyBytes)}
		}
		if len(v) > maxContextValueBytes || !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return &features.FieldError{Field: "context." + k, Rule: fmt.Sprintf("must be at most %d bytes of UTF-8 without NUL", maxContextValueBytes)}
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Decide decides for one customer and returns the decision of the winning
// campaign (see the package documentation for the steps). Invalid requests
// return a *features.FieldError. A feature store outage or an expired
// deadline gives a NO_ACTION decision (reason "feature_store_unavailable"
// or "deadline_exceeded") that is not recorded: the store that would
// record it is the one that failed. When concurrent decisions for the same
// customer keep sending between its read and its record (ErrConflict more
// than maxConflicts times), the answer is an unrecorded NO_ACTION with
// reason "contention".
func (e *Engine) Decide(ctx context.Context, r Request) (*Decision, error) {
	start := time.Now()
	if fe := e.validate(&r); fe != nil {
		e.metrics.invalid.Inc()
		return nil, fe
	}
	ctx, cancel := context.WithTimeout(ctx, e.deadline)
	defer cancel()
	var (
		ds    []Decision
		prior *Decision
		now   time.Time
		err   error
	)
	// A conflict means a message went out to the customer between reading
	// and recording: decide again on the fresh sends.
	for attempt := 0; ; attempt++ {
		now = e.now()
		var snap Snapshot
		snap, err = e.state.Load(ctx, r.CustomerID, r.RequestID, now, now.Add(-e.lookback))
		if err != nil {
			if reason, ok := fallbackReason(ctx, err); ok {
				e.metrics.fallback.WithLabelValues(reason).Inc()
				e.log.LogAttrs(ctx, slog.LevelWarn, "decide fell back", slog.String("reason", reason), slog.Any("err", err))
				return e.fallback(&r, now, reason), nil
			}
			return nil, fmt.Errorf("decisioning: decide: %w", err)
		}
		if snap.Prior != nil {
			e.metrics.repeats.Inc()
			return snap.Prior, nil
		}
		ds = e.decideAll(&r, &snap, now)
		prior, err = e.state.Commit(ctx, r.RequestID, snap.SentToken, ds)
		if !errors.Is(err, ErrConflict) {
			break
		}
		e.metrics.conflicts.Inc()
		if attempt == maxConflicts {
			e.metrics.fallback.WithLabelValues("contention").Inc()
			return e.fallback(&r, now, "contention"), nil
		}
	}
	if err != nil {
		if reason, ok := fallbackReason(ctx, err); ok {
			e.metrics.fallback.WithLabelValues(reason).Inc()
			e.log.LogAttrs(ctx, slog.LevelWarn, "decide fell back: cannot record", slog.String("reason", reason), slog.Any("err", err))
			return e.fallback(&r, now, reason), nil
		}
		return nil, fmt.Errorf("decisioning: record decision: %w", err)
	}
	if prior != nil {
		e.metrics.repeats.Inc()
		return prior, nil
	}
	for i := range ds {
		e.metrics.decisions.WithLabelValues(ds[i].Campaign, ds[i].Outcome.String()).Inc()
	}
	e.metrics.latency.Observe(time.Since(start).Seconds())
	return &ds[0], nil
}

// Inputs returns what a condition over the customer reads: the feature
// vector and the model scores as Decide would compute them now (one
// round trip to the store). Put sc back with ReleaseScores.
func (e *Engine) Inputs(ctx context.Context, customerID string) (features.Vector, *models.Scores, error) {
	now := e.now()
	snap, err := e.state.Load(ctx, customerID, "", now, now)
	if err != nil {
		return features.Vector{}, nil, fmt.Errorf("decisioning: read %s: %w", customerID, err)
	}
	vec := snap.Profile.Vector
	if len(vec.Values) == 0 {
		vec, _ = e.set.Compute(now, nil, nil)
	}
	sc := e.scores.Get().(*models.Scores)
	e.scorer.Score(vec, sc)
	return vec, sc, nil
}

// ReleaseScores returns scores from Inputs for reuse.
func (e *Engine) ReleaseScores(sc *models.Scores) {
	if sc != nil {
		e.scores.Put(sc)
	}
}

// fallbackReason classifies a store error as one Decide falls back on.
func fallbackReason(ctx context.Context, err error) (string, bool) {
	switch {
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded:
		return "deadline_exceeded", true
	case errors.Is(err, features.ErrUnavailable):
		return "feature_store_unavailable", true
	}
	return "", false
}

// NotRecorded is the reason of a decision Decide fell back to without
// recording it (a dependency failed or the deadline passed).
const NotRecorded = "not_recorded"

// fallback is the unrecorded NO_ACTION decision for a failed dependency.
func (e *Engine) fallback(r *Request, now time.Time, reason string) *Decision {
	return &Decision{
		ID: NewID(now), CustomerID: r.CustomerID, Campaign: r.Campaigns[0], RequestID: r.RequestID,
		Outcome: NoAction, ArmIndex: -1, Reasons: []string{reason, NotRecorded}, DecidedAt: now,
		Scores: Scores{Churn: math.NaN(), Propensity: math.NaN()}, Context: r.Context,
		Versions: map[string]string{"campaigns": e.cfg.Version},
	}
}

// decideAll decides every campaign of the request and ranks them: the
// first decision returned is the winner.
func (e *Engine) decideAll(r *Request, snap *Snapshot, now time.Time) []Decision {
	sc := e.scores.Get().(*models.Scores)
	defer e.scores.Put(sc)
	vec := snap.Profile.Vector
	if len(vec.Values) == 0 {
		vec, _ = e.set.Compute(now, nil, nil)
	}
	e.scorer.Score(vec, sc)
	base := e.base(r, snap, vec, sc, now)
	bs := e.bandits.Load()
	ds := make([]Decision, len(r.Campaigns))
	for i, name := range r.Campaigns {
		ds[i] = base.clone()
		e.decide(&ds[i], e.camps[name], bs, snap, vec, sc, now)
	}
	// The winner: the best expected incremental value among campaigns
	// that chose an arm; ties go to the earlier campaign of the request.
	win := -1
	for i := range ds {
		if ds[i].ArmIndex < 0 || ds[i].Outcome == Suppressed {
			continue
		}
		if win < 0 || ds[i].ExpectedValue > ds[win].ExpectedValue {
			win = i
		}
	}
	if win < 0 {
		return ds
	}
	for i := range ds {
		if i == win || ds[i].Outcome == Suppressed {
			continue
		}
		ds[i].Outcome = Suppressed
		ds[i].Reasons = append(ds[i].Reasons, "lost_to:"+ds[win].Campaign)
		ds[i].SendAfter = time.Time{}
		ds[i].RewardEvent, ds[i].RewardValue, ds[i].RewardUntil = "", "", time.Time{}
		ds[i].Metrics = nil
	}
	ds[0], ds[win] = ds[win], ds[0]
	return ds
}

// ScoresOf returns the scores of a decision from the models' output.
func ScoresOf(sc *models.Scores) Scores {
	s := Scores{Churn: sc.Churn, Propensity: sc.Propensity}
	if len(sc.NBA) > 0 {
		s.NextBestAction = make(map[string]float64, len(sc.NBA))
		for i, c := range sc.Classes {
			s.NextBestAction[c] = sc.NBA[i]
		}
	}
	return s
}

// base is the part of a decision every campaign of a request shares.
func (e *Engine) base(r *Request, snap *Snapshot, vec features.Vector, sc *models.Scores, now time.Time) Decision {
	d := Decision{
		CustomerID: r.CustomerID, RequestID: r.RequestID, DecidedAt: now, Context: r.Context,
		Scores:       ScoresOf(sc),
		FeatureNames: vec.Names, Features: append([]float64(nil), vec.Values...),
		Versions: map[string]string{"campaigns": e.cfg.Version},
	}
	for i, t := range models.Tasks {
		if v := sc.Versions[i]; v != "" {
			d.Versions[string(t)] = v
		}
	}
	if snap.Profile.UpdatedAt.IsZero() && snap.Profile.Customer == nil {
		d.Reasons = append(d.Reasons, "unknown_customer")
	}
	return d
}

// clone copies the shared parts a campaign's decision may change.
func (d Decision) clone() Decision {
	c := d
	c.Reasons = append([]string(nil), d.Reasons...)
	c.Versions = make(map[string]string, len(d.Versions)+1)
	for k, v := range d.Versions {
		c.Versions[k] = v
	}
	return c
}

// decide fills d with one campaign's decision.
func (e *Engine) decide(d *Decision, c *compiled, bs *banditSet, snap *Snapshot, vec features.Vector, sc *models.Scores, now time.Time) {
	d.ID = NewID(now)
	d.Campaign = c.Name
	d.ArmIndex = -1
	d.Versions["policy"] = bs.versions[c.Name]
	d.Arms = make([]ArmProbability, len(c.Arms))
	for i, a := range c.Arms {
		d.Arms[i] = ArmProbability{Channel: a.Channel, Offer: a.Offer}
	}
	if missing := missingModels(sc); missing != "" && e.cfg.Global.Fallback != FallbackDecide {
		d.Outcome = NoAction
		d.Reasons = append(d.Reasons, "model_unavailable:"+missing, "fallback:"+FallbackNoAction)
		return
	}
	control := e.cfg.Global.ControlGroup.Contains(Bucket(e.cfg.Global.Salt, d.CustomerID))
	holdout := c.Holdout.Contains(Bucket(c.Salt, d.CustomerID))
	if control {
		d.Reasons = append(d.Reasons, "global_control")
	} else if holdout {
		d.Reasons = append(d.Reasons, "holdout")
	}
	loc := e.zone(snap.Profile.Customer)
	mask := e.eligible(d, c, snap, now)
	if mask&^noneBit(c.none) == 0 {
		d.Outcome = Suppressed
		d.Reasons = append(d.Reasons, "no_eligible_arm")
		return
	}
	d.Segment, d.PolicyContext = c.policyInputs(vec, sc)
	probs := make([]float64, len(c.Arms))
	arm, prop, value, err := bs.policies[c.Name].Choose(probs, d.Segment, d.PolicyContext, mask, e.uniform(d))
	if err != nil {
		// Only a bug makes a validated policy refuse its own inputs.
		e.log.Error("policy failed", "campaign", c.Name, "err", err)
		d.Outcome = NoAction
		d.Reasons = append(d.Reasons, "policy_error")
		return
	}
	for i, p := range probs {
		d.Arms[i].Probability = p
	}
	a := c.Arms[arm]
	d.ArmIndex, d.Channel, d.Offer, d.Propensity, d.ExpectedValue = arm, a.Channel, a.Offer, prop, value
	d.RewardEvent, d.RewardValue, d.RewardUntil = c.Reward.Event, c.Reward.Value, now.Add(c.Reward.Within)
	d.Metrics = c.metricWindows(now)
	switch {
	case control:
		d.Outcome = GlobalControl
	case holdout:
		d.Outcome = Holdout
	case a.Channel == ChannelNone:
		d.Outcome = NoAction
		d.Reasons = append(d.Reasons, "policy_chose_none")
	default:
		d.Outcome = Send
		d.Reasons = append(d.Reasons, "policy")
	}
	if q := e.cfg.Global.QuietHours; q != nil && quietApplies(a.Channel) {
		if next := q.NextAllowed(now, loc); next.After(now) {
			d.SendAfter = next
			d.Reasons = append(d.Reasons, "quiet_hours")
		}
	}
}

// metricWindows returns the campaign's metric windows of a decision made
// at, nil when it declares none.
func (c *Campaign) metricWindows(at time.Time) []MetricWindow {
	if len(c.Metrics) == 0 {
		return nil
	}
	ms := make([]MetricWindow, len(c.Metrics))
	for i, m := range c.Metrics {
		ms[i] = MetricWindow{Name: m.Name, Event: m.Event, Until: at.Add(m.Within)}
	}
	return ms
}

func noneBit(none int) uint64 {
	if none < 0 {
		return 0
	}
	return 1 << uint(none)
}

// missingModels names the first task no model serves, "" when all do.
func missingModels(sc *models.Scores) string {
	for i, v := range sc.Versions {
		if v == "" {
			return string(models.Tasks[i])
		}
	}
	return ""
}

// quietApplies reports whether quiet hours delay a channel: they do for
// messages that interrupt (email, push, SMS), not for the in-app inbox or
// server-to-server webhooks.
func quietApplies(channel string) bool {
	return channel == ChannelEmail || channel == ChannelPush || channel == ChannelSMS
}

// zone returns the customer's time zone, the configured default when the
// record names none.
func (e *Engine) zone(c *features.Customer) *time.Location {
	if c == nil || c.Timezone == "" {
		return e.defZone
	}
	if l, ok := e.zones.Load(c.Timezone); ok {
		return l.(*time.Location)
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return e.defZone // records are validated; a zone the system lacks falls back
	}
	e.zones.Store(c.Timezone, loc)
	return loc
}

// policyInputs returns the Thompson segment and the linear context.
func (c *compiled) policyInputs(vec features.Vector, sc *models.Scores) (int, []float64) {
	seg := 0
	if c.segment != nil {
		v := c.segment.value(vec, sc)
		for _, b := range c.Policy.SegmentBounds {
			if !(v >= b) { // NaN stays in segment 0
				break
			}
			seg++
		}
	}
	var x []float64
	if len(c.context) > 0 {
		x = make([]float64, len(c.context))
		for i := range c.context {
			x[i] = c.context[i].value(vec, sc)
		}
	}
	return seg, x
}

// resolveInput resolves the name of a score (churn, propensity,
// nba:<class>) or of a feature of set.
func resolveInput(set *features.Set, name string) (input, bool) {
	switch {
	case name == "churn":
		return input{name: name, kind: inputChurn}, true
	case name == "propensity":
		return input{name: name, kind: inputPropensity}, true
	case len(name) > 4 && name[:4] == "nba:":
		return input{name: name, kind: inputNBA, class: name[4:]}, true
	}
	for i, n := range set.Names() {
		if n == name {
			return input{name: name, kind: inputFeature, feature: i}, true
		}
	}
	return input{}, false
}

func (in *input) value(vec features.Vector, sc *models.Scores) float64 {
	switch in.kind {
	case inputChurn:
		return sc.Churn
	case inputPropensity:
		return sc.Propensity
	case inputNBA:
		for i, c := range sc.Classes {
			if c == in.class {
				return sc.NBA[i]
			}
		}
		return math.NaN()
	}
	if in.feature < len(vec.Values) {
		return vec.Values[in.feature]
	}
	return math.NaN()
}
