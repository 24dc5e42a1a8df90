"""Measured identity curves: what probes actually recover of the token k steps back.

Why this module: the closed-form analyzer (:mod:`probekit.dilution.theory`) says what a bank
of EMA traces *must* lose; this module measures what probes *do* recover, through the
project's own experiment (:func:`probekit.experiment.run`), so the numbers, bootstrap CIs and
V-information here are exactly those of ``probekit run``. Two questions:

* the **capacity ladder** (linear -> MLP -> attention) over the same features: no probe can
  recover more than the features hold (data-processing inequality), so a ladder that plateaus
  says the loss lives in the features; a rung that recovers more says the information was
  there but not linearly accessible;
* the **differencing loophole**: a probe that sees the *sequence* of past trace states (the
  ``ema`` option ``history``) can undo the decay exactly,
  ``x_{t-k} = (h_{t-k} - (1-a) h_{t-k-1}) / a``, so the argument covers a reader of ``h_t``
  alone, not a reader of the trajectory. Those rows carry their own ``condition`` label.

Results are plain pandas DataFrames, one row per (lag, probe, condition), information in bits.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import pandas as pd

from probekit import registry
from probekit.errors import ProbekitError
from probekit.experiment import RunConfig, run

#: the condition of rows whose probe reads the current state only.
CURRENT_STATE = "h_t"

COLUMNS = ["lag", "probe", "condition", "accuracy", "accuracy_lo", "accuracy_hi", "v_information_bits",
           "v_information_bits_lo", "v_information_bits_hi", "label_entropy_bits"]

#: defaults of :func:`measured_identity_curves` (measured in docs/dilution.md): 64 types with
#: 2,000 x 20 = 40,000 training tokens is 625 tokens per class. With 128 types and 20,000
#: tokens (156 per class) the linear probe overfit: V-information went negative (-0.09 to
#: -0.55 bits) from lag 12 on. 11 lags x linear take about a minute of CPU at dim 64.
DEFAULT_VOCAB_SIZE = 64
DEFAULT_N_TRAIN = 2000
DEFAULT_N_TEST = 500
DEFAULT_LAGS = (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
#: below this many training tokens per type the probes overfit (V-information turned negative
#: at 156 per type) and the curves say more about the probe than about the traces.
MIN_TOKENS_PER_TYPE = 300
#: the random stream's sentence length (the identity task's default): n_train sentences of it.
SENTENCE_LENGTH = 20


def loophole_condition(history: int) -> str:
    """The condition label of rows whose probe sees ``h_t .. h_{t-history}``."""
    return f"h_t..h_{{t-{int(history)}}} (differencing loophole)"


def _condition(encoder_options: dict) -> str:
    history = int(encoder_options.get("history", 0) or 0)
    return loophole_condition(history) if history > 0 else CURRENT_STATE


def _n_components(encoder: str, encoder_options: dict) -> int:
    """Components an attention probe splits each row into: the encoder's ``n_blocks`` when it
    reports one (``ema``: x + rates x (1 + history)), else the whole row as one component."""
    return int(getattr(registry.encoders.create(encoder, **encoder_options), "n_blocks", 1))


def _row(record: dict, lag: int, probe: str, condition: str) -> dict:
    metrics = record["metrics"]
    accuracy, bits = metrics["accuracy"], metrics["v_information_bits"]
    return {"lag": lag, "probe": probe, "condition": condition,
            "accuracy": accuracy["value"], "accuracy_lo": accuracy["ci_low"], "accuracy_hi": accuracy["ci_high"],
            "v_information_bits": bits["value"], "v_information_bits_lo": bits["ci_low"],
            "v_information_bits_hi": bits["ci_high"],
            "label_entropy_bits": metrics["label_entropy_bits"]["value"]}


def _check_request(lags: Sequence[int], probes: Sequence[str]) -> tuple[list[int], list[str]]:
    lags = [int(k) for k in lags]
    if not lags:
        raise ProbekitError("no lags given: pass at least one lag (e.g. lags=[0, 1, 2, 4]).")
    if any(k < 0 for k in lags):
        raise ProbekitError(f"lags must be 0 or more (0 = the current word), got {lags}.")
    probes = list(probes)
    if not probes:
        raise ProbekitError("no probes given: pass at least one (e.g. probes=['linear']).")
    for name in probes:
        if getattr(registry.probes.get(name).factory, "unsupervised", False):
            raise ProbekitError(f"probe {name!r} is a zero-label probe and gives no bits; use a supervised "
                                f"probe ({', '.join(('linear', 'mlp', 'attention'))}).")
    return lags, probes


def probe_ladder(encoder: str, encoder_options: dict | None = None, task_options: dict | None = None,
                 lags: Sequence[int] = DEFAULT_LAGS, probes: Sequence[str] = ("linear", "mlp", "attention"),
                 seed: int = 0, probe_options: dict[str, dict] | None = None, loophole_history: int = 0,
                 loophole_probes: Sequence[str] = ("linear",), n_boot: int = 1000,
                 progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Bits and accuracy about the token ``lag`` back, per (lag, probe, condition), for any encoder.

    Each cell is one :func:`probekit.experiment.run` of the ``identity`` task with
    ``task_options`` (plus ``lag``) and ``encoder`` with ``encoder_options``. ``probe_options``
    maps a probe name to its options; the attention probe's ``n_components`` defaults to the
    encoder's ``n_blocks``. With ``loophole_history`` = H > 0 (EMA-like encoders with a
    ``history`` option) the ``loophole_probes`` are also run on ``h_t .. h_{t-H}``, rows labelled
    :func:`loophole_condition`: exact recovery there for lags < H is the differencing loophole.
    ``progress`` gets one message per run.
    """
    lags, probes = _check_request(lags, probes)
    encoder_options = dict(encoder_options or {})
    task_options = dict(task_options or {})
    probe_options = {name: dict(options) for name, options in (probe_options or {}).items()}
    if loophole_history < 0:
        raise ProbekitError(f"loophole_history must be 0 or more, got {loophole_history}.")
    conditions: list[tuple[dict, list[str]]] = [(encoder_options, probes)]
    if loophole_history > 0:
        if "history" not in registry.encoders.parameters(encoder):
            raise ProbekitError(f"encoder {encoder!r} has no 'history' option, so it has no differencing "
                                f"loophole; set loophole_history=0 or use encoder 'ema'.")
        conditions.append(({**encoder_options, "history": int(loophole_history)}, list(loophole_probes)))

    cells = [(options, probe, lag) for options, names in conditions for probe in names for lag in lags]
    rows = []
    for i, (options, probe, lag) in enumerate(cells, 1):
        condition = _condition(options)
        these = dict(probe_options.get(probe, {}))
        if probe == "attention" and "n_components" not in these:
            these["n_components"] = _n_components(encoder, options)
        config = RunConfig(encoder=encoder, task="identity", probe=probe, seed=seed, encoder_options=options,
                           task_options={**task_options, "lag": lag}, probe_options=these, n_boot=n_boot)
        if progress is not None:
            progress(f"[{i}/{len(cells)}] {encoder} lag {lag}, probe {probe}, {condition}")
        rows.append(_row(run(config), lag, probe, condition))
    return pd.DataFrame(rows, columns=COLUMNS)


