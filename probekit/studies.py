"""Studies: fixed lists of run configurations that answer one question each.

A study is plain data (a list of :class:`~probekit.experiment.RunConfig`), so the CLI, a
``probekit reproduce`` command or a distributed executor can run it without knowing what it
is. The protocol of each study is documented in docs/tasks.md (the identity study).

The identity study asks how many bits about the word ``k`` steps back five representations
keep: EMA traces, a GRU language model, a transformer (a local, randomly initialised GPT-2:
no pretrained weights can be downloaded here), and the ``type`` (the current word only) and
``random`` (noise) baselines, on real text (UD English EWT) and on uniformly random token
streams. Everything runs over one token stream across sentence boundaries (EMA without
resets, the GRU and GPT-2 in ``context=stream``), so every encoder can see the words the
task asks about.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from probekit.errors import ProbekitError
from probekit.experiment import RunConfig
from probekit.io import exclusive_lock

#: Sources of the identity study (task option ``source``).
IDENTITY_SOURCES = ("ud", "random")

#: Lags of the full and the quick study: 60 runs for the whole study; every measured half-V
#: lag fell between 0.5 and 2 (results/identity_study/compare.md), EMA keeps bits to lag 16.
IDENTITY_LAGS = (0, 1, 2, 4, 8, 16)
IDENTITY_LAGS_QUICK = (0, 1, 4)

#: C chosen on a held-out fifth of the training rows (LinearProbe ``C_grid``): with 101 classes
#: a fixed C=1 gave pure noise -0.24 bits of V-information; the grid gives -0.002 (docs/metrics.md).
IDENTITY_PROBE_OPTIONS = {"C_grid": [0.001, 0.01, 0.1, 1.0]}

#: 100 word types + OTHER: the most frequent 100 EWT types cover about half the running words,
#: and a 101-class probe fits in seconds where a 1,001-class one took minutes.
IDENTITY_VOCAB = 100

#: Word types an encoder with its own vocabulary (ema, gru-lm, type) keeps; see identity_study_configs.
ENCODER_VOCAB = 1000

#: The shape of the local random GPT-2 (small enough to encode EWT on two CPU cores in seconds).
LOCAL_GPT2_SHAPE = {"n_layer": 4, "n_head": 4, "n_embd": 128, "n_positions": 512}


def _shared_tokenizer() -> Path:
    """The GPT-2 tokenizer files: ``$PROBEKIT_GPT2_TOKENIZER``, else ../shared/models/gpt2-tokenizer."""
    env = os.environ.get("PROBEKIT_GPT2_TOKENIZER")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "models" / "gpt2-tokenizer"


def default_local_gpt2_dir() -> Path:
    from probekit.cache import default_cache_root

    shape = "-".join(f"{k}{v}" for k, v in LOCAL_GPT2_SHAPE.items())
    return default_cache_root() / "models" / f"gpt2-random-{shape}-seed0"


def local_gpt2_ref(build: bool = True) -> str:
    """The default local GPT-2 as a cache reference (``cache:models/...``), built if missing.

    Studies and the reproduction suite name it this way, so that a record's config, and so its
    id, is the same on every machine whatever its cache root (``-E model=`` accepts the form).
    ``build=False`` only names it: the reproduction suite builds it in a setup job
    (:func:`local_gpt2` under its lock) in whichever worker needs it first, so the driver never
    imports torch and transformers (seconds) before the first job starts.
    """
    from probekit.cache import cache_ref

    return cache_ref(local_gpt2() if build else default_local_gpt2_dir())


def check_resources(function: str, kwargs: dict) -> None:
    """The GPT-2 tokenizer files a :func:`local_gpt2` setup call needs, unless the model is there
    (``probekit reproduce`` checks every job's inputs before it runs anything)."""
    if function != "local_gpt2":
        return
    target = Path(kwargs["path"]) if kwargs.get("path") is not None else default_local_gpt2_dir()
    if not _is_saved_model(target):
        _check_tokenizer(Path(kwargs["tokenizer"]) if kwargs.get("tokenizer") is not None else _shared_tokenizer())


def _is_saved_model(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file()


def _check_tokenizer(folder: Path) -> None:
    if not (folder / "vocab.json").is_file() or not (folder / "merges.txt").is_file():
        raise ProbekitError(f"GPT-2 tokenizer files (vocab.json, merges.txt) not found in {folder}; "
                            f"set PROBEKIT_GPT2_TOKENIZER to the folder that holds them.")


def local_gpt2(path: str | Path | None = None, tokenizer: str | Path | None = None, seed: int = 0) -> str:
    """Build a small randomly initialised GPT-2 with the real GPT-2 tokenizer once; return its folder.

    Pretrained weights cannot be downloaded on the machines probekit is built on, so studies
    that need a transformer use this model: it shows the pipeline (alignment, layers, stream
    context), not what trained GPT-2 knows. Weights are drawn with ``torch.manual_seed(seed)``;
    the folder is written to a temporary sibling and renamed into place, so an interrupted
    build never leaves a half-written model. A folder that already holds a model is reused.
    """
    target = Path(path) if path is not None else default_local_gpt2_dir()
    if _is_saved_model(target):
        return str(target)
    with exclusive_lock(target.with_name(target.name + ".lock")):   # parallel workers build it once
        if _is_saved_model(target):
            return str(target)
        if target.exists() and any(target.iterdir()):
            raise ProbekitError(f"{target} exists and is not a saved model (no config.json / tokenizer.json); "
                                f"remove it or give another folder for the local GPT-2.")
        tokenizer_dir = Path(tokenizer) if tokenizer is not None else _shared_tokenizer()
        _check_tokenizer(tokenizer_dir)
        _build_gpt2(target, tokenizer_dir, seed)
    return str(target)


def _build_gpt2(target: Path, tokenizer_dir: Path, seed: int) -> None:
    """Save a random GPT-2 of :data:`LOCAL_GPT2_SHAPE` and the tokenizer to ``target`` atomically."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-gpt2-", dir=target.parent))
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = GPT2LMHeadModel(GPT2Config(vocab_size=50257, **LOCAL_GPT2_SHAPE))
        model.save_pretrained(tmp)
        GPT2TokenizerFast.from_pretrained(str(tokenizer_dir)).save_pretrained(tmp)
        if target.exists():
            target.rmdir()   # empty (checked above)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def identity_study_configs(source: str, quick: bool = False, seeds=(0,), gpt2_path: str | Path | None = None,
                           lags: tuple[int, ...] | None = None, encoders: tuple[str, ...] | None = None,
                           build: bool = True) -> list[RunConfig]:
    """The identity study on one ``source`` (``ud`` or ``random``): one config per
    (encoder, seed, lag), five encoders, the linear probe with held-out C.

    ``quick`` shrinks the data, the lags, the bootstrap and the GRU's training (a smoke test of
    the whole pipeline, not figures to report). ``encoders`` keeps only those of the five (all when
    None). Unless ``encoders`` leaves GPT-2 out or ``build`` is false (the caller builds it
    before the runs, as ``probekit reproduce`` does in a setup job), calling this builds the local
    GPT-2 (:func:`local_gpt2`) if it is not there yet (it needs the GPT-2 tokenizer files).
    """
    if source not in IDENTITY_SOURCES:
        raise ProbekitError(f"identity study source {source!r}: choose one of {', '.join(IDENTITY_SOURCES)}.")
    seeds = tuple(seeds)
    if not seeds or any(not isinstance(s, int) or s < 0 for s in seeds):
        raise ProbekitError(f"identity study seeds must be non-negative integers, got {seeds!r}.")
    lags = tuple(lags) if lags is not None else (IDENTITY_LAGS_QUICK if quick else IDENTITY_LAGS)
    keep = set(("ema", "gru-lm", "gpt2", "type", "random") if encoders is None else encoders)
    model = (local_gpt2(gpt2_path) if gpt2_path is not None else local_gpt2_ref(build)) if "gpt2" in keep else None
    # Cap the encoders' own vocabularies (the rest share their unknown bucket) so that training
    # words, like test words, include unknowns: with every training type known, the probe never
    # saw the unknown vector and was confidently wrong on the test words that carry it (EWT, 1,000
    # sentences, ema, lag 4: 0.43 bits uncapped, 1.03 bits with max_vocab=1000; docs/tasks.md).
    vocab = {"max_vocab": ENCODER_VOCAB}
    study: dict[str, dict[str, Any]] = {
        "ema": {"reset": False, **vocab},
        "gru-lm": {"context": "stream", **vocab, **({"epochs": 2} if quick else {})},
        "gpt2": {"model": model, "context": "stream"},
        "type": dict(vocab),
        "random": {},
    }
    task: dict[str, Any] = {"source": source, "vocab_size": IDENTITY_VOCAB}
    train_size = None
    if source == "random":
        task.update(random_types=IDENTITY_VOCAB, sentence_length=20,
                    n_train=200 if quick else 1000, n_test=50 if quick else 250)
    else:
        train_size = 200 if quick else 1000   # the first N EWT training sentences; the whole test set
    return [RunConfig(encoder=name, task="identity", probe="linear", seed=seed, train_size=train_size,
                      encoder_options=dict(options), task_options={**task, "lag": lag},
                      probe_options={k: list(v) for k, v in IDENTITY_PROBE_OPTIONS.items()},
                      n_boot=200 if quick else 1000)
            for name, options in study.items() if name in keep for seed in seeds for lag in lags]


def depth_study_configs(quick: bool = False, seeds=(0,), gpt2_path: str | Path | None = None) -> list[RunConfig]:
    """Identity of the current word and of lags 1 and 2, layer by layer, on the local GPT-2
    (``all_layers=true``: one record per layer) over UD English EWT."""
    model = local_gpt2(gpt2_path) if gpt2_path is not None else local_gpt2_ref()
    return [RunConfig(encoder="gpt2", task="identity", probe="linear", seed=seed, train_size=200 if quick else 1000,
                      encoder_options={"model": model, "context": "stream", "all_layers": True},
                      task_options={"source": "ud", "vocab_size": IDENTITY_VOCAB, "lag": lag},
                      probe_options={k: list(v) for k, v in IDENTITY_PROBE_OPTIONS.items()},
                      n_boot=200 if quick else 1000)
            for seed in tuple(seeds) for lag in (0, 1, 2)]


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return value
    return repr(value)


def cli_arguments(config: RunConfig, lags: list[int] | None = None) -> list[str]:
    """The ``probekit run`` arguments that run ``config`` (with ``lags``: the same config at each
    of these lags, as one ``--lags`` sweep), so a shell script and Python run one definition."""
    args = ["-e", config.encoder, "-t", config.task, "--seed", str(config.seed), "--bootstrap", str(config.n_boot)]
    if config.probe:
        args += ["-p", config.probe]
    if config.train_size is not None:
        args += ["--train-size", str(config.train_size)]
    task_options = {k: v for k, v in config.task_options.items() if lags is None or k != "lag"}
    for flag, options in (("-E", config.encoder_options), ("-O", task_options), ("-P", config.probe_options)):
        for key, value in options.items():
            args += [flag, f"{key}={_toml(value)}"]
    if lags is not None:
        args += ["--lags", ",".join(str(lag) for lag in lags)]
    return args


def cli_commands(configs: list[RunConfig]) -> list[list[str]]:
    """``probekit run`` argument lists for ``configs``: configs that differ only in their lag
    become one ``--lags`` sweep (one process, the data loaded and the encoder fitted per lag)."""
    groups: dict[str, tuple[RunConfig, list[int]]] = {}
    for config in configs:
        lag = config.task_options.get("lag")
        if lag is None:
            groups[config.key()] = (config, None)
            continue
        key = RunConfig(**{**config.__dict__, "task_options": {k: v for k, v in config.task_options.items()
                                                               if k != "lag"}}).key()
        groups.setdefault(key, (config, []))[1].append(lag)
    return [cli_arguments(config, lags) for config, lags in groups.values()]
