"""MLP probe: one hidden ReLU layer, trained with AdamW in torch, early stopping.

Why torch and not ``sklearn.neural_network.MLPClassifier``: at the default size (50,000 x 256,
8 classes, 256 hidden units, batch 512, 20 epochs) the torch loop took about 3.6 s on 2 cores
against about 4.5 s for MLPClassifier with the same epochs and batch size, and it gives decoupled
weight decay, restoring the best epoch's weights, and a K-way output layer that covers classes
absent from training (see docs/probes.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from probekit.probes.torch_probe import TorchProbe
from probekit.registry import register_probe

if TYPE_CHECKING:  # torch loads on first use, so `import probekit` stays fast
    import torch


@register_probe("mlp")
class MLPProbe(TorchProbe):
    """One-hidden-layer ReLU MLP (torch, AdamW, early stopping on a held-out training slice).

    Options: ``hidden`` units; at most ``epochs`` passes over the training rows in minibatches
    of ``batch_size``; AdamW with learning rate ``lr`` and decoupled ``weight_decay``. A random
    ``validation_fraction`` of the *training* rows is held out; training stops after ``patience``
    epochs without a lower held-out cross-entropy and the best epoch's weights are restored
    (``validation_fraction=0`` trains on all rows for all epochs). ``seed`` fixes the
    initialisation, the held-out slice and the batch order.
    """

    probe_name = "mlp"

    def __init__(
        self,
        hidden: int = 256,
        epochs: int = 20,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 512,
        validation_fraction: float = 0.1,
        patience: int = 3,
        seed: int = 0,
    ):
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.seed = seed
        self._check_options()

    def _check_options(self) -> None:
        super()._check_options()
        self._require_int("hidden", 1)

    def _network(self, n_features: int, n_classes: int) -> torch.nn.Module:
        import torch

        return torch.nn.Sequential(
            torch.nn.Linear(n_features, int(self.hidden)),
            torch.nn.ReLU(),
            torch.nn.Linear(int(self.hidden), n_classes),
        )
