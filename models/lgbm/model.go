package lgbm

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/dmitryikh/leaves"
)

// Model is a validated LightGBM model. It is safe for concurrent use.
type Model struct {
	h    Header
	ens  *leaves.Ensemble // raw scores; Model applies the objective's transform
	nIn  int
	nOut int
	link link
	// iterations divides the raw scores of random forests (0: no division).
	iterations float64
	// cats are the categorical features, zeros the features with splits of
	// missing type Zero: rows whose values there leaves would not read as
	// LightGBM does go through a scratch copy (see clean).
	cats, zeros []int
	scratch     sync.Pool // *[]float64 of nIn
}

// link is the objective's output transform (LightGBM's ConvertOutput).
type link uint8

const (
	identity link = iota
	sigmoid
	softmax
	exponential
)

// Parse validates a LightGBM text model and loads it through leaves. Its
// errors are *RuleError. Parse never panics: a panic inside leaves comes
// back as a RuleError with Rule "parse".
func Parse(text []byte) (m *Model, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, ruleErr(RuleParse, "leaves could not load the model: %v", r)
		}
	}()
	f, err := parseText(text)
	if err != nil {
		return nil, err
	}
	h := f.h
	// leaves reads only v2 and v3 and only these header keys; the trees
	// it gets are the file's, byte for byte (see the package comment).
	// average_output stays out: leaves would average the raw scores, and
	// LightGBM's raw scores of a random forest are sums (Predict divides).
	var b bytes.Buffer
	b.Grow(len(f.trees) + 256)
	fmt.Fprintf(&b, "tree\nversion=v3\nnum_class=%d\nnum_tree_per_iteration=%d\nlabel_index=0\nmax_feature_idx=%d\n",
		h.NumClass, h.NumTreePerIteration, h.MaxFeatureIdx)
	b.WriteString("tree_sizes=")
	for i, s := range h.TreeSizes {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(s))
	}
	b.WriteString("\n\n")
	b.Write(f.trees)
	b.WriteString("end of trees\n")
	ens, err := leaves.LGEnsembleFromReader(bufio.NewReader(&b), false)
	if err != nil {
		return nil, ruleErr(RuleParse, "leaves: %v", err)
	}
	if ens.NRawOutputGroups() != h.NumClass || ens.NEstimators()*h.NumClass != h.NumTrees {
		return nil, ruleErr(RuleParse, "leaves read %d trees in %d groups, the file has %d trees in %d",
			ens.NEstimators()*ens.NRawOutputGroups(), ens.NRawOutputGroups(), h.NumTrees, h.NumClass)
	}
	m = &Model{h: h, ens: ens, nIn: h.MaxFeatureIdx + 1, nOut: h.NumClass, cats: h.CategoricalFeatures, zeros: f.zeroMissing}
	if h.AverageOutput {
		m.iterations = float64(h.NumTrees / h.NumTreePerIteration)
	}
	switch h.ObjectiveName {
	case "binary":
		m.link = sigmoid
	case "multiclass":
		m.link = softmax
	case "poisson", "gamma", "tweedie":
		m.link = exponential
	}
	m.scratch.New = func() any {
		row := make([]float64, m.nIn)
		return &row
	}
	return m, nil
}

// Header returns what Parse read besides the trees. The slices are copies.
func (m *Model) Header() Header {
	h := m.h
	h.FeatureNames = slices.Clone(h.FeatureNames)
	h.TreeSizes = slices.Clone(h.TreeSizes)
	h.CategoricalFeatures = slices.Clone(h.CategoricalFeatures)
	if h.PandasCategorical != nil {
		h.PandasCategorical = make([][]string, len(m.h.PandasCategorical))
		for i, c := range m.h.PandasCategorical {
			h.PandasCategorical[i] = slices.Clone(c)
		}
	}
	return h
}

// NumOutputs is the number of outputs per row: 1, or NumClass for
// multiclass.
func (m *Model) NumOutputs() int { return m.nOut }

// NumFeatures is the length of a row: MaxFeatureIdx+1.
func (m *Model) NumFeatures() int { return m.nIn }

