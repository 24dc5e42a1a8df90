"""An on-disk, content-addressed cache of encoder features.

Expensive encoders (a transformer over a treebank) give the same features for the same
inputs, so :func:`cached_encode` stores them once and serves them again. The cache knows
nothing about any encoder: an encoder that wants caching has a method
``cache_key_parts(corpus) -> dict | None`` returning everything its output depends on
(its class and parameters, the identity of its weights and tokenizer, the corpus
fingerprint, ...); ``None`` means "not worth caching". The key is the sha256 of a canonical
JSON of those parts, so any change in any part is a different entry (a miss), never a
stale hit.

Encoders whose features are cheap once a process has started (``cache_scope =
"single_run"``: EMA, whose traces take milliseconds after about 1 s of loading numba's compiled
kernel) are cached only by a cache made with ``single_run=True``, which ``probekit run`` makes
for one job: there a hit saves that start-up (a repeated run, or the same features under
another probe). Sweeps and ``probekit reproduce`` pay the start-up once per process, so for them
such entries would only fill the disk (a full reproduction's EMA features are about 6 GiB).

Layout (``PROBEKIT_CACHE``, default ``~/.cache/probekit``)::

    <cache>/features/<key>/X.npy            float32 (n_words, dim); float16 when the features ask
                                           for it (meta["storage_dtype"]) and lose nothing
                          offsets.npy      int64 sentence offsets
                          meta.json        blocks, meta, shapes and file sizes
                          description.json what the entry is (for `probekit cache ls`)

An entry is written into a temporary directory ``<cache>/features/.tmp-*`` and moved into
place with one ``os.replace``, so a reader sees a whole entry or none: an interrupted run
leaves at most a temporary directory (named with its writer's process id), which readers
ignore, ``probekit cache ls`` shows, the next write removes once its writer is gone, and
``clear`` removes. An entry
that fails to load (truncated or edited files) is treated as a miss and removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from probekit.contracts import cache_key_parts, cache_scope
from probekit.errors import ProbekitError
from probekit.features import Features
from probekit.io import (  # noqa: F401  (default_cache_root: re-exported, callers import it from here)
    default_cache_root, is_stale_temp, json_default, remove_stale_temps, temp_prefix)

#: Version of the on-disk entry layout; part of every key, so a layout change is a miss.
CACHE_FORMAT = 2  # 2: entries store Features.layer_blocks
_TMP_PREFIX = ".tmp-"
_ENTRY_FILES = ("X.npy", "offsets.npy", "meta.json", "description.json")
_STORED_DTYPES = ("float32", "float16")


#: An option may name a folder inside the cache as ``cache:<path relative to the cache root>``
#: (the local GPT-2, trained language models): a record then names that folder the same way on
#: every machine, whatever its cache root, so its id does not depend on who made it.
CACHE_REF_PREFIX = "cache:"


def cache_ref(path: str | Path) -> str:
    """``<cache root>/models/x`` -> ``'cache:models/x'`` (the path must lie inside the cache root)."""
    relative = Path(path).resolve().relative_to(default_cache_root().resolve())
    return CACHE_REF_PREFIX + relative.as_posix()


def resolve_cache_ref(value: str) -> str:
    """``'cache:models/x'`` -> the folder under this machine's cache root; anything else unchanged."""
    if isinstance(value, str) and value.startswith(CACHE_REF_PREFIX):
        return str(default_cache_root() / value[len(CACHE_REF_PREFIX):])
    return value


def human_size(n_bytes: int | float) -> str:
    """``1536`` -> ``'1.5 KiB'`` (binary units)."""
    n = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def canonical_json(parts: Any) -> str:
    """The one JSON text of ``parts`` (sorted keys, no whitespace, tuples as lists)."""
    try:
        return json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=True, default=json_default)
    except TypeError as exc:
        raise ProbekitError(f"cannot build a feature cache key: {exc}") from None


