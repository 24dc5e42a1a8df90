"""``probekit reproduce --check``: are the committed pages what the committed records give?

The check regenerates every page of a suite from the records under ``OUT/records/`` into a
temporary folder, running nothing, and compares the text pages (Markdown and CSV) with the
committed ones byte for byte. PNG plots are regenerated but not compared: their bytes depend on
the matplotlib and font versions of the machine, not only on the records. A record that is missing
or stale (made by code whose :func:`~probekit.provenance.code_fingerprint` differs from this
checkout's) is a failure too: the page would then show numbers this code did not compute.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from probekit.reproduce.suite import SectionOutcome

#: the page types compared byte for byte (PNG files are not: see the module docstring)
TEXT_PAGES = (".md", ".csv")


def page_differences(generated: Path, committed: Path) -> list[str]:
    """One line per text page under ``generated`` that is absent from ``committed`` or differs,
    naming the committed file and its first differing line."""
    problems = []
    for page in sorted(p for p in Path(generated).iterdir() if p.suffix in TEXT_PAGES):
        target = Path(committed) / page.name
        if not target.is_file():
            problems.append(f"page {target} is missing (regenerate it)")
            continue
        new, old = page.read_text(encoding="utf-8"), target.read_text(encoding="utf-8")
        if new != old:
            diff = [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
                    if line[:1] in "+-" and not line.startswith(("+++", "---"))]
            problems.append(f"page {target} differs from what its records give (first change: "
                            f"{' / '.join(diff[:2])[:200]})")
    return problems


def record_problems(outcomes: list[SectionOutcome]) -> list[str]:
    """One line per job without a record and per stale record, section by section."""
    problems = []
    for outcome in outcomes:
        name = outcome.section.name
        problems += [f"{name}: no record for {label}" for label in outcome.missing]
        problems += [f"{name}: stale record {path} (made by other code; rerun with --only {name})"
                     for path in outcome.stale]
    return problems
