"""One registry type for encoders, tasks and probes.

Components register with a decorator (``@register_encoder("ema")``); third-party packages
register through entry points in the groups ``probekit.encoders``, ``probekit.tasks`` and
``probekit.probes`` (the entry point's name is the registered name, its object the class or
factory). Looking up an unknown name raises a :class:`ProbekitError` with did-you-mean
suggestions, so the CLI never dispatches through if/elif chains over names.
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable

from probekit import options
from probekit.errors import ProbekitError


@dataclass(frozen=True)
class Entry:
    """A registered component: its name, the factory that builds it, a one-line description,
    and where it came from (``module.Class``, a task file's path, a plugin's entry point), so
    that a clash can name both sides."""

    name: str
    factory: Callable[..., Any]
    description: str
    source: str = ""


def source_of(factory: Callable) -> str:
    """``module.qualname`` of a class or function (through partials)."""
    target = options.unwrap(factory)
    module = getattr(target, "__module__", None) or "?"
    return f"{module}.{getattr(target, '__qualname__', repr(target))}"


def _first_docstring_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry:
    """Name -> factory mapping for one kind of component (encoder, task or probe)."""

    def __init__(self, kind: str, entry_point_group: str):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, Entry] = {}
        self._loaders: list[Callable[[], None]] = []
        self._loaded = False

    # -- registration -------------------------------------------------------------------
    def register(self, name: str, description: str | None = None, *, replace: bool = False) -> Callable:
        """Decorator: ``@registry.register("ema")`` on a class or factory function."""

        def decorate(factory: Callable) -> Callable:
            self.add(name, factory, description, replace=replace)
            return factory

        return decorate

    def add(self, name: str, factory: Callable, description: str | None = None, *,
            source: str | None = None, replace: bool = False) -> None:
        """Register ``factory`` as ``name``.

        A name already taken by something else is refused, naming both sources, unless
        ``replace=True``: a silent replacement would change what a command means (and a record
        would carry the old name with new numbers). Registering the same source again (a module
        imported twice, a task file read twice) is not a clash.
        """
        if not name or not isinstance(name, str):
            raise ProbekitError(f"a {self.kind} needs a non-empty string name, got {name!r}")
        source = source or source_of(factory)
        old = self._entries.get(name)
        if old is not None and old.source != source and not replace:
            raise ProbekitError(
                f"{self.kind} name {name!r} is taken: {old.source} registered it and {source} registers it "
                f"again. Choose another name (from Python, replace=True replaces it on purpose)."
            )
        self._entries[name] = Entry(
            name, factory, description if description is not None else _first_docstring_line(factory), source
        )

    def add_loader(self, loader: Callable[[], None]) -> None:
        """Call ``loader`` (which registers components, e.g. from task files) before the first
        lookup, so that its errors surface where a command can report them."""
        self._loaders.append(loader)

    def _load_entry_points(self) -> None:
        """Run the loaders, then register the plugins' entry points (once)."""
        if self._loaded:
            return
        self._loaded = True
        for loader in self._loaders:
            loader()
        for ep in entry_points(group=self.entry_point_group):
            source = f"plugin {ep.value} (entry point {ep.name!r} in {self.entry_point_group!r})"
            if ep.name in self._entries and self._entries[ep.name].source != source:
                raise ProbekitError(
                    f"{self.kind} name {ep.name!r} is taken: {self._entries[ep.name].source} registered it, "
                    f"and the {source} claims it too. Rename the plugin's entry point or uninstall it."
                )
            try:
                factory = ep.load()
            except Exception as exc:  # a broken plugin must not break probekit itself
                raise ProbekitError(
                    f"the {self.kind} plugin {ep.name!r} ({ep.value}, entry point group "
                    f"{self.entry_point_group!r}) failed to load: {exc}. Fix or uninstall that package."
                ) from exc
            self.add(ep.name, factory, source=source)

    # -- lookup ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[name] for name in self.names()]

    def remove(self, name: str) -> None:
        """Forget ``name`` (tests and interactive sessions that register throw-away components)."""
        self._entries.pop(name, None)

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

    def create(self, name: str, **kwargs: Any) -> Any:
        """Build the component ``name`` with ``options``, checked against its signature."""
        entry = self.get(name)
        checked = options.check_options(entry.factory, kwargs, f"{self.kind} {name!r}")
        return entry.factory(**checked)

    def parameters(self, name: str) -> dict[str, inspect.Parameter]:
        """The options a component accepts (its factory's keyword parameters)."""
        return options.keyword_parameters(self.get(name).factory)


def load_plugins(names: str | None = None) -> None:
    """Import the modules named in ``names`` (comma-separated; default ``$PROBEKIT_PLUGINS``), so
    that components they register in Python are visible (docs/extending.md). The command calls
    it when it starts, and a sweep's workers when they start."""
    import importlib
    import os

    names = os.environ.get("PROBEKIT_PLUGINS", "") if names is None else names
    for name in (n.strip() for n in names.split(",")):
        if not name:
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ProbekitError(f"PROBEKIT_PLUGINS names {name!r}, which cannot be imported ({exc}). "
                                f"Put its folder on PYTHONPATH or fix the name.") from None


# The option checks moved to probekit.options; these names stay for existing imports.
check_options = options.check_options
coerce_option = options.coerce


encoders = Registry("encoder", "probekit.encoders")
tasks = Registry("task", "probekit.tasks")
probes = Registry("probe", "probekit.probes")

register_encoder = encoders.register
register_task = tasks.register
register_probe = probes.register
