"""The structure, subset and selectivity sections of ``probekit reproduce``: grammatical roles.

``structure``: zero-label EMA, EMA + linear, a supervised BiGRU and word baselines on the role
tasks, and the zero-label ÷ BiGRU ratios the paper reports; the zero-label readout curve (accuracy
and V-information against the number of clusters k) and the smallest k at which many-to-one
reaches 0.96 × BiGRU. ``selectivity``: the same role runs
with control tasks (selectivity) and MDL codelengths.
``subset``: the structure-dependent subset of ``roles`` on a larger test set, and its learning
curve over training sentences.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from probekit.experiment import RunConfig
from probekit.reproduce.suite import Budget, Claim, Job, Section, SectionReport
from probekit.plotting import pyplot
from probekit.reproduce.tables import ACCURACY_RANGE, _save, aggregate, fmt_ci, ratio_interval, role_rows, seed_interval


# ----------------------------------------------------------------------------- structure

@dataclass(frozen=True)
class Condition:
    label: str
    encoder: str
    probe: str | None
    encoder_options: dict[str, Any] = field(default_factory=dict)
    supervised_encoder: bool = False     # gets the budget's BiGRU options
    readout_curve: bool = False          # a zero-label probe scored at the budget's cluster counts


#: The zero-label readout of the claims: the context-predictive readout (``predictive``: word classes,
#: then the trace's directions that predict the next word, docs/probes.md), chosen over k-means on
#: a dev split of the training data (issue 15); k-means over the same traces stays beside it.
ZERO_LABEL = Condition("zero-label (EMA, hebbian emb. + predictive)", "ema", "predictive", {"embedding": "hebbian"},
                       readout_curve=True)
KMEANS_ZERO_LABEL = Condition("zero-label k-means (EMA, hebbian emb. + hebbian)", "ema", "hebbian",
                              {"embedding": "hebbian"}, readout_curve=True)
EMA_LINEAR = Condition("EMA + linear", "ema", "linear")
EMA_HEBB_LINEAR = Condition("EMA (hebbian emb.) + linear", "ema", "linear", {"embedding": "hebbian"})
BIGRU = Condition("BiGRU (supervised)", "bigru", None, supervised_encoder=True)
TYPE = Condition("type", "type", None)
TYPE_POSITION = Condition("type-position", "type-position", None)
STRUCTURE_CONDITIONS = (ZERO_LABEL, KMEANS_ZERO_LABEL, EMA_LINEAR, BIGRU, TYPE, TYPE_POSITION)
SELECTIVITY_CONDITIONS = (EMA_LINEAR, EMA_HEBB_LINEAR, BIGRU, TYPE)


def _role_config(condition: Condition, task: str, seed: int, budget: Budget, *, selectivity: bool = False
                 ) -> RunConfig:
    task_options = dict(budget.task_options.get(task, {}))
    train_size = (budget.selectivity_train_sizes if selectivity else budget.train_sizes).get(task)
    encoder_options = {**condition.encoder_options, **(budget.bigru_options if condition.supervised_encoder else {})}
    probe_options = {"clusters": list(budget.readout_clusters)} if condition.readout_curve else {}
    return RunConfig(encoder=condition.encoder, task=task, probe=condition.probe, seed=seed, train_size=train_size,
                     encoder_options=encoder_options, task_options=task_options, probe_options=probe_options,
                     n_boot=budget.n_boot, control=selectivity, mdl=selectivity)


def _condition_rows(records: list[dict], conditions: Iterable[Condition], selectivity: bool, budget: Budget
                    ) -> pd.DataFrame:
    """One row per record of ``conditions`` (:func:`role_rows`), labelled with its condition."""
    return role_rows(records, _conditions_by_key(records, conditions, selectivity, budget))


def _conditions_by_key(records: list[dict], conditions: Iterable[Condition], selectivity: bool, budget: Budget
                       ) -> dict[str, str]:
    """Config key -> condition label, by rebuilding each condition's config for each record."""
    labels = {}
    for record in records:
        if "config" not in record:
            continue
        task, seed = record["config"]["task"], record["config"]["seed"]
        for condition in conditions:
            key = _role_config(condition, task, seed, budget, selectivity=selectivity).key()
            if record["id"].split("-L")[0] == key:
                labels[key] = condition.label
    return labels


def _task_seeds(budget: Budget, task: str, seeds: tuple[int, ...]) -> tuple[int, ...]:
    return budget.seeds_for(budget.task_seeds.get(task), seeds)


