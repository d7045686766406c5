#!/usr/bin/env python3
"""Off-policy estimates of the Open Bandit Pipeline (obp 0.5.7), for Kairos's Go estimators to match.

Usage: check_ope.py OUT_DIR

Loads the small Open Bandit Dataset sample that obp ships (ZOZOTOWN, campaign
"all", 10,000 rounds, 80 items, 3 positions) as logged by both behaviour
policies ("random": every propensity is 1/80; "bts": Bernoulli Thompson
sampling, propensities from 4.5e-5 to 0.95), fits obp's RegressionModel (a
scikit-learn LogisticRegression on the user features and the item, per
position) as the reward model, and estimates the value of four candidate
policies with obp's InverseProbabilityWeighting,
SelfNormalizedInverseProbabilityWeighting, DirectMethod and DoublyRobust,
point estimates and bootstrap intervals:

- uniform: every item with probability 1/80;
- fixed: always the item with the most logged clicks;
- softmax: a context-dependent policy, softmax(x·θ) with a seeded θ;
- logged (random data only): the logging policy itself, from its full
  probability vectors (uniform).

Positions follow obp's conventions: action_dist and the reward model's
predictions have shape (n, n_actions, len_list), and every estimator is given
the logged positions, so round i is evaluated at its own position. The
candidate policies do not depend on the position. Kairos's estimators have
no positions: they get, per round, π_e(·|x_i) and q̂(x_i, ·) at that round's
position — exactly the slices obp reads.

Writes OUT_DIR/ope.json (the logged data, the policies, and obp's estimates)
and, as raw little-endian float64 row-major n×80 matrices beside it, the
reward model's predictions and the policies that are not built from a rule
(OUT_DIR/<dataset>_<name>.f64). measurement/ope_python_test.go runs this
script and requires the Go estimates to agree within 1e-9.

Compatibility with the pinned stack (numpy 2.4, pandas 3.1, scikit-learn 1.9,
Python 3.11), which obp 0.5.7 predates (it declares Python < 3.11 and pins
torch 1.12, numpy 1.23.5, pandas 1.5.2, scikit-learn 1.1.3, scipy 1.9.3, so
it is installed with pip's --no-deps --ignore-requires-python):

- `import obp` imports obp.policy, whose neural learners import torch, and
  obp.utils imports torch for its tensor checks. The estimators and the
  dataset used here never touch torch, and torch from PyPI brings some GB of
  CUDA libraries, so when torch is not installed a stub module stands in
  for it (any use of it raises); with torch installed, the real one is used.
- OpenBanditDataset.pre_process calls DataFrame.drop(columns=..., axis=1),
  which pandas 3 rejects; this script's subclass repeats obp's
  pre_process without the redundant axis (obp documents overriding
  pre_process as the way to customise features). The user features' dummy
  columns, boolean in pandas 3 (uint8 in pandas 1.5), are cast to float.

Exits 0 after writing the files, 1 on failure, 2 on bad usage.
"""

import importlib.metadata
import json
import logging
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import LabelEncoder

OBP_VERSION = "0.5.7"
SEED = 12345
N_BOOTSTRAP = 1000
ALPHA = 0.05


class _TorchUnavailable:
    """Stands in for every torch class and function when torch is missing."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError("torch is not installed: obp's torch-based code cannot run here")


def _stub_torch():
    """Registers a stub torch package whose every attribute is _TorchUnavailable.

    obp refers to torch at import time only in annotations and base classes
    (torch.Tensor, torch.utils.data.DataLoader, nn.Module); the stub satisfies
    those, and any real use fails loudly.
    """
    for name in ("torch", "torch.nn", "torch.nn.functional", "torch.optim", "torch.utils", "torch.utils.data"):
        module = types.ModuleType(name)
        module.__getattr__ = lambda attr: _TorchUnavailable
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)


try:
    import torch

    TORCH = torch.__version__
except ImportError:
    _stub_torch()
    TORCH = "not installed (stub)"

try:
    from obp.dataset import OpenBanditDataset
    from obp.ope import DirectMethod
    from obp.ope import DoublyRobust
    from obp.ope import InverseProbabilityWeighting
    from obp.ope import RegressionModel
    from obp.ope import SelfNormalizedInverseProbabilityWeighting
except ImportError as e:
    raise ImportError(
        f"obp {OBP_VERSION} cannot be imported ({e}): pip install --no-deps --ignore-requires-python "
        f"obp=={OBP_VERSION} and pip install -r training/requirements.txt"
    ) from e

logging.getLogger("obp").setLevel(logging.WARNING)


class Pandas3OpenBanditDataset(OpenBanditDataset):
    """OpenBanditDataset with obp's pre_process made to run under pandas 3 (see the module doc)."""

    def pre_process(self) -> None:
        user_cols = self.data.columns.str.contains("user_feature")
        self.context = pd.get_dummies(self.data.loc[:, user_cols], drop_first=True).values.astype(float)
        item_feature_0 = self.item_context["item_feature_0"].to_frame()
        item_feature_cat = self.item_context.drop(columns=["item_id", "item_feature_0"]).apply(
            LabelEncoder().fit_transform
        )
        self.action_context = pd.concat(objs=[item_feature_cat, item_feature_0], axis=1).values


