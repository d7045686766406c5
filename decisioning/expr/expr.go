package expr

import (
	"fmt"
	"math"
	"slices"

	"kairos/features"
)

// Limits of an expression.
const (
	// MaxLen is the most bytes of an expression, not counting spaces, tabs
	// and line breaks (so that its canonical form, which adds spaces, is
	// within the limit too). An expression is at most 4*MaxLen bytes in all.
	MaxLen = 1000
	// MaxDepth is the deepest nesting of parentheses, "not" and negation.
	MaxDepth = 32
)

// maxStack bounds the evaluation stack of any expression within MaxDepth:
// each level of parentheses holds at most three pending left operands (of
// a comparison, a sum and a product; "and" and "or" keep none, as they
// jump over their right operand or drop their left one), plus the value at
// the top. Types make it looser than need be: the deepest stack of a
// well-typed expression is 2*MaxDepth+4.
const maxStack = 3*(MaxDepth+1) + 1

// smallStack is the stack of Eval for the common, shallow expressions
// (zeroing a maxStack array would cost more than evaluating them).
const smallStack = 16

// Env names the features and scores an expression may use.
type Env interface {
	// Lookup returns the slot of name in the vectors given to Eval, and
	// false when the name is unknown.
	Lookup(name string) (slot int, ok bool)
	// Names lists the names known, for the suggestions of errors ("did you
	// mean ..."). It may leave out names that Lookup accepts.
	Names() []string
}

// List is an Env of the names it lists: the slot of a name is its index.
type List []string

// Lookup returns the index of name in l.
func (l List) Lookup(name string) (int, bool) {
	i := slices.Index(l, name)
	return i, i >= 0
}

// Names returns l.
func (l List) Names() []string { return l }

// Features returns the Env of a feature vector of set followed by extra
// values: slot i < len(set.Names()) is the i-th feature (as in
// features.Vector.Values), and the extra names, typically scores such as
// "churn" or "nba:discount", take the slots after them in order. A
// matching vector is append(vector.Values, extraValues...).
func Features(set *features.Set, extra ...string) List {
	return slices.Concat(List(set.Names()), extra)
}

var _ Env = List(nil)

// Error is a problem in an expression's source: where it is and what is
// wrong. Its text reads
// `at column 1: unknown feature or score "pricing_view_24h" (did you mean "pricing_views_24h"?)`.
type Error struct {
	// Pos is the byte offset in the source (0-based) of the token at
	// fault; len(src) for the end of the source.
	Pos int
	// Msg says what is wrong and, where it can, how to write it.
	Msg string
}

// Error reports the position as a 1-based column; expressions are ASCII
// up to the first error, so bytes and characters count alike.
func (e *Error) Error() string {
	return fmt.Sprintf("at column %d: %s", e.Pos+1, e.Msg)
}

// opcode is an instruction of the evaluation program: a stack machine
// over float64 (truth values are 1 and 0).
type opcode uint8

const (
	opConst     opcode = iota // push k
	opLoad                    // push vals[arg], NaN when out of range
	opNeg                     // x → -x
	opNot                     // b → 1-b
	opAdd                     // x y → x+y
	opSub                     // x y → x-y
	opMul                     // x y → x*y
	opDiv                     // x y → x/y
	opLt                      // x y → x<y
	opLe                      // x y → x<=y
	opGt                      // x y → x>y
	opGe                      // x y → x>=y
	opEq                      // x y → x==y
	opNe                      // x y → x<y || x>y: false when either is NaN
	opJumpFalse               // and: if top is false jump to arg keeping it, else pop
	opJumpTrue                // or: if top is true jump to arg keeping it, else pop
)

var binOps = map[tokKind]opcode{
	tAdd: opAdd, tSub: opSub, tMul: opMul, tDiv: opDiv,
	tLt: opLt, tLe: opLe, tGt: opGt, tGe: opGe, tEq: opEq, tNe: opNe,
}

type instr struct {
	op  opcode
	arg int32 // slot or jump target
	k   float64
}

// Expr is a compiled expression. It is immutable and safe for concurrent
// use.
type Expr struct {
	prog  []instr
	depth int // the most values on the stack
	root  *node
	names []string
	str   string
}

// Compile parses and type-checks src, whose names env resolves. The whole
// expression must be true/false (see the package documentation for the
// language). A problem in src is an *Error.
func Compile(src string, env Env) (*Expr, error) {
	e, err := compile(src, env)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return e, nil
}

func compile(src string, env Env) (*Expr, *Error) {
	if len(src) > 4*MaxLen {
		return nil, &Error{Pos: 4 * MaxLen, Msg: fmt.Sprintf("the expression is %d bytes long; at most %d are allowed", len(src), 4*MaxLen)}
	}
	n := 0
	for i := 0; i < len(src); i++ {
		if !isSpace(src[i]) {
			if n++; n > MaxLen {
				return nil, &Error{Pos: i, Msg: fmt.Sprintf("the expression is longer than %d bytes (not counting spaces)", MaxLen)}
			}
		}
	}
	root, err := parse(src, env)
	if err != nil {
		return nil, err
	}
	e := &Expr{root: root, str: root.String()}
	g := gen{e: e}
	g.emit(root)
	if e.depth > maxStack {
		// Unreachable within MaxDepth; kept so that Eval can trust depth.
		return nil, &Error{Pos: 0, Msg: "the expression is too complex"}
	}
	slices.Sort(e.names)
	e.names = slices.Compact(e.names)
	return e, nil
}

