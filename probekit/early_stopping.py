"""Early stopping on a held-out loss, keeping the best epoch's weights.

Shared by the trainable encoders (:mod:`probekit.encoders.training`) and the torch probes
(:mod:`probekit.probes.torch_probe`): the loss to watch comes from a slice of the *training*
data, never the test set.
"""

from __future__ import annotations

import math
from typing import Any

#: an epoch counts as better only if it lowers the loss by more than this.
MIN_DELTA = 1e-4


class BestEpoch:
    """Track the epoch with the lowest loss and its weights; say when to stop.

    ``update(epoch, loss, model)`` after each epoch returns True once ``patience`` epochs in a
    row failed to improve (never, with ``patience=None``); ``restore(model)`` loads the best
    weights back.
    """

    def __init__(self, patience: int | None):
        self.patience = patience
        self.best_loss = math.inf
        self.best_epoch = 0
        self.best_state: dict | None = None
        self.waited = 0

    def update(self, epoch: int, loss: float, model: Any) -> bool:
        if loss < self.best_loss - MIN_DELTA:
            self.best_loss, self.best_epoch, self.waited = loss, epoch, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        self.waited += 1
        return self.patience is not None and self.waited >= self.patience

    def restore(self, model: Any) -> None:
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
