"""Cluster -> label mapping for scoring unsupervised probes.

An unsupervised probe (the Hebbian readout) outputs cluster ids, never labels. To score it, a
:class:`ClusterReadout` is fitted on the TRAINING rows only (their cluster ids and their gold
labels) and then applied unchanged to the test rows:

* **one-to-one** (Hungarian): each label gets at most one cluster and each cluster at most one
  label, chosen to maximise the number of training rows whose cluster maps to their label
  (``scipy.optimize.linear_sum_assignment`` on the cluster x label contingency table). Clusters
  left without a label map to -1 and count as wrong. With more clusters than labels this is a
  strict score: the rows of surplus clusters are all wrong.
* **many-to-one**: each cluster maps to its majority training label. It can only be >= the
  one-to-one score on the training rows, and it grows with the number of clusters (one cluster
  per row would score 100% on the training rows), so report it together with the number of
  clusters.

Clusters that hold no training row (and cluster ids beyond ``n_clusters_``) map to -1.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from probekit.errors import ProbekitError

Mode = Literal["one_to_one", "many_to_one"]
MODES: tuple[str, ...] = ("one_to_one", "many_to_one")


def _as_ids(values: Any, what: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1:
        raise ProbekitError(f"{what} must be a 1-D array of integer ids, got shape {values.shape}.")
    if values.size and not np.issubdtype(values.dtype, np.integer):
        raise ProbekitError(f"{what} must be integer ids, got dtype {values.dtype}.")
    values = values.astype(np.int64, copy=False)
    if values.size and values.min() < 0:
        raise ProbekitError(f"{what} must be >= 0, found {int(values.min())}.")
    return values


class ClusterReadout:
    """Map cluster ids to labels, fitted on training rows only (Hungarian and many-to-one)."""

    def fit(self, train_clusters: Any, train_labels: Any, n_labels: int,
            n_clusters: int | None = None) -> "ClusterReadout":
        """Fit both mappings from the training rows' cluster ids and gold labels.

        ``n_labels`` is the size of the label set; ``n_clusters`` the number of cluster ids the
        probe can emit (default: the largest training cluster id + 1; pass the probe's
        ``n_clusters_`` so that clusters empty on the training rows are counted).
        """
        clusters = _as_ids(train_clusters, "train_clusters")
        labels = _as_ids(train_labels, "train_labels")
        if clusters.shape != labels.shape:
            raise ProbekitError(
                f"train_clusters ({clusters.shape[0]}) and train_labels ({labels.shape[0]}) "
                "must have one entry per training row."
            )
        if clusters.size == 0:
            raise ProbekitError("ClusterReadout.fit needs at least one training row.")
        n_labels = int(n_labels)
        if n_labels < 1 or labels.max() >= n_labels:
            raise ProbekitError(
                f"n_labels={n_labels} but the training labels go up to {int(labels.max())}; "
                f"n_labels must be >= {int(labels.max()) + 1}."
            )
        needed = int(clusters.max()) + 1
        if n_clusters is None:
            n_clusters = needed
        elif int(n_clusters) < needed:
            raise ProbekitError(
                f"n_clusters={n_clusters} but the training cluster ids go up to {needed - 1}."
            )
        n_clusters = int(n_clusters)

        table = np.zeros((n_clusters, n_labels), dtype=np.int64)
        np.add.at(table, (clusters, labels), 1)
        sizes = table.sum(axis=1)

        from scipy.optimize import linear_sum_assignment   # scipy.optimize loads on first use

        rows, cols = linear_sum_assignment(table, maximize=True)
        one_to_one = np.full(n_clusters, -1, dtype=np.int64)
        one_to_one[rows] = cols
        # A pairing that covers no training row is arbitrary: leave that cluster unmapped.
        one_to_one[table[np.arange(n_clusters), np.maximum(one_to_one, 0)] == 0] = -1

        many_to_one = np.where(sizes > 0, table.argmax(axis=1), -1).astype(np.int64)

        self.n_clusters_ = n_clusters
        self.n_labels_ = n_labels
        self.contingency_ = table
        self.cluster_sizes_ = sizes
        self.n_nonempty_clusters_ = int((sizes > 0).sum())
        self.one_to_one_ = one_to_one
        self.many_to_one_ = many_to_one
        self.n_train_ = int(clusters.size)
        return self

    def _mapping(self, mode: str) -> np.ndarray:
        if not hasattr(self, "contingency_"):
            raise ProbekitError("ClusterReadout is not fitted yet: call fit on the training rows first.")
        if mode == "one_to_one":
            return self.one_to_one_
        if mode == "many_to_one":
            return self.many_to_one_
        raise ProbekitError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}.")

    def predict(self, clusters: Any, mode: Mode = "one_to_one") -> np.ndarray:
        """Labels for cluster ids (-1 where the cluster has no label: counted wrong)."""
        mapping = self._mapping(mode)
        clusters = _as_ids(clusters, "clusters")
        out = np.full(clusters.shape, -1, dtype=np.int64)
        known = clusters < self.n_clusters_
        out[known] = mapping[clusters[known]]
        return out

    def accuracy(self, clusters: Any, labels: Any, mode: Mode = "one_to_one") -> float:
        """Fraction of rows whose mapped cluster equals the gold label."""
        labels = _as_ids(labels, "labels")
        predicted = self.predict(clusters, mode)
        if predicted.shape != labels.shape:
            raise ProbekitError("clusters and labels must have one entry per row.")
        return float(np.mean(predicted == labels)) if labels.size else float("nan")

    def report(self, clusters: Any, labels: Any) -> dict[str, float | int]:
        """Both accuracies and the cluster counts, as reported in result records."""
        return {
            "accuracy_one_to_one": self.accuracy(clusters, labels, "one_to_one"),
            "accuracy_many_to_one": self.accuracy(clusters, labels, "many_to_one"),
            "n_clusters": self.n_clusters_,
            "n_nonempty_clusters": self.n_nonempty_clusters_,
            "n_labels": self.n_labels_,
        }
