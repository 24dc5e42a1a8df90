"""L2-penalised multinomial logistic regression, solved by preconditioned L-BFGS.

The objective is scikit-learn's ``LogisticRegression(C)`` on standardised features: the summed
training cross-entropy plus ``||W||^2 / (2 C)`` (the intercept is not penalised). Only the
solver differs, because the plain one is slow where users wait: on the default ``roles`` run
(42,061 x 256, 8 classes) lbfgs needed about 275 iterations, 90% of the whole run
(benchmarks/linear_probe.py). The trace columns are strongly correlated (a slow trace is
nearly a smoothed copy of a fast one), so the loss is an elongated valley.

Preconditioning: the weights are written ``W = V A^T`` with ``A = U (lam + delta)^(-1/2)``,
where ``U, lam`` are the eigenvectors and eigenvalues of the standardised features'
covariance. In ``V`` the features are decorrelated and the penalty is diagonal
(``sum_j ||V[:, j]||^2 / (lam_j + delta)``); ``delta = 1 / (C n c)`` with a typical softmax
curvature ``c = 0.1`` makes the Hessian about ``c`` in every direction, penalised or not. The
objective (and so its minimiser) is unchanged: only the coordinates L-BFGS walks in are. The
covariance is estimated on at most :data:`_COV_ROWS` evenly spaced training rows (an
approximate preconditioner only costs iterations, never accuracy).

Standardisation is folded into the weights (``Xs W^T = X (W / s)^T - (W / s) m``), so each
evaluation is two float32 products with the raw training rows, classes along the rows (``(k, n)``
logits, so the softmax reduces over a short leading axis and every pass is contiguous). The rows
are split into blocks of :data:`BLOCK_ROWS` (fixed by the row count alone), each kept as one
contiguous transposed float32 copy (the only copy of the features: both skinny products were
about 20% faster on it than on slices of ``X``); a block's two products run back to back while it
is in cache, and the blocks' partial sums are added in block order in float64. The blocks run on
the process's thread budget (:func:`probekit.threads.numeric_threads`, Python threads: numpy
releases the GIL) with BLAS on one thread, so the fit is the same bits on any number of threads,
and records do not depend on ``--jobs``. numpy's products were as fast as the torch ones they
replaced, and the linear probe imports no torch (about 2.4 s of every run's start-up).

Tried for fewer iterations and not kept, because none won on both ``roles`` and ``ud-roles``
(benchmarks/linear_probe_variants.py, passes over the rows at the same ``tol``): a warm start from
a fit on every 4th / 8th / 16th row (C scaled so the mean objective is the same; roles 67-76
passes against 81, ud-roles 42-110 against 42); a per-class curvature-weighted preconditioner at
the start (ud-roles 21 passes, roles 115) or at such a warm start (it makes ``tol`` stricter:
roles 412 passes); an L-BFGS memory of 30 (roles 85, ud-roles 45); a shrunk-LDA start (96, 71).
Deterministic: no random draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from probekit.threads import BlockPool

#: rows per block of the objective (see :func:`row_blocks`): fixed, so that sums do not depend on
#: the thread count; small enough that a block (2 MB at 256 float32 columns) stays in cache between
#: its two products, large enough that the per-block Python overhead is small.
BLOCK_ROWS = 2048
#: rows used to estimate the covariance of the preconditioner.
_COV_ROWS = 8192
#: typical softmax curvature p (1 - p) that sets the damping of small-variance directions.
_CURVATURE = 0.1


@dataclass
class Standardiser:
    """Column means and scales of the training rows (constant columns get scale 1)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> "Standardiser":
        """In float64, one row block at a time (no float64 copy of ``X``), around the first block's
        mean (so that the variance of a column far from zero keeps its digits)."""
        n = X.shape[0]
        shift = X[:BLOCK_ROWS].mean(axis=0, dtype=np.float64)
        total, squares = np.zeros(X.shape[1]), np.zeros(X.shape[1])
        for start, stop in row_blocks(n):
            block = X[start:stop].astype(np.float64)
            block -= shift
            total += block.sum(axis=0)
            squares += np.einsum("ij,ij->j", block, block)
        offset = total / n
        mean = shift + offset
        var = np.maximum(squares / n - offset ** 2, 0.0)
        scale = np.sqrt(var)
        scale[scale < 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)] = 1.0
        return cls(mean, scale)


