"""Training a language model: deterministic batches, AdamW, atomic checkpoints, resume.

A training folder ``DIR`` holds ``config.json`` (the :class:`TrainConfig` and what it resolved
to: width, parameter count, split name), ``vocab.json``, and ``checkpoint.pt``: the model, the
optimizer, the step, torch's RNG state, the loss curve and the best weights so far, written to a
temporary file and renamed over the last one every ``checkpoint_every`` steps, so a kill at any
moment leaves the last complete checkpoint. Rerunning the same command resumes from it.
A GPT-2 folder also gets ``hf/`` (``save_pretrained`` of model and tokenizer) when training ends.

Determinism: the batch of step ``s`` is ``batch_size`` windows of ``context + 1`` tokens at
offsets drawn by ``numpy.random.default_rng([seed, s])`` from the training stream, so it depends
on nothing but (seed, s); weights start from ``torch.manual_seed(seed)``; no dropout. Validation
loss (non-overlapping windows of the validation split, as in :mod:`probekit.lm.evaluate`) is
measured every ``eval_every`` steps and at the end; the weights with the lowest validation loss
are the trained model (the test split decides nothing).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from probekit.errors import ProbekitError
from probekit.io import atomic_write, atomic_write_json
from probekit.threads import torch_threads

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"
VOCAB = "vocab.json"
HF_DIR = "hf"
SEARCH_DIR = "lr-search"   # probekit.lm.tuning's pilots (that module imports this one)
FORMAT = 1


#: the architectures and predictors :mod:`probekit.lm.models` registers itself: a config naming one
#: is checked without importing that module (torch takes seconds; ``probekit reproduce`` names the
#: trained models of its job list in the driver, which trains nothing); other names go through the
#: registries (plugins, did-you-mean).
BUILT_IN_ARCHITECTURES = ("ema", "gru", "gpt2")
BUILT_IN_PREDICTORS = ("linear", "mlp", "attention")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a trained model, the thread count included.

    ``threads`` (torch intra-op threads while training and scoring) is part of the config, not a
    run-time option, because it changes the weights, not only the speed: more threads split sums in
    another order, so the trained weights differ in their last bits (10 steps of the full suite's
    models at 1 against 2 threads: max |difference| 6e-8 for EMA, 3e-6 for GPT-2). Fixed in the
    config, a record cannot depend on the machine's core count or on ``probekit reproduce --jobs``.
    """

    arch: str
    predictor: str = "linear"
    corpus: str = "wikitext2"
    split_seed: int = 0
    seed: int = 0
    vocab_size: int | None = None
    params: int | None = None        # target parameter count: the width is derived from it
    width: int = 128                 # used when params is None
    layers: int | None = None        # GRU / GPT-2 layers (None: 1 / 2)
    heads: int = 4
    rates: tuple[float, ...] = (0.5, 0.1, 0.02)
    learn_rates: bool = False
    context: int = 128
    batch_size: int = 16
    steps: int = 300
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: int = 20
    eval_every: int = 50
    checkpoint_every: int = 50
    val_windows: int = 64
    threads: int = 1

    def __post_init__(self) -> None:
        if self.arch not in BUILT_IN_ARCHITECTURES or self.predictor not in BUILT_IN_PREDICTORS:
            from probekit.lm.models import architectures, predictors   # torch: only for a plugin's name or a typo

            architectures.get(self.arch)
            predictors.get(self.predictor)
        for name in ("steps", "context", "batch_size", "eval_every", "checkpoint_every", "val_windows", "heads",
                     "threads"):
            if getattr(self, name) <= 0:
                raise ProbekitError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(self, name)}.")
        if self.params is not None and self.params <= 0:
            raise ProbekitError(f"--params must be positive, got {self.params}.")
        if not self.lr > 0:
            raise ProbekitError(f"--lr must be positive, got {self.lr}.")

    def model_options(self) -> dict[str, Any]:
        options = {"predictor": self.predictor, "rates": tuple(self.rates), "learn_rates": self.learn_rates,
                   "heads": self.heads}
        return options if self.layers is None else {**options, "layers": self.layers}

    def key(self) -> str:
        import hashlib

        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in names}
        if "rates" in data:
            data["rates"] = tuple(data["rates"])
        return cls(**data)


def steps_for_tokens(tokens: int, batch_size: int, context: int) -> int:
    if tokens <= 0:
        raise ProbekitError(f"--tokens must be positive, got {tokens}.")
    return max(1, math.ceil(tokens / (batch_size * context)))


@dataclass
class Prepared:
    """The data of one training config: split, vocabulary, token streams, sizes."""

    split: Any
    vocab: Any
    train_ids: np.ndarray
    valid: tuple[np.ndarray, np.ndarray]
    width: int
    n_params: int = 0
    info: dict = field(default_factory=dict)