def random_stream_options(vocab_size: int, n_train: int, n_test: int, seed: int) -> dict[str, Any]:
    """Identity-task options for a uniformly random stream of ``vocab_size`` types, all of them
    classes (so OTHER never occurs and the label entropy is about log2(vocab_size) bits)."""
    return {"source": "random", "random_types": int(vocab_size), "vocab_size": int(vocab_size),
            "n_train": int(n_train), "n_test": int(n_test), "sentence_length": SENTENCE_LENGTH,
            "data_seed": int(seed)}


def measured_identity_curves(rates: Sequence[float], dim: int, lags: Sequence[int] = DEFAULT_LAGS,
                             probes: Sequence[str] = ("linear",), seed: int = 0,
                             n_train: int = DEFAULT_N_TRAIN, n_test: int = DEFAULT_N_TEST,
                             vocab_size: int = DEFAULT_VOCAB_SIZE, include_current: bool = True,
                             history: int = 0, probe_options: dict[str, dict] | None = None,
                             n_boot: int = 1000, progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Identity curves of EMA traces on a uniformly random token stream: the empirical side of
    the dilution bound.

    The stream has ``vocab_size`` equiprobable types (``n_train`` / ``n_test`` sentences of 20
    tokens, read as one stream: the traces do not reset); the ``ema`` encoder uses random
    Gaussian embeddings of size ``dim`` and the given ``rates``, ``include_current`` and
    ``history``. One row per (lag, probe); ``condition`` is ``"h_t"``, or the loophole label
    when ``history`` > 0. ``probe_options`` maps a probe name to its options. Columns:
    :data:`COLUMNS` (V-information and label entropy in bits).
    """
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
        raise ProbekitError(f"dim must be a positive integer, got {dim!r}.")
    if vocab_size < 2:
        raise ProbekitError(f"vocab_size must be at least 2 types, got {vocab_size}.")
    per_type = n_train * SENTENCE_LENGTH / vocab_size
    if per_type < MIN_TOKENS_PER_TYPE:
        warnings.warn(f"{n_train} training sentences give {per_type:.0f} tokens per type for vocab_size={vocab_size}: "
                      f"probes overfit below about {MIN_TOKENS_PER_TYPE} (V-information can go negative). Lower "
                      f"vocab_size (default {DEFAULT_VOCAB_SIZE}) or raise n_train to "
                      f"{-(-MIN_TOKENS_PER_TYPE * vocab_size // SENTENCE_LENGTH)}.", UserWarning, stacklevel=2)
    encoder_options = {"rates": list(rates), "dim": dim, "embedding": "random", "reset": False,
                       "include_current": bool(include_current), "history": int(history)}
    return probe_ladder("ema", encoder_options, random_stream_options(vocab_size, n_train, n_test, seed),
                        lags, probes, seed=seed, probe_options=probe_options, n_boot=n_boot, progress=progress)