def _in_order(table: pd.DataFrame, tasks: tuple[str, ...], conditions: tuple[Condition, ...]) -> pd.DataFrame:
    """Rows in the suite's task order, then the section's condition order (not file order)."""
    task_rank = {t: i for i, t in enumerate(tasks)}
    condition_rank = {c.label: i for i, c in enumerate(conditions)}
    order = sorted(range(len(table)), key=lambda i: (task_rank.get(table.task.iloc[i], len(task_rank)),
                                                     condition_rank.get(table.condition.iloc[i], 0)))
    return table.iloc[order].reset_index(drop=True)


def structure_jobs(budget: Budget, seeds: tuple[int, ...]) -> list[Job]:
    return [_role_config(c, task, seed, budget) for task in budget.structure_tasks
            for c in STRUCTURE_CONDITIONS for seed in _task_seeds(budget, task, seeds)]


#: The paper's figure per role task, as the paper states it (design.md, issue 7).
PAPER_FIGURES = {"roles": "96% of the BiGRU", "roles-transfer": "61.8", "roles-deep": "84",
                 "roles-simple": "(easy grammar, not in the paper; its 96% is on the paper's grammar)"}


def structure_report(records: list[dict], budget: Budget) -> SectionReport:
    rows = _condition_rows(records, STRUCTURE_CONDITIONS, False, budget)
    report = SectionReport()
    if rows.empty:
        return report
    table = _in_order(aggregate(rows, {"accuracy": "accuracy", "struct_accuracy": "structure-dependent accuracy",
                                       "many_to_one_accuracy": "many-to-one accuracy"}),
                      budget.structure_tasks, STRUCTURE_CONDITIONS)
    majority = rows.groupby("task", sort=False).majority_accuracy.mean()
    report.tables["accuracy"] = table.dropna(axis=1, how="all")
    wide = table.assign(cell=[fmt_ci(m, lo, hi) for m, lo, hi in
                              zip(table.accuracy, table["accuracy ci95_low"], table["accuracy ci95_high"])])
    wide = wide.pivot(index="task", columns="condition", values="cell").reindex(
        index=list(dict.fromkeys(table.task)), columns=[c.label for c in STRUCTURE_CONDITIONS if c.label in
                                                        set(table.condition)])
    wide.insert(0, "majority", majority.reindex(wide.index).map(lambda v: f"{v:.3f}"))
    report.tables["overview"] = wide.reset_index()
    ratios = zero_label_ratios(rows)
    if not ratios.empty:
        ratios = ratios.sort_values("task", key=lambda t: t.map({n: i for i, n in enumerate(budget.structure_tasks)}),
                                    kind="stable").reset_index(drop=True)
        ratios.insert(1, "paper", ratios.task.map(PAPER_FIGURES).fillna("(not in the paper)"))
        report.tables["ratio"] = ratios
    for _, r in ratios.iterrows():
        report.figures[f"ratio:{r.task}"] = fmt_ci(r["ratio (1:1)"], r["ratio (1:1) ci95_low"],
                                                   r["ratio (1:1) ci95_high"])
        report.figures[f"ratio_m1:{r.task}"] = fmt_ci(r["ratio (m:1)"], r["ratio (m:1) ci95_low"],
                                                      r["ratio (m:1) ci95_high"])
        report.figures[f"struct_ratio:{r.task}"] = fmt_ci(r["structure-dependent ratio (1:1)"],
                                                          r["structure-dependent ratio (1:1) ci95_low"],
                                                          r["structure-dependent ratio (1:1) ci95_high"])
        report.figures[f"zero_label:{r.task}"] = _both_readouts(table, rows, r.task)
        report.figures[f"clusters:{r.task}"] = _clusters(rows, r.task)
    ema = table[table.condition == EMA_LINEAR.label].set_index("task")
    gru = table[table.condition == BIGRU.label].set_index("task")
    for task in ema.index.intersection(gru.index):
        num = tuple(ema.loc[task, ["accuracy", "accuracy ci95_low", "accuracy ci95_high"]])
        den = tuple(gru.loc[task, ["accuracy", "accuracy ci95_low", "accuracy ci95_high"]])
        report.figures[f"linear_ratio:{task}"] = fmt_ci(num[0] / den[0], *ratio_interval(num, den))
    report.plots[""] = functools.partial(plot_structure, table)
    _add_readout_curve(report, records, budget)
    return report


