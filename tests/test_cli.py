"""The command line, bad inputs included, through click's CliRunner."""

import json

import pytest
from click.testing import CliRunner

from probekit.cli import main

SMALL = ["-O", "n_train=300", "-O", "n_test=100", "--bootstrap", "100", "-q"]


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(main, list(args), catch_exceptions=False)


def test_list_shows_every_kind_with_descriptions(runner):
    result = invoke(runner, "list")
    assert result.exit_code == 0
    for name in ("ema", "bigru", "type", "position", "random", "linear", "mlp", "hebbian",
                 "roles", "roles-transfer", "roles-deep"):
        assert f"  {name} " in result.output
    assert "Multi-timescale" in result.output


def test_run_compare_end_to_end(runner, tmp_path):
    out = tmp_path / "runs"
    for args in (["-e", "ema", "-p", "hebbian"], ["-e", "ema", "-p", "linear"],
                 ["-e", "bigru", "-E", "epochs=3"]):
        result = invoke(runner, "run", *args, "-t", "roles", *SMALL, "--out", str(out))
        assert result.exit_code == 0, result.output
        assert "structure_dependent: accuracy" in result.output
    records = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    assert len(records) == 3
    for record in records:
        assert record["config"]["task"] == "roles" and record["versions"]["numpy"]
        assert 0.0 <= record["metrics"]["accuracy"]["value"] <= 1.0
        assert "git_commit" in record and record["timings_s"]["total"] > 0
    result = invoke(runner, "compare", str(out))
    assert result.exit_code == 0
    assert "Zero-label EMA (hebbian probe)" in result.output and "struct_ratio" in result.output
    csv = invoke(runner, "compare", str(out), "--format", "csv")
    assert csv.output.splitlines()[0].startswith("task,train_size,encoder")


def test_learning_curve_writes_one_record_per_size(runner, tmp_path):
    out = tmp_path / "runs"
    result = invoke(runner, "run", "-e", "type", "-t", "roles", "--train-size", "25,100,all", *SMALL,
                    "--out", str(out))
    assert result.exit_code == 0, result.output
    sizes = sorted(str(json.loads(p.read_text())["data"]["train_sentences"]) for p in out.glob("*.json"))
    assert sizes == ["100", "25", "300"]


@pytest.mark.parametrize("args, message", [
    (["run", "-e", "emma", "-t", "roles"], "Did you mean 'ema'"),
    (["run", "-e", "ema", "-t", "rolse"], "Did you mean 'roles'"),
    (["run", "-e", "ema", "-t", "roles", "-p", "linaer"], "Did you mean 'linear'"),
    (["run", "-e", "ema", "-t", "roles", "-E", "dim=abc"], "must be an integer"),
    (["run", "-e", "ema", "-t", "roles", "-E", "dimm=3"], "Did you mean 'dim'"),
    (["run", "-e", "ema", "-t", "roles", "-O", "n_train=0"], "n_train"),
    (["run", "-e", "ema", "-t", "roles", "-O", "scheme=semantic"], "scheme"),
    (["run", "-e", "ema", "-t", "roles", "-E", "nonsense"], "KEY=VALUE"),
    (["run", "-e", "ema", "-t", "roles", "--seeds", "0,x"], "not an integer"),
    (["run", "-e", "ema", "-t", "roles", "-O", "n_train=50", "--train-size", "100"], "larger than the training"),
    (["data", "generate", "--grammar", "Z", "-n", "3", "-o", "-"], "grammar"),
    (["run", "-e", "ema", "-t", "missing-task.toml"], "task file 'missing-task.toml' not found"),
    (["run", "-e", "ema", "-t", "roles", "--train-size", "10,ten"], "'ten' is not an integer or all"),
    (["data", "parse", "in.txt", "--parser", "spacy", "-o", "out.conllu", "-O", "model=x"],
     "a parser option is -X (--parser-option), e.g. -X model=x"),
    (["study", "identity", "--source", "web"], "choose one of ud, random"),
])
def test_bad_input_exit_2_without_traceback_or_record(runner, tmp_path, args, message):
    out = tmp_path / "runs"
    extra = ["--out", str(out)] if args[0] == "run" else []
    result = runner.invoke(main, args + extra)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not out.exists() or not any(out.iterdir())


def test_generate_is_deterministic_and_readable(runner, tmp_path):
    paths = [tmp_path / "a.conllu", tmp_path / "b.conllu"]
    for path in paths:
        assert invoke(runner, "data", "generate", "--grammar", "A", "-n", "50", "--seed", "3",
                      "-o", str(path)).exit_code == 0
    assert paths[0].read_text() == paths[1].read_text()
    other = invoke(runner, "data", "generate", "--grammar", "A", "-n", "50", "--seed", "4", "-o", "-")
    assert other.output != paths[0].read_text()
    stats = invoke(runner, "data", "stats", str(paths[0]))
    assert "sentences\t50" in stats.output and "SUBJ" in stats.output


