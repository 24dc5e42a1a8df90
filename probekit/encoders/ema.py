"""Multi-timescale exponential-moving-average (EMA) traces.

For each rate ``a`` the trace is ``h_t = (1 - a) * h_{t-1} + a * x_t`` with ``h_0 = 0``,
where ``x_t`` is the input embedding of word ``t``. With ``reset`` the traces restart from 0
at every sentence start; without it the corpus is one continuous stream.

Vectorisation (see docs/encoders.md): the recurrence is a first-order IIR filter, so the
continuous-stream trace of the whole corpus is one call to
``scipy.signal.lfilter([a], [1, -(1 - a)], X, axis=0)`` (compiled code, float64). Resets are
then applied exactly in closed form: if sentence ``s`` starts at row ``s0`` and ``c`` is the
continuous trace just before it (``c = h[s0 - 1]``, 0 for the first sentence), the
continuous trace at position ``p`` of the sentence carries ``(1 - a)^(p + 1) * c`` from
before the sentence, so the reset trace is ``h[t] - (1 - a)^(p + 1) * c``. Both steps are
whole-array operations; there is no Python loop per token.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import numpy as np
import scipy.sparse

from probekit.corpus import Corpus
from probekit.encoders.base import Encoder
from probekit.encoders.embeddings import (
    check_choice,
    check_float,
    check_int,
    check_max_vocab,
    fit_vocabulary,
    onehot_rows,
    random_table,
    require_fitted,
    word_ids,
)
from probekit.errors import ProbekitError
from probekit.features import Features
from probekit.registry import register_encoder

#: float64 elements per lfilter call (columns are processed in chunks to bound memory).
_CHUNK_ELEMENTS = 1 << 22
#: warn when an encoding would take more memory than this (one-hot over a large vocabulary).
_WARN_BYTES = 4 << 30


def rate_name(rate: float) -> str:
    """The block name of the trace with ``rate`` (``ema_0.5``, ``ema_0.02``)."""
    return f"ema_{rate:g}"


def _sentence_starts(offsets: np.ndarray, n_rows: int) -> np.ndarray:
    """For each row, the row where its sentence starts."""
    offsets = np.asarray(offsets, dtype=np.int64)
    if offsets[0] != 0 or offsets[-1] != n_rows or np.any(np.diff(offsets) < 0):
        raise ValueError(f"offsets must rise from 0 to the number of rows ({n_rows})")
    return np.repeat(offsets[:-1], np.diff(offsets))


def ema_trace(X: np.ndarray, rate: float, offsets: np.ndarray | None = None, reset: bool = True,
              out: np.ndarray | None = None) -> np.ndarray:
    """EMA trace ``h_t = (1 - rate) h_{t-1} + rate x_t`` of every row of ``X`` (``h_0 = 0``).

    ``X`` is ``(n_rows, d)`` in stream order; ``offsets`` delimit sentences. With ``reset``
    (and ``offsets``) the trace restarts from 0 at each sentence start, otherwise the rows are
    one continuous stream. Computed in float64 and written into ``out`` (float32 by default).
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    n, d = X.shape
    if out is None:
        out = np.empty((n, d), dtype=np.float32)
    if n == 0 or d == 0:
        return out
    from scipy.signal import lfilter  # imported here: scipy.signal alone takes ~0.7 s to import

    decay = 1.0 - float(rate)
    b, a = [float(rate)], [1.0, -decay]
    if reset and offsets is not None:
        starts = _sentence_starts(offsets, n)
        positions = np.arange(n, dtype=np.int64) - starts
        carry = np.power(decay, positions + 1.0)  # (1 - a)^(p + 1)
        previous = starts - 1  # row of the state carried into the sentence; -1: none
        carried = previous >= 0
        carry = np.where(carried, carry, 0.0)
        previous = np.maximum(previous, 0)
    step = max(1, _CHUNK_ELEMENTS // n)
    for c0 in range(0, d, step):
        block = np.asarray(X[:, c0:c0 + step], dtype=np.float64)
        H = lfilter(b, a, block, axis=0)
        if reset and offsets is not None:
            H -= carry[:, None] * H[previous]
        out[:, c0:c0 + step] = H
    return out


def context_trace(X: np.ndarray, rate: float, offsets: np.ndarray, reset: bool = True,
                  direction: Literal["left", "right"] = "left") -> np.ndarray:
    """The trace of the words strictly before (``left``) or after (``right``) each row.

    ``left``: row t gets ``h_{t-1}`` (0 at a sentence start when ``reset``); ``right``: the
    same on the reversed stream, so row t summarises the words after it. float64.
    """
    X = np.asarray(X)
    n = X.shape[0]
    offsets = np.asarray(offsets, dtype=np.int64)
    if direction == "right":
        return context_trace(X[::-1], rate, n - offsets[::-1], reset, "left")[::-1]
    H = ema_trace(X, rate, offsets, reset, out=np.empty(X.shape, dtype=np.float64))
    C = np.zeros_like(H)
    C[1:] = H[:-1]
    if reset:
        C[offsets[:-1][offsets[:-1] < n]] = 0.0
    return C


def hebbian_table(ids: np.ndarray, offsets: np.ndarray, n_types: int, dim: int,
                  rates: tuple[float, ...], reset: bool = True, iterations: int = 1,
                  noise: float = 0.1, context: Literal["left", "both"] = "left",
                  seed: int = 0) -> tuple[np.ndarray, dict]:
    """Type vectors learned without labels from the EMA traces of a training stream.

    The Hebbian rule associates each input with the context state it arrives in: type ``w``
    accumulates the multi-timescale context traces (``h_{t-1}`` for every rate, computed from
    the current embeddings) at its occurrences, ``S[w] = sum_{t: w_t = w} c_t``; its average
    ``S[w] / count(w)`` is the type's distributional profile. Profiles are centred (the
    token-weighted mean context is removed), each rate block is scaled to unit mean squared
    norm (slow traces are small), and the profiles are reduced to ``dim`` dimensions by a
    count-weighted SVD (PCA). Rows are normalised to unit length and mixed with a fixed random
    unit-scale vector: ``e_w = sqrt(1 - noise^2) * z_w + noise * r_w``, so that types with
    identical contexts stay distinguishable. Types never seen (the unknown bucket when nothing
    is cut by ``max_vocab``) keep ``r_w``. With ``iterations > 1`` the traces are recomputed
    from the new embeddings and the rule applied again (second-order similarity).

    Returns the ``(n_types, dim)`` float64 table and a dict of diagnostics.
    """
    ids = np.asarray(ids, dtype=np.int64)
    n = ids.shape[0]
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((n_types, dim)) / np.sqrt(dim)  # = random_table(n_types, dim, seed)
    randomness = rng.standard_normal((n_types, dim)) / np.sqrt(dim)
    counts = np.bincount(ids, minlength=n_types).astype(np.float64)
    seen = counts > 0
    # type-by-token incidence matrix: (A @ C)[w] = sum of the rows of C where word w occurs
    incidence = scipy.sparse.csr_matrix((np.ones(n), (ids, np.arange(n))), shape=(n_types, n))
    directions = ("left",) if context == "left" else ("left", "right")
    weights = counts / max(counts.sum(), 1.0)
    explained = []
    for _ in range(iterations):
        X = table[ids]
        profiles = []
        for direction in directions:
            for rate in rates:
                C = context_trace(X, rate, offsets, reset, direction)
                M = np.asarray(incidence @ C) / np.maximum(counts, 1.0)[:, None]
                M[seen] -= weights @ M  # remove the token-weighted mean context
                scale = math.sqrt(float(weights @ np.einsum("ij,ij->i", M, M)))
                profiles.append(M / scale if scale > 0 else M)
        M = np.hstack(profiles)
        _, s, Vt = np.linalg.svd(np.sqrt(counts)[:, None] * M, full_matrices=False)
        k = min(dim, len(s))
        Z = np.zeros((n_types, dim))
        Z[:, :k] = M @ Vt[:k].T
        total = float(np.sum(s ** 2))
        explained.append(float(np.sum(s[:k] ** 2) / total) if total > 0 else 0.0)
        norms = np.linalg.norm(Z, axis=1)
        informative = seen & (norms > 1e-12)
        table = randomness.copy()
        table[informative] = (math.sqrt(1.0 - noise ** 2) * Z[informative] / norms[informative, None]
                              + noise * randomness[informative])
    return table, {"explained_variance": explained, "types_with_context": int(informative.sum())}


@register_encoder("ema")
class EMAEncoder(Encoder):
    """Multi-timescale EMA traces h_t = (1-a) h_{t-1} + a x_t of word embeddings (fixed, no labels).

    Options: ``rates`` (each in (0, 1]); ``dim`` (embedding size; ignored for ``onehot``,
    whose size is the vocabulary size); ``embedding`` (``random`` Gaussian per type,
    ``onehot``, or ``hebbian`` vectors learned without labels from the training traces,
    tuned by the ``hebbian_*`` options); ``reset`` (restart traces at each sentence);
    ``include_current`` (prepend ``x_t`` as block ``"x"``); ``seed``; ``lowercase`` and
    ``max_vocab`` for the vocabulary learned in ``fit`` (id 0 = unknown bucket).
    Blocks: ``"x"`` (if ``include_current``) and ``"ema_<rate>"`` per rate.
    """

    def __init__(
        self,
        rates: tuple[float, ...] = (0.5, 0.1, 0.02),
        dim: int = 64,
        embedding: Literal["random", "onehot", "hebbian"] = "random",
        reset: bool = True,
        include_current: bool = True,
        seed: int = 0,
        lowercase: bool = False,
        max_vocab: int | None = None,
        hebbian_iterations: int = 1,
        hebbian_noise: float = 0.1,
        hebbian_context: Literal["left", "both"] = "left",
    ):
        if isinstance(rates, (int, float)):
            rates = (rates,)
        rates = tuple(rates)
        if not rates:
            raise ProbekitError("option 'rates' of encoder 'ema' needs at least one rate in (0, 1].")
        self.rates = tuple(check_float("ema", "rates", r, 0.0, 1.0, low_open=True) for r in rates)
        names = [rate_name(r) for r in self.rates]
        if len(set(names)) != len(names):
            raise ProbekitError(f"option 'rates' of encoder 'ema' has a repeated rate: {list(self.rates)}. "
                                f"Give each rate once.")
        self.dim = check_int("ema", "dim", dim)
        self.embedding = check_choice("ema", "embedding", embedding, ("random", "onehot", "hebbian"))
        self.reset = bool(reset)
        self.include_current = bool(include_current)
        self.seed = int(seed)
        self.lowercase = bool(lowercase)
        self.max_vocab = check_max_vocab("ema", max_vocab)
        self.hebbian_iterations = check_int("ema", "hebbian_iterations", hebbian_iterations)
        self.hebbian_noise = check_float("ema", "hebbian_noise", hebbian_noise, 0.0, 1.0)
        self.hebbian_context = check_choice("ema", "hebbian_context", hebbian_context, ("left", "both"))

    def fit(self, corpus: Corpus, labels: np.ndarray | None = None) -> "EMAEncoder":
        """Learn the vocabulary (and, for ``hebbian``, the type vectors) from ``corpus``."""
        self.vocab_ = fit_vocabulary(corpus, self.lowercase, self.max_vocab)
        n_types = len(self.vocab_)
        self.fit_info_ = {}
        if self.embedding == "random":
            self.table_ = random_table(n_types, self.dim, self.seed).astype(np.float32)
        elif self.embedding == "hebbian":
            table, info = hebbian_table(
                word_ids(self.vocab_, corpus), corpus.offsets, n_types, self.dim, self.rates,
                reset=self.reset, iterations=self.hebbian_iterations, noise=self.hebbian_noise,
                context=self.hebbian_context, seed=self.seed,
            )
            self.table_ = table.astype(np.float32)
            self.fit_info_ = info
        else:
            self.table_ = None  # one-hot rows are built on the fly
        return self

    @property
    def embedding_dim_(self) -> int:
        require_fitted(self, "vocab_", "ema")
        return len(self.vocab_) if self.embedding == "onehot" else self.dim

    def embed(self, corpus: Corpus) -> np.ndarray:
        """The input vectors ``x_t`` of every word of ``corpus`` (float32, one row per word)."""
        require_fitted(self, "vocab_", "ema")
        ids = word_ids(self.vocab_, corpus)
        if self.embedding == "onehot":
            return onehot_rows(ids, len(self.vocab_))
        return self.table_[ids]

    def encode(self, corpus: Corpus) -> Features:
        require_fitted(self, "vocab_", "ema")
        ids = word_ids(self.vocab_, corpus)
        d = self.embedding_dim_
        n_blocks = len(self.rates) + int(self.include_current)
        n = corpus.n_tokens
        if n * d * n_blocks * 4 > _WARN_BYTES:
            warnings.warn(f"EMA features of {n} words x {d * n_blocks} columns take "
                          f"{n * d * n_blocks * 4 / 2**30:.1f} GiB; cap the vocabulary with max_vocab "
                          f"or use embedding='random'.", ResourceWarning, stacklevel=2)
        X = onehot_rows(ids, d) if self.embedding == "onehot" else self.table_[ids]
        out = np.empty((n, d * n_blocks), dtype=np.float32)
        blocks: dict[str, tuple[int, int]] = {}
        column = 0
        if self.include_current:
            out[:, :d] = X
            blocks["x"] = (0, d)
            column = d
        for rate in self.rates:
            ema_trace(X, rate, corpus.offsets, self.reset, out=out[:, column:column + d])
            blocks[rate_name(rate)] = (column, column + d)
            column += d
        meta = {
            "encoder": "ema",
            "rates": list(self.rates),
            "embedding": self.embedding,
            "embedding_dim": d,
            "reset": self.reset,
            "include_current": self.include_current,
            "vocab_size": len(self.vocab_),
            "unknown_fraction": float(np.mean(ids == 0)) if n else 0.0,
            "seed": self.seed,
        }
        if self.embedding == "hebbian":
            meta["hebbian"] = dict(self.fit_info_, iterations=self.hebbian_iterations,
                                   noise=self.hebbian_noise, context=self.hebbian_context)
        return Features(X=out, offsets=corpus.offsets, blocks=blocks, meta=meta)
