"""Start-up stays cheap: importing probekit, and the default ``ema`` / ``roles`` / ``linear`` run,
load none of the heavy libraries they do not use (torch alone took about 2.4 s of every run,
scikit-learn with scipy.stats 2.2 s). Each check runs in a fresh interpreter, so modules
imported by other tests cannot hide or fake an import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "sklearn", "scipy.stats", "matplotlib", "pandas")


def loaded_after(code: str, tmp_path: Path) -> dict:
    """Run ``code`` in a fresh interpreter; return {label: heavy modules loaded} it printed."""
    script = f"""
import json, sys
HEAVY = {HEAVY!r}
seen = {{}}
def note(label):
    seen[label] = sorted(m for m in HEAVY if m in sys.modules)
{code}
print(json.dumps(seen))
"""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PROBEKIT_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_and_default_objects_load_no_heavy_library(tmp_path):
    seen = loaded_after("""
import probekit
note("import probekit")
from probekit import registry
names = registry.probes.names() + registry.encoders.names() + registry.tasks.names()
note("registry names")
import probekit.cli
note("import probekit.cli")
import numpy as np
encoder = registry.encoders.create("ema", dim=8)
task = registry.tasks.create("roles", n_train=30, n_test=10)
probe = registry.probes.create("linear")
note("default objects")
data = task.load()
y = task.targets(data.train).labels
X = encoder.fit(data.train).encode(data.train).X
probe.fit(X[y >= 0], y[y >= 0], int(y.max()) + 1)
probe.predict_proba(X)
note("fit and predict")
""", tmp_path)
    assert seen == {label: [] for label in ("import probekit", "registry names", "import probekit.cli",
                                             "default objects", "fit and predict")}


def test_cli_run_loads_no_heavy_library(tmp_path):
    seen = loaded_after(f"""
from click.testing import CliRunner
from probekit.cli import main
result = CliRunner().invoke(main, ["run", "--encoder", "ema", "--task", "roles", "-O", "n_train=40",
                                   "-O", "n_test=10", "-E", "dim=8", "--out", {str(tmp_path / 'out')!r}])
assert result.exit_code == 0, result.output
assert "| accuracy " in result.output
note("probekit run")
""", tmp_path)
    assert seen == {"probekit run": []}


def test_heavy_libraries_still_load_where_needed(tmp_path):
    """The check above can fail: a probe that needs scikit-learn does load it."""
    seen = loaded_after("""
import numpy as np
from probekit import registry
import probekit
probe = registry.probes.create("hebbian", n_classes_level1=2, n_subclusters=1, two_level=True)
probe.fit(np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32))
note("hebbian fit")
""", tmp_path)
    assert "sklearn" in seen["hebbian fit"]


def test_probe_params_behave_like_scikit_learns():
    """Probe writes get_params / set_params itself (not BaseEstimator, for start-up): every
    registered probe still clones with scikit-learn, round-trips its options and refuses
    unknown ones."""
    import pytest
    from sklearn.base import BaseEstimator, clone

    from probekit import registry

    for name in registry.probes.names():
        probe = registry.probes.create(name)
        params = probe.get_params()
        assert params, name
        twin = clone(probe)
        assert type(twin) is type(probe) and twin.get_params() == params
        # the same parameter names scikit-learn's own introspection finds
        assert sorted(params) == BaseEstimator._get_param_names.__func__(type(probe))
        with pytest.raises(ValueError):
            probe.set_params(no_such_option=1)
    linear = registry.probes.create("linear").set_params(C=0.25)
    assert linear.C == 0.25 and repr(linear) == "LinearProbe(C=0.25)"


def test_listing_the_reproduce_jobs_loads_no_heavy_library(tmp_path):
    """The driver of ``probekit reproduce`` lists every job before the first runs: naming the trained
    models (``TrainConfig``) and the local random GPT-2 (built later, in a setup job) must not load
    torch or transformers, nor the dilution section scipy.stats (it cost about 20 s of the quick
    suite's start on a busy machine, while both workers waited)."""
    seen = loaded_after("""
from probekit.lm.train import TrainConfig
TrainConfig(corpus="wikitext2", arch="gpt2", predictor="mlp")
note("a training config")
from probekit.reproduce import BUDGETS, SECTIONS
from probekit.reproduce.suite import WithSetup
for section in SECTIONS:
    if section.name not in ("identity", "lm"):   # these two read WikiText's vocabulary
        section.missing()
        section.jobs(BUDGETS["quick"], (0,))
note("listing")
from probekit.reproduce.content import ladder_jobs
assert any(isinstance(job, WithSetup) and job.setup.function == "local_gpt2"
           for job in ladder_jobs(BUDGETS["full"], (0,)))
note("ladder")
""", tmp_path)
    seen = {label: [m for m in found if m != "pandas"] for label, found in seen.items()}   # reproduce's tables
    assert seen == {"a training config": [], "listing": [], "ladder": []}


def test_the_built_in_lm_names_are_the_registered_ones():
    """TrainConfig checks these names without importing the registries' module: they must be
    exactly what probekit.lm.models registers (a name only the shortcut knew would pass the check
    and fail at training)."""
    import pytest

    from probekit.errors import ProbekitError
    from probekit.lm.models import architectures, predictors
    from probekit.lm.train import BUILT_IN_ARCHITECTURES, BUILT_IN_PREDICTORS, TrainConfig

    assert set(BUILT_IN_ARCHITECTURES) <= set(architectures.names())
    assert set(BUILT_IN_PREDICTORS) <= set(predictors.names())
    with pytest.raises(ProbekitError, match="gpt2"):
        TrainConfig(corpus="wikitext2", arch="gtp2")   # a typo still gets the registry's did-you-mean


def test_scipy_imported_inside_the_one_thread_block_is_held_to_one_thread(tmp_path):
    """The linear probe imports scipy.optimize inside ``single_threaded()``: scipy's own OpenBLAS,
    loaded there, must be limited too (a threaded one doubled a busy machine's probe time)."""
    script = """
import json, threadpoolctl
from probekit.threads import single_threaded
with single_threaded():
    import scipy.optimize
    print(json.dumps({i["filepath"]: i["num_threads"] for i in threadpoolctl.threadpool_info()
                      if i["internal_api"] == "openblas"}))
"""
    env = dict(os.environ, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="", OMP_NUM_THREADS="")
    env.pop("OPENBLAS_NUM_THREADS"), env.pop("OMP_NUM_THREADS")
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    threads = json.loads(proc.stdout.strip().splitlines()[-1])
    assert any("scipy" in path for path in threads) and set(threads.values()) == {1}, threads
