"""Control tasks and selectivity (Hewitt and Liang, 2019).

A control task keeps the *shape* of a task but not its linguistics: every word type gets one
random label, drawn once from the task's empirical training label distribution, and every
occurrence of that type carries it, in train and test alike. A probe can only solve the control
task by memorising word identities, so

    selectivity = task accuracy - control accuracy

says how much of a probe's accuracy needs the representation's structure rather than a lookup
of the word. Words the task leaves out (label ``-1``) stay left out.

Draws depend only on the seed and the *sets* of word types, never on corpus order: training
types are drawn first, in sorted order, then test types unseen in training, in sorted order, from
the same generator. A training type's control label therefore does not change with the test set.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from probekit.errors import ProbekitError
from probekit.metrics import accuracy_difference, classification_metrics, cross_entropy_bits


def _as_types(words: Sequence[str], lowercase: bool) -> np.ndarray:
    arr = np.asarray(list(words), dtype=str) if len(words) else np.asarray([], dtype=str)
    return np.char.lower(arr) if lowercase and arr.size else arr


def control_labels(
    train_words: Sequence[str],
    test_words: Sequence[str],
    train_labels: np.ndarray,
    seed: int,
    lowercase: bool = False,
    test_labels: np.ndarray | None = None,
    n_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Control labels for the train and test words: one random label per word type.

    Each type's label is drawn from the empirical distribution of ``train_labels`` (``-1``
    excluded), with ``numpy.random.default_rng(seed)``. ``lowercase`` folds case before typing.
    Positions whose task label is ``-1`` get ``-1``; for the test words that needs
    ``test_labels`` (without it every test word gets its type's label). ``n_classes`` widens the
    label range (default: largest training label + 1); classes absent from training get
    probability 0. Returns ``(train_control, test_control)``, int64 arrays.
    """
    train_labels = np.asarray(train_labels, dtype=np.int64)
    if train_labels.shape != (len(train_words),):
        raise ProbekitError(
            f"control_labels: {len(train_words)} training words but train_labels has shape "
            f"{train_labels.shape}; pass one label per word (-1 for a left-out word)."
        )
    if test_labels is not None:
        test_labels = np.asarray(test_labels, dtype=np.int64)
        if test_labels.shape != (len(test_words),):
            raise ProbekitError(
                f"control_labels: {len(test_words)} test words but test_labels has shape "
                f"{test_labels.shape}; pass one label per word (-1 for a left-out word)."
            )
    valid = train_labels[train_labels >= 0]
    if valid.size == 0:
        raise ProbekitError(
            "control_labels: every training label is -1, so there is no label distribution to "
            "draw control labels from; check the task's targets for the training split."
        )
    k = int(valid.max()) + 1 if n_classes is None else int(n_classes)
    if k <= int(valid.max()):
        raise ProbekitError(
            f"control_labels: n_classes={n_classes} but a training label is {int(valid.max())}; "
            f"pass n_classes greater than every label."
        )
    distribution = np.bincount(valid, minlength=k) / valid.size

    train_types = _as_types(train_words, lowercase)
    test_types = _as_types(test_words, lowercase)
    rng = np.random.default_rng(seed)
    # Training types first (sorted), so their labels do not depend on the test set.
    train_vocab, train_inverse = np.unique(train_types, return_inverse=True)
    train_type_labels = rng.choice(k, size=train_vocab.size, p=distribution).astype(np.int64)
    # Then test types unseen in training (sorted), from the same generator.
    unseen = np.setdiff1d(np.unique(test_types), train_vocab) if test_types.size else np.asarray([], dtype=str)
    unseen_labels = rng.choice(k, size=unseen.size, p=distribution).astype(np.int64)

    vocab = np.concatenate([train_vocab, unseen]) if unseen.size else train_vocab
    vocab_labels = np.concatenate([train_type_labels, unseen_labels])
    order = np.argsort(vocab, kind="stable")
    sorted_vocab, sorted_labels = vocab[order], vocab_labels[order]

    train_control = train_type_labels[train_inverse.reshape(-1)]
    train_control[train_labels < 0] = -1
    if test_types.size:
        test_control = sorted_labels[np.searchsorted(sorted_vocab, test_types)]
        if test_labels is not None:
            test_control[test_labels < 0] = -1
    else:
        test_control = np.zeros(0, dtype=np.int64)
    return train_control.astype(np.int64), test_control.astype(np.int64)


