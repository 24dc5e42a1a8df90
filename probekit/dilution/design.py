"""Designing rates: where to put the fixed memory budget of a bank of EMA traces.

Without noise the linear memory capacity of S traces is S per dimension whatever the rates
(``theory.memory_capacity``); the rates only decide how it spreads over lags. The design
question is therefore which rates put the most of it (or the most Gaussian-channel bits)
inside a target lag range. The search runs over logit-rates (so every rate stays in (0, 1))
with L-BFGS-B from several random starts drawn from one seed: the same seed gives the same
design.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.optimize
import scipy.special

from probekit.dilution.theory import TraceBank, bound_bits, readout_r2, sir_from_r2
from probekit.errors import ProbekitError

OBJECTIVES = ("capacity", "bits")
#: random starts are drawn log-uniformly between these rates.
_START_RANGE = (1e-3, 0.99)
#: rates are kept this far from 0 and 1 (a rate of exactly 0 holds nothing, 1 only lag 0).
_EDGE = 1e-6


def parse_lag_range(text: str) -> tuple[int, int]:
    """``"LO:HI"`` as two ints ``0 <= LO <= HI``, else a ProbekitError."""
    lo, sep, hi = str(text).partition(":")
    if not sep or not lo.strip().isdigit() or not hi.strip().isdigit():
        raise ProbekitError(f"--design {text!r}: expected LO:HI with integers 0 <= LO <= HI, e.g. --design 0:8.")
    lo_value, hi_value = int(lo), int(hi)
    if lo_value > hi_value:
        raise ProbekitError(f"--design {text!r}: LO must not exceed HI.")
    return lo_value, hi_value


def objective_value(bank: TraceBank, lag_range: tuple[int, int], objective: str = "capacity") -> float:
    """The design objective of ``bank``: summed ``r2`` (``capacity``) or summed bound bits
    (``bits``) over the lags ``lo..hi`` inclusive."""
    if objective not in OBJECTIVES:
        raise ProbekitError(f"objective: must be one of {', '.join(OBJECTIVES)}, got {objective!r}.")
    lags = np.arange(lag_range[0], lag_range[1] + 1)
    r2 = readout_r2(bank, lags)
    if objective == "capacity":
        return float(r2.sum())
    return float(bound_bits(sir_from_r2(r2), bank.effective_dim, bank.vocab_size).sum())


def design_rates(bank: TraceBank, lag_range: tuple[int, int], objective: str = "capacity",
                 n_starts: int = 8, seed: int = 0) -> dict:
    """Rates (as many as ``bank`` has) that maximise ``objective`` over ``lag_range``.

    Everything else about ``bank`` (dimension, embedding, vocabulary, noise, current input,
    past) is kept. Returns plain data: the designed rates (fastest first), its objective
    value, the value of ``bank``'s own rates and the gain (difference and ratio).
    """
    if objective not in OBJECTIVES:
        raise ProbekitError(f"objective: must be one of {', '.join(OBJECTIVES)}, got {objective!r}.")
    if n_starts < 1:
        raise ProbekitError(f"n_starts: must be >= 1, got {n_starts}.")
    lo, hi = int(lag_range[0]), int(lag_range[1])
    if lo < 0 or hi < lo:
        raise ProbekitError(f"lag range {lag_range}: expected 0 <= LO <= HI.")
    n_rates = len(bank.rates)

    def rates_of(theta: np.ndarray) -> tuple[float, ...]:
        return tuple(np.clip(scipy.special.expit(theta), _EDGE, 1.0 - _EDGE).tolist())

    def loss(theta: np.ndarray) -> float:
        return -objective_value(dataclasses.replace(bank, rates=rates_of(theta)), (lo, hi), objective)

    rng = np.random.default_rng(seed)
    log_lo, log_hi = np.log(_START_RANGE)
    starts = scipy.special.logit(np.exp(rng.uniform(log_lo, log_hi, (n_starts, n_rates))))
    best = None
    for start in starts:  # a handful of small smooth problems
        result = scipy.optimize.minimize(loss, start, method="L-BFGS-B")
        if best is None or result.fun < best.fun:
            best = result
    designed = tuple(sorted(rates_of(best.x), reverse=True))
    value = objective_value(dataclasses.replace(bank, rates=designed), (lo, hi), objective)
    baseline = objective_value(bank, (lo, hi), objective)
    return {
        "objective": objective, "lag_range": (lo, hi), "rates": designed, "value": value,
        "baseline_rates": bank.rates, "baseline_value": baseline, "gain": value - baseline,
        "gain_ratio": value / baseline if baseline > 0 else float("inf"),
        "n_starts": n_starts, "seed": seed,
    }