// gen generates the program of a syntax tree.
type gen struct {
	e  *Expr
	sp int
}

func (g *gen) push(in instr) {
	g.e.prog = append(g.e.prog, in)
	g.sp++
	g.e.depth = max(g.e.depth, g.sp)
}

func (g *gen) emit(n *node) {
	switch n.op {
	case tNum, tDur, tTrue, tFalse:
		g.push(instr{op: opConst, k: n.val})
	case tName:
		g.push(instr{op: opLoad, arg: int32(n.slot)})
		g.e.names = append(g.e.names, n.text)
	case tNot:
		g.emit(n.l)
		g.e.prog = append(g.e.prog, instr{op: opNot})
	case tAnd, tOr:
		g.emit(n.l)
		j := len(g.e.prog)
		op := opJumpFalse
		if n.op == tOr {
			op = opJumpTrue
		}
		g.e.prog = append(g.e.prog, instr{op: op})
		g.sp-- // the right operand replaces the left one
		g.emit(n.r)
		g.e.prog[j].arg = int32(len(g.e.prog))
	default:
		g.emit(n.l)
		if n.neg {
			g.e.prog = append(g.e.prog, instr{op: opNeg})
			return
		}
		g.emit(n.r)
		g.e.prog = append(g.e.prog, instr{op: binOps[n.op]})
		g.sp--
	}
}

// Eval evaluates e on vals, indexed by the slots of the Env e was compiled
// with; NaN is a missing value, and so is a slot beyond the end of vals.
// It allocates nothing.
func (e *Expr) Eval(vals []float64) bool {
	if e.depth <= smallStack {
		var st [smallStack]float64
		return run(e.prog, st[:], vals)
	}
	var st [maxStack]float64
	return run(e.prog, st[:], vals)
}

func run(prog []instr, st, vals []float64) bool {
	sp := 0 // st[sp-1] is the top
	for pc := 0; pc < len(prog); pc++ {
		in := &prog[pc]
		switch in.op {
		case opConst:
			st[sp] = in.k
			sp++
		case opLoad:
			v := math.NaN()
			if uint(in.arg) < uint(len(vals)) {
				v = vals[in.arg]
			}
			st[sp] = v
			sp++
		case opNeg:
			st[sp-1] = -st[sp-1]
		case opNot:
			st[sp-1] = 1 - st[sp-1]
		case opJumpFalse:
			if st[sp-1] == 0 {
				pc = int(in.arg) - 1
				continue
			}
			sp--
		case opJumpTrue:
			if st[sp-1] != 0 {
				pc = int(in.arg) - 1
				continue
			}
			sp--
		case opAdd:
			sp--
			st[sp-1] += st[sp]
		case opSub:
			sp--
			st[sp-1] -= st[sp]
		case opMul:
			sp--
			st[sp-1] *= st[sp]
		case opDiv:
			sp--
			st[sp-1] /= st[sp]
		case opLt:
			sp--
			st[sp-1] = truthOf(st[sp-1] < st[sp])
		case opLe:
			sp--
			st[sp-1] = truthOf(st[sp-1] <= st[sp])
		case opGt:
			sp--
			st[sp-1] = truthOf(st[sp-1] > st[sp])
		case opGe:
			sp--
			st[sp-1] = truthOf(st[sp-1] >= st[sp])
		case opEq:
			sp--
			st[sp-1] = truthOf(st[sp-1] == st[sp])
		case opNe:
			sp--
			x, y := st[sp-1], st[sp]
			st[sp-1] = truthOf(x < y || x > y)
		}
	}
	return st[0] != 0
}

// apply applies a binary operator other than and/or, as run does (which
// inlines it; TestApply holds the two together).
func apply(op opcode, x, y float64) float64 {
	switch op {
	case opAdd:
		return x + y
	case opSub:
		return x - y
	case opMul:
		return x * y
	case opDiv:
		return x / y
	case opLt:
		return truthOf(x < y)
	case opLe:
		return truthOf(x <= y)
	case opGt:
		return truthOf(x > y)
	case opGe:
		return truthOf(x >= y)
	case opEq:
		return truthOf(x == y)
	case opNe:
		return truthOf(x < y || x > y)
	}
	panic("expr: apply of a non-binary opcode")
}

func truthOf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Names returns the names e uses, sorted, each once.
func (e *Expr) Names() []string { return slices.Clone(e.names) }

// String returns the canonical form of e (see the package documentation).
func (e *Expr) String() string { return e.str }
