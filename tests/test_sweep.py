"""probekit.sweep: one base config over seeds x training sizes x lags (what --seeds,
--train-size/--learning-curve and --lags do on the command line)."""

import pytest

from probekit.errors import ProbekitError
from probekit.experiment import RunConfig
from probekit.sweep import DEFAULT_LEARNING_CURVE, expand


def test_expand_crosses_seeds_sizes_and_lags_in_order():
    base = RunConfig("ema", "identity", task_options={"source": "random"})
    configs = expand(base, seeds=[0, 1], train_sizes=[25, None], lags=[0, 4])
    assert [(c.seed, c.train_size, c.task_options["lag"]) for c in configs] == [
        (0, 25, 0), (0, 25, 4), (0, None, 0), (0, None, 4), (1, 25, 0), (1, 25, 4), (1, None, 0), (1, None, 4)]
    assert all(c.task_options["source"] == "random" for c in configs)
    assert base.task_options == {"source": "random"}  # the base is not changed


def test_axes_left_out_keep_the_base_and_ids_match_a_hand_made_config():
    base = RunConfig("ema", "roles", seed=3, train_size=100)
    [only] = expand(base)
    assert only.key() == base.key()
    curve = expand(base, train_sizes=list(DEFAULT_LEARNING_CURVE))
    assert [c.train_size for c in curve] == [25, 100, 400, 1600, None] and {c.seed for c in curve} == {3}
    assert curve[1].key() == RunConfig("ema", "roles", seed=3, train_size=100).key()


def test_bad_sweeps_are_refused():
    with pytest.raises(ProbekitError, match="not both"):
        expand(RunConfig("ema", "identity", task_options={"lag": 2}), lags=[0, 1])
    with pytest.raises(ProbekitError, match="no seeds"):
        expand(RunConfig("ema", "roles"), seeds=[])
