"""The Hugging Face causal-LM encoder (hf / gpt2) on a tiny randomly initialised GPT-2.

The model is built once per session, saved with the GPT-2 tokenizer from
../shared/models/gpt2-tokenizer, and loaded through the same path a user gives
(``HFCausalLMEncoder(model=str(folder))``). References are computed directly with the
model on the same token ids.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from probekit.cache import FeatureCache, cached_encode  # noqa: E402
from probekit.corpus import Corpus, Sentence  # noqa: E402
from probekit.encoders.hf import (  # noqa: E402
    GPT2Encoder,
    HFCausalLMEncoder,
    align_words,
    split_layers,
    window_plan,
)
from probekit.errors import ProbekitError  # noqa: E402
from probekit.features import Features  # noqa: E402
from probekit import registry  # noqa: E402

from conftest import REPO, TINY_GPT2_CONTEXT as CONTEXT, TOKENIZER_DIR  # noqa: E402

BOS = 50256


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """The tiny model needs no thread pool; on a shared 2-core machine spinning threads make
    these tests several times slower. Restored after the module."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def direct_model(tiny_gpt2):
    """The same weights loaded independently of probekit, for reference hidden states."""
    from transformers import GPT2Model

    return GPT2Model.from_pretrained(str(tiny_gpt2)).eval()


@pytest.fixture(scope="session")
def tokenizer(tiny_gpt2):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_gpt2))


def hidden(model, ids) -> tuple:
    """All hidden states of one id sequence (tuple over layers of (T, d) arrays)."""
    return hidden_batch(model, [ids])[0]


def hidden_batch(model, id_lists) -> list[tuple]:
    """``hidden`` of several sequences in one right-padded forward pass."""
    width = max(len(ids) for ids in id_lists)
    input_ids = torch.zeros((len(id_lists), width), dtype=torch.long)
    mask = torch.zeros((len(id_lists), width), dtype=torch.long)
    for i, ids in enumerate(id_lists):
        input_ids[i, :len(ids)] = torch.tensor(list(ids))
        mask[i, :len(ids)] = 1
    with torch.inference_mode():
        out = model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
    return [tuple(h[i, :len(ids)].numpy() for h in out.hidden_states) for i, ids in enumerate(id_lists)]


HARD_WORDS = ("n't", "'s", "U.S.", '"', "’s", "“", "Déjà", "£", "♥", "(", "--", "...", "ca", "wo")


@pytest.fixture(scope="session")
def hard_corpus(ewt_dev, tokenizer) -> Corpus:
    """EWT dev sentences with contractions, multiword tokens, quotes and non-ASCII words
    that fit in one window of the tiny model (so references need no windows)."""
    chosen, seen = [], set()
    for sentence in ewt_dev:
        hard = set(sentence.words) & set(HARD_WORDS)
        if len(sentence) > 40 or not (hard - seen or len(chosen) < 40):
            continue
        n_tokens = len(tokenizer(" " + " ".join(sentence.words))["input_ids"]) + 1
        if n_tokens <= CONTEXT:
            chosen.append(sentence)
            seen |= hard
        if len(chosen) >= 80 and seen >= set(HARD_WORDS):
            break
    assert seen >= set(HARD_WORDS) - {"wo"}, f"EWT dev lacks {set(HARD_WORDS) - seen}"
    return Corpus(chosen, name="ewt-dev-hard")


# -- alignment ------------------------------------------------------------------------------------


def test_every_word_span_decodes_to_the_word(hard_corpus, tokenizer):
    aligned = align_words(tokenizer, [s.words for s in hard_corpus], prefix_space=True)
    assert len(aligned) == len(hard_corpus)
    n_checked = 0
    for sentence, (ids, token_word) in zip(hard_corpus, aligned):
        assert len(ids) == len(token_word)
        assert set(token_word.tolist()) == set(range(len(sentence)))  # every word, no stray token
        assert np.all(np.diff(token_word) >= 0)  # tokens in word order
        for j, word in enumerate(sentence.words):
            span = np.flatnonzero(token_word == j)
            assert np.all(np.diff(span) == 1), f"subwords of {word!r} are not contiguous"
            assert tokenizer.decode(ids[span].tolist()) == " " + word  # GPT-2: the leading space is in the token
            n_checked += 1
    assert n_checked == hard_corpus.n_tokens


