"""benchmarks/gpu_extraction.py: a clear exit without CUDA, and (tiny model, CPU) that its code runs.

The script's measurement needs a GPU; these checks keep it working on machines without one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, TOKENIZER_DIR, require_gpt2_tokenizer

pytest.importorskip("transformers")
pytest.importorskip("torch")

SCRIPT = REPO / "benchmarks" / "gpu_extraction.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_without_cuda_it_says_so_and_measures_nothing(tmp_path):
    out = tmp_path / "gpu.json"
    done = _run("--out", str(out))
    assert done.returncode == 2
    assert "no CUDA device is available" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


def test_tiny_model_on_cpu_runs_end_to_end(tmp_path, ewt_dir):
    require_gpt2_tokenizer()
    out = tmp_path / "gpu.json"
    done = _run("--size", "tiny", "--device", "cpu", "--sentences", "12", "--runs", "1", "--batch-sizes", "4,8",
                "--tokenizer", str(TOKENIZER_DIR), "--data", str(ewt_dir), "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(out.read_text())
    assert [(r["dtype"], r["batch_size"]) for r in record["rows"]] == [
        ("float32", 4), ("float16", 4), ("float32", 8), ("float16", 8)]
    assert all(r["words_per_s"] > 0 for r in record["rows"])
    half = [r for r in record["rows"] if r["dtype"] == "float16"]
    assert all(0 < r["max_abs_diff_vs_float32"] < 0.1 for r in half)  # half precision, same features
    assert set(record["float16_over_float32_words_per_s"]) == {"4", "8"}
    assert record["targets"] == {}  # a tiny CPU run checks nothing against the GPU target
    done = _run("--device", "cpu", "--out", str(out))  # GPT-2 small on the CPU is refused
    assert done.returncode == 2 and "--size tiny" in done.stderr
