"""A sweep: one base :class:`~probekit.experiment.RunConfig` expanded over seeds, training
sizes and lags, one config per combination (each run gives its own record).

The command line's ``--seeds``, ``--train-size``/``--learning-curve`` and ``--lags`` call
:func:`expand`; Python users call it directly and run the configs with
:func:`probekit.experiment.run_all`. :func:`prepare_all` checks every config of a sweep (and
loads its data) before any of them runs, so that a bad setting fails before a record is written.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

from probekit.errors import ProbekitError
from probekit.experiment import Prepared, RunConfig, prepare

__all__ = ["DEFAULT_LEARNING_CURVE", "expand", "prepare_all"]

#: training sizes of ``--learning-curve`` (None: all training sentences).
DEFAULT_LEARNING_CURVE = (25, 100, 400, 1600, None)


def expand(base: RunConfig, seeds: Sequence[int] | None = None, train_sizes: Sequence[int | None] | None = None,
           lags: Sequence[int] | None = None) -> list[RunConfig]:
    """``base`` once per seed x training size x lag (seeds outermost, lags innermost).

    ``None`` for an axis keeps the base's value. A training size of ``None`` means all
    training sentences. ``lags`` sets the task option ``lag`` (the identity task), so the base
    must not fix ``lag`` itself.
    """
    for name, values in (("seeds", seeds), ("train sizes", train_sizes), ("lags", lags)):
        if values is not None and len(values) == 0:
            raise ProbekitError(f"a sweep over no {name}: give at least one value.")
    if lags is not None and "lag" in base.task_options:
        raise ProbekitError("give either lags to sweep (--lags) or the task option lag=K (-O lag=K), not both.")
    return [
        replace(base, seed=seed, train_size=size,
                task_options=base.task_options if lag is None else {**base.task_options, "lag": lag})
        for seed in (seeds if seeds is not None else [base.seed])
        for size in (train_sizes if train_sizes is not None else [base.train_size])
        for lag in (lags if lags is not None else [None])
    ]


def prepare_all(configs: Sequence[RunConfig], progress: Callable[[str], None] | None = None) -> list[Prepared]:
    """:func:`probekit.experiment.prepare` for every config, before any runs: a sweep whose last
    setting is bad (a training size above the corpus, a lag past the longest sentence) fails
    before its first record is written. Configs with the same task and task options share one
    loaded dataset; pass each result to ``run_all(config, prepared=...)``."""
    loaded: dict = {}
    return [prepare(config, progress, loaded) for config in configs]
