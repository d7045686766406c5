package decisioning

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// The binary encodings of Decision, Reward, Window and Sent are what the
// Redis queues and keys hold: several times faster to write and read than
// JSON on the Decide path. Each starts with a tag byte and a version byte;
// strings and lists are length-prefixed (uvarint), numbers are IEEE 754
// little-endian, times are a presence byte then Unix nanoseconds (varint),
// read back in UTC. NaN round-trips.
//
// Version 2 of Decision, Reward and Window appends the metric windows
// (Decision.Metrics: a count, then name, event and until of each) or the
// metric (Reward.Metric, Window.Metric) to version 1. A record without
// them is still written in version 1, which the Kairos before metrics
// reads; a version 1 record reads back without them (metric "").

const binaryVersion = 1

// metricsVersion is the version of a Decision, Reward or Window record
// that carries metrics.
const metricsVersion = 2

// Tags of the binary encodings.
const (
	tagDecision = 'D'
	tagReward   = 'R'
	tagWindow   = 'W'
	tagSent     = 'S'
)

// errShort is returned for a truncated or malformed encoding.
var errShort = errors.New("truncated or malformed binary encoding")

// ErrNewerEncoding is wrapped by the error of decoding a record that a
// newer Kairos wrote (a version this one does not know): leave it for an
// instance that can read it rather than discard it.
var ErrNewerEncoding = errors.New("written by a newer Kairos")

type encoder struct{ b []byte }

func (e *encoder) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) f64(f float64) { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(f)) }
func (e *encoder) int(i int64)   { e.b = binary.AppendVarint(e.b, i) }
func (e *encoder) uint(u uint64) { e.b = binary.AppendUvarint(e.b, u) }

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.int(t.UnixNano())
}

func (e *encoder) f64s(fs []float64) {
	e.uint(uint64(len(fs)))
	for _, f := range fs {
		e.f64(f)
	}
}

func (e *encoder) strs(ss []string) {
	e.uint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

func (e *encoder) strMap(m map[string]string) {
	e.uint(uint64(len(m)))
	for k, v := range m {
		e.str(k)
		e.str(v)
	}
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errShort
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length and checks that at least min bytes per element
// remain, so a corrupt length cannot allocate without bound.
func (d *decoder) count(min int) int {
	n := d.uint()
	if n > uint64(len(d.b)/max(min, 1)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.count(1)
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) f64() float64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return f
}

func (d *decoder) bool() bool { return d.byte() == 1 }

func (d *decoder) time() time.Time {
	if d.byte() == 0 {
		return time.Time{}
	}
	return time.Unix(0, d.int()).UTC()
}

func (d *decoder) f64s() []float64 {
	n := d.count(8)
	if n == 0 {
		return nil
	}
	fs := make([]float64, n)
	for i := range fs {
		fs[i] = d.f64()
	}
	return fs
}

func (d *decoder) strs() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.str()
	}
	return ss
}

func (d *decoder) strMap() map[string]string {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.str()
		m[k] = d.str()
	}
	return m
}

// header reads the tag and version of a record whose versions run from 1
// to newest, and returns its version.
func (d *decoder) header(tag byte, what string, newest byte) byte {
	t, v := d.byte(), d.byte()
	switch {
	case d.err != nil:
	case t != tag:
		d.err = fmt.Errorf("not a %s (tag %q, want %q)", what, t, tag)
	case v > newest:
		d.err = fmt.Errorf("%s encoding version %d: %w (this one reads up to %d)", what, v, ErrNewerEncoding, newest)
	case v < 1:
		d.err = fmt.Errorf("%s encoding version %d is unknown", what, v)
	}
	if d.err != nil {
		d.b = nil
	}
	return v
}

// version is the version of a record: metricsVersion when it carries
// metrics, else binaryVersion.
func version(metrics bool) byte {
	if metrics {
		return metricsVersion
	}
	return binaryVersion
}

func (d *decoder) done(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return fmt.Errorf("decisioning: decode %s: %w", what, d.err)
	}
	return nil
}

// AppendBinary appends the binary encoding of d to dst.
func (d *Decision) AppendBinary(dst []byte) ([]byte, error) {
	v := version(d.Metrics != nil)
	e := encoder{append(dst, tagDecision, v)}
	e.str(d.ID)
	e.str(d.CustomerID)
	e.str(d.Campaign)
	e.str(d.RequestID)
	e.b = append(e.b, byte(d.Outcome))
	e.str(d.Channel)
	e.str(d.Offer)
	e.int(int64(d.ArmIndex))
	e.f64(d.Propensity)
	e.uint(uint64(len(d.Arms)))
	for _, a := range d.Arms {
		e.str(a.Channel)
		e.str(a.Offer)
		e.f64(a.Probability)
	}
	e.f64(d.Scores.Churn)
	e.f64(d.Scores.Propensity)
	e.uint(uint64(len(d.Scores.NextBestAction)))
	for k, v := range d.Scores.NextBestAction {
		e.str(k)
		e.f64(v)
	}
	e.strs(d.Reasons)
	e.time(d.DecidedAt)
	e.time(d.SendAfter)
	e.strMap(d.Versions)
	e.strs(d.FeatureNames)
	e.f64s(d.Features)
	e.strMap(d.Context)
	e.f64(d.ExpectedValue)
	e.int(int64(d.Segment))
	e.f64s(d.PolicyContext)
	e.str(d.RewardEvent)
	e.str(d.RewardValue)
	e.time(d.RewardUntil)
	if v >= metricsVersion {
		e.uint(uint64(len(d.Metrics)))
		for _, m := range d.Metrics {
			e.str(m.Name)
			e.str(m.Event)
			e.time(m.Until)
		}
	}
	return e.b, nil
}

