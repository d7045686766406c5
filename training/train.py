"""Train Kairos' models on a training set written by `kairos export`.

    python3 -m training.train --data train.parquet --out MODEL_DIR [--version V]

trains three LightGBM models (see MODELS) on one export (Parquet or Arrow IPC):

- churn       task churn,      binary on churn30 (rows whose label is null, censored, are dropped)
- propensity  task propensity, binary on purchase7
- nba         task nba,        multiclass on next_category14 (classes: the sorted distinct values)

The features are every column of the export except customer_id, snapshot_at and the labels, in
the export's order; NaN is missing. The split is by time: the last --valid-fraction of the
snapshot times are the validation period, on which training stops early and the metrics (AUC,
log-loss) are measured. Seeds are fixed and LightGBM runs deterministically, so the same export
gives the same model files, byte for byte.

Each model becomes a version directory MODEL_DIR/<name>/<version>/ with model.txt (LightGBM's
text format, as Booster.save_model writes it) and manifest.json: the features in model order,
the classes, where the data came from (with the export's kairos.export.* metadata), the
validation metrics and golden rows -- inputs (validation rows and synthetic rows with many
missing values) with the outputs LightGBM computes for them from the saved model.txt, which the
Go registry must reproduce before it serves the model.

The functions are importable (notebooks/01_train_models.ipynb uses them): load_export,
train_model, write_model_dir, feature_importance.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq
from sklearn.metrics import log_loss, roc_auc_score

# The fixed columns of a training set (training/output.go), before the features.
COL_CUSTOMER_ID = "customer_id"
COL_SNAPSHOT_AT = "snapshot_at"
# A label column's name: churnN, purchaseN, next_categoryN (training/labels.go).
LABEL_NAME = re.compile(r"^(churn|purchase|next_category)[1-9][0-9]*$")
# The prefix of the export's schema metadata keys (training/output.go).
EXPORT_META_PREFIX = "kairos.export."
# A version is a directory name.
VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

# Golden rows per model: sampled from the validation period, and synthetic
# ones with many missing values.
GOLDEN_VALIDATION_ROWS = 200
GOLDEN_SYNTHETIC_ROWS = 50

EARLY_STOPPING_ROUNDS = 20


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model to train: its name (directory), task, label column and kind."""

    name: str
    task: str  # churn, propensity or nba (models.Task)
    label: str
    kind: str  # binary or multiclass
    # The most boosting rounds; a multiclass round adds one tree per class.
    max_rounds: int
    num_leaves: int
    learning_rate: float


# Sized for serving: Kairos scores all three for one customer in well under
# 50 µs, which bounds the trees to a few hundred in all (a multiclass round
# is one tree per class).
MODELS = (
    ModelSpec("churn", "churn", "churn30", "binary", max_rounds=80, num_leaves=31, learning_rate=0.15),
    ModelSpec("propensity", "propensity", "purchase7", "binary", max_rounds=80, num_leaves=31, learning_rate=0.15),
    ModelSpec("nba", "nba", "next_category14", "multiclass", max_rounds=20, num_leaves=15, learning_rate=0.2),
)


class TrainError(Exception):
    """Bad input or a model that cannot be trained; the message names the file and the problem."""


@dataclasses.dataclass
class Export:
    """A training set as `kairos export` writes it."""

    path: str
    frame: pd.DataFrame
    # The feature columns, in the export's order.
    features: list[str]
    # The label columns present.
    labels: list[str]
    # The export's kairos.export.* schema metadata.
    metadata: dict[str, str]
    sha256: str


@dataclasses.dataclass
class Period:
    """A range of snapshot times and the rows in it."""

    start: pd.Timestamp
    end: pd.Timestamp
    rows: int

    def to_json(self) -> dict:
        return {"from": _rfc3339(self.start), "to": _rfc3339(self.end), "rows": self.rows}


@dataclasses.dataclass
class Trained:
    """A trained model with what its manifest needs."""

    spec: ModelSpec
    booster: lgb.Booster
    features: list[str]
    classes: list[str]  # multiclass: the class names in LightGBM class-index order
    params: dict
    best_iteration: int
    metrics: dict[str, float]
    train: Period
    valid: Period
    # The validation period: inputs, true class indices and predicted probabilities
    # (binary: shape (n,); multiclass: (n, len(classes))).
    x_valid: np.ndarray
    y_valid: np.ndarray
    p_valid: np.ndarray
    # The metrics per boosting round, as lightgbm.record_evaluation keeps them.
    history: dict
    seed: int


