"""probekit.sweep: grids, the Sweep and its executors (local processes here; Ray in test_ray_executor.py),
and expand(): one base config over seeds x training sizes x lags (what --seeds, --train-size /
--learning-curve and --lags do on the command line)."""

import json
import os
import signal
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from probekit.cli import main
from probekit.errors import ProbekitError
from probekit.executors import Failure
from probekit.executors.local import LocalExecutor
from probekit.experiment import RunConfig
from probekit.sweep import DEFAULT_LEARNING_CURVE, Sweep, expand
from probekit.sweep.grid import grid_configs, load_grid


def test_expand_crosses_seeds_sizes_and_lags_in_order():
    base = RunConfig("ema", "identity", task_options={"source": "random"})
    configs = expand(base, seeds=[0, 1], train_sizes=[25, None], lags=[0, 4])
    assert [(c.seed, c.train_size, c.task_options["lag"]) for c in configs] == [
        (0, 25, 0), (0, 25, 4), (0, None, 0), (0, None, 4), (1, 25, 0), (1, 25, 4), (1, None, 0), (1, None, 4)]
    assert all(c.task_options["source"] == "random" for c in configs)
    assert base.task_options == {"source": "random"}  # the base is not changed


def test_axes_left_out_keep_the_base_and_ids_match_a_hand_made_config():
    base = RunConfig("ema", "roles", seed=3, train_size=100)
    [only] = expand(base)
    assert only.key() == base.key()
    curve = expand(base, train_sizes=list(DEFAULT_LEARNING_CURVE))
    assert [c.train_size for c in curve] == [25, 100, 400, 1600, None] and {c.seed for c in curve} == {3}
    assert curve[1].key() == RunConfig("ema", "roles", seed=3, train_size=100).key()


def test_bad_sweeps_are_refused():
    with pytest.raises(ProbekitError, match="not both"):
        expand(RunConfig("ema", "identity", task_options={"lag": 2}), lags=[0, 1])
    with pytest.raises(ProbekitError, match="no seeds"):
        expand(RunConfig("ema", "roles"), seeds=[])


# ----------------------------------------------------------------------------- grids and the Sweep

#: small runs (about half a second each): the type and position baselines on a 100-sentence grammar corpus
TINY = {"task": "roles", "probe": "linear", "n_boot": 100, "task_options": {"n_train": 100, "n_test": 40}}


def _numbers(outcomes) -> list[str]:
    return [json.dumps({k: r[k] for k in ("id", "metrics", "readouts", "baselines", "data")}, sort_keys=True)
            for o in outcomes for r in o.records]


def test_grid_crosses_every_list_in_order_and_drops_excluded_runs():
    grid = {"encoder": ["type", "position"], "task": "roles", "seed": [0, 1], "train_size": [50, "all"],
            "encoder_options": {}, "task_options": {"n_train": [100, 200]},
            "exclude": [{"encoder": "position", "seed": 1}, {"task_options": {"n_train": 200}, "train_size": 50}]}
    configs = grid_configs(grid)
    # 2 x 2 x 2 x 2 = 16, minus position at seed 1 (4), minus n_train 200 at size 50 among the other 12 (3)
    assert len(configs) == 9
    assert [(c.encoder, c.seed, c.train_size, c.task_options["n_train"]) for c in configs][:5] == [
        ("type", 0, 50, 100), ("type", 0, None, 100), ("type", 0, None, 200), ("type", 1, 50, 100),
        ("type", 1, None, 100)]
    assert not any(c.encoder == "position" and c.seed == 1 for c in configs)


def test_record_ids_are_stable_literals_and_match_hand_made_configs():
    """The ids are sha256 of canonical JSON: the same on every run, machine and Python version. These
    literals were computed once; a change in RunConfig.key or in the grid's expansion breaks them."""
    sweep = Sweep.from_grid({**TINY, "encoder": ["type", "position"], "seed": [0, 1]})
    assert sweep.ids == ["d323a8287ba5", "bf34917e9bc5", "530f7d915fb7", "d7642b489b3c"]
    assert sweep.ids[1] == RunConfig("type", "roles", probe="linear", seed=1, n_boot=100,
                                     task_options={"n_train": 100, "n_test": 40}).key()
    assert Sweep.from_grid({**TINY, "encoder": ["type", "position"], "seed": [0, 1]}).ids == sweep.ids


