"""Seed aggregation, the held-out C of the linear probe, the identity study's configs, depth tables."""

import csv
import io

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

import probekit  # noqa: F401
from probekit import registry
from probekit.cli import main
from probekit.metrics import information_metrics
from probekit.report import combine_seeds, depth_table, identity_curve_table, plot_layer_curves, summary_table


# -- combining seeds and sentences ------------------------------------------------------------

def test_one_seed_gives_back_its_sentence_ci_asymmetry_included():
    assert combine_seeds([0.8], [0.71], [0.83]) == pytest.approx((0.8, 0.71, 0.83))


def test_combined_width_adds_between_seed_and_sentence_error_in_quadrature():
    values = np.array([1.0, 2.0, 3.0, 4.0])
    mean, low, high = combine_seeds(values, values - 0.5, values + 0.3)
    between = stats.t.ppf(0.975, 3) * values.std(ddof=1) / 2
    assert mean == pytest.approx(2.5)
    assert mean - low == pytest.approx(np.hypot(between, 0.5))
    assert high - mean == pytest.approx(np.hypot(between, 0.3))
    # identical seeds: no between-seed error, the (shared) sentence error does not shrink
    assert combine_seeds([2.0, 2.0, 2.0], [1.5, 1.6, 1.4], [2.5, 2.5, 2.5]) == pytest.approx(
        (2.0, 2.0 - np.sqrt((0.25 + 0.16 + 0.36) / 3), 2.5))


def test_combined_ci_covers_the_truth_about_95_percent_when_sentence_error_is_shared():
    """Simulate the study's error model: seeds differ by N(0, 0.3); all seeds share one test
    set whose error is N(0, 0.2) and whose bootstrap CI is +-1.96 * 0.2. The combined CI must
    cover the true value at close to the nominal rate; the naive CI of the mean of the seed
    values (sentence error ignored) must not."""
    rng = np.random.default_rng(0)
    n_sims, n_seeds, truth = 2000, 3, 1.0
    shared = rng.normal(0, 0.2, n_sims)
    values = truth + shared[:, None] + rng.normal(0, 0.3, (n_sims, n_seeds))
    covered = naive = 0
    for x in values:
        _, low, high = combine_seeds(x, x - 1.96 * 0.2, x + 1.96 * 0.2)
        covered += low <= truth <= high
        half = stats.t.ppf(0.975, n_seeds - 1) * x.std(ddof=1) / np.sqrt(n_seeds)
        naive += x.mean() - half <= truth <= x.mean() + half
    assert 0.93 <= covered / n_sims <= 0.995
    assert naive / n_sims < covered / n_sims - 0.03


def _records(seeds=(0, 1, 2), lags=(0, 1, 2), layers=(None,)):
    rows = []
    for seed in seeds:
        for layer in layers:
            for lag in lags:
                bits = 4.0 / (1 + lag) + 0.1 * seed + (0 if layer is None else 0.5 * layer)
                rows.append({"task": "identity", "source": "random", "train_size": "all", "encoder": "ema",
                             "layer": layer, "lag": lag, "probe": "linear", "readout": "supervised", "seed": seed,
                             "v_information_bits": bits, "v_information_ci_low": bits - 0.2,
                             "v_information_ci_high": bits + 0.2, "accuracy": 0.9 - 0.2 * lag,
                             "accuracy_ci_low": 0.85 - 0.2 * lag, "accuracy_ci_high": 0.95 - 0.2 * lag})
    return pd.DataFrame(rows)


def test_summary_table_shows_n_seeds_and_the_combined_ci():
    table = summary_table(_records())
    assert list(table.n_seeds) == [3, 3, 3]
    row = table[table.lag == 1].iloc[0]
    expected = combine_seeds([2.0, 2.1, 2.2], [1.8, 1.9, 2.0], [2.2, 2.3, 2.4])
    assert (row.v_information_bits, row.v_information_ci_low, row.v_information_ci_high) == pytest.approx(expected)


