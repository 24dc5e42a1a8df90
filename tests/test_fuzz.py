"""Property-based tests of the three readers of user files (issue 16): the CoNLL-U reader, the
grammar reader and the task-file loader answer any input with a result or a ProbekitError,
never another exception; and every CoNLL-U file the reader accepts has exactly the columns a
plain tab split gives.

Profiles: ``ci`` (the default, 5,000 inputs per reader) and ``nightly`` (50,000):
``PROBEKIT_FUZZ=nightly pytest tests/test_fuzz.py``.
"""

from __future__ import annotations

import atexit
import copy
import math
import os
import random
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probekit.corpus import parse_conllu
from probekit.errors import ProbekitError
from probekit.grammar import Grammar

settings.register_profile("ci", max_examples=5000, deadline=None, database=None, derandomize=True,
                          suppress_health_check=list(HealthCheck))
settings.register_profile("nightly", max_examples=50000, deadline=None, database=None,
                          suppress_health_check=list(HealthCheck))
PROFILE = os.environ.get("PROBEKIT_FUZZ", "ci")

# Each input is built by a random.Random seeded from one hypothesis draw: one draw per input
# keeps 5,000 inputs per reader within seconds (hypothesis's own composite strategies cost
# ~30 ms per input here), while the seed still makes every failure reproducible.
seeds = st.integers(min_value=0, max_value=2**32 - 1)

# -- CoNLL-U -----------------------------------------------------------------------------------

TRICKY = ["\t", "  ", " ", "_", "-", ".", "#", "=", "0", "1", "2", "3", "10", "01", "\u0663", "\u00a0", "\r",
          "\x0b", "\x1c", "\u2028", "root", "nsubj", "obj:x", "NOUN", "a b", "New  York", "\ufeff", ""]
SEPARATORS = ["\t", "\t", "\t", "\t", "\t", "\t", "  ", " ", "\t\t"]


def random_field(rng) -> str:
    if rng.random() < 0.5:
        return rng.choice(TRICKY)
    return "".join(rng.choice(TRICKY + list("ab9-_.: ")) for _ in range(rng.randint(0, 5)))


def valid_word_line(rng, index: int, n: int) -> str:
    head = "0" if index == 1 else str(rng.randint(1, index - 1))  # word 1 is the root: always a tree
    form = rng.choice(["dog", "New  York", "a b", "_", "caf\u00e9", "9"])
    feats = rng.choice(["_", "Number=Sing", "A=1  B=2"])
    return "\t".join([str(index), form, "_", rng.choice(["NOUN", "VERB", "_"]), "_", feats, head,
                      rng.choice(["root", "nsubj", "obj", "nsubj:pass", "_"]), "_", "_"])


def damaged(rng, line: str) -> str:
    columns = line.split("\t")
    for _ in range(rng.randint(1, 2)):
        what = rng.random()
        if what < 0.4:
            columns[rng.randrange(len(columns))] = random_field(rng)
        elif what < 0.6 and len(columns) > 1:
            del columns[rng.randrange(len(columns))]
        elif what < 0.8:
            columns[6] = rng.choice(["99", "\u0663", "01", "-1", "x", "0"]) if len(columns) > 6 else ""
        else:
            columns[0] = rng.choice(["0", "x", "3-2", "2-3", "1.1", "7"])
    separators = [rng.choice(SEPARATORS) for _ in columns]
    return "".join(c + sep for c, sep in zip(columns, separators))[:-1]


def random_conllu(seed: int) -> str:
    """Mostly valid sentences (a FORM or FEATS may hold two spaces), some lines damaged."""
    rng = random.Random(seed)
    if rng.random() < 0.1:  # no structure at all
        return "".join(rng.choice(TRICKY + list("\nab#")) for _ in range(rng.randint(0, 80)))
    damage = rng.choice([0.0, 0.0, 0.05, 0.3])
    lines = []
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.5:
            lines.append("# " + rng.choice(["sent_id = 1", "text = a  b", "newdoc", "= x", "k ="]))
        n = rng.randint(1, 6)
        for i in range(1, n + 1):
            if rng.random() < 0.1:
                lines.append(f"{i}-{i + 1}\tdon't" + "\t_" * 8)
            line = valid_word_line(rng, i, n)
            lines.append(damaged(rng, line) if rng.random() < damage else line)
        lines.append(rng.choice(["", "", " ", "\t"]))
    return "\n".join(lines) + rng.choice(["", "\n", "\n\n"])


def plain_tab_split(text: str) -> list[tuple[str, str, str, str]]:
    """(FORM, UPOS, HEAD, DEPREL) of every word line, by the simplest rule there is."""
    words = []
    for line in text.split("\n"):
        if line.strip() and not line.startswith("#"):
            columns = line.split("\t")
            if re.fullmatch(r"[1-9][0-9]*", columns[0]):
                words.append((columns[1], columns[3], columns[6], columns[7]))
    return words


@settings.get_profile(PROFILE)
@given(seeds)
def test_conllu_reader_raises_only_probekit_errors_and_agrees_with_a_tab_split(seed):
    text = random_conllu(seed)
    try:
        sentences = parse_conllu(text, "fuzz.conllu")
    except ProbekitError as exc:
        assert str(exc).startswith("fuzz.conllu")
        return
    read = [(w, u, str(h), d) for s in sentences for w, u, h, d in zip(s.words, s.upos, s.heads, s.deprels)]
    assert read == plain_tab_split(text)


# -- grammars ----------------------------------------------------------------------------------

