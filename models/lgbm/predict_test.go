package lgbm

import (
	"kairos/models"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestLeavesDifferences shows the inputs that leaves, called directly,
// reads differently from LightGBM, and that Model corrects them (TestParity
// has them among its rows).
func TestLeavesDifferences(t *testing.T) {
	t.Run("zero_as_missing bound", func(t *testing.T) {
		// regression.txt has splits of missing type Zero. LightGBM takes
		// |v| ≤ 1e-35f as zero, leaves (-1e-35, 1e-35].
		m := parse(t, "regression.txt")
		if len(m.zeros) == 0 {
			t.Fatal("regression.txt has no splits of missing type Zero")
		}
		differs := 0
		for _, v := range []float64{-1e-35, math.Nextafter(1e-35, 1), kZeroThreshold, -kZeroThreshold} {
			if !lightgbmZero(v) || isZeroLeaves(v) {
				t.Errorf("%g: LightGBM zero %v, leaves zero %v", v, lightgbmZero(v), isZeroLeaves(v))
			}
			row := []float64{11.901, 47.404, 0.892, v, -41, 894}
			zero := []float64{11.901, 47.404, 0.892, 0, -41, 894}
			direct, got, want := make([]float64, 1), make([]float64, 1), make([]float64, 1)
			m.predict(row, direct)
			m.PredictRaw(row, got)
			m.PredictRaw(zero, want)
			if got[0] != want[0] {
				t.Errorf("%g: Model gives %v, LightGBM (as for 0) %v", v, got[0], want[0])
			}
			if direct[0] != want[0] {
				differs++
			}
		}
		if differs == 0 {
			t.Error("leaves alone agrees with LightGBM on every value: is the correction still needed?")
		}
	})
	t.Run("categorical codes", func(t *testing.T) {
		// LightGBM sends NaN, negative and ≥ 2³¹ codes right; leaves'
		// int32 conversion of NaN and out-of-range values depends on the
		// architecture. Model maps them to -1: compare with code -1.
		m := parse(t, "categorical.txt")
		// plan (feature 1) is never missing in training: its splits have
		// missing type None (decision_type 1), where arm64 leaves would
		// read NaN as category 0.
		if got := decisionTypes(t, "categorical.txt", 1); len(got) == 0 || slices.ContainsFunc(got, func(dt int) bool { return dt != 1 }) {
			t.Errorf("plan's splits have decision types %v, want all 1", got)
		}
		for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -1, -2.5, 1 << 31, 1<<32 + 1, 1e10, -(1<<32 - 1)} {
			row := []float64{3, v, v, 120, v}
			minus := []float64{3, -1, -1, 120, -1}
			got, want := make([]float64, 1), make([]float64, 1)
			m.PredictRaw(row, got)
			m.PredictRaw(minus, want)
			if got[0] != want[0] {
				t.Errorf("code %g: %v, want %v (as code -1: right child)", v, got[0], want[0])
			}
			if leavesReadsCode(v) {
				t.Errorf("leavesReadsCode(%g) = true", v)
			}
		}
		for _, v := range []float64{-0.5, 0, 0.5, 2.7, 44, 1<<31 - 1} {
			if !leavesReadsCode(v) {
				t.Errorf("leavesReadsCode(%g) = false", v)
			}
		}
	})
}

// decisionTypes returns the decision_type of every split on feature in
// the model file.
func decisionTypes(t *testing.T, model string, feature int) []int {
	t.Helper()
	var out []int
	var features []string
	for line := range strings.Lines(string(readModel(t, model))) {
		line = strings.TrimSuffix(line, "\n")
		if v, ok := strings.CutPrefix(line, "split_feature="); ok {
			features = strings.Fields(v)
		}
		if v, ok := strings.CutPrefix(line, "decision_type="); ok {
			for i, dt := range strings.Fields(v) {
				if features[i] == strconv.Itoa(feature) {
					n, _ := strconv.Atoi(dt)
					out = append(out, n)
				}
			}
		}
	}
	return out
}

// isZeroLeaves is leaves' isZero (lgtree.go).
func isZeroLeaves(v float64) bool { return v > -1e-35 && v <= 1e-35 }

