"""The run path: baselines, seeds, the zero-label contract, atomic records."""

import json

import numpy as np
import pytest

import probekit  # noqa: F401
from probekit import registry
from probekit.errors import ProbekitError
from probekit.experiment import RunConfig, load_results, run, save_record
from probekit.probes.hebbian import HebbianProbe

SMALL = {"n_train": 600, "n_test": 200}


def accuracy(record, key="accuracy"):
    return record["metrics"][key]["value"]


@pytest.fixture(scope="module")
def ema_linear():
    return run(RunConfig("ema", "roles", "linear", task_options=SMALL, n_boot=200))


def test_ema_beats_majority_and_type_baselines(ema_linear):
    type_linear = run(RunConfig("type", "roles", "linear", task_options=SMALL, n_boot=200))
    majority = ema_linear["baselines"]["majority"]["accuracy"]["value"]
    assert accuracy(ema_linear) > majority + 0.3
    # word identity alone settles function words and predicates; arguments need context
    assert accuracy(ema_linear) > accuracy(type_linear) + 0.05
    assert accuracy(ema_linear, "macro_f1") > accuracy(type_linear, "macro_f1") + 0.15
    # the margin is beyond the confidence intervals, not a fluctuation
    assert ema_linear["metrics"]["accuracy"]["ci_low"] > type_linear["metrics"]["accuracy"]["ci_high"]


def test_same_seed_same_numbers_other_seed_other_encoder(ema_linear):
    again = run(RunConfig("ema", "roles", "linear", task_options=SMALL, n_boot=200))
    assert again["metrics"]["accuracy"] == ema_linear["metrics"]["accuracy"]
    other = run(RunConfig("ema", "roles", "linear", seed=1, task_options=SMALL, n_boot=200))
    assert other["metrics"]["accuracy"]["value"] != ema_linear["metrics"]["accuracy"]["value"]


def test_zero_label_probe_never_sees_labels(monkeypatch):
    seen = []

    class SpyProbe(HebbianProbe):
        """Spy on what the experiment passes to fit."""

        def fit(self, X, y=None, **kwargs):
            seen.append((y, kwargs))
            return super().fit(X)

    registry.probes.add("spy-hebbian", SpyProbe)
    try:
        record = run(RunConfig("ema", "roles", "spy-hebbian", task_options=SMALL, n_boot=100))
    finally:
        registry.probes._entries.pop("spy-hebbian")
    assert seen == [(None, {})]
    assert record["metrics"]["readout"] == "one_to_one"
    assert record["readouts"]["many_to_one"]["accuracy"]["value"] >= accuracy(record) - 1e-12
    assert record["metrics"]["n_clusters"] >= record["metrics"]["n_nonempty_clusters"] > 1


def test_cluster_mapping_is_fitted_on_training_labels_only(monkeypatch):
    """Scrambling the *test* labels must not change the zero-label predictions' mapping."""
    from probekit.probes import readout

    fitted_with = []
    original = readout.ClusterReadout.fit

    def spy(self, clusters, labels, n_labels, **kwargs):
        fitted_with.append(len(labels))
        return original(self, clusters, labels, n_labels, **kwargs)

    monkeypatch.setattr(readout.ClusterReadout, "fit", spy)
    record = run(RunConfig("ema", "roles", "hebbian", task_options=SMALL, n_boot=100))
    assert fitted_with == [record["data"]["train_words"]]


def test_records_are_written_atomically_and_read_back(tmp_path, ema_linear):
    path = save_record(ema_linear, tmp_path)
    assert json.loads(path.read_text())["id"] == ema_linear["id"]
    assert not list(tmp_path.glob(".*.tmp"))
    (tmp_path / "broken.json").write_text("{")
    with pytest.warns(RuntimeWarning, match="broken.json"):  # in a folder: skipped, and said so
        assert [r["id"] for r in load_results([tmp_path])] == [ema_linear["id"]]
    with pytest.raises(ProbekitError, match="broken.json"):  # named on its own: an error
        load_results([tmp_path / "broken.json"])


def test_record_has_provenance(ema_linear):
    assert ema_linear["config"]["seed"] == 0 and ema_linear["versions"]["numpy"] == np.__version__
    assert {"load", "encode_train", "probe", "total"} <= set(ema_linear["timings_s"])
    assert ema_linear["resolved"]["encoder_params"]["rates"] == [0.5, 0.1, 0.02] or \
        tuple(ema_linear["resolved"]["encoder_params"]["rates"]) == (0.5, 0.1, 0.02)


def test_record_says_whether_the_probe_fit_converged(ema_linear):
    """A record keeps the fit's iterations and whether L-BFGS stopped at its tolerance (so an
    unconverged run can be told from the record alone), and the C a held-out search chose."""
    fit = ema_linear["resolved"]["probe_fit"]
    assert fit["converged"] is True and fit["n_iter"] > 1 and fit["C"] == 1.0
    with pytest.warns(Warning, match="max_iter"):
        capped = run(RunConfig("ema", "roles", "linear", task_options=SMALL, probe_options={"max_iter": 2},
                               n_boot=50))
    assert capped["resolved"]["probe_fit"] == {"converged": False, "n_iter": 2, "C": 1.0}
    chosen = run(RunConfig("type", "roles", "linear", task_options=SMALL, n_boot=50,
                           probe_options={"C_grid": [0.01, 1.0]}))["resolved"]["probe_fit"]
    assert chosen["C"] in (0.01, 1.0) and chosen["converged"] is True
    clusters = run(RunConfig("ema", "roles", "hebbian", task_options=SMALL, n_boot=50))
    assert clusters["resolved"]["probe_fit"] == {}    # no iterative fit to report
