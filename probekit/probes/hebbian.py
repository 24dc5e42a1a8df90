"""Zero-label readout: competitive (winner-take-all Hebbian) clustering, one flat clustering per k.

The probe never sees labels. ``fit(X)`` learns clusters of the token features;
``predict_clusters(X)`` returns cluster ids. Scoring against gold roles goes through a separate
:class:`probekit.probes.readout.ClusterReadout`, fitted on the training rows only.

Competitive learning is scikit-learn's ``MiniBatchKMeans``: for each minibatch every row picks
the nearest prototype (the winner takes all), and each winning prototype moves toward its rows
with a per-prototype rate 1/(rows it has won so far), i.e. the Hebbian "move the winner toward
the input" rule with a decaying learning rate (Sculley 2010). It is compiled, multithreaded and
seeded; a numpy re-implementation would be the same rule, slower. One deviation from plain
competitive learning: prototypes that win almost nothing are re-seeded at random rows
(``reassignment_ratio``), which avoids dead units; it is seeded like everything else.

**The default readout** is the readout curve below: one flat clustering per k of ``clusters``, to
which a run adds k = the number of labels, whose one-to-one accuracy is the record's headline. The
older **two-level readout** (``two_level=True``) is kept for comparison: level 1 clusters the features into ``n_classes_level1`` clusters; on token features
these are mostly word classes (all nouns together). Level 2, inside each level-1 cluster, subtracts
that cluster's mean, optionally PCA-whitens the residuals *of that cluster* (``whiten``), and
clusters them into ``n_subclusters``: with the class mean gone and the high-variance identity
directions scaled down to unit variance, the residual structure is left to context, which is what
distinguishes roles within a word class (a noun in subject position vs. one in object position).
The final cluster id is ``level1 * n_subclusters + level2``.

**The readout curve** (the default). With ``clusters`` (a list of k, e.g. ``-P clusters=8,16,64,256``;
a run adds the number of labels) the probe fits one *flat* clustering per k, in the same projection, with the clustering ``method``
(:data:`METHODS`: online k-means, k-means on whitened components, a diagonal Gaussian mixture,
word classes split by context);
:meth:`HebbianProbe.predict_curve` gives every k's cluster ids. One number at one k hides the
trade-off between the one-to-one readout (falls with k) and the many-to-one readout (rises with
k); the run scores every k (docs/probes.md, "The readout curve").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np

from probekit.errors import ProbekitError
from probekit.probes.base import Probe
from probekit.threads import single_threaded
from probekit.registry import register_probe

if TYPE_CHECKING:   # scikit-learn is imported where it is used: registering the probe stays cheap
    from sklearn.cluster import MiniBatchKMeans

#: Principal directions whose variance is below this fraction of the largest are dropped
#: before whitening (they are degenerate: duplicated or constant feature combinations).
WHITEN_RTOL = 1e-3

#: A level-1 cluster with fewer training rows than this many per sub-cluster is not split.
MIN_ROWS_PER_SUBCLUSTER = 5


class Whitener:
    """PCA whitening fitted on one matrix: ``(Z - mean) @ components.T / scale``."""

    def __init__(self, Z: np.ndarray):
        Z64 = np.asarray(Z, dtype=np.float64)
        self.mean = Z64.mean(axis=0)
        centred = Z64 - self.mean
        cov = centred.T @ centred / max(Z64.shape[0] - 1, 1)
        eigval, eigvec = np.linalg.eigh(cov)
        eigval, eigvec = eigval[::-1], eigvec[:, ::-1]
        keep = eigval > WHITEN_RTOL * max(float(eigval[0]), 1e-300)
        if not keep.any():  # all rows identical: nothing to whiten
            keep[0] = True
            eigval = np.ones_like(eigval)
        # Fix each eigenvector's sign (eigh's is arbitrary) so that fits are reproducible.
        eigvec = eigvec[:, keep]
        signs = np.sign(eigvec[np.argmax(np.abs(eigvec), axis=0), np.arange(eigvec.shape[1])])
        eigvec = eigvec * signs
        self.projection = (eigvec / np.sqrt(eigval[keep])).astype(np.float32)
        self.mean = self.mean.astype(np.float32)

    def transform(self, Z: np.ndarray) -> np.ndarray:
        return (Z - self.mean) @ self.projection

    @property
    def n_components(self) -> int:
        return int(self.projection.shape[1])


def _sub_seed(seed: int, *path: int) -> int:
    """An independent, reproducible random_state for one clustering step."""
    return int(np.random.SeedSequence([int(seed), *path]).generate_state(1)[0])


# -- flat clusterings of the readout curve: method name -> fit(probe, Z, k, seed) -> assign(Z) ------

def _kmeans_method(probe: "HebbianProbe", Z: np.ndarray, k: int, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """Competitive learning (online k-means) on the projected features."""
    return probe._kmeans(Z, k, seed).predict


def _whitened_method(probe: "HebbianProbe", Z: np.ndarray, k: int, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """Online k-means on whitened components: every kept direction gets unit variance, so the
    low-variance directions (mostly context: what came before the word) weigh as much as the
    high-variance ones (mostly word identity) in the distance."""
    whitener = Whitener(Z)
    kmeans = probe._kmeans(whitener.transform(Z), k, seed)
    return lambda rows: kmeans.predict(whitener.transform(rows))


def _gmm_method(probe: "HebbianProbe", Z: np.ndarray, k: int, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """A Gaussian mixture with a diagonal covariance per component (EM, k-means initialised):
    unlike k-means each cluster weighs every direction by its own spread, so a cluster of one
    word class can ignore the directions along which its words differ."""
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(k, covariance_type="diag", max_iter=int(probe.max_epochs), n_init=1,
                          reg_covar=1e-4, random_state=seed).fit(Z)
    return gmm.predict


def _spreads(Z: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Each cluster's sum of squared distances to its mean (0 for an empty cluster), in one pass."""
    sizes = np.bincount(labels, minlength=k).astype(np.float64)
    sums = np.zeros((k, Z.shape[1]))
    np.add.at(sums, labels, Z)
    squares = np.bincount(labels, weights=np.einsum("ij,ij->i", Z, Z), minlength=k)
    return squares - (sums ** 2).sum(axis=1) / np.maximum(sizes, 1.0)


