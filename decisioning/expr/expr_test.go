package expr

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"kairos/features"
)

// testEnv holds names like those of the built-in features and the scores.
var testEnv = List{
	"pricing_views_24h", "login_trend", "since_last_login", "revenue_30d",
	"purchases_30d", "churn", "propensity", "nba:discount", "nba:books", "x", "y", "z",
}

// vec returns a vector of testEnv with the given values; the others are
// missing.
func vec(vals map[string]float64) []float64 {
	v := make([]float64, len(testEnv))
	for i, name := range testEnv {
		x, ok := vals[name]
		if !ok {
			x = math.NaN()
		}
		v[i] = x
	}
	return v
}

func mustCompile(t testing.TB, src string) *Expr {
	t.Helper()
	e, err := Compile(src, testEnv)
	if err != nil {
		t.Fatalf("Compile(%q): %v", src, err)
	}
	return e
}

var nan = math.NaN()

func TestEval(t *testing.T) {
	const day = 86400
	tests := []struct {
		src  string
		vals map[string]float64
		want bool
	}{
		{"pricing_views_24h >= 2", map[string]float64{"pricing_views_24h": 2}, true},
		{"pricing_views_24h >= 2", map[string]float64{"pricing_views_24h": 1}, false},
		{"login_trend < 0.5 and since_last_login > 7d", map[string]float64{"login_trend": 0.2, "since_last_login": 8 * day}, true},
		{"login_trend < 0.5 and since_last_login > 7d", map[string]float64{"login_trend": 0.2, "since_last_login": 7 * day}, false},
		{"churn > 0.7", map[string]float64{"churn": 0.71}, true},
		{"revenue_30d > 200 or (purchases_30d >= 3 and not (nba:discount > 0.5))", map[string]float64{"revenue_30d": 10, "purchases_30d": 3, "nba:discount": 0.2}, true},
		{"revenue_30d > 200 or (purchases_30d >= 3 and not (nba:discount > 0.5))", map[string]float64{"revenue_30d": 10, "purchases_30d": 3, "nba:discount": 0.6}, false},
		{"revenue_30d > 200 or (purchases_30d >= 3 and not (nba:discount > 0.5))", map[string]float64{"revenue_30d": 201}, true},
		{"nba:books == nba:discount", map[string]float64{"nba:books": 0.25, "nba:discount": 0.25}, true},

		// Durations are seconds.
		{"since_last_login == 30m", map[string]float64{"since_last_login": 1800}, true},
		{"since_last_login == 24h", map[string]float64{"since_last_login": day}, true},
		{"since_last_login == 1h30m", map[string]float64{"since_last_login": 5400}, true},
		{"since_last_login == 1.5h", map[string]float64{"since_last_login": 5400}, true},
		{"since_last_login == 90s", map[string]float64{"since_last_login": 90}, true},
		{"since_last_login == 500ms", map[string]float64{"since_last_login": 0.5}, true},
		{"since_last_login == 0d", map[string]float64{"since_last_login": 0}, true},
		{"7d == 168h and 1d == 86400", nil, true},

		// Precedence and associativity.
		{"1 + 2 * 3 == 7", nil, true},
		{"(1 + 2) * 3 == 9", nil, true},
		{"10 - 4 - 3 == 3", nil, true},
		{"10 - (4 - 3) == 9", nil, true},
		{"8 / 4 / 2 == 1", nil, true},
		{"-2 * 3 == -6", nil, true},
		{"- -2 == 2", nil, true},
		{"2 * -3 == -6", nil, true},
		{"1 - -1 == 2", nil, true},
		{"true or true and false", nil, true},    // or(true, and(true, false))
		{"(true or true) and false", nil, false}, // parentheses win
		{"not false and false", nil, false},      // and(not false, false)
		{"not (false and false)", nil, true},
		{"not x > 1", map[string]float64{"x": 0}, true}, // not (x > 1)
		{"not not true", nil, true},
		{"(x > 1) == (y > 1)", map[string]float64{"x": 0, "y": 0}, true},
		{"(x > 1) != true", map[string]float64{"x": 0}, true},
		{"true == true", nil, true},
		{"false != false", nil, false},
		{"1e3 == 1000 and 2.5e-1 == 0.25 and 1E2 == 100", nil, true},
		{"0.1 + 0.2 > 0.3", nil, true}, // IEEE arithmetic

		// Missing values: every comparison with NaN is false, != included.
		{"x > 1", nil, false},
		{"x <= 1", nil, false},
		{"x == x", nil, false},
		{"x != 3", nil, false},
		{"x != x", nil, false},
		{"not (x != 3)", nil, true},
		{"not (x > 7d)", nil, true},
		{"x > 7d or true", nil, true},
		{"x + 1 > 0", nil, false},  // NaN propagates
		{"x * 0 == 0", nil, false}, // even through * 0
		{"x > 1 or y > 1", map[string]float64{"y": 2}, true},
		{"x > 1 and y > 1", map[string]float64{"y": 2}, false},
		{"(x > 1) == (y > 1)", nil, true}, // both false
		{"since_last_login > 7d", nil, false},
		{"since_last_login <= 7d", nil, false},

		// Division by zero and infinities follow IEEE 754.
		{"x / 0 > 1e308", map[string]float64{"x": 1}, true},   // +Inf
		{"-x / 0 < -1e308", map[string]float64{"x": 1}, true}, // -Inf
		{"x / 0 == x / 0", map[string]float64{"x": 1}, true},  // +Inf == +Inf
		{"x / 0 == x / 0", map[string]float64{"x": 0}, false}, // NaN
		{"x / 0 != 1", map[string]float64{"x": 0}, false},     // NaN
		{"x - x == 0", map[string]float64{"x": math.Inf(1)}, false},
		{"x > 1e308", map[string]float64{"x": math.Inf(1)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			e := mustCompile(t, tt.src)
			vals := vec(tt.vals)
			if got := e.Eval(vals); got != tt.want {
				t.Errorf("Eval = %v, want %v", got, tt.want)
			}
			if got, _ := e.EvalTrace(vals); got != tt.want {
				t.Errorf("EvalTrace = %v, want %v", got, tt.want)
			}
		})
	}
}

