"""The ``lm`` section of ``probekit reproduce``: the paper's language-model half at CPU scale.

Jobs (all :class:`~probekit.reproduce.suite.FunctionJob`, so they resume like every other job):

* ``lm_perplexity`` per model (EMA with the linear, MLP and attention predictors, GRU, GPT-2; one
  target parameter count, one vocabulary, one token budget): trains the model (or reuses its
  checkpoint), evaluates it on the held-out split (:mod:`probekit.lm.evaluate`) and returns its loss
  curve with the test figures on every row;
* ``lm_probes`` per trained model (EMA-linear, GRU, GPT-2) and for the untrained EMA traces
  (``ema`` encoder, random embeddings): identity bits by lag on EWT and role accuracy on
  ``roles`` and ``ud-roles``, through the ordinary ``probekit run`` pipeline.

Checkpoints live outside git, in ``$PROBEKIT_CACHE/lm/<training config hash>/`` (default
``~/.cache/probekit``): a missing one is trained again (same seed, same weights), an interrupted
one resumes. The job keys hold the training configs, never a machine's paths.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from probekit.reproduce.suite import Budget, Claim, FunctionJob, Job, Section, SectionReport, function_table
from probekit.reproduce.tables import fmt_ci

MODULE = "probekit.reproduce.lm"
#: the models of the section: label -> (arch, predictor)
MODELS = {"ema (linear)": ("ema", "linear"), "ema (mlp)": ("ema", "mlp"), "ema (attention)": ("ema", "attention"),
          "gru": ("gru", "linear"), "gpt2": ("gpt2", "linear")}
PROBED = ("ema (linear)", "gru", "gpt2")
UNTRAINED = "EMA traces, untrained (random emb.)"
PAPER_PERPLEXITY = {"ema (linear)": "260 (C4), 729 (wiki)", "gpt2": "about 260 / 8 (C4)"}

#: per suite: the shared training settings, the probe runs and their sizes (``identity_source``: EWT
#: unless given). The full suite's models
#: train for about two minutes each on two cores (docs/protocol.md gives the measured cost).
LM_BUDGETS = {
    "quick": {"train": {"corpus": "wikitext2", "vocab_size": 500, "params": 30_000, "context": 32,
                        "batch_size": 8, "steps": 30, "eval_every": 10, "checkpoint_every": 10, "val_windows": 16},
              "eval_articles": 2, "lags": [1], "identity_source": "grammar", "identity_train_size": 100,
              "identity_vocab": 20,
              "roles": {"n_train": 150, "n_test": 50}, "ud_roles": {"train_split": "dev"}, "ud_train_size": 150,
              "n_boot": 100},
    "full": {"train": {"corpus": "wikitext2", "vocab_size": 4000, "params": 500_000, "context": 128,
                       "batch_size": 16, "steps": 200, "eval_every": 25, "checkpoint_every": 50, "val_windows": 64},
             "eval_articles": None, "lags": [0, 1, 4], "identity_train_size": 300, "identity_vocab": 50,
             "roles": {"n_train": 500, "n_test": 200}, "ud_roles": {"train_split": "dev"}, "ud_train_size": 500,
             "n_boot": 1000},
}


def _sizes(budget: Budget) -> dict:
    """The full suite's sizes for ``full``, the quick ones for any other suite (``quick``, a test's)."""
    return LM_BUDGETS["full" if budget.name == "full" else "quick"]


def _train_config(budget: Budget, model: str, seed: int) -> dict:
    arch, predictor = MODELS[model]
    return {**_sizes(budget)["train"], "arch": arch, "predictor": predictor, "seed": seed}


def lm_jobs(budget: Budget, seeds: tuple[int, ...]) -> list[Job]:
    seed = seeds[0]   # one seed: each model is minutes of training on two cores
    sizes = _sizes(budget)
    probe = {key: sizes[key] for key in ("lags", "identity_source", "identity_train_size", "identity_vocab", "roles",
                                         "ud_roles", "ud_train_size", "n_boot") if key in sizes}
    jobs: list[Job] = [FunctionJob(MODULE, "lm_perplexity", {"model": model, "train": _train_config(budget, model, seed),
                                                              "n_boot": sizes["n_boot"],
                                                              "max_articles": sizes["eval_articles"]},
                                   label=f"train + evaluate {model} | seed {seed}") for model in MODELS]
    jobs += [FunctionJob(MODULE, "lm_probes", {"model": model, "train": _train_config(budget, model, seed),
                                                "seed": seed, **probe},
                         label=f"probe {model} | seed {seed}") for model in PROBED]
    jobs.append(FunctionJob(MODULE, "lm_probes", {"model": UNTRAINED, "train": None, "seed": seed, **probe},
                            label=f"probe {UNTRAINED} | seed {seed}"))
    return jobs


# ----------------------------------------------------------------------------- job functions

def trained_folder(train: dict) -> Path:
    """Train ``train`` (a :class:`~probekit.lm.train.TrainConfig` as a dict) into the cache, or reuse it."""
    from probekit.cache import default_cache_root
    from probekit.lm.train import TrainConfig, default_threads, load_checkpoint, train as run_training

    config = TrainConfig.from_dict(train)
    folder = default_cache_root() / "lm" / config.key()
    state = load_checkpoint(folder) if folder.is_dir() else None
    if state is None or not state.get("finished"):
        run_training(config, folder, threads=default_threads(), progress=False)
    return folder


def lm_perplexity(model: str, train: dict, n_boot: int = 1000, max_articles: int | None = None) -> pd.DataFrame:
    """Train (or reuse) one model and evaluate it: its loss curve, each row with the test figures."""
    from probekit.lm.evaluate import evaluate
    from probekit.lm.train import default_threads

    record = evaluate(trained_folder(train), n_boot=n_boot, threads=default_threads(), max_articles=max_articles)
    m = record["metrics"]
    fixed = {"model": model, "split": record["data"]["split_name"], "parameters": m["parameters"],
             "width": record["data"]["width"], "vocab_size": record["data"]["vocab_size"],
             "train_tokens": m["train_tokens_seen"], "train_s": m["train_seconds"],
             "perplexity": m["perplexity"]["value"], "perplexity_lo": m["perplexity"]["ci_low"],
             "perplexity_hi": m["perplexity"]["ci_high"], "bits": m["bits_per_token"]["value"],
             "bits_lo": m["bits_per_token"]["ci_low"], "bits_hi": m["bits_per_token"]["ci_high"],
             "unigram_perplexity": m["unigram_perplexity"]["value"], "test_tokens": m["predicted_tokens"],
             "oov_rate": m["oov_rate"]}
    return pd.DataFrame([{**fixed, **point} for point in record["curve"]])


def _probe_configs(model: str, folder: Path | None, seed: int, lags, identity_train_size: int, identity_vocab: int,
                   roles: dict, ud_roles: dict, ud_train_size: int, n_boot: int, identity_source: str = "ud"):
    from probekit.experiment import RunConfig
    from probekit.studies import ENCODER_VOCAB, IDENTITY_PROBE_OPTIONS

    if folder is None:
        stream, sentence = ("ema", {"reset": False, "max_vocab": ENCODER_VOCAB}), ("ema", {"max_vocab": ENCODER_VOCAB})
    else:
        stream = ("lm", {"checkpoint": str(folder), "num_threads": 2})
        sentence = ("lm", {"checkpoint": str(folder), "context": "sentence", "num_threads": 2})
    probe = {k: list(v) for k, v in IDENTITY_PROBE_OPTIONS.items()}
    configs = [RunConfig(encoder=stream[0], task="identity", probe="linear", seed=seed, train_size=identity_train_size,
                         encoder_options=stream[1], probe_options=probe, n_boot=n_boot,
                         task_options={"source": identity_source, "vocab_size": identity_vocab, "lag": lag}) for lag in lags]
    configs.append(RunConfig(encoder=sentence[0], task="roles", probe="linear", seed=seed,
                             encoder_options=sentence[1], task_options=dict(roles), n_boot=n_boot))
    configs.append(RunConfig(encoder=sentence[0], task="ud-roles", probe="linear", seed=seed, train_size=ud_train_size,
                             encoder_options=sentence[1], task_options=dict(ud_roles), n_boot=n_boot))
    return configs


def lm_probes(model: str, train: dict | None, seed: int, lags, identity_train_size: int, identity_vocab: int,
              roles: dict, ud_roles: dict, ud_train_size: int, n_boot: int, identity_source: str = "ud") -> pd.DataFrame:
    """Identity bits by lag (``identity_source``: EWT, or the grammar in the quick suite, which spares
    parsing EWT's training file) and role accuracy (roles, ud-roles) read from one model's states."""
    from probekit.experiment import run_all

    folder = None if train is None else trained_folder(train)
    rows = []
    for config in _probe_configs(model, folder, seed, lags, identity_train_size, identity_vocab, roles, ud_roles,
                                 ud_train_size, n_boot, identity_source):
        for record in run_all(config):
            m = record["metrics"]
            v = m.get("v_information_bits") or {}
            rows.append({"model": model, "task": config.task, "lag": config.task_options.get("lag"),
                         "accuracy": m["accuracy"]["value"], "accuracy_lo": m["accuracy"]["ci_low"],
                         "accuracy_hi": m["accuracy"]["ci_high"], "bits": v.get("value", math.nan),
                         "bits_lo": v.get("ci_low", math.nan), "bits_hi": v.get("ci_high", math.nan),
                         "majority": record["baselines"]["majority"]["accuracy"]["value"],
                         "train_words": record["data"]["train_words"], "test_words": record["data"]["test_words"]})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- report

def _ci(row, column: str, digits: int) -> str:
    return fmt_ci(row[column], row[f"{column}_lo"], row[f"{column}_hi"], digits)


def lm_report(records: list[dict], budget: Budget) -> SectionReport:
    report = SectionReport()
    curves = function_table(records, f"{MODULE}.lm_perplexity")
    probes = function_table(records, f"{MODULE}.lm_probes")
    if not curves.empty:
        final = curves.groupby("model", sort=False).tail(1).set_index("model").reindex(
            [m for m in MODELS if m in set(curves.model)]).reset_index()
        table = pd.DataFrame({
            "model": final.model, "parameters": final.parameters, "width": final.width,
            "train tokens": final.train_tokens, "train s": final.train_s.round(1),
            "test perplexity [95% CI]": [_ci(r, "perplexity", 1) for _, r in final.iterrows()],
            "bits per token": final.bits.round(3), "unigram perplexity": final.unigram_perplexity.round(1),
            "paper": [PAPER_PERPLEXITY.get(m, "-") for m in final.model]})
        report.tables["perplexity"] = table
        split = final.split.iloc[0]
        by = final.set_index("model")
        report.figures["split"] = f"{split}, vocabulary {int(final.vocab_size.iloc[0])}, {int(final.test_tokens.iloc[0])} test tokens"
        report.figures["perplexities"] = "; ".join(f"{m} {_ci(r, 'perplexity', 1)}" for m, r in by.iterrows())
        if {"ema (linear)", "gpt2"} <= set(by.index):
            from probekit.reproduce.tables import ratio_interval

            e, g = by.loc["ema (linear)"], by.loc["gpt2"]
            low, high = ratio_interval((e.perplexity, e.perplexity_lo, e.perplexity_hi),
                                       (g.perplexity, g.perplexity_lo, g.perplexity_hi))
            report.figures["ratio"] = f"EMA ÷ GPT-2 perplexity {e.perplexity / g.perplexity:.2f} [{low:.2f}, {high:.2f}]"
        ema = final[final.model.str.startswith("ema")]
        if "ema (linear)" in set(ema.model):
            linear = by.loc["ema (linear)"]
            report.tables["predictors"] = pd.DataFrame({
                "predictor": ema.model.str.extract(r"\((.*)\)")[0], "parameters": ema.parameters,
                "test perplexity [95% CI]": [_ci(r, "perplexity", 1) for _, r in ema.iterrows()],
                "bits per token [95% CI]": [_ci(r, "bits", 3) for _, r in ema.iterrows()],
                "bits − linear": (ema.bits - linear.bits).round(3)})
            report.figures["predictors"] = "; ".join(
                f"{r.model.split('(')[1].rstrip(')')} − linear {r.bits - linear.bits:+.3f} bits per token"
                for _, r in ema.iterrows() if r.model != "ema (linear)")
        report.plots["curves"] = functools.partial(plot_curves, curves)
        report.notes.append(f"One seed (the suite's first) per model: each is minutes of training on two cores. "
                            f"Perplexity intervals resample test articles; the unigram column is the add-one "
                            f"unigram model of the training split on the same tokens. Held-out text: "
                            f"{split} (docs/lm.md).")
    if not probes.empty:
        identity = probes[probes.task == "identity"].pivot_table(index="model", columns="lag", values="bits",
                                                                 sort=False)
        identity.columns = [f"bits lag {int(c)}" for c in identity.columns]
        identity["total bits"] = identity.sum(axis=1)
        roles = probes[probes.task != "identity"].copy()
        roles["accuracy [95% CI]"] = [_ci(r, "accuracy", 3) for _, r in roles.iterrows()]
        roles = roles.pivot_table(index="model", columns="task", values="accuracy [95% CI]", aggfunc="first",
                                  sort=False)
        roles.columns = [f"{c} accuracy [95% CI]" for c in roles.columns]
        report.tables["probes"] = identity.round(3).join(roles).reset_index()
        report.figures["probes"] = "; ".join(
            f"{model}: {row['total bits']:.2f} identity bits over lags"
            + "".join(f", {c.split(' ')[0]} {row[c].split(' ')[0]}" for c in roles.columns if c in row)
            for model, row in identity.join(roles).iterrows())
    return report


def plot_curves(curves: pd.DataFrame, path: Path) -> None:
    """Validation bits per token against training tokens, one line per model."""
    from probekit.reproduce.tables import _pyplot, _save

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for model, rows in curves.groupby("model", sort=False):
        axes.plot(rows.tokens, rows.val_bits, marker="o", markersize=3, label=model)
    axes.set_xlabel("training tokens")
    axes.set_ylabel("validation loss (bits per token)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    _save(figure, path)


LM_SECTION = Section(
    name="lm", title="Language models: EMA-only, GRU and GPT-2-style LMs trained on one text",
    jobs=lm_jobs, report=lm_report, requires=("probekit.lm.train:train",),
    claims=(
        Claim("An EMA-only LM is far behind a transformer", "EMA-only 130M LM: C4 perplexity 260, about 8x GPT-2 "
              "(wiki: 729)", "ratio", "test perplexity at matched parameters, vocabulary and tokens on {split}: "
              "{perplexities}",
              "Models of well under a million parameters trained for minutes on 2 CPU cores on about 0.3M words of "
              "WikiText-2 (its training file is not available here), not 130M parameters on C4; the gap the "
              "paper reports may only open at scale."),
        Claim("The attention predictor gives the same loss", "the same loss with full softmax attention as with "
              "the linear predictor", "predictors", "held-out bits per token of the EMA LM per predictor",
              "A reader of the whole sequence of trace states could undo the EMA (the differencing loophole); "
              "at this scale it may or may not learn to."),
        Claim("Trained EMA states keep less identity and as much structure", "EMA destroys token identity but "
              "keeps sentence structure", "probes", "identity V-information summed over lags (EWT, linear probe) "
              "and role accuracy (linear probe) read from each trained model, beside untrained EMA traces",
              "The LMs read EWT and the synthetic grammar through a WikiText vocabulary (unknown words share "
              "<unk>)."),
    ))
