"""What ``probekit dilution`` shows, as plain data: :func:`analyse` returns pandas frames and
dicts, :func:`merge_measured` adds measured columns to the per-lag table and
:func:`plot_dilution` draws the bound (and measured curves) against lag.
"""


from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from probekit.dilution.theory import (
    DEFAULT_LAGS,
    SPREAD_CUTOFFS,
    TraceBank,
    capacity_spread,
    check_lags,
    dilution_table,
    memory_capacity,
)
from probekit.errors import ProbekitError
from probekit.plotting import pyplot

#: the columns the empirical module returns, one row per (lag, probe, condition).
MEASURED_COLUMNS = ("lag", "probe", "condition", "accuracy", "accuracy_lo", "accuracy_hi",
                    "v_information_bits", "v_information_bits_lo", "v_information_bits_hi",
                    "label_entropy_bits")


def default_vocab_size(empirical: bool) -> int:
    """Token types when none is given: 1000 for the closed form alone; with measured curves the
    empirical default (64), where the probes get about 600 training tokens per type."""
    from probekit.dilution.empirical import DEFAULT_VOCAB_SIZE

    return DEFAULT_VOCAB_SIZE if empirical else 1000


def analyse(bank: TraceBank, lags=DEFAULT_LAGS, design_range: tuple[int, int] | None = None,
            objective: str = "capacity", mc_trials: int = 2000, n_starts: int = 8, seed: int = 0) -> dict:
    """Everything ``probekit dilution`` prints, as plain data.

    Keys: ``table`` (per lag, :func:`~probekit.dilution.theory.dilution_table`), ``capacity``
    (a one-row frame: coordinates per dimension, the closed-form capacity without and with
    the noise, and what the noise removes; without noise it is the number of coordinates unless
    the bank is degenerate, e.g. a rate of 1 beside the current input or a short past),
    ``spread`` (capacity within lags <= L), ``horizons`` (precision horizons per rate) and,
    with ``design_range``, ``design`` (a dict from :func:`~probekit.dilution.design.design_rates`).
    """
    from probekit.dilution.precision import horizon_table

    lags = check_lags(lags)
    total = memory_capacity(bank)
    noise_free = memory_capacity(dataclasses.replace(bank, noise_var=0.0))
    out = {
        "table": dilution_table(bank, lags, mc_trials=mc_trials, seed=seed),
        "capacity": pd.DataFrame([{"coordinates_per_dim": bank.n_coords,
                                   "capacity_without_noise_per_dim": noise_free, "capacity_per_dim": total,
                                   "lost_to_noise_per_dim": noise_free - total}]),
        "spread": capacity_spread(bank, SPREAD_CUTOFFS),
        "horizons": horizon_table(bank.rates, bank.embedding),
    }
    if design_range is not None:
        from probekit.dilution.design import design_rates

        out["design"] = design_rates(bank, design_range, objective, n_starts=n_starts, seed=seed)
    return out


def design_frame(design: dict) -> pd.DataFrame:
    """The rate-design result as a two-row table (the given rates, the designed rates)."""
    unit = "r2_sum" if design["objective"] == "capacity" else "bits"
    column = f"{design['objective']}_lags_{design['lag_range'][0]}_to_{design['lag_range'][1]} ({unit})"
    return pd.DataFrame([
        {"rates": ", ".join(f"{r:.4g}" for r in design["baseline_rates"]), column: design["baseline_value"],
         "gain_ratio": 1.0},
        {"rates": ", ".join(f"{r:.4g}" for r in design["rates"]), column: design["value"],
         "gain_ratio": design["gain_ratio"]},
    ], index=["given", "designed"]).reset_index(names="rates_set")


def measure(bank: TraceBank, lags, probes: tuple[str, ...], seed: int = 0,
            progress: Callable[[str], None] | None = None, **sizes: int) -> pd.DataFrame:
    """Measured identity curves on the same bank (``probekit.dilution.empirical``), checked.

    The probes see noise-free Gaussian-embedding traces over an unbounded random stream, so
    the bank must be that too for the bound to be comparable. ``sizes`` (``n_train``,
    ``n_test``, ``n_boot``) go to :func:`~probekit.dilution.empirical.measured_identity_curves`.
    """
    if bank.embedding != "random" or bank.noise_var > 0 or bank.past is not None:
        raise ProbekitError("--empirical measures probes on noise-free Gaussian embeddings over a long stream: "
                            "drop --embedding onehot, --noise-var and --past to compare with the bound.")
    from probekit.dilution.empirical import measured_identity_curves

    measured = measured_identity_curves(tuple(bank.rates), bank.dim, [int(k) for k in lags], probes=tuple(probes),
                                        seed=seed, vocab_size=bank.vocab_size,
                                        include_current=bank.include_current, progress=progress, **sizes)
    missing = [c for c in MEASURED_COLUMNS if c not in measured.columns]
    if missing:
        raise ProbekitError(f"measured identity curves lack columns {missing}; expected {list(MEASURED_COLUMNS)}.")
    return measured


