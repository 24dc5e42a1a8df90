"""Input embeddings and option checks shared by the built-in encoders.

Every encoder that looks at word identity learns a :class:`~probekit.vocab.Vocabulary` from
its training corpus (id 0 is the unknown bucket: words cut by ``max_vocab`` and words first
seen at test time) and maps word ids to vectors with one of the tables built here:

* :func:`random_table`: one i.i.d. Gaussian ``N(0, 1/dim)`` vector per vocabulary type
  (the unknown bucket gets its own vector, row 0). With the same seed and vocabulary, every
  encoder gets the same table, so e.g. the EMA encoder's ``"x"`` block equals the ``type``
  baseline.
* :func:`onehot_rows`: one-hot rows over the vocabulary (``dim`` = vocabulary size).

The ``check_*`` helpers are :mod:`probekit.options`' range checks with an encoder's name in
the message, so that a bad option fails when the encoder is built, worded like every other.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from probekit import options
from probekit.corpus import Corpus
from probekit.errors import ProbekitError
from probekit.vocab import Vocabulary


# -- option checks -----------------------------------------------------------------------


def check_int(encoder: str, option: str, value: int, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (:func:`probekit.options.check_int` for an encoder option)."""
    return options.check_int(value, options.option(option, f"encoder {encoder!r}"), minimum)


def check_float(encoder: str, option: str, value: float, low: float, high: float,
                low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float in the interval given (:func:`probekit.options.check_float`)."""
    return options.check_float(value, options.option(option, f"encoder {encoder!r}"), low, high,
                               low_open=low_open, high_open=high_open)


def check_max_vocab(encoder: str, value: int | None) -> int | None:
    """``max_vocab`` is None (no cap) or an integer >= 1."""
    if value is None:
        return None
    return check_int(encoder, "max_vocab", value, minimum=1)


def check_choice(encoder: str, option: str, value: str, choices: Sequence[str]) -> str:
    return options.check_choice(value, options.option(option, f"encoder {encoder!r}"), choices)


def require_fitted(encoder: object, attribute: str, name: str) -> None:
    if not hasattr(encoder, attribute):
        raise ProbekitError(f"encoder {name!r} must be fitted before encode: call fit(train_corpus) first.")


def check_labels(encoder: str, corpus: Corpus, labels: np.ndarray | None) -> np.ndarray:
    """Per-word int64 labels (-1 = ignore) for ``corpus``, checked."""
    if labels is None:
        raise ProbekitError(f"encoder {encoder!r} is supervised: fit(corpus, labels) needs the per-word "
                            f"training labels (an int array with one entry per word, -1 to ignore).")
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != corpus.n_tokens:
        raise ProbekitError(f"encoder {encoder!r}: labels must be a 1-D array with one entry per word "
                            f"({corpus.n_tokens}), got shape {labels.shape}.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ProbekitError(f"encoder {encoder!r}: labels must be integers (class ids, -1 to ignore), "
                            f"got dtype {labels.dtype}.")
    labels = labels.astype(np.int64)
    if labels.size == 0 or labels.max() < 0:
        raise ProbekitError(f"encoder {encoder!r}: no labelled word in the training corpus (all labels -1).")
    if labels.min() < -1:
        raise ProbekitError(f"encoder {encoder!r}: labels must be >= -1 (-1 = ignore), got {labels.min()}.")
    return labels


# -- vocabulary and tables -----------------------------------------------------------------


def fit_vocabulary(corpus: Corpus, lowercase: bool = False, max_vocab: int | None = None) -> Vocabulary:
    """The vocabulary of ``corpus`` (most frequent first, id 0 = unknown bucket)."""
    return Vocabulary(max_size=max_vocab, lowercase=lowercase).fit(corpus.words())


def word_ids(vocab: Vocabulary, corpus: Corpus) -> np.ndarray:
    """Vocabulary id of every word of ``corpus`` in order (0 = unknown)."""
    return vocab.ids(corpus.words())


def random_table(n_types: int, dim: int, seed: int) -> np.ndarray:
    """``(n_types, dim)`` float64 matrix of i.i.d. ``N(0, 1/dim)`` entries (row 0 = unknown)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_types, dim)) / np.sqrt(dim)


def onehot_rows(ids: np.ndarray, n_types: int, dtype=np.float32) -> np.ndarray:
    """``(len(ids), n_types)`` one-hot matrix: row t has a 1 in column ``ids[t]``."""
    X = np.zeros((len(ids), n_types), dtype=dtype)
    X[np.arange(len(ids)), ids] = 1
    return X


def position_onehot(positions: np.ndarray, max_position: int) -> np.ndarray:
    """One-hot over 0-based positions; positions >= ``max_position`` share the last column."""
    return onehot_rows(np.minimum(positions, max_position - 1), max_position)
