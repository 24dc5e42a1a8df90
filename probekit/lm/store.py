"""Trained language models kept in probekit's cache: one folder per training spec, trained once.

The ``lm`` section of ``probekit reproduce``, the identity study and the probe ladder all read the
same trained models. :func:`trained_path` names a model's folder without training anything
(``<cache root>/lm/<spec hash>-<code fingerprint>``: a model trained by other code is never
reused, so a record made from it cannot pass for one of this code's); :func:`trained_folder`
trains it (or resumes, or reuses it) under an exclusive file lock, so parallel workers that need
the same model train it once: the first takes the lock and trains, the others wait and reuse.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from pathlib import Path


def _spec_key(train: dict, lr_search: dict | None) -> str:
    from probekit.lm.train import TrainConfig

    config = TrainConfig.from_dict(train)
    if lr_search is None:
        return config.key()
    # the rate is chosen, so the spec is the config without it and the search's settings
    from dataclasses import asdict

    spec = {k: v for k, v in asdict(config).items() if k != "lr"}
    text = json.dumps({"train": spec, "lr_search": _search(lr_search)}, sort_keys=True)
    return "lr-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def _search(lr_search: dict) -> dict:
    from probekit.lm.tuning import PILOT_FRACTION, check_fraction, check_grid

    return {"grid": list(check_grid(lr_search.get("grid", ()))),
            "pilot_fraction": check_fraction(lr_search.get("pilot_fraction", PILOT_FRACTION))}


def trained_path(train: dict, lr_search: dict | None = None) -> Path:
    """The cache folder of the model ``train`` (a :class:`~probekit.lm.train.TrainConfig` as a dict;
    with ``lr_search`` = ``{"grid": [...], "pilot_fraction": f}`` its rate is chosen on the validation
    split and ``train``'s ``lr`` is ignored). Nothing is trained."""
    from probekit.cache import default_cache_root
    from probekit.provenance import code_fingerprint

    return default_cache_root() / "lm" / f"{_spec_key(train, lr_search)}-{code_fingerprint()}"


def hf_path(train: dict, lr_search: dict | None = None) -> Path:
    """The Hugging Face copy (``save_pretrained``) of a GPT-2 model's folder."""
    from probekit.lm.train import HF_DIR

    return trained_path(train, lr_search) / HF_DIR


@functools.lru_cache(maxsize=8)
def _vocabulary(corpus: str, split_seed: int, vocab_size: int | None) -> tuple[str, ...]:
    from probekit.lm.corpus import load_split
    from probekit.lm.vocab import LMVocabulary

    return tuple(LMVocabulary.fit(load_split(corpus, split_seed).train, vocab_size).words)


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


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive ``flock`` on ``path`` (released by the OS if the process dies)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_resources(function: str, kwargs: dict) -> None:
    """The training corpus of a :func:`trained_folder` call exists (``probekit reproduce`` checks
    every job's inputs before it trains anything)."""
    from probekit.lm.corpus import check_corpus

    check_corpus(kwargs["train"].get("corpus", "wikitext2"))


def trained_folder(train: dict, lr_search: dict | None = None) -> Path:
    """Train (or resume, or reuse) the model of :func:`trained_path`; returns its folder."""
    from probekit.lm.train import TrainConfig, default_threads, load_checkpoint, train as run_training
    from probekit.lm.tuning import train_tuned

    config = TrainConfig.from_dict(train)
    folder = trained_path(train, lr_search)
    with _locked(folder.with_name(folder.name + ".lock")):
        state = load_checkpoint(folder) if folder.is_dir() else None
        if state is None or not state.get("finished"):
            if lr_search is None:
                run_training(config, folder, threads=default_threads(), progress=False)
            else:
                search = _search(lr_search)
                train_tuned(config, search["grid"], folder, search["pilot_fraction"], threads=default_threads())
    return folder