def load_export(path: str | os.PathLike) -> Export:
    """Reads a training set written by `kairos export` (Parquet or Arrow IPC)."""
    path = str(path)
    table = _read_table(path)
    names = table.schema.names
    for col in (COL_CUSTOMER_ID, COL_SNAPSHOT_AT):
        if col not in names:
            raise TrainError(f"{path}: column {col!r} missing: not a training set written by kairos export")
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()
            if k.decode().startswith(EXPORT_META_PREFIX)}
    declared = [s for s in meta.get(EXPORT_META_PREFIX + "labels", "").split(",") if s]
    labels = [n for n in names if n in declared or LABEL_NAME.match(n)]
    features = [n for n in names if n not in (COL_CUSTOMER_ID, COL_SNAPSHOT_AT) and n not in labels]
    if not features:
        raise TrainError(f"{path}: no feature columns (only {', '.join(names)})")
    for n in features:
        t = table.schema.field(n).type
        if not (pa.types.is_floating(t) or pa.types.is_integer(t)):
            raise TrainError(f"{path}: feature column {n!r} is {t}; features must be numbers")
    if not pa.types.is_timestamp(table.schema.field(COL_SNAPSHOT_AT).type):
        raise TrainError(f"{path}: column {COL_SNAPSHOT_AT!r} is {table.schema.field(COL_SNAPSHOT_AT).type}, want a timestamp")
    if table.num_rows == 0:
        raise TrainError(f"{path}: no rows: the export found no active customer at its snapshot times; "
                         "export a longer range or pass --active-within 0")
    frame = table.to_pandas()
    frame[COL_SNAPSHOT_AT] = pd.to_datetime(frame[COL_SNAPSHOT_AT], utc=True)
    return Export(path=path, frame=frame, features=features, labels=labels, metadata=meta, sha256=_sha256(path))


def _read_table(path: str) -> pa.Table:
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise TrainError(f"{path}: {e.strerror or e}: write a training set with `kairos export --out {path}`") from e
    try:
        if magic[:4] == b"PAR1":
            return pq.read_table(path)
        if magic == b"ARROW1":
            with pa.memory_map(path) as src:
                return pa.ipc.open_file(src).read_all()
    except (pa.ArrowException, OSError) as e:
        raise TrainError(f"{path}: cannot read it: {e}") from e
    raise TrainError(f"{path}: not a Parquet or Arrow IPC file (as kairos export writes them)")


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def split_by_time(at: pd.Series, valid_fraction: float) -> np.ndarray:
    """Returns a mask of the validation rows: those of the last valid_fraction
    of the distinct snapshot times (at least one time, and never all)."""
    times = np.sort(at.unique())
    if len(times) < 2:
        raise ValueError(f"one snapshot time ({pd.Timestamp(times[0]).isoformat()}); "
                         "a split by time needs at least two: export a longer range")
    n_valid = min(max(1, round(len(times) * valid_fraction)), len(times) - 1)
    return (at >= times[len(times) - n_valid]).to_numpy()


def params_for(spec: ModelSpec, n_classes: int, seed: int) -> dict:
    """The LightGBM parameters of a model: small, deterministic, missing = NaN."""
    params = {
        "learning_rate": spec.learning_rate,
        "num_leaves": spec.num_leaves,
        "min_data_in_leaf": 100,
        "feature_fraction": 0.9,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "max_bin": 255,
        "use_missing": True,
        "zero_as_missing": False,
        "seed": seed,
        "deterministic": True,
        "force_col_wise": True,
        "num_threads": 2,
        "verbose": -1,
    }
    if spec.kind == "binary":
        params.update(objective="binary", metric=["binary_logloss", "auc"])
    else:
        params.update(objective="multiclass", num_class=n_classes, metric=["multi_logloss", "multi_error"])
    return params


