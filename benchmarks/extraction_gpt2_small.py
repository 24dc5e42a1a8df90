"""Transformer extraction at GPT-2 small's size: probekit against a per-sentence loop and the pipeline.

    python benchmarks/extraction_gpt2_small.py [--sentences 2000] [--threads 2] [--batch-size 16]

Builds GPT-2 small's architecture (``GPT2Config()`` defaults: 12 layers x 768, 124M
parameters), randomly initialised with seed 0 (speed does not depend on the weights' values),
with the GPT-2 tokenizer from ../shared/models/gpt2-tokenizer, saves it to a temporary folder
and takes the first ``--sentences`` sentences of EWT dev (``$PROBEKIT_DATA`` or
../shared/data/ud-english-ewt). Each method runs **in its own fresh Python process** (so its
peak RSS, ``resource.getrusage(RUSAGE_SELF).ru_maxrss``, is its own; tracemalloc does not see
torch's allocations), loads the model, warms up on the first 16 sentences, then is timed once
over the whole corpus, on CPU with ``--threads`` torch threads:

* ``probekit``: ``HFCausalLMEncoder(model=..., layer=-1, batch_size=...).encode(corpus)``;
* ``loop``: a plain transformers loop, one sentence per forward pass: tokenise
  ``" " + " ".join(words)`` with the fast tokenizer's offsets, prepend BOS, run ``GPT2Model``,
  take the last subword of every word (the same text, tokens and pooling as probekit, written
  independently: a token belongs to the word holding its last character, found with
  ``np.searchsorted`` on the words' end positions);
* ``pipeline``: ``pipeline("feature-extraction", model=..., tokenizer=..., device=-1)`` called
  on each sentence's text (one call per sentence, its default output: nested lists of
  per-token features, no word pooling, no BOS); credited with the same words;
* ``storage``: ``all_layers=True`` on the first ``--storage-sentences`` sentences through
  ``cached_encode`` with ``storage=float32`` and ``storage=float16``: bytes per word on disk,
  the float16 features' max error against float32, and hit == miss for both.

Features of ``probekit`` and ``loop`` are compared (max abs difference). One timed pass per
method (the 124M model is minutes per pass on a shared 2-core machine); the load average is
recorded before and after each. Prints a table; writes JSON to
``benchmarks/results/extraction_gpt2_small.json``. ``--size tiny`` builds a 2-layer x 64 model
(for checking that the script runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import GPT2_SIZES, add_local_gpt2_options, cpu_model, save_random_gpt2  # noqa: E402

METHODS = ("probekit", "loop", "pipeline", "storage")
WARMUP_SENTENCES = 16


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _load_corpus(args):
    from probekit.corpus import read_conllu

    return read_conllu(args.data / "en_ewt-ud-dev.conllu")[: args.sentences]


def per_sentence_loop(model, tokenizer, corpus, bos: int):
    """The peer: one forward pass per sentence, last subword of each word, last layer."""
    import numpy as np
    import torch

    rows = []
    with torch.inference_mode():
        for sentence in corpus:
            words = sentence.words
            if not words:
                continue
            text = " " + " ".join(words)
            encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
            stops = np.array([stop for _, stop in encoded["offset_mapping"]])
            ends = np.cumsum([len(w) + 1 for w in words])  # word j ends (exclusive) at ends[j] of `text`
            # the word holding a token's last character; a lone separating space goes to the next word
            token_word = np.searchsorted(ends, stops - 1, side="right")
            last = np.flatnonzero(np.r_[token_word[1:] != token_word[:-1], True])
            ids = torch.tensor([[bos] + list(encoded["input_ids"])])
            hidden = model(input_ids=ids).last_hidden_state[0]
            rows.append(hidden[1 + torch.from_numpy(last)].numpy())
    return np.concatenate(rows)


def worker(args) -> dict:
    """One method in this (fresh) process: load, warm up, one timed pass; features saved to --features."""
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    corpus = _load_corpus(args)
    warm = corpus[:WARMUP_SENTENCES]
    model_dir = str(args.model_dir)
    result: dict = {"method": args.worker}
    start = time.perf_counter()
    if args.worker == "probekit":
        from probekit.encoders.hf import HFCausalLMEncoder

        encoder = HFCausalLMEncoder(model=model_dir, layer=-1, batch_size=args.batch_size, device="cpu").load()
        run = lambda c: encoder.encode(c).X  # noqa: E731
    elif args.worker == "loop":
        from transformers import AutoTokenizer, GPT2Model

        model = GPT2Model.from_pretrained(model_dir).eval()
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        run = lambda c: per_sentence_loop(model, tokenizer, c, tokenizer.bos_token_id)  # noqa: E731
    elif args.worker == "pipeline":
        from transformers import AutoModel, AutoTokenizer, pipeline

        model = AutoModel.from_pretrained(model_dir).eval()
        extractor = pipeline("feature-extraction", model=model, tokenizer=AutoTokenizer.from_pretrained(model_dir),
                             device=-1)

        def run(c):
            n_tokens = 0
            with torch.inference_mode():
                for sentence in c:
                    n_tokens += len(extractor(" ".join(sentence.words))[0])
            result["pipeline_tokens"] = n_tokens
            return None
    else:
        return storage_worker(args, corpus)
    result["load_s"] = round(time.perf_counter() - start, 3)
    run(warm)
    result["rss_ready_mib"] = round(_max_rss_mib(), 1)
    result["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    start = time.perf_counter()
    X = run(corpus)
    result["seconds"] = round(time.perf_counter() - start, 3)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["peak_rss_mib"] = round(_max_rss_mib(), 1)
    result["words"] = corpus.n_tokens
    result["torch_threads"] = torch.get_num_threads()
    if X is not None:
        np.save(args.features, np.asarray(X, dtype=np.float32))
    return result


def storage_worker(args, corpus) -> dict:
    """``all_layers`` entries of the feature cache with float32 and float16 storage: bytes, error, hit == miss."""
    import numpy as np

    from probekit.cache import FeatureCache, cached_encode
    from probekit.encoders.hf import HFCausalLMEncoder

    small = corpus[: args.storage_sentences]
    out: dict = {"method": "storage", "sentences": len(small), "words": small.n_tokens}
    features = {}
    with tempfile.TemporaryDirectory(prefix="probekit-storage-") as tmp:
        for storage in ("float32", "float16"):
            cache = FeatureCache(Path(tmp) / storage)
            encoder = HFCausalLMEncoder(model=str(args.model_dir), all_layers=True, batch_size=args.batch_size,
                                        device="cpu", storage=storage)
            start = time.perf_counter()
            miss = cached_encode(encoder, small, cache)
            seconds = time.perf_counter() - start
            hit = cached_encode(encoder, small, cache)
            (entry,) = cache.entries()
            x_bytes = (cache.features_dir / entry["key"] / "X.npy").stat().st_size
            out[storage] = {"miss_s": round(seconds, 3), "entry_bytes": entry["size"], "X_bytes": x_bytes,
                            "bytes_per_word": round(entry["size"] / small.n_tokens, 1),
                            "X_bytes_per_word": round(x_bytes / small.n_tokens, 1),
                            "dim": int(miss.X.shape[1]), "hit_equals_miss": bool(np.array_equal(miss.X, hit.X))}
            features[storage] = miss.X
    diff = np.abs(features["float16"] - features["float32"])
    scale = np.maximum(np.abs(features["float32"]), 1e-30)
    out["float16_max_abs_error"] = float(diff.max())
    out["float16_max_rel_error"] = float((diff / scale)[np.abs(features["float32"]) > 1e-3].max())
    out["float32_max_abs_value"] = float(np.abs(features["float32"]).max())
    out["bytes_ratio"] = round(out["float16"]["entry_bytes"] / out["float32"]["entry_bytes"], 4)
    out["peak_rss_mib"] = round(_max_rss_mib(), 1)
    return out


def run_method(method: str, args, model_dir: Path, features: Path) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", method, "--model-dir", str(model_dir),
               "--features", str(features), "--sentences", str(args.sentences), "--threads", str(args.threads),
               "--batch-size", str(args.batch_size), "--storage-sentences", str(args.storage_sentences),
               "--data", str(args.data)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    print(f"  running {method} ...", flush=True)
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"method {method} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=2000, help="first N sentences of EWT dev")
    parser.add_argument("--batch-size", type=int, default=16, help="probekit's batch_size (its default: 16)")
    parser.add_argument("--storage-sentences", type=int, default=200, help="sentences for the all_layers storage row")
    parser.add_argument("--size", choices=sorted(GPT2_SIZES), default="small")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {METHODS}")
    add_local_gpt2_options(parser)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "extraction_gpt2_small.json")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--features", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.threads = args.threads or 2
    if args.worker:
        print(json.dumps(worker(args)))
        return {}
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {METHODS}")

    import numpy as np
    import torch
    import transformers

    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="probekit-bench-") as tmp:
        model_dir = save_random_gpt2(Path(tmp) / f"gpt2-{args.size}-random", args.tokenizer, args.size)
        n_params = sum(p.numel() for p in transformers.GPT2Model.from_pretrained(str(model_dir)).parameters())
        for method in methods:
            results[method] = run_method(method, args, model_dir, Path(tmp) / f"{method}.npy")
        if "probekit" in results and "loop" in results:
            a, b = np.load(Path(tmp) / "probekit.npy"), np.load(Path(tmp) / "loop.npy")
            assert a.shape == b.shape, (a.shape, b.shape)
            results["max_abs_diff_probekit_vs_loop"] = float(np.abs(a - b).max())
            results["max_abs_value"] = float(np.abs(b).max())

    for method in ("probekit", "loop", "pipeline"):
        if method in results:
            results[method]["words_per_s"] = round(results[method]["words"] / results[method]["seconds"], 1)
    targets = {}
    if "probekit" in results and "loop" in results:
        speedup = results["loop"]["seconds"] / results["probekit"]["seconds"]
        results["speedup_over_loop"] = round(speedup, 3)
        targets["probekit_at_least_3x_loop"] = speedup >= 3.0
        targets["features_identical_to_loop_1e-4"] = results["max_abs_diff_probekit_vs_loop"] <= 1e-4
    if "probekit" in results and "pipeline" in results:
        results["speedup_over_pipeline"] = round(results["pipeline"]["seconds"] / results["probekit"]["seconds"], 3)
    record = {
        "benchmark": "extraction_gpt2_small",
        "command": "python benchmarks/extraction_gpt2_small.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "model": {"arch": "gpt2", "config": f"GPT2Config({GPT2_SIZES[args.size]})", "parameters": n_params,
                  "init": "random, torch.manual_seed(0)", "layer": "last (-1)", "pooling": "last subword"},
        "corpus": {"name": "EWT dev", "sentences": args.sentences},
        "probekit_batch_size": args.batch_size,
        "results": results,
        "targets": targets,
        "machine": {"nproc": os.cpu_count(), "cpu_model": cpu_model(), "torch_threads": args.threads,
                    "load_average_end": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
                    "torch": torch.__version__, "transformers": transformers.__version__, "device": "cpu"},
    }
    from probekit.io import atomic_write_json

    atomic_write_json(args.out, record)
    print(f"GPT-2 {args.size} ({n_params / 1e6:.1f}M parameters, random), {args.sentences} EWT dev sentences, "
          f"CPU, {args.threads} torch threads, one timed pass per method in a fresh process:")
    print(f"  {'method':<34}{'s':>9}{'words/s':>10}{'peak RSS MiB':>14}  load avg before/after")
    for method in ("probekit", "loop", "pipeline"):
        if method in results:
            r = results[method]
            print(f"  {method:<34}{r['seconds']:>9.2f}{r['words_per_s']:>10,.0f}{r['peak_rss_mib']:>14,.0f}  "
                  f"{r['load_average_before'][0]} / {r['load_average_after'][0]}")
    if "speedup_over_loop" in results:
        print(f"  probekit vs per-sentence loop: {results['speedup_over_loop']:.2f}x (target >= 3); "
              f"max abs diff {results['max_abs_diff_probekit_vs_loop']:.2e}")
    if "speedup_over_pipeline" in results:
        print(f"  probekit vs pipeline: {results['speedup_over_pipeline']:.2f}x")
    if "storage" in results:
        s = results["storage"]
        print(f"  all_layers storage ({s['words']} words): float32 {s['float32']['bytes_per_word']:,.0f} B/word, "
              f"float16 {s['float16']['bytes_per_word']:,.0f} B/word; float16 max abs error "
              f"{s['float16_max_abs_error']:.2e} (max rel {s['float16_max_rel_error']:.2e}); hit == miss: "
              f"{s['float32']['hit_equals_miss']} / {s['float16']['hit_equals_miss']}")
    print(f"  -> {args.out}")
    return record


if __name__ == "__main__":
    main()