def _is_key(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _stored_matrix(features: Features) -> np.ndarray:
    """X as it goes to disk: float16 when the features say ``meta["storage_dtype"] == "float16"``
    and every value is a float16 number (so a hit returns exactly what the miss returned), else float32.

    Half the bytes of an ``all_layers`` entry (GPT-2 small: 13 x 768 values per word); the
    encoder that asks for it rounds its features to float16 itself, so nothing is lost here.
    """
    X = np.ascontiguousarray(features.X, dtype=np.float32)
    if features.meta.get("storage_dtype") == "float16":
        half = X.astype(np.float16)
        if np.array_equal(half.astype(np.float32), X, equal_nan=True):
            return half
    return X


class FeatureCache:
    """Features on disk under ``<root>/features/<key>/``; ``root`` defaults to ``default_cache_root()``.

    ``single_run``: also store and serve the features of encoders with ``cache_scope =
    "single_run"`` (see the module docstring); ``probekit run`` sets it for one job.
    """

    def __init__(self, root: str | Path | None = None, single_run: bool = False):
        self.root = Path(root).expanduser() if root is not None else default_cache_root()
        self.features_dir = self.root / "features"
        self.single_run = bool(single_run)
        self.hits = 0    # counted by cached_encode, reported in result records
        self.misses = 0

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.root)!r})"

    # -- keys -----------------------------------------------------------------------------
    def key(self, parts: dict) -> str:
        """sha256 (hex) of the canonical JSON of ``parts`` (plus the cache format version)."""
        text = canonical_json({"cache_format": CACHE_FORMAT, "parts": parts})
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def path(self, key: str) -> Path:
        if not _is_key(key):
            raise ProbekitError(f"{key!r} is not a feature cache key (64 lowercase hex digits).")
        return self.features_dir / key

    # -- read -----------------------------------------------------------------------------
    def get(self, key: str) -> Features | None:
        """The cached features of ``key``, or None (a corrupt entry is removed and is a miss)."""
        folder = self.path(key)
        if not folder.is_dir():
            return None
        try:
            return self._load(folder)
        except Exception as exc:  # truncated / edited / half-deleted entry: a miss
            warnings.warn(f"feature cache entry {folder} is unreadable ({type(exc).__name__}: {exc}); "
                          f"removing it and recomputing.", RuntimeWarning, stacklevel=2)
            self._remove(folder)
            return None

    @staticmethod
    def _load(folder: Path) -> Features:
        info = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        for name, size in info["file_sizes"].items():
            actual = (folder / name).stat().st_size
            if actual != size:
                raise ValueError(f"{name} has {actual} bytes, expected {size}")
        X = np.load(folder / "X.npy", allow_pickle=False)
        offsets = np.load(folder / "offsets.npy", allow_pickle=False)
        stored = info.get("dtype", "float32")
        if stored not in _STORED_DTYPES or X.dtype != np.dtype(stored) or list(X.shape) != info["shape"]:
            raise ValueError(f"X is {X.dtype} {X.shape}, expected {stored} {tuple(info['shape'])}")
        if offsets.ndim != 1 or len(offsets) != info["n_offsets"]:
            raise ValueError("offsets have the wrong length")
        blocks = {name: (int(a), int(b)) for name, (a, b) in info["blocks"].items()}
        layer_blocks = {int(layer): name for layer, name in info["layer_blocks"].items()}
        # Features makes X float32 (exact for float16 entries: their values are float16 numbers)
        return Features(X=X, offsets=offsets, blocks=blocks, meta=info["meta"], layer_blocks=layer_blocks)

    # -- write ----------------------------------------------------------------------------
    def put(self, key: str, features: Features, description: dict) -> None:
        """Store ``features`` under ``key`` atomically (a temp dir renamed into place).

        If another process stored the same key first, its entry is kept (same key, same
        content). On any error nothing is left behind and the error propagates.
        """
        final = self.path(key)
        self.features_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.features_dir, f"{_TMP_PREFIX}*")
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(f"{_TMP_PREFIX}{key[:16]}-"), dir=self.features_dir))
        try:
            X = _stored_matrix(features)
            offsets = np.asarray(features.offsets, dtype=np.int64)
            np.save(tmp / "X.npy", X, allow_pickle=False)
            np.save(tmp / "offsets.npy", offsets, allow_pickle=False)
            created = datetime.now(timezone.utc).isoformat(timespec="seconds")
            desc = {"key": key, "created": created, **description}
            (tmp / "description.json").write_text(canonical_json(desc) + "\n", encoding="utf-8")
            sizes = {name: (tmp / name).stat().st_size for name in ("X.npy", "offsets.npy", "description.json")}
            info = {
                "cache_format": CACHE_FORMAT,
                "shape": list(X.shape),
                "dtype": str(X.dtype),
                "n_offsets": int(len(offsets)),
                "blocks": {name: [int(a), int(b)] for name, (a, b) in features.blocks.items()},
                "meta": json.loads(canonical_json(features.meta)),
                "layer_blocks": {str(layer): name for layer, name in features.layer_blocks.items()},
                "file_sizes": sizes,
            }
            (tmp / "meta.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
            for name in _ENTRY_FILES:
                _fsync_file(tmp / name)
            try:
                os.replace(tmp, final)
            except OSError:
                if final.is_dir():  # a concurrent writer won the race with the same content
                    self._remove(tmp)
                    return
                raise
        except BaseException:
            self._remove(tmp)
            raise

    # -- housekeeping ---------------------------------------------------------------------
    def entries(self) -> list[dict]:
        """Complete entries, newest first: ``key``, ``description``, ``size`` (bytes), ``created``."""
        if not self.features_dir.is_dir():
            return []
        found = []
        for folder in self.features_dir.iterdir():
            if not (folder.is_dir() and _is_key(folder.name)):
                continue  # temp dirs and strays
            try:
                description = json.loads((folder / "description.json").read_text(encoding="utf-8"))
                size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
            except (OSError, ValueError):
                continue  # being removed, or corrupt: `get` deals with it
            found.append({
                "key": folder.name,
                "description": description,
                "size": size,
                "created": description.get("created", ""),
            })
        found.sort(key=lambda e: e["created"], reverse=True)
        return found

    def temporaries(self) -> list[dict]:
        """Unfinished writes: ``name``, ``size`` (bytes) and ``stale`` (its writer is gone)."""
        if not self.features_dir.is_dir():
            return []
        found = []
        for folder in sorted(self.features_dir.glob(f"{_TMP_PREFIX}*")):
            try:
                size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
            except OSError:
                continue  # being removed
            found.append({"name": folder.name, "size": size, "stale": is_stale_temp(folder)})
        return found

    def clear(self) -> int:
        """Remove every entry (and leftover temp dirs); return the number of entries removed."""
        if not self.features_dir.is_dir():
            return 0
        removed = 0
        for folder in self.features_dir.iterdir():
            if _is_key(folder.name):
                if self._remove(folder):
                    removed += 1
            elif folder.name.startswith(_TMP_PREFIX):
                self._remove(folder)
        return removed

    @staticmethod
    def _remove(folder: Path) -> bool:
        try:
            shutil.rmtree(folder)
            return True
        except FileNotFoundError:
            return False
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)
            return not folder.exists()