// Predict writes the model's outputs for one row (len(row) ==
// MaxFeatureIdx+1; NaN = missing; categorical features as codes,
// float64(code)) into out (len NumOutputs), transformed like LightGBM's
// predict(): sigmoid for binary, softmax for multiclass, exp for poisson,
// gamma and tweedie, identity for regression. It allocates nothing and
// panics when a length is wrong.
func (m *Model) Predict(row []float64, out []float64) {
	m.PredictRaw(row, out)
	if m.iterations > 0 {
		// LightGBM's GBDT::Predict: a forest's raw score is averaged
		// before the transform.
		for i := range out {
			out[i] /= m.iterations
		}
	}
	switch m.link {
	case sigmoid:
		out[0] = 1 / (1 + math.Exp(-out[0]))
	case exponential:
		out[0] = math.Exp(out[0])
	case softmax:
		// LightGBM's Common::Softmax.
		hi := out[0]
		for _, v := range out[1:] {
			hi = max(hi, v)
		}
		sum := 0.0
		for i, v := range out {
			out[i] = math.Exp(v - hi)
			sum += out[i]
		}
		for i := range out {
			out[i] /= sum
		}
	}
}

// PredictRaw writes the raw scores for one row into out, as LightGBM's
// predict(raw_score=True): the sum of the trees' outputs per class (for
// random forests too, where Predict divides by the number of iterations
// before the transform, as LightGBM does). Rows and panics as for Predict.
func (m *Model) PredictRaw(row []float64, out []float64) {
	if len(row) != m.nIn {
		panic(fmt.Sprintf("lgbm: row has %d values, the model reads %d", len(row), m.nIn))
	}
	if len(out) != m.nOut {
		panic(fmt.Sprintf("lgbm: out has room for %d values, the model writes %d", len(out), m.nOut))
	}
	if m.clean(row) {
		m.predict(row, out)
		return
	}
	p := m.scratch.Get().(*[]float64)
	buf := *p
	copy(buf, row)
	for _, j := range m.cats {
		if !leavesReadsCode(buf[j]) {
			buf[j] = -1
		}
	}
	for _, j := range m.zeros {
		if lightgbmZero(buf[j]) {
			buf[j] = 0
		}
	}
	m.predict(buf, out)
	m.scratch.Put(p)
}

// clean reports whether leaves reads row exactly as LightGBM does. Two
// kinds of value differ, both rare online:
//
//   - categorical codes that are NaN, ≤ -1 or ≥ 2³¹ (see leavesReadsCode),
//     which become -1;
//   - values v with 1e-35 < |v| ≤ 1.0000000180025095e-35 or v = -1e-35 in
//     features with splits of missing type Zero (zero_as_missing=True):
//     LightGBM's IsZero bound is the float32 1e-35f, leaves' the float64
//     1e-35 and open below, so LightGBM takes such a value as missing and
//     leaves does not; they become 0. A feature's splits all have its
//     missing type, so 0 and such a value go the same way in LightGBM.
func (m *Model) clean(row []float64) bool {
	for _, j := range m.cats {
		if !leavesReadsCode(row[j]) {
			return false
		}
	}
	for _, j := range m.zeros {
		if lightgbmZero(row[j]) && row[j] != 0 {
			return false
		}
	}
	return true
}

// kZeroThreshold is LightGBM's (meta.h): 1e-35f, a float32.
var kZeroThreshold = float64(float32(1e-35))

// lightgbmZero is LightGBM's Tree::IsZero.
func lightgbmZero(v float64) bool {
	return v >= -kZeroThreshold && v <= kZeroThreshold
}

func (m *Model) predict(row, out []float64) {
	// Errors only for short slices, which PredictRaw has ruled out.
	_ = m.ens.Predict(row, 0, out)
}

// leavesReadsCode reports whether leaves' categorical decision reads code
// v as LightGBM's does. LightGBM (tree.h, CategoricalDecision) sends NaN,
// and values whose int conversion is negative, to the right child, and
// looks others up in the split's bitset. leaves converts with int32(v)
// first, which Go leaves implementation-defined for NaN and values outside
// the int32 range: amd64 (CVTTSD2SL) gives math.MinInt32, so leaves goes
// right like LightGBM; arm64 (FCVTZS) saturates and gives 0 for NaN, so
// leaves reads a NaN as category 0 in splits of missing type None (a
// feature never missing in training). Such values become -1, which both
// send right. Within (-1, 2³¹) both truncate toward zero alike.
func leavesReadsCode(v float64) bool {
	return v > -1 && v < 1<<31
}
