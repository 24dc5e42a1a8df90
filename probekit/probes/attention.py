"""Attention probe: softmax attention over the components of a feature row, then a linear readout.

Why it exists: it is the top rung of the capacity ladder linear -> MLP -> attention. EMA
features are a few equal-width components (``x`` and one trace per rate); a probe that can
*choose*, row by row, which component to read tests whether a more flexible reader recovers
more than a linear one. If the recovered bits plateau along the ladder, the loss lives in the
features, not in the probe (the data-processing argument of arXiv 2604.08556).

The experiment hands probes a plain matrix, so the component split is an option:
``n_components`` equal-width column blocks (4 for the default ``ema`` encoder: ``x`` and three
rates). Each head ``h`` has a learned query ``q_h``; component ``c`` (standardised columns
``z_c``) gets its own key map ``k_c = K_c z_c + b_c`` (the bias lets the probe prefer a
component by position) and its own value map ``v_c = V_c z_c``; the head reads
``sum_c softmax_c(q_h . k_c / sqrt(key_dim)) v_c``, and a linear softmax classifier reads the
concatenated heads. Per-component value maps matter: with one shared map the probe could only
read convex mixtures of components and could not form ``h_t - 0.5 x_t`` (it scored 0.27 where
the linear probe scored 0.999 on lag 1), so it would sit *below* the linear rung; with them, a
fixed attention pattern is already any linear map of the row (up to the value bottleneck). Training is
the MLP probe's (`probekit.probes.torch_probe`): AdamW, minibatches, early stopping on a
held-out slice of the training rows, best epoch restored, one torch thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from probekit.errors import ProbekitError
from probekit.threads import one_torch_thread
from probekit.probes.torch_probe import PREDICT_CHUNK, TorchProbe
from probekit.registry import register_probe

if TYPE_CHECKING:  # torch loads on first use, so `import probekit` stays fast
    import torch


def _attention_network(n_components: int, width: int, n_classes: int, heads: int, key_dim: int,
                       value_dim: int) -> torch.nn.Module:
    import torch
    from torch import nn

    class ComponentAttention(nn.Module):
        """Learned per-head queries over components, per-component keys and values, linear classifier."""

        def __init__(self) -> None:
            super().__init__()
            self.n_components, self.width, self.heads = n_components, width, heads
            self.key_dim, self.value_dim = key_dim, value_dim
            scale = width ** -0.5
            self.key = nn.Parameter(torch.randn(n_components, width, heads * key_dim) * scale)
            self.key_bias = nn.Parameter(torch.zeros(n_components, heads * key_dim))
            self.value = nn.Parameter(torch.randn(n_components, width, heads * value_dim) * scale)
            self.query = nn.Parameter(torch.randn(heads, key_dim) / key_dim ** 0.5)
            self.classifier = nn.Linear(heads * value_dim, n_classes)

        def weights(self, X: torch.Tensor) -> torch.Tensor:
            """Attention weights, shape (rows, heads, components)."""
            Z = X.view(-1, self.n_components, self.width)
            keys = torch.einsum("ncw,cwj->ncj", Z, self.key) + self.key_bias
            keys = keys.view(-1, self.n_components, self.heads, self.key_dim)
            scores = torch.einsum("nchk,hk->nhc", keys, self.query) / self.key_dim ** 0.5
            return torch.softmax(scores, dim=-1)

        def forward(self, X: torch.Tensor) -> torch.Tensor:
            Z = X.view(-1, self.n_components, self.width)
            values = torch.einsum("ncw,cwj->ncj", Z, self.value).view(-1, self.n_components, self.heads,
                                                                      self.value_dim)
            read = torch.einsum("nhc,nchv->nhv", self.weights(X), values)
            return self.classifier(read.reshape(-1, self.heads * self.value_dim))

    return ComponentAttention()


@register_probe("attention")
class AttentionProbe(TorchProbe):
    """Softmax attention over equal-width feature components (learned queries), then linear softmax.

    Options: ``n_components`` equal-width column blocks per row (4 for the default ``ema``:
    ``x`` + 3 rates; an EMA encoder's ``n_blocks`` in general; the column count must divide
    evenly); ``heads`` learned queries, each with keys of ``key_dim`` and values of
    ``value_dim``; at most ``epochs`` passes in minibatches of ``batch_size``; AdamW with ``lr``
    and ``weight_decay``; a random ``validation_fraction`` of the training rows is held out and
    training stops after ``patience`` epochs without a lower held-out cross-entropy, restoring
    the best epoch. ``seed`` fixes initialisation, held-out slice and batch order.
    """

    probe_name = "attention"

    def __init__(
        self,
        n_components: int = 4,
        heads: int = 4,
        key_dim: int = 16,
        value_dim: int = 64,
        epochs: int = 20,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 512,
        validation_fraction: float = 0.1,
        patience: int = 3,
        seed: int = 0,
    ):
        self.n_components = n_components
        self.heads = heads
        self.key_dim = key_dim
        self.value_dim = value_dim
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
        self._require_int("n_components", 1)
        self._require_int("heads", 1)
        self._require_int("key_dim", 1)
        self._require_int("value_dim", 1)

    def _component_width(self, n_columns: int) -> int:
        k = int(self.n_components)
        if n_columns % k:
            raise ProbekitError(
                f"probe 'attention': {n_columns} feature columns do not split into n_components={k} "
                f"equal blocks. Give the number of blocks of the encoder (-P n_components=N; the "
                f"default ema has 4: x + 3 rates, i.e. include_current + len(rates) * (1 + history)).")
        return n_columns // k

    def _network(self, n_features: int, n_classes: int) -> torch.nn.Module:
        self.component_width_ = self._component_width(n_features)
        return _attention_network(int(self.n_components), self.component_width_, n_classes, int(self.heads),
                                  int(self.key_dim), int(self.value_dim))

    def attention_weights(self, X: Any) -> np.ndarray:
        """How much each head reads each component, shape (n, heads, n_components): shows
        *which* trace the probe found the answer in."""
        import torch

        Xs = self._standardised(X)
        with torch.no_grad(), one_torch_thread():
            return torch.cat([self.net_.weights(Xs[i:i + PREDICT_CHUNK])
                              for i in range(0, max(Xs.shape[0], 1), PREDICT_CHUNK)]).numpy()
