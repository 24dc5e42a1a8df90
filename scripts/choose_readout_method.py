"""Choose the zero-label readout curve's clustering method on a dev split carved from the training set.

    PYTHONPATH=. OMP_NUM_THREADS=1 python scripts/choose_readout_method.py [--task roles] [--out FILE.csv]

The task's training sentences are split 80/20 by ``choose_hebbian_defaults.dev_split`` (its own
seed, DEV_SEED, not a run seed) into a fitting part and a dev part. The EMA encoder (hebbian
embeddings) and every candidate (a clustering method of :data:`probekit.probes.hebbian.METHODS` x a
number of principal components) are fitted on the fitting part; the cluster -> role mappings on the
fitting part's clusters and labels; every k is scored on the dev part. No test sentence is read. The
criterion, fixed before the run: the highest dev one-to-one accuracy at k = the number of roles (the
headline readout); the other columns are reported, not used. docs/probes.md quotes the table.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np
import pandas as pd

from probekit import registry
from probekit.metrics import cluster_information
from probekit.probes.hebbian import METHODS
from probekit.probes.readout import ClusterReadout

CLUSTERS = (8, 16, 64, 256)
COMPONENTS = (16, 32)
WORD_CLASSES = (4, 5, 6)


def _defaults_script():
    """scripts/choose_hebbian_defaults.py: its dev split (one definition, one seed) and dev data."""
    spec = importlib.util.spec_from_file_location("choose_hebbian_defaults",
                                                  Path(__file__).with_name("choose_hebbian_defaults.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def candidates() -> dict[str, dict]:
    """Every setting compared: method x principal components kept."""
    flat = {f"{method}, {n} components": {"method": method, "n_components": n}
            for method in METHODS if method != "divisive" for n in COMPONENTS}
    divisive = {f"divisive from {c} word classes, 16 components": {"method": "divisive", "n_components": 16,
                                                                   "word_classes": c} for c in WORD_CLASSES}
    return {**flat, **divisive}


def choose(task_name: str = "roles", seed: int = 0) -> pd.DataFrame:
    defaults = _defaults_script()
    data = defaults.dev_data(task_name, seed)
    x_fit, y_fit, x_dev, gold = data["x_fit"], data["y_fit"], data["x_dev"], data["y_dev"]
    n_roles, sentences = data["n_labels"], data["dev_sentence_ids"]
    rows = []
    for name, options in candidates().items():
        start = time.perf_counter()
        probe = registry.probes.create("hebbian", seed=seed, clusters=tuple(sorted({*CLUSTERS, n_roles})),
                                       **options).fit(x_fit)
        fit_curve, dev_curve = probe.predict_curve(x_fit), probe.predict_curve(x_dev)
        row = {"setting": name, **options}
        for k in sorted(fit_curve):
            readout = ClusterReadout().fit(fit_curve[k], y_fit, n_roles, n_clusters=k)
            row[f"k={k} one-to-one"] = float(np.mean(readout.predict(dev_curve[k], "one_to_one") == gold))
            row[f"k={k} many-to-one"] = float(np.mean(readout.predict(dev_curve[k], "many_to_one") == gold))
            row[f"k={k} bits"] = cluster_information(dev_curve[k], gold, sentences, k, n_roles, n_boot=1)["value"]
        row["seconds"] = round(time.perf_counter() - start, 1)
        rows.append(row)
    table = pd.DataFrame(rows)
    table["chosen"] = table.index == table[f"k={n_roles} one-to-one"].idxmax()
    return table.assign(task=task_name, fit_sentences=data["fit_sentences"], dev_sentences=data["dev_sentences"],
                        dev_seed=defaults.DEV_SEED)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="roles")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    table = choose(args.task)
    if args.out:
        table.to_csv(args.out, index=False, float_format="%.3f")
    print(table.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
