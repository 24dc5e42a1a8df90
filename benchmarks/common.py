"""What the benchmark scripts share: the machine's CPU name and the local-GPT-2 options."""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or what platform reports)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def add_local_gpt2_options(parser: argparse.ArgumentParser) -> None:
    """Options of the scripts that time a small random GPT-2 on EWT dev sentences."""
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    data = os.environ.get("PROBEKIT_DATA", SHARED / "data" / "ud-english-ewt")
    parser.add_argument("--data", type=Path, default=Path(data), help="folder with en_ewt-ud-dev.conllu")
    parser.add_argument("--tokenizer", type=Path, default=SHARED / "models" / "gpt2-tokenizer")


#: GPT-2 configurations the extraction benchmarks build (random initialisation, seeded):
#: ``small`` is ``GPT2Config()``'s defaults (GPT-2 small's architecture, 124M parameters),
#: ``tiny`` a 2-layer x 64 model for checking that a script runs.
GPT2_SIZES = {"small": {}, "tiny": {"n_layer": 2, "n_head": 2, "n_embd": 64}}


def save_random_gpt2(folder: Path, tokenizer_dir: Path, size: str = "small", seed: int = 0) -> Path:
    """A randomly initialised GPT-2 of ``GPT2_SIZES[size]`` with the GPT-2 tokenizer, saved like a hub model."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    torch.manual_seed(seed)
    GPT2LMHeadModel(GPT2Config(**GPT2_SIZES[size])).save_pretrained(folder)
    GPT2TokenizerFast.from_pretrained(str(tokenizer_dir)).save_pretrained(folder)
    return folder
