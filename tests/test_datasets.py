"""Where UD English EWT comes from: option, PROBEKIT_DATA, cache, download (checked)."""

import io
import shutil
import urllib.error

import pytest

from probekit.datasets import UD_ENGLISH_EWT, ud_english_ewt
from probekit.errors import ProbekitError


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    monkeypatch.delenv("PROBEKIT_DATA", raising=False)
    monkeypatch.setenv("PROBEKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path


class FakeResponse(io.BytesIO):
    headers = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_lookup_order(isolated, ewt_dir, monkeypatch):
    given = isolated / "given"
    given.mkdir()
    shutil.copy(ewt_dir / "en_ewt-ud-dev.conllu", given)
    monkeypatch.setenv("PROBEKIT_DATA", str(ewt_dir))
    assert ud_english_ewt("dev", str(given)) == given / "en_ewt-ud-dev.conllu"
    assert ud_english_ewt("dev") == ewt_dir / "en_ewt-ud-dev.conllu"
    monkeypatch.setenv("PROBEKIT_DATA", str(ewt_dir.parent))  # the parent of ud-english-ewt/ works too
    assert ud_english_ewt("dev") == ewt_dir / "en_ewt-ud-dev.conllu"


def test_offline_error_says_how_to_point_at_a_local_copy(isolated, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(ProbekitError, match="PROBEKIT_DATA") as error:
        ud_english_ewt("dev")
    assert "-O data_dir" in str(error.value)
    assert not any((isolated / "cache").rglob("*.conllu*"))


def test_download_is_checked_and_atomic(isolated, ewt_dir, monkeypatch):
    good = (ewt_dir / "en_ewt-ud-dev.conllu").read_bytes()
    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout: FakeResponse(good[:-10]))
    with pytest.raises(ProbekitError, match="checksum mismatch"):
        ud_english_ewt("dev")
    assert not any((isolated / "cache").rglob("*.conllu*"))

    requested = []
    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout: requested.append(url) or FakeResponse(good))
    path = ud_english_ewt("dev")
    assert path.read_bytes() == good and requested == [UD_ENGLISH_EWT["dev"].url]
    assert ud_english_ewt("dev") == path and len(requested) == 1  # second lookup hits the cache


def test_bad_split_and_data_dir(isolated):
    with pytest.raises(ProbekitError, match="train, dev or test"):
        ud_english_ewt("validation")
    with pytest.raises(ProbekitError, match="not a folder"):
        ud_english_ewt("dev", str(isolated / "missing"))
