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
