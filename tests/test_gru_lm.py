"""The gru-lm encoder: a label-free unidirectional GRU language model."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from probekit.corpus import Corpus, Sentence
from probekit.encoders.gru_lm import GRULanguageModelEncoder
from probekit.errors import ProbekitError
from probekit.registry import encoders


def _corpus(sentences: list[list[str]]) -> Corpus:
    return Corpus(Sentence(words=tuple(s), heads=(0,) + (1,) * (len(s) - 1),
                           deprels=("root",) + ("dep",) * (len(s) - 1)) for s in sentences)


def _counting_corpus(n: int, vocab: int, seed: int) -> Corpus:
    """Sentences 'w_k w_k+1 w_k+2 ...' (mod vocab) of 4-8 words: only the first word is random."""
    rng = np.random.default_rng(seed)
    sentences = []
    for _ in range(n):
        start, length = rng.integers(vocab), rng.integers(4, 9)
        sentences.append([f"w{(start + i) % vocab}" for i in range(length)])
    return _corpus(sentences)


def _second_order_corpus(n: int, vocab: int, seed: int) -> Corpus:
    """Next word = (previous + the one before) mod vocab: predicting it needs the previous word."""
    rng = np.random.default_rng(seed)
    sentences = []
    for _ in range(n):
        ids = list(rng.integers(vocab, size=2))
        for _ in range(rng.integers(4, 9)):
            ids.append((ids[-1] + ids[-2]) % vocab)
        sentences.append([f"w{i}" for i in ids])
    return _corpus(sentences)


SMALL = dict(dim=16, hidden=32, epochs=2, validation_fraction=0.0)


@pytest.fixture(scope="module")
def small_corpus() -> Corpus:
    return _counting_corpus(200, 12, seed=0)


@pytest.mark.parametrize("context", ["sentence", "stream"])
def test_features_are_causal(small_corpus, context):
    enc = GRULanguageModelEncoder(context=context, **SMALL).fit(small_corpus)
    base = [["w1", "w2", "w3", "w4", "w5"], ["w7", "w8", "w9"]]
    t = 2
    changed_next = [list(s) for s in base]
    changed_next[0][t + 1] = "w11"
    changed_here = [list(s) for s in base]
    changed_here[0][t] = "w11"
    X = enc.encode(_corpus(base)).X
    X_next = enc.encode(_corpus(changed_next)).X
    X_here = enc.encode(_corpus(changed_here)).X
    assert X.shape == (8, 32) and X.dtype == np.float32
    np.testing.assert_array_equal(X[:t + 1], X_next[:t + 1])  # word t+1 cannot reach positions <= t
    assert not np.allclose(X[t + 1], X_next[t + 1])
    np.testing.assert_array_equal(X[:t], X_here[:t])
    assert not np.allclose(X[t], X_here[t])  # the state after word t has read word t


def test_same_seed_same_features_other_seed_different(small_corpus):
    a = GRULanguageModelEncoder(seed=3, **SMALL).fit(small_corpus).encode(small_corpus).X
    b = GRULanguageModelEncoder(seed=3, **SMALL).fit(small_corpus).encode(small_corpus).X
    c = GRULanguageModelEncoder(seed=4, **SMALL).fit(small_corpus).encode(small_corpus).X
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("context", ["sentence", "stream"])
def test_lm_learns_deterministic_structure(context):
    corpus = _counting_corpus(600, 20, seed=1)
    enc = GRULanguageModelEncoder(dim=32, hidden=64, epochs=8, lr=1e-2, context=context, chunk_length=32,
                                  seed=0).fit(corpus)
    chance = math.log2(len(enc.vocab_) + 1)  # uniform over the vocabulary and the end class
    # only the first word (log2 20 = 4.3 bits) and the sentence end (log2 5 bits) are uncertain:
    # about (4.3 + 2.3) / 7 = 1 bit per token; a unigram model would need about 4.3
    assert enc.val_bits_ < 0.4 * chance, enc.history_
    assert enc.history_[-1]["val_bits"] < enc.history_[0]["val_bits"]
    meta = enc.encode(corpus).meta
    assert meta["val_bits_per_token"] == enc.val_bits_
    assert meta["train_perplexity"] == pytest.approx(2 ** meta["train_bits_per_token"])
    assert all(set(r) == {"epoch", "train_bits", "val_bits"} for r in enc.history_)


class _Untouchable:
    """Fails the test on any use: fit must not look at labels at all."""

    def __getattr__(self, name):
        raise AssertionError(f"fit touched the labels ({name})")

    def __array__(self, *args, **kwargs):
        raise AssertionError("fit converted the labels to an array")

    def __len__(self):
        raise AssertionError("fit took len(labels)")


def test_fit_never_touches_labels(small_corpus):
    assert GRULanguageModelEncoder.supervised is False
    plain = GRULanguageModelEncoder(**SMALL).fit(small_corpus).encode(small_corpus).X
    labels = np.random.default_rng(0).integers(0, 5, size=small_corpus.n_tokens)
    with_labels = GRULanguageModelEncoder(**SMALL).fit(small_corpus, labels).encode(small_corpus).X
    untouched = GRULanguageModelEncoder(**SMALL).fit(small_corpus, _Untouchable()).encode(small_corpus).X
    np.testing.assert_array_equal(plain, with_labels)
    np.testing.assert_array_equal(plain, untouched)


def test_trained_states_remember_the_previous_word():
    from sklearn.linear_model import LogisticRegression

    vocab = 7
    train, test = _second_order_corpus(700, vocab, seed=0), _second_order_corpus(200, vocab, seed=1)
    enc = GRULanguageModelEncoder(dim=16, hidden=64, epochs=10, lr=1e-2, seed=0).fit(train)

    def previous_word_data(corpus):
        X = enc.encode(corpus).X
        has_previous = corpus.positions() > 0
        words = np.array(corpus.words())
        rows = np.flatnonzero(has_previous)
        return X[rows], words[rows - 1]

    X_train, y_train = previous_word_data(train)
    X_test, y_test = previous_word_data(test)
    probe = LogisticRegression(max_iter=2000).fit(X_train, y_train)
    accuracy = probe.score(X_test, y_test)
    assert accuracy > 3 / vocab, accuracy  # chance is about 1/7


def test_stream_context_carries_state_across_sentences():
    corpus = _counting_corpus(200, 12, seed=0)
    first_a, first_b = ["w1", "w2", "w3"], ["w9", "w10", "w11", "w0"]
    second = ["w5", "w6"]
    for context, carries in (("stream", True), ("sentence", False)):
        enc = GRULanguageModelEncoder(context=context, **SMALL).fit(corpus)
        a = enc.encode(_corpus([first_a, second]))
        b = enc.encode(_corpus([first_b, second]))
        row_a, row_b = a.X[a.offsets[1]], b.X[b.offsets[1]]  # first word of sentence 2
        if carries:
            assert not np.allclose(row_a, row_b)
        else:
            np.testing.assert_array_equal(row_a, row_b)


def test_pickle_round_trip(small_corpus):
    enc = GRULanguageModelEncoder(**SMALL).fit(small_corpus)
    again = pickle.loads(pickle.dumps(enc))
    np.testing.assert_array_equal(enc.encode(small_corpus).X, again.encode(small_corpus).X)


def test_encode_before_fit_is_an_error(small_corpus):
    with pytest.raises(ProbekitError, match="fit"):
        GRULanguageModelEncoder().encode(small_corpus)


@pytest.mark.parametrize("options, option", [
    ({"dim": 0}, "dim"), ({"hidden": 0}, "hidden"), ({"layers": 0}, "layers"), ({"epochs": 0}, "epochs"),
    ({"batch_size": 0}, "batch_size"), ({"lr": 0.0}, "lr"), ({"dropout": 1.0}, "dropout"),
    ({"dropout": -0.1}, "dropout"), ({"context": "document"}, "context"), ({"chunk_length": 0}, "chunk_length"),
    ({"validation_fraction": 1.0}, "validation_fraction"), ({"patience": 0}, "patience"),
    ({"num_threads": -1}, "num_threads"), ({"max_vocab": 0}, "max_vocab"), ({"seed": -1}, "seed"),
])
def test_bad_options_name_the_option(options, option):
    with pytest.raises(ProbekitError, match=option):
        GRULanguageModelEncoder(**options)


def test_registry_coerces_options():
    enc = encoders.create("gru-lm", epochs="2", lr="0.01", context="stream", layers="2", lowercase="true")
    assert isinstance(enc, GRULanguageModelEncoder)
    assert enc.epochs == 2 and isinstance(enc.epochs, int)
    assert enc.lr == 0.01 and enc.context == "stream" and enc.layers == 2 and enc.lowercase is True
    with pytest.raises(ProbekitError, match="context"):
        encoders.create("gru-lm", context="document")
    with pytest.raises(ProbekitError, match="epochs"):
        encoders.create("gru-lm", epochs="two")


def test_empty_training_corpus_is_an_error():
    with pytest.raises(ProbekitError, match="no words"):
        GRULanguageModelEncoder(**SMALL).fit(Corpus([]))
