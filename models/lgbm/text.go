package lgbm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"kairos/models"
)

// The validation rules, as they appear in RuleError.Rule: the registry's
// (package models) names.
const (
	RuleFormatVersion = models.RuleFormatVersion
	RuleFeatureNames  = models.RuleFeatureNames
	RuleObjective     = models.RuleObjective
	RuleLinearTree    = models.RuleLinearTree
	RuleTreeCounts    = models.RuleTreeCounts
	RuleParse         = models.RuleParse
)

// RuleError is a model refused by a validation rule.
type RuleError struct {
	Rule string // one of the Rule constants
	Msg  string
}

func (e *RuleError) Error() string { return e.Rule + ": " + e.Msg }

func ruleErr(rule, format string, args ...any) *RuleError {
	return &RuleError{Rule: rule, Msg: fmt.Sprintf(format, args...)}
}

// Header is what Parse reads from a LightGBM model text besides the trees.
type Header struct {
	Version             string // "v2", "v3", "v4"
	NumClass            int
	NumTreePerIteration int
	MaxFeatureIdx       int
	FeatureNames        []string
	Objective           string // the whole objective line, e.g. "binary sigmoid:1"
	ObjectiveName       string // "binary", "multiclass", "regression", ...
	LinearTree          bool   // any tree with is_linear=1, or linear_tree: 1 in parameters
	NumTrees            int    // Tree= blocks found
	TreeSizes           []int  // from tree_sizes=
	// PandasCategorical holds the category lists of the pandas_categorical
	// line (nil for null or no line), one list per category-dtype column of
	// the training DataFrame in column order. Strings are kept as they
	// are; other JSON values (numbers, booleans) as their JSON text.
	PandasCategorical [][]string
	// CategoricalFeatures are the feature indices that some split uses as
	// categorical (decision_type bit 0), ascending.
	CategoricalFeatures []int
	// AverageOutput is set for random forests (boosting=rf): the raw score
	// is the mean of the trees, not their sum.
	AverageOutput bool
}

// knownHeaderKeys are the header keys LightGBM (up to 4.7) writes. Parse
// refuses others: a key it does not know may change what the trees mean.
var knownHeaderKeys = []string{
	"version", "num_class", "num_tree_per_iteration", "label_index", "max_feature_idx",
	"objective", "average_output", "feature_names", "monotone_constraints", "feature_infos", "tree_sizes",
}

// knownTreeKeys are the keys of a Tree= block that LightGBM (up to 4.7)
// writes. leaf_const, num_features, leaf_features and leaf_coeff belong to
// linear trees, which are refused.
var knownTreeKeys = []string{
	"num_leaves", "num_cat", "split_feature", "split_gain", "threshold", "decision_type",
	"left_child", "right_child", "leaf_value", "leaf_weight", "leaf_count", "internal_value",
	"internal_weight", "internal_count", "cat_boundaries", "cat_threshold", "is_linear",
	"leaf_const", "num_features", "leaf_features", "leaf_coeff", "shrinkage",
}

// maxFeatures bounds max_feature_idx, so that a corrupt header cannot make
// Predict's scratch rows huge. Real models have hundreds, rarely thousands.
const maxFeatures = 1 << 20

// file is a parsed model text.
type file struct {
	h     Header
	trees []byte // the Tree= blocks, verbatim
	// zeroMissing are the features with splits of missing type Zero.
	zeroMissing []int
}

// decision_type bits (LightGBM's tree.h).
const (
	catMask         = 1
	defaultLeftMask = 2
	missingShift    = 2
	missingMask     = 3 << missingShift
)

// lines iterates over the lines of text, reporting each line's offset.
type lines struct {
	text []byte
	off  int
}

func (l *lines) next() (line string, start int, ok bool) {
	if l.off >= len(l.text) {
		return "", l.off, false
	}
	start = l.off
	i := bytes.IndexByte(l.text[l.off:], '\n')
	if i < 0 {
		l.off = len(l.text)
		return string(l.text[start:]), start, true
	}
	l.off += i + 1
	return string(l.text[start : start+i]), start, true
}

