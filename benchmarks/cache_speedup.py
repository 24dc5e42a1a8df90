"""How much the feature cache saves: first (uncached) encode vs cached encode of EWT dev.

    python benchmarks/cache_speedup.py [--sentences 1000] [--runs 5] [--layers 4] [--dim 256]

Builds a randomly initialised GPT-2 (``--layers`` x ``--dim``, the GPT-2 BPE tokenizer from
../shared/models/gpt2-tokenizer), saves it to a temporary folder and loads it through the
``hf`` encoder like a user's local model. After one warm-up round it times, ``--runs`` times
each (medians reported):

* ``encode``: ``encoder.encode(corpus)``, no cache;
* ``miss``:   ``cached_encode`` on an empty cache (key + encode + store);
* ``hit``:    ``cached_encode`` again (key + load from disk), with the same encoder;
* ``hit_fresh_encoder``: a hit through a new encoder instance that never loads the model.

Prints a summary and writes JSON to ``benchmarks/results/cache_speedup.json``. Timings on a
shared machine vary with its load; the record keeps the load average and thread count.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from probekit.cache import FeatureCache, cached_encode, human_size  # noqa: E402
from probekit.corpus import read_conllu  # noqa: E402
from probekit.encoders.hf import HFCausalLMEncoder  # noqa: E402
from probekit.io import atomic_write_json  # noqa: E402
from common import add_local_gpt2_options  # noqa: E402


def build_model(folder: Path, tokenizer_dir: Path, layers: int, dim: int, seed: int = 0) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    torch.manual_seed(seed)
    config = GPT2Config(n_layer=layers, n_head=max(1, dim // 64), n_embd=dim, n_positions=1024, vocab_size=50257)
    GPT2LMHeadModel(config).save_pretrained(folder)
    GPT2TokenizerFast.from_pretrained(str(tokenizer_dir)).save_pretrained(folder)
    return folder


def timed(work) -> tuple[float, object]:
    start = time.perf_counter()
    value = work()
    return time.perf_counter() - start, value


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=1000, help="first N sentences of EWT dev")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement (>= 5 recommended)")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--all-layers", action="store_true", help="encode every layer (bigger entries)")
    parser.add_argument("--device", default="auto")
    add_local_gpt2_options(parser)
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "cache_speedup.json")
    args = parser.parse_args(argv)

    import torch
    import transformers

    if args.threads:
        torch.set_num_threads(args.threads)
    corpus = read_conllu(args.data / "en_ewt-ud-dev.conllu")[: args.sentences]
    with tempfile.TemporaryDirectory(prefix="probekit-bench-") as tmp:
        model_dir = build_model(Path(tmp) / "gpt2-small-random", args.tokenizer, args.layers, args.dim)
        cache = FeatureCache(args.cache_dir or Path(tmp) / "cache")
        options = dict(model=str(model_dir), all_layers=args.all_layers, device=args.device)
        encoder = HFCausalLMEncoder(**options)

        load_s, _ = timed(encoder.load)
        cache.clear()
        cached_encode(encoder, corpus, cache)  # warm-up: kernels, page cache, fingerprint memo
        cached_encode(encoder, corpus, cache)

        times: dict[str, list[float]] = {"encode": [], "miss": [], "hit": [], "hit_fresh_encoder": [], "key": []}
        for _ in range(args.runs):
            times["encode"].append(timed(lambda: encoder.encode(corpus))[0])
            cache.clear()
            seconds, first = timed(lambda: cached_encode(encoder, corpus, cache))
            times["miss"].append(seconds)
            seconds, second = timed(lambda: cached_encode(encoder, corpus, cache))
            times["hit"].append(seconds)
            fresh = HFCausalLMEncoder(**options)
            times["hit_fresh_encoder"].append(timed(lambda: cached_encode(fresh, corpus, cache))[0])
            assert fresh.model_ is None, "a hit must not load the model"
            times["key"].append(timed(lambda: cache.key(encoder.cache_key_parts(corpus)))[0])
        assert (first.X == second.X).all()
        entry = cache.entries()[0]
        medians = {name: statistics.median(values) for name, values in times.items()}

    result = {
        "benchmark": "cache_speedup",
        "model": {"layers": args.layers, "dim": args.dim, "init": "random", "all_layers": args.all_layers},
        "corpus": {"name": corpus.name, "sentences": len(corpus), "words": corpus.n_tokens},
        "features": {"shape": list(first.X.shape), "entry_bytes": entry["size"],
                     "entry_size": human_size(entry["size"])},
        "runs": args.runs,
        "median_s": {k: round(v, 4) for k, v in medians.items()},
        "all_s": {k: [round(x, 4) for x in v] for k, v in times.items()},
        "model_load_s": round(load_s, 3),
        "speedup_miss_over_hit": round(medians["miss"] / medians["hit"], 1),
        "speedup_encode_over_hit": round(medians["encode"] / medians["hit"], 1),
        "store_overhead_s": round(medians["miss"] - medians["encode"], 4),
        "machine": {
            "device": first.meta["device"],
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
    }
    atomic_write_json(args.out, result)
    m = result["median_s"]
    print(f"{result['corpus']['sentences']} sentences, {result['corpus']['words']} words, features "
          f"{first.X.shape[0]} x {first.X.shape[1]} ({result['features']['entry_size']} on disk), device "
          f"{result['machine']['device']}, medians of {args.runs} runs:")
    print(f"  encode (no cache)      {m['encode']:8.3f} s")
    print(f"  first encode (miss)    {m['miss']:8.3f} s   (store overhead {result['store_overhead_s']:.3f} s)")
    print(f"  cached encode (hit)    {m['hit']:8.3f} s   (key {m['key']:.3f} s; "
          f"fresh encoder {m['hit_fresh_encoder']:.3f} s)")
    print(f"  speed-up miss/hit {result['speedup_miss_over_hit']}x, encode/hit {result['speedup_encode_over_hit']}x")
    print(f"  -> {args.out}")
    return result


if __name__ == "__main__":
    main()
