package archive

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"unicode/utf8"

	"kairos/features"
)

// appendProps appends the JSON object of the properties of p named by keys
// (sorted) to dst. A number that is not finite and a value without a kind,
// which JSON cannot hold and event validation rejects, are written as null.
func appendProps(dst []byte, p map[string]features.Value, keys []string) []byte {
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = features.AppendJSONString(dst, k)
		dst = append(dst, ':')
		dst = features.AppendJSONValue(dst, p[k])
	}
	return append(dst, '}')
}

var errPropsJSON = errors.New("want a JSON object of strings, numbers and bools")

// parseProps adds the properties of the JSON object s to m, allocating m
// when nil, and returns m. Strings without escapes are substrings of s.
// A key already in m is an error, and so is anything but an object of
// string, number, bool or null values (null reads as a Value without kind,
// see appendProps).
func parseProps(s string, m map[string]features.Value) (map[string]features.Value, error) {
	p := parser{s: s}
	p.space()
	if !p.consume('{') {
		return m, errPropsJSON
	}
	p.space()
	if p.consume('}') {
		return m, p.end()
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
			m = make(map[string]features.Value, 4)
		}
		if _, dup := m[k]; dup {
			return m, errors.New("property " + strconv.Quote(k) + " given twice")
		}
		m[k] = v
		p.space()
		if p.consume('}') {
			return m, p.end()
		}
		if !p.consume(',') {
			return m, errPropsJSON
		}
	}
}

type parser struct {
	s string
	i int
}

func (p *parser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) consume(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) end() error {
	p.space()
	if p.i != len(p.s) {
		return errors.New("data after the JSON object")
	}
	return nil
}

// str parses a JSON string.
func (p *parser) str() (string, error) {
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
func (p *parser) value() (features.Value, error) {
	if p.i >= len(p.s) {
		return features.Value{}, errPropsJSON
	}
	switch c := p.s[p.i]; {
	case c == '"':
		s, err := p.str()
		return features.String(s), err
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(p.s)-p.i >= len(lit) && p.s[p.i:p.i+len(lit)] == lit {
				p.i += len(lit)
				switch lit {
				case "true":
					return features.Bool(true), nil
				case "false":
					return features.Bool(false), nil
				}
				return features.Value{}, nil
			}
		}
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		if !p.number() {
			return features.Value{}, errors.New("invalid number")
		}
		f, err := strconv.ParseFloat(p.s[start:p.i], 64)
		if err != nil || math.IsInf(f, 0) {
			return features.Value{}, errors.New("number out of range")
		}
		return features.Number(f), nil
	}
	return features.Value{}, errPropsJSON
}

// number consumes a JSON number (RFC 8259 grammar).
func (p *parser) number() bool {
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

func (p *parser) digits() int {
	n := 0
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}
