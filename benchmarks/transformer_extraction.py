"""Transformer extraction speed: probekit's ``hf`` encoder against a transformers pipeline loop.

    python benchmarks/transformer_extraction.py [--sentences 500] [--runs 5] [--layers 4] [--dim 256]

Builds the same randomly initialised GPT-2 as ``cache_speedup.py`` (``--layers`` x ``--dim``,
the GPT-2 BPE tokenizer from ../shared/models/gpt2-tokenizer; ``build_model`` is imported
from there), saves it to a temporary folder and takes the first ``--sentences`` sentences of
EWT dev (``$PROBEKIT_DATA`` or ../shared/data/ud-english-ewt). Both models are loaded once,
outside the timings. After one warm-up round it times, ``--runs`` rounds, back to back:

* ``probekit``: ``HFCausalLMEncoder(model=..., layer=-1, batch_size=...).encode(corpus)``:
  tokenise, batch, run the model, pool the last subword of every word into a
  (words x dim) array for the last layer;
* ``pipeline_loop``: a plain Python loop calling
  ``pipeline("feature-extraction", model=..., tokenizer=..., framework="pt", device=-1)``
  on each sentence's text (words joined by spaces), one sentence per call. It returns
  per-token features of the last layer and does **no** word alignment or pooling, so
  probekit does strictly more work per sentence (it also adds a BOS token);
* ``miss``: ``cached_encode`` on an empty ``FeatureCache`` (key + encode + store);
* ``hit``:  ``cached_encode`` again (key + load from disk).

Words per second = corpus words / seconds for every row (the pipeline is credited with the
same words). Ratios (``pipeline_loop / probekit``, ``miss / hit``) are taken within each
round, then the median over rounds. torch's thread count is left as the environment sets it
(recorded) unless ``--threads`` is given. Prints a table and writes JSON to
``benchmarks/results/transformer_extraction.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cache_speedup import build_model, timed  # noqa: E402
from common import add_local_gpt2_options, cpu_model  # noqa: E402

from probekit.cache import FeatureCache, cached_encode  # noqa: E402
from probekit.corpus import read_conllu  # noqa: E402
from probekit.encoders.hf import HFCausalLMEncoder  # noqa: E402
from probekit.io import atomic_write_json  # noqa: E402


def make_pipeline(model_dir: Path):
    """The peer: a CPU feature-extraction pipeline over the same weights (loaded once)."""
    from transformers import AutoModel, AutoTokenizer, pipeline

    model = AutoModel.from_pretrained(str(model_dir))
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    try:
        extractor = pipeline("feature-extraction", model=model, tokenizer=tokenizer, framework="pt", device=-1)
        framework_arg = True
    except TypeError:  # transformers versions that dropped the ``framework`` argument (PyTorch only)
        extractor = pipeline("feature-extraction", model=model, tokenizer=tokenizer, device=-1)
        framework_arg = False
    return extractor, framework_arg


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=500, help="first N sentences of EWT dev")
    parser.add_argument("--runs", type=int, default=5, help="timed rounds after one warm-up (>= 5 recommended)")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16, help="probekit's batch_size (its default: 16)")
    add_local_gpt2_options(parser)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "transformer_extraction.json")
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    import transformers

    if args.threads:
        torch.set_num_threads(args.threads)
    corpus = read_conllu(args.data / "en_ewt-ud-dev.conllu")[: args.sentences]
    texts = [" ".join(sentence.words) for sentence in corpus]
    words = corpus.n_tokens

    with tempfile.TemporaryDirectory(prefix="probekit-bench-") as tmp:
        model_dir = build_model(Path(tmp) / "gpt2-small-random", args.tokenizer, args.layers, args.dim)
        cache = FeatureCache(Path(tmp) / "cache")
        encoder = HFCausalLMEncoder(model=str(model_dir), layer=-1, batch_size=args.batch_size, device="cpu")
        load_probekit_s, _ = timed(encoder.load)
        load_pipeline_s, (extractor, framework_arg) = timed(lambda: make_pipeline(model_dir))

        def pipeline_loop() -> int:
            tokens = 0
            with torch.inference_mode():
                for text in texts:
                    out = extractor(text)  # [1][tokens][dim] nested lists
                    tokens += len(out[0])
            return tokens

        def miss():
            cache.clear()
            return cached_encode(encoder, corpus, cache)

        # warm-up round: kernels, allocator, page cache, fingerprint memo
        encoder.encode(corpus)
        pipeline_tokens = pipeline_loop()
        miss()
        cached_encode(encoder, corpus, cache)

        times: dict[str, list[float]] = {"probekit": [], "pipeline_loop": [], "miss": [], "hit": []}
        for _ in range(args.runs):
            seconds, features = timed(lambda: encoder.encode(corpus))
            times["probekit"].append(seconds)
            times["pipeline_loop"].append(timed(pipeline_loop)[0])
            seconds, first = timed(miss)
            times["miss"].append(seconds)
            seconds, second = timed(lambda: cached_encode(encoder, corpus, cache))
            times["hit"].append(seconds)
        assert features.X.shape[0] == words and np.array_equal(first.X, second.X)
        assert np.allclose(features.X, first.X, atol=1e-5)

    medians = {name: statistics.median(values) for name, values in times.items()}
    pipe_over_probekit = [p / k for p, k in zip(times["pipeline_loop"], times["probekit"])]
    miss_over_hit = [m / h for m, h in zip(times["miss"], times["hit"])]
    ratio_pipe = statistics.median(pipe_over_probekit)
    ratio_cache = statistics.median(miss_over_hit)
    result = {
        "benchmark": "transformer_extraction",
        "command": "python benchmarks/transformer_extraction.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "model": {"arch": "gpt2", "layers": args.layers, "dim": args.dim, "init": "random", "layer": "last (-1)"},
        "corpus": {"name": corpus.name, "sentences": len(corpus), "words": words,
                   "pipeline_tokens": pipeline_tokens},
        "probekit": {"batch_size": args.batch_size, "pooling": "last", "features_shape": list(features.X.shape)},
        "pipeline": {"task": "feature-extraction", "device": -1, "framework_arg_accepted": framework_arg,
                     "calls": len(texts), "output": "per-token features, no word pooling"},
        "runs": args.runs,
        "median_s": {k: round(v, 4) for k, v in medians.items()},
        "all_s": {k: [round(x, 4) for x in v] for k, v in times.items()},
        "words_per_s": {k: round(words / v, 1) for k, v in medians.items()},
        "ratio_pipeline_over_probekit": {"median": round(ratio_pipe, 3),
                                         "per_round": [round(x, 3) for x in pipe_over_probekit]},
        "ratio_miss_over_hit": {"median": round(ratio_cache, 1), "per_round": [round(x, 1) for x in miss_over_hit]},
        "targets": {"probekit_at_least_pipeline": ratio_pipe >= 1.0, "hit_at_least_20x_miss": ratio_cache >= 20.0},
        "model_load_s": {"probekit": round(load_probekit_s, 3), "pipeline": round(load_pipeline_s, 3)},
        "machine": {
            "nproc": os.cpu_count(),
            "sched_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "cpu_model": cpu_model(),
            "torch_threads": torch.get_num_threads(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "device": "cpu",
        },
    }
    atomic_write_json(args.out, result)

    w, m = result["words_per_s"], result["median_s"]
    print(f"{len(corpus)} sentences, {words} words ({pipeline_tokens} pipeline tokens), GPT-2 {args.layers}x{args.dim} "
          f"random, last layer, CPU, torch threads {torch.get_num_threads()}, medians of {args.runs} rounds:")
    print(f"  {'method':<40}{'median s':>10}{'words/s':>12}")
    rows = [("probekit HFCausalLMEncoder.encode", "probekit"),
            ("pipeline('feature-extraction') loop", "pipeline_loop"),
            ("cached_encode, first run (miss)", "miss"), ("cached_encode, hit", "hit")]
    for label, key in rows:
        print(f"  {label:<40}{m[key]:>10.4f}{w[key]:>12,.0f}")
    print(f"  pipeline loop / probekit: {ratio_pipe:.2f}x (target >= 1: "
          f"{'met' if ratio_pipe >= 1 else 'missed'})")
    print(f"  miss / hit: {ratio_cache:.1f}x (target >= 20: {'met' if ratio_cache >= 20 else 'missed'})")
    print(f"  -> {args.out}")
    return result


if __name__ == "__main__":
    main()
