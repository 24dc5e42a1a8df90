"""Classification metrics with 95% bootstrap confidence intervals over sentences.

Resampling whole sentences (not words) respects the dependence between the words of one
sentence. The bootstrap is vectorised: per-sentence counts of true positives, predictions
and gold labels per class are summed under multinomial resampling weights with one matrix
product, so 1,000 replicates over thousands of sentences cost milliseconds.
"""

from __future__ import annotations

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


def _bootstrap_weights(n_sentences: int, n_boot: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_sentences, np.full(n_sentences, 1.0 / n_sentences), size=n_boot).astype(np.float64)


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
            for k in classes
        }
        return result

    overall = evaluate(np.ones_like(y_true, dtype=bool))
    overall["subsets"] = {name: evaluate(mask[keep]) for name, mask in (subsets or {}).items()}
    return overall


def majority_baseline(train_labels: np.ndarray, test_labels: np.ndarray) -> np.ndarray:
    """Predict the most frequent training label for every test word."""
    valid = train_labels[train_labels >= 0]
    return np.full_like(test_labels, np.bincount(valid).argmax())


def cross_entropy_bits(proba: np.ndarray, y_true: np.ndarray) -> float:
    """Mean held-out cross-entropy of the gold labels under ``proba``, in bits."""
    keep = y_true >= 0
    p = proba[np.flatnonzero(keep), y_true[keep]]
    return float(-np.mean(np.log2(np.clip(p, 1e-12, 1.0))))
