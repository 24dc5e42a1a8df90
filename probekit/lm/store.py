"""Trained language models kept in probekit's cache: one folder per training spec, trained once.

The ``lm`` section of ``probekit reproduce``, the identity study and the probe ladder all read the
same trained models. :func:`trained_path` names a model's folder without training anything
(``<cache root>/lm/<spec hash>-<code fingerprint>``: a model trained by other code is never
reused, so a record made from it cannot pass for one of this code's); :func:`trained_folder`
trains it (or resumes, or reuses it) under an exclusive file lock, so parallel workers that need
the same model train it once: the first takes the lock and trains, the others wait and reuse.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from probekit.io import exclusive_lock


def _resolve(train: dict, lr_search: dict | None) -> tuple:
    """``(TrainConfig, checked search or None)``: the one place a spec's settings are checked."""
    from probekit.lm.train import TrainConfig
    from probekit.lm.tuning import PILOT_FRACTION, check_fraction, check_grid

    search = None if lr_search is None else {
        "grid": list(check_grid(lr_search.get("grid", ()))),
        "pilot_fraction": check_fraction(lr_search.get("pilot_fraction", PILOT_FRACTION))}
    return TrainConfig.from_dict(train), search


def _folder(config, search: dict | None) -> Path:
    """The cache folder of a resolved spec (see :func:`trained_path`)."""
    from dataclasses import asdict

    from probekit.cache import default_cache_root
    from probekit.provenance import code_fingerprint

    if search is None:
        key = config.key()
    else:   # the rate is chosen, so the spec is the config without it and the search's settings
        spec = {k: v for k, v in asdict(config).items() if k != "lr"}
        text = json.dumps({"train": spec, "lr_search": search}, sort_keys=True)
        key = "lr-" + hashlib.sha256(text.encode()).hexdigest()[:12]
    return default_cache_root() / "lm" / f"{key}-{code_fingerprint()}"


def trained_path(train: dict, lr_search: dict | None = None) -> Path:
    """The cache folder of the model ``train`` (a :class:`~probekit.lm.train.TrainConfig` as a dict;
    with ``lr_search`` = ``{"grid": [...], "pilot_fraction": f}`` its rate is chosen on the validation
    split and ``train``'s ``lr`` is ignored). Nothing is trained."""
    return _folder(*_resolve(train, lr_search))


def hf_path(train: dict, lr_search: dict | None = None) -> Path:
    """The Hugging Face copy (``save_pretrained``) of a GPT-2 model's folder."""
    from probekit.lm.train import HF_DIR

    return trained_path(train, lr_search) / HF_DIR


def _corpus_digest(corpus: str) -> str:
    """A sha256 of the corpus's files (names and contents): what its vocabulary is computed from."""
    from probekit.lm.corpus import corpus_files

    digest = hashlib.sha256()
    for path in corpus_files(corpus):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=8)
def _vocabulary(corpus: str, split_seed: int, vocab_size: int | None) -> tuple[str, ...]:
    """The vocabulary's words, from a small file in the cache when the corpus files and the code are
    those it was computed from (``probekit reproduce`` lists its jobs on every call, ``--check``
    included; loading WikiText and counting its words for that took about 0.5 s), else computed
    from the training split and written there."""
    from probekit.cache import default_cache_root
    from probekit.io import atomic_write_json
    from probekit.provenance import code_fingerprint

    key = json.dumps([_corpus_digest(corpus), split_seed, vocab_size, code_fingerprint()])
    path = default_cache_root() / "lm" / "vocabulary" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    try:
        return tuple(json.loads(path.read_text(encoding="utf-8"))["words"])
    except (OSError, ValueError, KeyError, TypeError):
        pass   # not computed yet (or not a file of ours): compute it
    from probekit.lm.corpus import load_split
    from probekit.lm.vocab import LMVocabulary

    words = LMVocabulary.fit(load_split(corpus, split_seed).train, vocab_size).words
    atomic_write_json(path, {"words": words})
    return tuple(words)


def vocabulary_words(train: dict, n: int) -> list[str]:
    """The ``n`` most frequent alphabetic words of the vocabulary a model of ``train`` gets (computed
    from the training split, nothing trained): words a word-level model reads as themselves, for a
    random stream it can tell apart (``w0``, ``w1``, ... would all be ``<unk>`` to it)."""
    from probekit.errors import ProbekitError
    from probekit.lm.train import TrainConfig

    config = TrainConfig.from_dict(train)
    words = [w for w in _vocabulary(config.corpus, config.split_seed, config.vocab_size) if w.isalpha()][:n]
    if len(words) < n:
        raise ProbekitError(f"the vocabulary of {config.corpus!r} (size {config.vocab_size}) has {len(words)} "
                            f"alphabetic words, fewer than the {n} a random stream needs; raise vocab_size.")
    return words


def check_resources(function: str, kwargs: dict) -> None:
    """The training corpus of a :func:`trained_folder` call exists (``probekit reproduce`` checks
    every job's inputs before it trains anything)."""
    from probekit.lm.corpus import check_corpus

    check_corpus(kwargs["train"].get("corpus", "wikitext2"))


def trained_folder(train: dict, lr_search: dict | None = None) -> Path:
    """Train (or resume, or reuse) the model of :func:`trained_path`; returns its folder."""
    from probekit.lm.train import load_checkpoint, train as run_training
    from probekit.lm.tuning import train_tuned

    config, search = _resolve(train, lr_search)
    folder = _folder(config, search)
    with exclusive_lock(folder.with_name(folder.name + ".lock")):
        state = load_checkpoint(folder) if folder.is_dir() else None
        if state is None or not state.get("finished"):
            if search is None:
                run_training(config, folder, progress=False)
            else:
                train_tuned(config, search["grid"], folder, search["pilot_fraction"])
    return folder
