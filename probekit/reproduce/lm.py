"""The ``lm`` section of ``probekit reproduce``: the paper's language-model half at CPU scale.

Jobs (all :class:`~probekit.reproduce.suite.FunctionJob`, so they resume like every other job):

* ``lm_perplexity`` per model (EMA with the linear, MLP and attention predictors, GRU, GPT-2; one
  target parameter count, one vocabulary, one token budget): trains the model (or reuses its
  checkpoint), evaluates it on the held-out split (:mod:`probekit.lm.evaluate`) and returns its loss
  curve with the test figures on every row;
* ``lm_probes`` per trained model (EMA-linear, GRU, GPT-2) and for the untrained EMA traces
  (``ema`` encoder, random embeddings): identity bits by lag on EWT and role accuracy on
  ``roles`` and ``ud-roles``, through the ordinary ``probekit run`` pipeline.

Checkpoints live outside git, in ``$PROBEKIT_CACHE/lm/<spec hash>-<code fingerprint>/`` (default
``~/.cache/probekit``; :mod:`probekit.lm.store`): a missing one is trained again (same seed, same
weights), an interrupted one resumes, parallel jobs train it once (file lock). The job keys hold the
training configs, never a machine's paths. In the full suite each model's learning rate is chosen on
the validation split (:mod:`probekit.lm.tuning`); the quick suite trains at the fixed 3e-3.
:func:`model_spec` gives other sections (the identity study, the probe ladder) the GPT-2-style
model this section trains.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pandas as pd

from probekit.lm.tuning import DEFAULT_GRID, grid_edge
from probekit.reproduce.suite import (
    Budget, Claim, FunctionJob, Job, Section, SectionReport, WithSetup, function_table,
)
from probekit.reproduce.tables import fmt_ci

MODULE = "probekit.lm.jobs"   # the job functions (computing code, in the fingerprint)
STORE = "probekit.lm.store"   # trained_folder: trains a model once, or reuses it
#: the models of the section: label -> (arch, predictor)
MODELS = {"ema (linear)": ("ema", "linear"), "ema (mlp)": ("ema", "mlp"), "ema (attention)": ("ema", "attention"),
          "gru": ("gru", "linear"), "gpt2": ("gpt2", "linear")}
PROBED = ("ema (linear)", "gru", "gpt2")
UNTRAINED = "EMA traces, untrained (random emb.)"
PAPER_PERPLEXITY = {"ema (linear)": "260 (C4), 729 (wiki)", "gpt2": "about 260 / 8 (C4)"}

#: Torch threads of every training, evaluation and probe encoding of the section, fixed here (part of
#: each training config, so of its records): one, so that ``--jobs 2`` on two cores runs two jobs on
#: one core each, and the records are the same whatever ``--jobs`` is (the thread count changes
#: trained weights in their last bits; probekit.lm.train.TrainConfig).
THREADS = 1
#: per suite: the shared training settings, the probe runs and their sizes (``identity_source``: EWT
#: unless given). The full suite's models
#: train for about two minutes each on two cores (docs/protocol.md gives the measured cost).
LM_BUDGETS = {
    "quick": {"train": {"corpus": "wikitext2", "vocab_size": 500, "params": 30_000, "context": 32,
                        "batch_size": 8, "steps": 30, "eval_every": 10, "checkpoint_every": 10, "val_windows": 16,
                        "threads": THREADS},
              "eval_articles": 2, "lags": [1], "identity_source": "grammar", "identity_train_size": 100,
              "identity_vocab": 20,
              "roles": {"n_train": 150, "n_test": 50}, "ud_roles": {"train_split": "dev"}, "ud_train_size": 150,
              "n_boot": 100},
    "full": {"train": {"corpus": "wikitext2", "vocab_size": 4000, "params": 500_000, "context": 128,
                       "batch_size": 16, "steps": 200, "eval_every": 25, "checkpoint_every": 50, "val_windows": 64,
                       "threads": THREADS},
             "eval_articles": None, "lags": [0, 1, 4], "identity_train_size": 300, "identity_vocab": 50,
             "roles": {"n_train": 500, "n_test": 200}, "ud_roles": {"train_split": "dev"}, "ud_train_size": 500,
             "n_boot": 1000,
             # each model's rate chosen on the validation split by pilots of a quarter of the steps
             # (probekit.lm.tuning's default grid); the quick suite trains at the fixed default 3e-3
             "lr_search": {"grid": list(DEFAULT_GRID), "pilot_fraction": 0.25}},
}


def _sizes(budget: Budget) -> dict:
    """The full suite's sizes for ``full``, the quick ones for any other suite (``quick``, a test's)."""
    return LM_BUDGETS["full" if budget.name == "full" else "quick"]


def _train_config(budget: Budget, model: str, seed: int) -> dict:
    arch, predictor = MODELS[model]
    return {**_sizes(budget)["train"], "arch": arch, "predictor": predictor, "seed": seed}


def _search(budget: Budget) -> dict:
    """The learning-rate search of a suite's models as job kwargs (none: the fixed default rate)."""
    search = _sizes(budget).get("lr_search")
    return {} if search is None else {"lr_search": dict(search)}


