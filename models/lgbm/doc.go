// Package lgbm loads LightGBM text models (Booster.save_model, format v2, v3
// and v4) and predicts with them through github.com/dmitryikh/leaves. It is
// the only package of kairos that imports leaves; the rest of kairos sees
// Parse and Model, and the registry (package models) sees Parser, its
// models.Parser.
//
// # What Parse checks that leaves does not
//
// leaves reads only format v2 and v3, never looks at the objective unless
// asked to, ignores linear-tree coefficients, and trusts indices in the file
// (a bad split_feature or child index panics at predict time, a huge
// num_leaves exhausts memory at load). Parse therefore reads the whole text
// itself first and refuses, with a *RuleError naming the rule:
//
//   - format_version: a version other than v2, v3, v4, or a header or tree
//     key this reader does not know (a format construct whose meaning for
//     prediction has not been verified);
//   - feature_names: feature_names missing, not max_feature_idx+1 names, an
//     empty or repeated name;
//   - objective: anything but "binary sigmoid:1", "multiclass num_class:N"
//     with N = num_class, and "regression", "regression_l1" (the
//     regression* names LightGBM writes), "poisson", "gamma", "tweedie",
//     each without further parameters: "regression sqrt" (reg_sqrt=True,
//     whose outputs LightGBM squares) is refused too;
//   - linear_tree: a tree with is_linear=1 or "[linear_tree: 1]" in the
//     parameters;
//   - tree_counts: num_class ≠ num_tree_per_iteration, tree_sizes missing or
//     not one size per Tree= block, a block whose byte size differs from its
//     tree_sizes entry (LightGBM itself locates trees by these sizes), trees
//     not a whole number of iterations;
//   - parse: anything else that is not a well-formed LightGBM model,
//     including a truncated file (no "end of trees", or parameters without
//     "end of parameters") and trees that are not trees (indices out of
//     range, a node reached twice, categorical splits without bitsets).
//
// The class count that a caller expects (a manifest's classes) is the
// caller's check: Header.NumClass exposes it. So are the feature names'
// meaning and order, and which pandas_categorical list belongs to which
// feature (pandas lists every category-dtype column of the training
// DataFrame, in column order, ordered categoricals included although
// LightGBM then splits on their codes as numbers).
//
// # How v4 is loaded
//
// LightGBM ≥ 4 writes version=v4, which leaves refuses. LightGBM's own
// loader (GBDT::LoadModelFromString) never branches on the version: it
// reads the keys it knows. A late v3 writer (gbdt_model_text.cpp) and the
// 4.x one write the same header keys; the tree keys are those of tree.cpp's
// Tree::ToString, where is_linear and the linear-leaf keys arrived with
// linear trees while the format was still v3. What the writers visibly
// differ in lies after "end of trees" (the "feature importances:" heading
// became "feature_importances:", and an optional "parser:" section follows
// the parameters), which leaves never reads. So Parse allows only
// the header and tree keys whose effect on prediction it knows
// (knownHeaderKeys, knownTreeKeys) and checks them, then hands leaves a
// text of its own making: a minimal v3 header (num_class,
// num_tree_per_iteration, max_feature_idx, tree_sizes) and the file's tree
// blocks byte for byte. Parity with LightGBM 4.7's own predictions on the
// v4 fixtures, and on a v3 copy of one of them, proves it
// (testdata/*.golden.csv.gz, TestParity).
//
// leaves is asked for raw scores only; Model applies the objective's
// transform itself (leaves' transforms allocate on every call, and skip
// random forests, whose averaged score LightGBM does transform).
//
// # Prediction
//
// Predict and PredictRaw take one row of max_feature_idx+1 values (NaN =
// missing, taking LightGBM's missing-value branch) and allocate nothing.
// Categorical features take codes, as float64: models.Categories maps values to
// codes the way pandas does, and an unseen or missing value becomes NaN,
// which LightGBM sends to the right child of every categorical split.
// Model gives leaves a copy of the row in the two cases where leaves alone
// would read it differently from LightGBM (see Model.clean): categorical
// codes that are NaN, ≤ -1 or ≥ 2³¹ (where leaves' int32 conversion
// depends on the architecture) become -1, and values within LightGBM's
// zero bound (1e-35 as a float32) but outside leaves' (1e-35 as a float64)
// become 0 in features with zero_as_missing splits.
//
// The fixtures and golden outputs in testdata are written by LightGBM
// itself; regenerate them with
//
//	python3 models/lgbm/testdata/gen.py
//
// from the repository root (the packages of training/requirements.txt), or
// go generate.
package lgbm

//go:generate python3 testdata/gen.py
