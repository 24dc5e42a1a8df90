"""`probekit reproduce --quick` with --jobs 1 and --jobs 2 (local executor), and a 24-job sweep
serial against a local Ray instance: wall times, and whether every record's metrics are identical.

    python benchmarks/sweep_speedup.py [--part reproduce|ray|both]

Everything is written to temporary folders (never the committed results/), each run with a
fresh feature cache. Results go to benchmarks/results/sweep_speedup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, SHARED, cpu_model

#: the parts of a record that are its results (timings, dates and provenance are left out);
#: ``data`` (corpus sizes, feature shapes, the run's feature-cache hits) is compared on its own
NUMBERS = ("metrics", "readouts", "baselines", "rows", "columns")


def numbers(folder: Path, parts: tuple[str, ...] = NUMBERS) -> dict[str, str]:
    """Every record under ``folder`` by file name -> canonical JSON of its ``parts``."""
    found = {}
    for path in sorted(folder.rglob("*.json")):
        record = json.loads(path.read_text())
        if isinstance(record, dict) and "id" in record:
            found[path.name] = json.dumps(_without_timings({k: record.get(k) for k in parts}), sort_keys=True)
    return found


def _without_timings(value):
    """``value`` without the wall times some results carry: keys named ``seconds`` or ending in ``_s``
    (the lm section's rows hold each model's ``train_s`` and its curve's ``seconds``)."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k != "seconds" and not k.endswith("_s")}
    if isinstance(value, list):
        return [_without_timings(v) for v in value if not (isinstance(v, str) and (v == "seconds" or v.endswith("_s")))]
    return value


def probekit(*args: str, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "probekit.cli", *args], check=True, env=env, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    return round(time.perf_counter() - start, 1)


def environment(tmp: Path, name: str) -> dict:
    return {**os.environ, "PROBEKIT_CACHE": str(tmp / f"cache-{name}"), "PYTHONPATH": str(REPO),
            "PROBEKIT_DATA": os.environ.get("PROBEKIT_DATA", str(SHARED / "data" / "ud-english-ewt"))}


def reproduce_part(tmp: Path) -> dict:
    times = {}
    for jobs in (1, 2):
        out = tmp / f"jobs{jobs}"
        times[jobs] = probekit("reproduce", "--quick", "--out", str(out), "--jobs", str(jobs),
                               env=environment(tmp, f"jobs{jobs}"))
        print(f"reproduce --quick --jobs {jobs}: {times[jobs]} s", flush=True)
    a, b = numbers(tmp / "jobs1" / "records"), numbers(tmp / "jobs2" / "records")
    same_data = numbers(tmp / "jobs1" / "records", ("data",)) == numbers(tmp / "jobs2" / "records", ("data",))
    return {"wall_s": {f"jobs{k}": v for k, v in times.items()}, "speedup": round(times[1] / times[2], 2),
            "records": len(a), "identical": a == b, "data_identical": same_data,
            "differing": sorted(k for k in a if a.get(k) != b.get(k)) + sorted(set(b) - set(a))}


GRID = """
encoder = ["type", "position", "random"]
task = "roles"
probe = "linear"
seed = [0, 1, 2, 3]
train_size = [100, "all"]
n_boot = 100
[task_options]
n_train = 300
n_test = 100
"""


def ray_part(tmp: Path) -> dict:
    grid = tmp / "grid.toml"
    grid.write_text(GRID)
    env = environment(tmp, "sweep")
    times = {"serial": probekit("sweep", str(grid), "--out", str(tmp / "serial"), env=env),
             "ray": probekit("sweep", str(grid), "--out", str(tmp / "ray"), "--executor", "ray", env=env)}
    a, b = numbers(tmp / "serial"), numbers(tmp / "ray")
    print(f"24-job sweep: serial {times['serial']} s, ray {times['ray']} s, identical {a == b}", flush=True)
    return {"jobs": len(a), "wall_s": times, "identical": a == b and len(a) == 24}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["reproduce", "ray", "both"], default="both")
    args = parser.parse_args()
    result = {"cpu": cpu_model(), "cores": os.cpu_count(), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="probekit-sweep-bench-") as tmp:
        if args.part in ("reproduce", "both"):
            result["reproduce_quick"] = reproduce_part(Path(tmp))
        if args.part in ("ray", "both"):
            result["ray_sweep"] = ray_part(Path(tmp))
    result["load_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))
    target = REPO / "benchmarks" / "results" / f"sweep_speedup_{args.part}.json"
    target.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
