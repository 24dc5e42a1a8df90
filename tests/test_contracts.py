"""The written contracts (probekit.contracts): a layer is declared, not named; the optional
hooks have their documented defaults; a run builds each record once with one probe per layer."""

import numpy as np
import pytest

import probekit  # noqa: F401
from probekit import contracts, registry
from probekit.encoders.base import Encoder
from probekit.experiment import RunConfig, run, run_all
from probekit.features import Features
from probekit.probes.linear import LinearProbe

TINY = {"n_train": 120, "n_test": 40}


class _Shape(Encoder):
    """Word length and capitalisation, in blocks named like layers or not."""

    def __init__(self, declare: bool = False):
        self.declare = declare

    def encode(self, corpus):
        words = corpus.words()
        length = np.fromiter(map(len, words), dtype=np.float32, count=len(words))
        capital = np.fromiter((w[:1].isupper() for w in words), dtype=np.float32, count=len(words))
        X = np.stack([length, capital], axis=1)
        blocks = {"layer_norm": (0, 1), "layer_3": (1, 2)}
        return Features(X, corpus.offsets, blocks=blocks,
                        layer_blocks={0: "layer_norm", 3: "layer_3"} if self.declare else {})


@pytest.fixture()
def shape_encoder():
    registry.encoders.add("test-shape", _Shape)
    yield "test-shape"
    registry.encoders.remove("test-shape")


def test_a_block_named_like_a_layer_is_not_a_layer(shape_encoder):
    record = run(RunConfig(shape_encoder, "roles", "linear", task_options=TINY, n_boot=100))
    assert record["config"]["layer"] is None and "-L" not in record["id"]
    assert record["data"]["feature_blocks"] == {"layer_norm": [0, 1], "layer_3": [1, 2]}


def test_declared_layers_give_one_record_each(shape_encoder):
    records = run_all(RunConfig(shape_encoder, "roles", "linear", encoder_options={"declare": True},
                                task_options=TINY, n_boot=100))
    assert [r["config"]["layer"] for r in records] == [0, 3]
    assert [r["id"][-3:] for r in records] == ["-L0", "-L3"]
    assert [r["data"]["feature_blocks"] for r in records] == [{"layer_norm": [0, 1]}, {"layer_3": [0, 1]}]


def test_features_refuse_a_layer_that_is_not_a_block():
    with pytest.raises(ValueError, match="layer_blocks name blocks that do not exist"):
        Features(np.zeros((2, 2)), np.array([0, 2]), blocks={"a": (0, 2)}, layer_blocks={0: "b"})


def test_hook_defaults():
    class Bare:
        pass

    assert contracts.params(Bare()) == {}
    assert contracts.is_supervised_encoder(Bare()) is False
    assert contracts.is_unsupervised_probe(Bare()) is False
    assert contracts.cache_key_parts(Bare(), corpus=None) is None
    assert contracts.default_probe(Bare, Bare()) == "linear"
    assert contracts.params(LinearProbe(C=0.5))["C"] == 0.5


def test_one_probe_is_made_per_layer(shape_encoder):
    made = []

    class CountedProbe(LinearProbe):
        def __init__(self, C: float = 1.0, seed: int = 0):
            made.append(1)
            super().__init__(C=C, seed=seed)

    registry.probes.add("test-counted", CountedProbe)
    try:
        run(RunConfig(shape_encoder, "roles", "test-counted", task_options=TINY, n_boot=100))
        assert len(made) == 1
        made.clear()
        run_all(RunConfig(shape_encoder, "roles", "test-counted", encoder_options={"declare": True},
                          task_options=TINY, n_boot=100))
        assert len(made) == 2
    finally:
        registry.probes.remove("test-counted")


def test_a_component_missing_a_required_method_is_named():
    from probekit.errors import ProbekitError

    class NoEncode:
        """Fits, never encodes."""

        def fit(self, corpus, labels=None):
            return self

    class ClusterOnly:
        unsupervised = True

        def fit(self, X):
            return self

    with pytest.raises(ProbekitError, match=r"encoder 'x' lacks encode\(\)"):
        contracts.check(NoEncode(), "encoder 'x'")
    with pytest.raises(ProbekitError, match=r"probe 'y' lacks predict_clusters\(\)"):
        contracts.check(ClusterOnly(), "probe 'y'")
    registry.encoders.add("test-no-encode", NoEncode)
    try:
        with pytest.raises(ProbekitError, match="lacks encode"):
            run(RunConfig("test-no-encode", "roles", "linear", task_options=TINY, n_boot=100))
    finally:
        registry.encoders.remove("test-no-encode")
