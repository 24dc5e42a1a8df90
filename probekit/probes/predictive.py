"""Zero-label readout that looks at what comes next: word classes, then context-predictive splits.

k-means on the raw trace finds word classes, not roles: inside the noun class no split of the
trace follows the roles, although a supervised probe on the same traces separates them. The role
of a word shows in what comes *next* (a subject is followed by its verb, an object by the end of
the sentence, a preposition, *who*). So this probe (issue 15; ``scripts/explore_predictive_readouts.py``
explored the alternatives, docs/probes.md tabulates them) reads the unlabelled training sequence:

1. **Word classes.** The training word types are clustered into ``word_classes`` classes by
   average linkage on ``[mean trace, next-word distribution]``: each type's mean trace, centred and
   unit length, joined with the square root of its distribution of next words, centred and unit
   length (what precedes a word is in its trace; what follows is the second half).
2. **Context-predictive space per class.** Inside each class, a regularised CCA between the trace
   and the next word (one-hot, within the sentence; a boundary symbol after the last word), fitted
   on that class's training rows; the trace is projected on the first ``rank`` canonical
   directions, each scaled by its canonical correlation.
3. **Spare clusters where the next word is least explained.** The k - ``word_classes`` other
   clusters go, one at a time, to the class whose next k-means split (in its projected space)
   lowers n x H(next word | cluster, word type) most, in bits: a split that only re-finds the
   words' identity gains nothing; one that cuts across the tokens of a type (one noun as subject
   or as object) does.

No label is read anywhere: ``fit(X, sequence=...)`` gets the training rows in corpus order and
their :class:`probekit.contracts.WordSequence`; the run maps clusters to labels on the labelled
training rows afterwards (:class:`probekit.probes.readout.ClusterReadout`).

**Unseen word types** (word id -1: a test word whose type never occurs in training, common on
``ud-roles``) take the class whose mean training trace is nearest to their trace (Euclidean), and
are then split inside that class by the trace alone, like every other row (step 2 needs no word
identity). Rare training types beyond the ``max_types`` most frequent are not in the linkage;
they take the class whose centroid (mean of its clustered types' vectors) is nearest in the
same ``[mean trace, next words]`` space. Next words beyond the ``next_words`` most frequent share
one column of the CCA's second view (the cost in bits uses every word). On ``roles`` both caps
are far above the vocabulary, so neither applies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from probekit.errors import ProbekitError
from probekit.probes.base import Probe
from probekit.registry import register_probe
from probekit.threads import single_threaded

#: A class with fewer training rows than this many per cluster is not split further.
MIN_ROWS_PER_CLUSTER = 5


def next_word_ids(sequence: Any, n_rows: int) -> np.ndarray:
    """Each row's next word id within its sentence; ``n_types`` (the boundary symbol) after a
    sentence's last word; an unseen next word (-1) is kept as -1."""
    offsets = np.asarray(sequence.offsets, dtype=np.int64)
    words = np.asarray(sequence.word_ids, dtype=np.int64)
    if offsets.ndim != 1 or offsets[0] != 0 or offsets[-1] != n_rows or words.shape != (n_rows,) \
            or (np.diff(offsets) < 0).any():
        raise ProbekitError(f"the word sequence does not match the features: {n_rows} rows, offsets ending at "
                            f"{int(offsets[-1])}, {words.shape[0]} word ids; pass the sequence of the same corpus.")
    following = np.empty(n_rows, dtype=np.int64)
    following[:-1] = words[1:]
    last = offsets[1:][np.diff(offsets) > 0] - 1          # last row of every non-empty sentence
    following[last] = int(sequence.n_types)
    return following


