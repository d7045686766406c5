package lgbm

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzParse feeds Parse mutations of the fixtures. Parse must not panic
// and must refuse with a *RuleError; it must not lean on its recover (a
// panic inside leaves means a check is missing); and a model it accepts
// must predict any row without panicking.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("tree\nversion=v4\n"))
	f.Add([]byte(""))
	f.Fuzz(checkParse)
}

// FuzzParseTree fuzzes one tree block inside a header that fits it, with
// tree_sizes computed, so that mutations reach the tree checks and leaves
// rather than stop at a wrong size.
func FuzzParseTree(f *testing.F) {
	for _, name := range []string{"binary.txt", "categorical.txt", "multiclass.txt", "linear_tree.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		for _, block := range strings.Split(string(b), "\nTree=")[1:] {
			_, block, _ = strings.Cut(block, "\n")
			block, _, _ = strings.Cut(block, "\n\n")
			f.Add(block)
		}
	}
	f.Fuzz(func(t *testing.T, block string) {
		tree := "Tree=0\n" + block + "\n\n\n"
		text := "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=5\n" +
			"objective=binary sigmoid:1\nfeature_names=a b c d e f\ntree_sizes=" + strconv.Itoa(len(tree)) + "\n\n" +
			tree + "end of trees\n"
		checkParse(t, []byte(text))
	})
}

// checkParse is the property both fuzz targets check.
func checkParse(t *testing.T, text []byte) {
	m, err := Parse(text)
	if err != nil {
		var re *RuleError
		if !errors.As(err, &re) {
			t.Fatalf("error %v is not a *RuleError", err)
		}
		if m != nil {
			t.Fatal("a model came back with the error")
		}
		if strings.HasPrefix(re.Msg, "leaves could not load") {
			t.Fatalf("leaves panicked on a text Parse's checks let through: %v", err)
		}
		return
	}
	out := make([]float64, m.NumOutputs())
	for _, v := range []float64{math.NaN(), 0, -1, 1e300, math.Inf(-1), 1e-35, 3} {
		row := make([]float64, m.NumFeatures())
		for i := range row {
			row[i] = v
		}
		m.Predict(row, out)
		m.PredictRaw(row, out)
	}
}
