"""Every bad input a careful user can give, through the real command line (click's CliRunner):
exit status 2, one line ``Error: ...`` that names the input, no traceback, and no file left
behind (issue 16). Each case is ``(id, files, args, expected)``: ``files`` are written into a
fresh folder the command runs in (str: UTF-8 text, bytes: as is, None: a folder), and
``expected`` is a regex the message must match."""

from __future__ import annotations

import os
import re
import sys
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from probekit.cli import main

REPO = Path(__file__).resolve().parent.parent
WORD = "{i}\t{form}\t_\tNOUN\t_\t_\t{head}\t{rel}\t_\t_\n"
GOOD_CONLLU = "1\tdogs\t_\tNOUN\t_\t_\t2\tnsubj\t_\t_\n2\tbark\t_\tVERB\t_\t_\t0\troot\t_\t_\n\n"
GRAMMAR = "start S\nS -> N:nsubj *V [1]\nlexicon N NOUN: dog cat\nlexicon V VERB: runs\n"
TASK = 'name = "{name}"\ntype = "grammar-roles"\n'
SMALL = ["-O", "n_train=60", "-O", "n_test=30", "--bootstrap", "100", "-q"]


def conllu(*lines: str) -> str:
    return "".join(line + "\n" for line in lines) + "\n"


def word(i, form="w", head="0", rel="root", upos="NOUN") -> str:
    return f"{i}\t{form}\t_\t{upos}\t_\t_\t{head}\t{rel}\t_\t_"


def stats(name="x.conllu"):
    return ["data", "stats", name]


