"""Where treebank files come from: a given path, ``PROBEKIT_DATA``, the cache, or the web.

UD English EWT r2.16 is looked up in this order, per file:

1. the folder the user names (task option ``data_dir``);
2. the folder in the ``PROBEKIT_DATA`` environment variable (or its ``ud-english-ewt/``);
3. the probekit cache, ``$PROBEKIT_CACHE/data/ud-english-ewt`` (default ``~/.cache/probekit``);
4. a download of the release file from the UD_English-EWT repository into the cache, with a
   progress bar and a SHA-256 check.

With no network, step 4 fails with a message that says how to point probekit at a local copy.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from probekit.cache import default_cache_root
from probekit.errors import ProbekitError
from probekit.io import atomic_write


@dataclass(frozen=True)
class RemoteFile:
    name: str
    url: str
    sha256: str


_EWT_BASE = "https://raw.githubusercontent.com/UniversalDependencies/UD_English-EWT/r2.16/"
UD_ENGLISH_EWT = {
    "train": RemoteFile("en_ewt-ud-train.conllu", _EWT_BASE + "en_ewt-ud-train.conllu",
                        "3fb78e2b55482c8ee00caa653af436c88c9e5bc9a73ce26e4ae3ddc79d2b7e7b"),
    "dev": RemoteFile("en_ewt-ud-dev.conllu", _EWT_BASE + "en_ewt-ud-dev.conllu",
                      "531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6"),
    "test": RemoteFile("en_ewt-ud-test.conllu", _EWT_BASE + "en_ewt-ud-test.conllu",
                       "e266e515a0a7547657ed3d90d9ba46487d6bd251f27ad4269d4e8a427c8555cd"),
}
EWT_FOLDER = "ud-english-ewt"


def _candidates(data_dir: str | None) -> list[Path]:
    folders = []
    if data_dir:
        folders.append(Path(data_dir))
    if os.environ.get("PROBEKIT_DATA"):
        env = Path(os.environ["PROBEKIT_DATA"])
        folders += [env, env / EWT_FOLDER]
    folders.append(default_cache_root() / "data" / EWT_FOLDER)
    return folders


def ud_english_ewt(split: str, data_dir: str | None = None, download: bool = True) -> Path:
    """The path of one EWT split (``train``, ``dev`` or ``test``), downloading it if needed."""
    if split not in UD_ENGLISH_EWT:
        raise ProbekitError(f"unknown UD English EWT split {split!r}: use train, dev or test.")
    remote = UD_ENGLISH_EWT[split]
    if data_dir and not Path(data_dir).is_dir():
        raise ProbekitError(f"data_dir {data_dir!r} is not a folder. Point it at the folder holding {remote.name}.")
    for folder in _candidates(data_dir):
        if (folder / remote.name).is_file():
            return folder / remote.name
    target = default_cache_root() / "data" / EWT_FOLDER / remote.name
    if not download:
        raise ProbekitError(_missing_message(remote))
    _download(remote, target)
    return target


def _missing_message(remote: RemoteFile, reason: str = "") -> str:
    return (f"UD English EWT file {remote.name} is not available locally{reason}. Download it from "
            f"{remote.url} on a machine with network, then either set PROBEKIT_DATA to the folder "
            f"holding it, pass -O data_dir=FOLDER, or put it in {default_cache_root() / 'data' / EWT_FOLDER}.")


def _download(remote: RemoteFile, target: Path) -> None:
    from tqdm import tqdm

    digest = hashlib.sha256()

    def write(tmp: str) -> None:
        with urllib.request.urlopen(remote.url, timeout=30) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {remote.name}",
                      disable=None) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        if digest.hexdigest() != remote.sha256:
            raise ProbekitError(f"{remote.url}: checksum mismatch (got sha256 {digest.hexdigest()}, expected "
                                f"{remote.sha256}); the file was not saved. Retry, or use a local copy "
                                f"of UD English EWT r2.16 via PROBEKIT_DATA.")

    try:
        atomic_write(target, write)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise ProbekitError(_missing_message(remote, f" and downloading it failed ({exc})")) from None
