"""Result records -> pandas tables (markdown, CSV, LaTeX).

The headline of the paper is a ratio: zero-label EMA accuracy (the ``hebbian`` probe on
``ema`` features) divided by the supervised BiGRU's accuracy, per task, overall and on the
structure-dependent subset. :func:`ratio_table` computes it from whatever records exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from probekit.errors import ProbekitError

Format = Literal["markdown", "csv", "latex"]
_SUBSET = "structure_dependent"


def _value(metric: dict | None) -> float:
    return np.nan if not metric or metric.get("value") is None else float(metric["value"])


def _flat_row(record: dict) -> dict:
    config, metrics = record["config"], record["metrics"]
    subset = metrics.get("subsets", {}).get(_SUBSET, {})
    majority = record.get("baselines", {}).get("majority", {})
    row = {
        "task": config["task"],
        "encoder": config["encoder"] + _variant(config),
        "probe": config["probe"],
        "readout": metrics.get("readout", ""),
        "train_size": "all" if config.get("train_size") is None else int(config["train_size"]),
        "seed": config["seed"],
        "layer": config.get("layer"),
        "lag": record.get("resolved", {}).get("task_params", {}).get("lag"),
        "accuracy": _value(metrics.get("accuracy")),
        "accuracy_ci_low": metrics["accuracy"]["ci_low"],
        "accuracy_ci_high": metrics["accuracy"]["ci_high"],
        "macro_f1": _value(metrics.get("macro_f1")),
        "v_information_bits": _value(metrics.get("v_information_bits")),
        "v_information_ci_low": (metrics.get("v_information_bits") or {}).get("ci_low", np.nan),
        "v_information_ci_high": (metrics.get("v_information_bits") or {}).get("ci_high", np.nan),
        "struct_accuracy": _value(subset.get("accuracy")),
        "struct_macro_recall": _value(subset.get("macro_recall")),
        "struct_n": subset.get("n", 0),
        "majority_accuracy": _value(majority.get("accuracy")),
        "many_to_one_accuracy": _value(record.get("readouts", {}).get("many_to_one", {}).get("accuracy")),
        "selectivity": metrics.get("control", {}).get("selectivity", np.nan),
        "mdl_compression": metrics.get("mdl", {}).get("compression", np.nan),
    }
    for role, entry in metrics.get("per_class", {}).items():
        row[f"acc_{role}"] = _value(entry)
    return row


def _variant(config: dict) -> str:
    """Encoder options that change what the encoder is (e.g. ``ema[embedding=hebbian]``)."""
    options = config.get("encoder_options") or {}
    if not options:
        return ""
    return "[" + ",".join(f"{k}={v}" for k, v in sorted(options.items())) + "]"


def results_frame(records: list[dict]) -> pd.DataFrame:
    """One row per record, with the main metrics as plain columns."""
    if not records:
        raise ProbekitError("no result records to compare: run `probekit run ...` first.")
    frame = pd.DataFrame([_flat_row(r) for r in records])
    return frame.sort_values(["task", "train_size", "encoder", "probe", "seed"], key=_sort_key).reset_index(drop=True)


def _sort_key(column: pd.Series) -> pd.Series:
    if column.name == "train_size":
        return column.map(lambda v: float("inf") if v == "all" else float(v))
    return column.astype(str)


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per (task, train size, encoder, probe), with the seed count."""
    keys = ["task", "train_size", "encoder", "layer", "lag", "probe", "readout"]
    columns = ["accuracy", "accuracy_ci_low", "accuracy_ci_high", "macro_f1", "v_information_bits", "struct_accuracy",
               "struct_macro_recall", "many_to_one_accuracy", "majority_accuracy", "selectivity",
               "mdl_compression"]
    grouped = frame.groupby(keys, sort=False, dropna=False)
    table = grouped[columns].mean()
    table.insert(0, "seeds", grouped.size())
    return table.reset_index()