def train_model(export: Export, spec: ModelSpec, valid_fraction: float = 0.2, seed: int = 7) -> Trained:
    """Trains one model on export: split by time, early stopping on the validation period."""
    path, df = export.path, export.frame
    if spec.label not in df.columns:
        have = ", ".join(export.labels) or "none"
        raise TrainError(f"{path}: label column {spec.label!r} missing (labels in the file: {have}); "
                         f"export with --labels {','.join(m.label for m in MODELS)}")
    labelled = df[spec.label].notna().to_numpy()
    if not labelled.any():
        raise TrainError(f"{path}: label {spec.label} is null (censored) in every row: its window runs past "
                         "the end of the data; export with an earlier --to")
    at = df.loc[labelled, COL_SNAPSHOT_AT]
    x = df.loc[labelled, export.features].to_numpy(dtype=np.float64)
    raw = df.loc[labelled, spec.label]
    if spec.kind == "binary":
        values = raw.to_numpy(dtype=np.float64)
        bad = sorted(set(np.unique(values)) - {0.0, 1.0})
        if bad:
            raise TrainError(f"{path}: label {spec.label} has values {bad[:5]}; a binary label is 0 or 1")
        classes = []
        y = values.astype(np.int32)
        n_classes = 2
    else:
        classes = sorted(raw.astype(str).unique())
        y = np.searchsorted(classes, raw.astype(str).to_numpy()).astype(np.int32)
        n_classes = len(classes)
    present = np.unique(y)
    if len(present) < 2:
        only = classes[present[0]] if classes else int(present[0])
        raise TrainError(f"{path}: label {spec.label} has one class ({only}) in all {len(y):,} labelled rows; "
                         "a model needs two: export more customers or a longer range")
    try:
        valid = split_by_time(at, valid_fraction)
    except ValueError as e:
        raise TrainError(f"{path}: label {spec.label}: {e}") from e
    train = ~valid
    for part, mask in (("training", train), ("validation", valid)):
        if len(np.unique(y[mask])) < 2:
            raise TrainError(f"{path}: label {spec.label} has one class in the {part} period "
                             f"({_span(at[mask])}, {mask.sum():,} rows); export a longer range")

    params = params_for(spec, n_classes, seed)
    dtrain = lgb.Dataset(x[train], label=y[train], feature_name=export.features, free_raw_data=False)
    dvalid = lgb.Dataset(x[valid], label=y[valid], reference=dtrain, free_raw_data=False)
    history: dict = {}
    booster = lgb.train(
        params, dtrain, num_boost_round=spec.max_rounds,
        valid_sets=[dtrain, dvalid], valid_names=["train", "validation"],
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False),
                   lgb.record_evaluation(history)],
    )
    if booster.feature_name() != export.features:
        raise TrainError(f"{path}: LightGBM renamed the features ({booster.feature_name()[:3]}...); "
                         "feature names must be plain identifiers")
    best = booster.best_iteration or booster.current_iteration()
    p_valid = booster.predict(x[valid], num_iteration=best)
    metrics = evaluate(spec, y[valid], p_valid, n_classes)
    metrics.update(validation_rows=int(valid.sum()), train_rows=int(train.sum()), best_iteration=best)
    return Trained(
        spec=spec, booster=booster, features=list(export.features), classes=classes, params=params,
        best_iteration=best, metrics=metrics,
        train=Period(at[train].min(), at[train].max(), int(train.sum())),
        valid=Period(at[valid].min(), at[valid].max(), int(valid.sum())),
        x_valid=x[valid], y_valid=y[valid], p_valid=p_valid, history=history, seed=seed,
    )


def evaluate(spec: ModelSpec, y: np.ndarray, p: np.ndarray, n_classes: int) -> dict[str, float]:
    """The validation metrics: binary: AUC, log-loss and the positive rate; multiclass: log-loss,
    accuracy and the macro one-vs-rest AUC over the classes present."""
    if spec.kind == "binary":
        return {"auc": float(roc_auc_score(y, p)), "logloss": float(log_loss(y, p, labels=[0, 1])),
                "positive_rate": float(y.mean())}
    aucs = [roc_auc_score(y == k, p[:, k]) for k in range(n_classes) if 0 < (y == k).sum() < len(y)]
    return {"auc": float(np.mean(aucs)), "logloss": float(log_loss(y, p, labels=list(range(n_classes)))),
            "accuracy": float((p.argmax(axis=1) == y).mean())}


def golden_inputs(trained: Trained) -> np.ndarray:
    """Rows to prove parity with: a sample of the validation period, then synthetic rows with
    many missing values (all missing, all zero, and validation rows with ~60% of the values
    removed and some scaled beyond the data's range)."""
    rng = np.random.default_rng(trained.seed)
    xv = trained.x_valid
    n = min(GOLDEN_VALIDATION_ROWS, len(xv))
    sample = xv[np.sort(rng.choice(len(xv), size=n, replace=False))]
    width = xv.shape[1]
    synthetic = [np.full(width, np.nan), np.zeros(width)]
    for _ in range(GOLDEN_SYNTHETIC_ROWS - len(synthetic)):
        row = xv[rng.integers(len(xv))].copy()
        row[rng.random(width) < 0.6] = np.nan
        scale = rng.random(width) < 0.2
        row[scale] = row[scale] * 10 + 1
        synthetic.append(row)
    return np.vstack([sample, np.array(synthetic)])


