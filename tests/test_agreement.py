"""Agreement of a parsed corpus with a gold one: roles, UAS/LAS, alignment across tokenisations."""

import dataclasses

import pytest

from probekit.agreement import agree, align_words, format_agreement
from probekit.corpus import Corpus, Sentence
from probekit.errors import ProbekitError


def sentence(words, heads, deprels):
    return Sentence(tuple(words), tuple(heads), tuple(deprels))


def test_gold_against_itself_is_perfect(ewt_dev):
    gold = ewt_dev[:200]
    result = agree(gold, gold)
    assert result["aligned_words"] == gold.n_tokens and result["aligned_fraction"] == 1.0
    assert result["role_accuracy"] == 1.0 and result["role_macro_f1"] == 1.0
    assert result["uas"] == result["las"] == result["las_full"] == 1.0
    for name, row in result["roles"].items():
        if row["support"]:
            assert row["precision"] == row["recall"] == row["f1"] == 1.0, name


def test_one_changed_role_lowers_exactly_that_role(ewt_dev):
    gold = ewt_dev[:200]
    # the first nominal subject without conjuncts (a conj would inherit the change)
    target = next(
        (k, i) for k, s in enumerate(gold.sentences) for i, rel in enumerate(s.deprels)
        if rel == "nsubj" and not any(h == i + 1 and r == "conj" for h, r in zip(s.heads, s.deprels))
    )
    k, i = target
    changed = list(gold.sentences)
    rels = list(changed[k].deprels)
    rels[i] = "obj"
    changed[k] = dataclasses.replace(changed[k], deprels=tuple(rels))
    result = agree(gold, Corpus(changed))
    roles = result["roles"]
    subj, obj = roles["SUBJ"], roles["OBJ"]
    assert subj["recall"] == pytest.approx((subj["support"] - 1) / subj["support"])
    assert subj["precision"] == 1.0
    assert obj["recall"] == 1.0
    assert obj["precision"] == pytest.approx(obj["support"] / (obj["support"] + 1))
    for name in ("IOBJ", "OBL", "PRED", "MOD", "FUNC", "OTHER"):
        if roles[name]["support"]:
            assert roles[name]["f1"] == 1.0, name
    assert result["role_accuracy"] == pytest.approx(1 - 1 / gold.n_tokens)
    assert result["uas"] == 1.0 and result["las"] == pytest.approx(1 - 1 / gold.n_tokens)


def test_different_tokenisation_still_aligns_the_other_words():
    gold = Corpus([sentence(["I", "do", "n't", "know", "it", "."], [4, 4, 4, 0, 4, 4],
                            ["nsubj", "aux", "advmod", "root", "obj", "punct"])])
    parsed = Corpus([sentence(["I", "don't", "know", "it", "."], [3, 3, 0, 3, 3],
                              ["nsubj", "aux", "root", "obj", "punct"])])
    assert align_words(gold, parsed).tolist() == [0, -1, 3, 4, 5]
    result = agree(gold, parsed)
    assert result["aligned_words"] == 4 and result["gold_words"] == 6
    assert result["role_accuracy"] == 1.0 and result["uas"] == 1.0 and result["las"] == 1.0


def test_heads_are_compared_through_the_alignment_across_sentence_splits():
    # gold: two sentences; parsed: one sentence with the second attached wrongly
    gold = Corpus([sentence(["Dogs", "bark", "."], [2, 0, 2], ["nsubj", "root", "punct"]),
                   sentence(["Cats", "sleep", "."], [2, 0, 2], ["nsubj", "root", "punct"])])
    parsed = Corpus([sentence(["Dogs", "bark", ".", "Cats", "sleep", "."], [2, 0, 2, 5, 2, 5],
                              ["nsubj", "root", "punct", "nsubj", "parataxis", "punct"])])
    result = agree(gold, parsed)
    assert result["aligned_words"] == 6
    assert result["uas"] == pytest.approx(5 / 6)  # only "sleep" has another head (root vs "bark")
    assert result["roles"]["PRED"]["recall"] == 1.0  # parataxis and root are both PRED


def test_different_characters_resynchronise():
    words = "the quick brown fox jumps over the lazy dog today".split()
    n = len(words)
    heads = [0] + [1] * (n - 1)
    rels = ["root"] + ["dep"] * (n - 1)
    gold = Corpus([sentence(words, heads, rels)])
    changed = list(words)
    changed[2] = "brwn"  # a normalised / misspelt word: the character strings differ
    result = agree(gold, Corpus([sentence(changed, heads, rels)]))
    assert result["aligned_words"] == n - 1


def test_format_and_errors(ewt_dev):
    result = agree(ewt_dev[:20], ewt_dev[:20], scheme="thematic")
    text = format_agreement(result)
    assert "role accuracy" in text and "| AGENT" in text and "UAS" in text
    with pytest.raises(ProbekitError, match="unknown role scheme"):
        agree(ewt_dev[:5], ewt_dev[:5], scheme="semantic")
    other = Corpus([sentence(["zzz"], [0], ["root"])])
    with pytest.raises(ProbekitError, match="same text"):
        agree(ewt_dev[:5], other)
