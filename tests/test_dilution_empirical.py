"""Measured identity curves, the EMA history option (the differencing loophole) and the bound."""

import numpy as np
import pandas as pd
import pytest

import probekit  # noqa: F401  (registers the built-in components)
from probekit import registry
from probekit.corpus import Corpus, Sentence
from probekit.dilution.empirical import (
    COLUMNS,
    CURRENT_STATE,
    loophole_condition,
    measured_identity_curves,
    probe_ladder,
    random_stream_options,
)
from probekit.encoders.ema import ema_trace
from probekit.errors import ProbekitError

#: a small random stream: 16 types, 300 x 20 = 6,000 training tokens (375 per class).
SMALL = {"dim": 16, "vocab_size": 16, "n_train": 300, "n_test": 100, "n_boot": 200}


def corpus(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return Corpus([Sentence(tuple(f"w{i}" for i in rng.integers(0, 9, n)), tuple(range(2, n + 1)) + (0,),
                            ("dep",) * (n - 1) + ("root",)) for n in lengths])


@pytest.mark.parametrize("reset", [True, False])
def test_history_blocks_are_the_trace_shifted_back(reset):
    c = corpus([5, 1, 7, 3])
    encoder = registry.encoders.create("ema", rates=[0.5, 0.1], dim=6, history=3, reset=reset).fit(c)
    features = encoder.encode(c)
    assert encoder.n_blocks == 1 + 2 * 4 and features.X.shape[1] == 6 * encoder.n_blocks
    X = encoder.embed(c)
    starts = np.repeat(c.offsets[:-1], np.diff(c.offsets))
    rows = np.arange(c.n_tokens)
    for rate in (0.5, 0.1):
        trace = ema_trace(X, rate, c.offsets, reset)
        for lag in range(1, 4):
            expected = np.zeros_like(trace)
            source = rows - lag
            ok = (source >= starts) if reset else (source >= 0)
            expected[ok] = trace[source[ok]]
            lo, hi = features.blocks[f"ema_{rate:g}@t-{lag}"]
            assert np.array_equal(features.X[:, lo:hi], expected)
    assert list(features.blocks)[:3] == ["x", "ema_0.5", "ema_0.1"] and features.meta["history"] == 3


def test_history_zero_is_the_plain_encoder_and_negative_is_an_error():
    c = corpus([4, 6])
    plain = registry.encoders.create("ema", dim=5).fit(c).encode(c)
    zero = registry.encoders.create("ema", dim=5, history=0).fit(c).encode(c)
    assert np.array_equal(plain.X, zero.X) and plain.blocks == zero.blocks
    with pytest.raises(ProbekitError, match="history"):
        registry.encoders.create("ema", history=-1)


def test_loophole_one_rate_with_history_recovers_lag_two_linearly():
    """x_{t-2} = (h_{t-2} - (1-a) h_{t-3}) / a: linear in the history blocks, hidden in h_t."""
    common = dict(rates=[0.5], lags=[2], include_current=False, **SMALL)
    plain = measured_identity_curves(history=0, **common).iloc[0]
    loophole = measured_identity_curves(history=3, **common).iloc[0]
    assert plain.condition == CURRENT_STATE and loophole.condition == loophole_condition(3)
    assert loophole.accuracy > 0.95, loophole.accuracy
    assert loophole.accuracy_lo > plain.accuracy_hi + 0.3, (plain.accuracy, loophole.accuracy)
    assert loophole.v_information_bits > 0.8 * loophole.label_entropy_bits


def test_curves_have_one_row_per_lag_and_probe_and_report_progress():
    messages = []
    df = measured_identity_curves([0.5, 0.1], lags=[0, 1, 6], probes=("linear", "attention"),
                                  probe_options={"attention": {"epochs": 6}}, progress=messages.append, **SMALL)
    assert list(df.columns) == COLUMNS and len(df) == 6 and len(messages) == 6
    assert set(zip(df.lag, df.probe)) == {(k, p) for k in (0, 1, 6) for p in ("linear", "attention")}
    assert (df.condition == CURRENT_STATE).all()
    assert np.allclose(df.label_entropy_bits, np.log2(16), atol=0.05)   # uniform over 16 types
    assert (df.accuracy_lo <= df.accuracy).all() and (df.accuracy <= df.accuracy_hi).all()
    linear = df[df.probe == "linear"].set_index("lag")
    assert linear.loc[0, "accuracy"] > 0.99            # x_t is one of the blocks
    assert linear.loc[6, "v_information_bits"] < linear.loc[1, "v_information_bits"]


def test_ladder_on_any_encoder_and_the_loophole_as_its_own_condition():
    task = random_stream_options(12, 150, 50, seed=0)
    ema = probe_ladder("ema", {"rates": [0.5], "dim": 8, "reset": False, "include_current": False}, task,
                       lags=[1], probes=("linear", "attention"), loophole_history=2,
                       probe_options={"attention": {"epochs": 4}}, n_boot=100)
    assert list(ema.condition) == [CURRENT_STATE, CURRENT_STATE, loophole_condition(2)]
    assert list(ema.probe) == ["linear", "attention", "linear"]
    baseline = probe_ladder("type", {"dim": 8}, task, lags=[0, 3], probes=("linear", "attention"),
                            probe_options={"attention": {"epochs": 4}}, n_boot=100)
    assert len(baseline) == 4 and (baseline.condition == CURRENT_STATE).all()
    by = baseline.set_index(["probe", "lag"])
    assert by.loc[("linear", 0), "accuracy"] > 0.9 and by.loc[("linear", 3), "accuracy"] < 0.3


@pytest.mark.parametrize("call, message", [
    (lambda: probe_ladder("ema", lags=[]), "no lags"),
    (lambda: probe_ladder("ema", lags=[-1]), "0 or more"),
    (lambda: probe_ladder("ema", lags=[1], probes=("hebbian",)), "zero-label"),
    (lambda: probe_ladder("type", lags=[1], loophole_history=2), "no 'history' option"),
    (lambda: measured_identity_curves([0.5], dim=0, lags=[1]), "dim must be"),
])
def test_bad_requests_are_probekit_errors(call, message):
    with pytest.raises(ProbekitError, match=message):
        call()


def _bound(theory, rates, dim, lags, vocab_size) -> pd.DataFrame:
    """The closed-form Gaussian bound per lag (columns lag, bound_bits), whichever entry point
    the theory module offers: ``lag_table`` or ``dilution_table(make_bank(...))``."""
    if hasattr(theory, "lag_table"):
        table = theory.lag_table(rates, dim, lags, vocab_size=vocab_size, include_current=True,
                                 embedding="random")
    else:
        bank = theory.make_bank(rates, dim=dim, embedding="random", vocab_size=vocab_size, include_current=True)
        table = theory.dilution_table(bank, lags, mc_trials=0)
    return pd.DataFrame(table)[["lag", "bound_bits"]]


def test_too_few_tokens_per_type_warns_before_running():
    with pytest.warns(UserWarning, match="tokens per type"):
        with pytest.raises(ProbekitError, match="no lags"):   # warned first, then stopped cheaply
            measured_identity_curves([0.5], dim=8, lags=[], vocab_size=1000, n_train=100)


def test_measured_bits_do_not_exceed_the_gaussian_bound():
    """On a random stream no probe may beat the closed form beyond its CI (issue 6)."""
    theory = pytest.importorskip(
        "probekit.dilution.theory",
        reason="probekit.dilution.theory (the closed-form bound, built separately) is not in this tree yet")
    rates, lags = (0.5, 0.1, 0.02), [1, 2, 4, 8, 16]
    measured = measured_identity_curves(rates, lags=lags, **SMALL)
    both = measured.merge(_bound(theory, rates, SMALL["dim"], lags, SMALL["vocab_size"]), on="lag")
    assert len(both) == len(lags)
    over = both[both.v_information_bits_lo > both.bound_bits + 1e-9]
    assert over.empty, over[["lag", "v_information_bits", "v_information_bits_lo", "bound_bits"]]


def test_ladder_on_a_local_gpt2(tiny_gpt2):
    """Any encoder: the tiny random GPT-2 of conftest.py, read at layer 0 (token + position
    embeddings, no context), knows the current word and not the one two back."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)   # the tiny model needs no thread pool (as in tests/test_hf.py)
    try:
        df = probe_ladder("gpt2", {"model": str(tiny_gpt2), "layer": 0}, random_stream_options(12, 40, 20, seed=0),
                          lags=[0, 2], probes=("linear",), n_boot=100)
    finally:
        torch.set_num_threads(before)
    by = df.set_index("lag")
    assert by.loc[0, "accuracy"] > 0.9 and by.loc[2, "accuracy"] < 0.5
    assert (df.condition == CURRENT_STATE).all()
