"""What a record says about where it came from: the git commit, dirty only for code changes."""

import os
import shutil
import subprocess

import pytest

from probekit.provenance import git_commit, package_versions

pytestmark = pytest.mark.skipif(shutil.which("git") is None and not os.environ.get("CI"),
                                reason="git is not installed (install git to run these tests)")


def _git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(root), "PATH": "/usr/bin:/bin"})


@pytest.fixture
def checkout(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "results" / "table.md").write_text("| a |\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def test_a_clean_checkout_gives_its_commit(checkout):
    commit = git_commit(checkout)
    assert commit is not None and len(commit) == 40 and not commit.endswith("-dirty")


def test_changed_code_is_dirty_but_regenerated_results_are_not(checkout):
    clean = git_commit(checkout)
    (checkout / "results" / "table.md").write_text("| b |\n")   # the report rewrote a page
    assert git_commit(checkout) == clean
    (checkout / "code.py").write_text("x = 2\n")
    assert git_commit(checkout) == clean + "-dirty"


def test_outside_a_git_checkout_there_is_no_commit(tmp_path):
    assert git_commit(tmp_path) is None


def test_versions_name_python_and_the_numeric_stack():
    versions = package_versions()
    assert {"python", "numpy", "scikit-learn"} <= set(versions)
