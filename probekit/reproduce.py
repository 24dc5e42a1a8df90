"""`probekit reproduce`: the claims of arXiv 2604.08556 as data, run, resumed and reported.

A *suite* is a list of :class:`Section` objects. A section names one claim, the paper's figure
for it, the jobs that measure it (plain :class:`~probekit.experiment.RunConfig` objects, or
:class:`FunctionJob` for computations that are not one probe run, such as the closed-form
dilution bound) and a function that turns the finished records into pandas tables, plots and
headline figures. Nothing here knows what a section measures: adding a claim is adding a
``Section`` to :data:`SECTIONS`.

Why records live in ``results/records/<section>/<id>.json`` (committed): the report must be
regenerable and auditable, every record names the commit that made it, and a suite that stops
half-way resumes from the records it already has (a job whose record exists is not recomputed).
Tables are made only from the records of the *current* job list, so a quick run never leaks
into a full report.

Sections whose modules are not installed yet (the identity study, the dilution analyzer) are
written as "not yet available" pages instead of failing: they plug in the moment the modules
exist.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import math
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from probekit.errors import ProbekitError
from probekit.experiment import RunConfig, run_all
from probekit.io import atomic_write, atomic_write_json, atomic_write_text
from probekit.provenance import git_commit, package_versions

DEFAULT_OUT = Path("results")
DEFAULT_SEEDS = (0, 1, 2)
FUNCTION_RECORD_VERSION = 1


# ----------------------------------------------------------------------------- budgets

@dataclass(frozen=True)
class Budget:
    """How large every run of a suite is: the only thing that differs between quick and full.

    Sizes are explicit fields (not a scale factor) so the protocol of each suite can be read
    off here and quoted in docs/protocol.md.
    """

    name: str
    structure_tasks: tuple[str, ...] = ("roles", "roles-transfer", "roles-deep", "ud-roles")
    selectivity_tasks: tuple[str, ...] = ("roles", "ud-roles")
    # per task name: task-option overrides (absent: the task file's), the first N training sentences
    # of the structure and of the selectivity runs (absent: all), and how many of the suite's seeds
    # the task's runs use (absent: all)
    task_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    train_sizes: dict[str, int] = field(default_factory=dict)
    selectivity_train_sizes: dict[str, int] = field(default_factory=dict)
    task_seeds: dict[str, int] = field(default_factory=dict)
    bigru_options: dict[str, Any] = field(default_factory=dict)
    n_boot: int = 1000
    identity_sources: tuple[str, ...] = ("random", "ud")
    identity_quick: bool = False
    identity_seeds: int | None = 1        # how many of the suite's seeds the identity study uses (None: all)
    identity_encoders: tuple[str, ...] | None = None   # keep only these encoders of the study (None: all)
    gpt2_model: str | None = None         # hub name or folder of real GPT-2 weights (None: the local random one)
    dilution: dict[str, Any] = field(default_factory=dict)        # kwargs of measured_identity_curves
    dilution_seeds: int | None = None
    ladder: dict[str, Any] = field(default_factory=dict)          # kwargs of probe_ladder
    ladder_seeds: int | None = 1

    def seeds_for(self, count: int | None, seeds: tuple[int, ...]) -> tuple[int, ...]:
        """The first ``count`` of the suite's seeds (all when None): expensive studies run fewer."""
        return seeds if count is None else seeds[:count]


_EMA_STREAM = {"rates": [0.5, 0.1, 0.02], "dim": 64, "embedding": "random", "reset": False}
FULL = Budget(
    name="full",
    selectivity_train_sizes={"ud-roles": 1000},
    n_boot=1000,
    identity_quick=False,
    identity_seeds=1,
    # measured_identity_curves' defaults: 64 equiprobable types, 2,000 x 20 training tokens (625 per class)
    dilution={"rates": [0.5, 0.1, 0.02], "dim": 64, "lags": [0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32],
              "n_train": 2000, "n_test": 500, "vocab_size": 64, "n_boot": 1000},
    dilution_seeds=1,
    ladder={"encoder": "ema", "encoder_options": _EMA_STREAM, "lags": [0, 1, 2, 4, 8],
            "task_options": {"source": "random", "random_types": 64, "vocab_size": 64, "n_train": 1000,
                             "n_test": 300},
            "probes": ["linear", "mlp", "attention"], "loophole_history": 3, "n_boot": 1000},
    ladder_seeds=1,
)
QUICK = Budget(
    name="quick",
    selectivity_tasks=("roles",),
    task_options={**{task: {"n_train": 400, "n_test": 150} for task in ("roles", "roles-transfer", "roles-deep")},
                  "ud-roles": {"train_split": "dev"}},   # the 2,000-sentence dev file loads ~6x faster than train
    train_sizes={"ud-roles": 400},
    selectivity_train_sizes={"ud-roles": 400},
    task_seeds={"ud-roles": 1},
    bigru_options={"epochs": 4},
    n_boot=200,
    identity_sources=("random",),
    identity_quick=True,
    identity_seeds=1,
    dilution={"rates": [0.5, 0.1, 0.02], "dim": 32, "lags": [0, 1, 2, 4, 8], "n_train": 300, "n_test": 100,
              "vocab_size": 16, "n_boot": 200},
    dilution_seeds=1,
    ladder={"encoder": "ema", "encoder_options": {**_EMA_STREAM, "dim": 32}, "lags": [0, 2],
            "task_options": {"source": "random", "random_types": 16, "vocab_size": 16, "n_train": 200,
                             "n_test": 60},
            "probes": ["linear", "mlp", "attention"], "loophole_history": 3, "n_boot": 200},
    ladder_seeds=1,
)
BUDGETS = {"quick": QUICK, "full": FULL}


