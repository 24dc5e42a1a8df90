"""Classification metrics with 95% bootstrap confidence intervals over sentences.

Resampling whole sentences (not words) respects the dependence between the words of one
sentence. The bootstrap is vectorised: per-sentence counts of true positives, predictions
and gold labels per class are summed under sentence resampling counts with one matrix
product, so 1,000 replicates over thousands of sentences cost milliseconds.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np


@dataclass
class SentenceCounts:
    """Per-sentence, per-class counts: true positives, predicted and gold totals."""

    tp: np.ndarray      # (n_sentences, n_classes)
    pred: np.ndarray
    gold: np.ndarray


def sentence_counts(y_true: np.ndarray, y_pred: np.ndarray, sentence_ids: np.ndarray,
                    n_sentences: int, n_classes: int) -> SentenceCounts:
    """Count, per sentence and class, with ``np.bincount`` (no Python loop over words).

    A prediction of ``-1`` (an unmapped cluster) counts as wrong and as no class's prediction.
    """
    def table(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
        flat = sentence_ids[mask] * n_classes + labels[mask]
        return np.bincount(flat, minlength=n_sentences * n_classes).reshape(n_sentences, n_classes).astype(np.float64)

    valid_pred = y_pred >= 0
    return SentenceCounts(
        tp=table(y_true, y_true == y_pred),
        pred=table(y_pred, valid_pred),
        gold=table(y_true, np.ones_like(y_true, dtype=bool)),
    )


@functools.lru_cache(maxsize=2)
def _bootstrap_weights(n_sentences: int, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, n_sentences)`` resampling counts (read-only): row b counts how often each
    sentence is drawn in replicate b, ``n_sentences`` draws with replacement.

    Drawn as uniform sentence indices and counted with one ``bincount``: 20-40 ms for 1,000
    replicates of 1,000-2,000 sentences, where ``Generator.multinomial`` (the same distribution)
    took 0.13-0.34 s. One run asks for the same counts several times (its metrics, the majority
    baseline's, V-information): they are kept for the last two settings asked for.
    """
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_sentences, size=(n_boot, n_sentences)) if n_sentences else np.empty((n_boot, 0), int)
    draws += np.arange(n_boot)[:, None] * n_sentences
    counts = np.bincount(draws.ravel(), minlength=n_boot * n_sentences).reshape(n_boot, n_sentences)
    weights = counts.astype(np.float64)
    weights.flags.writeable = False
    return weights


def _summary(point: float, replicates: np.ndarray) -> dict:
    replicates = replicates[np.isfinite(replicates)]
    if not np.isfinite(point):
        return {"value": None, "ci_low": None, "ci_high": None}
    low, high = np.percentile(replicates, [2.5, 97.5]) if replicates.size else (point, point)
    return {"value": float(point), "ci_low": float(low), "ci_high": float(high)}


def _scores(tp: np.ndarray, pred: np.ndarray, gold: np.ndarray, classes: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, macro-F1 and macro-recall from summed counts (last axis = class)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = tp.sum(-1) / gold.sum(-1)
        recall = tp / gold
        f1 = np.where(pred + gold > 0, 2 * tp / (pred + gold), 0.0)
        macro_f1 = f1[..., classes].mean(-1) if classes.size else np.full(accuracy.shape, np.nan)
        with warnings.catch_warnings():  # a bootstrap replicate may miss every word of a class
            warnings.simplefilter("ignore", RuntimeWarning)
            macro_recall = np.nanmean(recall[..., classes], -1) if classes.size else np.full(accuracy.shape, np.nan)
    return {"accuracy": accuracy, "macro_f1": macro_f1, "macro_recall": macro_recall, "recall": recall}


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    sentence_ids: np.ndarray,
    names: tuple[str, ...],
    subsets: dict[str, np.ndarray] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    per_class: bool = True,
) -> dict:
    """Accuracy, macro-F1 over classes, per-class accuracy and subset metrics, with CIs.

    Words whose gold label is ``-1`` are left out. Macro averages run over the classes that
    occur in the gold labels of the set being scored. Each subset (a boolean mask) gets its
    accuracy and its macro-average of per-class accuracy (recall), so that a subset made
    mostly of one class does not reward predicting that class everywhere.
    """
    keep = y_true >= 0
    y_true, y_pred, sentence_ids = y_true[keep], y_pred[keep], sentence_ids[keep]
    n_classes = len(names)
    _, sentence_ids = np.unique(sentence_ids, return_inverse=True)
    n_sentences = int(sentence_ids.max()) + 1 if sentence_ids.size else 0
    weights = _bootstrap_weights(n_sentences, n_boot, seed)

    def evaluate(mask: np.ndarray) -> dict:
        counts = sentence_counts(y_true[mask], y_pred[mask], sentence_ids[mask], n_sentences, n_classes)
        totals = [c.sum(0) for c in (counts.tp, counts.pred, counts.gold)]
        classes = np.flatnonzero(totals[2] > 0)
        point = _scores(*totals, classes)
        boot = _scores(weights @ counts.tp, weights @ counts.pred, weights @ counts.gold, classes)
        result = {"n": int(mask.sum())}
        for key in ("accuracy", "macro_f1", "macro_recall"):
            result[key] = _summary(float(point[key]), boot[key])
        result["per_class"] = {
            names[k]: {"n": int(totals[2][k]), **_summary(float(point["recall"][k]), boot["recall"][:, k])}
            for k in (classes if per_class else ())
        }
        return result

    overall = evaluate(np.ones_like(y_true, dtype=bool))
    overall["subsets"] = {name: evaluate(mask[keep]) for name, mask in (subsets or {}).items()}
    return overall


