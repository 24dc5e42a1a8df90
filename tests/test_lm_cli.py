"""``probekit lm``: every bad input is one clean error (exit 2, no traceback) and leaves nothing behind."""

from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")

from lm_text import write_articles  # noqa: E402
from probekit.cli import main  # noqa: E402

TINY = ["--width", "16", "--context", "16", "--batch-size", "4", "--eval-every", "5", "--checkpoint-every", "5",
        "--threads", "1"]


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    return write_articles(tmp_path_factory.mktemp("text"), n_articles=10, lines=6)


def _invoke(args):
    return CliRunner().invoke(main, args)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def _bad(args, match, folder):
    before = _files(folder)
    result = _invoke(args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and match in result.output, result.output
    assert _files(folder) == before
    return result


def test_train_then_eval_writes_a_model_and_a_record(text, tmp_path):
    model = tmp_path / "ema"
    result = _invoke(["lm", "train", "--arch", "ema", "--corpus", str(text), "--steps", "10", *TINY, "-o", str(model)])
    assert result.exit_code == 0, result.output
    assert {"config.json", "vocab.json", "checkpoint.pt"} <= set(_files(model))
    result = _invoke(["lm", "eval", str(model), "--out", str(tmp_path / "runs"), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "perplexity" in result.output and len(list((tmp_path / "runs").glob("*.json"))) == 1
    compare = _invoke(["compare", str(tmp_path / "runs")])
    assert compare.exit_code == 0 and "EMA LM predictors" in compare.output, compare.output


@pytest.mark.parametrize("args, match", [
    (["--arch", "emma"], "Did you mean 'ema'"),
    (["--arch", "ema", "--predictor", "atention"], "Did you mean 'attention'"),
    (["--arch", "ema", "--steps", "0"], "--steps must be a positive integer"),
    (["--arch", "ema", "--threads", "0"], "--threads must be a positive integer"),
    (["--arch", "ema", "--tokens", "-5"], "--tokens must be positive"),
    (["--arch", "ema", "--vocab-size", "100000"], "--vocab-size 100000 is larger than"),
    (["--arch", "ema", "--batch-size", "4096"], "fewer than one batch"),
    (["--arch", "ema", "--lr", "0"], "learning rates must be positive"),
    (["--arch", "ema", "--lr", "1e-3,-1e-2"], "learning rates must be positive"),
    (["--arch", "ema", "--lr", ","], "the learning-rate grid is empty"),
    (["--arch", "ema", "--lr", "fast"], "--lr 'fast'"),
    (["--arch", "ema", "--lr", "auto", "--lr-pilot-fraction", "0"], "--lr-pilot-fraction must be in (0, 1]"),
])
def test_bad_training_options(text, tmp_path, args, match):
    out = tmp_path / "model"
    _bad(["lm", "train", "--corpus", str(text), *TINY, *args, "-o", str(out)], match, tmp_path)  # last option wins


def test_missing_and_empty_corpora(tmp_path):
    _bad(["lm", "train", "--arch", "ema", "--corpus", str(tmp_path / "nowhere"), "-o", str(tmp_path / "m")],
         "not found", tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "a.txt").write_text("\n\n", encoding="utf-8")
    _bad(["lm", "train", "--arch", "ema", "--corpus", str(empty), "-o", str(tmp_path / "m")], "no words", tmp_path)


def test_missing_wikitext_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("PROBEKIT_WIKITEXT", str(tmp_path / "no-wikitext"))
    result = _bad(["lm", "train", "--arch", "ema", "-o", str(tmp_path / "m")], "PROBEKIT_WIKITEXT", tmp_path)
    assert str(tmp_path / "no-wikitext") in result.output


def test_folders_of_another_model_or_of_other_files_are_refused(text, tmp_path):
    model = tmp_path / "gru"
    assert _invoke(["lm", "train", "--arch", "gru", "--corpus", str(text), "--steps", "5", *TINY,
                    "-o", str(model)]).exit_code == 0
    _bad(["lm", "train", "--arch", "ema", "--corpus", str(text), "--steps", "5", *TINY, "-o", str(model)],
         "holds a 'gru' model", tmp_path)
    _bad(["lm", "train", "--arch", "gru", "--corpus", str(text), "--steps", "5", "--seed", "3", *TINY,
          "-o", str(model)], "other settings", tmp_path)
    # the thread count changes the weights: a run is resumed on the threads it was started on
    result = _bad(["lm", "train", "--arch", "gru", "--corpus", str(text), "--steps", "5", *TINY, "--threads", "2",
                   "-o", str(model)], "other settings", tmp_path)
    assert "threads: 1 there, 2 now" in result.output
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine", encoding="utf-8")
    _bad(["lm", "train", "--arch", "ema", "--corpus", str(text), "-o", str(other)], "not a probekit LM folder",
         tmp_path)


def test_eval_needs_a_finished_model(text, tmp_path):
    _bad(["lm", "eval", str(tmp_path / "missing")], "does not exist", tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    _bad(["lm", "eval", str(empty)], "holds no trained model", tmp_path)
    partial = tmp_path / "partial"
    assert _invoke(["lm", "train", "--arch", "ema", "--corpus", str(text), "--steps", "5", *TINY,
                    "-o", str(partial)]).exit_code == 0
    (partial / "checkpoint.pt").unlink()      # as if killed before the first checkpoint
    _bad(["lm", "eval", str(partial), "--out", str(tmp_path / "runs")], "has not finished", tmp_path)
    (partial / "checkpoint.pt").write_bytes(b"not a checkpoint")
    _bad(["lm", "eval", str(partial), "--out", str(tmp_path / "runs")], "not a readable checkpoint", tmp_path)
