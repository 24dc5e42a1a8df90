"""The machinery of ``probekit reproduce``: suite sizes, jobs, sections, and running them with resume.

A :class:`Budget` sets the size of every run (:data:`QUICK`, :data:`FULL`); a :class:`Section` names
a claim, its jobs (plain :class:`~probekit.experiment.RunConfig` objects or :class:`FunctionJob`) and
the function that turns its records into a :class:`SectionReport`. :func:`run_section` runs (or
reuses) a section's jobs and writes one record per run under ``records/<section>/``;
:func:`collect_section` only reads the records that exist. Nothing here knows what a section
measures: the sections live in :mod:`probekit.reproduce.structure` and
:mod:`probekit.reproduce.content`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from probekit.errors import ProbekitError
from probekit.experiment import RunConfig, run_all
from probekit.io import atomic_write_json
from probekit.provenance import code_fingerprint, git_commit, package_versions
from probekit.records import is_current
from probekit.studies import IDENTITY_PROBE_OPTIONS
from probekit.sweep import job_label as sweep_job_label


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
    structure_tasks: tuple[str, ...] = ("roles", "roles-transfer", "roles-deep", "roles-simple", "ud-roles")
    selectivity_tasks: tuple[str, ...] = ("roles", "ud-roles")
    # per task name: task-option overrides (absent: the task file's), the first N training sentences
    # of the structure and of the selectivity runs (absent: all), and how many of the suite's seeds
    # the task's runs use (absent: all)
    task_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    train_sizes: dict[str, int] = field(default_factory=dict)
    selectivity_train_sizes: dict[str, int] = field(default_factory=dict)
    task_seeds: dict[str, int] = field(default_factory=dict)
    bigru_options: dict[str, Any] = field(default_factory=dict)
    #: the zero-label readout curve's cluster counts k (the number of roles is always added)
    readout_clusters: tuple[int, ...] = (8, 16, 64, 256)
    n_boot: int = 1000
    identity_sources: tuple[str, ...] = ("random", "ud")
    identity_quick: bool = False
    identity_seeds: int | None = 1        # how many of the suite's seeds the identity study uses (None: all)
    identity_encoders: tuple[str, ...] | None = None   # keep only these encoders of the study (None: all)
    gpt2_model: str | None = None         # hub name or folder of real GPT-2 weights (None: the local random one)
    dilution: dict[str, Any] = field(default_factory=dict)        # kwargs of measured_identity_curves
    dilution_seeds: int | None = None
    ladder: dict[str, Any] = field(default_factory=dict)          # kwargs of probe_ladder
    #: the same ladder on other encoders: each dict overrides ``ladder``'s kwargs (no loophole)
    ladder_encoders: tuple[dict[str, Any], ...] = ()
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
            "probes": ["linear", "mlp", "attention"], "loophole_history": 3, "n_boot": 1000,
            "probe_options": {"linear": IDENTITY_PROBE_OPTIONS}},   # C chosen on held-out rows, as in the study
    # GPT-2: the lm section's trained GPT-2-style model, and the random-weight one as a labelled control
    ladder_encoders=({"encoder": "gru-lm", "encoder_options": {"context": "stream"}, "loophole_history": 0},
                     {"encoder": "gpt2", "weights": "trained", "encoder_options": {"context": "stream"},
                      "loophole_history": 0},
                     {"encoder": "gpt2", "encoder_options": {"context": "stream"}, "loophole_history": 0}),
    ladder_seeds=1,
)
QUICK = Budget(
    name="quick",
    selectivity_tasks=("roles",),
    task_options={**{task: {"n_train": 400, "n_test": 150}
                     for task in ("roles", "roles-transfer", "roles-deep", "roles-simple")},
                  "ud-roles": {"train_split": "dev"}},   # the 2,000-sentence dev file loads ~6x faster than train
    train_sizes={"ud-roles": 400},
    selectivity_train_sizes={"ud-roles": 400},
    task_seeds={"ud-roles": 1},
    bigru_options={"epochs": 4},
    readout_clusters=(8, 32),
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
            "probes": ["linear", "mlp", "attention"], "loophole_history": 3, "n_boot": 200,
            "probe_options": {"linear": IDENTITY_PROBE_OPTIONS}},
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
    #: which :data:`STATIC_SECONDS` estimate orders it before its first record exists (not in its id)
    cost: str = "function"

    def check_resources(self) -> None:
        """The job's inputs exist: its module's ``check_resources(function, kwargs)``, where it has one."""
        hook = getattr(importlib.import_module(self.module), "check_resources", None)
        if callable(hook):
            hook(self.function, self.kwargs)

    def call(self) -> Any:
        """``module.function(**kwargs)``, as it is (a job's records are made by :func:`execute`)."""
        return getattr(importlib.import_module(self.module), self.function)(**self.kwargs)

    def key(self) -> str:
        text = json.dumps({"module": self.module, "function": self.function, "kwargs": self.kwargs},
                          sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class WithSetup:
    """A job that reads something a setup call makes first: ``setup`` (its return value unused), then ``job``.

    The identity study and the probe ladder read the GPT-2-style model that the ``lm`` section
    trains; the setup (:func:`probekit.lm.store.trained_folder`) trains it or reuses it, under a
    file lock, in whichever worker gets there first, so no job ever reads a model that is not there
    yet, whatever the executor or the order. Key, label and records are ``job``'s own (the setup is
    not part of the id: it makes an input, as a data file is one).
    """

    job: RunConfig | FunctionJob
    setup: FunctionJob

    def key(self) -> str:
        return job_key(self.job)


Job = RunConfig | FunctionJob | WithSetup


def job_key(job: Job) -> str:
    return job.key()


def inner_job(job: Job) -> RunConfig | FunctionJob:
    """The job itself, without its setup call."""
    return job.job if isinstance(job, WithSetup) else job


@functools.singledispatch
def job_label(job) -> str:
    raise TypeError(f"not a reproduce job: {job!r}")


job_label.register(RunConfig, sweep_job_label)


@job_label.register
def _(job: FunctionJob) -> str:
    return job.label or f"{job.module}.{job.function}"


@job_label.register
def _(job: WithSetup) -> str:
    return job_label(job.job)


@functools.singledispatch
def execute(job, cache=None) -> list[dict]:
    """Compute a job's records (one, or one per layer for a multi-layer encoding)."""
    raise TypeError(f"not a reproduce job: {job!r}")


@execute.register
def _(job: RunConfig, cache=None) -> list[dict]:
    return run_all(job, cache=cache)


@execute.register
def _(job: FunctionJob, cache=None) -> list[dict]:
    start = time.perf_counter()
    table = pd.DataFrame(job.call())
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
        "code_fingerprint": code_fingerprint(),
    }]


