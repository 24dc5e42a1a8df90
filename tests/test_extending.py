"""Every example in docs/extending.md runs as written: the encoder, the probe, the task file,
the task type, and the plugin route through the `probekit` command."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

import probekit  # noqa: F401  (registers the built-ins)
from probekit import registry
from probekit.cache import FeatureCache, cached_encode

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "extending.md"


def example(name: str) -> str:
    match = re.search(rf"<!-- example: {name} -->\n```\w+\n(.*?)```", DOC.read_text(), re.S)
    assert match, f"docs/extending.md has no example {name!r}"
    return match.group(1)


def run_block(name: str, namespace: dict | None = None) -> dict:
    namespace = {} if namespace is None else namespace
    exec(compile(example(name), f"{DOC}:{name}", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def components():
    """The encoder, probe and task-type examples, registered once (as a user's session would)."""
    namespace = run_block("encoder")
    run_block("probe", namespace)
    return namespace


def test_every_example_is_tested():
    named = set(re.findall(r"<!-- example: ([\w-]+) -->", DOC.read_text()))
    assert named == {"encoder", "encoder-run", "probe", "task-file", "task-type", "plugin-env", "entry-points"}
    assert DOC.read_text().count("```") == 2 * len(named)  # no code block without a test


def test_documented_encoder_example_runs(components, capsys):
    record = run_block("encoder-run")["record"]
    assert "word-shape" in registry.encoders
    assert record["config"]["encoder"] == "word-shape"
    assert record["data"]["feature_blocks"] == {"length": [0, 1], "capital": [1, 2]}
    # word length separates function words from content words: better than the majority class
    assert record["metrics"]["accuracy"]["value"] > record["baselines"]["majority"]["accuracy"]["value"]
    assert str(record["metrics"]["accuracy"]) in capsys.readouterr().out


def test_the_encoders_cache_key_parts_make_the_second_encoding_a_hit(components, tmp_path):
    from probekit.grammar import generate_corpus

    encoder, corpus, cache = registry.encoders.create("word-shape"), generate_corpus("A", 20, seed=0), \
        FeatureCache(tmp_path)
    first = cached_encode(encoder, corpus, cache)
    second = cached_encode(encoder, corpus, cache)
    assert (cache.misses, cache.hits) == (1, 1) and (second.X == first.X).all()


def test_documented_task_type_and_probe_run(components):
    record = run_block("task-type")["record"]
    # the word-length feature decides the label exactly: the nearest centroid gets nearly all
    assert record["config"]["probe"] == "nearest-centroid" and record["config"]["task"] == "long-words"
    assert record["metrics"]["accuracy"]["value"] > 0.9 > record["baselines"]["majority"]["accuracy"]["value"]
    assert record["resolved"]["probe_params"] == {"temperature": 1.0}


def test_documented_probe_checks_its_option(components):
    from probekit.errors import ProbekitError

    probe = registry.probes.create("nearest-centroid", temperature=0)
    with pytest.raises(ProbekitError, match="option 'temperature' of probe 'nearest-centroid'"):
        probe.fit([[0.0], [1.0]], [0, 1])


def test_documented_task_file_runs_through_the_command(components, tmp_path):
    from probekit.cli import main

    path = tmp_path / "roles-small.toml"
    path.write_text(example("task-file"))
    out = tmp_path / "runs"
    result = CliRunner().invoke(main, ["run", "-e", "type", "-t", str(path), "--bootstrap", "100", "-q",
                                       "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [record] = out.glob("roles-small__type__linear__*.json")
    assert "| accuracy" in result.output


def test_documented_plugin_route_makes_a_python_encoder_visible_to_the_command(tmp_path):
    (tmp_path / "my_encoders.py").write_text(example("encoder"))
    (tmp_path / "roles-small.toml").write_text(example("task-file"))
    command = example("plugin-env").split()
    env_pairs = dict(part.split("=", 1) for part in command[:2])
    assert env_pairs == {"PYTHONPATH": ".", "PROBEKIT_PLUGINS": "my_encoders"} and command[2] == "probekit"
    env = {**os.environ, "PROBEKIT_PLUGINS": env_pairs["PROBEKIT_PLUGINS"],
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]), "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "probekit.cli", *command[3:], "--bootstrap", "100", "-q", "--out", "runs"]
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "runs").glob("roles-small__word-shape__linear__*.json"))
    # without the variable the command does not know the encoder
    env.pop("PROBEKIT_PLUGINS")
    missing = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "unknown encoder 'word-shape'" in missing.stderr


def test_documented_entry_points_use_the_registries_groups():
    groups = tomllib.loads(example("entry-points"))["project"]["entry-points"]
    assert set(groups) == {registry.encoders.entry_point_group, registry.probes.entry_point_group,
                           registry.tasks.entry_point_group}


def test_a_plugin_module_that_cannot_be_imported_is_a_clean_error(monkeypatch):
    from probekit.cli import main

    monkeypatch.setenv("PROBEKIT_PLUGINS", "no_such_plugin_module_xyz")
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 2
    assert "PROBEKIT_PLUGINS names 'no_such_plugin_module_xyz', which cannot be imported" in result.output
