"""What the torch probes (MLP, attention) share: standardised inputs, a held-out slice of the
training rows, minibatch AdamW with early stopping on it, the best epoch's weights restored,
K-way outputs, prediction in chunks, one torch thread.

A subclass lists its options in its own ``__init__`` (the scikit-learn contract, so that
``get_params`` and the registry's option checking see them) and builds its network in
:meth:`TorchProbe._network`; the training loop lives here once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from probekit.early_stopping import BestEpoch
from probekit.probes.base import Probe
from probekit.threads import one_torch_thread

if TYPE_CHECKING:  # torch loads on first use, so `import probekit` stays fast
    import torch

#: rows per forward pass when predicting (bounds the memory of large test sets).
PREDICT_CHUNK = 65536


class TorchProbe(Probe):
    """Base of supervised probes trained in torch. Subclasses set the options ``epochs``, ``lr``,
    ``weight_decay``, ``batch_size``, ``validation_fraction``, ``patience`` and ``seed`` in their
    ``__init__`` and implement :meth:`_network`."""

    def _check_options(self) -> None:
        super()._check_options()
        self._require_int("epochs", 1)
        self._require_float("lr", 0.0, low_open=True)
        self._require_float("weight_decay", 0.0)
        self._require_int("batch_size", 1)
        self._require_float("validation_fraction", 0.0, 0.5)
        self._require_int("patience", 1)

    def _network(self, n_features: int, n_classes: int) -> torch.nn.Module:
        """The untrained network, from ``n_features`` standardised inputs to ``n_classes`` logits
        (called with torch's generator seeded by ``seed``)."""
        raise NotImplementedError

    def fit(self, X: Any, y: Any, n_classes: int | None = None) -> "TorchProbe":
        """Fit on training rows ``X`` (n, d) and labels ``y`` in 0..n_classes-1 (one torch thread)."""
        import torch

        self._check_options()
        X = self._check_X(X)
        y, n_classes = self._check_y(y, X.shape[0], n_classes)
        n = X.shape[0]
        self.n_features_in_ = X.shape[1]
        self.n_classes_ = n_classes
        self.classes_ = np.arange(n_classes)
        with one_torch_thread():
            from sklearn.preprocessing import StandardScaler   # scikit-learn loads when a probe fits

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
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(self.seed))
                net = self._network(X.shape[1], n_classes)
            self._train(net, X_tr, y_tr, X_val, y_val)
        self.n_train_ = n
        return self

    def _train(self, net, X_tr, y_tr, X_val, y_val) -> None:
        """Minibatch AdamW with early stopping on the held-out rows; keeps the best epoch."""
        import torch

        opt = torch.optim.AdamW(net.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
        gen = torch.Generator().manual_seed(int(self.seed))
        loss_fn = torch.nn.functional.cross_entropy
        bs, n_tr = int(self.batch_size), X_tr.shape[0]
        stopper, epoch = BestEpoch(int(self.patience)), 0
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
            if stopper.update(epoch, val_loss, net):
                break
        stopper.restore(net)
        net.eval()
        self.net_ = net
        self.n_epochs_ = epoch
        self.best_epoch_ = stopper.best_epoch if X_val is not None else epoch
        self.val_loss_history_ = history  # held-out cross-entropy per epoch, in nats

    @staticmethod
    def _logits(net: torch.nn.Module, X: torch.Tensor) -> torch.Tensor:
        import torch

        if X.shape[0] <= PREDICT_CHUNK:
            return net(X)
        return torch.cat([net(X[i:i + PREDICT_CHUNK]) for i in range(0, X.shape[0], PREDICT_CHUNK)])

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
