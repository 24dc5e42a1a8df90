"""The identity task: the word `lag` steps back, over the most frequent types plus OTHER."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import probekit  # noqa: F401
from probekit import registry
from probekit.cli import main
from probekit.errors import ProbekitError


def make(**options):
    task = registry.tasks.create("identity", **{"n_train": 50, "n_test": 20, "sentence_length": 10,
                                                "random_types": 30, "vocab_size": 20, **options})
    return task, task.load()


@pytest.mark.parametrize("lag", [0, 1, 3])
def test_target_is_the_word_lag_steps_back_across_sentences(lag):
    task, data = make(lag=lag)
    targets = task.targets(data.test)
    words = data.test.words()
    ids = task.vocab_.ids(words)
    assert (targets.labels[:lag] == -1).all()
    assert np.array_equal(targets.labels[lag:], ids[: len(words) - lag])
    names = np.array(targets.names)
    known = targets.labels[lag:] > 0
    assert (names[targets.labels[lag:][known]] == np.array(words[: len(words) - lag])[known]).all()
    assert targets.names[0] == "OTHER" and len(targets.names) == 21


def test_within_sentence_leaves_out_positions_without_a_word_lag_back():
    task, data = make(lag=2, within_sentence=True)
    labels = task.targets(data.test).labels
    positions = data.test.positions()
    assert (labels[positions < 2] == -1).all() and (labels[positions >= 2] >= 0).all()


@pytest.mark.parametrize("options, message", [
    ({"lag": -1}, "lag must be 0 or more"),
    ({"vocab_size": 500}, "larger than the 30 word types"),
    ({"lag": 5, "within_sentence": True, "sentence_length": 4, "vocab_size": 5}, "too short for lag 5"),
    ({"source": "text", "text_path": "/nonexistent.txt"}, "needs an existing text file"),
])
def test_bad_input(options, message):
    with pytest.raises(ProbekitError, match=message):
        make(**options)


def test_text_source_and_lag_sweep(tmp_path):
    text = tmp_path / "t.txt"
    rng = np.random.default_rng(0)
    text.write_text("\n".join(" ".join(f"w{i}" for i in rng.integers(0, 12, 8)) for _ in range(300)))
    out = tmp_path / "runs"
    result = CliRunner().invoke(main, ["run", "-e", "ema", "-E", "reset=false", "-t", "identity", "--lags", "0,2",
                                       "-O", "source=text", "-O", f"text_path={text}", "-O", "vocab_size=12",
                                       "--bootstrap", "100", "-q", "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = {json.loads(p.read_text())["config"]["task_options"]["lag"]: json.loads(p.read_text())
               for p in out.glob("*.json")}
    assert sorted(records) == [0, 2]
    bits = {lag: r["metrics"]["v_information_bits"]["value"] for lag, r in records.items()}
    assert records[0]["metrics"]["accuracy"]["value"] > 0.95        # the x block holds the current word
    assert bits[0] > bits[2] + 1.0                                   # and recent words fade
    assert records[0]["metrics"]["per_class"] == {}                  # no 1,000-row tables


def test_curve_summaries():
    import pandas as pd

    from probekit.report import _half_lag, identity_curve_table

    assert _half_lag(np.array([0, 1, 2, 4.0]), np.array([8, 6, 3, 1.0])) == pytest.approx(1 + 2 / 3)
    assert np.isnan(_half_lag(np.array([0, 1.0]), np.array([8, 5.0])))
    frame = pd.DataFrame({"task": "identity", "encoder": "ema", "probe": "linear", "seed": [0, 1, 0, 1],
                          "lag": [0, 0, 2, 2], "v_information_bits": [4.0, 6.0, 1.0, 2.0]})
    table = identity_curve_table(frame)
    assert list(table[["lag 0", "lag 2"]].iloc[0]) == [5.0, 1.5]
    # area over lags 0-2: one trapezoid, 2 x (5 + 1.5) / 2
    assert table.area_bits.iloc[0] == 6.5 and table.half_lag.iloc[0] == pytest.approx(2 * 2.5 / 3.5)


def test_negative_estimates_count_with_their_sign():
    import pandas as pd

    from probekit.report import identity_curve_table

    frame = pd.DataFrame({"task": "identity", "encoder": "ema", "probe": "linear", "seed": 0,
                          "lag": [0, 1, 2], "v_information_bits": [4.0, 1.0, -3.0]})
    # trapezoids 0-1 and 1-2: (4 + 1) / 2 + (1 - 3) / 2; clipping -3 to 0 would give 3.0
    assert identity_curve_table(frame).area_bits.iloc[0] == 1.5


def test_plot_writes_a_png_and_refuses_records_without_lags(tmp_path):
    runner = CliRunner()
    out = tmp_path / "runs"
    for encoder in ("ema", "type"):
        assert runner.invoke(main, ["run", "-e", encoder, "-t", "identity", "--lags", "0,1", "-O", "n_train=60",
                                    "-O", "n_test=20", "-O", "random_types=20", "-O", "vocab_size=20",
                                    "--bootstrap", "100", "-q", "--out", str(out)]).exit_code == 0
    png = tmp_path / "curves.png"
    result = runner.invoke(main, ["plot", str(out), "-o", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    roles_only = tmp_path / "roles"
    runner.invoke(main, ["run", "-e", "type", "-t", "roles", "-O", "n_train=50", "-O", "n_test=20", "-q",
                         "--bootstrap", "100", "--out", str(roles_only)])
    refused = runner.invoke(main, ["plot", str(roles_only), "-o", str(tmp_path / "none.png")])
    assert refused.exit_code == 2 and "no identity-task records" in refused.output
    assert not (tmp_path / "none.png").exists()


def test_random_words_name_the_stream_types():
    """A word-level LM reads w0, w1, ... as <unk>: the random stream can draw words it knows instead."""
    words = [f"word{i}" for i in range(40)]
    _, data = make(random_words=words)
    assert set(data.train.words()) == set(words[:30])
    _, default = make()
    assert set(default.train.words()) == {f"w{i}" for i in range(30)}
    with pytest.raises(ProbekitError, match="fewer than random_types=30"):
        make(random_words=["a", "b", "a"])
