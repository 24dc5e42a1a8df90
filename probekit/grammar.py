"""Head-marked probabilistic context-free grammars -> synthetic dependency corpora.

A ``.pcfg`` file is a PCFG whose every phrasal rule marks one child as the head (``*VP``) and
gives every other child its Universal Dependencies relation to that head (``NP:nsubj``).
Generating a phrase therefore yields a dependency tree for free: the head word of a phrase is
the head word of its head child, and each non-head child's head word attaches to it with the
child's relation. Lexical categories list words with their UPOS tag. The full format, the
shipped grammars and their design are documented in ``docs/grammars.md``::

    start S
    S   -> NP:nsubj *VP        [3]
    NP  -> Det:det *N
    lexicon N NOUN: dog cat bird

Relative-clause depth (the most ``acl:relcl`` edges on any path to the root) can be
constrained. Generation samples *exactly* from the PCFG conditioned on the depth lying in
``[min_rc_depth, max_rc_depth]``: for every symbol it knows the probability that a subtree
stays within a depth (a small fixed-point computation per depth level), and it picks rules and
splits the depth requirement among children with those probabilities. No rejection is needed
for depth; only ``max_length`` is enforced by redrawing, which is cheap because a draw stops as
soon as it grows past the limit. Randomness comes only from ``numpy.random.default_rng(seed)``
(read in fixed-size blocks), so a seed fixes the corpus, and a larger ``n`` extends a smaller
one with the same seed.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import math
import re
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from probekit.corpus import Corpus, Sentence
from probekit.errors import ProbekitError
from probekit.io import atomic_write, default_cache_root, read_text
from probekit.library import grammar_dir
from probekit.options import check_int
from probekit.parse_cache import cached_parse

RELCL = "acl:relcl"
"""The relation whose nesting ``rc_depth`` counts."""

UPOS_TAGS = frozenset(
    "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split()
)
UD_RELATIONS = frozenset(
    """acl advcl advmod amod appos aux case cc ccomp clf compound conj cop csubj dep det discourse
    dislocated expl fixed flat goeswith iobj list mark nmod nsubj nummod obj obl orphan parataxis
    punct reparandum vocative xcomp""".split()
)
"""Universal relations a rule may use (``root`` is given to the sentence head automatically)."""

_SYMBOL = r"[A-Za-z][A-Za-z0-9_]*"
_SYMBOL_RE = re.compile(rf"^{_SYMBOL}$")
_RELATION_RE = re.compile(r"^[a-z]+(:[a-z]+)?$")
_RULE_RE = re.compile(r"^(?P<lhs>\S+)\s*->\s*(?P<rhs>[^\[\]]*?)\s*(?:\[(?P<weight>[^\]]*)\])?\s*$")
_LEXICON_RE = re.compile(r"^lexicon\s+(?P<cat>\S+)\s+(?P<upos>[^\s:]+)\s*:(?P<words>.*)$")
_START_RE = re.compile(r"^start\s+(?P<sym>\S+)\s*$")
_FORMS = (
    "expected one of: 'LHS -> child child ... [weight]' (one child starred as head, the others "
    "written SYMBOL:relation), 'lexicon CATEGORY UPOS: word word ...', or 'start SYMBOL'"
)
_RANDOM_BLOCK = 4096
_MAX_CONSECUTIVE_REDRAWS = 2000
_NEGLIGIBLE = 1e-12  # relative probability mass below which a choice counts as impossible


@dataclass(frozen=True)
class Rule:
    """One phrasal rule: ``lhs -> children`` with ``relations[i] is None`` for the head child."""

    lhs: str
    children: tuple[str, ...]
    relations: tuple[str | None, ...]
    head: int
    weight: float
    line: int

    def __str__(self) -> str:
        parts = [f"*{c}" if r is None else f"{c}:{r}" for c, r in zip(self.children, self.relations)]
        return f"{self.lhs} -> {' '.join(parts)} [{self.weight:g}]"


@dataclass(frozen=True)
class LexicalCategory:
    """Words of one category, all with the same UPOS tag, drawn uniformly."""

    name: str
    upos: str
    words: tuple[str, ...]
    line: int


class _TooLong(Exception):
    """A draw grew past ``max_length``; it is abandoned and redrawn."""


# --------------------------------------------------------------------------------------
# Parsing


class _Parser:
    """Reads grammar text into rules and lexical categories, failing at the first bad line."""

    def __init__(self, text: str, source: str):
        self.source = source
        self.rules: list[Rule] = []
        self.lexicon: dict[str, LexicalCategory] = {}
        self.start: str | None = None
        self.start_line = 0
        self.first_use: dict[str, int] = {}
        self.first_definition: dict[str, int] = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if line:
                self._read_line(line, number)

    def fail(self, line: int, message: str) -> ProbekitError:
        return ProbekitError(f"{self.source}:{line}: {message}")

    def _read_line(self, line: str, number: int) -> None:
        if "->" in line:
            self._read_rule(line, number)
        elif line.startswith("lexicon"):
            self._read_lexicon(line, number)
        elif line.startswith("start"):
            self._read_start(line, number)
        else:
            raise self.fail(number, f"cannot read {line!r}: {_FORMS}.")

    def _symbol(self, name: str, number: int, what: str) -> str:
        if not _SYMBOL_RE.match(name):
            raise self.fail(number, f"bad {what} {name!r}: symbol names start with a letter and use only "
                                    f"letters, digits and '_'.")
        return name

    def _read_start(self, line: str, number: int) -> None:
        match = _START_RE.match(line)
        if not match:
            raise self.fail(number, f"cannot read {line!r}: write 'start SYMBOL' (one symbol).")
        if self.start is not None:
            raise self.fail(number, f"a second start symbol (the first is {self.start!r} at line "
                                    f"{self.start_line}); keep one 'start' line.")
        self.start = self._symbol(match["sym"], number, "start symbol")
        self.start_line = number

    def _read_rule(self, line: str, number: int) -> None:
        match = _RULE_RE.match(line)
        if not match:
            raise self.fail(number, f"cannot read rule {line!r}: the weight goes last, in brackets, "
                                    f"e.g. 'NP -> Det:det *N [2]'.")
        lhs = self._symbol(match["lhs"], number, "left-hand side")
        items = match["rhs"].split()
        if not items:
            raise self.fail(number, f"rule for {lhs} has no children: write e.g. '{lhs} -> Det:det *N'.")
        children, relations = zip(*(self._read_child(item, number) for item in items))
        heads = [i for i, r in enumerate(relations) if r is None]
        if not heads:
            raise self.fail(number, f"rule for {lhs} marks no head: star exactly one child, e.g. "
                                    f"'*{children[0]}' instead of '{items[0]}'.")
        if len(heads) > 1:
            starred = ", ".join(f"*{children[i]}" for i in heads)
            raise self.fail(number, f"rule for {lhs} marks {len(heads)} heads ({starred}): a rule has "
                                    f"exactly one head; give the others a relation, e.g. "
                                    f"'{children[heads[1]]}:obj'.")
        weight = self._weight(match["weight"], number)
        rule = Rule(lhs, tuple(children), tuple(relations), heads[0], weight, number)
        for other in self.rules:
            if other.lhs == lhs and other.children == rule.children and other.relations == rule.relations:
                raise self.fail(number, f"duplicate rule (same as line {other.line}); merge the two into "
                                        f"one rule with the summed weight.")
        self.rules.append(rule)
        self.first_definition.setdefault(lhs, number)
        for child in children:
            self.first_use.setdefault(child, number)

    def _read_child(self, item: str, number: int) -> tuple[str, str | None]:
        if item.startswith("*"):
            if ":" in item:
                raise self.fail(number, f"head child {item!r} carries a relation: the head takes its "
                                        f"parent's place in the tree, so write just "
                                        f"'{item.split(':', 1)[0]}'.")
            return self._symbol(item[1:], number, "head child"), None
        if ":" not in item:
            raise self.fail(number, f"child {item!r} has no relation: write '{item}:REL' with its UD "
                                    f"relation to the head (e.g. '{item}:obj'), or '*{item}' if it is "
                                    f"the head.")
        symbol, relation = item.split(":", 1)
        self._symbol(symbol, number, "child")
        self._check_relation(relation, item, number)
        return symbol, relation

    def _check_relation(self, relation: str, item: str, number: int) -> None:
        if relation == "root":
            raise self.fail(number, f"{item!r}: 'root' is given to the sentence's head word "
                                    f"automatically; use the child's relation to its head instead.")
        universal = relation.split(":", 1)[0]
        if not _RELATION_RE.match(relation) or universal not in UD_RELATIONS:
            close = difflib.get_close_matches(universal, UD_RELATIONS, n=2, cutoff=0.6)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise self.fail(number, f"{item!r}: {relation!r} is not a UD relation (a universal relation "
                                    f"such as nsubj, obj, obl, optionally with a lowercase subtype as in "
                                    f"'nsubj:pass').{hint}")

    def _weight(self, text: str | None, number: int) -> float:
        if text is None:
            return 1.0
        try:
            weight = float(text)
        except ValueError:
            raise self.fail(number, f"bad weight [{text}]: write a positive number, e.g. [2] or "
                                    f"[0.5].") from None
        if not math.isfinite(weight) or weight <= 0:
            raise self.fail(number, f"bad weight [{text}]: weights must be positive and finite "
                                    f"(delete the rule to turn it off).")
        return weight

    def _read_lexicon(self, line: str, number: int) -> None:
        match = _LEXICON_RE.match(line)
        if not match:
            raise self.fail(number, f"cannot read lexicon line {line!r}: write "
                                    f"'lexicon CATEGORY UPOS: word word ...', e.g. 'lexicon N NOUN: dog cat'.")
        name = self._symbol(match["cat"], number, "lexical category")
        upos, words = match["upos"], match["words"].split()
        if upos not in UPOS_TAGS:
            close = difflib.get_close_matches(upos.upper(), UPOS_TAGS, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise self.fail(number, f"{upos!r} is not a UPOS tag.{hint} Tags: {', '.join(sorted(UPOS_TAGS))}.")
        if not words:
            raise self.fail(number, f"lexicon {name} lists no words: put them after the colon, "
                                    f"e.g. 'lexicon {name} {upos}: word1 word2'.")
        previous = self.lexicon.get(name)
        if previous is not None and previous.upos != upos:
            raise self.fail(number, f"lexicon {name} was tagged {previous.upos} at line {previous.line}, "
                                    f"here {upos}: one category has one UPOS tag; use a new category name.")
        known = set(previous.words) if previous else set()
        for word in words:
            if word in known:
                raise self.fail(number, f"word {word!r} is listed twice in lexicon {name}; list it once.")
            known.add(word)
        merged = (previous.words if previous else ()) + tuple(words)
        self.lexicon[name] = LexicalCategory(name, upos, merged, previous.line if previous else number)
        self.first_definition.setdefault(name, number)


# --------------------------------------------------------------------------------------
# The grammar


class Grammar:
    """A parsed, validated head-marked PCFG that generates dependency-annotated sentences."""

    def __init__(self, rules: list[Rule], lexicon: dict[str, LexicalCategory], start: str,
                 name: str, path: str | None = None):
        self.name = name
        self.path = path
        self.start = start
        self.rules = tuple(rules)
        self.lexicon = dict(lexicon)
        self._compile()
        self._cdf_levels: list[np.ndarray] = []
        self._choice_memo: dict[tuple, tuple[list[int], list[float]]] = {}
        self._step_memo: dict[tuple, tuple[float, tuple, tuple]] = {}

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_file(cls, path) -> "Grammar":
        path = Path(path)
        text = read_text(path, "grammar file", f"does not exist. Check the path, or use a built-in grammar: "
                                               f"{', '.join(builtin_grammar_names())}.")
        return cls.from_text(text, name=path.stem, path=str(path))

    @classmethod
    def from_text(cls, text: str, name: str = "<string>", path: str | None = None) -> "Grammar":
        """Parse and validate grammar text; errors name ``path`` (or ``name``) and the line."""
        parser = _Parser(text, path or name)
        _validate(parser)
        start = parser.start or parser.rules[0].lhs
        return cls(parser.rules, parser.lexicon, start, name=name, path=path)

    def _compile(self) -> None:
        """Turn rules into integer tables that the sampler indexes without dict lookups."""
        names = sorted({r.lhs for r in self.rules} | set(self.lexicon))
        self.symbols = tuple(names)
        index = {s: i for i, s in enumerate(names)}
        n = len(names)
        self._start_id = index[self.start]
        self._is_lexical = [s in self.lexicon for s in names]
        self._words = [self.lexicon[s].words if s in self.lexicon else () for s in names]
        self._upos = [self.lexicon[s].upos if s in self.lexicon else "" for s in names]
        totals: dict[str, float] = {}
        for rule in self.rules:
            totals[rule.lhs] = totals.get(rule.lhs, 0.0) + rule.weight
        self._rules_of: list[list[int]] = [[] for _ in range(n)]
        self._prob, self._children, self._edges, self._head, self._deps = [], [], [], [], []
        for rid, rule in enumerate(self.rules):
            self._rules_of[index[rule.lhs]].append(rid)
            self._prob.append(rule.weight / totals[rule.lhs])
            self._children.append(tuple(index[c] for c in rule.children))
            self._edges.append(tuple(int(r == RELCL) for r in rule.relations))
            self._head.append(rule.head)
            self._deps.append(tuple((i, r) for i, r in enumerate(rule.relations) if r is not None))
        self._free_choice = [self._cumulative(ids, [self._prob[r] for r in ids]) for ids in self._rules_of]
        width = max(len(c) for c in self._children)
        pad = 2 * n  # index of a constant 1.0 in the vector the depth fixed point builds
        self._child_matrix = np.full((len(self.rules), width), pad, dtype=np.int64)
        for rid, (children, edges) in enumerate(zip(self._children, self._edges)):
            self._child_matrix[rid, : len(children)] = [c + n * e for c, e in zip(children, edges)]
        self._rule_lhs = np.array([index[r.lhs] for r in self.rules], dtype=np.int64)
        self._rule_prob = np.array(self._prob)
        self._lexical_mask = np.array(self._is_lexical)

    @staticmethod
    def _cumulative(ids: list[int], weights: list[float]) -> tuple[list[int], list[float]]:
        """Candidates with positive weight and their cumulative probabilities (last = 1.0)."""
        kept = [(i, w) for i, w in zip(ids, weights) if w > 0]
        total = sum(w for _, w in kept)
        cum, running = [], 0.0
        for _, w in kept:
            running += w / total
            cum.append(running)
        if cum:
            cum[-1] = 1.0
        return [i for i, _ in kept], cum

    # -- what the grammar contains --------------------------------------------------------
    @property
    def relations(self) -> frozenset[str]:
        """Every dependency relation the grammar can produce (``root`` included)."""
        return frozenset(r for rule in self.rules for r in rule.relations if r is not None) | {"root"}

    def expected_length(self) -> float:
        """Mean sentence length in words without depth or length constraints."""
        return float(_expected_lengths(self)[self._start_id])

    def digest(self) -> str:
        """sha256 of everything generation reads from the grammar: its name (each sentence's
        ``meta``), start symbol, rules in order (weights exactly) and lexicon. Part of the
        generated-corpus cache's key (:func:`generate_corpus`)."""
        content = {
            "name": self.name, "start": self.start,
            "rules": [[r.lhs, list(r.children), list(r.relations), r.head, float(r.weight).hex()] for r in self.rules],
            "lexicon": [[c.name, c.upos, list(c.words)] for c in self.lexicon.values()],
        }
        return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode("utf-8")).hexdigest()

    def __repr__(self) -> str:
        return (f"Grammar({self.name!r}, {len(self.rules)} rules, {len(self.lexicon)} lexical "
                f"categories, {sum(len(c.words) for c in self.lexicon.values())} words)")

    # -- depth probabilities --------------------------------------------------------------
    def _cdf(self, symbol: int, k: int | None) -> float:
        """P(a subtree of ``symbol`` has rc depth <= k); k None means unbounded."""
        if k is None:
            return 1.0
        if k < 0:
            return 0.0
        while len(self._cdf_levels) <= k:
            self._cdf_levels.append(self._cdf_level(len(self._cdf_levels)))
        return float(self._cdf_levels[k][symbol])

    def _cdf_level(self, k: int) -> np.ndarray:
        """Least fixed point of F_k(X) = sum_r p_r prod_c F_{k - edge_c}(c), iterated from zero.

        Children under an ``acl:relcl`` edge read the previous level, the others this level;
        the iteration converges because validation rejected grammars whose trees can explode.
        """
        n = len(self.symbols)
        values = np.zeros(2 * n + 1)
        values[n: 2 * n] = self._cdf_levels[k - 1] if k > 0 else 0.0
        values[2 * n] = 1.0
        level = self._lexical_mask.astype(float)
        for _ in range(100_000):
            values[:n] = level
            per_rule = self._rule_prob * np.prod(values[self._child_matrix], axis=1)
            new = np.bincount(self._rule_lhs, weights=per_rule, minlength=n)
            new[self._lexical_mask] = 1.0
            done = np.max(np.abs(new - level)) < 1e-15
            level = new
            if done:
                break
        return level

    def _rule_mass(self, rid: int, lo: int, hi: int | None, first: int = 0) -> float:
        """P(children ``first..`` of rule ``rid`` have max(depth + edge) in [lo, hi])."""
        upper, lower = 1.0, 1.0
        for c, e in zip(self._children[rid][first:], self._edges[rid][first:]):
            upper *= self._cdf(c, None if hi is None else hi - e)
            lower *= self._cdf(c, lo - 1 - e)
        return max(upper - lower, 0.0) if lo > 0 else upper

    def _choice(self, symbol: int, lo: int, hi: int | None) -> tuple[list[int], list[float]]:
        """Rules of ``symbol`` and their probabilities given its subtree depth lies in [lo, hi]."""
        key = (symbol, lo, hi)
        if key not in self._choice_memo:
            ids = self._rules_of[symbol]
            weights = [self._prob[r] * self._rule_mass(r, lo, hi) for r in ids]
            floor = _NEGLIGIBLE * max(weights)  # rounding residue, not a real possibility
            self._choice_memo[key] = self._cumulative(ids, [w if w > floor else 0.0 for w in weights])
        return self._choice_memo[key]

    def _step(self, rid: int, lo: int, hi: int | None, i: int) -> tuple[float, tuple, tuple]:
        """For child ``i`` while no earlier child reached depth ``lo``: P(this child reaches it),
        and the child's (lo, hi) state if it does and if it does not."""
        key = (rid, lo, hi, i)
        if key not in self._step_memo:
            c, e = self._children[rid][i], self._edges[rid][i]
            child_hi = None if hi is None else hi - e
            reach = (self._cdf(c, child_hi) - self._cdf(c, lo - 1 - e)) * self._rule_mass(rid, 0, hi, i + 1)
            miss = self._cdf(c, lo - 1 - e) * self._rule_mass(rid, lo, hi, i + 1)
            if miss <= _NEGLIGIBLE * reach:  # rounding residue: the child must reach the depth
                miss = 0.0
            p_reach = 1.0 if miss == 0.0 else reach / (reach + miss)
            self._step_memo[key] = (p_reach, (max(lo - e, 0), child_hi), (0, lo - 1 - e))
        return self._step_memo[key]

    def _max_reachable_depth(self, limit: int) -> int:
        """The deepest relative-clause nesting the grammar can produce, counted up to ``limit``."""
        can = set(range(len(self.symbols)))  # symbols whose subtree can reach the current depth
        for depth in range(1, limit + 1):
            previous, can = can, set()
            changed = True
            while changed:
                changed = False
                for rid, rule_children in enumerate(self._children):
                    lhs = int(self._rule_lhs[rid])
                    if lhs in can:
                        continue
                    if any((c in previous) if e else (c in can)
                           for c, e in zip(rule_children, self._edges[rid])):
                        can.add(lhs)
                        changed = True
            if self._start_id not in can:
                return depth - 1
        return limit

    # -- generation -----------------------------------------------------------------------
    def generate(self, n: int, seed: int, *, min_rc_depth: int = 0, max_rc_depth: int | None = None,
                 max_length: int = 40) -> list[Sentence]:
        """``n`` sentences drawn from the grammar given rc depth in range and length <= max_length.

        The same arguments give the same sentences; with the same seed, a larger ``n`` starts
        with the sentences of a smaller one.
        """
        check_int(n, "n", minimum=1)
        check_int(seed, "seed", minimum=0)
        check_int(min_rc_depth, "min_rc_depth", minimum=0)
        if max_rc_depth is not None:
            check_int(max_rc_depth, "max_rc_depth", minimum=0)
            if max_rc_depth < min_rc_depth:
                raise ProbekitError(f"max_rc_depth={max_rc_depth} is below min_rc_depth={min_rc_depth}; "
                                    f"give max_rc_depth >= min_rc_depth (or leave it unset).")
        check_int(max_length, "max_length", minimum=1)
        if min_rc_depth >= max_length:
            raise ProbekitError(f"min_rc_depth={min_rc_depth} needs sentences of more than {min_rc_depth} "
                                f"words, but max_length={max_length}; raise max_length.")
        if max_rc_depth is not None and max_rc_depth >= max_length:
            max_rc_depth = None  # a sentence of max_length words cannot be deeper anyway
        self._check_depth_reachable(min_rc_depth, max_rc_depth)
        draw = _Sampler(self, seed, max_length).draw
        sentences: list[Sentence] = []
        redraws = 0
        while len(sentences) < n:
            try:
                sentences.append(draw(min_rc_depth, max_rc_depth))
                redraws = 0
            except (_TooLong, RecursionError):
                redraws += 1
                if redraws >= _MAX_CONSECUTIVE_REDRAWS:
                    raise ProbekitError(
                        f"grammar {self.name!r}: {redraws} draws in a row were longer than "
                        f"max_length={max_length} words (rc depth {_depth_range(min_rc_depth, max_rc_depth)}). "
                        f"Raise max_length or lower min_rc_depth."
                    ) from None
        return sentences

    def _check_depth_reachable(self, lo: int, hi: int | None) -> None:
        deepest = self._max_reachable_depth(lo)
        if deepest < lo:
            raise ProbekitError(
                f"grammar {self.name!r} cannot nest relative clauses ({RELCL!r} edges) more than "
                f"{deepest} deep, so min_rc_depth={lo} is impossible. Lower min_rc_depth, or add a rule "
                f"that puts a relative clause inside a relative clause."
            )
        mass = self._cdf(self._start_id, hi) - self._cdf(self._start_id, lo - 1)
        if mass <= 1e-12:
            raise ProbekitError(
                f"grammar {self.name!r} cannot produce sentences with rc depth {_depth_range(lo, hi)} "
                f"(probability {mass:.2g}). Widen the depth range."
            )