def ratio_table(frame: pd.DataFrame, zero_label=("ema", "hebbian"), supervised=("bigru", None)) -> pd.DataFrame:
    """Zero-label EMA ÷ supervised BiGRU accuracy per task (and train size), seed means.

    ``zero_label`` and ``supervised`` are (encoder prefix, probe) pairs; ``None`` as the probe
    accepts any probe. The encoder prefix matches variants such as ``ema[embedding=hebbian]``;
    when several variants exist the best zero-label one is reported and named.
    """
    means = summary_table(frame)

    def pick(encoder: str, probe: str | None) -> pd.DataFrame:
        rows = means[(means.encoder == encoder) | means.encoder.str.startswith(encoder + "[")]
        return rows if probe is None else rows[rows.probe == probe]

    rows = []
    label_free, supervised_rows = pick(*zero_label), pick(*supervised)
    for (task, size), group in label_free.groupby(["task", "train_size"], sort=False):
        reference = supervised_rows[(supervised_rows.task == task) & (supervised_rows.train_size == size)]
        if reference.empty:
            continue
        best = group.loc[group.accuracy.idxmax()]
        ref = reference.loc[reference.accuracy.idxmax()]
        rows.append({
            "task": task, "train_size": size,
            "zero_label": f"{best.encoder} + {best.probe}", "supervised": f"{ref.encoder} + {ref.probe}",
            "zero_label_accuracy": best.accuracy, "supervised_accuracy": ref.accuracy,
            "ratio": best.accuracy / ref.accuracy,
            "ratio_many_to_one": best.many_to_one_accuracy / ref.accuracy,
            "zero_label_struct_accuracy": best.struct_accuracy, "supervised_struct_accuracy": ref.struct_accuracy,
            "struct_ratio": best.struct_accuracy / ref.struct_accuracy,
            "struct_macro_ratio": best.struct_macro_recall / ref.struct_macro_recall,
        })
    return pd.DataFrame(rows)


