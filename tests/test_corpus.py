import pytest

from probekit.corpus import Corpus, Sentence, format_conllu, parse_conllu, read_conllu, write_conllu
from probekit.errors import ProbekitError

GOOD = (
    "# sent_id = s1\n# text = I don't know.\n"
    "1\tI\tI\tPRON\tPRP\t_\t4\tnsubj\t_\t_\n"
    "2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_\n"
    "3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_\n"
    "4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\t_\n"
    "4.1\tknow\tknow\tVERB\tVB\t_\t_\t_\t4:conj\t_\n"
    "5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_\n\n"
)


def test_words_not_surface_tokens_and_empty_nodes_skipped():
    [s] = parse_conllu(GOOD)
    assert s.words == ("I", "do", "n't", "know", ".")
    assert s.heads == (4, 4, 4, 0, 4)
    assert s.meta["sent_id"] == "s1"


def test_round_trip(tmp_path):
    sentences = parse_conllu(GOOD * 3)
    path = tmp_path / "out.conllu"
    write_conllu(sentences, path)
    again = read_conllu(path)
    assert [s.words for s in again] == [s.words for s in sentences]
    assert [s.heads for s in again] == [s.heads for s in sentences]
    assert [s.deprels for s in again] == [s.deprels for s in sentences]
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("text, match", [
    ("1\tthe\tthe\tDET\n\n", r"x.conllu:1: .*10 tab-separated columns"),
    ("1\ta\ta\tX\t_\t_\t0\troot\t_\t_\n3\tb\tb\tX\t_\t_\t1\tdep\t_\t_\n\n", r"x.conllu:2: word ID 3 out of order"),
    ("1\ta\ta\tX\t_\t_\tx\troot\t_\t_\n\n", r"x.conllu:1: HEAD"),
    ("1\ta\ta\tX\t_\t_\t2\tdep\t_\t_\n2\tb\tb\tX\t_\t_\t1\tdep\t_\t_\n\n", r"not a valid tree"),
    ("\n\n", r"no sentences"),
])
def test_malformed_files_name_file_and_line(tmp_path, text, match):
    path = tmp_path / "x.conllu"
    path.write_text(text)
    with pytest.raises(ProbekitError, match=match):
        read_conllu(path)


def test_non_utf8_and_missing_file(tmp_path):
    path = tmp_path / "latin.conllu"
    path.write_bytes(GOOD.encode() + "1\tcaf\xe9\t_\t_\t_\t_\t0\troot\t_\t_\n".encode("latin-1"))
    with pytest.raises(ProbekitError, match=r"latin.conllu:11: not valid UTF-8"):
        read_conllu(path)
    with pytest.raises(ProbekitError, match="does not exist"):
        read_conllu(tmp_path / "nope.conllu")


def test_corpus_flat_views():
    corpus = Corpus([Sentence(("a", "b"), (0, 1), ("root", "dep")), Sentence(("c",), (0,), ("root",))])
    assert corpus.n_tokens == 3 and list(corpus.offsets) == [0, 2, 3]
    assert list(corpus.positions()) == [0, 1, 0] and list(corpus.sentence_index()) == [0, 0, 1]
    assert corpus.words() == ["a", "b", "c"]
    assert corpus.fingerprint() != Corpus(corpus.sentences[:1]).fingerprint()
    assert "a b" in format_conllu(corpus)
