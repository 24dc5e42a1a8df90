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
fixed attention pattern is already any linear map of the row (up to the value bottleneck). Training is the MLP probe's: AdamW, minibatches, early stopping on a
held-out slice of the training rows, best epoch restored, one torch thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.preprocessing import StandardScaler

from probekit.errors import ProbekitError
from probekit.probes.base import Probe, one_torch_thread
from probekit.registry import register_probe

if TYPE_CHECKING:  # torch loads on first use, so `import probekit` stays fast
    import torch

_PREDICT_CHUNK = 65536


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
class AttentionProbe(Probe):
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
        self._require_int("epochs", 1)
        self._require_float("lr", 0.0, low_open=True)
        self._require_float("weight_decay", 0.0)
        self._require_int("batch_size", 1)
        self._require_float("validation_fraction", 0.0, 0.5)
        self._require_int("patience", 1)

    def _component_width(self, n_columns: int) -> int:
        k = int(self.n_components)
        if n_columns % k:
            raise ProbekitError(
                f"probe 'attention': {n_columns} feature columns do not split into n_components={k} "
                f"equal blocks. Give the number of blocks of the encoder (-P n_components=N; the "
                f"default ema has 4: x + 3 rates, i.e. include_current + len(rates) * (1 + history)).")
        return n_columns // k

    def fit(self, X: Any, y: Any, n_classes: int | None = None) -> "AttentionProbe":
        """Fit on training rows ``X`` (n, d) and labels ``y`` in 0..n_classes-1."""
        import torch

        self._check_options()
        X = self._check_X(X)
        width = self._component_width(X.shape[1])
        y, n_classes = self._check_y(y, X.shape[0], n_classes)
        n = X.shape[0]
        self.n_features_in_ = X.shape[1]
        self.n_classes_ = n_classes
        self.classes_ = np.arange(n_classes)
        self.component_width_ = width
        self.scaler_ = StandardScaler().fit(X)
        Xs = torch.from_numpy(self.scaler_.transform(X).astype(np.float32, copy=False))
        yt = torch.from_numpy(y)

        rng = np.random.default_rng(int(self.seed))
        n_val = int(round(float(self.validation_fraction) * n))
        if n_val >= 1 and n - n_val >= 1:
            order = torch.from_numpy(rng.permutation(n))
            X_val, y_val = Xs[order[:n_val]], yt[order[:n_val]]
            X_tr, y_tr = Xs[order[n_val:]], yt[order[n_val:]]
        else:
            X_val = y_val = None
            X_tr, y_tr = Xs, yt

        with one_torch_thread(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.seed))
            net = _attention_network(int(self.n_components), width, n_classes, int(self.heads),
                                     int(self.key_dim), int(self.value_dim))
            self._train(net, X_tr, y_tr, X_val, y_val)
        return self

    def _train(self, net, X_tr, y_tr, X_val, y_val) -> None:
        """Minibatch AdamW with early stopping on the held-out rows; keeps the best epoch."""
        import torch

        opt = torch.optim.AdamW(net.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
        gen = torch.Generator().manual_seed(int(self.seed))
        loss_fn = torch.nn.functional.cross_entropy
        bs, n_tr = int(self.batch_size), X_tr.shape[0]
        best_loss, best_state, best_epoch, bad, epoch = np.inf, None, 0, 0, 0
        history: list[float] = []
        for epoch in range(1, int(self.epochs) + 1):
            net.train()
            perm = torch.randperm(n_tr, generator=gen)
            for start in range(0, n_tr, bs):
                idx = perm[start:start + bs]
                loss = loss_fn(net(X_tr[idx]), y_tr[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            if X_val is None:
                continue
            net.eval()
            with torch.no_grad():
                val_loss = float(loss_fn(self._logits(net, X_val), y_val))
            history.append(val_loss)
            if val_loss < best_loss - 1e-4:
                best_loss, best_epoch, bad = val_loss, epoch, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                bad += 1
                if bad >= int(self.patience):
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        self.net_ = net
        self.n_epochs_ = epoch
        self.best_epoch_ = best_epoch if X_val is not None else epoch
        self.val_loss_history_ = history  # held-out cross-entropy per epoch, in nats
        self.n_train_ = X_tr.shape[0] + (0 if X_val is None else X_val.shape[0])

    @staticmethod
    def _logits(net: torch.nn.Module, X: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.cat([net(X[i:i + _PREDICT_CHUNK]) for i in range(0, X.shape[0], _PREDICT_CHUNK)]) \
            if X.shape[0] > _PREDICT_CHUNK else net(X)

    def _standardised(self, X: Any) -> torch.Tensor:
        import torch

        self._check_fitted("net_")
        X = self._check_X(X, fitted_dim=self.n_features_in_)
        return torch.from_numpy(self.scaler_.transform(X).astype(np.float32, copy=False))

    def _predict_logits(self, X: Any) -> torch.Tensor:
        import torch

        Xs = self._standardised(X)
        with torch.no_grad(), one_torch_thread():
            return self._logits(self.net_, Xs)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n, n_classes); columns are classes 0..n_classes-1."""
        import torch

        return torch.softmax(self._predict_logits(X).double(), dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row (int64)."""
        return self._predict_logits(X).argmax(dim=1).numpy().astype(np.int64)

    def attention_weights(self, X: Any) -> np.ndarray:
        """How much each head reads each component, shape (n, heads, n_components): shows
        *which* trace the probe found the answer in."""
        import torch

        Xs = self._standardised(X)
        with torch.no_grad(), one_torch_thread():
            return torch.cat([self.net_.weights(Xs[i:i + _PREDICT_CHUNK])
                              for i in range(0, max(Xs.shape[0], 1), _PREDICT_CHUNK)]).numpy()
