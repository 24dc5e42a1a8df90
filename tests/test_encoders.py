"""Tests of the built-in encoders: EMA, BiGRU and the baselines."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import probekit.encoders  # noqa: F401  (registers the encoders)
from probekit.corpus import Corpus, Sentence
from probekit.encoders.baselines import PositionEncoder, RandomEncoder, TypeEncoder, TypePositionEncoder
from probekit.encoders.bigru import BiGRUEncoder
import probekit.encoders.ema as ema_module
from probekit.encoders.ema import EMAEncoder, ema_trace
from probekit.errors import ProbekitError
from probekit.registry import encoders


def sentence(words) -> Sentence:
    """A sentence with a chain tree: word i headed by word i+1, the last word is the root."""
    n = len(words)
    return Sentence(tuple(words), tuple(list(range(2, n + 1)) + [0]), tuple(["dep"] * (n - 1) + ["root"]))


def corpus_of(sentences) -> Corpus:
    return Corpus([sentence(s) for s in sentences])


def random_corpus(lengths, vocab_size=20, seed=0, prefix="w") -> Corpus:
    rng = np.random.default_rng(seed)
    return corpus_of([[f"{prefix}{i}" for i in rng.integers(0, vocab_size, n)] for n in lengths])


def loop_ema(X, rate, offsets, reset):
    """The recurrence h_t = (1 - a) h_{t-1} + a x_t, h_0 = 0, one token at a time."""
    starts = set(offsets[:-1].tolist())
    H = np.zeros_like(X, dtype=np.float64)
    h = np.zeros(X.shape[1])
    for t in range(X.shape[0]):
        if reset and t in starts:
            h = np.zeros(X.shape[1])
        h = (1 - rate) * h + rate * X[t]
        H[t] = h
    return H


LENGTHS = [1, 4, 1, 1, 7, 2, 1, 12, 3, 1]  # with sentences of length 1, also back to back


# -- EMA --------------------------------------------------------------------------------------


@pytest.mark.parametrize("reset", [True, False])
def test_ema_trace_matches_loop_on_random_input(reset):
    rng = np.random.default_rng(1)
    offsets = np.concatenate([[0], np.cumsum(LENGTHS)])
    X = rng.standard_normal((offsets[-1], 5))
    for rate in (1.0, 0.5, 0.1, 0.02):
        got = ema_trace(X, rate, offsets, reset=reset)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, loop_ema(X, rate, offsets, reset), atol=1e-5, rtol=0)


def test_ema_trace_reset_stays_exact_on_a_long_stream_with_a_slow_rate():
    # the closed-form reset subtracts the carried state; it must not drift on long streams
    rng = np.random.default_rng(2)
    lengths = rng.integers(1, 40, 300)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    X = rng.standard_normal((offsets[-1], 3)) + 3.0  # a large mean makes carried states large
    got = ema_trace(X, 0.02, offsets, reset=True)
    np.testing.assert_allclose(got, loop_ema(X, 0.02, offsets, True), atol=1e-5, rtol=0)


# The fast path works on blocks of ``_BLOCK_ROWS`` rows in chunks of ``_CHUNK_ROWS`` rows; these
# tests put stream ends, sentence starts and chunk ends on and around those boundaries.
B = ema_module._BLOCK_ROWS
CHUNK = ema_module._CHUNK_ROWS


def offsets_of(lengths):
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


@pytest.mark.parametrize("n", [1, B - 1, B, B + 1, 3 * B + 7, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + B + 3])
@pytest.mark.parametrize("reset", [True, False])
def test_ema_trace_across_block_and_chunk_boundaries(n, reset):
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, 4)) + 2.0
    offsets = np.array([0, n])
    for rate in (1.0, 0.5, 0.1, 0.02, 0.001):
        got = ema_trace(X, rate, offsets, reset=reset)
        np.testing.assert_allclose(got, loop_ema(X, rate, offsets, reset), atol=1e-5, rtol=0)


def boundary_lengths(n):
    """Sentence lengths whose starts fall on, just before and just after block boundaries."""
    starts = set()
    for boundary in range(0, n, B):
        starts.update({boundary - 1, boundary, boundary + 1})
    for boundary in range(0, n, CHUNK):
        starts.update({boundary - 1, boundary, boundary + 1})
    starts = sorted(s for s in starts if 0 < s < n)
    return np.diff([0] + starts + [n])


@pytest.mark.parametrize("lengths", [
    boundary_lengths(3 * B + 7),                    # starts on and around block boundaries
    boundary_lengths(2 * CHUNK + 5),                # ... and chunk boundaries
    [B] * 5,                                        # sentences exactly one block long
    [B - 1, 1, B + 1, B - 1, 2, 2 * B],             # sentences shifted against the blocks
    [1] * (2 * B + 3),                              # length-1 sentences only
    [3, 1, 1, 5, 2, 1, 7] * 20,                     # sentences much shorter than a block
    [5 * B + 3, 1, 2 * CHUNK + 9, 1],               # sentences longer than a block and a chunk
])
@pytest.mark.parametrize("reset", [True, False])
def test_ema_trace_with_sentence_starts_around_block_boundaries(lengths, reset):
    offsets = offsets_of(lengths)
    rng = np.random.default_rng(int(offsets[-1]))
    X = rng.standard_normal((offsets[-1], 3)) + 3.0
    for rate in (1.0, 0.5, 0.1, 0.02, 0.001):
        got = ema_trace(X, rate, offsets, reset=reset)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, loop_ema(X, rate, offsets, reset), atol=1e-5, rtol=0)


def test_ema_trace_float32_input_float64_output_and_strided_out():
    rng = np.random.default_rng(5)
    lengths = rng.integers(1, 3 * B, 60)
    offsets = offsets_of(lengths)
    X = (rng.standard_normal((offsets[-1], 6)) + 1.0).astype(np.float32)
    want = loop_ema(X.astype(np.float64), 0.02, offsets, True)
    got64 = ema_trace(X, 0.02, offsets, True, out=np.empty(X.shape, dtype=np.float64))
    assert got64.dtype == np.float64
    np.testing.assert_allclose(got64, want, atol=1e-10, rtol=0)
    wide = np.full((X.shape[0], 20), 7.0, dtype=np.float32)
    ema_trace(X, 0.02, offsets, True, out=wide[:, 5:11])  # a column block of a wider array
    np.testing.assert_allclose(wide[:, 5:11], want, atol=1e-5, rtol=0)
    assert np.all(wide[:, :5] == 7.0) and np.all(wide[:, 11:] == 7.0)


def test_ema_trace_stays_exact_on_a_long_continuous_stream_with_a_very_slow_rate():
    # float32 blocks with float64 carries: rounding must not compound from block to block
    rng = np.random.default_rng(6)
    X = rng.standard_normal((20_000, 2)) + 5.0
    offsets = np.array([0, 20_000])
    for rate in (0.02, 1e-3, 1e-4):
        got = ema_trace(X, rate, offsets, reset=False)
        np.testing.assert_allclose(got, loop_ema(X, rate, offsets, False), atol=1e-5, rtol=0)


def test_ema_trace_without_offsets_is_the_continuous_stream():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((3 * B + 7, 3))
    offsets = offsets_of([5, B, 2 * B + 2])
    np.testing.assert_allclose(ema_trace(X, 0.1), ema_trace(X, 0.1, offsets, reset=False), atol=0, rtol=0)
    np.testing.assert_allclose(ema_trace(X, 0.1), loop_ema(X, 0.1, offsets, False), atol=1e-5, rtol=0)


@pytest.mark.parametrize("reset", [True, False])
@pytest.mark.parametrize("include_current", [True, False])
def test_ema_encoder_matches_loop(reset, include_current):
    corpus = random_corpus(LENGTHS, seed=3)
    rates = (0.5, 0.1, 0.02)
    enc = EMAEncoder(rates=rates, dim=8, reset=reset, include_current=include_current, seed=4).fit(corpus)
    features = enc.encode(corpus)
    X = enc.embed(corpus).astype(np.float64)
    assert features.X.dtype == np.float32
    assert features.X.shape == (corpus.n_tokens, 8 * (len(rates) + include_current))
    np.testing.assert_array_equal(features.offsets, corpus.offsets)
    expected_blocks = (["x"] if include_current else []) + ["ema_0.5", "ema_0.1", "ema_0.02"]
    assert list(features.blocks) == expected_blocks
    if include_current:
        np.testing.assert_allclose(features.block("x"), X, atol=1e-7)
    for rate in rates:
        np.testing.assert_allclose(features.block(f"ema_{rate:g}"), loop_ema(X, rate, corpus.offsets, reset),
                                   atol=1e-5, rtol=0)
    assert features.meta["rates"] == list(rates) and features.meta["reset"] == reset


def test_ema_reset_differs_from_continuous_stream_after_the_first_sentence():
    corpus = random_corpus([3, 4], seed=5)
    with_reset = EMAEncoder(rates=(0.1,), include_current=False).fit(corpus).encode(corpus).X
    stream = EMAEncoder(rates=(0.1,), include_current=False, reset=False).fit(corpus).encode(corpus).X
    np.testing.assert_allclose(with_reset[:3], stream[:3], atol=1e-7)
    assert not np.allclose(with_reset[3:], stream[3:])


def test_ema_is_deterministic_per_seed():
    corpus = random_corpus([5, 6, 7], seed=6)
    for embedding in ("random", "hebbian"):
        a = EMAEncoder(embedding=embedding, dim=16, seed=7).fit(corpus).encode(corpus).X
        b = EMAEncoder(embedding=embedding, dim=16, seed=7).fit(corpus).encode(corpus).X
        c = EMAEncoder(embedding=embedding, dim=16, seed=8).fit(corpus).encode(corpus).X
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, c)


@pytest.mark.parametrize("embedding", ["random", "onehot", "hebbian"])
def test_unknown_test_words_map_to_the_unknown_vector(embedding):
    train = corpus_of([["a", "b", "c", "a"], ["b", "c", "a"], ["c", "a", "b"]])
    test = corpus_of([["a", "zzz", "b", "yyy"]])
    enc = EMAEncoder(embedding=embedding, dim=6, seed=1).fit(train)
    x = enc.encode(test).block("x")
    np.testing.assert_array_equal(x[1], x[3])  # two different unseen words: one vector
    assert not np.allclose(x[1], x[0]) and not np.allclose(x[1], x[2])
    assert enc.vocab_.ids(["zzz", "yyy"]).tolist() == [0, 0]
    if embedding == "onehot":
        assert x[1][0] == 1 and x[1].sum() == 1
    else:
        np.testing.assert_array_equal(x[1], enc.table_[0])
    assert enc.encode(test).meta["unknown_fraction"] == 0.5


def test_max_vocab_caps_the_vocabulary():
    # frequencies: a 4, b 3, c 2, d 1
    train = corpus_of([["a", "b", "c", "d"], ["a", "b", "c"], ["a", "b"], ["a"]])
    enc = EMAEncoder(embedding="onehot", max_vocab=2).fit(train)
    assert len(enc.vocab_) == 3  # unknown bucket + 2 types
    features = enc.encode(train)
    assert features.block("x").shape[1] == 3
    ids = features.block("x").argmax(axis=1)
    np.testing.assert_array_equal(ids[:4], [1, 2, 0, 0])  # c and d fall in the unknown bucket
    random = EMAEncoder(max_vocab=2, dim=5).fit(train).encode(train).block("x")
    np.testing.assert_array_equal(random[2], random[3])
    assert not np.allclose(random[0], random[2])


def test_lowercase_folds_case():
    train = corpus_of([["The", "cat"], ["the", "dog"]])
    enc = EMAEncoder(lowercase=True, dim=4).fit(train)
    x = enc.encode(corpus_of([["THE", "Cat"]])).block("x")
    assert len(enc.vocab_) == 4
    np.testing.assert_array_equal(x[0], enc.table_[enc.vocab_.ids(["the"])[0]])


def test_hebbian_embeddings_group_types_by_context():
    rng = np.random.default_rng(0)
    nouns = ["cat", "dog", "bird", "fish", "cow"]
    verbs = ["sees", "likes", "eats", "chases", "finds"]
    sentences = []
    for _ in range(300):
        n1, n2 = rng.choice(nouns, 2)
        det1, det2 = rng.choice(["the", "a"], 2)
        sentences.append([det1, n1, rng.choice(verbs), det2, n2])
    corpus = corpus_of(sentences)
    enc = EMAEncoder(embedding="hebbian", dim=16, seed=0).fit(corpus)
    table = enc.table_[enc.vocab_.ids(nouns + verbs)]
    unit = table / np.linalg.norm(table, axis=1, keepdims=True)
    cos = unit @ unit.T
    k = len(nouns)
    same = np.concatenate([cos[:k, :k][np.triu_indices(k, 1)], cos[k:, k:][np.triu_indices(k, 1)]])
    different = cos[:k, k:].ravel()
    assert same.min() > different.max()
    assert same.mean() > 0.8 and different.mean() < 0.3
    # types with identical contexts stay distinguishable (the random component)
    assert cos[0, 1] < 0.9999
    # the random embedding has no such structure
    rand = EMAEncoder(embedding="random", dim=16, seed=0).fit(corpus).table_[enc.vocab_.ids(nouns + verbs)]
    unit = rand / np.linalg.norm(rand, axis=1, keepdims=True)
    assert (unit @ unit.T)[:k, :k][np.triu_indices(k, 1)].mean() < 0.5


def test_hebbian_options_run_and_change_the_result():
    corpus = random_corpus([6] * 40, vocab_size=10, seed=9)
    base = EMAEncoder(embedding="hebbian", dim=8).fit(corpus).table_
    for options in ({"hebbian_iterations": 2}, {"hebbian_context": "both"}, {"hebbian_noise": 0.5}):
        table = EMAEncoder(embedding="hebbian", dim=8, **options).fit(corpus).table_
        assert table.shape == base.shape and np.all(np.isfinite(table))
        assert not np.allclose(table, base)


# -- BiGRU ------------------------------------------------------------------------------------


def two_right_is_x(corpus: Corpus) -> np.ndarray:
    """Label 1 where the word two positions to the right (same sentence) is "x"."""
    words = np.array(corpus.words())
    lengths = np.repeat(np.diff(corpus.offsets), np.diff(corpus.offsets))
    has = corpus.positions() + 2 < lengths
    target = np.where(has, np.arange(corpus.n_tokens) + 2, 0)
    return (has & (words[target] == "x")).astype(np.int64)


@pytest.fixture(scope="module")
def bigru_setup():
    rng = np.random.default_rng(0)
    corpus = corpus_of([list(rng.choice(["x", "a", "b", "c", "d"], rng.integers(4, 11))) for _ in range(500)])
    labels = two_right_is_x(corpus)
    enc = BiGRUEncoder(dim=16, hidden=32, epochs=15, seed=0, num_threads=1).fit(corpus, labels)
    return corpus, labels, enc


def test_bigru_learns_a_labelling_that_needs_right_context(bigru_setup):
    corpus, labels, enc = bigru_setup
    assert np.mean(labels) > 0.1  # not a trivial majority class
    assert np.mean(enc.predict(corpus) == labels) > 0.9
    proba = enc.predict_proba(corpus)
    assert proba.shape == (corpus.n_tokens, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(enc.classes_, [0, 1])
    assert enc.n_validation_sentences_ == 50 and enc.history_


def test_bigru_features_are_hidden_states(bigru_setup):
    corpus, _, enc = bigru_setup
    test = corpus_of([["x", "a", "zzz"], ["b"], ["c", "x", "d", "a", "b"]])
    features = enc.encode(test)
    assert features.X.shape == (test.n_tokens, 64) and features.X.dtype == np.float32
    assert features.blocks == {"bigru": (0, 64)}
    np.testing.assert_array_equal(features.offsets, test.offsets)
    # encoding a sentence alone gives the same rows as inside a batch (padding does not leak)
    alone = enc.encode(corpus_of([["c", "x", "d", "a", "b"]])).X
    np.testing.assert_allclose(features.X[4:], alone, atol=1e-5)
    # pickling keeps the trained model
    again = pickle.loads(pickle.dumps(enc)).encode(test).X
    np.testing.assert_allclose(again, features.X, atol=1e-6)


def test_bigru_is_deterministic_per_seed():
    corpus = random_corpus([5, 6, 7] * 10, vocab_size=6, seed=1)
    labels = (np.array(corpus.words()) == "w1").astype(np.int64)
    labels[::3] = -1  # ignored words
    import torch

    threads = torch.get_num_threads()
    a = BiGRUEncoder(dim=8, hidden=8, epochs=2, seed=3, num_threads=1).fit(corpus, labels).encode(corpus).X
    b = BiGRUEncoder(dim=8, hidden=8, epochs=2, seed=3, num_threads=1).fit(corpus, labels).encode(corpus).X
    np.testing.assert_array_equal(a, b)
    assert torch.get_num_threads() == threads  # the thread setting is restored


def test_bigru_needs_labels():
    corpus = random_corpus([3, 4])
    assert BiGRUEncoder.supervised
    with pytest.raises(ProbekitError, match="supervised"):
        BiGRUEncoder().fit(corpus)
    with pytest.raises(ProbekitError, match="one entry per word"):
        BiGRUEncoder().fit(corpus, np.zeros(3, dtype=np.int64))


# -- baselines --------------------------------------------------------------------------------


def test_baseline_shapes_and_blocks():
    train = corpus_of([["a", "b", "a"], ["c", "a"]])
    test = corpus_of([["a", "b", "a", "d", "a"], ["a"]])
    cases = [
        (RandomEncoder(dim=7), 7, {"random": (0, 7)}),
        (TypeEncoder(dim=5), 5, {"type": (0, 5)}),
        (TypeEncoder(embedding="onehot"), 4, {"type": (0, 4)}),
        (PositionEncoder(max_position=3), 3, {"position": (0, 3)}),
        (TypePositionEncoder(dim=5, max_position=3), 8, {"type": (0, 5), "position": (5, 8)}),
    ]
    for enc, width, blocks in cases:
        features = enc.fit(train).encode(test)
        assert features.X.shape == (test.n_tokens, width) and features.X.dtype == np.float32
        assert features.blocks == blocks
        np.testing.assert_array_equal(features.offsets, test.offsets)


def test_random_differs_across_occurrences_type_does_not():
    corpus = corpus_of([["a", "b", "a"], ["a", "c"]])
    rows_of_a = [0, 2, 3]
    r = RandomEncoder(dim=8, seed=1).fit(corpus).encode(corpus).X
    assert not np.allclose(r[0], r[2]) and not np.allclose(r[0], r[3])
    np.testing.assert_array_equal(r, RandomEncoder(dim=8, seed=1).encode(corpus).X)  # fixed per seed
    assert not np.allclose(r, RandomEncoder(dim=8, seed=2).encode(corpus).X)
    t = TypeEncoder(dim=8, seed=1).fit(corpus).encode(corpus).X
    for row in rows_of_a[1:]:
        np.testing.assert_array_equal(t[0], t[row])
    assert not np.allclose(t[0], t[1])
    # the type baseline is the EMA encoder's x block for the same seed
    x = EMAEncoder(dim=8, seed=1).fit(corpus).encode(corpus).block("x")
    np.testing.assert_array_equal(t, x)


def test_position_is_one_hot_and_clipped():
    corpus = corpus_of([["a"] * 6, ["b", "c"]])
    X = PositionEncoder(max_position=4).encode(corpus).X
    np.testing.assert_array_equal(X.argmax(axis=1), [0, 1, 2, 3, 3, 3, 0, 1])
    np.testing.assert_array_equal(X.sum(axis=1), 1)
    tp = TypePositionEncoder(embedding="onehot", max_position=4).fit(corpus).encode(corpus)
    np.testing.assert_array_equal(tp.block("position"), X)
    np.testing.assert_array_equal(tp.block("type").argmax(axis=1), [1] * 6 + [2, 3])


# -- options ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name, options, option", [
    ("ema", {"rates": (0.5, 0.0)}, "rates"),
    ("ema", {"rates": (1.5,)}, "rates"),
    ("ema", {"rates": (-0.1,)}, "rates"),
    ("ema", {"rates": ()}, "rates"),
    ("ema", {"rates": (0.5, 0.5)}, "rates"),
    ("ema", {"dim": 0}, "dim"),
    ("ema", {"max_vocab": 0}, "max_vocab"),
    ("ema", {"embedding": "glove"}, "embedding"),
    ("ema", {"hebbian_iterations": 0}, "hebbian_iterations"),
    ("ema", {"hebbian_noise": 1.5}, "hebbian_noise"),
    ("bigru", {"epochs": 0}, "epochs"),
    ("bigru", {"hidden": 0}, "hidden"),
    ("bigru", {"dropout": 1.0}, "dropout"),
    ("bigru", {"lr": 0.0}, "lr"),
    ("bigru", {"validation_fraction": 1.0}, "validation_fraction"),
    ("bigru", {"num_threads": -1}, "num_threads"),
    ("random", {"dim": -3}, "dim"),
    ("type", {"embedding": "hebbian"}, "embedding"),
    ("position", {"max_position": 0}, "max_position"),
    ("type-position", {"max_position": 0}, "max_position"),
])
def test_invalid_options_raise(name, options, option):
    with pytest.raises(ProbekitError, match=option):
        encoders.create(name, **options)


def test_options_given_as_strings_are_coerced_through_the_registry():
    enc = encoders.create("ema", rates="0.5,0.05", dim="8", reset="false")
    assert enc.rates == (0.5, 0.05) and enc.dim == 8 and enc.reset is False
    with pytest.raises(ProbekitError, match="rates"):
        encoders.create("ema", rates="0.5,2")


def test_encode_before_fit_raises():
    corpus = random_corpus([3])
    for enc in (EMAEncoder(), TypeEncoder(), BiGRUEncoder()):
        with pytest.raises(ProbekitError, match="fit"):
            enc.encode(corpus)


def test_every_encoder_is_registered_with_a_description():
    for name in ("ema", "bigru", "random", "type", "position", "type-position"):
        entry = encoders.get(name)
        assert entry.description and "\n" not in entry.description


@pytest.mark.parametrize("workers", [2, 3, 7])
@pytest.mark.parametrize("lengths", [
    boundary_lengths(2 * CHUNK + 5),                # many sentences: parts cut at sentence starts
    [3 * CHUNK + 11],                               # one long sentence: with reset, a single part
    [1] * (4 * B + 3),                              # parts shorter than the carry window
])
@pytest.mark.parametrize("reset", [True, False])
def test_ema_trace_split_between_threads_equals_the_recurrence(workers, lengths, reset):
    offsets = offsets_of(lengths)
    rng = np.random.default_rng(int(offsets[-1]) + workers)
    X = rng.standard_normal((offsets[-1], 3)) + 3.0
    for rate in (1.0, 0.5, 0.1, 0.02, 0.001):
        got = ema_trace(X, rate, offsets, reset=reset, workers=workers)
        np.testing.assert_allclose(got, loop_ema(X, rate, offsets, reset), atol=1e-5, rtol=0)


def test_ema_trace_row_parts_start_at_sentence_starts_with_reset():
    offsets = offsets_of([5, 40, 7, 100, 3, 60])
    parts = ema_module._row_parts(int(offsets[-1]), offsets, 3)
    assert parts[0][0] == 0 and parts[-1][1] == offsets[-1] and len(parts) > 1
    assert all(b == c for (_, b), (c, _) in zip(parts[:-1], parts[1:]))  # contiguous, no gaps
    assert {a for a, _ in parts} <= set(offsets[:-1].tolist())
