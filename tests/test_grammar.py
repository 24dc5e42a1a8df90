"""Tests of the head-marked PCFG generator (probekit.grammar) and the shipped grammars A and B."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from probekit.corpus import Sentence, format_conllu, parse_conllu
from probekit.errors import ProbekitError
from probekit.grammar import (
    Grammar,
    builtin_grammar_dir,
    generate_corpus,
    load_grammar,
)

# ---------------------------------------------------------------------------------------
# helpers computed from the trees alone (never from meta)


def rc_depth(sentence: Sentence) -> int:
    """Most acl:relcl edges on any path from a word to the root."""
    deepest = 0
    for start in range(1, len(sentence) + 1):
        node, depth = start, 0
        while node != 0:
            depth += sentence.deprels[node - 1] == "acl:relcl"
            node = sentence.heads[node - 1]
        deepest = max(deepest, depth)
    return deepest


def dependents(sentence: Sentence, word: int) -> list[int]:
    """0-based indices of the dependents of 0-based word ``word``."""
    return [j for j, h in enumerate(sentence.heads) if h == word + 1]


def relative_clause_kinds(sentence: Sentence) -> list[str]:
    """For each acl:relcl verb: the relation of its relative pronoun, or 'reduced' if none."""
    kinds = []
    for i, rel in enumerate(sentence.deprels):
        if rel == "acl:relcl":
            pronouns = [sentence.deprels[j] for j in dependents(sentence, i) if sentence.upos[j] == "PRON"]
            kinds.append(pronouns[0] if pronouns else "reduced")
    return kinds


def root_index(sentence: Sentence) -> int:
    return sentence.heads.index(0)


def has_center_embedded_subject(sentence: Sentence) -> bool:
    """The root's subject carries a relative clause that stands between it and the root."""
    root = root_index(sentence)
    for j in dependents(sentence, root):
        if sentence.deprels[j].startswith("nsubj") and j < root:
            if any(sentence.deprels[k] == "acl:relcl" and k < root for k in dependents(sentence, j)):
                return True
    return False


def has_prepositional_dative(sentence: Sentence) -> bool:
    for i, rel in enumerate(sentence.deprels):
        if rel == "obl" and any(sentence.words[k] == "to" and sentence.deprels[k] == "case"
                                for k in dependents(sentence, i)):
            return True
    return False


def has_fronted(sentence: Sentence, relation: str) -> bool:
    """A dependent of the root with ``relation`` comes before the root's subject."""
    root = root_index(sentence)
    deps = dependents(sentence, root)
    subjects = [j for j in deps if sentence.deprels[j].startswith("nsubj")]
    return any(sentence.deprels[j] == relation and subjects and j < min(subjects) for j in deps)


@pytest.fixture(scope="module")
def corpus_a():
    return generate_corpus("A", 2000, seed=7)


@pytest.fixture(scope="module")
def corpus_b():
    return generate_corpus("B", 2000, seed=7)


# ---------------------------------------------------------------------------------------
# determinism


def full(sentence: Sentence) -> tuple:
    return sentence.words, sentence.heads, sentence.deprels, sentence.upos, tuple(sorted(sentence.meta.items()))


def test_same_seed_same_corpus_different_seed_different():
    first = [full(s) for s in generate_corpus("A", 300, seed=3, max_rc_depth=1)]
    used = load_grammar("A")
    used.generate(50, 99, min_rc_depth=2)  # memo tables filled in another order must not matter
    again = [full(s) for s in used.generate(300, 3, max_rc_depth=1)]
    other = [full(s) for s in generate_corpus("A", 300, seed=4, max_rc_depth=1)]
    assert first == again
    assert first != other
    assert sum(a == b for a, b in zip(first, other)) < 100


def test_larger_n_extends_smaller_n_with_same_seed():
    small = generate_corpus("B", 40, seed=5, min_rc_depth=1)
    large = generate_corpus("B", 90, seed=5, min_rc_depth=1)
    assert [full(s) for s in small] == [full(s) for s in large[:40]]


# ---------------------------------------------------------------------------------------
# trees, meta and CoNLL-U


