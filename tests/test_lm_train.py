"""Training, evaluation and encoding of the small language models, on a generated text."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lm_text import tiny_config, write_articles  # noqa: E402
from probekit.corpus import Corpus, Sentence  # noqa: E402
from probekit.lm.corpus import EOL, load_split, split_articles, load_articles  # noqa: E402
from probekit.lm.evaluate import bootstrap, unigram_nll, window_nll, windows  # noqa: E402
from probekit.lm.train import load_trained, new_model, prepare, train  # noqa: E402
from probekit.lm.vocab import stream  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    return write_articles(tmp_path_factory.mktemp("text"))


@pytest.fixture(scope="module")
def trained(text, tmp_path_factory):
    """One small trained model per architecture (a few seconds each)."""
    folders = {}
    for arch in ("ema", "gru", "gpt2"):
        folder = tmp_path_factory.mktemp(arch)
        train(tiny_config(text, arch), folder, progress=False)
        folders[arch] = folder
    return folders


def test_wikitext_articles_and_the_seeded_split(tmp_path):
    lines = [" = First =", "", " one two", " = = Section = =", " three", " = Second =", " four five", " = Third =",
             " six"]
    (tmp_path / "wiki.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    articles = load_articles(str(tmp_path / "wiki.txt"))
    assert [a.title for a in articles] == ["First", "Second", "Third"]
    assert articles[0].tokens == ("=", "First", "=", EOL, "one", "two", EOL, "=", "=", "Section", "=", "=", EOL,
                                  "three", EOL)
    split = split_articles(articles * 1, seed=0, label="wiki")
    assert split.name == "wiki-articles-s0 80/10/10"
    assert sorted(a.title for s in ("train", "valid", "test") for a in split.split(s)) == ["First", "Second", "Third"]


def test_split_is_seeded_disjoint_and_by_article(text):
    a, b, c = load_split(str(text), 0), load_split(str(text), 0), load_split(str(text), 1)
    titles = lambda s: [x.title for x in s.train]  # noqa: E731
    assert titles(a) == titles(b) and titles(a) != titles(c)
    seen = [x.title for s in ("train", "valid", "test") for x in a.split(s)]
    assert len(seen) == len(set(seen)) == 30 and (len(a.train), len(a.valid), len(a.test)) == (24, 3, 3)


def test_windows_predict_every_token_but_an_articles_first_once():
    offsets = np.array([0, 5, 6, 20])
    inputs, targets, article = windows(offsets, context=4)
    predicted = np.sort(targets[targets >= 0])
    assert predicted.tolist() == [1, 2, 3, 4] + list(range(7, 20))
    assert np.all(inputs[targets >= 0] == targets[targets >= 0] - 1)
    assert set(article.tolist()) == {0, 2}


def test_trained_model_beats_unigram_and_untrained_does_not(text, trained):
    config = tiny_config(text, "ema")
    data = prepare(config)
    ids, offsets = stream(data.vocab, data.split.test)
    unigram = bootstrap(*unigram_nll(data.train_ids, ids, offsets, 16, len(data.vocab)))["perplexity"]["value"]
    untrained = new_model(config, len(data.vocab), data.width).eval()
    before = bootstrap(*window_nll(untrained, ids, offsets, 16))["perplexity"]["value"]
    for arch in ("ema", "gru", "gpt2"):
        _, _, model = load_trained(trained[arch])
        after = bootstrap(*window_nll(model, ids, offsets, 16))["perplexity"]
        assert after["ci_high"] < unigram, (arch, after, unigram)
    assert before > unigram


def _weights(folder):
    return torch.load(Path(folder) / "checkpoint.pt", weights_only=True)["model"]


def test_resume_after_a_kill_gives_the_same_weights(text, trained, tmp_path):
    killed = tmp_path / "killed"
    script = (
        "import os, signal, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "import torch; torch.set_num_threads(1)\n"
        "from lm_text import tiny_config\n"
        "from probekit.lm.train import train\n"
        "def die(step): os.kill(os.getpid(), signal.SIGKILL)\n"
        "train(tiny_config(sys.argv[2], 'ema'), sys.argv[3], progress=False, on_checkpoint=die)\n")
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run([sys.executable, "-c", script, str(REPO / "tests"), str(text), str(killed)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == -9, result.stderr[-2000:]
    state = torch.load(killed / "checkpoint.pt", weights_only=True)
    assert state["step"] == 10 and not state["finished"]
    train(tiny_config(text, "ema"), killed, progress=False)
    whole, resumed = _weights(trained["ema"]), _weights(killed)
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


def test_training_and_scoring_run_on_the_configs_threads_whatever_the_callers(text, tmp_path, monkeypatch):
    """``threads`` is part of the config (it changes the weights' last bits): training uses it even in a
    process held to one thread (a ``--jobs 2`` worker), records it, and evaluation defaults to it."""
    import probekit.threads
    from probekit.lm.evaluate import evaluate
    from probekit.lm.train import TrainConfig, read_meta

    assert TrainConfig(arch="ema", threads=1).key() != TrainConfig(arch="ema", threads=2).key()
    seen = []
    torch.set_num_threads(1)
    config = tiny_config(text, "ema", steps=2, eval_every=2, checkpoint_every=2, threads=2)
    train(config, tmp_path / "m", progress=False, on_checkpoint=lambda step: seen.append(torch.get_num_threads()))
    assert seen == [2] and torch.get_num_threads() == 1 and read_meta(tmp_path / "m")["train"]["threads"] == 2
    real, used = probekit.threads.torch_threads, []
    monkeypatch.setattr(probekit.threads, "torch_threads", lambda n: used.append(n) or real(n))
    evaluate(tmp_path / "m", n_boot=100)
    evaluate(tmp_path / "m", n_boot=100, threads=1)
    assert used == [2, 1]


def test_gpt2_folder_reads_through_the_hf_encoder(text, trained):
    from probekit.encoders.hf import HFCausalLMEncoder

    meta, vocab, model = load_trained(trained["gpt2"])
    words = [["the", "red", "cat", "sees", "a", "zebra", "."], ["a", "dog", "."]]
    corpus = Corpus([Sentence(tuple(w), tuple(range(2, len(w) + 1)) + (0,), ("dep",) * len(w)) for w in words])
    features = HFCausalLMEncoder(model=str(trained["gpt2"] / "hf"), context="sentence", device="cpu").encode(corpus)
    assert features.X.shape == (corpus.n_tokens, meta["width"])
    ids = torch.from_numpy(np.concatenate([[1], vocab.ids(words[0])]))[None]   # <eol> first; zebra -> <unk>
    assert vocab.ids(["zebra"])[0] == 0
    with torch.no_grad():
        hidden = model.hf(input_ids=ids, output_hidden_states=True).hidden_states[-1][0, 1:].numpy()
    assert np.allclose(features.X[:7], hidden, atol=1e-4)


@pytest.mark.parametrize("arch", ["ema", "gru", "gpt2"])
def test_lm_encoder_gives_features_for_every_word(arch, trained):
    from probekit.encoders.lm import LMEncoder

    words = [["the", "big", "dog", "likes", "a", "fish", "."]] * 3 + [["unseen", "words"]]
    corpus = Corpus([Sentence(tuple(w), tuple(range(2, len(w) + 1)) + (0,), ("dep",) * len(w)) for w in words])
    stream = LMEncoder(checkpoint=str(trained[arch])).fit(corpus).encode(corpus)
    alone = LMEncoder(checkpoint=str(trained[arch]), context="sentence").fit(corpus).encode(corpus)
    assert stream.X.shape[0] == alone.X.shape[0] == corpus.n_tokens
    assert np.all(np.isfinite(stream.X)) and np.all(np.abs(stream.X).sum(1) > 0)
    # the same sentence reads the same alone; in the stream, what came before changes it
    assert np.allclose(alone.X[0:7], alone.X[7:14], atol=1e-5)
    assert not np.allclose(stream.X[0:7], stream.X[7:14], atol=1e-3)
    if arch == "ema":
        from probekit.encoders.ema import ema_trace

        x = stream.block("x")
        start = LMEncoder(checkpoint=str(trained[arch])).fit(corpus).model_.embedding.weight[1].detach().numpy()
        full = ema_trace(np.vstack([start, x]).astype(np.float64), 0.1, out=np.empty((len(x) + 1, x.shape[1])))
        assert np.allclose(stream.block("ema_0.1"), full[1:], atol=1e-5)


def test_a_plain_file_without_titles_splits_into_blank_line_blocks(tmp_path):
    (tmp_path / "notes.txt").write_text("one two\nthree\n\nfour\n\n\nfive six\n", encoding="utf-8")
    articles = load_articles(str(tmp_path / "notes.txt"))
    assert [a.tokens for a in articles] == [("one", "two", EOL, "three", EOL), ("four", EOL), ("five", "six", EOL)]