// A slot beyond the end of the vector is missing, as NaN is.
func TestEvalShortVector(t *testing.T) {
	e := mustCompile(t, "not (z > 1) and not (z <= 1)")
	for _, vals := range [][]float64{nil, {1, 2}, vec(nil)} {
		if !e.Eval(vals) {
			t.Errorf("Eval(%v) = false, want true (z missing)", vals)
		}
	}
}

// full writes n with parentheses around every operation, to show the tree.
func full(n *node) string {
	switch {
	case n.prec() == precAtom:
		return n.text
	case n.op == tNot:
		return "(not " + full(n.l) + ")"
	case n.neg:
		return "(-" + full(n.l) + ")"
	}
	return "(" + full(n.l) + " " + tokText[n.op] + " " + full(n.r) + ")"
}

func TestParse(t *testing.T) {
	tests := []struct{ src, tree, canonical string }{
		{"x>1", "(x > 1)", "x > 1"},
		{"  x\t>\n1 ", "(x > 1)", "x > 1"},
		{"x > 1 or y > 1 and z > 1", "((x > 1) or ((y > 1) and (z > 1)))", "x > 1 or y > 1 and z > 1"},
		{"(x > 1 or y > 1) and z > 1", "(((x > 1) or (y > 1)) and (z > 1))", "(x > 1 or y > 1) and z > 1"},
		{"x > 1 or (y > 1 or z > 1)", "((x > 1) or ((y > 1) or (z > 1)))", "x > 1 or (y > 1 or z > 1)"},
		{"(x > 1 or y > 1) or z > 1", "(((x > 1) or (y > 1)) or (z > 1))", "x > 1 or y > 1 or z > 1"},
		{"not x > 1 and y > 1", "((not (x > 1)) and (y > 1))", "not x > 1 and y > 1"},
		{"not (x > 1 and y > 1)", "(not ((x > 1) and (y > 1)))", "not (x > 1 and y > 1)"},
		{"not (x > 1)", "(not (x > 1))", "not x > 1"},
		{"not not (true)", "(not (not true))", "not not true"},
		{"x + y * z > 1", "((x + (y * z)) > 1)", "x + y * z > 1"},
		{"(x + y) * z > 1", "(((x + y) * z) > 1)", "(x + y) * z > 1"},
		{"x - y - z > 1", "(((x - y) - z) > 1)", "x - y - z > 1"},
		{"x - (y - z) > 1", "((x - (y - z)) > 1)", "x - (y - z) > 1"},
		{"x / (y * z) > 1", "((x / (y * z)) > 1)", "x / (y * z) > 1"},
		{"-x * y > 1", "(((-x) * y) > 1)", "-x * y > 1"},
		{"-(x * y) > 1", "((-(x * y)) > 1)", "-(x * y) > 1"},
		{"x * - y > 1", "((x * (-y)) > 1)", "x * -y > 1"},
		{"- - x > 1", "((-(-x)) > 1)", "--x > 1"},
		{"x > -1", "(x > (-1))", "x > -1"},
		{"(x > 1) == (y > 1)", "((x > 1) == (y > 1))", "(x > 1) == (y > 1)"},
		{"((((x))) > ((1)))", "(x > 1)", "x > 1"},
		{"true", "true", "true"},
		{"nba:discount>0.50", "(nba:discount > 0.50)", "nba:discount > 0.50"},
		{"since_last_login > 168h", "(since_last_login > 168h)", "since_last_login > 168h"},
		{"revenue_30d > 200 or (purchases_30d >= 3 and not (nba:discount > 0.5))",
			"((revenue_30d > 200) or ((purchases_30d >= 3) and (not (nba:discount > 0.5))))",
			"revenue_30d > 200 or purchases_30d >= 3 and not nba:discount > 0.5"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			e := mustCompile(t, tt.src)
			if got := full(e.root); got != tt.tree {
				t.Errorf("tree = %s, want %s", got, tt.tree)
			}
			if got := e.String(); got != tt.canonical {
				t.Errorf("String() = %q, want %q", got, tt.canonical)
			}
			checkRoundTrip(t, e)
		})
	}
}

