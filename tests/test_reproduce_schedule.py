"""How `probekit reproduce` hands its jobs to an executor: longest expected first (remembered by a
previous record, else a static estimate), records in job order whatever the execution order, and the
inputs (data files) checked only for jobs that will run. Jobs here are tiny function jobs of this
module (each writes one line to a log, so the order they ran in can be read back)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from probekit.errors import ProbekitError
from probekit.experiment import RunConfig
from probekit.reproduce.suite import (
    QUICK, STATIC_SECONDS, FunctionJob, Section, SectionReport, WithSetup, execution_order, records_dir,
    run_sections,
)

MODULE = "test_reproduce_schedule"


def logged(log: str, name: str, needs: str | None = None) -> pd.DataFrame:
    """A function job: appends ``name`` to ``log`` (the order jobs ran in) and returns one row."""
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(name + "\n")
    return pd.DataFrame([{"name": name}])


def check_resources(function: str, kwargs: dict) -> None:
    """This module's input check: the file ``needs`` names must exist."""
    needs = kwargs.get("needs")
    if needs and not Path(needs).is_file():
        raise ProbekitError(f"input {needs} is missing: make it first.")


def _section(log: Path, names: list[str], needs: str | None = None) -> Section:
    jobs = [FunctionJob(MODULE, "logged", {"log": str(log), "name": n, **({"needs": needs} if needs else {})},
                        label=n) for n in names]
    return Section("sched", "scheduling", (), lambda budget, seeds: jobs, lambda records, budget: SectionReport())


def _ran(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").split()


def test_static_estimates_put_function_jobs_and_transformers_before_probe_runs_and_count_a_setup_once():
    setup = FunctionJob("probekit.lm.store", "trained_folder", {"train": {"seed": 0}}, cost="training")
    table = FunctionJob(MODULE, "logged", {"log": "x", "name": "t"})
    jobs = [RunConfig("type", "roles"),                                              # 0: a probe run
            RunConfig("bigru", "roles"),                                             # 1: trains an encoder
            table,                                                                   # 2: a whole table
            WithSetup(RunConfig("type", "roles", seed=1), setup),                    # 3: reads a trained model
            WithSetup(RunConfig("type", "roles", seed=2), setup),                    # 4: the same model
            RunConfig("gpt2", "roles")]                                              # 5: a transformer
    assert execution_order(jobs, [None] * len(jobs)) == [3, 5, 2, 1, 0, 4]   # 4 waits for 3's setup: last
    # a remembered wall time wins over the estimate; ties keep the jobs' own order
    remembered = [STATIC_SECONDS["training"] + 50, None, None, None, None, STATIC_SECONDS["run"]]
    assert execution_order(jobs, remembered) == [0, 3, 2, 1, 5, 4]


def test_jobs_run_longest_remembered_first_and_records_come_back_in_job_order(tmp_path, monkeypatch):
    log = tmp_path / "log"
    section = _section(log, ["a", "b", "c", "d"])
    first = run_sections([section], QUICK, (0,), tmp_path / "out")["sched"][0]
    assert _ran(log) == ["a", "b", "c", "d"]          # equal estimates: the jobs' own order
    folder = records_dir(tmp_path / "out", "sched")
    for seconds, record in zip([1.0, 5.0, 3.0, 9.0], first):   # as if an older checkout made them, this slow
        record.update(code_fingerprint="older code", reproduce={**record["reproduce"], "wall_s": seconds})
        (folder / f"{record['id']}.json").write_text(json.dumps(record), encoding="utf-8")
    log.unlink()
    again = run_sections([section], QUICK, (0,), tmp_path / "out")["sched"]
    assert _ran(log) == ["d", "b", "c", "a"]          # stale records recomputed, the longest first
    assert [r["rows"] for r in again[0]] == [[{"name": n}] for n in "abcd"]   # in job order
    assert again[1].computed == 4 and again[1].reused == 0


def test_inputs_are_checked_only_for_jobs_that_will_run(tmp_path):
    log, needs = tmp_path / "log", tmp_path / "treebank.conllu"
    needs.write_text("data")
    section = _section(log, ["a", "b"], needs=str(needs))
    run_sections([section], QUICK, (0,), tmp_path / "out")
    needs.unlink()
    # every record current: reused, although the input is gone
    records, outcome = run_sections([section], QUICK, (0,), tmp_path / "out")["sched"]
    assert outcome.reused == 2 and outcome.computed == 0 and len(records) == 2
    # a job that has to run needs its input: one error before anything runs, naming the input
    next(records_dir(tmp_path / "out", "sched").glob("*.json")).unlink()
    log.unlink()
    with pytest.raises(ProbekitError, match=r"input .*treebank.conllu is missing.*needed by 1 job"):
        run_sections([section], QUICK, (0,), tmp_path / "out")
    assert not log.exists()
    # names and options are still checked for every job, reused or not
    bad = Section("sched", "scheduling", (), lambda budget, seeds: [RunConfig("no-such-encoder", "roles")],
                  lambda records, budget: SectionReport())
    with pytest.raises(ProbekitError, match="no-such-encoder"):
        run_sections([bad], QUICK, (0,), tmp_path / "out")


def test_each_section_is_handed_over_once_when_its_own_jobs_are_done(tmp_path):
    log = tmp_path / "log"
    one, two = _section(log, ["a", "b"]), _section(log, ["c"])
    two = Section("other", "other", (), two.jobs, two.report)
    run_sections([one], QUICK, (0,), tmp_path / "out")          # the first section's records exist
    handed = []
    ran = run_sections([one, two], QUICK, (0,), tmp_path / "out",
                       section_done=lambda name, records, outcome: handed.append(
                           (name, [r["rows"][0]["name"] for r in records], outcome.computed, outcome.reused)))
    assert sorted(handed) == [("other", ["c"], 1, 0), ("sched", ["a", "b"], 0, 2)]
    assert {name: len(records) for name, (records, _) in ran.items()} == {"sched": 2, "other": 1}


def test_a_page_being_written_does_not_hold_up_the_next_job(tmp_path):
    """section_done runs beside the jobs: the first section's page waits for a job of the second
    section, which can only run if handing out jobs goes on while that page is written (called
    inline, the page would wait out its timeout and see nothing)."""
    import threading

    log = tmp_path / "log"
    first, second = _section(log, ["a"]), _section(log, ["b"])
    second = Section("other", "other", (), second.jobs, second.report)
    seen = []

    def page(name, records, outcome):
        if name == "sched":
            deadline = threading.Event()
            for _ in range(100):   # up to 10 s for the other section's job to run
                if log.is_file() and "b" in _ran(log):
                    break
                deadline.wait(0.1)
            seen.append(_ran(log))

    run_sections([first, second], QUICK, (0,), tmp_path / "out", section_done=page)
    assert seen == [["a", "b"]]


def test_an_error_while_writing_a_page_is_raised_after_the_jobs(tmp_path):
    log = tmp_path / "log"
    first, second = _section(log, ["a"]), _section(log, ["b"])
    second = Section("other", "other", (), second.jobs, second.report)

    def broken(name, records, outcome):
        raise ProbekitError(f"cannot write the page of {name}")

    with pytest.raises(ProbekitError, match="cannot write the page of sched"):
        run_sections([first, second], QUICK, (0,), tmp_path / "out", section_done=broken)
    assert sorted(_ran(log)) == ["a", "b"]     # the jobs still ran, and their records are kept
    assert len(list(records_dir(tmp_path / "out", "other").glob("*.json"))) == 1
