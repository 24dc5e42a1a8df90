"""Closed-form memory of a bank of EMA traces: what the best linear readout keeps of lag k.

Model (docs/dilution.md derives every formula). S traces ``h^s_t = (1 - a_s) h^s_{t-1} + a_s x_t``
(``h_0 = 0``) run over i.i.d. token embeddings ``x_t`` with zero mean and isotropic covariance
``sigma2 * I`` (per dimension). Lag k enters trace s with weight ``a_s (1 - a_s)^k``; stacking
the traces (and, with ``include_current``, the input ``x_t`` itself, as the ``ema`` encoder's
block ``"x"`` does) gives one *signal vector* ``w_k`` per lag, the same in every embedding
dimension. Because the input covariance is isotropic the dimensions separate, and per
dimension the feature covariance is ``sigma2 * G + noise_var * I`` with the Gram matrix
``G = sum_k w_k w_k^T``; the infinite sum is a geometric series,
``G_st = a_s a_t / (1 - (1 - a_s)(1 - a_t))``, so nothing is summed to a cutoff.

The best linear readout of ``x_{t-k}`` then has ``r2_k = sigma2 * w_k^T (sigma2 G + noise I)^-1 w_k``
and signal-to-interference ratio ``SIR_k = r2_k / (1 - r2_k)`` (Sherman-Morrison: the same as
``sigma2 w_k^T C_k^-1 w_k`` with ``C_k`` the covariance of every other lag plus noise). Summed
over lags, ``r2`` gives the linear memory capacity ``tr((sigma2 G + noise I)^-1 sigma2 G)``,
exactly the number of coordinates without noise. The functions here return plain numpy arrays
and pandas frames; ``probekit.dilution.precision`` covers finite precision and
``probekit.dilution.design`` the choice of rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from probekit.encoders.ema import check_rates, rate_name
from probekit.errors import ProbekitError
from probekit.options import check_choice, check_float, check_int

#: the lags ``probekit dilution`` tabulates by default.
DEFAULT_LAGS = (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
#: capacity spread: the share of the capacity that lies within lags <= each of these.
SPREAD_CUTOFFS = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256)
EMBEDDINGS = ("random", "onehot")


@dataclass(frozen=True)
class TraceBank:
    """A bank of EMA traces over i.i.d. token embeddings: everything the closed form needs.

    ``dim`` is the Gaussian embedding size (ignored for ``onehot``, whose size is
    ``vocab_size``); ``vocab_size`` is the number of equiprobable token types (it caps the
    bits and sets chance accuracy); ``noise_var`` is additive Gaussian noise per stored
    feature (in the features' own units); ``past`` is the number of tokens seen so far
    (``None``: an infinite past). Build it with :func:`make_bank`, which checks every field.
    """

    rates: tuple[float, ...]
    dim: int = 64
    embedding: str = "random"
    vocab_size: int = 1000
    noise_var: float = 0.0
    include_current: bool = True
    past: int | None = None

    @property
    def n_coords(self) -> int:
        """Feature coordinates per embedding dimension (S traces, plus x_t if included)."""
        return len(self.rates) + int(self.include_current)

    @property
    def token_variance(self) -> float:
        """``sigma2``: variance of one embedding coordinate (of the centred one-hot vector).

        Gaussian: ``random_table`` draws ``N(0, 1/dim)``, so ``1/dim``. One-hot over V
        equiprobable types: after centring the covariance is ``(1/V)(I - 11^T/V)``, i.e.
        ``1/V`` in each of the ``V - 1`` directions orthogonal to the all-ones vector.
        """
        return 1.0 / (self.vocab_size if self.embedding == "onehot" else self.dim)

    @property
    def effective_dim(self) -> int:
        """Independent Gaussian channels per token: ``dim``, or ``V - 1`` for one-hot."""
        return self.vocab_size - 1 if self.embedding == "onehot" else self.dim


def make_bank(rates, dim: int = 64, embedding: str = "random", vocab_size: int = 1000,
              noise_var: float = 0.0, include_current: bool = True, past: int | None = None) -> TraceBank:
    """A checked :class:`TraceBank`; every bad value raises a ProbekitError naming it."""
    checked = check_rates(rates, "rates")
    dim = check_int(dim, "dim (the embedding size)", 1)
    check_choice(embedding, "embedding", EMBEDDINGS)
    vocab_size = check_int(vocab_size, "vocab (the number of token types)", 2)
    noise_var = check_float(noise_var, "noise-var", 0.0)
    past = None if past is None else check_int(past, "past (tokens seen so far, or None)", 1)
    return TraceBank(checked, dim, embedding, vocab_size, noise_var, bool(include_current), past)


def check_lags(lags) -> np.ndarray:
    """Lags as a sorted-as-given int array, each >= 0; else a ProbekitError."""
    values = np.asarray(list(lags))
    if values.size == 0:
        raise ProbekitError("lags: the list is empty; give lags >= 0, e.g. --lags 0,1,2,4,8.")
    if not np.issubdtype(values.dtype, np.integer) or np.any(values < 0):
        raise ProbekitError(f"lags: {values.tolist()} must all be integers >= 0.")
    return values.astype(np.int64)


def lag_weights(bank: TraceBank, lags) -> np.ndarray:
    """``(len(lags), n_coords)`` signal vectors ``w_k``: the weight of lag k in each coordinate.

    Trace s holds ``a_s (1 - a_s)^k`` of the token k steps back; the current-input
    coordinate (first, if included) holds the token at lag 0 only. Lags at or beyond a finite
    ``past`` have no token, hence weight 0.
    """
    lags = np.asarray(lags, dtype=np.int64)
    rates = np.asarray(bank.rates)
    W = rates[None, :] * np.power(1.0 - rates[None, :], lags[:, None].astype(float))
    if bank.include_current:
        W = np.hstack([(lags == 0).astype(float)[:, None], W])
    if bank.past is not None:
        W[lags >= bank.past] = 0.0
    return W


def signal_gram(bank: TraceBank) -> np.ndarray:
    """``G = sum_k w_k w_k^T`` over every lag of the past, in closed form (geometric series).

    ``G_st = a_s a_t (1 - (b_s b_t)^T) / (1 - b_s b_t)`` with ``b = 1 - a`` (``T`` the finite
    past; the power term vanishes for an infinite past); the current-input coordinate adds
    ``G_xx = 1`` and ``G_xs = a_s`` (it only holds lag 0).
    """
    rates = np.asarray(bank.rates)
    decay = np.outer(1.0 - rates, 1.0 - rates)
    series = 1.0 / (1.0 - decay) if bank.past is None else _finite_series(decay, bank.past)
    G = np.outer(rates, rates) * series
    if bank.include_current:
        G = np.block([[np.ones((1, 1)), rates[None, :]], [rates[:, None], G]])
    return G


def _finite_series(decay: np.ndarray, past: int) -> np.ndarray:
    """``sum_{k < past} decay^k`` where some entries of ``decay`` are 0 (a rate of 1)."""
    safe = np.where(decay > 0, decay, 0.5)
    series = -np.expm1(past * np.log(safe)) / (1.0 - safe)
    return np.where(decay > 0, series, 1.0)


def feature_covariance(bank: TraceBank) -> np.ndarray:
    """Per-dimension covariance of the features: ``sigma2 G + noise_var I``."""
    return bank.token_variance * signal_gram(bank) + bank.noise_var * np.eye(bank.n_coords)


def _inverse(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric PSD matrix; the pseudo-inverse where it is singular.

    Singular only without noise and with fewer past tokens than coordinates (or a rate of 1
    next to the current input): then some readouts are exact and the pseudo-inverse gives
    them ``r2 = 1``.
    """
    values, vectors = np.linalg.eigh(matrix)
    keep = values > values.max() * 1e-13
    return (vectors[:, keep] / values[keep]) @ vectors[:, keep].T


def readout_r2(bank: TraceBank, lags) -> np.ndarray:
    """``r2_k``: the share of ``x_{t-k}``'s variance the best linear readout recovers, per dimension."""
    W = lag_weights(bank, lags)
    inverse = _inverse(feature_covariance(bank))
    r2 = bank.token_variance * np.einsum("ki,ij,kj->k", W, inverse, W)
    return np.clip(r2, 0.0, 1.0)


def sir_from_r2(r2: np.ndarray) -> np.ndarray:
    """``SIR = r2 / (1 - r2)`` (infinite where the readout is exact)."""
    r2 = np.asarray(r2, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(r2 >= 1.0 - 1e-12, np.inf, r2 / np.maximum(1.0 - r2, 1e-300))


def bound_bits(sir: np.ndarray, effective_dim: int, vocab_size: int) -> np.ndarray:
    """Gaussian-channel bits about the token: ``min((d/2) log2(1 + SIR), log2 V)``.

    This is the capacity of ``effective_dim`` parallel Gaussian channels at the readout's
    SIR: it bounds what a *linear* readout that treats the other lags as Gaussian noise can
    carry, not what the trace holds (the peeling decoder, ``precision.py``, shows the gap).
    """
    sir = np.asarray(sir, dtype=float)
    with np.errstate(over="ignore"):
        bits = 0.5 * effective_dim * np.log2(1.0 + sir)
    return np.minimum(bits, math.log2(vocab_size))


def fano_accuracy_ceiling(bits: np.ndarray, vocab_size: int) -> np.ndarray:
    """The highest identity accuracy that ``bits`` of information allow among V types (Fano).

    Fano: ``H(Y | Yhat) <= h(P_e) + P_e log2(V - 1)``, and ``H(Y | Yhat) >= log2 V - I``.
    The right side of the first grows with ``P_e`` up to ``1 - 1/V``, so the smallest error
    consistent with ``I`` bits solves ``h(P_e) + P_e log2(V - 1) = log2 V - I``.
    """
    import scipy.optimize   # scipy's submodules cost seconds of start-up; only these tables need them
    import scipy.stats

    bits = np.atleast_1d(np.asarray(bits, dtype=float))
    log_v = math.log2(vocab_size)
    out = np.empty_like(bits)
    for i, b in enumerate(bits):  # one scalar root per tabulated lag (a handful)
        need = log_v - b
        if need <= 0:
            out[i] = 1.0
        elif b <= 0:
            out[i] = 1.0 / vocab_size
        else:
            def excess(pe: float) -> float:
                return float(scipy.stats.entropy([pe, 1 - pe], base=2) + pe * math.log2(vocab_size - 1) - need)
            out[i] = 1.0 - scipy.optimize.brentq(excess, 0.0, 1.0 - 1.0 / vocab_size, xtol=1e-12)
    return out


def nearest_codeword_accuracy(sir: np.ndarray, bank: TraceBank, n_trials: int = 2000,
                              seed: int = 0) -> tuple[np.ndarray, str]:
    """Accuracy of the nearest-codeword (maximum-likelihood) decoder on the readout's channel.

    The linear readout of lag k, rescaled, is ``x + z`` with ``z ~ N(0, sigma2/SIR I)`` if
    the other lags are treated as Gaussian noise. One-hot: every codeword is equidistant, so
    the decoder picks the largest coordinate and its accuracy is the one-dimensional integral
    ``int phi(u) Phi(u + 1/s)^(V-1) du`` with ``s^2 = sigma2 / SIR = 1 / (V SIR)`` — computed by
    quadrature (``"quad"``). Gaussian embeddings: a fresh ``N(0, sigma2 I)`` codebook of V
    types per lag and ``n_trials`` noisy tokens, seeded (``"mc"``). Returns the accuracies
    and the method name.
    """
    import scipy.integrate
    import scipy.stats

    sir = np.asarray(sir, dtype=float)
    V = bank.vocab_size
    out = np.empty_like(sir)
    if bank.embedding == "onehot":
        for i, value in enumerate(sir):
            if np.isinf(value):
                out[i] = 1.0
                continue
            if value <= 0:
                out[i] = 1.0 / V
                continue
            gap = math.sqrt(V * value)  # 1 / s with s^2 = (1/V) / SIR: separation over noise std

            def integrand(u: float) -> float:
                return math.exp(scipy.stats.norm.logpdf(u) + (V - 1) * scipy.stats.norm.logcdf(u + gap))
            out[i] = scipy.integrate.quad(integrand, -12.0, 12.0 + gap, limit=200)[0]
        return np.clip(out, 1.0 / V, 1.0), "quad"
    rng = np.random.default_rng(seed)
    d, sigma2 = bank.dim, bank.token_variance
    for i, value in enumerate(sir):
        if np.isinf(value):
            out[i] = 1.0
            continue
        codebook = rng.standard_normal((V, d)) * math.sqrt(sigma2)
        sent = rng.integers(0, V, n_trials)
        noise_std = math.sqrt(sigma2 / value) if value > 0 else np.inf
        if not np.isfinite(noise_std):
            out[i] = 1.0 / V
            continue
        received = codebook[sent] + rng.standard_normal((n_trials, d)) * noise_std
        scores = 2.0 * received @ codebook.T - np.einsum("ij,ij->i", codebook, codebook)[None, :]
        out[i] = float(np.mean(scores.argmax(axis=1) == sent))
    return out, "mc"


def memory_capacity(bank: TraceBank) -> float:
    """Linear memory capacity per dimension, ``sum_k r2_k`` over the whole past, in closed form.

    ``sum_k sigma2 w_k^T K^-1 w_k = tr(K^-1 sigma2 G) = n_coords - noise_var tr(K^-1)`` with
    ``K = sigma2 G + noise_var I``: exactly the number of coordinates (S, or S + 1 with the
    current input) without noise; noise removes ``noise_var tr(K^-1)``.
    """
    K = feature_covariance(bank)
    inverse = _inverse(K)
    return float(np.trace(inverse @ (K - bank.noise_var * np.eye(bank.n_coords))))


def capacity_spread(bank: TraceBank, cutoffs=SPREAD_CUTOFFS) -> pd.DataFrame:
    """Capacity within lags ``<= L`` for each cutoff L, and its share of the total."""
    cutoffs = check_lags(cutoffs)
    r2 = readout_r2(bank, np.arange(int(cutoffs.max()) + 1))
    cumulative = np.cumsum(r2)[cutoffs]
    total = memory_capacity(bank)
    return pd.DataFrame({"lags_up_to": cutoffs, "capacity_per_dim": cumulative,
                         "share_of_capacity": cumulative / total if total > 0 else np.nan})


def dilution_table(bank: TraceBank, lags=DEFAULT_LAGS, mc_trials: int = 2000, seed: int = 0) -> pd.DataFrame:
    """The per-lag table of ``probekit dilution``: weights, SIR, r2, bound bits, accuracy ceilings.

    Columns (docs/dilution.md explains each): ``lag``; ``weight_ema_<a>`` per rate;
    ``sir_ratio``; ``sir_db``; ``r2_per_dim``; ``bound_bits`` (Gaussian-channel bits, capped
    at log2 V); ``accuracy_ceiling_fano``; ``accuracy_nearest_codeword_<quad|mc>`` (left out
    when ``mc_trials`` is 0 for Gaussian embeddings).
    """
    lags = check_lags(lags)
    W = lag_weights(bank, lags)
    r2 = readout_r2(bank, lags)
    sir = sir_from_r2(r2)
    bits = bound_bits(sir, bank.effective_dim, bank.vocab_size)
    table = pd.DataFrame({"lag": lags})
    offset = int(bank.include_current)
    for s, rate in enumerate(bank.rates):
        table[f"weight_{rate_name(rate)}"] = W[:, offset + s]
    table["sir_ratio"] = sir
    with np.errstate(divide="ignore"):
        table["sir_db"] = 10.0 * np.log10(sir)
    table["r2_per_dim"] = r2
    table["bound_bits"] = bits
    table["accuracy_ceiling_fano"] = fano_accuracy_ceiling(bits, bank.vocab_size)
    if bank.embedding == "onehot" or mc_trials > 0:
        accuracy, method = nearest_codeword_accuracy(sir, bank, n_trials=max(mc_trials, 1), seed=seed)
        table[f"accuracy_nearest_codeword_{method}"] = accuracy
    table["chance_accuracy"] = 1.0 / bank.vocab_size
    return table


def bound_table(rates: list[float], dim: int, lags: list[int], vocab_size: int, include_current: bool = True
                ) -> pd.DataFrame:
    """The per-lag closed form for the stream that ``measured_identity_curves`` measures: Gaussian
    embeddings of size ``dim``, ``vocab_size`` equiprobable types, an infinite noise-free past.

    The ``dilution`` section of ``probekit reproduce`` runs it as a job (imported from
    ``probekit.reproduce``, the name its records' keys were made with)."""
    bank = make_bank(rates, dim=dim, embedding="random", vocab_size=vocab_size, include_current=include_current)
    return dilution_table(bank, lags, mc_trials=0)
