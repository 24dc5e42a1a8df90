"""The linear probe's preconditioned solver minimises scikit-learn's objective.

Exactness: on correlated, differently scaled features (the case the preconditioner is for)
the probe reaches the objective of ``LogisticRegression`` fitted to a tight tolerance on the
same standardised rows, and its probabilities match, for several C and with a class absent
from training. The solver's products are float32, so along nearly collinear directions (where
the loss is flat) weights agree to about 1e-2 of their size, not to float64 precision.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from probekit.probes import LinearProbe


def correlated_rows(n=3000, k=5, seed=0):
    """Rows whose columns are smoothed copies of each other at very different scales, labels from
    a noisy linear rule (not separable, so the optimum is finite at every C)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 6))
    X = np.hstack([base, 0.9 * base + 0.1 * rng.normal(size=(n, 6)), 0.01 * (base + 0.3 * rng.normal(size=(n, 6)))])
    X[:, -1] += 5.0   # an offset column: standardisation must remove it
    W = np.random.default_rng(99).normal(size=(X.shape[1], k))
    y = np.argmax((X - X.mean(0)) / X.std(0) @ W + rng.gumbel(size=(n, k)), axis=1)
    return X.astype(np.float32), y.astype(np.int64)


def objective(coef_std, intercept_std, Xs, y, C):
    """Summed cross-entropy + ||W||^2 / (2C) of standardised weights (scikit-learn's objective)."""
    logits = Xs.astype(np.float64) @ coef_std.T + intercept_std
    logits -= logits.max(axis=1, keepdims=True)
    lse = np.log(np.exp(logits).sum(axis=1))
    return float(np.sum(lse - logits[np.arange(len(y)), y]) + 0.5 / C * np.sum(coef_std ** 2))


def sklearn_reference(X, y, C):
    scaler = StandardScaler().fit(X)
    model = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(scaler.transform(X), y)
    return scaler, model


@pytest.mark.parametrize("C", [0.01, 1.0, 100.0])
def test_weights_and_probabilities_match_sklearn(C):
    X, y = correlated_rows()
    probe = LinearProbe(C=C, tol=1e-9, max_iter=5000).fit(X, y)
    scaler, model = sklearn_reference(X, y, C)
    coef_std = probe.model_.coef * probe.scaler_.scale          # weights on standardised columns
    intercept_std = probe.model_.intercept + probe.model_.coef @ probe.scaler_.mean
    Xs = scaler.transform(X)
    ours, theirs = objective(coef_std, intercept_std, Xs, y, C), objective(model.coef_, model.intercept_, Xs, y, C)
    assert ours <= theirs * (1 + 1e-6)
    np.testing.assert_allclose(coef_std, model.coef_, atol=1e-2 * np.abs(model.coef_).max())
    Xt, _ = correlated_rows(500, seed=1)
    np.testing.assert_allclose(probe.predict_proba(Xt), model.predict_proba(scaler.transform(Xt)), atol=5e-3)
    assert probe.converged_


def test_default_tolerance_reaches_sklearns_predictions():
    X, y = correlated_rows()
    Xt, _ = correlated_rows(2000, seed=2)
    scaler, model = sklearn_reference(X, y, 1.0)
    probe = LinearProbe().fit(X, y)
    agree = np.mean(probe.predict(Xt) == model.predict(scaler.transform(Xt)))
    assert agree > 0.99
    assert np.abs(probe.predict_proba(Xt) - model.predict_proba(scaler.transform(Xt))).max() < 0.02


def test_absent_class_matches_sklearn_on_the_present_ones():
    X, y = correlated_rows(k=5)
    keep = y != 3
    probe = LinearProbe(tol=1e-9, max_iter=5000).fit(X[keep], y[keep], n_classes=5)
    scaler, model = sklearn_reference(X[keep], y[keep], 1.0)
    Xt, _ = correlated_rows(300, seed=1)
    P = probe.predict_proba(Xt)
    present = [0, 1, 2, 4]
    ref = model.predict_proba(scaler.transform(Xt))
    # align_proba gives the absent class a pseudo-count share and rescales the rest
    np.testing.assert_allclose(P[:, present] / P[:, present].sum(1, keepdims=True), ref, atol=1e-3)


def test_fit_is_deterministic():
    X, y = correlated_rows()
    a = LinearProbe().fit(X, y)
    b = LinearProbe().fit(X.copy(), y.copy())
    np.testing.assert_array_equal(a.model_.coef, b.model_.coef)