func TestPredictAllocatesNothing(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		model string
		row   []float64
		copy  bool // takes the scratch-copy path
	}{
		{"binary.txt", []float64{3, 20, nan, 4.5, 120, 400}, false},
		{"multiclass.txt", []float64{3, 20, nan, 4.5, 120, 400}, false},
		{"rf.txt", []float64{3, 20, nan, 4.5, 120, 400}, false},
		{"poisson.txt", []float64{3, 20, nan, 4.5, 120, 400}, false},
		{"regression.txt", []float64{3, 20, 0, 4.5, 120, 400}, false},
		{"regression.txt", []float64{3, 20, 0, -1e-35, 120, 400}, true},
		{"categorical.txt", []float64{3, 1, 7, 120, 40}, false},
		{"categorical.txt", []float64{3, nan, 7, 120, nan}, true},
	}
	for _, tt := range tests {
		m := parse(t, tt.model)
		if m.clean(tt.row) == tt.copy {
			t.Fatalf("%s %v: clean = %v", tt.model, tt.row, !tt.copy)
		}
		if tt.copy && raceEnabled {
			// sync.Pool drops a quarter of Puts under the race detector.
			continue
		}
		out := make([]float64, m.NumOutputs())
		if n := testing.AllocsPerRun(200, func() { m.Predict(tt.row, out) }); n != 0 {
			t.Errorf("%s %v: Predict allocates %v times", tt.model, tt.row, n)
		}
		if n := testing.AllocsPerRun(200, func() { m.PredictRaw(tt.row, out) }); n != 0 {
			t.Errorf("%s %v: PredictRaw allocates %v times", tt.model, tt.row, n)
		}
	}
	c := models.NewCategories([]string{"basic", "plus", "pro"})
	var sink float64
	if n := testing.AllocsPerRun(200, func() { sink += c.Code("plus") + c.Code("unseen") }); n != 0 {
		t.Errorf("Categories.Code allocates %v times", n)
	}
}

func TestPredictConcurrent(t *testing.T) {
	m := parse(t, "categorical.txt")
	rows := [][]float64{{3, 1, 7, 120, 40}, {3, math.NaN(), 7, 120, math.NaN()}, {math.NaN(), 2, -1, 0, 1e10}}
	want := make([][]float64, len(rows))
	for i, r := range rows {
		want[i] = make([]float64, 1)
		m.Predict(r, want[i])
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			out := make([]float64, 1)
			for i := range 2000 {
				k := (g + i) % len(rows)
				m.Predict(rows[k], out)
				if out[0] != want[k][0] {
					t.Errorf("row %d: %v, want %v", k, out[0], want[k][0])
					return
				}
			}
		})
	}
	wg.Wait()
	if !math.IsNaN(rows[1][1]) || rows[2][4] != 1e10 {
		t.Error("Predict changed the caller's row")
	}
}

func TestPredictPanicsOnLengths(t *testing.T) {
	m := parse(t, "multiclass.txt")
	for name, f := range map[string]func(){
		"short row": func() { m.Predict(make([]float64, 5), make([]float64, 3)) },
		"long row":  func() { m.Predict(make([]float64, 7), make([]float64, 3)) },
		"short out": func() { m.PredictRaw(make([]float64, 6), make([]float64, 1)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestSoftmaxSumsToOne(t *testing.T) {
	m := parse(t, "multiclass.txt")
	out := make([]float64, 3)
	m.Predict([]float64{3, 20, math.NaN(), 4.5, 120, 400}, out)
	if s := out[0] + out[1] + out[2]; math.Abs(s-1) > 1e-12 {
		t.Errorf("probabilities %v sum to %v", out, s)
	}
}

func TestHeaderIsACopy(t *testing.T) {
	m := parse(t, "categorical.txt")
	h := m.Header()
	h.FeatureNames[0] = "x"
	h.PandasCategorical[0][0] = "x"
	h.CategoricalFeatures[0] = 0
	h.TreeSizes[0] = 0
	if g := m.Header(); g.FeatureNames[0] == "x" || g.PandasCategorical[0][0] == "x" || g.CategoricalFeatures[0] == 0 || g.TreeSizes[0] == 0 {
		t.Error("changing a Header changed the model's")
	}
}

func TestCategories(t *testing.T) {
	c := models.NewCategories([]string{"basic", "plus", "pro", "plus"})
	for value, want := range map[string]float64{"basic": 0, "plus": 1, "pro": 2} {
		if got := c.Code(value); got != want {
			t.Errorf("Code(%q) = %v, want %v", value, got, want)
		}
	}
	for _, value := range []string{"", "Basic", "zz-unseen"} {
		if got := c.Code(value); !math.IsNaN(got) {
			t.Errorf("Code(%q) = %v, want NaN", value, got)
		}
	}
	if c.Len() != 3 {
		t.Errorf("Len() = %d, want 3", c.Len())
	}
	if got := (models.Categories{}).Code("basic"); !math.IsNaN(got) {
		t.Errorf("zero Categories: Code = %v, want NaN", got)
	}
}

func BenchmarkPredict(b *testing.B) {
	nan := math.NaN()
	for _, bb := range []struct {
		name, model string
		row         []float64
	}{
		{"binary", "binary.txt", []float64{3, 20, nan, 4.5, 120, 400}},
		{"multiclass", "multiclass.txt", []float64{3, 20, nan, 4.5, 120, 400}},
		{"categorical", "categorical.txt", []float64{3, 1, 7, 120, 40}},
		{"categorical_missing", "categorical.txt", []float64{3, nan, 7, 120, nan}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			m := parse(b, bb.model)
			out := make([]float64, m.NumOutputs())
			b.ReportAllocs()
			for b.Loop() {
				m.Predict(bb.row, out)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	text := readModel(b, "multiclass.txt")
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := Parse(text); err != nil {
			b.Fatal(err)
		}
	}
}