@pytest.mark.parametrize("name", ["A", "B"])
def test_every_tree_is_valid(name):
    corpus = generate_corpus(name, 3000, seed=11)
    for s in corpus:
        assert s.tree_problems() == [], (s.words, s.heads)
        assert s.deprels[root_index(s)] == "root"
        assert "root" not in s.deprels[: root_index(s)] + s.deprels[root_index(s) + 1:]
        assert len(s) <= 40 and s.upos is not None and "_" not in s.upos
        assert s.meta["grammar"] == name
        assert s.meta["rc_depth"] == str(rc_depth(s))


def test_function_words_attach_as_ud_says(corpus_a):
    for s in corpus_a:
        for i, (word, rel, tag) in enumerate(zip(s.words, s.deprels, s.upos)):
            head_tag = s.upos[s.heads[i] - 1] if s.heads[i] else None
            if tag == "DET":
                assert rel == "det" and head_tag == "NOUN"
            if tag == "ADP":
                assert rel == "case" and head_tag == "NOUN"
            if tag == "PRON":  # relative pronouns hang on the relative clause's verb
                assert rel in ("nsubj", "obj", "nsubj:pass")
                assert s.deprels[s.heads[i] - 1] == "acl:relcl"
            if rel == "acl:relcl":
                assert tag == "VERB" and head_tag == "NOUN"
            if tag == "SCONJ":  # complementizer "that" marks the complement clause's verb
                assert rel == "mark" and s.deprels[s.heads[i] - 1] == "ccomp"
            if tag == "CCONJ":  # "and" hangs on the second conjunct
                assert rel == "cc" and s.deprels[s.heads[i] - 1] == "conj"


def test_conllu_round_trip(corpus_a):
    sentences = list(corpus_a[:300])
    parsed = parse_conllu(format_conllu(sentences))
    assert parsed == sentences
    assert [p.meta["rc_depth"] for p in parsed] == [s.meta["rc_depth"] for s in sentences]


# ---------------------------------------------------------------------------------------
# depth and length constraints


@pytest.mark.parametrize("lo, hi", [(0, 0), (0, 1), (1, 1), (2, 3), (3, None)])
def test_depth_constraints_hold(lo, hi):
    corpus = generate_corpus("A", 400, seed=2, min_rc_depth=lo, max_rc_depth=hi, max_length=45)
    depths = [rc_depth(s) for s in corpus]
    assert min(depths) >= lo
    assert hi is None or max(depths) <= hi
    assert max(len(s) for s in corpus) <= 45
    if hi is None or hi > lo:
        assert len(set(depths)) > 1  # the range is sampled, not pinned to its lower end


def test_deep_test_set_is_not_absurdly_long():
    deep = generate_corpus("A", 1000, seed=0, min_rc_depth=2, max_rc_depth=3)
    lengths = [len(s) for s in deep]
    assert 12 <= np.mean(lengths) <= 30


def test_depth_conditioning_is_exact_not_forced():
    """Conditioned on depth in [1, 2], P(depth = 1) must equal its PCFG value (about 0.78 here).

    Each NP carries a relative clause with probability 1/4 and a relative clause holds one NP,
    so an NP's depth is geometric: P(d <= k) = 1 - (1/4)^(k+1); a sentence is the max of two NPs.
    A sampler that just forces the recursion path would give a different mix.
    """
    grammar = Grammar.from_text(
        """
        S  -> NP:nsubj *V NP:obj
        NP -> Det:det *N            [3]
        NP -> Det:det *N RC:acl:relcl
        RC -> Rel:nsubj *V NP:obj
        lexicon Det DET: the
        lexicon N NOUN: dog cat
        lexicon V VERB: saw
        lexicon Rel PRON: that
        """,
        name="geometric",
    )
    cdf = [(1 - 0.25 ** (k + 1)) ** 2 for k in range(3)]
    expected = (cdf[1] - cdf[0]) / (cdf[2] - cdf[0])
    corpus = grammar.generate(6000, 1, min_rc_depth=1, max_rc_depth=2, max_length=100)
    observed = np.mean([rc_depth(s) == 1 for s in corpus])
    assert abs(observed - expected) < 0.02, (observed, expected)
    # subject and object are exchangeable, so each carries a relative clause equally often
    carriers = Counter()  # relative clauses on the main clause's subject and object
    for s in corpus:
        for i, rel in enumerate(s.deprels):
            noun = s.heads[i] - 1
            if rel == "acl:relcl" and s.heads[noun] == root_index(s) + 1:
                carriers[s.deprels[noun]] += 1
    assert abs(carriers["nsubj"] - carriers["obj"]) < 0.1 * (carriers["nsubj"] + carriers["obj"]), carriers


