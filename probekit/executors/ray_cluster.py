"""The Ray executor: each job one Ray task, on a local Ray instance or a cluster (``--address``).

Ray is an optional extra (``pip install -e ".[ray]"``). Each task asks for one CPU, and one GPU
when the job wants one (a transformer encoder) and the cluster has GPUs; a task whose worker
dies is retried by Ray (``max_retries``) and then reported failed. Results come back to the
driver, which alone writes records. ``ray.init`` is called with ``address`` (None: a local Ray
instance, or the one this process already started); an address that cannot be reached is an
error within seconds, before anything runs.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any, Callable, Iterator

from probekit.errors import ProbekitError
from probekit.executors.worker import Failure, call, one_line, prepare

#: Ray retries a task whose worker process died this many times before it is reported failed.
RETRIES = 2
CONNECT_TIMEOUT_S = 5.0
INSTALL = 'pip install -e ".[ray]"'


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise ProbekitError(f"--executor ray needs Ray, which is not installed: {INSTALL} "
                                f"(or pip install 'probekit[ray]').") from None
        self._ray = ray
        self._started = False
        _check_reachable(address)
        if not ray.is_initialized():
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ProbekitError(f"--address {address}: cannot connect to a Ray cluster ({one_line(exc)}). "
                                    f"Start one with `ray start --head` and pass its address.") from None
            self._started = True
        self.jobs = int(ray.cluster_resources().get("CPU", 1))
        self._gpus = ray.cluster_resources().get("GPU", 0) > 0

    def run(self, fn: Callable[[Any], Any], items: list, wants_gpu: Callable[[Any], bool] | None = None
            ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(items[index]) or Failure)`` as Ray tasks finish."""
        ray = self._ray
        task = ray.remote(_task)
        plugins, path = os.environ.get("PROBEKIT_PLUGINS", ""), list(sys.path)
        refs = {}
        for index, item in enumerate(items):
            gpu = 1 if self._gpus and wants_gpu is not None and wants_gpu(item) else 0
            options = task.options(num_cpus=1, num_gpus=gpu, max_retries=RETRIES, retry_exceptions=False)
            refs[options.remote(fn, item, plugins, path)] = index
        try:
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1)
                for ref in ready:
                    index = refs.pop(ref)
                    try:
                        yield index, ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        yield index, Failure(f"the Ray task failed after {RETRIES} retries: "
                                             f"{one_line(exc)[:300]}")
        finally:
            for ref in refs:    # an interrupt: stop what is still running
                ray.cancel(ref, force=True)

    def close(self) -> None:
        """Disconnect from (or stop) the Ray instance this executor started."""
        if self._started:
            self._ray.shutdown()
            self._started = False


def _task(fn: Callable[[Any], Any], item: Any, plugins: str, path: list[str]) -> Any:
    prepare(1, plugins, path)
    return call(fn, item)


def _check_reachable(address: str | None) -> None:
    """Fail fast on a ``host:port`` (or ``ray://host:port``) nobody answers on; ``ray.init`` would
    wait much longer. None and ``auto`` are left to Ray."""
    if address in (None, "auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ProbekitError(f"--address {address!r}: give HOST:PORT of the Ray head (e.g. 10.0.0.1:6379), "
                            f"ray://HOST:10001, or auto.")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ProbekitError(f"--address {address}: no Ray head answers there ({exc}). Start it with "
                            f"`ray start --head --port {port}` on {host}, or fix the address.") from None
