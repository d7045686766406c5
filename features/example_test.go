package features_test

import (
	"fmt"
	"time"

	"kairos/features"
)

// Parse compiles feature definitions; errors name the file, line and rule.
func ExampleParse() {
	_, err := features.Parse([]byte(`features:
  - {name: logins_7d, event: login, agg: count, window: 7d}
  - {name: spend_7d,  event: purchase, agg: sum, window: 7d}
`), "features.yaml")
	fmt.Println(err)
	// Output: features.yaml:3: feature "spend_7d": agg sum needs a 'field' (the property to aggregate)
}

// A store applies the updates Plan returns for each accepted event (here a
// map stands in for one), and Compute turns what it keeps into the vector.
func ExampleSet_Compute() {
	set, err := features.Parse([]byte(`features:
  - {name: views_1h, event: page_view, agg: count, window: 1h}
  - {name: revenue_30d, event: purchase, agg: sum, field: amount, window: 30d}
  - {name: since_last_view, event: page_view, agg: since_last}
`), "features.yaml")
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	stored := map[features.Key]map[string]string{}
	for _, e := range []features.Event{
		{ID: "1", CustomerID: "ada", Type: "page_view", Time: now.Add(-10 * time.Minute)},
		{ID: "2", CustomerID: "ada", Type: "page_view", Time: now.Add(-2 * time.Hour)},
		{ID: "3", CustomerID: "ada", Type: "purchase", Time: now.Add(-24 * time.Hour),
			Properties: map[string]features.Value{"amount": features.Number(49.5)}},
	} {
		for _, op := range set.Plan(nil, &e, now) {
			h := stored[op.Key]
			if h == nil {
				h = map[string]string{}
				stored[op.Key] = h
			}
			old, ok := h[op.Field]
			h[op.Field] = features.Apply(op, old, ok)
		}
	}
	keys := set.ReadKeys(now)
	hashes := make([]map[string]string, len(keys))
	for i, k := range keys {
		hashes[i] = stored[k]
	}
	v, _ := set.Compute(now, keys, hashes)
	for i, name := range v.Names {
		fmt.Printf("%s = %v\n", name, v.Values[i])
	}
	// Output:
	// views_1h = 1
	// revenue_30d = 49.5
	// since_last_view = 600
}