@execute.register
def _(job: WithSetup, cache=None) -> list[dict]:
    job.setup.call()
    return execute(job.job, cache=cache)


def function_table(records: Iterable[dict], function: str) -> pd.DataFrame:
    """The rows of every function record made by ``module.function``, concatenated."""
    frames = [pd.DataFrame(r["rows"], columns=r["columns"]).assign(**_seed_column(r))
              for r in records if r.get("function") == function]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _seed_column(record: dict) -> dict:
    """The job's ``seed`` and ``encoder`` as columns, where the function's table lacks them."""
    columns = {}
    for name in ("seed", "encoder"):
        value = record["kwargs"].get(name)
        if value is not None and name not in record["columns"]:
            columns[name] = value
    return columns


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
    stale: bool = False               # a record existed but was made by other code: recomputed


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
    missing: list[str] = field(default_factory=list)    # labels of jobs without a record
    stale: list[str] = field(default_factory=list)      # paths of records made by other code

    def add_cost(self, records: list[dict]) -> None:
        """Count one job's cost from its records (all layers of a job share one run's time)."""
        self.compute_seconds += max((r.get("reproduce", {}).get("wall_s", 0.0) for r in records), default=0.0)
        self.cpu_seconds += max((r.get("reproduce", {}).get("cpu_s", 0.0) for r in records), default=0.0)


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


