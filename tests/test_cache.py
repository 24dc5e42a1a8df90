"""The content-addressed feature cache, with a cheap counting encoder (no transformers needed).

The Hugging Face encoder's own key (layer, pooling, corpus, weights ...) is tested in test_hf.py.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from probekit import cache as cache_module
from probekit.cache import FeatureCache, cache_info, cached_encode, clear_cache, human_size
from probekit.corpus import Corpus, Sentence
from probekit.encoders.base import Encoder
from probekit.errors import ProbekitError
from probekit.features import Features


class CountingEncoder(Encoder):
    """Deterministic features from word lengths; counts its encode calls."""

    name = "counting"

    def __init__(self, scale: float = 1.0, cacheable: bool = True):
        self.scale = scale
        self.cacheable = cacheable
        self.calls = 0

    def encode(self, corpus: Corpus) -> Features:
        self.calls += 1
        lengths = np.array([len(w) for w in corpus.words()], dtype=np.float32)
        X = self.scale * np.stack([lengths, lengths ** 2, -lengths], axis=1)
        return Features(X=X, offsets=corpus.offsets, blocks={"a": (0, 1), "b": (1, 3)},
                        meta={"encoder": "counting", "scale": self.scale, "nested": {"k": [1, 2]}})

    def cache_key_parts(self, corpus: Corpus) -> dict | None:
        if not self.cacheable:
            return None
        return {"encoder": "counting", "scale": self.scale, "corpus": corpus.fingerprint()}


def make_corpus(*sentences: str) -> Corpus:
    out = []
    for text in sentences:
        words = tuple(text.split())
        out.append(Sentence(words, tuple(range(len(words))), ("dep",) * len(words)))
    return Corpus(out, name="toy")


@pytest.fixture
def corpus() -> Corpus:
    return make_corpus("the dog barks", "a cat sleeps on the mat")


@pytest.fixture
def cache(tmp_path) -> FeatureCache:
    return FeatureCache(tmp_path / "cache")


def assert_same(a: Features, b: Features) -> None:
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.offsets, b.offsets)
    assert a.X.dtype == b.X.dtype == np.float32
    assert a.blocks == b.blocks and a.meta == b.meta


def test_key_is_a_sha256_of_canonical_parts(cache):
    key = cache.key({"a": 1, "b": [1, 2], "c": {"y": 2, "x": 1}})
    assert len(key) == 64 and int(key, 16) >= 0
    assert cache.key({"c": {"x": 1, "y": 2}, "b": (1, 2), "a": 1}) == key  # order and tuples do not matter
    assert cache.key({"a": 1, "b": [2, 1], "c": {"y": 2, "x": 1}}) != key
    assert cache.key({"a": 1.0000001, "b": [1, 2], "c": {"y": 2, "x": 1}}) != key
    with pytest.raises(ProbekitError, match="JSON"):
        cache.key({"a": object()})


def test_default_root_follows_probekit_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("PROBEKIT_CACHE", str(tmp_path / "elsewhere"))
    assert FeatureCache().features_dir == tmp_path / "elsewhere" / "features"
    monkeypatch.delenv("PROBEKIT_CACHE")
    assert FeatureCache().root == cache_module.Path.home() / ".cache" / "probekit"


def test_second_encode_is_a_hit(cache, corpus):
    encoder = CountingEncoder()
    first = cached_encode(encoder, corpus, cache)
    second = cached_encode(encoder, corpus, cache)
    assert encoder.calls == 1
    assert_same(first, second)
    other = CountingEncoder()  # a fresh instance with the same parameters hits too
    assert_same(cached_encode(other, corpus, cache), first) and other.calls == 0


def test_changed_parameter_or_corpus_is_a_miss(cache, corpus):
    encoder = CountingEncoder()
    cached_encode(encoder, corpus, cache)
    cached_encode(CountingEncoder(scale=2.0), corpus, cache)
    cached_encode(encoder, make_corpus("the dog barks"), cache)
    cached_encode(encoder, make_corpus("the dog barks", "a cat sleeps on the rug"), cache)
    assert encoder.calls == 3 and len(cache.entries()) == 4


def test_no_cache_or_no_key_means_no_caching(cache, corpus):
    encoder = CountingEncoder(cacheable=False)
    cached_encode(encoder, corpus, cache)
    cached_encode(encoder, corpus, cache)
    assert encoder.calls == 2 and cache.entries() == []
    plain = CountingEncoder()
    cached_encode(plain, corpus, None)
    cached_encode(plain, corpus, None)
    assert plain.calls == 2


def test_interrupted_put_leaves_no_entry(cache, corpus, monkeypatch):
    features = CountingEncoder().encode(corpus)
    key = cache.key({"x": 1})
    real_save = np.save
    calls = []

    def save_then_die(path, array, **kwargs):
        calls.append(path)
        if len(calls) == 2:  # X written, offsets not
            raise KeyboardInterrupt
        return real_save(path, array, **kwargs)

    monkeypatch.setattr(cache_module.np, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        cache.put(key, features, {"what": "test"})
    monkeypatch.setattr(cache_module.np, "save", real_save)
    assert cache.get(key) is None
    assert list(cache.features_dir.iterdir()) == []  # the temp dir is gone too
    assert cache.entries() == []


def test_failed_rename_leaves_no_entry(cache, corpus, monkeypatch):
    features = CountingEncoder().encode(corpus)
    key = cache.key({"x": 2})

    def no_rename(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(cache_module.os, "replace", no_rename)
    with pytest.raises(OSError):
        cache.put(key, features, {})
    monkeypatch.undo()
    assert cache.get(key) is None and list(cache.features_dir.iterdir()) == []


def test_stray_temp_dir_is_ignored_and_cleared(cache, corpus):
    encoder = CountingEncoder()
    cached_encode(encoder, corpus, cache)
    key = cache.key(encoder.cache_key_parts(corpus))
    stray = cache.features_dir / f".tmp-{key[:16]}-crashed"  # a writer killed just before its rename
    stray.mkdir()
    for name in ("X.npy", "description.json", "meta.json"):
        (stray / name).write_bytes((cache.path(key) / name).read_bytes())
    assert [e["key"] for e in cache.entries()] == [key]
    assert cache.get(key) is not None
    assert cache.clear() == 1
    assert list(cache.features_dir.iterdir()) == []


@pytest.mark.parametrize("damage", ["truncate", "delete", "garbage_meta"])
def test_corrupt_entry_is_a_miss_and_removed(cache, corpus, damage):
    encoder = CountingEncoder()
    first = cached_encode(encoder, corpus, cache)
    key = cache.key(encoder.cache_key_parts(corpus))
    folder = cache.path(key)
    if damage == "truncate":
        data = (folder / "X.npy").read_bytes()
        (folder / "X.npy").write_bytes(data[: len(data) // 2])
    elif damage == "delete":
        (folder / "offsets.npy").unlink()
    else:
        (folder / "meta.json").write_text("{not json")
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert cache.get(key) is None
    assert not folder.exists()
    assert_same(cached_encode(encoder, corpus, cache), first)  # recomputed and stored again
    assert encoder.calls == 2 and folder.is_dir()


def test_concurrent_writer_of_the_same_key_is_harmless(cache, corpus):
    features = CountingEncoder().encode(corpus)
    key = cache.key({"same": True})
    cache.put(key, features, {"n": 1})
    cache.put(key, features, {"n": 2})  # the first entry stays
    assert_same(cache.get(key), features)
    assert len(cache.entries()) == 1 and cache.entries()[0]["description"]["n"] == 1
    assert not [p for p in cache.features_dir.iterdir() if p.name.startswith(".tmp")]


def test_unwritable_cache_warns_and_still_returns_features(cache, corpus, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("read-only file system")

    monkeypatch.setattr(cache, "put", fail)
    encoder = CountingEncoder()
    with pytest.warns(RuntimeWarning, match="could not store"):
        features = cached_encode(encoder, corpus, cache)
    assert features.X.shape == (corpus.n_tokens, 3)


def test_entries_info_and_clear(cache, corpus):
    assert cache.entries() == [] and cache.clear() == 0
    cached_encode(CountingEncoder(), corpus, cache)
    cached_encode(CountingEncoder(scale=3.0), corpus, cache)
    entries = cache.entries()
    assert len(entries) == 2
    for entry in entries:
        assert entry["size"] > 0 and entry["created"]
        assert entry["description"]["encoder"] == "counting" and entry["description"]["words"] == 9
        on_disk = sum(f.stat().st_size for f in cache.path(entry["key"]).iterdir())
        assert entry["size"] == on_disk

    info = cache_info(cache.root)
    assert info["n_entries"] == 2 and info["total_bytes"] == sum(e["size"] for e in entries)
    assert info["root"] == str(cache.root)
    first = info["entries"][0]
    assert first["size"].endswith(("B", "KiB")) and first["short_key"] == first["key"][:12]
    assert "counting" in first["summary"] and "corpus=toy" in first["summary"]
    json.dumps(info)  # plain data, ready for `probekit cache ls --json`

    cleared = clear_cache(cache.root)
    assert cleared["removed"] == 2 and cleared["freed_bytes"] == info["total_bytes"]
    assert cache.entries() == [] and cache_info(cache.root)["n_entries"] == 0


def test_human_size():
    assert human_size(0) == "0 B"
    assert human_size(1023) == "1023 B"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(5 * 1024 ** 3) == "5.0 GiB"


def test_bad_key_is_rejected(cache):
    with pytest.raises(ProbekitError):
        cache.get("../../etc")


def test_entry_files_are_plain_numpy_and_json(cache, corpus):
    encoder = CountingEncoder()
    cached_encode(encoder, corpus, cache)
    folder = cache.path(cache.key(encoder.cache_key_parts(corpus)))
    assert sorted(os.listdir(folder)) == ["X.npy", "description.json", "meta.json", "offsets.npy"]
    assert np.load(folder / "X.npy").dtype == np.float32
    assert json.loads((folder / "description.json").read_text())["parts"]["scale"] == 1.0
