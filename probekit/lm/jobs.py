"""What the ``lm`` section of ``probekit reproduce`` computes, one function per job: train (or reuse)
a model and score it on held-out text (:func:`lm_perplexity`), and probe a trained model's states
(:func:`lm_probes`). The section itself (sizes, claims, page) is :mod:`probekit.reproduce.lm`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd


def trained_folder(train: dict, lr_search: dict | None = None) -> Path:
    """Train (or reuse) a model in the cache (:func:`probekit.lm.store.trained_folder`)."""
    from probekit.lm.store import trained_folder as cached

    return cached(train, lr_search)


def lm_perplexity(model: str, train: dict, n_boot: int = 1000, max_articles: int | None = None,
                  lr_search: dict | None = None) -> pd.DataFrame:
    """Train (or reuse) one model and evaluate it (on the training config's ``threads``): its loss
    curve, each row with the test figures and the learning rate (``lr_search``: chosen on the
    validation split, see :mod:`probekit.lm.tuning`; else the fixed ``train["lr"]``) with every
    candidate's validation bits."""
    from probekit.lm.evaluate import evaluate

    record = evaluate(trained_folder(train, lr_search), n_boot=n_boot, max_articles=max_articles)
    m = record["metrics"]
    search = record.get("lr_search")
    lr = {"lr": record["config"]["train"]["lr"], "lr_grid": json.dumps(search["grid"]) if search else None,
          "lr_val_bits": json.dumps([round(b, 4) for b in search["val_bits"]]) if search else None,
          "lr_pilot_steps": search["pilot_steps"] if search else None}
    fixed = {"model": model, "split": record["data"]["split_name"], "parameters": m["parameters"],
             "width": record["data"]["width"], "vocab_size": record["data"]["vocab_size"],
             "train_tokens": m["train_tokens_seen"], "train_s": m["train_seconds"],
             "perplexity": m["perplexity"]["value"], "perplexity_lo": m["perplexity"]["ci_low"],
             "perplexity_hi": m["perplexity"]["ci_high"], "bits": m["bits_per_token"]["value"],
             "bits_lo": m["bits_per_token"]["ci_low"], "bits_hi": m["bits_per_token"]["ci_high"],
             "unigram_perplexity": m["unigram_perplexity"]["value"], "test_tokens": m["predicted_tokens"],
             "oov_rate": m["oov_rate"], **lr}
    return pd.DataFrame([{**fixed, **point} for point in record["curve"]])


def probe_configs(folder: Path | None, seed: int, lags, identity_train_size: int, identity_vocab: int, roles: dict,
                  ud_roles: dict, ud_train_size: int, n_boot: int, identity_source: str = "ud",
                  threads: int = 1) -> list:
    """The probe runs of one :func:`lm_probes` job (its ``seed`` and ``probes`` settings): identity by
    lag, roles and ud-roles, read from the trained model in ``folder`` on ``threads`` torch threads
    (None: the untrained EMA traces)."""
    from probekit.experiment import RunConfig
    from probekit.studies import ENCODER_VOCAB, IDENTITY_PROBE_OPTIONS

    if folder is None:
        stream, sentence = ("ema", {"reset": False, "max_vocab": ENCODER_VOCAB}), ("ema", {"max_vocab": ENCODER_VOCAB})
    else:
        from probekit.cache import cache_ref

        stream = ("lm", {"checkpoint": cache_ref(folder), "num_threads": threads})
        sentence = ("lm", {"checkpoint": cache_ref(folder), "context": "sentence", "num_threads": threads})
    probe = {k: list(v) for k, v in IDENTITY_PROBE_OPTIONS.items()}
    configs = [RunConfig(encoder=stream[0], task="identity", probe="linear", seed=seed, train_size=identity_train_size,
                         encoder_options=stream[1], probe_options=probe, n_boot=n_boot,
                         task_options={"source": identity_source, "vocab_size": identity_vocab, "lag": lag}) for lag in lags]
    configs.append(RunConfig(encoder=sentence[0], task="roles", probe="linear", seed=seed,
                             encoder_options=sentence[1], task_options=dict(roles), n_boot=n_boot))
    configs.append(RunConfig(encoder=sentence[0], task="ud-roles", probe="linear", seed=seed, train_size=ud_train_size,
                             encoder_options=sentence[1], task_options=dict(ud_roles), n_boot=n_boot))
    return configs


def check_resources(function: str, kwargs: dict) -> None:
    """The inputs of one of this module's jobs exist (the training corpus; the probes' treebank),
    reading none of them: ``probekit reproduce`` calls it for every job before it trains anything.
    The probes' names and options are checked on the untrained encoder's runs (the trained model's
    folder is what the job makes)."""
    from probekit.experiment import check_config
    from probekit.lm.corpus import check_corpus

    if kwargs.get("train"):
        check_corpus(kwargs["train"].get("corpus", "wikitext2"))
    if function == "lm_probes":
        for config in probe_configs(None, kwargs["seed"], **kwargs["probes"]):
            check_config(config)


def lm_probes(model: str, train: dict | None, seed: int, probes: dict, lr_search: dict | None = None) -> pd.DataFrame:
    """Identity bits by lag (``probes["identity_source"]``: EWT, or the grammar in the quick suite,
    which spares parsing EWT's training file) and role accuracy (roles, ud-roles) read from one
    model's states (``train`` None: the untrained EMA traces); ``probes`` are
    :func:`probe_configs`' settings."""
    from probekit.experiment import run_all
    from probekit.lm.train import TrainConfig

    folder = None if train is None else trained_folder(train, lr_search)
    threads = 1 if train is None else TrainConfig.from_dict(train).threads
    rows = []
    for config in probe_configs(folder, seed, threads=threads, **probes):
        for record in run_all(config):
            m = record["metrics"]
            v = m.get("v_information_bits") or {}
            rows.append({"model": model, "task": config.task, "lag": config.task_options.get("lag"),
                         "accuracy": m["accuracy"]["value"], "accuracy_lo": m["accuracy"]["ci_low"],
                         "accuracy_hi": m["accuracy"]["ci_high"], "bits": v.get("value", math.nan),
                         "bits_lo": v.get("ci_low", math.nan), "bits_hi": v.get("ci_high", math.nan),
                         "majority": record["baselines"]["majority"]["accuracy"]["value"],
                         "train_words": record["data"]["train_words"], "test_words": record["data"]["test_words"]})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- report
