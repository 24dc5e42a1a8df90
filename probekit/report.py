"""Result records -> pandas tables (markdown, CSV, LaTeX).

The headline of the paper is a ratio: zero-label EMA accuracy (the ``hebbian`` probe on
``ema`` features) divided by the supervised BiGRU's accuracy, per task, overall and on the
structure-dependent subset. :func:`ratio_table` computes it from whatever records exist.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from probekit.errors import ProbekitError
from probekit.plotting import pyplot
from probekit.summary import Format, metric_value, render, run_rows  # noqa: F401  (render, Format: public here too)

_SUBSET = "structure_dependent"


def _flat_row(record: dict) -> dict:
    config, metrics = record["config"], record["metrics"]
    subset = metrics.get("subsets", {}).get(_SUBSET, {})
    majority = record.get("baselines", {}).get("majority", {})
    row = {
        "task": config["task"],
        "source": (record.get("resolved", {}).get("task_params", {}).get("source")
                   or (config.get("task_options") or {}).get("source")),
        "encoder": config["encoder"] + _variant(config),
        "probe": config["probe"],
        "readout": metrics.get("readout", ""),
        "train_size": "all" if config.get("train_size") is None else int(config["train_size"]),
        "seed": config["seed"],
        "layer": config.get("layer"),
        "lag": record.get("resolved", {}).get("task_params", {}).get("lag"),
        "accuracy": metric_value(metrics.get("accuracy")),
        "accuracy_ci_low": metrics["accuracy"]["ci_low"],
        "accuracy_ci_high": metrics["accuracy"]["ci_high"],
        "macro_f1": metric_value(metrics.get("macro_f1")),
        "v_information_bits": metric_value(metrics.get("v_information_bits")),
        "v_information_ci_low": (metrics.get("v_information_bits") or {}).get("ci_low", np.nan),
        "v_information_ci_high": (metrics.get("v_information_bits") or {}).get("ci_high", np.nan),
        "struct_accuracy": metric_value(subset.get("accuracy")),
        "struct_macro_recall": metric_value(subset.get("macro_recall")),
        "struct_n": subset.get("n", 0),
        "majority_accuracy": metric_value(majority.get("accuracy")),
        "many_to_one_accuracy": metric_value(record.get("readouts", {}).get("many_to_one", {}).get("accuracy")),
        "selectivity": metrics.get("control", {}).get("selectivity", np.nan),
        "mdl_compression": metrics.get("mdl", {}).get("compression", np.nan),
        "curve": metrics.get("curve"),
        # the readout curve's clustering method tells apart curves of one encoder and probe
        "method": (record.get("resolved", {}).get("probe_params", {}).get("method") if metrics.get("curve")
                   else None),
    }
    for role, entry in metrics.get("per_class", {}).items():
        row[f"acc_{role}"] = metric_value(entry)
    return row


def _variant(config: dict) -> str:
    """Encoder options that change what the encoder is (e.g. ``ema[embedding=hebbian]``)."""
    options = config.get("encoder_options") or {}
    if not options:
        return ""
    return "[" + ",".join(f"{k}={_short(v)}" for k, v in sorted(options.items())) + "]"


def _short(value) -> str:
    """A path option (e.g. a local model folder) by its last component, to keep labels short."""
    text = str(value)
    return Path(text).name if "/" in text and not text.startswith("[") else text


def results_frame(records: list[dict]) -> pd.DataFrame:
    """One row per record, with the main metrics as plain columns."""
    if not records:
        raise ProbekitError("no result records to compare: run `probekit run ...` first.")
    frame = pd.DataFrame([_flat_row(r) for r in records])
    return frame.sort_values(["task", "train_size", "encoder", "probe", "seed"], key=_sort_key).reset_index(drop=True)


def _sort_key(column: pd.Series) -> pd.Series:
    """Numbers in numeric order (``train_size`` "all" last, missing layers and lags first)."""
    if column.name == "train_size":
        return column.map(lambda v: float("inf") if v == "all" else float(v))
    if column.name in ("layer", "lag", "k"):
        return pd.to_numeric(column, errors="coerce").fillna(-1)
    return column.astype(str)


def combine_seeds(values, lows, highs, bounds: tuple[float, float] = (-np.inf, np.inf)) -> tuple[float, float, float]:
    """Mean over seeds and a 95% interval for it that counts seeds *and* sentences.

    Each record carries its point value and a 95% bootstrap CI over test sentences. All seeds
    are scored on the same test sentences, so sentence-sampling error is shared by the seeds
    and does not shrink with more seeds; seed-to-seed variation (initialisation, embeddings,
    held-out splits) does. With n seeds, values x_s and CIs [lo_s, hi_s]:

        m        = mean_s x_s
        between  = t(0.975, n-1) * sd(x_s) / sqrt(n)            (0 when n = 1)
        within-  = sqrt(mean_s (x_s - lo_s)^2)                  (RMS of the lower half-widths)
        within+  = sqrt(mean_s (hi_s - x_s)^2)
        CI       = [m - sqrt(between^2 + within-^2),  m + sqrt(between^2 + within+^2)]

    Half-widths add in quadrature (independent error sources); the asymmetry of the bootstrap
    interval is kept, and one seed gives back exactly its sentence CI. A record without a sentence
    CI (NaN bounds) makes the interval missing (NaN, shown as "n/a"), never a narrower one: an
    unknown sentence error is not a zero one. A metric that has no sentence error by design (e.g.
    MDL codelength, measured on the training data) passes ``lows = highs = values`` and must say
    that its interval counts seeds only. The interval is clipped to the
    metric's range ``bounds`` (e.g. (0, 1) for accuracy): the normal approximation can reach
    past it where the seeds sit near a limit.
    """
    from scipy import stats

    x = np.asarray(values, dtype=float)
    keep = ~np.isnan(x)
    x = x[keep]
    if not x.size:
        return float("nan"), float("nan"), float("nan")
    lo = np.asarray(lows, dtype=float)[keep]
    hi = np.asarray(highs, dtype=float)[keep]
    m = float(x.mean())
    if np.isnan(lo).any() or np.isnan(hi).any():
        return m, float("nan"), float("nan")
    between = 0.0 if x.size < 2 else float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    below = float(np.sqrt(np.mean((x - lo) ** 2)))
    above = float(np.sqrt(np.mean((hi - x) ** 2)))
    low, high = m - float(np.hypot(between, below)), m + float(np.hypot(between, above))
    return m, max(low, bounds[0]), min(high, bounds[1])


_CI_METRICS = {"accuracy": ("accuracy_ci_low", "accuracy_ci_high"),
               "v_information_bits": ("v_information_ci_low", "v_information_ci_high")}
#: the range each metric of :data:`_CI_METRICS` can take (combined CIs are clipped to it).
_METRIC_BOUNDS = {"accuracy": (0.0, 1.0), "v_information_bits": (-np.inf, np.inf)}


def _seed_means(frame: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    """Per group of ``keys``: ``n_seeds``, plain means of ``columns``, and each metric of
    :data:`_CI_METRICS` with its seed-and-sentence CI (:func:`combine_seeds`)."""
    frame = frame.copy()
    for column in keys + columns + [c for pair in _CI_METRICS.values() for c in pair] + list(_CI_METRICS):
        if column not in frame:
            frame[column] = np.nan
    grouped = frame.groupby(keys, sort=False, dropna=False)
    table = grouped[[c for c in columns if c not in _CI_METRICS and c not in
                     [b for pair in _CI_METRICS.values() for b in pair]]].mean()
    table.insert(0, "n_seeds", grouped["seed"].nunique() if "seed" in frame else grouped.size())
    for metric, (low, high) in _CI_METRICS.items():
        combined = grouped.apply(lambda g, m=metric, a=low, b=high: combine_seeds(g[m], g[a], g[b], _METRIC_BOUNDS[m]),
                                 include_groups=False)
        table[metric] = [c[0] for c in combined]
        table[low] = [c[1] for c in combined]
        table[high] = [c[2] for c in combined]
    ordered = ["n_seeds"] + [c for c in columns if c in table]
    return table[ordered].reset_index()


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per (task, source, train size, encoder, layer, lag, probe, readout), with
    ``n_seeds``; accuracy and V-information carry a 95% CI over seeds and test sentences
    (:func:`combine_seeds`, docs/metrics.md)."""
    keys = ["task", "source", "train_size", "encoder", "layer", "lag", "probe", "readout"]
    columns = ["accuracy", "accuracy_ci_low", "accuracy_ci_high", "macro_f1", "v_information_bits",
               "v_information_ci_low", "v_information_ci_high", "struct_accuracy",
               "struct_macro_recall", "many_to_one_accuracy", "majority_accuracy", "selectivity",
               "mdl_compression"]
    table = _seed_means(frame, keys, columns)
    table = table.sort_values(keys, key=_sort_key, kind="stable", ignore_index=True)
    if table.source.isna().all():
        table = table.drop(columns="source")
    return table


