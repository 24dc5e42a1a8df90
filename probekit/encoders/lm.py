"""Language models trained by ``probekit lm train`` as encoders: ``-E checkpoint=DIR``.

Words map to the model's own vocabulary (unknown words -> ``<unk>``). The text a model reads is
``<eol> w w w ...``: with ``context=stream`` the whole corpus after one ``<eol>`` (state carried
across sentences), with ``context=sentence`` each sentence after its own ``<eol>``; ``<eol>``
is the line start the models were trained with. Features per word:

* EMA LM: the current embedding and each trace (blocks ``x``, ``ema_0.5``, ...), computed over
  the whole stream by the model's own trace code in windows of at least 256 tokens with the
  state carried (exact, however long the text);
* GRU LM: the top GRU layer's state (block ``gru``), carried the same way;
* GPT-2: hidden states of ``layer`` (default the last; ``all_layers`` for blocks ``layer_0`` ..
  ``layer_L``) through the ``hf`` encoder on the folder's ``hf/`` copy, windows of the training
  context with the ``hf`` encoder's overlap.

``fit`` trains nothing: the model was trained on its own text; ``labels`` are never seen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from probekit.corpus import Corpus
from probekit.encoders.base import Encoder
from probekit.encoders.embeddings import check_choice, check_int
from probekit.errors import ProbekitError
from probekit.features import Features
from probekit.registry import register_encoder

NAME = "lm"
#: EMA / GRU states are exact in any window (the state is carried), so the encoder reads at least this
#: many tokens per call: fewer Python-level calls, and the EMA decay matrix is built per call.
_READ_WINDOW = 256


@register_encoder(NAME)
class LMEncoder(Encoder):
    """A language model trained by `probekit lm train` (-E checkpoint=DIR): per-word states."""

    def __init__(self, checkpoint: str | None = None, layer: int | None = None, all_layers: bool = False,
                 context: Literal["stream", "sentence"] = "stream", batch_size: int = 64, num_threads: int = 1):
        if not checkpoint:
            raise ProbekitError(f"encoder {NAME!r} needs option 'checkpoint': a folder written by "
                                f"`probekit lm train ... -o DIR`, e.g. -E checkpoint=DIR.")
        self.checkpoint = str(checkpoint)
        self.layer = None if layer is None else int(layer)
        self.all_layers = bool(all_layers)
        self.context = check_choice(NAME, "context", context, ("stream", "sentence"))
        self.batch_size = check_int(NAME, "batch_size", batch_size)
        self.num_threads = check_int(NAME, "num_threads", num_threads, minimum=0)
        self.model_ = None

    def check_resources(self) -> None:
        """The checkpoint folder holds a trained model's config (the weights are checked on loading)."""
        from probekit.lm.train import check_trained_folder

        check_trained_folder(self._folder())

    def fit(self, corpus: Corpus, labels: np.ndarray | None = None) -> "LMEncoder":
        """Load the trained model (nothing is fitted: the LM learned from its own text)."""
        from probekit.lm.train import load_trained

        self.meta_, self.vocab_, self.model_ = load_trained(self._folder())
        arch = self.meta_["train"]["arch"]
        if arch != "gpt2" and (self.layer is not None or self.all_layers):
            raise ProbekitError(f"encoder {NAME!r}: options 'layer' and 'all_layers' choose GPT-2 layers; the model in "
                                f"{self.checkpoint} is a {arch!r} LM with one state per word. Drop the option.")
        return self

    def encode(self, corpus: Corpus) -> Features:
        from probekit.threads import torch_threads

        if self.model_ is None:
            self.fit(corpus)
        with torch_threads(self.num_threads):
            if self.meta_["train"]["arch"] == "gpt2":
                features = self._hf().encode(corpus)
            else:
                features = self._recurrent(corpus)
        features.meta.update({"encoder": NAME, "checkpoint": self.checkpoint, "arch": self.meta_["train"]["arch"],
                              "split": self.meta_["split"], "parameters": self.meta_["parameters"],
                              "unknown_word_rate": float(np.mean(self.vocab_.ids(corpus.words()) == 0))
                              if corpus.n_tokens else 0.0})
        return features

    def _folder(self) -> Path:
        """The checkpoint folder (``cache:lm/...`` names one under this machine's cache root)."""
        from probekit.cache import resolve_cache_ref

        return Path(resolve_cache_ref(self.checkpoint))

    def _hf(self):
        from probekit.encoders.hf import HFCausalLMEncoder

        return HFCausalLMEncoder(model=str(self._folder() / "hf"), layer=self.layer,
                                 all_layers=self.all_layers, context=self.context, batch_size=self.batch_size,
                                 max_length=self.meta_["train"]["context"], device="cpu")

    def _recurrent(self, corpus: Corpus) -> Features:
        """EMA / GRU states: rows ``<eol> w ..`` read in windows, the state carried."""
        import torch

        from probekit.lm.corpus import EOL

        eol = self.vocab_.ids([EOL])[0]
        words = self.vocab_.ids(corpus.words())
        lengths = np.diff(corpus.offsets)
        if self.context == "stream":
            rows = np.concatenate([[eol], words])[None, :]
            word_at = np.arange(-1, len(words))[None, :]
        else:
            width = int(lengths.max(initial=0)) + 1
            rows = np.full((len(lengths), width), eol, dtype=np.int64)
            word_at = np.full(rows.shape, -1, dtype=np.int64)
            sentence = np.repeat(np.arange(len(lengths)), lengths)
            column = 1 + np.arange(len(words)) - np.repeat(corpus.offsets[:-1], lengths)
            rows[sentence, column] = words
            word_at[sentence, column] = np.arange(len(words))
        window = max(int(self.meta_["train"]["context"]), _READ_WINDOW)
        blocks = self.model_.blocks()
        X = np.zeros((len(words), max(stop for _, stop in blocks.values())), dtype=np.float32)
        with torch.inference_mode():
            for r0 in range(0, len(rows), max(1, self.batch_size)):
                chunk, state = torch.from_numpy(rows[r0:r0 + self.batch_size]), None
                for c0 in range(0, rows.shape[1], window):
                    out, state = self.model_.states(chunk[:, c0:c0 + window], state)
                    index = word_at[r0:r0 + self.batch_size, c0:c0 + window]
                    X[index[index >= 0]] = out.numpy()[index >= 0]
        return Features(X=X, offsets=corpus.offsets, blocks=blocks,
                        meta={"context": self.context, "window": window})
