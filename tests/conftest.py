"""Shared fixtures: the UD English EWT treebank from ../shared (never copied into the repo)."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TOKENIZER_DIR = Path(os.environ.get("PROBEKIT_GPT2_TOKENIZER") or REPO.parent / "shared" / "models" / "gpt2-tokenizer")
TINY_GPT2_CONTEXT = 64  # n_positions of the tiny test model


def load_script(name: str):
    """``scripts/<name>.py`` imported as a module (the scripts are not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def missing_resource(what: str, how: str) -> None:
    """Skip a test whose resource is absent, naming it and how to provide it; under CI (``CI`` set),
    where every resource is provided, fail instead: nothing may be skipped there."""
    message = f"{what} not found; {how}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def require_gpt2_tokenizer() -> Path:
    if not (TOKENIZER_DIR / "vocab.json").is_file():
        missing_resource(f"GPT-2 tokenizer files (vocab.json, merges.txt) at {TOKENIZER_DIR}",
                         "set PROBEKIT_GPT2_TOKENIZER to their folder")
    return TOKENIZER_DIR


def _ewt_dir() -> Path:
    env = os.environ.get("PROBEKIT_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data" / "ud-english-ewt"


@pytest.fixture(scope="session")
def ewt_dir() -> Path:
    folder = _ewt_dir()
    if not (folder / "en_ewt-ud-dev.conllu").is_file():
        missing_resource(f"UD English EWT at {folder}", "set PROBEKIT_DATA to the folder of its .conllu files")
    return folder


@pytest.fixture(scope="session")
def ewt_dev(ewt_dir):
    from probekit.corpus import read_conllu

    return read_conllu(ewt_dir / "en_ewt-ud-dev.conllu")


def save_tiny_gpt2(folder: Path, seed: int = 0) -> Path:
    """A randomly initialised 2-layer GPT-2 with the real GPT-2 tokenizer, saved like a hub model."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    torch.manual_seed(seed)
    config = GPT2Config(n_layer=2, n_head=2, n_embd=64, n_positions=TINY_GPT2_CONTEXT, vocab_size=50257)
    GPT2LMHeadModel(config).save_pretrained(folder)
    GPT2TokenizerFast.from_pretrained(str(TOKENIZER_DIR)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> Path:
    require_gpt2_tokenizer()
    return save_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))
