"""The registered context-predictive readout (``-p predictive``, issue 15) and the word-sequence
hook it needs: no labels reach fit, the mapping is blind to test labels, the next word reveals a
split that plain k-means misses, unseen word types get a cluster, and the seed fixes everything."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sklearn.cluster import KMeans

from probekit import contracts, registry
from probekit.contracts import WordSequence
from probekit.corpus import Corpus
from probekit.experiment import RunConfig, run
from probekit.probes.hebbian import HebbianProbe
from probekit.probes.predictive import PredictiveProbe, conditional_bits, next_word_ids
from probekit.probes.readout import ClusterReadout
from probekit.tasks.base import Task
from probekit.tasks.identity import _chain_sentence

SMALL_ROLES = {"n_train": 60, "n_test": 20}


def _config(probe: str, **probe_options) -> RunConfig:
    return RunConfig(encoder="ema", task="roles", probe=probe, n_boot=10, task_options=SMALL_ROLES,
                     encoder_options={"dim": 16}, probe_options=probe_options)


# -- a synthetic case: nouns whose role only the next word reveals ---------------------------------

N_NOUN_TYPES = 10
VERB, PREP = N_NOUN_TYPES, N_NOUN_TYPES + 1


def _synthetic(n: int = 1200, seed: int = 0):
    """Two-word sentences "noun next": the next word is a verb or a preposition by the noun's hidden
    role (drawn per token, so it cuts across the noun types). The noun's trace carries the role in a
    quiet direction and a loud role-free two-cluster direction; verbs and prepositions sit far away."""
    rng = np.random.default_rng(seed)
    role = rng.integers(0, 2, n)
    nouns = np.column_stack([
        np.full(n, 3.0),                                     # "noun-ness"
        rng.choice([-5.0, 5.0], n) + rng.normal(0, 0.3, n),  # loud, role-free
        rng.normal(0, 1.0, (n, 3)),                          # noise
        0.6 * (2 * role - 1) + rng.normal(0, 0.15, n),       # quiet, carries the role
        np.zeros(n),
    ])
    following = np.column_stack([np.full(n, -3.0), np.zeros((n, 4)), rng.normal(0, 0.3, (n, 1)),
                                 np.where(role == 1, 10.0, -10.0)[:, None] + rng.normal(0, 0.3, (n, 1))])
    X = np.stack([nouns, following], 1).reshape(2 * n, -1).astype(np.float32)
    words = np.column_stack([rng.integers(0, N_NOUN_TYPES, n), np.where(role == 1, VERB, PREP)]).ravel()
    sequence = WordSequence(np.arange(0, 2 * n + 1, 2), words, N_NOUN_TYPES + 2)
    return X, sequence, role


def _many_to_one_on(clusters: np.ndarray, truth: np.ndarray) -> float:
    return ClusterReadout().fit(clusters, truth, 2).accuracy(clusters, truth, "many_to_one")


def test_the_next_word_reveals_a_split_that_plain_kmeans_misses():
    X, sequence, role = _synthetic()
    nouns = np.arange(0, len(X), 2)
    probe = PredictiveProbe(word_classes=2, clusters=(3,)).fit(X, sequence=sequence)
    predictive = probe.predict_clusters(X, sequence=sequence)
    plain = KMeans(3, n_init=10, random_state=0).fit_predict(X)
    hebbian = HebbianProbe(clusters=(3,)).fit(X).predict_clusters(X)
    assert _many_to_one_on(predictive[nouns], role) > 0.95
    assert _many_to_one_on(plain[nouns], role) < 0.6
    assert _many_to_one_on(hebbian[nouns], role) < 0.6
    # the spare cluster went to the nouns; verbs and prepositions (whose next word is always the
    # end: nothing left to explain) stay one cluster
    assert len(set(predictive[nouns])) == 2 and len(set(predictive[nouns + 1])) == 1


def test_unseen_word_types_take_the_nearest_class_and_its_split():
    X, sequence, role = _synthetic()
    probe = PredictiveProbe(word_classes=2, clusters=(3,)).fit(X, sequence=sequence)
    X_new, seq_new, role_new = _synthetic(400, seed=1)
    unseen = seq_new.word_ids.copy()
    unseen[::2] = -1                                     # every noun of the new text is an unseen type
    unseen[1::4] = 99                                    # an id beyond the training vocabulary: also unseen
    clusters = probe.predict_clusters(X_new, sequence=WordSequence(seq_new.offsets, unseen, seq_new.n_types))
    known = probe.predict_clusters(X_new, sequence=seq_new)
    assert clusters.dtype == np.int64 and clusters.min() >= 0 and clusters.max() < 3
    # rule: nearest class mean trace, then the class's own split by the trace alone -> same clusters
    assert (clusters == known).mean() > 0.99
    assert _many_to_one_on(clusters[::2], role_new) > 0.95


def test_the_seed_fixes_every_clustering():
    X, sequence, _ = _synthetic(600)
    first = PredictiveProbe(word_classes=2, clusters=(3, 5), seed=3).fit(X, sequence=sequence)
    again = PredictiveProbe(word_classes=2, clusters=(3, 5), seed=3).fit(X, sequence=sequence)
    a, b = first.predict_curve(X, sequence=sequence), again.predict_curve(X, sequence=sequence)
    assert a.keys() == b.keys() == {3, 5}
    for k in a:
        assert np.array_equal(a[k], b[k])


def test_next_words_stay_inside_sentences_and_bits_count_what_clusters_leave():
    sequence = WordSequence(np.array([0, 3, 3, 5]), np.array([0, 1, 2, 3, 4]), 5)
    assert next_word_ids(sequence, 5).tolist() == [1, 2, 5, 4, 5]      # 5: the boundary symbol
    following = np.array([1, 1, 2, 2])
    assert np.isclose(conditional_bits(np.zeros(4, dtype=np.int64), following), 4.0)
    assert np.isclose(conditional_bits(np.array([0, 0, 1, 1]), following), 0.0)
    assert np.isclose(conditional_bits(np.array([0, 1, 0, 1]), following), 4.0)


def test_word_sequences_take_ids_from_training_and_mark_unseen_types():
    train = Corpus([_chain_sentence(["a", "b", "a"]), _chain_sentence(["c"])])
    test = Corpus([_chain_sentence(["a", "z"])])
    seq_train, seq_test = contracts.word_sequences(train, test)
    assert seq_train.n_types == seq_test.n_types == 3
    assert seq_train.offsets.tolist() == [0, 3, 4]
    assert seq_train.word_ids.tolist() == [0, 1, 0, 2]                  # most frequent first
    assert seq_test.word_ids.tolist() == [0, -1]


def test_a_probe_without_the_sequence_is_refused_with_the_fix():
    X, sequence, _ = _synthetic(200)
    with pytest.raises(Exception, match="sequence"):
        PredictiveProbe(word_classes=2, clusters=(3,)).fit(X)
    with pytest.raises(Exception, match="at least word_classes"):
        registry.probes.create("predictive", word_classes=5, clusters=(3,))


# -- through a run: what fit gets, and the mapping's blindness to test labels ----------------------


def test_fit_gets_every_training_row_and_the_sequence_never_labels(monkeypatch):
    seen = []
    original = PredictiveProbe.fit

    def spy(self, X, y=None, **kwargs):
        assert y is None and set(kwargs) == {"sequence"}, "labels (or anything but the sequence) reached fit"
        seen.append((X.shape[0], kwargs["sequence"]))
        return original(self, X, **kwargs)

    monkeypatch.setattr(PredictiveProbe, "fit", spy)
    record = run(_config("predictive"))
    (n_rows, sequence), = seen
    assert n_rows == record["data"]["train_words"] == len(sequence.word_ids) == sequence.offsets[-1]
    assert 0 <= record["metrics"]["accuracy"]["value"] <= 1 and record["metrics"]["n_clusters"] == 8

    plain, hebbian_fit = [], HebbianProbe.fit

    def plain_spy(self, X, y=None, **kwargs):
        plain.append(kwargs)
        return hebbian_fit(self, X, y, **kwargs)

    monkeypatch.setattr(HebbianProbe, "fit", plain_spy)
    run(_config("hebbian"))
    assert plain == [{}]                               # a probe that does not declare uses_sequence gets none


class _PermutedTestRoles(Task):
    """``roles`` with the test labels shuffled (a fixed permutation); training untouched."""

    def __init__(self, n_train: int = 60, n_test: int = 20):
        self.n_train, self.n_test = n_train, n_test
        self.inner = registry.tasks.create("roles", n_train=n_train, n_test=n_test)

    def load(self):
        data = self.inner.load()
        self.test_words_ = data.test.words()
        return data

    def targets(self, corpus):
        targets = self.inner.targets(corpus)
        if corpus.words() == getattr(self, "test_words_", None):
            return replace(targets, labels=np.random.default_rng(7).permutation(targets.labels))
        return targets


def test_permuting_the_test_labels_leaves_the_mapping_unchanged(monkeypatch):
    mappings = []
    original = ClusterReadout.fit

    def keep(self, *args, **kwargs):
        fitted = original(self, *args, **kwargs)
        mappings.append((fitted.one_to_one_.copy(), fitted.many_to_one_.copy()))
        return fitted

    monkeypatch.setattr(ClusterReadout, "fit", keep)
    plain = run(_config("predictive"))
    registry.tasks.add("roles-permuted-test", _PermutedTestRoles, "test only")
    try:
        permuted = run(replace(_config("predictive"), task="roles-permuted-test"))
    finally:
        registry.tasks.remove("roles-permuted-test")
    first, second = mappings[:len(mappings) // 2], mappings[len(mappings) // 2:]
    assert len(first) == len(second) >= 1
    for (a1, a2), (b1, b2) in zip(first, second):
        assert np.array_equal(a1, b1) and np.array_equal(a2, b2)
    assert plain["metrics"]["accuracy"]["value"] != permuted["metrics"]["accuracy"]["value"]
