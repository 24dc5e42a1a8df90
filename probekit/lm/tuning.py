"""The learning rate of a language model, chosen on the validation split (never the test split).

Each architecture (and EMA predictor) learns best at its own rate, so one rate for all of them
would favour whichever model it happens to suit. :func:`choose_lr` trains one *pilot* per
candidate rate, a shortened copy of the run (``pilot_fraction`` of its steps and of its warm-up,
the same cosine schedule compressed, the same seed, batches and validation windows), and picks the
rate whose pilot reached the lowest validation loss (bits per token on the validation split's
first ``val_windows`` windows, the loss :mod:`probekit.lm.train` already keeps the best weights
by). :func:`train_tuned` then trains the chosen rate for the full run.

Bias, stated: a pilot's schedule is shorter, and short runs favour larger rates (a rate that wins
after a quarter of the steps may be slightly too high for the whole run); a grid of points a
factor of about 3 apart only finds the right order of magnitude, and a rate chosen at an end of
the grid (:func:`grid_edge`) says the best rate may lie beyond it. The choice reads the training
and validation articles only: the test split's tokens are never streamed while choosing (a test
guards the loader).

A tuned folder ``DIR`` holds the final model as any training folder does, its ``config.json``
with an ``lr_search`` entry (grid, pilot steps, each candidate's validation bits and curve, the
chosen rate), and ``lr-search/``: the pilots while they run (each a resumable training folder)
and ``choice.json`` once they are done, after which the pilots' checkpoints are deleted.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from probekit.errors import ProbekitError
from probekit.io import atomic_write_json
from probekit.lm.train import SEARCH_DIR

#: The default grid (``--lr auto``): rates about a factor 3 apart from 1e-3. 3e-2 was added when four of
#: the five full-suite models chose 1e-2, then the top of the grid; 1e-1 when two of them (the EMA LM
#: with the linear predictor and the GRU) chose 3e-2, again the top.
DEFAULT_GRID = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
#: A pilot trains this fraction of the run's steps.
PILOT_FRACTION = 0.25
CHOICE = "choice.json"


def check_grid(grid) -> tuple[float, ...]:
    """The candidate rates as sorted floats; an empty grid or a rate <= 0 is the user's error."""
    try:
        rates = tuple(sorted({float(lr) for lr in grid}))
    except (TypeError, ValueError):
        raise ProbekitError(f"learning-rate grid {grid!r}: give positive numbers such as 1e-3,3e-3,1e-2.") from None
    if not rates:
        raise ProbekitError("the learning-rate grid is empty: give at least one rate, e.g. --lr 1e-3,3e-3,1e-2 "
                            "(or --lr auto).")
    bad = [lr for lr in rates if not (lr > 0 and math.isfinite(lr))]
    if bad:
        raise ProbekitError(f"learning rates must be positive and finite, got {', '.join(map(str, bad))}; "
                            f"e.g. --lr 1e-3,3e-3,1e-2.")
    return rates


def check_fraction(fraction: float) -> float:
    if not 0 < fraction <= 1:
        raise ProbekitError(f"--lr-pilot-fraction must be in (0, 1], got {fraction}.")
    return float(fraction)


