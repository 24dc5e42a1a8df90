"""The dilution analyzer's closed form, precision model and rate design (probekit.dilution)."""

import dataclasses
import math

import numpy as np
import pytest

from probekit.dilution.design import design_rates, objective_value, parse_lag_range
from probekit.dilution.precision import (
    noise_horizon,
    peel,
    peeling_experiment,
    precision_horizon,
    random_streams,
    stored_trace,
    unit_roundoff,
)
from probekit.dilution.theory import (
    bound_bits,
    capacity_spread,
    dilution_table,
    fano_accuracy_ceiling,
    feature_covariance,
    lag_weights,
    make_bank,
    memory_capacity,
    nearest_codeword_accuracy,
    readout_r2,
    signal_gram,
    sir_from_r2,
)
from probekit.encoders.ema import ema_trace
from probekit.errors import ProbekitError

RATES = (0.5, 0.1, 0.02)


def _simulated_r2(rates, include_current, noise_var, lags, n=12000, dim=24, burn_in=600, seed=0):
    """Per-lag r2 of the least-squares readout fitted on simulated traces (the real ema_trace)."""
    rng = np.random.default_rng(seed)
    sigma2 = 1.0 / dim
    X = rng.standard_normal((n, dim)) * math.sqrt(sigma2)
    blocks = [X] if include_current else []
    blocks += [ema_trace(X, r, reset=False, out=np.empty((n, dim))) for r in rates]
    F = np.stack(blocks, axis=-1)  # (n, dim, coords): every dimension is one more sample
    F = F + rng.standard_normal(F.shape) * math.sqrt(noise_var)
    rows = np.arange(burn_in, n)
    features = F[rows].reshape(-1, F.shape[-1])
    out = []
    for k in lags:
        target = X[rows - k].reshape(-1)
        coef, *_ = np.linalg.lstsq(features, target, rcond=None)
        residual = target - features @ coef
        out.append(1.0 - residual.var() / target.var())
    return np.array(out)


@pytest.mark.parametrize("include_current,noise_ratio", [(True, 0.0), (False, 0.0), (True, 0.05)])
def test_closed_form_matches_monte_carlo_of_real_traces(include_current, noise_ratio):
    dim = 24
    noise_var = noise_ratio / dim  # noise as a fraction of the token variance 1/dim
    bank = make_bank(RATES, dim=dim, include_current=include_current, noise_var=noise_var)
    lags = np.arange(0, 33)
    theory = readout_r2(bank, lags)
    measured = _simulated_r2(RATES, include_current, noise_var, lags, dim=dim)
    sir_theory, sir_measured = sir_from_r2(theory), sir_from_r2(measured)
    checked = (sir_theory > 0.1) & np.isfinite(sir_theory)
    assert checked.sum() >= 3
    relative = np.abs(sir_measured[checked] - sir_theory[checked]) / sir_theory[checked]
    assert relative.max() < 0.05, dict(zip(lags[checked], relative.round(3)))
    assert np.abs(measured - theory).max() < 0.02  # and r2 everywhere, SIR < 0.1 included


def test_gram_closed_form_equals_the_sum_over_lags():
    for past in (None, 7):
        bank = make_bank((0.7, 0.3, 0.05, 1.0), include_current=False, past=past)
        lags = np.arange(20000 if past is None else past)
        W = lag_weights(bank, lags)
        np.testing.assert_allclose(signal_gram(bank), W.T @ W, rtol=1e-9, atol=1e-15)


def test_weights_of_each_lag_and_the_current_input():
    bank = make_bank((0.5, 0.1), include_current=True, past=3)
    W = lag_weights(bank, [0, 1, 2, 3])
    np.testing.assert_allclose(W[:, 0], [1, 0, 0, 0])
    np.testing.assert_allclose(W[:3, 1], [0.5, 0.25, 0.125])
    np.testing.assert_allclose(W[:3, 2], [0.1, 0.09, 0.081])
    assert not W[3].any()  # lag 3 is before the first token of a past of 3


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("include_current", [True, False])
def test_capacity_is_the_number_of_coordinates_without_noise(seed, include_current):
    rates = tuple(np.random.default_rng(seed).uniform(0.01, 0.95, size=3 + seed))
    bank = make_bank(rates, include_current=include_current)
    expected = len(rates) + int(include_current)
    assert memory_capacity(bank) == pytest.approx(expected, abs=1e-6)
    slowest = min(rates)
    n_lags = int(math.log(1e-12) / math.log(1 - slowest)) + 1  # far past: weights below 1e-12 of lag 0
    assert readout_r2(bank, np.arange(n_lags)).sum() == pytest.approx(expected, abs=1e-6)