def _record_paths(folder: Path, records: list[dict]) -> list[str]:
    return [str(folder / f"{r['id']}.json") for r in records]


def run_section(section: Section, budget: Budget, seeds: tuple[int, ...], out: Path, *, force: bool = False,
                progress: Callable[[Progress], None] | None = None, cache=None, start: float | None = None,
                executor=None) -> tuple[list[dict], SectionOutcome]:
    """Run (or reuse) every job of a section; return its records and what happened."""
    return run_sections([section], budget, seeds, out, force=force, progress=progress, cache=cache, start=start,
                        executor=executor)[section.name]


def run_sections(sections: list[Section], budget: Budget, seeds: tuple[int, ...], out: Path, *, force: bool = False,
                 progress: Callable[[Progress], None] | None = None, cache=None, start: float | None = None,
                 executor=None, section_done: Callable[[str, list[dict], SectionOutcome], None] | None = None,
                 ) -> dict[str, tuple[list[dict], SectionOutcome]]:
    """Run (or reuse) the jobs of several sections through one executor (default: one at a time in this
    process); return each section's records, in job order, and what happened.

    Every job's names and options are checked before any job runs, and the inputs of every job that
    will run. Jobs go to the executor longest first (:func:`execution_order`). Workers compute; this
    process writes each job's records (atomically) as the job finishes, so an interrupted suite keeps
    what finished. ``section_done(name, records, outcome)`` is called once per section as soon as its
    last job has finished (while other sections' jobs still run in workers): ``reproduce`` writes the
    section's page there. The calls run one after another on a thread of their own, so this process
    keeps handing jobs out while a page is drawn (called inline, a page's seconds of plotting left
    both workers idle: measured 5.4 s for the structure page of the quick suite); their first error
    is raised once the jobs are done.
    """
    from probekit.executors import Failure, make_executor
    from probekit.sweep import wants_gpu

    start = time.perf_counter() if start is None else start
    executor = executor or make_executor("local", 1)
    plans = {s.name: (s, s.jobs(budget, seeds)) for s in sections}
    outcomes = {name: SectionOutcome(section, "done") for name, (section, _) in plans.items()}
    found: dict[str, list[list[dict]]] = {name: [[] for _ in jobs] for name, (_, jobs) in plans.items()}
    finished = dict.fromkeys(plans, 0)
    todo = []   # (section name, job index, stale)
    complete = [name for name, (_, jobs) in plans.items() if not jobs]   # all jobs finished, not yet handed over

    pages = ThreadPoolExecutor(max_workers=1, thread_name_prefix="probekit-pages")
    written: list[Future] = []

    def hand_over() -> None:
        while complete and section_done:
            name = complete.pop(0)
            written.append(pages.submit(section_done, name, [r for job_records in found[name] for r in job_records],
                                        outcomes[name]))

    def finish(name: str, index: int, records: list[dict], reused: bool, stale: bool, seconds: float) -> None:
        section, jobs = plans[name]
        outcome = outcomes[name]
        outcome.reused += reused
        outcome.computed += not reused
        outcome.add_cost(records)
        found[name][index] = records
        finished[name] += 1
        if finished[name] == len(jobs):
            complete.append(name)
        if progress:
            progress(Progress(name, finished[name], len(jobs), job_label(jobs[index]), reused, seconds=seconds,
                              elapsed=round(time.perf_counter() - start, 3), stale=stale))

    reuse, remembered = [], {}   # (name, index, records) of current records; seconds a stale record took
    all_jobs, will_run = [], []  # every job, and whether it runs (only those need their inputs)
    for name, (section, jobs) in plans.items():
        for index, job in enumerate(jobs):
            folder = records_dir(out, name)
            existing = [] if force else _existing(folder, job_key(job))
            stale = bool(existing) and not is_current(existing)
            all_jobs.append(job)
            will_run.append(not existing or stale)
            if not will_run[-1]:
                reuse.append((name, index, existing))
                continue
            todo.append((name, index, stale))
            if existing:
                remembered[name, index] = _wall_seconds(existing)
            else:   # under --force the current records were not read; what they took still orders the jobs
                remembered[name, index] = _remembered_seconds(folder, job_key(job)) if force else None
    check_jobs(all_jobs, inputs=will_run)
    for name, index, existing in reuse:
        finish(name, index, existing, True, False, 0.0)
    order = execution_order([plans[name][1][index] for name, index, _ in todo],
                            [remembered[name, index] for name, index, _ in todo])
    todo = [todo[position] for position in order]
    compute = functools.partial(_timed_execute, cache=cache)
    items = [plans[name][1][index] for name, index, _ in todo]
    try:
        for position, result in executor.run(compute, items, lambda job: isinstance(inner_job(job), RunConfig)
                                             and wants_gpu(inner_job(job))):
            name, index, stale = todo[position]
            if isinstance(result, Failure):
                raise ProbekitError(f"{name}: {job_label(items[position])} failed: {result.message}")
            records, wall, cpu = result
            for record in records:
                record["reproduce"] = {"section": name, "budget": budget.name, "wall_s": wall, "cpu_s": cpu}
                atomic_write_json(records_dir(out, name) / f"{record['id']}.json", record)
            finish(name, index, records, False, stale, wall)
            hand_over()   # (the sections reused whole too, once the workers have their first jobs)
        hand_over()
        for page in written:
            page.result()   # a page's error, now that no job is left to hand out
    finally:
        pages.shutdown(wait=True, cancel_futures=True)   # an interrupt: the page being drawn ends whole
    return {name: ([r for job_records in found[name] for r in job_records], outcomes[name]) for name in plans}


