package expr_test

import (
	"fmt"
	"math"

	"kairos/decisioning/expr"
	"kairos/features"
)

// A trigger compiles against the Env of the feature set and the scores,
// and evaluates on the feature vector followed by the scores.
func Example() {
	set := features.Default()
	env := expr.Features(set, "churn", "nba:discount")
	e, err := expr.Compile("login_trend < 0.5 and since_last_login > 7d", env)
	if err != nil {
		panic(err)
	}
	vals := make([]float64, len(env)) // normally features.Vector.Values + scores
	slot, _ := env.Lookup("login_trend")
	vals[slot] = 0.25
	slot, _ = env.Lookup("since_last_login")
	vals[slot] = 10 * 86400 // seconds
	fmt.Println(e.Eval(vals), e.Names())
	// Output: true [login_trend since_last_login]
}

// Errors say where the problem is and how to fix it.
func ExampleCompile() {
	env := expr.Features(features.Default(), "churn")
	for _, src := range []string{
		"pricing_view_24h >= 2",
		"churn > 0.7 && revenue_30d > 200",
		"revenue_30d and churn > 0.7",
		"1 < churn < 2",
	} {
		_, err := expr.Compile(src, env)
		fmt.Println(err)
	}
	// Output:
	// at column 1: unknown feature or score "pricing_view_24h" (did you mean "pricing_views_24h"?)
	// at column 13: "&&" is not an operator: write "and"
	// at column 1: "and" needs true/false on both sides; "revenue_30d" is a number
	// at column 11: comparisons cannot be chained: join two comparisons with "and" ("1 < churn and churn < ...") or add parentheses
}

// EvalTrace explains an evaluation, comparison by comparison; a missing
// value makes every comparison false.
func ExampleExpr_EvalTrace() {
	env := expr.List{"pricing_views_24h", "since_last_login", "churn"}
	e, err := expr.Compile("pricing_views_24h >= 2 and (since_last_login > 7d or churn > 0.7)", env)
	if err != nil {
		panic(err)
	}
	ok, steps := e.EvalTrace([]float64{3, 864000, math.NaN()})
	for _, s := range steps {
		fmt.Println(s)
	}
	fmt.Println(ok)
	// Output:
	// pricing_views_24h = 3 >= 2: true
	// since_last_login = 864000 (10d) > 7d: true
	// churn = missing > 0.7: false
	// true
}

// String gives the canonical form: spacing and parentheses normalized,
// literals as written.
func ExampleExpr_String() {
	e, err := expr.Compile("(revenue_30d>200)or((purchases_30d>=3)and not(nba:discount>0.5))",
		expr.List{"revenue_30d", "purchases_30d", "nba:discount"})
	if err != nil {
		panic(err)
	}
	fmt.Println(e)
	// Output: revenue_30d > 200 or purchases_30d >= 3 and not nba:discount > 0.5
}