def drop_empty_columns(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` without the columns that are missing in every row (e.g. ``lag`` in a table of
    role records, or the role subsets in a table of identity records): for display."""
    return table.loc[:, table.notna().any(axis=0)]


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

    Empty when no record comes from a multi-layer encoding. Identity records (one per lag)
    are left to :func:`depth_table`, which keeps the lags apart.
    """
    layered = frame.dropna(subset=["layer"])
    if "lag" in layered:
        layered = layered[layered.lag.isna()]
    if layered.empty:
        return pd.DataFrame()
    layered = layered.assign(layer=layered.layer.astype(int),
                             column=layered.task + " | " + layered.encoder + " | " + layered.probe)
    table = layered.pivot_table(index="layer", columns="column", values="accuracy", aggfunc="mean")
    table.columns.name = None
    return table.reset_index()


def _multi_layer(frame: pd.DataFrame) -> pd.Series:
    """Rows from a layer sweep: their (task, source, encoder, probe) has records of several
    layers. A single chosen layer (``-E layer=4``) is just that encoder's representation."""
    if "layer" not in frame or frame.layer.isna().all():
        return pd.Series(False, index=frame.index)
    keys = [k for k in ("task", "source", "encoder", "probe") if k in frame]
    n_layers = frame.groupby(keys, dropna=False).layer.transform("nunique")
    return n_layers > 1


def _curve_keys(frame: pd.DataFrame) -> list[str]:
    return ["task"] + (["source"] if "source" in frame and frame.source.notna().any() else []) + ["encoder", "probe"]


def identity_lag_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, source, encoder, probe, layer, lag): ``n_seeds``, V-information (bits)
    and accuracy, each a mean over seeds with its seed-and-sentence 95% CI."""
    lagged = frame.dropna(subset=["lag"])
    if lagged.empty:
        return pd.DataFrame()
    keys = _curve_keys(lagged) + (["layer"] if lagged.layer.notna().any() else []) + ["lag"]
    lagged = lagged.assign(lag=lagged.lag.astype(int))
    table = _seed_means(lagged, keys, ["v_information_bits", "v_information_ci_low", "v_information_ci_high",
                                       "accuracy", "accuracy_ci_low", "accuracy_ci_high"])
    return table.sort_values(keys, key=_sort_key).reset_index(drop=True)


def identity_curve_table(frame: pd.DataFrame) -> pd.DataFrame:
    """V-information (bits) by lag, one row per (task, source, encoder, probe), with curve summaries.

    ``half_lag`` is the lag at which V-information first falls to half its value at the
    smallest lag (linear interpolation between measured lags; NaN if it never does);
    ``area_bits`` is the area under the bits-by-lag curve between the smallest and the largest
    measured lag (``area_lags``; trapezoids between measured lags, in bit x lag units), negative
    estimates counted with their sign: a probe's overfitting cost is part of what it measured, and
    clipping it to 0 would only ever raise the total. Means over seeds (``n_seeds``); ``area_bits``
    has a 95% CI over seeds and sentences (:func:`_seed_area`, docs/metrics.md). Multi-layer
    records are left to :func:`depth_table`.
    """
    lagged = frame.dropna(subset=["lag", "v_information_bits"])
    lagged = lagged[~_multi_layer(lagged)]
    if lagged.empty:
        return pd.DataFrame()
    keys = _curve_keys(lagged)
    lagged = lagged.assign(lag=lagged.lag.astype(int))
    for column in ("v_information_ci_low", "v_information_ci_high"):
        if column not in lagged:
            lagged[column] = np.nan
    table = lagged.pivot_table(index=keys, columns="lag", values="v_information_bits", aggfunc="mean")
    lags = np.array(table.columns, dtype=float)
    table.columns = [f"lag {lag}" for lag in table.columns]
    table.insert(0, "n_seeds", lagged.groupby(keys).seed.nunique())
    table["half_lag"] = [_half_lag(lags, row) for row in table[[f"lag {int(k)}" for k in lags]].to_numpy()]
    areas = lagged.groupby(keys + ["seed"]).apply(_seed_area, include_groups=False)
    combined = {key: combine_seeds(*zip(*(a[:3] for a in group.tolist()))) for key, group in areas.groupby(level=keys)}
    spans = {key: {a[3] for a in group.tolist()} for key, group in areas.groupby(level=keys)}
    table["area_lags"] = [" / ".join(sorted(spans[key])) for key in table.index]
    table["area_bits"] = [combined[key][0] for key in table.index]
    table["area_bits_ci_low"] = [combined[key][1] for key in table.index]
    table["area_bits_ci_high"] = [combined[key][2] for key in table.index]
    return table.reset_index()


def _seed_area(curve: pd.DataFrame) -> tuple[float, float, float, str]:
    """One seed's area under its bits-by-lag curve (trapezoids over its measured lags, no
    clipping), a 95% sentence CI for it, and the lag range ("0-32").

    The area is a sum of per-lag estimates with trapezoid weights w_k >= 0; its CI half-widths are
    sum_k w_k h_k (h_k the per-lag half-widths). That is the half-width under perfectly correlated
    lag errors, and an upper bound under any correlation (the sd of a sum is at most the sum of the
    sds): the lags are scored on the same test sentences, so no independence is assumed. A lag
    without a CI makes the area's CI missing."""
    curve = curve.sort_values("lag")
    lags = curve.lag.to_numpy(dtype=float)
    bits = curve.v_information_bits.to_numpy(dtype=float)
    gaps = np.diff(lags)
    weights = np.zeros_like(lags)
    weights[:-1] += gaps / 2
    weights[1:] += gaps / 2
    if lags.size == 1:
        weights[:] = 1.0          # one lag: the "area" is that lag's bits
    area = float(weights @ bits)
    low = float(weights @ (bits - curve.v_information_ci_low.to_numpy(dtype=float)))
    high = float(weights @ (curve.v_information_ci_high.to_numpy(dtype=float) - bits))
    return area, area - low, area + high, f"{int(lags[0])}-{int(lags[-1])}"


def depth_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Identity recovery layer by layer (rows = (source, encoder, probe, layer), columns = lag):
    accuracy and V-information in bits with the seed-and-sentence 95% CI, means over seeds.

    Empty unless there are identity records from a multi-layer encoding (``-E all_layers=true``).
    """
    layered = frame.dropna(subset=["lag", "layer"]) if {"lag", "layer"} <= set(frame) else pd.DataFrame()
    layered = layered[_multi_layer(layered)] if not layered.empty else layered
    if layered.empty:
        return pd.DataFrame()
    long = identity_lag_table(layered)
    keys = [k for k in _curve_keys(long) if k != "task"] + ["layer"]
    long = long.assign(layer=long.layer.astype(int))
    wide = long.pivot_table(index=keys, columns="lag", values=["accuracy", "v_information_bits",
                                                               "v_information_ci_low", "v_information_ci_high"],
                            aggfunc="first")
    names = {"accuracy": "accuracy", "v_information_bits": "bits", "v_information_ci_low": "bits_ci_low",
             "v_information_ci_high": "bits_ci_high"}
    order = [(m, lag) for lag in sorted(long.lag.unique()) for m in names]
    wide = wide[order]
    wide.columns = [f"lag {lag} {names[m]}" for m, lag in order]
    wide.insert(0, "n_seeds", long.groupby(keys).n_seeds.min())
    return wide.reset_index()


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


def run_table(record: dict) -> pd.DataFrame:
    """The table `probekit run` prints, as a frame (:func:`probekit.summary.run_rows`)."""
    return pd.DataFrame(run_rows(record))


PLOT_METRICS = {"v_information": ("v_information_bits", "V-information (bits per word)"),
                "accuracy": ("accuracy", "accuracy")}


def _save_png(figure, path) -> None:
    from probekit.io import atomic_write

    figure.tight_layout()
    atomic_write(Path(path), lambda tmp: figure.savefig(tmp, format="png", dpi=120))


def _short_labels(table: pd.DataFrame) -> dict[tuple, str]:
    """Legend labels: ``encoder + probe``, with the encoder's options and the task only where
    they are needed to tell two lines apart (full names stay in the tables)."""
    keys = list(table[["task", "encoder", "probe"]].drop_duplicates().itertuples(index=False, name=None))
    short = {key: f"{key[1].split('[')[0]} + {key[2]}" for key in keys}
    if len(set(short.values())) < len(keys):
        short = {key: f"{key[1]} + {key[2]}" for key in keys}
    if len({key[0] for key in keys}) > 1:
        short = {key: f"{label} ({key[0]})" for key, label in short.items()}
    return short


def plot_identity_curves(frame: pd.DataFrame, path, metric: str = "v_information") -> None:
    """A PNG of ``metric`` against lag, one line per (task, encoder, probe), 95% CI bands; one
    panel per data source when records come from several (e.g. UD text and random streams).

    Lines are means over seeds; bands are the seed-and-sentence CIs of :func:`combine_seeds`.
    Multi-layer records are left to :func:`plot_layer_curves`. Written atomically.
    """
    column, label = PLOT_METRICS[metric]
    lagged = frame.dropna(subset=["lag", column])
    lagged = lagged[~_multi_layer(lagged)]
    if lagged.empty:
        raise ProbekitError("no identity-task records with lags to plot: run e.g. "
                            "`probekit run -e ema -t identity --lags 0,1,2,4,8` first.")
    table = identity_lag_table(lagged)
    low, high = _CI_METRICS[column]
    panels = [(None, table)] if "source" not in table else \
        [(source, rows) for source, rows in table.groupby("source", sort=True, dropna=False)]
    plt = pyplot()
    figure, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.5), squeeze=False)
    names = _short_labels(table)
    for ax, (source, rows) in zip(axes[0], panels):
        for (task, encoder, probe), curve in rows.groupby(["task", "encoder", "probe"], sort=True):
            curve = curve.sort_values("lag")
            lags = curve.lag.to_numpy(dtype=float)
            ax.plot(lags, curve[column], marker="o", label=names[(task, encoder, probe)])
            ax.fill_between(lags, curve[low], curve[high], alpha=0.2)
        ax.set_xlabel("lag k (the word k steps back)")
        ax.set_ylabel(label)
        if source is not None and not (isinstance(source, float) and np.isnan(source)):
            ax.set_title(f"source = {source}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _save_png(figure, path)
    plt.close(figure)


def plot_layer_curves(frame: pd.DataFrame, path, metric: str = "v_information") -> None:
    """A PNG of ``metric`` against layer for multi-layer identity records, one line per
    (encoder, lag), seed-and-sentence 95% CI bands: how the residual stream accumulates (or
    loses) the current and the previous words with depth. Written atomically."""
    column, label = PLOT_METRICS[metric]
    layered = frame.dropna(subset=["lag", "layer", column]) if "layer" in frame else pd.DataFrame()
    layered = layered[_multi_layer(layered)] if not layered.empty else layered
    if layered.empty:
        raise ProbekitError("no multi-layer identity records to plot: run e.g. `probekit run -e gpt2 "
                            "-E model=FOLDER -E all_layers=true -t identity --lags 0,1,2` first.")
    table = identity_lag_table(layered)
    low, high = _CI_METRICS[column]
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(7, 4.5))
    series = [k for k in _curve_keys(table) if k != "task"] + ["lag"]
    groups = list(table.groupby(series, sort=True, dropna=False))
    several = {k: len({dict(zip(series, key))[k] for key, _ in groups}) > 1 for k in series}
    for key, curve in groups:
        curve = curve.sort_values("layer")
        layers = curve.layer.to_numpy(dtype=float)
        parts = dict(zip(series, key))
        # name only what differs between lines: the lag, and encoder / source where there are several
        name = ", ".join([f"lag {parts['lag']}"] + [str(parts[k]) for k in series if k != "lag" and several[k]])
        ax.plot(layers, curve[column], marker="o", label=name)
        ax.fill_between(layers, curve[low], curve[high], alpha=0.2)
    encoders = table.encoder.unique()
    if len(encoders) == 1:
        ax.set_title(str(encoders[0]).split("[")[0] + " (" + ", ".join(map(str, table.source.dropna().unique()))
                     + ")" if "source" in table else str(encoders[0]).split("[")[0])
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save_png(figure, path)
    plt.close(figure)