# ----------------------------------------------------------------------------- order of execution

#: Rough seconds of a job of each kind on two cores (quick-suite sizes), used only to order jobs whose
#: record does not remember its own time. Probe runs: a transformer extraction, an encoder trained per
#: run (one that takes ``epochs``), any other. Function jobs by their ``cost``: ``training`` (a language
#: model trained, then evaluated; also a setup that trains one), ``function`` (any other whole table).
STATIC_SECONDS = {"transformer": 30.0, "trained": 10.0, "run": 2.0, "training": 120.0, "function": 20.0,
                  "build": 10.0}


@functools.singledispatch
def expected_seconds(job, remembered: float | None = None) -> float:
    """How long ``job`` should take: what its previous record remembers (``remembered``, the wall
    seconds of a stale record of the same id), else a static estimate (:data:`STATIC_SECONDS`)."""
    raise TypeError(f"not a reproduce job: {job!r}")


@expected_seconds.register
def _(job: RunConfig, remembered: float | None = None) -> float:
    if remembered is not None:
        return remembered
    from probekit import registry
    from probekit.sweep import wants_gpu

    if wants_gpu(job):
        return STATIC_SECONDS["transformer"]
    return STATIC_SECONDS["trained" if "epochs" in registry.encoders.parameters(job.encoder) else "run"]


@expected_seconds.register
def _(job: FunctionJob, remembered: float | None = None) -> float:
    return STATIC_SECONDS[job.cost] if remembered is None else remembered


@expected_seconds.register
def _(job: WithSetup, remembered: float | None = None) -> float:
    return expected_seconds(job.job) if remembered is None else remembered


def execution_order(jobs: list[Job], remembered: list[float | None]) -> list[int]:
    """The indices of ``jobs``, longest expected first (:func:`expected_seconds`; ties keep their
    order): with N workers the last jobs to start are short ones, so no worker is left finishing a long
    job alone at the end. A setup (the model several jobs read) counts once, on the first job that
    needs it; the other jobs that need it go last, when it is made (started earlier, a worker would
    wait on its lock doing nothing). Only the order of execution changes: a job's records do not
    depend on it."""
    setups: set[str] = set()
    order = []   # (waits for another job's setup, -expected seconds) of each job
    for job, seconds in zip(jobs, remembered):
        cost = expected_seconds(job, seconds)
        waits = isinstance(job, WithSetup) and job.setup.key() in setups
        if isinstance(job, WithSetup) and not waits:
            setups.add(job.setup.key())
            cost += expected_seconds(job.setup) if seconds is None else 0.0
        order.append((waits, -cost))
    return sorted(range(len(jobs)), key=lambda index: order[index])


