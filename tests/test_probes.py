"""Tests of the probes (linear, MLP, Hebbian zero-label readout) and the cluster readout."""

from __future__ import annotations

import inspect
import itertools

import numpy as np
import pytest
import torch
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from probekit.errors import ProbekitError
from probekit.probes import ClusterReadout, HebbianProbe, LinearProbe, MLPProbe, Probe
from probekit.registry import probes


@pytest.fixture(autouse=True)
def one_thread():
    """Single-threaded BLAS/OpenMP/torch: tiny fits are fastest so, and immune to a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)


# -- synthetic data -------------------------------------------------------------------------
def linear_labelling(n=2000, d=10, k=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    W = np.random.default_rng(99).normal(size=(d, k))
    return X, np.argmax(X @ W, axis=1).astype(np.int64)


def xor_labelling(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 4)).astype(np.float32)  # columns 2, 3 are noise
    return X, (X[:, 0] * X[:, 1] > 0).astype(np.int64)


def two_roles(n=2000, seed=0, p_class0=0.8, d_id=16, d_ctx=16, role=0.7, id_rank=2,
              id_scale=1.5, cls=3.0):
    """Two word classes x two roles; labels 2 * class + role.

    Identity block: a class centre far from the other class, plus within-class (word identity)
    variation along ``id_rank`` high-variance directions. Context block: a role offset that is
    the same for both classes, plus unit noise. Class 0 is frequent (``p_class0``).
    """
    geometry = np.random.default_rng(1000)
    centres = np.stack([np.full(d_id, cls), np.full(d_id, -cls)]) * geometry.choice([-1, 1], d_id)
    A = geometry.normal(size=(id_rank, d_id)) * id_scale
    rng = np.random.default_rng(seed)
    c = (rng.random(n) >= p_class0).astype(int)
    r = rng.integers(0, 2, n)
    ident = centres[c] + rng.normal(size=(n, id_rank)) @ A + 0.1 * rng.normal(size=(n, d_id))
    ctx = np.outer(2 * r - 1, np.full(d_ctx, role)) + rng.normal(size=(n, d_ctx))
    return np.hstack([ident, ctx]).astype(np.float32), (2 * c + r).astype(np.int64)


def readout_accuracy(probe, X, y, Xt, yt, n_labels, mode="one_to_one"):
    probe.fit(X)
    readout = ClusterReadout().fit(probe.predict_clusters(X), y, n_labels, probe.n_clusters_)
    return readout.accuracy(probe.predict_clusters(Xt), yt, mode)


FAST_MLP = dict(hidden=32, epochs=60, lr=1e-2, batch_size=128)


# -- registry and estimator contract -------------------------------------------------------
def test_probes_are_registered_with_descriptions():
    for name, cls in [("linear", LinearProbe), ("mlp", MLPProbe), ("hebbian", HebbianProbe)]:
        entry = probes.get(name)
        assert entry.factory is cls
        assert entry.description and "\n" not in entry.description
    assert Probe.unsupervised is False
    assert LinearProbe.unsupervised is False and MLPProbe.unsupervised is False
    assert HebbianProbe.unsupervised is True


def test_registry_coerces_options_and_clone_keeps_them():
    p = probes.create("hebbian", n_subclusters="2", whiten="false", seed="3")
    assert (p.n_subclusters, p.whiten, p.seed) == (2, False, 3)
    q = clone(probes.create("mlp", hidden="16", lr="0.01"))
    assert q.get_params()["hidden"] == 16 and q.get_params()["lr"] == 0.01


@pytest.mark.parametrize(
    "name, options, option",
    [
        ("linear", {"C": 0}, "C"),
        ("linear", {"max_iter": 0}, "max_iter"),
        ("linear", {"seed": -1}, "seed"),
        ("mlp", {"hidden": 0}, "hidden"),
        ("mlp", {"lr": -0.1}, "lr"),
        ("mlp", {"validation_fraction": 0.9}, "validation_fraction"),
        ("mlp", {"weight_decay": -1.0}, "weight_decay"),
        ("hebbian", {"n_classes_level1": 0}, "n_classes_level1"),
        ("hebbian", {"n_subclusters": 0}, "n_subclusters"),
        ("hebbian", {"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_options_raise_probekit_error_naming_option_and_range(name, options, option):
    with pytest.raises(ProbekitError) as info:
        probes.create(name, **options)
    message = str(info.value)
    assert repr(option) in message
    assert "must be" in message


def test_unknown_or_untypable_options_raise_probekit_error():
    with pytest.raises(ProbekitError, match="hidden"):
        probes.create("mlp", hiden=3)
    with pytest.raises(ProbekitError, match="integer"):
        probes.create("hebbian", n_subclusters="three")


def test_bad_inputs_raise_probekit_error():
    X, y = linear_labelling(n=200)
    with pytest.raises(ProbekitError, match="n_classes"):
        LinearProbe().fit(X, y, n_classes=2)
    with pytest.raises(ProbekitError, match="one label per"):
        LinearProbe().fit(X, y[:-1])
    with pytest.raises(ProbekitError, match="not fitted"):
        MLPProbe().predict(X)
    probe = LinearProbe().fit(X, y)
    with pytest.raises(ProbekitError, match="fitted on 10 features"):
        probe.predict(X[:, :5])
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ProbekitError, match="NaN"):
        LinearProbe().fit(bad, y)


# -- supervised probes -----------------------------------------------------------------------
def test_linear_recovers_a_linear_labelling():
    X, y = linear_labelling(seed=0)
    Xt, yt = linear_labelling(seed=1)
    probe = LinearProbe(C=10.0).fit(X, y)
    assert np.mean(probe.predict(Xt) == yt) > 0.95
    assert probe.converged_


def test_mlp_recovers_xor_and_beats_linear():
    X, y = xor_labelling(seed=0)
    Xt, yt = xor_labelling(seed=1)
    linear = np.mean(LinearProbe().fit(X, y).predict(Xt) == yt)
    mlp = np.mean(MLPProbe(**FAST_MLP).fit(X, y).predict(Xt) == yt)
    assert linear < 0.65  # XOR is not linearly separable
    assert mlp > 0.9
    assert mlp > linear + 0.25


@pytest.mark.parametrize("make", [lambda: LinearProbe(), lambda: MLPProbe(**FAST_MLP)])
def test_predict_proba_has_all_classes_even_when_one_is_absent(make):
    X, y = linear_labelling(n=1000, k=4)
    keep = y != 2  # class 2 never seen in training
    probe = make().fit(X[keep], y[keep], n_classes=5)  # class 4 exists in no row at all
    Xt, _ = linear_labelling(n=300, k=4, seed=1)
    P = probe.predict_proba(Xt)
    assert P.shape == (300, 5)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-9)
    assert np.all(P > 0)  # cross-entropy stays finite for any test label
    assert np.all(P[:, [2, 4]] < 0.05)
    assert set(np.unique(probe.predict(Xt))) <= {0, 1, 3}
    assert list(probe.classes_) == [0, 1, 2, 3, 4]


def test_predict_proba_without_n_classes_uses_the_largest_label():
    X, y = linear_labelling(n=500, k=3)
    P = LinearProbe().fit(X, y).predict_proba(X)
    assert P.shape == (500, 3)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-9)


def test_linear_fit_is_deterministic():
    X, y = linear_labelling(n=800)
    a = LinearProbe(seed=1).fit(X, y).predict_proba(X)
    b = LinearProbe(seed=1).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_mlp_is_deterministic_per_seed_and_seed_matters():
    X, y = xor_labelling(n=600)
    options = dict(FAST_MLP, epochs=5)
    a = MLPProbe(seed=3, **options).fit(X, y).predict_proba(X)
    b = MLPProbe(seed=3, **options).fit(X, y).predict_proba(X)
    c = MLPProbe(seed=4, **options).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # the probe keeps torch's global random state untouched
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    MLPProbe(seed=5, **options).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), expected)


def test_mlp_early_stopping_uses_a_held_out_training_slice():
    X, y = xor_labelling(n=600)
    probe = MLPProbe(**dict(FAST_MLP, epochs=200, patience=2)).fit(X, y)
    assert 1 <= probe.best_epoch_ <= probe.n_epochs_ < 200  # stopped early
    assert len(probe.val_loss_history_) == probe.n_epochs_
    no_holdout = MLPProbe(**dict(FAST_MLP, epochs=3, validation_fraction=0.0)).fit(X, y)
    assert no_holdout.n_epochs_ == 3 and no_holdout.val_loss_history_ == []


# -- hebbian probe ---------------------------------------------------------------------------
def test_hebbian_fit_with_labels_raises():
    X, y = two_roles(n=300)
    with pytest.raises(ValueError, match="unsupervised: fit\\(X\\) takes no labels"):
        HebbianProbe().fit(X, y)


def test_hebbian_fit_has_no_path_to_labels():
    params = list(inspect.signature(HebbianProbe.fit).parameters.values())
    assert [p.name for p in params] == ["self", "X", "y"]
    assert params[2].default is None
    # same X, two fits (labels exist for X but cannot be passed): identical clusters
    X, _ = two_roles(n=1000)
    a = HebbianProbe(two_level=True, n_classes_level1=2, n_subclusters=2, seed=7).fit(X).predict_clusters(X)
    b = HebbianProbe(two_level=True, n_classes_level1=2, n_subclusters=2, seed=7).fit(X, None).predict_clusters(X)
    np.testing.assert_array_equal(a, b)


def test_hebbian_has_no_predict_proba():
    X, _ = two_roles(n=300)
    with pytest.raises(NotImplementedError, match="cross-entropy"):
        HebbianProbe(two_level=True, n_classes_level1=2, n_subclusters=2).fit(X).predict_proba(X)


def test_hebbian_cluster_ids_are_level1_times_subclusters():
    X, _ = two_roles(n=1500)
    probe = HebbianProbe(two_level=True, n_classes_level1=3, n_subclusters=2).fit(X)
    ids = probe.predict_clusters(X)
    assert probe.n_clusters_ == 6 and ids.dtype == np.int64
    assert ids.min() >= 0 and ids.max() < 6
    np.testing.assert_array_equal(ids // 2, probe.level1_.predict(probe.project(X)))
    np.testing.assert_array_equal(probe.predict(X), ids)
    assert probe.cluster_sizes_.sum() == 1500
    flat = HebbianProbe(two_level=True, n_classes_level1=4, n_subclusters=1).fit(X)
    assert flat.n_clusters_ == 4 and flat.predict_clusters(X).max() < 4
    assert all(sub is None for sub in flat.level2_)


def test_two_level_separates_roles_within_a_word_class_better_than_level1_only():
    X, y = two_roles(seed=0)
    Xt, yt = two_roles(seed=1)
    two_level, level1_only = [], []
    # this geometry spreads the role over many weak context features: standardise, keep all
    scaled = dict(standardize=True, n_components=0)
    for seed in range(3):
        two_level.append(readout_accuracy(
            HebbianProbe(two_level=True, n_classes_level1=2, n_subclusters=2, whiten=False, seed=seed, **scaled), X, y, Xt, yt, 4))
        level1_only.append(readout_accuracy(
            HebbianProbe(two_level=True, n_classes_level1=4, n_subclusters=1, seed=seed, **scaled), X, y, Xt, yt, 4))
    assert min(two_level) > 0.95
    assert np.mean(two_level) > np.mean(level1_only) + 0.15


def test_whitening_lets_a_low_variance_role_direction_beat_high_variance_identity():
    # one context dimension carries the role; word identity varies along one strong direction
    kw = dict(d_ctx=1, role=3.0, id_rank=1, id_scale=2.0, p_class0=0.5)
    X, y = two_roles(seed=0, **kw)
    Xt, yt = two_roles(seed=1, **kw)
    scaled = dict(standardize=True, n_components=0)
    white = readout_accuracy(HebbianProbe(two_level=True, n_classes_level1=2, n_subclusters=2, whiten=True, **scaled), X, y, Xt, yt, 4)
    plain = readout_accuracy(HebbianProbe(two_level=True, n_classes_level1=2, n_subclusters=2, whiten=False, **scaled), X, y, Xt, yt, 4)
    assert white > 0.95
    assert plain < 0.8


def test_hebbian_is_deterministic_per_seed():
    X, _ = two_roles(n=1500)
    a = HebbianProbe(two_level=True, n_classes_level1=3, n_subclusters=2, whiten_level1=True, seed=1).fit(X)
    b = HebbianProbe(two_level=True, n_classes_level1=3, n_subclusters=2, whiten_level1=True, seed=1).fit(X)
    np.testing.assert_array_equal(a.predict_clusters(X), b.predict_clusters(X))
    np.testing.assert_array_equal(a.level1_.cluster_centers_, b.level1_.cluster_centers_)


# -- cluster readout -------------------------------------------------------------------------
def test_hungarian_recovers_a_known_permutation():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 400)
    permutation = np.array([3, 0, 4, 1, 2])
    clusters = permutation[labels]
    readout = ClusterReadout().fit(clusters, labels, n_labels=5)
    np.testing.assert_array_equal(readout.one_to_one_[permutation], np.arange(5))
    assert readout.accuracy(clusters, labels) == 1.0
    assert readout.accuracy(clusters, labels, "many_to_one") == 1.0
    assert readout.n_clusters_ == 5 and readout.n_nonempty_clusters_ == 5
    assert readout.contingency_.sum() == 400


@pytest.mark.parametrize("n_clusters, n_labels", [(3, 3), (4, 3), (2, 4), (5, 2)])
def test_hungarian_accuracy_equals_brute_force_best_one_to_one(n_clusters, n_labels):
    rng = np.random.default_rng(n_clusters * 10 + n_labels)
    for _ in range(5):
        clusters = rng.integers(0, n_clusters, 60)
        labels = rng.integers(0, n_labels, 60)
        table = np.zeros((n_clusters, n_labels), int)
        np.add.at(table, (clusters, labels), 1)
        best = 0
        if n_clusters >= n_labels:  # give label j to cluster chosen[j]
            for chosen in itertools.permutations(range(n_clusters), n_labels):
                best = max(best, sum(table[chosen[j], j] for j in range(n_labels)))
        else:  # give cluster i the label chosen[i]
            for chosen in itertools.permutations(range(n_labels), n_clusters):
                best = max(best, sum(table[i, chosen[i]] for i in range(n_clusters)))
        readout = ClusterReadout().fit(clusters, labels, n_labels, n_clusters)
        assert readout.accuracy(clusters, labels) == pytest.approx(best / 60)
        mapped = readout.one_to_one_[readout.one_to_one_ >= 0]
        assert len(set(mapped)) == len(mapped)  # one-to-one


def test_many_to_one_is_at_least_one_to_one_on_training_rows():
    rng = np.random.default_rng(1)
    for n_clusters in (2, 5, 12):
        clusters = rng.integers(0, n_clusters, 300)
        labels = (clusters + rng.integers(0, 3, 300)) % 4
        readout = ClusterReadout().fit(clusters, labels, 4)
        one = readout.accuracy(clusters, labels, "one_to_one")
        many = readout.accuracy(clusters, labels, "many_to_one")
        assert many >= one
        majority = [np.bincount(labels[clusters == c], minlength=4).argmax() for c in range(n_clusters)]
        np.testing.assert_array_equal(readout.many_to_one_, majority)


def test_readout_unmapped_and_unseen_clusters_count_as_wrong():
    clusters = np.array([0, 0, 1, 1, 2, 2])
    labels = np.array([0, 0, 1, 1, 1, 1])
    readout = ClusterReadout().fit(clusters, labels, n_labels=2, n_clusters=4)
    # clusters 1 and 2 both hold label 1: one of them stays unmapped one-to-one
    assert sorted(readout.one_to_one_[[1, 2]].tolist()) == [-1, 1]
    assert readout.one_to_one_[3] == -1 and readout.many_to_one_[3] == -1  # empty on train
    assert readout.n_nonempty_clusters_ == 3
    assert readout.predict(np.array([3, 7])).tolist() == [-1, -1]  # 7: beyond n_clusters_
    assert readout.accuracy(clusters, labels) == pytest.approx(4 / 6)
    report = readout.report(clusters, labels)
    assert report["accuracy_many_to_one"] == 1.0 and report["n_clusters"] == 4
    with pytest.raises(ProbekitError, match="mode"):
        readout.predict(clusters, mode="best")
    with pytest.raises(ProbekitError, match="not fitted"):
        ClusterReadout().predict(clusters)
