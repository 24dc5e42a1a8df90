"""Tasks: Python task types, and declarative task files (``*.toml``) built on them.

A task file names a registered task type and fixes its options::

    name = "roles"
    type = "grammar-roles"
    description = "Grammatical roles: train on Grammar A, test on Grammar A"
    [options]
    train_grammar = "A"

Built-in files live in the task library (the top-level ``tasks/`` folder, see
:mod:`probekit.library`); users add their own by passing a ``.toml`` path as ``--task`` or by
putting files in a folder named by ``PROBEKIT_TASKS``. A task file's options are checked and
coerced like any other (``n_train = 300.0`` reaches the task as the int 300).
"""

from __future__ import annotations

import functools
import hashlib
import os
import tomllib
from pathlib import Path

from probekit.errors import ProbekitError
from probekit.io import read_text
from probekit.library import task_library
from probekit.options import check_options
from probekit.registry import tasks as task_registry
from probekit.tasks import identity, roles  # noqa: F401  (registers the task types)
from probekit.tasks.base import Targets, Task, TaskData

__all__ = ["Task", "TaskData", "Targets", "load_task_file", "resolve_task_name", "task_file_digest",
           "is_task_file"]


def load_task_file(path: str | os.PathLike) -> str:
    """Register the task declared in ``path``; returns its name."""
    path = Path(path)
    spec = _read_spec(path)
    base = task_registry.get(spec["type"]).factory
    options = check_options(base, spec.get("options", {}), f"task file {path}")
    factory = functools.partial(base, **options)
    factory.default_probe = spec.get("default_probe", getattr(base, "default_probe", "linear"))  # type: ignore[attr-defined]
    task_registry.add(spec["name"], factory, spec.get("description", ""), source=str(path.resolve()))
    return spec["name"]


#: the entries a task file may hold, with the type each must have.
_ENTRIES = {"name": str, "type": str, "description": str, "default_probe": str, "options": dict}


def _read_spec(path: Path) -> dict:
    """A task file's TOML table, each entry present where required and of the right type."""
    text = read_text(path, "task file", "not found: check the path (a task name has no .toml; see "
                                        "`probekit list tasks`).")
    try:
        spec = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProbekitError(f"{path}: not valid TOML ({exc}). Fix the file.") from None
    for key in ("name", "type"):
        if key not in spec:
            raise ProbekitError(f"{path}: a task file needs a {key!r} entry (see docs/tasks.md).")
    unknown = set(spec) - set(_ENTRIES)
    if unknown:
        raise ProbekitError(f"{path}: unknown entries {sorted(unknown)}; allowed: name, type, "
                            f"description, default_probe, options.")
    for key, kind in _ENTRIES.items():
        if key in spec and not isinstance(spec[key], kind):
            what = "a table ([options] with KEY = VALUE lines)" if kind is dict else "a string in quotes"
            raise ProbekitError(f"{path}: {key!r} must be {what}, not {spec[key]!r}.")
    if not spec["name"].strip():
        raise ProbekitError(f"{path}: 'name' is empty; give the task a name.")
    return spec


def is_task_file(name: str) -> bool:
    """Whether ``--task`` names a file rather than a registered task."""
    return name.endswith(".toml")


def resolve_task_name(name: str) -> str:
    """A task name, or a path to a task file (registered on the way)."""
    if is_task_file(name):
        return load_task_file(name)
    if os.sep in name or "/" in name or Path(name).is_dir():
        hint = f" {name}.toml exists: add the extension." if Path(f"{name}.toml").is_file() else ""
        raise ProbekitError(f"--task {name!r} is a path, but a task file is a .toml file.{hint} Pass the "
                            f"file (tasks/roles.toml) or a task name (see `probekit list tasks`).")
    return name


def task_file_digest(path: str | os.PathLike) -> str:
    """sha256 of a task file's bytes: a record of a user task keys on what the file says, not
    on its path, so editing the file and rerunning makes a new record instead of overwriting."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise ProbekitError(f"task file {str(path)!r} cannot be read ({exc.strerror}).") from None


def _load_task_dirs() -> None:
    dirs = [task_library()] + [Path(p) for p in os.environ.get("PROBEKIT_TASKS", "").split(os.pathsep) if p]
    for folder in dirs:
        for path in sorted(folder.glob("*.toml")):
            load_task_file(path)


task_registry.add_loader(_load_task_dirs)
