package training_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"kairos/features"
	"kairos/training"
)

// failingSource is an archive whose day failAt cannot be read.
type failingSource struct {
	*training.MemorySource
	failAt time.Time
}

func (s failingSource) ReadDay(day time.Time) ([]features.Event, error) {
	if day.Equal(s.failAt) {
		return nil, fmt.Errorf("archive: date=%s/part-x-000001.parquet: corrupt", day.Format(time.DateOnly))
	}
	return s.MemorySource.ReadDay(day)
}

// row is one row of a training set, read back.
type row struct {
	id     string
	at     time.Time
	feats  map[string]float64
	labels map[string]any // int8, string, or nil when null
}

func (r row) key() string { return r.id + "@" + r.at.Format(time.RFC3339) }

// readSet reads a training set written in format.
func readSet(t *testing.T, data []byte, format training.Format) (*arrow.Schema, []row) {
	t.Helper()
	var recs []arrow.RecordBatch
	var schema *arrow.Schema
	switch format {
	case training.Arrow:
		fr, err := ipc.NewFileReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer fr.Close()
		schema = fr.Schema()
		for i := range fr.NumRecords() {
			rec, err := fr.RecordBatch(i)
			if err != nil {
				t.Fatal(err)
			}
			rec.Retain()
			recs = append(recs, rec)
		}
	default:
		tbl, err := pqarrow.ReadTable(context.Background(), bytes.NewReader(data), nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		defer tbl.Release()
		// The schema metadata is the Parquet file's key-value metadata.
		pf, err := file.NewParquetReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		kv := pf.MetaData().KeyValueMetadata()
		md := arrow.NewMetadata(kv.Keys(), kv.Values())
		schema = arrow.NewSchema(tbl.Schema().Fields(), &md)
		pf.Close()
		tr := array.NewTableReader(tbl, -1)
		defer tr.Release()
		for tr.Next() {
			rec := tr.RecordBatch()
			rec.Retain()
			recs = append(recs, rec)
		}
	}
	var rows []row
	for _, rec := range recs {
		for i := range int(rec.NumRows()) {
			r := row{feats: map[string]float64{}, labels: map[string]any{}}
			for c, f := range rec.Schema().Fields() {
				col := rec.Column(c)
				switch {
				case f.Name == training.ColCustomerID:
					r.id = col.(*array.String).Value(i)
				case f.Name == training.ColSnapshotAt:
					r.at = time.UnixMilli(int64(col.(*array.Timestamp).Value(i))).UTC()
				case col.IsNull(i):
					r.labels[f.Name] = nil
				default:
					switch a := col.(type) {
					case *array.Float64:
						r.feats[f.Name] = a.Value(i)
					case *array.Int8:
						r.labels[f.Name] = a.Value(i)
					case *array.String:
						r.labels[f.Name] = a.Value(i)
					default:
						t.Fatalf("column %s has type %s", f.Name, f.Type)
					}
				}
			}
			rows = append(rows, r)
		}
		rec.Release()
	}
	return schema, rows
}

func export(t *testing.T, src training.Source, opts training.Options) (training.Stats, []row) {
	t.Helper()
	var buf bytes.Buffer
	st, err := training.Export(context.Background(), src, &buf, opts)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	_, rows := readSet(t, buf.Bytes(), opts.Format)
	return st, rows
}

func ev(id, customer, typ string, at time.Time, props ...any) features.Event {
	e := features.Event{ID: id, CustomerID: customer, Type: typ, Time: at, Properties: map[string]features.Value{}}
	for i := 0; i+1 < len(props); i += 2 {
		switch v := props[i+1].(type) {
		case string:
			e.Properties[props[i].(string)] = features.String(v)
		case float64:
			e.Properties[props[i].(string)] = features.Number(v)
		}
	}
	return e
}

var day0 = time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)