def compare_tables(frame: pd.DataFrame, all_rows: bool = False) -> list[tuple[str, pd.DataFrame | None, str]]:
    """What ``probekit compare`` prints, in order: ``(title, table, note)`` triples.

    The summary (means over seeds, or every record with ``all_rows``) always; the identity
    curves, the identity-by-layer and accuracy-by-layer tables when the records have them; the
    zero-label ÷ supervised ratio unless every record is an identity run (``table`` None and
    ``note`` saying what is missing when the records cannot give it).
    """
    tables = [("", drop_empty_columns(frame.drop(columns=["curve", "method"], errors="ignore") if all_rows
                                      else summary_table(frame)), "")]
    optional = (
        ("V-information (bits per word) by lag, with the lag where it halves and the area under "
         "the curve over area_lags (means over n_seeds; area_bits CI over seeds and sentences):",
         identity_curve_table),
        ("Identity by layer (accuracy; V-information in bits with its CI over seeds and sentences):", depth_table),
        ("Accuracy by layer (mean over seeds):", layer_table),
    )
    for title, make in optional:
        table = make(frame)
        if not table.empty:
            tables.append((title, table, ""))
    curve = readout_curve_table(frame)
    if not curve.empty:
        tables.append(("Zero-label readout curve (accuracy and V-information of the cluster labels against the "
                       "number of clusters k; mapping fitted on training words; means over n_seeds):", curve, ""))
        tables.append((f"Smallest k at which many-to-one reaches {PAPER_RATIO:g} x BiGRU (the paper's figure):",
                       paper_k_table(frame, curve), ""))
    if not (frame.task == "identity").all():  # the zero-label ÷ BiGRU ratio is about role tasks
        ratios = ratio_table(frame)
        tables.append(("Zero-label EMA (hebbian probe) ÷ supervised BiGRU:", None if ratios.empty else ratios,
                       "(needs records of ema + hebbian and of bigru on the same task and training size)"))
    return tables


