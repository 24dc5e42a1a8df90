"""The plain data type every encoder returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Features:
    """One float32 row per word, in corpus order.

    ``offsets[i]:offsets[i + 1]`` are the rows of sentence ``i``. ``blocks`` names column
    ranges (for EMA: ``"x"`` for the current input, ``"ema_0.5"`` for the trace of rate 0.5),
    so that a probe or analysis can select a block without knowing the encoder.
    """

    X: np.ndarray
    offsets: np.ndarray
    blocks: dict[str, tuple[int, int]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.X = np.ascontiguousarray(self.X, dtype=np.float32)
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        if self.X.ndim != 2:
            raise ValueError(f"features must be a 2-D matrix, got shape {self.X.shape}")
        if self.offsets[-1] != self.X.shape[0]:
            raise ValueError(f"offsets end at {self.offsets[-1]} but there are {self.X.shape[0]} rows")
        if not self.blocks:
            self.blocks = {"all": (0, self.X.shape[1])}

    @property
    def dim(self) -> int:
        return int(self.X.shape[1])

    def block(self, name: str) -> np.ndarray:
        start, stop = self.blocks[name]
        return self.X[:, start:stop]
