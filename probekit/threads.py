"""Thread limits for the numeric work, in one place.

Two kinds of threads, set apart because only one of them may change a result:

* **BLAS and OpenMP stay on one thread**, always (:func:`single_threaded` around every job run in
  the driver's process, :func:`limit_process_threads` in every worker). A threaded BLAS splits a
  sum in an order that depends on its thread count, so records would depend on ``--jobs``; and
  probekit's products are small (a probe's minibatch, a 32-row EMA block, a GRU step), where
  threaded BLAS loses to thread start-up and spin-waiting, 5-10x on a shared 2-core machine
  (and 20-50x for a 256 x 256 ``eigh`` on a loaded one).
* **A process-wide thread budget** (:func:`numeric_threads`) for code that splits its own work
  into fixed blocks and combines the blocks' results in a fixed order, so its numbers are the
  same on any number of threads: the linear probe's objective (:mod:`probekit.probes.softmax`)
  runs its row blocks on that many Python threads (numpy releases the GIL in the products and
  ufuncs) with :class:`BlockPool`. Whoever runs the job sets the budget: a job run in the
  driver's process (``probekit run``, ``--jobs 1``) gets :func:`threads_per_job` (1) (the
  machine's cores), each of ``--jobs N`` workers gets ``threads_per_job(N)`` through
  :func:`limit_process_threads`, a Ray task 1. Outside any of them (probekit used as a library)
  it is ``threads_per_job(1)``.

Why Python threads over blocks and not a threaded BLAS: the linear probe's products (8 x 256
weights against 2,048-row blocks) are skinny and memory-bound, and two BLAS threads on them were
no faster than one; whole blocks per thread keep each block in cache between its two products.
On idle cores (issue 18's microbenchmark of this scheme) one evaluation of the ``roles`` objective
(42,061 x 256) took about 24 ms on one thread and 14 ms on two. On the shared, loaded 2-core
machine where this was written (load average 2.5-7) two threads gained nothing over one: both
cores were already busy. ``benchmarks/linear_probe.py --threads 1,2`` measures both and checks
that the weights are the same bits. The earlier claim here that one thread is always faster
held for threaded BLAS, and still does.

* :func:`single_threaded`: BLAS and OpenMP on one thread (the probes, every job).
* :func:`torch_threads`: ``n`` torch intra-op threads (the trainable encoders' ``num_threads``).
* :func:`one_torch_thread`: one torch thread and single-threaded BLAS (the torch probes).
* :func:`numeric_threads` / :func:`use_numeric_threads`: the budget; :class:`BlockPool` spends it.

Each context manager restores the previous setting when its block ends.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Callable, Iterator, TypeVar

from threadpoolctl import threadpool_limits

T = TypeVar("T")

#: the process's thread budget for block-parallel numeric work (None: threads_per_job(1))
_BUDGET: int | None = None


def single_threaded() -> threadpool_limits:
    """Limit BLAS and OpenMP to one thread for the ``with`` block.

    scipy ships its own OpenBLAS, and a limit covers only the libraries loaded when it is set: a
    scipy imported inside the block (the linear probe imports ``scipy.optimize`` on its first fit)
    ran its BLAS on every core, which made a run's probe stage 2x slower on a busy machine (its
    CPU time 4.3 -> 7.7 s) and could change its last bits. So scipy's BLAS is loaded first.
    """
    import scipy.linalg  # noqa: F401  (loads scipy's OpenBLAS, so that the limit covers it)

    return threadpool_limits(limits=1)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Use ``n`` torch intra-op threads inside the block (0: leave the setting as it is)."""
    import torch

    if n <= 0:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """One torch intra-op thread and single-threaded BLAS inside the block."""
    with torch_threads(1), single_threaded():
        yield


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    """Threads each of ``jobs`` concurrent jobs may use so that jobs x threads <= cores (at least 1)."""
    import os

    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, jobs))


def limit_process_threads(n: int) -> None:
    """Hold this whole process (a sweep's worker) to one BLAS and OpenMP thread, ``n`` torch threads
    and a budget of ``n`` threads for block-parallel work (:func:`numeric_threads`).

    Set once when a worker starts, for the rest of its life. BLAS is held to one thread whatever
    ``n`` is: a threaded BLAS may sum in another order (its results may depend on its thread
    count), and a job run in the driver's process (:func:`single_threaded` around it) uses one
    thread too, so a record cannot depend on ``--jobs``.
    Environment variables cover libraries loaded later.
    """
    import os

    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    os.environ["NUMBA_NUM_THREADS"] = str(n)
    threadpool_limits(limits=1)
    global _BUDGET
    _BUDGET = max(1, int(n))
    import torch

    torch.set_num_threads(n)


def numeric_threads() -> int:
    """Threads this process's block-parallel numeric work may use (see the module docstring)."""
    return threads_per_job(1) if _BUDGET is None else _BUDGET


@contextlib.contextmanager
def use_numeric_threads(n: int) -> Iterator[None]:
    """Set the budget of :func:`numeric_threads` to ``n`` (at least 1) inside the block."""
    global _BUDGET
    before = _BUDGET
    _BUDGET = max(1, int(n))
    try:
        yield
    finally:
        _BUDGET = before


class BlockPool:
    """Up to ``threads`` threads (the caller's included) for :meth:`map`; a context manager.

    Threads only change which thread computes a block, never what a block is nor the order its
    result is returned in, so a caller that combines the results in order gets the same numbers
    on any number of threads. Blocks are handed out one at a time (a descheduled thread on a busy
    machine holds up one block, not a fixed share).
    """

    def __init__(self, threads: int):
        from concurrent.futures import ThreadPoolExecutor

        self.threads = max(1, int(threads))
        self._pool = ThreadPoolExecutor(self.threads - 1) if self.threads > 1 else None

    def map(self, fn: Callable[[int], T], count: int) -> list[T]:
        """``[fn(0), ..., fn(count - 1)]``, computed on the pool's threads."""
        results: list = [None] * count
        if self._pool is None or count < 2:
            return [fn(i) for i in range(count)]
        order = itertools.count()   # next() on it is atomic under the GIL

        def work() -> None:
            for i in iter(order.__next__, None):
                if i >= count:
                    return
                results[i] = fn(i)

        helpers = [self._pool.submit(work) for _ in range(min(self.threads, count) - 1)]
        work()
        for helper in helpers:
            helper.result()
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> "BlockPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
