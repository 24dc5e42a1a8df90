"""Text for language modelling: articles of word tokens, and the seeded split by article.

Sources (``--corpus``):

* ``wikitext2`` (default): the WikiText-2 files ``valid.txt`` and ``test.txt`` (``train.txt``
  too when present) in ``$PROBEKIT_WIKITEXT`` or ``../shared/data/wikitext-2``. An article
  starts at a ``= Title =`` line (exactly one ``=`` on each side).
* ``ewt``: UD English EWT (train, dev and test files, through probekit's CoNLL-U reader); a
  document (the ``sent_id`` up to its last ``-``) is an article, a sentence is a line.
* a path: a ``.txt`` file, or a folder whose ``.txt`` files are read in name order. In a folder
  each file is an article; in a single file, ``= Title =`` lines start articles when there are
  any, otherwise blank-line-separated blocks are the articles.

Tokens are the whitespace-separated words as released, plus ``<eol>`` at the end of every
non-empty line. The split orders articles by ``sha256("<seed>:<title>")`` and cuts the order at
80% and 90%: train / validation / test, named ``<corpus>-articles-s<seed> 80/10/10``.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from probekit.errors import ProbekitError

EOL = "<eol>"
UNK = "<unk>"
SPLITS = ("train", "valid", "test")
FRACTIONS = (0.8, 0.1, 0.1)
_TITLE = re.compile(r"^ ?= [^=].* = ?$")


@dataclass(frozen=True)
class Article:
    title: str
    tokens: tuple[str, ...]


@dataclass(frozen=True)
class SplitText:
    """The three splits of one corpus and the name every perplexity is shown with."""

    name: str
    train: list[Article]
    valid: list[Article]
    test: list[Article]

    def split(self, which: str) -> list[Article]:
        if which not in SPLITS:
            raise ProbekitError(f"unknown split {which!r}; choose one of {', '.join(SPLITS)}.")
        return getattr(self, which)


def _line_tokens(lines: list[str]) -> tuple[str, ...]:
    tokens: list[str] = []
    for line in lines:
        words = line.split()
        if words:
            tokens += words
            tokens.append(EOL)
    return tuple(tokens)


def _wikitext_articles(lines: list[str], source: str) -> list[Article]:
    """Articles of WikiText-formatted lines (a ``= Title =`` line starts one)."""
    articles, title, body = [], None, []
    for line in lines:
        if _TITLE.match(line.rstrip("\n")):
            if title is not None:
                articles.append(Article(title, _line_tokens(body)))
            title, body = line.strip().strip("=").strip(), [line]
        elif title is not None:
            body.append(line)
    if title is not None:
        articles.append(Article(title, _line_tokens(body)))
    return [a for a in articles if a.tokens]


def _block_articles(text: str, source: str) -> list[Article]:
    blocks = [b for b in re.split(r"\n\s*\n", text) if b.strip()]
    return [Article(f"{source}#{i}", _line_tokens(b.splitlines())) for i, b in enumerate(blocks)]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProbekitError(f"cannot read corpus file {path} ({exc}); give a UTF-8 text file.") from None


def _file_articles(path: Path) -> list[Article]:
    text = _read(path)
    lines = text.splitlines()
    if any(_TITLE.match(line) for line in lines):
        return _wikitext_articles(lines, str(path))
    return _block_articles(text, path.name)


def wikitext_dir() -> Path:
    env = os.environ.get("PROBEKIT_WIKITEXT")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data" / "wikitext-2"


def _wikitext_files() -> list[Path]:
    folder = wikitext_dir()
    files = [folder / f"{name}.txt" for name in ("train", "valid", "test") if (folder / f"{name}.txt").is_file()]
    if not files:
        raise ProbekitError(f"WikiText-2 not found: probekit looked for valid.txt and test.txt in {folder}. "
                            f"Set PROBEKIT_WIKITEXT to a folder holding them (or the full release's "
                            f"train/valid/test.txt), or give --corpus PATH (a text file or folder).")
    return files


def _wikitext() -> list[Article]:
    return [a for f in _wikitext_files() for a in _wikitext_articles(_read(f).splitlines(), str(f))]


def _ewt_files() -> list[Path]:
    from probekit.datasets import ud_english_ewt

    return [ud_english_ewt(split, download=False) for split in ("train", "dev", "test")]


def _ewt() -> list[Article]:
    from probekit.corpus import read_conllu

    docs: dict[str, list[str]] = {}
    for split, path in zip(("train", "dev", "test"), _ewt_files()):
        for i, sentence in enumerate(read_conllu(path)):
            sent_id = sentence.meta.get("sent_id", f"{split}-{i}")
            docs.setdefault(sent_id.rsplit("-", 1)[0], []).append(" ".join(sentence.words))
    return [Article(title, _line_tokens(lines)) for title, lines in docs.items()]


def _path_files(spec: str) -> list[Path]:
    path = Path(spec)
    if path.is_dir() or path.is_file():
        return [path]
    raise ProbekitError(f"corpus {spec!r} not found: give wikitext2, ewt, a .txt file or a folder of .txt files.")


def _path_articles(spec: str) -> list[Article]:
    path = _path_files(spec)[0]
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise ProbekitError(f"corpus folder {path} holds no .txt files; put one article per .txt file there.")
        articles = [Article(f.name, _line_tokens(_read(f).splitlines())) for f in files]
        return [a for a in articles if a.tokens]
    return _file_articles(path)


_SOURCES = {"wikitext2": _wikitext, "ewt": _ewt}
_SOURCE_FILES = {"wikitext2": _wikitext_files, "ewt": _ewt_files}


def check_corpus(corpus: str = "wikitext2") -> None:
    """Raise :func:`load_articles`' error for a corpus whose files are missing, reading none of them
    (``probekit reproduce`` checks every input before it trains anything)."""
    _SOURCE_FILES.get(corpus, lambda: _path_files(corpus))()


def corpus_files(corpus: str = "wikitext2") -> list[Path]:
    """The files :func:`load_articles` reads for ``corpus`` (a folder: its ``.txt`` files in name
    order), reading none of them: what a cache of anything computed from the text is keyed by."""
    if corpus in _SOURCE_FILES:
        return _SOURCE_FILES[corpus]()
    path = _path_files(corpus)[0]
    return sorted(path.glob("*.txt")) if path.is_dir() else [path]


def load_articles(corpus: str = "wikitext2") -> list[Article]:
    """The articles of ``corpus`` (a source name or a path); errors name the input and the fix."""
    articles = _SOURCES[corpus]() if corpus in _SOURCES else _path_articles(corpus)
    if not articles:
        raise ProbekitError(f"corpus {corpus!r} has no words; give a text with at least one non-empty line.")
    return articles


def corpus_label(corpus: str) -> str:
    return corpus if corpus in _SOURCES else Path(corpus).name


def split_articles(articles: list[Article], seed: int = 0, label: str = "corpus") -> SplitText:
    """Order articles by ``sha256(f"{seed}:{title}")`` and cut at 80% and 90% (see the module doc)."""
    keys = [hashlib.sha256(f"{seed}:{a.title}".encode()).hexdigest() for a in articles]
    order = sorted(range(len(articles)), key=lambda i: (keys[i], i))
    n = len(order)
    if n < 3:
        raise ProbekitError(f"corpus {label!r} has {n} article(s); the 80/10/10 split by article needs at least 3 "
                            f"(at least one per split). Give a text with more articles (files, blank-line blocks "
                            f"or = Title = lines).")
    # at least one article in each split (small corpora), else the 80% and 90% points
    cut2 = min(n - 1, round((FRACTIONS[0] + FRACTIONS[1]) * n))
    cut1 = max(1, min(cut2 - 1, round(FRACTIONS[0] * n)))
    pick = lambda idx: [articles[i] for i in idx]  # noqa: E731
    return SplitText(f"{label}-articles-s{seed} 80/10/10", pick(order[:cut1]), pick(order[cut1:cut2]),
                     pick(order[cut2:]))


def load_split(corpus: str = "wikitext2", seed: int = 0) -> SplitText:
    return split_articles(load_articles(corpus), seed, corpus_label(corpus))
