"""The import graph of probekit matches docs/architecture.md: every module is on a floor, no
module imports one on a higher floor (or, on its own floor, outside its own package), and the
imports form no cycle. Imports are read with ``ast`` (function-level imports included)."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "probekit"
DOC = ROOT / "docs" / "architecture.md"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.startswith("probekit"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("probekit"))
    return {m for m in found if m in modules and m != name}


def _floors() -> dict[str, int]:
    rows = re.findall(r"^\| (\d+) \| `(probekit[\w.]*)` \|", DOC.read_text(encoding="utf-8"), re.M)
    return {module: int(floor) for floor, module in rows}


def _package(module: str) -> str:
    return module.rpartition(".")[0] if module.count(".") >= 2 else module


def test_every_module_has_a_floor_in_the_architecture_page():
    modules, floors = _modules(), _floors()
    assert not sorted(set(modules) - set(floors)), "modules missing from docs/architecture.md"
    assert not sorted(set(floors) - set(modules)), "docs/architecture.md lists modules that do not exist"


def _upward(graph: dict[str, set[str]], floors: dict[str, int]) -> list[str]:
    found = []
    for name, deps in graph.items():
        for dep in deps:
            if dep == "probekit.errors":  # every module may raise the user error (floor 0 included)
                continue
            same_package = _package(dep) == _package(name) or dep == _package(name)
            if floors[dep] > floors[name] or (floors[dep] == floors[name] and not same_package):
                found.append(f"{name} (floor {floors[name]}) imports {dep} (floor {floors[dep]})")
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    cycles = []

    def visit(node, trail):
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(trail[trail.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, trail + [dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return cycles


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_no_module_imports_one_that_builds_on_it():
    assert _upward(_graph(), _floors()) == []


def test_import_graph_is_acyclic():
    assert _cycles(_graph()) == []


def test_the_checks_catch_an_upward_import_and_a_cycle():
    floors = _floors()
    graph = _graph()
    graph["probekit.experiment"] = graph["probekit.experiment"] | {"probekit.cli"}
    assert _upward(graph, floors) == [f"probekit.experiment (floor 6) imports probekit.cli (floor {floors['probekit.cli']})"]
    graph["probekit.cli"] = graph["probekit.cli"] | {"probekit.experiment"}
    assert ["probekit.cli", "probekit.experiment", "probekit.cli"] in _cycles(graph) or \
        ["probekit.experiment", "probekit.cli", "probekit.experiment"] in _cycles(graph)
    # same floor, other package: a component may not import another kind of component
    graph = _graph()
    graph["probekit.probes.linear"] = graph["probekit.probes.linear"] | {"probekit.encoders.ema"}
    assert _upward(graph, floors) == ["probekit.probes.linear (floor 5) imports probekit.encoders.ema (floor 5)"]
