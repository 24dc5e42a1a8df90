"""One run: encoder x task x probe x seed -> a result record.

``run(config)`` is a pure function of its :class:`RunConfig` plus the data the task names,
so that sweeps are lists of configs. Stages talk through plain types: a task gives corpora
and :class:`~probekit.tasks.Targets`, an encoder gives :class:`~probekit.features.Features`,
a probe gives predictions, :mod:`probekit.metrics` gives numbers.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from probekit import registry
from probekit.cache import FeatureCache, cached_encode
from probekit.errors import ProbekitError
from probekit.features import Features
from probekit.io import atomic_write_json
from probekit.metrics import classification_metrics, information_metrics, majority_baseline
from probekit.provenance import code_fingerprint, git_commit, package_versions
from probekit.tasks import resolve_task_name

RECORD_VERSION = 1
DEFAULT_RESULTS_DIR = Path("results/runs")
DEFAULT_LEARNING_CURVE = (25, 100, 400, 1600, None)


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


def _subsample(corpus, size: int | None):
    if size is None:
        return corpus
    if size < 1:
        raise ProbekitError(f"train_size must be at least 1 sentence, got {size}.")
    if size > len(corpus):
        raise ProbekitError(f"train_size {size} is larger than the training corpus ({len(corpus)} sentences); "
                            f"lower it or enlarge the corpus (e.g. -O n_train={size}).")
    return corpus[:size]


class _Timer:
    def __init__(self, seconds: dict[str, float] | None = None) -> None:
        self.seconds: dict[str, float] = seconds or {}

    def __call__(self, stage: str, work: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = work()
        self.seconds[stage] = round(time.perf_counter() - start, 4)
        return value


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


def run_all(config: RunConfig, progress: Callable[[str], None] | None = None,
            cache: FeatureCache | None = None) -> list[dict]:
    """Run one configuration: one record, or one per layer for a multi-layer encoding.

    Features are computed once (through the feature cache, for encoders that support it)
    and every layer block is probed with a freshly made probe.
    """
    say = progress or (lambda stage: None)
    timer = _Timer()
    task_name = resolve_task_name(config.task)
    task_entry = registry.tasks.get(task_name)
    task = registry.tasks.create(task_name, **config.task_options)
    probe_name = config.probe or getattr(task_entry.factory, "default_probe", None) or task.default_probe
    encoder = _with_seed(registry.encoders, config.encoder, dict(config.encoder_options), config.seed)
    checked = _with_seed(registry.probes, probe_name, dict(config.probe_options), config.seed)  # fail early
    if (config.control or config.mdl) and getattr(checked, "unsupervised", False):
        raise ProbekitError(f"--control and --mdl need a supervised probe (class probabilities); "
                            f"{probe_name!r} is a zero-label probe. Use -p linear or -p mlp.")

    say("loading data")
    data = timer("load", task.load)
    train = _subsample(data.train, config.train_size)
    test = data.test
    y_train, y_test = timer("targets", lambda: (task.targets(train), task.targets(test)))

    say(f"fitting encoder {config.encoder}")
    supervised = getattr(encoder, "supervised", False)
    timer("encoder_fit", lambda: encoder.fit(train, y_train.labels if supervised else None))
    say("encoding")
    f_train = timer("encode_train", lambda: cached_encode(encoder, train, cache))
    f_test = timer("encode_test", lambda: cached_encode(encoder, test, cache))
    cache_use = None if cache is None else {"hits": cache.hits, "misses": cache.misses}

    layers = _layer_views(f_train, f_test)
    records = []
    for layer, (train_view, test_view) in layers.items():
        probe = _with_seed(registry.probes, probe_name, dict(config.probe_options), config.seed)
        record = _evaluate(config, probe, probe_name, train_view, test_view, y_train, y_test, test, say,
                           _Timer(dict(timer.seconds)))
        record["metrics"].update(_information_metrics(config, probe_name, train_view, test_view, y_train, y_test,
                                                      train, test, record, say, probe))
        record["config"]["task"] = task_name
        record["config"]["layer"] = layer
        record["id"] = config.key() + ("" if layer is None else f"-L{layer}")
        record["resolved"] = {"encoder_params": _params(encoder), "task_params": _params(task),
                              "probe_params": _params(probe)}
        record["data"].update({"train_sentences": len(train), "train_words": train.n_tokens,
                               "test_sentences": len(test), "test_words": test.n_tokens, **data.notes,
                               "feature_cache": cache_use})
        records.append(record)
    return records


def _layer_views(f_train: Features, f_test: Features) -> dict[int | None, tuple[Features, Features]]:
    """``{layer: (train, test)}`` for transformer layer blocks, else ``{None: (train, test)}``."""
    from probekit.encoders.hf import split_layers

    if not any(name.startswith("layer_") for name in f_train.blocks):
        return {None: (f_train, f_test)}
    train_layers, test_layers = split_layers(f_train), split_layers(f_test)
    return {layer: (train_layers[layer], test_layers[layer]) for layer in train_layers}


def _information_metrics(config, probe_name, f_train, f_test, y_train, y_test, train, test, record, say,
                         probe) -> dict:
    """Selectivity against a control task and MDL codelength, when the config asks for them.
    ``probe`` is the fitted task probe: its test predictions pair with the control probe's in
    selectivity's sentence bootstrap."""
    if not (config.control or config.mdl):
        return {}

    def new_probe():
        return _with_seed(registry.probes, probe_name, dict(config.probe_options), config.seed)

    extra = {}
    n_classes = len(y_train.names)
    if config.control:
        from probekit.control import control_metrics

        say("control task")
        extra["control"] = control_metrics(
            new_probe, f_train.X, f_test.X, train.words(), test.words(), y_train.labels, y_test.labels,
            seed=config.seed, sentence_ids=test.sentence_index(), n_classes=n_classes, n_boot=config.n_boot,
            task_accuracy=record["metrics"]["accuracy"]["value"],
            task_predictions=np.asarray(probe.predict_proba(f_test.X).argmax(1)))
    if config.mdl:
        from probekit.mdl import online_codelength

        say("MDL codelength")
        extra["mdl"] = online_codelength(f_train.X, y_train.labels, n_classes, new_probe, seed=config.seed)
    return extra


