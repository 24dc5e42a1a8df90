"""Executors: run one function over a list of jobs and hand each result back to the driver.

An executor knows nothing about probing: :meth:`run` takes a picklable function and the jobs,
calls ``fn(job)`` in workers and yields ``(index, result)`` as jobs finish (in any order). A job
that raises, or whose worker dies, yields a :class:`Failure` with a one-line message instead;
the other jobs go on. Workers only compute: whatever writes files (records) is the driver's
loop over what :meth:`run` yields, so there is one writer.

* :class:`~probekit.executors.local.LocalExecutor` (``--executor local --jobs N``): in this
  process for one job at a time, else a :class:`concurrent.futures.ProcessPoolExecutor`.
* :class:`~probekit.executors.ray_cluster.RayExecutor` (``--executor ray [--address ADDR]``):
  one Ray task per job, on a local Ray instance or a cluster (``pip install -e ".[ray]"``).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Protocol

from probekit.errors import ProbekitError
from probekit.executors.worker import Failure

__all__ = ["EXECUTORS", "Executor", "Failure", "make_executor"]

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    """What a sweep and ``probekit reproduce`` need of an executor."""

    name: str
    jobs: int

    def run(self, fn: Callable[[Any], Any], items: list, wants_gpu: Callable[[Any], bool] | None = None
            ) -> Iterator[tuple[int, Any]]: ...

    def close(self) -> None: ...


def make_executor(kind: str = "local", jobs: int = 1, address: str | None = None) -> Executor:
    """The executor named ``kind`` (``local`` or ``ray``); user errors are :class:`ProbekitError`."""
    if kind not in EXECUTORS:
        raise ProbekitError(f"unknown executor {kind!r}: choose {' or '.join(EXECUTORS)}.")
    if kind == "local":
        if address is not None:
            raise ProbekitError("--address names a Ray cluster: use it with --executor ray.")
        from probekit.executors.local import LocalExecutor

        return LocalExecutor(jobs)
    from probekit.executors.ray_cluster import RayExecutor

    return RayExecutor(address)
