"""The task base class and its plain data: which corpus to read, and what to recover from each
word (the contract: :mod:`probekit.contracts`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from probekit.corpus import Corpus


@dataclass
class Targets:
    """Per-word labels of a corpus, flattened in corpus order.

    ``labels`` index into ``names``; ``-1`` marks a word the task leaves out. ``subsets``
    are boolean masks of words that get their own metrics (e.g. ``structure_dependent``).
    """

    labels: np.ndarray
    names: tuple[str, ...]
    subsets: dict[str, np.ndarray] = field(default_factory=dict)
    per_class: bool = True  # report a metric per label (off for 1,000-word identity vocabularies)


@dataclass
class TaskData:
    """The train and test corpora of one task instance."""

    train: Corpus
    test: Corpus
    notes: dict = field(default_factory=dict)


class Task:
    """Base class: ``load()`` the corpora, ``targets(corpus)`` the labels.

    Parameters go in ``__init__`` with defaults (every one can be overridden from the CLI
    with ``-O key=value``); ``default_probe`` is the probe a run uses when none is named.
    """

    default_probe: str = "linear"

    def load(self) -> TaskData:
        raise NotImplementedError

    def targets(self, corpus: Corpus) -> Targets:
        raise NotImplementedError

    def get_params(self) -> dict:
        import inspect

        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names if hasattr(self, name)}
