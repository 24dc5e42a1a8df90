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


def _resolve_conjuncts(sentence: Sentence) -> tuple[list[int], list[str]]:
    """For each word, the head and relation that decide its role (conj chains followed up)."""
    heads, rels = list(sentence.heads), list(sentence.deprels)
    for i in range(len(heads)):
        node, steps = i, 0
        while _base(sentence.deprels[node]) == "conj" and sentence.heads[node] > 0 and steps < len(heads):
            node = sentence.heads[node] - 1
            steps += 1
        if node != i:
            heads[i], rels[i] = sentence.heads[node], sentence.deprels[node]
    return heads, rels


def _clause_of(heads: list[int], rels: list[str]) -> list[int]:
    """For each word, the 0-based index of the head of the clause it belongs to.

    Plain lists, not numpy: sentences are short, and per-element numpy indexing cost more than
    the walk itself (the ``targets`` stage of a UD run; benchmarks/README.md)."""
    n = len(heads)
    clause = [-1] * n
    clausal = [_base(r) in CLAUSAL_RELATIONS for r in rels]
    for i in range(n):
        path, node = [], i
        while clause[node] < 0 and not clausal[node] and heads[node] > 0 and len(path) <= n:
            path.append(node)
            node = heads[node] - 1
        top = clause[node] if clause[node] >= 0 else node
        clause[node] = top
        for j in path:
            clause[j] = top
    return clause


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
    return _flags(*_resolve_conjuncts(sentence), roles, scheme)


def _flags(heads: list[int], rels: list[str], roles: list[str], scheme: Scheme) -> np.ndarray:
    """:func:`structure_dependent` from the conj-resolved heads and relations."""
    clause = _clause_of(heads, rels)
    arguments = ARGUMENT_ROLES[scheme]
    flags = np.zeros(len(heads), dtype=bool)
    for i, role in enumerate(roles):
        if role not in arguments or heads[i] == 0:
            continue
        governor = heads[i] - 1
        low, high = sorted((i, governor))
        own = clause[governor]
        separated = any(c != own for c in clause[low + 1 : high])
        base = _base(rels[i])
        non_canonical = (base in ("nsubj", "csubj") and i > governor) or (base in ("obj", "iobj") and i < governor)
        voice = scheme == "thematic" and rels[i] in _PASSIVE_VOICE
        flags[i] = separated or non_canonical or voice
    return flags


def sentence_roles(sentence: Sentence, scheme: Scheme = "syntactic") -> list[str]:
    """The role of every word of ``sentence`` under ``scheme``."""
    _, rels = _resolve_conjuncts(sentence)
    return [relation_role(r, scheme) for r in rels]


@dataclass
class RoleLabels:
    """Per-word role labels of a corpus, flattened in corpus order."""

    labels: np.ndarray          # int64 index into ``names``
    names: tuple[str, ...]
    structure_dependent: np.ndarray  # bool
    scheme: str


def corpus_roles(corpus: Corpus, scheme: Scheme = "syntactic") -> RoleLabels:
    """Role labels and structure-dependent flags for every word of ``corpus``."""
    check_scheme(scheme)
    names = SCHEMES[scheme]
    index = {name: i for i, name in enumerate(names)}
    labels = np.empty(corpus.n_tokens, dtype=np.int64)
    flags = np.empty(corpus.n_tokens, dtype=bool)
    role_of: dict[str, str] = {}   # relation -> role, looked up once per distinct relation
    for sentence, start in zip(corpus.sentences, corpus.offsets[:-1]):
        heads, rels = _resolve_conjuncts(sentence)
        roles = [role_of[r] if r in role_of else role_of.setdefault(r, relation_role(r, scheme)) for r in rels]
        stop = start + len(roles)
        labels[start:stop] = [index[r] for r in roles]
        flags[start:stop] = _flags(heads, rels, roles, scheme)
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
