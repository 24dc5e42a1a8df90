import importlib.metadata
import sys
import textwrap
import types
from typing import Literal

import pytest

from probekit.errors import ProbekitError
from probekit.registry import Registry


def make_registry():
    reg = Registry("widget", "probekit.test-widgets")

    @reg.register("gear")
    class Gear:
        """A gear. Second line is not shown."""

        def __init__(self, teeth: int = 10, ratio: float = 1.0, kind: Literal["spur", "bevel"] = "spur",
                     rates: tuple[float, ...] = (0.5,), optional: int | None = None):
            self.teeth, self.ratio, self.kind, self.rates, self.optional = teeth, ratio, kind, rates, optional

    return reg


def test_decorator_registration_and_description():
    reg = make_registry()
    assert reg.names() == ["gear"]
    assert reg.get("gear").description == "A gear. Second line is not shown."


def test_unknown_name_suggests_close_match():
    reg = make_registry()
    with pytest.raises(ProbekitError, match="Did you mean 'gear'"):
        reg.get("geer")


def test_options_are_checked_and_coerced():
    reg = make_registry()
    gear = reg.create("gear", teeth="12", ratio="0.5", rates="0.5,0.1", optional="3")
    assert (gear.teeth, gear.ratio, gear.rates, gear.optional) == (12, 0.5, (0.5, 0.1), 3)
    assert reg.create("gear", optional="none").optional is None
    with pytest.raises(ProbekitError, match="Did you mean 'teeth'"):
        reg.create("gear", teth=3)
    with pytest.raises(ProbekitError, match="integer"):
        reg.create("gear", teeth=2.5)
    with pytest.raises(ProbekitError, match="one of 'spur', 'bevel'"):
        reg.create("gear", kind="helical")


def test_entry_point_plugins_are_discovered(monkeypatch, tmp_path):
    module = types.ModuleType("probekit_test_plugin")
    exec(textwrap.dedent('''
        class Sprocket:
            """A sprocket from a plugin."""
    '''), module.__dict__)
    monkeypatch.setitem(sys.modules, "probekit_test_plugin", module)
    point = importlib.metadata.EntryPoint(name="sprocket", value="probekit_test_plugin:Sprocket",
                                          group="probekit.test-widgets")

    def fake_entry_points(group):
        return [point] if group == "probekit.test-widgets" else []

    monkeypatch.setattr("probekit.registry.entry_points", fake_entry_points)
    reg = make_registry()
    assert reg.names() == ["gear", "sprocket"]
    assert reg.get("sprocket").description == "A sprocket from a plugin."


def test_broken_plugin_gives_clear_error(monkeypatch):
    point = importlib.metadata.EntryPoint(name="broken", value="no_such_module_xyz:Thing",
                                          group="probekit.test-widgets")
    monkeypatch.setattr("probekit.registry.entry_points", lambda group: [point])
    with pytest.raises(ProbekitError, match="plugin 'broken'.*failed to load"):
        make_registry().names()


def test_builtin_components_are_registered():
    import probekit  # noqa: F401  (registers the built-ins)
    from probekit import registry

    assert {"ema", "bigru", "random", "type", "position"} <= set(registry.encoders.names())
    assert {"linear", "mlp", "hebbian"} <= set(registry.probes.names())
    assert {"roles", "roles-transfer", "roles-deep"} <= set(registry.tasks.names())
