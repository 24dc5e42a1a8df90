"""The held-out scoring protocol shared by training (validation loss) and ``lm eval``: every
article cut into non-overlapping windows of the training context, each read from a zero state
(see :mod:`probekit.lm.evaluate` for the protocol and the perplexity built on it)."""

from __future__ import annotations

import numpy as np


def windows(offsets: np.ndarray, context: int, max_windows: int | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(input positions (n, T), target positions (n, T) with -1 past an article's end, article of each)``."""
    lengths = np.diff(offsets)
    per_article = np.maximum(0, -(-(lengths - 1) // context))
    article = np.repeat(np.arange(len(lengths)), per_article)
    first = np.concatenate([[0], np.cumsum(per_article)[:-1]])
    starts = offsets[:-1][article] + (np.arange(len(article)) - first[article]) * context
    if max_windows is not None:
        starts, article = starts[:max_windows], article[:max_windows]
    inputs = starts[:, None] + np.arange(context)
    targets = inputs + 1
    ends = offsets[1:][article][:, None]
    return np.minimum(inputs, ends - 1), np.where(targets < ends, targets, -1), article


def window_nll(model, ids: np.ndarray, offsets: np.ndarray, context: int, max_windows: int | None = None,
               batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Per-article summed next-token nll (nats) and predicted-token count under ``model``."""
    import torch

    inputs, targets, article = windows(offsets, context, max_windows)
    n_articles = len(offsets) - 1
    nll = np.zeros(n_articles)
    with torch.inference_mode():
        for b0 in range(0, len(inputs), batch_size):
            x = torch.from_numpy(ids[inputs[b0:b0 + batch_size]])
            t = targets[b0:b0 + batch_size]
            y = torch.from_numpy(np.where(t >= 0, ids[np.maximum(t, 0)], -1))
            logits = model(x)
            losses = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                                       ignore_index=-1, reduction="none").view(y.shape)
            nll += np.bincount(article[b0:b0 + batch_size], weights=losses.sum(1).double().numpy(),
                               minlength=n_articles)
    count = np.bincount(article, weights=(targets >= 0).sum(1), minlength=n_articles)
    return nll, count
