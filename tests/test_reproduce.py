"""`probekit reproduce`: a smoke test of the report (tables exist, numbers in range, resume),
not of the science. The suite runs once, at a test size, into a temporary folder."""

import json
import math
import os
import re
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
from probekit.provenance import code_fingerprint

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
    from conftest import missing_resource

    from probekit.lm.corpus import wikitext_dir

    if not (data / "en_ewt-ud-dev.conllu").is_file():
        missing_resource(f"UD English EWT at {data}", "set PROBEKIT_DATA to the folder of its .conllu files")

    if not (wikitext_dir() / "valid.txt").is_file():   # the lm section's text
        missing_resource(f"WikiText-2 at {wikitext_dir()}",
                         "set PROBEKIT_WIKITEXT to the folder of valid.txt and test.txt")
    out = tmp_path_factory.mktemp("results")
    events = []
    # the treebank stays set while the module's tests use the suite: a test that reruns it (reusing
    # every record) runs with the same inputs as the first run, since every job's inputs are checked
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PROBEKIT_DATA", str(data))
        outcomes = rp.reproduce(QUICK, seeds=SEEDS, out=out, progress=events.append,
                                cache=FeatureCache(tmp_path_factory.mktemp("cache")))
        yield rp.report_dir(out, QUICK), outcomes, events   # the pages; records and budgets.json sit above


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


def test_subset_section_scores_a_larger_test_set_at_every_training_size(suite):
    """The structure-dependent subset: every (training size, condition) row, on a test set larger
    than the structure section's, with the sizes in increasing order and accuracies in [0, 1]."""
    from probekit.reproduce.structure import SUBSET_CONDITIONS, SUBSET_PLANS, SUBSET_TASK

    out, _, _ = suite
    plan = SUBSET_PLANS["quick"]
    assert plan["n_test"] > QUICK.task_options[SUBSET_TASK]["n_test"]
    table = _csv(out, "subset")
    assert set(table.condition) == {c.label for c in SUBSET_CONDITIONS}
    assert table["train sentences"].nunique() == len(plan["sizes"])
    assert table["train sentences"].is_monotonic_increasing
    structure = next(r for r in (json.loads(p.read_text()) for p in (out.parent / "records" / "structure").glob("*.json"))
                     if r["config"]["task"] == SUBSET_TASK)
    subset_records = [json.loads(p.read_text()) for p in (out.parent / "records" / "subset").glob("*.json")]
    assert {r["config"]["task_options"]["n_test"] for r in subset_records} == {plan["n_test"]}
    assert structure["data"]["test_sentences"] < subset_records[0]["data"]["test_sentences"]
    _in_unit_interval(table, ["structure-dependent accuracy", "accuracy"])
    assert (table["subset words (test)"] > 0).all()


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
    assert "structure-dependent ratio (m:1)" not in ratio.columns      # the subset is read one-to-one only
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
    # the page rounds every column to 4 decimals, so a difference of rounded means may be 1.5e-4 off
    assert np.allclose(table.selectivity, table.accuracy - table["control accuracy"], atol=2e-4)
    assert (table[rp.structure.MDL_BITS] > 0).all()
    assert (table[rp.structure.MDL_COMPRESSION] > 0).all()
    # the uniform code spends log2 K bits per label for the K roles
    n_roles = len(json.loads(next((out.parent / "records" / "selectivity").glob("*.json")).read_text())["data"]["labels"])
    assert np.allclose(table["uniform bits per label (log2 K)"], math.log2(n_roles))


@pytest.mark.skipif(not _available("identity"), reason="probekit.studies (the identity study) is not installed")
def test_identity_curves_in_bits_below_the_label_entropy(suite):
    out, _, _ = suite
    bits = _csv(out, "identity-random-bits")
    # GPT-2 twice: the lm section's trained GPT-2-style model, and the random-weight one as a labelled control
    assert set(bits.encoder.str.split("[").str[0]) == {"ema", "gru-lm", rp.content.TRAINED_GPT2,
                                                       rp.content.RANDOM_GPT2, "type", "random"}
    vocab = json.loads(next((out.parent / "records" / "identity").glob("*.json")).read_text())["data"]["identity_types"]
    lag_columns = [c for c in bits.columns if c.startswith("lag ")]
    assert lag_columns and (bits[lag_columns].to_numpy() <= math.log2(vocab + 1) + 0.05).all()
    assert np.isfinite(bits.area_bits).all()
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
    # the rungs get different model selection: the page must say the gap is partly a training gap
    assert "Not like for like" in (out / "ladder.md").read_text(encoding="utf-8")


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


