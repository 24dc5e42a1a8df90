"""The supervised upper baseline: a bidirectional GRU trained on the task's labels.

``fit(corpus, labels)`` trains word embedding -> dropout -> BiGRU -> dropout -> linear head
with cross-entropy on the per-word training labels (-1 = ignored). A slice of the *training*
sentences (``validation_fraction``, chosen with the seed) is held out for early stopping on
its loss; the weights of the best epoch are kept. The test set is never seen. ``encode``
returns the BiGRU hidden states (forward and backward directions concatenated), so that the
same probes read it as any other encoder; ``predict`` gives the trained head's own labels.
"""

from __future__ import annotations

import math

import numpy as np

from probekit.corpus import Corpus
from probekit.encoders.base import Encoder
from probekit.encoders.batching import batch_rows, length_batches, padded
from probekit.encoders.training import TorchModelPickling, train_epochs
from probekit.encoders.embeddings import (
    check_float,
    check_int,
    check_labels,
    check_max_vocab,
    fit_vocabulary,
    require_fitted,
    word_ids,
)
from probekit.errors import ProbekitError
from probekit.features import Features
from probekit.registry import register_encoder
from probekit.threads import torch_threads

PAD = 0  # padding id; vocabulary id v is token id v + 1 (so the unknown bucket is 1)


