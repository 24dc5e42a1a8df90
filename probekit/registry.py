"""One registry type for encoders, tasks and probes.

Components register with a decorator (``@register_encoder("ema")``); third-party packages
register through entry points in the groups ``probekit.encoders``, ``probekit.tasks`` and
``probekit.probes`` (the entry point's name is the registered name, its object the class or
factory). Looking up an unknown name raises a :class:`ProbekitError` with did-you-mean
suggestions, so the CLI never dispatches through if/elif chains over names.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import typing
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable

from probekit.errors import ProbekitError


@dataclass(frozen=True)
class Entry:
    """A registered component: its name, the factory that builds it, a one-line description."""

    name: str
    factory: Callable[..., Any]
    description: str


def _first_docstring_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry:
    """Name -> factory mapping for one kind of component (encoder, task or probe)."""

    def __init__(self, kind: str, entry_point_group: str):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, Entry] = {}
        self._entry_points_loaded = False

    # -- registration -------------------------------------------------------------------
    def register(self, name: str, description: str | None = None) -> Callable:
        """Decorator: ``@registry.register("ema")`` on a class or factory function."""

        def decorate(factory: Callable) -> Callable:
            self.add(name, factory, description)
            return factory

        return decorate

    def add(self, name: str, factory: Callable, description: str | None = None) -> None:
        if not name or not isinstance(name, str):
            raise ProbekitError(f"a {self.kind} needs a non-empty string name, got {name!r}")
        self._entries[name] = Entry(
            name, factory, description if description is not None else _first_docstring_line(factory)
        )

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=self.entry_point_group):
            if ep.name in self._entries:
                continue
            try:
                factory = ep.load()
            except Exception as exc:  # a broken plugin must not break probekit itself
                raise ProbekitError(
                    f"the {self.kind} plugin {ep.name!r} ({ep.value}, entry point group "
                    f"{self.entry_point_group!r}) failed to load: {exc}. Fix or uninstall that package."
                ) from exc
            self.add(ep.name, factory)

    # -- lookup ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[name] for name in self.names()]

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return name in self._entries

    def get(self, name: str) -> Entry:
        self._load_entry_points()
        if name in self._entries:
            return self._entries[name]
        close = difflib.get_close_matches(name, self._entries, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ProbekitError(
            f"unknown {self.kind} {name!r}.{hint} Registered {self.kind}s: "
            f"{', '.join(self.names())} (see `probekit list`)."
        )

    def create(self, name: str, **options: Any) -> Any:
        """Build the component ``name`` with ``options``, checked against its signature."""
        entry = self.get(name)
        checked = check_options(entry.factory, options, f"{self.kind} {name!r}")
        return entry.factory(**checked)

    def parameters(self, name: str) -> dict[str, inspect.Parameter]:
        """The options a component accepts (its factory's keyword parameters)."""
        return _keyword_parameters(self.get(name).factory)


def _unwrap(factory: Callable) -> Callable:
    """The function or class behind a ``functools.partial`` (declared tasks are partials)."""
    while isinstance(factory, functools.partial):
        factory = factory.func
    return factory


def _keyword_parameters(factory: Callable) -> dict[str, inspect.Parameter]:
    signature = inspect.signature(factory)
    return {
        p.name: p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
    }


def _accepts_var_keywords(factory: Callable) -> bool:
    return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())


def check_options(factory: Callable, options: dict[str, Any], what: str) -> dict[str, Any]:
    """Reject unknown options (with did-you-mean) and coerce values to annotated types."""
    params = _keyword_parameters(factory)
    target = _unwrap(factory)
    try:
        hints = typing.get_type_hints(target.__init__ if inspect.isclass(target) else target)
    except Exception:
        hints = {}
    checked: dict[str, Any] = {}
    for key, value in options.items():
        if key not in params:
            if _accepts_var_keywords(factory):
                checked[key] = value
                continue
            close = difflib.get_close_matches(key, params, n=2, cutoff=0.5)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            accepted = ", ".join(sorted(params)) or "none"
            raise ProbekitError(f"{what} has no option {key!r}.{hint} Its options: {accepted}.")
        checked[key] = coerce_option(value, hints.get(key), f"option {key!r} of {what}")
    return checked


def coerce_option(value: Any, annotation: Any, what: str) -> Any:
    """Convert ``value`` to ``annotation`` where that is unambiguous, else raise."""
    if annotation is None or annotation is Any:
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if type(None) in args and (value is None or (isinstance(value, str) and value.lower() in ("none", "null"))):
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce_option(value, arg, what)
            except ProbekitError as exc:
                errors.append(str(exc))
        raise ProbekitError(errors[0] if errors else f"{what}: bad value {value!r}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ProbekitError(f"{what} must be one of {', '.join(map(repr, args))}, got {value!r}.")
    if origin in (tuple, list):
        items = value
        if isinstance(value, str):
            items = [v for v in value.split(",") if v.strip()]
        if not isinstance(items, (list, tuple)):
            items = [items]
        item_type = args[0] if args else None
        converted = [coerce_option(v, item_type, what) for v in items]
        return tuple(converted) if origin is tuple else converted
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ProbekitError(f"{what} must be true or false, got {value!r}.")
    if annotation is int:
        if isinstance(value, bool):
            raise ProbekitError(f"{what} must be an integer, got {value!r}.")
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            raise ProbekitError(f"{what} must be an integer, got {value!r}.") from None
        if not as_float.is_integer():
            raise ProbekitError(f"{what} must be an integer, got {value!r}.")
        return int(as_float)
    if annotation is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ProbekitError(f"{what} must be a number, got {value!r}.") from None
    if annotation is str:
        return str(value)
    return value


encoders = Registry("encoder", "probekit.encoders")
tasks = Registry("task", "probekit.tasks")
probes = Registry("probe", "probekit.probes")

register_encoder = encoders.register
register_task = tasks.register
register_probe = probes.register
