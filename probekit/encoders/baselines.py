"""Reference encoders that bracket what a probe can find.

* ``random``: an independent Gaussian vector per word *occurrence*: no information at all
  (the floor: a probe on it reaches the majority-class rate).
* ``type``: the word's own embedding, no context (what identity alone explains).
* ``position``: the position in the sentence only, one-hot (what position alone explains).
* ``type-position``: both concatenated (the word-plus-position baseline that a contextual
  encoder has to beat to show it keeps structure).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from probekit.corpus import Corpus
from probekit.encoders.base import Encoder
from probekit.encoders.embeddings import (
    check_choice,
    check_int,
    check_max_vocab,
    fit_vocabulary,
    onehot_rows,
    position_onehot,
    random_table,
    require_fitted,
    word_ids,
)
from probekit.features import Features
from probekit.registry import register_encoder


@register_encoder("random")
class RandomEncoder(Encoder):
    """Floor baseline: an independent random Gaussian vector per word occurrence (no information).

    Entries are N(0, 1/dim), drawn from ``seed`` and the corpus content: encoding the same
    corpus twice gives the same vectors, different corpora get independent ones.
    """

    def __init__(self, dim: int = 64, seed: int = 0):
        self.dim = check_int("random", "dim", dim)
        self.seed = int(seed)

    def encode(self, corpus: Corpus) -> Features:
        content = int(corpus.fingerprint(), 16)
        rng = np.random.default_rng([self.seed, content])
        X = (rng.standard_normal((corpus.n_tokens, self.dim)) / np.sqrt(self.dim)).astype(np.float32)
        return Features(X=X, offsets=corpus.offsets, blocks={"random": (0, self.dim)},
                        meta={"encoder": "random", "seed": self.seed})


@register_encoder("position")
class PositionEncoder(Encoder):
    """Baseline: the word's position in its sentence only (one-hot, clipped at max_position).

    Column ``p`` is 1 for the word at 0-based position ``p``; words at positions
    ``>= max_position - 1`` share the last column.
    """

    def __init__(self, max_position: int = 64):
        self.max_position = check_int("position", "max_position", max_position)

    def encode(self, corpus: Corpus) -> Features:
        X = position_onehot(corpus.positions(), self.max_position)
        return Features(X=X, offsets=corpus.offsets, blocks={"position": (0, self.max_position)},
                        meta={"encoder": "position", "max_position": self.max_position})


@register_encoder("type")
class TypeEncoder(Encoder):
    """Baseline: the word's own embedding without context (random Gaussian per type, or one-hot).

    The vocabulary is learned in ``fit`` (``lowercase``, ``max_vocab``; id 0 = unknown bucket,
    with its own vector). ``random``: N(0, 1/dim) per type, the same table as the ``ema``
    encoder's ``x`` block for the same seed; ``onehot``: one column per vocabulary type
    (``dim`` is then ignored).
    """

    name = "type"

    def __init__(self, dim: int = 64, embedding: Literal["random", "onehot"] = "random", seed: int = 0,
                 lowercase: bool = False, max_vocab: int | None = None):
        self.dim = check_int(self.name, "dim", dim)
        self.embedding = check_choice(self.name, "embedding", embedding, ("random", "onehot"))
        self.seed = int(seed)
        self.lowercase = bool(lowercase)
        self.max_vocab = check_max_vocab(self.name, max_vocab)

    def fit(self, corpus: Corpus, labels: np.ndarray | None = None) -> "TypeEncoder":
        self.vocab_ = fit_vocabulary(corpus, self.lowercase, self.max_vocab)
        if self.embedding == "random":
            self.table_ = random_table(len(self.vocab_), self.dim, self.seed).astype(np.float32)
        return self

    def _type_features(self, corpus: Corpus) -> np.ndarray:
        require_fitted(self, "vocab_", self.name)
        ids = word_ids(self.vocab_, corpus)
        if self.embedding == "onehot":
            return onehot_rows(ids, len(self.vocab_))
        return self.table_[ids]

    def _meta(self, corpus: Corpus) -> dict:
        ids = word_ids(self.vocab_, corpus)
        return {"encoder": self.name, "embedding": self.embedding, "vocab_size": len(self.vocab_),
                "unknown_fraction": float(np.mean(ids == 0)) if len(ids) else 0.0, "seed": self.seed}

    def encode(self, corpus: Corpus) -> Features:
        X = self._type_features(corpus)
        return Features(X=X, offsets=corpus.offsets, blocks={"type": (0, X.shape[1])}, meta=self._meta(corpus))


@register_encoder("type-position")
class TypePositionEncoder(TypeEncoder):
    """Baseline: word embedding (as in type) concatenated with the one-hot position (as in position)."""

    name = "type-position"

    def __init__(self, dim: int = 64, embedding: Literal["random", "onehot"] = "random", seed: int = 0,
                 lowercase: bool = False, max_vocab: int | None = None, max_position: int = 64):
        super().__init__(dim=dim, embedding=embedding, seed=seed, lowercase=lowercase, max_vocab=max_vocab)
        self.max_position = check_int(self.name, "max_position", max_position)

    def encode(self, corpus: Corpus) -> Features:
        T = self._type_features(corpus)
        P = position_onehot(corpus.positions(), self.max_position)
        d = T.shape[1]
        meta = dict(self._meta(corpus), max_position=self.max_position)
        return Features(X=np.hstack([T, P]), offsets=corpus.offsets,
                        blocks={"type": (0, d), "position": (d, d + self.max_position)}, meta=meta)
