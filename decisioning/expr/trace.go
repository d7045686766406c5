package expr

import (
	"math"
	"strconv"
	"strings"
	"time"

	"kairos/features"
)

// Step is one comparison of an evaluation, as EvalTrace reports it.
type Step struct {
	// Op is the comparison: "<", "<=", ">", ">=", "==" or "!=".
	Op string
	// Left and Right are its operands.
	Left, Right Operand
	// Result is the comparison's value.
	Result bool
}

// Operand is one side of a comparison.
type Operand struct {
	// Expr is the operand in canonical form: "pricing_views_24h", "2",
	// "7d", "revenue_30d / purchases_30d".
	Expr string
	// Value is the operand's value: NaN when missing; 1 or 0 for
	// true/false; seconds for a duration.
	Value float64
	// Truth reports whether the operand is true/false rather than a number.
	Truth bool
	// Literal reports whether Expr is a literal, whose value is its text.
	Literal bool
	// Duration reports whether Expr is a duration literal ("7d").
	Duration bool
}

// String writes the step as explanations show it:
//
//	pricing_views_24h = 3 >= 2: true
//	since_last_login = 864000 (10d) > 7d: true
//	since_last_login = missing > 7d: false
//	(revenue_30d / purchases_30d) = 62.5 > 50: true
//	(churn > 0.7) = false == (propensity > 0.2) = true: false
func (s Step) String() string {
	var b strings.Builder
	s.Left.write(&b, s.Right.Duration)
	b.WriteByte(' ')
	b.WriteString(s.Op)
	b.WriteByte(' ')
	s.Right.write(&b, s.Left.Duration)
	b.WriteString(": ")
	b.WriteString(strconv.FormatBool(s.Result))
	return b.String()
}

// write writes the operand: its text, in parentheses unless it is a name
// or a literal, and its value unless it is a literal. asDuration adds the
// value as a duration, when the other side is one.
func (o Operand) write(b *strings.Builder, asDuration bool) {
	if o.Literal {
		b.WriteString(o.Expr)
		return
	}
	name := isName(o.Expr)
	if !name {
		b.WriteByte('(')
	}
	b.WriteString(o.Expr)
	if !name {
		b.WriteByte(')')
	}
	b.WriteString(" = ")
	switch {
	case o.Truth:
		b.WriteString(strconv.FormatBool(o.Value != 0))
	case math.IsNaN(o.Value) && name:
		b.WriteString("missing")
	default:
		b.WriteString(formatNumber(o.Value))
		if asDuration && o.Value >= 0 && o.Value < float64(math.MaxInt64/int64(time.Second)) {
			d := time.Duration(math.Round(o.Value)) * time.Second
			b.WriteString(" (")
			b.WriteString(features.FormatDuration(d))
			b.WriteByte(')')
		}
	}
}

// isName reports whether a canonical operand is a name: anything else
// either has spaces (a binary operator) or starts with "-".
func isName(s string) bool { return !strings.ContainsAny(s, " -") }

// formatNumber writes v in decimal when that is short, as 1e+21 when not.
func formatNumber(v float64) string {
	if a := math.Abs(v); a == 0 || a >= 1e-6 && a < 1e21 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// EvalTrace evaluates e on vals as Eval does and also returns every
// comparison with its operands' values and its result, in the order of the
// source, including those that "and" and "or" did not need to settle the
// result (Eval skips them). It is meant for explanations, and allocates.
func (e *Expr) EvalTrace(vals []float64) (bool, []Step) {
	var steps []Step
	v := e.root.eval(vals, &steps)
	return v != 0, steps
}

// eval evaluates n with the semantics of run, appending the comparisons
// to steps.
func (n *node) eval(vals []float64, steps *[]Step) float64 {
	switch n.op {
	case tNum, tDur, tTrue, tFalse:
		return n.val
	case tName:
		if uint(n.slot) < uint(len(vals)) {
			return vals[n.slot]
		}
		return math.NaN()
	case tNot:
		return 1 - n.l.eval(vals, steps)
	case tAnd:
		l, r := n.l.eval(vals, steps), n.r.eval(vals, steps)
		return truthOf(l != 0 && r != 0)
	case tOr:
		l, r := n.l.eval(vals, steps), n.r.eval(vals, steps)
		return truthOf(l != 0 || r != 0)
	}
	if n.neg {
		return -n.l.eval(vals, steps)
	}
	x, y := n.l.eval(vals, steps), n.r.eval(vals, steps)
	v := apply(binOps[n.op], x, y)
	if isCompare(n.op) {
		*steps = append(*steps, Step{Op: tokText[n.op], Left: n.l.operand(x), Right: n.r.operand(y), Result: v != 0})
	}
	return v
}

func (n *node) operand(v float64) Operand {
	return Operand{
		Expr:     n.String(),
		Value:    v,
		Truth:    n.typ == truth,
		Literal:  n.op == tNum || n.op == tDur || n.op == tTrue || n.op == tFalse,
		Duration: n.op == tDur,
	}
}
