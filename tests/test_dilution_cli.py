"""`probekit dilution` through click's CliRunner: table, summary, PNG, design, bad input, and the
merge of measured curves (with a stand-in for the empirical module: this tests the merging and
plotting, not the probes)."""

import io

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from probekit.cli import main
from probekit.dilution import empirical
from probekit.dilution.theory import make_bank, readout_r2

FAST = ["--mc-trials", "0", "--lags", "0,1,2,4,8"]


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(main, list(args), catch_exceptions=False)


def is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_default_table_summary_and_png(runner, tmp_path):
    out = tmp_path / "d.png"
    result = invoke(runner, "dilution", "--rates", "0.5,0.1,0.02", "--dim", "256", "-o", str(out),
                    "--mc-trials", "100")
    assert result.exit_code == 0, result.output
    for text in ("weight_ema_0.5", "sir_ratio", "r2_per_dim", "bound_bits", "accuracy_ceiling_fano",
                 "accuracy_nearest_codeword_mc", "capacity_per_dim", "share_of_capacity",
                 "precision_horizon_float32_lags", "precision_horizon_float16_lags"):
        assert text in result.output
    assert is_png(out)


def test_csv_table_is_the_closed_form(runner, tmp_path):
    result = invoke(runner, "dilution", "--rates", "0.3,0.05", "--no-include-current", "--noise-var", "1e-3",
                    "--format", "csv", "-o", str(tmp_path / "d.png"), *FAST)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.output.split("\n\n")[0]))
    assert table["lag"].tolist() == [0, 1, 2, 4, 8]
    expected = readout_r2(make_bank((0.3, 0.05), include_current=False, noise_var=1e-3), [0, 1, 2, 4, 8])
    np.testing.assert_allclose(table["r2_per_dim"], expected, atol=1e-6)


def test_onehot_and_design(runner, tmp_path):
    result = invoke(runner, "dilution", "--embedding", "onehot", "--vocab", "50", "--noise-var", "1e-4",
                    "--design", "2:10", "--starts", "2", "-o", str(tmp_path / "d.png"), *FAST)
    assert result.exit_code == 0, result.output
    assert "accuracy_nearest_codeword_quad" in result.output
    assert "underflow_horizon_float32_lags" in result.output
    assert "Rate design (capacity, lags 2..10" in result.output
    assert "designed" in result.output


@pytest.mark.parametrize("args,message", [
    (["--rates", "0.5,1.5"], "must be a number in (0, 1]"),
    (["--rates", "0.5,x"], "not a number"),
    (["--rates", "0.5,0.5"], "repeats a rate"),
    (["--dim", "0"], "dim"),
    (["--vocab", "1"], "vocab"),
    (["--lags", "0,-1"], "lags"),
    (["--lags", ""], "lags"),
    (["--noise-var", "-1"], "noise-var"),
    (["--design", "8:2"], "LO must not exceed HI"),
    (["--empirical", "--embedding", "onehot"], "--empirical"),
])
def test_bad_input_exit_2_and_no_file(runner, tmp_path, args, message):
    out = tmp_path / "d.png"
    result = runner.invoke(main, ["dilution", "-o", str(out), "--mc-trials", "0", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not out.exists()
    assert not list(tmp_path.iterdir())


def _fake_empirical(monkeypatch, drop=()):
    """Replace the probes of `probekit.dilution.empirical` by fixed curves in the agreed columns
    (this tests the command's merging and plotting, not the science)."""
    calls = []

    def measured_identity_curves(rates, dim, lags, probes=("linear",), seed=0, n_train=1000, n_test=500,
                                 vocab_size=1000, include_current=True, progress=None):
        calls.append(dict(rates=rates, dim=dim, lags=lags, probes=probes, seed=seed, vocab_size=vocab_size,
                          include_current=include_current, n_train=n_train, n_test=n_test))
        rows = []
        for probe in probes:
            for condition in ("h_t", "history"):
                for lag in lags:
                    bits = 4.0 / (1 + lag)
                    rows.append(dict(lag=lag, probe=probe, condition=condition, accuracy=0.9 / (1 + lag),
                                     accuracy_lo=0.8 / (1 + lag), accuracy_hi=1.0 / (1 + lag),
                                     v_information_bits=bits, v_information_bits_lo=bits - 0.2,
                                     v_information_bits_hi=bits + 0.2, label_entropy_bits=np.log2(vocab_size)))
        return pd.DataFrame(rows).drop(columns=list(drop))

    monkeypatch.setattr(empirical, "measured_identity_curves", measured_identity_curves)
    return calls


def test_empirical_adds_measured_columns_and_curves(runner, tmp_path, monkeypatch):
    calls = _fake_empirical(monkeypatch)
    out = tmp_path / "d.png"
    result = invoke(runner, "dilution", "--empirical", "--probes", "linear,mlp", "--vocab", "64", "--dim", "32",
                    "--format", "csv", "--seed", "3", "-o", str(out), *FAST)
    assert result.exit_code == 0, result.output
    assert calls == [dict(rates=(0.5, 0.1, 0.02), dim=32, lags=[0, 1, 2, 4, 8], probes=("linear", "mlp"), seed=3,
                          vocab_size=64, include_current=True, n_train=2000, n_test=500)]
    table = pd.read_csv(io.StringIO(result.output.split("\n\n")[0]))
    for probe in ("linear", "mlp"):
        for condition in ("h_t", "history"):
            column = f"measured_bits[{probe} ({condition})]"
            np.testing.assert_allclose(table[column], 4.0 / (1 + table["lag"]), atol=1e-6)
            assert f"measured_accuracy_hi[{probe} ({condition})]" in table.columns
    assert is_png(out)


def test_empirical_with_missing_columns_is_a_clean_error(runner, tmp_path, monkeypatch):
    _fake_empirical(monkeypatch, drop=("accuracy_lo",))
    out = tmp_path / "d.png"
    result = runner.invoke(main, ["dilution", "--empirical", "-o", str(out), *FAST])
    assert result.exit_code == 2
    assert "accuracy_lo" in result.output
    assert not out.exists()


def test_empirical_end_to_end_with_real_probes(runner, tmp_path):
    """The real empirical module on a tiny stream: measured bits next to the bound, within it."""
    out = tmp_path / "d.png"
    result = invoke(runner, "dilution", "--empirical", "--dim", "16", "--vocab", "8", "--lags", "0,1,8",
                    "--train-sentences", "150", "--test-sentences", "60", "--mc-trials", "0", "--format", "csv",
                    "-o", str(out))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout.split("\n\n")[0]))   # stdout: without the progress lines
    measured = table["measured_bits[linear (h_t)]"]
    assert measured.iloc[0] > 2.5                      # lag 0 (x_t is a feature): nearly log2 8 = 3 bits
    assert measured.iloc[0] > measured.iloc[2]          # and far less is readable at lag 8
    # V-information's H(Y) is the test cross-entropy of the add-one-smoothed training prior over
    # V types + OTHER, a few thousandths of a bit above log2 V: a perfect probe sits just over the cap
    assert (table["measured_bits_lo[linear (h_t)]"] <= table["bound_bits"] + 0.01).all()
    assert is_png(out)