def test_max_length_is_a_hard_cap():
    corpus = generate_corpus("A", 500, seed=1, max_length=8)
    assert max(len(s) for s in corpus) <= 8


def test_impossible_requests_fail_clearly():
    flat = Grammar.from_text("S -> N:nsubj *V\nlexicon N NOUN: dog\nlexicon V VERB: ran", name="flat")
    with pytest.raises(ProbekitError, match="min_rc_depth=1 is impossible"):
        flat.generate(5, 0, min_rc_depth=1)
    with pytest.raises(ProbekitError, match="max_length"):
        flat.generate(5, 0, max_length=1)


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=0, seed=0), "n must be an integer >= 1"),
    (dict(n=5, seed=-1), "seed must be an integer >= 0"),
    (dict(n=5, seed=1.5), "seed must be an integer"),
    (dict(n=True, seed=0), "n must be an integer"),
    (dict(n=5, seed=0, min_rc_depth=3, max_rc_depth=1), "below min_rc_depth"),
    (dict(n=5, seed=0, max_length=0), "max_length must be an integer >= 1"),
    (dict(n=5, seed=0, min_rc_depth=-1), "min_rc_depth must be an integer >= 0"),
    (dict(n=5, seed=0, min_rc_depth=40), "raise max_length"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ProbekitError, match=message):
        load_grammar("A").generate(**kwargs)


def test_unknown_constraint_gets_did_you_mean():
    with pytest.raises(ProbekitError, match="Did you mean 'max_rc_depth'"):
        generate_corpus("A", 5, seed=0, max_rc_dept=1)


# ---------------------------------------------------------------------------------------
# loading


def test_builtins_and_paths(tmp_path):
    assert {"A.pcfg", "B.pcfg"} <= {p.name for p in builtin_grammar_dir().glob("*.pcfg")}
    path = tmp_path / "tiny.pcfg"
    path.write_text("start S\nS -> N:nsubj *V\nlexicon N NOUN: dog\nlexicon V VERB: ran\n")
    grammar = load_grammar(str(path))
    assert (grammar.name, grammar.path) == ("tiny", str(path))
    assert [s.words for s in grammar.generate(2, 0)] == [("dog", "ran")] * 2
    assert load_grammar("A").path == str(builtin_grammar_dir() / "A.pcfg")


@pytest.mark.parametrize("name, suggestion", [("a", "'A'"), ("BB", "'B'")])
def test_unknown_grammar_did_you_mean(name, suggestion):
    with pytest.raises(ProbekitError, match=f"Did you mean {suggestion}") as info:
        load_grammar(name)
    assert "Built-in grammars: A, B" in str(info.value)


def test_missing_grammar_file():
    with pytest.raises(ProbekitError, match="does not exist"):
        load_grammar("no/such/file.pcfg")


# ---------------------------------------------------------------------------------------
# malformed grammars

GOOD_TAIL = "lexicon N NOUN: dog cat\nlexicon V VERB: ran\n"


