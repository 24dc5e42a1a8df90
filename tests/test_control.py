"""Control tasks (Hewitt and Liang, 2019): random per-type labels and selectivity."""

import numpy as np
import pytest

import probekit  # noqa: F401  (registers the built-in probes)
from probekit.control import control_labels, control_metrics, selectivity
from probekit.errors import ProbekitError
from probekit.registry import probes


def _corpus(n_types=3000, n_tokens=60000, seed=0, p=(0.5, 0.3, 0.15, 0.05)):
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(n_types)])
    words = vocab[rng.integers(0, n_types, n_tokens)]
    labels = rng.choice(len(p), size=n_tokens, p=p)
    return list(words), labels


def test_control_labels_follow_the_training_label_distribution():
    p = np.array([0.5, 0.3, 0.15, 0.05])
    words, labels = _corpus(p=p)
    train_c, _ = control_labels(words, [], labels, seed=1)
    # One draw per type: the type-level label frequencies follow p (3000 draws; 4 sd tolerance).
    _, first = np.unique(np.asarray(words), return_index=True)
    freq = np.bincount(train_c[first], minlength=4) / first.size
    sd = np.sqrt(p * (1 - p) / first.size)
    assert np.all(np.abs(freq - p) < 4 * sd), (freq, p)
    # Chi-square at the type level stays below the 0.999 quantile for 3 degrees of freedom.
    counts = np.bincount(train_c[first], minlength=4)
    chi2 = float(((counts - p * first.size) ** 2 / (p * first.size)).sum())
    assert chi2 < 16.27


def test_control_labels_skewed_distribution_is_not_uniform():
    words, labels = _corpus(p=(0.9, 0.1))
    train_c, _ = control_labels(words, [], labels, seed=0)
    assert np.mean(train_c == 0) > 0.85


def test_control_labels_are_constant_per_type_in_train_and_test():
    words, labels = _corpus(n_types=200, n_tokens=5000)
    test_words = words[:1000][::-1] + ["unseen_a", "unseen_b", "unseen_a"]
    train_c, test_c = control_labels(words, test_words, labels, seed=3)
    mapping = {}
    for w, c in zip(words + test_words, np.concatenate([train_c, test_c])):
        assert mapping.setdefault(w, c) == c, w
    assert len(mapping) == 202


def test_unseen_test_types_get_labels_from_the_distribution():
    words, labels = _corpus(n_types=50, n_tokens=2000, p=(0.0, 1.0))
    unseen = [f"new{i}" for i in range(100)]
    _, test_c = control_labels(words, unseen, labels, seed=0)
    assert test_c.shape == (100,)
    assert np.all(test_c == 1)  # the only label of the training distribution


