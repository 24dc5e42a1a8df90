"""The parsed-corpus cache: keyed by content, never stale, atomic, and equal to a fresh parse."""

from __future__ import annotations

import pytest

from probekit import parse_cache
from probekit.corpus import Sentence, read_conllu
from probekit.errors import ProbekitError

ONE = (
    "# sent_id = a1\n# text = Dogs bark.\n"
    "1\tDogs\tdog\tNOUN\tNNS\t_\t2\tnsubj\t_\t_\n"
    "2\tbark\tbark\tVERB\tVBP\t_\t0\troot\t_\t_\n"
    "3\t.\t.\tPUNCT\t.\t_\t2\tpunct\t_\t_\n\n"
)
TWO = ONE.replace("Dogs", "Cats").replace("a1", "b1") + (
    "# sent_id = b2\n1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n\n")


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("PROBEKIT_CACHE", str(root))
    return root


def entries(root):
    return sorted((root / "conllu").glob("*.npz"))


def as_tuples(corpus):
    return [(s.words, s.heads, s.deprels, s.upos, s.meta) for s in corpus]


def test_hit_equals_a_fresh_parse(tmp_path, cache_root, monkeypatch):
    path = tmp_path / "x.conllu"
    path.write_text(ONE + TWO)
    first = read_conllu(path)
    assert len(entries(cache_root)) == 1
    # a hit does not parse at all
    monkeypatch.setattr("probekit.corpus.parse_conllu", lambda *a, **k: pytest.fail("parsed on a hit"))
    again = read_conllu(path)
    assert as_tuples(again) == as_tuples(first)
    assert again.name == "x" and again.fingerprint() == first.fingerprint()


def test_an_edited_file_is_parsed_again(tmp_path, cache_root):
    path = tmp_path / "x.conllu"
    path.write_text(ONE)
    assert read_conllu(path)[0].words == ("Dogs", "bark", ".")
    path.write_text(TWO)   # same name, same size class, new content
    corpus = read_conllu(path)
    assert [s.words for s in corpus] == [("Cats", "bark", "."), ("Hi",)]
    assert corpus[1].meta == {"sent_id": "b2"}
    assert len(entries(cache_root)) == 2
    path.write_text(ONE)   # back to the first content: its entry serves it
    assert read_conllu(path)[0].words == ("Dogs", "bark", ".")


def test_a_damaged_entry_is_a_miss_and_is_rewritten(tmp_path, cache_root):
    path = tmp_path / "x.conllu"
    path.write_text(ONE)
    read_conllu(path)
    [entry] = entries(cache_root)
    entry.write_bytes(entry.read_bytes()[:50])
    assert read_conllu(path)[0].words == ("Dogs", "bark", ".")
    assert parse_cache._load(entry, Sentence) is not None   # rewritten whole
    assert not list((cache_root / "conllu").glob("*.tmp"))


def test_errors_are_not_cached(tmp_path, cache_root):
    path = tmp_path / "bad.conllu"
    path.write_text("1\ta\ta\tX\t_\t_\t2\tdep\t_\t_\n2\tb\tb\tX\t_\t_\t1\tdep\t_\t_\n\n")
    for _ in range(2):
        with pytest.raises(ProbekitError, match="not a valid tree"):
            read_conllu(path)
    assert entries(cache_root) == []
    path.write_bytes(ONE.encode() + "1\tcaf\xe9\t_\t_\t_\t_\t0\troot\t_\t_\n".encode("latin-1"))
    with pytest.raises(ProbekitError, match="not valid UTF-8"):
        read_conllu(path)


def test_ewt_dev_round_trips_through_the_cache(ewt_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("PROBEKIT_CACHE", str(tmp_path))
    path = ewt_dir / "en_ewt-ud-dev.conllu"
    fresh = read_conllu(path, cache=False)
    read_conllu(path)
    assert as_tuples(read_conllu(path)) == as_tuples(fresh)
