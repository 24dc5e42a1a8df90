"""matplotlib's pyplot on the file-only Agg backend (no display is needed or opened)."""

from __future__ import annotations


def pyplot():
    """``matplotlib.pyplot`` with the Agg backend selected (imported on first use: it is slow)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
