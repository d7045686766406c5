// Package models serves the LightGBM models that data scientists drop into
// a model directory: it validates each version before it may serve, keeps
// one active version per task (churn, propensity, nba) plus shadow
// versions, hot-swaps atomically, and scores a customer's feature vector.
//
// # The model directory
//
//	<dir>/<name>/<version>/model.txt      LightGBM text format (Booster.save_model; v2, v3 or v4)
//	<dir>/<name>/<version>/manifest.json  see Manifest
//	<dir>/<name>/serving.json             optional: which version serves (see StateFile)
//
// Without serving.json the newest valid version (versions compare as
// strings, with digit runs as numbers) whose manifest says stage "active"
// serves; `kairos models promote` and `rollback` write serving.json. A
// registry watching the directory (Watch) reloads within a poll interval of
// any change. Copy a new version in under a temporary name and rename it,
// so that it is never read half-written; a half-written version is refused
// and validated again when it changes.
//
// # Validation
//
// A version serves only when it passes every rule; a refused version never
// replaces the serving one, and its rule shows in Status, in the logs and
// in kairos_model_refused_total. The rules (see the Rule constants):
// manifest complete and consistent; LightGBM format v2, v3 or v4; the
// file's feature_names equal the manifest's features by name and position,
// each defined in the feature definitions; an objective on the allow-list
// that fits the task (binary for churn and propensity, multiclass with
// num_class = len(classes) for nba); no linear trees; consistent tree
// counts; categorical mappings that agree with the model's
// pandas_categorical; and golden parity — leaves' outputs on the
// manifest's golden inputs equal LightGBM's own within GoldenTolerance.
//
// # Serving
//
// Registry.Score reads one consistent set of models (an atomic pointer
// swapped by reloads), gathers each model's inputs from the feature vector
// (NaN takes LightGBM's missing-value branch), and allocates nothing once
// its Scores has grown to size.
//
// Categorical features: the manifest's category lists map category names to
// codes (Model.Category) wherever inputs arrive as names — golden inputs
// and `kairos models score`. The online feature vector holds numbers only,
// so a categorical model input must be a numeric feature holding codes.
//
// models must not import gRPC, Redis or pgx, nor leaves: it reads model
// files through a Parser (Options.Parse), which models/lgbm — the only
// importer of leaves — provides as lgbm.Parser.
package models