def _build_model(n_tokens: int, dim: int, hidden: int, n_classes: int, dropout: float):
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    class BiGRUTagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(n_tokens, dim, padding_idx=PAD)
            self.gru = nn.GRU(dim, hidden, batch_first=True, bidirectional=True)
            self.dropout = nn.Dropout(dropout)
            self.head = nn.Linear(2 * hidden, n_classes)

        def states(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            x = self.dropout(self.embedding(ids))
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.gru(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
            return out

        def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            return self.head(self.dropout(self.states(ids, lengths)))

    return BiGRUTagger()


@register_encoder("bigru")
class BiGRUEncoder(TorchModelPickling, Encoder):
    """Supervised upper baseline: BiGRU trained on the task labels; features = its hidden states.

    Options: ``dim`` (embedding size), ``hidden`` (GRU units per direction; features have
    ``2 * hidden`` columns), ``epochs``, ``batch_size``, ``lr`` (Adam), ``dropout`` (on
    embeddings and on the states fed to the head), ``word_dropout`` (probability of replacing
    a training word by the unknown bucket, so that unseen test words get a trained vector),
    ``validation_fraction`` (share of training sentences held out for early stopping; 0 turns
    it off), ``patience`` (epochs without validation-loss improvement before stopping),
    ``num_threads`` (torch intra-op threads during fit/encode, restored afterwards; default 1:
    this small recurrent model gains nothing from more, and on a busy 2-core machine two
    threads made training about 17x slower; 0 leaves torch's setting as it is), ``seed``,
    ``lowercase``, ``max_vocab``.
    """

    supervised = True

    def __init__(
        self,
        dim: int = 64,
        hidden: int = 64,
        epochs: int = 10,
        batch_size: int = 32,
        lr: float = 3e-3,
        dropout: float = 0.1,
        word_dropout: float = 0.0,
        validation_fraction: float = 0.1,
        patience: int = 2,
        num_threads: int = 1,
        seed: int = 0,
        lowercase: bool = False,
        max_vocab: int | None = None,
    ):
        self.dim = check_int("bigru", "dim", dim)
        self.hidden = check_int("bigru", "hidden", hidden)
        self.epochs = check_int("bigru", "epochs", epochs)
        self.batch_size = check_int("bigru", "batch_size", batch_size)
        self.lr = check_float("bigru", "lr", lr, 0.0, math.inf, low_open=True, high_open=True)
        self.dropout = check_float("bigru", "dropout", dropout, 0.0, 1.0, high_open=True)
        self.word_dropout = check_float("bigru", "word_dropout", word_dropout, 0.0, 1.0, high_open=True)
        self.validation_fraction = check_float("bigru", "validation_fraction", validation_fraction,
                                               0.0, 1.0, high_open=True)
        self.patience = check_int("bigru", "patience", patience)
        self.num_threads = check_int("bigru", "num_threads", num_threads, minimum=0)
        self.seed = int(seed)
        self.lowercase = bool(lowercase)
        self.max_vocab = check_max_vocab("bigru", max_vocab)

    # -- training ------------------------------------------------------------------------
    def fit(self, corpus: Corpus, labels: np.ndarray | None = None) -> "BiGRUEncoder":
        """Train on ``corpus`` and its per-word ``labels`` (int, -1 = ignore)."""
        import torch

        labels = check_labels("bigru", corpus, labels)
        self.vocab_ = fit_vocabulary(corpus, self.lowercase, self.max_vocab)
        n_classes = int(labels.max()) + 1
        self.classes_ = np.arange(n_classes)

        offsets = corpus.offsets
        token_ids, lengths = padded(word_ids(self.vocab_, corpus) + 1, offsets, PAD)
        targets, _ = padded(labels, offsets, -1)
        nonempty = np.flatnonzero(lengths > 0)
        if len(nonempty) == 0:
            raise ProbekitError("encoder 'bigru': the training corpus has no words.")
        rng = np.random.default_rng(self.seed)
        shuffled = rng.permutation(nonempty)
        n_val = int(round(self.validation_fraction * len(shuffled)))
        if n_val >= len(shuffled):
            n_val = len(shuffled) - 1
        val_idx, train_idx = np.sort(shuffled[:n_val]), np.sort(shuffled[n_val:])

        ids_t = torch.from_numpy(token_ids)
        targets_t = torch.from_numpy(targets)
        lengths_t = torch.from_numpy(lengths)

        with torch.random.fork_rng(devices=[]), torch_threads(self.num_threads):
            torch.manual_seed(self.seed)
            model = _build_model(len(self.vocab_) + 1, self.dim, self.hidden, n_classes, self.dropout)
            optimiser = torch.optim.Adam(model.parameters(), lr=self.lr)
            loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-1, reduction="sum")
            generator = torch.Generator().manual_seed(self.seed)

            def run(batch: np.ndarray, train: bool) -> tuple[float, int, int]:
                width = int(lengths[batch].max())
                ids = ids_t[batch, :width]
                y = targets_t[batch, :width]
                if train and self.word_dropout > 0:
                    drop = torch.rand(ids.shape, generator=generator) < self.word_dropout
                    ids = torch.where(drop & (ids != PAD), torch.ones_like(ids), ids)  # 1 = unknown bucket
                logits = model(ids, lengths_t[batch])
                loss = loss_fn(logits.reshape(-1, n_classes), y.reshape(-1))
                n_labelled = int((y >= 0).sum())
                if train:
                    optimiser.zero_grad()
                    (loss / max(n_labelled, 1)).backward()
                    optimiser.step()
                correct = int(((logits.argmax(-1) == y) & (y >= 0)).sum())
                return float(loss.detach()), correct, n_labelled

            def run_epoch() -> dict:
                model.train()
                total = correct = count = 0
                for batch in length_batches(train_idx, lengths, self.batch_size, rng):
                    loss, c, n = run(batch, train=True)
                    total, correct, count = total + loss, correct + c, count + n
                record = {"train_loss": total / max(count, 1), "train_accuracy": correct / max(count, 1)}
                if n_val:
                    model.eval()
                    total = correct = count = 0
                    with torch.no_grad():
                        for batch in length_batches(val_idx, lengths, 256, None):
                            loss, c, n = run(batch, train=False)
                            total, correct, count = total + loss, correct + c, count + n
                    record.update(val_loss=total / max(count, 1), val_accuracy=correct / max(count, 1))
                return record

            self.history_, best_epoch = train_epochs(model, run_epoch, self.epochs, self.patience, "val_loss",
                                                     "train_loss", bool(n_val), "bigru")
        self.model_ = model
        self.best_epoch_ = best_epoch
        self.n_validation_sentences_ = int(n_val)
        return self

    def _empty_model(self):
        """The unfitted module of this encoder's shape (for unpickling)."""
        return _build_model(len(self.vocab_) + 1, self.dim, self.hidden, len(self.classes_),
                            self.dropout)

    # -- inference ------------------------------------------------------------------------
    def _forward(self, corpus: Corpus, head: bool) -> np.ndarray:
        import torch

        require_fitted(self, "model_", "bigru")
        offsets = corpus.offsets
        ids, lengths = padded(word_ids(self.vocab_, corpus) + 1, offsets, PAD)
        width = len(self.classes_) if head else 2 * self.hidden
        out = np.zeros((corpus.n_tokens, width), dtype=np.float32)
        ids_t, lengths_t = torch.from_numpy(ids), torch.from_numpy(lengths)
        self.model_.eval()
        with torch.no_grad(), torch_threads(self.num_threads):
            for batch in length_batches(np.flatnonzero(lengths > 0), lengths, 256, None):
                w = int(lengths[batch].max())
                b_ids, b_len = ids_t[batch, :w], lengths_t[batch]
                values = self.model_(b_ids, b_len) if head else self.model_.states(b_ids, b_len)
                mask = torch.arange(w)[None, :] < b_len[:, None]
                out[batch_rows(batch, offsets, lengths)] = values[mask].numpy()
        return out

    def encode(self, corpus: Corpus) -> Features:
        X = self._forward(corpus, head=False)
        h = self.hidden
        return Features(
            X=X, offsets=corpus.offsets, blocks={"bigru": (0, 2 * h)},
            meta={"encoder": "bigru", "hidden": h, "directions": {"forward": [0, h], "backward": [h, 2 * h]},
                  "vocab_size": len(self.vocab_), "best_epoch": self.best_epoch_,
                  "epochs_run": len(self.history_), "seed": self.seed},
        )

    def predict_proba(self, corpus: Corpus) -> np.ndarray:
        """The trained head's class probabilities, one row per word."""
        import torch

        logits = torch.from_numpy(self._forward(corpus, head=True))
        return torch.softmax(logits, dim=-1).numpy()

    def predict(self, corpus: Corpus) -> np.ndarray:
        """The trained head's label for every word."""
        return self.classes_[self._forward(corpus, head=True).argmax(axis=1)]