@pytest.mark.parametrize("text, line, message", [
    ("S -> N:nsubj V\n" + GOOD_TAIL, 1, "no relation"),
    ("S -> N:nsubj V:obj\n" + GOOD_TAIL, 1, "marks no head"),
    ("S -> *N *V\n" + GOOD_TAIL, 1, "marks 2 heads"),
    ("S -> N:nsubj *V:root\n" + GOOD_TAIL, 1, "head child"),
    ("S -> N:nsubj *V [abc]\n" + GOOD_TAIL, 1, "bad weight"),
    ("S -> N:nsubj *V [0]\n" + GOOD_TAIL, 1, "bad weight"),
    ("S -> N:nsubj *V [-2]\n" + GOOD_TAIL, 1, "bad weight"),
    ("S -> N:nsubj *V\nlexicon N NOUN:\nlexicon V VERB: ran\n", 2, "lists no words"),
    ("S -> N:nsubj *V\nlexicon N NUON: dog\nlexicon V VERB: ran\n", 2, "Did you mean 'NOUN'"),
    ("S -> N:nusbj *V\n" + GOOD_TAIL, 1, "Did you mean 'nsubj'"),
    ("S -> N:root *V\n" + GOOD_TAIL, 1, "automatically"),
    ("\n# comment\nS -> Nn:nsubj *V\n" + GOOD_TAIL, 3, "'Nn' is used but never defined. Did you mean 'N'"),
    ("start T\nS -> N:nsubj *V\n" + GOOD_TAIL, 1, "start symbol 'T' has no rules"),
    ("S -> N:nsubj *V\nX -> *N\n" + GOOD_TAIL, 2, "'X' can never be used"),
    ("S -> X:nsubj *V\nX -> Det:det *X\nlexicon Det DET: the\nlexicon V VERB: ran\n", 2, "X can never finish"),
    ("S -> N:nsubj *V\nS -> N:nsubj *V [2]\n" + GOOD_TAIL, 2, "duplicate rule"),
    ("S -> N:nsubj *V\nS N V\n" + GOOD_TAIL, 2, "cannot read"),
    ("S -> N:nsubj *V\nN -> *V\n" + GOOD_TAIL, 2, "both a lexical category"),
    ("S -> N:nsubj *V\nlexicon N NOUN: dog dog\nlexicon V VERB: ran\n", 2, "listed twice"),
    ("S -> N:nsubj *V\nlexicon N NOUN: dog\nlexicon N PROPN: Rex\nlexicon V VERB: ran\n", 3, "one UPOS tag"),
    ("S -> NP:nsubj *V\nNP -> *N\nNP -> *NP PP:nmod [3]\nPP -> P:case *NP\nlexicon P ADP: of\n" + GOOD_TAIL,
     3, "too likely"),
    ("start S\nstart S\nS -> N:nsubj *V\n" + GOOD_TAIL, 2, "second start symbol"),
    ("S -> 1N:nsubj *V\n" + GOOD_TAIL, 1, "bad child"),
])
def test_malformed_grammar_names_line_and_problem(text, line, message):
    with pytest.raises(ProbekitError) as info:
        Grammar.from_text(text, name="bad.pcfg")
    assert f"bad.pcfg:{line}:" in str(info.value)
    assert message in str(info.value)


def test_empty_grammar():
    with pytest.raises(ProbekitError, match="no rules"):
        Grammar.from_text("# nothing\nlexicon N NOUN: dog\n", name="empty")


def test_file_errors_name_the_file(tmp_path):
    path = tmp_path / "broken.pcfg"
    path.write_text("S -> N:nsubj V:obj\n" + GOOD_TAIL)
    with pytest.raises(ProbekitError, match=f"{path}:1: rule for S marks no head"):
        load_grammar(str(path))


# ---------------------------------------------------------------------------------------
# the shipped grammars


def test_grammar_a_has_every_required_construction(corpus_a):
    relations = Counter(r for s in corpus_a for r in s.deprels)
    for rel in ("det", "amod", "nsubj", "obj", "iobj", "obl", "nmod", "case", "nsubj:pass",
                "aux:pass", "obl:agent", "acl:relcl", "cop", "ccomp", "mark", "conj", "cc"):
        assert relations[rel] > 0, rel
    kinds = Counter(k for s in corpus_a for k in relative_clause_kinds(s))
    for kind in ("nsubj", "obj", "reduced", "nsubj:pass"):  # subject, object, reduced, passive relatives
        assert kinds[kind] > 0, kind
    assert any(has_prepositional_dative(s) for s in corpus_a)
    assert any(has_center_embedded_subject(s) for s in corpus_a)
    # a complement clause without "that" ("knew the dog chased the cat"), and one with it
    complements = [(s, i) for s in corpus_a for i, rel in enumerate(s.deprels) if rel == "ccomp"]
    assert any("mark" not in [s.deprels[j] for j in dependents(s, i)] for s, i in complements)
    assert any("mark" in [s.deprels[j] for j in dependents(s, i)] for s, i in complements)
    # coordinated clauses and coordinated objects
    conjuncts = [s.deprels[s.heads[i] - 1] for s in corpus_a for i, rel in enumerate(s.deprels) if rel == "conj"]
    assert {"root", "obj"} <= set(conjuncts)
    # a passive without a by-phrase and one with it
    passives = [s for s in corpus_a if "nsubj:pass" in s.deprels]
    assert any("obl:agent" not in s.deprels for s in passives)
    assert any("obl:agent" in s.deprels for s in passives)


