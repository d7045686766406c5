package archive

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"kairos/features"
)

// WriterOptions configures a Writer.
type WriterOptions struct {
	// ID names the writer's files (part-<ID>-<seq>.parquet); it must match
	// [A-Za-z0-9_]+. Empty: 8 random hex characters.
	ID string
	// NoSync skips fsync, for tests and benchmarks only. By default a file
	// and its directory are fsynced before the file counts as written.
	NoSync bool
}

// rowGroupRows bounds the rows of one Parquet row group, as pyarrow does.
const rowGroupRows = 1 << 20

// Writer appends events to an archive directory, one new file per UTC date
// and Flush. It is not safe for concurrent use; several Writers, in one
// process or many, may write to one directory, and never overwrite each
// other's files, even with the same ID.
type Writer struct {
	dir    string
	id     string
	noSync bool
	// seq is the seq of the next file.
	seq int
	// durable holds the partition directories whose entry in dir this
	// Writer has fsynced.
	durable  map[string]bool
	mem      memory.Allocator
	props    *parquet.WriterProperties
	arrProps pqarrow.ArrowWriterProperties

	days     map[int64]*dayBuffer
	buffered int
	// Scratch space of Write.
	keys []string
	json []byte
}

// NewWriter returns a Writer appending to the archive in dir, creating dir
// when missing. Its first file takes the seq after the highest of the
// files of its ID already in dir.
func NewWriter(dir string, opts WriterOptions) (*Writer, error) {
	id := opts.ID
	if id == "" {
		var b [4]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand)
		id = hex.EncodeToString(b[:])
	}
	if !validID(id) {
		return nil, fmt.Errorf("archive: writer id %q: must match [A-Za-z0-9_]+", id)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	last, err := lastSeq(dir, id)
	if err != nil {
		return nil, err
	}
	mem := memory.NewGoAllocator()
	return &Writer{
		dir:    dir,
		id:     id,
		noSync: opts.NoSync,
		seq:    last + 1,
		mem:    mem,
		props: parquet.NewWriterProperties(
			parquet.WithAllocator(mem),
			// zstd's fastest level: about as small as its default on
			// event data, and faster.
			parquet.WithCompression(compress.Codecs.Zstd),
			parquet.WithCompressionLevel(1),
			parquet.WithMaxRowGroupLength(rowGroupRows),
			// No dictionaries: building them costs an allocation per
			// value in arrow-go, and zstd finds the repeats of types,
			// log ids and pages anyway (files within 0.1%).
			parquet.WithDictionaryDefault(false),
			// No min/max statistics where no reader filters on them.
			parquet.WithStatsFor(schema.Field(colEventID).Name, false),
			parquet.WithStatsFor(schema.Field(colProperties).Name, false),
			parquet.WithCreatedBy("kairos archive"),
		),
		arrProps: pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(mem)),
		days:     map[int64]*dayBuffer{},
	}, nil
}

// lastSeq returns the highest seq of the files of writer id in the
// partitions of dir, 0 when there is none.
func lastSeq(dir, id string) (int, error) {
	parts, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("archive: %w", err)
	}
	last := 0
	for _, p := range parts {
		if _, ok := parsePartition(p.Name()); !ok || !p.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, p.Name()))
		if err != nil {
			return 0, fmt.Errorf("archive: %w", err)
		}
		for _, f := range files {
			if w, seq, ok := parseFileName(f.Name()); ok && w == id && seq > last {
				last = seq
			}
		}
	}
	return last, nil
}

// ID returns the writer id, which names its files.
func (w *Writer) ID() string { return w.id }

// Buffered returns the number of events buffered, not yet written.
func (w *Writer) Buffered() int { return w.buffered }

// Write buffers events that arrived at arrived from the event log entry
// logID ("" for events not from the log), by the UTC date of their time.
// The buffer holds the events in Arrow columns (about 150 bytes an event;
// the property maps are not kept); Flush regularly, e.g. every million
// events, to bound it.
// Times are kept at millisecond precision. Events are expected to be valid
// (features.Set.ValidateEvent); see features.AppendPropsJSON for what becomes of
// property values JSON cannot hold.
func (w *Writer) Write(events []features.Event, arrived time.Time, logID string) {
	at := arrow.Timestamp(arrived.UnixMilli())
	var d *dayBuffer
	for i := range events {
		e := &events[i]
		ms := e.Time.UnixMilli()
		if day := dayOf(ms); d == nil || d.day != day {
			if d = w.days[day]; d == nil {
				d = newDayBuffer(w.mem, day)
				w.days[day] = d
			}
		}
		d.eventID.Append(e.ID)
		d.customerID.Append(e.CustomerID)
		d.typ.Append(e.Type)
		d.ts.Append(arrow.Timestamp(ms))
		d.arrived.Append(at)
		d.logID.Append(logID)
		w.appendProps(d, e.Properties)
		d.rows++
	}
	w.buffered += len(events)
}

// appendProps appends one event's properties to the property columns of d.
func (w *Writer) appendProps(d *dayBuffer, props map[string]features.Value) {
	var set [numCols]bool
	w.keys = w.keys[:0]
	for k, v := range props {
		c := typedCol(k, v.Kind)
		if c == 0 {
			w.keys = append(w.keys, k)
			continue
		}
		set[c] = true
		switch c {
		case colAmount, colPlanPrice:
			d.float[c].Append(v.Num)
		default:
			d.str[c].Append(v.Str)
		}
	}
	for _, c := range [...]int{colAmount, colPlanPrice} {
		if !set[c] {
			d.float[c].AppendNull()
		}
	}
	for _, c := range [...]int{colCurrency, colProductID, colCategory, colPage} {
		if !set[c] {
			d.str[c].AppendNull()
		}
	}
	if len(w.keys) == 0 {
		d.props.AppendNull()
		return
	}
	slices.Sort(w.keys)
	w.json = features.AppendPropsJSON(w.json[:0], props, w.keys)
	d.props.BinaryBuilder.Append(w.json)
}