def model_spec(budget: Budget, seeds: tuple[int, ...], model: str = "gpt2") -> dict:
    """``{"train": ..., "lr_search": ...}`` of one of the section's models: what other sections pass to
    :func:`probekit.lm.store.trained_folder` to read the very model this section trains (one seed:
    the suite's first)."""
    return {"train": _train_config(budget, model, seeds[0]), "lr_search": _search(budget).get("lr_search")}


def lm_jobs(budget: Budget, seeds: tuple[int, ...]) -> list[Job]:
    """Each model trained and evaluated, then probed; a job that reads a trained model declares its
    training as a setup (:class:`WithSetup`), so the executor's order knows which jobs share one
    (the first trains it, under a file lock; the others reuse it). Ids are the inner jobs' own."""
    seed = seeds[0]   # one seed: each model is minutes of training on two cores
    sizes = _sizes(budget)
    probe = {key: sizes[key] for key in ("lags", "identity_source", "identity_train_size", "identity_vocab", "roles",
                                         "ud_roles", "ud_train_size", "n_boot") if key in sizes}

    def trained(job: FunctionJob, model: str) -> WithSetup:
        return WithSetup(job, FunctionJob(STORE, "trained_folder", model_spec(budget, seeds, model), cost="training"))

    jobs: list[Job] = [trained(FunctionJob(MODULE, "lm_perplexity", {"model": model,
                                                                      "train": _train_config(budget, model, seed),
                                                                      "n_boot": sizes["n_boot"],
                                                                      "max_articles": sizes["eval_articles"],
                                                                      **_search(budget)},
                                           label=f"train + evaluate {model} | seed {seed}"), model)
                       for model in MODELS]
    jobs += [trained(FunctionJob(MODULE, "lm_probes", {"model": model, "train": _train_config(budget, model, seed),
                                                        "seed": seed, "probes": probe, **_search(budget)},
                                 label=f"probe {model} | seed {seed}"), model) for model in PROBED]
    jobs.append(FunctionJob(MODULE, "lm_probes", {"model": UNTRAINED, "train": None, "seed": seed, "probes": probe},
                            label=f"probe {UNTRAINED} | seed {seed}"))
    return jobs


