package decisioning

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"kairos/decisioning/expr"
	"kairos/features"
	"kairos/models"
)

// Condition is a compiled condition over a customer's features and model
// scores, written in the language of decisioning/expr: a threshold
// trigger's `when`, a live segment's predicate.
type Condition struct {
	// Source is the condition as written.
	Source string
	expr   *expr.Expr
	inputs []input // by the expression's slots
}

// conditionEnv resolves a condition's names: churn, propensity,
// nba:<class> and the features of a set.
type conditionEnv struct {
	set    *features.Set
	inputs []input
}

// Lookup implements expr.Env.
func (e *conditionEnv) Lookup(name string) (int, bool) {
	for i, in := range e.inputs {
		if in.name == name {
			return i, true
		}
	}
	in, ok := resolveInput(e.set, name)
	if !ok {
		return 0, false
	}
	e.inputs = append(e.inputs, in)
	return len(e.inputs) - 1, true
}

// Names implements expr.Env: what an unknown name may be a typo of.
func (e *conditionEnv) Names() []string {
	return append([]string{"churn", "propensity"}, e.set.Names()...)
}

// CompileCondition compiles a condition over the features of set and the
// scores. Its error is an *expr.Error (the position and what is wrong).
func CompileCondition(src string, set *features.Set) (*Condition, error) {
	env := &conditionEnv{set: set}
	x, err := expr.Compile(src, env)
	if err != nil {
		return nil, err
	}
	return &Condition{Source: src, expr: x, inputs: env.inputs}, nil
}

// Eval evaluates the condition on a customer's feature vector and scores.
// vals, when it has room for the condition's inputs, is reused.
func (c *Condition) Eval(vec features.Vector, sc *models.Scores, vals []float64) bool {
	vals = c.values(vec, sc, vals)
	return c.expr.Eval(vals)
}

// Explain evaluates the condition and says why it came out as it did:
// each name with its value, then the result ("pricing_views_24h = 3,
// since_last_login = 691200 → true").
func (c *Condition) Explain(vec features.Vector, sc *models.Scores) (bool, string) {
	vals := c.values(vec, sc, nil)
	ok := c.expr.Eval(vals)
	var b strings.Builder
	names := slices.Clone(c.expr.Names())
	for i, name := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(name)
		b.WriteString(" = ")
		for j, in := range c.inputs {
			if in.name == name {
				b.WriteString(strconv.FormatFloat(vals[j], 'g', 6, 64))
			}
		}
	}
	if ok {
		b.WriteString(" → true")
	} else {
		b.WriteString(" → false")
	}
	return ok, b.String()
}

// NextChange estimates how long from now the condition, false now, may
// turn true with no event of the customer: the soonest a since_* input
// compared with a literal crosses it (those grow by a second a second),
// capped at every (windowed counts drift as time passes too); 0 when
// nothing can change it.
func (c *Condition) NextChange(vec features.Vector, sc *models.Scores, every time.Duration) time.Duration {
	vals := c.values(vec, sc, nil)
	_, steps := c.expr.EvalTrace(vals)
	next := every
	for _, st := range steps {
		name, v, lit := st.Left.Expr, st.Left.Value, st.Right
		op := st.Op
		if st.Left.Literal {
			// literal OP name: mirror it.
			name, v, lit = st.Right.Expr, st.Right.Value, st.Left
			op = map[string]string{">": "<", ">=": "<=", "<": ">", "<=": ">="}[op]
		}
		if !strings.HasPrefix(name, "since_") || !lit.Literal || math.IsNaN(v) {
			continue
		}
		if (op == ">" || op == ">=") && v < lit.Value {
			if d := time.Duration((lit.Value-v)*float64(time.Second)) + time.Second; d < next {
				next = d
			}
		}
	}
	return next
}

func (c *Condition) values(vec features.Vector, sc *models.Scores, vals []float64) []float64 {
	if cap(vals) < len(c.inputs) {
		vals = make([]float64, len(c.inputs))
	}
	vals = vals[:len(c.inputs)]
	for i := range c.inputs {
		vals[i] = c.inputs[i].value(vec, sc)
	}
	return vals
}
