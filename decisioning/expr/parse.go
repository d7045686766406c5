package expr

import (
	"fmt"
	"math"
	"strings"
)

// typ is the type of a value: a number or a truth value.
type typ uint8

const (
	number typ = iota
	truth
)

func (t typ) String() string {
	if t == truth {
		return "true/false"
	}
	return "a number"
}

// node is one node of the syntax tree. Literals and names are leaves;
// "not" and negation have l only; binary operators have l and r.
type node struct {
	op    tokKind // tNum, tDur, tTrue, tFalse, tName, tNot, tSub (binary or negation), ...
	neg   bool    // op is tSub as negation
	start int     // where the node's text starts, opening parenthesis included
	text  string  // literal or name as written
	val   float64 // number or duration (seconds)
	slot  int     // name's slot
	typ   typ
	l, r  *node
}

// Precedence levels, loosest first.
const (
	precOr = 1 + iota
	precAnd
	precNot
	precCmp
	precSum
	precProduct
	precNeg
	precAtom
)

func (n *node) prec() int {
	switch n.op {
	case tOr:
		return precOr
	case tAnd:
		return precAnd
	case tNot:
		return precNot
	case tLt, tLe, tGt, tGe, tEq, tNe:
		return precCmp
	case tAdd:
		return precSum
	case tSub:
		if n.neg {
			return precNeg
		}
		return precSum
	case tMul, tDiv:
		return precProduct
	}
	return precAtom
}

// format writes the canonical form of n (see the package documentation).
func (n *node) format(b *strings.Builder) {
	p := n.prec()
	sub := func(c *node, parens bool) {
		if parens {
			b.WriteByte('(')
		}
		c.format(b)
		if parens {
			b.WriteByte(')')
		}
	}
	switch {
	case p == precAtom:
		b.WriteString(n.text)
	case n.op == tNot:
		b.WriteString("not ")
		sub(n.l, n.l.prec() < precNot)
	case n.neg:
		b.WriteByte('-')
		sub(n.l, n.l.prec() < precNeg)
	default:
		// Left-associative: a left operand of the same level needs no
		// parentheses, except under a comparison (non-associative); a right
		// operand of the same level always does.
		lp := n.l.prec()
		sub(n.l, lp < p || lp == p && p == precCmp)
		b.WriteByte(' ')
		b.WriteString(tokText[n.op])
		b.WriteByte(' ')
		sub(n.r, n.r.prec() <= p)
	}
}

func (n *node) String() string {
	var b strings.Builder
	n.format(&b)
	return b.String()
}

// quote quotes n's canonical form for a message, shortened when long.
func (n *node) quote() string {
	s := n.String()
	const max = 40
	if len(s) > max {
		s = s[:max-3] + "..."
	}
	return fmt.Sprintf("%q", s)
}

type parser struct {
	lex   lexer
	tok   token // the current token
	env   Env
	depth int
}

func (p *parser) advance() *Error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) errf(pos int, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// nest enters one more level of nesting at pos.
func (p *parser) nest(pos int) *Error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errf(pos, "nested more than %d levels deep (parentheses, \"not\" and \"-\")", MaxDepth)
	}
	return nil
}

// parse parses the whole source: one expression and the end.
func parse(src string, env Env) (*node, *Error) {
	p := &parser{lex: lexer{src: src}, env: env}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tEOF {
		return nil, p.errf(0, "empty expression: write a condition such as \"churn > 0.7\"")
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.unexpected("an operator or the end of the expression")
	}
	if n.typ != truth {
		hint := ""
		if s := n.String(); len(s) <= 40 {
			hint = fmt.Sprintf(", as in \"%s > 0\"", s)
		}
		return nil, p.errf(n.start, "the expression must be true or false, but %s is a number: compare it%s", n.quote(), hint)
	}
	return n, nil
}

// unexpected is the error of the current token where expected was wanted.
func (p *parser) unexpected(expected string) *Error {
	t := p.tok
	switch t.kind {
	case tRParen:
		if p.depth == 0 {
			return p.errf(t.pos, "%q has no matching \"(\"", ")")
		}
	case tName:
		if kw := suggest(t.text, []string{"and", "or", "not"}); kw != "" {
			return p.errf(t.pos, "expected %s, found %s (did you mean %q?)", expected, t.describe(), kw)
		}
	}
	return p.errf(t.pos, "expected %s, found %s", expected, t.describe())
}

