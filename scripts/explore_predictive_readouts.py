"""Context-predictive (two-view) projections of the EMA trace, then clustering (issue 15).

    PYTHONPATH=. OMP_NUM_THREADS=1 python scripts/explore_predictive_readouts.py [--split dev|test] [--seed 0] [--out FILE.csv]

Why: k-means on the raw trace finds word classes, not roles; inside the noun class no label-free
split follows the roles, although a supervised linear probe on the same nouns' traces reaches 0.90.
The role of a noun shows in what comes *next* (a subject is followed by its verb; an object by the
end, a preposition, "who"...). So the trace is projected onto the directions that predict the
neighbouring words (canonical correlation analysis between the trace at t and a second view built
from the unlabelled training sequence only: the next word, the two neighbours, the trace at t+1),
and clustered there. No role label is used anywhere before the cluster -> role mapping, which is
fitted on the fitting words only (``ClusterReadout``).

The split, encoder and scoring are those of ``scripts/explore_word_type_readouts.py``: ``--split
dev`` fits on 3,200 fitting sentences and scores 800 dev sentences of the training set (no test
sentence is read); ``--split test`` fits on the whole training set and scores the test set, for the
record only. The second views need sentence boundaries and word identities, which the hebbian probe
does not receive today (its ``fit(X)`` gets the labelled rows' features only); see docs/probes.md.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.preprocessing import normalize

from probekit import registry
from probekit.probes.readout import ClusterReadout


def _sibling(name: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(task_name: str, split: str, seed: int = 0) -> dict:
    """Features, labels, word ids and sentence boundaries of the fitting and scored words."""
    task = registry.tasks.create(task_name)
    data = task.load()
    fit, scored = _sibling("choose_hebbian_defaults").dev_split(data.train) if split == "dev" else (data.train, data.test)
    encoder = registry.encoders.create("ema", embedding="hebbian", seed=seed).fit(fit)
    vocab = {w: i for i, w in enumerate(sorted(set(fit.words())))}
    out = {"n_labels": len(task.targets(fit).names), "vocab": vocab}
    for part, corpus in (("fit", fit), ("scored", scored)):
        features, labels = encoder.encode(corpus), task.targets(corpus)
        if (labels.labels < 0).any():
            raise SystemExit("unlabelled words: the neighbour views assume every word is a row")
        out[f"x_{part}"], out[f"y_{part}"] = features.X, labels.labels
        start, stop = features.blocks["x"]
        out[f"own_{part}"] = features.X[:, start:stop]
        out[f"offsets_{part}"] = corpus.offsets
        out[f"word_{part}"] = np.array([vocab.get(w, len(vocab)) for w in corpus.words()])
    return out


# -- second views (all from the fitting part's unlabelled sequence) -----------------------------------

def _shift(offsets: np.ndarray, n: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """(index of the word ``step`` places away, whether it is inside the same sentence)."""
    sentence = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    target = np.arange(n) + step
    inside = (target >= 0) & (target < n)
    inside[inside] &= sentence[target[inside]] == sentence[inside]
    return np.clip(target, 0, n - 1), inside


def one_hot_neighbour(data: dict, steps: tuple[int, ...]) -> np.ndarray:
    """One-hot of the words ``steps`` away (a boundary symbol past a sentence's ends), concatenated."""
    words, offsets = data["word_fit"], data["offsets_fit"]
    v = len(data["vocab"]) + 2
    blocks = []
    for step in steps:
        target, inside = _shift(offsets, len(words), step)
        ids = np.where(inside, words[target], v - 1)
        blocks.append(np.eye(v, dtype=np.float64)[ids])
    return np.concatenate(blocks, 1)


def next_trace(data: dict) -> np.ndarray:
    """The trace at t+1 (zeros after a sentence's last word)."""
    X, offsets = data["x_fit"].astype(np.float64), data["offsets_fit"]
    target, inside = _shift(offsets, len(X), 1)
    return np.where(inside[:, None], X[target], 0.0)


# -- canonical correlation analysis ------------------------------------------------------------------

def _inv_sqrt(C: np.ndarray, ridge: float) -> np.ndarray:
    w, V = np.linalg.eigh(C)
    w = np.maximum(w, 0) + ridge * max(float(w.max()), 1e-12)
    return (V / np.sqrt(w)) @ V.T


class CCA:
    """Regularised CCA of the trace (view 1) against a second view; ``transform`` projects the trace
    on the first ``rank`` canonical directions, scaled by their canonical correlations (so the
    directions that predict the neighbours best weigh most in the clustering distance)."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, rank: int, ridge: float = 1e-3, scale: bool = True):
        X, Y = X.astype(np.float64), Y.astype(np.float64)
        self.mean = X.mean(0)
        Xc, Yc = X - self.mean, Y - Y.mean(0)
        n = len(X)
        Wx = _inv_sqrt(Xc.T @ Xc / n, ridge)
        Wy = _inv_sqrt(Yc.T @ Yc / n, ridge)
        U, s, _ = np.linalg.svd(Wx @ (Xc.T @ Yc / n) @ Wy, full_matrices=False)
        self.correlations = s[:rank]
        self.projection = Wx @ U[:, :rank] * (s[:rank] if scale else 1.0)

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean) @ self.projection


# -- clusterings in the projected space --------------------------------------------------------------

def kmeans(Z: np.ndarray, Zs: np.ndarray, k: int, seed: int):
    km = KMeans(k, n_init=10, random_state=seed).fit(Z)
    return km.labels_, km.predict(Zs)


def _next_word_bits(labels: np.ndarray, following: np.ndarray) -> float:
    """n x H(next word | cluster) in bits: what the clusters leave unknown about the next word."""
    table = np.zeros((int(labels.max()) + 1, int(following.max()) + 1))
    np.add.at(table, (labels, following), 1.0)
    rows = table.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(-np.nansum(table * np.log2(table / rows)))


def type_classes_two_sided(types, data: dict, n_classes: int) -> np.ndarray:
    """Average linkage of the word types on [mean trace, sqrt next-word distribution], each unit length."""
    following = one_hot_neighbour(data, (1,))
    counts = np.zeros((len(types.count), following.shape[1]))
    np.add.at(counts, types.codes, following)
    right = normalize(np.sqrt(counts / counts.sum(1, keepdims=True)))
    right = normalize(right - right.mean(0))
    return AgglomerativeClustering(n_classes, linkage="average").fit_predict(np.hstack([types.vectors, right]))


#: Where the next cluster goes: the class whose split lowers a cost most. ``inertia``: k-means' sum
#: of squares in the projected space; ``next-word bits``: n x H(next word | cluster), in bits, so a
#: cluster is spent where context predicts the next word differently (the two-view idea itself; the
#: unit is the same in every class); ``next-class bits``: the same about the next word's type class
#: (what kind of word follows); ``bits beyond the word``: n x H(next word | cluster, word type), so
#: a split that only re-finds the words' own identity (transitive vs. intransitive verbs) gains
#: nothing, and one that cuts across the words of a type (one noun as subject or object) gains.
CRITERIA = ("inertia", "next-word bits", "next-class bits", "bits beyond the word")


def classes_then_predictive(types, data: dict, k: int, seed: int, n_classes: int, rank: int,
                            steps: tuple[int, ...] = (1,), criterion: str = "inertia",
                            context: str = "trace", type_view: str = "trace"):
    """Word types into ``n_classes`` classes (average linkage of their mean traces, no labels); inside
    each class, the traces (``context="trace"``) or the traces minus their type's mean trace
    (``"residual"``: context only) projected by a CCA against the next word(s), fitted on that
    class's fitting words only; the k - n_classes other clusters spent one at a time on the class
    chosen by ``criterion`` (:data:`CRITERIA`), each class split by k-means in its projected space.
    ``type_view="trace+next"`` clusters the types on their mean trace *and* their distribution of
    next words (each part unit length, square-root of the frequencies: what precedes and what
    follows a word, as in distributional word-class induction)."""
    classes = types.classes(n_classes) if type_view == "trace" else type_classes_two_sided(types, data, n_classes)
    fit_class, scored_class = types.of(classes, "fit"), types.of(classes, "scored")
    Y = one_hot_neighbour(data, steps)
    following = one_hot_neighbour(data, (1,)).argmax(1)
    if criterion == "next-class bits":     # the boundary symbol stays its own class
        word_class = np.full(following.max() + 1, n_classes)
        word_class[data["word_fit"]] = fit_class
        following = word_class[following]
    X, Xs = data["x_fit"], data["x_scored"]
    if context == "residual":
        X, Xs = X - types.mean[types.codes], Xs - types.mean[types.scored]
    n_types = int(types.codes.max()) + 1

    def costs(Z, labels, inside):
        inertia = float(((Z - Z.mean(0)) ** 2).sum()) if labels.max() == 0 else None
        if criterion == "bits beyond the word":
            labels = labels * n_types + types.codes[inside]
        return inertia, _next_word_bits(labels, following[inside])

    spaces, models, cost = {}, {}, {}
    for c in range(n_classes):
        inside = fit_class == c
        cca = CCA(X[inside], Y[inside], rank)
        Z = cca.transform(X[inside])
        spaces[c] = cca
        cost[c] = {1: costs(Z, np.zeros(len(Z), dtype=np.int64), inside)}
        for j in range(2, k - n_classes + 2):
            if len(Z) < 5 * j:
                cost[c][j] = cost[c][j - 1]
                continue
            km = KMeans(j, n_init=5, random_state=seed).fit(Z)
            models[c, j] = km
            cost[c][j] = (float(km.inertia_), costs(Z, km.labels_, inside)[1])
    which = 0 if criterion == "inertia" else 1
    counts = dict.fromkeys(range(n_classes), 1)
    for _ in range(k - n_classes):
        best = max(counts, key=lambda c: cost[c][counts[c]][which] - cost[c][counts[c] + 1][which])
        counts[best] += 1
    offsets = np.cumsum([0] + [counts[c] for c in range(n_classes)])

    def assign(cls, rows):
        out = offsets[cls].copy()
        for c, n in counts.items():
            inside = cls == c
            if n > 1 and (c, n) in models and inside.any():
                out[inside] += models[c, n].predict(spaces[c].transform(rows[inside]))
        return out
    return assign(fit_class, X), assign(scored_class, Xs)


TYPE_VIEWS = ("trace", "trace+next")

SECOND_VIEWS = {
    "next word": lambda d: one_hot_neighbour(d, (1,)),
    "next 2 words": lambda d: one_hot_neighbour(d, (1, 2)),
    "prev + next word": lambda d: one_hot_neighbour(d, (-1, 1)),
    "trace at t+1": next_trace,
}


def readouts(data: dict, k: int, seed: int, ranks: tuple[int, ...], n_classes: tuple[int, ...]):
    """(name, fit clusters, scored clusters) for every candidate."""
    X, Xs = data["x_fit"], data["x_scored"]
    words = _sibling("explore_word_type_readouts")
    types = words.Types(data)
    yield ("registered kmeans (the default, reference)",) + words.registered_kmeans(types, data, k)
    yield ("k-means on the raw trace (reference)",) + kmeans(X.astype(np.float64), Xs.astype(np.float64), k, seed)
    yield ("word types, average linkage (reference)",) + words.type_clusters(types, data, k, "average")
    for view_name, view in SECOND_VIEWS.items():
        Y = view(data)
        for rank in ranks:
            cca = CCA(X, Y, rank)
            yield (f"CCA[{view_name}] r={rank}, k-means",) + kmeans(cca.transform(X), cca.transform(Xs), k, seed)
    for n in n_classes:
        for rank in ranks:
            for type_view in TYPE_VIEWS:
                for context in ("trace", "residual"):
                    for criterion in CRITERIA:
                        yield (f"{n} type classes [{type_view}] + CCA[{context} ~ next word] r={rank}, {criterion}",) + \
                            classes_then_predictive(types, data, k, seed, n, rank, criterion=criterion, context=context,
                                                    type_view=type_view)


def diagnose_nouns(task_name: str, split: str, seed: int, ranks: tuple[int, ...]) -> pd.DataFrame:
    """Diagnostics only (reads gold UPOS; not a readout): inside the gold NOUN words, how well
    k-means on the raw trace and on the CCA[trace ~ next word] projection (fitted on the fitting
    nouns) separate the roles, beside a supervised logistic regression on the same traces (one
    cluster for all nouns scores the majority role's share in both columns)."""
    from sklearn.linear_model import LogisticRegression

    data = load(task_name, split, seed)
    corpora = registry.tasks.create(task_name).load()
    fit, scored = (_sibling("choose_hebbian_defaults").dev_split(corpora.train) if split == "dev"
                   else (corpora.train, corpora.test))
    nf = np.concatenate([s.upos for s in fit]) == "NOUN"
    ns = np.concatenate([s.upos for s in scored]) == "NOUN"
    X, Xs, y, ys = data["x_fit"][nf].astype(np.float64), data["x_scored"][ns].astype(np.float64), data["y_fit"][nf], data["y_scored"][ns]
    Y = one_hot_neighbour(data, (1,))[nf]
    k_all = data["n_labels"]
    supervised = LogisticRegression(max_iter=2000).fit(X, y).score(Xs, ys)
    rows = [{"nouns": "supervised logistic regression (its accuracy in both columns)", "clusters": "-",
             f"{split} one-to-one": supervised, f"{split} many-to-one": supervised}]
    spaces = {"raw trace": (X, Xs)}
    for rank in ranks:
        cca = CCA(X, Y, rank)
        spaces[f"CCA[trace ~ next word] r={rank}"] = (cca.transform(X), cca.transform(Xs))
    for name, (Z, Zs) in spaces.items():
        for j in (2, 3, 4):
            f, s = kmeans(Z, Zs, j, seed)
            mapping = ClusterReadout().fit(f, y, k_all, n_clusters=j)
            rows.append({"nouns": f"{name}, k-means", "clusters": j,
                         f"{split} one-to-one": mapping.accuracy(s, ys, "one_to_one"),
                         f"{split} many-to-one": mapping.accuracy(s, ys, "many_to_one")})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="roles")
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ranks", default="4,16")
    parser.add_argument("--classes", default="5,6,7", help="numbers of word-type classes")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--diagnose-nouns", action="store_true",
                        help="diagnostics only (reads gold UPOS): role splits inside the gold noun class")
    args = parser.parse_args()
    ranks = tuple(map(int, args.ranks.split(",")))
    if args.diagnose_nouns:
        print(diagnose_nouns(args.task, args.split, args.seed, ranks).to_markdown(index=False, floatfmt=".3f"))
        return
    data = load(args.task, args.split, args.seed)
    k = data["n_labels"]
    words = _sibling("explore_word_type_readouts")
    rows = []
    for name, fit_clusters, scored_clusters in readouts(data, k, args.seed, ranks,
                                                         tuple(map(int, args.classes.split(",")))):
        rows.append(words.score_row(name, fit_clusters, scored_clusters, data, k, args.split, seed=args.seed))
        print(rows[-1], flush=True)
    words.write_table(rows, args.out)


if __name__ == "__main__":
    main()
