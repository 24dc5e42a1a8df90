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


def test_a_taken_name_is_refused_naming_both_sources():
    reg = make_registry()

    class OtherGear:
        """Another gear."""

    with pytest.raises(ProbekitError, match=r"'gear' is taken: .*make_registry.<locals>.Gear.*OtherGear"):
        reg.register("gear")(OtherGear)
    assert reg.get("gear").factory.__name__ == "Gear"  # nothing was replaced
    reg.register("gear", replace=True)(OtherGear)
    assert reg.get("gear").factory is OtherGear


def test_registering_the_same_source_again_is_not_a_clash():
    reg = make_registry()
    gear = reg.get("gear").factory
    reg.add("gear", gear)  # a module imported twice registers the same class again
    assert reg.get("gear").factory is gear


def test_a_plugin_that_loses_to_an_existing_name_is_an_error(monkeypatch):
    module = types.ModuleType("probekit_test_plugin2")
    exec("class Gear:\n    '''A plugin's gear.'''\n", module.__dict__)
    monkeypatch.setitem(sys.modules, "probekit_test_plugin2", module)
    point = importlib.metadata.EntryPoint(name="gear", value="probekit_test_plugin2:Gear",
                                          group="probekit.test-widgets")
    monkeypatch.setattr("probekit.registry.entry_points", lambda group: [point])
    with pytest.raises(ProbekitError, match=r"'gear' is taken: .*Gear registered it.*probekit_test_plugin2:Gear"):
        make_registry().names()


def test_a_task_file_may_not_take_a_builtin_name(tmp_path):
    from probekit.tasks import load_task_file

    path = tmp_path / "mine.toml"
    path.write_text('name = "roles"\ntype = "grammar-roles"\n')
    with pytest.raises(ProbekitError, match=r"task name 'roles' is taken: .*tasks/roles.toml.*mine.toml"):
        load_task_file(path)


def test_a_missing_task_file_says_not_found(tmp_path):
    from probekit.experiment import RunConfig, run

    with pytest.raises(ProbekitError, match="task file .*nope.toml' not found"):
        run(RunConfig(encoder="type", task=str(tmp_path / "nope.toml")))


def test_task_file_options_are_coerced_like_command_line_options(tmp_path):
    from probekit import registry
    from probekit.tasks import load_task_file

    path = tmp_path / "coerced.toml"
    path.write_text('name = "coerced-roles"\ntype = "grammar-roles"\n[options]\nn_train = 300.0\n')
    task = registry.tasks.create(load_task_file(path))
    assert task.n_train == 300 and isinstance(task.n_train, int)
    path.write_text('name = "coerced-roles"\ntype = "grammar-roles"\n[options]\nn_train = 300.5\n')
    with pytest.raises(ProbekitError, match="option 'n_train' of task file .* must be an integer, got 300.5"):
        load_task_file(path)
    registry.tasks.remove("coerced-roles")


def test_a_task_file_record_keys_on_the_content_not_the_path(tmp_path):
    from probekit.experiment import RunConfig, record_key

    text = 'name = "keyed-roles"\ntype = "grammar-roles"\n[options]\nn_train = 40\n'
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    first.write_text(text)
    second.write_text(text)
    key = record_key(RunConfig(encoder="type", task=str(first)))
    assert record_key(RunConfig(encoder="type", task=str(second))) == key  # same content, other path
    first.write_text(text.replace("40", "50"))
    assert record_key(RunConfig(encoder="type", task=str(first))) != key    # edited: a new record
    # a registered name keeps RunConfig.key(): the committed records are found by it
    assert record_key(RunConfig(encoder="type", task="roles")) == RunConfig(encoder="type", task="roles").key()


def test_a_clashing_file_in_probekit_tasks_is_a_clean_command_error(tmp_path):
    import os
    import subprocess
    from pathlib import Path

    (tmp_path / "mine.toml").write_text('name = "roles"\ntype = "grammar-roles"\n')
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PROBEKIT_TASKS": str(tmp_path), "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-m", "probekit.cli", "list", "tasks"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "task name 'roles' is taken" in done.stderr and str(tmp_path / "mine.toml") in done.stderr
