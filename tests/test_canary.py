"""A leakage canary: a task whose test labels are independent of everything in the training data.

Training labels are uniform noise; each test word type gets a label drawn from a separate random
stream, so nothing a probe or a supervised encoder can learn from the training split says anything
about a test label. Any path that scores above chance has seen test labels (e.g. a probe or an
encoder fitted on train + test rows: then the per-type test labels are learnable, and the score
jumps towards 1). Every registered probe runs over a label-free encoder, and every supervised
encoder runs with its task's default probe. The zero-label readout also runs as a readout curve
(``clusters``) with every clustering method, and every k's one-to-one and many-to-one accuracy
must stay at chance.

The tolerance comes from the sample: test labels are one draw per type, so a prediction made
without them is right for each type with probability 1/K independently, and the accuracy's standard
deviation is at most sqrt(p (1 - p) * sum_v w_v^2) with w_v the share of test words of type v.
"""

import math

import numpy as np
import pytest

from probekit import registry
from probekit.corpus import Corpus
from probekit.experiment import RunConfig, run
from probekit.probes.hebbian import METHODS
from probekit.tasks.base import Targets, Task, TaskData
from probekit.tasks.identity import _chain_sentence

N_CLASSES = 4
N_TYPES = 96
SIGMAS = 4.5          # two-sided: a wrongly failing canary once in ~150,000 runs


class CanaryTask(Task):
    """Random word streams whose test labels (one per word type, from their own seed) are
    independent of everything in the training split.

    ``disjoint=False`` (probes): train and test share their word types and training labels are
    noise per word, so a probe fitted on test rows learns the test types' labels. ``disjoint=True``
    (supervised encoders): test types never occur in training, and training labels are one per
    training type, so an encoder fitted on test rows learns the test types' labels in the same
    way as the training types' ones, and a probe that reads the encoder reads them out.
    """

    default_probe = "linear"

    def __init__(self, n_train: int = 80, n_test: int = 80, length: int = 10, seed: int = 0, disjoint: bool = False):
        self.n_train, self.n_test, self.length, self.seed = n_train, n_test, length, seed
        self.disjoint = disjoint

    def load(self) -> TaskData:
        rng = np.random.default_rng([self.seed, 0])

        def corpus(n: int, name: str, offset: int) -> Corpus:
            ids = rng.integers(0, N_TYPES, size=(n, self.length)) + offset
            return Corpus([_chain_sentence([f"w{i}" for i in row]) for row in ids], name=name)

        return TaskData(corpus(self.n_train, "canary-train", 0),
                        corpus(self.n_test, "canary-test", N_TYPES if self.disjoint else 0))

    def targets(self, corpus: Corpus) -> Targets:
        names = tuple(f"c{i}" for i in range(N_CLASSES))
        types = np.array([int(word[1:]) for word in corpus.words()])
        if corpus.name == "canary-test":
            labels = np.random.default_rng([self.seed, 2]).integers(0, N_CLASSES, 2 * N_TYPES)[types]
        elif self.disjoint:
            labels = np.random.default_rng([self.seed, 1]).integers(0, N_CLASSES, 2 * N_TYPES)[types]
        else:
            labels = np.random.default_rng([self.seed, 1]).integers(0, N_CLASSES, corpus.n_tokens)
        return Targets(np.asarray(labels, dtype=np.int64), names)


@pytest.fixture(scope="module", autouse=True)
def canary_task():
    registry.tasks.add("canary", CanaryTask, "leakage canary (test only)")
    yield
    registry.tasks._entries.pop("canary", None)


def _tolerance(task_options: dict) -> tuple[float, float]:
    """Chance and the largest distance from it a leak-free run can plausibly show."""
    test = CanaryTask(**task_options).load().test
    _, counts = np.unique(test.words(), return_counts=True)
    weights = counts / counts.sum()
    p = 1 / N_CLASSES
    return p, SIGMAS * math.sqrt(p * (1 - p) * float(np.sum(weights ** 2)))


def _accuracies(record: dict) -> dict[str, float]:
    found = {record["metrics"].get("readout", "supervised"): record["metrics"]["accuracy"]["value"]}
    found.update({mode: m["accuracy"]["value"] for mode, m in record.get("readouts", {}).items()})
    for entry in record["metrics"].get("curve", []):     # the zero-label readout curve: every k, both mappings
        found.update({f"{mode} at k={entry['k']}": entry[mode]["value"] for mode in ("one_to_one", "many_to_one")})
    return found


PROBE_RUNS = [RunConfig(encoder="type", task="canary", probe=name, n_boot=10, probe_options=options)
              for name, options in (("linear", {}), ("mlp", {"epochs": 30}), ("attention", {"epochs": 30}),
                                    ("hebbian", {}), ("hebbian", {"two_level": True}),
                                    ("predictive", {"word_classes": 2}))] + \
    [RunConfig(encoder="type", task="canary", probe="hebbian", n_boot=10,
               probe_options={"clusters": [4, 16], "method": method}) for method in sorted(METHODS)]
ENCODER_RUNS = [RunConfig(encoder="bigru", task="canary", n_boot=10, encoder_options={"epochs": 8},
                          task_options={"disjoint": True}),
                RunConfig(encoder="bigru", task="canary", n_boot=10, encoder_options={"epochs": 8}),
                RunConfig(encoder="ema", task="canary", n_boot=10, encoder_options={"reset": False})]


def test_the_canary_covers_every_registered_probe_and_supervised_encoder():
    assert {c.probe for c in PROBE_RUNS} >= set(registry.probes.names())
    assert {c.probe_options.get("method") for c in PROBE_RUNS if c.probe_options.get("clusters")} == set(METHODS)
    supervised = {name for name in registry.encoders.names()
                  if getattr(registry.encoders.get(name).factory, "supervised", False)}
    assert supervised and supervised <= {c.encoder for c in ENCODER_RUNS}


@pytest.mark.parametrize("config", PROBE_RUNS + ENCODER_RUNS,
                         ids=lambda c: f"{c.encoder}+{c.probe or 'default'}{'-disjoint' if c.task_options else ''}"
                                       f"{'-curve-' + c.probe_options['method'] if 'clusters' in c.probe_options else ''}")
def test_no_path_scores_above_chance_on_labels_it_cannot_know(config):
    chance, tolerance = _tolerance(config.task_options)
    for readout, accuracy in _accuracies(run(config)).items():
        assert abs(accuracy - chance) <= tolerance, \
            f"{config.encoder}+{config.probe or 'default'} ({readout}): accuracy {accuracy:.3f}, chance {chance:.3f} " \
            f"± {tolerance:.3f}: test labels reached training"