def for_display(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with integer columns as text, so that printed tables show lags as 0, 1, 2
    rather than in the float format of the other columns."""
    shown = frame.copy()
    for column in shown.columns:
        if pd.api.types.is_integer_dtype(shown[column]):
            shown[column] = shown[column].astype(str)
    return shown


def _series_name(probe: str, condition: str) -> str:
    return f"{probe} ({condition})"


def merge_measured(table: pd.DataFrame, measured: pd.DataFrame) -> pd.DataFrame:
    """The per-lag table with measured bits and accuracy (and CIs) per probe and condition.

    Adds ``measured_bits[<probe> (<condition>)]`` and ``measured_accuracy[...]`` with their
    95% CI bounds (``_lo``, ``_hi``); lags the probes did not measure stay empty.
    """
    wide = table.copy()
    for (probe, condition), rows in measured.groupby(["probe", "condition"], sort=True):
        name = _series_name(probe, condition)
        rows = rows.set_index("lag")
        for source, target in (("v_information_bits", "measured_bits"), ("accuracy", "measured_accuracy")):
            for suffix in ("", "_lo", "_hi"):
                values = rows[source + suffix]
                wide[f"{target}{suffix}[{name}]"] = wide["lag"].map(values).astype(float)
    return wide


def plot_dilution(table: pd.DataFrame, bank: TraceBank, path: Path,
                  measured: pd.DataFrame | None = None) -> None:
    """A PNG: bound bits (top) and accuracy ceilings (bottom) against lag, measured curves with
    95% CI bands where given. Lag axis symmetric-log (lag 0 included). Written atomically."""
    from probekit.io import atomic_write

    plt = pyplot()
    lags = table["lag"].to_numpy(dtype=float)
    figure, (bits_axes, accuracy_axes) = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
    rates = ", ".join(f"{r:g}" for r in bank.rates)
    bits_axes.plot(lags, table["bound_bits"], color="black", marker="o",
                   label=f"Gaussian-channel bound (linear readout), rates {rates}")
    bits_axes.axhline(np.log2(bank.vocab_size), color="grey", linestyle=":", label=f"log2 V (V = {bank.vocab_size})")
    accuracy_axes.plot(lags, table["accuracy_ceiling_fano"], color="black", marker="o", label="Fano ceiling")
    codeword = [c for c in table.columns if c.startswith("accuracy_nearest_codeword_")]
    for column in codeword:
        accuracy_axes.plot(lags, table[column], color="black", linestyle="--", marker=".",
                           label=f"nearest codeword, Gaussian interference ({column.rsplit('_', 1)[-1]})")
    accuracy_axes.axhline(1.0 / bank.vocab_size, color="grey", linestyle=":", label="chance")
    if measured is not None:
        for (probe, condition), rows in measured.groupby(["probe", "condition"], sort=True):
            rows = rows.sort_values("lag")
            x = rows["lag"].to_numpy(dtype=float)
            name = f"measured: {_series_name(probe, condition)}"
            line, = bits_axes.plot(x, rows["v_information_bits"], marker="s", label=name)
            bits_axes.fill_between(x, rows["v_information_bits_lo"], rows["v_information_bits_hi"],
                                   color=line.get_color(), alpha=0.2)
            accuracy_axes.plot(x, rows["accuracy"], marker="s", color=line.get_color(), label=name)
            accuracy_axes.fill_between(x, rows["accuracy_lo"], rows["accuracy_hi"], color=line.get_color(), alpha=0.2)
    embedding = "one-hot" if bank.embedding == "onehot" else f"Gaussian, d = {bank.dim}"
    bits_axes.set_title(f"EMA traces ({embedding}, noise var {bank.noise_var:g}"
                        f"{', with x_t' if bank.include_current else ''})", fontsize=9)
    bits_axes.set_ylabel("bits about the token at lag k")
    accuracy_axes.set_ylabel("identity accuracy")
    accuracy_axes.set_xlabel("lag k (the token k steps back)")
    for axes in (bits_axes, accuracy_axes):
        axes.set_xscale("symlog", linthresh=1.0)
        axes.set_xlim(left=0.0)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
    figure.tight_layout()
    try:
        atomic_write(Path(path), lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    finally:
        plt.close(figure)
