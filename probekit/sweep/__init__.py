"""A sweep: a list of :class:`~probekit.experiment.RunConfig` with stable ids, run through an
executor with one writer.

A :class:`Sweep` comes from a grid (:mod:`probekit.sweep.grid`: a TOML file or a dict), or from one
base config over seeds x training sizes x lags (:func:`expand`: what ``probekit run``'s
``--seeds``, ``--train-size``/``--learning-curve`` and ``--lags`` do). Nothing else expands
grids. :meth:`Sweep.validate` checks every config before any runs; :meth:`Sweep.run` skips
jobs whose records exist and were made by this code, hands the rest to an executor
(:mod:`probekit.executors`: local processes or Ray), and writes each job's records itself, as
results come back, atomically (:func:`probekit.records.save_record`): workers only compute.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from probekit import registry
from probekit.errors import ProbekitError
from probekit.executors import Executor, Failure, make_executor
from probekit.experiment import Prepared, RunConfig, check_config, prepare, record_key, run_all
from probekit.sweep.grid import grid_configs, load_grid
from probekit.records import DEFAULT_RESULTS_DIR, is_current, save_record

__all__ = ["DEFAULT_LEARNING_CURVE", "JobOutcome", "Sweep", "expand", "job_label", "prepare_all", "sweep_summary"]

#: training sizes of ``--learning-curve`` (None: all training sentences).
DEFAULT_LEARNING_CURVE = (25, 100, 400, 1600, None)


def expand(base: RunConfig, seeds: Sequence[int] | None = None, train_sizes: Sequence[int | None] | None = None,
           lags: Sequence[int] | None = None) -> list[RunConfig]:
    """``base`` once per seed x training size x lag (seeds outermost, lags innermost).

    ``None`` for an axis keeps the base's value. A training size of ``None`` means all
    training sentences. ``lags`` sets the task option ``lag`` (the identity task), so the base
    must not fix ``lag`` itself.
    """
    for name, values in (("seeds", seeds), ("train sizes", train_sizes), ("lags", lags)):
        if values is not None and len(values) == 0:
            raise ProbekitError(f"a sweep over no {name}: give at least one value.")
    if lags is not None and "lag" in base.task_options:
        raise ProbekitError("give either lags to sweep (--lags) or the task option lag=K (-O lag=K), not both.")
    return [
        replace(base, seed=seed, train_size=size,
                task_options=base.task_options if lag is None else {**base.task_options, "lag": lag})
        for seed in (seeds if seeds is not None else [base.seed])
        for size in (train_sizes if train_sizes is not None else [base.train_size])
        for lag in (lags if lags is not None else [None])
    ]


def prepare_all(configs: Sequence[RunConfig], progress: Callable[[str], None] | None = None) -> list[Prepared]:
    """:func:`probekit.experiment.prepare` for every config, before any runs: a sweep whose last
    setting is bad (a training size above the corpus, a lag past the longest sentence) fails
    before its first record is written. Configs with the same task and task options share one
    loaded dataset."""
    loaded: dict = {}
    return [prepare(config, progress, loaded) for config in configs]


def job_label(config: RunConfig) -> str:
    """``task[ lag K] | encoder[options] + probe | seed S``: how progress and summaries name a job."""
    options = ",".join(f"{k}={v}" for k, v in sorted(config.encoder_options.items()))
    encoder = config.encoder + (f"[{options}]" if options else "")
    lag = config.task_options.get("lag")
    return f"{config.task}{'' if lag is None else f' lag {lag}'} | {encoder} + {config.probe or 'default'} | seed {config.seed}"


@dataclass
class JobOutcome:
    """What became of one job: ``done`` (computed now), ``reused`` (its records existed) or ``failed``."""

    index: int
    config: RunConfig
    status: str
    records: list[dict] = field(default_factory=list)
    error: str = ""
    paths: list[Path] = field(default_factory=list)


@dataclass
class Sweep:
    """Configs with stable ids (:func:`~probekit.experiment.record_key`), in a fixed order."""

    configs: list[RunConfig]

    def __post_init__(self) -> None:
        if not self.configs:
            raise ProbekitError("the sweep has no runs: give at least one config (an empty grid?).")
        seen: dict[str, int] = {}
        for index, key in enumerate(config.key() for config in self.configs):   # reads no task file yet
            if key in seen:
                raise ProbekitError(f"the sweep holds the same run twice (jobs {seen[key] + 1} and {index + 1}: "
                                    f"{job_label(self.configs[index])}); remove the repeated value.")
            seen[key] = index

    @classmethod
    def from_grid(cls, grid: dict[str, Any], where: str = "the grid") -> "Sweep":
        return cls(grid_configs(grid, where))

    @classmethod
    def from_toml(cls, path: str | Path) -> "Sweep":
        return cls.from_grid(load_grid(path), f"grid {str(path)!r}")

    @property
    def ids(self) -> list[str]:
        return [record_key(config) for config in self.configs]

    def validate(self) -> dict:
        """Check every config before anything runs: names and options first (no data loaded), then
        the settings that need the data (a training size above the corpus, a lag past the longest
        sentence), each distinct task loaded once. The first bad one is an error naming its job.
        Returns the loaded data (``prepare``'s ``loaded``), for a run in this process to reuse."""
        for index, config in enumerate(self.configs, 1):
            try:
                check_config(config)
            except ProbekitError as exc:
                raise ProbekitError(f"job {index} of {len(self.configs)} ({job_label(config)}): {exc}") from None
        loaded: dict = {}   # settings that need the data (training size, lag) are checked on it
        for index, config in enumerate(self.configs, 1):
            try:
                prepare(config, loaded=loaded)
            except ProbekitError as exc:
                raise ProbekitError(f"job {index} of {len(self.configs)} ({job_label(config)}): {exc}") from None
        return loaded

    def existing(self, out: str | Path = DEFAULT_RESULTS_DIR) -> dict[int, list[dict]]:
        """The jobs (by index) whose records are in ``out`` and were made by this code."""
        found = {}
        for index, key in enumerate(self.ids):
            records = _read(Path(out), key)
            if records and is_current(records):
                found[index] = records
        return found

    def run(self, out: str | Path = DEFAULT_RESULTS_DIR, executor: Executor | None = None, cache=None,
            force: bool = False, progress: Callable[[JobOutcome], None] | None = None,
            stage: Callable[[str], None] | None = None) -> list[JobOutcome]:
        """Validate, then run every job not already done (all with ``force``) and write its records
        to ``out`` as it finishes. Returns one outcome per job, in the sweep's order.

        ``progress`` is called once per finished job; ``stage`` gets the stage messages of a job run
        in this process (a serial local executor), as ``probekit run`` prints them.
        """
        loaded = self.validate()
        executor = executor or make_executor("local", 1)
        reuse = {} if force else self.existing(out)
        outcomes: dict[int, JobOutcome] = {}
        for index, records in reuse.items():
            outcomes[index] = JobOutcome(index, self.configs[index], "reused", records)
            if progress:
                progress(outcomes[index])
        todo = [i for i in range(len(self.configs)) if i not in reuse]
        in_process = executor.name == "local" and executor.jobs == 1
        # One job in this process (`probekit run`): it reuses the data validate() just loaded
        # rather than generating or reading it a second time. Not for several jobs: that would
        # hold every task's data for the whole sweep.
        shared = loaded if in_process and len(todo) == 1 else None
        compute = functools.partial(_compute, cache=cache, progress=stage if in_process else None, loaded=shared)
        for position, result in executor.run(compute, [self.configs[i] for i in todo], wants_gpu):
            index = todo[position]
            if isinstance(result, Failure):
                outcome = JobOutcome(index, self.configs[index], "failed", error=result.message)
            else:
                paths = [save_record(record, out) for record in result]
                outcome = JobOutcome(index, self.configs[index], "done", result, paths=paths)
            outcomes[index] = outcome
            if progress:
                progress(outcome)
        return [outcomes[i] for i in sorted(outcomes)]


def _compute(config: RunConfig, cache=None, progress=None, loaded: dict | None = None) -> list[dict]:
    """A worker's job: the records of one config (the driver writes them); ``loaded``: data
    already loaded in this process (see :func:`probekit.experiment.prepare`)."""
    prepared = prepare(config, progress, loaded) if loaded is not None else None
    return run_all(config, progress=progress, cache=cache, prepared=prepared)


def wants_gpu(config: RunConfig) -> bool:
    """Whether a job should ask a cluster for a GPU: its encoder takes a ``device`` (transformers)."""
    return "device" in registry.encoders.parameters(config.encoder)


def _read(out: Path, key: str) -> list[dict]:
    """The records of the job ``key`` in ``out`` (one, or one per layer); unreadable files are errors."""
    records = []
    for path in sorted(out.glob(f"*__{key}.json")) + sorted(out.glob(f"*__{key}-L*.json")):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise ProbekitError(f"{path}: not a readable record ({exc}); delete it or run with --force.") from None
    return records


def sweep_summary(sweep: Sweep, out: str | Path, outcomes: list[JobOutcome] | None = None):
    """One row per job: its number, id, label, training size and status (with the error of a failed
    job). Without ``outcomes`` (a dry run) the status says whether the job has current records in ``out``."""
    import pandas as pd

    existing = sweep.existing(out) if outcomes is None else {}
    by_index = {o.index: o for o in outcomes or []}
    rows = []
    for index, (key, config) in enumerate(zip(sweep.ids, sweep.configs)):
        outcome = by_index.get(index)
        status = outcome.status if outcome else ("has records" if index in existing else
                                                 "to run" if outcomes is None else "not run")
        rows.append({"job": index + 1, "id": key, "run": job_label(config).replace(" | ", " / "),
                     "train size": "all" if config.train_size is None else config.train_size,
                     "status": status, "error": outcome.error if outcome else ""})
    return pd.DataFrame(rows)
