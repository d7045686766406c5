package ledger

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kairos/decisioning"
	"kairos/internal/prom"
	"kairos/internal/retry"
)

// Entry is one entry of a ledger queue: what one commit recorded.
type Entry struct {
	// ID is the queue position, passed to AckQueue.
	ID         string                 `json:"-"`
	Decisions  []decisioning.Decision `json:"decisions,omitempty"`
	Rewards    []decisioning.Reward   `json:"rewards,omitempty"`
	Dispatches []Dispatch             `json:"dispatches,omitempty"`
}

// Queue is the durable queue between the decision path and the ledger:
// Decide, the reward joiner and the dispatchers append to it (one round trip, on the hot
// path), and Drain moves its entries to the Ledger in batches, off the hot
// path. Delivery is at least once; the Ledger's idempotency by decision id
// makes it exactly once in the ledger.
type Queue interface {
	// ReadQueue returns up to count entries for consumer: first those
	// already delivered to it and not acknowledged (its failed writes),
	// then entries pending for longer than minIdle with a consumer that
	// went away, then new ones, waiting up to block for the first.
	ReadQueue(ctx context.Context, consumer string, count int, minIdle, block time.Duration) ([]Entry, error)
	// AckQueue removes entries the ledger holds.
	AckQueue(ctx context.Context, ids ...string) error
	// QueueLen returns how many entries wait (new or pending).
	QueueLen(ctx context.Context) (int64, error)
	// DeadLetter moves an entry the ledger refuses (or that cannot be
	// decoded) out of the queue into a dead-letter list, keeping its raw
	// encoding and the reason, so that it can be inspected and replayed
	// and never blocks the queue.
	DeadLetter(ctx context.Context, id string, raw []byte, reason string) error
}

// DrainOptions configures a Drainer.
type DrainOptions struct {
	// Consumer names this drainer; unique per process.
	Consumer string
	// Batch is how many queue entries one ledger write takes; 500 when 0.
	Batch int
	// ClaimIdle is how long an entry may stay pending with a drainer
	// that went away; 30 s when 0.
	ClaimIdle time.Duration
	Logger    *slog.Logger
	// Registerer receives the drainer's metrics; nil: not registered.
	Registerer prometheus.Registerer
}

// Drainer moves queue entries to the ledger.
type Drainer struct {
	q    Queue
	l    Ledger
	opts DrainOptions
	log  *slog.Logger
	// degraded is set while the ledger cannot be written; the backlog
	// stays in the queue.
	degraded atomic.Bool
	drained  atomic.Int64
	metrics  drainMetrics
}

type drainMetrics struct {
	written  *prometheus.CounterVec
	refused  prometheus.Counter
	backlog  prometheus.Gauge
	failures prometheus.Counter
}

// NewDrainer returns a Drainer from q to l.
func NewDrainer(q Queue, l Ledger, opts DrainOptions) *Drainer {
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	if opts.ClaimIdle <= 0 {
		opts.ClaimIdle = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Drainer{q: q, l: l, opts: opts, log: opts.Logger.With("component", "ledger-drain")}
	d.metrics = drainMetrics{
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_ledger_written_total", Help: "Records the drainer wrote to the ledger, by kind (decision, reward, dispatch).",
		}, []string{"kind"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_ledger_refused_total", Help: "Queue entries the ledger refused as invalid, moved to the dead-letter list (undecodable entries are logged by the queue).",
		}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kairos_ledger_queue_entries", Help: "Entries waiting in the ledger queue, sampled by the drainer every few seconds.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kairos_ledger_write_failures_total", Help: "Ledger writes that failed and will be retried (the ledger was unreachable).",
		}),
	}
	if opts.Registerer != nil {
		d.metrics.written = prom.Register(opts.Registerer, d.metrics.written)
		d.metrics.refused = prom.Register(opts.Registerer, d.metrics.refused)
		d.metrics.backlog = prom.Register(opts.Registerer, d.metrics.backlog)
		d.metrics.failures = prom.Register(opts.Registerer, d.metrics.failures)
	}
	return d
}

// Degraded reports whether the last attempt to write the ledger failed:
// decisions continue and wait in the queue (readiness says "degraded").
func (d *Drainer) Degraded() bool { return d.degraded.Load() }

// Drained returns how many decisions and rewards the drainer wrote.
func (d *Drainer) Drained() int64 { return d.drained.Load() }

