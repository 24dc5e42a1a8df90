"""Reading EWT's training file: a fresh ``conllu`` parse against a hit of the parsed-corpus cache.

    python benchmarks/parse_cache.py [--runs 3]

``read_conllu(path, cache=False)`` (parse) against ``read_conllu(path)`` on a filled cache in a
temporary ``PROBEKIT_CACHE`` (hit: read and hash the file, load the column arrays, rebuild the
sentences); one miss first fills it. Rows back to back in every round; medians. Writes
``benchmarks/results/parse_cache.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.common import SHARED, cpu_model  # noqa: E402
from probekit.corpus import read_conllu  # noqa: E402
from probekit.io import atomic_write_json  # noqa: E402


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--file", type=Path, default=SHARED / "data" / "ud-english-ewt" / "en_ewt-ud-train.conllu")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "parse_cache.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["PROBEKIT_CACHE"] = cache
        miss, fresh = timed(lambda: read_conllu(args.file))
        rounds = []
        for _ in range(args.runs):
            parse, _ = timed(lambda: read_conllu(args.file, cache=False))
            hit, again = timed(lambda: read_conllu(args.file))
            assert [s.words for s in again] == [s.words for s in fresh]
            rounds.append({"parse": parse, "hit": hit, "load": os.getloadavg()[0]})
    result = {"file": args.file.name, "words": fresh.n_tokens, "sentences": len(fresh), "first_miss": miss,
              "median": {k: statistics.median(r[k] for r in rounds) for k in ("parse", "hit")},
              "speedup": statistics.median(r["parse"] / r["hit"] for r in rounds),
              "rounds": rounds, "machine": {"cpus": os.cpu_count(), "cpu": cpu_model()}}
    print(f"{args.file.name}: {len(fresh)} sentences, {fresh.n_tokens} words; parse {result['median']['parse']:.3f} s, "
          f"hit {result['median']['hit']:.3f} s ({result['speedup']:.1f}x), first miss {miss:.3f} s")
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