def test_mid_sentence_words_carry_their_leading_space(tokenizer):
    (ids, token_word), = align_words(tokenizer, [("The", "dog", "does", "n't", "bark")], prefix_space=True)
    tokens = tokenizer.convert_ids_to_tokens(ids.tolist())
    assert tokens[:2] == ["ĠThe", "Ġdog"]  # first word tokenised like any other (prefix space)
    assert token_word.tolist() == [0, 1, 2, 3, 3, 4]  # "Ġn" "'t" both belong to n't
    (ids, _), = align_words(tokenizer, [("The", "dog")], prefix_space=False)
    assert tokenizer.convert_ids_to_tokens(ids.tolist())[0] == "The"


def _direct_word_vectors(model, tokenizer, corpus, pooling):
    """Reference: BOS + ids through the model, per-word pooling written out by hand."""
    rows = []
    aligned = align_words(tokenizer, [s.words for s in corpus], True)
    direct = hidden_batch(model, [[BOS] + ids.tolist() for ids, _ in aligned])
    for (ids, token_word), sentence, layers in zip(aligned, corpus, direct):
        states = np.concatenate(layers, axis=1)[1:]  # drop BOS, layers side by side
        for j in range(len(sentence)):
            span = np.flatnonzero(token_word == j)
            pick = {"first": states[span[0]], "last": states[span[-1]], "mean": states[span].mean(axis=0)}
            rows.append(pick[pooling])
    return np.stack(rows)


@pytest.fixture(scope="session")
def hard_features(tiny_gpt2, hard_corpus) -> dict:
    """All-layer features of the hard corpus per pooling (odd batch size: mixed padding)."""
    return {pooling: HFCausalLMEncoder(model=str(tiny_gpt2), all_layers=True, pooling=pooling,
                                       batch_size=7).encode(hard_corpus)
            for pooling in ("first", "last", "mean")}


@pytest.mark.parametrize("pooling", ["first", "last", "mean"])
def test_pooling_picks_the_right_rows(direct_model, tokenizer, hard_corpus, hard_features, pooling):
    features = hard_features[pooling]
    assert features.X.shape == (hard_corpus.n_tokens, 3 * 64)
    assert np.array_equal(features.offsets, hard_corpus.offsets)
    assert list(features.blocks) == ["layer_0", "layer_1", "layer_2"]
    assert features.meta["n_windows"] == len(hard_corpus)  # every sentence fits one window
    expected = _direct_word_vectors(direct_model, tokenizer, hard_corpus, pooling)
    np.testing.assert_allclose(features.X, expected, atol=2e-5, rtol=1e-4)


def test_pooling_choices_differ_on_multi_subword_words(hard_features):
    first, last = hard_features["first"].block("layer_2"), hard_features["last"].block("layer_2")
    multi = ~np.all(np.isclose(first, last), axis=1)
    assert 0 < multi.sum() < len(multi)  # only words with several subwords differ


def test_layer_selection_and_split(tiny_gpt2, hard_corpus, hard_features):
    small = hard_corpus[:5]
    parts = split_layers(Features(hard_features["last"].X[:small.n_tokens], small.offsets,
                                  hard_features["last"].blocks, hard_features["last"].meta,
                                  hard_features["last"].layer_blocks))
    assert sorted(parts) == [0, 1, 2]
    for layer, given in ((0, 0), (1, -2)):
        single = HFCausalLMEncoder(model=str(tiny_gpt2), layer=given).encode(small)
        assert list(single.blocks) == [f"layer_{layer}"] and single.meta["layers"] == [layer]
        np.testing.assert_allclose(single.X, parts[layer].X, atol=1e-5)
    for given, layer in ((None, 2), (-1, 2), (-3, 0), (2, 2)):  # None = last; negative from the end
        assert HFCausalLMEncoder(model=str(tiny_gpt2), layer=given).cache_key_parts(small)["layers"] == [layer]
    some = registry.encoders.create("hf", model=str(tiny_gpt2), layers="-1,0").encode(small)  # a chosen few
    assert list(some.blocks) == ["layer_0", "layer_2"]
    np.testing.assert_allclose(some.X, np.hstack([parts[0].X, parts[2].X]), atol=1e-5)
    with pytest.raises(ProbekitError, match="only one of"):
        HFCausalLMEncoder(model=str(tiny_gpt2), layer=1, all_layers=True)


