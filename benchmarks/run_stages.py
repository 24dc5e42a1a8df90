"""Cold and warm `probekit run --encoder ema`: wall, wall outside the probe stage, CPU, stage timings.

    python benchmarks/run_stages.py [--task roles] [--runs 3] [--tree /path/to/other/checkout ...]

Each round runs every checkout (this one, then each ``--tree``, alternating so that load on a
shared machine hits them alike) twice on one fresh ``PROBEKIT_CACHE``: *cold* (an empty cache:
the corpus is generated or parsed, EMA features computed with numba's start-up) and *warm* (the
same command again: what ``benchmarks/end_to_end.py`` times after its warm-up). ``wall - probe``
is the whole process's wall time minus the record's ``probe`` stage (the probe fit, its
predictions and the V-information bootstrap): the part issue 18 part 1 leaves to everything
else. CPU is the child's user + system time. Prints medians and writes
``benchmarks/results/run_stages.json``. ``ud-roles`` needs ``PROBEKIT_DATA`` (default
``../shared/data/ud-english-ewt``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from probekit.io import atomic_write_json  # noqa: E402

UD = REPO.parent / "shared" / "data" / "ud-english-ewt"


def one_run(tree: Path, task: str, cache: Path, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), PROBEKIT_CACHE=str(cache))
    env.setdefault("PROBEKIT_DATA", str(UD))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "probekit.cli", "run", "--encoder", "ema", "--task", task,
                           "--out", str(out), "-q"], env=env, cwd=tree, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"{tree}: probekit run failed:\n{proc.stderr}")
    [path] = out.glob("*.json")
    record = json.loads(path.read_text())
    path.unlink()
    timings = record["timings_s"]
    return {"wall_s": wall, "wall_minus_probe_s": wall - timings["probe"],
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "load1": os.getloadavg()[0], "timings_s": timings,
            "accuracy": record["metrics"]["accuracy"]["value"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="roles")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tree", type=Path, action="append", default=[],
                        help="another probekit checkout to time alongside this one")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "run_stages.json")
    args = parser.parse_args()
    trees = [REPO] + [t.resolve() for t in args.tree]
    samples: dict[str, dict[str, list]] = {str(t): {"cold": [], "warm": []} for t in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.runs):
            for index, tree in enumerate(trees):
                cache, out = Path(tmp) / f"cache-{round_}-{index}", Path(tmp) / f"out-{index}"
                for kind in ("cold", "warm"):
                    sample = one_run(tree, args.task, cache, out)
                    samples[str(tree)][kind].append(sample)
                    stages = " ".join(f"{k}={v:.2f}" for k, v in sample["timings_s"].items())
                    print(f"{tree.name:12s} {kind}: wall {sample['wall_s']:.2f} s, wall - probe "
                          f"{sample['wall_minus_probe_s']:.2f} s, cpu {sample['cpu_s']:.2f} s, load "
                          f"{sample['load1']:.2f} | {stages}", flush=True)
    summary = {}
    for tree, kinds in samples.items():
        summary[tree] = {kind: {key: statistics.median(s[key] for s in runs)
                                for key in ("wall_s", "wall_minus_probe_s", "cpu_s", "load1")}
                         for kind, runs in kinds.items()}
        for kind, medians in summary[tree].items():
            print(f"median {Path(tree).name:12s} {kind}: wall {medians['wall_s']:.2f} s, wall - probe "
                  f"{medians['wall_minus_probe_s']:.2f} s, cpu {medians['cpu_s']:.2f} s (load {medians['load1']:.2f})")
    atomic_write_json(args.out, {"task": args.task, "runs": args.runs, "cores": os.cpu_count(),
                                 "medians": summary, "samples": samples})


if __name__ == "__main__":
    main()
