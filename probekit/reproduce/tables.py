"""Table and plot helpers shared by the sections of ``probekit reproduce``.

Intervals (:func:`seed_interval`, :func:`ratio_interval`, :func:`fmt_ci`), one row per role-task
record (:func:`role_rows`), seed means with intervals (:func:`aggregate`), and the plotting helpers
(:func:`plot_against_lag`; matplotlib is imported only when a plot is drawn).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from probekit.io import atomic_write
from probekit.plotting import pyplot


# ----------------------------------------------------------------------------- aggregation

#: the range of an accuracy: combined intervals are clipped to it.
ACCURACY_RANGE = (0.0, 1.0)


def seed_interval(values, lows, highs, bounds: tuple[float, float] = (-math.inf, math.inf)
                  ) -> tuple[float, float, float]:
    """Mean over seeds with a 95% interval that counts seeds and test sentences: the project's
    one rule, :func:`probekit.report.combine_seeds` (docs/metrics.md), clipped to ``bounds``."""
    from probekit.report import combine_seeds

    return combine_seeds(values, lows, highs, bounds)


def ratio_interval(num: tuple[float, float, float], den: tuple[float, float, float]) -> tuple[float, float]:
    """95% interval of num/den from the two intervals (delta method, relative errors in
    quadrature). Both are scored on the same test sentences, so they co-vary positively and
    this interval is conservative (too wide, never too narrow)."""
    (a, a_lo, a_hi), (b, b_lo, b_hi) = num, den
    if not (b > 0 and a >= 0):
        return math.nan, math.nan
    rel = math.hypot((a_hi - a_lo) / 2 / a if a > 0 else 0.0, (b_hi - b_lo) / 2 / b)
    return a / b * (1 - rel), a / b * (1 + rel)


def fmt_ci(mean: float, low: float, high: float, digits: int = 3) -> str:
    if mean is None or math.isnan(mean):
        return "n/a"
    if math.isnan(low) or math.isnan(high):
        return f"{mean:.{digits}f} [interval n/a]"    # a missing width is not a zero width
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _metric(entry: dict | None) -> tuple[float, float, float]:
    if not entry or entry.get("value") is None:
        return math.nan, math.nan, math.nan
    low, high = entry.get("ci_low"), entry.get("ci_high")
    return (float(entry["value"]), math.nan if low is None else float(low), math.nan if high is None else float(high))


def _number(value) -> float:
    return math.nan if value is None else float(value)


def role_rows(records: list[dict], conditions: dict[str, str]) -> pd.DataFrame:
    """One row per role-task record: the numbers the structure and selectivity tables need.

    ``conditions`` maps a run's config key to the condition label of the section.
    """
    rows = []
    for record in records:
        if "config" not in record or record["id"].split("-L")[0] not in conditions:
            continue
        metrics = record["metrics"]
        acc = _metric(metrics.get("accuracy"))
        struct = _metric(metrics.get("subsets", {}).get("structure_dependent", {}).get("accuracy"))
        many = _metric(record.get("readouts", {}).get("many_to_one", {}).get("accuracy"))
        control, mdl = metrics.get("control", {}), metrics.get("mdl", {})
        control_acc = _metric(control.get("accuracy"))
        rows.append({
            "task": record["config"]["task"], "condition": conditions[record["id"].split("-L")[0]],
            "seed": record["config"]["seed"],
            "accuracy": acc[0], "accuracy_lo": acc[1], "accuracy_hi": acc[2],
            "struct_accuracy": struct[0], "struct_accuracy_lo": struct[1], "struct_accuracy_hi": struct[2],
            "struct_words": metrics.get("subsets", {}).get("structure_dependent", {}).get("n", math.nan),
            "many_to_one_accuracy": many[0], "many_to_one_accuracy_lo": many[1], "many_to_one_accuracy_hi": many[2],
            "majority_accuracy": _metric(record.get("baselines", {}).get("majority", {}).get("accuracy"))[0],
            "control_accuracy": control_acc[0], "control_accuracy_lo": control_acc[1],
            "control_accuracy_hi": control_acc[2],
            "selectivity": control.get("selectivity", math.nan),
            "selectivity_lo": _number(control.get("selectivity_ci_low")),
            "selectivity_hi": _number(control.get("selectivity_ci_high")),
            "mdl_online_bits": mdl.get("online_codelength_bits", math.nan),
            "mdl_uniform_bits": mdl.get("uniform_codelength_bits", math.nan),
            "mdl_compression": mdl.get("compression", math.nan),
            "mdl_n_labels": mdl.get("n", math.nan), "n_classes": mdl.get("n_classes", math.nan),
            "n_clusters": metrics.get("n_clusters", math.nan),
            "n_labels": len(record["data"]["labels"]) if isinstance(record["data"]["labels"], list) else
            record["data"]["labels"],
            "train_sentences": record["data"]["train_sentences"], "test_words": record["data"]["test_words"],
        })
    return pd.DataFrame(rows)


def aggregate(rows: pd.DataFrame, metrics: dict[str, str], keys=("task", "condition"),
              seeds_only: tuple[str, ...] = ()) -> pd.DataFrame:
    """Seed means with :func:`seed_interval` for each ``{column: label}`` in ``metrics``.

    A column's sentence interval is ``<column>_lo`` / ``<column>_hi``; without them the interval is
    missing (NaN), unless the column is in ``seeds_only``: a metric with no sentence error by design
    (MDL codelength is measured on training blocks), whose interval then counts seeds only (its
    label must say so)."""
    out = []
    for key, group in rows.groupby(list(keys), sort=False):
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        row["n_seeds"] = int(group.seed.nunique())
        for column, label in metrics.items():
            if column in seeds_only:
                lo, hi = group[column], group[column]
            elif f"{column}_lo" in group:
                lo, hi = group[f"{column}_lo"], group[f"{column}_hi"]
            else:
                lo, hi = group[column] * np.nan, group[column] * np.nan
            bounds = ACCURACY_RANGE if "accuracy" in column else (-math.inf, math.inf)
            mean, low, high = seed_interval(group[column].to_numpy(), lo.to_numpy(), hi.to_numpy(), bounds)
            row[label], row[f"{label} ci95_low"], row[f"{label} ci95_high"] = mean, low, high
        out.append(row)
    return pd.DataFrame(out)


def plot_against_lag(table: pd.DataFrame, column: str, path: Path, reference: str | None = None,
                     ylabel: str = "") -> None:
    """One line per (encoder, probe, condition) with its 95% band, and an optional reference curve."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.5))
    series = [k for k in ("encoder", "probe", "condition") if k in table]
    for key, rows in table.groupby(series, sort=True) if series else [("", table)]:
        rows = rows.sort_values("lag")
        name = " | ".join(map(str, key)) if isinstance(key, tuple) else str(key)
        axes.plot(rows.lag, rows[column], marker="o", label=name)
        axes.fill_between(rows.lag, rows[f"{column} ci95_low"], rows[f"{column} ci95_high"], alpha=0.2)
    if reference:
        ref = table.drop_duplicates("lag").sort_values("lag")
        axes.plot(ref.lag, ref[reference], "k--", label=reference)
    axes.set_xlabel("lag k (the token k steps back)")
    axes.set_ylabel(ylabel or column)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    _save(figure, path)


def _save(figure, path: Path) -> None:
    plt = pyplot()
    atomic_write(Path(path), lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    plt.close(figure)