def _wall_seconds(records: list[dict]) -> float | None:
    """The wall seconds a job's records remember (the driver's ``reproduce.wall_s``), if any."""
    times = [r["reproduce"]["wall_s"] for r in records if isinstance(r.get("reproduce"), dict)
             and isinstance(r["reproduce"].get("wall_s"), (int, float))]
    return max(times) if times else None


def _remembered_seconds(folder: Path, key: str) -> float | None:
    """:func:`_wall_seconds` of the records of ``key`` in ``folder``; None when there are none or
    they cannot be read (``--force`` recomputes them anyway)."""
    try:
        return _wall_seconds(_existing(folder, key))
    except ProbekitError:
        return None


@functools.singledispatch
def _check_job(job) -> None:
    raise TypeError(f"not a reproduce job: {job!r}")


@_check_job.register
def _(job: RunConfig, inputs: bool = True) -> None:
    from probekit.experiment import check_config

    check_config(job, inputs=inputs)


@_check_job.register
def _(job: FunctionJob, inputs: bool = True) -> None:
    if inputs:
        job.check_resources()


@_check_job.register
def _(job: WithSetup, inputs: bool = True) -> None:
    """The setup's inputs, and the job's: a probe run's names and options only (its encoder reads the
    model the setup makes), a function job's own inputs hook (which names only what exists before
    the setup, e.g. the corpus and the treebank of the ``lm`` section's probes)."""
    if inputs:
        job.setup.check_resources()
    _check_job(job.job, inputs=inputs and not isinstance(job.job, RunConfig))


def check_jobs(jobs: Iterable[Job], inputs: Iterable[bool] | None = None) -> None:
    """Check every job's names and options, and the inputs (data files) of each job whose flag in
    ``inputs`` is true (default: all), before any runs; one error lists every problem (a missing
    treebank is named once, not once per job that reads it). A job whose current record is reused
    needs no inputs, so a suite whose records are all current runs on a machine without its data."""
    jobs = list(jobs)
    problems: dict[str, list[str]] = {}
    for job, check_inputs in zip(jobs, [True] * len(jobs) if inputs is None else inputs):
        try:
            _check_job(job, inputs=check_inputs)
        except ProbekitError as exc:
            problems.setdefault(str(exc), []).append(job_label(job))
    if problems:
        lines = [f"{message} (needed by {len(labels)} job(s), e.g. {labels[0]})" for message, labels in problems.items()]
        raise ProbekitError("nothing was run: " + ("\n  ".join([""] + lines) if len(lines) > 1 else lines[0]))


def _timed_execute(job: Job, cache=None) -> tuple[list[dict], float, float]:
    """A worker's job: its records, wall and CPU seconds (the driver adds them to the records)."""
    began, cpu_began = time.perf_counter(), time.process_time()
    records = execute(job, cache=cache)
    return records, round(time.perf_counter() - began, 3), round(time.process_time() - cpu_began, 3)


def collect_section(section: Section, budget: Budget, seeds: tuple[int, ...], out: Path
                    ) -> tuple[list[dict], SectionOutcome]:
    """The records a section already has, computing nothing (sections outside ``--only``)."""
    outcome = SectionOutcome(section, "done")
    folder = records_dir(out, section.name)
    records: list[dict] = []
    jobs = section.jobs(budget, seeds)
    for job in jobs:
        found = _existing(folder, job_key(job))
        if not found:
            outcome.missing.append(job_label(job))
        elif not is_current(found):
            outcome.stale += _record_paths(folder, found)
        outcome.reused += bool(found)
        outcome.add_cost(found)
        records += found
    if outcome.reused < len(jobs):
        outcome.status = f"incomplete: {outcome.reused} of {len(jobs)} runs have records (run it with --only " \
                         f"{section.name})"
    elif outcome.stale:
        outcome.status = f"stale: {len(outcome.stale)} records were made by other code than this checkout's " \
                         f"(rerun it with --only {section.name})"
    return records, outcome
