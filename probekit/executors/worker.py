"""What runs inside a worker, whichever executor started it: thread limits, plugins, and one
job's call turned into a result or a one-line :class:`Failure`."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable

from probekit.errors import ProbekitError


@dataclass(frozen=True)
class Failure:
    """A job that did not give a result: its one-line error."""

    message: str


def one_line(exc: BaseException) -> str:
    """``ProbekitError`` messages as they are; anything else prefixed with its type; one line."""
    text = str(exc) if isinstance(exc, ProbekitError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def prepare(threads: int, plugins: str, path: list[str]) -> None:
    """Start a worker: the driver's import path and plugins, and ``threads`` threads in all."""
    from probekit.registry import load_plugins
    from probekit.threads import limit_process_threads

    sys.path[:] = list(dict.fromkeys(path + sys.path))
    limit_process_threads(threads)
    load_plugins(plugins)


def call(fn: Callable[[Any], Any], item: Any) -> Any:
    """``fn(item)``, or a :class:`Failure` naming the error (the worker stays usable)."""
    try:
        return fn(item)
    except Exception as exc:  # noqa: BLE001  (any error of one job is that job's failure)
        return Failure(one_line(exc))
