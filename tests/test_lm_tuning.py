"""The learning rate chosen on the validation split (probekit.lm.tuning), on a generated text."""

import json
import math

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from lm_text import tiny_config, write_articles  # noqa: E402
from probekit.errors import ProbekitError  # noqa: E402
from probekit.lm import corpus as lm_corpus  # noqa: E402
from probekit.lm.train import load_checkpoint, read_meta, train  # noqa: E402
from probekit.lm.tuning import (  # noqa: E402
    check_grid, choose_lr, grid_edge, parse_lr, pick_lr, pilot_config, train_tuned,
)

torch.set_num_threads(1)
GRID = (1e-3, 1e-2, 1e-1)


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    return write_articles(tmp_path_factory.mktemp("text"), n_articles=12, lines=8)


class _Unreadable(list):
    """A split's article list whose articles cannot be read (its length can: sizes are metadata)."""

    def __iter__(self):
        raise AssertionError("the test split was read")

    def __getitem__(self, index):
        raise AssertionError("the test split was read")


@pytest.fixture
def test_split_guarded(monkeypatch):
    """Every split loaded while the fixture is active has an unreadable test split."""
    real = lm_corpus.load_split

    def guarded(*args, **kwargs):
        split = real(*args, **kwargs)
        return lm_corpus.SplitText(split.name, split.train, split.valid, _Unreadable(split.test))

    monkeypatch.setattr(lm_corpus, "load_split", guarded)


def test_pick_lr_takes_the_lowest_loss_and_never_a_diverged_pilot():
    assert pick_lr((1e-3, 3e-3, 1e-2), [5.0, 4.2, 4.9]) == 3e-3
    assert pick_lr((1e-3, 3e-3, 1e-2), [5.0, 6.0, 4.9]) == 1e-2
    assert pick_lr((1e-3, 3e-3, 1e-2), [5.0, math.nan, math.inf]) == 1e-3
    with pytest.raises(ProbekitError, match="diverged"):
        pick_lr((1e-3,), [math.nan])


@pytest.mark.parametrize("grid, match", [((), "grid is empty"), ((1e-3, 0.0), "must be positive"),
                                         ((-1e-3,), "must be positive"), ((1e-3, math.inf), "positive and finite"),
                                         (("x",), "give positive numbers")])
def test_bad_grids_are_user_errors(grid, match):
    with pytest.raises(ProbekitError, match=match):
        check_grid(grid)


def test_parse_lr_fixed_auto_and_lists():
    assert parse_lr("3e-3") == (3e-3, None)
    assert parse_lr("auto") == (None, (1e-3, 3e-3, 1e-2, 3e-2, 1e-1))
    assert parse_lr("1e-2, 1e-3") == (None, (1e-3, 1e-2))


def test_grid_edge_names_a_rate_at_either_end_of_the_grid():
    assert grid_edge((1e-3, 3e-3, 1e-2, 3e-2), 3e-2) == "top"
    assert grid_edge([3e-2, 1e-3, 1e-2], 1e-3) == "bottom"   # the grid's order does not matter
    assert grid_edge((1e-3, 3e-3, 1e-2, 3e-2), 1e-2) is None
    assert grid_edge((3e-3,), 3e-3) is None                  # one rate: nothing was searched


def test_pilots_are_a_fraction_of_the_run(text):
    pilot = pilot_config(tiny_config(text, steps=40, warmup=8, eval_every=10), 1e-2, 0.25)
    assert (pilot.steps, pilot.warmup, pilot.lr, pilot.eval_every) == (10, 2, 1e-2, 10)