// checkRoundTrip checks that e's canonical form compiles to the same
// program and the same canonical form.
func checkRoundTrip(t testing.TB, e *Expr) {
	t.Helper()
	e2, err := Compile(e.String(), testEnv)
	if err != nil {
		t.Fatalf("Compile(String() = %q): %v", e, err)
	}
	if e2.String() != e.String() {
		t.Errorf("String() of String() = %q, want %q", e2, e)
	}
	if !slices.Equal(e2.prog, e.prog) || e2.depth != e.depth || !slices.Equal(e2.names, e.names) {
		t.Errorf("Compile(%q) gives another program:\n%v\nwant\n%v", e, e2.prog, e.prog)
	}
}

func TestNames(t *testing.T) {
	e := mustCompile(t, "revenue_30d > 200 or (purchases_30d >= 3 and nba:discount < revenue_30d / 10)")
	want := []string{"nba:discount", "purchases_30d", "revenue_30d"}
	if got := e.Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	e.Names()[0] = "changed"
	if got := e.Names(); !slices.Equal(got, want) {
		t.Errorf("Names() after changing a result = %q, want %q", got, want)
	}
	if got := mustCompile(t, "1 < 2").Names(); len(got) != 0 {
		t.Errorf("Names() of a constant = %q, want none", got)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		src string
		pos int
		msg string
	}{
		// Names.
		{"pricing_view_24h >= 2", 0, `unknown feature or score "pricing_view_24h" (did you mean "pricing_views_24h"?)`},
		{"churn > 0.5 and propensty > 0.2", 16, `unknown feature or score "propensty" (did you mean "propensity"?)`},
		{"nba:dicsount > 0.5", 0, `unknown feature or score "nba:dicsount" (did you mean "nba:discount"?)`},
		{"customer_age > 30", 0, `unknown feature or score "customer_age"`},
		{"Churn > 0.5", 0, `names are lowercase: write "churn", not "Churn"`},
		{"churn > 0.5 AND x > 1", 12, `keywords are lowercase: write "and", not "AND"`},
		{"x > 1 Or y > 1", 6, `keywords are lowercase: write "or", not "Or"`},
		{"x > TRUE", 4, `keywords are lowercase: write "true", not "TRUE"`},
		{"nba: > 1", 0, `"nba:": a name after "nba:" is missing (as in nba:discount)`},
		{"nba:a:b > 1", 0, `"nba:a:b": a name has at most one ":" (as in nba:discount)`},
		{"_x > 1", 0, `a name starts with a lowercase letter a-z, not "_x"`},

		// Literals.
		{"x > 2and y > 1", 4, `"2and" is not a number or a duration: write numbers like 2 or 0.5, durations like 30m, 24h or 7d, and put a space between words`},
		{"since_last_login > 7days", 19, `"7days" is not a number or a duration: write numbers like 2 or 0.5, durations like 30m, 24h or 7d, and put a space between words`},
		{"since_last_login > 1.5d", 19, `"1.5d" is not a duration: write a whole number of days such as 7d, or hours or minutes such as 72h or 30m`},
		{"since_last_login > 1d12h", 19, `"1d12h" is not a number or a duration: write numbers like 2 or 0.5, durations like 30m, 24h or 7d, and put a space between words`},
		{"x > 1.5.2", 4, `"1.5.2" is not a number or a duration: write numbers like 2 or 0.5, durations like 30m, 24h or 7d, and put a space between words`},
		{"x > 5.", 4, `"5." is not a number or a duration: write numbers like 2 or 0.5, durations like 30m, 24h or 7d, and put a space between words`},
		{"x > .5", 4, `a number starts with a digit: write 0.5`},
		{"x > 1e400", 4, `1e400 is too large for a number`},
		{"x > 0x10", 4, `"0x10" is not a number or a duration: write numbers like 2 or 0.5, durations like 30m, 24h or 7d, and put a space between words`},

		// Characters.
		{"x = 1", 2, `"=" is not an operator: write "==" to compare`},
		{"x => 1", 2, `"=>" is not an operator: write ">="`},
		{"x =< 1", 2, `"=<" is not an operator: write "<="`},
		{"x <> 1", 2, `"<>" is not an operator: write "!=" for "not equal"`},
		{"!(x > 1)", 0, `"!" is not an operator: write "not" (or "!=" for "not equal")`},
		{"x > 1 && y > 1", 6, `"&&" is not an operator: write "and"`},
		{"x > 1 || y > 1", 6, `"||" is not an operator: write "or"`},
		{"churn > 5%", 9, `"%" is not an operator: write a share as a fraction (0.05 for 5%)`},
		{`x > "1"`, 4, `quotes are not part of expressions: write names and numbers without them`},
		{"x ≥ 1", 2, `unexpected character '≥': write ">="`},
		{"x > 1 ; y", 6, `unexpected character ';'`},
		{"x > \xff", 4, `invalid UTF-8 byte 0xff`},

		// Structure.
		{"", 0, `empty expression: write a condition such as "churn > 0.7"`},
		{"   ", 0, `empty expression: write a condition such as "churn > 0.7"`},
		{"x >", 3, `unexpected end of expression: expected a feature, a score, a number, true, false, "not", "-" or "("`},
		{"x > > 1", 4, `expected a feature, a score, a number, true, false, "not", "-" or "(", found ">"`},
		{"x > 1 y > 1", 6, `expected an operator or the end of the expression, found "y"`},
		{"x > 1 adn y > 1", 6, `expected an operator or the end of the expression, found "adn" (did you mean "and"?)`},
		{"x > 1 2", 6, `expected an operator or the end of the expression, found "2"`},
		{"(x > 1", 0, `"(" is never closed: add ")"`},
		{"((x > 1) and (y > 1)", 0, `"(" is never closed: add ")"`},
		{"x > 1)", 5, `")" has no matching "("`},
		{"(x > 1))", 7, `")" has no matching "("`},
		{")", 0, `")" has no matching "("`},
		{"()", 1, `empty parentheses: expected a feature, a score, a number, true, false, "not", "-" or "("`},
		{"(x > 1 y)", 7, `expected an operator or ")", found "y"`},
		{"x < y < z", 6, `comparisons cannot be chained: join two comparisons with "and" ("x < y and y < ...") or add parentheses`},
		{"x > 1 == true", 6, `comparisons cannot be chained: join two comparisons with "and" ("x > 1 and 1 == ...") or add parentheses`},

		// Types.
		{"revenue_30d and x > 1", 0, `"and" needs true/false on both sides; "revenue_30d" is a number`},
		{"x > 1 or revenue_30d", 9, `"or" needs true/false on both sides; "revenue_30d" is a number`},
		{"x > 1 or (y + 1)", 9, `"or" needs true/false on both sides; "y + 1" is a number`},
		{"not revenue_30d", 4, `"not" needs true/false; "revenue_30d" is a number`},
		{"(x > 1) < 2", 0, `"<" compares numbers; "x > 1" is true/false`},
		{"x >= true", 5, `">=" compares numbers; "true" is true/false`},
		{"x == (y > 1)", 2, `"==" compares two numbers or two true/false values; "x" is a number but "y > 1" is true/false`},
		{"true != 1", 5, `"!=" compares two numbers or two true/false values; "true" is true/false but "1" is a number`},
		{"x + true > 1", 4, `"+" needs numbers on both sides; "true" is true/false`},
		{"(x > 1) * 2 > 1", 0, `"*" needs numbers on both sides; "x > 1" is true/false`},
		{"-(x > 1)", 1, `"-" needs a number; "x > 1" is true/false`},
		{"churn", 0, `the expression must be true or false, but "churn" is a number: compare it, as in "churn > 0"`},
		{"(revenue_30d / purchases_30d)", 0, `the expression must be true or false, but "revenue_30d / purchases_30d" is a number: compare it, as in "revenue_30d / purchases_30d > 0"`},
		{"revenue_30d + revenue_30d + revenue_30d + revenue_30d", 0, `the expression must be true or false, but "revenue_30d + revenue_30d + revenue_3..." is a number: compare it`},
		{"revenue_30d + revenue_30d + revenue_30d + revenue_30d and x > 1", 0, `"and" needs true/false on both sides; "revenue_30d + revenue_30d + revenue_3..." is a number`},

		// Limits.
		{strings.Repeat("(", 33) + "x > 1" + strings.Repeat(")", 33), 32, `nested more than 32 levels deep (parentheses, "not" and "-")`},
		{strings.Repeat("not ", 33) + "x > 1", 128, `nested more than 32 levels deep (parentheses, "not" and "-")`},
		{"x > " + strings.Repeat("-", 33) + "1", 36, `nested more than 32 levels deep (parentheses, "not" and "-")`},
		{"x > " + strings.Repeat("1", 999), 1002, `the expression is longer than 1000 bytes (not counting spaces)`},
		{strings.Repeat(" ", 4000) + "x", 4000, `the expression is 4001 bytes long; at most 4000 are allowed`},
	}
	for _, tt := range tests {
		name := tt.src
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			e, err := Compile(tt.src, testEnv)
			if err == nil {
				t.Fatalf("Compile = %q, want an error", e)
			}
			var ee *Error
			if !errors.As(err, &ee) {
				t.Fatalf("error %v is a %T, want *Error", err, err)
			}
			if ee.Pos != tt.pos || ee.Msg != tt.msg {
				t.Errorf("error at %d: %s\nwant    at %d: %s", ee.Pos, ee.Msg, tt.pos, tt.msg)
			}
			if ee.Pos < 0 || ee.Pos > len(tt.src) {
				t.Errorf("Pos %d is outside the source (%d bytes)", ee.Pos, len(tt.src))
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	_, err := Compile("pricing_views_24h >= 2 and pricing_view_24h > 1", testEnv)
	const want = `at column 28: unknown feature or score "pricing_view_24h" (did you mean "pricing_views_24h"?)`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

// Without an Env every name is unknown, and nothing panics.
func TestNilEnv(t *testing.T) {
	if _, err := Compile("x > 1", nil); err == nil || !strings.Contains(err.Error(), `unknown feature or score "x"`) {
		t.Errorf("error = %v, want unknown x", err)
	}
	if e, err := Compile("1 < 2", nil); err != nil || !e.Eval(nil) {
		t.Errorf("Compile(1 < 2, nil) = %v, %v; want true", e, err)
	}
}

func TestLimits(t *testing.T) {
	// The deepest nesting allowed, and a source of MaxLen bytes padded with
	// spaces, compile.
	deep := strings.Repeat("(", MaxDepth) + "x > 1" + strings.Repeat(")", MaxDepth)
	long := "x > 10" + strings.Repeat(" + 1", (MaxLen-4)/2) // MaxLen bytes besides spaces
	long += strings.Repeat(" ", 4*MaxLen-len(long))
	negs := "x > " + strings.Repeat("-", MaxDepth) + "1"
	for _, src := range []string{deep, long, negs} {
		e := mustCompile(t, src)
		checkRoundTrip(t, e)
	}
	// The stack bound holds for the deepest stacks: the most pending
	// operands on every level of parentheses ("and" and "or" keep none:
	// they jump over their right operand or drop their left one).
	worst := "x < x + x * (" + strings.Repeat("x + x * (", MaxDepth-1) + "x + x * x" + strings.Repeat(")", MaxDepth)
	e := mustCompile(t, worst)
	if want := 2*MaxDepth + 4; e.depth != want || e.depth > maxStack {
		t.Errorf("stack depth of the worst case = %d, want %d (at most maxStack = %d)", e.depth, want, maxStack)
	}
	vals := vec(map[string]float64{"x": 1})
	got, _ := e.EvalTrace(vals)
	if e.Eval(vals) != got {
		t.Errorf("Eval and EvalTrace disagree on the worst case")
	}
	checkRoundTrip(t, e)
}

func TestEvalTrace(t *testing.T) {
	e := mustCompile(t, "pricing_views_24h >= 2 and (since_last_login > 7d or churn > 0.7 or (x > 1) == (nba:discount / 2 <= y))")
	got, steps := e.EvalTrace(vec(map[string]float64{"pricing_views_24h": 3, "since_last_login": 864000, "churn": 0.5, "nba:discount": 0.4, "y": 0.25}))
	if !got {
		t.Errorf("EvalTrace = false, want true")
	}
	var lines []string
	for _, s := range steps {
		lines = append(lines, s.String())
	}
	want := []string{
		"pricing_views_24h = 3 >= 2: true",
		"since_last_login = 864000 (10d) > 7d: true",
		"churn = 0.5 > 0.7: false",
		"x = missing > 1: false",
		"(nba:discount / 2) = 0.2 <= y = 0.25: true",
		"(x > 1) = false == (nba:discount / 2 <= y) = true: false",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	s := steps[1]
	if s.Op != ">" || s.Left.Expr != "since_last_login" || s.Left.Value != 864000 || s.Left.Literal ||
		s.Right.Expr != "7d" || s.Right.Value != 604800 || !s.Right.Literal || !s.Right.Duration || !s.Result {
		t.Errorf("step = %+v", s)
	}
	_, steps = mustCompile(t, "-x / 0 < 1").EvalTrace(vec(map[string]float64{"x": 0}))
	if got, want := steps[0].String(), "(-x / 0) = NaN < 1: false"; got != want {
		t.Errorf("step = %q, want %q", got, want)
	}
	_, steps = mustCompile(t, "x < 1e-9 or x > 1e30").EvalTrace(vec(map[string]float64{"x": 1e25}))
	if got, want := steps[0].String()+"; "+steps[1].String(), "x = 1e+25 < 1e-9: false; x = 1e+25 > 1e30: false"; got != want {
		t.Errorf("steps = %q, want %q", got, want)
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"logins_7d", "logins_30d", "login_trend", "churn", "nba:discount"}
	for _, tt := range []struct{ name, want string }{
		{"login_7d", "logins_7d"},
		{"logins_3d", "logins_7d"}, // tie with logins_30d: the first listed
		{"chrun", "churn"},
		{"churns", "churn"},
		{"nba:discnt", "nba:discount"},
		{"zzz", ""},
		{"churn_score", ""},
	} {
		if got := suggest(tt.name, names); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
	for _, tt := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"abc", "acb", 1}, {"kitten", "sitting", 3}, {"ca", "abc", 3}} {
		if got := distance(tt.a, tt.b); got != tt.d {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.d)
		}
	}
}

// TestApply holds run's inlined operators and apply (of EvalTrace)
// together, on every pair of special values.
func TestApply(t *testing.T) {
	specials := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 3, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1), nan}
	var st [smallStack]float64
	for _, op := range binOps {
		for _, x := range specials {
			for _, y := range specials {
				// run returns a truth value: read the number it leaves
				// on the stack.
				run([]instr{{op: opConst, k: x}, {op: opConst, k: y}, {op: op}}, st[:], nil)
				got, want := st[0], apply(op, x, y)
				if got != want && !(math.IsNaN(got) && math.IsNaN(want)) {
					t.Errorf("op %d on %v, %v: run gives %v, apply %v", op, x, y, got, want)
				}
			}
		}
	}
}