def parse_lr(text: str) -> tuple[float | None, tuple[float, ...] | None]:
    """``--lr``: ``"3e-3"`` -> ``(0.003, None)`` (fixed); ``"auto"`` -> the default grid;
    ``"1e-3,1e-2"`` -> that grid (several rates: chosen on the validation split)."""
    text = str(text).strip()
    if text.lower() == "auto":
        return None, DEFAULT_GRID
    parts = [p for p in text.split(",") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ProbekitError(f"--lr {text!r}: give a rate (3e-3), several comma-separated rates to choose from "
                            f"on the validation split (1e-3,3e-3,1e-2), or auto.") from None
    grid = check_grid(values)
    return (grid[0], None) if len(parts) == 1 else (None, grid)


def pilot_config(config, lr: float, fraction: float = PILOT_FRACTION):
    """The shortened run of one candidate: ``fraction`` of the steps and warm-up, same everything else."""
    steps = max(1, math.ceil(config.steps * fraction))
    return replace(config, lr=float(lr), steps=steps, warmup=max(1, round(config.warmup * fraction)),
                   eval_every=min(config.eval_every, steps), checkpoint_every=min(config.checkpoint_every, steps))


def pick_lr(grid, val_bits) -> float:
    """The candidate with the lowest validation loss (a diverged pilot, NaN or inf, is never chosen;
    ties go to the smaller rate)."""
    losses = np.asarray(val_bits, dtype=float)
    if len(losses) != len(grid) or not len(grid):
        raise ProbekitError(f"{len(grid)} candidate rates but {len(losses)} validation losses.")
    finite = np.where(np.isfinite(losses), losses, np.inf)
    if not np.isfinite(finite).any():
        raise ProbekitError(f"every pilot run diverged (validation losses {losses.tolist()}); give smaller rates "
                            f"with --lr.")
    return float(grid[int(np.argmin(finite))])


def grid_edge(grid, chosen: float) -> str | None:
    """``"top"`` or ``"bottom"`` when ``chosen`` is the largest or smallest rate of a grid of two or
    more (the best rate may lie beyond the grid: extend it), else None."""
    rates = sorted(float(lr) for lr in grid)
    if len(rates) < 2:
        return None
    return "top" if chosen == rates[-1] else "bottom" if chosen == rates[0] else None


def choose_lr(config, grid=DEFAULT_GRID, out: Path | None = None, fraction: float = PILOT_FRACTION,
              progress: bool = False) -> dict:
    """Train a pilot per rate into ``out/lr-search/`` (resumable) and return the choice: ``grid``,
    ``pilot_steps``, ``val_bits`` (each pilot's best validation bits per token), ``curves`` and
    ``chosen``. Reads the training and validation splits only."""
    import tempfile

    from probekit.lm.train import load_checkpoint, train

    grid, fraction = check_grid(grid), check_fraction(fraction)
    temporary = out is None
    search = Path(tempfile.mkdtemp(prefix="probekit-lr-")) if temporary else Path(out) / SEARCH_DIR
    saved = _read_choice(search)
    if saved is not None and saved["grid"] == list(grid) and saved["pilot_fraction"] == fraction:
        return saved
    try:
        val_bits, curves = [], []
        for lr in grid:
            pilot = search / f"lr-{lr:g}"
            train(pilot_config(config, lr, fraction), pilot, progress=progress)
            state = load_checkpoint(pilot)
            val_bits.append(float(state["best_val"]))
            curves.append([{"step": p["step"], "val_bits": p["val_bits"]} for p in state["curve"]])
        choice = {"grid": list(grid), "pilot_fraction": fraction,
                  "pilot_steps": pilot_config(config, grid[0], fraction).steps, "split": "valid",
                  "criterion": "lowest best validation bits per token of the pilot run",
                  "val_bits": val_bits, "curves": curves, "chosen": pick_lr(grid, val_bits)}
        if not temporary:
            atomic_write_json(search / CHOICE, choice)
            for lr in grid:   # the choice is recorded: the pilots' checkpoints are no longer needed
                shutil.rmtree(search / f"lr-{lr:g}", ignore_errors=True)
        return choice
    finally:
        if temporary:
            shutil.rmtree(search, ignore_errors=True)


def _read_choice(search: Path) -> dict | None:
    path = search / CHOICE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None   # written atomically, so only a foreign file; choose again


def train_tuned(config, grid=DEFAULT_GRID, out: Path | None = None, fraction: float = PILOT_FRACTION,
                progress: bool = False) -> dict:
    """Choose the rate (:func:`choose_lr`) and train it for the full run into ``out``; returns the
    folder's metadata, whose ``lr_search`` holds the choice. Rerunning resumes either stage."""
    from probekit.lm.train import CONFIG, read_meta, train

    out = Path(out)
    if (out / CONFIG).is_file() and "lr_search" not in read_meta(out):
        raise ProbekitError(f"-o {out} holds a model trained at a fixed --lr; give another folder to choose the "
                            f"rate on the validation split.")
    choice = choose_lr(config, grid, out, fraction, progress)
    return train(replace(config, lr=choice["chosen"]), out, progress=progress,
                 extra_meta={"lr_search": choice})