def test_grammar_a_length_at_training_depth():
    corpus = generate_corpus("A", 2000, seed=1, max_rc_depth=1)
    assert 8 <= np.mean([len(s) for s in corpus]) <= 14


def test_grammar_b_shares_relations_and_differs_in_order(corpus_a, corpus_b):
    assert load_grammar("A").relations == load_grammar("B").relations
    assert {r for s in corpus_a for r in s.deprels} == {r for s in corpus_b for r in s.deprels}
    assert not any(has_fronted(s, "obj") for s in corpus_a)
    assert sum(has_fronted(s, "obj") for s in corpus_b) > 50
    assert sum(has_fronted(s, "obl") for s in corpus_b) > 100
    passive_share = {name: np.mean([s.deprels[root_index(s) - 1] == "aux:pass" for s in corpus])
                     for name, corpus in (("A", corpus_a), ("B", corpus_b))}
    assert passive_share["B"] > 1.5 * passive_share["A"]
    words_a = {w for s in corpus_a for w in s.words}
    words_b = {w for s in corpus_b for w in s.words}
    assert len(words_a & words_b) > 0.7 * len(words_b)
    assert words_b - words_a  # some new words


def test_roles_need_right_context(corpus_a):
    """Identical left contexts (as word-class sequences) lead to different roles: a causal model
    that sees only classes to the left cannot separate subject from passive subject, object from
    recipient, or the relative pronoun's roles."""
    seen: dict[tuple, set] = defaultdict(set)
    for s in corpus_a:
        for i in range(len(s)):
            seen[s.upos[: i + 1] + (s.words[i],) if s.upos[i] == "PRON" else s.upos[: i + 1]].add(s.deprels[i])
    clashes = [labels for labels in seen.values() if len(labels) > 1]
    for pair in ({"nsubj", "nsubj:pass"}, {"iobj", "obj"}, {"nsubj", "obj"}):
        assert any(pair <= labels for labels in clashes), pair


@pytest.mark.parametrize("name", ["A", "B"])
def test_whole_sentence_decides_every_relation(name):
    """Sentences with the same sequence of word categories get the same relations: the grammars
    have no label ambiguity, so a model that reads the whole sentence can be perfect."""
    grammar = load_grammar(name)
    categories: dict[str, set] = defaultdict(set)
    for category in grammar.lexicon.values():
        for word in category.words:
            categories[word].add(category.name)
    signature = {w: "/".join(sorted(c)) for w, c in categories.items()}
    labels_of: dict[tuple, tuple] = {}
    repeats = 0
    for s in generate_corpus(name, 6000, seed=9, max_rc_depth=1):
        key = tuple(signature[w] for w in s.words)
        repeats += key in labels_of
        assert labels_of.setdefault(key, s.deprels) == s.deprels, s.words
    assert repeats > 1000


def test_word_and_position_do_not_give_the_role(corpus_a):
    """A majority-label-per-(word, position) baseline must stay far from perfect on nouns."""
    train, test = corpus_a[:1000], corpus_a[1000:]
    table: dict[tuple, Counter] = defaultdict(Counter)
    for s in train:
        for i, (w, r) in enumerate(zip(s.words, s.deprels)):
            table[w, i][r] += 1
    hits = total = 0
    for s in test:
        for i, (w, r, tag) in enumerate(zip(s.words, s.deprels, s.upos)):
            if tag == "NOUN":
                guess = table[w, i].most_common(1)[0][0] if table[w, i] else "nsubj"
                hits += guess == r
                total += 1
    assert hits / total < 0.7
