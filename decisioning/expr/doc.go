// Package expr owns the small expression language of campaign triggers and
// live segments: conditions over a customer's features and model scores
// such as
//
//	pricing_views_24h >= 2
//	login_trend < 0.5 and since_last_login > 7d
//	churn > 0.7
//	revenue_30d > 200 or (purchases_30d >= 3 and not (nba:discount > 0.5))
//
// Compile parses and type-checks an expression against an Env, which names
// the features and scores it may use and gives each a slot; the result is an
// immutable Expr whose Eval reads a vector indexed by slot and allocates
// nothing. EvalTrace reports every comparison with its values, for
// explanations ("pricing_views_24h = 3 >= 2: true").
//
// expr is pure: it imports the standard library and features (for
// ParseDuration, and the Env of a feature set), and must not import Redis,
// pgx, leaves or gRPC.
//
// # Grammar
//
//	expr     = or .
//	or       = and { "or" and } .
//	and      = not { "and" not } .
//	not      = "not" not | compare .
//	compare  = sum [ ( "<" | "<=" | ">" | ">=" | "==" | "!=" ) sum ] .
//	sum      = product { ( "+" | "-" ) product } .
//	product  = unary { ( "*" | "/" ) unary } .
//	unary    = "-" unary | primary .
//	primary  = number | duration | "true" | "false" | name | "(" expr ")" .
//
//	number   = digits [ "." digits ] [ ( "e" | "E" ) [ "+" | "-" ] digits ] .
//	duration = as features.ParseDuration reads it: "30m", "24h", "7d", "1h30m", "90s", "1.5h" .
//	name     = [a-z][a-z0-9_]* [ ":" [a-z0-9_]+ ] .   e.g. churn, since_last_login, nba:discount
//
// Operators, from the loosest to the tightest binding:
//
//	or                     left-associative
//	and                    left-associative
//	not                    prefix: "not x > 1" is "not (x > 1)"
//	< <= > >= == !=        non-associative: "a < b < c" is an error
//	+ -                    left-associative
//	* /                    left-associative
//	- (negation)           prefix: "-x * 2" is "(-x) * 2"
//
// The rules:
//
//   - Keywords (and, or, not, true, false) and names are lowercase; "AND"
//     or "Churn" is an error that says so. A keyword cannot name a feature.
//   - A number is decimal: "2", "0.5", "1e6"; not ".5", "5." or "0x10".
//     Negative numbers are negated literals ("-1"). A number too large for
//     a float64 is an error.
//   - A duration is a number of seconds, so "since_last_login > 7d"
//     compares the since_last feature (seconds) with 604800. Its units are
//     those of features.ParseDuration: whole days ("7d"), or a Go duration
//     ("30m", "24h", "1h30m", "90s", "1.5h", "500ms"). A number glued to
//     letters that do not make a duration ("2and", "7days") is an error.
//   - Spaces, tabs and line breaks separate tokens and are otherwise
//     ignored.
//   - An expression is at most MaxLen (1,000) bytes not counting spaces,
//     tabs and line breaks, and at most 4*MaxLen bytes in all. Parentheses,
//     "not" and negation nest at most MaxDepth (32) levels deep. Both
//     limits are errors, never a stack overflow.
//
// # Types
//
// A value is a number or a truth value (true/false). "and", "or" and "not"
// take truth values; "<", "<=", ">" and ">=" take numbers; "==" and "!="
// take two numbers or two truth values; "+", "-", "*", "/" and negation
// take numbers. Comparisons give truth values and arithmetic gives numbers.
// A whole expression must be a truth value: Compile refuses "churn" or
// "revenue_30d * 2" (compare them with something). Features and scores are
// numbers.
//
// # Missing values
//
// A feature or score may be missing (NaN in the vector, e.g. since_last_login
// of a customer who never logged in; a slot beyond the end of the vector is
// missing too). One rule covers them: a comparison involving NaN is false,
// "!=" included. So "x != 3" is false when x is missing, and its negation
// "not (x != 3)" is true: "not" turns the false of a missing value into
// true. Write "not (x > 7d)" to include the customers with no value, and
// "x <= 7d" to exclude them.
//
// Arithmetic follows IEEE 754: NaN propagates ("x + 1" is NaN when x is
// missing, so every comparison of it is false), and a division by zero is
// +Inf or -Inf (x/0 for x ≠ 0) or NaN (0/0). Infinite values compare as
// numbers (+Inf > 1e300 is true; +Inf == +Inf is true).
//
// "and" and "or" stop at the first operand that settles the result, which
// changes nothing but speed: evaluation has no side effects.
//
// # Canonical form
//
// Expr.String writes an expression with one space around binary operators,
// one after "not", the parentheses that precedence needs and no others,
// and literals as written ("7d" stays "7d", "0.50" stays "0.50"). Compiling
// it gives the same program.
package expr
