"""Dependency relation -> grammatical role, shared by synthetic grammars and UD treebanks.

Two label schemes are read off the same trees:

* ``syntactic``: SUBJ, OBJ, IOBJ, OBL, PRED, MOD, FUNC, OTHER.
* ``thematic``: AGENT, PATIENT, RECIPIENT, OBL, PRED, MOD, FUNC, OTHER, where a passive
  subject (``nsubj:pass``) is a PATIENT and a by-phrase (``obl:agent``) an AGENT.

A conjunct (``conj``) takes the role of the word it is conjoined to ("the dog and the *cat*
chased ..." makes *cat* a subject), following the chain to the first conjunct.

The **structure-dependent** flag marks argument tokens whose role cannot be read off the
surface position of the word relative to its governor. See :func:`structure_dependent` and
``docs/roles.md`` for the exact definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from typing import TYPE_CHECKING, Literal

import numpy as np

from probekit.corpus import Corpus, Sentence
from probekit.errors import ProbekitError

if TYPE_CHECKING:
    import pandas as pd

Scheme = Literal["syntactic", "thematic"]

# Base relations (the part before ":") per role; subtypes listed where they change the role.
_SYNTACTIC_BASE = {
    "nsubj": "SUBJ", "csubj": "SUBJ", "expl": "SUBJ",
    "obj": "OBJ",
    "iobj": "IOBJ",
    "obl": "OBL",
    "root": "PRED", "ccomp": "PRED", "xcomp": "PRED", "advcl": "PRED", "acl": "PRED", "parataxis": "PRED",
    "amod": "MOD", "advmod": "MOD", "nmod": "MOD", "nummod": "MOD", "appos": "MOD",
    "compound": "MOD", "flat": "MOD", "fixed": "MOD",
    "det": "FUNC", "case": "FUNC", "mark": "FUNC", "aux": "FUNC", "cop": "FUNC", "cc": "FUNC",
    "punct": "FUNC", "clf": "FUNC",
}
_THEMATIC_OVERRIDES_BASE = {"nsubj": "AGENT", "csubj": "AGENT", "expl": "OTHER", "obj": "PATIENT", "iobj": "RECIPIENT"}
_THEMATIC_OVERRIDES_FULL = {"nsubj:pass": "PATIENT", "csubj:pass": "PATIENT", "obl:agent": "AGENT"}

SCHEMES: dict[str, tuple[str, ...]] = {
    "syntactic": ("SUBJ", "OBJ", "IOBJ", "OBL", "PRED", "MOD", "FUNC", "OTHER"),
    "thematic": ("AGENT", "PATIENT", "RECIPIENT", "OBL", "PRED", "MOD", "FUNC", "OTHER"),
}
ARGUMENT_ROLES = {
    "syntactic": frozenset({"SUBJ", "OBJ", "IOBJ", "OBL"}),
    "thematic": frozenset({"AGENT", "PATIENT", "RECIPIENT", "OBL"}),
}
#: Relations that make their dependent the head of a new clause.
CLAUSAL_RELATIONS = frozenset({"root", "acl", "advcl", "ccomp", "xcomp", "csubj", "parataxis"})
_PASSIVE_VOICE = frozenset({"nsubj:pass", "csubj:pass", "obl:agent"})


def check_scheme(scheme: str) -> str:
    if scheme not in SCHEMES:
        raise ProbekitError(f"unknown role scheme {scheme!r}: use one of {', '.join(SCHEMES)}.")
    return scheme


def relation_role(deprel: str, scheme: Scheme = "syntactic") -> str:
    """The role of a single relation (``conj`` is resolved by :func:`sentence_roles`)."""
    check_scheme(scheme)
    base = deprel.split(":", 1)[0]
    if scheme == "thematic":
        if deprel in _THEMATIC_OVERRIDES_FULL:
            return _THEMATIC_OVERRIDES_FULL[deprel]
        if base in _THEMATIC_OVERRIDES_BASE:
            return _THEMATIC_OVERRIDES_BASE[base]
    return _SYNTACTIC_BASE.get(base, "OTHER")


def _base(deprel: str) -> str:
    return deprel.split(":", 1)[0]


@dataclass
class _Words:
    """Sentences flattened into word arrays, every index global (position in the corpus)."""

    length: np.ndarray    # the length of the word's sentence
    parent: np.ndarray    # the index of the word's head (the word itself for the root)
    is_root: np.ndarray   # head 0
    rel: np.ndarray       # relation code: index into ``relations``
    relations: list[str]


def _flatten(corpus: Corpus) -> _Words:
    """Word arrays of ``corpus`` (walks over its sentences driven from C; no Python loop per word)."""
    sentences, offsets = corpus.sentences, corpus.offsets
    lengths = np.diff(offsets)
    n = corpus.n_tokens
    start, length = np.repeat(offsets[:-1], lengths), np.repeat(lengths, lengths)
    heads = np.fromiter(chain.from_iterable(map(attrgetter("heads"), sentences)), dtype=np.int64, count=n)
    rels = list(chain.from_iterable(map(attrgetter("deprels"), sentences)))
    relations = list(dict.fromkeys(rels))
    code = {r: i for i, r in enumerate(relations)}
    rel = np.fromiter(map(code.__getitem__, rels), dtype=np.int64, count=n)
    is_root = heads == 0
    parent = np.where(is_root, np.arange(n), start + heads - 1)
    return _Words(length, parent, is_root, rel, relations)


def _follow(step: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """For every word, where ``limit`` (its sentence's length) applications of ``step`` lead.

    ``step`` maps a word to the next word of its chain (itself where the chain ends). Stops
    early once nothing moves, so it costs one pass per link of the longest chain."""
    node = np.arange(len(step))
    for k in range(int(limit.max()) if len(limit) else 0):
        moved = np.where(k < limit, step[node], node)
        if np.array_equal(moved, node):
            break
        node = moved
    return node


def _resolve_conjuncts(words: _Words) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each word, the governor, root flag and relation that decide its role: those of the
    first conjunct of its ``conj`` chain (the word's own when it is not a conjunct)."""
    is_conj = np.array([_base(r) == "conj" for r in words.relations], dtype=bool)
    moves = is_conj[words.rel] & ~words.is_root
    first = _follow(np.where(moves, words.parent, np.arange(len(moves))), words.length)
    return words.parent[first], words.is_root[first], words.rel[first]


def _clause_of(words: _Words, parent: np.ndarray, is_root: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """For each word, the index of the head of the clause it belongs to: the nearest word at or
    above it (following ``parent``) that is attached by a clausal relation or is the root."""
    clausal = np.array([_base(r) in CLAUSAL_RELATIONS for r in words.relations], dtype=bool)
    stop = clausal[rel] | is_root
    return _follow(np.where(stop, np.arange(len(stop)), parent), words.length)


def _flags(words: _Words, argument: np.ndarray, scheme: Scheme,
           resolved: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """:func:`structure_dependent` for every word of ``words``; ``argument``: its role is an
    argument role; ``resolved``: :func:`_resolve_conjuncts` of ``words`` when already computed."""
    parent, is_root, rel = resolved or _resolve_conjuncts(words)
    clause = _clause_of(words, parent, is_root, rel)
    base = [_base(r) for r in words.relations]
    subject = np.array([b in ("nsubj", "csubj") for b in base], dtype=bool)[rel]
    obj = np.array([b in ("obj", "iobj") for b in base], dtype=bool)[rel]
    index = np.arange(len(rel))
    flags = (subject & (index > parent)) | (obj & (index < parent))   # non-canonical order
    if scheme == "thematic":
        flags |= np.array([r in _PASSIVE_VOICE for r in words.relations], dtype=bool)[rel]   # voice
    # separated: a word strictly between the argument and its governor is in another clause
    candidates = np.flatnonzero(argument & ~is_root)
    low = np.minimum(candidates, parent[candidates])
    high = np.maximum(candidates, parent[candidates])
    own = clause[parent[candidates]]
    separated = np.zeros(len(candidates), dtype=bool)
    between = np.arange(len(candidates))
    for d in range(1, int((high - low).max()) if len(candidates) else 0):
        between = between[low[between] + d < high[between]]
        if not len(between):
            break
        separated[between] |= clause[low[between] + d] != own[between]
    flags[candidates] |= separated
    flags &= argument & ~is_root
    return flags


def structure_dependent(sentence: Sentence, roles: list[str], scheme: Scheme = "syntactic") -> np.ndarray:
    """Boolean per word: is this an argument whose role the surface position does not give?

    An argument token (SUBJ/OBJ/IOBJ/OBL, or AGENT/PATIENT/RECIPIENT/OBL) is flagged when
    any of these holds, with "governor" its head after following ``conj`` chains:

    1. *separated*: a word strictly between the token and its governor belongs to another
       clause than the governor's (an embedded clause intervenes: "the dog [that the cat
       chased] ran" flags *dog*);
    2. *non-canonical order*: a subject after its governor, or an object / indirect object
       before it (fronted relative pronouns: "the dog *that* the cat chased");
    3. *voice* (thematic scheme only): a passive subject or a by-phrase agent, whose
       thematic role is the reverse of what its position says in the active voice.
    """
    check_scheme(scheme)
    argument = np.array([r in ARGUMENT_ROLES[scheme] for r in roles], dtype=bool)
    return _flags(_flatten(Corpus([sentence])), argument, scheme)


def sentence_roles(sentence: Sentence, scheme: Scheme = "syntactic") -> list[str]:
    """The role of every word of ``sentence`` under ``scheme``."""
    roles = corpus_roles(Corpus([sentence]), scheme)
    return [roles.names[k] for k in roles.labels.tolist()]


@dataclass
class RoleLabels:
    """Per-word role labels of a corpus, flattened in corpus order."""

    labels: np.ndarray          # int64 index into ``names``
    names: tuple[str, ...]
    structure_dependent: np.ndarray  # bool
    scheme: str


def corpus_roles(corpus: Corpus, scheme: Scheme = "syntactic") -> RoleLabels:
    """Role labels and structure-dependent flags for every word of ``corpus``.

    The whole corpus at once, on word arrays: ``conj`` chains and clause heads are followed
    for all words together, one array step per link (benchmarks/README.md: the ``targets``
    stage), with each distinct relation's role looked up once. Sentences must be trees (as
    :func:`probekit.corpus.read_conllu` and the grammars guarantee).
    """
    check_scheme(scheme)
    names = SCHEMES[scheme]
    words = _flatten(corpus)
    resolved = _resolve_conjuncts(words)
    rel = resolved[2]
    role = np.array([names.index(relation_role(r, scheme)) for r in words.relations], dtype=np.int64)
    labels = role[rel] if len(rel) else np.empty(0, dtype=np.int64)
    argument = np.isin(labels, [names.index(r) for r in ARGUMENT_ROLES[scheme]])
    flags = _flags(words, argument, scheme, resolved)
    return RoleLabels(labels=labels, names=names, structure_dependent=flags, scheme=scheme)


def role_counts(roles: RoleLabels) -> "pd.DataFrame":
    """Words per role, and how many of them are structure-dependent (``probekit data stats``)."""
    import pandas as pd   # a table for reports; the tasks themselves never need pandas

    n = len(roles.names)
    return pd.DataFrame({
        "role": list(roles.names),
        "words": np.bincount(roles.labels, minlength=n),
        "structure_dependent": np.bincount(roles.labels[roles.structure_dependent], minlength=n),
    })
