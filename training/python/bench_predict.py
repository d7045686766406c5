"""LightGBM's own batch prediction speed: the baseline of `kairos bench score`.

Usage: python3 training/python/bench_predict.py MODEL_DIR ROWS_CSV SECONDS

MODEL_DIR holds <name>/<version>/model.txt of the serving models (one version
per name); ROWS_CSV has a header of feature names and one customer per row
(empty = missing). For SECONDS it predicts the whole batch with every model,
again and again (one thread, as Kairos scores one customer per core), and
prints one JSON object: {"rows_per_sec": ..., "rows": ..., "models": [...]}.
"""
import glob
import json
import os
import sys
import time

import lightgbm as lgb
import pandas as pd


def main():
    model_dir, rows_csv, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    paths = sorted(glob.glob(os.path.join(model_dir, "*", "*", "model.txt")))
    if not paths:
        sys.exit(f"bench_predict: no */*/model.txt under {model_dir}")
    boosters = [lgb.Booster(model_file=p) for p in paths]
    rows = pd.read_csv(rows_csv)
    inputs = [rows[b.feature_name()].to_numpy(dtype="float64") for b in boosters]
    for b, x in zip(boosters, inputs):  # warm up
        b.predict(x, num_threads=1)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for b, x in zip(boosters, inputs):
            b.predict(x, num_threads=1)
        n += len(rows)
    elapsed = time.perf_counter() - start
    print(json.dumps({"rows_per_sec": n / elapsed, "rows": len(rows), "models": paths}))


if __name__ == "__main__":
    main()
