"""What a stored EMA trace still holds under finite precision or additive noise.

The linear figures of ``theory.py`` say what a *linear* readout can get. They do not say what
is present: for one-hot inputs and one rate ``a >= 0.5`` the trace is exactly invertible by
*peeling* (take the argmax, subtract the newest token's weight ``a``, rescale by ``1/(1-a)``,
repeat), so in exact arithmetic nothing is lost. What does lose the past is the way the trace
is stored. This module gives

* the *precision horizon*: the lag beyond which a token's weight ``a (1-a)^k`` falls below
  the rounding error of the number it is added to (unit roundoff ``u`` times that number's
  magnitude ``M``): ``k* = log(u M / a) / log(1 - a)``;
* the *underflow horizon*: where the weight alone underflows the format (what limits a
  one-hot component that holds a single token);
* a *noise horizon*: where the weight falls below the standard deviation of additive noise;
* the recurrence computed in float16 / float32 (or float64 plus Gaussian noise) and the
  peeling decoder, to measure the recovered-lag horizon on random streams.

docs/dilution.md derives the horizons and reports the measurements.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from probekit.encoders.ema import rate_name
from probekit.errors import ProbekitError

#: storage formats of the precision model.
FORMATS = {"float16": np.float16, "float32": np.float32, "float64": np.float64}


def _format(name: str) -> type:
    if name not in FORMATS:
        raise ProbekitError(f"precision: must be one of {', '.join(FORMATS)}, got {name!r}.")
    return FORMATS[name]


def unit_roundoff(precision: str) -> float:
    """``u``: the largest relative rounding error of round-to-nearest (half the machine epsilon).

    float32: 2^-24; float16: 2^-11; float64: 2^-53.
    """
    return float(np.finfo(_format(precision)).eps) / 2.0


def _check_rate(rate: float) -> float:
    rate = float(rate)
    if not (0.0 < rate <= 1.0):
        raise ProbekitError(f"rate: {rate!r} is outside (0, 1]; an EMA rate a must satisfy 0 < a <= 1.")
    return rate


def trace_magnitude(rate: float, embedding: str) -> float:
    """``M / a``: the magnitude of a stored trace number relative to the newest token's weight.

    Gaussian (dense) inputs, in units of the token scale: the stationary trace has variance
    ``a^2 / (1 - (1-a)^2) = a / (2 - a)``, so ``M = sqrt(a / (2 - a))`` and
    ``M / a = 1 / sqrt(a (2 - a))``. One-hot inputs: the component that holds the newest
    token is at least ``a`` and below 1; a token shares its component only with the other
    occurrences of its type, and its rounding is set by the most recent of them, whose weight
    is ``a`` when it is the newest token: ``M / a = 1``.
    """
    rate = _check_rate(rate)
    if embedding == "random":
        return 1.0 / math.sqrt(rate * (2.0 - rate))
    if embedding == "onehot":
        return 1.0
    raise ProbekitError(f"embedding: must be random or onehot, got {embedding!r}.")


def precision_horizon(rate: float, precision: str, embedding: str = "random") -> float:
    """The lag ``k*`` beyond which a token's weight is below the storage's rounding error.

    A token at lag k contributes ``a b^k`` (``b = 1 - a``) to a number of magnitude ``M``
    stored with relative error ``u``; it is below resolution once ``a b^k < u M``:
    ``k* = log(u M / a) / log b``. A rate of 1 keeps only lag 0 (``k* = 0``).
    """
    rate = _check_rate(rate)
    if rate == 1.0:
        return 0.0
    return math.log(unit_roundoff(precision) * trace_magnitude(rate, embedding)) / math.log(1.0 - rate)


def underflow_horizon(rate: float, precision: str) -> float:
    """The lag beyond which ``a b^k`` alone underflows the format (below its smallest subnormal).

    This, not ``precision_horizon``, limits a one-hot component holding a single token (a
    type that did not recur): a lone power of two is exact in floating point until it
    underflows.
    """
    rate = _check_rate(rate)
    if rate == 1.0:
        return 0.0
    tiny = float(np.finfo(_format(precision)).smallest_subnormal)
    return math.log(tiny / rate) / math.log(1.0 - rate)


def noise_horizon(rate: float, noise_var: float) -> float:
    """The lag beyond which ``a b^k`` falls below the standard deviation of additive noise.

    Peeling rescales by ``1/b`` per lag, so noise of std ``s`` on the stored trace is
    ``s / b^k`` at lag k against a decision margin of order ``a``: ``k = log(s / a) / log b``.
    """
    rate = _check_rate(rate)
    if noise_var <= 0:
        return math.inf
    if rate == 1.0:
        return 0.0
    return math.log(math.sqrt(noise_var) / rate) / math.log(1.0 - rate)


def random_streams(n_streams: int, length: int, vocab_size: int, seed: int) -> np.ndarray:
    """``(n_streams, length)`` i.i.d. uniform token ids in ``[0, vocab_size)``, oldest first."""
    return np.random.default_rng(seed).integers(0, vocab_size, (n_streams, length))


def stored_trace(ids: np.ndarray, vocab_size: int, rate: float, precision: str = "float32",
                 noise_var: float = 0.0, seed: int = 0) -> np.ndarray:
    """The one-hot EMA trace at the end of each stream, computed and stored in ``precision``.

    Each step ``h <- (1 - a) h + a e_{x_t}`` is done in the format itself (every product and
    sum rounded to it), which is what a recurrence that keeps its state in float16/float32
    does. With ``noise_var``, Gaussian noise of that variance is added to every stored
    component at the end (the additive-noise model; use ``precision="float64"`` to isolate
    it). The loop runs over time steps, vectorised over all streams and types at once: the
    rounding model is the sequential recurrence itself. Returns float64 ``(n_streams, V)``.
    """
    rate = _check_rate(rate)
    dtype = _format(precision)
    ids = np.asarray(ids)
    n_streams, length = ids.shape
    h = np.zeros((n_streams, vocab_size), dtype)
    keep, add = dtype(1.0 - rate), dtype(rate)
    rows = np.arange(n_streams)
    for t in range(length):
        h = keep * h
        h[rows, ids[:, t]] += add
    out = h.astype(np.float64)
    if noise_var > 0:
        out += np.random.default_rng(seed).standard_normal(out.shape) * math.sqrt(noise_var)
    return out


def peel(h: np.ndarray, rate: float, n_lags: int) -> np.ndarray:
    """Decode the tokens at lags ``0 .. n_lags-1`` from one-hot traces ``h`` (``(n, V)``).

    Why ``a >= 0.5``: the newest token's component is at least ``a``, and every other
    component is at most ``sum_{j>=1} a b^j < b``; so the argmax is the newest token exactly
    when ``a >= b``. For ``a < 0.5`` an older run of one type can outweigh the newest token
    (``b (1 - b^m) > a`` for a run of m), the argmax is wrong, and greedy peeling is not
    exact. Peeling runs in float64, so its errors are the stored trace's, not its own.
    """
    rate = _check_rate(rate)
    if rate < 0.5:
        raise ProbekitError(f"rate {rate:g}: the peeling decoder is exact only for a >= 0.5 (for a < 0.5 an older "
                            f"run of one token type can outweigh the newest token, so the argmax misses it). "
                            f"Use a rate >= 0.5.")
    residual = np.array(h, dtype=np.float64)
    rows = np.arange(residual.shape[0])
    decoded = np.empty((residual.shape[0], n_lags), dtype=np.int64)
    for k in range(n_lags):  # one step per lag, vectorised over streams
        newest = residual.argmax(axis=1)
        decoded[:, k] = newest
        residual[rows, newest] -= rate
        residual /= 1.0 - rate
    return decoded


def peeling_experiment(rate: float, precision: str = "float32", vocab_size: int = 2, n_streams: int = 400,
                       n_lags: int = 48, noise_var: float = 0.0, burn_in: int = 64, seed: int = 0) -> dict:
    """Peel random one-hot streams stored in ``precision`` and measure how far recovery reaches.

    Returns plain data: ``accuracy_by_lag`` (per lag, over streams), ``first_error_lag`` per
    stream (``n_lags`` if none), its median, ``perfect_up_to`` (the last lag up to which every
    lag is recovered in >= 99% of streams), and the horizons the model predicts.
    """
    if n_lags < 1 or n_streams < 1:
        raise ProbekitError("peeling: n_lags and n_streams must be >= 1.")
    ids = random_streams(n_streams, n_lags + burn_in, vocab_size, seed)
    h = stored_trace(ids, vocab_size, rate, precision, noise_var, seed + 1)
    truth = ids[:, ::-1][:, :n_lags]  # lag 0 = the newest token
    correct = peel(h, rate, n_lags) == truth
    first_error = np.where(correct.all(axis=1), n_lags, np.argmin(correct, axis=1))
    accuracy = correct.mean(axis=0)
    good = accuracy >= 0.99
    perfect_up_to = int(np.argmin(good)) - 1 if not good.all() else n_lags - 1
    return {
        "rate": rate, "precision": precision, "vocab_size": vocab_size, "noise_var": noise_var,
        "accuracy_by_lag": accuracy,
        "first_error_lag": first_error,
        "median_first_error_lag": float(np.median(first_error)),
        "perfect_up_to": perfect_up_to,
        "precision_horizon": precision_horizon(rate, precision, "onehot") if precision != "float64" else math.inf,
        "underflow_horizon": underflow_horizon(rate, precision),
        "noise_horizon": noise_horizon(rate, noise_var),
    }


def horizon_table(rates, embedding: str = "random") -> pd.DataFrame:
    """Precision horizons (lags) per rate for float32 and float16 (and one-hot underflow)."""
    rows = []
    for rate in rates:
        row = {"trace": rate_name(rate),
               "precision_horizon_float32_lags": precision_horizon(rate, "float32", embedding),
               "precision_horizon_float16_lags": precision_horizon(rate, "float16", embedding)}
        if embedding == "onehot":
            row["underflow_horizon_float32_lags"] = underflow_horizon(rate, "float32")
            row["underflow_horizon_float16_lags"] = underflow_horizon(rate, "float16")
        rows.append(row)
    return pd.DataFrame(rows)
