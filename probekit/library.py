"""Where the task library lives: the shipped task files (``*.toml``) and grammars (``*.pcfg``).

They are data, not code, so they sit in the top-level ``tasks/`` folder of a checkout, where
users read and copy them. A wheel ships the same folder inside the package as
``probekit/task_library/`` (pyproject.toml maps it), and that copy wins when it exists.
"""

from __future__ import annotations

from pathlib import Path

from probekit.errors import ProbekitError

_PACKAGE = Path(__file__).resolve().parent


def task_library() -> Path:
    """The folder of the shipped task files (its ``grammars/`` holds the shipped grammars)."""
    for folder in (_PACKAGE / "task_library", _PACKAGE.parent / "tasks"):
        if (folder / "grammars").is_dir():
            return folder
    raise ProbekitError(f"the task library is missing: neither {_PACKAGE / 'task_library'} (an installed "
                        f"wheel) nor {_PACKAGE.parent / 'tasks'} (a source checkout) exists. Reinstall probekit.")


def grammar_dir() -> Path:
    """The folder of the shipped ``.pcfg`` grammars."""
    return task_library() / "grammars"
