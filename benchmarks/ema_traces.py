"""How fast probekit computes EMA traces, against peers and the memory-bandwidth floor.

    python benchmarks/ema_traces.py [--tokens 1000000] [--dim 256] [--runs 5] [--loop-tokens 20000]

Input: ``--tokens`` x ``--dim`` float32 Gaussian rows in sentences of 1-39 words; 3 rates
(0.5, 0.1, 0.02), traces reset at sentence starts for probekit (the encoder's default). Each
method computes the traces of all 3 rates into float32 output; one warm-up round, then
``--runs`` rounds (medians reported). In every round all methods run one after the other, and
each ratio is taken within the round (then the median over rounds), so machine load drifts
cancel:

* ``probekit``: ``probekit.encoders.ema.ema_traces`` (one compiled numba loop, all 3 rates at
  once) into a preallocated, already touched ``(tokens, 3 * dim)`` output; ``probekit_alloc``
  the same call allocating its output (the encoder's case: first-touch page faults included).
* ``loop``: the per-token numpy loop ``h = (1-a) h + a x_t`` on the first ``--loop-tokens``
  rows (continuous stream), scaled linearly to ``--tokens`` (it is linear in the row count).
* ``lfilter``: ``scipy.signal.lfilter([a], [1, a-1], X, axis=0)`` per rate (continuous stream,
  float32 in and out; lfilter computes in the input's precision).
* ``pandas_ewm``: ``pandas.DataFrame(X).ewm(alpha=a, adjust=False).mean()`` per rate
  (continuous stream; pandas computes in float64).
* ``copy_floor``: ``np.copyto`` of ``X`` (broadcast 3 times) into the preallocated output: the
  memory traffic any method must pay; ``copy_floor_threads`` the same split by rows between as
  many threads as ``ema_traces`` uses; ``copy_floor_alloc`` into a freshly allocated output.
* ``probekit_one_thread``: ``ema_traces`` with ``workers=1`` (``probekit`` splits rows between up
  to 4 threads on inputs this large).

The peers get the easier continuous stream (no resets); probekit is timed on both.
Peak memory of probekit's path (tracemalloc, into a preallocated output, and with the output
allocated by ``ema_traces``) is reported as a multiple of the output size.
Prints a table and writes JSON to ``benchmarks/results/ema_traces.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from probekit.encoders.ema import ema_traces  # noqa: E402
from probekit.io import atomic_write_json  # noqa: E402
from common import cpu_model  # noqa: E402

RATES = (0.5, 0.1, 0.02)


def numpy_loop(X: np.ndarray, rate: float, out: np.ndarray) -> None:
    h = np.zeros(X.shape[1], dtype=np.float64)
    decay = 1.0 - rate
    for t in range(X.shape[0]):
        h = decay * h + rate * X[t]
        out[t] = h


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def machine() -> dict:
    import scipy
    import pandas
    from threadpoolctl import threadpool_info
    return {
        "cpu": cpu_model(), "nproc": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "scipy": scipy.__version__, "pandas": pandas.__version__,
        "blas": [{k: p.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer")}
                 for p in threadpool_info()],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--loop-tokens", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "ema_traces.json")
    args = parser.parse_args()
    from scipy.signal import lfilter
    import pandas as pd

    n, d = args.tokens, args.dim
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d), dtype=np.float32)
    lengths = rng.integers(1, 40, n // 10 + 10)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    offsets = np.append(offsets[offsets < n], n)
    n_loop = min(args.loop_tokens, n)
    out = np.empty((n, d), dtype=np.float32)
    out_loop = np.empty((n_loop, d), dtype=np.float32)
    out3 = np.empty((n, len(RATES) * d), dtype=np.float32)   # the three traces side by side
    out3[...] = 0.0   # touched once, so the preallocated rows pay no page faults
    output_bytes = out3.nbytes

    def probekit_reset():
        ema_traces(X, RATES, offsets, reset=True, out=out3)

    def probekit_stream():
        ema_traces(X, RATES, offsets, reset=False, out=out3)

    def probekit_alloc():   # the encoder's case: a fresh output (first-touch page faults included)
        ema_traces(X, RATES, offsets, reset=True)

    def loop():
        for a in RATES:
            numpy_loop(X[:n_loop], a, out_loop)

    def scipy_lfilter():
        for a in RATES:
            out[...] = lfilter([a], [1.0, a - 1.0], X, axis=0)

    def pandas_ewm():
        frame = pd.DataFrame(X, copy=False)
        for a in RATES:
            out[...] = frame.ewm(alpha=a, adjust=False).mean().to_numpy()

    def copy_floor():
        np.copyto(out3.reshape(n, len(RATES), d), X[:, None, :])

    def copy_floor_alloc():
        np.copyto(np.empty((n, len(RATES), d), dtype=np.float32), X[:, None, :])

    workers = max(1, min(os.cpu_count() or 1, 4))
    halves = np.linspace(0, n, workers + 1).round().astype(int)

    def copy_floor_threads():  # the floor with as many threads as ema_trace uses (bandwidth, not cores)
        with ThreadPoolExecutor(workers) as pool:
            view = out3.reshape(n, len(RATES), d)
            list(pool.map(lambda i: np.copyto(view[halves[i]:halves[i + 1]], X[halves[i]:halves[i + 1], None, :]),
                          range(workers)))

    def probekit_one_thread():
        ema_traces(X, RATES, offsets, reset=True, out=out3, workers=1)

    methods = {"probekit": probekit_reset, "probekit_no_reset": probekit_stream,
               "probekit_one_thread": probekit_one_thread, "probekit_alloc": probekit_alloc, "loop": loop,
               "lfilter": scipy_lfilter, "pandas_ewm": pandas_ewm, "copy_floor": copy_floor,
               "copy_floor_threads": copy_floor_threads, "copy_floor_alloc": copy_floor_alloc}
    scale = {"loop": n / n_loop}
    rounds = []
    for r in range(args.runs + 1):
        times = {name: timed(fn) * scale.get(name, 1.0) for name, fn in methods.items()}
        if r > 0:  # round 0 is the warm-up
            rounds.append(times)
        print(f"round {r}{' (warm-up)' if r == 0 else ''}: " + ", ".join(f"{k} {v:.3f}s" for k, v in times.items()),
              flush=True)
    median = {name: statistics.median(t[name] for t in rounds) for name in methods}
    ratios = {
        f"{peer}/probekit": statistics.median(t[peer] / t["probekit"] for t in rounds)
        for peer in ("loop", "lfilter", "pandas_ewm")
    }
    ratios["probekit/copy_floor"] = statistics.median(t["probekit"] / t["copy_floor"] for t in rounds)
    ratios["probekit_no_reset/copy_floor"] = statistics.median(
        t["probekit_no_reset"] / t["copy_floor"] for t in rounds)
    ratios["probekit/copy_floor_threads"] = statistics.median(t["probekit"] / t["copy_floor_threads"] for t in rounds)
    ratios["probekit_one_thread/copy_floor"] = statistics.median(
        t["probekit_one_thread"] / t["copy_floor"] for t in rounds)
    ratios["probekit_alloc/copy_floor_alloc"] = statistics.median(
        t["probekit_alloc"] / t["copy_floor_alloc"] for t in rounds)
    ratios["lfilter/probekit_no_reset"] = statistics.median(t["lfilter"] / t["probekit_no_reset"] for t in rounds)
    ratios["pandas_ewm/probekit_no_reset"] = statistics.median(
        t["pandas_ewm"] / t["probekit_no_reset"] for t in rounds)

    # peak memory: tracemalloc sees numpy's allocations (not BLAS's small internal buffers)
    del out, out3
    tracemalloc.start()
    one = np.empty((n, len(RATES) * d), dtype=np.float32)
    tracemalloc.reset_peak()
    ema_traces(X, RATES, offsets, reset=True, out=one)
    peak_into = tracemalloc.get_traced_memory()[1]
    del one
    tracemalloc.stop()
    tracemalloc.start()
    outs = ema_traces(X, RATES, offsets, reset=True)
    peak_alloc = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del outs
    memory = {
        "output_bytes": output_bytes,
        "peak_bytes_preallocated_out_included": peak_into,
        "peak_over_output_preallocated": peak_into / output_bytes,
        "peak_bytes_three_rates_allocating_outputs": peak_alloc,
        "peak_over_output_three_rates": peak_alloc / output_bytes,
    }
    targets = {
        "lfilter/probekit >= 40": ratios["lfilter/probekit"] >= 40,
        "pandas_ewm/probekit >= 40": ratios["pandas_ewm/probekit"] >= 40,
        "probekit_one_thread/copy_floor <= 1.5": ratios["probekit_one_thread/copy_floor"] <= 1.5,
        "probekit/copy_floor <= 1.2 (two threads)": ratios["probekit/copy_floor"] <= 1.2,
        "peak memory <= 1.05x output": memory["peak_over_output_three_rates"] <= 1.05,
    }
    result = {
        "benchmark": "ema_traces", "tokens": n, "dim": d, "rates": list(RATES), "runs": args.runs,
        "loop_tokens_timed": n_loop, "loop_scaled_linearly_by": n / n_loop,
        "median_seconds": median, "median_ratios": ratios, "memory": memory, "targets_met": targets,
        "machine": machine(), "rounds": rounds,
    }
    print()
    print(f"EMA traces: {n} tokens x {d} dims x {len(RATES)} rates, float32; medians of {args.runs} runs")
    print(f"{'method':<20}{'seconds':>10}{'x probekit':>12}")
    for name in methods:
        rel = statistics.median(t[name] / t["probekit"] for t in rounds)
        note = f"  (timed on {n_loop} tokens, scaled x{n / n_loop:g})" if name == "loop" else ""
        print(f"{name:<20}{median[name]:>10.3f}{rel:>12.2f}{note}")
    print()
    for k, v in ratios.items():
        print(f"{k:<32}{v:8.2f}")
    print(f"peak, 3 rates into a preallocated out (out included): {memory['peak_over_output_preallocated']:.3f} x the output")
    print(f"peak, 3 rates allocating their outputs:       {memory['peak_over_output_three_rates']:.3f} x the output")
    for k, v in targets.items():
        print(f"target {k}: {'met' if v else 'MISSED'}")
    print("BLAS:", result["machine"]["blas"], "(ema_traces uses no BLAS: one compiled loop)")
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