CASES = [
    # -- names ---------------------------------------------------------------------------------
    ("unknown encoder", {}, ["run", "-e", "emma", "-t", "roles"], r"encoder 'emma'"),
    ("unknown task", {}, ["run", "-e", "ema", "-t", "rolez"], r"task 'rolez'"),
    ("unknown probe", {}, ["run", "-e", "ema", "-t", "roles", "-p", "lineer"], r"probe 'lineer'"),
    ("unknown grammar", {}, ["data", "generate", "-g", "Q", "-n", "3", "-o", "x.conllu"], r"'Q'"),
    ("unknown list kind", {}, ["list", "encoderz"], r"encoderz"),
    ("unknown reproduce section", {}, ["reproduce", "--only", "nope", "--out", "rep"], r"'nope'"),
    ("unknown parser", {"in.txt": "Dogs bark.\n"}, ["data", "parse", "in.txt", "--parser", "nltk", "-o", "o.conllu"],
     r"nltk"),
    ("unknown study", {}, ["study", "width"], r"width"),
    ("unknown command", {}, ["rnu"], r"rnu"),
    ("unknown option", {}, ["run", "-e", "ema", "-t", "roles", "--seeed", "1"], r"--seeed"),
    ("missing required option", {}, ["run", "-t", "roles"], r"--encoder"),
    ("unknown top-level option", {}, ["--verbose"], r"--verbose"),
    # -- options and values --------------------------------------------------------------------
    ("unknown encoder option", {}, ["run", "-e", "ema", "-t", "roles", "-E", "dimm=3"], r"dimm"),
    ("encoder option wrong type", {}, ["run", "-e", "ema", "-t", "roles", "-E", "dim=abc"], r"dim"),
    ("option without =", {}, ["run", "-e", "ema", "-t", "roles", "-E", "dim"], r"dim"),
    ("unknown task option", {}, ["run", "-e", "ema", "-t", "roles", "-O", "n_trian=5"], r"n_trian"),
    ("unknown probe option", {}, ["run", "-e", "ema", "-t", "roles", "-P", "CC=1"], r"CC"),
    ("seed and seeds", {}, ["run", "-e", "ema", "-t", "roles", "--seed", "1", "--seeds", "0,1"], r"--seeds"),
    ("learning curve and train size", {}, ["run", "-e", "ema", "-t", "roles", "--learning-curve", "--train-size", "5"],
     r"--train-size"),
    ("seeds not integers", {}, ["run", "-e", "ema", "-t", "roles", "--seeds", "a,b"], r"'a'"),
    ("train size zero", {}, ["run", "-e", "ema", "-t", "roles", "--train-size", "0", *SMALL, "--out", "runs"],
     r"train_size"),
    ("train sizes, the last too large", {},
     ["run", "-e", "ema", "-t", "roles", "--train-size", "20,100000", *SMALL, "--out", "runs"], r"train_size 100000"),
    ("lags, the last too large", {},
     ["run", "-e", "ema", "-t", "identity", "--lags", "0,100000", "-O", "n_train=50", "-O", "n_test=20",
      "-O", "vocab_size=20", "-O", "random_types=20", "-q", "--out", "runs"], r"lag 100000"),
    ("negative lag", {}, ["run", "-e", "ema", "-t", "identity", "--lags", "-1", "--out", "runs"], r"lag"),
    ("lags and -O lag", {}, ["run", "-e", "ema", "-t", "identity", "--lags", "0,1", "-O", "lag=1"], r"lag"),
    ("too few bootstrap replicates", {}, ["run", "-e", "ema", "-t", "roles", "--bootstrap", "5"], r"--bootstrap"),
    ("encoder dim beyond memory", {}, ["run", "-e", "ema", "-t", "roles", "-E", "dim=1000000000", *SMALL,
                                       "--out", "runs"], r"dim .*GiB"),
    ("control with a zero-label probe", {}, ["run", "-e", "ema", "-t", "roles", "-p", "hebbian", "--control"],
     r"hebbian"),
    ("dilution rate above 1", {}, ["dilution", "--rates", "2", "--mc-trials", "0"], r"rate"),
    ("dilution rates not numbers", {}, ["dilution", "--rates", "x"], r"'x'"),
    ("dilution negative lag", {}, ["dilution", "--lags", "-1"], r"'-1'"),
    ("dilution design range reversed", {}, ["dilution", "--design", "5:1", "--mc-trials", "0"], r"5:1"),
    ("generate zero sentences", {}, ["data", "generate", "-g", "A", "-n", "0", "-o", "x.conllu"], r"-n"),
    ("generate depth range reversed", {},
     ["data", "generate", "-g", "A", "-n", "3", "--min-rc-depth", "3", "--max-rc-depth", "1", "-o", "x.conllu"],
     r"max_rc_depth"),
    # -- CoNLL-U -------------------------------------------------------------------------------
    ("conllu too few columns", {"x.conllu": "1\tdogs\t_\tNOUN\n\n"}, stats(), r"x\.conllu:1: .*10 tab-separated"),
    ("conllu columns split by spaces", {"x.conllu": conllu("1  dogs  _  NOUN  _  _  0  root  _  _")}, stats(),
     r"x\.conllu:1: .*found 1"),
    ("conllu bad ID", {"x.conllu": conllu(word("x"))}, stats(), r"x\.conllu:1: .*ID 'x'"),
    ("conllu ID out of order", {"x.conllu": conllu(word(1), word(3, head="1", rel="dep"))}, stats(),
     r"x\.conllu:2: word ID 3"),
    ("conllu HEAD not a number", {"x.conllu": conllu(word(1, head="x"))}, stats(), r"x\.conllu:1: HEAD"),
    ("conllu HEAD non-ASCII digit", {"x.conllu": conllu(word(1, head="\u0663"))}, stats(), r"x\.conllu:1: HEAD"),
    ("conllu HEAD leading zero", {"x.conllu": conllu(word(1, head="00"))}, stats(), r"x\.conllu:1: HEAD"),
    ("conllu reversed range", {"x.conllu": conllu("3-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_", word(1))}, stats(),
     r"x\.conllu:1: .*3-2"),
    ("conllu empty column", {"x.conllu": conllu("1\tdogs\t\tNOUN\t_\t_\t0\troot\t_\t_")}, stats(),
     r"x\.conllu:1: empty LEMMA"),
    ("conllu DEPREL with a space", {"x.conllu": conllu(word(1, rel="root x"))}, stats(), r"x\.conllu:1: DEPREL"),
    ("conllu head outside the sentence", {"x.conllu": conllu(word(1, head="5"))}, stats(), r"x\.conllu: .*outside"),
    ("conllu huge head", {"x.conllu": conllu(word(1, head="9" * 30))}, stats(), r"x\.conllu: .*outside"),
    ("conllu cycle", {"x.conllu": conllu(word(1, head="2"), word(2, head="1"), word(3))}, stats(), r"cycle"),
    ("conllu two roots", {"x.conllu": conllu(word(1), word(2))}, stats(), r"2 words have head 0"),
    ("conllu not UTF-8", {"x.conllu": word(1, form="caf\xe9").encode("latin-1") + b"\n\n"}, stats(),
     r"x\.conllu:1: not valid UTF-8"),
    ("conllu missing file", {}, stats("nope.conllu"), r"'nope\.conllu' does not exist"),
    ("conllu is a folder", {"d": None}, stats("d"), r"'d' is a folder"),
    ("conllu no sentences", {"x.conllu": "# just a comment\n"}, stats(), r"no sentences"),
    ("agree with a bad parsed file", {"g.conllu": GOOD_CONLLU, "p.conllu": "1\tx\n"},
     ["data", "agree", "g.conllu", "p.conllu"], r"p\.conllu:1"),
    # -- grammars ------------------------------------------------------------------------------
    ("grammar missing file", {}, ["data", "generate", "-g", "g.pcfg", "-n", "3", "-o", "x.conllu"], r"g\.pcfg"),
    ("grammar weights overflow", {"g.pcfg": "start S\nS -> *N [1e308]\nS -> *N N:obj [1e308]\nlexicon N NOUN: dog\n"},
     ["data", "generate", "-g", "g.pcfg", "-n", "3", "-o", "x.conllu"], r"g\.pcfg:3: .*scale them down"),
    ("grammar negative weight", {"g.pcfg": GRAMMAR.replace("[1]", "[-1]")},
     ["data", "generate", "-g", "g.pcfg", "-n", "3", "-o", "x.conllu"], r"g\.pcfg:2: bad weight"),
    ("grammar undefined symbol", {"g.pcfg": GRAMMAR.replace("*V", "*Verb")},
     ["data", "generate", "-g", "g.pcfg", "-n", "3", "-o", "x.conllu"], r"'Verb'"),
    ("grammar no rules", {"g.pcfg": "lexicon N NOUN: dog\n"},
     ["data", "generate", "-g", "g.pcfg", "-n", "3", "-o", "x.conllu"], r"no rules"),
    ("grammar not UTF-8", {"g.pcfg": GRAMMAR.encode() + b"# \xff\n"},
     ["data", "generate", "-g", "g.pcfg", "-n", "3", "-o", "x.conllu"], r"g\.pcfg:5: not valid UTF-8"),
    ("grammar bad UPOS", {"g.pcfg": GRAMMAR.replace("VERB", "VRB")},
     ["data", "generate", "-g", "g.pcfg", "-n", "3", "-o", "x.conllu"], r"'VRB'"),
    # -- task files ----------------------------------------------------------------------------
    ("task file not TOML", {"t.toml": "name = \n"}, ["run", "-e", "ema", "-t", "t.toml"], r"t\.toml: not valid TOML"),
    ("task options not a table", {"t.toml": TASK.format(name="bad-a") + "options = 3\n"},
     ["run", "-e", "ema", "-t", "t.toml"], r"'options' must be a table"),
    ("task file not UTF-8", {"t.toml": b'name = "\xff"\n'}, ["run", "-e", "ema", "-t", "t.toml"],
     r"t\.toml:1: not valid UTF-8"),
    ("task file without name", {"t.toml": 'type = "grammar-roles"\n'}, ["run", "-e", "ema", "-t", "t.toml"],
     r"'name'"),
    ("task file unknown entry", {"t.toml": TASK.format(name="bad-b") + "colour = 1\n"},
     ["run", "-e", "ema", "-t", "t.toml"], r"colour"),
    ("task name not a string", {"t.toml": 'name = 3\ntype = "grammar-roles"\n'}, ["run", "-e", "ema", "-t", "t.toml"],
     r"'name' must be a string"),
    ("task type unknown", {"t.toml": 'name = "bad-c"\ntype = "roles-grammar"\n'}, ["run", "-e", "ema", "-t", "t.toml"],
     r"roles-grammar"),
    ("task option unknown in a file", {"t.toml": TASK.format(name="bad-d") + "[options]\nn_trian = 5\n"},
     ["run", "-e", "ema", "-t", "t.toml"], r"n_trian"),
    ("task path without .toml", {"t.toml": TASK.format(name="bad-e")}, ["run", "-e", "ema", "-t", "./t"],
     r"t\.toml exists"),
    ("task file missing", {}, ["run", "-e", "ema", "-t", "gone.toml"], r"'gone\.toml' not found"),
    ("task file is a folder", {"d.toml": None}, ["run", "-e", "ema", "-t", "d.toml"], r"is a folder"),
    # -- records -------------------------------------------------------------------------------
    ("compare missing folder", {}, ["compare", "nowhere"], r"'nowhere'"),
    ("compare only old records", {"r/a.json": '{"record_version": 0}'}, ["compare", "r"], r"record_version 0"),
    ("compare corrupt record named", {"a.json": "{"}, ["compare", "a.json"], r"a\.json: not a readable"),
    ("compare non-UTF-8 record named", {"a.json": b"\xff\xfe"}, ["compare", "a.json"], r"a\.json: not a readable"),
    ("compare empty folder", {"r": None}, ["compare", "r"], r"no result records"),
    ("plot corrupt record named", {"a.json": "[1,"}, ["plot", "a.json", "-o", "p.png"], r"a\.json"),
    # -- output paths --------------------------------------------------------------------------
    ("run --out is a file", {"f": "x"}, ["run", "-e", "ema", "-t", "roles", "--out", "f"], r"'f' is a file"),
    ("run --out under a file", {"f": "x"}, ["run", "-e", "ema", "-t", "roles", "--out", "f/runs"], r"'f' is a file"),
    ("plot -o is a folder", {"r/a.json": "{}", "o": None}, ["plot", "r", "-o", "o"], r"'o' is a (folder|directory)"),
    ("generate -o is a folder", {"o": None}, ["data", "generate", "-g", "A", "-n", "3", "-o", "o"], r"'o' is a (folder|directory)"),
    ("generate -o under a file", {"f": "x"}, ["data", "generate", "-g", "A", "-n", "3", "-o", "f/x.conllu"],
     r"'f' is a file"),
    ("dilution -o is a folder", {"o": None}, ["dilution", "-o", "o", "--mc-trials", "0"], r"'o' is a (folder|directory)"),
    ("parse -o is a folder", {"in.txt": "Dogs bark.\n", "o": None},
     ["data", "parse", "in.txt", "--parser", "spacy", "-o", "o"], r"'o' is a (folder|directory)"),
    ("reproduce --out is a file", {"f": "x"}, ["reproduce", "--out", "f"], r"'f' is a file"),
    # -- resources -----------------------------------------------------------------------------
    ("ud data folder missing", {}, ["run", "-e", "ema", "-t", "ud-roles", "-O", "data_dir=nowhere", "--out", "runs"],
     r"nowhere"),
]


