"""Thread limits for the numeric work, in one place.

probekit's products are small (a probe's minibatch, a 32-row EMA block, a GRU step): threaded
BLAS and torch's intra-op pool lose to thread start-up and spin-waiting, 5-10x on a shared
2-core machine, and one thread makes timings independent of the machine's core count.
Parallelism belongs one level up (several runs at once).

* :func:`single_threaded`: BLAS and OpenMP on one thread (the Hebbian probe).
  At the default size (50,000 x 256) one thread was faster than two even on an idle 2-core
  machine (lbfgs 1.1 s vs 1.6-2.1 s; the Hebbian readout 1.3 s vs 1.9-2.1 s).
* :func:`torch_threads`: ``n`` torch intra-op threads (the trainable encoders' ``num_threads``).
* :func:`one_torch_thread`: one torch thread and single-threaded BLAS (the torch probes and the
  linear probe, whose products run in torch).

Each restores the previous setting when its block ends.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from threadpoolctl import threadpool_limits


def single_threaded() -> threadpool_limits:
    """Limit BLAS and OpenMP to one thread for the ``with`` block."""
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
    """Hold this whole process (a sweep's worker) to one BLAS and OpenMP thread and ``n`` torch threads.

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
    import torch

    torch.set_num_threads(n)