def test_missing_inputs_stop_the_suite_before_any_job_and_each_is_named_once(tmp_path, monkeypatch):
    """A treebank and a training corpus that are not there: one error naming both, raised before any
    job runs (no record, no page), each missing input named once however many jobs read it."""
    from probekit.experiment import RunConfig

    ud = [RunConfig(encoder="type", task="ud-roles", seed=seed, task_options={"data_dir": str(tmp_path / "no-ewt")})
          for seed in (0, 1, 2)]
    lm = rp.FunctionJob("probekit.lm.jobs", "lm_perplexity",
                        {"model": "ema", "train": {"arch": "ema", "corpus": str(tmp_path / "no-text.txt")}})
    ran = []
    ghost = rp.Section(name="ghost", title="needs inputs", claims=(), jobs=lambda b, s: [*ud, lm],
                       report=lambda records, budget: rp.SectionReport())
    monkeypatch.setattr(rp, "SECTIONS", (ghost,))
    monkeypatch.setattr(rp.suite, "execute", lambda job, cache=None: ran.append(job) or [])
    with pytest.raises(ProbekitError) as error:
        rp.reproduce(SMOKE, seeds=(0,), out=tmp_path / "out")
    message = str(error.value)
    assert message.count("no-ewt") == 1 and "needed by 3 job(s)" in message
    assert message.count("no-text.txt") == 1 and "needed by 1 job(s)" in message
    assert ran == [] and not (tmp_path / "out").exists()


def test_only_one_section_runs_without_the_resources_of_the_others(tmp_path, monkeypatch):
    """--only dilution on a machine without the GPT-2 tokenizer: the identity section is listed
    without building the local GPT-2 (a setup job builds it), so it is reported as not run yet
    instead of stopping the run; asked for, it stops before any job with the tokenizer named."""
    monkeypatch.setenv("PROBEKIT_GPT2_TOKENIZER", str(tmp_path / "no-tokenizer"))
    monkeypatch.setenv("PROBEKIT_CACHE", str(tmp_path / "cache"))     # no random GPT-2 built before either
    monkeypatch.setattr(rp, "SECTIONS", (rp.IDENTITY_SECTION, rp.DILUTION_SECTION))
    with_gpt2 = replace(SMOKE, identity_encoders=None)    # every encoder of the study, GPT-2 among them
    outcomes = {o.section.name: o for o in rp.reproduce(with_gpt2, seeds=(0,), out=tmp_path, only=["dilution"])}
    assert outcomes["dilution"].status == "done"
    assert outcomes["identity"].status.startswith("incomplete: 0 of")
    assert not (tmp_path / "cache" / "models").exists()    # listing built nothing
    ran = []
    monkeypatch.setattr(rp.suite, "execute", lambda job, cache=None: ran.append(job) or [])
    with pytest.raises(ProbekitError, match="no-tokenizer"):
        rp.reproduce(with_gpt2, seeds=(0,), out=tmp_path / "identity", only=["identity"])
    assert ran == [] and not (tmp_path / "identity" / "records").exists()


def test_ratio_interval_and_placeholders():
    low, high = rp.ratio_interval((0.5, 0.4, 0.6), (1.0, 0.9, 1.1))
    assert low < 0.5 < high and high - low == pytest.approx(2 * 0.5 * math.hypot(0.2, 0.1))
    assert math.isnan(rp.ratio_interval((0.5, 0.4, 0.6), (0.0, 0.0, 0.0))[0])
    assert rp.fill("a {x} b {y}", {"x": "1"}) == "a 1 b n/a"
    assert rp.fmt_ci(0.5, 0.4, 0.6) == "0.500 [0.400, 0.600]"
    assert rp.fmt_ci(0.5, math.nan, math.nan) == "0.500 [interval n/a]"    # missing, not zero-width


def test_a_missing_interval_is_shown_as_missing_in_tables():
    from probekit.report import render

    rows = pd.DataFrame({"task": ["roles", "roles", "ud-roles", "ud-roles"], "condition": ["type"] * 4,
                         "seed": [0, 1, 0, 1], "mdl_compression": [2.0, 2.2, 2.0, 2.2],
                         "selectivity": [0.1, 0.12, 0.1, 0.12]})
    table = rp.aggregate(rows, {"selectivity": "selectivity", "mdl_compression": "compression"},
                         seeds_only=("mdl_compression",))
    assert table["selectivity ci95_low"].isna().all()          # no sentence interval: missing, not seeds-only
    assert (table["compression ci95_low"] < table["compression"]).all()   # declared seeds-only: t-interval
    assert "n/a" in render(table, "markdown") and "nan" not in render(table, "markdown")


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


