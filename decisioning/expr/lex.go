package expr

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"kairos/features"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tNum
	tDur
	tName
	tTrue
	tFalse
	tAnd
	tOr
	tNot
	tLParen
	tRParen
	tLt
	tLe
	tGt
	tGe
	tEq
	tNe
	tAdd
	tSub
	tMul
	tDiv
)

var tokText = [...]string{
	tEOF: "end of expression", tTrue: "true", tFalse: "false", tAnd: "and", tOr: "or", tNot: "not",
	tLParen: "(", tRParen: ")", tLt: "<", tLe: "<=", tGt: ">", tGe: ">=", tEq: "==", tNe: "!=",
	tAdd: "+", tSub: "-", tMul: "*", tDiv: "/",
}

var keywords = map[string]tokKind{"and": tAnd, "or": tOr, "not": tNot, "true": tTrue, "false": tFalse}

// token is one lexeme: its kind, where it starts, its text as written and,
// for numbers and durations, its value (durations in seconds).
type token struct {
	kind tokKind
	pos  int
	text string
	val  float64
}

// describe names the token in messages: `")"`, `"churn"`, `end of expression`.
func (t token) describe() string {
	if t.kind == tEOF {
		return tokText[tEOF]
	}
	return strconv.Quote(t.text)
}

func isDigit(c byte) bool    { return '0' <= c && c <= '9' }
func isLower(c byte) bool    { return 'a' <= c && c <= 'z' }
func isUpper(c byte) bool    { return 'A' <= c && c <= 'Z' }
func isSpace(c byte) bool    { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isNamePart(c byte) bool { return isLower(c) || isDigit(c) || c == '_' }

// isWord reports whether c may continue a word: what is glued to a number
// or a name is read with it, so that "2and" or "Churn" is one bad token
// rather than two good ones.
func isWord(c byte) bool { return isNamePart(c) || isUpper(c) || c == '.' }

// lexer reads tokens on demand, so that the first error in the source is
// the one reported.
type lexer struct {
	src string
	i   int
}

func (l *lexer) errf(pos int, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// next returns the next token.
func (l *lexer) next() (token, *Error) {
	s := l.src
	for l.i < len(s) && isSpace(s[l.i]) {
		l.i++
	}
	start := l.i
	if start == len(s) {
		return token{kind: tEOF, pos: start}, nil
	}
	c := s[start]
	switch {
	case isDigit(c):
		return l.number()
	case isLower(c) || isUpper(c):
		return l.name()
	}
	op := func(k tokKind, n int) (token, *Error) {
		l.i += n
		return token{kind: k, pos: start, text: s[start:l.i]}, nil
	}
	var c2 byte
	if start+1 < len(s) {
		c2 = s[start+1]
	}
	switch c {
	case '(':
		return op(tLParen, 1)
	case ')':
		return op(tRParen, 1)
	case '+':
		return op(tAdd, 1)
	case '-':
		return op(tSub, 1)
	case '*':
		return op(tMul, 1)
	case '/':
		return op(tDiv, 1)
	case '<':
		switch c2 {
		case '=':
			return op(tLe, 2)
		case '>':
			return token{}, l.errf(start, `"<>" is not an operator: write "!=" for "not equal"`)
		}
		return op(tLt, 1)
	case '>':
		if c2 == '=' {
			return op(tGe, 2)
		}
		return op(tGt, 1)
	case '=':
		switch c2 {
		case '=':
			return op(tEq, 2)
		case '<':
			return token{}, l.errf(start, `"=<" is not an operator: write "<="`)
		case '>':
			return token{}, l.errf(start, `"=>" is not an operator: write ">="`)
		}
		return token{}, l.errf(start, `"=" is not an operator: write "==" to compare`)
	case '!':
		if c2 == '=' {
			return op(tNe, 2)
		}
		return token{}, l.errf(start, `"!" is not an operator: write "not" (or "!=" for "not equal")`)
	case '&':
		return token{}, l.errf(start, `%q is not an operator: write "and"`, strings.Repeat("&", 1+b2i(c2 == '&')))
	case '|':
		return token{}, l.errf(start, `%q is not an operator: write "or"`, strings.Repeat("|", 1+b2i(c2 == '|')))
	case '%':
		return token{}, l.errf(start, `"%%" is not an operator: write a share as a fraction (0.05 for 5%%)`)
	case '"', '\'', '`':
		return token{}, l.errf(start, "quotes are not part of expressions: write names and numbers without them")
	case '.':
		if isDigit(c2) {
			return token{}, l.errf(start, "a number starts with a digit: write 0%s", l.word(start))
		}
	case '_':
		return token{}, l.errf(start, "a name starts with a lowercase letter a-z, not %q", l.word(start))
	}
	r, _ := utf8.DecodeRuneInString(s[start:])
	if r == utf8.RuneError {
		return token{}, l.errf(start, "invalid UTF-8 byte %#x", c)
	}
	if alt, ok := unicodeOps[r]; ok {
		return token{}, l.errf(start, "unexpected character %q: write %q", r, alt)
	}
	return token{}, l.errf(start, "unexpected character %q", r)
}

var unicodeOps = map[rune]string{'≤': "<=", '≥': ">=", '≠': "!=", '¬': "not", '∧': "and", '∨': "or", '−': "-", '×': "*", '÷': "/"}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// word returns the run of word bytes starting at i (for messages).
func (l *lexer) word(i int) string {
	j := i + 1
	for j < len(l.src) && isWord(l.src[j]) {
		j++
	}
	return l.src[i:j]
}

// number reads a number or a duration: a number with letters glued to it
// must be a duration as features.ParseDuration reads it.
func (l *lexer) number() (token, *Error) {
	s, start := l.src, l.i
	i := start
	digits := func() {
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	digits()
	if i+1 < len(s) && s[i] == '.' && isDigit(s[i+1]) {
		i++
		digits()
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && isDigit(s[j]) {
			i = j
			digits()
		}
	}
	numEnd := i
	for i < len(s) && isWord(s[i]) {
		i++
	}
	l.i = i
	text := s[start:i]
	if i == numEnd {
		v, err := strconv.ParseFloat(text, 64)
		if err != nil && !math.IsInf(v, 0) {
			return token{}, l.errf(start, "%q is not a number", text)
		}
		if math.IsInf(v, 0) {
			if len(text) > 20 {
				text = text[:17] + "..."
			}
			return token{}, l.errf(start, "%s is too large for a number", text)
		}
		return token{kind: tNum, pos: start, text: text, val: v}, nil
	}
	d, err := features.ParseDuration(text)
	if err != nil {
		if n, ok := strings.CutSuffix(text, "d"); ok && !strings.ContainsFunc(n, unicode.IsLetter) {
			// ParseDuration's own message says how to write days.
			return token{}, l.errf(start, "%v", err)
		}
		return token{}, l.errf(start, "%q is not a number or a duration: write numbers like 2 or 0.5, durations like 30m, 24h or 7d, and put a space between words", text)
	}
	return token{kind: tDur, pos: start, text: text, val: d.Seconds()}, nil
}

// name reads a name or a keyword.
func (l *lexer) name() (token, *Error) {
	s, start := l.src, l.i
	i := start
	for i < len(s) && (isWord(s[i]) && s[i] != '.' || s[i] == ':') {
		i++
	}
	l.i = i
	text := s[start:i]
	if lower := strings.ToLower(text); lower != text {
		if _, ok := keywords[lower]; ok {
			return token{}, l.errf(start, "keywords are lowercase: write %q, not %q", lower, text)
		}
		return token{}, l.errf(start, "names are lowercase: write %q, not %q", lower, text)
	}
	if k, ok := keywords[text]; ok {
		return token{kind: k, pos: start, text: text}, nil
	}
	head, class, hasClass := strings.Cut(text, ":")
	switch {
	case hasClass && class == "":
		return token{}, l.errf(start, "%q: a name after %q is missing (as in nba:discount)", text, head+":")
	case strings.Contains(class, ":"):
		return token{}, l.errf(start, "%q: a name has at most one \":\" (as in nba:discount)", text)
	}
	return token{kind: tName, pos: start, text: text}, nil
}
