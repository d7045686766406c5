package archive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kairos/features"
	"kairos/internal/retry"
)

// ArchiverOptions configures an Archiver. Zero fields take the defaults.
type ArchiverOptions struct {
	// Group is the consumer group of the event log; default "archiver".
	// Archivers of one group share the work.
	Group string
	// Consumer is the consumer name in the group; default the Writer's ID.
	// Archivers running at the same time need different names.
	Consumer string
	// Batch is how many log entries one Read or Claim asks for; default 256.
	Batch int
	// FlushEvents: flush when this many events are buffered; default 50,000.
	FlushEvents int
	// FlushInterval: flush at least this often while events are buffered;
	// default 10s.
	FlushInterval time.Duration
	// ClaimIdle: take over entries pending (read by an archiver, not
	// acknowledged) for longer than this, e.g. those of an archiver that
	// crashed; default 1m. It should be well above FlushInterval, or
	// archivers take each other's entries (harmless duplicates, wasted work).
	ClaimIdle time.Duration
	// Logger receives the archiver's messages; nothing is logged when nil.
	Logger *slog.Logger
	// Registerer receives the metrics kairos_archive_events_total,
	// kairos_archive_files_total, kairos_archive_flush_seconds and
	// kairos_archive_buffered_events; none are registered when nil.
	Registerer prometheus.Registerer
}

// Default archiver options.
const (
	DefaultGroup         = "archiver"
	DefaultBatch         = 256
	DefaultFlushEvents   = 50_000
	DefaultFlushInterval = 10 * time.Second
	DefaultClaimIdle     = time.Minute
)

const (
	// maxBlock bounds how long one Read waits for entries.
	maxBlock = time.Second
	// shutdownTimeout bounds the final drain, flush and acknowledgement.
	shutdownTimeout = 30 * time.Second
	// drainTime bounds how long the final drain reads entries.
	drainTime = 5 * time.Second
	// retryMin and retryMax bound the backoff after a failure.
	retryMin = 100 * time.Millisecond
	retryMax = 5 * time.Second
	// ackChunk is the most entry ids one Ack sends.
	ackChunk = 1000
)

// Archiver moves the event log into the archive: it reads entries through
// a consumer group, buffers their events in a Writer, and acknowledges the
// entries only once the files holding their events are durably written.
// Delivery is at least once: after a crash between writing and
// acknowledging, the entries are archived again (by this or another
// archiver, see ArchiverOptions.ClaimIdle) and Reader.ReadDay drops the
// duplicates.
type Archiver struct {
	log    features.EventLog
	w      *Writer
	opts   ArchiverOptions
	logger *slog.Logger
	m      *metrics

	// held are the entries read and not acknowledged yet: unflushed (their
	// events are buffered) or written (to acknowledge).
	held      map[string]struct{}
	unflushed []string
	toAck     []string
	// since is when the oldest unflushed entry was read.
	since time.Time
	// flushAt is the earliest time of the next flush after a failed one.
	flushAt    time.Time
	flushRetry time.Duration
	// down is when the event log became unreachable; zero when it is not.
	down time.Time
}

