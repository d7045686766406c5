package features

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
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
		dst = append(dst, `,"props":`...)
		dst = AppendPropsJSON(dst, e.Properties, nil)
	}
	return append(dst, '}')
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
	ID    string          `json:"id"`
	CID   string          `json:"cid"`
	Type  string          `json:"type"`
	TS    int64           `json:"ts"`
	At    int64           `json:"at"`
	Props json.RawMessage `json:"props"`
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
	if len(r.Props) > 0 && string(r.Props) != "null" {
		props, err := ParsePropsJSON(string(r.Props), nil)
		if err != nil {
			return Event{}, time.Time{}, fmt.Errorf("features: decode log record: props: %w", err)
		}
		for k, v := range props {
			if v.Kind == 0 {
				return Event{}, time.Time{}, fmt.Errorf("features: decode log record: property %q: want a string, finite number or bool, got null", k)
			}
		}
		e.Properties = props
	}
	return e, time.UnixMilli(r.At).UTC(), nil
}