def _divisive_method(probe: "HebbianProbe", Z: np.ndarray, k: int, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """Word classes first, then context: online k-means into ``word_classes`` clusters (mostly
    word classes), then, until there are k clusters, the cluster with the largest spread (sum of
    squared distances to its mean) is split in two by online k-means on its mean-subtracted,
    whitened residuals (inside one word class these are mostly context). Clusters are spent where
    the words of one class differ most, not on telling apart classes that share a role."""
    start = min(int(probe.word_classes), k)
    level1 = probe._kmeans(Z, start, _sub_seed(seed, 0))
    labels = level1.predict(Z).astype(np.int64)
    # Each cluster's spread, kept up to date as clusters split: only the two halves of a split
    # change, so one split costs O(rows of the parent x d), not O(k x d x n).
    Z64 = Z.astype(np.float64, copy=False)
    spread = np.zeros(k)
    spread[:start] = _spreads(Z64, labels, start)
    splits = []          # (cluster split, its mean, whitener, 2-means, id of the new half)
    for new in range(start, k):
        parent = int(np.argmax(spread[:new]))
        members = np.flatnonzero(labels == parent)
        if members.size < 2 * MIN_ROWS_PER_SUBCLUSTER:
            break
        mean = Z[members].mean(axis=0)
        whitener = Whitener(Z[members] - mean)
        residual = whitener.transform(Z[members] - mean)
        halves = probe._kmeans(residual, 2, _sub_seed(seed, 1, new))
        moved = halves.predict(residual) == 1
        labels[members[moved]] = new
        spread[parent], spread[new] = _spreads(Z64[members], moved.astype(np.int64), 2)
        splits.append((parent, mean, whitener, halves, new))

    def assign(rows_: np.ndarray) -> np.ndarray:
        ids = level1.predict(rows_).astype(np.int64)
        for parent, mean, whitener, halves, new in splits:
            inside = np.flatnonzero(ids == parent)
            if inside.size:
                ids[inside[halves.predict(whitener.transform(rows_[inside] - mean)) == 1]] = new
        return ids

    return assign


#: The flat clustering methods of the readout curve (``-P method=...``).
METHODS: dict[str, Callable[..., Callable[[np.ndarray], np.ndarray]]] = {
    "kmeans": _kmeans_method, "whitened-kmeans": _whitened_method, "gmm": _gmm_method,
    "divisive": _divisive_method}


@register_probe("hebbian")
class HebbianProbe(Probe):
    """Zero-label readout: winner-take-all (online k-means) clustering; no labels in fit.

    By default it is the readout curve: one flat clustering per k of ``clusters`` (a run adds the
    number of labels, the headline), with ``method``. ``two_level=True`` selects the older
    two-level readout (``n_classes_level1`` x ``n_subclusters`` clusters) instead.

    Options: ``n_components`` principal components kept before clustering (0 keeps all);
    ``standardize`` scales every feature to unit variance first (off: it drowns the few
    high-variance directions that carry word class and context under hundreds of noise
    directions); ``n_classes_level1`` level-1 clusters (mostly word classes); ``n_subclusters``
    clusters of each level-1 cluster's mean-subtracted residuals (roles within a word class;
    1 turns level 2 off); ``whiten`` PCA-whitens each level-1 cluster's residuals before level 2;
    ``clusters`` (a list of k) switches to the readout curve: one flat clustering per k with
    ``method`` (``kmeans``, ``whitened-kmeans``, ``gmm``, ``divisive``; :data:`METHODS`), the level
    options unused; ``two_level`` uses the two-level readout instead of the curve (``clusters`` must
    then be empty; off by default, so a plain run's headline is one-to-one at one cluster per
    label); ``word_classes`` the clusters ``divisive`` starts from; ``whiten_level1`` also PCA-whitens the standardised features before level 1 (off by default:
    it let noise directions compete with word-class structure in our synthetic checks, see
    docs/probes.md); ``batch_size``, ``max_epochs`` and ``n_init`` control the online k-means
    (passes over the data, restarts from k-means++ seeds keeping the lowest inertia); ``seed``
    fixes every random choice.

    There is no ``predict_proba``: without labels the probe has no class probabilities, so
    cross-entropy metrics are not defined for it. ``predict`` returns cluster ids (as
    scikit-learn clusterers do), the same as ``predict_clusters``.
    """

    probe_name = "hebbian"
    unsupervised = True

    def __init__(
        self,
        n_classes_level1: int = 8,
        n_subclusters: int = 3,
        n_components: int = 16,
        standardize: bool = False,
        whiten: bool = False,
        whiten_level1: bool = False,
        batch_size: int = 4096,
        max_epochs: int = 100,
        n_init: int = 3,
        clusters: tuple[int, ...] = (),
        method: Literal["kmeans", "whitened-kmeans", "gmm", "divisive"] = "kmeans",
        word_classes: int = 6,
        two_level: bool = False,
        seed: int = 0,
    ):
        self.n_classes_level1 = n_classes_level1
        self.n_subclusters = n_subclusters
        self.n_components = n_components
        self.standardize = standardize
        self.whiten = whiten
        self.whiten_level1 = whiten_level1
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.n_init = n_init
        self.clusters = clusters
        self.method = method
        self.word_classes = word_classes
        self.two_level = two_level
        self.seed = seed
        self._check_options()

    def _check_options(self) -> None:
        super()._check_options()
        self._require_int("n_classes_level1", 1, 10_000)
        self._require_int("n_subclusters", 1, 1_000)
        self._require_int("n_components", 0, 100_000)
        self._require("standardize", isinstance(self.standardize, (bool, np.bool_)), "true or false")
        self._require("whiten", isinstance(self.whiten, (bool, np.bool_)), "true or false")
        self._require("whiten_level1", isinstance(self.whiten_level1, (bool, np.bool_)), "true or false")
        self._require_int("batch_size", 1)
        self._require_int("max_epochs", 1)
        self._require_int("n_init", 1)
        self._require("clusters", isinstance(self.clusters, (tuple, list)) and all(
            isinstance(k, (int, np.integer)) and not isinstance(k, bool) and 1 <= k <= 100_000
            for k in self.clusters), "a list of cluster counts between 1 and 100000, e.g. 8,16,64,256")
        self._require("method", self.method in METHODS, f"one of {', '.join(map(repr, METHODS))}")
        self._require_int("word_classes", 1, 100_000)
        self._require("two_level", isinstance(self.two_level, (bool, np.bool_)), "true or false")
        self._require("clusters", not (self.two_level and self.clusters),
                      "empty with two_level=true (the two-level readout has n_classes_level1 x n_subclusters "
                      "clusters; drop -P clusters, or drop -P two_level=true for the readout curve)")

    def _kmeans(self, Z: np.ndarray, k: int, random_state: int) -> MiniBatchKMeans:
        from sklearn.cluster import MiniBatchKMeans

        return MiniBatchKMeans(
            n_clusters=k,
            batch_size=int(self.batch_size),
            max_iter=int(self.max_epochs),
            n_init=int(self.n_init),
            random_state=random_state,
        ).fit(Z)

    def fit(self, X: Any, y: None = None) -> "HebbianProbe":
        """Cluster the training features ``X``. Takes no labels: passing ``y`` is an error."""
        if y is not None:
            raise ValueError("the hebbian probe is unsupervised: fit(X) takes no labels")
        self._check_options()
        X = self._check_X(X)
        with single_threaded():
            self._fit(X)
        return self

    def _fit(self, X: np.ndarray) -> None:
        n = X.shape[0]
        k1 = int(self.n_classes_level1)
        k2 = int(self.n_subclusters)
        if not self.two_level and not self.clusters:
            raise ProbekitError(
                "the hebbian probe's readout curve needs at least one cluster count: pass clusters "
                "(e.g. -P clusters=8; a run adds the number of labels itself), or two_level=true for the "
                "two-level readout.")
        if n < k1 and self.two_level:
            raise ProbekitError(
                f"the hebbian probe needs at least n_classes_level1={k1} training rows, got {n}"
            )
        from sklearn.decomposition import PCA
        from sklearn.preprocessing import StandardScaler

        self.n_features_in_ = X.shape[1]
        self.scaler_ = StandardScaler(with_std=bool(self.standardize)).fit(X)
        Z = self.scaler_.transform(X).astype(np.float32, copy=False)
        keep = int(self.n_components)
        self.pca_ = PCA(keep, random_state=_sub_seed(self.seed, 0)).fit(Z) if 0 < keep < min(Z.shape) else None
        if self.pca_ is not None:
            Z = self.pca_.transform(Z).astype(np.float32, copy=False)
        self.whitener_level1_ = Whitener(Z) if self.whiten_level1 else None
        if self.whitener_level1_ is not None:
            Z = self.whitener_level1_.transform(Z)

        if not self.two_level:
            self._fit_curve(Z)
            return
        self.curve_ = None
        self.level1_ = self._kmeans(Z, k1, _sub_seed(self.seed, 1))
        level1 = self.level1_.predict(Z)

        # Level 2: per level-1 cluster, mean-subtracted (optionally whitened) residuals.
        self.level2_: list[dict[str, Any] | None] = []
        for c in range(k1):
            rows = Z[level1 == c]
            if k2 == 1 or rows.shape[0] < k2 * MIN_ROWS_PER_SUBCLUSTER:
                self.level2_.append(None)
                continue
            mean = rows.mean(axis=0)
            residual = rows - mean
            whitener = Whitener(residual) if self.whiten else None
            if whitener is not None:
                residual = whitener.transform(residual)
            kmeans = self._kmeans(residual, k2, _sub_seed(self.seed, 2, c))
            self.level2_.append({"mean": mean, "whitener": whitener, "kmeans": kmeans})

        self.n_clusters_ = k1 * k2
        self.cluster_sizes_ = np.bincount(self._assign(Z), minlength=self.n_clusters_)
        self.n_nonempty_clusters_ = int((self.cluster_sizes_ > 0).sum())

    def _fit_curve(self, Z: np.ndarray) -> None:
        """One flat clustering per k of ``clusters``, each with its own seed stream."""
        counts = tuple(dict.fromkeys(int(k) for k in self.clusters))
        if Z.shape[0] < max(counts):
            raise ProbekitError(f"the hebbian probe needs at least as many training rows as its largest cluster "
                                f"count (clusters={','.join(map(str, counts))}), got {Z.shape[0]} rows.")
        method = METHODS[self.method]
        self.curve_ = {k: method(self, Z, k, _sub_seed(self.seed, 3, k)) for k in counts}
        self.level1_ = None
        self.n_clusters_ = counts[0]
        self.cluster_sizes_ = np.bincount(self.curve_[counts[0]](Z), minlength=counts[0])
        self.n_nonempty_clusters_ = int((self.cluster_sizes_ > 0).sum())

    def with_cluster_count(self, k: int) -> "HebbianProbe":
        """In curve mode (the default), add ``k`` to the cluster counts (the run adds the number of
        labels, so the headline one-to-one readout has one cluster per label); a no-op for the
        two-level readout."""
        if not self.two_level and int(k) not in self.clusters:
            self.set_params(clusters=(*self.clusters, int(k)))
        return self

    def predict_curve(self, X: Any) -> dict[int, np.ndarray] | None:
        """``{k: cluster ids}`` for every k of ``clusters``; None for a single clustering."""
        self._check_fitted("curve_")
        if self.curve_ is None:
            return None
        X = self._check_X(X, fitted_dim=self.n_features_in_)
        with single_threaded():
            Z = self.project(X)
            return {k: np.asarray(assign(Z), dtype=np.int64) for k, assign in self.curve_.items()}

    def _assign(self, Z: np.ndarray) -> np.ndarray:
        if self.curve_ is not None:
            return np.asarray(self.curve_[self.n_clusters_](Z), dtype=np.int64)
        level1 = self.level1_.predict(Z).astype(np.int64)
        k2 = int(self.n_subclusters)
        clusters = level1 * k2
        for c, sub in enumerate(self.level2_):
            if sub is None:
                continue
            rows = level1 == c
            if not rows.any():
                continue
            residual = Z[rows] - sub["mean"]
            if sub["whitener"] is not None:
                residual = sub["whitener"].transform(residual)
            clusters[rows] += sub["kmeans"].predict(residual)
        return clusters

    def predict_clusters(self, X: Any) -> np.ndarray:
        """Cluster id of each row: ``level1 * n_subclusters + level2`` (int64, < n_clusters_); in curve
        mode, the clustering of the first k of ``clusters``."""
        self._check_fitted("curve_")
        X = self._check_X(X, fitted_dim=self.n_features_in_)
        with single_threaded():
            return self._assign(self.project(X))

    def project(self, X: np.ndarray) -> np.ndarray:
        """The space level 1 clusters in: centred (optionally scaled), PCA-reduced, optionally whitened."""
        Z = self.scaler_.transform(X).astype(np.float32, copy=False)
        if self.pca_ is not None:
            Z = self.pca_.transform(Z).astype(np.float32, copy=False)
        if self.whitener_level1_ is not None:
            Z = self.whitener_level1_.transform(Z)
        return Z

    def predict(self, X: Any) -> np.ndarray:
        """Cluster ids (as scikit-learn clusterers do); map them to labels with ClusterReadout."""
        return self.predict_clusters(X)

    def fit_predict(self, X: Any, y: None = None) -> np.ndarray:
        """``fit(X)`` then the training rows' cluster ids."""
        return self.fit(X, y).predict_clusters(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Not defined: a zero-label readout has no class probabilities."""
        raise NotImplementedError(
            "the hebbian probe outputs cluster ids, not class probabilities: cross-entropy "
            "metrics are not defined for it; score it with ClusterReadout (one-to-one and "
            "many-to-one accuracy)."
        )