def _make(folder: Path, files: dict) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def check_clean_failure(result, expected: str, before: set[str], folder: Path) -> None:
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in output, output
    assert result.exit_code == 2, (result.exit_code, output, result.exception)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert not result.stderr.startswith("Usage:"), result.stderr
    assert re.search(expected, errors[0]), errors[0]
    assert _tree(folder) == before, f"left behind: {sorted(_tree(folder) - before)}"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line_and_no_debris(case, tmp_path, monkeypatch):
    _, files, args, expected = case
    work = tmp_path / "work"
    work.mkdir()
    _make(work, files)
    monkeypatch.chdir(work)
    monkeypatch.setenv("PROBEKIT_CACHE", str(tmp_path / "cache"))
    before = _tree(work)
    result = CliRunner().invoke(main, args)
    check_clean_failure(result, expected, before, work)


def test_the_suite_covers_every_kind_of_input():
    assert len(CASES) >= 60
    assert len({c[0] for c in CASES}) == len(CASES)


def test_unwritable_out_folder_fails_before_any_work(tmp_path, monkeypatch):
    """An --out folder this process may not write into (simulated: tests may run as root, who
    may write anywhere) fails before the task is loaded."""
    import probekit.io

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(probekit.io.os, "access", lambda path, mode: False)
    loaded = []
    monkeypatch.setattr("probekit.experiment.prepare", lambda *a, **k: loaded.append(a))
    before = _tree(tmp_path)
    result = CliRunner().invoke(main, ["run", "-e", "ema", "-t", "roles", "--out", "runs"])
    check_clean_failure(result, r"no permission to write into", before, tmp_path)
    assert loaded == []


