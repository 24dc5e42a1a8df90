"""The zero-label readout curve (``-p hebbian -P clusters=...``): no labels in fit, the mapping
fitted on training words only, and the V-information of cluster labels (0 for random clusters,
H(roles) for clusters that are the roles)."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from probekit import registry
from probekit.corpus import Corpus
from probekit.errors import ProbekitError
from probekit.experiment import RunConfig, run
from probekit.metrics import cluster_information, label_entropy_bits
from probekit.probes import ClusterReadout, HebbianProbe
from probekit.probes.hebbian import METHODS
from probekit.tasks.base import Targets, Task, TaskData
from probekit.tasks.identity import _chain_sentence

ROLES_RUN = dict(encoder="ema", task="roles", probe="hebbian", n_boot=50,
                 task_options={"n_train": 150, "n_test": 60}, encoder_options={"embedding": "hebbian"})


@pytest.fixture(autouse=True)
def one_thread():
    with threadpool_limits(1):
        yield


def blobs(n=1200, k=4, d=6, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    centres = np.random.default_rng(99).normal(scale=6.0, size=(k, d))
    return (centres[labels] + rng.normal(size=(n, d))).astype(np.float32), labels.astype(np.int64)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_gives_one_clustering_per_k_and_finds_separated_blobs(method):
    X, y = blobs()
    probe = HebbianProbe(clusters=(4, 2, 16), method=method, n_components=0, seed=1).fit(X)
    curve = probe.predict_curve(X)
    assert sorted(curve) == [2, 4, 16]
    for k, ids in curve.items():
        assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < k
    np.testing.assert_array_equal(probe.predict_clusters(X), curve[4])      # the first k listed
    readout = ClusterReadout().fit(curve[4], y, 4, n_clusters=4)
    assert readout.accuracy(curve[4], y) > 0.95
    again = HebbianProbe(clusters=(4, 2, 16), method=method, n_components=0, seed=1).fit(X).predict_curve(X)
    assert all(np.array_equal(again[k], curve[k]) for k in curve)          # seeded


def test_divisive_spreads_are_each_clusters_sum_of_squares_about_its_mean():
    from probekit.probes.hebbian import _spreads

    rng = np.random.default_rng(3)
    Z, labels = rng.normal(size=(300, 5)), rng.integers(0, 6, 300)
    labels[labels == 4] = 5                                    # cluster 4 is empty
    expected = [((Z[labels == c] - Z[labels == c].mean(0)) ** 2).sum() if (labels == c).any() else 0.0
                for c in range(7)]
    np.testing.assert_allclose(_spreads(Z, labels, 7), expected, atol=1e-9)


def test_curve_options_are_checked():
    with pytest.raises(ProbekitError, match="clusters"):
        HebbianProbe(clusters=(8, 0))
    with pytest.raises(ProbekitError, match="method"):
        HebbianProbe(clusters=(8,), method="spectral")
    with pytest.raises(ProbekitError, match="largest cluster count"):
        HebbianProbe(clusters=(8, 64)).fit(blobs(n=40)[0])
    assert registry.probes.create("hebbian", clusters="8,16,64").clusters == (8, 16, 64)
    with pytest.raises(ProbekitError, match="at least one cluster count"):
        HebbianProbe().fit(blobs()[0])                     # the curve, but no k: a run adds the labels
    with pytest.raises(ProbekitError, match="two_level"):
        HebbianProbe(two_level=True, clusters=(8,))
    assert HebbianProbe(two_level=True).fit(blobs()[0]).predict_curve(blobs()[0]) is None   # two-level: no curve


def test_v_information_is_zero_for_random_clusters_and_the_label_entropy_for_the_labels():
    rng = np.random.default_rng(0)
    n, k = 20000, 5
    labels = rng.choice(k, size=n, p=[0.4, 0.3, 0.15, 0.1, 0.05])
    sentences = np.repeat(np.arange(n // 10), 10)
    for seed in range(3):
        random = cluster_information(np.random.default_rng(seed).integers(0, 64, n), labels, sentences, 64, k,
                                     n_boot=300, seed=seed)
        assert random["ci_low"] <= 0.0 <= random["ci_high"] and abs(random["value"]) < 0.005
    entropy = label_entropy_bits(labels, k)
    exact = cluster_information(labels, labels, sentences, k, k, n_boot=300)
    assert exact["ci_low"] <= entropy <= exact["ci_high"] and abs(exact["value"] - entropy) < 0.001
    relabelled = cluster_information((labels * 7 + 3) % 11, labels, sentences, 11, k, n_boot=300)
    assert relabelled["value"] == pytest.approx(exact["value"])    # no mapping: a relabelling has the same bits
    half = cluster_information(labels // 2, labels, sentences, 3, k, n_boot=300)    # merged roles lose bits
    assert 0.5 < half["value"] < entropy - 0.3


def test_a_run_records_the_curve_with_the_headline_at_one_cluster_per_role():
    record = run(RunConfig(**ROLES_RUN, probe_options={"clusters": [16, 4]}))
    metrics = record["metrics"]
    n_roles = len(record["data"]["labels"])
    assert [entry["k"] for entry in metrics["curve"]] == sorted({4, 16, n_roles})
    assert record["resolved"]["probe_params"]["clusters"][-1] == n_roles
    headline = next(e for e in metrics["curve"] if e["k"] == n_roles)
    assert metrics["accuracy"]["value"] == headline["one_to_one"]["value"]
    assert record["readouts"]["many_to_one"]["accuracy"]["value"] == headline["many_to_one"]["value"]
    assert metrics["n_clusters"] == n_roles and metrics["v_information_bits"] == headline["v_information_bits"]
    for entry in metrics["curve"]:
        for key in ("one_to_one", "many_to_one", "v_information_bits"):
            assert entry[key]["ci_low"] <= entry[key]["value"] <= entry[key]["ci_high"]
        assert entry["many_to_one"]["value"] >= entry["one_to_one"]["value"] - 0.05


def test_a_plain_run_reads_out_at_one_cluster_per_label_and_two_level_is_the_old_readout():
    plain = run(RunConfig(**ROLES_RUN))
    n_roles = len(plain["data"]["labels"])
    assert list(plain["resolved"]["probe_params"]["clusters"]) == [n_roles]
    assert [entry["k"] for entry in plain["metrics"]["curve"]] == [n_roles]
    assert plain["metrics"]["n_clusters"] == n_roles
    assert plain["metrics"]["accuracy"]["value"] == plain["metrics"]["curve"][0]["one_to_one"]["value"]
    old = run(RunConfig(**ROLES_RUN, probe_options={"two_level": True}))
    assert "curve" not in old["metrics"] and old["metrics"]["n_clusters"] == 8 * 3


def test_the_readout_never_receives_labels_in_fit(monkeypatch):
    seen = []
    original = HebbianProbe.fit

    def spy(self, X, y=None):
        seen.append((np.asarray(X).shape[0], y))
        return original(self, X, y)

    monkeypatch.setattr(HebbianProbe, "fit", spy)
    run(RunConfig(**ROLES_RUN, probe_options={"clusters": [16]}))
    task = registry.tasks.create("roles", **ROLES_RUN["task_options"])
    train = task.load().train
    assert len(seen) == 1 and seen[0][1] is None
    assert seen[0][0] == int((task.targets(train).labels >= 0).sum())   # the labelled training words, no test word


class PermutedTest(Task):
    """Two role-like labels on a fixed word stream; ``permute`` shuffles the *test* labels only."""

    def __init__(self, permute: bool = False):
        self.permute = permute

    def load(self) -> TaskData:
        rng = np.random.default_rng(5)
        words = lambda n, name: Corpus([_chain_sentence([f"w{i}" for i in rng.integers(0, 12, 8)])  # noqa: E731
                                        for _ in range(n)], name=name)
        return TaskData(words(120, "train"), words(40, "test"))

    def targets(self, corpus: Corpus) -> Targets:
        labels = np.array([int(w[1:]) % 3 for w in corpus.words()], dtype=np.int64)
        if corpus.name == "test" and self.permute:
            labels = np.random.default_rng(1).permutation(labels)
        return Targets(labels, ("a", "b", "c"))


def test_permuting_the_test_labels_leaves_the_mapping_unchanged(monkeypatch):
    registry.tasks.add("permuted-test", PermutedTest, "test only")
    mappings = []
    original = ClusterReadout.fit

    def spy(self, *args, **kwargs):
        fitted = original(self, *args, **kwargs)
        mappings.append((fitted.one_to_one_.copy(), fitted.many_to_one_.copy()))
        return fitted

    monkeypatch.setattr(ClusterReadout, "fit", spy)
    try:
        records = [run(RunConfig(encoder="type", task="permuted-test", probe="hebbian", n_boot=20,
                                 probe_options={"clusters": [3, 6]}, task_options={"permute": permute}))
                   for permute in (False, True)]
    finally:
        registry.tasks._entries.pop("permuted-test", None)
    half = len(mappings) // 2
    assert half == 2
    for (a1, a2), (b1, b2) in zip(mappings[:half], mappings[half:]):
        np.testing.assert_array_equal(a1, b1)
        np.testing.assert_array_equal(a2, b2)
    # the scores did see the permutation (the test labels differ), the mappings did not
    assert records[0]["metrics"]["accuracy"]["value"] != records[1]["metrics"]["accuracy"]["value"]


def test_compare_finds_the_smallest_k_reaching_the_papers_bar_and_plot_draws_the_curve(tmp_path):
    import copy

    from probekit.report import compare_tables, paper_k_table, plot_readout_curves, results_frame

    small = {k: v for k, v in ROLES_RUN.items() if k not in ("probe", "encoder_options")}
    zero = run(RunConfig(**ROLES_RUN, probe_options={"clusters": [16, 64]}))
    linear = run(RunConfig(**small, probe="linear"))
    gru = run(RunConfig(**{**small, "encoder": "bigru"}, encoder_options={"epochs": 1}))
    bigru = gru["metrics"]["accuracy"]["value"]
    ks = [entry["k"] for entry in zero["metrics"]["curve"]]

    def with_many_to_one(values):
        record = copy.deepcopy(zero)
        for entry, value in zip(record["metrics"]["curve"], values):
            entry["many_to_one"] = {"value": value, "ci_low": value - 0.01, "ci_high": value + 0.01}
        return record

    reaching = [0.5 * bigru, 0.97 * bigru, 0.99 * bigru]
    table = paper_k_table(results_frame([with_many_to_one(reaching), linear, gru]))
    assert table["smallest k reaching it"].tolist() == [str(ks[1])]
    assert table["linear probe accuracy"].iloc[0] == pytest.approx(linear["metrics"]["accuracy"]["value"])
    never = paper_k_table(results_frame([with_many_to_one([0.5 * bigru] * 3), gru]))
    assert never["smallest k reaching it"].tolist() == [f"never up to {max(ks)}"]
    titles = [title for title, _, _ in compare_tables(results_frame([zero, linear, gru]))]
    assert any("readout curve" in t for t in titles) and any("Smallest k" in t for t in titles)
    path = tmp_path / "curve.png"
    plot_readout_curves(results_frame([zero, linear, gru]), path)
    assert path.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ProbekitError, match="no readout-curve records"):
        plot_readout_curves(results_frame([linear]), tmp_path / "none.png")


def test_roles_simple_is_an_easy_grammar_with_one_level_of_that_relatives():
    task = registry.tasks.create("roles-simple", n_train=300, n_test=50)
    data = task.load()
    deprels = {rel for sentence in data.train for rel in sentence.deprels}
    assert deprels == {"root", "nsubj", "obj", "det", "amod", "acl:relcl"}
    relatives = [s for s in data.train if "acl:relcl" in s.deprels]
    assert relatives and all(s.deprels.count("acl:relcl") <= 2 for s in relatives)
    # one level: no relative clause hangs off a noun inside a relative clause
    for s in relatives:
        for i, rel in enumerate(s.deprels):
            if rel == "acl:relcl":
                noun = s.heads[i] - 1
                assert s.deprels[noun] in ("nsubj", "obj") and s.deprels[s.heads[noun] - 1] == "root"
    roles = set(np.array(task.targets(data.test).names)[np.unique(task.targets(data.test).labels)])
    assert roles <= {"SUBJ", "OBJ", "PRED", "MOD", "FUNC"}


def test_the_default_method_is_the_dev_choice_that_docs_quote():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    from conftest import load_script

    script = load_script("choose_readout_method")
    assert {c["method"] for c in script.candidates().values()} == set(METHODS)
    docs = (root / "docs" / "probes.md").read_text(encoding="utf-8")
    chosen = re.findall(r"^\| `([\w-]+)` \(\*\*default, chosen\*\*\) \| (\d+) \|", docs, flags=re.M)
    defaults = HebbianProbe()
    assert chosen == [(defaults.method, str(defaults.n_components))]


def test_a_readout_curve_without_a_clustering_method_is_kept():
    """``predictive`` has no ``method`` option: its curve rows (method missing) must not be dropped
    by the grouping (the report's headline curve once came out empty, then raised)."""
    from probekit.report import paper_k_table, readout_curve_table, results_frame

    record = run(RunConfig(encoder="ema", task="roles", probe="predictive", seed=0, encoder_options={"dim": 16},
                           task_options={"n_train": 120, "n_test": 40}, probe_options={"clusters": [8, 16]}, n_boot=20))
    frame = results_frame([record])
    curve = readout_curve_table(frame)
    assert sorted(curve.k.tolist()) == [8, 16] and set(curve.probe) == {"predictive"}
    assert paper_k_table(frame, curve).probe.tolist() == ["predictive"]
