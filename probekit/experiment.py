"""One run: encoder x task x probe x seed -> result records.

``run(config)`` is a pure function of its :class:`RunConfig` plus the data the task names,
so that sweeps are lists of configs (:mod:`probekit.sweep`). Stages talk through plain types:
a task gives corpora and :class:`~probekit.tasks.Targets`, an encoder gives
:class:`~probekit.features.Features`, a probe gives predictions, :mod:`probekit.metrics` gives
numbers, and :func:`probekit.records.build_record` puts them into a record. Components are
reached only through :mod:`probekit.contracts`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

import numpy as np

from probekit import contracts, registry
from probekit.cache import FeatureCache, cached_encode
from probekit.errors import ProbekitError
from probekit.features import Features
from probekit.metrics import classification_metrics, cluster_information, information_metrics, majority_baseline
from probekit.records import (  # noqa: F401  (record_path, save_record, load_results: public API here too)
    DEFAULT_RESULTS_DIR, RECORD_VERSION, build_record, load_results, record_path, save_record)
from probekit.tasks import is_task_file, resolve_task_name, task_file_digest


@dataclass
class RunConfig:
    """Everything that decides a run's numbers (together with the data the task names)."""

    encoder: str
    task: str
    probe: str | None = None
    seed: int = 0
    train_size: int | None = None
    encoder_options: dict[str, Any] = field(default_factory=dict)
    task_options: dict[str, Any] = field(default_factory=dict)
    probe_options: dict[str, Any] = field(default_factory=dict)
    n_boot: int = 1000
    control: bool = False   # also fit the probe on a control task (Hewitt & Liang): selectivity
    mdl: bool = False       # also measure the online (MDL) codelength of the labels (Voita & Titov)

    def key(self) -> str:
        """A short hash of the config: the record's identity."""
        text = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _with_seed(registry_: registry.Registry, name: str, options: dict, seed: int) -> Any:
    """Create a component, passing the run seed where the component takes one."""
    params = registry_.parameters(name)
    if "seed" in params and "seed" not in options:
        options = {**options, "seed": seed}
    return registry_.create(name, **options)


def _make_probe(config: RunConfig, probe_name: str) -> Any:
    return contracts.check(_with_seed(registry.probes, probe_name, dict(config.probe_options), config.seed),
                           f"probe {probe_name!r}")


def _subsample(corpus, size: int | None):
    if size is None:
        return corpus
    if size < 1:
        raise ProbekitError(f"train_size must be at least 1 sentence, got {size}.")
    if size > len(corpus):
        raise ProbekitError(f"train_size {size} is larger than the training corpus ({len(corpus)} sentences); "
                            f"lower it or enlarge the corpus (e.g. -O n_train={size}).")
    return corpus[:size]


def record_key(config: RunConfig) -> str:
    """The identity of a config's records: :meth:`RunConfig.key`, except that a task given as a
    ``.toml`` path keys on the file's content (not its path), so an edited file gets new records."""
    if not is_task_file(config.task):
        return config.key()
    return replace(config, task=f"task-file:{task_file_digest(config.task)}").key()


