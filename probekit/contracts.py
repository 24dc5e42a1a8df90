"""The three contracts, written once: what an encoder, a probe and a task must provide, and
the optional hooks each may declare.

:mod:`probekit.experiment` talks to components only through this module: the Protocols
below say what is required, and the small functions read the optional hooks with their
documented defaults, so that a hook is named in one place instead of as a ``getattr`` string
wherever it is used. The base classes :class:`probekit.encoders.base.Encoder`,
:class:`probekit.probes.base.Probe` and :class:`probekit.tasks.base.Task` implement these
contracts with the defaults; subclassing them is the easy way, not a requirement.

Parameters follow scikit-learn's estimator conventions: options are keyword parameters of
``__init__`` with type annotations (the registry checks and coerces them, see
:mod:`probekit.options`) stored unchanged, learned state gets a trailing underscore, and
``get_params()`` returns the options (for the record's ``resolved`` section).

**Encoder** (required: ``fit``, ``encode``)

* ``fit(corpus, labels=None) -> self`` sees only the training corpus.
* ``encode(corpus) -> Features``: one float32 row per word, named column ``blocks``.
* ``supervised`` (default False): when True, ``fit`` gets the task's training labels.
* ``cache_key_parts(corpus) -> dict | None`` (default: absent = no caching): everything the
  output depends on (class, parameters, weights' identity, the corpus fingerprint); the
  feature cache keys on it (:mod:`probekit.cache`).
* ``cache_scope`` (default ``"all"``): ``"single_run"`` for an encoder whose features cost
  little once its process has started (EMA: milliseconds, after about 1 s of loading numba's
  kernel), so that only a cache made for one run (``FeatureCache(single_run=True)``: ``probekit
  run`` of one job) stores and serves them; sweeps and suites pay the start-up once per process
  and would only fill the disk.
* ``get_params() -> dict`` (default: absent = ``{}`` in the record).
* Layers: an encoder whose output holds several layers of a deep model declares them in
  ``Features.layer_blocks`` (``{layer: block name}``); a run then probes each on its own and
  writes one record per layer. A block's name never makes it a layer.

**Probe** (required: ``fit`` and ``predict_proba``, or ``fit`` and ``predict_clusters``)

* supervised (the default): ``fit(X, y, n_classes=None)``, ``predict_proba(X)`` with
  ``n_classes`` columns.
* ``unsupervised = True``: ``fit(X)`` and ``predict_clusters(X)``; labels enter only to map
  clusters to labels on the training rows, for scoring. Optional: ``predict_curve(X)`` (``{k:
  cluster ids}``, the readout curve) and ``with_cluster_count(k)`` (add k to the curve).
* ``uses_sequence = True`` (default False), zero-label probes only: ``fit``, ``predict_clusters``
  and ``predict_curve`` also get ``sequence=`` a :class:`WordSequence` (sentence offsets and word
  ids of the rows), and ``fit`` gets *every* training row in corpus order, labelled or not (it
  takes no labels); the cluster -> label mapping still uses the labelled training rows only.
* ``get_params()``: as above (:class:`probekit.probes.base.Probe` gives it, as scikit-learn's ``BaseEstimator`` would).

**Task** (required: ``load``, ``targets``)

* ``load() -> TaskData`` (train and test corpora, notes); ``targets(corpus) -> Targets``.
* ``default_probe`` (default ``"linear"``): the probe a run uses when none is named; a task
  file may override it (``default_probe = "hebbian"``).
* ``get_params()``: as above.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from probekit.corpus import Corpus
from probekit.errors import ProbekitError
from probekit.features import Features
from probekit.vocab import Vocabulary

DEFAULT_PROBE = "linear"


@runtime_checkable
class EncoderContract(Protocol):
    """Turns a corpus into per-word features."""

    def fit(self, corpus: Corpus, labels: np.ndarray | None = None) -> Any: ...

    def encode(self, corpus: Corpus) -> Features: ...


@runtime_checkable
class SupervisedProbeContract(Protocol):
    """Fits on labelled rows, predicts class probabilities."""

    def fit(self, X: np.ndarray, y: np.ndarray, n_classes: int | None = None) -> Any: ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class UnsupervisedProbeContract(Protocol):
    """Fits on rows alone, assigns clusters (``unsupervised = True``)."""

    unsupervised: bool

    def fit(self, X: np.ndarray) -> Any: ...

    def predict_clusters(self, X: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class TaskContract(Protocol):
    """Names the corpora and the label of every word."""

    def load(self) -> Any: ...

    def targets(self, corpus: Corpus) -> Any: ...


def check(component: Any, what: str) -> Any:
    """``component`` if it has the methods its contract requires, else a ProbekitError naming
    the missing ones (``what``: e.g. ``"encoder 'word-shape'"``; its first word picks the contract)."""
    kind = what.split()[0]
    if kind == "probe":
        contract = UnsupervisedProbeContract if is_unsupervised_probe(component) else SupervisedProbeContract
    else:
        contract = {"encoder": EncoderContract, "task": TaskContract}[kind]
    required = [name for name, value in vars(contract).items() if callable(value) and not name.startswith("_")]
    missing = [name for name in required if not callable(getattr(component, name, None))]
    if missing:
        raise ProbekitError(f"{what} lacks {', '.join(m + '()' for m in missing)}, which every {kind} provides "
                            f"(the contracts: probekit/contracts.py, docs/extending.md).")
    return component


@dataclass(frozen=True)
class WordSequence:
    """What a sequence-aware zero-label probe gets beside the feature rows: ``offsets[i]:offsets[i + 1]``
    are the rows of sentence ``i``; ``word_ids[r]`` is row r's word type, an id into the *training*
    corpus's vocabulary (``0 .. n_types - 1``), or -1 for a word type never seen in training.
    Plain data, no labels: the rows' order and words are what an unlabelled corpus has anyway."""

    offsets: np.ndarray
    word_ids: np.ndarray
    n_types: int