# -- the zero-label readout curve (issue 15) ------------------------------------------------------

#: The paper's headline: a label-free readout at 96% of the supervised BiGRU's accuracy.
PAPER_RATIO = 0.96
_CURVE_METRICS = {"one_to_one": ("one-to-one", (0.0, 1.0)), "many_to_one": ("many-to-one", (0.0, 1.0)),
                  "v_information_bits": ("V-information (bits)", (-np.inf, np.inf))}
_CURVE_KEYS = ["task", "train_size", "encoder", "probe", "method"]


def readout_curve_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, train size, encoder, probe, clustering method, k) of the records' readout curves: one-to-one
    and many-to-one accuracy and the V-information of the cluster labels, means over seeds with
    seed-and-sentence 95% intervals (:func:`combine_seeds`). Empty when no record has a curve."""
    if "curve" not in frame:
        return pd.DataFrame()
    long = [{**{key: row[key] for key in _CURVE_KEYS + ["seed"]}, "k": int(entry["k"]),
             **{f"{m}{part}": (entry[m] or {}).get(field, np.nan)
                for m in _CURVE_METRICS for part, field in (("", "value"), ("_lo", "ci_low"), ("_hi", "ci_high"))}}
            for _, row in frame.iterrows() if isinstance(row["curve"], list) for entry in row["curve"]]
    if not long:
        return pd.DataFrame()
    long = pd.DataFrame(long).astype({f"{m}{p}": float for m in _CURVE_METRICS for p in ("", "_lo", "_hi")})
    rows = []
    for key, group in long.groupby(_CURVE_KEYS + ["k"], sort=False, dropna=False):   # a probe may have no method
        row = dict(zip(_CURVE_KEYS + ["k"], key), n_seeds=int(group.seed.nunique()))
        for metric, (label, bounds) in _CURVE_METRICS.items():
            mean, low, high = combine_seeds(group[metric], group[f"{metric}_lo"], group[f"{metric}_hi"], bounds)
            row[label], row[f"{label} ci95_low"], row[f"{label} ci95_high"] = mean, low, high
        rows.append(row)
    return pd.DataFrame(rows).sort_values(_CURVE_KEYS + ["k"], key=_sort_key, kind="stable", ignore_index=True)


def _references(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy over seeds of the supervised references per (task, train size): the BiGRU
    (best variant) and the linear probe on each encoder."""
    means = summary_table(frame)
    return means[_is_bigru(means) | (means.probe == "linear")]


