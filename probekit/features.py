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

    ``layer_blocks`` declares which blocks are *layers* of a deep model (``{layer: block
    name}``, e.g. ``{0: "layer_0", 6: "layer_6"}``): a run probes each declared layer on its
    own and writes one record per layer. Only this declaration makes a block a layer; a
    block's name means nothing (``"layer_norm"`` is an ordinary block).
    """

    X: np.ndarray
    offsets: np.ndarray
    blocks: dict[str, tuple[int, int]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    layer_blocks: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.X = np.ascontiguousarray(self.X, dtype=np.float32)
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        if self.X.ndim != 2:
            raise ValueError(f"features must be a 2-D matrix, got shape {self.X.shape}")
        if self.offsets[-1] != self.X.shape[0]:
            raise ValueError(f"offsets end at {self.offsets[-1]} but there are {self.X.shape[0]} rows")
        if not self.blocks:
            self.blocks = {"all": (0, self.X.shape[1])}
        self.layer_blocks = {int(layer): name for layer, name in self.layer_blocks.items()}
        unknown = sorted(set(self.layer_blocks.values()) - set(self.blocks))
        if unknown:
            raise ValueError(f"layer_blocks name blocks that do not exist: {unknown} (blocks: {list(self.blocks)})")

    @property
    def dim(self) -> int:
        return int(self.X.shape[1])

    def layers(self) -> dict[int, "Features"]:
        """One Features per declared layer (``layer_blocks``), in layer order; empty if none."""
        out = {}
        for layer, name in sorted(self.layer_blocks.items()):
            start, stop = self.blocks[name]
            meta = {**self.meta, "layers": [layer], "layer": layer}
            out[layer] = Features(X=self.X[:, start:stop], offsets=self.offsets, blocks={name: (0, stop - start)},
                                  meta=meta, layer_blocks={layer: name})
        return out

    def block(self, name: str) -> np.ndarray:
        start, stop = self.blocks[name]
        return self.X[:, start:stop]
