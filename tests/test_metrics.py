import numpy as np
import pytest

from probekit.metrics import classification_metrics, cross_entropy_bits, majority_baseline

NAMES = ("A", "B", "C")


def test_point_estimates_match_direct_computation():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 500)
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.integers(0, 3, 500))
    sentences = np.repeat(np.arange(50), 10)
    m = classification_metrics(y_true, y_pred, sentences, NAMES, n_boot=200)
    assert m["accuracy"]["value"] == pytest.approx(np.mean(y_true == y_pred))
    from sklearn.metrics import f1_score, recall_score

    assert m["macro_f1"]["value"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert m["macro_recall"]["value"] == pytest.approx(recall_score(y_true, y_pred, average="macro"))
    for k, name in enumerate(NAMES):
        assert m["per_class"][name]["value"] == pytest.approx(np.mean(y_pred[y_true == k] == k))
    assert m["accuracy"]["ci_low"] < m["accuracy"]["value"] < m["accuracy"]["ci_high"]


def test_ci_is_over_sentences_and_narrows_with_more_data():
    rng = np.random.default_rng(1)

    def width(n_sentences):
        y = rng.integers(0, 3, n_sentences * 10)
        pred = np.where(rng.random(y.size) < 0.6, y, (y + 1) % 3)
        m = classification_metrics(y, pred, np.repeat(np.arange(n_sentences), 10), NAMES, n_boot=500)
        return m["accuracy"]["ci_high"] - m["accuracy"]["ci_low"]

    assert width(400) < width(25)


def test_subset_macro_average_does_not_reward_majority_guessing():
    # A subset that is 90% class A: always predicting A gets 0.9 accuracy but 1/2 macro recall.
    y = np.array([0] * 90 + [1] * 10)
    pred = np.zeros(100, dtype=int)
    m = classification_metrics(y, pred, np.arange(100), NAMES, subsets={"s": np.ones(100, bool)}, n_boot=100)
    assert m["subsets"]["s"]["accuracy"]["value"] == pytest.approx(0.9)
    assert m["subsets"]["s"]["macro_recall"]["value"] == pytest.approx(0.5)


def test_unmapped_predictions_count_as_wrong_and_ignored_labels_are_dropped():
    y = np.array([0, 1, 2, -1])
    pred = np.array([0, -1, 2, 1])
    m = classification_metrics(y, pred, np.array([0, 0, 1, 1]), NAMES, n_boot=100)
    assert m["n"] == 3
    assert m["accuracy"]["value"] == pytest.approx(2 / 3)


def test_majority_and_cross_entropy():
    assert list(majority_baseline(np.array([2, 2, 1, -1, -1, -1]), np.zeros(3, int))) == [2, 2, 2]
    proba = np.array([[0.5, 0.5], [0.25, 0.75]])
    assert cross_entropy_bits(proba, np.array([0, 1])) == pytest.approx((1 + np.log2(4 / 3)) / 2)


def _probe_information(X_train, y_train, X_test, y_test, sentences, C=1.0):
    import probekit  # noqa: F401  (registers the probes)
    from probekit import registry
    from probekit.metrics import information_metrics

    probe = registry.probes.create("linear", C=C).fit(X_train, y_train, n_classes=5)
    return information_metrics(probe.predict_proba(X_test), y_test, y_train, sentences, n_boot=300)


def test_v_information_of_one_hot_targets_is_the_label_entropy():
    from probekit.metrics import label_entropy_bits

    rng = np.random.default_rng(0)
    p = np.array([0.4, 0.3, 0.15, 0.1, 0.05])
    y_train, y_test = rng.choice(5, 4000, p=p), rng.choice(5, 2000, p=p)
    one_hot = np.eye(5, dtype=np.float32)
    info = _probe_information(one_hot[y_train], y_train, one_hot[y_test], y_test, np.arange(2000) // 10, C=100.0)
    entropy = label_entropy_bits(y_train, 5)
    assert info["train_label_entropy_bits"] == pytest.approx(entropy)
    assert info["label_entropy_bits"]["value"] == pytest.approx(entropy, abs=0.05)  # held-out, train prior
    assert entropy > 1.9 and info["v_information_bits"]["value"] == pytest.approx(entropy, abs=0.06)
    assert info["cross_entropy_bits"]["value"] < 0.02


def test_v_information_of_noise_is_zero_within_its_ci():
    rng = np.random.default_rng(1)
    p = np.array([0.4, 0.3, 0.15, 0.1, 0.05])
    y_train, y_test = rng.choice(5, 4000, p=p), rng.choice(5, 3000, p=p)
    noise_train, noise_test = rng.normal(size=(4000, 16)), rng.normal(size=(3000, 16))
    info = _probe_information(noise_train, y_train, noise_test, y_test, np.arange(3000) // 10)
    v = info["v_information_bits"]
    # Fitting 16 noise weights per class costs a little held-out loss, so V on pure noise sits a
    # few thousandths of a bit below zero; the paired bootstrap CI is that tight too.
    assert v["ci_low"] - 0.005 <= 0.0 <= v["ci_high"] + 0.005 and abs(v["value"]) < 0.01
    assert v["ci_high"] - v["ci_low"] < 0.02


def test_bootstrap_counts_resample_every_sentence_with_replacement():
    from probekit.metrics import _bootstrap_weights

    w = _bootstrap_weights(300, 2000, 0)
    assert w.shape == (2000, 300) and not w.flags.writeable
    assert np.all(w.sum(1) == 300) and np.all(w >= 0) and np.all(w == np.round(w))
    # each sentence's count is Binomial(n, 1/n): mean 1, variance 1 - 1/n, P(0) = (1 - 1/n)^n ~ e^-1
    assert abs(w.mean() - 1.0) < 1e-12
    assert abs(w.var() - (1 - 1 / 300)) < 0.02
    assert abs((w == 0).mean() - (1 - 1 / 300) ** 300) < 0.01
    assert np.array_equal(w, _bootstrap_weights(300, 2000, 0)) and not np.array_equal(w, _bootstrap_weights(300, 2000, 1))
    assert _bootstrap_weights(0, 5, 0).shape == (5, 0)