def test_unreadable_input_file(tmp_path, monkeypatch):
    """A file this process may not read. Tests may run as root, who reads any file whatever its
    mode, so the permission error is simulated at the read (as the unwritable folder is above)."""
    import errno
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.conllu").write_text(GOOD_CONLLU)
    (tmp_path / "x.conllu").chmod(0)
    read_bytes = Path.read_bytes

    def refuse(self):
        if self.name == "x.conllu":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    result = CliRunner().invoke(main, ["data", "stats", "x.conllu"])
    check_clean_failure(result, r"cannot be read", _tree(tmp_path), tmp_path)


def test_disk_full_while_writing_is_a_clean_error_and_leaves_no_temp_file(tmp_path, monkeypatch):
    import errno

    import probekit.io

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(probekit.io.os, "replace", full)
    result = CliRunner().invoke(main, ["data", "generate", "-g", "A", "-n", "3", "-o", "x.conllu"])
    check_clean_failure(result, r"cannot write 'x\.conllu': No space left", set(), tmp_path)


@pytest.mark.parametrize("env, expected", [
    ({"PROBEKIT_PLUGINS": "no_such_probekit_plugin"}, r"no_such_probekit_plugin"),
    ({"PROBEKIT_GPT2_TOKENIZER": "/nonexistent-tokenizer"}, r"/nonexistent-tokenizer"),
])
def test_bad_environment_through_a_real_process(env, expected, tmp_path):
    """A fresh interpreter: environment variables read once per process, and the real exit path."""
    args = ["list"] if "PROBEKIT_PLUGINS" in env else ["reproduce", "--only", "identity", "--out", "rep"]
    result = subprocess.run([sys.executable, "-m", "probekit.cli", *args], cwd=tmp_path, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO), "PROBEKIT_CACHE": str(tmp_path / "c"),
                                            **env}, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(expected, result.stderr.strip().splitlines()[-1])
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["c"])
