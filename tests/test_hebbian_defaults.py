"""The hebbian readout's defaults are chosen on a dev split carved from the training set
(scripts/choose_hebbian_defaults.py), and docs/probes.md quotes that choice, not a test-set one."""

import re
from pathlib import Path

import pandas as pd

from probekit.corpus import Corpus
from probekit.probes.hebbian import HebbianProbe
from probekit.tasks.identity import _chain_sentence

from conftest import load_script

REPO = Path(__file__).resolve().parent.parent


def _script():
    return load_script("choose_hebbian_defaults")


def test_the_dev_split_partitions_the_training_sentences_with_its_own_seed():
    script = _script()
    corpus = Corpus([_chain_sentence([f"w{i}", f"v{i}"]) for i in range(50)], name="train")
    fit, dev = script.dev_split(corpus)
    assert len(fit) + len(dev) == 50 and len(dev) == 10
    assert {s.words for s in fit}.isdisjoint({s.words for s in dev})
    assert [s.words for s in script.dev_split(corpus)[1]] == [s.words for s in dev]          # seeded
    assert [s.words for s in script.dev_split(corpus, seed=1)[1]] != [s.words for s in dev]


def test_the_docs_quote_the_dev_choice_and_it_is_the_default():
    table = pd.read_csv(REPO / "results" / "hebbian_defaults.csv")
    chosen = table[table.chosen].iloc[0]
    options = _script().CANDIDATES[chosen.setting]
    defaults = HebbianProbe()
    assert all(getattr(defaults, name) == value for name, value in options.items())
    docs = (REPO / "docs" / "probes.md").read_text(encoding="utf-8")
    for _, row in table.iterrows():
        assert f"{row['dev one-to-one accuracy']:.3f} | {row['dev many-to-one accuracy']:.3f}" in docs
    assert not re.search(r"accuracy on the test set; the\s+settings were compared", docs)
