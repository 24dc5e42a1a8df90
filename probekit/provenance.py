"""What a result record stores about where it came from: versions, git commit and code fingerprint.

The git commit says which checkout made a record, but not whether the code that computes numbers
has changed since: a commit moves for a docs edit, and a ``-dirty`` checkout names no code at all.
:func:`code_fingerprint` hashes exactly the sources that compute numbers, so that ``probekit
reproduce`` reuses a record only while the code that made it is unchanged, and ``probekit
reproduce --check`` can say which records are stale.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

#: Modules that only read records and write pages (tables, Markdown, plots, the command line): a
#: change to them changes pages, which ``probekit reproduce --check`` compares, never a record's
#: numbers, so they are left out of :func:`code_fingerprint`. The one list; a test checks that no
#: computing module imports one of these (so no computation can hide in them).
PRESENTATION_MODULES = (
    "probekit.cli",
    "probekit.report",
    "probekit.summary",
    "probekit.dilution.report",
    "probekit.lm.cli",
    "probekit.lm.report",
    "probekit.reproduce",            # the package: the suite's order and page writing
    "probekit.reproduce.content",
    "probekit.reproduce.lm",
    "probekit.reproduce.output",
    "probekit.reproduce.structure",
    "probekit.reproduce.tables",
)

_PACKAGES = ("probekit", "numpy", "scipy", "pandas", "scikit-learn", "torch", "conllu", "transformers")


def package_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def git_commit(root: Path | None = None) -> str | None:
    """The commit of the probekit checkout (or of the git work tree at ``root``), with ``-dirty``
    if it has uncommitted changes.

    Changes under ``results/`` do not count: that folder holds what probekit generates (the
    reproduction report rewrites its pages while its runs go on), not code that makes numbers.
    """
    root = Path(root) if root is not None else Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)results"], cwd=root, capture_output=True, text=True,
                               timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "") if commit else None


def module_name(path: Path) -> str:
    """``probekit/reproduce/__init__.py`` -> ``probekit.reproduce``."""
    parts = list(path.resolve().relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def computing_sources() -> list[Path]:
    """The files whose content decides a record's numbers: every ``.py`` file of the package
    outside :data:`PRESENTATION_MODULES`, and the task library (task files and grammars), found
    where the tasks package and the grammar module say they live."""
    from probekit.library import grammar_dir, task_library

    sources = [p for p in PACKAGE_DIR.rglob("*.py") if module_name(p) not in PRESENTATION_MODULES]
    sources += list(task_library().glob("*.toml")) + list(grammar_dir().glob("*.pcfg"))
    return sorted({p.resolve() for p in sources if "__pycache__" not in p.parts})


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A sha256 (16 hex digits) over the relative paths and contents of :func:`computing_sources`.

    Every record stores it; a record whose fingerprint differs from the running code's is stale.
    Computed once per process (sources do not change under a running suite).
    """
    from probekit.library import task_library

    digest = hashlib.sha256()
    library = task_library().resolve()
    for path in computing_sources():
        # The task library sits in tasks/ in a checkout and in probekit/task_library/ in a wheel:
        # name its files relative to the library so both installs give one fingerprint.
        if path.is_relative_to(library):
            name = f"task_library/{path.relative_to(library).as_posix()}"
        elif path.is_relative_to(PACKAGE_DIR.parent):
            name = path.relative_to(PACKAGE_DIR.parent).as_posix()
        else:
            name = path.name
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