func parseText(text []byte) (*file, error) {
	if bytes.Contains(text, []byte("\r")) {
		return nil, ruleErr(RuleParse, "carriage returns in the model text (CRLF line endings?): LightGBM's tree_sizes count the bytes of the file as written, with LF line endings")
	}
	l := &lines{text: text}
	first, _, _ := l.next()
	if first != "tree" {
		return nil, ruleErr(RuleParse, "not a LightGBM text model: the first line is %.40q, want \"tree\"", first)
	}

	// Header: key=value lines up to the first Tree= line.
	kv := map[string]string{}
	treesStart := -1
	unknown := ""
	for {
		line, start, ok := l.next()
		if !ok {
			break
		}
		if strings.HasPrefix(line, "Tree=") {
			treesStart = start
			break
		}
		if line == "" {
			continue
		}
		if line == "end of trees" {
			return nil, ruleErr(RuleTreeCounts, "the model has no trees")
		}
		key, value, _ := strings.Cut(line, "=")
		if strings.Contains(value, "=") && key != "feature_names" && key != "monotone_constraints" {
			return nil, ruleErr(RuleParse, "header line %.60q has more than one '='", line)
		}
		if !slices.Contains(knownHeaderKeys, key) && unknown == "" {
			unknown = key // reported after the version, which says more
		}
		if _, dup := kv[key]; dup {
			return nil, ruleErr(RuleParse, "header key %q appears twice", key)
		}
		kv[key] = value
	}
	if treesStart < 0 {
		return nil, ruleErr(RuleParse, "truncated: the text ends before the first tree")
	}
	f := &file{}
	h := &f.h
	if err := parseHeader(kv, h); err != nil {
		return nil, err
	}
	if unknown != "" {
		return nil, ruleErr(RuleFormatVersion, "unknown header key %.40q: this reader knows LightGBM's text format up to v4 (LightGBM 4.7)", unknown)
	}

	// Trees: Tree=i blocks up to "end of trees".
	treesEnd := -1
	l.off = treesStart
	blockStart := -1
	var cats, zeros []int
	var block []string
	endBlock := func(end int) error {
		if blockStart < 0 {
			return nil
		}
		i := h.NumTrees
		c, z, err := checkTree(i, block, h)
		if err != nil {
			return err
		}
		if i < len(h.TreeSizes) && end-blockStart != h.TreeSizes[i] {
			return ruleErr(RuleTreeCounts, "Tree=%d is %d bytes, tree_sizes says %d", i, end-blockStart, h.TreeSizes[i])
		}
		cats, zeros = append(cats, c...), append(zeros, z...)
		h.NumTrees++
		blockStart, block = -1, block[:0]
		return nil
	}
	inBody := false // between a Tree= line and the blank line that ends its keys
	for {
		line, start, ok := l.next()
		if !ok {
			break
		}
		switch {
		case line == "end of trees":
			treesEnd = start
		case strings.HasPrefix(line, "Tree="):
			if inBody {
				// leaves reads a tree's keys up to a blank line.
				return nil, ruleErr(RuleParse, "no blank line between Tree=%d and %.20q", h.NumTrees, line)
			}
			if err := endBlock(start); err != nil {
				return nil, err
			}
			if want := "Tree=" + strconv.Itoa(h.NumTrees); line != want {
				return nil, ruleErr(RuleParse, "found %.20q where %q should start", line, want)
			}
			blockStart, inBody = start, true
		case line == "":
			inBody = false
		case inBody:
			block = append(block, line)
		default:
			return nil, ruleErr(RuleParse, "unexpected line %.60q after Tree=%d", line, h.NumTrees)
		}
		if treesEnd >= 0 {
			break
		}
	}
	if treesEnd < 0 {
		return nil, ruleErr(RuleParse, "truncated: no \"end of trees\" line after %d complete trees", h.NumTrees)
	}
	if err := endBlock(treesEnd); err != nil {
		return nil, err
	}
	f.trees = text[treesStart:treesEnd]
	slices.Sort(cats)
	h.CategoricalFeatures = slices.Compact(cats)
	slices.Sort(zeros)
	f.zeroMissing = slices.Compact(zeros)

	if err := parseTrailer(l, h); err != nil {
		return nil, err
	}
	if err := checkCounts(h); err != nil {
		return nil, err
	}
	if h.LinearTree {
		return nil, ruleErr(RuleLinearTree, "linear trees (linear_tree=True): leaves ignores their leaf coefficients and would mispredict")
	}
	if err := checkObjective(h); err != nil {
		return nil, err
	}
	return f, nil
}

