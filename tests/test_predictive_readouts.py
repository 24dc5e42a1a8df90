"""The context-predictive projection of scripts/explore_predictive_readouts.py (issue 15): the
neighbour views stay inside sentences, and a CCA against the next word finds a low-variance
direction that only the next word reveals, where k-means on the raw features does not."""

import numpy as np
from sklearn.cluster import KMeans

from conftest import load_script


def _script():
    return load_script("explore_predictive_readouts")


def _agreement(clusters: np.ndarray, truth: np.ndarray) -> float:
    """Agreement of a 2-clustering with a binary truth, up to swapping the cluster names."""
    same = float(np.mean(clusters == truth))
    return max(same, 1.0 - same)


def test_neighbour_views_never_cross_a_sentence_boundary():
    script = _script()
    # two sentences: words 0 1 2 | 3 4 (ids into a 5-word vocabulary)
    data = {"word_fit": np.array([0, 1, 2, 3, 4]), "offsets_fit": np.array([0, 3, 5]),
            "vocab": {w: i for i, w in enumerate("abcde")}, "x_fit": np.arange(10.0).reshape(5, 2)}
    boundary = len(data["vocab"]) + 1
    following = script.one_hot_neighbour(data, (1,)).argmax(1)
    preceding = script.one_hot_neighbour(data, (-1,)).argmax(1)
    assert following.tolist() == [1, 2, boundary, 4, boundary]
    assert preceding.tolist() == [boundary, 0, 1, boundary, 3]
    after = script.next_trace(data)
    assert after[[2, 4]].tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert after[[0, 3]].tolist() == [[2.0, 3.0], [8.0, 9.0]]


def test_cca_against_the_next_word_finds_the_direction_raw_kmeans_misses():
    script = _script()
    rng = np.random.default_rng(0)
    n = 2000
    role = rng.integers(0, 2, n)                       # hidden: what follows the noun
    X = np.column_stack([
        rng.choice([-5.0, 5.0], n) + rng.normal(0, 0.3, n),   # loud, two-cluster, role-free direction
        rng.normal(0, 1.0, (n, 3)),                            # noise
        0.6 * (2 * role - 1) + rng.normal(0, 0.15, n),         # quiet direction that carries the role
    ]).astype(np.float32)
    # sentences "noun next": the next word is word 1 (a verb) or word 2 (a preposition) by role
    words = np.column_stack([np.zeros(n, dtype=np.int64), 1 + role]).ravel()
    data = {"word_fit": words, "offsets_fit": np.arange(0, 2 * n + 1, 2), "vocab": {"n": 0, "v": 1, "p": 2},
            "x_fit": np.repeat(X, 2, axis=0)}
    nouns = np.arange(0, 2 * n, 2)
    Y = script.one_hot_neighbour(data, (1,))[nouns]
    raw = KMeans(2, n_init=10, random_state=0).fit_predict(X)
    cca = script.CCA(X, Y, rank=1)
    projected = KMeans(2, n_init=10, random_state=0).fit_predict(cca.transform(X))
    assert _agreement(raw, role) < 0.6
    assert _agreement(projected, role) > 0.95
    assert cca.correlations[0] > 0.9


def test_next_word_bits_fall_only_for_a_split_that_tells_the_next_word():
    script = _script()
    following = np.array([1, 1, 2, 2])
    one = script._next_word_bits(np.zeros(4, dtype=np.int64), following)
    assert np.isclose(one, 4.0)                           # 4 words x 1 bit
    assert np.isclose(script._next_word_bits(np.array([0, 0, 1, 1]), following), 0.0)
    assert np.isclose(script._next_word_bits(np.array([0, 1, 0, 1]), following), one)


def test_two_sided_type_classes_group_words_by_what_follows_them():
    script = _script()
    # four word types with equidistant own vectors (the trace alone cannot group them): a and b are
    # always followed by c or d, which end their sentence
    sentences = [(0, 2), (1, 3), (0, 3), (1, 2)] * 5
    words = np.array([w for s in sentences for w in s])
    own = np.eye(4, dtype=np.float32)[words]
    data = {"word_fit": words, "offsets_fit": np.arange(0, len(words) + 1, 2), "vocab": dict(zip("abcd", range(4))),
            "x_fit": own, "own_fit": own, "x_scored": own, "own_scored": own}
    types = script._sibling("explore_word_type_readouts").Types(data)
    classes = script.type_classes_two_sided(types, data, 2)
    by_word = classes[types.codes][np.argsort(words, kind="stable")][::10]     # one class per word a, b, c, d
    assert by_word[0] == by_word[1] and by_word[2] == by_word[3] and by_word[0] != by_word[2]
