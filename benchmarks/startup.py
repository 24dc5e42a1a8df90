"""Start-up: how long importing probekit takes, and which heavy libraries it loads.

    python benchmarks/startup.py [--runs 5] [--repo PATH ...]

For each ``--repo`` (default: this checkout; give two to compare a branch against another
checkout in the same rounds), fresh interpreters run ``import probekit`` and
``import probekit.cli``, alternating between repositories within each round; wall time of the
whole process (medians over ``--runs``), and the heavy libraries found in ``sys.modules``
afterwards. The whole default run (``probekit run --encoder ema --task roles``) is timed by
``benchmarks/end_to_end.py``. Writes ``benchmarks/results/startup.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "sklearn", "scipy.stats", "scipy.optimize", "pandas", "numba", "matplotlib")
STATEMENTS = {"import probekit": "import probekit", "import probekit.cli": "import probekit.cli"}


def one(repo: Path, statement: str) -> tuple[float, list[str]]:
    code = f"{statement}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    env = dict(os.environ, PYTHONPATH=str(repo))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=repo, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repo", type=Path, action="append")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "startup.json")
    args = parser.parse_args()
    repos = [r.resolve() for r in (args.repo or [REPO])]
    samples = {(str(r), s): [] for r in repos for s in STATEMENTS}
    loaded = {}
    for repo in repos:   # warm-up (file cache)
        one(repo, "import probekit.cli")
    for _ in range(args.runs):
        for statement in STATEMENTS.values():
            for repo in repos:
                seconds, heavy = one(repo, statement)
                samples[(str(repo), statement)].append(seconds)
                loaded[(str(repo), statement)] = heavy
    rows = [{"repo": repo, "statement": statement, "wall_s": statistics.median(times), "samples": times,
             "heavy_loaded": loaded[(repo, statement)]} for (repo, statement), times in samples.items()]
    for row in rows:
        print(f"{row['repo']}: {row['statement']:22s} {row['wall_s']:6.2f} s  loads {', '.join(row['heavy_loaded']) or '-'}")
    result = {"benchmark": "startup", "nproc": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
              "runs": args.runs, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
