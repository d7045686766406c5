package features

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendLogRecord appends the event log encoding of an accepted event to
// dst: one line of JSON, {"id","cid","type","ts"(unix ms),"at"(arrival,
// unix ms),"props"}, without the newline. A log entry is the records of one
// Track call joined by newlines; DecodeLogEntry decodes it.
func AppendLogRecord(dst []byte, e *Event, arrived time.Time) []byte {
	dst = append(dst, `{"id":`...)
	dst = AppendJSONString(dst, e.ID)
	dst = append(dst, `,"cid":`...)
	dst = AppendJSONString(dst, e.CustomerID)
	dst = append(dst, `,"type":`...)
	dst = AppendJSONString(dst, e.Type)
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
			dst = AppendJSONString(dst, k)
			dst = append(dst, ':')
			dst = AppendJSONValue(dst, v)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// AppendJSONValue appends a property value as JSON: a string, number or
// bool. A number that is not finite and a value without a kind, which JSON
// cannot hold and event validation rejects, are written as null.
func AppendJSONValue(dst []byte, v Value) []byte {
	switch v.Kind {
	case KindString:
		return AppendJSONString(dst, v.Str)
	case KindNumber:
		if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
			return append(dst, "null"...)
		}
		return strconv.AppendFloat(dst, v.Num, 'g', -1, 64)
	case KindBool:
		return strconv.AppendBool(dst, v.Bool)
	}
	return append(dst, "null"...)
}

// AppendJSONString appends s as a JSON string. Only quotes, backslashes and
// control characters are escaped, so an encoded string never holds a raw
// newline; invalid UTF-8 becomes U+FFFD (as encoding/json does), and valid
// input (event validation demands it) round-trips exactly.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// DecodeLogEntry decodes a log entry: the newline-separated records of one
// Track call. Arrived is the arrival time of its events.
func DecodeLogEntry(b []byte) (events []Event, arrived time.Time, err error) {
	for n := 0; len(b) > 0; n++ {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		e, at, err := DecodeLogRecord(line)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("record %d: %w", n, err)
		}
		events = append(events, e)
		arrived = at
	}
	if len(events) == 0 {
		return nil, time.Time{}, fmt.Errorf("features: decode log entry: no records")
	}
	return events, arrived, nil
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
