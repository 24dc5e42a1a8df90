"""Shared fixtures: the UD English EWT treebank from ../shared (never copied into the repo)."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _ewt_dir() -> Path:
    env = os.environ.get("PROBEKIT_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data" / "ud-english-ewt"


@pytest.fixture(scope="session")
def ewt_dir() -> Path:
    folder = _ewt_dir()
    if not (folder / "en_ewt-ud-dev.conllu").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"UD English EWT not found at {folder}; set PROBEKIT_DATA")
        pytest.skip(f"UD English EWT not found at {folder}; set PROBEKIT_DATA")
    return folder


@pytest.fixture(scope="session")
def ewt_dev(ewt_dir):
    from probekit.corpus import read_conllu

    return read_conllu(ewt_dir / "en_ewt-ud-dev.conllu")