# ----------------------------------------------------------------------------- job functions

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
            "learning rate": [_lr(r) for _, r in final.iterrows()],
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
        searched = final[final.lr_grid.notna()] if "lr_grid" in final else final.iloc[:0]
        if not searched.empty:
            report.tables["learning-rates"] = _lr_table(searched)
        report.figures["lr"] = "; ".join(f"{r.model} {_lr(r)}" for _, r in final.iterrows())
        edges = [(r.model, edge) for _, r in final.iterrows() if (edge := _edge(r))]
        if edges:
            report.notes.append("**Learning rate at an edge of the grid:** " + "; ".join(
                f"{model} chose {edge}" for model, edge in edges) + ". The best rate may lie beyond the grid: "
                "extend the grid past it before reading these perplexities as each model's best.")
        report.plots["curves"] = functools.partial(plot_curves, curves)
        report.notes.append(f"One seed (the suite's first) per model: each is minutes of training on two cores. "
                            f"Perplexity intervals resample test articles; the unigram column is the add-one "
                            f"unigram model of the training split on the same tokens. Held-out text: "
                            f"{split} (docs/lm.md).")
        report.notes.append("Learning rate: in the full suite each model's rate is chosen from the grid on the "
                            "validation split (never the test split) by pilot runs of a quarter of the steps "
                            "(same seed, compressed schedule), then the chosen rate trains for the full run; "
                            "short pilots favour larger rates (docs/lm.md). The quick suite trains every model "
                            "at the fixed 3e-3, not tuned. The identity study and the probe ladder read this "
                            "section's GPT-2-style model.")
    if not probes.empty:
        identity = probes[probes.task == "identity"].pivot_table(index="model", columns="lag", values="bits",
                                                                 sort=False)
        lags = [int(c) for c in identity.columns]
        identity.columns = [f"bits lag {lag}" for lag in lags]
        total = "sum of bits, lags " + "+".join(map(str, lags))   # a plain sum, negative estimates kept
        identity[total] = identity.sum(axis=1)
        roles = probes[probes.task != "identity"].copy()
        roles["accuracy [95% CI]"] = [_ci(r, "accuracy", 3) for _, r in roles.iterrows()]
        roles = roles.pivot_table(index="model", columns="task", values="accuracy [95% CI]", aggfunc="first",
                                  sort=False)
        roles.columns = [f"{c} accuracy [95% CI]" for c in roles.columns]
        report.tables["probes"] = identity.round(3).join(roles).reset_index()
        report.figures["probes"] = "; ".join(
            f"{model}: {row[total]:.2f} identity bits summed over lags {', '.join(map(str, lags))}"
            + "".join(f", {c.split(' ')[0]} {row[c].split(' ')[0]}" for c in roles.columns if c in row)
            for model, row in identity.join(roles).iterrows())
    return report


def _lr(row) -> str:
    """The rate a model trained at, and how it was chosen."""
    lr = row.get("lr", 3e-3)   # records written before the search have no lr column: the old fixed default
    if "lr_grid" not in row or not isinstance(row.get("lr_grid"), str):
        return f"{lr:g} (fixed, not tuned)"
    edge = _edge(row)
    return (f"{lr:g} (chosen on validation from {', '.join(f'{g:g}' for g in json.loads(row['lr_grid']))}"
            + (f"; {edge}" if edge else "") + ")")


def _edge(row) -> str | None:
    """``"the top of the grid"`` / ``"the bottom of the grid"`` when a searched model's rate is the
    largest or smallest candidate (its best rate may lie beyond the grid), else None."""
    if not isinstance(row.get("lr_grid"), str):
        return None
    edge = grid_edge(json.loads(row["lr_grid"]), row["lr"])
    return None if edge is None else f"the {edge} of the grid"


def _lr_table(final: pd.DataFrame) -> pd.DataFrame:
    """Per model, each candidate rate's validation bits per token after its pilot run."""
    rows = []
    for _, r in final.iterrows():
        for lr, bits in zip(json.loads(r.lr_grid), json.loads(r.lr_val_bits)):
            rows.append({"model": r.model, "candidate lr": f"{lr:g}", "pilot steps": int(r.lr_pilot_steps),
                         "validation bits per token": round(bits, 4), "chosen": "yes" if lr == r.lr else ""})
    return pd.DataFrame(rows)


def plot_curves(curves: pd.DataFrame, path: Path) -> None:
    """Validation bits per token against training tokens, one line per model."""
    from probekit.plotting import pyplot
    from probekit.reproduce.tables import _save

    plt = pyplot()
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