def test_empty_corpus_and_empty_sentence(tiny_gpt2):
    encoder = HFCausalLMEncoder(model=str(tiny_gpt2), all_layers=True)
    empty = encoder.encode(Corpus([], name="empty"))
    assert empty.X.shape == (0, 3 * 64) and empty.offsets.tolist() == [0]
    corpus = Corpus([Sentence((), (), ()), Sentence(("Hi", "there"), (0, 1), ("root", "dep"))], name="gap")
    features = encoder.encode(corpus)
    assert features.X.shape == (2, 3 * 64) and features.offsets.tolist() == [0, 0, 2]
    assert np.all(np.abs(features.X).sum(axis=1) > 0)


def test_gpt2_is_hf_with_a_default_model(tiny_gpt2, hard_corpus):
    assert registry.encoders.parameters("gpt2")["model"].default == "gpt2"
    assert set(registry.encoders.parameters("gpt2")) == set(registry.encoders.parameters("hf"))
    encoder = registry.encoders.create("gpt2", model=str(tiny_gpt2), all_layers="true", batch_size="4")
    assert isinstance(encoder, GPT2Encoder) and encoder.all_layers is True and encoder.batch_size == 4
    small = hard_corpus[:4]
    np.testing.assert_array_equal(encoder.encode(small).X,
                                  HFCausalLMEncoder(model=str(tiny_gpt2), all_layers=True).encode(small).X)
    assert GPT2Encoder().model == "gpt2"


# -- the check that alignment is right: identity is recoverable from layer 0 ------------------------


