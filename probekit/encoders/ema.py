"""Multi-timescale exponential-moving-average (EMA) traces.

For each rate ``a`` the trace is ``h_t = (1 - a) * h_{t-1} + a * x_t`` with ``h_0 = 0``,
where ``x_t`` is the input embedding of word ``t``. With ``reset`` the traces restart from 0
at every sentence start; without it the corpus is one continuous stream.

Vectorisation (see docs/encoders.md): the recurrence is linear, so a block of ``B`` rows is one
small matrix product. With ``T[i, j] = a (1 - a)^(i - j)`` for ``j <= i`` (lower-triangular
Toeplitz) and ``p[i] = (1 - a)^(i + 1)``, the trace of block ``k`` is
``H_k = T @ X_k + p[:, None] * h_in``, where ``h_in`` is the state carried in from the row
before the block. Both terms are one BLAS call on the augmented ``[T | p] @ [X_k; h_in]``,
batched over the blocks of a chunk of rows. Resets are exact: a sentence start at block row
``s`` zeroes ``T[i, j]`` for ``j < s <= i`` and ``p[i]`` for ``i >= s``. The carried states of
the blocks of a chunk come from the block-end recurrence ``E_k = (T @ X_k)[-1] + (1 - a)^B
E_{k-1}`` (factor 0 across a reset), solved in closed form as one small float64 matrix
product; float64 carries keep long streams with slow rates exact (float32 rounding is not
compounded from block to block). Work is one pass over ``X`` in chunks that stay in cache,
with single-threaded BLAS (threaded BLAS is slower on these small products); there is no
Python loop per token or per block. Large inputs are split by rows between a few threads
(numpy releases the GIL in its products): with resets at sentence starts, where each part is
exact on its own; in a continuous stream anywhere, adding the carried state to the first rows
of each part afterwards (the recurrence is linear).
"""

from __future__ import annotations

import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
import scipy.sparse

from probekit import options
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
from probekit.threads import single_threaded_blas

#: rows per block (the size of the Toeplitz matrix) and rows per chunk (a multiple of it).
_BLOCK_ROWS = 32
_CHUNK_ROWS = 1024
#: threads for large inputs (rows are split between them; see ``_row_parts``), and from how many
#: input values on the split pays for the threads (smaller inputs run on one thread).
_MAX_WORKERS = 4
_PARALLEL_VALUES = 1 << 20
#: warn when an encoding would take more memory than this (one-hot over a large vocabulary).
_WARN_BYTES = 4 << 30


def _check_memory(n_bytes: float, what: str) -> None:
    """Refuse, before allocating, an array larger than the machine's physical memory."""
    try:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: let numpy try
        return
    if n_bytes > physical:
        raise ProbekitError(f"encoder 'ema': {what} would take {n_bytes / 2**30:,.1f} GiB, more than this "
                            f"machine's {physical / 2**30:,.1f} GiB of memory. Use a smaller -E dim (or "
                            f"-E max_vocab, fewer rates, fewer sentences).")


def rate_name(rate: float) -> str:
    """The block name of the trace with ``rate`` (``ema_0.5``, ``ema_0.02``)."""
    return f"ema_{rate:g}"


def check_rates(rates: Any, what: str) -> tuple[float, ...]:
    """EMA rates as distinct floats in (0, 1]: the one check of the ema encoder and the dilution bound."""
    if isinstance(rates, (int, float)):
        rates = (rates,)
    rates = tuple(rates)
    if not rates:
        raise ProbekitError(f"{what} needs at least one EMA rate in (0, 1], e.g. 0.5,0.1,0.02.")
    checked = tuple(options.check_float(r, what, 0.0, 1.0, low_open=True) for r in rates)
    names = [rate_name(r) for r in checked]
    if len(set(names)) != len(names):
        raise ProbekitError(f"{what} repeats a rate: {list(checked)}. Give each rate once.")
    return checked