def test_area_ci_sums_weighted_lag_half_widths_then_combines_seeds():
    table = identity_curve_table(_records())
    row = table.iloc[0]
    # lags 0, 1, 2: trapezoid weights 0.5, 1, 0.5; bits 4 / (1 + lag) + 0.1 seed
    areas = [0.5 * 4 + 2 + 0.5 * 4 / 3 + 0.2 * s for s in (0, 1, 2)]
    assert row.n_seeds == 3 and row.area_lags == "0-2" and row.area_bits == pytest.approx(np.mean(areas))
    assert (row.area_bits_ci_low, row.area_bits_ci_high) == pytest.approx(
        combine_seeds(areas, np.array(areas) - 0.4, np.array(areas) + 0.4)[1:])


def test_an_unknown_sentence_error_gives_a_missing_interval_not_a_narrow_one():
    frame = _records().assign(v_information_ci_low=np.nan, v_information_ci_high=np.nan)
    row = identity_curve_table(frame).iloc[0]
    assert np.isfinite(row.area_bits) and np.isnan(row.area_bits_ci_low) and np.isnan(row.area_bits_ci_high)
    mean, low, high = combine_seeds([0.5, 0.6], [0.4, np.nan], [0.6, np.nan])
    assert mean == pytest.approx(0.55) and np.isnan(low) and np.isnan(high)