// TestExportEdges plants events just before, at and just after snapshot
// times and at the ends of label windows: features see everything at or
// before t and nothing after; labels see only (t, t+horizon].
func TestExportEdges(t *testing.T) {
	ms := time.Millisecond
	s := day0 // the snapshot under test
	evs := []features.Event{
		// a: purchases just before, at and just after s.
		ev("a1", "a", "purchase", s.Add(-ms), "amount", 10.0, "category", "shoes"),
		ev("a2", "a", "purchase", s, "amount", 20.0, "category", "books"),
		ev("a3", "a", "purchase", s.Add(ms), "amount", 40.0, "category", "toys"),
		// b: a purchase exactly at the end of the 7-day window, c: just after it.
		ev("b0", "b", "login", s.Add(-time.Hour)),
		ev("b1", "b", "purchase", s.Add(7*24*time.Hour), "amount", 5.0, "category", "garden"),
		ev("c0", "c", "login", s.Add(-time.Hour)),
		ev("c1", "c", "purchase", s.Add(7*24*time.Hour+ms), "amount", 5.0),
		// d: last activity just before s; e: next activity exactly 30 days after s.
		ev("d0", "d", "login", s.Add(-ms)),
		ev("e0", "e", "login", s.Add(-time.Hour)),
		ev("e1", "e", "login", s.Add(30*24*time.Hour)),
		// f: first seen just after s: no row at s.
		ev("f0", "f", "login", s.Add(ms)),
		// A messaging event is not activity.
		ev("d1", "d", "message_delivered", s.Add(time.Hour), "channel", "email"),
	}
	labels, err := training.ParseLabels("churn30,purchase7,next_category14")
	if err != nil {
		t.Fatal(err)
	}
	opts := training.Options{Set: features.Default(), From: s.Add(-24 * time.Hour), To: s.Add(24 * time.Hour),
		Every: 24 * time.Hour, Labels: labels, DataEnd: s.Add(40 * 24 * time.Hour)}
	_, rows := export(t, training.NewMemorySource(evs), opts)
	got := map[string]row{}
	for _, r := range rows {
		got[r.key()] = r
	}
	at := func(id string, when time.Time) row {
		t.Helper()
		r, ok := got[id+"@"+when.Format(time.RFC3339)]
		if !ok {
			t.Fatalf("no row for %s at %s", id, when)
		}
		return r
	}
	a := at("a", s)
	if a.feats["purchases_7d"] != 2 || a.feats["revenue_30d"] != 30 || a.feats["since_last_purchase"] != 0 {
		t.Errorf("a at s: purchases_7d=%v revenue_30d=%v since_last_purchase=%v, want 2, 30, 0 (events at or before s only)",
			a.feats["purchases_7d"], a.feats["revenue_30d"], a.feats["since_last_purchase"])
	}
	if a.labels["purchase7"] != int8(1) || a.labels["next_category14"] != "toys" {
		t.Errorf("a at s: purchase7=%v next_category14=%v, want 1 and toys (the purchase 1ms after s)", a.labels["purchase7"], a.labels["next_category14"])
	}
	if _, ok := got["a@"+s.Add(-24*time.Hour).Format(time.RFC3339)]; ok {
		t.Errorf("a has a row before its first event")
	}
	if a2 := at("a", s.Add(24*time.Hour)); a2.feats["purchases_7d"] != 3 {
		t.Errorf("a a day after s: purchases_7d=%v, want 3", a2.feats["purchases_7d"])
	}
	if b := at("b", s); b.labels["purchase7"] != int8(1) || b.labels["next_category14"] != "garden" {
		t.Errorf("b: a purchase at exactly s+7d: purchase7=%v next_category14=%v, want 1, garden", b.labels["purchase7"], b.labels["next_category14"])
	}
	if c := at("c", s); c.labels["purchase7"] != int8(0) || c.labels["next_category14"] != "unknown" {
		t.Errorf("c: a purchase 1ms after s+7d (no category): purchase7=%v next_category14=%v, want 0, unknown", c.labels["purchase7"], c.labels["next_category14"])
	}
	if d := at("d", s); d.labels["churn30"] != int8(1) || d.feats["since_last_login"] != 0.001 {
		t.Errorf("d: last login 1ms before s: churn30=%v since_last_login=%v, want 1 and 0.001", d.labels["churn30"], d.feats["since_last_login"])
	}
	if e := at("e", s); e.labels["churn30"] != int8(0) {
		t.Errorf("e: a login at exactly s+30d: churn30=%v, want 0", e.labels["churn30"])
	}
	if _, ok := got["f@"+s.Format(time.RFC3339)]; ok {
		t.Errorf("f was first seen after s but has a row at s")
	}
	// Censoring: at s+24h, churn30's window ends at s+31d, within the data
	// (s+40d); with the data ending at s+20d it is null.
	opts.DataEnd = s.Add(20 * 24 * time.Hour)
	_, rows = export(t, training.NewMemorySource(evs), opts)
	for _, r := range rows {
		if r.id == "a" && r.at.Equal(s) {
			if r.labels["churn30"] != nil || r.labels["purchase7"] != int8(1) {
				t.Errorf("data ending at s+20d: churn30=%v (want null), purchase7=%v (want 1)", r.labels["churn30"], r.labels["purchase7"])
			}
		}
	}
}