func parseHeader(kv map[string]string, h *Header) error {
	v, ok := kv["version"]
	if !ok {
		return ruleErr(RuleFormatVersion, "no version line")
	}
	switch v {
	case "v2", "v3", "v4":
	default:
		return ruleErr(RuleFormatVersion, "version=%.20s: supported are v2, v3, v4", v)
	}
	h.Version = v
	var err error
	if h.NumClass, err = headerInt(kv, "num_class"); err != nil {
		return err
	}
	h.NumTreePerIteration = h.NumClass // LightGBM's default when the line is missing
	if _, ok := kv["num_tree_per_iteration"]; ok {
		if h.NumTreePerIteration, err = headerInt(kv, "num_tree_per_iteration"); err != nil {
			return err
		}
	}
	if h.MaxFeatureIdx, err = headerInt(kv, "max_feature_idx"); err != nil {
		return err
	}
	if h.MaxFeatureIdx < 0 || h.MaxFeatureIdx >= maxFeatures {
		return ruleErr(RuleParse, "max_feature_idx=%d out of range", h.MaxFeatureIdx)
	}
	names, ok := kv["feature_names"]
	if !ok {
		return ruleErr(RuleFeatureNames, "no feature_names line")
	}
	h.FeatureNames = strings.Split(names, " ")
	if len(h.FeatureNames) != h.MaxFeatureIdx+1 {
		return ruleErr(RuleFeatureNames, "feature_names has %d names, max_feature_idx+1 = %d", len(h.FeatureNames), h.MaxFeatureIdx+1)
	}
	seen := make(map[string]bool, len(h.FeatureNames))
	for i, n := range h.FeatureNames {
		if n == "" {
			return ruleErr(RuleFeatureNames, "feature %d has an empty name", i)
		}
		if seen[n] {
			return ruleErr(RuleFeatureNames, "feature name %q appears twice", n)
		}
		seen[n] = true
	}
	if infos, ok := kv["feature_infos"]; ok && len(strings.Split(infos, " ")) != h.MaxFeatureIdx+1 {
		return ruleErr(RuleParse, "feature_infos has %d entries, max_feature_idx+1 = %d", len(strings.Split(infos, " ")), h.MaxFeatureIdx+1)
	}
	h.Objective = kv["objective"]
	h.ObjectiveName, _, _ = strings.Cut(h.Objective, " ")
	_, h.AverageOutput = kv["average_output"]
	sizes, ok := kv["tree_sizes"]
	if !ok {
		return ruleErr(RuleTreeCounts, "no tree_sizes line")
	}
	for s := range strings.SplitSeq(sizes, " ") {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return ruleErr(RuleTreeCounts, "tree_sizes: %.20q is not a size", s)
		}
		h.TreeSizes = append(h.TreeSizes, n)
	}
	return nil
}

func headerInt(kv map[string]string, key string) (int, error) {
	s, ok := kv[key]
	if !ok {
		return 0, ruleErr(RuleParse, "no %s line", key)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, ruleErr(RuleParse, "%s=%.20q is not an integer", key, s)
	}
	return n, nil
}

