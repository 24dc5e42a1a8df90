"""Sentences with dependency trees, and CoNLL-U reading and writing.

A :class:`Sentence` holds *syntactic words* (not surface tokens): for a CoNLL-U multiword
token such as ``3-4 don't`` the words ``do`` and ``n't`` are kept and the range line is
dropped; empty nodes (``8.1``) of enhanced dependencies are skipped, since they carry no
basic-tree head. Comments are kept as sentence metadata. Relation subtypes (``nsubj:pass``)
are kept verbatim; :mod:`probekit.roles` decides what they mean.

Reading is probekit's own, with one split rule: columns are separated by single tabs and
nothing else (the ``conllu`` package also splits on runs of spaces, which shifts columns of a
FEATS or FORM holding two spaces). Every value used is checked before it is kept, so a
malformed file fails with its path and line number, never with a traceback or a silently
shifted column. Writing goes through the ``conllu`` package's serializer.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from probekit.errors import ProbekitError
from probekit.io import atomic_write, default_cache_root
from probekit.parse_cache import cached_parse

if TYPE_CHECKING:   # the conllu package is only needed to write CoNLL-U (parsing is our own)
    import conllu

_WORD_ID = re.compile(r"^[1-9][0-9]*$")
_RANGE_ID = re.compile(r"^[1-9][0-9]*-[1-9][0-9]*$")
_EMPTY_ID = re.compile(r"^[0-9]+\.[1-9][0-9]*$")
_HEAD = re.compile(r"^(0|[1-9][0-9]*)$")


@dataclass(frozen=True)
class Sentence:
    """One sentence: words with their 1-based heads (0 = root) and dependency relations."""

    words: tuple[str, ...]
    heads: tuple[int, ...]
    deprels: tuple[str, ...]
    upos: tuple[str, ...] | None = None
    meta: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        n = len(self.words)
        if len(self.heads) != n or len(self.deprels) != n or (self.upos is not None and len(self.upos) != n):
            raise ValueError("words, heads, deprels (and upos) must have the same length")

    def __len__(self) -> int:
        return len(self.words)

    def tree_problems(self) -> list[str]:
        """Why this is not a valid dependency tree (empty list when it is one)."""
        problems = []
        n = len(self.words)
        if n == 0:
            return ["the sentence has no words"]
        heads = np.asarray(self.heads)
        if np.any((heads < 0) | (heads > n)):
            problems.append(f"a head is outside 0..{n}")
            return problems
        roots = int(np.sum(heads == 0))
        if roots != 1:
            problems.append(f"{roots} words have head 0 (a tree has exactly one root)")
        for start in range(1, n + 1):
            seen, node = set(), start
            while node != 0:
                if node in seen:
                    problems.append(f"word {start} is on a cycle")
                    return problems
                seen.add(node)
                node = self.heads[node - 1]
        return problems


class Corpus(Sequence[Sentence]):
    """An ordered list of sentences with flat, vectorisable views of its words."""

    def __init__(self, sentences: Iterable[Sentence], name: str = "corpus"):
        self.sentences: list[Sentence] = list(sentences)
        self.name = name
        lengths = np.fromiter((len(s) for s in self.sentences), dtype=np.int64, count=len(self.sentences))
        self.offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)

    def __len__(self) -> int:
        return len(self.sentences)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return Corpus(self.sentences[index], name=self.name)
        return self.sentences[index]

    def __repr__(self) -> str:
        return f"Corpus({self.name!r}, {len(self)} sentences, {self.n_tokens} words)"

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])

    def words(self) -> list[str]:
        """All words of the corpus in order, flattened across sentences."""
        return [w for s in self.sentences for w in s.words]

    def sentence_index(self) -> np.ndarray:
        """For each word, the index of its sentence."""
        return np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.offsets))

    def positions(self) -> np.ndarray:
        """For each word, its 0-based position inside its sentence."""
        return np.arange(self.n_tokens, dtype=np.int64) - np.repeat(self.offsets[:-1], np.diff(self.offsets))

    def subset(self, indices: Sequence[int], name: str | None = None) -> "Corpus":
        return Corpus([self.sentences[i] for i in indices], name=name or self.name)

    def fingerprint(self) -> str:
        """A content hash: two corpora with the same words and trees share it."""
        import hashlib

        digest = hashlib.sha256()
        for s in self.sentences:
            digest.update("\x1f".join(s.words).encode())
            digest.update(np.asarray(s.heads, dtype=np.int32).tobytes())
            digest.update("\x1f".join(s.deprels).encode())
            digest.update(b"\x1e")
        return digest.hexdigest()[:16]


# --------------------------------------------------------------------------------------
# CoNLL-U


_COLUMNS = ("ID", "FORM", "LEMMA", "UPOS", "XPOS", "FEATS", "HEAD", "DEPREL", "DEPS", "MISC")
_COLUMN_HELP = ("Fix the line (columns are ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC, "
                "separated by single tabs, '_' for an empty field).")


def _comment(line: str) -> tuple[str, str | None] | None:
    """``# key = value`` as (key, value); ``# newdoc`` / ``# newpar`` keep a missing value."""
    key, _, value = line[1:].partition("=")
    key, value = key.strip(), (value.strip() if _ else None)
    if key in ("newdoc", "newpar"):
        return key, value
    return (key, value) if key and value else None


class _Block:
    """The words of one sentence as they are read, each value checked before it is kept."""

    def __init__(self, start: int):
        self.start = start
        self.words: list[str] = []
        self.heads: list[int] = []
        self.deprels: list[str] = []
        self.upos: list[str] = []
        self.head_lines: list[int] = []
        self.meta: dict[str, str] = {}

    def sentence(self) -> Sentence:
        return Sentence(words=tuple(self.words), heads=tuple(self.heads), deprels=tuple(self.deprels),
                        upos=tuple(self.upos), meta=self.meta)


