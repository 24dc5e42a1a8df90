"""Linear probe: multinomial logistic regression on standardised features.

Solver (measured, benchmarks/linear_probe.py and benchmarks/README.md): the objective is
scikit-learn's ``LogisticRegression(C)`` on standardised features, minimised by L-BFGS in
decorrelated coordinates (:mod:`probekit.probes.softmax`). On the default ``roles`` run it
needs about a third of the iterations scikit-learn's lbfgs needs on the same standardised
features, for the same test accuracy. Deterministic: no random draws in the fit, and the same
bits on any number of threads (the objective's row blocks run on the process's thread budget,
:func:`probekit.threads.numeric_threads`, with BLAS on one thread).

With many classes and few rows a fixed ``C`` overfits: on the identity task (101 classes,
20,000 training words) a probe on pure-noise features scored -0.24 bits of V-information with
``C=1``. ``C_grid`` chooses ``C`` on a held-out slice of the training rows instead (the
regularisation path from strong to weak, warm-started, stopped once the held-out
cross-entropy rises), which brings the noise probe back to about 0 bits (docs/metrics.md).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from probekit.probes.base import Probe, align_proba
from probekit.probes.softmax import Standardiser, covariance_eigen, fit_softmax, preconditioner, softmax_proba
from probekit.threads import numeric_threads, single_threaded
from probekit.registry import register_probe


@register_probe("linear")
class LinearProbe(Probe):
    """Multinomial logistic regression (L2, preconditioned L-BFGS) on standardised features.

    Options: ``C`` is scikit-learn's inverse L2 strength (the penalty is ``||W||^2 / 2`` against
    the *summed* training cross-entropy, so a fixed C regularises less as the training set grows);
    ``max_iter`` caps L-BFGS iterations, ``tol`` is its stopping tolerance (largest gradient
    component of the mean objective, in the solver's coordinates); ``seed`` draws the held-out
    rows of ``C_grid`` (the fit itself draws nothing, so fits are deterministic). The softmax
    is over the classes present in training, also with two classes (scikit-learn fits one
    binary logit there, which puts the penalty differently).

    ``C_grid`` (default none: use ``C``) chooses C on held-out data: a ``validation_fraction``
    of the training rows (drawn with ``seed``) is held out, the grid is walked from the
    smallest C (strongest penalty) up, each fit warm-started from the previous one, until the
    held-out cross-entropy stops falling; the best C (``C_``) is then refitted on all rows.
    """

    probe_name = "linear"

    def __init__(self, C: float = 1.0, max_iter: int = 1000, tol: float = 1e-4, seed: int = 0,
                 C_grid: tuple[float, ...] | None = None, validation_fraction: float = 0.2):
        self.C = C
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed
        self.C_grid = C_grid
        self.validation_fraction = validation_fraction
        self._check_options()

    def _check_options(self) -> None:
        super()._check_options()
        self._require_float("C", 0.0, low_open=True)
        self._require_int("max_iter", 1)
        self._require_float("tol", 0.0, low_open=True)
        self._require_float("validation_fraction", 0.0, 1.0, low_open=True, high_open=True)
        if self.C_grid is not None:
            grid = self.C_grid
            ok = isinstance(grid, (list, tuple)) and len(grid) > 0 and all(
                isinstance(c, (int, float)) and not isinstance(c, bool) and np.isfinite(c) and c > 0 for c in grid)
            self._require("C_grid", ok, "a non-empty list of positive numbers, e.g. -P 'C_grid=[0.001, 0.01, 0.1, 1]'")

    def fit(self, X: Any, y: Any, n_classes: int | None = None) -> "LinearProbe":
        """Fit on training rows ``X`` (n, d) and labels ``y`` in 0..n_classes-1."""
        self._check_options()
        X = self._check_X(X)
        y, n_classes = self._check_y(y, X.shape[0], n_classes)
        self.n_features_in_ = X.shape[1]
        self.n_classes_ = n_classes
        self.classes_ = np.arange(n_classes)
        self.present_classes_ = np.unique(y)
        self.n_train_ = X.shape[0]
        self.scaler_ = Standardiser.fit(X)
        if len(self.present_classes_) == 1:
            # One training class: nothing to discriminate; predict it (with the pseudo-count
            # smoothing of align_proba for the other classes).
            self.model_ = None
            self.C_, self.C_path_ = float(self.C), {}
            self.n_iter_ = 0
            self.converged_ = True
            return self
        index = np.searchsorted(self.present_classes_, y)   # labels among the present classes
        with single_threaded():   # BLAS on one thread (threaded LAPACK was 20-50x slower on a busy machine)
            self._eigen = covariance_eigen(X, self.scaler_)
            if self.C_grid is None:
                self.C_, self.C_path_ = float(self.C), {}
                model = self._fit(X, index, self.C_)
            else:
                model = self._fit_grid(X, index)
        self.model_ = model
        self.n_iter_ = model.n_iter
        self.converged_ = model.converged
        if not self.converged_:
            from sklearn.exceptions import ConvergenceWarning   # scikit-learn's class, loaded only to warn

            warnings.warn(
                f"linear probe: L-BFGS stopped at max_iter={self.max_iter} before converging "
                f"(tol={self.tol}); raise max_iter or lower C.",
                ConvergenceWarning, stacklevel=2,
            )
        return self

    def _fit(self, X: np.ndarray, index: np.ndarray, C: float, rows: np.ndarray | None = None,
             theta0: np.ndarray | None = None):
        """One fit on ``rows`` (default all) with labels ``index`` among the present classes."""
        X_fit, y_fit = (X, index) if rows is None else (X[rows], index[rows])
        A, penalty = preconditioner(self._eigen, len(y_fit), C)
        return fit_softmax(X_fit, y_fit, len(self.present_classes_), C, self.scaler_, A, penalty,
                           int(self.max_iter), float(self.tol), theta0, threads=numeric_threads())

    def _fit_grid(self, X: np.ndarray, index: np.ndarray):
        """Walk ``C_grid`` upwards on a held-out split; refit the best C on all rows.

        Held-out cross-entropy is scored over the classes of the whole training set, so a
        class missing from the fitting rows costs its pseudo-count probability, as at test time.
        """
        # One contiguous block of rows (rows come in corpus order): held-out words then come
        # from sentences the fit never saw, as test words do. Random rows would share sentences
        # (and, for traces, nearly the same features) with the fitting rows and pick too weak a
        # penalty. The block starts at a seeded position and wraps around.
        n = len(index)
        n_held = max(1, int(round(self.validation_fraction * n)))
        start = int(np.random.default_rng(int(self.seed)).integers(0, n))
        held = np.zeros(n, dtype=bool)
        held[(start + np.arange(n_held)) % n] = True
        fit_rows, held_rows = np.flatnonzero(~held), np.flatnonzero(held)
        if len(np.unique(index[fit_rows])) < 2:   # too few rows to split: fall back to the fixed C
            self.C_, self.C_path_ = float(self.C), {}
            return self._fit(X, index, self.C_)
        # Softmax over all present classes: a class absent from the fitting rows has no row
        # pulling its logit up, so its probability stays small (as align_proba's pseudo-count).
        path: dict[float, float] = {}
        best, best_fit, theta = None, None, None
        for C in sorted(float(c) for c in self.C_grid):
            fitted = self._fit(X, index, C, fit_rows, theta)
            theta = fitted.theta
            proba = softmax_proba(X[held_rows], fitted)
            picked = proba[np.arange(len(held_rows)), index[held_rows]]
            path[C] = float(-np.mean(np.log2(np.clip(picked, 1e-12, 1.0))))
            if best is not None and path[C] >= path[best]:
                break   # the held-out loss has turned up: larger C only overfits more
            best, best_fit = C, fitted
        self.C_, self.C_path_ = best, path   # held-out cross-entropy (bits per word) per C tried
        return self._fit(X, index, best, theta0=best_fit.theta)   # refit on all rows from the best fit

    def _proba_present(self, X: Any) -> np.ndarray:
        self._check_fitted("scaler_")
        X = self._check_X(X, fitted_dim=self.n_features_in_)
        if self.model_ is None:
            return np.ones((X.shape[0], 1))
        return softmax_proba(X, self.model_)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n, n_classes); columns are classes 0..n_classes-1."""
        return align_proba(self._proba_present(X), self.present_classes_, self.n_classes_, self.n_train_)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row (int64)."""
        proba = self._proba_present(X)
        return self.present_classes_[np.argmax(proba, axis=1)].astype(np.int64)
