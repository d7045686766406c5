package features

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
)

// AppendPropsJSON appends the JSON object of the properties of p to dst:
// those named by keys, in that order, or all of them in map order when keys
// is nil. A number that is not finite and a value without a kind, which
// JSON cannot hold and event validation rejects, are written as null. It is
// the one encoding of properties: the event log's and the archive's.
func AppendPropsJSON(dst []byte, p map[string]Value, keys []string) []byte {
	dst = append(dst, '{')
	first := true
	add := func(k string, v Value) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = AppendJSONString(dst, k)
		dst = append(dst, ':')
		dst = AppendJSONValue(dst, v)
	}
	if keys == nil {
		for k, v := range p {
			add(k, v)
		}
	} else {
		for _, k := range keys {
			add(k, p[k])
		}
	}
	return append(dst, '}')
}

var errPropsJSON = errors.New("want a JSON object of strings, numbers and bools")

// ParsePropsJSON adds the properties of the JSON object s to m, allocating
// m when nil, and returns m. Strings without escapes are substrings of s.
// A key already in m is an error, and so is anything but an object of
// string, number, bool or null values (null reads as a Value without kind,
// see AppendPropsJSON).
func ParsePropsJSON(s string, m map[string]Value) (map[string]Value, error) {
	p := propsParser{s: s}
	m, err := p.object(m)
	if err != nil {
		return m, err
	}
	return m, p.end()
}

// object parses a JSON object of string, number, bool and null values at
// the parser's position into m (see ParsePropsJSON).
func (p *propsParser) object(m map[string]Value) (map[string]Value, error) {
	p.space()
	if !p.consume('{') {
		return m, errPropsJSON
	}
	p.space()
	if p.consume('}') {
		return m, nil
	}
	for {
		p.space()
		k, err := p.str()
		if err != nil {
			return m, err
		}
		p.space()
		if !p.consume(':') {
			return m, errPropsJSON
		}
		p.space()
		v, err := p.value()
		if err != nil {
			return m, err
		}
		if m == nil {
			m = make(map[string]Value, 4)
		}
		if _, dup := m[k]; dup {
			return m, errors.New("property " + strconv.Quote(k) + " given twice")
		}
		m[k] = v
		p.space()
		if p.consume('}') {
			return m, nil
		}
		if !p.consume(',') {
			return m, errPropsJSON
		}
	}
}

type propsParser struct {
	s string
	i int
}

func (p *propsParser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *propsParser) consume(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *propsParser) end() error {
	p.space()
	if p.i != len(p.s) {
		return errors.New("data after the JSON object")
	}
	return nil
}

// str parses a JSON string.
func (p *propsParser) str() (string, error) {
	if !p.consume('"') {
		return "", errPropsJSON
	}
	start := p.i
	escaped := false
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			raw := p.s[start:p.i]
			p.i++
			if !utf8.ValidString(raw) {
				return "", errors.New("invalid UTF-8 in a string")
			}
			if !escaped {
				return raw, nil
			}
			// Escapes are rare (quotes, backslashes, control characters).
			var out string
			if err := json.Unmarshal([]byte(p.s[start-1:p.i]), &out); err != nil {
				return "", errors.New("invalid string escape")
			}
			return out, nil
		case c == '\\':
			escaped = true
			p.i += 2
		case c < 0x20:
			return "", errors.New("control character in a string")
		default:
			p.i++
		}
	}
	return "", errors.New("unterminated string")
}

// value parses a string, number, bool or null.
func (p *propsParser) value() (Value, error) {
	if p.i >= len(p.s) {
		return Value{}, errPropsJSON
	}
	switch c := p.s[p.i]; {
	case c == '"':
		s, err := p.str()
		return String(s), err
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(p.s)-p.i >= len(lit) && p.s[p.i:p.i+len(lit)] == lit {
				p.i += len(lit)
				switch lit {
				case "true":
					return Bool(true), nil
				case "false":
					return Bool(false), nil
				}
				return Value{}, nil
			}
		}
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		if !p.number() {
			return Value{}, errors.New("invalid number")
		}
		f, err := strconv.ParseFloat(p.s[start:p.i], 64)
		if err != nil || math.IsInf(f, 0) {
			return Value{}, errors.New("number out of range")
		}
		return Number(f), nil
	}
	return Value{}, errPropsJSON
}

// number consumes a JSON number (RFC 8259 grammar).
func (p *propsParser) number() bool {
	p.consume('-')
	switch {
	case p.consume('0'):
	case p.digits() == 0:
		return false
	}
	if p.consume('.') && p.digits() == 0 {
		return false
	}
	if p.consume('e') || p.consume('E') {
		if !p.consume('+') {
			p.consume('-')
		}
		if p.digits() == 0 {
			return false
		}
	}
	return true
}

func (p *propsParser) digits() int {
	n := 0
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
		n++
	}
	return n
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
