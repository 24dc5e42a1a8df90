"""Sentence batching for the trainable torch encoders (BiGRU, GRU language model).

A corpus is one flat array of word ids with sentence ``offsets``; a recurrent network wants
padded ``(sentences, time)`` matrices in batches of similar length. These helpers convert
between the two without a Python loop over words.
"""

from __future__ import annotations

import numpy as np


def padded(ids: np.ndarray, offsets: np.ndarray, fill: int) -> tuple[np.ndarray, np.ndarray]:
    """``(n_sentences, max_len)`` matrix of ``ids`` per sentence, padded with ``fill``; lengths."""
    lengths = np.diff(offsets)
    n_sent = len(lengths)
    width = int(lengths.max()) if n_sent else 0
    matrix = np.full((n_sent, max(width, 1)), fill, dtype=np.int64)
    rows = np.repeat(np.arange(n_sent), lengths)
    cols = np.arange(len(ids)) - np.repeat(offsets[:-1], lengths)
    matrix[rows, cols] = ids
    return matrix, lengths


def length_batches(order: np.ndarray, lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None,
                   pool_batches: int = 50) -> list[np.ndarray]:
    """Sentence index batches of similar length: pools of shuffled sentences sorted by length."""
    if rng is None:  # deterministic: longest first
        order = order[np.argsort(-lengths[order], kind="stable")]
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    order = rng.permutation(order)
    pool = batch_size * pool_batches
    batches = []
    for p0 in range(0, len(order), pool):
        chunk = order[p0:p0 + pool]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def batch_rows(batch: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Corpus rows of the words of ``batch``'s sentences, sentence after sentence."""
    blens = lengths[batch]
    starts = np.repeat(offsets[batch], blens)
    within = np.arange(blens.sum()) - np.repeat(np.cumsum(blens) - blens, blens)
    return starts + within
