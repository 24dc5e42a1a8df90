"""MDL probing: online codelength (Voita and Titov, 2020), in bits.

The training rows are put in a seeded random order and cut at split points
``t_1 < t_2 < ... < t_S = n`` (fractions of ``n``). The first block, rows ``[0, t_1)``, is sent
with the uniform code, ``t_1 * log2 K`` bits. Each later block ``[t_{i-1}, t_i)`` is sent with a
probe trained on all rows before it:

    L_online = t_1 * log2 K  +  sum_{i>=2}  sum_{j in block i}  -log2 p_{theta_{i-1}}(y_j | x_j)

The uniform codelength of all labels is ``n * log2 K`` and ``compression = uniform / online``:
about 1 when the features tell nothing about the labels, larger the more easily a probe of
this family extracts them.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from probekit.errors import ProbekitError

#: Split points of the paper: 0.1%, 0.2%, 0.4%, ..., 12.5%, 25%, 50%, 100% of the training set.
DEFAULT_FRACTIONS: tuple[float, ...] = (
    0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.0625, 0.125, 0.25, 0.5, 1.0,
)

#: Probabilities are clipped here before the log, so one confident mistake costs at most ~40 bits.
MIN_PROBABILITY = 1e-12


def check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    """Validate split fractions: strictly increasing, each in (0, 1], the last exactly 1.

    A string is read as comma-separated numbers (``"0.1,0.5,1.0"``, as a CLI option gives it).
    """
    if isinstance(fractions, str):
        fractions = [part for part in fractions.split(",") if part.strip()]
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError) as exc:
        raise ProbekitError(f"MDL fractions must be numbers in (0, 1], got {fractions!r}") from exc
    if not values:
        raise ProbekitError("MDL fractions are empty; give increasing fractions ending in 1.0, e.g. 0.1,0.5,1.0")
    if any(not np.isfinite(f) or f <= 0.0 or f > 1.0 for f in values):
        raise ProbekitError(f"MDL fractions must each lie in (0, 1], got {list(values)}")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ProbekitError(f"MDL fractions must be strictly increasing, got {list(values)}")
    if values[-1] != 1.0:
        raise ProbekitError(f"the last MDL fraction must be 1.0 (the whole training set), got {values[-1]}")
    return values


def split_points(n: int, fractions: Sequence[float]) -> list[int]:
    """Block ends ``round(f * n)``, dropping points that would give an empty block; last is ``n``."""
    ends: list[int] = []
    for f in check_fractions(fractions):
        end = min(n, int(round(f * n)))
        if end >= 1 and (not ends or end > ends[-1]):
            ends.append(end)
    if not ends or ends[-1] != n:
        ends.append(n)
    return ends


def online_codelength(
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    probe_factory: Callable[[], Any],
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> dict:
    """Online codelength of labels ``y`` given features ``X``, in bits.

    ``probe_factory()`` returns a fresh unfitted supervised probe with
    ``fit(X, y, n_classes=...)`` and ``predict_proba(X)`` (``n_classes`` columns). Rows whose
    label is ``-1`` are left out. Returns::

        {"online_codelength_bits": float, "uniform_codelength_bits": float,
         "compression": float, "n": int, "n_classes": int, "seed": int,
         "fractions": [float, ...],
         "blocks": [{"start", "end", "size", "bits", "bits_per_example", "code"}, ...]}

    No wall time: two identical calls give identical results (a run records the time in its
    ``timings_s``).

    ``code`` is ``"uniform"`` for the first block and ``"probe"`` for the rest.
    """
    X = np.asarray(X)
    y = np.asarray(y, dtype=np.int64)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise ProbekitError(
            f"online_codelength: X must be (n, d) and y (n,) with the same n; got X {X.shape}, y {y.shape}"
        )
    n_classes = int(n_classes)
    if n_classes < 2:
        raise ProbekitError(f"online_codelength: n_classes must be at least 2, got {n_classes}")
    keep = y >= 0
    X, y = X[keep], y[keep]
    if y.size and int(y.max()) >= n_classes:
        raise ProbekitError(
            f"online_codelength: a label is {int(y.max())} but n_classes={n_classes}; "
            f"labels must lie in 0..n_classes-1."
        )
    n = int(y.size)
    if n < 2:
        raise ProbekitError(f"online_codelength needs at least 2 labelled rows, got {n}")
    fractions = check_fractions(fractions)
    order = np.random.default_rng(seed).permutation(n)
    X, y = X[order], y[order]

    log2k = float(np.log2(n_classes))
    ends = split_points(n, fractions)
    blocks = [{"start": 0, "end": ends[0], "size": ends[0], "bits": ends[0] * log2k,
               "bits_per_example": log2k, "code": "uniform"}]
    for start, end in zip(ends, ends[1:]):
        probe = probe_factory()
        probe.fit(X[:start], y[:start], n_classes=n_classes)
        proba = np.asarray(probe.predict_proba(X[start:end]), dtype=np.float64)
        p = np.clip(proba[np.arange(end - start), y[start:end]], MIN_PROBABILITY, 1.0)
        bits = float(-np.log2(p).sum())
        blocks.append({"start": int(start), "end": int(end), "size": int(end - start), "bits": bits,
                       "bits_per_example": bits / (end - start), "code": "probe"})
    online = float(sum(b["bits"] for b in blocks))
    uniform = n * log2k
    return {
        "online_codelength_bits": online,
        "uniform_codelength_bits": uniform,
        "compression": uniform / online if online > 0 else float("inf"),
        "n": n,
        "n_classes": n_classes,
        "seed": int(seed),
        "fractions": list(fractions),
        "blocks": blocks,
    }
