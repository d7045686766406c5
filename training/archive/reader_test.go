package archive

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"kairos/features"
)

// writeRaw writes rows (a JSON array of objects) with schema sc to a
// Parquet file at dir/rel, bypassing the Writer.
func writeRaw(t *testing.T, dir, rel string, sc *arrow.Schema, rows string) {
	t.Helper()
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, sc, strings.NewReader(rows))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	path := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	fw, err := pqarrow.NewFileWriter(sc, f, nil, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
}

// withField returns the archive schema with field i replaced (or removed,
// when f is nil) and the given metadata.
func withField(i int, f *arrow.Field, md arrow.Metadata) *arrow.Schema {
	var fields []arrow.Field
	for j, old := range schema.Fields() {
		switch {
		case j != i:
			fields = append(fields, old)
		case f != nil:
			fields = append(fields, *f)
		}
	}
	return arrow.NewSchema(fields, &md)
}

func row(id, ts, props string) string {
	p := "null"
	if props != "" {
		p = props
	}
	return `{"event_id":"` + id + `","customer_id":"c1","type":"login","timestamp":"` + ts + `","arrived_at":"2026-01-02T00:00:00Z",` +
		`"amount":null,"currency":null,"product_id":null,"category":null,"page":null,"plan_price":null,"properties":` + p + `,"log_id":""}`
}

