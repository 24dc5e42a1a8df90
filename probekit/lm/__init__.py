"""Small language models trained by probekit itself: EMA-only, GRU and GPT-2-style (issue 14).

One text, one seeded article split (:mod:`~probekit.lm.corpus`), one word vocabulary
(:mod:`~probekit.lm.vocab`), architectures matched in parameter count
(:mod:`~probekit.lm.models`), one training loop with atomic checkpoints and resume
(:mod:`~probekit.lm.train`), one evaluation protocol (:mod:`~probekit.lm.evaluate`) and the
``probekit lm`` commands (:mod:`~probekit.lm.cli`). docs/lm.md describes the protocol.
"""
