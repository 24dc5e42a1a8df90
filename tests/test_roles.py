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