def _evaluate(config, probe, probe_name, f_train, f_test, y_train, y_test, test, say, timer) -> dict:
    keep_train = y_train.labels >= 0
    x_train, labels_train = f_train.X[keep_train], y_train.labels[keep_train]
    say(f"fitting probe {probe_name}")
    sentence_ids = test.sentence_index()
    metrics, predictions = timer("probe", lambda: _fit_and_score(probe, x_train, labels_train, f_test.X, y_test,
                                                                   len(y_train.names), sentence_ids,
                                                                   config.n_boot, config.seed))
    say("scoring")
    scored = {
        mode: classification_metrics(y_test.labels, pred, sentence_ids, y_test.names, y_test.subsets,
                                     n_boot=config.n_boot, seed=config.seed, per_class=y_test.per_class)
        for mode, pred in predictions.items()
    }
    majority = classification_metrics(y_test.labels, majority_baseline(y_train.labels, y_test.labels),
                                      sentence_ids, y_test.names, y_test.subsets, n_boot=config.n_boot,
                                      seed=config.seed, per_class=y_test.per_class)
    primary = next(iter(scored))
    return {
        "record_version": RECORD_VERSION,
        "id": config.key(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": {**asdict(config), "probe": probe_name},
        "data": {
            "labels": list(y_test.names) if y_test.per_class else len(y_test.names), "feature_dim": f_train.dim,
            "feature_blocks": {k: list(v) for k, v in f_train.blocks.items()},
        },
        "metrics": {**scored[primary], **metrics, "readout": primary},
        "readouts": {mode: m for mode, m in scored.items() if mode != primary},
        "baselines": {"majority": majority},
        "timings_s": {**timer.seconds, "total": round(sum(timer.seconds.values()), 4)},
        "versions": package_versions(),
        "git_commit": git_commit(),
        "code_fingerprint": code_fingerprint(),
    }


def _params(component: Any) -> dict:
    getter = getattr(component, "get_params", None)
    if getter is None:
        return {}
    params = getter() if not inspect.ismethod(getter) or "deep" not in inspect.signature(getter).parameters \
        else getter(deep=False)
    return {k: v if isinstance(v, (int, float, str, bool, type(None), list, tuple)) else repr(v) for k, v in params.items()}


def _fit_and_score(probe, x_train, y_train, x_test, y_test, n_classes, test_sentences, n_boot, seed
                   ) -> tuple[dict, dict[str, np.ndarray]]:
    """Fit the probe; return extra metrics and the test predictions per readout mode.

    An unsupervised probe is fitted on features alone; the cluster -> label mapping is then
    fitted on the *training* clusters and labels (never the test set) and used only to score.
    """
    if getattr(probe, "unsupervised", False):
        from probekit.probes.readout import ClusterReadout

        probe.fit(x_train)
        readout = ClusterReadout().fit(probe.predict_clusters(x_train), y_train, n_classes)
        test_clusters = probe.predict_clusters(x_test)
        predictions = {mode: readout.predict(test_clusters, mode=mode) for mode in ("one_to_one", "many_to_one")}
        extra = {"n_clusters": int(readout.n_clusters_), "n_nonempty_clusters": int(readout.n_nonempty_clusters_)}
        return extra, predictions
    probe.fit(x_train, y_train, n_classes=n_classes)
    proba = probe.predict_proba(x_test)
    predictions = {"supervised": np.asarray(proba.argmax(1), dtype=np.int64)}
    return information_metrics(proba, y_test.labels, y_train, test_sentences, n_boot, seed), predictions


def record_path(record: dict, out_dir: Path) -> Path:
    c = record["config"]
    size = "all" if c["train_size"] is None else c["train_size"]
    layer = "" if c.get("layer") is None else f"__layer{c['layer']}"
    name = f"{c['task']}__{c['encoder']}{layer}__{c['probe']}__seed{c['seed']}__n{size}__{record['id']}.json"
    return Path(out_dir) / name.replace("/", "_")


def save_record(record: dict, out_dir: Path = DEFAULT_RESULTS_DIR) -> Path:
    """Write a record atomically; a reader never sees a half-written file."""
    path = record_path(record, out_dir)
    atomic_write_json(path, record)
    return path


def load_results(paths: list[str | Path] | None = None) -> list[dict]:
    """Read result records from files or folders (default ``results/runs``)."""
    records = []
    for path in [Path(p) for p in (paths or [DEFAULT_RESULTS_DIR])]:
        files = sorted(path.glob("**/*.json")) if path.is_dir() else [path]
        if not path.exists():
            raise ProbekitError(f"no results at {str(path)!r}: run `probekit run ...` first or pass the folder.")
        for file in files:
            try:
                record = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ProbekitError(f"{file}: not a readable result record ({exc}). Remove or fix it.") from None
            if isinstance(record, dict) and record.get("record_version") == RECORD_VERSION:
                record["_path"] = str(file)
                records.append(record)
    return records
