"""Held-out perplexity, the same protocol for every architecture.

Each test article's token stream (see :mod:`probekit.lm.corpus`) is cut into non-overlapping
windows of the training context ``T``: window ``w`` reads tokens ``wT .. wT + T - 1`` from a
zero state and predicts tokens ``wT + 1 .. wT + T``. Every token of an article but its first is
predicted exactly once, with between 0 and ``T - 1`` tokens of context. Perplexity is
``exp(total nll / tokens)``, bits per token ``total nll / tokens / ln 2``; the 95% interval
resamples articles (1,000 bootstrap draws of the per-article sums). The reference is the add-one
unigram model of the training split, scored on the same predicted tokens.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from probekit.errors import ProbekitError
from probekit.lm.scoring import window_nll, windows  # noqa: F401  (windows: part of this module's API)

LN2 = math.log(2.0)
RECORD_KIND = "lm-eval"
DEFAULT_OUT = Path("results/runs/lm")


def unigram_nll(train_ids: np.ndarray, ids: np.ndarray, offsets: np.ndarray, context: int, vocab_size: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """The same per-article sums for the add-one unigram model of the training stream."""
    counts = np.bincount(train_ids, minlength=vocab_size).astype(float)
    logp = np.log((counts + 1) / (counts.sum() + vocab_size))
    _, targets, article = windows(offsets, context)
    keep = targets >= 0
    n_articles = len(offsets) - 1
    rows = np.broadcast_to(article[:, None], targets.shape)[keep]
    nll = np.bincount(rows, weights=-logp[ids[targets[keep]]], minlength=n_articles)
    return nll, np.bincount(rows, minlength=n_articles).astype(float)


def bootstrap(nll: np.ndarray, count: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict:
    """Perplexity and bits per token with 95% intervals over articles (percentile bootstrap)."""
    total = count.sum()
    if total == 0:
        raise ProbekitError("the held-out split has no predicted tokens; give a corpus with longer articles.")
    mean = nll.sum() / total
    draws = np.random.default_rng(seed).integers(0, len(nll), size=(n_boot, len(nll)))
    sampled = nll[draws].sum(1) / np.maximum(count[draws].sum(1), 1)
    low, high = np.percentile(sampled, [2.5, 97.5])
    return {"perplexity": {"value": math.exp(mean), "ci_low": math.exp(low), "ci_high": math.exp(high)},
            "bits_per_token": {"value": mean / LN2, "ci_low": low / LN2, "ci_high": high / LN2}}


def evaluate(folder: Path, corpus: str | None = None, split: str = "test", n_boot: int = 1000,
             threads: int | None = None, max_articles: int | None = None) -> dict:
    """The result record of ``lm eval``: perplexity of the trained model in ``folder`` on ``split``
    (its first ``max_articles`` articles in split order when given: a smoke test, not a figure),
    scored on ``threads`` torch threads (None: the model's training config's ``threads``)."""
    from probekit.lm.corpus import load_split
    from probekit.lm.train import load_trained
    from probekit.threads import torch_threads
    from probekit.lm.vocab import stream
    from probekit.provenance import code_fingerprint, git_commit, package_versions

    began = time.perf_counter()
    meta, vocab, model = load_trained(folder)
    train_config = meta["train"]
    corpus = corpus or train_config["corpus"]
    data = load_split(corpus, train_config["split_seed"])
    held_out = data.split(split)[:max_articles]
    ids, offsets = stream(vocab, held_out)
    train_ids, _ = stream(vocab, data.train)
    loaded = time.perf_counter()
    context = train_config["context"]
    with torch_threads(threads or train_config.get("threads", 1)):
        nll, count = window_nll(model, ids, offsets, context)
    scored = time.perf_counter()
    metrics = bootstrap(nll, count, n_boot)
    unigram = bootstrap(*unigram_nll(train_ids, ids, offsets, context, len(vocab)), n_boot)
    metrics["unigram_perplexity"] = unigram["perplexity"]
    metrics.update({"parameters": meta["parameters"], "predicted_tokens": int(count.sum()),
                    "oov_rate": float(np.mean(ids == 0)) if len(ids) else 0.0,
                    "best_val_bits": meta["best_val_bits"], "train_seconds": meta["train_seconds"],
                    "train_tokens_seen": train_config["steps"] * train_config["batch_size"] * context})
    config = {"kind": RECORD_KIND, "encoder": f"lm-{train_config['arch']}", "task": "lm-perplexity",
              "probe": None, "seed": train_config["seed"], "split": split, "corpus": corpus,
              "max_articles": max_articles,
              "checkpoint": str(folder), "train": train_config}
    key = hashlib.sha256(json.dumps({k: v for k, v in config.items() if k != "checkpoint"}, sort_keys=True,
                                    default=str).encode()).hexdigest()[:12]
    return {
        "record_version": 1, "kind": RECORD_KIND, "id": key,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config,
        "data": {"split_name": data.name + ("" if max_articles is None else f", first {max_articles} {split} articles"),
                 "split": split, "articles": len(offsets) - 1, "tokens": int(len(ids)),
                 "vocab_size": len(vocab), "width": meta["width"]},
        "metrics": metrics,
        "lr_search": meta.get("lr_search"),   # how train.lr was chosen (None: given, fixed)
        "curve": meta["curve"],
        "timings_s": {"load": round(loaded - began, 4), "score": round(scored - loaded, 4),
                      "total": round(time.perf_counter() - began, 4)},
        "versions": package_versions(),
        "git_commit": git_commit(),
        "code_fingerprint": code_fingerprint(),
    }


def record_path(record: dict, out: Path) -> Path:
    c = record["config"]
    predictor = f"-{c['train']['predictor']}" if c["train"]["arch"] == "ema" else ""
    return Path(out) / f"lm-perplexity__{c['train']['arch']}{predictor}__seed{c['seed']}__{record['id']}.json"
