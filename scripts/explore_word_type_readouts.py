"""Exploratory label-free readouts built on word types, scored like the registered ones (issue 15).

    PYTHONPATH=. OMP_NUM_THREADS=1 python scripts/explore_word_type_readouts.py [--split dev|test] [--out FILE.csv]

Not probe methods: they need each word's *type*, which the hebbian probe does not get (it sees a
feature matrix). Here the type of a word is read off the EMA encoder's ``x`` block (the word's own
embedding, identical for every token of a type), so they run on EMA features only. They test the
idea left open in issue 15: cluster word *types* into classes without labels, then cluster the
*context* part of the traces within classes, with k = the number of roles in total.

``--split dev`` (the default) fits the encoder and every readout on the 3,200 fitting sentences of
``choose_hebbian_defaults.dev_split`` and scores the 800 dev sentences (the same split and seed as
``scripts/choose_readout_method.py``); no test sentence is read. ``--split test`` fits on the whole
training set and scores the test set, for the record only: nothing is chosen on it. The
cluster -> role mappings are fitted on the fitting words' clusters and labels (``ClusterReadout``).
docs/probes.md quotes the dev table.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import normalize

from probekit import registry
from probekit.probes.readout import ClusterReadout


def _dev_split():
    spec = importlib.util.spec_from_file_location("choose_hebbian_defaults",
                                                  Path(__file__).with_name("choose_hebbian_defaults.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dev_split


def load(task_name: str, split: str, seed: int = 0) -> dict:
    """Features, labels and word types of the fitting and scored words (EMA over hebbian embeddings)."""
    task = registry.tasks.create(task_name)
    data = task.load()
    fit, scored = _dev_split()(data.train) if split == "dev" else (data.train, data.test)
    encoder = registry.encoders.create("ema", embedding="hebbian", seed=seed).fit(fit)
    out = {}
    for part, corpus in (("fit", fit), ("scored", scored)):
        features, labels = encoder.encode(corpus), task.targets(corpus)
        keep = labels.labels >= 0
        start, stop = features.blocks["x"]
        out[f"x_{part}"], out[f"y_{part}"] = features.X[keep], labels.labels[keep]
        out[f"own_{part}"] = features.X[keep, start:stop]
    out["n_labels"] = len(task.targets(fit).names)
    return out


class Types:
    """Word types of the fitting words (identical own-embedding rows) and their mean traces."""

    def __init__(self, data: dict):
        own, self.codes = np.unique(data["own_fit"], axis=0, return_inverse=True)
        self.codes = self.codes.ravel()
        index = {row.tobytes(): i for i, row in enumerate(own)}
        # a scored word of a type never seen in fitting: -1 (none in the dev or test split of `roles`)
        self.scored = np.array([index.get(row.tobytes(), -1) for row in data["own_scored"]])
        self.count = np.bincount(self.codes, minlength=len(own))
        self.mean = np.zeros((len(own), data["x_fit"].shape[1]))
        np.add.at(self.mean, self.codes, data["x_fit"])
        self.mean /= self.count[:, None]
        self.vectors = normalize(self.mean - self.mean.mean(0))        # centred, unit length

    def classes(self, n: int, linkage: str = "average") -> np.ndarray:
        if linkage == "kmeans":
            return KMeans(n, n_init=10, random_state=0).fit_predict(self.vectors)
        return AgglomerativeClustering(n, linkage=linkage).fit_predict(self.vectors)

    def of(self, classes: np.ndarray, part: str) -> np.ndarray:
        codes = self.codes if part == "fit" else self.scored
        if (codes < 0).any():
            raise SystemExit("a scored word has a type unseen in fitting: these readouts do not handle it")
        return classes[codes]


def type_clusters(types: Types, data: dict, k: int, linkage: str):
    """Word types clustered into k classes; every token gets its type's class (no context)."""
    classes = types.classes(k, linkage)
    return types.of(classes, "fit"), types.of(classes, "scored")


