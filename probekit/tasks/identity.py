"""Token-identity recovery: which word stood ``lag`` positions before the current one.

The target at position t is the identity of the word at t - lag, over the ``vocab_size`` most
frequent training types plus one OTHER class; positions with no word ``lag`` steps back are
left out (label -1). By default the stream runs across sentence boundaries (the encoder should
then not reset its state either: ``-E reset=false`` for ``ema``); ``within_sentence=true`` only
looks back inside the sentence.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from probekit.corpus import Corpus, Sentence, read_conllu
from probekit.errors import ProbekitError
from probekit.registry import register_task
from probekit.tasks.base import Targets, Task, TaskData
from probekit.vocab import Vocabulary


def _chain_sentence(words: list[str]) -> Sentence:
    """A sentence without a syntactic analysis: each word headed by the next (a valid tree)."""
    n = len(words)
    return Sentence(tuple(words), tuple(range(2, n + 1)) + (0,), ("dep",) * (n - 1) + ("root",))


def _random_stream(task: "IdentityTask") -> tuple[Corpus, Corpus]:
    """Uniformly random tokens: pure memory, no structure to lean on."""
    rng = np.random.default_rng(task.data_seed)
    words = task.random_words or [f"w{i}" for i in range(task.random_types)]
    types = np.array(list(dict.fromkeys(words))[:task.random_types])

    def corpus(n_sentences: int, name: str) -> Corpus:
        ids = rng.integers(0, task.random_types, size=(n_sentences, task.sentence_length))
        return Corpus([_chain_sentence(list(types[row])) for row in ids], name=name)

    return corpus(task.n_train, "random-train"), corpus(task.n_test, "random-test")


def _grammar_corpus(task: "IdentityTask") -> tuple[Corpus, Corpus]:
    from probekit.grammar import generate_corpus

    return (generate_corpus(task.grammar, task.n_train, seed=2 * task.data_seed),
            generate_corpus(task.grammar, task.n_test, seed=2 * task.data_seed + 1))


def _ud_files(task: "IdentityTask") -> tuple[Path, Path]:
    from probekit.datasets import ud_english_ewt

    return ud_english_ewt("train", task.data_dir or None), ud_english_ewt("test", task.data_dir or None)


def _ud_corpus(task: "IdentityTask") -> tuple[Corpus, Corpus]:
    train, test = _ud_files(task)
    return _read_once(train), _read_once(test)


@functools.lru_cache(maxsize=4)
def _read_treebank(path: str, size: int, mtime_ns: int) -> Corpus:
    return read_conllu(path)


def _read_once(path) -> Corpus:
    """Parse a treebank file once per process (a lag sweep loads the same 200,000 words for
    every lag: 3 s each); keyed by path, size and modification time, so an edited file is re-read."""
    stat = Path(path).stat()
    return _read_treebank(str(path), stat.st_size, stat.st_mtime_ns)


def _text_file(task: "IdentityTask") -> Path:
    path = Path(task.text_path)
    if not task.text_path or not path.is_file():
        raise ProbekitError(f"source=text needs an existing text file: -O text_path=FILE (got {task.text_path!r}).")
    return path


def _text_corpus(task: "IdentityTask") -> tuple[Corpus, Corpus]:
    """A UTF-8 text file, one sentence per non-empty line, words split on white space; the last
    ``test_fraction`` of the lines are the test set."""
    path = _text_file(task)
    try:
        lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.split()]
    except UnicodeDecodeError:
        raise ProbekitError(f"{path} is not UTF-8 text; re-encode it (e.g. iconv -t utf-8).") from None
    n_test = int(round(len(lines) * task.test_fraction))
    if n_test < 1 or n_test >= len(lines):
        raise ProbekitError(f"{path}: {len(lines)} non-empty lines cannot be split with test_fraction="
                            f"{task.test_fraction}; give more lines or another fraction.")
    sentences = [_chain_sentence(words) for words in lines]
    return Corpus(sentences[:-n_test], name=path.stem), Corpus(sentences[-n_test:], name=path.stem)


SOURCES: dict[str, Callable[["IdentityTask"], tuple[Corpus, Corpus]]] = {
    "random": _random_stream, "grammar": _grammar_corpus, "ud": _ud_corpus, "text": _text_corpus,
}

#: the files a source reads, found (or refused) without reading them; sources absent here read none
SOURCE_FILES: dict[str, Callable[["IdentityTask"], object]] = {"ud": _ud_files, "text": _text_file}


@register_task("identity")
class IdentityTask(Task):
    """Token identity k steps back: which of the N most frequent words (or OTHER) stood at t - lag."""

    default_probe = "linear"

    def __init__(self, lag: int = 1, vocab_size: int = 1000, within_sentence: bool = False,
                 source: Literal["random", "grammar", "ud", "text"] = "random", n_train: int = 2000,
                 n_test: int = 500, sentence_length: int = 20, random_types: int = 1000, grammar: str = "A",
                 text_path: str = "", test_fraction: float = 0.2, data_dir: str = "", lowercase: bool = False,
                 data_seed: int = 0, random_words: list[str] | None = None):
        if lag < 0:
            raise ProbekitError(f"lag must be 0 or more (0 = the current word), got {lag}.")
        if vocab_size < 1 or n_train < 1 or n_test < 1 or sentence_length < 1 or random_types < 1:
            raise ProbekitError("vocab_size, n_train, n_test, sentence_length and random_types must be at least 1.")
        self.lag, self.vocab_size, self.within_sentence, self.source = lag, vocab_size, within_sentence, source
        self.n_train, self.n_test, self.sentence_length, self.random_types = n_train, n_test, sentence_length, random_types
        self.grammar, self.text_path, self.test_fraction = grammar, text_path, test_fraction
        self.data_dir, self.lowercase, self.data_seed = data_dir, lowercase, data_seed
        # the random stream's word types (default w0 .. w{random_types - 1}); a word-level model needs
        # words of its own vocabulary, or it reads nothing but <unk>
        self.random_words = None if random_words is None else [str(w) for w in random_words]
        if self.random_words is not None and len(set(self.random_words)) < random_types:
            raise ProbekitError(f"random_words has {len(set(self.random_words))} distinct words, fewer than "
                                f"random_types={random_types}; give more words or lower random_types.")

    def check_resources(self) -> None:
        """The treebank (``source=ud``) or text file (``source=text``) exists, as :meth:`load` needs."""
        SOURCE_FILES.get(self.source, lambda task: ())(self)

    def load(self) -> TaskData:
        train, test = SOURCES[self.source](self)
        self.vocab_ = Vocabulary(max_size=self.vocab_size, lowercase=self.lowercase).fit(train.words())
        n_types = len(self.vocab_) - 1
        if n_types < self.vocab_size:
            raise ProbekitError(f"vocab_size={self.vocab_size} is larger than the {n_types} word types of the "
                                f"training corpus; lower it (-O vocab_size={n_types}) or use a larger corpus.")
        longest = max(len(s) for s in train) if self.within_sentence else train.n_tokens
        if longest <= self.lag:
            where = "its longest sentence" if self.within_sentence else "it"
            raise ProbekitError(f"the training corpus is too short for lag {self.lag}: {where} has {longest} words.")
        return TaskData(train, test, {"identity_types": n_types})

    def targets(self, corpus: Corpus) -> Targets:
        if not hasattr(self, "vocab_"):
            raise ProbekitError("the identity task's vocabulary is learned in load(); call load() first.")
        ids = self.vocab_.ids(corpus.words())   # 0 = OTHER (outside the N most frequent types)
        labels = np.full(corpus.n_tokens, -1, dtype=np.int64)
        labels[self.lag:] = ids[: corpus.n_tokens - self.lag]
        if self.within_sentence:
            labels[corpus.positions() < self.lag] = -1
        names = ("OTHER",) + tuple(self.vocab_.types_[1:])
        return Targets(labels, names, per_class=False)
