#!/usr/bin/env python3
"""Writes the LightGBM fixtures and golden outputs of kairos/models/lgbm.

Run by hand from the repository root (it needs training/requirements.txt):

    python3 models/lgbm/testdata/gen.py

(`go generate ./models/lgbm/` runs the same command.) Everything is seeded,
so a rerun with the pinned LightGBM rewrites the same files; commit them
together. LightGBM writes every model itself; the failing fixtures that are
not a training option (truncated file, inconsistent counts, unknown version,
feature_names of the wrong size, a class count that contradicts the
objective) are LightGBM files edited by the small, named edits below.

Files (all in this directory; the CSVs are gzipped, `zcat` shows them):

  good models; <name>.golden.csv.gz holds LightGBM's raw_score=True and
  default predict outputs for every row of the model's inputs:
    binary.txt        binary sigmoid:1, NaNs in training -> NaN missing branches;
                      tenure_days is never missing in training -> its splits
                      have missing type None and read NaN as 0
    binary_v3.txt     binary.txt with version=v4 replaced by version=v3 (same
                      trees, so the same goldens: binary.golden.csv.gz)
    multiclass.txt    multiclass num_class:3
    regression.txt    regression, zero_as_missing=True (missing type Zero)
    poisson.txt       poisson (exp transform)
    rf.txt            boosting=rf, binary (average_output)
    categorical.txt   binary with three pandas categorical features: plan (3
                      categories: one-hot splits; never missing in training,
                      so its splits have missing type None), channel (12: a
                      one-word bitset) and country (45: a two-word bitset)
  inputs:
    inputs.csv.gz            the numeric models' rows (six features): random
                             values over and beyond the training range, NaN,
                             +-Inf, 0, -0, +-1e-35, and every split threshold
                             exactly (LightGBM goes left on <=)
    categorical.csv.gz       categorical.txt's rows with category names: known,
                             unseen ("zz-unseen") and missing (empty); LightGBM
                             predicted them from a DataFrame, mapping names to
                             codes with pandas_categorical
    categorical_codes.csv.gz categorical.txt's rows with raw codes, as the C API
                             receives them: NaN, negative, fractional, beyond the
                             categories, beyond int32, +-Inf
  failing fixtures (lgbm_test.go names the rule each must trip):
    linear_tree.txt            linear_tree=True
    cross_entropy.txt          objective cross_entropy (not on the allow-list)
    regression_sqrt.txt        objective "regression sqrt" (reg_sqrt=True: LightGBM
                               squares the output, leaves would not)
    multiclassova.txt          objective multiclassova (not on the allow-list)
    version_v9.txt             small binary model, version=v9
    truncated.txt              small binary model cut in the middle of Tree=3
    tree_sizes.txt             small binary model, last entry of tree_sizes dropped
    feature_names.txt          small binary model, last name of feature_names dropped
    num_tree_per_iteration.txt small multiclass model, num_tree_per_iteration=1
    multiclass_num_class.txt   small multiclass model whose objective says num_class:4
"""

import csv
import gzip
import io
import math
import os

import lightgbm as lgb
import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20261129
NUMERIC = ["sessions_7d", "sessions_30d", "purchases_30d", "days_since_login", "spend_90d", "tenure_days"]
NEVER_MISSING = "tenure_days"  # no NaN in training: its splits have missing type None
N_TRAIN = 3000
N_ROWS = 2000  # random golden rows per inputs file

rng = np.random.default_rng(SEED)


def path(name):
    return os.path.join(HERE, name)


def write(name, text):
    with open(path(name), "w", newline="\n") as f:
        f.write(text)


