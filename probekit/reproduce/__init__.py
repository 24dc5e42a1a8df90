"""`probekit reproduce`: the claims of arXiv 2604.08556 as data, run, resumed and reported.

A *suite* is a list of :class:`Section` objects. A section names one claim, the paper's figure
for it, the jobs that measure it (plain :class:`~probekit.experiment.RunConfig` objects, or
:class:`FunctionJob` for computations that are not one probe run, such as the closed-form
dilution bound) and a function that turns the finished records into pandas tables, plots and
headline figures. Nothing in the machinery knows what a section measures: adding a claim is
writing a ``Section`` in a section module and adding it to :data:`SECTIONS` below.

What goes where under ``out`` (default ``results/``): one record per run in
``records/<section>/<id>.json``; per section ``<section>.md`` with its tables as CSV and its plots
as PNG; ``budgets.json`` (the measured cost of each suite), the index ``summary.md`` and
``README.md``. Those pages are the full suite's; a quick suite writes its pages to
``out/quick/`` (sharing the records folder and ``budgets.json``), so a quick check never
overwrites the committed report.

Why records live in ``results/records/<section>/<id>.json`` (committed): the report must be
regenerable and auditable, every record names the commit that made it, and a suite that stops
half-way resumes from the records it already has (a job whose record exists is not recomputed).
Tables are made only from the records of the *current* job list, so a quick run never leaks
into a full report.

Sections whose modules are not installed yet (the identity study, the dilution analyzer) are
written as "not yet available" pages instead of failing: they plug in the moment the modules
exist.

The package:

- :mod:`~probekit.reproduce.suite`: budgets (``QUICK``, ``FULL``), jobs, sections, running and
  resuming them;
- :mod:`~probekit.reproduce.tables`: intervals, seed aggregation and plotting helpers;
- :mod:`~probekit.reproduce.structure`: the structure, subset and selectivity sections;
- :mod:`~probekit.reproduce.content`: the identity, dilution and probe-ladder sections;
- :mod:`~probekit.reproduce.output`: the section pages, ``budgets.json``, ``summary.md`` and the
  README template;
- :mod:`~probekit.reproduce.check`: comparing regenerated pages with the committed ones;
- this module: the suite (:data:`SECTIONS`, in report order), :func:`reproduce` and :func:`check`.

Records carry the :func:`~probekit.provenance.code_fingerprint` of the code that made them: a
record is reused only when its config *and* its fingerprint match, and :func:`check` fails on a
page that differs from what the records give or on a record that is missing or stale.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

from probekit.errors import ProbekitError
from probekit.reproduce.check import page_differences, record_problems
from probekit.reproduce.content import (
    DILUTION_SECTION, EMPIRICAL, IDENTITY_SECTION, LADDER_SECTION, THEORY, dilution_jobs,
    dilution_report, identity_jobs, identity_report, ladder_jobs, ladder_report,
)
from probekit.reproduce.lm import LM_SECTION
from probekit.reproduce.output import (
    README_DIFFERENCES, README_INTRO, fill, report_dir, update_budgets, write_readme, write_section, write_summary,
)
from probekit.reproduce.structure import (
    BIGRU, EMA_HEBB_LINEAR, EMA_LINEAR, PAPER_FIGURES, SCALE, SELECTIVITY_CONDITIONS, SELECTIVITY_SECTION,
    STRUCTURE_CONDITIONS, SUBSET_SECTION, STRUCTURE_SECTION, TYPE, TYPE_POSITION, ZERO_LABEL, Condition, plot_structure,
    selectivity_jobs, selectivity_report, structure_jobs, structure_report, zero_label_ratios,
)
from probekit.reproduce.suite import (
    BUDGETS, DEFAULT_OUT, DEFAULT_SEEDS, FULL, FUNCTION_RECORD_VERSION, QUICK, Budget, Claim, FunctionJob, Job,
    Progress, Section, SectionOutcome, SectionReport, check_seeds, collect_section, execute, function_table,
    job_key, job_label, records_dir, run_section, run_sections,
)
from probekit.reproduce.tables import aggregate, fmt_ci, plot_against_lag, ratio_interval, role_rows, seed_interval



def __getattr__(name: str):
    """``bound_table``, imported on first use. Its module (probekit.dilution.theory) loads
    scipy.stats and scipy.integrate (about 2 s), which the driver of ``probekit reproduce`` (it
    lists jobs and writes pages) never needs; only the worker that runs the bound job does. The
    bound records name their job ``probekit.reproduce.bound_table``, so the name stays here."""
    if name == "bound_table":
        from probekit.dilution.theory import bound_table

        return bound_table
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "BIGRU", "BUDGETS", "check", "DEFAULT_OUT", "DEFAULT_SEEDS", "DILUTION_SECTION", "EMA_HEBB_LINEAR", "EMA_LINEAR",
    "EMPIRICAL", "FULL", "FUNCTION_RECORD_VERSION", "IDENTITY_SECTION", "LADDER_SECTION", "LM_SECTION",
    "PAPER_FIGURES",
    "QUICK", "README_DIFFERENCES", "README_INTRO", "SCALE", "SECTIONS", "SELECTIVITY_CONDITIONS",
    "SELECTIVITY_SECTION", "STRUCTURE_CONDITIONS", "STRUCTURE_SECTION", "SUBSET_SECTION", "THEORY", "TYPE", "TYPE_POSITION",
    "ZERO_LABEL", "Budget", "Claim", "Condition", "FunctionJob", "Job", "Progress", "Section", "SectionOutcome",
    "SectionReport", "aggregate", "bound_table", "check_seeds", "collect_section", "dilution_jobs",
    "dilution_report", "execute", "fill", "fmt_ci", "function_table", "identity_jobs", "identity_report",
    "job_key", "job_label", "ladder_jobs", "ladder_report", "plot_against_lag", "plot_structure",
    "ratio_interval", "records_dir", "report_dir", "reproduce", "role_rows", "run_section", "run_sections", "section_names", "seed_interval",
    "select_sections", "selectivity_jobs", "selectivity_report", "structure_jobs", "structure_report",
    "update_budgets", "write_readme", "write_section", "write_summary", "zero_label_ratios",
]

#: The suite, in report order. :func:`reproduce` and :func:`select_sections` read it from here
#: (tests replace it with ``monkeypatch.setattr(probekit.reproduce, "SECTIONS", ...)``).
SECTIONS: tuple[Section, ...] = (STRUCTURE_SECTION, SUBSET_SECTION, SELECTIVITY_SECTION, IDENTITY_SECTION,
                                 DILUTION_SECTION, LADDER_SECTION, LM_SECTION)


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


def reproduce(budget: Budget | str = "quick", seeds: Iterable[int] = DEFAULT_SEEDS, out: Path = DEFAULT_OUT,
              only: Iterable[str] | None = None, force: bool = False,
              progress: Callable[[Progress], None] | None = None, cache=None, gpt2_model: str | None = None,
              executor=None) -> list[SectionOutcome]:
    """Run the suite (or the sections in ``only``), then write every section's report, the
    index ``summary.md`` and ``README.md`` under ``out``.

    Sections outside ``only`` are reported from the records they already have; sections whose
    modules are missing are written as "not yet available". The selected sections' jobs run
    through ``executor`` (:mod:`probekit.executors`; default: one at a time in this process); each
    selected section's page is written as soon as its own jobs have finished (while the workers run
    other sections' jobs), the others' after. Returns one outcome per section.
    """
    budget = _budget(budget, gpt2_model)
    seeds = check_seeds(seeds)
    selected = {s.name for s in select_sections(only)}
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ProbekitError(f"--out {str(out)!r} is a file; give a folder.")
    for section in SECTIONS:  # building the job lists finds a missing resource (GPT-2 tokenizer) before any work
        if section.name in selected and not section.missing():
            section.jobs(budget, seeds)
    pages = report_dir(out, budget)
    start = time.perf_counter()

    def write(name: str, records: list[dict], outcome: SectionOutcome) -> None:
        pages.mkdir(parents=True, exist_ok=True)
        write_section(outcome, records, budget, seeds, pages,
                      records_link=os.path.relpath(records_dir(out, name), pages))

    ran = run_sections([s for s in SECTIONS if s.name in selected and not s.missing()], budget, seeds, out,
                       force=force, progress=progress, cache=cache, start=start, executor=executor,
                       section_done=write)   # each section's page as soon as its jobs are done
    outcomes = []
    for section in SECTIONS:
        reason = section.missing()
        if reason:
            outcome, records = SectionOutcome(section, f"not yet available: {reason}"), []
        elif section.name in selected:
            outcomes.append(ran[section.name][1])
            continue
        else:
            records, outcome = _collect_if_possible(section, budget, seeds, out)
        write(section.name, records, outcome)
        outcomes.append(outcome)
    budgets = update_budgets(out, budget, outcomes, time.perf_counter() - start)
    write_summary(pages, budget, seeds, outcomes)
    write_readme(pages, budget, seeds, outcomes, budgets)
    return outcomes


def _collect_if_possible(section: Section, budget: Budget, seeds: tuple[int, ...], out: Path
                         ) -> tuple[list[dict], SectionOutcome]:
    """A section outside ``--only`` from its records; one whose job list needs a resource this machine
    lacks (the GPT-2 tokenizer) is reported as not available instead of stopping the sections asked for."""
    try:
        return collect_section(section, budget, seeds, out)
    except ProbekitError as exc:
        return [], SectionOutcome(section, f"not available here: {exc}")


def _budget(budget: Budget | str, gpt2_model: str | None) -> Budget:
    if isinstance(budget, str):
        if budget not in BUDGETS:
            raise ProbekitError(f"unknown suite {budget!r}: choose {' or '.join(BUDGETS)}.")
        budget = BUDGETS[budget]
    return replace(budget, gpt2_model=str(gpt2_model)) if gpt2_model else budget


def check(budget: Budget | str = "quick", seeds: Iterable[int] = DEFAULT_SEEDS, out: Path = DEFAULT_OUT,
          gpt2_model: str | None = None) -> list[SectionOutcome]:
    """Regenerate every page of the suite from the records under ``out`` into a temporary folder,
    computing nothing, and compare the text pages with the committed ones.

    Raises :class:`ProbekitError` naming each page that differs or is missing and each record that
    is missing or stale (made by code with another fingerprint); returns the outcomes otherwise.
    """
    budget, seeds, out = _budget(budget, gpt2_model), check_seeds(seeds), Path(out)
    committed = report_dir(out, budget)
    if not committed.is_dir():
        raise ProbekitError(f"no report at {str(committed)!r} to check: give --out the folder that holds "
                            f"the committed results, or run `probekit reproduce --{budget.name}` first.")
    budgets_path = out / "budgets.json"
    budgets = json.loads(budgets_path.read_text(encoding="utf-8")) if budgets_path.is_file() else {}
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="probekit-check-") as tmp:
        pages = Path(tmp)
        for section in SECTIONS:
            reason = section.missing()
            if reason:
                outcome, records = SectionOutcome(section, f"not yet available: {reason}"), []
            else:
                records, outcome = collect_section(section, budget, seeds, out)
            write_section(outcome, records, budget, seeds, pages,
                          records_link=os.path.relpath(records_dir(out, section.name), committed))
            outcomes.append(outcome)
        write_summary(pages, budget, seeds, outcomes)
        write_readme(pages, budget, seeds, outcomes, budgets)
        problems = page_differences(pages, committed) + record_problems(outcomes)
    if problems:
        raise ProbekitError(f"reproduce --check ({budget.name} suite, {committed}): {len(problems)} problem(s):\n  "
                            + "\n  ".join(problems) + f"\nRegenerate with `probekit reproduce --{budget.name}` "
                            f"(stale and missing records are recomputed) and commit the pages and records.")
    return outcomes