def _add_readout_curve(report: SectionReport, records: list[dict], budget: Budget) -> None:
    """The zero-label readout curve (accuracy and V-information against the number of clusters k),
    the smallest k at which many-to-one reaches 0.96 x BiGRU (a figure that no single k picks), and
    its plot with the BiGRU and EMA + linear as horizontal lines."""
    from probekit.report import PAPER_RATIO, paper_k_table, plot_readout_curves, readout_curve_table, results_frame

    keys = _conditions_by_key(records, STRUCTURE_CONDITIONS, False, budget)
    mine = [r for r in records if "config" in r and r["id"].split("-L")[0] in keys]
    if not mine:
        return
    frame = results_frame(mine)
    curve = readout_curve_table(frame)
    if curve.empty:
        return
    curve = curve[curve.probe == ZERO_LABEL.probe]   # the headline readout's curve (k-means has one too)
    if curve.empty:
        return
    order = {t: i for i, t in enumerate(budget.structure_tasks)}
    curve = curve.sort_values("task", key=lambda t: t.map(order), kind="stable").reset_index(drop=True)
    k_table = paper_k_table(frame, curve).sort_values("task", key=lambda t: t.map(order), kind="stable")
    report.tables["readout-curve"] = curve.drop(columns=["train_size", "probe"])
    report.tables["readout-k"] = k_table.drop(columns=["train_size", "probe"]).reset_index(drop=True)
    for _, r in k_table.iterrows():
        points = curve[curve.task == r.task]
        reached, bar = r["smallest k reaching it"], f"{PAPER_RATIO:g} x BiGRU = {r[f'{PAPER_RATIO:g} x BiGRU']:.3f}"
        report.figures[f"k96:{r.task}"] = (
            f"many-to-one reaches {bar} at k = {reached}" if reached.isdigit() else
            f"many-to-one never reaches {bar} up to k = {reached.rsplit(' ', 1)[-1]}" if reached.startswith("never")
            else reached)
        report.figures[f"best_m1:{r.task}"] = f"{r['best many-to-one ÷ BiGRU']:.3f}"
        report.figures[f"curve:{r.task}"] = "; ".join(
            f"k={int(p.k)}: {p['one-to-one']:.3f} / {p['many-to-one']:.3f} / {p['V-information (bits)']:.2f} bits"
            for _, p in points.iterrows())
    report.plots["readout-curve"] = functools.partial(plot_readout_curves, frame)
    report.notes.append(
        "Readout curve: one clustering per k of the traces by the zero-label readout (`-P clusters`), cluster -> "
        "role mappings fitted on training words only; one-to-one / many-to-one accuracy / V-information of "
        "the cluster labels about the roles (bits: their mutual information on the test words, Miller-Madow corrected "
        "plug-in, docs/probes.md). The headline "
        "zero-label accuracy is one-to-one at k = the number of roles.")


def _clusters(rows: pd.DataFrame, task: str) -> str:
    """"24 clusters for 8 roles": a one-to-one readout scores at most the share of the words whose
    role got a cluster, so every claim line names the counts beside it."""
    zero = rows[(rows.task == task) & (rows.condition == ZERO_LABEL.label)]
    clusters = sorted({int(n) for n in zero.n_clusters.dropna()})
    labels = sorted({int(n) for n in zero.n_labels.dropna()})
    return f"{'/'.join(map(str, clusters)) or '?'} clusters for {'/'.join(map(str, labels)) or '?'} roles"


def _both_readouts(table: pd.DataFrame, rows: pd.DataFrame, task: str) -> str:
    """The zero-label accuracy under both readouts, with the cluster count: one readout alone can
    mislead (one-to-one is capped when there are more clusters than roles; many-to-one is not)."""
    zero = table[(table.task == task) & (table.condition == ZERO_LABEL.label)]
    if zero.empty:
        return "n/a"
    r = zero.iloc[0]
    one = fmt_ci(r["accuracy"], r["accuracy ci95_low"], r["accuracy ci95_high"])
    many = fmt_ci(r["many-to-one accuracy"], r["many-to-one accuracy ci95_low"], r["many-to-one accuracy ci95_high"])
    return f"one-to-one {one}, many-to-one {many} ({_clusters(rows, task)})"