# ----------------------------------------------------------------------------- records that cannot go stale

@pytest.fixture
def tiny_report(tmp_path, monkeypatch):
    """The dilution section of the smoke suite (function jobs only: a few seconds), reproduced."""
    monkeypatch.setattr(rp, "SECTIONS", (rp.DILUTION_SECTION,))
    rp.reproduce(SMOKE, seeds=(0,), out=tmp_path)
    return tmp_path


def _record_files(out: Path) -> list[Path]:
    return sorted((out / "records").rglob("*.json"))


def test_check_passes_on_a_regenerated_report_and_names_an_edited_page(tiny_report):
    stamps = {p: p.stat().st_mtime_ns for p in _record_files(tiny_report)}
    [outcome] = rp.check(SMOKE, seeds=(0,), out=tiny_report)
    assert outcome.status == "done" and not outcome.stale and not outcome.missing
    assert {p: p.stat().st_mtime_ns for p in _record_files(tiny_report)} == stamps   # ran nothing
    page = tiny_report / "smoke" / "dilution.csv"
    page.write_text(page.read_text(encoding="utf-8") + "0,0,0\n", encoding="utf-8")
    with pytest.raises(ProbekitError, match=r"dilution\.csv differs"):
        rp.check(SMOKE, seeds=(0,), out=tiny_report)


def test_a_stale_record_fails_the_check_and_is_recomputed(tiny_report):
    path = _record_files(tiny_report)[0]
    record = json.loads(path.read_text(encoding="utf-8"))
    record["code_fingerprint"] = "made-by-old-code"
    path.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(ProbekitError, match=f"stale record {path}"):
        rp.check(SMOKE, seeds=(0,), out=tiny_report)
    events = []
    rp.reproduce(SMOKE, seeds=(0,), out=tiny_report, progress=events.append)
    assert [e.stale for e in events if not e.reused] == [True]
    assert json.loads(path.read_text(encoding="utf-8"))["code_fingerprint"] == code_fingerprint()
    rp.check(SMOKE, seeds=(0,), out=tiny_report)


def test_check_names_a_missing_record_and_exits_2(tiny_report, monkeypatch):
    _record_files(tiny_report)[-1].unlink()
    monkeypatch.setattr(rp, "BUDGETS", {**rp.BUDGETS, "quick": replace(SMOKE, name="quick")})
    (tiny_report / "smoke").rename(tiny_report / "quick")
    result = CliRunner().invoke(main, ["reproduce", "--quick", "--seeds", "0", "--check", "--out", str(tiny_report)])
    assert result.exit_code == 2, result.output
    assert "dilution: no record for" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("suite", ["quick", "full"])
def test_the_committed_results_match_their_records(suite):
    """`probekit reproduce --check` on the repository's results/: every committed page is what the
    committed records give, and every record was made by this code."""
    from conftest import require_gpt2_tokenizer

    require_gpt2_tokenizer()    # the identity and ladder job lists name the local GPT-2, built from it
    rp.check(suite, out=REPO / "results")


# ----------------------------------------------------------------------------- summaries that do not lean one way

def _function_record(function: str, rows: list[dict], **kwargs) -> dict:
    return {"function": function, "kwargs": kwargs, "columns": list(rows[0]), "rows": rows}


def test_the_dilution_count_uses_only_points_where_the_bound_can_be_exceeded():
    """At lags where the bound is capped at log2 V no measurement can exceed it: those points
    are not counted as agreement, and each counted point names its margin below the bound."""
    bound = _function_record("probekit.reproduce.bound_table",
                             [{"lag": lag, "bound_bits": b} for lag, b in ((0, 3.0), (1, 3.0), (4, 1.5), (8, 0.5))])
    measured = _function_record("probekit.dilution.empirical.measured_identity_curves", [
        {"lag": lag, "probe": "linear", "condition": "h_t", "accuracy": 0.5, "accuracy_lo": 0.4, "accuracy_hi": 0.6,
         "v_information_bits": bits, "v_information_bits_lo": bits - 0.1, "v_information_bits_hi": bits + 0.1,
         "label_entropy_bits": 3.0} for lag, bits in ((0, 2.9), (1, 2.0), (4, 1.0), (8, 0.75))], seed=0)
    budget = replace(SMOKE, dilution={**SMOKE.dilution, "vocab_size": 8})
    report = rp.dilution_report([bound, measured], budget)
    claim = report.figures["dilution"]
    assert "at 1 of 2 informative" in claim and "2 more points" in claim
    assert "lag 4 0.50" in claim and "lag 8 -0.25" in claim
    assert list(report.tables[""]["bound informative (below log2 V)"]) == [False, False, True, True]