# ----------------------------------------------------------------------------- jobs

@dataclass(frozen=True)
class FunctionJob:
    """A computation that is not one probe run: ``module.function(**kwargs) -> DataFrame``.

    The dilution bound and the measured identity curves are whole tables from one call; treating them
    as jobs gives them the same resume, provenance and progress as probe runs.
    """

    module: str
    function: str
    kwargs: dict[str, Any]
    label: str = ""

    def key(self) -> str:
        text = json.dumps({"module": self.module, "function": self.function, "kwargs": self.kwargs},
                          sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


Job = RunConfig | FunctionJob


def job_key(job: Job) -> str:
    return job.key()


@functools.singledispatch
def job_label(job) -> str:
    raise TypeError(f"not a reproduce job: {job!r}")


@job_label.register
def _(job: RunConfig) -> str:
    options = ",".join(f"{k}={v}" for k, v in sorted(job.encoder_options.items()))
    encoder = job.encoder + (f"[{options}]" if options else "")
    lag = job.task_options.get("lag")
    return f"{job.task}{'' if lag is None else f' lag {lag}'} | {encoder} + {job.probe or 'default'} | seed {job.seed}"


@job_label.register
def _(job: FunctionJob) -> str:
    return job.label or f"{job.module}.{job.function}"


@functools.singledispatch
def execute(job, cache=None) -> list[dict]:
    """Compute a job's records (one, or one per layer for a multi-layer encoding)."""
    raise TypeError(f"not a reproduce job: {job!r}")


@execute.register
def _(job: RunConfig, cache=None) -> list[dict]:
    return run_all(job, cache=cache)


@execute.register
def _(job: FunctionJob, cache=None) -> list[dict]:
    function = getattr(importlib.import_module(job.module), job.function)
    start = time.perf_counter()
    table = pd.DataFrame(function(**job.kwargs))
    return [{
        "function_record_version": FUNCTION_RECORD_VERSION,
        "id": job.key(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "function": f"{job.module}.{job.function}",
        "kwargs": job.kwargs,
        "columns": list(map(str, table.columns)),
        "rows": json.loads(table.to_json(orient="records")),
        "timings_s": {"total": round(time.perf_counter() - start, 4)},
        "versions": package_versions(),
        "git_commit": git_commit(),
    }]


def function_table(records: Iterable[dict], function: str) -> pd.DataFrame:
    """The rows of every function record made by ``module.function``, concatenated."""
    frames = [pd.DataFrame(r["rows"], columns=r["columns"]).assign(**_seed_column(r))
              for r in records if r.get("function") == function]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _seed_column(record: dict) -> dict:
    seed = record["kwargs"].get("seed")
    return {} if seed is None or "seed" in record["columns"] else {"seed": seed}


# ----------------------------------------------------------------------------- sections

@dataclass(frozen=True)
class Claim:
    """One sentence of the paper, its figure, and which of a section's figures answers it."""

    title: str
    paper: str                  # the paper's figure, as the paper states it
    figure: str                 # key into SectionReport.figures
    measure: str                # what probekit's figure is, in words
    difference: str             # why the two may differ (honest differences)


@dataclass
class SectionReport:
    """What a section's records become: tables (CSV + markdown), plots and headline figures."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    plots: dict[str, Callable[[Path], None]] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    claims: tuple[Claim, ...]
    jobs: Callable[[Budget, tuple[int, ...]], list[Job]]
    report: Callable[[list[dict], Budget], SectionReport]
    requires: tuple[str, ...] = ()      # "module" or "module:function" that must import

    def missing(self) -> str | None:
        """Why the section cannot run yet (a module or function not installed), else None."""
        for requirement in self.requires:
            module, _, function = requirement.partition(":")
            try:
                imported = importlib.import_module(module)
            except ImportError as exc:
                return f"{module} is not installed yet ({exc})"
            if function and not hasattr(imported, function):
                return f"{module} has no {function}() yet"
        return None


# ----------------------------------------------------------------------------- aggregation

def seed_interval(values, lows, highs) -> tuple[float, float, float]:
    """Mean over seeds with a 95% interval that counts seeds and test sentences: the project's
    one rule, :func:`probekit.report.combine_seeds` (docs/metrics.md)."""
    from probekit.report import combine_seeds

    return combine_seeds(values, lows, highs)


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
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _metric(entry: dict | None) -> tuple[float, float, float]:
    if not entry or entry.get("value") is None:
        return math.nan, math.nan, math.nan
    low, high = entry.get("ci_low"), entry.get("ci_high")
    return (float(entry["value"]), math.nan if low is None else float(low), math.nan if high is None else float(high))


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
            "many_to_one_accuracy": many[0], "many_to_one_accuracy_lo": many[1], "many_to_one_accuracy_hi": many[2],
            "majority_accuracy": _metric(record.get("baselines", {}).get("majority", {}).get("accuracy"))[0],
            "control_accuracy": control_acc[0], "control_accuracy_lo": control_acc[1],
            "control_accuracy_hi": control_acc[2],
            "selectivity": control.get("selectivity", math.nan),
            "mdl_online_bits": mdl.get("online_codelength_bits", math.nan),
            "mdl_uniform_bits": mdl.get("uniform_codelength_bits", math.nan),
            "mdl_compression": mdl.get("compression", math.nan),
            "mdl_n_labels": mdl.get("n", math.nan), "n_classes": mdl.get("n_classes", math.nan),
            "train_sentences": record["data"]["train_sentences"], "test_words": record["data"]["test_words"],
        })
    return pd.DataFrame(rows)


def aggregate(rows: pd.DataFrame, metrics: dict[str, str], keys=("task", "condition")) -> pd.DataFrame:
    """Seed means with :func:`seed_interval` for each ``{column: label}`` in ``metrics``."""
    out = []
    for key, group in rows.groupby(list(keys), sort=False):
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        row["n_seeds"] = int(group.seed.nunique())
        for column, label in metrics.items():
            lo, hi = (group[f"{column}_lo"], group[f"{column}_hi"]) if f"{column}_lo" in group else \
                (group[column] * np.nan, group[column] * np.nan)
            mean, low, high = seed_interval(group[column].to_numpy(), lo.to_numpy(), hi.to_numpy())
            row[label], row[f"{label} ci95_low"], row[f"{label} ci95_high"] = mean, low, high
        out.append(row)
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------- structure

@dataclass(frozen=True)
class Condition:
    label: str
    encoder: str
    probe: str | None
    encoder_options: dict[str, Any] = field(default_factory=dict)
    supervised_encoder: bool = False     # gets the budget's BiGRU options


ZERO_LABEL = Condition("zero-label (EMA, hebbian emb. + hebbian)", "ema", "hebbian", {"embedding": "hebbian"})
EMA_LINEAR = Condition("EMA + linear", "ema", "linear")
EMA_HEBB_LINEAR = Condition("EMA (hebbian emb.) + linear", "ema", "linear", {"embedding": "hebbian"})
BIGRU = Condition("BiGRU (supervised)", "bigru", None, supervised_encoder=True)
TYPE = Condition("type", "type", None)
TYPE_POSITION = Condition("type-position", "type-position", None)
STRUCTURE_CONDITIONS = (ZERO_LABEL, EMA_LINEAR, BIGRU, TYPE, TYPE_POSITION)
SELECTIVITY_CONDITIONS = (EMA_LINEAR, EMA_HEBB_LINEAR, BIGRU, TYPE)


def _role_config(condition: Condition, task: str, seed: int, budget: Budget, *, selectivity: bool = False
                 ) -> RunConfig:
    task_options = dict(budget.task_options.get(task, {}))
    train_size = (budget.selectivity_train_sizes if selectivity else budget.train_sizes).get(task)
    encoder_options = {**condition.encoder_options, **(budget.bigru_options if condition.supervised_encoder else {})}
    return RunConfig(encoder=condition.encoder, task=task, probe=condition.probe, seed=seed, train_size=train_size,
                     encoder_options=encoder_options, task_options=task_options, n_boot=budget.n_boot,
                     control=selectivity, mdl=selectivity)


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
PAPER_FIGURES = {"roles": "96% of the BiGRU", "roles-transfer": "61.8", "roles-deep": "84"}


def structure_report(records: list[dict], budget: Budget) -> SectionReport:
    labels = _conditions_by_key(records, STRUCTURE_CONDITIONS, False, budget)
    rows = role_rows(records, labels)
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
        report.figures[f"zero_label:{r.task}"] = fmt_ci(r["zero-label accuracy (1:1)"],
                                                        r["zero-label accuracy ci95_low"],
                                                        r["zero-label accuracy ci95_high"])
    ema = table[table.condition == EMA_LINEAR.label].set_index("task")
    gru = table[table.condition == BIGRU.label].set_index("task")
    for task in ema.index.intersection(gru.index):
        num = tuple(ema.loc[task, ["accuracy", "accuracy ci95_low", "accuracy ci95_high"]])
        den = tuple(gru.loc[task, ["accuracy", "accuracy ci95_low", "accuracy ci95_high"]])
        report.figures[f"linear_ratio:{task}"] = fmt_ci(num[0] / den[0], *ratio_interval(num, den))
    report.plots[""] = functools.partial(plot_structure, table)
    return report


def zero_label_ratios(rows: pd.DataFrame) -> pd.DataFrame:
    """Zero-label ÷ BiGRU accuracy per task: overall (one-to-one and many-to-one readouts) and
    on the structure-dependent subset. Each seed's ratio gets a delta-method interval from the
    two sentence CIs (:func:`ratio_interval`); seeds are then combined by :func:`seed_interval`."""
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
        zero_acc = seed_interval(zero.accuracy.to_numpy(), zero.accuracy_lo.to_numpy(), zero.accuracy_hi.to_numpy())
        gru_acc = seed_interval(gru.accuracy.to_numpy(), gru.accuracy_lo.to_numpy(), gru.accuracy_hi.to_numpy())
        row["zero-label accuracy (1:1)"], row["zero-label accuracy ci95_low"], \
            row["zero-label accuracy ci95_high"] = zero_acc
        row["BiGRU accuracy"], row["BiGRU accuracy ci95_low"], row["BiGRU accuracy ci95_high"] = gru_acc
        out.append(row)
    return pd.DataFrame(out)


def plot_structure(table: pd.DataFrame, path: Path) -> None:
    """Accuracy and structure-dependent accuracy per task and condition, 95% intervals."""
    plt = _pyplot()
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

def selectivity_jobs(budget: Budget, seeds: tuple[int, ...]) -> list[Job]:
    return [_role_config(c, task, seed, budget, selectivity=True) for task in budget.selectivity_tasks
            for c in SELECTIVITY_CONDITIONS for seed in _task_seeds(budget, task, seeds)]


def selectivity_report(records: list[dict], budget: Budget) -> SectionReport:
    labels = _conditions_by_key(records, SELECTIVITY_CONDITIONS, True, budget)
    rows = role_rows(records, labels)
    report = SectionReport()
    if rows.empty:
        return report
    rows = rows.assign(mdl_bits_per_label=rows.mdl_online_bits / rows.mdl_n_labels,
                       uniform_bits_per_label=np.log2(rows.n_classes))
    metrics = {"accuracy": "accuracy", "control_accuracy": "control accuracy", "selectivity": "selectivity",
               "mdl_bits_per_label": "MDL online bits per label",
               "uniform_bits_per_label": "uniform bits per label (log2 K)",
               "mdl_compression": "MDL compression (uniform / online)"}
    table = _in_order(aggregate(rows, metrics), budget.selectivity_tasks, SELECTIVITY_CONDITIONS)
    sizes = rows.groupby(["task", "condition"]).train_sentences.first().rename("train sentences").reset_index()
    table = sizes.merge(table, on=["task", "condition"], how="right")
    report.tables[""] = table.dropna(axis=1, how="all")
    for _, r in table.iterrows():
        report.figures[f"selectivity:{r.task}:{r.condition}"] = fmt_ci(
            r["selectivity"], r["selectivity ci95_low"], r["selectivity ci95_high"])
        report.figures[f"compression:{r.task}:{r.condition}"] = fmt_ci(
            r["MDL compression (uniform / online)"], r["MDL compression (uniform / online) ci95_low"],
            r["MDL compression (uniform / online) ci95_high"], digits=2)
    return report


# ----------------------------------------------------------------------------- identity (probekit.studies)

def identity_jobs(budget: Budget, seeds: tuple[int, ...]) -> list[Job]:
    from probekit.studies import identity_study_configs

    configs = [config for source in budget.identity_sources
               for config in identity_study_configs(source, quick=budget.identity_quick,
                                                    seeds=budget.seeds_for(budget.identity_seeds, seeds))
               if budget.identity_encoders is None or config.encoder in budget.identity_encoders]
    if budget.gpt2_model:   # real weights on a machine with network: swap the model, keep the protocol
        configs = [replace(c, encoder_options={**c.encoder_options, "model": budget.gpt2_model})
                   if "model" in c.encoder_options else c for c in configs]
    return configs


def identity_report(records: list[dict], budget: Budget) -> SectionReport:
    from probekit.report import identity_curve_table, plot_identity_curves, results_frame

    report = SectionReport()
    by_source: dict[str, list[dict]] = {}
    for record in records:
        if "config" in record:
            by_source.setdefault(record["config"]["task_options"].get("source", "random"), []).append(record)
    for source, group in sorted(by_source.items()):
        frame = results_frame(group)
        curves = identity_curve_table(frame)
        report.tables[f"{source}-bits"] = curves
        accuracy = frame.dropna(subset=["lag"]).pivot_table(index=["encoder", "probe"], columns="lag",
                                                             values="accuracy", aggfunc="mean")
        accuracy.columns = [f"accuracy lag {int(lag)}" for lag in accuracy.columns]
        report.tables[f"{source}-accuracy"] = accuracy.reset_index()
        report.plots[f"{source}-bits"] = functools.partial(plot_identity_curves, frame, metric="v_information")
        report.plots[f"{source}-accuracy"] = functools.partial(plot_identity_curves, frame, metric="accuracy")
        for _, row in curves.iterrows():
            report.figures[f"total_bits:{source}:{row.encoder}"] = fmt_ci(
                row.total_bits, row.get("total_bits_ci_low", math.nan), row.get("total_bits_ci_high", math.nan),
                digits=2) + " bits"
            report.figures[f"half_lag:{source}:{row.encoder}"] = "never" if pd.isna(row.half_lag) \
                else f"{row.half_lag:.1f}"
    ema_rows = [f"{k.split(':', 2)[2]} ({k.split(':')[1]}) {v}" for k, v in report.figures.items()
                if k.startswith("total_bits:")]
    report.figures["identity"] = "; ".join(ema_rows) or "n/a"
    return report


# ----------------------------------------------------------------------------- dilution and probe ladder

THEORY = "probekit.dilution.theory"
EMPIRICAL = "probekit.dilution.empirical"


def bound_table(rates: list[float], dim: int, lags: list[int], vocab_size: int, include_current: bool = True
                ) -> pd.DataFrame:
    """The per-lag closed form (``probekit.dilution.theory``) for the stream that
    ``measured_identity_curves`` measures: Gaussian embeddings of size ``dim``,
    ``vocab_size`` equiprobable types, an infinite noise-free past."""
    from probekit.dilution.theory import dilution_table, make_bank

    bank = make_bank(rates, dim=dim, embedding="gaussian", vocab_size=vocab_size, include_current=include_current)
    return dilution_table(bank, lags, mc_trials=0)


def dilution_jobs(budget: Budget, seeds: tuple[int, ...]) -> list[Job]:
    measured = dict(budget.dilution)
    theory = {k: measured[k] for k in ("rates", "dim", "lags", "vocab_size", "include_current") if k in measured}
    jobs: list[Job] = [FunctionJob(__name__, "bound_table", theory, label="closed-form bound")]
    jobs += [FunctionJob(EMPIRICAL, "measured_identity_curves", {**measured, "seed": seed},
                         label=f"measured EMA identity curve | seed {seed}")
             for seed in budget.seeds_for(budget.dilution_seeds, seeds)]
    return jobs


def dilution_report(records: list[dict], budget: Budget) -> SectionReport:
    report = SectionReport()
    bound = function_table(records, f"{__name__}.bound_table")
    measured = function_table(records, f"{EMPIRICAL}.measured_identity_curves")
    if bound.empty or measured.empty:
        return report
    rows = measured.rename(columns={"v_information_bits_lo": "v_information_bits_lo",
                                    "v_information_bits_hi": "v_information_bits_hi"})
    table = aggregate(rows, {"v_information_bits": "measured V-information (bits)", "accuracy": "accuracy"},
                      keys=("lag", "probe", "condition"))
    table = table.merge(bound[["lag", "bound_bits"]].rename(columns={"bound_bits": "closed-form bound (bits)"}),
                        on="lag", how="left")
    table["measured minus bound (bits)"] = table["measured V-information (bits)"] - table["closed-form bound (bits)"]
    report.tables[""] = table
    above = table["measured V-information (bits) ci95_low"] > table["closed-form bound (bits)"] + 1e-9
    report.figures["dilution"] = (f"measured bits stay within the bound at {int((~above).sum())} of "
                                  f"{len(table)} (lag, probe) points")
    report.plots[""] = functools.partial(plot_against_lag, table, "measured V-information (bits)",
                                         reference="closed-form bound (bits)", ylabel="bits per token")
    return report


def ladder_jobs(budget: Budget, seeds: tuple[int, ...]) -> list[Job]:
    return [FunctionJob(EMPIRICAL, "probe_ladder", {**budget.ladder, "seed": seed},
                        label=f"probe ladder {budget.ladder.get('encoder', '')} | seed {seed}")
            for seed in budget.seeds_for(budget.ladder_seeds, seeds)]


def ladder_report(records: list[dict], budget: Budget) -> SectionReport:
    report = SectionReport()
    rows = function_table(records, f"{EMPIRICAL}.probe_ladder")
    if rows.empty:
        return report
    keys = tuple(k for k in ("lag", "probe", "condition") if k in rows)
    table = aggregate(rows, {"v_information_bits": "V-information (bits)", "accuracy": "accuracy"}, keys=keys)
    report.tables[""] = table
    current = table[~table.condition.str.contains("loophole")] if "condition" in table else table
    pivot = current.pivot_table(index="lag", columns="probe", values="V-information (bits)", aggfunc="mean")
    if {"attention", "linear"} <= set(pivot.columns):
        gain = pivot["attention"] - pivot["linear"]
        report.figures["ladder"] = (f"attention − linear: {gain.mean():+.3f} bits per token on average over "
                                    f"lags {', '.join(str(int(k)) for k in pivot.index)} "
                                    f"(largest gain {gain.max():+.3f})")
    if "condition" in table and len(current) < len(table):
        loophole = table[table.condition.str.contains("loophole")].pivot_table(
            index="lag", columns="probe", values="V-information (bits)", aggfunc="mean")
        if "linear" in loophole and "linear" in pivot:
            lag = int(loophole.index.max())
            report.figures["loophole"] = (f"at lag {lag}, linear on h_t: {pivot.loc[lag, 'linear']:.2f} bits; on "
                                          f"{table[table.condition.str.contains('loophole')].condition.iloc[0]}: "
                                          f"{loophole.loc[lag, 'linear']:.2f} bits")
    report.plots[""] = functools.partial(plot_against_lag, table, "V-information (bits)", ylabel="bits per token")
    return report


def plot_against_lag(table: pd.DataFrame, column: str, path: Path, reference: str | None = None,
                     ylabel: str = "") -> None:
    """One line per (probe, condition) with its 95% band, and an optional reference curve."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.5))
    series = [k for k in ("probe", "condition") if k in table]
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


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> None:
    plt = _pyplot()
    atomic_write(Path(path), lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    plt.close(figure)


# ----------------------------------------------------------------------------- the suite

SCALE = ("probekit's grammars are its own (the paper's are not public), and runs are CPU-sized "
         "(thousands of sentences, 64-dimensional traces)")

SECTIONS: tuple[Section, ...] = (
    Section(
        name="structure", title="Structure: grammatical roles, zero labels against a supervised BiGRU",
        jobs=structure_jobs, report=structure_report,
        claims=(
            Claim("Grammar A: label-free readout at 96% of a supervised BiGRU", "96% of the BiGRU",
                  "ratio:roles", "zero-label accuracy (Hungarian one-to-one) ÷ BiGRU accuracy on `roles`; "
                  "many-to-one readout: {ratio_m1:roles}; supervised linear probe on the same EMA traces ÷ "
                  "BiGRU: {linear_ratio:roles}",
                  SCALE + "; probekit's zero-label readout is a clustering of the traces (docs/probes.md), "
                  "which may not be the paper's readout."),
            Claim("Transfer to Grammar B", "61.8 (read here as accuracy in %)", "zero_label:roles-transfer",
                  "zero-label accuracy (one-to-one) on `roles-transfer` (train A, test B); ÷ BiGRU: "
                  "{ratio:roles-transfer}",
                  "Grammar B is probekit's own second grammar (docs/grammars.md), not the paper's."),
            Claim("Deep-embedded roles", "84 (read here as accuracy in %)", "zero_label:roles-deep",
                  "zero-label accuracy (one-to-one) on `roles-deep` (train depth ≤ 1, test depth 2–3); ÷ BiGRU: "
                  "{ratio:roles-deep}",
                  "Depth is relative-clause nesting in probekit's Grammar A; the paper's depth split is not "
                  "public."),
            Claim("Label-free model ahead of the BiGRU on structure-dependent roles",
                  "ratio above 1 on the structure-dependent subset", "struct_ratio:roles",
                  "zero-label ÷ BiGRU accuracy on the structure-dependent subset of `roles` (docs/roles.md); "
                  "on UD English EWT: {struct_ratio:ud-roles}",
                  "The subset is probekit's definition (arguments whose role the surface position does not "
                  "give); the paper's definition is not public."),
        )),
    Section(
        name="selectivity", title="Selectivity (control tasks) and MDL codelength",
        jobs=selectivity_jobs, report=selectivity_report,
        claims=(
            Claim("Do the probes read structure, or memorise words", "(not in the paper)",
                  "selectivity:roles:EMA + linear",
                  "selectivity = task − control accuracy of EMA + linear on `roles` (Hewitt & Liang 2019); "
                  "MDL compression {compression:roles:EMA + linear} (Voita & Titov 2020)",
                  "The paper reports neither; probekit adds them so that probe accuracy is read against "
                  "what a word lookup gives."),
        )),
    Section(
        name="identity", title="Content: token identity k steps back, in bits",
        jobs=identity_jobs, report=identity_report, requires=("probekit.studies:identity_study_configs",),
        claims=(
            Claim("EMA traces destroy token identity", "an EMA-only LM has 8x GPT-2's perplexity (260 on C4)",
                  "identity", "total V-information summed over lags (bits) per encoder",
                  "No pretrained GPT-2 can be downloaded on these machines: the GPT-2 curves use a small, "
                  "randomly initialised GPT-2 with the real tokenizer (docs/protocol.md says how to rerun with "
                  "real weights), and no 130M-parameter EMA LM is trained: the probes measure what the "
                  "representations keep, not perplexity."),
        )),
    Section(
        name="dilution", title="Dilution: the closed-form bound against the measured EMA curve",
        jobs=dilution_jobs, report=dilution_report,
        requires=(f"{THEORY}:dilution_table", f"{THEORY}:make_bank", f"{EMPIRICAL}:measured_identity_curves"),
        claims=(
            Claim("What a fixed-decay memory must lose", "(argued in the paper, not computed)", "dilution",
                  "measured V-information (linear probe, random token stream) against the Gaussian-channel "
                  "bound per lag (docs/dilution.md)",
                  "The bound covers linear readouts of the current trace under i.i.d. embeddings; it names its "
                  "noise model (docs/dilution.md)."),
        )),
    Section(
        name="ladder", title="Probe capacity: linear, MLP and attention over the same EMA traces",
        jobs=ladder_jobs, report=ladder_report, requires=(f"{EMPIRICAL}:probe_ladder",),
        claims=(
            Claim("The attention predictor is no better than the linear one", "same loss with full softmax "
                  "attention as with the linear predictor", "ladder",
                  "identity bits per lag read by linear, MLP and attention probes over EMA traces; the "
                  "differencing loophole (a probe that sees past states too): {loophole}",
                  "The paper swapped the predictor of a trained LM; probekit swaps the probe over fixed "
                  "traces, which tests the same data-processing argument at probe scale."),
        )),
)


def section_names() -> list[str]:
    return [s.name for s in SECTIONS]


def select_sections(only: Iterable[str] | None) -> list[Section]:
    """The sections named in ``only`` (all when empty), in suite order; unknown names are errors."""
    only = list(only or [])
    unknown = [name for name in only if name not in section_names()]
    if unknown:
        raise ProbekitError(f"unknown section(s) {', '.join(map(repr, unknown))} for --only; choose from "
                            f"{', '.join(section_names())}.")
    return [s for s in SECTIONS if not only or s.name in only]


def check_seeds(seeds: Iterable[int]) -> tuple[int, ...]:
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ProbekitError("--seeds is empty: give at least one seed, e.g. --seeds 0,1,2.")
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ProbekitError(f"--seeds {','.join(map(str, seeds))}: seeds must be distinct and not negative.")
    return seeds


# ----------------------------------------------------------------------------- running

@dataclass(frozen=True)
class Progress:
    """One job of a suite: computed (``reused`` False) or read back from its record."""

    section: str
    index: int
    total: int
    label: str
    reused: bool
    seconds: float
    elapsed: float


@dataclass
class SectionOutcome:
    section: Section
    status: str                       # "done" or the reason it is not available
    computed: int = 0
    reused: int = 0
    compute_seconds: float = 0.0      # sum of the wall time of every record (from scratch)
    cpu_seconds: float = 0.0          # sum of the CPU time of every record (all threads of the process)
    files: list[Path] = field(default_factory=list)
    report: SectionReport | None = None


def records_dir(out: Path, section: str) -> Path:
    return Path(out) / "records" / section


def _existing(folder: Path, key: str) -> list[dict]:
    paths = [folder / f"{key}.json"] + sorted(folder.glob(f"{key}-L*.json"))
    records = []
    for path in paths:
        if path.is_file():
            try:
                records.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError) as exc:
                raise ProbekitError(f"{path}: not a readable record ({exc}); delete it or rerun with --force.") \
                    from None
    return records


def run_section(section: Section, budget: Budget, seeds: tuple[int, ...], out: Path, *, force: bool = False,
                progress: Callable[[Progress], None] | None = None, cache=None, start: float | None = None
                ) -> tuple[list[dict], SectionOutcome]:
    """Run (or reuse) every job of a section; return its records and what happened."""
    start = time.perf_counter() if start is None else start
    outcome = SectionOutcome(section, "done")
    folder = records_dir(out, section.name)
    jobs = section.jobs(budget, seeds)
    records: list[dict] = []
    for index, job in enumerate(jobs, 1):
        key = job_key(job)
        found = [] if force else _existing(folder, key)
        reused = bool(found)
        began, cpu_began = time.perf_counter(), time.process_time()
        if not found:
            found = execute(job, cache=cache)
            wall = round(time.perf_counter() - began, 3)
            cpu = round(time.process_time() - cpu_began, 3)
            for record in found:
                record["reproduce"] = {"section": section.name, "budget": budget.name, "wall_s": wall,
                                       "cpu_s": cpu}
                atomic_write_json(folder / f"{record['id']}.json", record)
        outcome.reused += reused
        outcome.computed += not reused
        outcome.compute_seconds += max(r.get("reproduce", {}).get("wall_s", 0.0) for r in found)
        outcome.cpu_seconds += max(r.get("reproduce", {}).get("cpu_s", 0.0) for r in found)
        records += found
        if progress:
            progress(Progress(section.name, index, len(jobs), job_label(job), reused,
                              seconds=round(time.perf_counter() - began, 3),
                              elapsed=round(time.perf_counter() - start, 3)))
    return records, outcome


def collect_section(section: Section, budget: Budget, seeds: tuple[int, ...], out: Path
                    ) -> tuple[list[dict], SectionOutcome]:
    """The records a section already has, computing nothing (sections outside ``--only``)."""
    outcome = SectionOutcome(section, "done")
    folder = records_dir(out, section.name)
    records: list[dict] = []
    jobs = section.jobs(budget, seeds)
    for job in jobs:
        found = _existing(folder, job_key(job))
        outcome.reused += bool(found)
        outcome.compute_seconds += max((r.get("reproduce", {}).get("wall_s", 0.0) for r in found), default=0.0)
        outcome.cpu_seconds += max((r.get("reproduce", {}).get("cpu_s", 0.0) for r in found), default=0.0)
        records += found
    if outcome.reused < len(jobs):
        outcome.status = f"incomplete: {outcome.reused} of {len(jobs)} runs have records (run it with --only " \
                         f"{section.name})"
    return records, outcome


# ----------------------------------------------------------------------------- writing

def _table_stem(section: str, name: str) -> str:
    return section if not name else f"{section}-{name}"


def write_section(outcome: SectionOutcome, records: list[dict], budget: Budget, seeds: tuple[int, ...],
                  out: Path) -> None:
    """``<section>.md`` (every table, claim and plot), one CSV per table, one PNG per plot."""
    from probekit.report import render

    section = outcome.section
    lines = [f"# {section.title}", "", f"Suite: `{budget.name}`, seeds {', '.join(map(str, seeds))}. "
             f"Regenerate with `probekit reproduce --{budget.name} --only {section.name}`.", ""]
    if outcome.status != "done" and not records:
        lines += [f"**Not yet available**: {outcome.status}.", ""]
        atomic_write_text(out / f"{section.name}.md", "\n".join(lines))
        outcome.files.append(out / f"{section.name}.md")
        return
    if outcome.status != "done":
        lines += [f"**{outcome.status}**: the tables below are made from the records that exist.", ""]
    report = section.report(records, budget)
    outcome.report = report
    for claim in section.claims:
        lines += [f"- **{claim.title}.** Paper: {claim.paper}. probekit: "
                  f"{report.figures.get(claim.figure, 'n/a')} ({fill(claim.measure, report.figures)})."]
    lines.append("")
    for name, table in report.tables.items():
        stem = _table_stem(section.name, name)
        atomic_write_text(out / f"{stem}.csv", render(table, "csv", digits=4))
        outcome.files.append(out / f"{stem}.csv")
        lines += [f"## {name or section.name}", "", render(table, "markdown"), "", f"CSV: `{stem}.csv`", ""]
    for name, plot in report.plots.items():
        stem = _table_stem(section.name, name)
        plot(out / f"{stem}.png")
        outcome.files.append(out / f"{stem}.png")
        lines += [f"![{stem}]({stem}.png)", ""]
    lines += report.notes
    commits = sorted({str(r.get("git_commit")) for r in records})
    lines += ["", f"Records: `records/{section.name}/` ({len(records)} files), made by commit(s) "
              f"{', '.join(f'`{c}`' for c in commits)}."]
    atomic_write_text(out / f"{section.name}.md", "\n".join(lines) + "\n")
    outcome.files.insert(0, out / f"{section.name}.md")


def fill(text: str, figures: dict[str, str]) -> str:
    """Replace ``{key}`` placeholders with the section's measured figures (``n/a`` if absent)."""
    import re

    return re.sub(r"\{([^{}]+)\}", lambda m: figures.get(m.group(1), "n/a"), text)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def update_budgets(out: Path, budget: Budget, outcomes: list[SectionOutcome], wall: float) -> dict:
    """Keep the measured cost of each suite (quick and full) in ``budgets.json``."""
    import os

    path = out / "budgets.json"
    known = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    complete = all(o.status == "done" for o in outcomes)
    known[budget.name] = {
        "compute_s_from_scratch": round(sum(o.compute_seconds for o in outcomes), 1),
        "cpu_s_from_scratch": round(sum(o.cpu_seconds for o in outcomes), 1),
        "complete": complete,
        "last_invocation_wall_s": round(wall, 1),
        "sections": {o.section.name: {"status": o.status, "compute_s": round(o.compute_seconds, 1),
                                      "cpu_s": round(o.cpu_seconds, 1),
                                      "computed": o.computed, "reused": o.reused} for o in outcomes},
        "cpus": os.cpu_count(), "git_commit": git_commit(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_json(path, known)
    return known


def write_summary(out: Path, budget: Budget, seeds: tuple[int, ...], outcomes: list[SectionOutcome]) -> None:
    rows = ["| section | status | runs computed / reused | compute time (from scratch) | files |",
            "|---|---|---|---|---|"]
    for o in outcomes:
        files = ", ".join(f"[{p.name}]({p.name})" for p in o.files)
        rows.append(f"| {o.section.name} | {o.status} | {o.computed} / {o.reused} | {_minutes(o.compute_seconds)} "
                    f"| {files} |")
    text = (f"# probekit reproduce: index\n\nSuite `{budget.name}`, seeds {', '.join(map(str, seeds))}. "
            f"Claims and the paper's figures: [README.md](README.md).\n\n" + "\n".join(rows) + "\n")
    atomic_write_text(out / "summary.md", text)


README_INTRO = """# Reproducing arXiv 2604.08556 with probekit

This file is generated by `probekit reproduce` (template: `probekit/reproduce.py`); do not edit
it by hand: every number below is filled in from the tables beside it. Suite `{budget}`, seeds
{seeds}; intervals are 95% (t-intervals over seeds when there are several seeds, otherwise
the bootstrap interval over test sentences; docs/protocol.md). Protocols: `docs/protocol.md`.

```bash
probekit reproduce --full            # the committed report (records in results/records/ are reused)
probekit reproduce --quick --out /tmp/quick-check   # a smoke-scale check in a few minutes
```
"""

README_DIFFERENCES = """## What differs from the paper, and why

- **Grammars.** The paper's grammars and protocols are not public; probekit's Grammar A and B,
  its depth split and its structure-dependent subset are its own (docs/grammars.md,
  docs/roles.md). Figures are therefore comparable in kind, not digit for digit.
- **Scale.** Everything runs on 2 CPU cores: thousands of training sentences, 64-dimensional
  traces and small probes, not a 130M-parameter language model trained on C4.
- **No pretrained GPT-2.** Hub weights cannot be downloaded on the machines this report is made
  on: GPT-2 rows use a small randomly initialised GPT-2 with the real tokenizer, which shows
  the pipeline, not GPT-2's science. `docs/protocol.md` says how to rerun with real weights.
- **Readout.** The zero-label readout is probekit's hebbian clustering probe, scored by
  Hungarian one-to-one (and many-to-one) mapping of clusters to roles (docs/probes.md).
"""


def write_readme(out: Path, budget: Budget, seeds: tuple[int, ...], outcomes: list[SectionOutcome],
                 budgets: dict) -> None:
    parts = [README_INTRO.format(budget=budget.name, seeds=", ".join(map(str, seeds)))]
    for o in outcomes:
        parts.append(f"## {o.section.title}\n")
        figures = o.report.figures if o.report else {}
        for claim in o.section.claims:
            if o.report is None:
                value = f"not yet available ({o.status})"
            else:
                value = f"{figures.get(claim.figure, 'n/a')} — {fill(claim.measure, figures)}"
            parts.append(f"**{claim.title}.**\n\n- Paper: {claim.paper}.\n- probekit: {value}.\n"
                         f"- Why they may differ: {claim.difference}\n")
        if o.status != "done":
            parts.append(f"_{o.status}._\n")
        parts.append(f"Tables and plots: [{o.section.name}.md]({o.section.name}.md).\n")
    parts.append(README_DIFFERENCES)
    rows = ["## Measured budgets\n",
            "Compute time is the sum of every run's wall time as recorded in its record (the cost from "
            "scratch, whatever was reused); CPU time is the process time of the same runs (all threads), "
            "which other users of a shared machine do not inflate.\n",
            "| suite | complete | compute time from scratch (wall) | CPU time | last invocation (wall) | CPUs | commit |",
            "|---|---|---|---|---|---|---|"]
    for name, entry in sorted(budgets.items()):
        rows.append(f"| `{name}` | {'yes' if entry['complete'] else 'no'} | "
                    f"{_minutes(entry['compute_s_from_scratch'])} | "
                    f"{_minutes(entry.get('cpu_s_from_scratch', 0))} | "
                    f"{_minutes(entry['last_invocation_wall_s'])} "
                    f"| {entry['cpus']} | `{entry['git_commit']}` |")
    parts.append("\n".join(rows) + "\n")
    atomic_write_text(out / "README.md", "\n".join(parts))


# ----------------------------------------------------------------------------- entry point

def reproduce(budget: Budget | str = "quick", seeds: Iterable[int] = DEFAULT_SEEDS, out: Path = DEFAULT_OUT,
              only: Iterable[str] | None = None, force: bool = False,
              progress: Callable[[Progress], None] | None = None, cache=None, gpt2_model: str | None = None
              ) -> list[SectionOutcome]:
    """Run the suite (or the sections in ``only``), then write every section's report, the
    index ``summary.md`` and ``README.md`` under ``out``.

    Sections outside ``only`` are reported from the records they already have; sections whose
    modules are missing are written as "not yet available". Returns one outcome per section.
    """
    if isinstance(budget, str):
        if budget not in BUDGETS:
            raise ProbekitError(f"unknown suite {budget!r}: choose {' or '.join(BUDGETS)}.")
        budget = BUDGETS[budget]
    if gpt2_model:
        budget = replace(budget, gpt2_model=str(gpt2_model))
    seeds = check_seeds(seeds)
    selected = {s.name for s in select_sections(only)}
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ProbekitError(f"--out {str(out)!r} is a file; give a folder.")
    start = time.perf_counter()
    outcomes = []
    for section in SECTIONS:
        reason = section.missing()
        if reason:
            outcome, records = SectionOutcome(section, f"not yet available: {reason}"), []
        elif section.name in selected:
            records, outcome = run_section(section, budget, seeds, out, force=force, progress=progress,
                                           cache=cache, start=start)
        else:
            records, outcome = collect_section(section, budget, seeds, out)
        write_section(outcome, records, budget, seeds, out)
        outcomes.append(outcome)
    budgets = update_budgets(out, budget, outcomes, time.perf_counter() - start)
    write_summary(out, budget, seeds, outcomes)
    write_readme(out, budget, seeds, outcomes, budgets)
    return outcomes