def zero_label_ratios(rows: pd.DataFrame) -> pd.DataFrame:
    """Zero-label ÷ BiGRU accuracy per task: overall (one-to-one and many-to-one readouts) and
    on the structure-dependent subset (one-to-one only: :data:`SUBSET_MANY_TO_ONE` says why). Each
    seed's ratio gets a delta-method interval from the two sentence CIs (:func:`~probekit.reproduce.tables.ratio_interval`); seeds are then combined
    by :func:`~probekit.reproduce.tables.seed_interval`."""
    out = []
    for task, group in rows.groupby("task", sort=False):
        zero = group[group.condition == ZERO_LABEL.label].set_index("seed")
        gru = group[group.condition == BIGRU.label].set_index("seed")
        seeds = zero.index.intersection(gru.index)
        if seeds.empty:
            continue
        zero, gru = zero.loc[seeds], gru.loc[seeds]
        row = {"task": task, "n_seeds": len(seeds)}
        for label, num_column, den_column in (("ratio (1:1)", "accuracy", "accuracy"),
                                              ("ratio (m:1)", "many_to_one_accuracy", "accuracy"),
                                              ("structure-dependent ratio (1:1)", "struct_accuracy",
                                               "struct_accuracy")):
            per_seed = []
            for seed in seeds:
                n = tuple(zero.loc[seed, [num_column, f"{num_column}_lo", f"{num_column}_hi"]])
                d = tuple(gru.loc[seed, [den_column, f"{den_column}_lo", f"{den_column}_hi"]])
                per_seed.append((n[0] / d[0] if d[0] > 0 else math.nan, *ratio_interval(n, d)))
            values, lows, highs = (np.array(column, dtype=float) for column in zip(*per_seed))
            mean, low, high = seed_interval(values, lows, highs)
            row[label], row[f"{label} ci95_low"], row[f"{label} ci95_high"] = mean, low, high
        zero_acc = seed_interval(zero.accuracy.to_numpy(), zero.accuracy_lo.to_numpy(), zero.accuracy_hi.to_numpy(),
                                ACCURACY_RANGE)
        gru_acc = seed_interval(gru.accuracy.to_numpy(), gru.accuracy_lo.to_numpy(), gru.accuracy_hi.to_numpy(),
                                ACCURACY_RANGE)
        row["zero-label accuracy (1:1)"], row["zero-label accuracy ci95_low"], \
            row["zero-label accuracy ci95_high"] = zero_acc
        row["BiGRU accuracy"], row["BiGRU accuracy ci95_low"], row["BiGRU accuracy ci95_high"] = gru_acc
        out.append(row)
    return pd.DataFrame(out)


def plot_structure(table: pd.DataFrame, path: Path) -> None:
    """Accuracy and structure-dependent accuracy per task and condition, 95% intervals."""
    plt = pyplot()
    tasks = list(dict.fromkeys(table.task))
    conditions = list(dict.fromkeys(table.condition))
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    width = 0.8 / max(len(conditions), 1)
    for ax, metric in zip(axes, ("accuracy", "structure-dependent accuracy")):
        for i, condition in enumerate(conditions):
            rows = table[table.condition == condition].set_index("task").reindex(tasks)
            mean = rows[metric].to_numpy(dtype=float)
            err = np.vstack([mean - rows[f"{metric} ci95_low"].to_numpy(dtype=float),
                             rows[f"{metric} ci95_high"].to_numpy(dtype=float) - mean])
            ax.bar(np.arange(len(tasks)) + (i - (len(conditions) - 1) / 2) * width, mean, width,
                   yerr=np.nan_to_num(err), capsize=2, label=condition)
        ax.set_xticks(np.arange(len(tasks)), tasks)
        ax.set_title(metric)
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("accuracy (mean over seeds, 95% interval)")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(conditions), fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    _save(figure, path)


# ----------------------------------------------------------------------------- selectivity / MDL

#: encoders whose features were trained on the labels being probed (their MDL and control-task
#: figures measure the training, not the representation)
SUPERVISED_LABELS = {c.label for c in (BIGRU,)}
NOT_COMPARABLE = "no: features trained on these labels"

#: MDL is measured on blocks of the training data: there is no test-sentence bootstrap, and the
#: labels say that their intervals count seeds only.
MDL_BITS = "MDL online bits per label (interval: seeds only)"
MDL_COMPRESSION = "MDL compression (uniform / online; interval: seeds only)"