def test_current_input_adds_exactly_one_to_the_capacity_of_the_past():
    with_x = make_bank(RATES, include_current=True)
    without = make_bank(RATES, include_current=False)
    lags = np.arange(1, 5000)
    assert readout_r2(with_x, [0])[0] == pytest.approx(1.0)
    assert readout_r2(with_x, lags).sum() == pytest.approx(memory_capacity(without), abs=1e-6)


def test_finite_past_caps_the_capacity_at_the_tokens_seen():
    assert memory_capacity(make_bank(RATES, include_current=True, past=2)) == pytest.approx(2.0, abs=1e-6)
    assert memory_capacity(make_bank(RATES, include_current=False, past=50)) == pytest.approx(3.0, abs=1e-6)


def test_noise_shrinks_the_capacity_monotonically():
    values = [memory_capacity(make_bank(RATES, dim=64, noise_var=v)) for v in (0.0, 1e-5, 1e-4, 1e-3, 1e-2)]
    assert values[0] == pytest.approx(4.0, abs=1e-6)
    assert all(a > b for a, b in zip(values, values[1:]))
    noisy = make_bank(RATES, dim=64, noise_var=1e-3)
    assert readout_r2(noisy, np.arange(20000)).sum() == pytest.approx(memory_capacity(noisy), rel=1e-6)


def test_capacity_spread_rises_to_the_total():
    spread = capacity_spread(make_bank(RATES), (0, 8, 32, 4000))
    assert np.all(np.diff(spread["capacity_per_dim"]) > 0)
    assert spread["share_of_capacity"].iloc[-1] == pytest.approx(1.0, abs=1e-6)
    assert spread["capacity_per_dim"].iloc[0] == pytest.approx(1.0)  # lag 0 = x_t, read exactly


def test_sir_is_signal_against_the_covariance_of_the_other_lags():
    bank = make_bank(RATES, dim=32, noise_var=1e-3)
    sigma2 = bank.token_variance
    K = feature_covariance(bank)
    for k in (0, 3, 17):
        w = lag_weights(bank, [k])[0]
        C = K - sigma2 * np.outer(w, w)
        direct = sigma2 * w @ np.linalg.solve(C, w)
        assert sir_from_r2(readout_r2(bank, [k]))[0] == pytest.approx(direct, rel=1e-8)


def test_onehot_uses_the_centred_covariance_of_v_types():
    bank = make_bank(RATES, embedding="onehot", vocab_size=50)
    assert bank.token_variance == pytest.approx(1 / 50)
    assert bank.effective_dim == 49
    onehot = np.eye(50)
    centred_cov = np.cov(onehot, rowvar=False, bias=True)
    np.testing.assert_allclose(centred_cov, (np.eye(50) - 1 / 50) / 50)


def test_bound_bits_and_fano_ceiling():
    sir = np.array([0.0, 0.01, 0.1, 1.0, np.inf])
    bits = bound_bits(sir, effective_dim=8, vocab_size=64)
    np.testing.assert_allclose(bits[:4], np.minimum(4 * np.log2(1 + sir[:4]), 6.0))
    assert bits[-1] == 6.0
    ceiling = fano_accuracy_ceiling(np.array([0.0, 1.0, 3.0, 5.9, 6.0]), 64)
    assert ceiling[0] == pytest.approx(1 / 64) and ceiling[-1] == 1.0
    assert np.all(np.diff(ceiling) > 0)
    pe = 1 - ceiling[2]  # Fano holds with equality at the ceiling
    h = -(pe * np.log2(pe) + (1 - pe) * np.log2(1 - pe))
    assert h + pe * np.log2(63) == pytest.approx(6.0 - 3.0, abs=1e-9)


def test_onehot_nearest_codeword_quadrature_matches_simulation():
    V, sir = 20, np.array([0.05, 0.2, 0.5])
    bank = make_bank((0.5,), embedding="onehot", vocab_size=V)
    exact, method = nearest_codeword_accuracy(sir, bank)
    assert method == "quad"
    rng = np.random.default_rng(0)
    for value, expected in zip(sir, exact):
        noise = rng.standard_normal((40000, V)) * math.sqrt(1 / V / value)
        received = noise.copy()
        received[:, 0] += 1.0  # codeword of type 0 (centring shifts every coordinate alike)
        assert np.mean(received.argmax(axis=1) == 0) == pytest.approx(expected, abs=0.01)


def test_dilution_table_columns_and_monotone_decay():
    table = dilution_table(make_bank(RATES, dim=64, include_current=False), [0, 1, 2, 4, 8, 32], mc_trials=200)
    for column in ("lag", "weight_ema_0.5", "weight_ema_0.1", "weight_ema_0.02", "sir_ratio", "r2_per_dim",
                   "bound_bits", "accuracy_ceiling_fano", "accuracy_nearest_codeword_mc", "chance_accuracy"):
        assert column in table.columns
    assert np.all(np.diff(table["r2_per_dim"]) < 0)
    assert np.all(table["accuracy_nearest_codeword_mc"] <= table["accuracy_ceiling_fano"] + 0.02)