SYMBOLS = ["S", "NP", "VP", "N", "V", "Det", "X", "s", "1A", "S'"]
RELATIONS = ["nsubj", "obj", "det", "acl:relcl", "root", "nsubj:pass", "foo", "obl:Tmod", ""]
WEIGHTS = ["1e308", "1e308", "1e-320", "0", "-1", "2", "0.5", "x", "", "1e400", "nan", "inf", "5e307"]


BASE_GRAMMAR = """start S
S -> NP:nsubj *VP [2]
S -> NP:nsubj *V [1]
VP -> *V NP:obj [1]
NP -> Det:det *N [3]
NP -> *N [1]
lexicon N NOUN: dog cat
lexicon V VERB: ran saw
lexicon Det DET: the""".split("\n")


def random_grammar(seed: int) -> str:
    """A valid grammar with 0-3 random changes: weights (1e308 included), rules, symbols, junk."""
    rng = random.Random(seed)
    lines = list(BASE_GRAMMAR)
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        what, at = rng.random(), rng.randrange(len(lines) + 1)
        if what < 0.3 and lines:  # one weight, or every weight (two rules at 1e308 overflow their sum)
            new = rng.choice(WEIGHTS)
            for i in [rng.randrange(len(lines))] if rng.random() < 0.5 else range(len(lines)):
                if "[" in lines[i]:
                    lines[i] = lines[i][: lines[i].index("[")] + f"[{new}]"
        elif what < 0.55:
            children = [f"*{rng.choice(SYMBOLS)}" if rng.random() < 0.4 else f"{rng.choice(SYMBOLS)}:{rng.choice(RELATIONS)}"
                        for _ in range(rng.randint(0, 3))]
            weight = "" if rng.random() < 0.4 else f" [{rng.choice(WEIGHTS)}]"
            lines.insert(at, f"{rng.choice(SYMBOLS)} -> {' '.join(children)}{weight}")
        elif what < 0.7:
            words = rng.sample(["dog", "cat", "ran", "the", "dog"], rng.randint(0, 3))
            lines.insert(at, f"lexicon {rng.choice(SYMBOLS)} {rng.choice(['NOUN', 'VERB', 'DET', 'NUON', ''])}: "
                             f"{' '.join(words)}")
        elif what < 0.8 and lines:
            del lines[rng.randrange(len(lines))]
        elif what < 0.9:
            lines.insert(at, f"start {rng.choice(SYMBOLS)}")
        else:
            lines.insert(at, "".join(rng.choice("S->*:[]# \t1e.x\u0663") for _ in range(rng.randint(0, 15))))
    return "\n".join(lines)


@settings.get_profile(PROFILE)
@given(seeds)
def test_grammar_reader_raises_only_probekit_errors(seed):
    text = random_grammar(seed)
    try:
        grammar = Grammar.from_text(text, name="fuzz")
    except ProbekitError:
        return
    try:
        corpus = grammar.generate(2, seed=0, max_length=12)
    except ProbekitError:
        return
    for sentence in corpus:
        assert sentence.tree_problems() == []


# -- task files --------------------------------------------------------------------------------

KEYS = ["name", "type", "description", "default_probe", "options", "n_train", "lag", "scheme", "train_grammar",
        "vocab_size", "colour"]
SCALARS = [0, -1, 3, 10**20, 0.5, float("inf"), True, "", "x", "grammar-roles", "identity", "roles", "A", "linear",
           "syntactic", "caf\u00e9", 'q"uote']


def random_value(rng):
    if rng.random() < 0.15:
        return [rng.choice(SCALARS) for _ in range(rng.randint(0, 3))]
    return rng.choice(SCALARS)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else "inf"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "[" + ", ".join(toml_value(x) for x in v) + "]"


def random_task_file(seed: int) -> bytes:
    rng = random.Random(seed)
    top = {rng.choice(KEYS): random_value(rng) for _ in range(rng.randint(0, 5))}
    if rng.random() < 0.6:
        top.setdefault("name", rng.choice(["t", "", "roles", "fuzz-task", "a b"]))
        top.setdefault("type", rng.choice(["grammar-roles", "identity", "nope", ""]))
    lines = [f"{k} = {toml_value(v)}" for k, v in top.items() if k != "options"]
    if rng.random() < 0.6:
        lines.append("[options]")
        lines += [f"{rng.choice(KEYS)} = {toml_value(random_value(rng))}" for _ in range(rng.randint(0, 4))]
    data = "\n".join(dict.fromkeys(lines)).encode()
    if rng.random() < 0.3:  # damage it
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
        at = rng.randint(0, len(data))
        data = data[:at] + junk + data[at:]
    return data


@contextmanager
def scratch_task_registry():
    """A copy of the task registry, so that fuzzed task names do not outlive the test."""
    import probekit.tasks as tasks_module

    original = tasks_module.task_registry
    original.entries()  # run the loaders first, so the copy has the built-in tasks
    scratch = copy.copy(original)
    scratch._entries = dict(original._entries)
    tasks_module.task_registry = scratch
    try:
        yield
    finally:
        tasks_module.task_registry = original


# in memory where the system has it: opening a file on disk costs more than reading it
FUZZ_DIR = Path(tempfile.mkdtemp(prefix="probekit-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
atexit.register(shutil.rmtree, FUZZ_DIR, True)


@settings.get_profile(PROFILE)
@given(seeds)
def test_task_file_loader_raises_only_probekit_errors(seed):
    data = random_task_file(seed)
    from probekit.tasks import load_task_file

    path = FUZZ_DIR / "task.toml"
    path.write_bytes(data)
    with scratch_task_registry():
        try:
            load_task_file(path)
        except ProbekitError:
            pass
    path.unlink()