def _is_bigru(frame: pd.DataFrame) -> pd.Series:
    """Rows of any BiGRU variant (``bigru``, ``bigru[epochs=4]``, ...)."""
    return frame.encoder.str.split("[").str[0] == "bigru"


def _linear_reference(references: pd.DataFrame, encoder: str) -> pd.DataFrame:
    """The linear probe on ``encoder``, else on another variant of the same encoder (EMA + linear
    beside the zero-label EMA with hebbian embeddings)."""
    linear = references[references.probe == "linear"]
    same = linear[linear.encoder == encoder]
    return same if not same.empty else linear[linear.encoder.str.split("[").str[0] == encoder.split("[")[0]]


def paper_k_table(frame: pd.DataFrame, curve: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per curve (task, train size, encoder, probe): the BiGRU's accuracy, the paper's bar
    (:data:`PAPER_RATIO` x BiGRU), the smallest k whose mean many-to-one accuracy reaches it (or
    "never up to k = K_max"), the best many-to-one ÷ BiGRU, the k-independent V-information at the
    largest k, and the supervised linear probe on the same encoder."""
    curve = readout_curve_table(frame) if curve is None else curve
    references = _references(frame)
    rows = []
    for key, group in curve.groupby(_CURVE_KEYS, sort=False, dropna=False):   # a probe may have no method
        task, size, encoder, probe, method = key
        same = references[(references.task == task) & (references.train_size == size)]
        gru = same[_is_bigru(same)]
        linear = _linear_reference(same, encoder)
        bigru = float(gru.accuracy.max()) if not gru.empty else np.nan
        group = group.sort_values("k")
        reached = group[group["many-to-one"] >= PAPER_RATIO * bigru] if np.isfinite(bigru) else group.iloc[:0]
        largest = group.iloc[-1]
        rows.append({
            "task": task, "train_size": size, "encoder": encoder, "probe": probe, "method": method,
            "BiGRU accuracy": bigru,
            f"{PAPER_RATIO:g} x BiGRU": PAPER_RATIO * bigru,
            "smallest k reaching it": ("n/a (no BiGRU record)" if not np.isfinite(bigru) else
                                       str(int(reached.k.iloc[0])) if not reached.empty else
                                       f"never up to {int(largest.k)}"),
            "best many-to-one ÷ BiGRU": float(group["many-to-one"].max()) / bigru if np.isfinite(bigru) else np.nan,
            "V-information (bits) at largest k": largest["V-information (bits)"],
            "linear probe accuracy": float(linear.accuracy.iloc[0]) if not linear.empty else np.nan,
        })
    return pd.DataFrame(rows)


def plot_readout_curves(frame: pd.DataFrame, path, metric: str = "accuracy") -> None:
    """A PNG of the readout curve: accuracy against the number of clusters k (log scale), one-to-one
    (solid) and many-to-one (dashed) per encoder and probe with 95% bands, one panel per task; the
    BiGRU, :data:`PAPER_RATIO` x BiGRU and each encoder's linear probe as horizontal lines where
    their records exist. ``metric="v_information"`` draws the V-information of the cluster labels."""
    curve = readout_curve_table(frame)
    if curve.empty:
        raise ProbekitError("no readout-curve records to plot: run e.g. `probekit run -e ema -t roles -p hebbian "
                            "-P clusters=8,16,64,256` first.")
    references = _references(frame)
    tasks = list(dict.fromkeys(curve.task))
    plt = pyplot()
    figure, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4.5), squeeze=False)
    series = (("one-to-one", "-"), ("many-to-one", "--")) if metric == "accuracy" else (("V-information (bits)", "-"),)
    for ax, task in zip(axes[0], tasks):
        rows = curve[curve.task == task]
        lines: dict[str, float] = {}
        for i, ((encoder, probe, method), line) in enumerate(rows.groupby(["encoder", "probe", "method"], sort=True)):
            colour = f"C{i}"
            for label, style in series:
                ax.plot(line.k, line[label], style, marker="o", color=colour,
                        label=f"{encoder} + {probe} ({method}): {label}")
                ax.fill_between(line.k, line[f"{label} ci95_low"], line[f"{label} ci95_high"], color=colour,
                                alpha=0.15)
            linear = _linear_reference(references[references.task == task], encoder)
            if metric == "accuracy" and not linear.empty:
                lines[str(linear.encoder.iloc[0])] = float(linear.accuracy.iloc[0])
        for i, (name, accuracy) in enumerate(sorted(lines.items())):      # each supervised probe once
            ax.axhline(accuracy, color="grey", linestyle=("-.", "--", ":")[i % 3], linewidth=1,
                       label=f"{name} + linear (supervised probe)")
        gru = references[(references.task == task) & _is_bigru(references)]
        if metric == "accuracy" and not gru.empty:
            bigru = float(gru.accuracy.max())
            ax.axhline(bigru, color="black", linewidth=1.2, label="BiGRU (supervised)")
            ax.axhline(PAPER_RATIO * bigru, color="black", linestyle=":", label=f"{PAPER_RATIO:g} x BiGRU (paper)")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("number of clusters k")
        ax.set_ylabel("accuracy (test words)" if metric == "accuracy" else "V-information of cluster labels (bits)")
        ax.set_title(task)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    _save_png(figure, path)
    plt.close(figure)