// Flush writes each buffered date to one new file and returns the paths
// written. A date is cleared from the buffer only once its file is durably
// written; on error the dates not written stay buffered for the next Flush.
func (w *Writer) Flush() ([]string, error) {
	days := make([]int64, 0, len(w.days))
	for day := range w.days {
		days = append(days, day)
	}
	slices.Sort(days)
	var paths []string
	for _, day := range days {
		d := w.days[day]
		d.seal()
		path, err := w.writeFile(day, d.recs)
		if err != nil {
			return paths, err
		}
		paths = append(paths, path)
		w.buffered -= d.sealed
		d.release()
		delete(w.days, day)
	}
	return paths, nil
}

// Close flushes the Writer. The Writer may be used again afterwards.
func (w *Writer) Close() error {
	_, err := w.Flush()
	return err
}

// writeFile writes recs as the next file of the partition of day and
// returns its path.
func (w *Writer) writeFile(day int64, recs []arrow.RecordBatch) (string, error) {
	part := partition(day)
	pdir := filepath.Join(w.dir, part)
	if err := w.mkdir(pdir); err != nil {
		return "", err
	}
	tmp := filepath.Join(pdir, fileName(w.id, w.seq)+".tmp-"+randomHex())
	if err := w.writeTemp(tmp, recs); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("archive: write %s: %w", filepath.Join(part, filepath.Base(tmp)), err)
	}
	// A hard link never replaces a file: when another writer with the same
	// id took the name, take the next one.
	for {
		final := filepath.Join(pdir, fileName(w.id, w.seq))
		err := os.Link(tmp, final)
		if errors.Is(err, fs.ErrExist) {
			w.seq++
			continue
		}
		if err != nil {
			_ = os.Remove(tmp)
			return "", fmt.Errorf("archive: %w", err)
		}
		w.seq++
		// A temporary file left behind is ignored by readers.
		_ = os.Remove(tmp)
		if err := w.syncDir(pdir); err != nil {
			return "", err
		}
		return final, nil
	}
}

// writeTemp writes recs to a new Parquet file at path and fsyncs it.
func (w *Writer) writeTemp(path string, recs []arrow.RecordBatch) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	fw, err := pqarrow.NewFileWriter(schema, bw, w.props, w.arrProps)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if err := fw.Write(rec); err != nil {
			_ = fw.Close()
			return err
		}
	}
	if err := fw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if !w.noSync {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	return f.Close()
}

// mkdir creates a partition directory when missing, durably: the first
// time this Writer uses a partition it fsyncs the archive directory, also
// when another writer created the partition (its mkdir may not be synced
// yet, and this Writer's files in it must survive a power loss).
func (w *Writer) mkdir(pdir string) error {
	if w.durable[pdir] {
		return nil
	}
	if err := os.Mkdir(pdir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("archive: %w", err)
	}
	if fi, err := os.Stat(pdir); err != nil || !fi.IsDir() {
		return fmt.Errorf("archive: partition %s is not a directory (%v)", pdir, err)
	}
	if err := w.syncDir(w.dir); err != nil {
		return err
	}
	if w.durable == nil {
		w.durable = map[string]bool{}
	}
	w.durable[pdir] = true
	return nil
}

func (w *Writer) syncDir(dir string) error {
	if w.noSync {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("archive: fsync %s: %w", dir, err)
	}
	return nil
}

func randomHex() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// dayBuffer holds the buffered events of one UTC date as Arrow columns.
type dayBuffer struct {
	day  int64
	b    *array.RecordBuilder
	rows int // rows in b
	// recs are built from b, not written yet (a failed Flush).
	recs   []arrow.RecordBatch
	sealed int // rows in recs

	eventID, customerID, typ, props, logID *array.StringBuilder
	ts, arrived                            *array.TimestampBuilder
	// The typed property columns, by column index.
	float [numCols]*array.Float64Builder
	str   [numCols]*array.StringBuilder
}

func newDayBuffer(mem memory.Allocator, day int64) *dayBuffer {
	b := array.NewRecordBuilder(mem, schema)
	d := &dayBuffer{
		day:        day,
		b:          b,
		eventID:    b.Field(colEventID).(*array.StringBuilder),
		customerID: b.Field(colCustomerID).(*array.StringBuilder),
		typ:        b.Field(colType).(*array.StringBuilder),
		props:      b.Field(colProperties).(*array.StringBuilder),
		logID:      b.Field(colLogID).(*array.StringBuilder),
		ts:         b.Field(colTimestamp).(*array.TimestampBuilder),
		arrived:    b.Field(colArrivedAt).(*array.TimestampBuilder),
	}
	for c, p := range typedProps {
		switch p.kind {
		case features.KindNumber:
			d.float[c] = b.Field(c).(*array.Float64Builder)
		case features.KindString:
			d.str[c] = b.Field(c).(*array.StringBuilder)
		}
	}
	return d
}

// seal moves the rows of the builder into a record.
func (d *dayBuffer) seal() {
	if d.rows == 0 {
		return
	}
	d.recs = append(d.recs, d.b.NewRecordBatch())
	d.sealed += d.rows
	d.rows = 0
}

func (d *dayBuffer) release() {
	for _, r := range d.recs {
		r.Release()
	}
	d.recs = nil
	d.b.Release()
}