// Features gives the slots of features.Vector.Values, then the extras.
func TestFeatures(t *testing.T) {
	set, err := features.Parse([]byte(`features:
  - {name: logins_7d, event: login, agg: count, window: 7d}
  - {name: since_last_login, event: login, agg: since_last}
`), "features.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := Features(set, "churn", "nba:discount")
	for name, want := range map[string]int{"logins_7d": 0, "since_last_login": 1, "churn": 2, "nba:discount": 3} {
		if got, ok := env.Lookup(name); !ok || got != want {
			t.Errorf("Lookup(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
	if _, ok := env.Lookup("propensity"); ok {
		t.Errorf("Lookup(propensity) succeeded without the score")
	}
	vec, _ := set.Compute(time.Now(), set.ReadKeys(time.Now()), nil) // no data: since_last_login is NaN
	e, err := Compile("logins_7d == 0 and not (since_last_login < 7d) and churn > 0.5", env)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Eval(append(vec.Values, 0.6, 0.1)) {
		t.Errorf("Eval = false on a customer without data and churn 0.6")
	}
	if len(set.Names()) != 2 {
		t.Errorf("Features changed the set's names: %q", set.Names())
	}
}

// badEnv gives every name the same slot.
type badEnv int

func (b badEnv) Lookup(string) (int, bool) { return int(b), true }
func (badEnv) Names() []string             { return nil }

func TestBadSlot(t *testing.T) {
	for _, slot := range []int{-1, math.MaxInt32 + 1} {
		_, err := Compile("1 < x", badEnv(slot))
		var ee *Error
		if !errors.As(err, &ee) || ee.Pos != 4 || !strings.Contains(ee.Msg, "the environment is wrong") {
			t.Errorf("slot %d: error %v, want one at 4 about the environment", slot, err)
		}
	}
	if e, err := Compile("x == x", badEnv(math.MaxInt32)); err != nil || e.Eval([]float64{1}) {
		t.Errorf("slot MaxInt32: %v, %v; want it compiled and missing", e, err)
	}
}