def conditional_bits(groups: np.ndarray, following: np.ndarray) -> float:
    """n x H(following | group) in bits, from the (group, following) pair counts."""
    pairs = groups.astype(np.int64) * (int(following.max()) + 1) + following
    keys, counts = np.unique(pairs, return_counts=True)
    _, group_of_key = np.unique(keys // (int(following.max()) + 1), return_inverse=True)
    totals = np.bincount(group_of_key, weights=counts)[group_of_key]
    return float(-(counts * np.log2(counts / totals)).sum())


def _inverse_sqrt(C: np.ndarray, ridge: float) -> np.ndarray:
    w, V = np.linalg.eigh(C)
    w = np.maximum(w, 0) + ridge * max(float(w.max()), 1e-12)
    return (V / np.sqrt(w)) @ V.T


class NextWordCCA:
    """Regularised CCA of the trace against the one-hot next word (integer codes);
    ``transform`` projects on the first ``rank`` directions scaled by their canonical correlations.
    The cross-covariance is summed per next word (a sparse product), never as a dense one-hot matrix."""

    def __init__(self, X: np.ndarray, codes: np.ndarray, rank: int, ridge: float):
        from scipy import sparse

        X = X.astype(np.float64)
        n = len(X)
        self.mean = X.mean(0)
        Xc = X - self.mean
        present, codes = np.unique(codes, return_inverse=True)     # columns absent here carry nothing
        onehot = sparse.csr_matrix((np.ones(n), (np.arange(n), codes.ravel())), shape=(n, len(present)))
        p = np.asarray(onehot.sum(0)).ravel() / n
        cross = np.asarray((onehot.T @ Xc)).T / n                  # Xc sums to 0, so centring Y changes nothing
        Wx = _inverse_sqrt(Xc.T @ Xc / n, ridge)
        Wy = _inverse_sqrt(np.diag(p) - np.outer(p, p), ridge)
        U, s, _ = np.linalg.svd(Wx @ cross @ Wy, full_matrices=False)
        rank = min(rank, len(s))
        self.correlations = s[:rank]
        self.projection = Wx @ U[:, :rank] * s[:rank]

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X.astype(np.float64) - self.mean) @ self.projection


