"""The Ray executor on a local Ray instance (started once for this module: Ray's start-up takes
seconds; the sweep itself well under a second per job). Ray is the optional extra ``ray``; without
it these tests are skipped, naming the install command, except under CI, where they fail."""

import json
import socket
import sys
import time

import pytest

from probekit.errors import ProbekitError
from probekit.executors import make_executor
from probekit.sweep import Sweep

TINY = {"encoder": ["ema", "position"], "task": "roles", "probe": "linear", "seed": [0, 1], "n_boot": 100,
        "task_options": {"n_train": 100, "n_test": 40}}


@pytest.fixture(scope="module")
def ray():
    try:
        import ray
    except ImportError:
        from conftest import missing_resource

        missing_resource("Ray", 'install it with pip install -e ".[ray]"')
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _numbers(outcomes):
    return [json.dumps({k: r[k] for k in ("id", "metrics", "readouts", "baselines", "data")}, sort_keys=True)
            for o in outcomes for r in o.records]


def test_a_sweep_on_ray_equals_the_serial_run(ray, tmp_path):
    sweep = Sweep.from_grid(TINY)
    serial = sweep.run(tmp_path / "serial")
    executor = make_executor("ray")
    assert executor.name == "ray" and executor.jobs == 2
    on_ray = sweep.run(tmp_path / "ray", executor)
    executor.close()     # leaves the module's Ray instance running: this executor did not start it
    assert ray.is_initialized()
    assert [o.status for o in on_ray] == ["done"] * 4
    assert _numbers(on_ray) == _numbers(serial)
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == sorted(p.name for p in (tmp_path / "serial").iterdir())


def test_a_failing_ray_job_is_reported_and_the_others_go_on(ray):
    results = dict(make_executor("ray").run(int, ["1", "x", "3"]))
    assert results[0] == 1 and results[2] == 3 and "invalid literal" in results[1].message


def test_an_unreachable_address_fails_within_seconds(ray):
    with socket.socket() as probe:     # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    began = time.perf_counter()
    with pytest.raises(ProbekitError, match=f"--address 127.0.0.1:{port}: no Ray head answers there"):
        make_executor("ray", address=f"127.0.0.1:{port}")
    assert time.perf_counter() - began < 10
    with pytest.raises(ProbekitError, match="give HOST:PORT"):
        make_executor("ray", address="nowhere")


def test_without_ray_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)     # import ray raises ImportError
    with pytest.raises(ProbekitError, match=r'needs Ray, which is not installed: pip install -e "\.\[ray\]"'):
        make_executor("ray")
