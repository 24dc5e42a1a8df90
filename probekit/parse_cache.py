"""A cache of parsed CoNLL-U files, keyed by the file's content (and of generated corpora).

Parsing EWT's training file with the ``conllu`` package takes about 3 s, in every UD run;
loading the parsed sentences from this cache takes a fraction of that
(benchmarks/parse_cache.py). The key is the sha256 of the file's bytes, of the parser's own
source (the caller passes a digest of it, so any change to the reader is a new key without
anyone remembering to bump a version) and of :data:`PARSE_FORMAT` (the stored layout), so an
edited file or an edited reader is a different key and is parsed afresh: a stale parse is never
served. The file name plays no
part (a copy of EWT elsewhere hits the same entry).

Sentences generated from a grammar (:func:`probekit.grammar.generate_corpus`, about 0.2 ms
per sentence) are stored the same way under ``<cache>/generated/``: there the "content" is the
grammar's rules, the sizes, seed and depth constraints, and the "parser" is the generator's
source and numpy's version (whose random streams it reads).

Layout: ``<cache>/conllu/<key>.npz`` (``<cache>`` = ``$PROBEKIT_CACHE``, default
``~/.cache/probekit``), column arrays rather than one object per sentence (loading 12,500
sentence objects from JSON or pickle cost more than the target): all words as one
``\x1f``-joined UTF-8 string, heads, deprel and UPOS codes with their vocabularies, sentence
offsets and the sentences' metadata as JSON. Loaded with ``allow_pickle=False``: a cache file
is data, never code. Written to a temporary file and renamed into place (a reader sees a whole
entry or none); an entry that fails to load (truncated, edited) is a miss and is rewritten.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from probekit.errors import ProbekitError


PARSE_FORMAT = 1
_SEP = "\x1f"


#: the cache's subfolders: parsed CoNLL-U files, generated corpora
FOLDERS = ("conllu", "generated")


def entry_path(data: bytes, root: Path, parser: str = "", folder: str = "conllu") -> Path:
    """Where (under the cache folder ``root``, in its subfolder ``folder``) the parse of a file
    with content ``data`` by the reader whose source digest is ``parser`` is stored."""
    if folder not in FOLDERS:
        raise ValueError(f"unknown sentence cache folder {folder!r}")
    digest = hashlib.sha256(f"probekit-{folder}-{PARSE_FORMAT}\n{parser}\n".encode())
    digest.update(data)
    return Path(root) / folder / f"{digest.hexdigest()}.npz"


def _codes(values: list[str]) -> tuple[np.ndarray, str]:
    vocab, codes = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
    return codes.astype(np.int32), _SEP.join(vocab.tolist())


def _columns(sentences: Sequence[Any]) -> dict[str, np.ndarray]:
    words = [w for s in sentences for w in s.words]
    deprel_codes, deprel_vocab = _codes([r for s in sentences for r in s.deprels])
    upos_codes, upos_vocab = _codes([u for s in sentences for u in (s.upos or ("_",) * len(s))])
    return {
        "words": np.frombuffer(_SEP.join(words).encode("utf-8"), dtype=np.uint8),
        "offsets": np.cumsum([0] + [len(s) for s in sentences]).astype(np.int64),
        "heads": np.asarray([h for s in sentences for h in s.heads], dtype=np.int32),
        "deprels": deprel_codes, "deprel_vocab": np.frombuffer(deprel_vocab.encode("utf-8"), dtype=np.uint8),
        "upos": upos_codes, "upos_vocab": np.frombuffer(upos_vocab.encode("utf-8"), dtype=np.uint8),
        "has_upos": np.asarray([s.upos is not None for s in sentences], dtype=bool),
        "meta": np.frombuffer(json.dumps([s.meta for s in sentences], ensure_ascii=False).encode("utf-8"),
                              dtype=np.uint8),
    }


def _text(array: np.ndarray) -> str:
    return array.tobytes().decode("utf-8")


def _sentences(c: dict[str, np.ndarray], make: Callable[..., Any]) -> list:
    offsets = c["offsets"].tolist()
    n_words = offsets[-1]
    # whole columns as tuples, so that each sentence's fields are slices (no list per field)
    words = tuple(_text(c["words"]).split(_SEP)) if n_words else ()
    heads = tuple(c["heads"].tolist())
    deprels = tuple(np.asarray(_text(c["deprel_vocab"]).split(_SEP), dtype=object)[c["deprels"]].tolist())
    upos = tuple(np.asarray(_text(c["upos_vocab"]).split(_SEP), dtype=object)[c["upos"]].tolist())
    metas = json.loads(_text(c["meta"]))
    if len(words) != n_words or len(heads) != n_words or len(metas) != len(offsets) - 1:
        raise ValueError("inconsistent cache entry")
    return [make(words[a:b], heads[a:b], deprels[a:b], upos[a:b] if has else None, meta)
            for a, b, has, meta in zip(offsets[:-1], offsets[1:], c["has_upos"].tolist(), metas)]


def _load(path: Path, make: Callable[..., Any]) -> list | None:
    try:
        with np.load(path, allow_pickle=False) as entry:
            return _sentences({name: entry[name] for name in entry.files}, make)
    except (OSError, ValueError, TypeError, KeyError, IndexError, zipfile.BadZipFile, UnicodeDecodeError):
        return None


def cached_parse(data: bytes, parse: Callable[[], list], make: Callable[..., Any], root: Path,
                 atomic_write: Callable[[Path, Callable[[str], None]], None], parser: str = "",
                 folder: str = "conllu") -> list:
    """The sentences of a file with content ``data``: from the cache, else ``parse()`` and store.

    Sentences are objects with ``words, heads, deprels, upos, meta``; a cached one is rebuilt
    as ``make(words, heads, deprels, upos, meta)``. The caller (``probekit.corpus``) passes
    the sentence class, the cache folder and ``probekit.io.atomic_write``: this module sits
    below both on the architecture's floors and imports neither.

    Errors of ``parse`` propagate and store nothing. A cache folder that cannot be written
    (read-only home) only costs the speed-up. ``folder``: one of :data:`FOLDERS`.
    """
    path = entry_path(data, root, parser, folder)
    if path.is_file():
        sentences = _load(path, make)
        if sentences is not None:
            return sentences
    sentences = parse()
    columns = _columns(sentences)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **columns)

    try:
        atomic_write(path, write)
    except (OSError, ProbekitError):   # atomic_write names the file in a ProbekitError
        pass
    return sentences