def test_depth_table_has_one_row_per_layer_and_columns_per_lag(tmp_path):
    frame = _records(seeds=(0, 1), layers=(0, 1, 2, 3))
    table = depth_table(frame)
    assert list(table.layer) == [0, 1, 2, 3] and set(table.n_seeds) == {2}
    for lag in (0, 1, 2):
        assert {f"lag {lag} accuracy", f"lag {lag} bits", f"lag {lag} bits_ci_low",
                f"lag {lag} bits_ci_high"} <= set(table.columns)
    assert np.allclose(np.diff(table["lag 0 bits"]), 0.5)     # the synthetic 0.5 bits per layer
    assert identity_curve_table(frame).empty                   # layered records stay out of the lag table
    png = tmp_path / "depth.png"
    plot_layer_curves(frame, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    single = _records(seeds=(0,), layers=(4,))                  # one chosen layer (-E layer=4): a lag curve
    assert depth_table(single).empty and len(identity_curve_table(single)) == 1


# -- the linear probe's held-out C -----------------------------------------------------------

def _vinfo(probe, X, y, Xt, yt, n_classes):
    probe.fit(X, y, n_classes=n_classes)
    return information_metrics(probe.predict_proba(Xt), yt, y, np.arange(len(yt)) // 10, n_boot=200)[
        "v_information_bits"]


def test_held_out_C_brings_noise_to_zero_bits_and_keeps_signal():
    rng = np.random.default_rng(0)
    n, n_classes = 3000, 60
    y, yt = rng.integers(0, n_classes, n), rng.integers(0, n_classes, 1000)
    noise, noise_t = rng.normal(size=(n, 32)), rng.normal(size=(1000, 32))
    fixed = _vinfo(registry.probes.create("linear"), noise, y, noise_t, yt, n_classes)
    chosen_probe = registry.probes.create("linear", C_grid=[0.001, 0.01, 0.1, 1.0])
    chosen = _vinfo(chosen_probe, noise, y, noise_t, yt, n_classes)
    assert fixed["value"] < -0.1                                  # C=1 overfits noise
    assert chosen["ci_low"] - 0.02 <= 0 <= chosen["ci_high"] + 0.02 and abs(chosen["value"]) < 0.03
    assert chosen_probe.C_ == 0.001 and list(chosen_probe.C_path_) == [0.001, 0.01]   # stopped when it rose
    centres = rng.normal(size=(n_classes, 32)) * 2
    signal = _vinfo(registry.probes.create("linear", C_grid=[0.001, 0.01, 0.1, 1.0]),
                    centres[y] + noise, y, centres[yt] + noise_t, yt, n_classes)
    assert signal["value"] > 3.0


def test_C_grid_is_validated():
    with pytest.raises(probekit.ProbekitError, match="C_grid"):
        registry.probes.create("linear", C_grid=[0.1, -1.0])


# -- the study ---------------------------------------------------------------------------------

@pytest.mark.parametrize("source", ["ud", "random"])
def test_identity_study_configs_create_through_the_registry(source, tiny_gpt2):
    from probekit.studies import IDENTITY_LAGS, cli_commands, identity_study_configs

    configs = identity_study_configs(source, seeds=(0, 1), gpt2_path=tiny_gpt2)
    assert len(configs) == 5 * 2 * len(IDENTITY_LAGS)
    assert {c.encoder for c in configs} == {"ema", "gru-lm", "gpt2", "type", "random"}
    for config in configs:
        registry.encoders.create(config.encoder, **config.encoder_options)
        registry.tasks.create(config.task, **config.task_options)
        registry.probes.create(config.probe, **config.probe_options)
        assert config.task_options["source"] == source
    commands = cli_commands(configs)
    lags = ",".join(map(str, IDENTITY_LAGS))
    assert len(commands) == 5 * 2 and all(c[-2:] == ["--lags", lags] for c in commands)
    quick = identity_study_configs(source, quick=True, gpt2_path=tiny_gpt2)
    assert len(quick) < len(configs) / 2


def test_identity_study_rejects_an_unknown_source(tiny_gpt2):
    from probekit.studies import identity_study_configs

    with pytest.raises(probekit.ProbekitError, match="choose one of ud, random"):
        identity_study_configs("wiki", gpt2_path=tiny_gpt2)


def test_local_gpt2_builds_once_is_reused_and_refuses_a_foreign_folder(tmp_path, tiny_gpt2):
    import json

    from probekit.studies import LOCAL_GPT2_SHAPE, local_gpt2

    folder = local_gpt2(tmp_path / "gpt2")
    config = json.loads((tmp_path / "gpt2" / "config.json").read_text())
    assert {k: config[k] for k in LOCAL_GPT2_SHAPE} == LOCAL_GPT2_SHAPE
    stamp = (tmp_path / "gpt2" / "config.json").stat().st_mtime_ns
    assert local_gpt2(folder) == folder and (tmp_path / "gpt2" / "config.json").stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(probekit.ProbekitError, match="not a saved model"):
        local_gpt2(tmp_path / "other")


def test_two_seed_identity_run_through_the_cli_shows_n_seeds_2(tmp_path):
    out = tmp_path / "runs"
    runner = CliRunner()
    result = runner.invoke(main, ["run", "-e", "ema", "-E", "reset=false", "-t", "identity", "--lags", "0,2",
                                  "--seeds", "0,1", "-O", "n_train=40", "-O", "n_test=20", "-O", "random_types=20",
                                  "-O", "vocab_size=20", "-P", "C_grid=[0.01,1.0]", "--bootstrap", "100", "-q",
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    compare = runner.invoke(main, ["compare", str(out), "--format", "csv"])
    assert compare.exit_code == 0, compare.output
    summary = list(csv.DictReader(io.StringIO(compare.output.split("\n\n")[0])))
    assert len(summary) == 2 and {row["n_seeds"] for row in summary} == {"2"}
    assert all(float(r["v_information_ci_low"]) <= float(r["v_information_bits"]) <= float(r["v_information_ci_high"])
               for r in summary)
    assert "area_bits_ci_low" in compare.output


def test_combined_accuracy_interval_stays_inside_zero_one():
    # three seeds near 1 with some spread: the normal approximation alone would pass 1
    mean, low, high = combine_seeds([0.999, 0.99, 1.0], [0.99, 0.98, 0.995], [1.0, 0.997, 1.0], bounds=(0.0, 1.0))
    unclipped = combine_seeds([0.999, 0.99, 1.0], [0.99, 0.98, 0.995], [1.0, 0.997, 1.0])
    assert unclipped[2] > 1.0
    assert high == 1.0 and low == unclipped[1] and mean == unclipped[0]