func TestReaderValidation(t *testing.T) {
	const (
		file = "date=2026-01-02/part-x-000001.parquet"
		good = "2026-01-02T10:00:00Z"
	)
	md := arrow.NewMetadata([]string{VersionKey}, []string{Version})
	day := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		// setup builds the archive in dir.
		setup func(t *testing.T, dir string)
		open  bool // the error comes from Open
		want  []string
	}{
		{"missing column", func(t *testing.T, dir string) {
			writeRaw(t, dir, file, withField(colCustomerID, nil, md), `[{"event_id":"e1","type":"login","timestamp":"`+good+`","arrived_at":"`+good+`","log_id":""}]`)
		}, false, []string{file + `: column "customer_id" missing`}},
		{"wrong type", func(t *testing.T, dir string) {
			f := arrow.Field{Name: "customer_id", Type: arrow.PrimitiveTypes.Int64}
			writeRaw(t, dir, file, withField(colCustomerID, &f, md), `[{"event_id":"e1","customer_id":7,"type":"login","timestamp":"`+good+`","arrived_at":"`+good+`","log_id":""}]`)
		}, false, []string{file + `: column "customer_id" has type int64, want utf8`}},
		{"timestamp without time zone", func(t *testing.T, dir string) {
			f := arrow.Field{Name: "timestamp", Type: &arrow.TimestampType{Unit: arrow.Millisecond}}
			writeRaw(t, dir, file, withField(colTimestamp, &f, md), "["+row("e1", "2026-01-02T10:00:00", "")+"]")
		}, false, []string{file + `: column "timestamp" has type timestamp[ms], want timestamp[ms, tz=UTC]`}},
		{"no version", func(t *testing.T, dir string) {
			writeRaw(t, dir, file, withField(-1, nil, arrow.Metadata{}), "["+row("e1", good, "")+"]")
		}, false, []string{file + `: metadata "kairos.archive.version" missing`}},
		{"future version", func(t *testing.T, dir string) {
			writeRaw(t, dir, file, withField(-1, nil, arrow.NewMetadata([]string{VersionKey}, []string{"2"})), "["+row("e1", good, "")+"]")
		}, false, []string{file + `: schema version "2", want "1"`}},
		{"corrupt file", func(t *testing.T, dir string) {
			writeRaw(t, dir, file, schema, "["+row("e1", good, "")+"]")
			path := filepath.Join(dir, file)
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, info.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, false, []string{file + ": corrupt file"}},
		{"corrupt pages", func(t *testing.T, dir string) {
			w, err := NewWriter(dir, WriterOptions{ID: "x", NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2000 {
				w.Write([]features.Event{{ID: strconv.Itoa(i), CustomerID: "c" + strconv.Itoa(i%97), Type: "page_view", Time: day.Add(time.Duration(i) * time.Second),
					Properties: map[string]features.Value{"page": features.String("/p/" + strconv.Itoa(i)), "n": features.Number(float64(i))}}}, day, "1-0")
			}
			if _, err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			// Overwrite the pages (between the magic "PAR1" at the start
			// and the footer) with noise; the footer stays intact.
			rng := rand.New(rand.NewPCG(1, 2))
			for i := 4; i < len(b)*2/3; i++ {
				b[i] = byte(rng.Uint32())
			}
			if err := os.WriteFile(filepath.Join(dir, file), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, false, []string{file + ": corrupt file"}},
		{"not parquet", func(t *testing.T, dir string) {
			if err := os.MkdirAll(filepath.Join(dir, "date=2026-01-02"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, file), []byte("PAR1 this is not parquet at all PAR1"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, false, []string{file + ": corrupt file"}},
		{"bad properties JSON", func(t *testing.T, dir string) {
			writeRaw(t, dir, file, schema, "["+row("e1", good, `"{\"a\":1}"`)+","+row("e2", good, `"{\"a\":"`)+"]")
		}, false, []string{file + ": row 1: invalid properties JSON"}},
		{"properties not an object", func(t *testing.T, dir string) {
			writeRaw(t, dir, file, schema, "["+row("e1", good, `"[1,2]"`)+"]")
		}, false, []string{file + ": row 0: invalid properties JSON"}},
		{"nested property", func(t *testing.T, dir string) {
			writeRaw(t, dir, file, schema, "["+row("e1", good, `"{\"a\":{\"b\":1}}"`)+"]")
		}, false, []string{file + ": row 0: invalid properties JSON"}},
		{"property twice", func(t *testing.T, dir string) {
			r := strings.Replace(row("e1", good, `"{\"page\":\"/b\"}"`), `"page":null`, `"page":"/a"`, 1)
			writeRaw(t, dir, file, schema, "["+r+"]")
		}, false, []string{file + `: row 0: invalid properties JSON: property "page" given twice`}},
		{"event on another date", func(t *testing.T, dir string) {
			writeRaw(t, dir, file, schema, "["+row("e1", good, "")+","+row("e2", "2026-01-03T00:00:00Z", "")+"]")
		}, false, []string{file + ": row 1: timestamp 2026-01-03T00:00:00.000Z not on 2026-01-02"}},
		{"event the millisecond before", func(t *testing.T, dir string) {
			writeRaw(t, dir, file, schema, "["+row("e1", "2026-01-01T23:59:59.999Z", "")+"]")
		}, false, []string{file + ": row 0: timestamp 2026-01-01T23:59:59.999Z not on 2026-01-02"}},
		{"empty event id", func(t *testing.T, dir string) {
			writeRaw(t, dir, file, schema, "["+row("", good, "")+"]")
		}, false, []string{file + ": row 0: empty event_id"}},
		{"null in a required column", func(t *testing.T, dir string) {
			f := schema.Field(colCustomerID)
			f.Nullable = true
			writeRaw(t, dir, file, withField(colCustomerID, &f, md), "["+row("e1", good, "")+","+strings.Replace(row("e2", good, ""), `"customer_id":"c1"`, `"customer_id":null`, 1)+"]")
		}, false, []string{file + `: row 1: column "customer_id" is null`}},
		{"stray file in a partition", func(t *testing.T, dir string) {
			writeRaw(t, dir, file, schema, "["+row("e1", good, "")+"]")
			if err := os.WriteFile(filepath.Join(dir, "date=2026-01-02", "notes.txt"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, false, []string{"date=2026-01-02/notes.txt: unexpected entry"}},
		{"stray directory", func(t *testing.T, dir string) {
			writeRaw(t, dir, file, schema, "["+row("e1", good, "")+"]")
			if err := os.Mkdir(filepath.Join(dir, "backup"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, true, []string{`unexpected "backup": want only date=YYYY-MM-DD partition directories`}},
		{"bad date", func(t *testing.T, dir string) {
			if err := os.Mkdir(filepath.Join(dir, "date=2026-1-2"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, true, []string{`unexpected "date=2026-1-2"`}},
		{"no partitions", func(t *testing.T, dir string) {}, true, []string{"no date=YYYY-MM-DD partitions"}},
		{"no directory", func(t *testing.T, dir string) {
			if err := os.Remove(dir); err != nil {
				t.Fatal(err)
			}
		}, true, []string{"no such directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "archive")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, dir)
			r, err := Open(dir)
			if !tt.open {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				_, err = r.ReadDay(day)
			}
			if err == nil {
				t.Fatal("got no error")
			}
			want := append([]string{"archive: "}, tt.want...)
			if tt.open {
				want = append(want, dir)
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestReadDayDedup: the same event in two files (an archiver crashed
// between writing and acknowledging) is read once, the first file's copy;
// Count counts both.
func TestReadDayDedup(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	a := features.Event{ID: "e1", CustomerID: "c1", Type: "login", Time: at}
	b := features.Event{ID: "e1", CustomerID: "c2", Type: "login", Time: at} // same id, another customer
	first, err := NewWriter(dir, WriterOptions{ID: "a", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	first.Write([]features.Event{a, b}, at, "1-0")
	if _, err := first.Flush(); err != nil {
		t.Fatal(err)
	}
	second, err := NewWriter(dir, WriterOptions{ID: "b", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	dup := a
	dup.Properties = map[string]features.Value{"copy": features.Bool(true)}
	second.Write([]features.Event{dup, a}, at, "1-0")
	if _, err := second.Flush(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.ReadDay(at)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].CustomerID != "c1" || got[0].Properties != nil || got[1].CustomerID != "c2" {
		t.Errorf("ReadDay = %+v, want e1 of c1 (the first file's copy) and e1 of c2", got)
	}
	if n, err := r.Count(); n != 4 || err != nil {
		t.Errorf("Count = %d, %v; want 4 rows, duplicates included", n, err)
	}
}

// TestIsDupHashCollision: two keys with one hash are told apart.
func TestIsDupHashCollision(t *testing.T) {
	var dd dedup
	dd.init(nil, 0)
	add := func(customer, id string) bool {
		if dd.isDup(customer, id) {
			return false
		}
		dd.events = append(dd.events, features.Event{CustomerID: customer, ID: id})
		return true
	}
	if !add("c1", "a") {
		t.Fatal("first event is a duplicate")
	}
	// Make ("c2", "b") collide with ("c1", "a").
	dd.seen[dd.hash("c2", "b")] = 0
	for _, tc := range []struct {
		customer, id string
		added        bool
	}{
		{"c2", "b", true}, {"c2", "b", false}, {"c1", "a", false}, {"c1", "b", true}, {"c2", "a", true}, {"c2", "a", false},
	} {
		if got := add(tc.customer, tc.id); got != tc.added {
			t.Errorf("add(%s, %s) = %v, want %v", tc.customer, tc.id, got, tc.added)
		}
	}
}