def word_sequences(train: Corpus, *others: Corpus) -> tuple[WordSequence, ...]:
    """The :class:`WordSequence` of ``train`` and of each of ``others``, word ids from ``train``'s
    vocabulary (exact word forms, most frequent first)."""
    vocabulary = Vocabulary().fit(train.words())
    n_types = len(vocabulary) - 1            # id 0 is the unknown bucket: shifted to -1
    return tuple(WordSequence(np.asarray(corpus.offsets, dtype=np.int64), vocabulary.ids(corpus.words()) - 1,
                              n_types) for corpus in (train, *others))


# -- the optional hooks, read in one place -------------------------------------------------------


def is_supervised_encoder(encoder: Any) -> bool:
    """Whether ``fit`` needs the training labels (hook ``supervised``, default False)."""
    return bool(getattr(encoder, "supervised", False))


def is_unsupervised_probe(probe: Any) -> bool:
    """Whether the probe fits without labels (hook ``unsupervised``, default False)."""
    return bool(getattr(probe, "unsupervised", False))


def add_cluster_count(probe: Any, k: int) -> None:
    """Ask a zero-label probe with a readout curve to also cluster into ``k`` clusters (hook
    ``with_cluster_count``; absent: nothing to do)."""
    hook = getattr(probe, "with_cluster_count", None)
    if callable(hook):
        hook(k)


def uses_sequence(probe: Any) -> bool:
    """Whether a zero-label probe reads the rows' sentences and word types (hook ``uses_sequence``,
    default False): it then gets ``sequence=`` a :class:`WordSequence` in fit and predict."""
    return is_unsupervised_probe(probe) and bool(getattr(probe, "uses_sequence", False))


def _sequence(probe: Any, sequence: WordSequence | None) -> dict:
    """``{"sequence": sequence}`` for a probe that uses it, else ``{}`` (others never see it)."""
    if not uses_sequence(probe):
        return {}
    if sequence is None:
        raise ProbekitError(f"probe {type(probe).__name__} reads the word sequence (uses_sequence) but none was given.")
    return {"sequence": sequence}