def _depth_range(lo: int, hi: int | None) -> str:
    return f"{lo}..{'unbounded' if hi is None else hi}"


class _Sampler:
    """Draws one sentence at a time from a grammar, reading uniforms from one seeded stream."""

    def __init__(self, grammar: Grammar, seed: int, max_length: int):
        self.grammar = grammar
        self.max_length = max_length
        self._rng = np.random.default_rng(seed)
        self._block: list[float] = []
        self._next = 0

    def uniform(self) -> float:
        if self._next == len(self._block):
            self._block = self._rng.random(_RANDOM_BLOCK).tolist()
            self._next = 0
        value = self._block[self._next]
        self._next += 1
        return value

    def draw(self, lo: int, hi: int | None) -> Sentence:
        """One sentence whose rc depth lies in [lo, hi]; raises _TooLong past max_length words."""
        g = self.grammar
        uniform, max_length = self.uniform, self.max_length
        is_lexical, lex_words, lex_upos = g._is_lexical, g._words, g._upos
        free_choice, choice, step = g._free_choice, g._choice, g._step
        children_of, edges_of, head_of, deps_of = g._children, g._edges, g._head, g._deps
        words: list[str] = []
        upos: list[str] = []
        heads: list[int] = []
        rels: list[str] = []
        deepest = [0]

        def expand(symbol: int, lo: int, hi: int | None, depth: int) -> int:
            """Append the words of one subtree; return the position of its head word."""
            if is_lexical[symbol]:
                if len(words) == max_length:
                    raise _TooLong
                options = lex_words[symbol]
                words.append(options[int(uniform() * len(options))])
                upos.append(lex_upos[symbol])
                heads.append(0)
                rels.append("root")
                if depth > deepest[0]:
                    deepest[0] = depth
                return len(words) - 1
            free = lo == 0 and hi is None
            ids, cum = free_choice[symbol] if free else choice(symbol, lo, hi)
            rid = ids[bisect_right(cum, uniform())] if len(ids) > 1 else ids[0]
            children, edges = children_of[rid], edges_of[rid]
            if free:
                positions = [expand(c, 0, None, depth + e) for c, e in zip(children, edges)]
            else:
                positions = []
                reached = lo == 0
                for i, c in enumerate(children):
                    e = edges[i]
                    if reached:
                        state = (0, None if hi is None else hi - e)
                    else:
                        p_reach, hit, miss = step(rid, lo, hi, i)
                        reached = p_reach >= 1.0 or uniform() < p_reach
                        state = hit if reached else miss
                    positions.append(expand(c, state[0], state[1], depth + e))
            head = positions[head_of[rid]]
            for i, rel in deps_of[rid]:
                heads[positions[i]] = head + 1
                rels[positions[i]] = rel
            return head

        expand(g._start_id, lo, hi, 0)
        return Sentence(tuple(words), tuple(heads), tuple(rels), tuple(upos),
                        meta={"grammar": g.name, "rc_depth": str(deepest[0])})