// tree is the part of a Tree= block that prediction depends on.
type tree struct {
	numLeaves, numCat int
	splitFeature      []int
	decisionType      []int
	threshold         []float64
	left, right       []int
	leafValue         []float64
	catBoundaries     []int
	catThreshold      []uint32
}

// checkTree checks that block (the key=value lines of Tree=i) describes a
// tree that LightGBM and leaves traverse alike, and returns the features
// it splits on as categorical and those of its splits of missing type Zero.
func checkTree(i int, block []string, h *Header) (cats, zeros []int, err error) {
	kv := make(map[string]string, len(block))
	for _, line := range block {
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, nil, ruleErr(RuleParse, "Tree=%d: line %.40q is not key=value", i, line)
		}
		if !slices.Contains(knownTreeKeys, key) {
			return nil, nil, ruleErr(RuleFormatVersion, "Tree=%d: unknown key %.40q: this reader knows LightGBM's text format up to v4 (LightGBM 4.7)", i, key)
		}
		if _, dup := kv[key]; dup {
			return nil, nil, ruleErr(RuleParse, "Tree=%d: key %q appears twice", i, key)
		}
		kv[key] = value
	}
	bad := func(format string, args ...any) *RuleError {
		return ruleErr(RuleParse, "Tree=%d: %s", i, fmt.Sprintf(format, args...))
	}
	if lin, ok := kv["is_linear"]; ok {
		switch lin {
		case "0":
		case "1":
			h.LinearTree = true
		default:
			return nil, nil, bad("is_linear=%.10q", lin)
		}
	}
	var t tree
	if t.numLeaves, err = treeInt(kv, "num_leaves"); err != nil {
		return nil, nil, bad("%v", err)
	}
	if t.numCat, err = treeInt(kv, "num_cat"); err != nil {
		return nil, nil, bad("%v", err)
	}
	if t.numLeaves < 1 || t.numCat < 0 {
		return nil, nil, bad("num_leaves=%d, num_cat=%d", t.numLeaves, t.numCat)
	}
	// Every array is checked against num_leaves before anything is sized by
	// it, so a corrupt count cannot make leaves allocate more than the text.
	n := t.numLeaves - 1
	if t.leafValue, err = floats(kv, "leaf_value", t.numLeaves); err != nil {
		return nil, nil, bad("%v", err)
	}
	if n == 0 {
		return nil, nil, nil
	}
	if t.splitFeature, err = ints(kv, "split_feature", n); err != nil {
		return nil, nil, bad("%v", err)
	}
	if t.decisionType, err = ints(kv, "decision_type", n); err != nil {
		return nil, nil, bad("%v", err)
	}
	if t.threshold, err = floats(kv, "threshold", n); err != nil {
		return nil, nil, bad("%v", err)
	}
	if t.left, err = ints(kv, "left_child", n); err != nil {
		return nil, nil, bad("%v", err)
	}
	if t.right, err = ints(kv, "right_child", n); err != nil {
		return nil, nil, bad("%v", err)
	}
	if t.numCat > 0 {
		if t.catBoundaries, err = ints(kv, "cat_boundaries", t.numCat+1); err != nil {
			return nil, nil, bad("%v", err)
		}
		s, ok := kv["cat_threshold"]
		if !ok {
			return nil, nil, bad("no cat_threshold")
		}
		for f := range strings.SplitSeq(s, " ") {
			v, err := strconv.ParseUint(f, 10, 32)
			if err != nil {
				return nil, nil, bad("cat_threshold: %.20q", f)
			}
			t.catThreshold = append(t.catThreshold, uint32(v))
		}
		if t.catBoundaries[0] != 0 || t.catBoundaries[t.numCat] != len(t.catThreshold) {
			return nil, nil, bad("cat_boundaries %v do not span cat_threshold (%d words)", t.catBoundaries, len(t.catThreshold))
		}
		for c := range t.numCat {
			if t.catBoundaries[c+1] < t.catBoundaries[c] {
				return nil, nil, bad("cat_boundaries decrease")
			}
		}
	}
	// Each node but the root and each leaf is the child of exactly one
	// node: the nodes form one tree, so traversal ends at a leaf.
	seenNode := make([]bool, n)
	seenLeaf := make([]bool, t.numLeaves)
	for k := range n {
		if f := t.splitFeature[k]; f < 0 || f > h.MaxFeatureIdx {
			return nil, nil, bad("node %d splits on feature %d, max_feature_idx is %d", k, f, h.MaxFeatureIdx)
		}
		dt := t.decisionType[k]
		if dt < 0 || dt&^(catMask|defaultLeftMask|missingMask) != 0 || (dt&missingMask)>>missingShift == 3 {
			return nil, nil, bad("node %d: decision_type %d unknown", k, dt)
		}
		if dt&catMask != 0 {
			c := t.threshold[k]
			if t.numCat == 0 || c != math.Trunc(c) || c < 0 || c >= float64(t.numCat) {
				return nil, nil, bad("node %d: categorical split with threshold %v, num_cat=%d", k, c, t.numCat)
			}
			words := t.catThreshold[t.catBoundaries[int(c)]:t.catBoundaries[int(c)+1]]
			if !slices.ContainsFunc(words, func(w uint32) bool { return w != 0 }) {
				return nil, nil, bad("node %d: categorical split with an empty category set", k)
			}
			cats = append(cats, t.splitFeature[k])
		} else if (dt&missingMask)>>missingShift == 1 {
			zeros = append(zeros, t.splitFeature[k])
		}
		for _, child := range [2]int{t.left[k], t.right[k]} {
			switch {
			case child >= n || child < -t.numLeaves || child == 0:
				return nil, nil, bad("node %d has child %d (num_leaves=%d)", k, child, t.numLeaves)
			case child > 0 && seenNode[child], child < 0 && seenLeaf[^child]:
				return nil, nil, bad("node %d: child %d is reached twice", k, child)
			case child > 0:
				seenNode[child] = true
			default:
				seenLeaf[^child] = true
			}
		}
	}
	if slices.Contains(seenLeaf, false) {
		return nil, nil, bad("a leaf is never reached")
	}
	return cats, zeros, nil
}

