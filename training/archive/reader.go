package archive

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"kairos/features"
)

// readBatch is how many rows ReadDay decodes at a time.
const readBatch = 64 << 10

// Reader reads an archive directory. It is safe for concurrent use; each
// ReadDay lists the files of its partition afresh, so files written since
// Open are read too (not partitions created since Open: Open again).
type Reader struct {
	dir  string
	days []int64
}

// Open lists the date partitions of the archive in dir. It is an error
// when dir does not exist or holds no partition, and when it holds a
// name other than a partition or one starting with "_" or ".".
func Open(dir string) (*Reader, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("archive: %s: no such directory", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	r := &Reader{dir: dir}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, "_") || strings.HasPrefix(name, ".") {
			continue
		}
		day, ok := parsePartition(name)
		if ok && !e.IsDir() {
			// A symbolic link to a directory is a directory too.
			info, err := os.Stat(filepath.Join(dir, name))
			ok = err == nil && info.IsDir()
		}
		if !ok {
			return nil, fmt.Errorf("archive: %s: unexpected %q: want only date=YYYY-MM-DD partition directories (and names starting with _ or .)", dir, name)
		}
		r.days = append(r.days, day)
	}
	if len(r.days) == 0 {
		return nil, fmt.Errorf("archive: %s: no date=YYYY-MM-DD partitions", dir)
	}
	slices.Sort(r.days)
	return r, nil
}

// Days returns the dates of the partitions, as UTC midnights, in order.
func (r *Reader) Days() []time.Time {
	out := make([]time.Time, len(r.days))
	for i, d := range r.days {
		out[i] = dayTime(d)
	}
	return out
}

// files returns the paths of the data files of a partition, relative to
// the archive directory, in name order.
func (r *Reader) files(day int64) ([]string, error) {
	part := partition(day)
	ents, err := os.ReadDir(filepath.Join(r.dir, part))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("archive: %s: no partition %s", r.dir, part)
	}
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		if ignored(name) {
			continue
		}
		rel := filepath.Join(part, name)
		if e.IsDir() || !strings.HasSuffix(name, ".parquet") {
			return nil, fmt.Errorf("archive: %s: unexpected entry: want only part-<writer>-<seq>.parquet files", rel)
		}
		out = append(out, rel)
	}
	return out, nil
}

// Count returns the number of rows in the archive, duplicates included,
// from the files' Parquet metadata.
func (r *Reader) Count() (int64, error) {
	var n int64
	for _, day := range r.days {
		files, err := r.files(day)
		if err != nil {
			return 0, err
		}
		for _, rel := range files {
			pf, err := file.OpenParquetFile(filepath.Join(r.dir, rel), false)
			if err != nil {
				return 0, fmt.Errorf("archive: %s: corrupt file: %w", rel, err)
			}
			n += pf.NumRows()
			pf.Close()
		}
	}
	return n, nil
}

