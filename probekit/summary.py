"""The table `probekit run` prints, built and rendered without pandas.

Why a module of its own: `probekit run` prints one small table per record, and importing
pandas for it (through :mod:`probekit.report`) cost about 0.6 s of every run's start-up. The
markdown table goes straight to ``tabulate`` (what ``DataFrame.to_markdown`` calls) and reads
exactly as before; csv and LaTeX still go through pandas, loaded only when asked for.
:func:`render` (a frame -> text) lives here too, so that :mod:`probekit.report` and the run
table share one formatting.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

Format = Literal["markdown", "csv", "latex"]


def metric_value(metric: dict | None) -> float:
    return np.nan if not metric or metric.get("value") is None else float(metric["value"])


def render(frame: pd.DataFrame, fmt: Format = "markdown", digits: int = 3) -> str:
    if frame.empty:
        return "(no rows)"
    rounded = frame.round(digits)
    if fmt == "csv":
        return rounded.to_csv(index=False)
    if fmt == "latex":
        return rounded.to_latex(index=False, float_format=f"%.{digits}f", na_rep="--")
    # a missing value (e.g. an interval without its sentence error) reads "n/a", never "nan" or 0
    shown = rounded.astype(object).where(rounded.notna(), None)
    return shown.to_markdown(index=False, floatfmt=f".{digits}f", missingval="n/a")


def render_rows(rows: list[dict], fmt: Format = "markdown", digits: int = 3) -> str:
    """``rows`` (dicts with the same keys) as :func:`render` shows them, pandas only for csv/LaTeX."""
    if fmt != "markdown":
        import pandas as pd

        return render(pd.DataFrame(rows), fmt, digits)
    if not rows:
        return "(no rows)"
    from tabulate import tabulate

    def shown(value):
        # as DataFrame.round then .where(notna, None): floats rounded by numpy, a missing value None
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return float(np.round(value, digits)) if isinstance(value, float) else value

    table = [{key: shown(value) for key, value in row.items()} for row in rows]
    return tabulate(table, headers="keys", tablefmt="pipe", showindex=False, floatfmt=f".{digits}f",
                    missingval="n/a")


def run_rows(record: dict) -> list[dict]:
    """The rows of the table `probekit run` prints: each metric with its 95% CI, and the baseline."""
    metrics, majority = record["metrics"], record["baselines"]["majority"]
    rows = []

    def add(name: str, metric: dict | None, baseline: dict | None = None, n: int | None = None) -> None:
        if not metric:
            return
        rows.append({"metric": name, "value": metric_value(metric), "ci95_low": metric.get("ci_low"),
                     "ci95_high": metric.get("ci_high"), "majority_baseline": metric_value(baseline), "n_words": n})

    add("accuracy", metrics["accuracy"], majority["accuracy"], metrics["n"])
    if "cross_entropy_bits" in metrics:
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
    if "v_information_bits" in metrics and "cross_entropy_bits" not in metrics:
        add(f"V-information of the {metrics.get('n_clusters')} cluster labels about the labels (bits per word)",
            metrics["v_information_bits"], None, metrics["n"])
    for entry in metrics.get("curve", []):
        for key, name in (("one_to_one", "one-to-one accuracy"), ("many_to_one", "many-to-one accuracy"),
                          ("v_information_bits", "V-information (bits per word)")):
            add(f"k = {entry['k']} clusters: {name}", entry[key], None, metrics["n"])
    control = metrics.get("control")
    if control:
        add("control task: accuracy", control["accuracy"], None, control["n_test"])
        add("selectivity (task - control accuracy)", {"value": control["selectivity"]}, None, control["n_test"])
    mdl = metrics.get("mdl")
    if mdl:
        add("MDL online codelength (bits)", {"value": mdl["online_codelength_bits"]}, None, mdl["n"])
        add("MDL compression (uniform / online)", {"value": mdl["compression"]}, None, mdl["n"])
    return rows
