"""The registration example in docs/extending.md must run as written."""

import re
from pathlib import Path

import probekit
from probekit import registry

DOC = Path(__file__).resolve().parent.parent / "docs" / "extending.md"


def test_documented_encoder_example_runs(capsys):
    block = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(compile(block, str(DOC), "exec"), namespace)
    assert "word-shape" in registry.encoders
    record = namespace["record"]
    assert record["config"]["encoder"] == "word-shape"
    assert record["data"]["feature_blocks"] == {"length": [0, 1], "capital": [1, 2]}
    # word length separates function words from content words: better than the majority class
    assert record["metrics"]["accuracy"]["value"] > record["baselines"]["majority"]["accuracy"]["value"]
    assert str(record["metrics"]["accuracy"]) in capsys.readouterr().out