def _read_word(block: _Block, columns: list[str], where: str) -> None:
    """Check one ten-column word line and add its word to ``block``."""
    for name, value in zip(_COLUMNS, columns):
        if value == "":
            raise ProbekitError(f"{where}: empty {name} column (two tabs in a row, or a tab at the end). "
                                f"{_COLUMN_HELP}")
    token_id, head = columns[0], columns[6]
    if _RANGE_ID.match(token_id):
        first, last = (int(part) for part in token_id.split("-"))
        if first > last:
            raise ProbekitError(f"{where}: multiword range {token_id!r} runs backwards; write it as "
                                f"{last}-{first}, first word first.")
        return
    if _EMPTY_ID.match(token_id):
        return
    if not _WORD_ID.match(token_id):
        raise ProbekitError(f"{where}: malformed CoNLL-U ID {token_id!r}: expected 1, 2, ... "
                            f"(or a range 3-4, or an empty node 8.1).")
    if int(token_id) != len(block.words) + 1:
        raise ProbekitError(
            f"{where}: word ID {token_id} out of order: the sentence starting at line {block.start} "
            f"should have ID {len(block.words) + 1} here. Is a blank line missing between sentences?"
        )
    if not _HEAD.match(head):
        raise ProbekitError(f"{where}: HEAD must be a word number (0 for the root, digits 0-9 without "
                            f"leading zeros), got {head!r}.")
    for name, value in (("UPOS", columns[3]), ("DEPREL", columns[7])):
        if not value.isprintable() or any(c.isspace() for c in value):
            raise ProbekitError(f"{where}: {name} {value!r} holds a space or a control character; "
                                f"{name} is one word ('_' when unknown).")
    block.words.append(columns[1])
    block.upos.append(columns[3])
    block.heads.append(int(head))
    block.deprels.append(columns[7])


def parse_conllu(text: str, source: str = "<string>") -> list[Sentence]:
    """Parse CoNLL-U text into sentences (words only; ranges and empty nodes dropped).

    One split rule: a line is split on tabs, nothing else (a FORM may hold spaces), and it
    must give ten columns. Every value probekit uses (ID, FORM, UPOS, HEAD, DEPREL) is
    checked before it is kept; a bad one fails with the path and line number.
    """
    sentences: list[Sentence] = []
    block = _Block(1)

    def close(next_start: int) -> _Block:
        if block.words:
            sentence = block.sentence()
            problems = sentence.tree_problems()
            if problems:
                sid = sentence.meta.get("sent_id") or f"#{len(sentences) + 1}"
                raise ProbekitError(f"{source}: sentence {sid} (line {block.start}) is not a valid tree: "
                                    f"{problems[0]}.")
            sentences.append(sentence)
        return _Block(next_start)

    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            block = close(number + 1)
        elif line.startswith("#"):
            pair = _comment(line.strip())
            if pair is not None:
                block.meta[pair[0]] = pair[1]
        else:
            columns = line.split("\t")
            if len(columns) != 10:
                raise ProbekitError(f"{source}:{number}: malformed CoNLL-U line: expected 10 tab-separated "
                                    f"columns, found {len(columns)}. {_COLUMN_HELP}")
            _read_word(block, columns, f"{source}:{number}")
    close(0)
    return sentences


@functools.lru_cache(maxsize=1)
def _reader_digest() -> str:
    """sha256 of this module's source: part of the parse cache's key (see :mod:`probekit.parse_cache`)."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def read_conllu(path: str | os.PathLike, name: str | None = None, cache: bool = True) -> Corpus:
    """Read a CoNLL-U file into a :class:`Corpus`.

    With ``cache`` the parse is stored in and served from :mod:`probekit.parse_cache`, keyed
    by the file's content and this reader's source (an edited file or reader is parsed again).
    """
    from probekit.io import read_text

    path = Path(path)
    text = read_text(path, "CoNLL-U file")
    if cache:
        sentences = cached_parse(text.encode("utf-8"), lambda: parse_conllu(text, str(path)), Sentence,
                                 default_cache_root(), atomic_write, parser=_reader_digest())
    else:
        sentences = parse_conllu(text, str(path))
    if not sentences:
        raise ProbekitError(f"{path}: no sentences found. Is it a CoNLL-U file?")
    return Corpus(sentences, name=name or path.stem)


def _tokenlist(sentence: Sentence, index: int) -> conllu.TokenList:
    import conllu

    tokens = []
    for i, word in enumerate(sentence.words):
        tokens.append({
            "id": i + 1, "form": word, "lemma": "_",
            "upos": sentence.upos[i] if sentence.upos else "_", "xpos": "_", "feats": None,
            "head": sentence.heads[i], "deprel": sentence.deprels[i], "deps": None, "misc": None,
        })
    # An existing "# text" (the original spacing, e.g. from a parser) wins over joined words.
    metadata = {"sent_id": str(index + 1), "text": " ".join(sentence.words), **sentence.meta}
    return conllu.TokenList(tokens, metadata=metadata)


def format_conllu(sentences: Iterable[Sentence]) -> str:
    return "".join(_tokenlist(s, i).serialize() for i, s in enumerate(sentences))


def write_conllu(sentences: Iterable[Sentence], path: str | os.PathLike) -> None:
    """Write sentences as CoNLL-U, atomically (a temporary file renamed into place)."""
    from probekit.io import atomic_write_text

    atomic_write_text(Path(path), format_conllu(sentences))

