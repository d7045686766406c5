package features

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendLogRecord appends the event log encoding of an accepted event to
// dst: one JSON object {"id","cid","type","ts"(unix ms),"at"(arrival, unix
// ms),"props"}. The archiver, reward joiner and dispatcher decode it with
// DecodeLogRecord.
func AppendLogRecord(dst []byte, e *Event, arrived time.Time) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendQuote(dst, e.ID)
	dst = append(dst, `,"cid":`...)
	dst = strconv.AppendQuote(dst, e.CustomerID)
	dst = append(dst, `,"type":`...)
	dst = strconv.AppendQuote(dst, e.Type)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, e.Time.UnixMilli(), 10)
	dst = append(dst, `,"at":`...)
	dst = strconv.AppendInt(dst, arrived.UnixMilli(), 10)
	if len(e.Properties) > 0 {
		dst = append(dst, `,"props":{`...)
		first := true
		for k, v := range e.Properties {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = strconv.AppendQuote(dst, k)
			dst = append(dst, ':')
			switch v.Kind {
			case KindString:
				dst = strconv.AppendQuote(dst, v.Str)
			case KindNumber:
				dst = strconv.AppendFloat(dst, v.Num, 'g', -1, 64)
			case KindBool:
				dst = strconv.AppendBool(dst, v.Bool)
			default:
				dst = append(dst, "null"...)
			}
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

type logRecord struct {
	ID    string                     `json:"id"`
	CID   string                     `json:"cid"`
	Type  string                     `json:"type"`
	TS    int64                      `json:"ts"`
	At    int64                      `json:"at"`
	Props map[string]json.RawMessage `json:"props"`
}

// DecodeLogRecord decodes what AppendLogRecord wrote. It validates shape and
// value types, not the event rules (those held when the event was accepted).
func DecodeLogRecord(b []byte) (Event, time.Time, error) {
	var r logRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return Event{}, time.Time{}, fmt.Errorf("features: decode log record: %w", err)
	}
	if r.ID == "" || r.CID == "" || r.Type == "" {
		return Event{}, time.Time{}, fmt.Errorf("features: decode log record: id, cid and type are required")
	}
	e := Event{ID: r.ID, CustomerID: r.CID, Type: r.Type, Time: time.UnixMilli(r.TS).UTC()}
	if len(r.Props) > 0 {
		e.Properties = make(map[string]Value, len(r.Props))
		for k, raw := range r.Props {
			v, err := decodeValue(raw)
			if err != nil {
				return Event{}, time.Time{}, fmt.Errorf("features: decode log record: property %q: %w", k, err)
			}
			e.Properties[k] = v
		}
	}
	return e, time.UnixMilli(r.At).UTC(), nil
}

func decodeValue(raw json.RawMessage) (Value, error) {
	if len(raw) == 0 {
		return Value{}, fmt.Errorf("empty value")
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return Value{}, err
		}
		if !utf8.ValidString(s) {
			return Value{}, fmt.Errorf("invalid UTF-8")
		}
		return String(s), nil
	case 't', 'f':
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return Value{}, err
		}
		return Bool(b), nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return Value{}, fmt.Errorf("want a string, finite number or bool, got %.20s", raw)
	}
	return Number(f), nil
}