def accuracy_difference(correct_a: np.ndarray, correct_b: np.ndarray, sentence_ids: np.ndarray, n_boot: int = 1000,
                        seed: int = 0) -> dict:
    """Accuracy of A minus accuracy of B on the same words, with a paired 95% bootstrap CI over
    sentences: each replicate resamples sentences once and scores both on them, so the interval
    counts how the two co-vary (e.g. selectivity = task - control accuracy). The replicates are
    those of :func:`classification_metrics` with the same ``seed`` and sentences."""
    correct = np.stack([np.asarray(correct_a, dtype=np.float64), np.asarray(correct_b, dtype=np.float64)], 1)
    _, sentence_ids = np.unique(np.asarray(sentence_ids), return_inverse=True)
    n_sentences = int(sentence_ids.max()) + 1 if sentence_ids.size else 0
    per_sentence = np.stack([np.bincount(sentence_ids, weights=correct[:, k], minlength=n_sentences)
                             for k in (0, 1)] + [np.bincount(sentence_ids, minlength=n_sentences)], 1)
    boot = _bootstrap_weights(n_sentences, n_boot, seed) @ per_sentence
    with np.errstate(divide="ignore", invalid="ignore"):
        replicates = (boot[:, 0] - boot[:, 1]) / boot[:, 2]
    point = float(correct[:, 0].mean() - correct[:, 1].mean()) if len(correct) else float("nan")
    return _summary(point, replicates)


def majority_baseline(train_labels: np.ndarray, test_labels: np.ndarray) -> np.ndarray:
    """Predict the most frequent training label for every test word."""
    valid = train_labels[train_labels >= 0]
    return np.full_like(test_labels, np.bincount(valid).argmax())


def cross_entropy_bits(proba: np.ndarray, y_true: np.ndarray) -> float:
    """Mean held-out cross-entropy of the gold labels under ``proba``, in bits."""
    keep = y_true >= 0
    p = proba[np.flatnonzero(keep), y_true[keep]]
    return float(-np.mean(np.log2(np.clip(p, 1e-12, 1.0))))


