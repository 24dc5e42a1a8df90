"""README.md quotes no result figure: figures live in results/, made from committed records (a
hand-typed copy drifts: two README figures had already disagreed with the records)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_types_no_result_figure():
    text = re.sub(r"```.*?```", "", README.read_text(encoding="utf-8"), flags=re.S)   # commands may hold numbers
    figures = re.findall(r"(?<![\w.])0\.\d{3}(?![\w.])", text)   # accuracies and bits: 3 decimals
    assert not figures, f"README.md quotes figures {figures}: point to the results/ page instead"