// Run drains until ctx ends, retrying failures with backoff (up to 5 s);
// an outage is logged once, and its end.
func (d *Drainer) Run(ctx context.Context) error {
	backoff := 50 * time.Millisecond
	var sampled time.Time
	for ctx.Err() == nil {
		if time.Since(sampled) >= 5*time.Second {
			if n, err := d.q.QueueLen(ctx); err == nil {
				d.metrics.backlog.Set(float64(n))
			}
			sampled = time.Now()
		}
		n, err := d.Step(ctx, time.Second)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			d.metrics.failures.Inc()
			if !d.degraded.Swap(true) {
				d.log.Warn("cannot write the ledger; decisions wait in the queue", "err", err)
			}
			retry.Sleep(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		if d.degraded.Swap(false) {
			d.log.Info("ledger writable again; draining the backlog")
		}
		backoff = 50 * time.Millisecond
		_ = n
	}
	return nil
}

// Step moves one batch and returns the number of queue entries moved.
func (d *Drainer) Step(ctx context.Context, block time.Duration) (int, error) {
	es, err := d.q.ReadQueue(ctx, d.opts.Consumer, d.opts.Batch, d.opts.ClaimIdle, block)
	if err != nil {
		return 0, fmt.Errorf("ledger: read queue: %w", err)
	}
	if len(es) == 0 {
		return 0, nil
	}
	var batch Entry
	ids := make([]string, len(es))
	for i := range es {
		batch.Decisions = append(batch.Decisions, es[i].Decisions...)
		batch.Rewards = append(batch.Rewards, es[i].Rewards...)
		batch.Dispatches = append(batch.Dispatches, es[i].Dispatches...)
		ids[i] = es[i].ID
	}
	err = d.write(ctx, &batch)
	if err != nil && refused(err) {
		// One bad record refuses its whole batch: write the entries one by
		// one and set aside those the ledger refuses, so that one cannot
		// block the queue for good.
		err = d.writeEach(ctx, es)
	}
	if err != nil {
		return 0, err
	}
	if err := d.q.AckQueue(ctx, ids...); err != nil {
		return 0, fmt.Errorf("ledger: ack queue: %w", err)
	}
	return len(es), nil
}

// refused reports whether err is the ledger refusing the data itself
// (ErrRefused): such a write fails again on retry. Anything else — the
// database unreachable, read-only, full — is retried.
func refused(err error) bool { return errors.Is(err, ErrRefused) }

// write writes the records of e (its ID is not used).
func (d *Drainer) write(ctx context.Context, e *Entry) error {
	if len(e.Decisions) > 0 {
		if err := d.l.WriteDecisions(ctx, e.Decisions); err != nil {
			return err
		}
		d.metrics.written.WithLabelValues("decision").Add(float64(len(e.Decisions)))
	}
	if len(e.Rewards) > 0 {
		if err := d.l.WriteRewards(ctx, e.Rewards); err != nil {
			return err
		}
		d.metrics.written.WithLabelValues("reward").Add(float64(len(e.Rewards)))
	}
	if len(e.Dispatches) > 0 {
		if err := d.l.WriteDispatches(ctx, e.Dispatches); err != nil {
			return err
		}
		d.metrics.written.WithLabelValues("dispatch").Add(float64(len(e.Dispatches)))
	}
	d.drained.Add(int64(len(e.Decisions) + len(e.Rewards) + len(e.Dispatches)))
	return nil
}

// writeEach writes entries one at a time; an entry the ledger refuses is
// moved to the queue's dead-letter list, logged at error level and counted,
// and the others are written.
func (d *Drainer) writeEach(ctx context.Context, es []Entry) error {
	for i := range es {
		err := d.write(ctx, &es[i])
		if err == nil || !refused(err) {
			if err != nil {
				return err
			}
			continue
		}
		raw, merr := es[i].MarshalBinary()
		if merr != nil {
			return fmt.Errorf("ledger: encode refused entry %s: %w", es[i].ID, merr)
		}
		if derr := d.q.DeadLetter(ctx, es[i].ID, raw, err.Error()); derr != nil {
			return fmt.Errorf("ledger: dead-letter entry %s: %w", es[i].ID, derr)
		}
		d.metrics.refused.Inc()
		records, _ := json.Marshal(es[i])
		d.log.Error("the ledger refused a queue entry; it was moved to the dead-letter list",
			"entry", es[i].ID, "err", err, "records", string(records))
	}
	return nil
}

// Flush drains until the queue is empty or ctx ends (for shutdown and
// tests).
func (d *Drainer) Flush(ctx context.Context) error {
	for {
		n, err := d.Step(ctx, 0)
		if err != nil {
			return err
		}
		if n == 0 {
			left, err := d.q.QueueLen(ctx)
			if err != nil {
				return err
			}
			if left == 0 {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// Entries pending with another consumer: wait for them.
			retry.Sleep(ctx, 10*time.Millisecond)
			if ctx.Err() != nil {
				return errors.Join(ctx.Err(), fmt.Errorf("ledger: %d queue entries still pending", left))
			}
		}
	}
}

// EntryHeader starts the binary encoding of an Entry; framed records
// (AppendFramed) follow it. A queue may build an entry by concatenating
// framed records after the header.
const EntryHeader = "E\x01"

// AppendFramed appends one binary-encoded decision, reward or dispatch, prefixed by
// its length (uvarint), as an Entry's encoding holds it.
func AppendFramed(dst, record []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(record)))
	return append(dst, record...)
}

