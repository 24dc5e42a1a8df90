"""Role mapping and the structure-dependent flag, checked on real EWT sentences."""

import numpy as np
import pytest

from probekit.corpus import Sentence
from probekit.errors import ProbekitError
from probekit.roles import corpus_roles, relation_role, sentence_roles, structure_dependent


def by_id(corpus, sent_id):
    return next(s for s in corpus if s.meta.get("sent_id") == sent_id)


def roles_of(sentence, scheme):
    roles = sentence_roles(sentence, scheme)
    flags = structure_dependent(sentence, roles, scheme)
    return {w: (r, bool(f)) for w, r, f in zip(sentence.words, roles, flags)}


def test_passive_with_agent_and_conjunction(ewt_dev):
    # "The battles and demonstrations were provoked by the US assault on Fallujah ."
    s = by_id(ewt_dev, "weblog-juancole.com_juancole_20041111060900_ENG_20041111_060900-0005")
    syn, them = roles_of(s, "syntactic"), roles_of(s, "thematic")
    assert syn["battles"] == ("SUBJ", False) and syn["demonstrations"] == ("SUBJ", False)  # conj inherits
    assert them["battles"] == ("PATIENT", True) and them["demonstrations"] == ("PATIENT", True)
    assert syn["assault"] == ("OBL", False) and them["assault"] == ("AGENT", True)
    assert syn["provoked"][0] == "PRED" and syn["were"][0] == "FUNC" and syn["Fallujah"][0] == "MOD"


def test_indirect_object(ewt_dev):
    # "Yet we did n't charge them for the evacuation ."
    s = by_id(ewt_dev, "weblog-blogspot.com_alaindewitt_20060827093500_ENG_20060827_093500-0009")
    them = roles_of(s, "thematic")
    assert them["them"] == ("RECIPIENT", False) and them["we"] == ("AGENT", False)
    assert them["evacuation"] == ("OBL", False)


def test_reduced_relative_separates_subject_from_its_verb(ewt_dev):
    # "Every move Google makes brings this particular future closer ."
    s = by_id(ewt_dev, "weblog-typepad.com_ripples_20050410122300_ENG_20050410_122300-0028")
    syn = roles_of(s, "syntactic")
    assert syn["move"] == ("SUBJ", True)      # "Google makes" intervenes before "brings"
    assert syn["Google"] == ("SUBJ", False)   # adjacent to its own verb
    assert syn["future"] == ("OBJ", False)


def test_fronted_relative_pronoun_is_non_canonical():
    # the dog that the cat chased ran
    s = Sentence(("the", "dog", "that", "the", "cat", "chased", "ran"), (2, 7, 6, 5, 6, 2, 0),
                 ("det", "nsubj", "obj", "det", "nsubj", "acl:relcl", "root"))
    syn = roles_of(s, "syntactic")
    assert syn["that"] == ("OBJ", True) and syn["dog"] == ("SUBJ", True) and syn["cat"] == ("SUBJ", False)


def test_corpus_roles_flat_and_consistent(ewt_dev):
    roles = corpus_roles(ewt_dev)
    assert roles.labels.shape == (ewt_dev.n_tokens,) and roles.structure_dependent.shape == roles.labels.shape
    names = np.array(roles.names)
    flagged = set(names[roles.labels[roles.structure_dependent]])
    assert flagged <= {"SUBJ", "OBJ", "IOBJ", "OBL"} and roles.structure_dependent.any()


def test_relation_subtypes_and_unknown_scheme():
    assert relation_role("obl:tmod") == "OBL" and relation_role("nmod:poss") == "MOD"
    assert relation_role("aux:pass") == "FUNC" and relation_role("reparandum") == "OTHER"
    with pytest.raises(ProbekitError, match="unknown role scheme"):
        relation_role("nsubj", "semantic")


# -- the corpus-wide (array) computation against the definition, sentence by sentence ----------

def reference_roles(sentence, scheme):
    """Roles and flags by the definition, one sentence at a time, in plain Python (the code the
    array version replaced): follow conj chains, walk up to each word's clause head, then check
    separation, order and voice for every argument."""
    from probekit.roles import ARGUMENT_ROLES, CLAUSAL_RELATIONS

    def base(rel):
        return rel.split(":", 1)[0]

    n = len(sentence)
    heads, rels = list(sentence.heads), list(sentence.deprels)
    for i in range(n):
        node = i
        while base(sentence.deprels[node]) == "conj" and sentence.heads[node] > 0:
            node = sentence.heads[node] - 1
        heads[i], rels[i] = sentence.heads[node], sentence.deprels[node]
    clause = []
    for i in range(n):
        node = i
        while base(rels[node]) not in CLAUSAL_RELATIONS and heads[node] > 0:
            node = heads[node] - 1
        clause.append(node)
    roles = [relation_role(r, scheme) for r in rels]
    flags = []
    for i, role in enumerate(roles):
        if role not in ARGUMENT_ROLES[scheme] or heads[i] == 0:
            flags.append(False)
            continue
        governor = heads[i] - 1
        low, high = sorted((i, governor))
        separated = any(c != clause[governor] for c in clause[low + 1:high])
        order = (base(rels[i]) in ("nsubj", "csubj") and i > governor) or (base(rels[i]) in ("obj", "iobj")
                                                                            and i < governor)
        voice = scheme == "thematic" and rels[i] in ("nsubj:pass", "csubj:pass", "obl:agent")
        flags.append(separated or order or voice)
    return roles, flags


@pytest.mark.parametrize("scheme", ["syntactic", "thematic"])
def test_corpus_roles_equal_the_definition_sentence_by_sentence(scheme, ewt_dev):
    from probekit.grammar import generate_corpus

    corpora = [ewt_dev, generate_corpus("A", 300, 4, cache=False, min_rc_depth=2, max_rc_depth=3),
               generate_corpus("B", 300, 5, cache=False), generate_corpus("simple", 100, 6, cache=False)]
    for corpus in corpora:
        got = corpus_roles(corpus, scheme)
        names = np.array(got.names)
        expected_roles, expected_flags = [], []
        for sentence in corpus:
            roles, flags = reference_roles(sentence, scheme)
            expected_roles += roles
            expected_flags += flags
        assert names[got.labels].tolist() == expected_roles
        assert got.structure_dependent.tolist() == expected_flags
        assert sum(expected_flags) > 0
    one = corpora[1][7]
    assert sentence_roles(one, scheme) == reference_roles(one, scheme)[0]