def fit_clusters(probe: Any, X: np.ndarray, sequence: WordSequence | None = None) -> Any:
    """``probe.fit(X)`` of a zero-label probe, with ``sequence=`` when it uses one. Never labels."""
    return probe.fit(X, **_sequence(probe, sequence))


def predict_clusters(probe: Any, X: np.ndarray, sequence: WordSequence | None = None) -> np.ndarray:
    """``probe.predict_clusters(X)``, with ``sequence=`` when the probe uses one."""
    return probe.predict_clusters(X, **_sequence(probe, sequence))


def predict_curve(probe: Any, X: np.ndarray, sequence: WordSequence | None = None) -> dict[int, np.ndarray] | None:
    """``{k: cluster ids}`` of a zero-label probe's readout curve (hook ``predict_curve``); None
    when the probe has no curve (one clustering: ``predict_clusters``). ``sequence`` goes only to a
    probe that uses it."""
    hook = getattr(probe, "predict_curve", None)
    return hook(X, **_sequence(probe, sequence)) if callable(hook) else None


def cache_key_parts(encoder: Any, corpus: Corpus) -> dict | None:
    """What the encoder's output on ``corpus`` depends on (hook ``cache_key_parts``); None: do not cache."""
    hook = getattr(encoder, "cache_key_parts", None)
    return hook(corpus) if callable(hook) else None


def cache_scope(encoder: Any) -> str:
    """``"all"`` (the default) or ``"single_run"``: which feature caches may store the encoder's
    output (attribute ``cache_scope``; see :mod:`probekit.cache`)."""
    scope = getattr(encoder, "cache_scope", "all")
    if scope not in ("all", "single_run"):
        raise ProbekitError(f"encoder {type(encoder).__name__}: cache_scope must be 'all' or 'single_run', "
                            f"got {scope!r}.")
    return scope


def check_resources(component: Any) -> None:
    """Raise the :class:`ProbekitError` that loading would raise for a missing input (a treebank, a
    text file, a model folder), without reading it (hook ``check_resources()``, default: nothing to
    check). Suites call it for every job before any work, so a missing file fails in seconds."""
    hook = getattr(component, "check_resources", None)
    if callable(hook):
        hook()


def default_probe(task_factory: Callable, task: Any) -> str:
    """The task's probe when the run names none: the task file's, else the task type's."""
    return getattr(task_factory, "default_probe", None) or getattr(task, "default_probe", None) or DEFAULT_PROBE


def params(component: Any) -> dict:
    """The component's options as JSON-ready values (hook ``get_params``, default ``{}``)."""
    getter = getattr(component, "get_params", None)
    if getter is None:
        return {}
    takes_deep = inspect.ismethod(getter) and "deep" in inspect.signature(getter).parameters
    values = getter(deep=False) if takes_deep else getter()
    plain = (int, float, str, bool, type(None), list, tuple)
    return {k: v if isinstance(v, plain) else repr(v) for k, v in values.items()}


#: fitted attributes (scikit-learn's trailing underscore) a reader of a record needs in order to trust
#: it: whether an iterative fit stopped at its tolerance, after how many iterations, and the
#: penalty a held-out search chose
FIT_FACTS = ("converged_", "n_iter_", "C_")


def fit_facts(probe: Any) -> dict:
    """The probe's :data:`FIT_FACTS` it has, as plain values keyed without the underscore."""
    facts = {}
    for name in FIT_FACTS:
        value = getattr(probe, name, None)
        if isinstance(value, (bool, np.bool_)):
            facts[name[:-1]] = bool(value)
        elif isinstance(value, (int, float, np.integer, np.floating)):
            facts[name[:-1]] = value.item() if hasattr(value, "item") else value
    return facts


def layer_views(train: Features, test: Features) -> dict[int | None, tuple[Features, Features]]:
    """``{layer: (train, test)}`` for the declared layers, else ``{None: (train, test)}``."""
    train_layers, test_layers = train.layers(), test.layers()
    if not train_layers:
        return {None: (train, test)}
    return {layer: (train_layers[layer], test_layers[layer]) for layer in train_layers}
