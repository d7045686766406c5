"""Kairos' Python training pipeline (the Go package of this directory is the export).

`python3 -m training.train --data train.parquet --out MODEL_DIR` trains the churn,
propensity and next-best-action models on a `kairos export` training set; see train.py.
"""
