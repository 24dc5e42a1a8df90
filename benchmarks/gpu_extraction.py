"""GPU extraction: float16 against float32 words/s on GPT-2 small (target: float16 >= 2x float32).

    python benchmarks/gpu_extraction.py [--tokenizer ../shared/models/gpt2-tokenizer] [--sentences 2000]
                                        [--batch-sizes 16,256,1024] [--runs 3]

For a CUDA machine without internet: builds GPT-2 small's architecture (``GPT2Config()``
defaults, 124M parameters, random initialisation, seed 0) with the GPT-2 tokenizer from a
local folder (``--tokenizer``, default ../shared/models/gpt2-tokenizer next to the repository),
saves it to a temporary folder and encodes the first ``--sentences`` sentences of EWT dev
(``--data``, default ``$PROBEKIT_DATA`` or ../shared/data/ud-english-ewt) with probekit's ``hf``
encoder (last layer, last subword) for every ``dtype`` (float32, float16) and ``batch_size``
(``--batch-sizes``; the encoder default 16 and larger ones, since small batches leave a GPU
waiting on the host). Each configuration: one warm-up encode, then ``--runs`` timed encodes
(``encode`` returns host numpy arrays, so every timing includes the device work), the median
reported; peak device memory from ``torch.cuda.max_memory_allocated``; the float16 features'
max abs difference from float32 (same batch size).

Prints a table and writes JSON to ``benchmarks/results/gpu_extraction.json`` (``--out``).
Without CUDA it prints why and exits with status 2, measuring nothing. ``--size tiny --device
cpu`` runs the same code on a 2-layer x 64 model on the CPU (a check that the script works,
not a measurement).
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import GPT2_SIZES, SHARED, cpu_model, save_random_gpt2  # noqa: E402

DTYPES = ("float32", "float16")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", type=Path, default=SHARED / "models" / "gpt2-tokenizer",
                        help="local GPT-2 tokenizer folder (tokenizer.json)")
    data = os.environ.get("PROBEKIT_DATA", SHARED / "data" / "ud-english-ewt")
    parser.add_argument("--data", type=Path, default=Path(data), help="folder with en_ewt-ud-dev.conllu")
    parser.add_argument("--sentences", type=int, default=2000, help="first N sentences of EWT dev")
    parser.add_argument("--batch-sizes", default="16,256,1024", help="comma-separated batch_size values")
    parser.add_argument("--runs", type=int, default=3, help="timed encodes per configuration (after a warm-up)")
    parser.add_argument("--size", choices=sorted(GPT2_SIZES), default="small")
    parser.add_argument("--device", default="cuda", help="cuda (default) or cuda:N; cpu only with --size tiny")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "gpu_extraction.json")
    args = parser.parse_args(argv)

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"gpu_extraction: no CUDA device is available here (torch {torch.__version__}, "
              f"torch.cuda.is_available() is False); this benchmark measures float16 against float32 on a GPU "
              f"and measured nothing. Run it on a machine with a CUDA GPU.", file=sys.stderr)
        raise SystemExit(2)
    if args.device == "cpu" and args.size != "tiny":
        parser.error("--device cpu is only a check that the script runs: give --size tiny with it")
    for flag, path in (("--tokenizer", args.tokenizer), ("--data", args.data)):
        if not path.is_dir():
            parser.error(f"the folder {path} does not exist; pass {flag} <folder>")
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b]

    import numpy as np
    import transformers

    from probekit.corpus import read_conllu
    from probekit.encoders.hf import HFCausalLMEncoder
    from probekit.io import atomic_write_json

    corpus = read_conllu(args.data / "en_ewt-ud-dev.conllu")[: args.sentences]
    words = corpus.n_tokens
    rows = []
    with tempfile.TemporaryDirectory(prefix="probekit-gpu-") as tmp:
        model_dir = save_random_gpt2(Path(tmp) / f"gpt2-{args.size}-random", args.tokenizer, args.size)
        for batch_size in batch_sizes:
            reference = None
            for dtype in DTYPES:
                encoder = HFCausalLMEncoder(model=str(model_dir), layer=-1, batch_size=batch_size, dtype=dtype,
                                            device=args.device).load()
                encoder.encode(corpus)  # warm-up: kernels, allocator, cuBLAS handles
                if args.device.startswith("cuda"):
                    torch.cuda.reset_peak_memory_stats()
                seconds = []
                for _ in range(args.runs):
                    start = time.perf_counter()
                    X = encoder.encode(corpus).X
                    seconds.append(time.perf_counter() - start)
                host = []  # the host-side share: tokenising and aligning the corpus (no device work)
                for _ in range(args.runs):
                    start = time.perf_counter()
                    encoder._sequences(corpus)
                    host.append(time.perf_counter() - start)
                row = {"dtype": dtype, "batch_size": batch_size, "median_s": round(statistics.median(seconds), 4),
                       "host_tokenise_s": round(statistics.median(host), 4),
                       "all_s": [round(s, 4) for s in seconds],
                       "words_per_s": round(words / statistics.median(seconds), 1)}
                if args.device.startswith("cuda"):
                    row["peak_device_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
                if reference is None:
                    reference = X
                else:
                    row["max_abs_diff_vs_float32"] = float(np.abs(X - reference).max())
                rows.append(row)
                del encoder
                if args.device.startswith("cuda"):
                    torch.cuda.empty_cache()

        # the device path against the CPU path (float32, the first 100 sentences): same features
        cpu_check = None
        if args.device.startswith("cuda"):
            head = corpus[:100]
            on_cpu = HFCausalLMEncoder(model=str(model_dir), layer=-1, device="cpu").load().encode(head).X
            on_device = HFCausalLMEncoder(model=str(model_dir), layer=-1, device=args.device).load().encode(head).X
            cpu_check = {"sentences": len(head), "max_abs_diff": float(np.abs(on_cpu - on_device).max()),
                         "max_abs_value": float(np.abs(on_cpu).max())}

    ratios = {}
    for batch_size in batch_sizes:
        by = {r["dtype"]: r for r in rows if r["batch_size"] == batch_size}
        ratios[str(batch_size)] = round(by["float16"]["words_per_s"] / by["float32"]["words_per_s"], 3)
    best = max(ratios.values())
    device_name = torch.cuda.get_device_name(torch.device(args.device)) if args.device.startswith("cuda") else "cpu"
    record = {
        "benchmark": "gpu_extraction",
        "command": "python benchmarks/gpu_extraction.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "model": {"arch": "gpt2", "config": f"GPT2Config({GPT2_SIZES[args.size]})", "init": "random, seed 0",
                  "layer": "last (-1)", "pooling": "last subword"},
        "corpus": {"name": "EWT dev", "sentences": len(corpus), "words": words},
        "rows": rows,
        "device_vs_cpu_float32": cpu_check,
        "float16_over_float32_words_per_s": ratios,
        "targets": {"float16_at_least_2x_float32": best >= 2.0} if args.size == "small" else {},
        "machine": {"device": device_name, "nproc": os.cpu_count(), "cpu_model": cpu_model(),
                    "load_average": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
                    "torch": torch.__version__, "cuda": torch.version.cuda, "transformers": transformers.__version__},
    }
    atomic_write_json(args.out, record)
    print(f"GPT-2 {args.size} (random), {len(corpus)} EWT dev sentences ({words} words), {device_name}, "
          f"median of {args.runs}:")
    print(f"  {'dtype':<10}{'batch':>7}{'median s':>10}{'host s':>8}{'words/s':>12}{'max |f16 - f32|':>17}")
    for r in rows:
        diff = r.get("max_abs_diff_vs_float32")
        print(f"  {r['dtype']:<10}{r['batch_size']:>7}{r['median_s']:>10.3f}{r['host_tokenise_s']:>8.3f}{r['words_per_s']:>12,.0f}"
              f"{'' if diff is None else f'{diff:.2e}':>17}")
    for batch_size, ratio in ratios.items():
        print(f"  float16 / float32 words/s at batch_size {batch_size}: {ratio:.2f}x (target >= 2)")
    if cpu_check:
        print(f"  {args.device} vs cpu, float32, {cpu_check['sentences']} sentences: max |diff| "
              f"{cpu_check['max_abs_diff']:.2e} (largest value {cpu_check['max_abs_value']:.2f})")
    print(f"  -> {args.out}")
    return record


if __name__ == "__main__":
    main()