# --------------------------------------------------------------------------------------
# Validation


def _validate(parser: _Parser) -> None:
    """Reject grammars that cannot generate, or would generate forever; say where and why."""
    fail = parser.fail
    if not parser.rules:
        raise ProbekitError(f"{parser.source}: the grammar has no rules (lines 'LHS -> ... *HEAD ...'). "
                            f"See docs/grammars.md for the format.")
    phrasal = {r.lhs for r in parser.rules}
    totals: dict[str, float] = {}
    for rule in parser.rules:
        totals[rule.lhs] = totals.get(rule.lhs, 0.0) + rule.weight
        if not math.isfinite(totals[rule.lhs]):
            raise fail(rule.line, f"the weights of {rule.lhs}'s rules add up past the largest number a float "
                                  f"holds; scale them down (only their ratios matter).")
    for name, category in parser.lexicon.items():
        if name in phrasal:
            line = min(r.line for r in parser.rules if r.lhs == name)
            raise fail(line, f"{name} is both a lexical category (line {category.line}) and a phrase "
                             f"with rules; rename one of them.")
    defined = phrasal | set(parser.lexicon)
    for symbol, line in sorted(parser.first_use.items(), key=lambda item: item[1]):
        if symbol not in defined:
            close = difflib.get_close_matches(symbol, defined, n=2, cutoff=0.6)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise fail(line, f"symbol {symbol!r} is used but never defined.{hint} Add rules "
                             f"'{symbol} -> ...' or a line 'lexicon {symbol} UPOS: words'.")
    start = parser.start or parser.rules[0].lhs
    if start not in defined:
        raise fail(parser.start_line, f"start symbol {start!r} has no rules; add '{start} -> ...' "
                                      f"or name a defined symbol.")
    _check_reachable(parser, start, defined)
    _check_terminating(parser, phrasal)
    _check_not_explosive(parser, start)


