"""The project layout: the task library lives in the top-level tasks/ folder, is found from a
checkout, and is shipped in the wheel with every package (pyproject.toml lists them)."""

import tomllib
from pathlib import Path

from probekit.library import grammar_dir, task_library

ROOT = Path(__file__).resolve().parent.parent


def test_the_task_library_is_the_top_level_tasks_folder():
    assert task_library() == ROOT / "tasks"
    assert {p.name for p in task_library().glob("*.toml")} >= {"roles.toml", "roles-transfer.toml", "roles-deep.toml"}
    assert {p.stem for p in grammar_dir().glob("*.pcfg")} >= {"A", "B"}
    assert not list((ROOT / "probekit").rglob("*.toml")) and not list((ROOT / "probekit").rglob("*.pcfg"))


def test_pyproject_ships_every_package_and_the_task_library():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "probekit").rglob("__init__.py")}
    listed = set(config["packages"])
    assert listed - {"probekit.task_library"} == on_disk, "add new packages to [tool.setuptools] packages"
    assert config["package-dir"] == {"probekit.task_library": "tasks"}
    assert set(config["package-data"]["probekit.task_library"]) == {"*.toml", "grammars/*.pcfg"}


def test_probekit_list_says_where_each_task_file_lives():
    from click.testing import CliRunner

    from probekit.cli import main

    output = CliRunner().invoke(main, ["list", "tasks"]).output
    for name in ("roles", "roles-transfer", "roles-deep"):
        line = next(line for line in output.splitlines() if line.startswith(f"  {name} "))
        assert line.endswith(f"[{ROOT / 'tasks' / name}.toml]")
