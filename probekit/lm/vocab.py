"""The one word vocabulary every architecture uses, and its Hugging Face tokenizer.

Built from the training split only: ``<unk>`` (id 0), ``<eol>`` (id 1), then the most frequent
training types (ties in alphabetical order) up to ``size`` entries in all. Words outside it map
to ``<unk>``. Lookups are one vectorised :class:`pandas.Index` call, not a loop over tokens.
"""

from __future__ import annotations

import json
from collections import Counter
from itertools import chain
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from probekit.errors import ProbekitError
from probekit.io import atomic_write_json
from probekit.lm.corpus import EOL, UNK, Article

SPECIALS = (UNK, EOL)
DEFAULT_SIZE = 10000


class LMVocabulary:
    """Word -> id for language models; ``ids(tokens)`` maps a token sequence at once."""

    def __init__(self, words: Iterable[str]):
        self.words = list(words)
        if self.words[:2] != list(SPECIALS):
            raise ValueError("an LM vocabulary starts with <unk>, <eol>")
        self._index = pd.Index(self.words)

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def fit(cls, articles: list[Article], size: int | None = None) -> "LMVocabulary":
        counts = Counter()
        for article in articles:
            counts.update(article.tokens)
        types = sorted((w for w in counts if w not in SPECIALS), key=lambda w: (-counts[w], w))
        available = len(types) + len(SPECIALS)
        if size is None:
            size = min(DEFAULT_SIZE, available)
        if size < len(SPECIALS) + 1:
            raise ProbekitError(f"--vocab-size {size} is too small: it counts <unk> and <eol>, so give at least 3.")
        if size > available:
            raise ProbekitError(f"--vocab-size {size} is larger than the training text's {len(types)} word types "
                                f"plus <unk> and <eol> ({available}); give at most {available} or a larger corpus.")
        return cls([*SPECIALS, *types[:size - len(SPECIALS)]])

    def ids(self, tokens) -> np.ndarray:
        found = self._index.get_indexer(pd.Index(list(tokens), dtype=object)) if len(tokens) else np.zeros(0, int)
        return np.where(found < 0, 0, found).astype(np.int64)

    def save(self, path: Path) -> None:
        atomic_write_json(path, {"words": self.words})

    @classmethod
    def load(cls, path: Path) -> "LMVocabulary":
        return cls(json.loads(Path(path).read_text(encoding="utf-8"))["words"])

    def hf_tokenizer(self):
        """A fast word-level tokenizer (whitespace split, unknown words -> ``<unk>``; ``<eol>`` is the
        beginning-of-text token) that probekit's ``hf`` encoder aligns by character offsets."""
        from tokenizers import Tokenizer, models, pre_tokenizers
        from transformers import PreTrainedTokenizerFast

        core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(self.words)}, unk_token=UNK))
        core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        return PreTrainedTokenizerFast(tokenizer_object=core, unk_token=UNK, bos_token=EOL, eos_token=EOL,
                                       pad_token=EOL)


def stream(vocab: LMVocabulary, articles: list[Article]) -> tuple[np.ndarray, np.ndarray]:
    """All articles' ids concatenated, and each article's start offset (plus the end)."""
    ids = vocab.ids(list(chain.from_iterable(a.tokens for a in articles)))
    lengths = np.array([len(a.tokens) for a in articles], dtype=np.int64)
    return ids, np.concatenate([[0], np.cumsum(lengths)])
