"""The encoder base class: the defaults of the encoder contract (:mod:`probekit.contracts`).

An encoder turns a :class:`~probekit.corpus.Corpus` into :class:`~probekit.features.Features`
(one float32 row per word). ``fit`` sees only the training corpus (and, for supervised
encoders such as the BiGRU, the training labels); fixed encoders still use it to learn their
vocabulary, so that words first seen at test time land in the unknown bucket.

Parameters go in ``__init__`` (so the registry can check and document them), learned state
gets a trailing underscore, as in scikit-learn.
"""

from __future__ import annotations

import numpy as np

from probekit.corpus import Corpus
from probekit.features import Features


class Encoder:
    """Base class: override ``encode``; override ``fit`` if the encoder learns anything."""

    #: True for encoders that need the task's training labels in ``fit``.
    supervised: bool = False

    def fit(self, corpus: Corpus, labels: np.ndarray | None = None) -> "Encoder":
        return self

    def encode(self, corpus: Corpus) -> Features:
        raise NotImplementedError

    def get_params(self) -> dict:
        """The constructor parameters, for result records."""
        import inspect

        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names if hasattr(self, name)}
