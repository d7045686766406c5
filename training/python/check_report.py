"""Check `kairos report --csv ... --format json` against scipy and statsmodels.

Runs the report (with the kairos binary given by --kairos, or `go run
./cmd/kairos` from the repository) or reads a saved one (--report-json),
recomputes every figure from the CSV in Python and compares, within
--tolerance (absolute, default 1e-6):

  groups        n, mean, sd (ddof=1) per group and metric, groups in order of
                first appearance
  abs_lift, abs_ci, p_value
                scipy.stats.ttest_ind(t, c, equal_var=False) and statsmodels'
                CompareMeans(t, c).tconfint_diff(usevar="unequal")
  rel_lift, rel_ci
                the delta method, computed here with numpy and scipy.stats.norm
  srm           scipy.stats.chisquare of the group sizes (equal shares)

Exits 0 when every figure agrees, 1 with one line per disagreement otherwise.

    python3 training/python/check_report.py ../shared/data/hillstrom.csv --kairos ./kairos
"""

import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import scipy
import statsmodels
from scipy import stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_report(args):
    flags = [
        "report", "--csv", os.path.abspath(args.csv), "--group", args.group, "--control", args.control,
        "--metrics", args.metrics, "--confidence", repr(args.confidence), "--format", "json",
    ]
    cmd = [args.kairos] + flags if args.kairos else ["go", "run", "./cmd/kairos"] + flags
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"check_report: {' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", help="the experiment CSV")
    ap.add_argument("--kairos", help="kairos binary (default: go run ./cmd/kairos in the repository)")
    ap.add_argument("--report-json", help="check this saved report instead of running kairos")
    ap.add_argument("--group", default="segment")
    ap.add_argument("--control", default="No E-Mail")
    ap.add_argument("--metrics", default="conversion,visit,spend")
    ap.add_argument("--confidence", type=float, default=0.95)
    ap.add_argument("--tolerance", type=float, default=1e-6)
    args = ap.parse_args()

    if args.report_json:
        with open(args.report_json) as f:
            report = json.load(f)
    else:
        report = run_report(args)

    metrics = [m.strip() for m in args.metrics.split(",")]
    df = pd.read_csv(args.csv, dtype={args.group: str}, keep_default_na=False)
    for m in metrics:
        df[m] = pd.to_numeric(df[m]).astype(float)
    groups = list(dict.fromkeys(df[args.group]))  # order of first appearance
    data = {g: {m: df.loc[df[args.group] == g, m].to_numpy() for m in metrics} for g in groups}

    tol = args.tolerance
    bad = []
    checked = 0
    worst = 0.0

    def compare(where, got, want):
        nonlocal checked, worst
        checked += 1
        if got is None or want is None or not math.isfinite(got) or not math.isfinite(want):
            if not (got is None and want is None):
                bad.append(f"{where}: kairos {got}, python {want}")
            return
        diff = abs(got - want)
        worst = max(worst, diff)
        if not diff <= tol:
            bad.append(f"{where}: kairos {got!r}, python {want!r} (differ by {diff:.3g} > {tol:g})")

    # Groups.
    names = [g["name"] for g in report["groups"]]
    if names != groups:
        bad.append(f"groups: kairos {names}, the CSV's in order of appearance {groups}")
    for g in report["groups"]:
        if g["name"] not in data:
            continue
        d = data[g["name"]]
        n = len(d[metrics[0]])
        if g["n"] != n:
            bad.append(f"group {g['name']}: n = {g['n']}, the CSV has {n}")
        if list(g["metrics"]) != metrics:
            bad.append(f"group {g['name']}: metrics {list(g['metrics'])}, want {metrics}")
        for m in metrics:
            if m in g["metrics"]:
                compare(f"group {g['name']} {m} mean", g["metrics"][m]["mean"], float(np.mean(d[m])))
                compare(f"group {g['name']} {m} sd", g["metrics"][m]["sd"], float(np.std(d[m], ddof=1)))

    # Comparisons: every non-control group × metric, in that order.
    want_pairs = [(g, m) for g in groups if g != args.control for m in metrics]
    got_pairs = [(c["group"], c["metric"]) for c in report["comparisons"]]
    if got_pairs != want_pairs:
        bad.append(f"comparisons: kairos {got_pairs}, want {want_pairs}")
    z = stats.norm.ppf(1 - (1 - args.confidence) / 2)
    for c in report["comparisons"]:
        g, m = c["group"], c["metric"]
        if g not in data or m not in metrics or c["control"] != args.control:
            bad.append(f"comparison {c}: unknown group, metric or control")
            continue
        t, k = data[g][m], data[args.control][m]
        where = f"{g} vs {args.control}, {m}"
        test = stats.ttest_ind(t, k, equal_var=False)
        lo, hi = CompareMeans(DescrStatsW(t), DescrStatsW(k)).tconfint_diff(alpha=1 - args.confidence, usevar="unequal")
        compare(f"{where}: abs_lift", c["abs_lift"], float(np.mean(t) - np.mean(k)))
        compare(f"{where}: abs_ci[0]", c["abs_ci"][0], float(lo))
        compare(f"{where}: abs_ci[1]", c["abs_ci"][1], float(hi))
        compare(f"{where}: p_value", c["p_value"], float(test.pvalue))
        mt, mc = float(np.mean(t)), float(np.mean(k))
        if mc == 0:
            compare(f"{where}: rel_lift", c["rel_lift"], None)
            continue
        vt, vc = np.var(t, ddof=1) / len(t), np.var(k, ddof=1) / len(k)
        rel = mt / mc - 1
        se = math.sqrt(vt / mc**2 + mt**2 * vc / mc**4)
        compare(f"{where}: rel_lift", c["rel_lift"], rel)
        rel_ci = c["rel_ci"] or [None, None]
        compare(f"{where}: rel_ci[0]", rel_ci[0], rel - z * se)
        compare(f"{where}: rel_ci[1]", rel_ci[1], rel + z * se)

    # Sample ratio mismatch, equal shares.
    sizes = [len(data[g][metrics[0]]) for g in groups]
    chi = stats.chisquare(sizes)
    compare("srm chi2", report["srm"]["chi2"], float(chi.statistic))
    compare("srm p_value", report["srm"]["p_value"], float(chi.pvalue))
    if report["srm"]["flagged"] != bool(chi.pvalue < 0.001):
        bad.append(f"srm flagged: kairos {report['srm']['flagged']}, p = {chi.pvalue}")

    if bad:
        print(f"check_report: {len(bad)} of {checked} figures disagree with scipy/statsmodels:", file=sys.stderr)
        for line in bad:
            print("  " + line, file=sys.stderr)
        sys.exit(1)
    print(f"check_report: {checked} figures ({len(report['comparisons'])} comparisons) agree with "
          f"scipy {scipy.__version__} / statsmodels {statsmodels.__version__} within {tol:g} "
          f"(largest difference {worst:.2g})")


if __name__ == "__main__":
    main()