def selectivity(task_accuracy: float, control_accuracy: float) -> float:
    """Selectivity (Hewitt and Liang, 2019): task accuracy minus control-task accuracy."""
    return float(task_accuracy) - float(control_accuracy)


def control_metrics(
    probe_factory: Callable[[], Any],
    X_train: np.ndarray,
    X_test: np.ndarray,
    train_words: Sequence[str],
    test_words: Sequence[str],
    y_train: np.ndarray,
    y_test: np.ndarray,
    seed: int,
    sentence_ids: np.ndarray | None = None,
    task_accuracy: float | None = None,
    lowercase: bool = False,
    n_classes: int | None = None,
    n_boot: int = 1000,
    task_predictions: np.ndarray | None = None,
) -> dict:
    """Fit a fresh probe on control labels and score it on the test words' control labels.

    ``probe_factory()`` returns an unfitted supervised probe. ``y_train`` / ``y_test`` are the
    task labels (only their ``-1`` positions and training distribution are used). With
    ``sentence_ids`` (one per test word) the accuracy gets a 95% bootstrap CI over sentences
    (:func:`probekit.metrics.classification_metrics`); without, ``ci_low``/``ci_high`` are None.
    With ``task_accuracy`` the result also holds ``selectivity``; with ``task_predictions`` (the task
    probe's prediction for every test word) and ``sentence_ids`` it also holds
    ``selectivity_ci_low``/``selectivity_ci_high``, a paired bootstrap over the same sentences as
    the accuracies' intervals (:func:`probekit.metrics.accuracy_difference`).

    Returns ``{"accuracy": {"value", "ci_low", "ci_high"}, "cross_entropy_bits": float,
    "n_train": int, "n_test": int, "seed": int}`` (+ ``"selectivity"``).
    """
    y_train = np.asarray(y_train, dtype=np.int64)
    y_test = np.asarray(y_test, dtype=np.int64)
    k = n_classes if n_classes is not None else int(max(y_train.max(initial=-1), y_test.max(initial=-1))) + 1
    c_train, c_test = control_labels(train_words, test_words, y_train, seed, lowercase=lowercase,
                                     test_labels=y_test, n_classes=k)
    keep_train = c_train >= 0
    keep_test = c_test >= 0
    X_train = np.asarray(X_train)
    X_test = np.asarray(X_test)
    probe = probe_factory()
    probe.fit(X_train[keep_train], c_train[keep_train], n_classes=k)
    proba = probe.predict_proba(X_test[keep_test])
    pred = np.argmax(proba, axis=1).astype(np.int64)
    gold = c_test[keep_test]
    if sentence_ids is not None:
        sentence_ids = np.asarray(sentence_ids, dtype=np.int64)
        if sentence_ids.shape != c_test.shape:
            raise ProbekitError(
                f"control_metrics: sentence_ids has shape {sentence_ids.shape} but there are "
                f"{c_test.size} test words; pass one sentence id per test word."
            )
        names = tuple(str(i) for i in range(k))
        scored = classification_metrics(gold, pred, sentence_ids[keep_test], names, n_boot=n_boot, seed=seed)
        accuracy = scored["accuracy"]
    else:
        value = float(np.mean(pred == gold)) if gold.size else None
        accuracy = {"value": value, "ci_low": None, "ci_high": None}
    result = {
        "accuracy": accuracy,
        "cross_entropy_bits": cross_entropy_bits(proba, gold) if gold.size else None,
        "n_train": int(keep_train.sum()),
        "n_test": int(keep_test.sum()),
        "seed": int(seed),
    }
    if task_accuracy is not None and accuracy["value"] is not None:
        result["selectivity"] = selectivity(task_accuracy, accuracy["value"])
    if task_predictions is not None and sentence_ids is not None:
        task_correct = np.asarray(task_predictions)[keep_test] == y_test[keep_test]
        paired = accuracy_difference(task_correct, pred == gold, sentence_ids[keep_test], n_boot=n_boot, seed=seed)
        result["selectivity_ci_low"], result["selectivity_ci_high"] = paired["ci_low"], paired["ci_high"]
    return result