def selectivity_jobs(budget: Budget, seeds: tuple[int, ...]) -> list[Job]:
    return [_role_config(c, task, seed, budget, selectivity=True) for task in budget.selectivity_tasks
            for c in SELECTIVITY_CONDITIONS for seed in _task_seeds(budget, task, seeds)]


def selectivity_report(records: list[dict], budget: Budget) -> SectionReport:
    rows = _condition_rows(records, SELECTIVITY_CONDITIONS, True, budget)
    report = SectionReport()
    if rows.empty:
        return report
    rows = rows.assign(mdl_bits_per_label=rows.mdl_online_bits / rows.mdl_n_labels,
                       uniform_bits_per_label=np.log2(rows.n_classes))
    metrics = {"accuracy": "accuracy", "control_accuracy": "control accuracy", "selectivity": "selectivity",
               "mdl_bits_per_label": MDL_BITS, "uniform_bits_per_label": "uniform bits per label (log2 K)",
               "mdl_compression": MDL_COMPRESSION}
    table = _in_order(aggregate(rows, metrics, seeds_only=("mdl_bits_per_label", "uniform_bits_per_label",
                                                           "mdl_compression")),
                      budget.selectivity_tasks, SELECTIVITY_CONDITIONS)
    sizes = rows.groupby(["task", "condition"]).train_sentences.first().rename("train sentences").reset_index()
    table = sizes.merge(table, on=["task", "condition"], how="right")
    table.insert(2, "comparable", table.condition.map(
        lambda c: NOT_COMPARABLE if c in SUPERVISED_LABELS else "yes"))
    report.tables[""] = table.dropna(axis=1, how="all")
    report.notes.append(f"Rows marked *{NOT_COMPARABLE}* are kept for reference only: the BiGRU's features "
                        "were trained on the very role labels that the control task and MDL code, so its "
                        "selectivity and compression are not comparable with those of the label-free encoders.")
    for _, r in table.iterrows():
        report.figures[f"selectivity:{r.task}:{r.condition}"] = fmt_ci(
            r["selectivity"], r["selectivity ci95_low"], r["selectivity ci95_high"])
        report.figures[f"compression:{r.task}:{r.condition}"] = fmt_ci(
            r[MDL_COMPRESSION], r[f"{MDL_COMPRESSION} ci95_low"], r[f"{MDL_COMPRESSION} ci95_high"], digits=2)
    return report


# ----------------------------------------------------------------------------- structure-dependent subset

#: The structure-dependent subset of ``roles`` (arguments whose role the surface position does not
#: give, docs/roles.md) on a test set large enough for a one-seed interval of about ±0.02 (the
#: structure section's 1,000 test sentences hold 340 such words), and its learning curve over
#: training sentences (None: all). The quick plan is a smoke test of the same jobs.
SUBSET_TASK = "roles"
SUBSET_PLANS = {"full": {"n_test": 8000, "sizes": (25, 100, 400, 1000, None), "seeds": None},
                "quick": {"n_test": 400, "sizes": (25, None), "seeds": 1}}
SUBSET_CONDITIONS = (ZERO_LABEL, EMA_LINEAR, BIGRU)


def _subset_plan(budget: Budget) -> dict:
    return SUBSET_PLANS.get(budget.name, SUBSET_PLANS["quick"])


def _subset_config(condition: Condition, size: int | None, seed: int, budget: Budget) -> RunConfig:
    config = _role_config(condition, SUBSET_TASK, seed, budget)
    return replace(config, train_size=size,
                   task_options={**config.task_options, "n_test": _subset_plan(budget)["n_test"]})


def _subset_configs(budget: Budget, seeds: tuple[int, ...]) -> list[tuple[Condition, RunConfig]]:
    plan = _subset_plan(budget)
    return [(c, _subset_config(c, size, seed, budget)) for size in plan["sizes"] for c in SUBSET_CONDITIONS
            for seed in budget.seeds_for(plan["seeds"], seeds)]


def subset_jobs(budget: Budget, seeds: tuple[int, ...]) -> list[Job]:
    return [config for _, config in _subset_configs(budget, seeds)]


