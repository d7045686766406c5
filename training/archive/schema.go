package archive

import (
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"kairos/features"
)

// Version is the archive schema version, stored under VersionKey in every
// file's metadata.
const Version = "1"

// VersionKey is the metadata key of the schema version.
const VersionKey = "kairos.archive.version"

// Column indices of the schema.
const (
	colEventID = iota
	colCustomerID
	colType
	colTimestamp
	colArrivedAt
	colAmount
	colCurrency
	colProductID
	colCategory
	colPage
	colPlanPrice
	colProperties
	colLogID
	numCols
)

var timestampType = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}

// schema is the Arrow schema of every archive file.
var schema = arrow.NewSchema([]arrow.Field{
	colEventID:    {Name: "event_id", Type: arrow.BinaryTypes.String},
	colCustomerID: {Name: "customer_id", Type: arrow.BinaryTypes.String},
	colType:       {Name: "type", Type: arrow.BinaryTypes.String},
	colTimestamp:  {Name: "timestamp", Type: timestampType},
	colArrivedAt:  {Name: "arrived_at", Type: timestampType},
	colAmount:     {Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	colCurrency:   {Name: "currency", Type: arrow.BinaryTypes.String, Nullable: true},
	colProductID:  {Name: "product_id", Type: arrow.BinaryTypes.String, Nullable: true},
	colCategory:   {Name: "category", Type: arrow.BinaryTypes.String, Nullable: true},
	colPage:       {Name: "page", Type: arrow.BinaryTypes.String, Nullable: true},
	colPlanPrice:  {Name: "plan_price", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	colProperties: {Name: "properties", Type: arrow.BinaryTypes.String, Nullable: true},
	colLogID:      {Name: "log_id", Type: arrow.BinaryTypes.String},
}, func() *arrow.Metadata {
	md := arrow.NewMetadata([]string{VersionKey}, []string{Version})
	return &md
}())

// typedProps are the common properties with a column of their own, by
// column index, and the kind their column holds.
var typedProps = [numCols]struct {
	name string
	kind features.Kind
}{
	colAmount:    {"amount", features.KindNumber},
	colCurrency:  {"currency", features.KindString},
	colProductID: {"product_id", features.KindString},
	colCategory:  {"category", features.KindString},
	colPage:      {"page", features.KindString},
	colPlanPrice: {"plan_price", features.KindNumber},
}

// typedCol returns the column of a property of kind k, or 0 when it has
// none (its name has no column or its kind is not the column's).
func typedCol(name string, k features.Kind) int {
	var c int
	switch name {
	case "amount":
		c = colAmount
	case "currency":
		c = colCurrency
	case "product_id":
		c = colProductID
	case "category":
		c = colCategory
	case "page":
		c = colPage
	case "plan_price":
		c = colPlanPrice
	default:
		return 0
	}
	if typedProps[c].kind != k {
		return 0
	}
	return c
}

const dayMillis = 24 * 60 * 60 * 1000

// dayOf returns the UTC day (days since the Unix epoch) of a time in Unix
// milliseconds.
func dayOf(ms int64) int64 {
	d := ms / dayMillis
	if ms%dayMillis < 0 {
		d--
	}
	return d
}

// dayTime returns the UTC midnight of a day.
func dayTime(day int64) time.Time {
	return time.UnixMilli(day * dayMillis).UTC()
}

const dateLayout = "2006-01-02"

// partition returns the directory name of a day: date=YYYY-MM-DD.
func partition(day int64) string {
	return "date=" + dayTime(day).Format(dateLayout)
}

// parsePartition parses a partition directory name.
func parsePartition(name string) (int64, bool) {
	s, ok := strings.CutPrefix(name, "date=")
	if !ok {
		return 0, false
	}
	t, err := time.Parse(dateLayout, s)
	if err != nil || t.Format(dateLayout) != s {
		return 0, false
	}
	return dayOf(t.UnixMilli()), true
}

// fileName returns the name of a writer's file.
func fileName(writer string, seq int) string {
	return fmt.Sprintf("part-%s-%06d.parquet", writer, seq)
}

// parseFileName returns the writer id and seq of a file name, or ok false
// when it is not one.
func parseFileName(name string) (writer string, seq int, ok bool) {
	s, ok := strings.CutPrefix(name, "part-")
	if !ok {
		return "", 0, false
	}
	if s, ok = strings.CutSuffix(s, ".parquet"); !ok {
		return "", 0, false
	}
	i := strings.LastIndexByte(s, '-')
	if i <= 0 || !validID(s[:i]) {
		return "", 0, false
	}
	n := 0
	for _, c := range s[i+1:] {
		if c < '0' || c > '9' || n > 1e12 {
			return "", 0, false
		}
		n = n*10 + int(c-'0')
	}
	if i+1 == len(s) {
		return "", 0, false
	}
	return s[:i], n, true
}

// validID reports whether id is a valid writer id: [A-Za-z0-9_]+.
func validID(id string) bool {
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ignored reports whether a directory entry is not part of the archive:
// metadata ("_…", "….") or the temporary file of a write ("*.tmp-*").
func ignored(name string) bool {
	return strings.HasPrefix(name, "_") || strings.HasPrefix(name, ".") || strings.Contains(name, ".tmp-")
}
