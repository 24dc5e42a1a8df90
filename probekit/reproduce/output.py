"""What ``probekit reproduce`` writes under OUT: one page per section (Markdown, CSV tables, PNG
plots), ``budgets.json`` (the measured cost of each suite), the index ``summary.md`` and
``README.md`` (filled in from :data:`README_INTRO` and :data:`README_DIFFERENCES`).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from probekit.io import atomic_write_json, atomic_write_text
from probekit.provenance import git_commit
from probekit.reproduce.suite import Budget, SectionOutcome


def _table_stem(section: str, name: str) -> str:
    return section if not name else f"{section}-{name}"


def report_dir(out: Path, budget: Budget) -> Path:
    """Where a suite's pages go: the full suite's report is ``out`` itself; another suite's
    (``quick``) goes to ``out/<suite>/``, so that a quick check never overwrites the report.
    Records (``out/records/``) and ``out/budgets.json`` are shared by the suites."""
    return Path(out) if budget.name == "full" else Path(out) / budget.name


def write_section(outcome: SectionOutcome, records: list[dict], budget: Budget, seeds: tuple[int, ...],
                  out: Path, records_link: str | None = None) -> None:
    """``<section>.md`` (every table, claim and plot), one CSV per table, one PNG per plot.
    ``records_link`` is the records folder as the page links it (relative to ``out``)."""
    from probekit.report import render

    section = outcome.section
    records_link = records_link or f"records/{section.name}"
    lines = [f"# {section.title}", "", f"Suite: `{budget.name}`, {_seeds_that_ran(records, seeds)}. "
             f"Regenerate with `probekit reproduce --{budget.name} --only {section.name}`.", ""]
    if outcome.status != "done" and not records:
        lines += [f"**Not yet available**: {outcome.status}.", ""]
        atomic_write_text(out / f"{section.name}.md", "\n".join(lines) + "\n")
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
    lines += ["", f"Records: `{records_link}/` ({len(records)} files), made by commit(s) "
              f"{', '.join(f'`{c}`' for c in commits)}."]
    atomic_write_text(out / f"{section.name}.md", "\n".join(lines) + "\n")
    outcome.files.insert(0, out / f"{section.name}.md")


def _seeds_that_ran(records: list[dict], requested: tuple[int, ...]) -> str:
    """The seeds the page's records ran with (read from the records, not from the invocation: the
    expensive sections run only the first seed)."""
    ran = sorted({r["config"]["seed"] if "config" in r else r.get("kwargs", {}).get("seed") for r in records}
                 - {None})
    if not ran:
        return f"seeds requested {', '.join(map(str, requested))} (no record yet)"
    return f"seed{'s' if len(ran) > 1 else ''} {', '.join(map(str, ran))} (from the records)"


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
    """The index. It says only what the records say (runs with a record, their cost), not what this
    invocation computed or reused, so that ``reproduce --check`` can regenerate it identically."""
    rows = ["| section | status | runs with a record | compute time (from scratch) | files |",
            "|---|---|---|---|---|"]
    for o in outcomes:
        files = ", ".join(f"[{p.name}]({p.name})" for p in o.files)
        rows.append(f"| {o.section.name} | {o.status} | {o.computed + o.reused} | {_minutes(o.compute_seconds)} "
                    f"| {files} |")
    text = (f"# probekit reproduce: index\n\nSuite `{budget.name}`, seeds {', '.join(map(str, seeds))}. "
            f"Claims and the paper's figures: [README.md](README.md).\n\n" + "\n".join(rows) + "\n")
    atomic_write_text(out / "summary.md", text)


README_INTRO = """# Reproducing arXiv 2604.08556 with probekit

This file is generated by `probekit reproduce` (template: `probekit/reproduce/output.py`); do not edit
it by hand: every number below is filled in from the tables beside it. Suite `{budget}`, seeds
{seeds} requested (the identity, dilution and ladder sections run the first only; each section's
page names the seeds its records ran); intervals are 95% and count both seeds and test sentences (the seeds' t-interval and
the bootstrap interval over sentences added in quadrature; one seed gives its bootstrap
interval; docs/metrics.md). Protocols: `docs/protocol.md`.

```bash
probekit reproduce --full            # the committed report (records in results/records/ are reused)
probekit reproduce --quick           # a smoke-scale check in a few minutes (pages: results/quick/)
```
"""

README_DIFFERENCES = """## What differs from the paper, and why

- **Grammars.** The paper's grammars and protocols are not public; probekit's Grammar A and B,
  its depth split and its structure-dependent subset are its own (docs/grammars.md,
  docs/roles.md). Figures are therefore comparable in kind, not digit for digit.
- **Scale.** Everything runs on 2 CPU cores: thousands of training sentences, 64-dimensional
  traces and small probes, not a 130M-parameter language model trained on C4.
- **No pretrained GPT-2.** Hub weights cannot be downloaded on the machines this report is made
  on: the transformer rows of the identity study and the probe ladder read the small GPT-2-style
  LM that the `lm` section trains on WikiText-2 (labelled "trained, lm section"), beside a small
  randomly initialised GPT-2 with the real tokenizer as a control (labelled "random weights,
  control"), which shows the pipeline, not GPT-2's science. `docs/protocol.md` says how to rerun
  with real weights.
- **Readout.** The zero-label readout is probekit's context-predictive clustering probe
  (`predictive`: word classes found without labels, then, inside each class, the directions of
  the trace that predict the next word; chosen over k-means on a dev split of the training
  data), scored by Hungarian one-to-one (and many-to-one) mapping of clusters to roles
  (docs/probes.md). The k-means readout (`hebbian`) over the same traces is shown beside it.
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
    # only this suite's row: another suite's later run must not make this page stale (--check)
    budgets = {budget.name: budgets[budget.name]} if budget.name in budgets else {}
    rows = ["## Measured budgets\n",
            "Compute time is the sum of every run's wall time as recorded in its record (the cost from "
            "scratch, whatever was reused); CPU time is the process time of the same runs (all threads), "
            "which other users of a shared machine do not inflate. Every suite's figures: `budgets.json`.\n",
            "| suite | complete | compute time from scratch (wall) | CPU time | last invocation (wall) | CPUs "
            "| commit of the last invocation (records name their own) |",
            "|---|---|---|---|---|---|---|"]
    for name, entry in sorted(budgets.items()):
        rows.append(f"| `{name}` | {'yes' if entry['complete'] else 'no'} | "
                    f"{_minutes(entry['compute_s_from_scratch'])} | "
                    f"{_minutes(entry.get('cpu_s_from_scratch', 0))} | "
                    f"{_minutes(entry['last_invocation_wall_s'])} "
                    f"| {entry['cpus']} | `{entry['git_commit']}` |")
    parts.append("\n".join(rows) + "\n")
    atomic_write_text(out / "README.md", "\n".join(parts))