def feature_importance(trained: Trained) -> pd.DataFrame:
    """Gain and split importance per feature (of the best iteration), largest gain first."""
    b, it = trained.booster, trained.best_iteration
    return pd.DataFrame({
        "feature": trained.features,
        "gain": b.feature_importance("gain", iteration=it),
        "split": b.feature_importance("split", iteration=it),
    }).sort_values("gain", ascending=False, ignore_index=True)


def default_version(export: Export) -> str:
    """A version derived from the data: the last snapshot date and the file's hash."""
    last = export.frame[COL_SNAPSHOT_AT].max()
    return f"{last:%Y%m%d}-{export.sha256[:8]}"


def write_model_dir(out: str | os.PathLike, trained: Trained, export: Export, version: str,
                    trained_at: dt.datetime | None = None, overwrite: bool = False) -> Path:
    """Writes out/<name>/<version>/{model.txt,manifest.json} and returns the directory.

    The directory appears complete or not at all (written beside it, then renamed). The golden
    outputs are computed by LightGBM from the model.txt written. An existing version is
    replaced only with overwrite: versions are meant to be immutable."""
    if not VERSION_NAME.match(version):
        raise TrainError(f"version {version!r}: use letters, digits, '.', '_' and '-' (at most 64), e.g. 20261101-s7")
    final = Path(out) / trained.spec.name / version
    if final.exists() and not overwrite:
        raise TrainError(f"{final}: exists, and a version is immutable: pass another --version (or --overwrite)")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=final.parent))
    try:
        tmp.chmod(0o755)
        model_path = tmp / "model.txt"
        trained.booster.save_model(str(model_path), num_iteration=trained.best_iteration)
        saved = lgb.Booster(model_file=str(model_path))
        if saved.feature_name() != trained.features:
            raise TrainError(f"{final}: the saved model's features differ from the export's")
        inputs = golden_inputs(trained)
        outputs = saved.predict(inputs)
        if outputs.ndim == 1:
            outputs = outputs[:, None]
        manifest = _manifest(trained, export, version, trained_at, inputs, outputs)
        (tmp / "manifest.json").write_text(_dump_manifest(manifest))
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{version}.old-", dir=final.parent))
            os.rename(final, old / "v")
            os.rename(tmp, final)
            shutil.rmtree(old)
        else:
            os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _manifest(trained: Trained, export: Export, version: str, trained_at: dt.datetime | None,
              inputs: np.ndarray, outputs: np.ndarray) -> dict:
    spec = trained.spec
    labelled = trained.train.rows + trained.valid.rows
    manifest = {
        "name": spec.name,
        "task": spec.task,
        "version": version,
        "features": trained.features,
    }
    if spec.kind == "multiclass":
        manifest["classes"] = trained.classes
    manifest.update({
        "categorical": {},
        "output": "probability",
        "stage": "active",
        "trained_at": _rfc3339(trained_at or _now()),
        "training_data": {
            "path": export.path,
            "sha256": export.sha256,
            "rows": labelled,
            "file_rows": len(export.frame),
            "from": _rfc3339(min(trained.train.start, trained.valid.start)),
            "to": _rfc3339(max(trained.train.end, trained.valid.end)),
            "label": spec.label,
            "train": trained.train.to_json(),
            "validation": trained.valid.to_json(),
            "export": dict(sorted(export.metadata.items())),
            "lightgbm": {
                "version": lgb.__version__,
                "params": trained.params,
                "max_rounds": spec.max_rounds,
                "early_stopping_rounds": EARLY_STOPPING_ROUNDS,
            },
        },
        "metrics": trained.metrics,
        "golden": {
            "inputs": [[None if np.isnan(v) else float(v) for v in row] for row in inputs],
            "outputs": [[float(v) for v in row] for row in outputs],
        },
    })
    return manifest