def _check_reachable(parser: _Parser, start: str, defined: set[str]) -> None:
    reached, frontier = {start}, [start]
    while frontier:
        symbol = frontier.pop()
        for rule in parser.rules:
            if rule.lhs == symbol:
                for child in rule.children:
                    if child not in reached:
                        reached.add(child)
                        frontier.append(child)
    unreachable = sorted(defined - reached, key=lambda s: parser.first_definition[s])
    if unreachable:
        symbol = unreachable[0]
        raise parser.fail(parser.first_definition[symbol],
                          f"symbol {symbol!r} can never be used: no rule leads to it from the start "
                          f"symbol {start!r}. Use it in a rule, or delete it.")


def _check_terminating(parser: _Parser, phrasal: set[str]) -> None:
    """Every phrase needs a rule whose children all end in words (else generation never stops)."""
    finishing = set(parser.lexicon)
    changed = True
    while changed:
        changed = False
        for rule in parser.rules:
            if rule.lhs not in finishing and all(c in finishing for c in rule.children):
                finishing.add(rule.lhs)
                changed = True
    stuck = sorted(phrasal - finishing, key=lambda s: parser.first_definition[s])
    if stuck:
        symbol = _root_cause(parser, set(stuck))
        raise parser.fail(parser.first_definition[symbol],
                          f"{symbol} can never finish: each of its rules leads back to {symbol} "
                          f"without a way out, so no derivation ends in words (symbols affected: "
                          f"{', '.join(stuck)}). Add a rule for {symbol} whose children all end in "
                          f"words (e.g. '{symbol} -> *N' with N a lexical category).")


