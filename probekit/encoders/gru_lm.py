"""A label-free, input-dependent comparison for EMA traces: a GRU next-token language model.

``fit(corpus)`` trains word embedding -> dropout -> unidirectional GRU (``layers`` deep) ->
dropout -> linear softmax over the vocabulary plus an end-of-sentence class, to predict the next
word. It never looks at probe labels (``labels`` is accepted for the Encoder contract and
ignored). Every sentence is preceded by a start token ``<s>``; after its last word the model
predicts the end class. Two contexts:

* ``"sentence"``: each sentence is its own sequence; the state starts at zero at ``<s>``.
* ``"stream"``: the corpus is one token stream ``<s> w w w <s> w w ...`` in corpus order; the
  state is carried across sentences. Training cuts the stream into ``batch_size`` contiguous
  rows and walks them in chunks of ``chunk_length`` tokens, carrying (detached) state from
  chunk to chunk (truncated back-propagation through time). Encoding reads the whole stream
  with the state carried throughout.

A slice of the *training* sentences (``validation_fraction``, chosen with the seed) is held out
for early stopping on its loss (in ``stream`` mode they form their own stream, in corpus order);
the weights of the best epoch are kept. ``encode`` returns the top GRU layer's hidden state
after reading each word: causal, the state at word t has seen words <= t (and, in stream mode,
the earlier sentences) only.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from probekit.corpus import Corpus
from probekit.encoders.base import Encoder
from probekit.encoders.training import TorchModelPickling, train_epochs
from probekit.encoders.batching import batch_rows as _rows, length_batches as _batches, padded as _padded
from probekit.encoders.embeddings import (
    check_choice,
    check_float,
    check_int,
    check_max_vocab,
    fit_vocabulary,
    require_fitted,
    word_ids,
)
from probekit.errors import ProbekitError
from probekit.features import Features
from probekit.registry import register_encoder
from probekit.threads import torch_threads as _torch_threads

NAME = "gru-lm"
PAD = 0  # input padding id; vocabulary id v is input id v + 1; <s> is input id len(vocab) + 1
LN2 = math.log(2.0)


def _build_model(n_inputs: int, n_outputs: int, dim: int, hidden: int, layers: int, dropout: float):
    """The GRU LM module shared with ``probekit lm train --arch gru`` (:mod:`probekit.encoders.gru_net`)."""
    from probekit.encoders.gru_net import GRULanguageModel

    return GRULanguageModel(n_inputs, n_outputs, dim, hidden, layers, dropout, padding_idx=PAD)


@register_encoder(NAME)
class GRULanguageModelEncoder(TorchModelPickling, Encoder):
    """Label-free comparison: a unidirectional GRU next-word LM; features = its hidden states.

    Options: ``dim`` (embedding size), ``hidden`` (GRU units; features have ``hidden`` columns,
    the top layer), ``layers`` (stacked GRU layers), ``epochs``, ``batch_size``, ``lr`` (Adam),
    ``dropout`` (on embeddings, between GRU layers and before the softmax), ``context``
    (``sentence``: state reset at each sentence; ``stream``: one token stream, state carried
    across sentences), ``chunk_length`` (stream mode: tokens per truncated-BPTT chunk),
    ``validation_fraction`` (share of training sentences held out for early stopping; 0 turns
    it off), ``patience`` (epochs without validation-loss improvement before stopping),
    ``num_threads`` (torch intra-op threads during fit/encode, 0 = leave torch's setting),
    ``seed``, ``lowercase``, ``max_vocab`` (known types; the rest share the unknown bucket,
    which the LM also predicts as one class).
    """

    supervised = False

    def __init__(
        self,
        dim: int = 64,
        hidden: int = 128,
        layers: int = 1,
        epochs: int = 5,
        batch_size: int = 32,
        lr: float = 3e-3,
        dropout: float = 0.1,
        context: Literal["sentence", "stream"] = "sentence",
        chunk_length: int = 64,
        validation_fraction: float = 0.1,
        patience: int = 2,
        num_threads: int = 1,
        seed: int = 0,
        lowercase: bool = False,
        max_vocab: int | None = 10000,
    ):
        self.dim = check_int(NAME, "dim", dim)
        self.hidden = check_int(NAME, "hidden", hidden)
        self.layers = check_int(NAME, "layers", layers)
        self.epochs = check_int(NAME, "epochs", epochs)
        self.batch_size = check_int(NAME, "batch_size", batch_size)
        self.lr = check_float(NAME, "lr", lr, 0.0, math.inf, low_open=True, high_open=True)
        self.dropout = check_float(NAME, "dropout", dropout, 0.0, 1.0, high_open=True)
        self.context = check_choice(NAME, "context", context, ("sentence", "stream"))
        self.chunk_length = check_int(NAME, "chunk_length", chunk_length)
        self.validation_fraction = check_float(NAME, "validation_fraction", validation_fraction,
                                               0.0, 1.0, high_open=True)
        self.patience = check_int(NAME, "patience", patience)
        self.num_threads = check_int(NAME, "num_threads", num_threads, minimum=0)
        self.seed = check_int(NAME, "seed", seed, minimum=0)
        self.lowercase = bool(lowercase)
        self.max_vocab = check_max_vocab(NAME, max_vocab)

    # -- token ids -------------------------------------------------------------------------
    @property
    def _start_id(self) -> int:
        return len(self.vocab_) + 1

    @property
    def _end_class(self) -> int:
        return len(self.vocab_)

    def _stream(self, ids: np.ndarray, offsets: np.ndarray, sentences: np.ndarray):
        """Stream inputs ``<s> w.. <s> w..`` of ``sentences``, next-token targets, word positions."""
        lengths = np.diff(offsets)[sentences]
        total = int(lengths.sum()) + len(sentences)
        starts = np.cumsum(lengths + 1) - (lengths + 1)  # position of each <s>
        inputs = np.full(total, self._start_id, dtype=np.int64)
        word_pos = (np.repeat(starts + 1, lengths)
                    + np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths))
        inputs[word_pos] = ids[_rows(sentences, offsets, np.diff(offsets))] + 1
        # the target after a token is the next word's class (input id - 1); before the next <s>
        # that is the end class (start id - 1 == len(vocab) == end class), as after the last word
        targets = np.empty(total, dtype=np.int64)
        targets[:-1] = inputs[1:] - 1
        targets[-1] = self._end_class
        return inputs, targets, word_pos

    # -- training ------------------------------------------------------------------------
    def fit(self, corpus: Corpus, labels: np.ndarray | None = None) -> "GRULanguageModelEncoder":
        """Train the LM on the words of ``corpus``; ``labels`` is ignored (label-free encoder)."""
        import torch

        del labels  # never used: this encoder sees only the words
        self.vocab_ = fit_vocabulary(corpus, self.lowercase, self.max_vocab)
        offsets = corpus.offsets
        lengths = np.diff(offsets)
        nonempty = np.flatnonzero(lengths > 0)
        if len(nonempty) == 0:
            raise ProbekitError(f"encoder {NAME!r}: the training corpus has no words.")
        rng = np.random.default_rng(self.seed)
        shuffled = rng.permutation(nonempty)
        n_val = int(round(self.validation_fraction * len(shuffled)))
        n_val = min(n_val, len(shuffled) - 1)
        val_idx, train_idx = np.sort(shuffled[:n_val]), np.sort(shuffled[n_val:])
        ids = word_ids(self.vocab_, corpus)
        n_inputs, n_outputs = len(self.vocab_) + 2, len(self.vocab_) + 1

        if self.context == "sentence":
            # row i: <s> w_1 .. w_n (PAD after); targets w_1 .. w_n </s> (-1 after)
            words, _ = _padded(ids + 1, offsets, PAD)
            inputs = np.concatenate([np.full((len(lengths), 1), self._start_id), words], axis=1)
            targets = np.full(inputs.shape, -1, dtype=np.int64)
            targets[:, :-1] = np.where(words == PAD, -1, words - 1)
            targets[np.arange(len(lengths)), lengths] = self._end_class
            inputs_t, targets_t = torch.from_numpy(inputs), torch.from_numpy(targets)

            def batches(which: np.ndarray, train: bool):
                for batch in _batches(which, lengths, self.batch_size if train else 256,
                                      rng if train else None):
                    width = int(lengths[batch].max()) + 1
                    yield inputs_t[batch, :width], targets_t[batch, :width], False
        else:
            streams = {}
            for key, which in (("train", train_idx), ("val", val_idx)):
                if len(which) == 0:
                    continue
                x, y, _ = self._stream(ids, offsets, which)
                rows = min(self.batch_size, len(x))
                width = -(-len(x) // rows)
                xs = np.full(rows * width, PAD, dtype=np.int64)
                ys = np.full(rows * width, -1, dtype=np.int64)
                xs[:len(x)], ys[:len(y)] = x, y
                streams[key] = (torch.from_numpy(xs.reshape(rows, width)),
                                torch.from_numpy(ys.reshape(rows, width)))

            def batches(which: np.ndarray, train: bool):
                xs, ys = streams["train" if train else "val"]
                for c0 in range(0, xs.shape[1], self.chunk_length):
                    yield xs[:, c0:c0 + self.chunk_length], ys[:, c0:c0 + self.chunk_length], c0 > 0

        with torch.random.fork_rng(devices=[]), _torch_threads(self.num_threads):
            torch.manual_seed(self.seed)
            model = _build_model(n_inputs, n_outputs, self.dim, self.hidden, self.layers, self.dropout)
            optimiser = torch.optim.Adam(model.parameters(), lr=self.lr)
            loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-1, reduction="sum")

            def run_epoch(which: np.ndarray, train: bool) -> float:
                """Mean loss in bits per predicted token over ``which``."""
                model.train(train)
                total, count, state = 0.0, 0, None
                with torch.set_grad_enabled(train):
                    for x, y, carry in batches(which, train):
                        logits, new_state = model(x, state if carry else None)
                        state = new_state.detach()
                        loss = loss_fn(logits.reshape(-1, n_outputs), y.reshape(-1))
                        n = int((y >= 0).sum())
                        if train and n:
                            optimiser.zero_grad()
                            (loss / n).backward()
                            optimiser.step()
                        total, count = total + float(loss.detach()), count + n
                return total / max(count, 1) / LN2

            def one_epoch() -> dict:
                record = {"train_bits": run_epoch(train_idx, train=True)}
                if n_val:
                    record["val_bits"] = run_epoch(val_idx, train=False)
                return record

            self.history_, best_epoch = train_epochs(model, one_epoch, self.epochs, self.patience, "val_bits",
                                                     "train_bits", bool(n_val), NAME)
        self.model_ = model
        self.best_epoch_ = best_epoch
        self.n_validation_sentences_ = int(n_val)
        best = self.history_[best_epoch - 1]
        self.train_bits_ = best["train_bits"]
        self.val_bits_ = best.get("val_bits")
        return self

    def _empty_model(self):
        """The unfitted module of this encoder's shape (for unpickling)."""
        return _build_model(len(self.vocab_) + 2, len(self.vocab_) + 1, self.dim, self.hidden,
                            self.layers, self.dropout)

    # -- inference ------------------------------------------------------------------------
    def encode(self, corpus: Corpus) -> Features:
        import torch

        require_fitted(self, "model_", NAME)
        offsets = corpus.offsets
        lengths = np.diff(offsets)
        ids = word_ids(self.vocab_, corpus)
        out = np.zeros((corpus.n_tokens, self.hidden), dtype=np.float32)
        self.model_.eval()
        with torch.no_grad(), _torch_threads(self.num_threads):
            if self.context == "sentence":
                words, _ = _padded(ids + 1, offsets, PAD)
                inputs = torch.from_numpy(
                    np.concatenate([np.full((len(lengths), 1), self._start_id), words], axis=1))
                lengths_t = torch.from_numpy(lengths)
                for batch in _batches(np.flatnonzero(lengths > 0), lengths, 256, None):
                    w = int(lengths[batch].max())
                    # causal: padding after a sentence cannot change its states, so no packing
                    states, _ = self.model_.states(inputs[batch, :w + 1])
                    mask = torch.arange(w)[None, :] < lengths_t[batch][:, None]
                    out[_rows(batch, offsets, lengths)] = states[:, 1:][mask].numpy()
            elif corpus.n_tokens:
                x, _, word_pos = self._stream(ids, offsets, np.flatnonzero(lengths > 0))
                x_t = torch.from_numpy(x)[None, :]
                states = np.empty((len(x), self.hidden), dtype=np.float32)
                state, step = None, 8192  # bounded memory; the state is carried across pieces
                for c0 in range(0, len(x), step):
                    piece, state = self.model_.states(x_t[:, c0:c0 + step], state)
                    states[c0:c0 + step] = piece[0].numpy()
                out[:] = states[word_pos]
        meta = {"encoder": NAME, "hidden": self.hidden, "layers": self.layers, "layer": self.layers,
                "context": self.context, "vocab_size": len(self.vocab_), "best_epoch": self.best_epoch_,
                "epochs_run": len(self.history_), "seed": self.seed,
                "train_bits_per_token": self.train_bits_, "train_perplexity": 2.0 ** self.train_bits_,
                "val_bits_per_token": self.val_bits_,
                "val_perplexity": None if self.val_bits_ is None else 2.0 ** self.val_bits_}
        return Features(X=out, offsets=offsets, blocks={"gru_lm": (0, self.hidden)}, meta=meta)
