"""The code fingerprint every record carries: which sources it covers, and that presentation
modules (left out of it) hold no computation."""

import ast

from probekit import provenance
from probekit.provenance import PRESENTATION_MODULES, code_fingerprint, computing_sources, module_name


def _imports(path) -> set[str]:
    """Every module a source file imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_computing_module_imports_a_presentation_module():
    offenders = {}
    for path in computing_sources():
        if path.suffix == ".py":
            found = sorted(_imports(path) & set(PRESENTATION_MODULES))
            if found:
                offenders[module_name(path)] = found
    assert not offenders, f"computing modules import presentation modules (move the computation out): {offenders}"


def test_every_presentation_module_exists_and_is_left_out():
    names = {module_name(p) for p in provenance.PACKAGE_DIR.rglob("*.py")}
    assert set(PRESENTATION_MODULES) <= names
    covered = {module_name(p) for p in computing_sources() if p.suffix == ".py"}
    assert not covered & set(PRESENTATION_MODULES)
    assert {"probekit.experiment", "probekit.probes.linear", "probekit.encoders.ema", "probekit.reproduce.suite",
            "probekit.dilution.theory"} <= covered


def test_the_task_library_is_covered():
    suffixes = {p.suffix for p in computing_sources()}
    assert {".py", ".toml", ".pcfg"} <= suffixes


def _fingerprint_with(tmp_path, monkeypatch, files: dict[str, str]) -> str:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(provenance, "computing_sources", lambda: sorted(tmp_path.iterdir()))
    code_fingerprint.cache_clear()
    try:
        return code_fingerprint()
    finally:
        code_fingerprint.cache_clear()


def test_the_fingerprint_moves_with_code_not_with_time(tmp_path, monkeypatch):
    first = _fingerprint_with(tmp_path, monkeypatch, {"a.py": "x = 1\n", "b.toml": "name = 'b'\n"})
    assert _fingerprint_with(tmp_path, monkeypatch, {}) == first
    assert _fingerprint_with(tmp_path, monkeypatch, {"a.py": "x = 2\n"}) != first
    assert len(first) == 16 and int(first, 16) >= 0


def test_records_carry_the_fingerprint():
    from probekit.experiment import RunConfig, run

    record = run(RunConfig(encoder="type", task="identity", probe="linear", n_boot=10,
                           task_options={"source": "random", "random_types": 4, "vocab_size": 4, "n_train": 20,
                                         "n_test": 10, "lag": 0}))
    assert record["code_fingerprint"] == code_fingerprint()


def test_every_function_job_computes_in_fingerprinted_code():
    """A reproduce job's function must live in a computing module, whatever module re-exports it."""
    import importlib

    from probekit import reproduce as rp

    for section in (rp.DILUTION_SECTION, rp.LADDER_SECTION):
        for job in section.jobs(rp.QUICK, (0,)):
            function = getattr(importlib.import_module(job.module), job.function)
            assert function.__module__ not in PRESENTATION_MODULES, f"{job.label}: {function.__module__}"