def subset_report(records: list[dict], budget: Budget) -> SectionReport:
    """Structure-dependent accuracy per condition and training size, with the subset's size and
    the test-set (one seed, bootstrap over sentences) interval beside the seed-and-sentence one."""
    report = SectionReport()
    seeds = tuple(sorted({r["config"]["seed"] for r in records if "config" in r})) or (0,)
    labels = {config.key(): c.label for c, config in _subset_configs(budget, seeds)}
    rows = role_rows(records, labels)
    if rows.empty:
        return report
    rows = rows.assign(one_seed_half_width=(rows.struct_accuracy_hi - rows.struct_accuracy_lo) / 2)
    table = aggregate(rows, {"struct_accuracy": "structure-dependent accuracy", "accuracy": "accuracy"},
                      keys=("train_sentences", "condition"))
    extra = rows.groupby(["train_sentences", "condition"], sort=False).agg(
        subset_words=("struct_words", "max"), one_seed=("one_seed_half_width", "mean")).reset_index()
    table = table.merge(extra, on=["train_sentences", "condition"]).rename(columns={
        "train_sentences": "train sentences", "subset_words": "subset words (test)",
        "one_seed": "one-seed interval ± (test sentences)"})
    order = {c.label: i for i, c in enumerate(SUBSET_CONDITIONS)}
    table = table.sort_values(["train sentences", "condition"], key=lambda col: col.map(order)
                              if col.name == "condition" else col, kind="stable").reset_index(drop=True)
    report.tables[""] = table
    report.plots[""] = functools.partial(_plot_subset_curve, table)
    largest = table[table["train sentences"] == table["train sentences"].max()].set_index("condition")
    columns = ["structure-dependent accuracy", "structure-dependent accuracy ci95_low",
               "structure-dependent accuracy ci95_high"]

    def cell(label: str) -> tuple[float, float, float]:
        return tuple(largest.loc[label, columns])

    for condition in SUBSET_CONDITIONS:
        if condition.label in largest.index:
            report.figures[f"subset:{condition.label}"] = fmt_ci(*cell(condition.label))
    if {ZERO_LABEL.label, BIGRU.label} <= set(largest.index):
        num, den = cell(ZERO_LABEL.label), cell(BIGRU.label)
        report.figures["subset_ratio"] = fmt_ci(num[0] / den[0], *ratio_interval(num, den))
        report.figures["subset_words"] = f"{largest['subset words (test)'].max():,.0f}"
        report.figures["subset_sentences"] = f"{int(largest['train sentences'].max()):,}"
        report.figures["subset_half_width"] = f"{largest['one-seed interval ± (test sentences)'].max():.3f}"
    report.notes.append("One-to-one readout for the zero-label condition (k = number of roles); "
                        + SUBSET_MANY_TO_ONE + ". The seed-and-sentence interval adds the seeds' t-interval to "
                        "the sentence bootstrap; the one-seed column is the test set's own interval, the one a "
                        "larger test set narrows.")
    return report


def _plot_subset_curve(table: pd.DataFrame, path: Path) -> None:
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for condition, rows in table.groupby("condition", sort=False):
        axes.plot(rows["train sentences"], rows["structure-dependent accuracy"], marker="o", label=condition)
        axes.fill_between(rows["train sentences"], rows["structure-dependent accuracy ci95_low"],
                          rows["structure-dependent accuracy ci95_high"], alpha=0.2)
    axes.set_xscale("log")
    axes.set_xlabel("training sentences")
    axes.set_ylabel("accuracy on the structure-dependent subset")
    axes.set_ylim(0, 1)
    axes.legend(fontsize=8)
    _save(figure, path)


# ----------------------------------------------------------------------------- sections

#: Why the structure-dependent subset is read out one-to-one only.
SUBSET_MANY_TO_ONE = ("many-to-one is not shown for the subset: it maps each cluster to its majority role over all "
                      "training words, and the subset's words, a small minority in every cluster, inherit that "
                      "role, so it measures the subset's share of the majority roles, not structure")

SCALE = ("probekit's grammars are its own (the paper's are not public), and runs are CPU-sized "
         "(thousands of sentences, 64-dimensional traces)")

