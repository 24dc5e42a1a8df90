"""The caches that make a repeated `probekit run` cheap (issue 18): EMA features in the feature
cache for single runs only, and generated corpora on disk. A hit must equal a fresh computation,
and every setting the result depends on must change the key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from probekit import registry
from probekit.cache import FeatureCache, cached_encode
from probekit.corpus import Corpus
from probekit.encoders.ema import EMAEncoder
from probekit.errors import ProbekitError
from probekit.grammar import Grammar, generate_corpus, load_grammar

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("PROBEKIT_CACHE", str(root))
    return root


def as_tuples(corpus: Corpus) -> list:
    return [(s.words, s.heads, s.deprels, s.upos, s.meta) for s in corpus]


# -- EMA features ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpora():
    train = generate_corpus("A", 60, seed=0, cache=False)
    test = generate_corpus("A", 20, seed=1, cache=False)
    return train, test


def fitted(train, **options) -> EMAEncoder:
    return EMAEncoder(dim=8, **options).fit(train)


def test_ema_features_are_cached_only_by_a_single_run_cache(tmp_path, corpora):
    train, test = corpora
    shared = FeatureCache(tmp_path / "sweep")            # sweeps and suites: EMA is never stored
    cached_encode(fitted(train), train, shared)
    assert (shared.hits, shared.misses) == (0, 0) and shared.entries() == []
    single = FeatureCache(tmp_path / "single", single_run=True)
    first = cached_encode(fitted(train), test, single)
    assert (single.hits, single.misses) == (0, 1) and len(single.entries()) == 1
    encoder = fitted(train)
    encoder.encode = lambda corpus: pytest.fail("encoded on a hit")
    again = cached_encode(encoder, test, single)
    assert (single.hits, single.misses) == (1, 1)
    np.testing.assert_array_equal(again.X, first.X)
    np.testing.assert_array_equal(again.X, fitted(train).encode(test).X)   # the hit is the encoding
    assert again.blocks == first.blocks and again.meta == first.meta
    np.testing.assert_array_equal(again.offsets, test.offsets)


@pytest.mark.parametrize("options", [{"rates": (0.5, 0.1)}, {"seed": 1}, {"reset": False},
                                     {"include_current": False}, {"history": 1}, {"lowercase": True},
                                     {"max_vocab": 5}, {"embedding": "onehot"}])
def test_every_ema_option_changes_the_key(options, corpora):
    train, test = corpora
    cache = FeatureCache("unused", single_run=True)
    assert cache.key(fitted(train, **options).cache_key_parts(test)) != cache.key(fitted(train).cache_key_parts(test))


def test_the_fitted_state_and_the_corpus_change_the_key(corpora):
    train, test = corpora
    cache = FeatureCache("unused", single_run=True)
    base = cache.key(fitted(train).cache_key_parts(test))
    assert cache.key(fitted(train).cache_key_parts(test)) == base                      # deterministic
    assert cache.key(fitted(train[:30]).cache_key_parts(test)) != base                 # other vocabulary
    assert cache.key(fitted(train).cache_key_parts(test[:10])) != base                 # other corpus
    encoder = fitted(train)
    encoder.table_ = encoder.table_.copy()
    encoder.table_[1, 0] += 1e-6                                                        # other embeddings
    assert cache.key(encoder.cache_key_parts(test)) != base


def test_a_repeated_run_reads_ema_features_without_numba(tmp_path):
    """Two `probekit run` processes on one cache: the second hits for train and test, never
    imports numba, and writes the same metrics."""
    env = dict(os.environ, PYTHONPATH=str(REPO), PROBEKIT_CACHE=str(tmp_path / "cache"))
    script = """
import json, sys
from click.testing import CliRunner
from probekit.cli import main
result = CliRunner().invoke(main, ["run", "-e", "ema", "-t", "roles", "-O", "n_train=40", "-O", "n_test=10",
                                   "-E", "dim=8", "--bootstrap", "100", "--out", sys.argv[1]])
