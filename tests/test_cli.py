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
