"""`probekit reproduce`: a smoke test of the report (tables exist, numbers in range, resume),
not of the science. The suite runs once, at a test size, into a temporary folder."""

import json
import math
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from probekit import reproduce as rp
from probekit.cache import FeatureCache
from probekit.cli import main
from probekit.errors import ProbekitError

REPO = Path(__file__).resolve().parent.parent
QUICK = rp.QUICK
SEEDS = rp.DEFAULT_SEEDS   # what `probekit reproduce --quick` runs

#: the quick suite shrunk to seconds (one grammar task, tiny corpora, two identity encoders), for the
#: tests of resuming, --only and missing modules.
SMOKE = replace(
    rp.QUICK, name="smoke", structure_tasks=("roles",), selectivity_tasks=("roles",),
    task_options={"roles": {"n_train": 120, "n_test": 40}}, bigru_options={"epochs": 2}, n_boot=100,
    identity_sources=("random",), identity_quick=True, identity_encoders=("ema", "type"),
    dilution={"rates": [0.5, 0.1], "dim": 16, "lags": [0, 1, 3], "n_train": 120, "n_test": 30, "vocab_size": 8,
              "n_boot": 100},
    ladder={"encoder": "ema", "encoder_options": {"rates": [0.5, 0.1], "dim": 16, "reset": False},
            "lags": [0, 1], "task_options": {"source": "random", "random_types": 8, "vocab_size": 8,
                                             "n_train": 60, "n_test": 20},
            "probes": ["linear", "attention"], "loophole_history": 2, "n_boot": 100},
)


def _available(name: str) -> bool:
    return next(s for s in rp.SECTIONS if s.name == name).missing() is None


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """`probekit reproduce --quick` (the real quick suite, default seeds) into a temporary folder:
    about 50 s on 2 cores. UD English EWT comes from PROBEKIT_DATA or ../shared."""
    data = Path(os.environ.get("PROBEKIT_DATA") or REPO.parent / "shared" / "data" / "ud-english-ewt")
    if not (data / "en_ewt-ud-dev.conllu").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"UD English EWT not found at {data}; set PROBEKIT_DATA")
        pytest.skip(f"UD English EWT not found at {data}; set PROBEKIT_DATA")
    from probekit.lm.corpus import wikitext_dir

    if not (wikitext_dir() / "valid.txt").is_file():   # the lm section's text
        if os.environ.get("CI"):
            pytest.fail(f"WikiText-2 not found at {wikitext_dir()}; set PROBEKIT_WIKITEXT")
        pytest.skip(f"WikiText-2 not found at {wikitext_dir()}; set PROBEKIT_WIKITEXT")
    out = tmp_path_factory.mktemp("results")
    events = []
    before = os.environ.get("PROBEKIT_DATA")
    os.environ["PROBEKIT_DATA"] = str(data)
    try:
        outcomes = rp.reproduce(QUICK, seeds=SEEDS, out=out, progress=events.append,
                                cache=FeatureCache(tmp_path_factory.mktemp("cache")))
    finally:
        if before is None:
            del os.environ["PROBEKIT_DATA"]
        else:
            os.environ["PROBEKIT_DATA"] = before
    return rp.report_dir(out, QUICK), outcomes, events   # the pages; records and budgets.json sit above


def _csv(out: Path, stem: str) -> pd.DataFrame:
    path = out / f"{stem}.csv"
    assert path.is_file(), f"{path.name} was not written"
    return pd.read_csv(path)


def test_every_section_writes_its_page_and_the_index(suite):
    out, outcomes, events = suite
    assert [o.section.name for o in outcomes] == rp.section_names()
    summary = (out / "summary.md").read_text()
    readme = (out / "README.md").read_text()
    for outcome in outcomes:
        assert (out / f"{outcome.section.name}.md").is_file()
        assert f"| {outcome.section.name} |" in summary
        assert outcome.section.title in readme
        if outcome.status == "done":
            assert outcome.computed == sum(e.section == outcome.section.name for e in events) > 0
            assert outcome.reused == 0
    # every placeholder of the template was filled
    assert "{" not in readme.replace("{t-", "")
    assert "Measured budgets" in readme and "`quick`" in readme
    budgets = json.loads((out.parent / "budgets.json").read_text())
    assert budgets["quick"]["complete"] == all(o.status == "done" for o in outcomes)
    assert budgets["quick"]["compute_s_from_scratch"] > 0
    # progress: i/n per section, increasing elapsed time
    structure = [e for e in events if e.section == "structure"]
    assert [e.index for e in structure] == list(range(1, len(structure) + 1))
    assert all(e.total == len(structure) for e in structure)
    assert all(b.elapsed >= a.elapsed for a, b in zip(events, events[1:]))


