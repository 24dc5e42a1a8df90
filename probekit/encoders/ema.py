"""Multi-timescale exponential-moving-average (EMA) traces.

For each rate ``a`` the trace is ``h_t = (1 - a) * h_{t-1} + a * x_t`` with ``h_0 = 0``,
where ``x_t`` is the input embedding of word ``t``. With ``reset`` the traces restart from 0
at every sentence start; without it the corpus is one continuous stream.

Computation (see docs/encoders.md): one compiled (numba) loop over the rows, all rates at once,
with the state in float64 and a reset to zero at each sentence start; it writes straight into
the float32 (or float64) output, so the work is one pass over the input and one over the
output, near the copy floor (benchmarks/README.md). It replaced blocked Toeplitz matrix
products (2.4x slower, 5x the code). Large inputs are split by rows between a few threads (the
kernel releases the GIL): with resets at sentence starts, where each part is exact on its own;
in a continuous stream anywhere, adding the carried state to the first rows of each part
afterwards (the recurrence is linear).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np

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

#: the block and chunk sizes of the former blocked-matrix code: the exactness tests still put
#: stream ends and sentence starts around them; a thread's part has at least 2 * _BLOCK_ROWS rows.
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


def _ema_loop(X, rates, starts_here, out):  # pragma: no cover - compiled; tested through ema_trace
    """``out[t, r*d + j]`` = trace of rate ``rates[r]`` of column j at row t (float64 state)."""
    n, d = X.shape
    h = np.zeros(rates.shape[0] * d)
    for t in range(n):
        if starts_here[t]:
            h[:] = 0.0
        for r in range(rates.shape[0]):
            a = rates[r]
            keep = 1.0 - a
            for j in range(d):
                value = keep * h[r * d + j] + a * X[t, j]
                h[r * d + j] = value
                out[t, r * d + j] = value


@functools.cache
def _ema_kernel():
    """``_ema_loop`` compiled by numba (on first use: importing numba costs about 0.6 s of start-up,
    which only an encoding needs; the machine code itself comes from numba's on-disk cache)."""
    import numba

    return numba.njit(nogil=True, cache=True)(_ema_loop)


def ema_traces(X: np.ndarray, rates: tuple[float, ...], offsets: np.ndarray | None = None, reset: bool = True,
               out: np.ndarray | None = None, workers: int | None = None) -> np.ndarray:
    """The EMA traces of ``X`` for every rate, side by side: ``(n_rows, len(rates) * d)``.

    ``X`` is ``(n_rows, d)`` in stream order; ``offsets`` delimit sentences. With ``reset``
    (and ``offsets``) the traces restart from 0 at each sentence start, otherwise the rows are
    one continuous stream. Written into ``out`` (float32 by default; float64 also works) in
    one compiled pass (see the module docstring). ``workers`` threads each take a contiguous
    part of the rows (default: up to :data:`_MAX_WORKERS` for inputs of at least
    :data:`_PARALLEL_VALUES` values, else 1); see :func:`_row_parts` for how the parts stay exact.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    n, d = X.shape
    rates_array = np.asarray(rates, dtype=np.float64)
    if out is None:
        out = np.empty((n, d * len(rates_array)), dtype=np.float32)
    if n == 0 or d == 0:
        return out
    starts = _sentence_starts(offsets, n) if reset and offsets is not None else None
    starts_here = np.zeros(n, dtype=np.bool_) if starts is None else starts == np.arange(n)
    if workers is None:
        workers = min(os.cpu_count() or 1, _MAX_WORKERS) if n * d >= _PARALLEL_VALUES else 1
    parts = _row_parts(n, offsets if starts is not None else None, max(1, int(workers)))
    kernel = _ema_kernel()

    def trace_part(part: tuple[int, int]) -> None:
        a, b = part
        kernel(X[a:b], rates_array, starts_here[a:b], out[a:b])

    if len(parts) == 1:
        trace_part(parts[0])
    else:
        with ThreadPoolExecutor(len(parts)) as pool:
            list(pool.map(trace_part, parts))
        if starts is None:
            for r, rate in enumerate(rates_array):
                _carry_into_parts(out[:, r * d:(r + 1) * d], float(rate), parts)
    return out


def ema_trace(X: np.ndarray, rate: float, offsets: np.ndarray | None = None, reset: bool = True,
              out: np.ndarray | None = None, workers: int | None = None) -> np.ndarray:
    """EMA trace ``h_t = (1 - rate) h_{t-1} + rate x_t`` of every row of ``X`` (``h_0 = 0``):
    :func:`ema_traces` with one rate."""
    return ema_traces(X, (rate,), offsets, reset, out, workers)


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
    import scipy.sparse

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

    Features are cached (:mod:`probekit.cache`) only for a single ``probekit run``
    (``cache_scope = "single_run"``): computing them takes milliseconds, but a fresh process
    first spends about 1 s importing numba and loading the compiled kernel, which a hit skips.
    """

    cache_scope = "single_run"

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

    def cache_key_parts(self, corpus: Corpus) -> dict:
        """Everything ``encode(corpus)`` depends on (see :mod:`probekit.cache`): every option, the
        fitted vocabulary and embedding table (they come from the training corpus), the corpus's
        words and sentence bounds, the code (:func:`~probekit.provenance.code_fingerprint`) and the
        numpy and numba versions. Reads no numba: a hit never loads the kernel."""
        from importlib.metadata import version

        from probekit.provenance import code_fingerprint

        require_fitted(self, "vocab_", "ema")
        fitted = hashlib.sha256(json.dumps(self.vocab_.types_, ensure_ascii=False).encode("utf-8"))
        if self.table_ is not None:
            table = np.ascontiguousarray(self.table_)
            fitted.update(f"\n{table.dtype.str}{table.shape}\n".encode())
            fitted.update(table.tobytes())
        return {
            "encoder": f"{type(self).__module__}.{type(self).__qualname__}",
            "params": self.get_params(),
            "fitted": fitted.hexdigest(),
            "corpus": {"fingerprint": corpus.fingerprint(), "sentences": len(corpus), "words": corpus.n_tokens},
            "code": code_fingerprint(),
            "versions": {"numpy": np.__version__, "numba": version("numba")},
        }

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
        ema_traces(X, self.rates, corpus.offsets, self.reset, out=out[:, column:column + d * len(self.rates)])
        for rate in self.rates:
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