def cached_encode(encoder: Any, corpus: Any, cache: FeatureCache | None) -> Features:
    """``encoder.encode(corpus)``, served from ``cache`` when an identical run stored it.

    Uses ``encoder.cache_key_parts(corpus)`` (None, or no such method: no caching); an encoder
    with ``cache_scope = "single_run"`` only with a cache made with ``single_run=True``. A cache
    that cannot be written (disk full, read-only) gives a warning, never a failed run.
    """
    if cache is None or (cache_scope(encoder) == "single_run" and not cache.single_run):
        return encoder.encode(corpus)
    parts = cache_key_parts(encoder, corpus)
    if parts is None:
        return encoder.encode(corpus)
    key = cache.key(parts)
    hit = cache.get(key)
    if hit is not None:
        cache.hits += 1
        return hit
    cache.misses += 1
    features = encoder.encode(corpus)
    description = {
        "encoder": getattr(encoder, "name", None) or type(encoder).__name__,
        "corpus": getattr(corpus, "name", None),
        "sentences": len(corpus),
        "words": int(features.X.shape[0]),
        "dim": int(features.X.shape[1]),
        "blocks": list(features.blocks),
        "parts": parts,
    }
    try:
        cache.put(key, features, description)
    except (OSError, TypeError, ValueError, ProbekitError) as exc:
        warnings.warn(f"could not store features in the cache {cache.root}: {exc}", RuntimeWarning, stacklevel=2)
    return features


# -- plain-data helpers for the CLI (`probekit cache ls` / `probekit cache clear`) -------------


def _summary(description: dict) -> str:
    parts = description.get("parts") or {}
    bits = [str(description.get("encoder", "?"))]
    model = parts.get("model") if isinstance(parts, dict) else None
    if isinstance(model, dict) and model.get("name"):
        bits.append(str(model["name"]))
    for name in ("layer", "pooling"):
        if isinstance(parts, dict) and name in parts and parts[name] is not None:
            bits.append(f"{name}={parts[name]}")
    if description.get("corpus"):
        bits.append(f"corpus={description['corpus']}")
    if description.get("words") is not None:
        bits.append(f"{description['words']} words x {description.get('dim')}")
    return " ".join(bits)


def cache_info(root: str | Path | None = None) -> dict:
    """Everything ``probekit cache ls`` shows, as plain data.

    ``{"root", "features_dir", "n_entries", "total_bytes", "total_size", "entries": [...],
    "temporaries": [...], "temporary_size"}``
    where each entry is ``{"key", "short_key", "size_bytes", "size", "created", "summary",
    "description"}`` (``size`` human readable, e.g. ``"12.3 MiB"``), newest first.
    """
    cache = FeatureCache(root)
    entries = []
    for entry in cache.entries():
        entries.append({
            "key": entry["key"],
            "short_key": entry["key"][:12],
            "size_bytes": entry["size"],
            "size": human_size(entry["size"]),
            "created": entry["created"],
            "summary": _summary(entry["description"]),
            "description": entry["description"],
        })
    total = sum(e["size_bytes"] for e in entries)
    temporaries = cache.temporaries()
    return {
        "root": str(cache.root),
        "features_dir": str(cache.features_dir),
        "n_entries": len(entries),
        "total_bytes": total,
        "total_size": human_size(total),
        "entries": entries,
        "temporaries": temporaries,
        "temporary_size": human_size(sum(t["size"] for t in temporaries)),
    }


def clear_cache(root: str | Path | None = None) -> dict:
    """``probekit cache clear``: remove all feature entries; ``{"root", "removed", "freed_bytes", "freed"}``."""
    cache = FeatureCache(root)
    freed = sum(e["size"] for e in cache.entries())
    removed = cache.clear()
    return {"root": str(cache.root), "removed": removed, "freed_bytes": freed, "freed": human_size(freed)}


__all__ = ["CACHE_REF_PREFIX", "FeatureCache", "cache_ref", "cached_encode", "cache_info", "clear_cache",
           "default_cache_root", "human_size", "resolve_cache_ref",
           "canonical_json", "CACHE_FORMAT"]