def test_malformed_grammar_and_conllu_name_file_and_line(runner, tmp_path):
    grammar = tmp_path / "bad.pcfg"
    grammar.write_text("S -> NP VP\n")
    result = runner.invoke(main, ["data", "generate", "--grammar", str(grammar), "-n", "2", "-o", "-"])
    assert result.exit_code == 2 and "bad.pcfg:1" in result.output and "Traceback" not in result.output
    conllu = tmp_path / "bad.conllu"
    conllu.write_text("1\tthe\tthe\tDET\tDT\t_\t2\tdet\t_\t_\n2\tdog\n\n")
    result = runner.invoke(main, ["data", "stats", str(conllu)])
    assert result.exit_code == 2 and "bad.conllu:2" in result.output


def test_ud_roles_runs_on_ewt(runner, tmp_path, ewt_dir, monkeypatch):
    monkeypatch.setenv("PROBEKIT_DATA", str(ewt_dir))
    out = tmp_path / "runs"
    result = invoke(runner, "run", "-e", "ema", "-t", "ud-roles", "-O", "train_split=dev", "-p", "linear",
                    "--bootstrap", "100", "-q", "--out", str(out))
    assert result.exit_code == 0, result.output
    [record] = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert record["data"]["train_sentences"] == 2001 and record["data"]["test_sentences"] == 2077
    assert record["metrics"]["accuracy"]["value"] > record["baselines"]["majority"]["accuracy"]["value"] + 0.1


def test_gpt2_layer_sweep_writes_one_record_per_layer_and_hits_the_cache(runner, tmp_path, tiny_gpt2,
                                                                          monkeypatch):
    monkeypatch.setenv("PROBEKIT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "runs"
    args = ["run", "-e", "gpt2", "-E", f"model={tiny_gpt2}", "-E", "all_layers=true", "-t", "roles",
            "-O", "n_train=150", "-O", "n_test=60", "--bootstrap", "100", "-q", "--out", str(out)]
    assert invoke(runner, *args).exit_code == 0
    records = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    assert sorted(r["config"]["layer"] for r in records) == [0, 1, 2]
    assert all(r["data"]["feature_cache"] == {"hits": 0, "misses": 2} for r in records)
    listing = invoke(runner, "cache", "ls")
    assert "2 entries" in listing.output
    again = tmp_path / "again"
    assert invoke(runner, *args[:-1], str(again)).exit_code == 0
    second = [json.loads(p.read_text()) for p in again.glob("*.json")]
    assert all(r["data"]["feature_cache"] == {"hits": 2, "misses": 0} for r in second)
    assert sorted(r["metrics"]["accuracy"]["value"] for r in second) == \
        sorted(r["metrics"]["accuracy"]["value"] for r in records)
    table = invoke(runner, "compare", str(out))
    assert "Accuracy by layer" in table.output
    assert invoke(runner, "cache", "clear", "--yes").exit_code == 0
    assert "0 entries" in invoke(runner, "cache", "ls").output


def test_any_treebank_by_path(runner, tmp_path):
    """The ud-roles task on other CoNLL-U files (here: generated from grammar B)."""
    train, test = tmp_path / "train.conllu", tmp_path / "test.conllu"
    for path, seed, n in ((train, 1, "300"), (test, 2, "80")):
        assert invoke(runner, "data", "generate", "-g", "B", "-n", n, "--seed", str(seed), "-o", str(path)).exit_code == 0
    out = tmp_path / "runs"
    result = invoke(runner, "run", "-e", "type", "-t", "ud-roles", "-O", f"train_path={train}",
                    "-O", f"test_path={test}", "--bootstrap", "100", "-q", "--out", str(out))
    assert result.exit_code == 0, result.output
    [record] = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert record["data"]["train_sentences"] == 300 and record["data"]["test_file"] == str(test)
    only_one = runner.invoke(main, ["run", "-e", "type", "-t", "ud-roles", "-O", f"train_path={train}"])
    assert only_one.exit_code == 2 and "both train_path and test_path" in only_one.output


def test_control_task_and_mdl_in_the_run_record(runner, tmp_path):
    out = tmp_path / "runs"
    result = invoke(runner, "run", "-e", "ema", "-t", "roles", "--control", "--mdl", *SMALL, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "selectivity" in result.output and "MDL compression" in result.output
    [record] = [json.loads(p.read_text()) for p in out.glob("*.json")]
    control, mdl = record["metrics"]["control"], record["metrics"]["mdl"]
    assert control["selectivity"] == pytest.approx(record["metrics"]["accuracy"]["value"] - control["accuracy"]["value"])
    assert mdl["online_codelength_bits"] < mdl["uniform_codelength_bits"] and mdl["compression"] > 1
    refused = runner.invoke(main, ["run", "-e", "ema", "-t", "roles", "-p", "hebbian", "--mdl", *SMALL,
                                   "--out", str(tmp_path / "none")])
    assert refused.exit_code == 2 and "supervised probe" in refused.output
    assert not (tmp_path / "none").exists()