@pytest.mark.parametrize("bad", [dict(rates=()), dict(rates=(0.5, 0.0)), dict(rates=(1.5,)), dict(rates=(0.5, 0.5)),
                                 dict(rates=RATES, dim=0), dict(rates=RATES, vocab_size=1),
                                 dict(rates=RATES, noise_var=-1.0), dict(rates=RATES, embedding="bpe"),
                                 dict(rates=RATES, past=0)])
def test_bad_bank_raises_probekit_error(bad):
    with pytest.raises(ProbekitError):
        make_bank(**bad)


# -- precision: the peeling decoder against the precision horizon ---------------------------------


def test_unit_roundoff_of_the_formats():
    assert unit_roundoff("float32") == 2.0 ** -24
    assert unit_roundoff("float16") == 2.0 ** -11
    assert precision_horizon(0.5, "float32", "onehot") == pytest.approx(24.0)
    with pytest.raises(ProbekitError):
        unit_roundoff("bfloat8")


@pytest.mark.parametrize("precision", ["float32", "float16"])
@pytest.mark.parametrize("rate", [0.5, 0.7])
def test_peeling_fails_just_after_the_precision_horizon(precision, rate):
    """Dense one-hot streams (V = 2): the first peeling error falls within 2.5 lags after k*."""
    result = peeling_experiment(rate, precision, vocab_size=2, n_streams=300, n_lags=40, seed=0)
    horizon = result["precision_horizon"]
    assert horizon < result["median_first_error_lag"] <= horizon + 2.5
    assert result["perfect_up_to"] <= horizon + 1  # nothing is reliably recovered beyond it


def test_peeling_is_exact_without_rounding_and_noise_limits_it():
    exact = peeling_experiment(0.6, "float64", vocab_size=50, n_streams=100, n_lags=30)
    assert exact["accuracy_by_lag"].min() == 1.0
    noisy = peeling_experiment(0.5, "float64", vocab_size=2, n_streams=300, n_lags=30, noise_var=1e-6)
    assert abs(noisy["median_first_error_lag"] - noise_horizon(0.5, 1e-6)) <= 2.0


def test_peeling_refuses_rates_below_one_half():
    h = stored_trace(random_streams(4, 10, 5, seed=0), 5, 0.4)
    with pytest.raises(ProbekitError, match="a >= 0.5"):
        peel(h, 0.4, 3)


def test_linear_probe_is_at_chance_where_peeling_is_perfect():
    """One-hot, one rate 0.5: the token at lag 1, 2 is present (peeling) but not linearly readable."""
    from sklearn.linear_model import LogisticRegression

    V, n_train = 8, 3000
    ids = random_streams(4000, 40, V, seed=1)
    h = stored_trace(ids, V, 0.5, "float64")
    decoded = peel(h, 0.5, 3)
    for lag in (0, 1, 2):
        y = ids[:, -1 - lag]
        assert np.mean(decoded[:, lag] == y) == 1.0
        probe = LogisticRegression(C=100.0, max_iter=2000).fit(h[:n_train], y[:n_train])
        accuracy = probe.score(h[n_train:], y[n_train:])
        if lag == 0:
            assert accuracy > 0.95
        else:
            assert accuracy < 1 / V + 0.05


# -- rate design ----------------------------------------------------------------------------------


@pytest.mark.parametrize("objective,lag_range", [("capacity", (0, 8)), ("bits", (4, 16))])
def test_design_beats_or_equals_the_default(objective, lag_range):
    bank = make_bank(RATES, dim=64, noise_var=1e-3)
    first = design_rates(bank, lag_range, objective, n_starts=3, seed=0)
    again = design_rates(bank, lag_range, objective, n_starts=3, seed=0)
    assert first["rates"] == again["rates"]  # deterministic given the seed
    assert all(0 < r < 1 for r in first["rates"])
    assert first["value"] >= first["baseline_value"] - 1e-9
    # designs may repeat a rate (averaging the noise), which make_bank refuses: rebuild with replace
    designed = dataclasses.replace(bank, rates=first["rates"])
    assert first["value"] == pytest.approx(objective_value(designed, lag_range, objective), rel=1e-6)


def test_design_moves_capacity_into_a_far_range():
    bank = make_bank(RATES, dim=64, noise_var=1e-3)
    result = design_rates(bank, (16, 64), "capacity", n_starts=3, seed=0)
    assert result["gain_ratio"] > 1.2


def test_parse_lag_range():
    assert parse_lag_range("2:8") == (2, 8)
    for bad in ("8:2", "2-8", "a:3", "-1:4"):
        with pytest.raises(ProbekitError):
            parse_lag_range(bad)
