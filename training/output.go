package training

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"kairos/features"
)

// The fixed columns of a training set, before the features.
const (
	ColCustomerID = "customer_id"
	ColSnapshotAt = "snapshot_at"
)

// batchRows is the number of rows per record batch (and Parquet row group).
const batchRows = 64 * 1024

// datasetWriter writes training set rows in record batches.
type datasetWriter struct {
	b       *array.RecordBuilder
	id      *array.StringBuilder
	at      *array.TimestampBuilder
	feats   []*array.Float64Builder
	labels  []array.Builder
	pending int
	parquet *pqarrow.FileWriter
	ipc     *ipc.FileWriter
}

// schema returns the schema of a training set of set with labels: the
// fixed columns, every feature as float64 (NaN when missing), then the
// labels (int8 0/1 for churn and purchase labels, utf8 for next category;
// null when censored).
func schema(set *features.Set, labels []Label, meta map[string]string) (*arrow.Schema, error) {
	fields := []arrow.Field{
		{Name: ColCustomerID, Type: arrow.BinaryTypes.String},
		{Name: ColSnapshotAt, Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
	}
	seen := map[string]string{ColCustomerID: "a fixed column", ColSnapshotAt: "a fixed column"}
	for _, n := range set.Names() {
		if what, dup := seen[n]; dup {
			return nil, fmt.Errorf("export: feature %q has the name of %s", n, what)
		}
		seen[n] = "a feature"
		fields = append(fields, arrow.Field{Name: n, Type: arrow.PrimitiveTypes.Float64})
	}
	for _, l := range labels {
		if what, dup := seen[l.Name]; dup {
			return nil, fmt.Errorf("export: label %q has the name of %s", l.Name, what)
		}
		seen[l.Name] = "a label"
		typ := arrow.DataType(arrow.PrimitiveTypes.Int8)
		if l.Kind == NextCategory {
			typ = arrow.BinaryTypes.String
		}
		fields = append(fields, arrow.Field{Name: l.Name, Type: typ, Nullable: true})
	}
	keys := slices.Sorted(maps.Keys(meta))
	vals := make([]string, len(keys))
	for i, k := range keys {
		vals[i] = meta[k]
	}
	md := arrow.NewMetadata(keys, vals)
	return arrow.NewSchema(fields, &md), nil
}

func newDatasetWriter(w io.Writer, format Format, set *features.Set, labels []Label, meta map[string]string) (*datasetWriter, error) {
	sc, err := schema(set, labels, meta)
	if err != nil {
		return nil, err
	}
	// Hide w's Close, should it have one: the Parquet writer closes a
	// Closer, and w belongs to the caller.
	w = struct{ io.Writer }{w}
	mem := memory.NewGoAllocator()
	d := &datasetWriter{b: array.NewRecordBuilder(mem, sc)}
	nFeature := len(set.Names())
	d.id = d.b.Field(0).(*array.StringBuilder)
	d.at = d.b.Field(1).(*array.TimestampBuilder)
	for i := range nFeature {
		d.feats = append(d.feats, d.b.Field(2+i).(*array.Float64Builder))
	}
	for i := range labels {
		d.labels = append(d.labels, d.b.Field(2+nFeature+i))
	}
	switch format {
	case Arrow:
		d.ipc, err = ipc.NewFileWriter(w, ipc.WithSchema(sc), ipc.WithAllocator(mem))
	default:
		// Dictionaries pay off for ids and categories, not for features.
		opts := []parquet.WriterProperty{parquet.WithCompression(compress.Codecs.Snappy),
			parquet.WithMaxRowGroupLength(batchRows), parquet.WithAllocator(mem), parquet.WithDictionaryDefault(false),
			parquet.WithDictionaryFor(ColCustomerID, true)}
		for _, l := range labels {
			if l.Kind == NextCategory {
				opts = append(opts, parquet.WithDictionaryFor(l.Name, true))
			}
		}
		props := parquet.NewWriterProperties(opts...)
		d.parquet, err = pqarrow.NewFileWriter(sc, w, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	}
	if err != nil {
		d.b.Release()
		return nil, fmt.Errorf("export: start the %s file: %w", format, err)
	}
	return d, nil
}

// row starts a row with its fixed columns and features.
func (d *datasetWriter) row(id string, t time.Time, values []float64) {
	d.id.Append(id)
	d.at.Append(arrow.Timestamp(t.UnixMilli()))
	for i, v := range values {
		d.feats[i].Append(v)
	}
}

// label appends the value of label i of the current row.
func (d *datasetWriter) label(i int, kind LabelKind, num int8, cat string, known bool) {
	b := d.labels[i]
	if !known {
		b.AppendNull()
		return
	}
	if kind == NextCategory {
		b.(*array.StringBuilder).Append(cat)
		return
	}
	b.(*array.Int8Builder).Append(num)
}

// endRow ends a row, writing a batch when one is full.
func (d *datasetWriter) endRow() error {
	d.pending++
	if d.pending >= batchRows {
		return d.flush()
	}
	return nil
}

func (d *datasetWriter) flush() error {
	if d.pending == 0 {
		return nil
	}
	rec := d.b.NewRecordBatch()
	defer rec.Release()
	d.pending = 0
	var err error
	if d.ipc != nil {
		err = d.ipc.Write(rec)
	} else {
		err = d.parquet.Write(rec)
	}
	if err != nil {
		return fmt.Errorf("export: write rows: %w", err)
	}
	return nil
}

// close writes the last batch and the file footer.
func (d *datasetWriter) close() error {
	defer d.b.Release()
	err := d.flush()
	var cerr error
	if d.ipc != nil {
		cerr = d.ipc.Close()
	} else {
		cerr = d.parquet.Close()
	}
	if err == nil && cerr != nil {
		err = fmt.Errorf("export: finish the file: %w", cerr)
	}
	return err
}

// metadata is what the training set's schema records about its making, so
// that a model trained on it can say where its data came from.
func (o *Options) metadata() map[string]string {
	names := make([]string, len(o.Labels))
	for i, l := range o.Labels {
		names[i] = l.Name
	}
	activity := o.Activity
	if len(activity) == 0 {
		activity = DefaultActivity
	}
	return map[string]string{
		"kairos.export.version":       "1",
		"kairos.export.from":          o.From.UTC().Format(time.RFC3339),
		"kairos.export.to":            o.To.UTC().Format(time.RFC3339),
		"kairos.export.every":         o.Every.String(),
		"kairos.export.labels":        strings.Join(names, ","),
		"kairos.export.activity":      strings.Join(activity, ","),
		"kairos.export.active_within": o.ActiveWithin.String(),
	}
}
