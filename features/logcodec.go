package features

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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

// DecodeLogRecord decodes what AppendLogRecord wrote. It validates shape and
// value types, not the event rules (those held when the event was accepted).
// It parses the record itself (the reward joiner decodes every record of
// the log; encoding/json took most of its time): one allocation for the
// record's text, whose unescaped strings the event's fields share.
func DecodeLogRecord(b []byte) (Event, time.Time, error) {
	e, at, err := decodeLogRecord(string(b))
	if err != nil {
		return Event{}, time.Time{}, fmt.Errorf("features: decode log record: %w", err)
	}
	return e, at, nil
}

func decodeLogRecord(s string) (Event, time.Time, error) {
	var (
		e      Event
		ts, at int64
		seen   [6]bool // id, cid, type, ts, at, props
	)
	p := propsParser{s: s}
	p.space()
	if !p.consume('{') {
		return e, time.Time{}, errLogRecord
	}
	p.space()
	if !p.consume('}') {
		for {
			p.space()
			k, err := p.str()
			if err != nil {
				return e, time.Time{}, err
			}
			p.space()
			if !p.consume(':') {
				return e, time.Time{}, errLogRecord
			}
			p.space()
			field := slices.Index(logRecordFields[:], k)
			if field >= 0 {
				if seen[field] {
					return e, time.Time{}, fmt.Errorf("%q given twice", k)
				}
				seen[field] = true
			}
			switch field {
			case 0, 1, 2: // id, cid, type
				v, err := p.str()
				if err != nil {
					return e, time.Time{}, fmt.Errorf("%s: %w", k, err)
				}
				*[...]*string{&e.ID, &e.CustomerID, &e.Type}[field] = v
			case 3, 4: // ts, at
				start := p.i
				if !p.number() {
					return e, time.Time{}, fmt.Errorf("%s: want an integer (unix milliseconds)", k)
				}
				n, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
				if err != nil {
					return e, time.Time{}, fmt.Errorf("%s: want an integer (unix milliseconds)", k)
				}
				*[...]*int64{&ts, &at}[field-3] = n
			case 5: // props
				if strings.HasPrefix(p.s[p.i:], "null") {
					p.i += len("null")
					break
				}
				props, err := p.object(nil)
				if err != nil {
					return e, time.Time{}, fmt.Errorf("props: %w", err)
				}
				for k, v := range props {
					if v.Kind == 0 {
						return e, time.Time{}, fmt.Errorf("property %q: want a string, finite number or bool, got null", k)
					}
				}
				e.Properties = props
			default: // an unknown field: skipped, as a newer writer's
				if _, err := p.value(); err != nil {
					return e, time.Time{}, fmt.Errorf("%s: %w", k, err)
				}
			}
			p.space()
			if p.consume('}') {
				break
			}
			if !p.consume(',') {
				return e, time.Time{}, errLogRecord
			}
		}
	}
	if err := p.end(); err != nil {
		return e, time.Time{}, err
	}
	if e.ID == "" || e.CustomerID == "" || e.Type == "" {
		return e, time.Time{}, errors.New("id, cid and type are required")
	}
	e.Time = time.UnixMilli(ts).UTC()
	return e, time.UnixMilli(at).UTC(), nil
}

// logRecordFields are the fields of a log record, in AppendLogRecord's
// order.
var logRecordFields = [...]string{"id", "cid", "type", "ts", "at", "props"}

var errLogRecord = errors.New(`want a JSON object {"id","cid","type","ts","at","props"}`)