def test_the_chosen_rate_has_the_lowest_validation_loss_and_the_test_split_is_never_read(
        text, tmp_path, test_split_guarded):
    config = tiny_config(text, "gru", steps=16, eval_every=4, checkpoint_every=4)
    choice = choose_lr(config, GRID, tmp_path / "model", fraction=0.5)
    assert choice["grid"] == list(GRID) and choice["pilot_steps"] == 8 and choice["split"] == "valid"
    assert choice["chosen"] == GRID[min(range(len(GRID)), key=lambda i: choice["val_bits"][i])]
    assert len(set(choice["val_bits"])) == len(GRID)   # the candidates really trained differently
    # each candidate's loss is the best validation loss of that pilot trained on its own
    for lr, bits in zip(GRID, choice["val_bits"]):
        alone = tmp_path / f"alone-{lr:g}"
        train(pilot_config(config, lr, 0.5), alone, progress=False)
        assert load_checkpoint(alone)["best_val"] == pytest.approx(bits, abs=1e-6)
    assert json.loads((tmp_path / "model" / "lr-search" / "choice.json").read_text()) == choice


def test_the_guard_catches_a_read_of_the_test_split(text, tmp_path, test_split_guarded):
    from probekit.lm.evaluate import evaluate

    folder = tmp_path / "m"
    train(tiny_config(text, steps=2, eval_every=2, checkpoint_every=2), folder, progress=False)
    with pytest.raises(AssertionError, match="test split was read"):
        evaluate(folder, n_boot=100)


def test_train_tuned_trains_the_chosen_rate_in_full_and_records_the_search(text, tmp_path):
    config = tiny_config(text, "ema", steps=12, eval_every=4, checkpoint_every=4)
    meta = train_tuned(config, (1e-3, 1e-1), tmp_path / "m", fraction=0.5)
    search = meta["lr_search"]
    assert meta["train"]["lr"] == search["chosen"] and meta["train"]["steps"] == 12
    assert read_meta(tmp_path / "m")["lr_search"] == search
    assert load_checkpoint(tmp_path / "m")["finished"]
    assert not any((tmp_path / "m" / "lr-search").glob("lr-*"))   # pilots removed once the choice is kept
    again = train_tuned(config, (1e-3, 1e-1), tmp_path / "m", fraction=0.5)   # resumes: nothing retrained
    assert again["lr_search"] == search
    with pytest.raises(ProbekitError, match="fixed --lr"):
        fixed = tmp_path / "fixed"
        train(config, fixed, progress=False)
        train_tuned(config, (1e-3, 1e-1), fixed, fraction=0.5)


def test_cli_lr_list_chooses_and_says_so(text, tmp_path):
    from probekit.cli import main

    out = tmp_path / "gpt2"
    result = CliRunner().invoke(main, ["lm", "train", "--arch", "gpt2", "--corpus", str(text), "--steps", "8",
                                       "--width", "16", "--context", "16", "--batch-size", "4", "--eval-every", "2",
                                       "--threads", "1", "--lr", "1e-3,1e-2", "--lr-pilot-fraction", "0.5",
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    search = read_meta(out)["lr_search"]
    assert "<- chosen" in result.output and f"lr {search['chosen']:g})" in result.output
    assert (out / "hf" / "config.json").is_file()


def test_the_lm_sections_job_trains_the_chosen_rate_and_reports_the_search(text, tmp_path, monkeypatch):
    from dataclasses import asdict

    from probekit.lm.jobs import lm_perplexity

    monkeypatch.setenv("PROBEKIT_CACHE", str(tmp_path))
    train = asdict(tiny_config(text, "ema", steps=8, eval_every=4, checkpoint_every=4))
    rows = lm_perplexity("ema (linear)", train, n_boot=100, lr_search={"grid": [1e-3, 1e-1], "pilot_fraction": 0.5})
    last = rows.iloc[-1]
    grid, bits = json.loads(last.lr_grid), json.loads(last.lr_val_bits)
    assert grid == [1e-3, 1e-1] and last.lr == grid[bits.index(min(bits))] and last.lr_pilot_steps == 4
    fixed = lm_perplexity("ema (linear)", train, n_boot=100).iloc[-1]
    assert fixed.lr == train["lr"] and fixed.lr_grid is None
