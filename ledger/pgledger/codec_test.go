package pgledger

import (
	"encoding/json"
	"math"
	"testing"
)

func TestAppendFloat(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1.5, 0.1 + 0.2, 5e-324, math.MaxFloat64, -math.SmallestNonzeroFloat64,
		1e21, 1e-7, math.NaN(), math.Inf(1), math.Inf(-1)} {
		var got jsonFloat
		enc := appendFloat(nil, f)
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("appendFloat(%v) = %s: %v", f, enc, err)
		}
		if math.Float64bits(float64(got)) != math.Float64bits(f) && !(math.IsNaN(f) && math.IsNaN(float64(got))) {
			t.Errorf("appendFloat(%v) = %s reads back as %v", f, enc, float64(got))
		}
	}
}
