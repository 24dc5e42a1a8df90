"""Whole-run wall time and peak memory, and how encoding and probing scale with corpus size.

    python benchmarks/end_to_end.py [--runs 3] [--scaling-sentences 1000] [--skip-ud]

* ``end_to_end``: ``probekit run --encoder ema --task roles`` (and ``--task ud-roles`` with
  ``PROBEKIT_DATA`` = ../shared/data/ud-english-ewt when that folder exists) as subprocesses,
  ``--runs`` times each after one warm-up: wall time and peak RSS of the whole process (from
  ``/usr/bin/time -f``; medians). Records go to a temporary folder.
* ``scaling``: ``roles`` training corpora of x1, x4, x16 ``--scaling-sentences`` distinct
  generated sentences; EMA encoding (default options) and the linear probe fit timed
  in-process (median of 3 each); the exponent ``b`` of ``cost ~ size^b`` is the least-squares
  slope in log-log, for the fit's total time, its lbfgs iteration count and its time per
  iteration.

Prints a summary and writes JSON to ``benchmarks/results/end_to_end.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from probekit.io import atomic_write_json  # noqa: E402

TIME = shutil.which("time") or "/usr/bin/time"
UD = REPO.parent / "shared" / "data" / "ud-english-ewt"


def probekit_command() -> list[str]:
    exe = Path(sys.executable).with_name("probekit")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "probekit.cli"]


def one_run(task: str, out: Path, env: dict) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one ``probekit run`` process."""
    cmd = [TIME, "-f", "%e %M"] + probekit_command() + ["run", "--encoder", "ema", "--task", task, "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    wall, rss_kb = proc.stderr.strip().splitlines()[-1].split()
    return float(wall), float(rss_kb) / 1024


def end_to_end(runs: int, skip_ud: bool) -> dict:
    tasks = {"roles": dict(os.environ)}
    if UD.exists() and not skip_ud:
        tasks["ud-roles"] = dict(os.environ, PROBEKIT_DATA=str(UD))
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for task, env in tasks.items():
            one_run(task, Path(tmp), env)  # warm-up (file cache, imports)
            samples = [one_run(task, Path(tmp), env) for _ in range(runs)]
            result[task] = {"wall_s": statistics.median(s[0] for s in samples),
                            "peak_rss_mib": statistics.median(s[1] for s in samples),
                            "samples": samples}
            print(f"probekit run --encoder ema --task {task}: wall {result[task]['wall_s']:.2f} s, "
                  f"peak RSS {result[task]['peak_rss_mib']:.0f} MiB (median of {runs})", flush=True)
    return result


def median_time(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def scaling(n_sentences: int) -> dict:
    """Encoding and linear-probe cost on ``roles`` training corpora of 1x, 4x and 16x
    ``n_sentences`` *distinct* generated sentences (the same grammar and seed scheme as the task).

    The probe's cost is iterations x cost per iteration: lbfgs runs until its gradient test
    passes, and with a fixed ``C`` a larger corpus is a less regularised problem that can take
    more iterations. Both factors are recorded, and the exponent of each is fitted, so a
    super-linear total says which one grows.
    """
    from probekit import registry
    import probekit.encoders  # noqa: F401
    import probekit.tasks  # noqa: F401
    from probekit.encoders.ema import EMAEncoder
    from probekit.probes.linear import LinearProbe

    rows = []
    encoder = None
    for factor in (1, 4, 16):
        task = registry.tasks.create("roles", n_train=n_sentences * factor)
        corpus = task.load().train
        encoder = encoder or EMAEncoder().fit(corpus)   # one vocabulary (the grammar's) for all sizes
        y = task.targets(corpus).labels
        features = encoder.encode(corpus)
        keep = y >= 0
        X, yk = features.X[keep], y[keep]
        n_classes = int(y.max()) + 1
        encode_s = median_time(lambda: encoder.encode(corpus))
        probes = []
        probe_s = median_time(lambda: probes.append(LinearProbe().fit(X, yk, n_classes)))
        iterations = int(probes[-1].n_iter_)
        rows.append({"factor": factor, "sentences": len(corpus), "words": corpus.n_tokens, "encode_s": encode_s,
                     "probe_fit_s": probe_s, "probe_iterations": iterations,
                     "probe_s_per_iteration": probe_s / max(iterations, 1)})
        print(f"x{factor:<3} {corpus.n_tokens:>8} words: encode {encode_s:.3f} s, linear probe fit {probe_s:.3f} s "
              f"({iterations} lbfgs iterations, {1e3 * probe_s / max(iterations, 1):.1f} ms each)", flush=True)
    size = np.log([r["words"] for r in rows])
    exponents = {key: float(np.polyfit(size, np.log([r[key] for r in rows]), 1)[0])
                 for key in ("encode_s", "probe_fit_s", "probe_iterations", "probe_s_per_iteration")}
    print(f"fitted exponents (cost ~ size^b): encode {exponents['encode_s']:.2f}, linear probe "
          f"{exponents['probe_fit_s']:.2f} = iterations {exponents['probe_iterations']:.2f} + per iteration "
          f"{exponents['probe_s_per_iteration']:.2f}")
    return {"base_sentences": n_sentences, "rows": rows, "exponents": exponents}


def targets_met(result: dict) -> dict:
    """Each target (issue 18's: roles <= 3 s, ud-roles <= 10 s, probe exponent <= 1.05; and the
    older ones) against the measured figures."""
    exponents = result["scaling"]["exponents"]
    targets = {"encode exponent <= 1.15": exponents["encode_s"] <= 1.15,
               "linear probe exponent <= 1.05": exponents["probe_fit_s"] <= 1.05}
    runs = result["end_to_end"]
    if "roles" in runs:
        targets = {"roles wall <= 3 s": runs["roles"]["wall_s"] <= 3,
                   "roles peak RSS < 2 GiB": runs["roles"]["peak_rss_mib"] < 2048, **targets}
    if "ud-roles" in runs:
        targets["ud-roles wall <= 10 s"] = runs["ud-roles"]["wall_s"] <= 10
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scaling-sentences", type=int, default=1000)
    parser.add_argument("--skip-ud", action="store_true")
    parser.add_argument("--scaling-only", action="store_true", help="skip the end-to-end runs")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "end_to_end.json")
    args = parser.parse_args()
    result = {"benchmark": "end_to_end", "nproc": os.cpu_count(),
              "load_average": [round(x, 2) for x in os.getloadavg()],
              "end_to_end": {} if args.scaling_only else end_to_end(args.runs, args.skip_ud),
              "scaling": scaling(args.scaling_sentences)}
    result["targets_met"] = targets_met(result)
    for k, v in result["targets_met"].items():
        print(f"target {k}: {'met' if v else 'MISSED'}")
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