def test_records_name_their_commit_and_live_per_section(suite):
    out, outcomes, _ = suite
    files = sorted((out.parent / "records" / "structure").glob("*.json"))
    assert len(files) == len(rp.structure_jobs(QUICK, SEEDS))
    for path in files:
        record = json.loads(path.read_text())
        assert path.stem == record["id"]
        assert "git_commit" in record and record["reproduce"]["wall_s"] > 0


def _in_unit_interval(frame: pd.DataFrame, columns) -> None:
    for column in columns:
        values = frame[column].dropna()
        assert len(values), column
        assert ((values >= 0) & (values <= 1)).all(), (column, values.tolist())


def test_structure_tables_hold_valid_numbers(suite):
    out, _, _ = suite
    accuracy = _csv(out, "structure-accuracy")
    assert set(accuracy.condition) == {c.label for c in rp.STRUCTURE_CONDITIONS}
    seeds_per_task = accuracy.task.map(lambda task: QUICK.task_seeds.get(task, len(SEEDS)))
    assert (accuracy.n_seeds == seeds_per_task).all()
    _in_unit_interval(accuracy, ["accuracy", "structure-dependent accuracy", "many-to-one accuracy"])
    assert (accuracy["accuracy ci95_low"] <= accuracy.accuracy + 1e-9).all()
    assert (accuracy.accuracy <= accuracy["accuracy ci95_high"] + 1e-9).all()
    ratio = _csv(out, "structure-ratio")
    assert list(ratio.task) == list(QUICK.structure_tasks)
    for column in ("ratio (1:1)", "ratio (m:1)", "structure-dependent ratio (1:1)"):
        assert (ratio[column] > 0).all()
        assert (ratio[f"{column} ci95_low"] <= ratio[column]).all()
    # the ratio is the two accuracies' quotient (the zero-label one-to-one readout over BiGRU)
    assert ratio["ratio (1:1)"].iloc[0] == pytest.approx(
        ratio["zero-label accuracy (1:1)"].iloc[0] / ratio["BiGRU accuracy"].iloc[0], rel=0.2)
    overview = _csv(out, "structure-overview")
    assert 0 <= overview.majority.iloc[0] <= 1
    assert (out / "structure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_selectivity_and_mdl_in_range(suite):
    out, _, _ = suite
    table = _csv(out, "selectivity")
    _in_unit_interval(table, ["accuracy", "control accuracy"])
    assert ((table.selectivity >= -1) & (table.selectivity <= 1)).all()
    assert np.allclose(table.selectivity, table.accuracy - table["control accuracy"], atol=1e-6)
    assert (table["MDL online bits per label"] > 0).all()
    assert (table["MDL compression (uniform / online)"] > 0).all()
    # the uniform code spends log2 K bits per label for the K roles
    n_roles = len(json.loads(next((out.parent / "records" / "selectivity").glob("*.json")).read_text())["data"]["labels"])
    assert np.allclose(table["uniform bits per label (log2 K)"], math.log2(n_roles))


@pytest.mark.skipif(not _available("identity"), reason="probekit.studies (the identity study) is not installed")
def test_identity_curves_in_bits_below_the_label_entropy(suite):
    out, _, _ = suite
    bits = _csv(out, "identity-random-bits")
    assert set(bits.encoder.str.split("[").str[0]) == {"ema", "gru-lm", "gpt2", "type", "random"}
    vocab = json.loads(next((out.parent / "records" / "identity").glob("*.json")).read_text())["data"]["identity_types"]
    lag_columns = [c for c in bits.columns if c.startswith("lag ")]
    assert lag_columns and (bits[lag_columns].to_numpy() <= math.log2(vocab + 1) + 0.05).all()
    assert (bits.total_bits >= 0).all()
    accuracy = _csv(out, "identity-random-accuracy")
    _in_unit_interval(accuracy, [c for c in accuracy.columns if c.startswith("accuracy lag")])
    assert (out / "identity-random-bits.png").is_file()


@pytest.mark.skipif(not _available("dilution"), reason="the dilution analyzer is not installed")
def test_dilution_bound_and_measured_bits_in_range(suite):
    out, _, _ = suite
    table = _csv(out, "dilution")
    log2v = math.log2(QUICK.dilution["vocab_size"])
    assert sorted(table.lag) == QUICK.dilution["lags"]
    assert ((table["closed-form bound (bits)"] >= 0) & (table["closed-form bound (bits)"] <= log2v + 1e-9)).all()
    assert (table["measured V-information (bits)"] <= log2v + 0.1).all()
    _in_unit_interval(table, ["accuracy"])
    assert (out / "dilution.png").is_file()


@pytest.mark.skipif(not _available("ladder"), reason="the probe ladder is not installed")
def test_ladder_has_every_probe_and_the_loophole(suite):
    out, _, _ = suite
    table = _csv(out, "ladder")
    assert set(table.probe) == set(QUICK.ladder["probes"])
    assert table.condition.str.contains("loophole").any()
    assert (table["V-information (bits)"] <= math.log2(QUICK.ladder["task_options"]["vocab_size"]) + 0.1).all()
    _in_unit_interval(table, ["accuracy"])


def test_a_second_invocation_reuses_every_record(suite):
    out, first, _ = suite
    stamps = {p: p.stat().st_mtime_ns for p in (out.parent / "records").rglob("*.json")}
    ratios = pd.read_csv(out / "structure-ratio.csv")
    events = []
    outcomes = rp.reproduce(QUICK, seeds=SEEDS, out=out.parent, progress=events.append)
    assert events and all(e.reused for e in events)
    assert sum(o.computed for o in outcomes) == 0
    assert [o.reused for o in outcomes] == [a.computed + a.reused for a in first]
    assert {p: p.stat().st_mtime_ns for p in (out.parent / "records").rglob("*.json")} == stamps
    # the same records give the same tables
    pd.testing.assert_frame_equal(pd.read_csv(out / "structure-ratio.csv"), ratios)


def test_only_runs_one_section_and_reports_the_others_from_their_records(tmp_path):
    events = []
    outcomes = rp.reproduce(SMOKE, seeds=(0,), out=tmp_path, only=["structure"], progress=events.append)
    assert {e.section for e in events} == {"structure"}
    by_name = {o.section.name: o for o in outcomes}
    assert by_name["structure"].status == "done"
    assert by_name["selectivity"].status.startswith("incomplete: 0 of")
    pages = tmp_path / "smoke"   # a suite other than the full one writes its pages to OUT/<suite>/
    assert (pages / "structure-ratio.csv").is_file() and not (pages / "selectivity.csv").exists()
    assert "incomplete: 0 of" in (pages / "summary.md").read_text()
    assert not (tmp_path / "summary.md").exists() and (tmp_path / "records" / "structure").is_dir()


def test_a_section_whose_module_is_missing_is_marked_not_yet_available(tmp_path, monkeypatch):
    ghost = rp.Section(name="ghost", title="A section from the future", claims=(), jobs=lambda b, s: [],
                       report=lambda records, budget: rp.SectionReport(),
                       requires=("probekit.no_such_module:anything",))
    monkeypatch.setattr(rp, "SECTIONS", (ghost,))
    [outcome] = rp.reproduce(SMOKE, seeds=(0,), out=tmp_path)
    assert outcome.status.startswith("not yet available: probekit.no_such_module")
    assert "Not yet available" in (tmp_path / "smoke" / "ghost.md").read_text()
    assert "not yet available" in (tmp_path / "smoke" / "README.md").read_text()


def test_ratio_interval_and_placeholders():
    low, high = rp.ratio_interval((0.5, 0.4, 0.6), (1.0, 0.9, 1.1))
    assert low < 0.5 < high and high - low == pytest.approx(2 * 0.5 * math.hypot(0.2, 0.1))
    assert math.isnan(rp.ratio_interval((0.5, 0.4, 0.6), (0.0, 0.0, 0.0))[0])
    assert rp.fill("a {x} b {y}", {"x": "1"}) == "a 1 b n/a"
    assert rp.fmt_ci(0.5, 0.4, 0.6) == "0.500 [0.400, 0.600]"


@pytest.mark.parametrize("args, message", [
    (["--only", "nope"], "unknown section"),
    (["--seeds", "a"], "not an integer"),
    (["--seeds", "0,-1"], "not negative"),
    (["--seeds", "1,1"], "distinct"),
])
def test_bad_options_exit_2_without_writing(tmp_path, args, message):
    out = tmp_path / "results"
    result = CliRunner().invoke(main, ["reproduce", "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_out_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "results"
    target.write_text("not a folder")
    result = CliRunner().invoke(main, ["reproduce", "--out", str(target), "--only", "structure"])
    assert result.exit_code == 2
    with pytest.raises(ProbekitError, match="is a file"):
        rp.reproduce(SMOKE, out=target)