def test_identity_probe_fails_when_rows_are_off_by_one_token(tiny_gpt2, direct_model, tokenizer, ewt_dev):
    """Layer 0 (token + position embedding) gives each word's identity away to a linear probe,
    but only if the word reads its own row: one token off, the probe is at chance.

    The probe is linear discriminant analysis: linear decision boundaries like a logistic
    regression, fitted in closed form (seconds, also on a busy 2-core machine), and the
    right model here: each class is one token embedding plus position noise shared by all."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.metrics import f1_score

    short = [s for s in ewt_dev.sentences[:1000] if len(s) <= 40]
    aligned = align_words(tokenizer, [s.words for s in short], True)
    keep = [i for i, (ids, _) in enumerate(aligned) if len(ids) < CONTEXT]  # one window each
    corpus = Corpus([short[i] for i in keep], name="ewt-dev-short")
    aligned = [aligned[i] for i in keep]
    aligned_X = HFCausalLMEncoder(model=str(tiny_gpt2), layer=0, pooling="last").encode(corpus).X

    # the same hidden states, each word reading the row one token before its own
    shifted = []
    direct = hidden_batch(direct_model, [[BOS] + ids.tolist() for ids, _ in aligned])
    for (ids, token_word), sentence, layers in zip(aligned, corpus, direct):
        states = layers[0]  # layer 0; row t + 1 = token t
        last = np.array([np.flatnonzero(token_word == j)[-1] for j in range(len(sentence))])
        np.testing.assert_allclose(states[last + 1], aligned_X[len(shifted):len(shifted) + len(sentence)],
                                   atol=2e-5)
        shifted.extend(states[last])  # off by one: the token before the word's last subword
    shifted_X = np.stack(shifted)

    words = corpus.words()
    top = [w for w, _ in Counter(words).most_common(50)]
    label_of = {w: i for i, w in enumerate(top)}
    y = np.array([label_of.get(w, len(top)) for w in words])  # OTHER = 50
    split = corpus.offsets[int(len(corpus) * 0.7)]  # train on the first 70% of sentences
    y_test = y[split:]
    frequent = y_test < len(top)
    majority = np.mean(y_test == np.bincount(y[:split]).argmax())  # OTHER: ~60% of words

    def score(X):
        predicted = LinearDiscriminantAnalysis().fit(X[:split], y[:split]).predict(X[split:])
        correct = predicted == y_test
        return correct.mean(), correct[frequent].mean(), f1_score(y_test, predicted, average="macro")

    accuracy, frequent_accuracy, macro_f1 = score(aligned_X)
    assert accuracy > 0.95 and frequent_accuracy > 0.95 and macro_f1 > 0.95, (accuracy, frequent_accuracy, macro_f1)
    # misaligned: overall accuracy is the OTHER majority at best, so score the top-50 words and macro-F1
    accuracy, frequent_accuracy, macro_f1 = score(shifted_X)
    assert frequent_accuracy < 0.5 and macro_f1 < 0.5, (accuracy, frequent_accuracy, macro_f1)
    assert accuracy < majority + 0.05, (accuracy, majority)


# -- windows --------------------------------------------------------------------------------------


def test_window_plan_partitions_and_gives_left_context():
    for length in (1, 16, 17, 50, 61, 200):
        plan = window_plan(length, 16, 8)
        owned = np.concatenate([np.arange(a, b) for _, _, a, b in plan])
        assert np.array_equal(owned, np.arange(length))
        for k, (start, stop, own_start, own_stop) in enumerate(plan):
            assert stop - start <= 16 and start <= own_start < own_stop <= stop
            assert k == 0 or own_start - start == 8  # a token is never among a later window's first 8
    assert window_plan(5, 16, 0) == [(0, 5, 0, 5)]


@pytest.fixture(scope="session")
def long_sentence(ewt_dev) -> Corpus:
    words = [w for s in ewt_dev.sentences[:20] for w in s.words][:50]
    return Corpus([Sentence(tuple(words), tuple(range(0, 50)), ("dep",) * 50)], name="long")


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_long_sentence_uses_the_window_with_left_context(tiny_gpt2, direct_model, tokenizer, long_sentence,
                                                         pooling):
    W, S = 16, 8
    features = HFCausalLMEncoder(model=str(tiny_gpt2), layer=-1, pooling=pooling, max_length=W,
                                 stride=S).encode(long_sentence)
    (ids, token_word), = align_words(tokenizer, [long_sentence[0].words], True)
    sequence = [BOS] + ids.tolist()
    token_word = np.r_[-1, token_word]
    assert len(sequence) > 3 * W and features.meta["n_windows"] == len(window_plan(len(sequence), W, S))

    def owner(p):  # the window start that gives token p the most left context
        return 0 if p < W else S * ((p - W) // S + 1)

    starts = range(0, len(sequence), S)
    windows = dict(zip(starts, hidden_batch(direct_model, [sequence[a:a + W] for a in starts])))
    alone = hidden_batch(direct_model, [[token] for token in sequence])  # no left context at all

    def state(p, start):
        return windows[start][-1][p - start]

    expected, no_context, least_context = [], [], []
    for j in range(50):
        span = np.flatnonzero(token_word == j)
        span = span[-1:] if pooling == "last" else span
        assert all(p - owner(p) >= S for p in span if owner(p) > 0)
        expected.append(np.mean([state(p, owner(p)) for p in span], axis=0))
        no_context.append(np.mean([alone[p][-1][0] for p in span], axis=0))
        latest = [max(0, min(p, len(sequence) - 1) // S * S) for p in span]  # the last window holding p
        least_context.append(np.mean([state(p, s) for p, s in zip(span, latest)], axis=0))
    np.testing.assert_allclose(features.X, np.stack(expected), atol=2e-5, rtol=1e-4)
    late = slice(20, 50)  # words past the first window
    differs = ~np.all(np.isclose(features.X, np.stack(no_context), atol=1e-4), axis=1)
    assert differs[late].all()
    differs = ~np.all(np.isclose(features.X, np.stack(least_context), atol=1e-4), axis=1)
    assert differs[late].mean() > 0.5


def test_stream_context_reads_sentences_as_one_text(tiny_gpt2, direct_model, tokenizer, hard_corpus):
    corpus = hard_corpus[:3]
    features = HFCausalLMEncoder(model=str(tiny_gpt2), layer=-1, context="stream", max_length=CONTEXT,
                                 stride=32).encode(corpus)
    alone = HFCausalLMEncoder(model=str(tiny_gpt2), layer=-1).encode(corpus)
    n0 = len(corpus[0])
    np.testing.assert_allclose(features.X[:n0], alone.X[:n0], atol=2e-5)  # first sentence: same context
    assert not np.allclose(features.X[n0:], alone.X[n0:], atol=1e-4)  # later ones see earlier sentences
    assert features.meta["n_sequences"] == 1


# -- the cache ------------------------------------------------------------------------------------


def test_cached_encode_hits_without_loading_the_model(tiny_gpt2, hard_corpus, tmp_path, monkeypatch):
    cache = FeatureCache(tmp_path / "cache")
    corpus = hard_corpus[:10]
    first = cached_encode(HFCausalLMEncoder(model=str(tiny_gpt2), layer=1), corpus, cache)
    assert len(cache.entries()) == 1 and cache.entries()[0]["size"] > 0

    again = HFCausalLMEncoder(model=str(tiny_gpt2), layer=1, batch_size=3)  # batch size is not in the key
    calls = []
    monkeypatch.setattr(again, "encode", lambda c: calls.append(c))
    second = cached_encode(again, corpus, cache)
    assert calls == [] and again.model_ is None  # a hit neither encodes nor loads the model
    np.testing.assert_array_equal(first.X, second.X)
    np.testing.assert_array_equal(first.offsets, second.offsets)
    assert first.blocks == second.blocks and first.meta == second.meta


def test_any_change_is_a_different_key(tiny_gpt2, hard_corpus, tmp_path):
    from transformers import GPT2LMHeadModel

    def key(folder=tiny_gpt2, corpus=hard_corpus[:10], **options):
        return FeatureCache(tmp_path).key(HFCausalLMEncoder(model=str(folder), **options).cache_key_parts(corpus))

    base = key(layer=1)
    assert key(layer=1) == base and key(layer=-2) == base and key(layers=(1,)) == base  # -2 is layer 1 of 2
    changed = {
        "layer": key(layer=2), "all_layers": key(all_layers=True), "pooling": key(layer=1, pooling="mean"),
        "corpus": key(layer=1, corpus=hard_corpus[:11]), "window": key(layer=1, max_length=32),
        "stride": key(layer=1, stride=4), "dtype": key(layer=1, dtype="bfloat16"),
        "bos": key(layer=1, add_bos=False),
    }
    assert len({base, *changed.values()}) == len(changed) + 1, changed

    # same folder, one weight perturbed and re-saved
    copy = tmp_path / "perturbed"
    model = GPT2LMHeadModel.from_pretrained(str(tiny_gpt2))
    model.save_pretrained(copy)
    import shutil
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_gpt2 / name, copy / name)
    before = key(folder=copy, layer=1)
    with torch.no_grad():
        model.transformer.h[0].mlp.c_fc.weight[0, 0] += 1e-3
    model.save_pretrained(copy)
    assert key(folder=copy, layer=1) != before


# -- inputs a user can get wrong --------------------------------------------------------------------


def test_missing_folder_is_a_probekit_error(hard_corpus):
    encoder = HFCausalLMEncoder(model="/no/such/folder/gpt2")
    with pytest.raises(ProbekitError, match="does not exist"):
        encoder.encode(hard_corpus[:1])
    with pytest.raises(ProbekitError, match="does not exist"):
        encoder.cache_key_parts(hard_corpus[:1])


def test_hub_name_offline_says_to_pass_a_local_folder(hard_corpus, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ProbekitError, match="local folder"):
        HFCausalLMEncoder(model="probekit-tests/no-such-model").encode(hard_corpus[:1])


def test_bidirectional_model_is_rejected(tmp_path, hard_corpus):
    from transformers import BertConfig, BertModel

    folder = tmp_path / "bert"
    BertModel(BertConfig(vocab_size=50257, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(folder)  # no tokenizer: the model fails first
    with pytest.raises(ProbekitError, match="not a causal language model"):
        HFCausalLMEncoder(model=str(folder)).encode(hard_corpus[:1])


@pytest.mark.parametrize("layer", [3, -4, 100])
def test_layer_out_of_range_names_the_valid_range(tiny_gpt2, hard_corpus, layer):
    with pytest.raises(ProbekitError, match=r"0\.\.2 .*-3\.\.-1"):
        HFCausalLMEncoder(model=str(tiny_gpt2), layer=layer).encode(hard_corpus[:1])
    with pytest.raises(ProbekitError, match=r"'layers' .* 0\.\.2"):
        HFCausalLMEncoder(model=str(tiny_gpt2), layers=(0, layer)).encode(hard_corpus[:1])


def test_slow_tokenizer_is_rejected(tmp_path, tiny_gpt2, hard_corpus):
    clvp = pytest.importorskip("transformers.models.clvp")
    folder = tmp_path / "slow"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        (folder / name).write_bytes((tiny_gpt2 / name).read_bytes())
    slow = clvp.ClvpTokenizer(vocab_file=str(TOKENIZER_DIR / "vocab.json"),
                              merges_file=str(TOKENIZER_DIR / "merges.txt"))
    assert not slow.is_fast
    slow.save_pretrained(folder)
    with pytest.raises(ProbekitError, match="fast tokenizer"):
        HFCausalLMEncoder(model=str(folder)).encode(hard_corpus[:1])


def test_bad_options_fail_at_construction():
    with pytest.raises(ProbekitError, match="pooling"):
        HFCausalLMEncoder(model="gpt2", pooling="max")
    with pytest.raises(ProbekitError, match="stride"):
        HFCausalLMEncoder(model="gpt2", max_length=16, stride=16)
    with pytest.raises(ProbekitError, match="dtype"):
        registry.encoders.create("hf", model="gpt2", dtype="float64")
    with pytest.raises(ProbekitError, match="model"):
        HFCausalLMEncoder()


def test_window_longer_than_the_model_context_is_rejected(tiny_gpt2, hard_corpus):
    with pytest.raises(ProbekitError, match="max_length"):
        HFCausalLMEncoder(model=str(tiny_gpt2), max_length=CONTEXT + 1).encode(hard_corpus[:1])


def test_importing_probekit_does_not_import_transformers():
    code = "import sys, probekit, probekit.encoders.hf, probekit.cache; print('transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_cache_reference_names_the_same_model_on_every_machine(tiny_gpt2, hard_corpus, tmp_path, monkeypatch):
    """``-E model=cache:models/x`` loads <cache root>/models/x: the option (so a record's id) does not
    depend on where the cache lies, and the features equal those of the absolute path."""
    import shutil

    from probekit.cache import cache_ref

    monkeypatch.setenv("PROBEKIT_CACHE", str(tmp_path / "cache"))
    shutil.copytree(tiny_gpt2, tmp_path / "cache" / "models" / "tiny")
    reference = cache_ref(tmp_path / "cache" / "models" / "tiny")
    assert reference == "cache:models/tiny"
    small = Corpus(hard_corpus.sentences[:3])
    by_reference = HFCausalLMEncoder(model=reference, layer=1).encode(small).X
    np.testing.assert_array_equal(by_reference, HFCausalLMEncoder(model=str(tiny_gpt2), layer=1).encode(small).X)
    monkeypatch.setenv("PROBEKIT_CACHE", str(tmp_path / "elsewhere"))
    with pytest.raises(ProbekitError, match="does not exist"):
        HFCausalLMEncoder(model=reference, layer=1).encode(small)


# -- the batched path against one forward pass per sentence; float16 storage -----------------------


@pytest.mark.parametrize("pooling", ["first", "last", "mean"])
def test_batched_encode_equals_one_forward_pass_per_sentence(tiny_gpt2, direct_model, tokenizer, hard_corpus,
                                                             pooling):
    """The device-side pooling of mixed-length batches (padding, index arithmetic, ``index_add_``)
    against an independent computation: each sentence alone through the model, no padding,
    subwords found by decoding, pooled by hand."""
    corpus = hard_corpus[:24]
    features = HFCausalLMEncoder(model=str(tiny_gpt2), layers=(0, 2), pooling=pooling, batch_size=5).encode(corpus)
    expected = []
    for sentence in corpus:
        ids = tokenizer(" " + " ".join(sentence.words), add_special_tokens=False)["input_ids"]
        states = hidden(direct_model, [BOS] + ids)
        states = np.concatenate([states[0], states[2]], axis=1)[1:]
        t = 0
        for word in sentence.words:  # consume tokens until they decode to " " + word
            span = [t]
            while tokenizer.decode(ids[span[0]:span[-1] + 1]) != " " + word:
                assert span[-1] + 1 < len(ids), f"no tokens decode to {word!r}"
                span.append(span[-1] + 1)
            t = span[-1] + 1
            pick = {"first": states[span[0]], "last": states[span[-1]], "mean": states[span].mean(axis=0)}
            expected.append(pick[pooling])
    np.testing.assert_allclose(features.X, np.stack(expected), atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_float16_storage_halves_the_cache_entry_and_hits_equal_misses(tiny_gpt2, hard_corpus, tmp_path, pooling):
    corpus = hard_corpus[:12]
    full = HFCausalLMEncoder(model=str(tiny_gpt2), all_layers=True, pooling=pooling)
    half = HFCausalLMEncoder(model=str(tiny_gpt2), all_layers=True, pooling=pooling, storage="float16")
    cache = FeatureCache(tmp_path / "cache")
    a, b = cached_encode(full, corpus, cache), cached_encode(half, corpus, cache)
    assert half.cache_key_parts(corpus) != full.cache_key_parts(corpus)  # a different entry
    assert b.X.dtype == np.float32 and b.meta["storage_dtype"] == "float16"
    np.testing.assert_array_equal(b.X, a.X.astype(np.float16).astype(np.float32))  # rounded, nothing else
    assert np.abs(b.X - a.X).max() <= np.abs(a.X).max() * 2.0 ** -11
    sizes = {}
    for encoder, first in ((full, a), (half, b)):
        folder = cache.path(cache.key(encoder.cache_key_parts(corpus)))
        sizes[encoder.storage] = (folder / "X.npy").stat().st_size
        assert np.load(folder / "X.npy").dtype == np.dtype(encoder.storage)
        hit = cached_encode(encoder, corpus, cache)
        assert hit.X.dtype == np.float32 and np.array_equal(hit.X, first.X)
    assert cache.hits == 2 and cache.misses == 2
    header = 128  # np.save's header
    assert sizes["float16"] - header == (sizes["float32"] - header) // 2


def test_float16_storage_is_float32_in_the_cache_when_values_are_not_half_numbers(tmp_path):
    """The cache writes half precision only when it loses nothing (a hit must equal the miss)."""
    X = np.array([[1.0, 0.1], [2.0, 3.0]], dtype=np.float32)  # 0.1 is not a float16 number
    features = Features(X=X, offsets=np.array([0, 2]), meta={"storage_dtype": "float16"})
    cache = FeatureCache(tmp_path)
    key = "a" * 64
    cache.put(key, features, {})
    assert np.load(cache.path(key) / "X.npy").dtype == np.float32
    assert np.array_equal(cache.get(key).X, X)


def test_batch_size_defaults_to_the_device(tiny_gpt2):
    """No batch_size: 16 windows per pass on the CPU, 256 on a GPU (where 16 left float16 slower than
    float32); a given batch_size is kept; the features do not depend on it."""
    from probekit.encoders.hf import default_batch_size

    assert default_batch_size("cpu") == 16 and default_batch_size("cuda") == 256 and default_batch_size("cuda:1") == 256
    assert HFCausalLMEncoder(model=str(tiny_gpt2)).batch_size is None
    with pytest.raises(ProbekitError, match="batch_size"):
        HFCausalLMEncoder(model=str(tiny_gpt2), batch_size=0)