// NewArchiver returns an Archiver of log into w. Run runs it; w belongs to
// the Archiver from then on (a Writer is not safe for concurrent use).
func NewArchiver(log features.EventLog, w *Writer, opts ArchiverOptions) *Archiver {
	if opts.Group == "" {
		opts.Group = DefaultGroup
	}
	if opts.Consumer == "" {
		opts.Consumer = w.ID()
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.FlushEvents <= 0 {
		opts.FlushEvents = DefaultFlushEvents
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.ClaimIdle <= 0 {
		opts.ClaimIdle = DefaultClaimIdle
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Archiver{
		log:    log,
		w:      w,
		opts:   opts,
		logger: logger,
		m:      newMetrics(opts.Registerer),
		held:   map[string]struct{}{},
	}
}

// Run archives until ctx ends, then reads what is left in the log for a
// few seconds, flushes and acknowledges, and returns nil. Outages of the
// event log and failed flushes are logged and retried, never fatal; Run
// returns an error only when the final flush fails (the entries then stay
// pending in the log for another archiver).
func (a *Archiver) Run(ctx context.Context) error {
	a.logger.Info("archiving", "dir", a.w.dir, "writer", a.w.ID(), "group", a.opts.Group, "consumer", a.opts.Consumer)
	backoff := retryMin
	for {
		err := a.log.CreateGroup(ctx, a.opts.Group)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		a.unavailable("create group", err)
		if !retry.Sleep(ctx, backoff) {
			return nil
		}
		backoff = min(2*backoff, retryMax)
	}
	a.available()

	block := min(maxBlock, a.opts.FlushInterval)
	claimEvery := min(max(a.opts.ClaimIdle/2, 10*time.Millisecond), 30*time.Second)
	var nextClaim time.Time // now: take over what a crashed archiver left
	backoff = retryMin
	for ctx.Err() == nil {
		var err error
		polled := true
		switch {
		case a.w.Buffered() >= 2*a.opts.FlushEvents:
			// Flushes fail (or one read brought a lot): read no more
			// until a flush succeeds.
			polled = false
			retry.Sleep(ctx, time.Until(a.flushAt))
		case !time.Now().Before(nextClaim):
			var n int
			n, err = a.claim(ctx)
			nextClaim = time.Now().Add(claimEvery)
			if n == a.opts.Batch {
				nextClaim = time.Time{} // more to claim
			}
		default:
			var entries []features.LogEntry
			entries, err = a.log.Read(ctx, a.opts.Group, a.opts.Consumer, a.opts.Batch, block)
			a.add(entries)
			if err != nil && len(entries) > 0 {
				// Some entries could not be decoded; they stay pending.
				a.logger.Error("read event log: skipping undecodable entries", "err", err)
				err = nil
			}
		}
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			a.unavailable("read", err)
			if !retry.Sleep(ctx, backoff) {
				break
			}
			backoff = min(2*backoff, retryMax)
		} else if polled {
			a.available()
			backoff = retryMin
		}
		if a.flushDue(time.Now()) {
			a.flush()
		}
		a.ack(ctx)
	}
	return a.shutdown(ctx)
}

// claim takes over entries pending too long in the group and returns how
// many the log handed over.
func (a *Archiver) claim(ctx context.Context) (int, error) {
	entries, err := a.log.Claim(ctx, a.opts.Group, a.opts.Consumer, a.opts.ClaimIdle, a.opts.Batch)
	n := len(entries)
	// This archiver's own entries come back when a flush is late.
	entries = deleteHeld(entries, a.held)
	if len(entries) > 0 {
		a.logger.Info("claimed log entries pending longer than the claim timeout", "entries", len(entries), "claim_idle", a.opts.ClaimIdle)
	}
	a.add(entries)
	if err != nil && n > 0 {
		a.logger.Error("claim event log entries: skipping undecodable entries", "err", err)
		err = nil
	}
	return n, err
}

func deleteHeld(entries []features.LogEntry, held map[string]struct{}) []features.LogEntry {
	out := entries[:0]
	for _, e := range entries {
		if _, ok := held[e.ID]; !ok {
			out = append(out, e)
		}
	}
	return out
}

// add buffers the events of entries.
func (a *Archiver) add(entries []features.LogEntry) {
	if len(entries) == 0 {
		return
	}
	if len(a.unflushed) == 0 {
		a.since = time.Now()
	}
	for _, e := range entries {
		a.w.Write(e.Events, e.Arrived, e.ID)
		a.held[e.ID] = struct{}{}
		a.unflushed = append(a.unflushed, e.ID)
	}
	a.m.buffered.Set(float64(a.w.Buffered()))
}

func (a *Archiver) flushDue(now time.Time) bool {
	if len(a.unflushed) == 0 || now.Before(a.flushAt) {
		return false
	}
	return a.w.Buffered() >= a.opts.FlushEvents || now.Sub(a.since) >= a.opts.FlushInterval || a.w.Buffered() == 0
}

// flush writes the buffered events; on success their entries are ready to
// acknowledge.
func (a *Archiver) flush() error {
	before := a.w.Buffered()
	start := time.Now()
	paths, err := a.w.Flush()
	a.m.flush.Observe(time.Since(start).Seconds())
	a.m.files.Add(float64(len(paths)))
	a.m.events.Add(float64(before - a.w.Buffered()))
	a.m.buffered.Set(float64(a.w.Buffered()))
	if err != nil {
		a.flushRetry = min(max(2*a.flushRetry, time.Second), 30*time.Second)
		a.flushAt = time.Now().Add(a.flushRetry)
		a.logger.Error("flush archive; keeping the events buffered and their log entries unacknowledged",
			"err", err, "events", a.w.Buffered(), "entries", len(a.unflushed), "retry_in", a.flushRetry)
		return err
	}
	if a.flushRetry > 0 {
		a.logger.Info("flushed archive again")
		a.flushRetry, a.flushAt = 0, time.Time{}
	}
	a.logger.Debug("flushed archive", "files", len(paths), "events", before, "entries", len(a.unflushed), "duration", time.Since(start))
	a.toAck = append(a.toAck, a.unflushed...)
	a.unflushed = a.unflushed[:0]
	return nil
}

// ack acknowledges the entries whose events are written.
func (a *Archiver) ack(ctx context.Context) error {
	for len(a.toAck) > 0 {
		ids := a.toAck[:min(len(a.toAck), ackChunk)]
		if err := a.log.Ack(ctx, a.opts.Group, ids...); err != nil {
			if ctx.Err() == nil {
				a.unavailable("ack", err)
			}
			return err
		}
		for _, id := range ids {
			delete(a.held, id)
		}
		a.toAck = a.toAck[len(ids):]
		a.available()
	}
	a.toAck = nil
	return nil
}

// shutdown drains the log for a moment, flushes and acknowledges.
func (a *Archiver) shutdown(parent context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), shutdownTimeout)
	defer cancel()
	for deadline := time.Now().Add(drainTime); a.down.IsZero() && time.Now().Before(deadline); {
		entries, err := a.log.Read(ctx, a.opts.Group, a.opts.Consumer, a.opts.Batch, 0)
		a.add(entries)
		if err != nil || len(entries) == 0 {
			break
		}
		if a.w.Buffered() >= a.opts.FlushEvents && a.flush() != nil {
			break
		}
	}
	if len(a.unflushed) > 0 {
		if err := a.flush(); err != nil {
			return fmt.Errorf("archive: final flush: %w (%d log entries stay pending for another archiver)", err, len(a.unflushed))
		}
	}
	if err := a.ack(ctx); err != nil {
		a.logger.Warn("acknowledge archived log entries at shutdown; another archiver will archive them again",
			"err", err, "entries", len(a.toAck))
	}
	a.logger.Info("stopped archiving")
	return nil
}

// unavailable logs the first failure of an outage of the event log.
func (a *Archiver) unavailable(op string, err error) {
	if !a.down.IsZero() {
		return
	}
	a.down = time.Now()
	msg := "event log failed; retrying"
	if errors.Is(err, features.ErrUnavailable) {
		msg = "event log unavailable; retrying"
	}
	a.logger.Warn(msg, "op", op, "err", err)
}

// available ends an outage.
func (a *Archiver) available() {
	if a.down.IsZero() {
		return
	}
	a.logger.Info("event log available again", "outage", time.Since(a.down).Round(time.Millisecond))
	a.down = time.Time{}
}
