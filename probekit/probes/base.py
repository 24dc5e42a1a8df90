"""The probe base class: the probe contract (:mod:`probekit.contracts`) with its checks.

A probe is a scikit-learn style estimator: options are typed keyword parameters of
``__init__`` that are stored unchanged (so the registry can check and coerce them, and
``get_params`` / ``clone`` work), and everything learned in ``fit`` gets a trailing underscore.

``get_params`` / ``set_params`` are written here (from ``__init__``'s signature, as
scikit-learn's ``BaseEstimator`` derives them) rather than inherited: importing
``sklearn.base`` loads scikit-learn and most of scipy (about 2 s), which every run paid just to
register the probes, also runs whose probe never touches scikit-learn (the linear probe).
``sklearn.base.clone`` works on these probes unchanged (it needs only ``get_params``).

Supervised probes implement ``fit(X, y, n_classes=None)``, ``predict(X)`` and
``predict_proba(X)``. ``X`` is a float32 matrix (one row per token), ``y`` int64 labels in
``0..K-1``. ``n_classes`` is the size of the whole label set (K): ``predict_proba`` always
returns K columns, even when a class never occurs in the training rows, so that a test-set
cross-entropy can be computed by indexing ``P[i, y_i]``.

Unsupervised probes (``unsupervised = True``, e.g. the Hebbian readout) implement
``fit(X)`` and ``predict_clusters(X)``; labels enter only afterwards, for scoring, through
:class:`probekit.probes.readout.ClusterReadout`.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np
from probekit import options
from probekit.errors import ProbekitError
from probekit.threads import one_torch_thread, single_threaded  # noqa: F401  (the probes' thread limits)


class Probe:
    """Base class of all probes (supervised unless ``unsupervised`` is True)."""

    #: True for probes that never see labels in ``fit`` (they output cluster ids).
    unsupervised: bool = False

    #: The registered name (set by subclasses; used in error messages).
    probe_name: str = "probe"

    # -- the estimator contract: options are __init__'s parameters, stored unchanged --------
    @classmethod
    def _get_param_names(cls) -> list[str]:
        """Names of ``__init__``'s keyword parameters, sorted (scikit-learn's order)."""
        if cls.__init__ is object.__init__:
            return []
        params = inspect.signature(cls.__init__).parameters.values()
        if any(p.kind == p.VAR_POSITIONAL for p in params):
            raise TypeError(f"{cls.__name__}.__init__ must not take *args: probe options are named")
        return sorted(p.name for p in params if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The options, ``{name: value}`` (``deep`` also lists nested estimators' options)."""
        out: dict[str, Any] = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params: Any) -> "Probe":
        """Set options by name (unknown names are an error); returns the probe."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for probe {self.probe_name!r}; valid: {valid}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        """``LinearProbe(C=0.1)``: the class and the options that differ from their defaults."""
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [f"{name}={value!r}" for name, value in self.get_params(deep=False).items()
                   if repr(value) != repr(defaults[name].default)]
        return f"{type(self).__name__}({', '.join(changed)})"

    # -- option checking -------------------------------------------------------------------
    def _check_options(self) -> None:
        """Raise :class:`ProbekitError` for an option out of range (override and extend)."""
        if hasattr(self, "seed"):
            self._require_int("seed", 0, 2**32 - 1)

    def _require(self, name: str, ok: bool, valid: str) -> None:
        """Raise a ProbekitError for option ``name`` unless ``ok``; ``valid`` says the range
        (for rules beyond :mod:`probekit.options`' integer and interval checks)."""
        if not ok:
            raise ProbekitError(f"{self._option(name)} must be {valid}, got {getattr(self, name)!r}.")

    def _require_int(self, name: str, low: int, high: int | None = None) -> None:
        options.check_int(getattr(self, name), self._option(name), low, high)

    def _require_float(self, name: str, low: float, high: float | None = None, *,
                       low_open: bool = False, high_open: bool = False) -> None:
        options.check_float(getattr(self, name), self._option(name), low, math.inf if high is None else high,
                            low_open=low_open, high_open=high_open)

    def _option(self, name: str) -> str:
        return options.option(name, f"probe {self.probe_name!r}")

    # -- input checking --------------------------------------------------------------------
    def _check_X(self, X: Any, *, fitted_dim: int | None = None) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2:
            raise ProbekitError(
                f"probe {self.probe_name!r} needs a 2-D feature matrix (tokens x features), "
                f"got shape {X.shape}."
            )
        if X.shape[0] == 0:
            raise ProbekitError(f"probe {self.probe_name!r} got an empty feature matrix.")
        X = np.ascontiguousarray(X, dtype=np.float32)
        if not np.isfinite(X).all():
            raise ProbekitError(
                f"probe {self.probe_name!r}: the features contain NaN or infinite values; "
                "check the encoder's output."
            )
        if fitted_dim is not None and X.shape[1] != fitted_dim:
            raise ProbekitError(
                f"probe {self.probe_name!r} was fitted on {fitted_dim} features but got "
                f"{X.shape[1]}; use the same encoder for training and test features."
            )
        return X

    def _check_y(self, y: Any, n_rows: int, n_classes: int | None) -> tuple[np.ndarray, int]:
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != n_rows:
            raise ProbekitError(
                f"probe {self.probe_name!r}: labels must be a 1-D array with one label per "
                f"feature row ({n_rows}), got shape {y.shape}."
            )
        if not np.issubdtype(y.dtype, np.integer):
            if np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0):
                y = y.astype(np.int64)
            else:
                raise ProbekitError(
                    f"probe {self.probe_name!r}: labels must be integers 0..K-1, got dtype {y.dtype}."
                )
        y = y.astype(np.int64, copy=False)
        if y.min() < 0:
            raise ProbekitError(
                f"probe {self.probe_name!r}: labels must be integers 0..K-1, found {int(y.min())}."
            )
        k = int(y.max()) + 1
        if n_classes is None:
            n_classes = k
        elif isinstance(n_classes, bool) or int(n_classes) != n_classes or n_classes < k:
            raise ProbekitError(
                f"probe {self.probe_name!r}: n_classes={n_classes!r} but the labels go up to "
                f"{k - 1}; n_classes must be an integer >= {k}."
            )
        return y, int(n_classes)

    def _check_fitted(self, attribute: str) -> None:
        if not hasattr(self, attribute):
            raise ProbekitError(
                f"probe {self.probe_name!r} is not fitted yet: call fit before predicting."
            )


def align_proba(proba_present: np.ndarray, present: np.ndarray, n_classes: int,
                n_train: int) -> np.ndarray:
    """Spread probabilities over the present classes onto all ``n_classes`` columns.

    ``proba_present[:, j]`` is the probability of class ``present[j]``. A class absent from the
    training rows gets the probability of one pseudo-count, ``1 / (n_train + n_classes)``, and the
    present classes are scaled down to keep each row summing to 1. A model that never saw a class
    cannot rate it, but a zero would make the test cross-entropy infinite; one pseudo-count is a
    small, stated, finite penalty (about log2(n_train) bits for each test token of an unseen class).
    """
    proba_present = np.asarray(proba_present, dtype=np.float64)
    n = proba_present.shape[0]
    out = np.zeros((n, n_classes), dtype=np.float64)
    n_absent = n_classes - len(present)
    if n_absent == 0:
        out[:, present] = proba_present
    else:
        eps = 1.0 / (n_train + n_classes)
        out[:, present] = proba_present * (1.0 - n_absent * eps)
        absent = np.setdiff1d(np.arange(n_classes), present)
        out[:, absent] = eps
    out /= out.sum(axis=1, keepdims=True)
    return out