class _Timer:
    def __init__(self, seconds: dict[str, float] | None = None) -> None:
        self.seconds: dict[str, float] = seconds or {}

    def __call__(self, stage: str, work: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = work()
        self.seconds[stage] = round(time.perf_counter() - start, 4)
        return value


def _components(config: RunConfig, task: Any = None) -> tuple[str, Any, str, Any, Any]:
    """Build a config's task (unless given), encoder and first probe, checking every name and
    option, before any work: ``(task name, task, probe name, encoder, probe)``."""
    task_name = resolve_task_name(config.task)
    if task is None:
        task = contracts.check(registry.tasks.create(task_name, **config.task_options), f"task {task_name!r}")
    probe_name = config.probe or contracts.default_probe(registry.tasks.get(task_name).factory, task)
    encoder = contracts.check(_with_seed(registry.encoders, config.encoder, dict(config.encoder_options), config.seed),
                              f"encoder {config.encoder!r}")
    probe = _make_probe(config, probe_name)
    if (config.control or config.mdl) and contracts.is_unsupervised_probe(probe):
        raise ProbekitError(f"--control and --mdl need a supervised probe (class probabilities); "
                            f"{probe_name!r} is a zero-label probe. Use -p linear or -p mlp.")
    return task_name, task, probe_name, encoder, probe


def check_config(config: RunConfig, inputs: bool = True) -> None:
    """Raise the :class:`ProbekitError` that :func:`run_all` would raise for a bad name or option
    or (with ``inputs``) a missing input file or model, without loading data or computing anything
    (a sweep checks every config before running any; settings that need the data, such as a
    training size, are checked by :func:`prepare`)."""
    _, task, _, encoder, _ = _components(config)
    if inputs:
        contracts.check_resources(task)
        contracts.check_resources(encoder)


def run(config: RunConfig, progress: Callable[[str], None] | None = None) -> dict:
    """Run one configuration and return its result record (a JSON-ready dict).

    For an encoder that returns several layers (``-E all_layers=true``) use :func:`run_all`,
    which gives one record per layer.
    """
    records = run_all(config, progress)
    if len(records) != 1:
        raise ProbekitError(f"encoder {config.encoder!r} returned {len(records)} layers: use run_all() "
                            f"for one record per layer, or choose one layer (-E layer=N).")
    return records[0]


@dataclass
class Prepared:
    """A config whose components are made and checked and whose data is loaded: what is left
    to do can only fail on a bug or the machine, not on a setting. Made by :func:`prepare`."""

    config: RunConfig
    task_name: str
    task: Any
    probe_name: str
    encoder: Any
    probe: Any
    data: Any
    train: Any
    load_seconds: float


def prepare(config: RunConfig, progress: Callable[[str], None] | None = None,
            loaded: dict | None = None) -> Prepared:
    """Check every setting of ``config`` and load its data, fitting nothing.

    ``loaded`` (a dict the caller keeps) shares one task and its data between configs that
    name the same task with the same options, as a sweep over seeds or training sizes does.
    """
    say = progress or (lambda stage: None)
    task_name = resolve_task_name(config.task)
    share = (task_name, json.dumps(config.task_options, sort_keys=True, default=str))
    shared = loaded.get(share) if loaded is not None else None
    task_name, task, probe_name, encoder, probe = _components(config, shared[0] if shared else None)
    if shared:
        say("loading data")   # the stage still starts (and names the job); the data is already here
        task, data, load_seconds = shared
    else:
        say("loading data")
        timer = _Timer()
        data = timer("load", task.load)
        load_seconds = timer.seconds["load"]
        if loaded is not None:
            loaded[share] = (task, data, load_seconds)
    train = _subsample(data.train, config.train_size)
    return Prepared(config, task_name, task, probe_name, encoder, probe, data, train, load_seconds)


def run_all(config: RunConfig, progress: Callable[[str], None] | None = None,
            cache: FeatureCache | None = None, prepared: Prepared | None = None) -> list[dict]:
    """Run one configuration: one record, or one per declared layer of a multi-layer encoding.

    Features are computed once (through the feature cache, for encoders that support it)
    and every layer is probed with a freshly made probe. ``prepared`` is ``prepare(config)``
    when the caller has checked the config already.
    """
    say = progress or (lambda stage: None)
    ready = prepared if prepared is not None else prepare(config, say)
    task_name, task, probe_name, encoder = ready.task_name, ready.task, ready.probe_name, ready.encoder
    timer = _Timer({"load": ready.load_seconds})

    def new_probe():
        return _make_probe(config, probe_name)

    fresh = [ready.probe]  # made before any work, so that a bad probe option fails early
    data, train, test = ready.data, ready.train, ready.data.test
    y_train, y_test = timer("targets", lambda: (task.targets(train), task.targets(test)))

    say(f"fitting encoder {config.encoder}")
    labels = y_train.labels if contracts.is_supervised_encoder(encoder) else None
    timer("encoder_fit", lambda: encoder.fit(train, labels))
    say("encoding")
    before = None if cache is None else (cache.hits, cache.misses)
    f_train = timer("encode_train", lambda: cached_encode(encoder, train, cache))
    f_test = timer("encode_test", lambda: cached_encode(encoder, test, cache))
    # this run's hits and misses (the cache object may have served other runs of this process first)
    cache_use = None if cache is None else {"hits": cache.hits - before[0], "misses": cache.misses - before[1]}

    key = record_key(config)
    records = []
    for layer, (train_view, test_view) in contracts.layer_views(f_train, f_test).items():
        probe = fresh.pop() if fresh else new_probe()
        say(f"fitting probe {probe_name}")
        start = time.perf_counter()
        extra, predictions = _fit_and_score(probe, train_view, test_view, y_train, y_test, train, test, config)
        probe_seconds = round(time.perf_counter() - start, 4)
        say("scoring")
        scored = _score(predictions, y_test, test, config)
        primary = next(iter(scored))
        majority = _score({"majority": majority_baseline(y_train.labels, y_test.labels)}, y_test, test, config)
        metrics = {**scored[primary], **extra, "readout": primary,
                   **_information_metrics(config, new_probe, train_view, test_view, y_train, y_test, train, test,
                                          scored[primary]["accuracy"]["value"], predictions[primary], say, timer)}
        records.append(build_record(
            record_id=key + ("" if layer is None else f"-L{layer}"),
            config={**asdict(config), "probe": probe_name, "task": task_name, "layer": layer},
            data={"labels": list(y_test.names) if y_test.per_class else len(y_test.names),
                  "feature_dim": train_view.dim,
                  "feature_blocks": {k: list(v) for k, v in train_view.blocks.items()},
                  "train_sentences": len(train), "train_words": train.n_tokens,
                  "test_sentences": len(test), "test_words": test.n_tokens, **data.notes,
                  "feature_cache": cache_use},
            metrics=metrics,
            readouts={mode: m for mode, m in scored.items() if mode != primary},
            baselines={"majority": majority["majority"]},
            timings_s={**timer.seconds, "probe": probe_seconds},
            resolved={"encoder_params": contracts.params(encoder), "task_params": contracts.params(task),
                      "probe_params": contracts.params(probe), "probe_fit": contracts.fit_facts(probe)},
        ))
    return records


def _score(predictions: dict[str, np.ndarray], y_test, test, config: RunConfig) -> dict[str, dict]:
    """Classification metrics (with bootstrap CIs over test sentences) per readout mode."""
    return {
        mode: classification_metrics(y_test.labels, pred, test.sentence_index(), y_test.names, y_test.subsets,
                                     n_boot=config.n_boot, seed=config.seed, per_class=y_test.per_class)
        for mode, pred in predictions.items()
    }


def _information_metrics(config, new_probe, f_train, f_test, y_train, y_test, train, test, accuracy,
                         task_predictions, say, timer: _Timer) -> dict:
    """Selectivity against a control task and MDL codelength, when the config asks for them
    (their wall times go to ``timer``, not into the metrics, so identical runs have identical metrics).

    ``task_predictions`` are the task probe's test predictions: they pair with the control
    probe's in selectivity's sentence bootstrap."""
    extra = {}
    n_classes = len(y_train.names)
    if config.control:
        from probekit.control import control_metrics

        say("control task")
        extra["control"] = timer("control", lambda: control_metrics(
            new_probe, f_train.X, f_test.X, train.words(), test.words(), y_train.labels, y_test.labels,
            seed=config.seed, sentence_ids=test.sentence_index(), n_classes=n_classes, n_boot=config.n_boot,
            task_accuracy=accuracy, task_predictions=task_predictions))
    if config.mdl:
        from probekit.mdl import online_codelength

        say("MDL codelength")
        extra["mdl"] = timer("mdl", lambda: online_codelength(f_train.X, y_train.labels, n_classes, new_probe,
                                                              seed=config.seed))
    return extra


def _fit_and_score(probe, f_train: Features, f_test: Features, y_train, y_test, train, test, config: RunConfig
                   ) -> tuple[dict, dict[str, np.ndarray]]:
    """Fit the probe on the labelled training rows; return extra metrics and the test
    predictions per readout mode.

    An unsupervised probe is fitted on features alone; the cluster -> label mapping is then
    fitted on the *training* clusters and labels (never the test set) and used only to score.
    """
    keep = y_train.labels >= 0
    x_train, labels = f_train.X[keep], y_train.labels[keep]
    n_classes = len(y_train.names)
    if contracts.is_unsupervised_probe(probe):
        return _fit_and_score_clusters(probe, f_train, keep, labels, f_test, y_test, train, test, config, n_classes)
    probe.fit(x_train, labels, n_classes=n_classes)
    proba = probe.predict_proba(f_test.X)
    predictions = {"supervised": np.asarray(proba.argmax(1), dtype=np.int64)}
    return information_metrics(proba, y_test.labels, labels, test.sentence_index(), config.n_boot,
                               config.seed), predictions


def _fit_and_score_clusters(probe, f_train: Features, keep: np.ndarray, labels: np.ndarray, f_test: Features,
                            y_test, train, test, config: RunConfig, n_classes: int) -> tuple[dict, dict[str, np.ndarray]]:
    """Fit a zero-label probe on the training features alone; fit the cluster -> label mappings on
    the *training* clusters and labels (never the test set); score the test clusters.

    A probe that reads the word sequence (``uses_sequence``) is fitted on *all* training rows in
    corpus order, with their sentences and word ids (no labels, so unlabelled rows are data like
    any other); the mapping still uses the labelled training rows (``keep``) only. Other probes
    are fitted on the labelled rows' features, as before.

    A probe with a readout curve (``-P clusters=8,16,64,256``) also clusters into k = the number
    of labels, which gives the headline (one-to-one at one cluster per label); every k's
    one-to-one and many-to-one accuracy and V-information go to ``metrics["curve"]``.
    """
    from probekit.probes.readout import ClusterReadout

    contracts.add_cluster_count(probe, n_classes)
    if contracts.uses_sequence(probe):
        train_sequence, test_sequence = contracts.word_sequences(train, test)
        x_fit, fit_rows = f_train.X, keep
    else:
        train_sequence = test_sequence = None
        x_fit, fit_rows = f_train.X[keep], slice(None)
    contracts.fit_clusters(probe, x_fit, train_sequence)
    train_curve = contracts.predict_curve(probe, x_fit, train_sequence)
    sentences = test.sentence_index()

    def scored(train_clusters: np.ndarray, test_clusters: np.ndarray, k: int | None):
        readout = ClusterReadout().fit(train_clusters, labels, n_classes, n_clusters=k)
        predictions = {mode: readout.predict(test_clusters, mode=mode) for mode in ("one_to_one", "many_to_one")}
        bits = cluster_information(test_clusters, y_test.labels, sentences,
                                   max(int(readout.n_clusters_), int(test_clusters.max()) + 1), n_classes,
                                   config.n_boot, config.seed)
        extra = {"n_clusters": int(readout.n_clusters_), "n_nonempty_clusters": int(readout.n_nonempty_clusters_),
                 "v_information_bits": bits}
        return extra, predictions

    if train_curve is None:
        return scored(contracts.predict_clusters(probe, x_fit, train_sequence)[fit_rows],
                      contracts.predict_clusters(probe, f_test.X, test_sequence), None)
    test_curve = contracts.predict_curve(probe, f_test.X, test_sequence)
    curve, headline = [], None
    for k in sorted(train_curve):
        extra, predictions = scored(train_curve[k][fit_rows], test_curve[k], k)
        accuracy = {mode: classification_metrics(y_test.labels, pred, sentences, y_test.names, None,
                                                 n_boot=config.n_boot, seed=config.seed, per_class=False)["accuracy"]
                    for mode, pred in predictions.items()}
        curve.append({"k": k, **extra, **accuracy})
        if k == n_classes:
            headline = extra, predictions
    extra, predictions = headline
    return {**extra, "curve": curve}, predictions