def prepare(config: TrainConfig) -> Prepared:
    from probekit.lm.corpus import load_split
    from probekit.lm.models import width_for_params
    from probekit.lm.vocab import LMVocabulary, stream

    split = load_split(config.corpus, config.split_seed)
    vocab = LMVocabulary.fit(split.train, config.vocab_size)
    train_ids, _ = stream(vocab, split.train)
    needed = config.batch_size * config.context + 1
    if len(train_ids) < needed:
        raise ProbekitError(f"the training split of {config.corpus!r} has {len(train_ids)} tokens, fewer than one "
                            f"batch ({config.batch_size} x {config.context} + 1 = {needed}); give a larger corpus "
                            f"or lower --batch-size / --context.")
    width = config.width if config.params is None else width_for_params(
        config.arch, config.params, len(vocab), config.context, **config.model_options())
    info = {"split": split.name, "train_tokens": int(len(train_ids)), "vocab_size": len(vocab),
            "articles": {s: len(split.split(s)) for s in ("train", "valid", "test")}}
    return Prepared(split, vocab, train_ids, stream(vocab, split.valid), width, info=info)


def batch(train_ids: np.ndarray, seed: int, step: int, batch_size: int, context: int) -> np.ndarray:
    """The windows of step ``step``: ``(batch_size, context + 1)`` ids, a pure function of (seed, step)."""
    rng = np.random.default_rng([seed, step])
    starts = rng.integers(0, len(train_ids) - context, size=batch_size)
    return train_ids[starts[:, None] + np.arange(context + 1)]


def new_model(config: TrainConfig, vocab_size: int, width: int):
    import torch

    from probekit.lm.models import build

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return build(config.arch, vocab_size, width, config.context, **config.model_options())