// MarshalBinary returns the binary encoding of d.
func (d *Decision) MarshalBinary() ([]byte, error) { return d.AppendBinary(make([]byte, 0, 1024)) }

// UnmarshalBinary decodes what MarshalBinary wrote.
func (d *Decision) UnmarshalBinary(b []byte) error {
	r := decoder{b: b}
	v := r.header(tagDecision, "decision", metricsVersion)
	*d = Decision{
		ID: r.str(), CustomerID: r.str(), Campaign: r.str(), RequestID: r.str(),
		Outcome: Outcome(r.byte()), Channel: r.str(), Offer: r.str(), ArmIndex: int(r.int()), Propensity: r.f64(),
	}
	if n := r.count(10); n > 0 {
		d.Arms = make([]ArmProbability, n)
		for i := range d.Arms {
			d.Arms[i] = ArmProbability{Channel: r.str(), Offer: r.str(), Probability: r.f64()}
		}
	}
	d.Scores.Churn, d.Scores.Propensity = r.f64(), r.f64()
	if n := r.count(9); n > 0 {
		d.Scores.NextBestAction = make(map[string]float64, n)
		for range n {
			k := r.str()
			d.Scores.NextBestAction[k] = r.f64()
		}
	}
	d.Reasons = r.strs()
	d.DecidedAt, d.SendAfter = r.time(), r.time()
	d.Versions = r.strMap()
	d.FeatureNames = r.strs()
	d.Features = r.f64s()
	d.Context = r.strMap()
	d.ExpectedValue = r.f64()
	d.Segment = int(r.int())
	d.PolicyContext = r.f64s()
	d.RewardEvent, d.RewardValue = r.str(), r.str()
	d.RewardUntil = r.time()
	if v >= metricsVersion {
		// Version 2 holds the list even when empty: nil and empty differ.
		n := r.count(3)
		d.Metrics = make([]MetricWindow, n)
		for i := range d.Metrics {
			d.Metrics[i] = MetricWindow{Name: r.str(), Event: r.str(), Until: r.time()}
		}
	}
	return r.done("decision")
}

// AppendBinary appends the binary encoding of r to dst.
func (r *Reward) AppendBinary(dst []byte) ([]byte, error) {
	v := version(r.Metric != "")
	e := encoder{append(dst, tagReward, v)}
	e.str(r.DecisionID)
	e.str(r.CustomerID)
	e.str(r.Campaign)
	e.bool(r.Converted)
	e.f64(r.Value)
	e.str(r.EventID)
	e.time(r.EventAt)
	e.time(r.ClosedAt)
	if v >= metricsVersion {
		e.str(r.Metric)
	}
	return e.b, nil
}

// MarshalBinary returns the binary encoding of r.
func (r *Reward) MarshalBinary() ([]byte, error) { return r.AppendBinary(nil) }

// UnmarshalBinary decodes what MarshalBinary wrote.
func (r *Reward) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	v := d.header(tagReward, "reward", metricsVersion)
	*r = Reward{DecisionID: d.str(), CustomerID: d.str(), Campaign: d.str(), Converted: d.bool(), Value: d.f64(),
		EventID: d.str(), EventAt: d.time(), ClosedAt: d.time()}
	if v >= metricsVersion {
		r.Metric = d.str()
	}
	return d.done("reward")
}

// MarshalBinary returns the binary encoding of w.
func (w *Window) MarshalBinary() ([]byte, error) {
	v := version(w.Metric != "")
	e := encoder{append(make([]byte, 0, 128), tagWindow, v)}
	e.str(w.DecisionID)
	e.str(w.CustomerID)
	e.str(w.Campaign)
	e.b = append(e.b, byte(w.Outcome))
	e.int(int64(w.ArmIndex))
	e.int(int64(w.Segment))
	e.f64s(w.PolicyContext)
	e.time(w.DecidedAt)
	e.str(w.RewardEvent)
	e.str(w.RewardValue)
	e.time(w.RewardUntil)
	if v >= metricsVersion {
		e.str(w.Metric)
	}
	return e.b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (w *Window) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	v := d.header(tagWindow, "window", metricsVersion)
	*w = Window{DecisionID: d.str(), CustomerID: d.str(), Campaign: d.str(), Outcome: Outcome(d.byte()), ArmIndex: int(d.int()), Segment: int(d.int()),
		PolicyContext: d.f64s(), DecidedAt: d.time(), RewardEvent: d.str(), RewardValue: d.str(), RewardUntil: d.time()}
	if v >= metricsVersion {
		w.Metric = d.str()
	}
	return d.done("window")
}

// MarshalBinary returns the binary encoding of s.
func (s *Sent) MarshalBinary() ([]byte, error) {
	e := encoder{append(make([]byte, 0, 64), tagSent, binaryVersion)}
	e.str(s.DecisionID)
	e.str(s.Campaign)
	e.str(s.Channel)
	e.time(s.At)
	return e.b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (s *Sent) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	d.header(tagSent, "send", binaryVersion)
	*s = Sent{DecisionID: d.str(), Campaign: d.str(), Channel: d.str(), At: d.time()}
	return d.done("send")
}
