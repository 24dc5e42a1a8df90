"""Word -> integer id, learned from training text, with an unknown bucket."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
import pandas as pd

UNKNOWN = "<unk>"


class Vocabulary:
    """Types seen in training text, most frequent first; id 0 is the unknown bucket.

    ``max_size`` caps the number of known types (the rest fall in the unknown bucket, as do
    words first seen at test time); ``lowercase`` folds case before lookup.
    """

    def __init__(self, max_size: int | None = None, lowercase: bool = False, min_count: int = 1):
        self.max_size = max_size
        self.lowercase = lowercase
        self.min_count = min_count

    def fit(self, words: Sequence[str]) -> "Vocabulary":
        counts = Counter(self._normalise(words))
        ranked = sorted((w for w, c in counts.items() if c >= self.min_count), key=lambda w: (-counts[w], w))
        if self.max_size is not None:
            ranked = ranked[: self.max_size]
        self.types_ = [UNKNOWN] + ranked
        self.index_ = pd.Index(self.types_)
        self.counts_ = np.array([0] + [counts[w] for w in ranked], dtype=np.int64)
        return self

    def _normalise(self, words: Sequence[str]) -> list[str]:
        return [w.lower() for w in words] if self.lowercase else list(words)

    def __len__(self) -> int:
        return len(self.types_)

    def ids(self, words: Sequence[str]) -> np.ndarray:
        """Ids of ``words`` (0 for unknown), looked up in one vectorised call."""
        if len(words) == 0:
            return np.zeros(0, dtype=np.int64)
        found = self.index_.get_indexer(self._normalise(words))
        return np.where(found < 0, 0, found).astype(np.int64)