// MarshalBinary encodes the entry (not its ID).
func (e *Entry) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 2048*len(e.Decisions)+128*len(e.Rewards))
	b = append(b, EntryHeader...)
	var rec []byte
	var err error
	for i := range e.Decisions {
		if rec, err = e.Decisions[i].AppendBinary(rec[:0]); err != nil {
			return nil, err
		}
		b = AppendFramed(b, rec)
	}
	for i := range e.Rewards {
		if rec, err = e.Rewards[i].AppendBinary(rec[:0]); err != nil {
			return nil, err
		}
		b = AppendFramed(b, rec)
	}
	for i := range e.Dispatches {
		b = AppendFramed(b, e.Dispatches[i].AppendBinary(rec[:0]))
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote, or an entry
// assembled from EntryHeader and AppendFramed records.
func (e *Entry) UnmarshalBinary(b []byte) error {
	if len(b) >= len(EntryHeader) && b[0] == EntryHeader[0] && b[1] > EntryHeader[1] {
		return fmt.Errorf("ledger: decode queue entry: version %d: %w", b[1], decisioning.ErrNewerEncoding)
	}
	if len(b) < len(EntryHeader) || string(b[:len(EntryHeader)]) != EntryHeader {
		return errors.New("ledger: decode queue entry: not an entry (bad header)")
	}
	b = b[len(EntryHeader):]
	*e = Entry{ID: e.ID}
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) || n == 0 {
			return errors.New("ledger: decode queue entry: bad record length")
		}
		rec := b[k : k+int(n)]
		b = b[k+int(n):]
		switch rec[0] {
		case 'D':
			var d decisioning.Decision
			if err := d.UnmarshalBinary(rec); err != nil {
				return fmt.Errorf("ledger: decode queue entry: %w", err)
			}
			e.Decisions = append(e.Decisions, d)
		case 'R':
			var r decisioning.Reward
			if err := r.UnmarshalBinary(rec); err != nil {
				return fmt.Errorf("ledger: decode queue entry: %w", err)
			}
			e.Rewards = append(e.Rewards, r)
		case dispatchTag:
			var x Dispatch
			if err := x.UnmarshalBinary(rec); err != nil {
				return fmt.Errorf("ledger: decode queue entry: %w", err)
			}
			e.Dispatches = append(e.Dispatches, x)
		default:
			return fmt.Errorf("ledger: decode queue entry: unknown record tag %q", rec[0])
		}
	}
	return nil
}

// dispatchTag starts the encoding of a Dispatch in an Entry, followed by
// a version byte and the record as JSON (dispatch records are few beside
// decisions, and JSON keeps them readable in a dead-letter list).
const dispatchTag = 'X'

const dispatchVersion = 1

// AppendBinary appends the encoding of x, as an Entry frames it, to dst.
func (x *Dispatch) AppendBinary(dst []byte) []byte {
	b, _ := json.Marshal(x) // only strings, an int and a time: cannot fail
	dst = append(dst, dispatchTag, dispatchVersion)
	return append(dst, b...)
}

// UnmarshalBinary decodes what AppendBinary wrote.
func (x *Dispatch) UnmarshalBinary(b []byte) error {
	if len(b) < 2 || b[0] != dispatchTag {
		return errors.New("decode dispatch: not a dispatch record")
	}
	if b[1] > dispatchVersion {
		return fmt.Errorf("decode dispatch: version %d: %w", b[1], decisioning.ErrNewerEncoding)
	}
	*x = Dispatch{}
	if err := json.Unmarshal(b[2:], x); err != nil {
		return fmt.Errorf("decode dispatch: %w", err)
	}
	return nil
}