func treeInt(kv map[string]string, key string) (int, error) {
	s, ok := kv[key]
	if !ok {
		return 0, fmt.Errorf("no %s", key)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s=%.20q", key, s)
	}
	return n, nil
}

// ints parses the n space-separated int32s of key (leaves reads them as
// int32 or uint32).
func ints(kv map[string]string, key string, n int) ([]int, error) {
	fields, err := arrayFields(kv, key, n)
	if err != nil {
		return nil, err
	}
	out := make([]int, n)
	for i, s := range fields {
		v, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%s: %.20q", key, s)
		}
		out[i] = int(v)
	}
	return out, nil
}

func floats(kv map[string]string, key string, n int) ([]float64, error) {
	fields, err := arrayFields(kv, key, n)
	if err != nil {
		return nil, err
	}
	out := make([]float64, n)
	for i, s := range fields {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %.20q", key, s)
		}
		out[i] = v
	}
	return out, nil
}

func arrayFields(kv map[string]string, key string, n int) ([]string, error) {
	s, ok := kv[key]
	if !ok {
		return nil, fmt.Errorf("no %s", key)
	}
	// Count before splitting: n comes from the file.
	if c := strings.Count(s, " ") + 1; c != n {
		return nil, fmt.Errorf("%s has %d values, want %d", key, c, n)
	}
	return strings.Split(s, " "), nil
}