def test_control_labels_deterministic_per_seed_and_differ_across_seeds():
    words, labels = _corpus(n_types=500, n_tokens=5000)
    test = words[:300] + [f"new{i}" for i in range(50)]
    a = control_labels(words, test, labels, seed=7)
    b = control_labels(words, test, labels, seed=7)
    c = control_labels(words, test, labels, seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_control_labels_do_not_depend_on_corpus_order_or_test_set():
    words, labels = _corpus(n_types=300, n_tokens=3000)
    perm = np.random.default_rng(0).permutation(len(words))
    a, _ = control_labels(words, [], labels, seed=2)
    b, _ = control_labels([words[i] for i in perm], [], labels[perm], seed=2)
    assert {w: c for w, c in zip(words, a)} == {words[i]: c for i, c in zip(perm, b)}
    c, _ = control_labels(words, ["zzz_unseen", "aaa_unseen"], labels, seed=2)
    assert np.array_equal(a, c)


def test_left_out_words_stay_left_out():
    words, labels = _corpus(n_types=100, n_tokens=2000)
    labels = labels.copy()
    labels[::7] = -1
    test_labels = np.zeros(len(words[:500]), dtype=np.int64)
    test_labels[::3] = -1
    train_c, test_c = control_labels(words, words[:500], labels, seed=0, test_labels=test_labels)
    assert np.array_equal(train_c < 0, labels < 0)
    assert np.array_equal(test_c < 0, test_labels < 0)


def test_lowercase_folds_types():
    words = ["The", "the", "THE", "cat"] * 50
    labels = np.arange(len(words)) % 3
    train_c, _ = control_labels(words, [], labels, seed=0, lowercase=True)
    assert len(set(train_c[[0, 1, 2]])) == 1


def test_bad_inputs_raise():
    with pytest.raises(ProbekitError, match="every training label is -1"):
        control_labels(["a", "b"], [], np.array([-1, -1]), seed=0)
    with pytest.raises(ProbekitError, match="train_labels has shape"):
        control_labels(["a", "b"], [], np.array([0]), seed=0)


def test_selectivity_is_task_minus_control():
    assert selectivity(0.9, 0.6) == pytest.approx(0.3)
    assert selectivity(0.5, 0.7) == pytest.approx(-0.2)


def test_control_metrics_word_identity_features_solve_the_control_task():
    # Features = one-hot of the word type: the control task is pure memorisation and solvable;
    # with noise features it is not (accuracy near the majority rate).
    rng = np.random.default_rng(0)
    n_types, n = 20, 3000
    ids = rng.integers(0, n_types, n)
    words = [f"w{i}" for i in ids]
    y = rng.integers(0, 4, n)
    X_id = np.eye(n_types, dtype=np.float32)[ids] + 0.01 * rng.standard_normal((n, n_types)).astype(np.float32)
    X_noise = rng.standard_normal((n, n_types)).astype(np.float32)
    sent = np.arange(1000) // 10
    factory = lambda: probes.create("linear")  # noqa: E731
    good = control_metrics(factory, X_id[:2000], X_id[2000:], words[:2000], words[2000:], y[:2000], y[2000:],
                           seed=0, sentence_ids=sent, task_accuracy=0.99, n_boot=200)
    bad = control_metrics(factory, X_noise[:2000], X_noise[2000:], words[:2000], words[2000:], y[:2000], y[2000:],
                          seed=0)
    assert good["accuracy"]["value"] > 0.98
    assert good["accuracy"]["ci_low"] <= good["accuracy"]["value"] <= good["accuracy"]["ci_high"]
    assert good["selectivity"] == pytest.approx(0.99 - good["accuracy"]["value"])
    assert bad["accuracy"]["value"] < 0.8
    assert bad["accuracy"]["ci_low"] is None


def test_selectivity_gets_a_paired_sentence_interval():
    """Selectivity's interval resamples sentences once for both probes (paired): identical
    correctness gives exactly 0, and a task probe that beats the control probe on every sentence
    gives an interval above 0 that holds the point value."""
    from probekit.metrics import accuracy_difference, classification_metrics

    rng = np.random.default_rng(1)
    sentences = np.repeat(np.arange(100), 8)
    correct = rng.random(800) < 0.7
    same = accuracy_difference(correct, correct, sentences, n_boot=200, seed=0)
    assert (same["value"], same["ci_low"], same["ci_high"]) == (0.0, 0.0, 0.0)
    better = correct | (rng.random(800) < 0.5)
    diff = accuracy_difference(better, correct, sentences, n_boot=200, seed=0)
    assert 0 < diff["ci_low"] < diff["value"] < diff["ci_high"]
    # narrower than the unpaired sum of the two accuracies' half-widths (the pairing counts their co-variation)
    names = ("0", "1")
    a = classification_metrics(better.astype(np.int64), np.ones(800, np.int64), sentences, names, n_boot=200)
    b = classification_metrics(correct.astype(np.int64), np.ones(800, np.int64), sentences, names, n_boot=200)
    unpaired = sum(m["accuracy"]["ci_high"] - m["accuracy"]["ci_low"] for m in (a, b))
    assert diff["ci_high"] - diff["ci_low"] < unpaired

    n_types, n = 20, 1200
    ids = rng.integers(0, n_types, n)
    words = [f"w{i}" for i in ids]
    y = ids % 4
    X = rng.standard_normal((n, 8)).astype(np.float32)     # the control probe cannot memorise words
    result = control_metrics(lambda: probes.create("linear"), X[:800], X[800:], words[:800], words[800:], y[:800],
                             y[800:], seed=0, sentence_ids=np.arange(400) // 8, task_accuracy=1.0, n_boot=200,
                             task_predictions=y[800:])
    assert result["selectivity_ci_low"] <= result["selectivity"] <= result["selectivity_ci_high"]
    assert result["selectivity_ci_high"] > result["selectivity_ci_low"]