def layer_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows = layers, columns = (task, encoder, probe): accuracy means over seeds.

    Empty when no record comes from a multi-layer encoding.
    """
    layered = frame.dropna(subset=["layer"])
    if layered.empty:
        return pd.DataFrame()
    layered = layered.assign(layer=layered.layer.astype(int),
                             column=layered.task + " | " + layered.encoder + " | " + layered.probe)
    table = layered.pivot_table(index="layer", columns="column", values="accuracy", aggfunc="mean")
    table.columns.name = None
    return table.reset_index()


def identity_curve_table(frame: pd.DataFrame) -> pd.DataFrame:
    """V-information (bits) by lag, one row per (task, encoder, probe), with curve summaries.

    ``half_lag`` is the lag at which V-information first falls to half its value at the
    smallest lag (linear interpolation between measured lags; NaN if it never does);
    ``total_bits`` sums V-information over the measured lags, negative estimates counted as 0.
    Means over seeds.
    """
    lagged = frame.dropna(subset=["lag", "v_information_bits"])
    if lagged.empty:
        return pd.DataFrame()
    lagged = lagged.assign(lag=lagged.lag.astype(int))
    table = lagged.pivot_table(index=["task", "encoder", "probe"], columns="lag", values="v_information_bits",
                               aggfunc="mean")
    lags = np.array(table.columns, dtype=float)
    table.columns = [f"lag {lag}" for lag in table.columns]
    table["half_lag"] = [_half_lag(lags, row) for row in table.to_numpy()]
    # a negative estimate (the probe's overfitting cost) recovers no bits: it counts as 0
    table["total_bits"] = np.nansum(table[[c for c in table.columns if c.startswith("lag ")]].clip(lower=0), axis=1)
    return table.reset_index()


def _half_lag(lags: np.ndarray, bits: np.ndarray) -> float:
    known = ~np.isnan(bits)
    lags, bits = lags[known], bits[known]
    if lags.size < 2 or bits[0] <= 0:
        return float("nan")
    half = bits[0] / 2
    below = np.flatnonzero(bits <= half)
    if not below.size:
        return float("nan")
    i = below[0]
    return float(lags[i - 1] + (bits[i - 1] - half) / (bits[i - 1] - bits[i]) * (lags[i] - lags[i - 1]))


def render(frame: pd.DataFrame, fmt: Format = "markdown", digits: int = 3) -> str:
    if frame.empty:
        return "(no rows)"
    rounded = frame.round(digits)
    if fmt == "csv":
        return rounded.to_csv(index=False)
    if fmt == "latex":
        return rounded.to_latex(index=False, float_format=f"%.{digits}f", na_rep="--")
    return rounded.to_markdown(index=False, floatfmt=f".{digits}f")


def run_table(record: dict) -> pd.DataFrame:
    """The table `probekit run` prints: each metric with its 95% CI, and the baseline."""
    metrics, majority = record["metrics"], record["baselines"]["majority"]
    rows = []

    def add(name: str, metric: dict | None, baseline: dict | None = None, n: int | None = None) -> None:
        if not metric:
            return
        rows.append({"metric": name, "value": _value(metric), "ci95_low": metric.get("ci_low"),
                     "ci95_high": metric.get("ci_high"), "majority_baseline": _value(baseline), "n_words": n})

    add("accuracy", metrics["accuracy"], majority["accuracy"], metrics["n"])
    if "v_information_bits" in metrics:
        add("cross-entropy (bits per word)", metrics["cross_entropy_bits"], None, metrics["n"])
        add("label entropy H(Y) under the training distribution (bits per word)",
            metrics["label_entropy_bits"], None, metrics["n"])
        add("V-information H(Y) - cross-entropy (bits per word)", metrics["v_information_bits"], None,
            metrics["n"])
    add("macro-F1 (over roles)", metrics["macro_f1"], majority["macro_f1"], metrics["n"])
    for name, subset in metrics.get("subsets", {}).items():
        base = majority["subsets"].get(name, {})
        add(f"{name}: accuracy", subset["accuracy"], base.get("accuracy"), subset["n"])
        add(f"{name}: macro-average over roles", subset["macro_recall"], base.get("macro_recall"), subset["n"])
    for role, entry in metrics["per_class"].items():
        add(f"role {role}: accuracy", entry, majority["per_class"].get(role), entry["n"])
    for mode, other in record.get("readouts", {}).items():
        add(f"accuracy ({mode} readout)", other["accuracy"], None, other["n"])
    control = metrics.get("control")
    if control:
        add("control task: accuracy", control["accuracy"], None, control["n_test"])
        add("selectivity (task - control accuracy)", {"value": control["selectivity"]}, None, control["n_test"])
    mdl = metrics.get("mdl")
    if mdl:
        add("MDL online codelength (bits)", {"value": mdl["online_codelength_bits"]}, None, mdl["n"])
        add("MDL compression (uniform / online)", {"value": mdl["compression"]}, None, mdl["n"])
    return pd.DataFrame(rows)


PLOT_METRICS = {"v_information": ("v_information_bits", "V-information (bits per word)"),
                "accuracy": ("accuracy", "accuracy")}


def plot_identity_curves(frame: pd.DataFrame, path, metric: str = "v_information") -> None:
    """A PNG of ``metric`` against lag, one line per (task, encoder, probe), 95% CI bands.

    Lines are means over seeds; the band spans the mean CI bounds. Written atomically.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from probekit.io import atomic_write

    column, label = PLOT_METRICS[metric]
    low, high = ("accuracy_ci_low", "accuracy_ci_high") if metric == "accuracy" else \
        ("v_information_ci_low", "v_information_ci_high")
    lagged = frame.dropna(subset=["lag", column])
    if lagged.empty:
        raise ProbekitError("no identity-task records with lags to plot: run e.g. "
                            "`probekit run -e ema -t identity --lags 0,1,2,4,8` first.")
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for (task, encoder, probe), rows in lagged.groupby(["task", "encoder", "probe"], sort=True):
        curve = rows.groupby("lag")[[column, low, high]].mean().sort_index()
        lags = curve.index.to_numpy(dtype=float)
        axes.plot(lags, curve[column], marker="o", label=f"{encoder} + {probe} ({task})")
        axes.fill_between(lags, curve[low], curve[high], alpha=0.2)
    axes.set_xlabel("lag k (the word k steps back)")
    axes.set_ylabel(label)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    atomic_write(Path(path), lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    plt.close(figure)