func TestExportErrors(t *testing.T) {
	evs := randomHistory(5, 10, 6, day0)
	labels, _ := training.ParseLabels("churn30")
	base := training.Options{Set: features.Default(), From: day0, To: day0.Add(5 * 24 * time.Hour), Every: 24 * time.Hour, Labels: labels}
	bad := failingSource{training.NewMemorySource(evs), day0.Add(3 * 24 * time.Hour)}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		src  training.Source
		edit func(*training.Options)
		want string
	}{
		{"unreadable day", context.Background(), bad, nil, "date=2026-03-13/part-x-000001.parquet: corrupt"},
		{"cancelled", cancelled, training.NewMemorySource(evs), nil, "context canceled"},
		{"empty archive", context.Background(), training.NewMemorySource(nil), nil, "no events"},
		{"to before from", context.Background(), training.NewMemorySource(evs), func(o *training.Options) { o.To = o.From.Add(-time.Hour) }, "before from"},
		{"no period", context.Background(), training.NewMemorySource(evs), func(o *training.Options) { o.Every = 0 }, "period must be positive"},
		{"format", context.Background(), training.NewMemorySource(evs), func(o *training.Options) { o.Format = "csv" }, `format "csv"`},
		{"label named like a feature", context.Background(), training.NewMemorySource(evs), func(o *training.Options) {
			o.Labels = []training.Label{{Name: "revenue_30d", Kind: training.Purchase, Horizon: time.Hour}}
		}, `label "revenue_30d" has the name of a feature`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := base
			if tc.edit != nil {
				tc.edit(&opts)
			}
			_, err := training.Export(tc.ctx, tc.src, io.Discard, opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseLabels(t *testing.T) {
	got, err := training.ParseLabels(" churn30, purchase7 ,next_category14")
	if err != nil || len(got) != 3 || got[0].Horizon != 30*24*time.Hour || got[2].Kind != training.NextCategory {
		t.Errorf("ParseLabels = %+v, %v", got, err)
	}
	for in, want := range map[string]string{
		"churn":            "whole number of days",
		"purchase07":       "whole number of days",
		"churn400":         "1 to 365",
		"ltv30":            `unknown label "ltv30"`,
		"churn30,churn30":  "given twice",
		"next_category-14": "whole number of days",
	} {
		if _, err := training.ParseLabels(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseLabels(%q) error %v, want %q", in, err, want)
		}
	}
}

// TestExportFormats: Arrow IPC and Parquet hold the same rows and schema,
// with the export's provenance in the schema metadata.
func TestExportFormats(t *testing.T) {
	evs := randomHistory(8, 30, 10, day0)
	labels, _ := training.ParseLabels("churn30,purchase7,next_category14")
	opts := training.Options{Set: features.Default(), From: day0.Add(24 * time.Hour), To: day0.Add(9 * 24 * time.Hour), Every: 12 * time.Hour, Labels: labels}
	schemas := map[training.Format]*arrow.Schema{}
	rows := map[training.Format][]row{}
	for _, f := range []training.Format{training.Parquet, training.Arrow} {
		opts.Format = f
		var buf bytes.Buffer
		if _, err := training.Export(context.Background(), training.NewMemorySource(evs), &buf, opts); err != nil {
			t.Fatal(err)
		}
		schemas[f], rows[f] = readSet(t, buf.Bytes(), f)
	}
	if len(rows[training.Parquet]) == 0 {
		t.Fatal("no rows")
	}
	if diff := cmp.Diff(rows[training.Parquet], rows[training.Arrow], cmp.AllowUnexported(row{}), cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("Parquet and Arrow rows differ (-parquet +arrow):\n%s", diff)
	}
	for f, s := range schemas {
		names := make([]string, 0, len(s.Fields()))
		for _, fl := range s.Fields() {
			names = append(names, fl.Name)
		}
		want := append(append([]string{"customer_id", "snapshot_at"}, features.Default().Names()...), "churn30", "purchase7", "next_category14")
		if diff := cmp.Diff(want, names); diff != "" {
			t.Errorf("%s columns (-want +got):\n%s", f, diff)
		}
		md := s.Metadata()
		if v, _ := md.GetValue("kairos.export.labels"); v != "churn30,purchase7,next_category14" {
			t.Errorf("%s metadata kairos.export.labels = %q", f, v)
		}
	}
}
