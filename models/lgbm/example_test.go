package lgbm_test

import (
	"errors"
	"fmt"
	"math"
	"os"

	"kairos/models"
	"kairos/models/lgbm"
)

func ExampleParse() {
	text, err := os.ReadFile("testdata/binary.txt") // LightGBM 4.7: version=v4
	if err != nil {
		panic(err)
	}
	m, err := lgbm.Parse(text)
	if err != nil {
		panic(err)
	}
	h := m.Header()
	fmt.Println(h.Version, h.Objective, h.NumTrees, "trees")
	fmt.Println(h.FeatureNames)

	row := []float64{3, 20, math.NaN(), 4.5, 120, 400} // NaN: missing
	out := make([]float64, m.NumOutputs())
	m.Predict(row, out)
	fmt.Printf("churn probability %.4f\n", out[0]) // LightGBM 4.7: 0.58301857
	// Output:
	// v4 binary sigmoid:1 12 trees
	// [sessions_7d sessions_30d purchases_30d days_since_login spend_90d tenure_days]
	// churn probability 0.5830
}

func ExampleParse_refused() {
	text, err := os.ReadFile("testdata/linear_tree.txt")
	if err != nil {
		panic(err)
	}
	_, err = lgbm.Parse(text)
	var re *lgbm.RuleError
	if errors.As(err, &re) {
		fmt.Println(re.Rule)
	}
	// Output:
	// linear_tree
}

func Example_categories() {
	text, err := os.ReadFile("testdata/categorical.txt")
	if err != nil {
		panic(err)
	}
	m, err := lgbm.Parse(text)
	if err != nil {
		panic(err)
	}
	h := m.Header()
	// Here the k-th pandas_categorical list belongs to the k-th
	// categorical feature; in general a manifest says which is which.
	plan := models.NewCategories(h.PandasCategorical[0])
	fmt.Println(h.FeatureNames[h.CategoricalFeatures[0]], plan.Code("pro"), plan.Code("enterprise"))
	// Output:
	// plan 2 NaN
}
