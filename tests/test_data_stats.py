"""`probekit data stats` on EWT dev against counts made independently with the conllu package."""

from collections import Counter

import conllu
from click.testing import CliRunner

from probekit.cli import main
from probekit.roles import relation_role


def independent_counts(path):
    sentences = conllu.parse(path.read_text(encoding="utf-8"))
    roles = Counter()
    words = 0
    for tokens in sentences:
        by_id = {t["id"]: t for t in tokens if isinstance(t["id"], int)}
        words += len(by_id)
        for token in by_id.values():
            node = token
            while node["deprel"].split(":")[0] == "conj" and node["head"]:
                node = by_id[node["head"]]
            roles[relation_role(node["deprel"])] += 1
    return len(sentences), words, roles


def test_stats_match_independent_count(ewt_dir):
    path = ewt_dir / "en_ewt-ud-dev.conllu"
    result = CliRunner().invoke(main, ["data", "stats", str(path)])
    assert result.exit_code == 0, result.output
    lines = dict(line.split("\t", 1) for line in result.output.splitlines())
    n_sentences, n_words, roles = independent_counts(path)
    assert int(lines["sentences"]) == n_sentences == 2001
    assert int(lines["words"]) == n_words
    for role, count in roles.items():
        assert int(lines[role].split("\t")[0]) == count, role