def _lr_factor(config: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to a tenth of ``lr``."""
    if step < config.warmup:
        return (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


# ----------------------------------------------------------------------------- the folder

def check_folder(out: Path, config: TrainConfig) -> bool:
    """True when ``out`` already belongs to this config (resume); refuse any other non-empty folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ProbekitError(f"-o {out} is a file; give a folder for the trained model.")
    # the pilots of a learning-rate search (probekit.lm.tuning) live in the model's folder before it
    if not out.exists() or not any(p.name != SEARCH_DIR for p in out.iterdir()):
        return False
    if not (out / CONFIG).is_file():
        raise ProbekitError(f"-o {out} is not empty and holds no {CONFIG}: it is not a probekit LM folder. "
                            f"Give an empty or new folder.")
    saved = read_config(out)
    if saved.arch != config.arch:
        raise ProbekitError(f"-o {out} holds a {saved.arch!r} model, not {config.arch!r}; give another folder "
                            f"(or --arch {saved.arch} to resume it).")
    mine, theirs = asdict(config), asdict(saved)
    theirs["rates"] = tuple(theirs["rates"])
    differ = [k for k in mine if mine[k] != theirs.get(k)]
    if differ:
        shown = ", ".join(f"{k}: {theirs.get(k)!r} there, {mine[k]!r} now" for k in differ)
        raise ProbekitError(f"-o {out} holds a model trained with other settings ({shown}); give another folder "
                            f"or the same settings to resume it.")
    return True


def read_config(folder: Path) -> TrainConfig:
    try:
        data = json.loads((Path(folder) / CONFIG).read_text(encoding="utf-8"))
        return TrainConfig.from_dict(data["train"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ProbekitError(f"{Path(folder) / CONFIG} is not a readable LM config ({exc}); retrain into a new "
                            f"folder.") from None


def read_meta(folder: Path) -> dict:
    return json.loads((Path(folder) / CONFIG).read_text(encoding="utf-8"))


def load_checkpoint(folder: Path) -> dict | None:
    import torch

    path = Path(folder) / CHECKPOINT
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a file not written by probekit (atomic writes never leave half a file)
        raise ProbekitError(f"{path} is not a readable checkpoint ({type(exc).__name__}); delete it to retrain "
                            f"from the start.") from None


def _save_checkpoint(folder: Path, state: dict) -> None:
    import torch

    atomic_write(Path(folder) / CHECKPOINT, lambda tmp: torch.save(state, tmp))


def _export_hf(folder: Path, model, vocab) -> None:
    """GPT-2: ``hf/`` with ``save_pretrained`` of model and tokenizer, swapped in whole."""
    target = Path(folder) / HF_DIR
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-hf-", dir=folder))
    try:
        model.hf.save_pretrained(tmp)
        vocab.hf_tokenizer().save_pretrained(tmp)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=".old-hf-", dir=folder))
            os.replace(target, old / HF_DIR)
            shutil.rmtree(old)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


# ----------------------------------------------------------------------------- training

def validation_bits(model, valid: tuple[np.ndarray, np.ndarray], context: int, max_windows: int) -> float:
    from probekit.lm.scoring import window_nll

    nll, count = window_nll(model, *valid, context, max_windows=max_windows)
    return float(nll.sum() / max(count.sum(), 1) / math.log(2.0))


def train(config: TrainConfig, out: Path, progress: bool = True,
          on_checkpoint: Callable[[int], None] | None = None, extra_meta: dict | None = None) -> dict:
    """Train (or resume) ``config`` into ``out`` on ``config.threads`` torch threads; returns the
    folder's metadata (``config.json``, with ``extra_meta`` added: e.g. the learning-rate search
    that chose ``config.lr``)."""
    import torch
    from tqdm.auto import tqdm

    from probekit.lm.models import count_parameters

    out = Path(out)
    resuming = check_folder(out, config)
    data = prepare(config)
    model = new_model(config, len(data.vocab), data.width)
    meta = {"train": asdict(config), "width": data.width, "parameters": count_parameters(model), **data.info,
            **(extra_meta or {})}
    out.mkdir(parents=True, exist_ok=True)
    if resuming:
        meta = read_meta(out)
    else:
        atomic_write_json(out / CONFIG, meta)
    if not (out / VOCAB).is_file():
        data.vocab.save(out / VOCAB)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    state = load_checkpoint(out)
    step, curve, best_val, best_model, seconds = 0, [], math.inf, None, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        step, curve, best_val, best_model = state["step"], state["curve"], state["best_val"], state["best_model"]
        seconds = state["train_seconds"]
        if state.get("finished"):
            return meta
    loss_fn = torch.nn.CrossEntropyLoss()
    tokens_per_step = config.batch_size * config.context
    window_loss, window_steps, began = 0.0, 0, time.perf_counter()
    window_began = began
    with torch_threads(config.threads):
        bar = tqdm(total=config.steps, initial=step, desc=f"lm {config.arch}", unit="step", disable=not progress)
        while step < config.steps:
            ids = torch.from_numpy(batch(data.train_ids, config.seed, step, config.batch_size, config.context))
            model.train()
            for group in optimizer.param_groups:
                group["lr"] = config.lr * _lr_factor(config, step)
            logits = model(ids[:, :-1])
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            window_loss += float(loss.detach()) / math.log(2.0)
            window_steps += 1
            elapsed = seconds + time.perf_counter() - began
            bar.update(1)
            bar.set_postfix({"bits": f"{window_loss / window_steps:.3f}",
                             "tok/s": f"{tokens_per_step * window_steps / max(time.perf_counter() - window_began, 1e-9):.0f}"})
            if step % config.eval_every == 0 or step == config.steps:
                model.eval()
                with torch.no_grad():
                    val = validation_bits(model, data.valid, config.context, config.val_windows)
                curve.append({"step": step, "tokens": step * tokens_per_step,
                              "train_bits": window_loss / window_steps, "val_bits": val,
                              "seconds": round(elapsed, 3)})
                window_loss, window_steps, window_began = 0.0, 0, time.perf_counter()
                if val < best_val:
                    best_val, best_model = val, {k: v.detach().clone() for k, v in model.state_dict().items()}
            if step % config.checkpoint_every == 0 or step == config.steps:
                state = {"format": FORMAT, "arch": config.arch, "step": step, "model": model.state_dict(),
                         "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(), "curve": curve,
                         "best_val": best_val, "best_model": best_model, "finished": False,
                         "train_seconds": round(seconds + time.perf_counter() - began, 3)}
                _save_checkpoint(out, state)
                if on_checkpoint is not None:
                    on_checkpoint(step)
        bar.close()
    if config.arch == "gpt2":
        model.load_state_dict(best_model)
        _export_hf(out, model, data.vocab)
    state = load_checkpoint(out)
    state["finished"] = True
    _save_checkpoint(out, state)
    return meta


# ----------------------------------------------------------------------------- loading

def check_trained_folder(folder: Path) -> Path:
    """``folder`` if it is a training folder (it exists and holds the training config), else the error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ProbekitError(f"LM folder {folder} does not exist; train one with `probekit lm train ... -o {folder}`.")
    if not (folder / CONFIG).is_file():
        raise ProbekitError(f"{folder} holds no trained model ({CONFIG} missing); train one with "
                            f"`probekit lm train ... -o {folder}`.")
    return folder


def load_trained(folder: Path):
    """``(meta, vocab, model)`` of a finished training folder: the best-validation weights, eval mode."""
    from probekit.lm.vocab import LMVocabulary

    folder = check_trained_folder(folder)
    config = read_config(folder)
    state = load_checkpoint(folder)
    if state is None or not state.get("finished") or (folder / VOCAB).is_file() is False:
        done = "no checkpoint" if state is None else f"step {state['step']} of {config.steps}"
        raise ProbekitError(f"the training in {folder} has not finished ({done}); resume it by rerunning the same "
                            f"`probekit lm train --arch {config.arch} ... -o {folder}` command.")
    meta = read_meta(folder)
    vocab = LMVocabulary.load(folder / VOCAB)
    model = new_model(config, len(vocab), meta["width"])
    model.load_state_dict(state["best_model"])
    model.eval()
    meta["curve"] = state["curve"]
    meta["train_seconds"] = state["train_seconds"]
    meta["best_val_bits"] = state["best_val"]
    return meta, vocab, model