def covariance_eigen(X: np.ndarray, std: Standardiser) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and eigenvectors of the standardised features' covariance (evenly spaced rows)."""
    step = max(1, -(-X.shape[0] // _COV_ROWS))
    Xs = (X[::step].astype(np.float64) - std.mean) / std.scale
    lam, U = np.linalg.eigh(Xs.T @ Xs / Xs.shape[0])
    return np.maximum(lam, 0.0), U


def preconditioner(eigen: tuple[np.ndarray, np.ndarray], n_rows: int, C: float) -> tuple[np.ndarray, np.ndarray]:
    """``A`` (d, d) and the per-column penalty weights ``1 / (lam + delta)`` (see the module docstring)."""
    lam, U = eigen
    delta = 1.0 / (C * n_rows * _CURVATURE)
    return U / np.sqrt(lam + delta), 1.0 / (lam + delta)


@dataclass
class SoftmaxFit:
    """Weights on the *raw* features: ``logits = X @ coef.T + intercept``."""

    coef: np.ndarray       # (k, d) float64
    intercept: np.ndarray  # (k,) float64
    theta: np.ndarray      # the solver's variables (V and b), for warm starts
    n_iter: int
    converged: bool
    n_evals: int = 0       # evaluations of the loss and gradient (each two passes over the rows)


def row_blocks(n_rows: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of the objective's row blocks: :data:`BLOCK_ROWS` rows each (the last may
    be shorter). They depend on ``n_rows`` alone, never on the thread count."""
    return [(start, min(start + BLOCK_ROWS, n_rows)) for start in range(0, n_rows, BLOCK_ROWS)]


def softmax_objective(X: np.ndarray, y: np.ndarray, n_classes: int, C: float, std: Standardiser,
                      A: np.ndarray, penalty: np.ndarray, pool: BlockPool | None = None
                      ) -> tuple[Callable, Callable]:
    """The mean objective in the solver's coordinates, and the map back to raw weights.

    Returns ``loss_grad(theta) -> (loss, gradient)`` and ``raw_weights(theta) -> (V, W, b)``,
    ``theta`` being ``V`` (k x d, preconditioned) then ``b`` (k); see :func:`fit_softmax`.
    ``pool`` runs the row blocks (default: one at a time in this thread); the blocks' sums are
    added in block order in float64, so the result is the same bits on any number of threads.
    """
    n, d = X.shape
    k = n_classes
    X = np.asarray(X)
    y = np.asarray(y, dtype=np.int64)
    blocks = row_blocks(n)
    # flat positions of the true classes in each block's (k, rows) logits
    true = [y[start:stop] * (stop - start) + np.arange(stop - start) for start, stop in blocks]
    # each block stored transposed, (d, rows) contiguous: both skinny float32 products were about
    # 20% faster than on the (rows, d) slices of X (OpenBLAS, 8 x 256 weights), for one copy of X
    run = pool.map if pool is not None else (lambda fn, count: [fn(i) for i in range(count)])
    columns = run(lambda i: np.ascontiguousarray(X[blocks[i][0]:blocks[i][1]].T, dtype=np.float32), len(blocks))
    inv_scale = 1.0 / std.scale
    weight = 1.0 / (C * n)

    def raw_weights(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        V, b = theta[:k * d].reshape(k, d), theta[k * d:]
        W = (V @ A.T) * inv_scale           # weights on raw features
        return V, W, b - W @ std.mean

    def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        V, W, b = raw_weights(theta)
        W32, b32 = W.astype(np.float32), b.astype(np.float32)[:, None]

        def block(i: int) -> tuple[float, np.ndarray, np.ndarray]:
            # one block's summed cross-entropy, d loss / d (raw W) and d loss / d b; both passes over
            # the block's rows run while they are in cache. Logits as (k, rows): reductions over
            # classes are elementwise across k contiguous rows.
            logits = W32 @ columns[i]
            logits += b32
            logits -= logits.max(axis=0)
            flat = logits.ravel()
            picked = np.sum(flat[true[i]], dtype=np.float64)     # the true classes' shifted logits
            resid = np.exp(logits, out=logits)
            total = resid.sum(axis=0)
            loss = float(np.sum(np.log(total), dtype=np.float64) - picked)
            resid /= total
            flat[true[i]] -= 1.0
            return loss, resid @ columns[i].T, resid.sum(axis=1, dtype=np.float64)

        parts = run(block, len(blocks))
        loss = sum(part[0] for part in parts)             # in block order: the same on any thread count
        g_raw = parts[0][1].astype(np.float64)
        g_b = parts[0][2].copy()
        for part in parts[1:]:
            g_raw += part[1]
            g_b += part[2]
        g_std = (g_raw - g_b[:, None] * std.mean) * inv_scale   # gradient on standardised W, times n
        g_V = g_std @ A / n + weight * V * penalty
        loss = loss / n + 0.5 * weight * float(np.sum(V * V * penalty))
        return loss, np.concatenate([g_V.ravel(), g_b / n])

    return loss_grad, raw_weights


def fit_softmax(X: np.ndarray, y: np.ndarray, n_classes: int, C: float, std: Standardiser,
                A: np.ndarray, penalty: np.ndarray, max_iter: int, tol: float,
                theta0: np.ndarray | None = None, threads: int = 1) -> SoftmaxFit:
    """Minimise ``sum_i CE(softmax(Xs_i W^T + b), y_i) + ||W||^2 / (2 C)`` over ``W, b``.

    ``X`` (n, d) float32 raw rows, ``y`` in ``0..n_classes-1``; ``std``, ``A`` and ``penalty``
    from :class:`Standardiser` and :func:`preconditioner`. The mean objective (divided by n)
    is minimised by scipy's L-BFGS-B; ``tol`` bounds the largest gradient component in the
    preconditioned coordinates, ``max_iter`` the iterations. ``theta0``: a previous fit's
    ``theta`` to start from (warm start along a C path). ``threads``: Python threads for the
    objective's row blocks (BLAS stays as the caller set it); the fit is the same bits on any number.
    """
    from scipy.optimize import minimize   # scipy.optimize costs start-up; only a fit needs it

    k, d = n_classes, X.shape[1]
    start = theta0
    if start is None:
        # W = 0 and the intercept at its optimum for W = 0 (softmax(b) = the class frequencies):
        # about 10% fewer iterations than all zeros on the roles and ud-roles runs. A class
        # without a row here starts at half a row's frequency.
        counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=k).astype(np.float64)
        b0 = np.log(np.maximum(counts, 0.5) / len(y))
        start = np.concatenate([np.zeros(k * d), b0 - b0.mean()])
    with BlockPool(threads) as pool:
        loss_grad, raw_weights = softmax_objective(X, y, n_classes, C, std, A, penalty, pool)
        result = minimize(loss_grad, start, jac=True, method="L-BFGS-B",
                          options={"maxiter": int(max_iter), "gtol": float(tol), "ftol": 64 * np.finfo(float).eps})
    _, W, b = raw_weights(result.x)
    converged = bool(result.success) or result.nit < max_iter
    return SoftmaxFit(W, b, result.x, int(result.nit), converged, int(result.nfev))


def softmax_proba(X: np.ndarray, fit: SoftmaxFit) -> np.ndarray:
    """Class probabilities (n, k) float64 of rows ``X`` under ``fit``."""
    logits = np.asarray(X, dtype=np.float64) @ fit.coef.T + fit.intercept
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    return logits / logits.sum(axis=1, keepdims=True)
