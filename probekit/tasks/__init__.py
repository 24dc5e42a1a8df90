"""Tasks: Python task types, and declarative task files (``*.toml``) built on them.

A task file names a registered task type and fixes its options::

    name = "roles"
    type = "grammar-roles"
    description = "Grammatical roles: train on Grammar A, test on Grammar A"
    [options]
    train_grammar = "A"

Built-in files live beside this module; users add their own by passing a ``.toml`` path
as ``--task`` or by putting files in a folder named by ``PROBEKIT_TASKS``.
"""

from __future__ import annotations

import functools
import os
import tomllib
from pathlib import Path

from probekit.errors import ProbekitError
from probekit.registry import tasks as task_registry
from probekit.tasks import identity, roles  # noqa: F401  (registers the task types)
from probekit.tasks.base import Targets, Task, TaskData

__all__ = ["Task", "TaskData", "Targets", "load_task_file", "resolve_task_name"]

BUILTIN_TASK_DIR = Path(__file__).parent


def load_task_file(path: str | os.PathLike) -> str:
    """Register the task declared in ``path``; returns its name."""
    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProbekitError(f"task file {str(path)!r} does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProbekitError(f"{path}: not valid TOML ({exc}). Fix the file.") from None
    for key in ("name", "type"):
        if key not in spec:
            raise ProbekitError(f"{path}: a task file needs a {key!r} entry (see docs/tasks.md).")
    unknown = set(spec) - {"name", "type", "description", "default_probe", "options"}
    if unknown:
        raise ProbekitError(f"{path}: unknown entries {sorted(unknown)}; allowed: name, type, "
                            f"description, default_probe, options.")
    base = task_registry.get(spec["type"]).factory
    options = spec.get("options", {})
    from probekit.registry import check_options

    check_options(base, options, f"task file {path}")
    factory = functools.partial(base, **options)
    factory.default_probe = spec.get("default_probe", getattr(base, "default_probe", "linear"))  # type: ignore[attr-defined]
    task_registry.add(spec["name"], factory, spec.get("description", ""))
    return spec["name"]


def resolve_task_name(name: str) -> str:
    """A task name, or a path to a task file (registered on the way)."""
    if name.endswith(".toml") and Path(name).is_file():
        return load_task_file(name)
    return name


def _load_task_dirs() -> None:
    dirs = [BUILTIN_TASK_DIR] + [Path(p) for p in os.environ.get("PROBEKIT_TASKS", "").split(os.pathsep) if p]
    for folder in dirs:
        for path in sorted(folder.glob("*.toml")):
            load_task_file(path)


_load_task_dirs()
