"""Sentences with dependency trees, and CoNLL-U reading and writing.

A :class:`Sentence` holds *syntactic words* (not surface tokens): for a CoNLL-U multiword
token such as ``3-4 don't`` the words ``do`` and ``n't`` are kept and the range line is
dropped; empty nodes (``8.1``) of enhanced dependencies are skipped, since they carry no
basic-tree head. Comments are kept as sentence metadata. Relation subtypes (``nsubj:pass``)
are kept verbatim; :mod:`probekit.roles` decides what they mean.

Parsing goes through the ``conllu`` package. Before handing a file to it, every line is
checked for the ten tab-separated columns and integer ``ID``/``HEAD`` fields, so that a
malformed file fails with its path and line number instead of a parser traceback.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import conllu
import numpy as np

from probekit.errors import ProbekitError
from probekit.io import atomic_write, default_cache_root
from probekit.parse_cache import cached_parse

_WORD_ID = re.compile(r"^[1-9][0-9]*$")
_RANGE_ID = re.compile(r"^[1-9][0-9]*-[1-9][0-9]*$")
_EMPTY_ID = re.compile(r"^[0-9]+\.[1-9][0-9]*$")


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


def _check_lines(text: str, path: str) -> None:
    """Fail with file and line number on lines that the CoNLL-U format does not allow."""
    words_in_block = 0
    block_start = 1
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            words_in_block = 0
            block_start = number + 1
            continue
        if line.startswith("#"):
            continue
        columns = line.split("\t")
        if len(columns) != 10:
            raise ProbekitError(
                f"{path}:{number}: malformed CoNLL-U line: expected 10 tab-separated columns, "
                f"found {len(columns)}. Fix the line (columns are ID FORM LEMMA UPOS XPOS FEATS "
                f"HEAD DEPREL DEPS MISC, '_' for an empty field)."
            )
        token_id, head = columns[0], columns[6]
        if _RANGE_ID.match(token_id) or _EMPTY_ID.match(token_id):
            continue
        if not _WORD_ID.match(token_id):
            raise ProbekitError(f"{path}:{number}: malformed CoNLL-U ID {token_id!r}: expected 1, 2, ... "
                                f"(or a range 3-4, or an empty node 8.1).")
        words_in_block += 1
        if int(token_id) != words_in_block:
            raise ProbekitError(
                f"{path}:{number}: word ID {token_id} out of order: the sentence starting at line "
                f"{block_start} should have ID {words_in_block} here. Is a blank line missing between sentences?"
            )
        if not head.isdigit():
            raise ProbekitError(f"{path}:{number}: HEAD must be a word number (0 for the root), got {head!r}.")


def _raw_field(line: list[str], index: int) -> str:
    return line[index]


# probekit reads FORM, UPOS, HEAD and DEPREL; leaving the other columns as plain strings
# halves conllu's parse time on a treebank the size of EWT.
_UNPARSED_FIELDS = {name: _raw_field for name in ("lemma", "xpos", "feats", "deps", "misc")}


def _sentence_from_tokenlist(tokens: conllu.TokenList) -> Sentence:
    words = [t for t in tokens if isinstance(t["id"], int)]
    return Sentence(
        words=tuple(t["form"] for t in words),
        heads=tuple(int(t["head"]) for t in words),
        deprels=tuple(t["deprel"] or "_" for t in words),
        upos=tuple(t["upos"] or "_" for t in words),
        meta=dict(tokens.metadata or {}),
    )


def parse_conllu(text: str, source: str = "<string>") -> list[Sentence]:
    """Parse CoNLL-U text into sentences (words only; ranges and empty nodes dropped)."""
    _check_lines(text, source)
    sentences = []
    for tokens in conllu.parse(text, field_parsers=_UNPARSED_FIELDS):
        if not any(isinstance(t["id"], int) for t in tokens):
            continue
        sentence = _sentence_from_tokenlist(tokens)
        problems = sentence.tree_problems()
        if problems:
            sid = sentence.meta.get("sent_id", f"#{len(sentences) + 1}")
            raise ProbekitError(f"{source}: sentence {sid} is not a valid tree: {problems[0]}.")
        sentences.append(sentence)
    return sentences


def read_conllu(path: str | os.PathLike, name: str | None = None, cache: bool = True) -> Corpus:
    """Read a CoNLL-U file into a :class:`Corpus`.

    With ``cache`` the parse is stored in and served from :mod:`probekit.parse_cache`, keyed
    by the file's content (an edited file is parsed again).
    """
    path = Path(path)
    if not path.is_file():
        raise ProbekitError(f"CoNLL-U file {str(path)!r} does not exist. Check the path.")
    data = path.read_bytes()

    def parse() -> list[Sentence]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ProbekitError(f"{path}:{line}: not valid UTF-8 (CoNLL-U files must be UTF-8). "
                                f"Re-encode the file, e.g. with `iconv -t utf-8`.") from None
        return parse_conllu(text, str(path))

    if cache:
        sentences = cached_parse(data, parse, Sentence, default_cache_root(), atomic_write)
    else:
        sentences = parse()
    if not sentences:
        raise ProbekitError(f"{path}: no sentences found. Is it a CoNLL-U file?")
    return Corpus(sentences, name=name or path.stem)


def _tokenlist(sentence: Sentence, index: int) -> conllu.TokenList:
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