// parseTrailer reads what follows "end of trees": feature importances,
// parameters, parser config and pandas_categorical.
func parseTrailer(l *lines, h *Header) error {
	inParams, paramsEnded := false, false
	for {
		line, _, ok := l.next()
		if !ok {
			break
		}
		switch {
		case line == "parameters:":
			inParams = true
		case line == "end of parameters":
			inParams, paramsEnded = false, true
		case inParams:
			if v, ok := strings.CutPrefix(line, "[linear_tree: "); ok && strings.TrimSuffix(v, "]") != "0" {
				h.LinearTree = true
			}
		case strings.HasPrefix(line, "pandas_categorical:"):
			pc, err := parsePandasCategorical(strings.TrimPrefix(line, "pandas_categorical:"))
			if err != nil {
				return err
			}
			h.PandasCategorical = pc
		}
	}
	if inParams && !paramsEnded {
		return ruleErr(RuleParse, "truncated: \"parameters:\" without \"end of parameters\"")
	}
	return nil
}

func parsePandasCategorical(s string) ([][]string, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var lists [][]any
	if err := dec.Decode(&lists); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, ruleErr(RuleParse, "truncated: pandas_categorical ends early: %v", err)
		}
		return nil, ruleErr(RuleParse, "pandas_categorical: %v", err)
	}
	if lists == nil {
		return nil, nil
	}
	out := make([][]string, len(lists))
	for i, list := range lists {
		out[i] = make([]string, len(list))
		for j, v := range list {
			switch v := v.(type) {
			case string:
				out[i][j] = v
			case nil:
				return nil, ruleErr(RuleParse, "pandas_categorical[%d][%d] is null", i, j)
			default:
				b, _ := json.Marshal(v)
				out[i][j] = string(b)
			}
		}
	}
	return out, nil
}

// checkCounts is the tree_counts rule.
func checkCounts(h *Header) error {
	switch {
	case h.NumClass < 1:
		return ruleErr(RuleTreeCounts, "num_class=%d", h.NumClass)
	case h.NumTreePerIteration != h.NumClass:
		return ruleErr(RuleTreeCounts, "num_tree_per_iteration=%d but num_class=%d", h.NumTreePerIteration, h.NumClass)
	case len(h.TreeSizes) != h.NumTrees:
		return ruleErr(RuleTreeCounts, "tree_sizes lists %d trees, the file has %d Tree= blocks", len(h.TreeSizes), h.NumTrees)
	case h.NumTrees%h.NumTreePerIteration != 0:
		return ruleErr(RuleTreeCounts, "%d trees are not whole iterations of num_tree_per_iteration=%d", h.NumTrees, h.NumTreePerIteration)
	}
	return nil
}

// checkObjective is the objective allow-list.
func checkObjective(h *Header) error {
	fields := strings.Fields(h.Objective)
	if len(fields) == 0 {
		return ruleErr(RuleObjective, "no objective line (a custom objective?): the outputs' meaning is unknown")
	}
	name := fields[0]
	params := fields[1:]
	switch {
	case name == "binary":
		if !slices.Equal(params, []string{"sigmoid:1"}) {
			return ruleErr(RuleObjective, "%q: only \"binary sigmoid:1\" is allowed", h.Objective)
		}
		if h.NumClass != 1 {
			return ruleErr(RuleObjective, "binary objective with num_class=%d", h.NumClass)
		}
		return nil
	case name == "multiclass":
		n, ok := strings.CutPrefix(strings.Join(params, " "), "num_class:")
		if !ok || n != strconv.Itoa(h.NumClass) || h.NumClass < 2 {
			return ruleErr(RuleObjective, "%q with num_class=%d: want \"multiclass num_class:%d\"", h.Objective, h.NumClass, h.NumClass)
		}
		return nil
	case name == "regression", name == "regression_l1", name == "poisson", name == "gamma", name == "tweedie":
		if len(params) > 0 {
			return ruleErr(RuleObjective, "%q: objective parameters %q change the outputs (sqrt: LightGBM squares them) and are not allowed", h.Objective, params)
		}
		if h.NumClass != 1 {
			return ruleErr(RuleObjective, "%s objective with num_class=%d", name, h.NumClass)
		}
		return nil
	}
	return ruleErr(RuleObjective, "%q is not on the allow-list (binary sigmoid:1, multiclass, regression, regression_l1, poisson, gamma, tweedie)", h.Objective)
}