def csv_gz(name, header, rows):
    """Writes a gzipped CSV (mtime 0, so a rerun writes the same bytes)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    with open(path(name), "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as g:
        g.write(buf.getvalue().encode())


def fmt(v):
    """Shortest text that round-trips a float64 (Go's ParseFloat reads it back exactly)."""
    if isinstance(v, float) and math.isnan(v):
        return ""
    return repr(float(v))


def numeric_train(n):
    X = np.column_stack([
        rng.poisson(5, n).astype(float),
        rng.poisson(20, n).astype(float),
        rng.poisson(1, n).astype(float),
        rng.exponential(10, n).round(2),
        rng.gamma(2, 50, n).round(2) * (rng.random(n) < 0.7),
        rng.integers(1, 2000, n).astype(float),
    ])
    for j, name in enumerate(NUMERIC):
        if name != NEVER_MISSING:
            X[rng.random(n) < 0.15, j] = np.nan
    z = (0.3 * np.nan_to_num(X[:, 0], nan=-3) - 0.1 * np.nan_to_num(X[:, 3], nan=30)
         + 0.8 * np.nan_to_num(X[:, 2]) + 0.004 * np.nan_to_num(X[:, 4]) - 0.0005 * X[:, 5])
    return X, z


def params(**kw):
    p = {"verbose": -1, "seed": SEED, "deterministic": True, "num_threads": 1, "num_leaves": 8,
         "min_data_in_leaf": 20}
    p.update(kw)
    return p


def train(X, y, rounds, **kw):
    return lgb.train(params(**kw), lgb.Dataset(X, y, feature_name=NUMERIC, free_raw_data=False),
                     num_boost_round=rounds)


def thresholds(booster):
    """Every numeric split threshold of booster, by feature index."""
    out = {}
    df = booster.trees_to_dataframe()
    for feat, thr, dec in zip(df["split_feature"], df["threshold"], df["decision_type"]):
        if isinstance(feat, str) and dec == "<=":
            out.setdefault(NUMERIC.index(feat), set()).add(float(thr))
    return out


def numeric_inputs(boosters):
    n = N_ROWS
    scale = np.array([10, 40, 4, 40, 400, 2500], dtype=float)
    X = (rng.random((n, len(NUMERIC))) * 1.4 - 0.2) * scale
    X = np.where(rng.random(X.shape) < 0.5, X.round(0), X.round(3))
    X[rng.random(X.shape) < 0.12] = np.nan
    special = [0.0, -0.0, 1e-35, -1e-35, 1e-36, math.inf, -math.inf, math.nan]
    mask = rng.random(X.shape) < 0.04
    X[mask] = rng.choice(special, mask.sum())
    # rows whose values sit exactly on split thresholds (LightGBM goes left on <=)
    thr = {}
    for b in boosters:
        for j, ts in thresholds(b).items():
            thr.setdefault(j, set()).update(ts)
    extra = []
    for j in range(len(NUMERIC)):
        for t in sorted(thr.get(j, ())):
            row = X[rng.integers(n)].copy()
            row[j] = t
            extra.append(row)
    return np.vstack([X] + extra) if extra else X


def write_inputs(name, X, header):
    csv_gz(name, header, ([fmt(v) for v in row] for row in X))


def write_golden(name, booster, X):
    raw = np.asarray(booster.predict(X, raw_score=True)).reshape(len(X), -1)
    pred = np.asarray(booster.predict(X)).reshape(len(X), -1)
    k = raw.shape[1]
    csv_gz(name, [f"raw{i}" for i in range(k)] + [f"pred{i}" for i in range(k)],
           ([repr(float(v)) for v in r] + [repr(float(v)) for v in p] for r, p in zip(raw, pred)))


def save(name, booster):
    booster.save_model(path(name))
    with open(path(name)) as f:
        return f.read()


def edit(text, old, new, count=1):
    if text.count(old) < count:
        raise SystemExit(f"edit: {old!r} not found")
    return text.replace(old, new, count)


def main():
    X, z = numeric_train(N_TRAIN)

    binary = train(X, (z + rng.logistic(size=N_TRAIN) > 0).astype(int), 12, objective="binary")
    cls = np.digitize(z + rng.normal(size=N_TRAIN), [-1.5, 0.0])
    multiclass = train(X, cls, 6, objective="multiclass", num_class=3)
    Xz = np.nan_to_num(X, nan=0.0)  # zeros stand for missing
    regression = train(Xz, z + rng.normal(size=N_TRAIN), 8, objective="regression", zero_as_missing=True)
    poisson = train(X, rng.poisson(np.exp(np.clip(z, -3, 3) / 2)), 8, objective="poisson")
    rf = train(X, (z + rng.logistic(size=N_TRAIN) > 0).astype(int), 5, objective="binary", boosting="rf",
               bagging_fraction=0.7, bagging_freq=1, feature_fraction=0.8)

    good = {"binary": binary, "multiclass": multiclass, "regression": regression, "poisson": poisson, "rf": rf}
    inputs = numeric_inputs(good.values())
    write_inputs("inputs.csv.gz", inputs, NUMERIC)
    texts = {}
    for name, b in good.items():
        texts[name] = save(name + ".txt", b)
        write_golden(name + ".golden.csv.gz", b, inputs)
    write("binary_v3.txt", edit(texts["binary"], "version=v4\n", "version=v3\n"))

    categorical()

    # failing fixtures, each made by LightGBM (small: 4 leaves, few trees)
    Xs, zs, cs = X[:1000], z[:1000], cls[:1000]
    save("linear_tree.txt", train(Xs, zs, 2, objective="regression", linear_tree=True, num_leaves=4))
    save("cross_entropy.txt", train(Xs, 1 / (1 + np.exp(-zs)), 2, objective="cross_entropy", num_leaves=4))
    save("regression_sqrt.txt", train(Xs, np.abs(zs), 2, objective="regression", reg_sqrt=True, num_leaves=4))
    save("multiclassova.txt", train(Xs, cs, 1, objective="multiclassova", num_class=3, num_leaves=4))
    # ... and by one named edit of a small LightGBM file
    b = save("small_binary.txt", train(Xs, (zs > 0).astype(int), 6, objective="binary", num_leaves=4))
    os.remove(path("small_binary.txt"))
    write("version_v9.txt", edit(b, "version=v4\n", "version=v9\n"))
    start = b.index("Tree=3\n")
    write("truncated.txt", b[:start + (b.index("Tree=4\n") - start) // 2])
    sizes = b[b.index("tree_sizes="):].split("\n", 1)[0]
    write("tree_sizes.txt", edit(b, sizes, sizes.rsplit(" ", 1)[0]))
    names = b[b.index("feature_names="):].split("\n", 1)[0]
    write("feature_names.txt", edit(b, names, names.rsplit(" ", 1)[0]))
    m = save("small_multiclass.txt", train(Xs, cs, 2, objective="multiclass", num_class=3, num_leaves=4))
    os.remove(path("small_multiclass.txt"))
    write("num_tree_per_iteration.txt", edit(m, "num_tree_per_iteration=3\n", "num_tree_per_iteration=1\n"))
    write("multiclass_num_class.txt", edit(m, "objective=multiclass num_class:3\n", "objective=multiclass num_class:4\n"))

CAT_NUMERIC = ["sessions_7d", "spend_90d"]
CATS = {
    "plan": ["basic", "plus", "pro"],
    "channel": [f"ch{i:02d}" for i in range(12)],
    "country": [f"c{i:02d}" for i in range(45)],
}
CAT_COLUMNS = ["sessions_7d", "plan", "channel", "spend_90d", "country"]


def categorical():
    n = 4000
    eff = {k: rng.normal(size=len(v)) * 1.5 for k, v in CATS.items()}
    codes = {k: rng.integers(0, len(v), n) for k, v in CATS.items()}
    df = pd.DataFrame({
        "sessions_7d": rng.poisson(5, n).astype(float),
        "spend_90d": rng.gamma(2, 50, n).round(2),
    })
    z = 0.2 * df["sessions_7d"] - 0.01 * df["spend_90d"]
    for k, v in CATS.items():
        z = z + eff[k][codes[k]]
        vals = np.array(v, dtype=object)[codes[k]]
        if k != "plan":  # plan is never missing in training: missing type None
            vals[rng.random(n) < 0.08] = None  # missing categories in training
        df[k] = pd.Categorical(vals, categories=v)
    df.loc[rng.random(n) < 0.1, "sessions_7d"] = np.nan
    df = df[CAT_COLUMNS]
    y = (z + rng.logistic(size=n) > np.median(z)).astype(int)
    b = lgb.train(params(objective="binary", num_leaves=8, min_data_per_group=10, cat_smooth=1, max_cat_to_onehot=4),
                  lgb.Dataset(df, y), num_boost_round=12)
    save("categorical.txt", b)

    # by name: known, unseen and missing categories
    m = N_ROWS
    rows = pd.DataFrame({
        "sessions_7d": np.where(rng.random(m) < 0.15, np.nan, rng.integers(0, 15, m).astype(float)),
        "spend_90d": np.where(rng.random(m) < 0.15, np.nan, (rng.random(m) * 500).round(2)),
    })
    for k, v in CATS.items():
        pool = np.array(v + ["zz-unseen", None], dtype=object)
        p = np.full(len(pool), 0.85 / len(v))
        p[-2], p[-1] = 0.08, 0.07
        rows[k] = rng.choice(pool, m, p=p)
    rows = rows[CAT_COLUMNS]
    # LightGBM maps names to codes with pandas_categorical (unseen -> NaN)
    frame = rows.copy()
    for k in CATS:
        frame[k] = pd.Categorical(frame[k])
    csv_gz("categorical.csv.gz", CAT_COLUMNS,
           ([v if isinstance(v, str) else "" if v is None else fmt(v) for v in rec]
            for rec in rows.itertuples(index=False)))
    write_golden("categorical.golden.csv.gz", b, frame)

    # by code: what LightGBM's C API does with NaN, negative, fractional and out-of-range codes
    specials = [math.nan, -1.0, -0.5, -2.0, 0.0, 0.5, 1.0, 2.7, 3.0, 11.0, 12.0, 31.0, 32.0, 33.0, 44.0, 45.0,
                63.0, 64.0, 1000.0, 2147483647.0, 2147483648.0, 4294967297.0, 1e10, -2147483649.0, -4294967295.0,
                math.inf, -math.inf]
    k = len(specials) * 40
    X = np.column_stack([
        np.where(rng.random(k) < 0.2, np.nan, rng.integers(0, 15, k).astype(float)),
        np.zeros(k), np.zeros(k),
        np.where(rng.random(k) < 0.2, np.nan, (rng.random(k) * 500).round(2)),
        np.zeros(k),
    ])
    for j, name in enumerate(CAT_COLUMNS):
        if name in CATS:
            valid = rng.integers(0, len(CATS[name]), k).astype(float)
            X[:, j] = np.where(rng.random(k) < 0.5, rng.choice(specials, k), valid)
    write_inputs("categorical_codes.csv.gz", X, CAT_COLUMNS)
    write_golden("categorical_codes.golden.csv.gz", b, X)


if __name__ == "__main__":
    main()
