"""probekit.io: file modes, stale temporary files, identical metrics of identical runs (issue 16)."""

import json
import os
import subprocess

import numpy as np
import pytest

from probekit.io import atomic_write_json, is_stale_temp, temp_prefix


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_records_get_the_mode_the_umask_allows(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_json(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == mode


def test_a_temp_file_is_stale_only_once_its_writer_is_gone(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    mine = tmp_path / f"{temp_prefix('.r.json.')}abc.tmp"
    gone = tmp_path / f".r.json.pid{dead.pid}-abc.tmp"
    foreign = tmp_path / ".r.json.abc.tmp"  # no pid: stale only after a day
    for path in (mine, gone, foreign):
        path.write_text("")
    assert [is_stale_temp(p) for p in (mine, gone, foreign)] == [False, True, False]
    atomic_write_json(tmp_path / "r.json", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, foreign.name, "r.json"])
    os.utime(foreign, (0, 0))
    assert is_stale_temp(foreign)


def test_identical_mdl_runs_give_identical_metrics():
    from probekit.mdl import online_codelength
    from probekit.registry import probes

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 4)), rng.integers(0, 3, 300)
    runs = [json.dumps(online_codelength(X, y, 3, lambda: probes.create("linear"), seed=0)) for _ in range(2)]
    assert runs[0] == runs[1] and "seconds" not in runs[0]