def test_float32_objective_and_gradient_match_a_float64_reference():
    """The solver's numpy float32 loss and gradient (what L-BFGS walks on) against the objective
    computed in float64 from the raw weights, and against central differences of that objective."""
    from probekit.probes.softmax import Standardiser, covariance_eigen, preconditioner, softmax_objective

    X, y = correlated_rows(n=800, k=4)
    C, k = 0.5, 4
    std = Standardiser.fit(X)
    A, penalty = preconditioner(covariance_eigen(X, std), len(y), C)
    loss_grad, raw_weights = softmax_objective(X, y, k, C, std, A, penalty)
    theta = np.random.default_rng(3).normal(scale=0.3, size=k * X.shape[1] + k)

    def reference(t):
        _, W, b = raw_weights(t)
        coef_std, intercept_std = W * std.scale, b + W @ std.mean
        return objective(coef_std, intercept_std, (X - std.mean) / std.scale, y, C) / len(y)

    loss, grad = loss_grad(theta)
    assert loss == pytest.approx(reference(theta), rel=1e-5)
    eps, picked = 1e-4, np.random.default_rng(4).choice(len(theta), 24, replace=False)
    numeric = np.array([(reference(theta + eps * e) - reference(theta - eps * e)) / (2 * eps)
                        for e in np.eye(len(theta))[picked]])
    # float32 products on raw columns (an offset of 5 at scale 0.01 folded into the weights):
    # components agree to a few 1e-3 of the gradient's size, as the module docstring says
    np.testing.assert_allclose(grad[picked], numeric, atol=5e-3 * np.abs(numeric).max())
    assert np.corrcoef(grad[picked], numeric)[0, 1] > 0.9999


def test_fit_is_the_same_bits_on_one_two_and_three_threads():
    """The objective's row blocks are fixed by the row count and their sums added in block order,
    so the thread count (probekit.threads.numeric_threads) changes the speed, never the weights.
    5,000 rows make three blocks of unequal work for the threads to share."""
    from probekit.probes.softmax import BLOCK_ROWS, Standardiser, covariance_eigen, preconditioner, row_blocks
    from probekit.probes.softmax import softmax_objective
    from probekit.threads import BlockPool, use_numeric_threads

    X, y = correlated_rows(n=5000)
    blocks = row_blocks(len(y))
    assert len(blocks) == 3 and blocks[-1][1] == len(y) and all(b - a <= BLOCK_ROWS for a, b in blocks)
    fits = []
    for threads in (1, 2, 3):
        with use_numeric_threads(threads):
            fits.append(LinearProbe().fit(X, y))
    for other in fits[1:]:
        np.testing.assert_array_equal(other.model_.coef, fits[0].model_.coef)
        np.testing.assert_array_equal(other.model_.intercept, fits[0].model_.intercept)
        assert other.n_iter_ == fits[0].n_iter_
    # and one evaluation, with every thread count from 1 to 4
    std = Standardiser.fit(X)
    A, penalty = preconditioner(covariance_eigen(X, std), len(y), 1.0)
    theta = np.random.default_rng(5).normal(scale=0.3, size=5 * X.shape[1] + 5)
    values = []
    for threads in (1, 2, 3, 4):
        with BlockPool(threads) as pool:
            values.append(softmax_objective(X, y, 5, 1.0, std, A, penalty, pool)[0](theta))
    for loss, grad in values[1:]:
        assert loss == values[0][0]
        np.testing.assert_array_equal(grad, values[0][1])


def test_the_probe_spends_the_process_thread_budget(monkeypatch):
    """LinearProbe runs its blocks on numeric_threads() threads: the budget the executor sets
    (threads_per_job(1) when nothing set it)."""
    import probekit.probes.softmax as softmax
    from probekit.threads import BlockPool, numeric_threads, threads_per_job, use_numeric_threads

    seen = []

    class Recording(BlockPool):
        def __init__(self, threads):
            seen.append(threads)
            super().__init__(threads)

    monkeypatch.setattr(softmax, "BlockPool", Recording)
    X, y = correlated_rows(n=600)
    assert numeric_threads() == threads_per_job(1)
    LinearProbe().fit(X, y)
    with use_numeric_threads(3):
        assert numeric_threads() == 3
        LinearProbe().fit(X, y)
    assert numeric_threads() == threads_per_job(1)
    assert seen == [threads_per_job(1), 3]