// ReadDay reads the events of the UTC date of day from every file of its
// partition, validating each file, and returns them without duplicates
// (by customer and event id, the first read wins) sorted by time, customer
// id and event id. An event whose time is not on that date is an error.
func (r *Reader) ReadDay(day time.Time) ([]features.Event, error) {
	d := dayOf(day.UnixMilli())
	files, err := r.files(d)
	if err != nil {
		return nil, err
	}
	// Files are decoded in parallel, then merged in name order, so that
	// the first copy of a duplicate is the one of the first file.
	perFile := make([][]features.Event, len(files))
	errs := make([]error, len(files))
	var next, failed atomic.Int64
	failed.Store(math.MaxInt64) // the index of the first file that failed
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		wg.Go(func() {
			fr := &fileReader{day: d, types: map[string]string{}}
			for {
				i := next.Add(1) - 1
				if i >= int64(len(files)) || i > failed.Load() {
					return
				}
				perFile[i], errs[i] = fr.read(filepath.Join(r.dir, files[i]))
				for errs[i] != nil {
					f := failed.Load()
					if i >= f || failed.CompareAndSwap(f, i) {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("archive: %s: %w", files[i], err)
		}
	}

	var dd dedup
	if len(files) == 1 {
		dd.init(perFile[0][:0], len(perFile[0])) // in place
	} else {
		n := 0
		for _, evs := range perFile {
			n += len(evs)
		}
		dd.init(make([]features.Event, 0, n), n)
	}
	for i, evs := range perFile {
		for _, e := range evs {
			if !dd.isDup(e.CustomerID, e.ID) {
				dd.events = append(dd.events, e)
			}
		}
		perFile[i] = nil
	}
	slices.SortFunc(dd.events, features.CompareEvents)
	return dd.events, nil
}

type eventKey struct{ customer, id string }

// dedup collects events without duplicates.
type dedup struct {
	events []features.Event
	// seen indexes events by a hash of (customer id, event id); exact
	// holds the keys of events whose hash was taken by another key.
	seen  map[uint64]int32
	exact map[eventKey]struct{}
	seed  maphash.Seed
}

// init starts collecting into events (empty), sized for n events.
func (dd *dedup) init(events []features.Event, n int) {
	dd.events = events
	dd.seen = make(map[uint64]int32, n)
	dd.seed = maphash.MakeSeed()
}

// isDup reports whether an event of the same customer and id was
// collected before, and remembers this one's key when not: the caller
// appends it to dd.events then.
func (dd *dedup) isDup(customer, id string) bool {
	h := dd.hash(customer, id)
	j, ok := dd.seen[h]
	if !ok {
		dd.seen[h] = int32(len(dd.events))
		return false
	}
	if e := &dd.events[j]; e.CustomerID == customer && e.ID == id {
		return true
	}
	k := eventKey{customer, id}
	if dd.exact == nil {
		dd.exact = map[eventKey]struct{}{}
	}
	if _, dup := dd.exact[k]; dup {
		return true
	}
	dd.exact[k] = struct{}{}
	return false
}

func (dd *dedup) hash(customer, id string) uint64 {
	return maphash.String(dd.seed, customer) ^ (maphash.String(dd.seed, id)+0x9E3779B97F4A7C15)*0xBF58476D1CE4E5B9
}

// fileReader reads the files of one partition, one at a time.
type fileReader struct {
	day    int64
	events []features.Event
	// types interns event types.
	types map[string]string
}

// read returns the events of the file at path, validated.
func (fr *fileReader) read(path string) ([]features.Event, error) {
	fr.events = nil
	err := fr.readFile(path)
	evs := fr.events
	fr.events = nil
	return evs, err
}

// readFile adds the events of the file at path.
func (fr *fileReader) readFile(path string) (err error) {
	defer func() {
		// The Parquet decoder panics on some malformed input.
		if p := recover(); p != nil {
			err = fmt.Errorf("corrupt file: %v", p)
		}
	}()
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return fmt.Errorf("corrupt file: %w", err)
	}
	defer pf.Close()
	fr.events = make([]features.Event, 0, pf.NumRows())
	v := pf.MetaData().KeyValueMetadata().FindValue(VersionKey)
	switch {
	case v == nil:
		return fmt.Errorf("metadata %q missing", VersionKey)
	case *v != Version:
		return fmt.Errorf("schema version %q, want %q", *v, Version)
	}
	ar, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: readBatch}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("corrupt file: %w", err)
	}
	sc, err := ar.Schema()
	if err != nil {
		return fmt.Errorf("corrupt file: %w", err)
	}
	idx, err := columns(sc)
	if err != nil {
		return err
	}
	rr, err := ar.GetRecordReader(context.Background(), nil, nil)
	if err != nil {
		return fmt.Errorf("corrupt file: %w", err)
	}
	defer rr.Release()
	row := 0
	for rr.Next() {
		rec := rr.RecordBatch()
		if err := fr.add(rec, &idx, row); err != nil {
			return err
		}
		row += int(rec.NumRows())
	}
	if err := rr.Err(); err != nil {
		return fmt.Errorf("corrupt file: %w", err)
	}
	return nil
}