def classes_then_context(types: Types, data: dict, k: int, n_classes: int, features: str):
    """``n_classes`` type classes, then the k - n_classes other clusters spent, one at a time, on the
    class whose context k-means gains most (sum of squares); the context of a word is its trace
    minus its type's mean trace (``residual``) or the trace's profile over the type classes
    (``profile``: non-negative least-squares-like coefficients of each EMA block on the classes'
    mean embeddings, normalised to sum 1)."""
    classes = types.classes(n_classes)
    fit_class, scored_class = types.of(classes, "fit"), types.of(classes, "scored")
    if features == "residual":
        context_fit = data["x_fit"] - types.mean[types.codes]
        context_scored = data["x_scored"] - types.mean[types.scored]
    else:
        centroids = np.stack([types.mean[classes == c, :data["own_fit"].shape[1]].mean(0) for c in range(n_classes)])
        pinv = np.linalg.pinv(centroids)
        width = data["own_fit"].shape[1]

        def profile(X):
            blocks = [np.clip(X[:, b:b + width] @ pinv, 0, None) for b in range(width, X.shape[1], width)]
            return np.concatenate([p / (p.sum(1, keepdims=True) + 1e-3) for p in blocks], 1)
        context_fit, context_scored = profile(data["x_fit"]), profile(data["x_scored"])
    models, inertia = {}, {}
    for c in range(n_classes):
        rows = context_fit[fit_class == c]
        pca = PCA(min(16, rows.shape[1]), random_state=0).fit(rows)
        Z = pca.transform(rows)
        inertia[c] = {1: float(((Z - Z.mean(0)) ** 2).sum())}
        for j in range(2, k - n_classes + 2):
            if len(Z) < 5 * j:
                inertia[c][j] = inertia[c][j - 1]
                continue
            km = KMeans(j, n_init=3, random_state=0).fit(Z)
            models[c, j], inertia[c][j] = (pca, km), float(km.inertia_)
    counts = dict.fromkeys(range(n_classes), 1)
    for _ in range(k - n_classes):
        best = max(counts, key=lambda c: inertia[c][counts[c]] - inertia[c][counts[c] + 1])
        counts[best] += 1
    offsets = np.cumsum([0] + [counts[c] for c in range(n_classes)])

    def assign(cls, context):
        out = offsets[cls].copy()
        for c, n in counts.items():
            if n > 1 and (c, n) in models:
                pca, km = models[c, n]
                inside = cls == c
                out[inside] += km.predict(pca.transform(context[inside]))
        return out
    return assign(fit_class, context_fit), assign(scored_class, context_scored)


def registered_kmeans(types: Types, data: dict, k: int):
    """The registered default (``-p hebbian``: online k-means on 16 principal components), for reference."""
    probe = registry.probes.create("hebbian", clusters=(k,)).fit(data["x_fit"])
    return probe.predict_curve(data["x_fit"])[k], probe.predict_curve(data["x_scored"])[k]


def gmm_from_type_classes(types: Types, data: dict, k: int, covariance: str):
    """A Gaussian mixture on 16 principal components of the traces, started from the k type classes' means."""
    pca = PCA(16, random_state=0).fit(data["x_fit"])
    Z, Zs = pca.transform(data["x_fit"]), pca.transform(data["x_scored"])
    fit_class = types.of(types.classes(k), "fit")
    means = np.stack([Z[fit_class == c].mean(0) for c in range(k)])
    gmm = GaussianMixture(k, covariance_type=covariance, means_init=means, reg_covar=1e-4, random_state=0).fit(Z)
    return gmm.predict(Z), gmm.predict(Zs)


READOUTS: dict[str, Callable] = {
    "registered kmeans (default)": registered_kmeans,
    "word types, average linkage": lambda t, d, k: type_clusters(t, d, k, "average"),
    "word types, complete linkage": lambda t, d, k: type_clusters(t, d, k, "complete"),
    "word types, Ward linkage": lambda t, d, k: type_clusters(t, d, k, "ward"),
    "word types, k-means": lambda t, d, k: type_clusters(t, d, k, "kmeans"),
    **{f"{c} type classes + residual context": (lambda c: lambda t, d, k: classes_then_context(t, d, k, c, "residual"))(c)
       for c in (5, 6, 7)},
    **{f"{c} type classes + class-profile context": (lambda c: lambda t, d, k: classes_then_context(t, d, k, c, "profile"))(c)
       for c in (5, 6, 7)},
    "tied GMM from the type classes": lambda t, d, k: gmm_from_type_classes(t, d, k, "tied"),
}


def score_row(name: str, fit_clusters: np.ndarray, scored_clusters: np.ndarray, data: dict, k: int, split: str,
              **extra) -> dict:
    """One table row: the cluster -> role mappings fitted on the fitting words, scored on the scored words."""
    mapping = ClusterReadout().fit(fit_clusters, data["y_fit"], k, n_clusters=max(k, int(fit_clusters.max()) + 1))
    return {"readout": name, "k": k, **extra,
            f"{split} one-to-one": mapping.accuracy(scored_clusters, data["y_scored"], "one_to_one"),
            f"{split} many-to-one": mapping.accuracy(scored_clusters, data["y_scored"], "many_to_one")}


def write_table(rows: list[dict], out: Path | None) -> None:
    """Print the rows as a markdown table (and write them as csv to ``out``)."""
    table = pd.DataFrame(rows)
    if out:
        table.to_csv(out, index=False, float_format="%.3f")
    print(table.to_markdown(index=False, floatfmt=".3f"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="roles")
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    data = load(args.task, args.split)
    types, k = Types(data), data["n_labels"]
    rows = []
    for name, readout in READOUTS.items():
        rows.append(score_row(name, *readout(types, data, k), data, k, args.split, types=len(types.count)))
    write_table(rows, args.out)


if __name__ == "__main__":
    main()