def test_a_page_names_the_seeds_its_records_ran_not_the_seeds_requested(tmp_path, monkeypatch):
    monkeypatch.setattr(rp, "SECTIONS", (rp.DILUTION_SECTION,))
    rp.reproduce(SMOKE, seeds=(0, 1, 2), out=tmp_path)      # the dilution curve runs the first seed only
    page = (tmp_path / "smoke" / "dilution.md").read_text(encoding="utf-8")
    assert "seed 0 (from the records)" in page and "seeds 0, 1, 2" not in page


def test_claims_show_both_readouts_and_the_cluster_count(suite):
    out, _, _ = suite
    readme = (out / "README.md").read_text(encoding="utf-8")
    for title in ("Transfer to Grammar B", "Deep-embedded roles"):
        line = next(line for line in readme.splitlines() if line.startswith("- probekit:") and
                    readme.index(line) > readme.index(title))
        assert "one-to-one" in line and "many-to-one" in line and "clusters for" in line, line
    # the structure-dependent subset is read one-to-one only, and the claim says why
    title = "**Label-free model ahead of the BiGRU on structure-dependent roles.**"
    line = next(line for line in readme.splitlines() if line.startswith("- probekit:") and
                readme.index(line) > readme.index(title))
    assert "many-to-one is not shown for the subset" in line, line
    assert not re.search(r"many-to-one:? \d", line), line


def test_the_structure_page_shows_the_readout_curve_and_the_smallest_k_for_the_papers_bar(suite):
    out, _, _ = suite
    curve = _csv(out, "structure-readout-curve")
    assert list(dict.fromkeys(curve.task)) == list(QUICK.structure_tasks)
    assert set(QUICK.readout_clusters) <= set(curve.k)
    _in_unit_interval(curve, ["one-to-one", "many-to-one"])
    assert (curve["V-information (bits)"] > 0).all()
    smallest = _csv(out, "structure-readout-k")["smallest k reaching it"].astype(str)
    assert all(v.isdigit() or v.startswith("never up to") for v in smallest), smallest.tolist()
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "roles-simple" in readme and "0.96 x BiGRU" in readme
    assert (out / "structure-readout-curve.png").is_file()


def test_selectivity_marks_bigru_rows_and_its_intervals_count_sentences(suite):
    out, _, _ = suite
    table = _csv(out, "selectivity")
    bigru = table.condition == rp.BIGRU.label
    assert (table.comparable[bigru] == rp.structure.NOT_COMPARABLE).all() and (table.comparable[~bigru] == "yes").all()
    # the type baseline is deterministic across seeds: a width can only come from the sentences
    width = table["selectivity ci95_high"] - table["selectivity ci95_low"]
    assert (width > 0).all()
    assert "not comparable" in (out / "selectivity.md").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- --jobs

def test_two_jobs_give_the_serial_records_and_pages(tmp_path, monkeypatch):
    """The dilution (function jobs) and ladder (probe runs) sections of the smoke suite with --jobs 2:
    the same records, number for number, and the same pages as one job at a time."""
    from probekit.executors.local import LocalExecutor

    monkeypatch.setattr(rp, "SECTIONS", (rp.DILUTION_SECTION, rp.LADDER_SECTION))
    smoke = replace(SMOKE, ladder={**SMOKE.ladder, "probes": ["linear"]})
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    rp.reproduce(smoke, seeds=(0,), out=serial)
    events = []
    outcomes = rp.reproduce(smoke, seeds=(0,), out=parallel, executor=LocalExecutor(2), progress=events.append)
    assert all(o.status == "done" and o.computed > 0 for o in outcomes)
    assert sorted(e.index for e in events if e.section == "ladder") == list(range(1, outcomes[1].computed + 1))

    def numbers(out):
        return {p.name: {k: v for k, v in json.loads(p.read_text()).items()
                         if k in ("metrics", "readouts", "baselines", "rows", "columns", "config", "kwargs")}
                for p in _record_files(out)}

    assert numbers(parallel) == numbers(serial) and len(numbers(serial)) == sum(o.computed for o in outcomes)
    pages = sorted(p.relative_to(serial / "smoke") for p in (serial / "smoke").glob("*") if p.suffix in (".md", ".csv"))
    differing = [str(p) for p in pages if p.name not in ("README.md", "summary.md")   # these quote run times
                 and (serial / "smoke" / p).read_text() != (parallel / "smoke" / p).read_text()]
    assert pages and not differing
    rp.check(smoke, seeds=(0,), out=parallel)