def _sentence_starts(offsets: np.ndarray, n_rows: int) -> np.ndarray:
    """For each row, the row where its sentence starts."""
    offsets = np.asarray(offsets, dtype=np.int64)
    if offsets[0] != 0 or offsets[-1] != n_rows or np.any(np.diff(offsets) < 0):
        raise ValueError(f"offsets must rise from 0 to the number of rows ({n_rows})")
    return np.repeat(offsets[:-1], np.diff(offsets))


def _block_matrix(rate: float, block: int) -> np.ndarray:
    """``[T | p]``: the ``(B, B + 1)`` float64 matrix of one block (see the module docstring)."""
    decay = 1.0 - float(rate)
    i = np.arange(block)
    lag = i[:, None] - i[None, :]
    M = np.zeros((block, block + 1))
    M[:, :block] = np.where(lag >= 0, float(rate) * np.power(decay, np.maximum(lag, 0)), 0.0)
    M[:, block] = np.power(decay, i + 1.0)
    return M


def _trace_rows(X: np.ndarray, rate: float, starts: np.ndarray | None, out: np.ndarray,
                block: int, chunk_rows: int, dtype: type) -> None:
    """The EMA trace of ``X`` into ``out``, one chunk of rows at a time (see the module docstring)."""
    n, d = X.shape
    M64 = _block_matrix(rate, block)
    M = M64.astype(dtype)
    step_decay = (1.0 - float(rate)) ** block  # carry factor across a whole block
    chunk_rows = max(block, chunk_rows // block * block)
    i = np.arange(block)
    h = np.zeros(d)  # float64 state carried into the chunk
    for r0 in range(0, n, chunk_rows):
        r1 = min(n, r0 + chunk_rows)
        m = r1 - r0
        nb = -(-m // block)
        Xa = np.empty((nb, block + 1, d), dtype)  # blocks of rows, then the carried state
        if m == nb * block:
            Xa[:, :block] = X[r0:r1].reshape(nb, block, d)
        else:  # the last, partial block: pad with zero rows (they come after, so change nothing)
            padded = np.zeros((nb * block, d), dtype)
            padded[:m] = X[r0:r1]
            Xa[:, :block] = padded.reshape(nb, block, d)
        k = np.arange(nb)
        if starts is None:
            T = M
            ends = np.matmul(M[-1, :block], Xa[:, :block])  # local trace at each block's last row
            cut = np.zeros(nb, dtype=np.int64)  # resets seen up to each block end
        else:
            local = np.full(nb * block, -1, dtype=np.int64)
            local[:m] = starts[r0:r1]
            local = local.reshape(nb, block) - (r0 + block * k)[:, None]  # start row within the block
            T = np.empty((nb, block, block + 1), dtype)
            np.multiply(M[None, :, :block], i[None, None, :] >= local[:, :, None], out=T[:, :, :block])
            np.multiply(M[None, :, block], local < 0, out=T[:, :, block])
            ends = np.matmul(T[:, -1:, :block], Xa[:, :block])[:, 0]
            # a sentence starts in block k (at any row): nothing reaches its end from before it
            cut = np.cumsum(local[:, -1] >= 0)
        # E_k = ends_k + g_k E_{k-1} (E_{-1} = h), g_k = decay^B or 0 where block k has a reset
        lag = k[:, None] - k[None, :]
        same = (cut[:, None] == cut[None, :]) & (lag >= 0)
        G = np.where(same, np.power(step_decay, np.maximum(lag, 0)), 0.0)
        from_h = np.where(cut == 0, np.power(step_decay, k + 1.0), 0.0)
        E = G @ ends.astype(np.float64) + from_h[:, None] * h
        Xa[0, block] = h
        Xa[1:, block] = E[:-1]
        h = E[-1]
        H = np.matmul(T, Xa)
        out[r0:r1] = H.reshape(nb * block, d)[:m]


def ema_trace(X: np.ndarray, rate: float, offsets: np.ndarray | None = None, reset: bool = True,
              out: np.ndarray | None = None, workers: int | None = None) -> np.ndarray:
    """EMA trace ``h_t = (1 - rate) h_{t-1} + rate x_t`` of every row of ``X`` (``h_0 = 0``).

    ``X`` is ``(n_rows, d)`` in stream order; ``offsets`` delimit sentences. With ``reset``
    (and ``offsets``) the trace restarts from 0 at each sentence start, otherwise the rows are
    one continuous stream. Written into ``out`` (float32 by default) and computed in its
    precision (float32 or float64) by blocked matrix products, with float64 carried states.

    ``workers`` threads each take a contiguous part of the rows (default: up to
    :data:`_MAX_WORKERS` for inputs of at least :data:`_PARALLEL_VALUES` values, else 1); see
    :func:`_row_parts` for how the parts stay exact.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    n, d = X.shape
    if out is None:
        out = np.empty((n, d), dtype=np.float32)
    if n == 0 or d == 0:
        return out
    starts = _sentence_starts(offsets, n) if reset and offsets is not None else None
    dtype = np.float64 if out.dtype == np.float64 else np.float32
    if workers is None:
        workers = min(os.cpu_count() or 1, _MAX_WORKERS) if n * d >= _PARALLEL_VALUES else 1
    parts = _row_parts(n, offsets if starts is not None else None, max(1, int(workers)))

    def trace_part(part: tuple[int, int]) -> None:
        a, b = part
        local_starts = None if starts is None else starts[a:b] - a
        _trace_rows(X[a:b], rate, local_starts, out[a:b], _BLOCK_ROWS, _CHUNK_ROWS, dtype)

    with single_threaded_blas():
        if len(parts) == 1:
            trace_part(parts[0])
        else:
            with ThreadPoolExecutor(len(parts)) as pool:
                list(pool.map(trace_part, parts))
            if starts is None:
                _carry_into_parts(out, rate, parts)
    return out


def _row_parts(n: int, offsets: np.ndarray | None, workers: int) -> list[tuple[int, int]]:
    """Contiguous row ranges ``[a, b)`` for ``workers`` threads.

    With resets (``offsets`` given) the parts start at sentence starts, where the trace restarts
    from zero anyway, so each part is exact on its own. A continuous stream is cut evenly and
    each part starts from zero; :func:`_carry_into_parts` then adds the state carried in.
    """
    if workers <= 1 or n < 2 * _BLOCK_ROWS:
        return [(0, n)]
    cuts = np.linspace(0, n, workers + 1).round().astype(np.int64)[1:-1]
    if offsets is not None:
        sentence_starts = np.asarray(offsets, dtype=np.int64)[:-1]
        cuts = sentence_starts[np.minimum(np.searchsorted(sentence_starts, cuts), len(sentence_starts) - 1)]
    bounds = np.unique(np.concatenate([[0], cuts, [n]]))
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _carry_into_parts(out: np.ndarray, rate: float, parts: list[tuple[int, int]]) -> None:
    """Add to each part (traced from zero) the state carried in from the part before it.

    The recurrence is linear: row ``a + i`` of a part gains ``(1 - rate)^(i + 1) h_{a-1}``.
    Only the first rows need it: beyond :func:`_carry_rows` the factor is below 2^-40 of the
    carried state, far below float32 (or float64-product) rounding. Parts are fixed in order,
    so a part shorter than that window passes the corrected state on.
    """
    decay = 1.0 - float(rate)
    for a, b in parts[1:]:
        rows = min(b - a, _carry_rows(rate))
        if rows == 0:
            continue
        factor = np.power(decay, np.arange(1, rows + 1, dtype=np.float64))
        carried = out[a - 1].astype(np.float64)
        out[a:a + rows] = out[a:a + rows] + factor[:, None] * carried[None, :]


def _carry_rows(rate: float) -> int:
    """Rows after which ``(1 - rate)^(i + 1)`` is below 2^-40 (0 for rate 1)."""
    decay = 1.0 - float(rate)
    if decay <= 0.0:
        return 0
    return int(math.ceil(-40.0 * math.log(2.0) / math.log(decay)))


def shifted_trace_states(traces: np.ndarray, lag: int, offsets: np.ndarray, reset: bool,
                         out: np.ndarray | None = None) -> np.ndarray:
    """Row t gets ``traces[t - lag]``: the state ``lag`` steps back, one shifted copy.

    Rows with no state ``lag`` back get 0, as the recurrence's ``h_0 = 0`` would give: the first
    ``lag`` rows of the stream, and with ``reset`` the first ``lag`` rows of every sentence.
    """
    traces = np.asarray(traces)
    n = traces.shape[0]
    if out is None:
        out = np.empty_like(traces)
    out[:min(lag, n)] = 0.0
    out[lag:] = traces[:n - lag] if lag < n else traces[:0]
    if reset and n:
        positions = np.arange(n) - _sentence_starts(offsets, n)
        out[positions < lag] = 0.0
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
    ``history`` (H >= 0) appends the trace states at t-1, ..., t-H (zero before the stream or,
    with ``reset``, the sentence start): a probe that sees consecutive states can undo the
    decay by differencing, ``x_{t-k} = (h_{t-k} - (1-a) h_{t-k-1}) / a`` for k < H, so this
    option is the labelled loophole of the data-processing argument, not an EMA memory.
    Blocks: ``"x"`` (if ``include_current``), ``"ema_<rate>"`` per rate, then
    ``"ema_<rate>@t-<j>"`` for j = 1..H and each rate.
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
        history: int = 0,
    ):
        self.rates = check_rates(rates, "option 'rates' of encoder 'ema'")
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
        self.history = check_int("ema", "history", history, minimum=0)

    def fit(self, corpus: Corpus, labels: np.ndarray | None = None) -> "EMAEncoder":
        """Learn the vocabulary (and, for ``hebbian``, the type vectors) from ``corpus``."""
        self.vocab_ = fit_vocabulary(corpus, self.lowercase, self.max_vocab)
        n_types = len(self.vocab_)
        self.fit_info_ = {}
        if self.embedding != "onehot":
            _check_memory(n_types * self.dim * 8.0, f"the embedding table of {n_types} types x dim {self.dim}")
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
    def n_blocks(self) -> int:
        """How many equal-width blocks ``encode`` returns (the components an attention probe
        reads: ``-P n_components=<this>``)."""
        return int(self.include_current) + len(self.rates) * (1 + self.history)

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
        n_blocks = self.n_blocks
        n = corpus.n_tokens
        _check_memory(n * d * n_blocks * 4.0, f"the features of {n} words x {d * n_blocks} columns")
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
        traces = out[:, column - d * len(self.rates):column]
        for lag in range(1, self.history + 1):
            width = traces.shape[1]
            shifted_trace_states(traces, lag, corpus.offsets, self.reset, out=out[:, column:column + width])
            for rate in self.rates:
                blocks[f"{rate_name(rate)}@t-{lag}"] = (column, column + d)
                column += d
        meta = {
            "encoder": "ema",
            "rates": list(self.rates),
            "embedding": self.embedding,
            "embedding_dim": d,
            "reset": self.reset,
            "include_current": self.include_current,
            "history": self.history,
            "vocab_size": len(self.vocab_),
            "unknown_fraction": float(np.mean(ids == 0)) if n else 0.0,
            "seed": self.seed,
        }
        if self.embedding == "hebbian":
            meta["hebbian"] = dict(self.fit_info_, iterations=self.hebbian_iterations,
                                   noise=self.hebbian_noise, context=self.hebbian_context)
        return Features(X=out, offsets=corpus.offsets, blocks=blocks, meta=meta)
