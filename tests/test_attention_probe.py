"""The attention probe: it must find an answer that sits in a different component per row."""

import numpy as np
import pytest

import probekit  # noqa: F401  (registers the built-in components)
from probekit import registry
from probekit.errors import ProbekitError
from probekit.probes.attention import AttentionProbe

SMALL = {"epochs": 15, "batch_size": 256}


def pointer_data(n: int, seed: int, n_components: int = 4, width: int = 8, n_classes: int = 5):
    """Each row's label is the class pattern of ONE component, chosen per row and marked by a
    flag column; the other components hold patterns of random classes. Which component to read
    depends on the row, so a linear probe (a fixed weighting of components) cannot do it."""
    rng = np.random.default_rng(seed)
    patterns = np.random.default_rng(99).standard_normal((n_classes, width - 1))
    y = rng.integers(0, n_classes, n)
    distractors = rng.integers(0, n_classes, (n, n_components))
    chosen = rng.integers(0, n_components, n)
    distractors[np.arange(n), chosen] = y
    content = patterns[distractors] + 0.3 * rng.standard_normal((n, n_components, width - 1))
    flag = np.zeros((n, n_components, 1))
    flag[np.arange(n), chosen] = 3.0
    X = np.concatenate([content, flag], axis=2).reshape(n, n_components * width)
    return X.astype(np.float32), y


def test_reads_the_component_chosen_per_row_where_linear_cannot():
    X, y = pointer_data(2000, seed=0)
    X_test, y_test = pointer_data(1000, seed=1)
    attention = AttentionProbe(n_components=4, seed=0, **SMALL).fit(X, y, n_classes=5)
    linear = registry.probes.create("linear").fit(X, y, n_classes=5)
    acc_attention = np.mean(attention.predict(X_test) == y_test)
    acc_linear = np.mean(linear.predict(X_test) == y_test)
    assert acc_attention > 0.9, acc_attention                  # chance is 0.2
    assert acc_attention > acc_linear + 0.2, (acc_attention, acc_linear)
    # and it learned to look where the flag is: the head weight on the flagged component
    weights = attention.attention_weights(X_test)
    chosen = X_test.reshape(len(X_test), 4, 8)[:, :, -1].argmax(1)
    on_flag = weights[np.arange(len(X_test)), :, chosen].max(axis=1)
    assert np.mean(on_flag) > 0.5


def test_shapes_and_probabilities_cover_unseen_classes():
    X, y = pointer_data(400, seed=2, n_classes=3)
    probe = AttentionProbe(n_components=4, epochs=2).fit(X, y, n_classes=7)
    proba = probe.predict_proba(X[:50])
    assert proba.shape == (50, 7)
    assert np.allclose(proba.sum(1), 1.0) and (proba > 0).all()
    assert probe.predict(X[:50]).dtype == np.int64
    assert probe.attention_weights(X[:50]).shape == (50, 4, 4)
    assert np.allclose(probe.attention_weights(X[:50]).sum(-1), 1.0, atol=1e-5)


def test_same_seed_same_numbers_other_seed_other_numbers():
    X, y = pointer_data(500, seed=3)
    a = AttentionProbe(seed=5, epochs=3).fit(X, y).predict_proba(X[:20])
    b = AttentionProbe(seed=5, epochs=3).fit(X, y).predict_proba(X[:20])
    c = AttentionProbe(seed=6, epochs=3).fit(X, y).predict_proba(X[:20])
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_registered_and_options_are_checked():
    probe = registry.probes.create("attention", n_components="7", heads="2")
    assert isinstance(probe, AttentionProbe) and probe.n_components == 7 and probe.heads == 2
    with pytest.raises(ProbekitError, match="n_components"):
        registry.probes.create("attention", n_components=0)
    with pytest.raises(ProbekitError, match="validation_fraction"):
        registry.probes.create("attention", validation_fraction=0.9)


def test_columns_that_do_not_split_into_components_name_the_fix():
    X, y = pointer_data(50, seed=4)   # 32 columns
    with pytest.raises(ProbekitError, match=r"do not split into n_components=5.*-P n_components"):
        AttentionProbe(n_components=5).fit(X, y)
    with pytest.raises(ProbekitError, match="not fitted"):
        AttentionProbe().predict(X)


def test_runs_on_default_ema_features_through_the_experiment():
    from probekit.experiment import RunConfig, run

    config = RunConfig(encoder="ema", task="identity", probe="attention", n_boot=50,
                       encoder_options={"reset": False, "dim": 16},
                       task_options={"lag": 1, "n_train": 100, "n_test": 30, "random_types": 12, "vocab_size": 12},
                       probe_options={"n_components": 4, "epochs": 5})
    record = run(config)
    assert record["config"]["probe"] == "attention"
    assert record["metrics"]["accuracy"]["value"] > 1.5 / 13   # lag 1 sits in the 0.5 trace
    assert np.isfinite(record["metrics"]["v_information_bits"]["value"])
