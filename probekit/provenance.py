"""What a result record stores about where it came from: versions and git commit."""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

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