def _unit_rows(A: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(A, axis=1, keepdims=True)
    return A / np.where(norms > 0, norms, 1.0)


def _nearest(rows: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre (Euclidean) of every row, without a rows x centres x dim array."""
    distance = (centres ** 2).sum(1)[None, :] - 2 * rows @ centres.T
    return distance.argmin(1).astype(np.int64)


@register_probe("predictive")
class PredictiveProbe(Probe):
    """Zero-label readout: word classes, then splits that predict the next word (issue 15).

    Options: ``word_classes`` classes of word types (5, the dev choice on ``roles``); ``rank``
    canonical directions per class (4); ``ridge`` the CCA's regularisation (a fraction of each
    covariance's largest eigenvalue); ``n_init`` k-means restarts per split; ``next_words`` most
    frequent next words that get their own CCA column; ``max_types`` most frequent word types in the
    average linkage; ``clusters`` the cluster counts of the readout curve (a run adds the number of
    labels; every k must be >= ``word_classes``); ``seed`` fixes every random choice (the k-means
    starts; the linkage and the CCA are deterministic).

    It needs the word sequence (``uses_sequence``): ``fit(X, sequence=...)``. No labels, no
    ``predict_proba``.
    """

    probe_name = "predictive"
    unsupervised = True
    uses_sequence = True

    def __init__(self, word_classes: int = 5, rank: int = 4, ridge: float = 1e-3, n_init: int = 5,
                 next_words: int = 1000, max_types: int = 2000, clusters: tuple[int, ...] = (), seed: int = 0):
        self.word_classes = word_classes
        self.rank = rank
        self.ridge = ridge
        self.n_init = n_init
        self.next_words = next_words
        self.max_types = max_types
        self.clusters = clusters
        self.seed = seed
        self._check_options()

    def _check_options(self) -> None:
        super()._check_options()
        self._require_int("word_classes", 1, 10_000)
        self._require_int("rank", 1, 10_000)
        self._require_float("ridge", 0.0, 1.0, low_open=True)
        self._require_int("n_init", 1, 1_000)
        self._require_int("next_words", 1, 1_000_000)
        self._require_int("max_types", 2, 100_000)
        self._require("clusters", isinstance(self.clusters, (tuple, list)) and all(
            isinstance(k, (int, np.integer)) and not isinstance(k, bool) and int(self.word_classes) <= k <= 100_000
            for k in self.clusters),
            f"a list of cluster counts, each at least word_classes={self.word_classes} (lower -P word_classes "
            f"for fewer clusters)")

    def with_cluster_count(self, k: int) -> "PredictiveProbe":
        """Add ``k`` to the cluster counts (a run adds the number of labels: the headline)."""
        if int(k) not in self.clusters:
            self.set_params(clusters=(*self.clusters, int(k)))
        return self

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, X: Any, y: None = None, *, sequence: Any = None) -> "PredictiveProbe":
        """Fit on the training rows ``X`` in corpus order and their ``sequence``. Takes no labels."""
        if y is not None:
            raise ValueError("the predictive probe is unsupervised: fit(X, sequence=...) takes no labels")
        self._check_options()
        if sequence is None:
            raise ProbekitError("the predictive probe reads the word sequence: fit(X, sequence=WordSequence) "
                                "(probekit run passes it; see probekit.contracts.word_sequences).")
        if not self.clusters:
            raise ProbekitError("the predictive probe needs at least one cluster count: -P clusters=8 (a run adds "
                                "the number of labels itself).")
        X = self._check_X(X)
        with single_threaded():
            self._fit(X, sequence)
        return self

    def _fit(self, X: np.ndarray, sequence: Any) -> None:
        words = np.asarray(sequence.word_ids, dtype=np.int64)
        following = next_word_ids(sequence, len(X))
        n_types = int(sequence.n_types)
        if (words < 0).any() or words.max() >= n_types:
            raise ProbekitError(f"the predictive probe's training word ids must lie in 0..n_types-1 ({n_types - 1}): "
                                "they come from the training corpus's own vocabulary (contracts.word_sequences).")
        self.n_features_in_ = X.shape[1]
        X64 = X.astype(np.float64)
        # the next-word columns: the next_words most frequent next words (the boundary among them) each
        # get one, the rest share the last
        by_frequency = np.argsort(-np.bincount(following, minlength=n_types + 1), kind="stable")
        n_own = min(int(self.next_words), n_types + 1)
        column = np.full(n_types + 1, n_own, dtype=np.int64)
        column[by_frequency[:n_own]] = np.arange(n_own)
        self.type_class_ = self._type_classes(X64, words, column[following], n_types)
        row_class = self.type_class_[words]
        n_classes = int(self.type_class_.max()) + 1
        self.class_means_ = np.stack([X64[row_class == c].mean(0) for c in range(n_classes)])
        self.spaces_, models, cost = [], {}, {}
        projected, codes = [], []
        for c in range(n_classes):
            inside = row_class == c
            cca = NextWordCCA(X64[inside], column[following[inside]], int(self.rank), float(self.ridge))
            self.spaces_.append(cca)
            projected.append(cca.transform(X64[inside]))
            codes.append((words[inside], following[inside]))
            cost[c, 1] = conditional_bits(words[inside], following[inside])

        def split_cost(c: int, j: int) -> float:
            """n x H(next word | cluster, word type) of class c cut into j k-means clusters (memoised):
            grouping by the word type too, a split that only re-finds word identity gains nothing."""
            if (c, j) not in cost:
                Z = projected[c]
                if len(Z) < MIN_ROWS_PER_CLUSTER * j:
                    cost[c, j] = split_cost(c, j - 1)
                else:
                    from sklearn.cluster import KMeans

                    km = KMeans(j, n_init=int(self.n_init), random_state=int(self.seed)).fit(Z)
                    models[c, j] = km
                    type_ids, nxt = codes[c]
                    cost[c, j] = conditional_bits(km.labels_.astype(np.int64) * n_types + type_ids, nxt)
            return cost[c, j]

        # the greedy allocation up to the largest k; every smaller k is a prefix of it
        counts = [1] * n_classes
        allocations = {n_classes: list(counts)}
        for total in range(n_classes + 1, max(int(k) for k in self.clusters) + 1):
            best = max(range(n_classes), key=lambda c: split_cost(c, counts[c]) - split_cost(c, counts[c] + 1))
            counts[best] += 1
            allocations[total] = list(counts)
        self.curve_ = {}
        for k in dict.fromkeys(int(k) for k in self.clusters):
            allocation = allocations[k]
            self.curve_[k] = (np.cumsum([0] + allocation)[:-1],
                              [models.get((c, n)) if n > 1 else None for c, n in enumerate(allocation)])
        self.n_clusters_ = int(self.clusters[0])

    def _type_classes(self, X: np.ndarray, words: np.ndarray, next_column: np.ndarray, n_types: int) -> np.ndarray:
        """Each type's class (-1 for an id that never occurs): average linkage of the ``max_types``
        most frequent types on [mean trace, sqrt next-word distribution] (each centred and unit
        length); the rarer types go to the nearest class centroid in the same space."""
        from scipy import sparse
        from sklearn.cluster import AgglomerativeClustering

        n_classes = int(self.word_classes)
        frequency = np.bincount(words, minlength=n_types)
        seen = np.flatnonzero(frequency > 0)
        if len(seen) < n_classes:
            raise ProbekitError(f"the predictive probe needs at least word_classes={n_classes} word types in "
                                f"training, got {len(seen)}; lower -P word_classes.")
        means = np.zeros((n_types, X.shape[1]))
        np.add.at(means, words, X)
        means /= np.maximum(frequency, 1)[:, None]
        table = sparse.csr_matrix((np.ones(len(words)), (words, next_column)),
                                  shape=(n_types, int(next_column.max()) + 1)).toarray()
        right = _unit_rows(np.sqrt(table / np.maximum(frequency, 1)[:, None]))
        clustered = seen[np.argsort(-frequency[seen], kind="stable")[:int(self.max_types)]]
        left = means - means[clustered].mean(0)
        right = right - right[clustered].mean(0)
        vectors = np.hstack([_unit_rows(left), _unit_rows(right)])
        classes = np.full(n_types, -1, dtype=np.int64)
        classes[clustered] = AgglomerativeClustering(n_classes, linkage="average").fit_predict(vectors[clustered])
        rare = np.setdiff1d(seen, clustered)
        if rare.size:
            centroids = np.stack([vectors[clustered][classes[clustered] == c].mean(0) for c in range(n_classes)])
            classes[rare] = _nearest(vectors[rare], centroids)
        return classes

    # -- assigning -------------------------------------------------------------------------------
    def _row_classes(self, X: np.ndarray, sequence: Any) -> np.ndarray:
        """Each row's word class: its type's class; an unseen type (-1, or an id with no training
        row) takes the class with the nearest mean training trace."""
        words = np.asarray(sequence.word_ids, dtype=np.int64)
        next_word_ids(sequence, len(X))        # checks the sequence matches the rows
        in_range = (words >= 0) & (words < len(self.type_class_))
        classes = np.full(len(X), -1, dtype=np.int64)
        classes[in_range] = self.type_class_[words[in_range]]
        unseen = classes < 0
        if unseen.any():
            classes[unseen] = _nearest(X[unseen].astype(np.float64), self.class_means_)
        return classes

    def _assign(self, X: np.ndarray, classes: np.ndarray, k: int) -> np.ndarray:
        offsets, models = self.curve_[k]
        out = offsets[classes].astype(np.int64)
        for c, model in enumerate(models):
            inside = classes == c
            if model is not None and inside.any():
                out[inside] += model.predict(self.spaces_[c].transform(X[inside]))
        return out

    def predict_curve(self, X: Any, *, sequence: Any = None) -> dict[int, np.ndarray]:
        """``{k: cluster ids}`` for every k of ``clusters``."""
        self._check_fitted("curve_")
        X = self._check_X(X, fitted_dim=self.n_features_in_)
        if sequence is None:
            raise ProbekitError("the predictive probe reads the word sequence: predict_curve(X, sequence=...).")
        with single_threaded():
            classes = self._row_classes(X, sequence)
            return {k: self._assign(X, classes, k) for k in self.curve_}

    def predict_clusters(self, X: Any, *, sequence: Any = None) -> np.ndarray:
        """Cluster ids at the first k of ``clusters``."""
        return self.predict_curve(X, sequence=sequence)[self.n_clusters_]

    def predict(self, X: Any, *, sequence: Any = None) -> np.ndarray:
        """Cluster ids (as scikit-learn clusterers do); map them to labels with ClusterReadout."""
        return self.predict_clusters(X, sequence=sequence)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Not defined: a zero-label readout has no class probabilities."""
        raise NotImplementedError("the predictive probe outputs cluster ids, not class probabilities; score it "
                                  "with ClusterReadout (one-to-one and many-to-one accuracy).")