def test_a_toml_grid_with_list_valued_options(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(textwrap.dedent("""
        encoder = "ema"
        task = "identity"
        seed = [0, 1]
        [encoder_options]
        rates = [[0.5, 0.1], [0.5]]
        [task_options]
        lag = [0, 2]
        [[exclude]]
        encoder_options = { rates = [0.5] }
        seed = 1
    """))
    configs = Sweep.from_toml(path).configs
    assert [(c.seed, c.encoder_options["rates"], c.task_options["lag"]) for c in configs] == [
        (0, [0.5, 0.1], 0), (0, [0.5, 0.1], 2), (0, [0.5], 0), (0, [0.5], 2), (1, [0.5, 0.1], 0), (1, [0.5, 0.1], 2)]


@pytest.mark.parametrize("grid, message", [
    ({"encoder": "type", "task": "roles", "seeds": [0, 1]}, "unknown field 'seeds'. Did you mean 'seed'"),
    ({"encoder": "type", "task": "roles", "seed": []}, "seed is an empty list"),
    ({"task": "roles"}, "names no encoder"),
    ({"encoder": "type", "task": "roles", "exclude": [{"encoder": "type"}]}, "every run is excluded"),
    ({"encoder": "type", "task": "roles", "exclude": [{"encoder": "typo"}]}, "exclude rule(s) 1 match no run"),
    ({"encoder": "type", "task": "roles", "exclude": [{"sed": 1}]}, "Did you mean 'seed'"),
    ({"encoder": "type", "task": "roles", "seed": [0, 0]}, "the same run twice"),
    ({"encoder": "type", "task": "roles", "task_options": 3}, "must be a table of options"),
])
def test_bad_grids_are_refused_naming_the_problem(grid, message):
    with pytest.raises(ProbekitError) as caught:
        Sweep.from_grid(grid)
    assert message in str(caught.value)


def test_every_config_is_checked_before_any_runs(tmp_path):
    sweep = Sweep.from_grid({**TINY, "encoder": ["type", "positoin"]})
    with pytest.raises(ProbekitError, match=r"job 2 of 2 .*unknown encoder 'positoin'. Did you mean 'position'"):
        sweep.run(tmp_path)
    bad_option = Sweep.from_grid({**TINY, "encoder": "type", "probe_options": {"CC": 1.0}})
    with pytest.raises(ProbekitError, match="has no option 'CC'. Did you mean 'C'"):
        bad_option.run(tmp_path)
    assert not list(tmp_path.iterdir())   # nothing written


def test_bad_grid_files_name_the_file(tmp_path):
    with pytest.raises(ProbekitError, match="not found"):
        load_grid(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("encoder = [\n")
    with pytest.raises(ProbekitError, match="broken.toml.*not valid TOML"):
        load_grid(broken)


def test_two_local_jobs_equal_serial_and_existing_records_are_reused(tmp_path):
    """EMA features into the linear probe (float arithmetic throughout), in workers and in this process."""
    sweep = Sweep.from_grid({**TINY, "encoder": ["ema", "position"], "seed": [0, 1]})
    serial = sweep.run(tmp_path / "serial")
    parallel = sweep.run(tmp_path / "parallel", LocalExecutor(2))
    assert [o.status for o in parallel] == ["done"] * 4
    assert _numbers(parallel) == _numbers(serial)
    assert sorted(p.name for p in (tmp_path / "parallel").iterdir()) == \
        sorted(p.name for p in (tmp_path / "serial").iterdir())
    # a second run reuses every record; one made by other code (another fingerprint) is recomputed
    stale = next(iter(parallel[2].paths))
    record = json.loads(stale.read_text())
    stale.write_text(json.dumps({**record, "code_fingerprint": "other-code"}))
    again = sweep.run(tmp_path / "parallel", LocalExecutor(2))
    assert [o.status for o in again] == ["reused", "reused", "done", "reused"]
    assert json.loads(stale.read_text())["code_fingerprint"] != "other-code"


KILLER = '''
import os, signal
from probekit import Encoder, register_encoder
from probekit.encoders.baselines import TypeEncoder


@register_encoder("sweep-test-killer", replace=True)
class Killer(TypeEncoder):
    """Dies (SIGKILL, as the out-of-memory killer does) while fitting."""

    def fit(self, corpus, labels=None):
        os.kill(os.getpid(), signal.SIGKILL)
'''


def test_a_worker_killed_mid_job_is_reported_failed_and_the_other_jobs_go_on(tmp_path, monkeypatch):
    from probekit import registry

    (tmp_path / "killer_plugin.py").write_text(KILLER)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PROBEKIT_PLUGINS", "killer_plugin")
    registry.load_plugins()
    try:
        sweep = Sweep.from_grid({**TINY, "encoder": ["type", "sweep-test-killer", "position"]})
        outcomes = sweep.run(tmp_path / "out", LocalExecutor(2))
    finally:
        registry.encoders.remove("sweep-test-killer")
    assert [o.status for o in outcomes] == ["done", "failed", "done"]
    assert "worker process died" in outcomes[1].error
    files = list((tmp_path / "out").iterdir())
    assert len(files) == 2 and all(json.loads(f.read_text())["config"]["encoder"] != "sweep-test-killer"
                                   for f in files)   # whole records only, none of the killed job, no temp files


def _die_when_told(item):
    """Job ``quick`` returns at once; ``die`` waits for the test's ``go`` file, then its worker is killed."""
    folder, kind = Path(item[0]), item[1]
    if kind == "die":
        deadline = time.time() + 60
        while not (folder / "go").exists() and time.time() < deadline:
            time.sleep(0.02)
        (folder / f"{os.getpid()}.pid").write_text("")
        os.kill(os.getpid(), signal.SIGKILL)
    return kind


def test_a_worker_that_dies_between_two_submissions_does_not_stop_the_run(tmp_path):
    """The pool breaks while the driver is between collecting one result and handing out the next job
    (the submission itself finds the pool broken): the dead job is reported failed, the job that was
    about to start runs, nothing raises. Ordered by the test (a ``go`` file), not by timing luck."""
    from probekit.executors.local import DIED

    run = LocalExecutor(2).run(_die_when_told, [(str(tmp_path), "quick"), (str(tmp_path), "die"),
                                                (str(tmp_path), "last")])
    assert next(run) == (0, "quick")      # job 1 is in flight, waiting; job 2 not handed out yet
    (tmp_path / "go").write_text("")
    deadline = time.time() + 30
    while not list(tmp_path.glob("*.pid")) and time.time() < deadline:
        time.sleep(0.05)
    [pid] = [int(p.stem) for p in tmp_path.glob("*.pid")]
    while _alive(pid) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)                       # the pool's own thread sees the death: submitting now fails
    assert sorted(run, key=lambda pair: pair[0]) == [(1, Failure(DIED)), (2, "last")]


def _note_pid_and_sleep(item):
    folder, seconds = item
    (Path(folder) / f"{os.getpid()}.pid").write_text("")
    time.sleep(seconds)
    return os.getpid()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_an_interrupt_stops_the_workers_at_once(tmp_path):
    """What Ctrl-C does to the driver's loop: the run stops and its workers are terminated, not awaited."""
    run = LocalExecutor(2).run(_note_pid_and_sleep, [(str(tmp_path), 0), (str(tmp_path), 60), (str(tmp_path), 60)])
    index, first = next(run)
    assert index == 0
    deadline = time.time() + 30
    while len(list(tmp_path.glob("*.pid"))) < 2 and time.time() < deadline:
        time.sleep(0.1)
    run.close()   # KeyboardInterrupt in the loop ends it the same way (the generator's finally)
    pids = [int(p.stem) for p in tmp_path.glob("*.pid")]
    deadline = time.time() + 10
    while any(_alive(pid) for pid in pids) and time.time() < deadline:
        time.sleep(0.1)
    assert pids and not any(_alive(pid) for pid in pids)


def test_a_failing_job_is_one_line_and_jobs_zero_is_refused():
    assert list(LocalExecutor(1).run(int, ["3", "x"])) == [
        (0, 3), (1, Failure("ValueError: invalid literal for int() with base 10: 'x'"))]
    with pytest.raises(ProbekitError, match="--jobs 0: give at least 1"):
        LocalExecutor(0)


# ----------------------------------------------------------------------------- the command

def test_sweep_command_dry_run_runs_and_summarises(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text('encoder = ["type", "position"]\ntask = "roles"\nprobe = "linear"\nn_boot = 100\n'
                    '[task_options]\nn_train = 100\nn_test = 40\n')
    runner = CliRunner()
    out = tmp_path / "runs"
    dry = runner.invoke(main, ["sweep", str(grid), "--out", str(out), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.count("to run") == 2 and not out.exists()
    done = runner.invoke(main, ["sweep", str(grid), "--out", str(out), "--jobs", "2"])
    assert done.exit_code == 0, done.output
    assert "2 done, 0 reused, 0 failed" in done.output and len(list(out.iterdir())) == 2
    again = runner.invoke(main, ["sweep", str(grid), "--out", str(out)])
    assert "0 done, 2 reused, 0 failed" in again.output


@pytest.mark.parametrize("args, message", [
    (["--jobs", "0"], "--jobs 0: give at least 1"),
    (["--executor", "local", "--address", "10.0.0.1:6379"], "--address names a Ray cluster"),
])
def test_sweep_command_bad_settings_exit_2_and_write_nothing(tmp_path, args, message):
    grid = tmp_path / "grid.toml"
    grid.write_text('encoder = "type"\ntask = "roles"\n')
    result = CliRunner().invoke(main, ["sweep", str(grid), "--out", str(tmp_path / "runs"), *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


def test_sweep_command_unknown_grid_field_suggests_the_right_one(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text('encoder = "type"\ntask = "roles"\nprobes = "linear"\n')
    result = CliRunner().invoke(main, ["sweep", str(grid)])
    assert result.exit_code == 2 and "unknown field 'probes'. Did you mean 'probe'" in result.output


def test_run_flags_build_the_same_configs_as_before_and_two_jobs_equal_one(tmp_path):
    """`probekit run --seeds --train-size` goes through the Sweep: its records have the ids of the configs
    expand() always made, and --jobs 2 writes the same records as --jobs 1."""
    args = ["run", "-e", "ema", "-t", "roles", "-p", "linear", "--seeds", "0,1", "--train-size", "50,all",
            "-O", "n_train=100", "-O", "n_test=40", "--bootstrap", "100", "-q"]
    runner = CliRunner()
    for jobs in ("1", "2"):
        result = runner.invoke(main, [*args, "--out", str(tmp_path / jobs), "--jobs", jobs])
        assert result.exit_code == 0, result.output
    base = RunConfig("ema", "roles", probe="linear", n_boot=100, task_options={"n_train": 100, "n_test": 40})
    expected = sorted(c.key() for c in expand(base, seeds=[0, 1], train_sizes=[50, None]))
    one = {p.name: json.loads(p.read_text()) for p in (tmp_path / "1").iterdir()}
    two = {p.name: json.loads(p.read_text()) for p in (tmp_path / "2").iterdir()}
    assert sorted(r["id"] for r in one.values()) == expected and one.keys() == two.keys()
    assert all(one[name]["metrics"] == two[name]["metrics"] for name in one)


def test_each_record_counts_its_own_runs_feature_cache_use(tmp_path, tiny_gpt2):
    """One cache object serves every job run in this process: a record must count its own run's hits and
    misses (train + test encodings: 2), not the object's totals, or it would depend on the runs before it."""
    from probekit.cache import FeatureCache

    sweep = Sweep.from_grid({**TINY, "encoder": "gpt2", "seed": [0, 1, 2],
                             "encoder_options": {"model": str(tiny_gpt2), "layer": 1}})
    outcomes = sweep.run(tmp_path / "runs", cache=FeatureCache(tmp_path / "cache"))
    uses = [r["data"]["feature_cache"] for o in outcomes for r in o.records]
    assert len(uses) == 3 and all(use["hits"] + use["misses"] == 2 for use in uses)


def test_one_job_in_process_loads_its_data_once(tmp_path, monkeypatch):
    """`probekit run`'s single job reuses the data the sweep's check loaded (the grammar corpus
    was generated twice before); several jobs still load per job, as before."""
    from probekit.tasks.roles import GrammarRolesTask

    calls = []
    load = GrammarRolesTask.load
    monkeypatch.setattr(GrammarRolesTask, "load", lambda self: calls.append(1) or load(self))
    base = RunConfig(encoder="type", task="roles", task_options={"n_train": 30, "n_test": 10})
    outcomes = Sweep([base]).run(tmp_path / "one", LocalExecutor(1), force=True)
    assert [o.status for o in outcomes] == ["done"] and len(calls) == 1
    assert outcomes[0].records[0]["timings_s"]["load"] >= 0
    calls.clear()
    outcomes = Sweep(expand(base, seeds=[0, 1])).run(tmp_path / "two", LocalExecutor(1), force=True)
    assert [o.status for o in outcomes] == ["done", "done"] and len(calls) == 3


def _thread_budget(_):
    from probekit.threads import numeric_threads

    return numeric_threads()


def test_each_job_gets_its_share_of_the_cores_for_block_parallel_work():
    """--jobs 1 runs in this process with all the cores; each of --jobs 2 workers gets half
    (probekit.threads: the linear probe's row blocks run on that many threads)."""
    from probekit.threads import threads_per_job

    assert list(LocalExecutor(1).run(_thread_budget, [0])) == [(0, threads_per_job(1))]
    assert sorted(LocalExecutor(2).run(_thread_budget, [0, 1])) == [(0, threads_per_job(2)), (1, threads_per_job(2))]
