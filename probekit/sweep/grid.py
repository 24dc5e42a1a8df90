"""A grid: which runs a sweep holds, written as a TOML file (or the same dict in Python).

Every field of :class:`~probekit.experiment.RunConfig` and every option may be one value or a
list of values; the grid is the product of all the lists, minus the ``exclude`` rules::

    encoder = ["ema", "type"]          # a list: one run per value
    task = "roles"                     # one value: every run
    seed = [0, 1, 2]
    train_size = [100, "all"]          # "all": every training sentence
    n_boot = 200

    [encoder_options]
    dim = [32, 64]
    rates = [[0.5, 0.1, 0.02]]         # an option whose value is a list: a list of lists

    [task_options]
    n_train = 400

    [[exclude]]                        # drop every run that matches all of these
    encoder = "type"
    encoder_options = { dim = 64 }

The runs come out in a fixed order (fields in ``RunConfig``'s order, options in the order
written, each list in its order), so a grid gives the same configs, and the same record ids,
every time. docs/sweeps.md documents the format.
"""

from __future__ import annotations

import difflib
import itertools
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from probekit.errors import ProbekitError
from probekit.experiment import RunConfig

__all__ = ["FIELDS", "OPTION_TABLES", "grid_configs", "load_grid"]

FIELDS = tuple(f.name for f in fields(RunConfig))
OPTION_TABLES = ("encoder_options", "task_options", "probe_options")
_REQUIRED = ("encoder", "task")


def load_grid(path: str | Path) -> dict[str, Any]:
    """Read a grid file; an unreadable or invalid file is a :class:`ProbekitError` naming it."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProbekitError(f"grid file {str(path)!r} not found; give the path of a .toml grid "
                            f"(docs/sweeps.md).") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProbekitError(f"grid file {str(path)!r} is not valid TOML ({exc}); fix it (docs/sweeps.md).") from None


def grid_configs(grid: dict[str, Any], where: str = "the grid") -> list[RunConfig]:
    """The configs of ``grid``: the product of its lists, without the runs an ``exclude`` rule matches."""
    grid = dict(grid)
    excludes = grid.pop("exclude", [])
    _check_keys(grid, where)
    missing = [name for name in _REQUIRED if name not in grid]
    if missing:
        raise ProbekitError(f"{where} names no {' and no '.join(missing)}: give e.g. encoder = \"ema\" and "
                            f"task = \"roles\".")
    axes = [(name, None, _values(grid[name], name, where)) for name in FIELDS
            if name in grid and name not in OPTION_TABLES]
    for table in OPTION_TABLES:
        for option, value in grid.get(table, {}).items():
            axes.append((table, option, _values(value, f"{table}.{option}", where)))
    rules = _rules(excludes, where)
    configs, used = [], [False] * len(rules)
    for combination in itertools.product(*(values for _, _, values in axes)):
        settings: dict[str, Any] = {table: {} for table in OPTION_TABLES}
        for (name, option, _), value in zip(axes, combination):
            if option is None:
                settings[name] = None if name == "train_size" and value == "all" else value
            else:
                settings[name][option] = value
        matched = [i for i, rule in enumerate(rules) if _matches(rule, settings)]
        for i in matched:
            used[i] = True
        if not matched:
            configs.append(_config(settings, where))
    unused = [i + 1 for i, hit in enumerate(used) if not hit]
    if unused:
        raise ProbekitError(f"{where}: exclude rule(s) {', '.join(map(str, unused))} match no run; fix their "
                            f"values or remove them.")
    if not configs:
        raise ProbekitError(f"{where} gives no runs (every run is excluded); loosen the exclude rules.")
    return configs


def _check_keys(table: dict, where: str, allowed: tuple[str, ...] = FIELDS + ("exclude",)) -> None:
    for key, value in table.items():
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=2, cutoff=0.5)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise ProbekitError(f"{where} has an unknown field {key!r}.{hint} Fields: {', '.join(allowed)}.")
        if key in OPTION_TABLES and not isinstance(value, dict):
            raise ProbekitError(f"{where}: {key} must be a table of options ([{key}] or {key} = {{ ... }}), "
                                f"got {value!r}.")


def _values(value: Any, name: str, where: str) -> list:
    if not isinstance(value, list):
        return [value]
    if not value:
        raise ProbekitError(f"{where}: {name} is an empty list, which gives no runs; give at least one value "
                            f"(a list-valued option is a list of lists: [[0.5, 0.1]]).")
    return value


def _rules(excludes: Any, where: str) -> list[dict]:
    if isinstance(excludes, dict):
        excludes = [excludes]
    if not isinstance(excludes, list) or not all(isinstance(rule, dict) and rule for rule in excludes):
        raise ProbekitError(f"{where}: exclude must be tables of field = value ([[exclude]] blocks).")
    for i, rule in enumerate(excludes, 1):
        _check_keys(rule, f"{where}, exclude rule {i},", FIELDS)
    return excludes


def _matches(rule: dict, settings: dict) -> bool:
    for name, wanted in rule.items():
        if name in OPTION_TABLES:
            if any(settings[name].get(option, _ABSENT) != value for option, value in wanted.items()):
                return False
        elif settings.get(name, _DEFAULTS[name]) != (None if name == "train_size" and wanted == "all" else wanted):
            return False
    return True


_ABSENT = object()
_DEFAULTS = {f.name: f.default for f in fields(RunConfig) if f.name not in OPTION_TABLES}


def _config(settings: dict, where: str) -> RunConfig:
    try:
        return RunConfig(**settings)
    except TypeError as exc:
        raise ProbekitError(f"{where}: {exc}") from None
