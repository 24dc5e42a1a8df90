"""Result records: assembled once from plain inputs, named, written atomically, read back.

A record is a JSON-ready dict, the only thing a run leaves behind: what was run (``config``),
on what (``data``), what came out (``metrics``, ``readouts``, ``baselines``), how long each
stage took (``timings_s``), with what code (``versions``, ``git_commit``) and with which
resolved options (``resolved``). :func:`build_record` is the one place that puts these
together, so a record is never built and then patched.
"""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from probekit.errors import ProbekitError
from probekit.io import atomic_write_json
from probekit.provenance import code_fingerprint, git_commit, package_versions

RECORD_VERSION = 1
DEFAULT_RESULTS_DIR = Path("results/runs")


def build_record(*, record_id: str, config: dict[str, Any], data: dict[str, Any], metrics: dict[str, Any],
                 readouts: dict[str, Any], baselines: dict[str, Any], timings_s: dict[str, float],
                 resolved: dict[str, Any]) -> dict[str, Any]:
    """One result record from its parts (all plain data); adds the version, the creation time,
    the total time and where the code came from."""
    return {
        "record_version": RECORD_VERSION,
        "id": record_id,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config,
        "data": data,
        "metrics": metrics,
        "readouts": readouts,
        "baselines": baselines,
        "timings_s": {**timings_s, "total": round(sum(timings_s.values()), 4)},
        "versions": package_versions(),
        "git_commit": git_commit(),
        "code_fingerprint": code_fingerprint(),
        "resolved": resolved,
    }


def is_current(records: list[dict]) -> bool:
    """Whether records were made by the code now running (same :func:`code_fingerprint`).

    A record's config hash says *what* was computed; the fingerprint says *with which code*. Both must
    match before a record is reused, so a changed probe or encoder never hides behind an old record."""
    return all(r.get("code_fingerprint") == code_fingerprint() for r in records)


def record_path(record: dict, out_dir: Path) -> Path:
    """``<task>__<encoder>[__layer<L>]__<probe>__seed<S>__n<size>__<id>.json`` in ``out_dir``."""
    c = record["config"]
    size = "all" if c["train_size"] is None else c["train_size"]
    layer = "" if c.get("layer") is None else f"__layer{c['layer']}"
    name = f"{c['task']}__{c['encoder']}{layer}__{c['probe']}__seed{c['seed']}__n{size}__{record['id']}.json"
    return Path(out_dir) / name.replace("/", "_")


def save_record(record: dict, out_dir: Path = DEFAULT_RESULTS_DIR) -> Path:
    """Write a record atomically; a reader never sees a half-written file."""
    path = record_path(record, out_dir)
    atomic_write_json(path, record)
    return path


def load_results(paths: list[str | Path] | None = None) -> list[dict]:
    """Read result records from files or folders (default ``results/runs``).

    In a folder, a file that is not a readable record (corrupt JSON, not UTF-8, unreadable)
    is skipped with a warning naming it; a file named on its own must be readable. Records of
    another ``record_version`` are skipped, and said so when nothing else is found.
    """
    records, other_versions = [], []
    for path in [Path(p) for p in (paths or [DEFAULT_RESULTS_DIR])]:
        if not path.exists():
            raise ProbekitError(f"no results at {str(path)!r}: run `probekit run ...` first or pass the folder.")
        in_folder = path.is_dir()
        for file in sorted(path.glob("**/*.json")) if in_folder else [path]:
            try:
                record = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                problem = f"{file}: not a readable result record ({exc})"
                if not in_folder:
                    raise ProbekitError(f"{problem}. Remove or fix it.") from None
                warnings.warn(f"{problem}; skipped it. Remove or fix it.", RuntimeWarning, stacklevel=2)
                continue
            if isinstance(record, dict) and record.get("record_version") == RECORD_VERSION:
                record["_path"] = str(file)
                records.append(record)
            elif isinstance(record, dict) and "record_version" in record:
                other_versions.append(f"{file} (record_version {record['record_version']!r})")
    if other_versions and not records:
        raise ProbekitError(f"no result records of record_version {RECORD_VERSION}: {len(other_versions)} "
                            f"record(s) of another version were skipped, e.g. {other_versions[0]}. Rerun "
                            f"them with this probekit (`probekit run ...`).")
    return records