def estimates(bf, action_dist, q_hat):
    """obp's four estimates of the policy action_dist, with bootstrap intervals."""
    common = dict(reward=bf["reward"], action=bf["action"], pscore=bf["pscore"], position=bf["position"])
    calls = {
        "ips": (InverseProbabilityWeighting(), common),
        "snips": (SelfNormalizedInverseProbabilityWeighting(), common),
        "dm": (DirectMethod(), dict(position=bf["position"], estimated_rewards_by_reg_model=q_hat)),
        "dr": (DoublyRobust(), dict(common, estimated_rewards_by_reg_model=q_hat)),
    }
    out = {"ci": {}}
    for name, (estimator, kwargs) in calls.items():
        out[name] = float(estimator.estimate_policy_value(action_dist=action_dist, **kwargs))
        ci = estimator.estimate_interval(
            action_dist=action_dist, alpha=ALPHA, n_bootstrap_samples=N_BOOTSTRAP, random_state=SEED, **kwargs
        )
        level = f"{100 * (1.0 - ALPHA)}%"
        out["ci"][name] = [float(ci[f"{level} CI (lower)"]), float(ci[f"{level} CI (upper)"])]
    return out


def write_matrix(out_dir, name, matrix):
    """Writes matrix as raw little-endian float64, row-major, and returns the file name."""
    file = f"{name}.f64"
    np.ascontiguousarray(matrix, dtype="<f8").tofile(out_dir / file)
    return file


def dataset(out_dir, behavior_policy):
    name = f"{behavior_policy}_all"
    ds = Pandas3OpenBanditDataset(behavior_policy=behavior_policy, campaign="all")
    bf = ds.obtain_batch_bandit_feedback()
    n, k, positions = bf["n_rounds"], bf["n_actions"], ds.len_list
    rows, pos = np.arange(n), bf["position"]

    model = RegressionModel(
        n_actions=k,
        len_list=positions,
        base_model=LogisticRegression(max_iter=1000, random_state=SEED),
    )
    q_hat = model.fit_predict(
        context=bf["context"],
        action=bf["action"],
        reward=bf["reward"],
        position=pos,
        n_folds=1,
        random_state=SEED,
    )

    def per_position(policy):  # (n, k) -> (n, k, len_list): the same at every position
        return np.repeat(policy[:, :, None], positions, axis=2)

    clicks = np.bincount(bf["action"][bf["reward"] == 1], minlength=k)
    fixed = int(clicks.argmax())
    theta = np.random.default_rng(SEED).normal(size=(bf["context"].shape[1], k))
    logits = bf["context"] @ theta
    softmax = np.exp(logits - logits.max(axis=1, keepdims=True))
    softmax /= softmax.sum(axis=1, keepdims=True)

    policies = [
        ({"name": "uniform", "kind": "uniform"}, np.full((n, k), 1.0 / k)),
        ({"name": f"fixed arm {fixed}", "kind": "fixed", "arm": fixed}, np.eye(k)[np.full(n, fixed)]),
        ({"name": "softmax", "kind": "matrix", "file": write_matrix(out_dir, f"{name}_softmax", softmax)}, softmax),
    ]
    if behavior_policy == "random":
        logged = np.full((n, k), 1.0 / k)
        if not np.allclose(logged[rows, bf["action"]], bf["pscore"], rtol=0, atol=1e-12):
            raise SystemExit("the random policy's propensities are not 1/n_actions")
        policies.append(
            ({"name": "logged", "kind": "logged", "file": write_matrix(out_dir, f"{name}_logged", logged)}, logged)
        )
    for entry, policy in policies:
        entry["obp"] = estimates(bf, per_position(policy), q_hat)

    return {
        "name": f"{behavior_policy}/all",
        "n_actions": k,
        "len_list": positions,
        "action": bf["action"].tolist(),
        "pscore": bf["pscore"].tolist(),
        "reward": bf["reward"].tolist(),
        "position": pos.tolist(),
        "reward_model": write_matrix(out_dir, f"{name}_qhat", q_hat[rows, :, pos]),
        "policies": [entry for entry, _ in policies],
    }


def main(argv):
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    out_dir = Path(argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "versions": {
            "obp": importlib.metadata.version("obp"),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "scikit-learn": sklearn.__version__,
            "torch": TORCH,
        },
        "n_bootstrap": N_BOOTSTRAP,
        "alpha": ALPHA,
        "datasets": [dataset(out_dir, "random"), dataset(out_dir, "bts")],
    }
    if manifest["versions"]["obp"] != OBP_VERSION:
        print(f"check_ope: obp {manifest['versions']['obp']} is installed, want {OBP_VERSION}", file=sys.stderr)
        return 1
    (out_dir / "ope.json").write_text(json.dumps(manifest))
    for d in manifest["datasets"]:
        for p in d["policies"]:
            e = p["obp"]
            print(f"{d['name']:10} {p['name']:12} IPS {e['ips']:.10g}  SNIPS {e['snips']:.10g}  DM {e['dm']:.10g}  DR {e['dr']:.10g}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