// columns returns the index in sc of each column of the archive schema,
// or an error naming a column missing or of the wrong type. Columns
// beyond the schema are ignored.
func columns(sc *arrow.Schema) ([numCols]int, error) {
	var idx [numCols]int
	for c, want := range schema.Fields() {
		is := sc.FieldIndices(want.Name)
		if len(is) == 0 {
			return idx, fmt.Errorf("column %q missing", want.Name)
		}
		got := sc.Field(is[0])
		if !arrow.TypeEqual(got.Type, want.Type) {
			return idx, fmt.Errorf("column %q has type %s, want %s", want.Name, got.Type, want.Type)
		}
		idx[c] = is[0]
	}
	return idx, nil
}

// strCol reads a string column: its data is copied into one Go string,
// of which the values are substrings (one allocation per batch, not per
// value).
type strCol struct {
	a    *array.String
	s    string
	offs []int32
	base int32
}

func newStrCol(a arrow.Array) strCol {
	sa := a.(*array.String)
	offs := sa.ValueOffsets()
	return strCol{a: sa, s: string(sa.ValueBytes()), offs: offs, base: offs[0]}
}

func (c *strCol) at(i int) string { return c.s[c.offs[i]-c.base : c.offs[i+1]-c.base] }

// add validates the rows of one batch, the first being row row0 of its
// file, and adds their events.
func (fr *fileReader) add(rec arrow.RecordBatch, idx *[numCols]int, row0 int) error {
	col := func(c int) arrow.Array { return rec.Column(idx[c]) }
	for _, c := range [...]int{colEventID, colCustomerID, colType, colTimestamp, colArrivedAt, colLogID} {
		if a := col(c); a.NullN() > 0 {
			for i := 0; i < a.Len(); i++ {
				if a.IsNull(i) {
					return fmt.Errorf("row %d: column %q is null", row0+i, schema.Field(c).Name)
				}
			}
		}
	}
	ids, cids, types := newStrCol(col(colEventID)), newStrCol(col(colCustomerID)), newStrCol(col(colType))
	ts := col(colTimestamp).(*array.Timestamp).Values()
	var strs [numCols]strCol
	var floats [numCols]*array.Float64
	for c, p := range typedProps {
		switch p.kind {
		case features.KindString:
			strs[c] = newStrCol(col(c))
		case features.KindNumber:
			floats[c] = col(c).(*array.Float64)
		}
	}
	props := newStrCol(col(colProperties))
	n := int(rec.NumRows())
	for i := 0; i < n; i++ {
		e := features.Event{ID: ids.at(i), CustomerID: cids.at(i)}
		typ := types.at(i)
		switch {
		case e.ID == "":
			return fmt.Errorf("row %d: empty event_id", row0+i)
		case e.CustomerID == "":
			return fmt.Errorf("row %d: empty customer_id", row0+i)
		case typ == "":
			return fmt.Errorf("row %d: empty type", row0+i)
		}
		if e.Type = fr.types[typ]; e.Type == "" {
			e.Type = strings.Clone(typ)
			fr.types[e.Type] = e.Type
		}
		ms := int64(ts[i])
		e.Time = time.UnixMilli(ms).UTC()
		if dayOf(ms) != fr.day {
			return fmt.Errorf("row %d: timestamp %s not on %s", row0+i, e.Time.Format("2006-01-02T15:04:05.000Z07:00"), dayTime(fr.day).Format(dateLayout))
		}
		for c, p := range typedProps {
			switch p.kind {
			case features.KindString:
				if strs[c].a.IsValid(i) {
					if e.Properties == nil {
						e.Properties = make(map[string]features.Value, 4)
					}
					e.Properties[p.name] = features.String(strs[c].at(i))
				}
			case features.KindNumber:
				if floats[c].IsValid(i) {
					if e.Properties == nil {
						e.Properties = make(map[string]features.Value, 4)
					}
					e.Properties[p.name] = features.Number(floats[c].Value(i))
				}
			}
		}
		if props.a.IsValid(i) {
			var err error
			if e.Properties, err = features.ParsePropsJSON(props.at(i), e.Properties); err != nil {
				return fmt.Errorf("row %d: invalid properties JSON: %v", row0+i, err)
			}
		}
		fr.events = append(fr.events, e)
	}
	return nil
}