def label_entropy_bits(labels: np.ndarray, n_classes: int) -> float:
    """Entropy of the label distribution (words with label -1 left out), in bits."""
    counts = np.bincount(labels[labels >= 0], minlength=n_classes).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def information_metrics(proba: np.ndarray, y_true: np.ndarray, train_labels: np.ndarray,
                        sentence_ids: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict:
    """Held-out cross-entropy and V-information, in bits, with 95% bootstrap CIs over sentences.

    V-information (Xu et al., 2020) for the probe family V is ``I_V = H_V(Y) - H_V(Y | X)``:
    the bits about the label a probe extracts from the features beyond knowing the label
    distribution. ``H_V(Y)`` is the held-out cross-entropy of the best featureless predictor,
    the *training* label distribution (add-one smoothed so no class has probability 0);
    ``H_V(Y | X)`` is the probe's held-out cross-entropy. Both are per word and are resampled
    together, so the CI of their difference accounts for their correlation.
    """
    keep = y_true >= 0
    n_classes = proba.shape[1]
    labels = y_true[keep]
    probe_bits = -np.log2(np.clip(proba[np.flatnonzero(keep), labels], 1e-12, 1.0))
    prior = np.bincount(train_labels[train_labels >= 0], minlength=n_classes) + 1.0
    null_bits = -np.log2(prior[labels] / prior.sum())
    _, sentences = np.unique(sentence_ids[keep], return_inverse=True)
    n_sentences = int(sentences.max()) + 1 if sentences.size else 0

    def per_sentence(values: np.ndarray) -> np.ndarray:
        return np.bincount(sentences, weights=values, minlength=n_sentences)

    counts = per_sentence(np.ones_like(probe_bits))
    weights = _bootstrap_weights(n_sentences, n_boot, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        boot_probe = (weights @ per_sentence(probe_bits)) / (weights @ counts)
        boot_null = (weights @ per_sentence(null_bits)) / (weights @ counts)
    probe_ce = float(probe_bits.mean()) if probe_bits.size else float("nan")
    null_ce = float(null_bits.mean()) if null_bits.size else float("nan")
    return {
        "cross_entropy_bits": _summary(probe_ce, boot_probe),
        "label_entropy_bits": _summary(null_ce, boot_null),
        "train_label_entropy_bits": label_entropy_bits(train_labels, n_classes),
        "v_information_bits": _summary(null_ce - probe_ce, boot_null - boot_probe),
    }


def _xlogx(counts: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(counts > 0, counts * np.log2(np.where(counts > 0, counts, 1.0)), 0.0)


def _mutual_information(tables: np.ndarray) -> np.ndarray:
    """Miller-Madow corrected plug-in I(C; Y) in bits of (..., clusters, labels) count tables."""
    n = tables.sum(axis=(-2, -1))
    rows, columns = tables.sum(-1), tables.sum(-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        plug_in = (_xlogx(tables).sum((-2, -1)) - _xlogx(rows).sum(-1) - _xlogx(columns).sum(-1)) / n + np.log2(n)
        # Miller-Madow: each plug-in entropy is low by about (occupied bins - 1) / (2 N ln 2) bits;
        # I = H(C) + H(Y) - H(C, Y), so I is corrected by the same combination of the three
        correction = ((rows > 0).sum(-1) + (columns > 0).sum(-1) - (tables > 0).sum((-2, -1)) - 1) \
            / (2 * n * np.log(2))
    return plug_in + correction


def cluster_information(clusters: np.ndarray, labels: np.ndarray, sentence_ids: np.ndarray, n_clusters: int,
                        n_classes: int, n_boot: int = 1000, seed: int = 0) -> dict:
    """V-information of cluster ids about the labels, in bits per word, with a 95% bootstrap CI over
    sentences: the mutual information I(C; Y) of the words' (cluster, label) table, i.e. the
    V-information for the family of *all* predictors of the label from the cluster id, which needs
    no cluster -> label mapping. Plug-in with the Miller-Madow correction (the plug-in estimate
    of I is biased upwards by about (clusters - 1)(labels - 1) / (2 N ln 2) bits: random clusters
    would otherwise show information). Words with label -1 or cluster -1 are left out.
    Random clusters give 0 within the interval; clusters that are the labels give H(Y). The bootstrap
    replicates are re-centred on the point estimate (see the comment below)."""
    keep = (np.asarray(labels) >= 0) & (np.asarray(clusters) >= 0)
    clusters, labels = np.asarray(clusters)[keep], np.asarray(labels)[keep]
    _, sentences = np.unique(np.asarray(sentence_ids)[keep], return_inverse=True)
    n_sentences = int(sentences.max()) + 1 if sentences.size else 0
    cells = n_clusters * n_classes
    per_sentence = np.zeros((n_sentences, cells))
    np.add.at(per_sentence, (sentences, clusters * n_classes + labels), 1.0)
    point = float(_mutual_information(per_sentence.sum(0).reshape(n_clusters, n_classes)))
    boot = (_bootstrap_weights(n_sentences, n_boot, seed) @ per_sentence).reshape(n_boot, n_clusters, n_classes)
    replicates = _mutual_information(boot)
    # A resample repeats sentences, which inflates every replicate's plug-in information (repeated
    # words look like agreement): the replicates are re-centred on the point estimate, and their
    # spread gives the interval (bias-corrected percentile bootstrap).
    return _summary(point, replicates - (np.nanmean(replicates) - point))