// binary builds the node of operator t and type-checks it.
func (p *parser) binary(t token, l, r *node) (*node, *Error) {
	n := &node{op: t.kind, start: l.start, l: l, r: r}
	op := tokText[t.kind]
	switch t.kind {
	case tAnd, tOr:
		n.typ = truth
		for _, c := range [2]*node{l, r} {
			if c.typ != truth {
				return nil, p.errf(c.start, "%q needs true/false on both sides; %s is a number", op, c.quote())
			}
		}
	case tLt, tLe, tGt, tGe:
		n.typ = truth
		for _, c := range [2]*node{l, r} {
			if c.typ != number {
				return nil, p.errf(c.start, "%q compares numbers; %s is true/false", op, c.quote())
			}
		}
	case tEq, tNe:
		n.typ = truth
		if l.typ != r.typ {
			return nil, p.errf(t.pos, "%q compares two numbers or two true/false values; %s is %s but %s is %s", op, l.quote(), l.typ, r.quote(), r.typ)
		}
	default: // + - * /
		n.typ = number
		for _, c := range [2]*node{l, r} {
			if c.typ != number {
				return nil, p.errf(c.start, "%q needs numbers on both sides; %s is true/false", op, c.quote())
			}
		}
	}
	return n, nil
}

func (p *parser) or() (*node, *Error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tOr {
		t := p.tok
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		if l, err = p.binary(t, l, r); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (p *parser) and() (*node, *Error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tAnd {
		t := p.tok
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		if l, err = p.binary(t, l, r); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (p *parser) not() (*node, *Error) {
	if p.tok.kind != tNot {
		return p.compare()
	}
	t := p.tok
	if err := p.nest(t.pos); err != nil {
		return nil, err
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	x, err := p.not()
	if err != nil {
		return nil, err
	}
	p.depth--
	if x.typ != truth {
		return nil, p.errf(x.start, "\"not\" needs true/false; %s is a number", x.quote())
	}
	return &node{op: tNot, start: t.pos, typ: truth, l: x}, nil
}

func isCompare(k tokKind) bool { return tLt <= k && k <= tNe }

func (p *parser) compare() (*node, *Error) {
	l, err := p.sum()
	if err != nil {
		return nil, err
	}
	if !isCompare(p.tok.kind) {
		return l, nil
	}
	t := p.tok
	if err := p.advance(); err != nil {
		return nil, err
	}
	r, err := p.sum()
	if err != nil {
		return nil, err
	}
	if isCompare(p.tok.kind) {
		t2 := p.tok
		hint := fmt.Sprintf("join two comparisons with \"and\" (\"%s and %s %s ...\") or add parentheses", (&node{op: t.kind, l: l, r: r}).String(), r, tokText[t2.kind])
		return nil, p.errf(t2.pos, "comparisons cannot be chained: %s", hint)
	}
	return p.binary(t, l, r)
}

func (p *parser) sum() (*node, *Error) {
	l, err := p.product()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tAdd || p.tok.kind == tSub {
		t := p.tok
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.product()
		if err != nil {
			return nil, err
		}
		if l, err = p.binary(t, l, r); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (p *parser) product() (*node, *Error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tMul || p.tok.kind == tDiv {
		t := p.tok
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		if l, err = p.binary(t, l, r); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (p *parser) unary() (*node, *Error) {
	if p.tok.kind != tSub {
		return p.primary()
	}
	t := p.tok
	if err := p.nest(t.pos); err != nil {
		return nil, err
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	p.depth--
	if x.typ != number {
		return nil, p.errf(x.start, "\"-\" needs a number; %s is true/false", x.quote())
	}
	return &node{op: tSub, neg: true, start: t.pos, typ: number, l: x}, nil
}

const operand = "a feature, a score, a number, true, false, \"not\", \"-\" or \"(\""

func (p *parser) primary() (*node, *Error) {
	t := p.tok
	var n *node
	switch t.kind {
	case tNum, tDur:
		n = &node{op: t.kind, start: t.pos, text: t.text, val: t.val, typ: number}
	case tTrue, tFalse:
		n = &node{op: t.kind, start: t.pos, text: t.text, val: float64(b2i(t.kind == tTrue)), typ: truth}
	case tName:
		slot, ok := -1, false
		if p.env != nil {
			slot, ok = p.env.Lookup(t.text)
		}
		if !ok {
			var names []string
			if p.env != nil {
				names = p.env.Names()
			}
			if s := suggest(t.text, names); s != "" {
				return nil, p.errf(t.pos, "unknown feature or score %q (did you mean %q?)", t.text, s)
			}
			return nil, p.errf(t.pos, "unknown feature or score %q", t.text)
		}
		if slot < 0 || slot > math.MaxInt32 {
			return nil, p.errf(t.pos, "%q has slot %d, outside [0, %d]: the environment is wrong", t.text, slot, math.MaxInt32)
		}
		n = &node{op: tName, start: t.pos, text: t.text, slot: slot, typ: number}
	case tLParen:
		if err := p.nest(t.pos); err != nil {
			return nil, err
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind == tRParen {
			return nil, p.errf(p.tok.pos, "empty parentheses: expected %s", operand)
		}
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.tok.kind == tEOF {
			return nil, p.errf(t.pos, "%q is never closed: add %q", "(", ")")
		}
		if p.tok.kind != tRParen {
			return nil, p.unexpected("an operator or \")\"")
		}
		p.depth--
		x.start = t.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		return x, nil
	default:
		if t.kind == tEOF {
			return nil, p.errf(t.pos, "unexpected end of expression: expected %s", operand)
		}
		return nil, p.unexpected(operand)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return n, nil
}
