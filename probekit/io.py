"""File input and output at one place: reading a user's text file (every OS error and bad
encoding a :class:`~probekit.errors.ProbekitError` naming the path), checking before a
command's work that its outputs can be written, and atomic writes, so that a reader never sees
a half-written result, corpus or plot, and a crashed write leaves no debris for long."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from probekit.errors import ProbekitError


def read_text(path: str | os.PathLike, what: str, missing: str = "does not exist. Check the path.") -> str:
    """The UTF-8 text of the file ``path`` (newlines as Python's text mode reads them).

    ``what`` names the file in messages (``"CoNLL-U file"``); ``missing`` ends the message for
    a path that does not exist.
    """
    path = Path(path)
    with _readable(path, what, missing):
        data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ProbekitError(f"{path}:{line}: not valid UTF-8 (a {what} must be UTF-8). Re-encode the file, "
                            f"e.g. with `iconv -t utf-8`.") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def check_readable(path: str | os.PathLike, what: str, missing: str = "does not exist. Check the path.") -> None:
    """Fail now, before a command's work, with :func:`read_text`'s message if ``path`` cannot be
    opened for reading (missing, a folder, no permission); nothing is read."""
    path = Path(path)
    with _readable(path, what, missing), open(path, "rb"):
        pass


@contextlib.contextmanager
def _readable(path: Path, what: str, missing: str):
    """Turn the OS errors of opening ``path`` into one :class:`ProbekitError` each, naming the path."""
    try:
        yield
    except FileNotFoundError:
        raise ProbekitError(f"{what} {str(path)!r} {missing}") from None
    except IsADirectoryError:
        raise ProbekitError(f"{what} {str(path)!r} is a folder, not a file: pass a file inside it.") from None
    except OSError as exc:
        raise ProbekitError(f"{what} {str(path)!r} cannot be read ({exc.strerror}): check the permissions "
                            f"of the file and of the folders above it.") from None


def check_writable(path: str | os.PathLike, what: str, folder: bool = False) -> None:
    """Fail now, before a command's work, if ``path`` (a file, or a ``folder``) cannot be written.

    Nothing is created: the nearest existing folder above ``path`` must be a folder that this
    process may write into, and ``path`` itself must not be a folder (for a file) or a file
    (for a folder).
    """
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise ProbekitError(f"{what} {str(path)!r} is a file, not a folder: choose a folder path.")
    if not folder and path.is_dir():
        raise ProbekitError(f"{what} {str(path)!r} is a folder: give a file path, e.g. {str(path / 'out')!r}.")
    above = path if folder else path.parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise ProbekitError(f"{what} {str(path)!r} cannot be written: {str(above)!r} is a file, not a folder.")
    if not os.access(above, os.W_OK | os.X_OK):
        raise ProbekitError(f"{what} {str(path)!r} cannot be written: no permission to write into "
                            f"{str(above)!r}. Choose another path or fix the permissions.")


# -- temporary files: named with the writer's process id, removed once that process is gone --

_STALE_AFTER_S = 24 * 3600
_TEMP_PID = re.compile(r"[.-]pid([0-9]+)-[A-Za-z0-9_]+(\.tmp)?$")


def temp_prefix(stem: str) -> str:
    """The start of a temporary name in ``stem``'s folder: it carries this process's id."""
    return f"{stem}pid{os.getpid()}-"


def is_stale_temp(path: Path) -> bool:
    """Whether the temporary file or folder ``path`` is debris: its writer (named by the process
    id in its name) no longer runs on this machine, or it is older than a day."""
    try:
        age = time.time() - path.lstat().st_mtime
    except FileNotFoundError:
        return False
    if age > _STALE_AFTER_S:
        return True
    match = _TEMP_PID.search(path.name)
    if match is None:
        return False
    pid = int(match.group(1))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def remove_stale_temps(folder: Path, pattern: str) -> int:
    """Remove the stale temporary files and folders matching ``pattern`` in ``folder``; returns
    how many went. A temporary that another live process is still writing is left alone."""
    removed = 0
    try:
        candidates = list(Path(folder).glob(pattern))
    except OSError:
        return 0
    for path in candidates:
        if not is_stale_temp(path):
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed += 1
        except OSError:
            pass  # gone already, or not ours to remove
    return removed


def _file_mode() -> int:
    """The mode ``open()`` gives a new file: 0666 less the umask (mkstemp's is always 0600)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


#: the temporary files :func:`atomic_write` leaves when killed mid-write.
TEMP_FILES = ".*.tmp"


def default_cache_root() -> Path:
    """``$PROBEKIT_CACHE``, else ``~/.cache/probekit`` (the feature and parsed-corpus caches)."""
    env = os.environ.get("PROBEKIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "probekit"


@contextlib.contextmanager
def exclusive_lock(path: Path):
    """An exclusive ``flock`` on ``path`` for the ``with`` block (released by the OS if the process
    dies): parallel workers that need the same expensive input (a model) make it once, the first
    under the lock, the others waiting and then reusing it."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``.

    The temporary file lives in the target's directory so the rename is atomic; on any error
    it is removed and ``path`` is left as it was. Temporary files that killed writers left in
    the folder are removed on the way. The file gets the mode the umask allows (as ``open()``
    would give it). An OS error (no permission, disk full) is a ProbekitError naming ``path``.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path.parent, TEMP_FILES)
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(f".{path.name}."), suffix=".tmp", dir=path.parent)
        os.close(fd)
        write(tmp)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno is not None:  # the file system's, not e.g. a URLError
            raise ProbekitError(f"cannot write {str(path)!r}: {exc.strerror or exc}. Check the folder's "
                                f"permissions and the free disk space.") from None
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
