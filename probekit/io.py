"""File input and output at one place: reading a user's text file (every OS error and bad
encoding a :class:`~probekit.errors.ProbekitError` naming the path), checking before a
command's work that its outputs can be written, and atomic writes, so that a reader never sees
a half-written result, corpus or plot, and a crashed write leaves no debris for long."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from probekit.errors import ProbekitError


def read_text(path: str | os.PathLike, what: str, missing: str = "does not exist. Check the path.") -> str:
    """The UTF-8 text of the file ``path`` (newlines as Python's text mode reads them).

    ``what`` names the file in messages (``"CoNLL-U file"``); ``missing`` ends the message for
    a path that does not exist.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ProbekitError(f"{what} {str(path)!r} {missing}") from None
    except IsADirectoryError:
        raise ProbekitError(f"{what} {str(path)!r} is a folder, not a file: pass a file inside it.") from None
    except OSError as exc:
        raise ProbekitError(f"{what} {str(path)!r} cannot be read ({exc.strerror}): check the permissions "
                            f"of the file and of the folders above it.") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ProbekitError(f"{path}:{line}: not valid UTF-8 (a {what} must be UTF-8). Re-encode the file, "
                            f"e.g. with `iconv -t utf-8`.") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``.

    The temporary file lives in the target's directory so the rename is atomic; on any error
    it is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)

    atomic_write(path, write)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=json_default) + "\n")


def json_default(value: Any) -> Any:
    """``json.dumps(default=...)`` for numpy values, paths and sets (sorted, so output is canonical)."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot store {type(value).__name__}: {value!r} as JSON")
