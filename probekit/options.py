"""Options of every component, checked and coerced in one place.

An option reaches a component three ways: typed on the command line (``-E dim=128``, a
string), written in a task file (``n_train = 300.0``, a TOML value) or passed from Python
(``task_options={"n_train": 300}``). Whichever way it came, :func:`check_options` rejects
an unknown name (with did-you-mean) and :func:`coerce` converts the value to the type the
component's ``__init__`` annotates, so ``n_train = 300.0`` and ``-O n_train=300`` both reach
the task as the int ``300`` and ``n_train = 300.5`` is refused.

Ranges are a component's own business, checked where its parameters are used (scikit-learn
style: stored unchanged in ``__init__``, validated before use) with the helpers below, so that
every message has the same shape: ``option 'dim' of encoder 'ema' must be an integer >= 1,
got 0.``
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import tomllib
import types
import typing
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from probekit.errors import ProbekitError

# -- KEY=VALUE text (command line) ---------------------------------------------------------


def parse_value(text: str) -> Any:
    """A TOML literal (``3``, ``0.5``, ``true``, ``[1, 2]``) or else the plain string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def parse_pairs(pairs: Iterable[str], flag: str) -> dict[str, Any]:
    """``("dim=128", "rates=[0.5,0.1]")`` -> ``{"dim": 128, "rates": [0.5, 0.1]}``."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ProbekitError(f"{flag} {pair!r}: expected KEY=VALUE, e.g. {flag} dim=128.")
        options[key.strip()] = parse_value(value.strip())
    return options


# -- names and types, from a component's signature -------------------------------------------


def unwrap(factory: Callable) -> Callable:
    """The function or class behind a ``functools.partial`` (declared tasks are partials)."""
    while isinstance(factory, functools.partial):
        factory = factory.func
    return factory


def keyword_parameters(factory: Callable) -> dict[str, inspect.Parameter]:
    """The options a component accepts: its factory's keyword parameters."""
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
    params = keyword_parameters(factory)
    target = unwrap(factory)
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
        checked[key] = coerce(value, hints.get(key), f"option {key!r} of {what}")
    return checked


def coerce(value: Any, annotation: Any, what: str) -> Any:
    """Convert ``value`` to ``annotation`` where that is unambiguous, else raise."""
    if annotation is None or annotation is Any:
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or (isinstance(value, str) and value.lower() in ("none", "null"))):
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, what)
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
        converted = [coerce(v, item_type, what) for v in items]
        return tuple(converted) if origin is tuple else converted
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ProbekitError(f"{what} must be true or false, got {value!r}.")
    if annotation is int:
        number = _number(value)
        if number is None or not number.is_integer():
            raise ProbekitError(f"{what} must be an integer, got {value!r}.")
        return int(number)
    if annotation is float:
        number = _number(value)
        if number is None:
            raise ProbekitError(f"{what} must be a number, got {value!r}.")
        return number
    if annotation is str:
        return str(value)
    return value


def _number(value: Any) -> float | None:
    """``value`` as a float; None for a bool (never a number here) or a non-number."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# -- ranges (called by the components themselves) --------------------------------------------


def option(name: str, owner: str) -> str:
    """``"option 'dim' of encoder 'ema'"``: how every message names an option."""
    return f"option {name!r} of {owner}"


def check_int(value: Any, what: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]``, else a ProbekitError naming ``what``."""
    valid = "an integer" + (f" >= {minimum}" if minimum is not None and maximum is None else "") + \
        (f" in [{minimum}, {maximum}]" if minimum is not None and maximum is not None else "")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ProbekitError(f"{what} must be {valid}, got {value!r}.")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ProbekitError(f"{what} must be {valid}, got {value!r}.")
    return int(value)


def check_float(value: Any, what: str, low: float, high: float = math.inf, *,
                low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite float in the interval given, else a ProbekitError naming ``what``."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open or math.isinf(high) else ']'}"
    number = _number(value)
    if number is None or not math.isfinite(number) or (number <= low if low_open else number < low) \
            or (number >= high if high_open else number > high):
        raise ProbekitError(f"{what} must be a number in {interval}, got {value!r}.")
    return number


def check_choice(value: Any, what: str, choices: Sequence[Any]) -> Any:
    if value not in choices:
        raise ProbekitError(f"{what} must be one of {', '.join(map(repr, choices))}, got {value!r}.")
    return value

