"""The linear probe's solvers side by side on the default runs' features.

    python benchmarks/linear_probe.py [--tasks roles,ud-roles] [--runs 3] [--threads 1,2]

Features: the default ``ema`` encoder (seed 0) on the task's training and test sentences,
computed once in-process (``ud-roles`` needs ``PROBEKIT_DATA``; it defaults to
../shared/data/ud-english-ewt). Rows, back to back in every round:

* ``peer``: scikit-learn's ``LogisticRegression()`` with its defaults on the raw features
  (lbfgs, 100 iterations, no scaling), the issue's peer row;
* ``sklearn_lbfgs_std``: what ``LinearProbe`` did before: ``StandardScaler`` fitted on the
  training rows, then ``LogisticRegression(max_iter=1000, tol=1e-4)`` (lbfgs);
* ``sklearn_newton_cg_std``: the same objective with scikit-learn's ``newton-cg`` solver;
* ``probekit@T``: ``LinearProbe()`` as shipped (the same objective, preconditioned L-BFGS,
  :mod:`probekit.probes.softmax`) with a thread budget of ``T`` (:func:`probekit.threads.numeric_threads`:
  the objective's row blocks on ``T`` Python threads), one row per ``--threads`` entry. Its weights
  are the same bits at every ``T``; the script checks that.

Every fit runs with one BLAS / torch thread (as in a job). Reported per row: the median time over
``--runs`` rounds (wall and CPU seconds of the process), iterations, evaluations of the loss and
gradient, test accuracy and the training objective (summed cross-entropy + ``||W||^2 / 2`` on
standardised weights; lower is closer to the optimum that every row but the peer targets), and
each round's load average. Writes ``benchmarks/results/linear_probe.json``.
"""

from __future__ import annotations

import argparse
import hashlib
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
from probekit.threads import one_torch_thread, use_numeric_threads  # noqa: E402


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

    start, cpu = time.perf_counter(), time.process_time()
    scaler = StandardScaler().fit(f["X"]) if scale else None
    X = scaler.transform(f["X"]).astype(np.float32) if scale else f["X"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(**options).fit(X, f["y"])
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    X_test = scaler.transform(f["X_test"]).astype(np.float32) if scale else f["X_test"]
    row = {"seconds": seconds, "cpu_seconds": cpu, "iterations": int(np.max(model.n_iter_)),
           "accuracy": float(np.mean(model.predict(X_test) == f["y_test"]))}
    if scale:
        row["objective"] = objective(model.coef_, model.intercept_, X, f["y"])
    return row


def probekit_row(f: dict, threads: int) -> dict:
    start, cpu = time.perf_counter(), time.process_time()
    with use_numeric_threads(threads):
        probe = LinearProbe().fit(f["X"], f["y"], n_classes=f["k"])
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    scale = probe.scaler_.scale
    coef_std = probe.model_.coef * scale
    intercept_std = probe.model_.intercept + probe.model_.coef @ probe.scaler_.mean
    Xs = (f["X"] - probe.scaler_.mean) / scale
    fingerprint = hashlib.sha256(probe.model_.coef.tobytes() + probe.model_.intercept.tobytes()).hexdigest()
    return {"seconds": seconds, "cpu_seconds": cpu, "iterations": probe.n_iter_, "evaluations": probe.model_.n_evals,
            "accuracy": float(np.mean(probe.predict(f["X_test"]) == f["y_test"])),
            "objective": objective(coef_std, intercept_std, Xs, f["y"]), "weights_hash": fingerprint}


ROWS = {
    "peer": lambda f: sklearn_row(f, scale=False),
    "sklearn_lbfgs_std": lambda f: sklearn_row(f, scale=True, max_iter=1000, tol=1e-4),
    "sklearn_newton_cg_std": lambda f: sklearn_row(f, scale=True, solver="newton-cg", max_iter=1000, tol=1e-4),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="roles,ud-roles")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", default=",".join(ROWS), help="scikit-learn rows (none: only probekit's)")
    parser.add_argument("--threads", default="1,2", help="thread budgets of the probekit rows")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "linear_probe.json")
    args = parser.parse_args()
    os.environ.setdefault("PROBEKIT_DATA", str(SHARED / "data" / "ud-english-ewt"))
    result = {"machine": {"cpus": os.cpu_count(), "cpu": cpu_model(), "blas_threads": 1}, "tasks": {}}
    rows = {name: ROWS[name] for name in args.rows.split(",") if name != "none"}
    threads = [int(t) for t in args.threads.split(",")]
    rows |= {f"probekit@{t}": (lambda f, t=t: probekit_row(f, t)) for t in threads}
    reference = f"probekit@{threads[0]}"
    for task in args.tasks.split(","):
        f = task_features(task)
        rounds = []
        for _ in range(args.runs):
            load = os.getloadavg()[0]
            with one_torch_thread():
                rounds.append({name: row(f) for name, row in rows.items()} | {"load": load})
            hashes = {rounds[-1][f"probekit@{t}"].pop("weights_hash") for t in threads}
            if len(hashes) != 1:
                raise SystemExit(f"{task}: the probe's weights differ between thread budgets {threads}")
        summary = {}
        for name in rows:
            values = [r[name] for r in rounds]
            summary[name] = {key: statistics.median(v[key] for v in values) for key in values[0]}
            summary[name]["time_vs_probekit"] = statistics.median(r[name]["seconds"] / r[reference]["seconds"]
                                                                  for r in rounds)
        loads = [r["load"] for r in rounds]
        result["tasks"][task] = {"rows": f["X"].shape[0], "dim": f["X"].shape[1], "classes": f["k"],
                                 "summary": summary, "rounds": rounds}
        print(f"\n{task}: {f['X'].shape[0]} x {f['X'].shape[1]}, {f['k']} classes, {args.runs} rounds, "
              f"load average {min(loads):.2f}-{max(loads):.2f}")
        print(f"{'row':24s} {'median s':>9s} {'cpu s':>7s} {'x ' + reference:>12s} {'iters':>6s} {'evals':>6s} "
              f"{'accuracy':>9s} {'objective':>11s}")
        for name, s in summary.items():
            print(f"{name:24s} {s['seconds']:9.2f} {s['cpu_seconds']:7.2f} {s['time_vs_probekit']:12.2f} "
                  f"{s['iterations']:6.0f} {s.get('evaluations', float('nan')):6.0f} {s['accuracy']:9.4f} "
                  f"{s.get('objective', float('nan')):11.1f}")
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