assert result.exit_code == 0, result.output
print(json.dumps("numba" in sys.modules))
"""
    loaded, records = [], []
    for run in ("first", "second"):
        out = tmp_path / run
        proc = subprocess.run([sys.executable, "-c", script, str(out)], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        loaded.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        [path] = out.glob("*.json")
        records.append(json.loads(path.read_text()))
    assert loaded == [True, False]
    assert [r["data"]["feature_cache"] for r in records] == [{"hits": 0, "misses": 2}, {"hits": 2, "misses": 0}]
    assert records[0]["metrics"] == records[1]["metrics"]


# -- generated corpora ----------------------------------------------------------------------


@pytest.mark.parametrize("grammar, seed, constraints", [
    ("A", 0, {}), ("A", 7, {"max_rc_depth": 1, "max_length": 40}), ("B", 3, {"min_rc_depth": 1}),
    ("A", 2, {"min_rc_depth": 2, "max_rc_depth": 3}), ("simple", 5, {"max_length": 8}),
])
def test_a_cached_corpus_equals_a_fresh_one(grammar, seed, constraints, cache_root, monkeypatch):
    fresh = generate_corpus(grammar, 40, seed, cache=False, **constraints)
    first = generate_corpus(grammar, 40, seed, **constraints)
    assert len(list((cache_root / "generated").glob("*.npz"))) == 1
    monkeypatch.setattr(Grammar, "generate", lambda *a, **k: pytest.fail("generated on a hit"))
    again = generate_corpus(grammar, 40, seed, **constraints)
    assert as_tuples(first) == as_tuples(fresh) == as_tuples(again)
    assert again.name == fresh.name == grammar and again.fingerprint() == fresh.fingerprint()


def test_every_setting_is_its_own_entry(cache_root):
    settings = [("A", 30, 0, {}), ("A", 31, 0, {}), ("A", 30, 1, {}), ("B", 30, 0, {}),
                ("A", 30, 0, {"max_rc_depth": 0}), ("A", 30, 0, {"max_length": 12})]
    corpora = [generate_corpus(g, n, seed, **c) for g, n, seed, c in settings]
    assert len(list((cache_root / "generated").glob("*.npz"))) == len(settings)
    for (g, n, seed, c), corpus in zip(settings, corpora):
        assert as_tuples(corpus) == as_tuples(generate_corpus(g, n, seed, cache=False, **c))


def test_an_edited_grammar_is_generated_again(tmp_path, cache_root):
    text = (REPO / "tasks" / "grammars" / "simple.pcfg").read_text()
    path = tmp_path / "g.pcfg"
    path.write_text(text)
    before = as_tuples(generate_corpus(str(path), 30, 0))
    [rule] = [line for line in text.splitlines() if line.startswith("VP") and "*Vi" in line]
    path.write_text(text.replace(rule, rule.replace("[3]", "[0.001]")))   # intransitives become rare
    assert load_grammar(str(path)).digest() != Grammar.from_text(text, name="g").digest()
    after = generate_corpus(str(path), 30, 0)
    assert as_tuples(after) == as_tuples(generate_corpus(str(path), 30, 0, cache=False))
    assert as_tuples(after) != before
    assert len(list((cache_root / "generated").glob("*.npz"))) == 2


def test_refused_settings_are_not_cached_and_a_damaged_entry_is_regenerated(cache_root):
    for _ in range(2):
        with pytest.raises(ProbekitError, match="min_rc_depth"):
            generate_corpus("simple", 10, 0, min_rc_depth=2)
    assert not (cache_root / "generated").exists() or not list((cache_root / "generated").iterdir())
    generate_corpus("A", 10, 0)
    [entry] = (cache_root / "generated").glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:60])
    assert as_tuples(generate_corpus("A", 10, 0)) == as_tuples(generate_corpus("A", 10, 0, cache=False))
    assert entry.stat().st_size > 60   # rewritten whole
    assert not list((cache_root / "generated").glob("*.tmp"))


def test_the_roles_task_loads_the_same_data_from_the_cache(cache_root):
    task = registry.tasks.create("roles", n_train=50, n_test=20)
    first, second = task.load(), task.load()
    assert as_tuples(first.train) == as_tuples(second.train) and as_tuples(first.test) == as_tuples(second.test)
    assert first.notes == second.notes
    assert len(list((cache_root / "generated").glob("*.npz"))) == 2