def _dump_manifest(manifest: dict) -> str:
    """JSON with two-space indents, except one line per golden row. Floats are written with
    Python's repr: the shortest text that reads back as the same float64."""
    rest = {k: v for k, v in manifest.items() if k != "golden"}
    head = json.dumps(rest, indent=2, allow_nan=False)
    assert head.endswith("\n}")

    def rows(name: str) -> str:
        lines = [json.dumps(r, allow_nan=False, separators=(",", ":")) for r in manifest["golden"][name]]
        return f'    "{name}": [\n      ' + ",\n      ".join(lines) + "\n    ]"

    return head[:-2] + ',\n  "golden": {\n' + rows("inputs") + ",\n" + rows("outputs") + "\n  }\n}\n"


def _now() -> dt.datetime:
    """Now, or SOURCE_DATE_EPOCH when set (reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc)
    return dt.datetime.now(dt.timezone.utc)


def _rfc3339(t) -> str:
    t = pd.Timestamp(t)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(at: pd.Series) -> str:
    return f"{at.min():%Y-%m-%d %H:%M} to {at.max():%Y-%m-%d %H:%M}" if len(at) else "empty"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python3 -m training.train",
        description="Trains the churn, propensity and nba LightGBM models on a kairos export and writes "
                    "versioned model directories (model.txt + manifest.json) that Kairos loads.")
    p.add_argument("--data", required=True, help="training set written by kairos export (Parquet or Arrow IPC)")
    p.add_argument("--out", required=True, help="model directory: writes OUT/<name>/<version>/")
    p.add_argument("--version", help="version of the models (default: <last snapshot date>-<data hash>)")
    p.add_argument("--valid-fraction", type=float, default=0.2,
                   help="share of the last snapshot times that are the validation period (default 0.2)")
    p.add_argument("--seed", type=int, default=7, help="seed of LightGBM and of the golden rows (default 7)")
    p.add_argument("--models", default=",".join(m.name for m in MODELS),
                   help="models to train, comma-separated (default: all: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing version directory")
    args = p.parse_args(argv)
    if not 0 < args.valid_fraction < 1:
        p.error(f"--valid-fraction must be between 0 and 1, got {args.valid_fraction}")
    known = {m.name: m for m in MODELS}
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        p.error(f"--models: unknown {', '.join(unknown) or '(none given)'}; the models are {', '.join(known)}")
    args.specs = [known[n] for n in names]
    if args.version is not None and not VERSION_NAME.match(args.version):
        p.error(f"--version {args.version!r}: use letters, digits, '.', '_' and '-' (at most 64), e.g. 20261101-s7")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.monotonic()
    try:
        if args.version and not args.overwrite:
            for spec in args.specs:
                if (Path(args.out) / spec.name / args.version).exists():
                    raise TrainError(f"{Path(args.out) / spec.name / args.version}: exists, and a version is "
                                     "immutable: pass another --version (or --overwrite)")
        export = load_export(args.data)
        version = args.version or default_version(export)
        print(f"train: {args.data}: {len(export.frame):,} rows, {len(export.features)} features, "
              f"labels {', '.join(export.labels) or 'none'}", file=sys.stderr)
        results = []
        for spec in args.specs:
            t0 = time.monotonic()
            trained = train_model(export, spec, args.valid_fraction, args.seed)
            path = write_model_dir(args.out, trained, export, version, overwrite=args.overwrite)
            results.append((trained, path))
            print(f"train: {spec.name}: {trained.best_iteration} rounds in {time.monotonic() - t0:.1f}s",
                  file=sys.stderr)
    except TrainError as e:
        print(f"train: {e}", file=sys.stderr)
        return 1
    print(f"validation metrics ({args.data}):")
    for trained, _ in results:
        m, v = trained.metrics, trained.valid
        extra = f"  accuracy {m['accuracy']:.4f}" if "accuracy" in m else f"  positive rate {m['positive_rate']:.4f}"
        print(f"  {trained.spec.name:<11} auc {m['auc']:.4f}  logloss {m['logloss']:.4f}{extra}  "
              f"({v.rows:,} rows, {v.start:%Y-%m-%d} to {v.end:%Y-%m-%d}; best iteration {trained.best_iteration})")
    for trained, path in results:
        size = (path / "model.txt").stat().st_size
        print(f"wrote {path}: {trained.spec.task} on {trained.spec.label}, {len(trained.features)} features, "
              f"{trained.best_iteration} rounds, model.txt {size / 1024:.0f} KiB, "
              f"{len(golden_inputs(trained))} golden rows")
    print(f"train: done in {time.monotonic() - start:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