STRUCTURE_SECTION = Section(
    name="structure", title="Structure: grammatical roles, zero labels against a supervised BiGRU",
    jobs=structure_jobs, report=structure_report,
    claims=(
        Claim("Grammar A: label-free readout at 96% of a supervised BiGRU", "96% of the BiGRU",
              "ratio:roles", "zero-label accuracy (Hungarian one-to-one) ÷ BiGRU accuracy on `roles`; "
              "many-to-one readout: {ratio_m1:roles}; {clusters:roles}; supervised linear probe on the same EMA traces ÷ "
              "BiGRU: {linear_ratio:roles}",
              SCALE + "; probekit's zero-label readout is a clustering of the traces (docs/probes.md), "
              "which may not be the paper's readout."),
        Claim("Grammar A, every number of clusters: does any k give the 96%", "96% of the BiGRU (one readout)",
              "k96:roles", "the readout curve on `roles` (k: one-to-one / many-to-one / V-information of the "
              "cluster labels): {curve:roles}; best many-to-one ÷ BiGRU over k: {best_m1:roles}",
              "A many-to-one readout rises with k without limit in principle (one cluster per word scores the "
              "training words perfectly), so the curve, not one k, is the figure; the paper names one k."),
        Claim("An easy grammar (`roles-simple`): where the paper's 96% could come from", "96% of the BiGRU",
              "ratio:roles-simple", "zero-label one-to-one ÷ BiGRU on `roles-simple` (SVO, determiners, "
              "adjectives, one level of that-relatives); many-to-one ÷ BiGRU {ratio_m1:roles-simple}; "
              "{k96:roles-simple}; EMA + linear ÷ BiGRU {linear_ratio:roles-simple}; curve: {curve:roles-simple}",
              "probekit's `roles-simple` grammar is a guess at an easy grammar (docs/grammars.md), not the "
              "paper's; a figure reached here and not on `roles` says the grammar, not the readout, decides it."),
        Claim("Transfer to Grammar B", "61.8 (read here as accuracy in %)", "zero_label:roles-transfer",
              "zero-label accuracy on `roles-transfer` (train A, test B), both readouts; one-to-one ÷ "
              "BiGRU: {ratio:roles-transfer}, many-to-one ÷ BiGRU: {ratio_m1:roles-transfer}",
              "Grammar B is probekit's own second grammar (docs/grammars.md), not the paper's."),
        Claim("Deep-embedded roles", "84 (read here as accuracy in %)", "zero_label:roles-deep",
              "zero-label accuracy on `roles-deep` (train depth ≤ 1, test depth 2–3), both readouts; "
              "one-to-one ÷ BiGRU: {ratio:roles-deep}, many-to-one ÷ BiGRU: {ratio_m1:roles-deep}",
              "Depth is relative-clause nesting in probekit's Grammar A; the paper's depth split is not "
              "public."),
        Claim("Label-free model ahead of the BiGRU on structure-dependent roles",
              "ratio above 1 on the structure-dependent subset", "struct_ratio:roles",
              "zero-label ÷ BiGRU accuracy on the structure-dependent subset of `roles` (docs/roles.md), "
              "one-to-one readout; {clusters:roles}; on UD English EWT: one-to-one {struct_ratio:ud-roles} "
              "({clusters:ud-roles}); " + SUBSET_MANY_TO_ONE,
              "The subset is probekit's definition (arguments whose role the surface position does not "
              "give); the paper's definition is not public."),
    ))

SUBSET_SECTION = Section(
    name="subset", title="Structure-dependent roles: a larger test set and a learning curve",
    jobs=subset_jobs, report=subset_report,
    claims=(
        Claim("Label-free model ahead of the BiGRU on structure-dependent roles (larger test set)",
              "ratio above 1 on the structure-dependent subset", "subset_ratio",
              "zero-label (one-to-one) ÷ BiGRU accuracy on the structure-dependent subset of `roles` with "
              "{subset_sentences} training sentences, on {subset_words} subset words of the test set; "
              "zero-label {subset:" + ZERO_LABEL.label + "}, EMA + linear {subset:" + EMA_LINEAR.label +
              "}, BiGRU {subset:" + BIGRU.label + "}; one seed's test-set interval ±{subset_half_width}; "
              "the learning curve from 25 sentences is in subset.md",
              "The subset is probekit's definition (docs/roles.md); the paper's is not public."),
    ))

SELECTIVITY_SECTION = Section(
    name="selectivity", title="Selectivity (control tasks) and MDL codelength",
    jobs=selectivity_jobs, report=selectivity_report,
    claims=(
        Claim("Do the probes read structure, or memorise words", "(not in the paper)",
              "selectivity:roles:EMA + linear",
              "selectivity = task − control accuracy of EMA + linear on `roles` (Hewitt & Liang 2019); "
              "MDL compression {compression:roles:EMA + linear} (Voita & Titov 2020)",
              "The paper reports neither; probekit adds them so that probe accuracy is read against "
              "what a word lookup gives."),
    ))
