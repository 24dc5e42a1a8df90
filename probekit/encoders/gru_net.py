"""The GRU language-model network, one module for whichever trains it.

The ``gru-lm`` encoder (:mod:`probekit.encoders.gru_lm`) and ``probekit lm train --arch gru``
(:mod:`probekit.lm.models`) both build this network; it lives apart from both so that the
encoder (which loads torch lazily) and the LM package can share it without one importing the
other.
"""

from __future__ import annotations

from torch import nn


class GRULanguageModel(nn.Module):
    """Word embedding -> dropout -> GRU -> dropout -> linear softmax head (untied).

    Shared by the ``gru-lm`` encoder (which adds a padding input and an end class) and
    ``probekit lm train --arch gru``: one module, whichever trains it.
    """

    def __init__(self, n_inputs: int, n_outputs: int, dim: int, hidden: int, layers: int = 1,
                 dropout: float = 0.0, padding_idx: int | None = None):
        super().__init__()
        self.embedding = nn.Embedding(n_inputs, dim, padding_idx=padding_idx)
        self.gru = nn.GRU(dim, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_outputs)

    def states(self, ids, state=None):
        """Top-layer states ``(batch, time, hidden)`` and the final state of every layer."""
        return self.gru(self.dropout(self.embedding(ids)), state)

    def forward(self, ids, state=None):
        out, state = self.states(ids, state)
        return self.head(self.dropout(out)), state

    def blocks(self) -> dict[str, tuple[int, int]]:
        return {"gru": (0, self.gru.hidden_size)}
