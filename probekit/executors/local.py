"""The local executor: jobs in this process (``--jobs 1``) or in a process pool (``--jobs N``).

Workers come from a ``forkserver`` that has imported torch and probekit once (fast to start, and never a
fork of a process whose OpenMP or torch threads are running); it is started when the executor is made,
so its imports run while the caller builds its job list. Each worker is held to
``cores // N`` threads (:func:`probekit.threads.threads_per_job`), so N jobs never oversubscribe
the machine; a job run in this process (``--jobs 1``) gets all the cores. Those threads are
torch's and the block-parallel work's (:func:`probekit.threads.numeric_threads`, whose numbers
do not depend on them); BLAS is always on one thread, in this process too: a threaded BLAS may
sum in another order, and a record must not depend on ``--jobs``. At most N jobs are in flight, so when a worker dies (killed, out of memory) the
jobs it may have been running are known: each is retried once alone in a fresh pool, and
reported failed if it dies again; the other jobs go on (a job whose submission finds the pool
already broken never started: it goes back to the queue). Jobs are handed out in the order of
``items``: a caller that knows which jobs are long puts them first. An interrupt (Ctrl-C) stops the workers
at once; what the driver already wrote stays.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterator

from probekit.errors import ProbekitError
from probekit.executors.worker import Failure, call, one_line, prepare
from probekit.threads import single_threaded, threads_per_job, use_numeric_threads

#: imported once by the forkserver, so that every worker starts with them (torch alone takes seconds)
PRELOAD = ["torch", "probekit", "probekit.sweep", "probekit.reproduce"]
DIED = "its worker process died during the job (killed, or out of memory), also when retried alone"


class LocalExecutor:
    name = "local"

    def __init__(self, jobs: int = 1):
        if not isinstance(jobs, int) or jobs < 1:
            raise ProbekitError(f"--jobs {jobs}: give at least 1 (the number of jobs run at once).")
        self.jobs = jobs
        if jobs > 1:
            _start_forkserver()

    def run(self, fn: Callable[[Any], Any], items: list, wants_gpu: Callable[[Any], bool] | None = None
            ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(items[index]) or Failure)`` as jobs finish."""
        if self.jobs == 1:
            for index, item in enumerate(items):
                # BLAS on one thread, as in a worker: the same numbers; the machine's cores for
                # block-parallel work (probekit.threads), whose numbers do not depend on them
                with single_threaded(), use_numeric_threads(threads_per_job(1)):
                    result = call(fn, item)
                yield index, result
            return
        pending = deque(range(len(items)))
        while pending:
            suspects = yield from self._drain(fn, items, pending, self.jobs)
            for index in suspects:   # alone, so a death is this job's own
                queue = deque([index])
                alone = yield from self._drain(fn, items, queue, 1)
                if alone or queue:
                    yield index, Failure(DIED)

    def close(self) -> None:
        """Nothing to release: every pool ends with the run that made it."""

    def _drain(self, fn, items, pending: deque, workers: int) -> Iterator[tuple[int, Any]]:
        """Run ``pending`` jobs on a new pool of ``workers``; return the jobs in flight when a worker died."""
        pool = _pool(workers, threads_per_job(self.jobs))
        in_flight: dict = {}
        clean = False
        try:
            while pending or in_flight:
                while pending and len(in_flight) < workers:
                    index = pending.popleft()
                    try:
                        in_flight[pool.submit(call, fn, items[index])] = index
                    except BrokenProcessPool:   # a worker died since the last wait: this job never started
                        if not in_flight:       # nothing else can be to blame: retried alone like a suspect
                            return [index]
                        pending.appendleft(index)
                        return list(in_flight.values())
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                died = []
                for future in done:
                    index = in_flight.pop(future)
                    error = future.exception()
                    if error is None:
                        yield index, future.result()
                    elif isinstance(error, BrokenProcessPool):
                        died.append(index)
                    else:   # e.g. a result that cannot be pickled back
                        yield index, Failure(one_line(error))
                if died:
                    died += in_flight.values()
                    in_flight.clear()
                    return died
            clean = True
            return []
        finally:
            if not clean:
                _stop(pool)
            pool.shutdown(wait=clean, cancel_futures=True)


def _start_forkserver() -> None:
    """Start the forkserver now, in the background: its imports (torch, probekit: seconds) overlap
    with what the caller does before the first job (building job lists), instead of following it."""
    multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
    from multiprocessing import forkserver

    forkserver.ensure_running()


def _pool(workers: int, threads: int) -> ProcessPoolExecutor:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=prepare,
                               initargs=(threads, os.environ.get("PROBEKIT_PLUGINS", ""), list(sys.path)))


def _stop(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's workers now (an interrupt, or a pool a worker died in): the standard
    shutdown would wait for the jobs they are running."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()
