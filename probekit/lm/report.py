"""Tables of ``lm eval`` records: perplexity per architecture (with the EMA ÷ GPT-2 ratio) and
the EMA predictor ablation. Used by ``probekit compare`` and the ``lm`` reproduce section."""

from __future__ import annotations

import math

import pandas as pd

from probekit.lm.evaluate import RECORD_KIND
from probekit.lm.tuning import grid_edge


def split_lm_records(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """``(lm eval records, the others)``: the two kinds are tabulated separately."""
    lm = [r for r in records if r.get("kind") == RECORD_KIND]
    return lm, [r for r in records if r.get("kind") != RECORD_KIND]


def _ci(entry: dict, digits: int = 1) -> str:
    return f"{entry['value']:.{digits}f} [{entry['ci_low']:.{digits}f}, {entry['ci_high']:.{digits}f}]"


def _model(record: dict) -> str:
    train = record["config"]["train"]
    return f"ema ({train['predictor']})" if train["arch"] == "ema" else train["arch"]


def _how_chosen(search: dict | None, lr: float) -> str:
    if not search:
        return " (fixed)"
    edge = grid_edge(search["grid"], lr)
    return " (chosen on validation" + (f"; the {edge} of the grid {search['grid']}" if edge else "") + ")"


def perplexity_table(records: list[dict]) -> pd.DataFrame:
    """One row per evaluated model: perplexity and bits with intervals, unigram reference, size."""
    rows = []
    for r in records:
        m, train = r["metrics"], r["config"]["train"]
        rows.append({"model": _model(r), "seed": train["seed"], "text": r["data"]["split_name"],
                     "split": r["data"]["split"], "parameters": m["parameters"],
                     "train tokens": m["train_tokens_seen"], "perplexity [95% CI]": _ci(m["perplexity"]),
                     "bits per token": round(m["bits_per_token"]["value"], 3),
                     "unigram perplexity": round(m["unigram_perplexity"]["value"], 1),
                     "train s": round(m["train_seconds"], 1),
                     "lr": f"{train['lr']:g}" + _how_chosen(r.get("lr_search"), train["lr"]),
                     "_ppl": m["perplexity"]["value"]})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values(["text", "model", "seed"]).drop(columns="_ppl").reset_index(drop=True)


def ema_gpt2_ratio(records: list[dict]) -> str:
    """EMA (linear predictor) perplexity ÷ GPT-2's on the same text, with an interval from the two."""
    by = {(_model(r), r["data"]["split_name"], r["config"]["train"]["seed"]): r["metrics"]["perplexity"]
          for r in records}
    parts = []
    for (model, text, seed), ema in sorted(by.items()):
        gpt2 = by.get(("gpt2", text, seed))
        if model != "ema (linear)" or gpt2 is None:
            continue
        from probekit.reproduce.tables import ratio_interval

        low, high = ratio_interval((ema["value"], ema["ci_low"], ema["ci_high"]),
                                   (gpt2["value"], gpt2["ci_low"], gpt2["ci_high"]))
        parts.append(f"{ema['value'] / gpt2['value']:.2f} [{low:.2f}, {high:.2f}] ({text}, seed {seed})")
    return "; ".join(parts) or "n/a"


def predictor_table(records: list[dict]) -> pd.DataFrame:
    """The EMA LM with each predictor: perplexity, bits and the difference to the linear one."""
    ema = [r for r in records if r["config"]["train"]["arch"] == "ema"]
    rows = [{"predictor": r["config"]["train"]["predictor"], "seed": r["config"]["train"]["seed"],
             "text": r["data"]["split_name"], "parameters": r["metrics"]["parameters"],
             "perplexity [95% CI]": _ci(r["metrics"]["perplexity"]),
             "bits per token": r["metrics"]["bits_per_token"]["value"]} for r in ema]
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    linear = table[table.predictor == "linear"].set_index(["text", "seed"])["bits per token"]
    table["bits − linear"] = [row["bits per token"] - linear.get((row.text, row.seed), math.nan)
                              for _, row in table.iterrows()]
    order = {"linear": 0, "mlp": 1, "attention": 2}
    table = table.sort_values(["text", "seed", "predictor"], key=lambda c: c.map(order) if c.name == "predictor"
                              else c).reset_index(drop=True)
    return table.round({"bits per token": 3, "bits − linear": 3})


def echo_lm_tables(records: list[dict], fmt: str = "markdown") -> None:
    """``probekit compare``'s language-model part (nothing when there are no ``lm eval`` records)."""
    import click

    from probekit.report import render

    if not records:
        return
    click.echo("Language models: held-out perplexity (95% CI over articles; docs/lm.md):")
    click.echo(render(perplexity_table(records), fmt))
    click.echo(f"\nEMA (linear) ÷ GPT-2 perplexity: {ema_gpt2_ratio(records)} (the paper: about 8 at 130M "
               f"parameters on C4)")
    predictors = predictor_table(records)
    if len(predictors):
        click.echo("\nEMA LM predictors (the paper: the same loss with full softmax attention as with linear):")
        click.echo(render(predictors, fmt))
    click.echo("")
