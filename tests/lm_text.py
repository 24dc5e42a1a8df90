"""A tiny generated text for the language-model tests: nothing from ../shared is needed.

Articles of template sentences ("the red cat sees a dog .") with a strong word order, so that a
few dozen training steps beat the unigram model on held-out articles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DETS = ["the", "a"]
ADJS = ["red", "big", "old", "small"]
NOUNS = ["cat", "dog", "bird", "fish", "horse", "mouse"]
VERBS = ["sees", "likes", "chases", "finds"]


def write_articles(folder: Path, n_articles: int = 30, lines: int = 12, seed: int = 0) -> Path:
    """One article per .txt file (the folder form of ``--corpus``); returns the folder."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for a in range(n_articles):
        text = []
        for _ in range(lines):
            words = [rng.choice(DETS), rng.choice(ADJS), rng.choice(NOUNS), rng.choice(VERBS), rng.choice(DETS),
                     rng.choice(NOUNS), "."]
            text.append(" ".join(words))
        (folder / f"article{a:03d}.txt").write_text("\n".join(text) + "\n", encoding="utf-8")
    return folder


def tiny_config(corpus: Path, arch: str = "ema", **overrides):
    from probekit.lm.train import TrainConfig

    options = dict(arch=arch, corpus=str(corpus), width=16, context=16, batch_size=8, steps=30, lr=1e-2,
                   warmup=2, eval_every=10, checkpoint_every=10, val_windows=16)
    options.update(overrides)
    return TrainConfig(**options)
