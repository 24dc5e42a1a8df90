"""The linear probe's solvers side by side on the default runs' features.

    python benchmarks/linear_probe.py [--tasks roles,ud-roles] [--runs 3]

Features: the default ``ema`` encoder (seed 0) on the task's training and test sentences,
computed once in-process (``ud-roles`` needs ``PROBEKIT_DATA``; it defaults to
../shared/data/ud-english-ewt). Rows, back to back in every round:

* ``peer``: scikit-learn's ``LogisticRegression()`` with its defaults on the raw features
  (lbfgs, 100 iterations, no scaling), the issue's peer row;
* ``sklearn_lbfgs_std``: what ``LinearProbe`` did before: ``StandardScaler`` fitted on the
  training rows, then ``LogisticRegression(max_iter=1000, tol=1e-4)`` (lbfgs);
* ``sklearn_newton_cg_std``: the same objective with scikit-learn's ``newton-cg`` solver;
* ``probekit``: ``LinearProbe()`` as shipped (the same objective, preconditioned L-BFGS,
  :mod:`probekit.probes.softmax`).

Every fit runs with one BLAS / torch thread (as the probe does). Reported per row: the median
time over ``--runs`` rounds, iterations, test accuracy and the training objective (summed
cross-entropy + ``||W||^2 / 2`` on standardised weights; lower is closer to the optimum that
every row but the peer targets). Writes ``benchmarks/results/linear_probe.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.common import SHARED, cpu_model  # noqa: E402
from probekit import registry  # noqa: E402
from probekit.io import atomic_write_json  # noqa: E402
from probekit.probes.linear import LinearProbe  # noqa: E402
from probekit.tasks import resolve_task_name  # noqa: E402
from probekit.threads import one_torch_thread  # noqa: E402


def task_features(task_name: str) -> dict:
    """Default-encoder features and labels of one task (training rows with a label only)."""
    task = registry.tasks.create(resolve_task_name(task_name))
    data = task.load()
    y_train, y_test = task.targets(data.train), task.targets(data.test)
    encoder = registry.encoders.create("ema", seed=0).fit(data.train)
    keep = y_train.labels >= 0
    return {"X": encoder.encode(data.train).X[keep], "y": y_train.labels[keep],
            "X_test": encoder.encode(data.test).X, "y_test": y_test.labels, "k": len(y_train.names)}


def objective(coef_std: np.ndarray, intercept: np.ndarray, Xs: np.ndarray, y: np.ndarray) -> float:
    """Summed training cross-entropy + ||W||^2 / 2 (C = 1) of standardised weights."""
    logits = Xs.astype(np.float64) @ coef_std.T + intercept
    logits -= logits.max(axis=1, keepdims=True)
    lse = np.log(np.exp(logits).sum(axis=1))
    return float(np.sum(lse - logits[np.arange(len(y)), y]) + 0.5 * np.sum(coef_std ** 2))


def sklearn_row(f: dict, scale: bool, **options) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    start = time.perf_counter()
    scaler = StandardScaler().fit(f["X"]) if scale else None
    X = scaler.transform(f["X"]).astype(np.float32) if scale else f["X"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(**options).fit(X, f["y"])
    seconds = time.perf_counter() - start
    X_test = scaler.transform(f["X_test"]).astype(np.float32) if scale else f["X_test"]
    row = {"seconds": seconds, "iterations": int(np.max(model.n_iter_)),
           "accuracy": float(np.mean(model.predict(X_test) == f["y_test"]))}
    if scale:
        row["objective"] = objective(model.coef_, model.intercept_, X, f["y"])
    return row


def probekit_row(f: dict) -> dict:
    start = time.perf_counter()
    probe = LinearProbe().fit(f["X"], f["y"], n_classes=f["k"])
    seconds = time.perf_counter() - start
    scale = probe.scaler_.scale
    coef_std = probe.model_.coef * scale
    intercept_std = probe.model_.intercept + probe.model_.coef @ probe.scaler_.mean
    Xs = (f["X"] - probe.scaler_.mean) / scale
    return {"seconds": seconds, "iterations": probe.n_iter_,
            "accuracy": float(np.mean(probe.predict(f["X_test"]) == f["y_test"])),
            "objective": objective(coef_std, intercept_std, Xs, f["y"])}


ROWS = {
    "peer": lambda f: sklearn_row(f, scale=False),
    "sklearn_lbfgs_std": lambda f: sklearn_row(f, scale=True, max_iter=1000, tol=1e-4),
    "sklearn_newton_cg_std": lambda f: sklearn_row(f, scale=True, solver="newton-cg", max_iter=1000, tol=1e-4),
    "probekit": probekit_row,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="roles,ud-roles")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "linear_probe.json")
    args = parser.parse_args()
    os.environ.setdefault("PROBEKIT_DATA", str(SHARED / "data" / "ud-english-ewt"))
    result = {"machine": {"cpus": os.cpu_count(), "cpu": cpu_model(), "threads": 1}, "tasks": {}}
    for task in args.tasks.split(","):
        f = task_features(task)
        rounds = []
        for _ in range(args.runs):
            load = os.getloadavg()[0]
            with one_torch_thread():
                rounds.append({name: ROWS[name](f) for name in args.rows.split(",")} | {"load": load})
        summary = {}
        for name in args.rows.split(","):
            rows = [r[name] for r in rounds]
            summary[name] = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
            summary[name]["time_vs_probekit"] = statistics.median(
                r[name]["seconds"] / r["probekit"]["seconds"] for r in rounds) if "probekit" in rounds[0] else None
        result["tasks"][task] = {"rows": f["X"].shape[0], "dim": f["X"].shape[1], "classes": f["k"],
                                 "summary": summary, "rounds": rounds}
        print(f"\n{task}: {f['X'].shape[0]} x {f['X'].shape[1]}, {f['k']} classes, {args.runs} rounds")
        print(f"{'row':24s} {'median s':>9s} {'x probekit':>10s} {'iters':>6s} {'accuracy':>9s} {'objective':>11s}")
        for name, s in summary.items():
            print(f"{name:24s} {s['seconds']:9.2f} {s['time_vs_probekit'] or float('nan'):10.2f} {s['iterations']:6.0f} "
                  f"{s['accuracy']:9.4f} {s.get('objective', float('nan')):11.1f}")
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