def _root_cause(parser: _Parser, stuck: set[str]) -> str:
    """The first stuck symbol that is stuck on its own cycle, not merely because it uses one."""
    uses = {s: {c for r in parser.rules if r.lhs == s for c in r.children if c in stuck} for s in stuck}
    reach: dict[str, set[str]] = {}
    for symbol in stuck:
        seen, frontier = set(), [symbol]
        while frontier:
            for child in uses[frontier.pop()]:
                if child not in seen:
                    seen.add(child)
                    frontier.append(child)
        reach[symbol] = seen
    on_own_cycle = [s for s in stuck if all(s in reach[t] for t in reach[s])]
    return min(on_own_cycle or stuck, key=lambda s: parser.first_definition[s])


def _branching(rules: list[Rule], phrases: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Mean matrix (expected children of each phrase per phrase) and expected words per phrase."""
    index = {s: i for i, s in enumerate(phrases)}
    totals: dict[str, float] = {}
    for rule in rules:
        totals[rule.lhs] = totals.get(rule.lhs, 0.0) + rule.weight
    mean = np.zeros((len(phrases), len(phrases)))
    words = np.zeros(len(phrases))
    for rule in rules:
        p = rule.weight / totals[rule.lhs]
        for child in rule.children:
            if child in index:
                mean[index[rule.lhs], index[child]] += p
            else:
                words[index[rule.lhs]] += p
    return mean, words


def _check_not_explosive(parser: _Parser, start: str) -> None:
    """Recursive rules must be unlikely enough that sentences stay finite on average."""
    phrases = sorted({r.lhs for r in parser.rules})
    mean, _ = _branching(parser.rules, phrases)
    radius = float(np.max(np.abs(np.linalg.eigvals(mean)))) if len(phrases) else 0.0
    if radius >= 1.0 - 1e-9:
        recursive = [r for r in parser.rules if any(c in phrases for c in r.children)]
        culprit = max(recursive, key=lambda r: sum(c in phrases for c in r.children) * r.weight)
        raise parser.fail(culprit.line,
                          f"the recursive rules are too likely: each phrase expects {radius:.2f} copies "
                          f"of itself (must be < 1), so sentences would grow without end. Lower the "
                          f"weight of recursive rules such as '{culprit}'.")


def _expected_lengths(grammar: Grammar) -> np.ndarray:
    """Expected words under each symbol: solve L = words + M L for the phrasal symbols."""
    phrases = [s for s in grammar.symbols if s not in grammar.lexicon]
    mean, words = _branching(list(grammar.rules), phrases)
    lengths = np.linalg.solve(np.eye(len(phrases)) - mean, words)
    by_symbol = dict(zip(phrases, lengths))
    return np.array([by_symbol.get(s, 1.0) for s in grammar.symbols])


# --------------------------------------------------------------------------------------
# Built-in grammars and the one-call API


def builtin_grammar_dir() -> Path:
    """Where the shipped ``.pcfg`` files live (``tasks/grammars`` in a checkout)."""
    return grammar_dir()


def builtin_grammar_names() -> list[str]:
    return sorted(p.stem for p in builtin_grammar_dir().glob("*.pcfg"))


def load_grammar(name_or_path: str) -> Grammar:
    """A built-in grammar by name (``"A"``, ``"B"``) or a ``.pcfg`` file by path."""
    if isinstance(name_or_path, Grammar):
        return name_or_path
    text = str(name_or_path)
    builtin = builtin_grammar_dir() / f"{text}.pcfg"
    if text in builtin_grammar_names():
        return Grammar.from_file(builtin)
    looks_like_path = text.endswith(".pcfg") or "/" in text or "\\" in text or Path(text).exists()
    if looks_like_path:
        return Grammar.from_file(text)
    names = builtin_grammar_names()
    close = difflib.get_close_matches(text, names, n=2, cutoff=0.5) or \
        difflib.get_close_matches(text.upper(), names, n=2, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ProbekitError(f"unknown grammar {text!r}.{hint} Built-in grammars: {', '.join(names)}; "
                        f"or give the path to a .pcfg file (format: docs/grammars.md).")


_CONSTRAINTS = ("min_rc_depth", "max_rc_depth", "max_length")


@functools.lru_cache(maxsize=1)
def _generator_digest() -> str:
    """What generated sentences depend on besides the grammar and the settings: this module's
    and :mod:`probekit.corpus`'s sources and numpy's version (its random streams may change
    between versions). Part of the generated-corpus cache's key."""
    digest = hashlib.sha256(f"numpy {np.__version__}\n".encode())
    for module in (__file__, Path(__file__).with_name("corpus.py")):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()


def generate_corpus(grammar: str | Grammar, n: int, seed: int, cache: bool = True, **constraints) -> Corpus:
    """``n`` sentences of a built-in or file grammar as a :class:`Corpus` named after it.

    ``constraints`` are ``min_rc_depth``, ``max_rc_depth`` and ``max_length`` (see
    :meth:`Grammar.generate`). With ``cache`` the sentences are stored in and served from the
    generated-corpus cache (:mod:`probekit.parse_cache`, ``$PROBEKIT_CACHE/generated/``), keyed by
    the grammar's content (:meth:`Grammar.digest`), ``n``, ``seed``, the constraints and the
    generator's code: a hit is the same sentences, read in a few milliseconds instead of
    generated at about 0.2 ms each.
    """
    for key in constraints:
        if key not in _CONSTRAINTS:
            close = difflib.get_close_matches(key, _CONSTRAINTS, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ProbekitError(f"unknown generation option {key!r}.{hint} Options: {', '.join(_CONSTRAINTS)}.")
    loaded = load_grammar(grammar)
    if not cache:
        return Corpus(loaded.generate(n, seed, **constraints), name=loaded.name)
    # a setting generate() refuses raises there and stores nothing, so a hit always had valid settings
    settings = json.dumps({"grammar": loaded.digest(), "n": n, "seed": seed, "constraints": constraints},
                          sort_keys=True, default=repr)
    sentences = cached_parse(settings.encode("utf-8"), lambda: loaded.generate(n, seed, **constraints), Sentence,
                             default_cache_root(), atomic_write, parser=_generator_digest(), folder="generated")
    return Corpus(sentences, name=loaded.name)


__all__: list[str] = [
    "Grammar", "Rule", "LexicalCategory", "RELCL", "builtin_grammar_dir", "builtin_grammar_names",
    "load_grammar", "generate_corpus",
]
