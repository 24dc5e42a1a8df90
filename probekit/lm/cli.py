"""``probekit lm``: train and evaluate the small language models (a thin shell over the API)."""

from __future__ import annotations

from pathlib import Path

import click

from probekit.errors import ProbekitError


def _rates(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise ProbekitError(f"--rates {text!r}: give comma-separated numbers such as 0.5,0.1,0.02.") from None


def attach(main: click.Group, group_cls: type[click.Group]) -> None:
    """Add the ``lm`` group to the ``probekit`` command line."""

    @main.group("lm", cls=group_cls)
    def lm() -> None:
        """Train and evaluate small language models (EMA-only, GRU, GPT-2-style) on one text."""

    @lm.command("train")
    @click.option("--arch", required=True, help="ema, gru or gpt2.")
    @click.option("--predictor", default="linear", show_default=True,
                  help="EMA LM predictor: linear, mlp or attention.")
    @click.option("--corpus", default="wikitext2", show_default=True,
                  help="wikitext2, ewt, a .txt file or a folder of .txt files (docs/lm.md).")
    @click.option("--split-seed", default=0, show_default=True, type=int, help="Seed of the 80/10/10 article split.")
    @click.option("--steps", type=int, default=None, help="Optimizer steps [default: 300].")
    @click.option("--tokens", type=int, default=None, help="Training tokens instead of --steps.")
    @click.option("--seed", default=0, show_default=True, type=int, help="Initial weights and batches.")
    @click.option("--vocab-size", type=int, default=None, help="Vocabulary cap with <unk>, <eol> [default: 10000 "
                  "or all training types].")
    @click.option("--params", type=int, default=None, help="Target parameter count: the width is derived from it.")
    @click.option("--width", default=128, show_default=True, type=int, help="Width when --params is not given.")
    @click.option("--layers", type=int, default=None, help="GRU / GPT-2 layers [default: 1 / 2].")
    @click.option("--rates", default="0.5,0.1,0.02", show_default=True, help="EMA rates, comma-separated.")
    @click.option("--learn-rates/--fixed-rates", default=False, show_default=True, help="EMA rates learned or fixed.")
    @click.option("--context", default=128, show_default=True, type=int, help="Tokens per training window.")
    @click.option("--batch-size", default=16, show_default=True, type=int, help="Windows per step.")
    @click.option("--lr", default="3e-3", show_default=True,
                  help="AdamW peak learning rate: one rate (fixed), several comma-separated rates, or 'auto' "
                       "(1e-3,3e-3,1e-2,3e-2): several are chosen on the validation split (never the test split) by "
                       "a pilot run per rate of --lr-pilot-fraction of the steps; the lowest validation loss "
                       "wins and trains for the full run (docs/lm.md).")
    @click.option("--lr-pilot-fraction", default=0.25, show_default=True, type=float,
                  help="With several --lr rates: the fraction of the steps (and warm-up) each pilot trains.")
    @click.option("--eval-every", default=50, show_default=True, type=int, help="Steps between validation losses.")
    @click.option("--checkpoint-every", default=50, show_default=True, type=int, help="Steps between checkpoints.")
    @click.option("--threads", default=1, show_default=True, type=int,
                  help="torch threads; part of the training config, since the thread count changes the weights "
                       "in their last bits (a resumed run must use the same).")
    @click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="Model folder.")
    def train_command(arch, predictor, corpus, split_seed, steps, tokens, seed, vocab_size, params, width, layers,
                      rates, learn_rates, context, batch_size, lr, lr_pilot_fraction, eval_every, checkpoint_every,
                      threads, out):
        """Train (or resume) a language model into OUT; rerun the same command to resume."""
        from probekit.lm.train import TrainConfig, steps_for_tokens, train
        from probekit.lm.tuning import check_fraction, grid_edge, parse_lr, train_tuned

        if steps is not None and tokens is not None:
            raise ProbekitError("give either --steps or --tokens, not both.")
        if tokens is not None:
            steps = steps_for_tokens(tokens, batch_size, context)
        if vocab_size is not None and vocab_size <= 0:
            raise ProbekitError(f"--vocab-size must be positive, got {vocab_size}.")
        fixed, grid = parse_lr(lr)
        fraction = check_fraction(lr_pilot_fraction)
        config = TrainConfig(arch=arch, predictor=predictor, corpus=corpus, split_seed=split_seed, seed=seed,
                             vocab_size=vocab_size, params=params, width=width, layers=layers, rates=_rates(rates),
                             learn_rates=learn_rates, context=context, batch_size=batch_size,
                             steps=300 if steps is None else steps, lr=fixed or grid[0], eval_every=eval_every,
                             checkpoint_every=checkpoint_every, threads=threads)
        if grid is None:
            meta = train(config, out)
        else:
            meta = train_tuned(config, grid, out, fraction, progress=True)
            search = meta["lr_search"]
            for rate, bits in zip(search["grid"], search["val_bits"]):
                click.echo(f"lr {rate:g}: validation {bits:.4f} bits per token after {search['pilot_steps']} "
                           f"pilot steps{'  <- chosen' if rate == search['chosen'] else ''}", err=True)
            edge = grid_edge(search["grid"], search["chosen"])
            if edge:
                click.echo(f"the chosen rate is the {edge} of the grid: the best rate may lie beyond it; extend "
                           f"--lr past {search['chosen']:g}.", err=True)
        click.echo(f"{arch} ({meta['parameters']:,} parameters, width {meta['width']}, lr {meta['train']['lr']:g}) "
                   f"trained on {meta['split']} into {out}", err=True)

    @lm.command("eval")
    @click.argument("folder", type=click.Path(path_type=Path))
    @click.option("--corpus", default=None, help="Evaluate on this corpus's test split [default: the training one].")
    @click.option("--split", type=click.Choice(["test", "valid"]), default="test", show_default=True)
    @click.option("--bootstrap", "n_boot", default=1000, show_default=True, type=click.IntRange(min=100))
    @click.option("--threads", default=None, type=int,
                  help="torch threads [default: the model's training --threads].")
    @click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results/runs/lm"),
                  show_default=True, help="Folder for the result record.")
    def eval_command(folder, corpus, split, n_boot, threads, out):
        """Perplexity and bits per token of the model in FOLDER on the held-out split, with a 95% interval
        over articles, beside the add-one unigram perplexity; writes a result record."""
        from probekit.io import atomic_write_json
        from probekit.lm.evaluate import evaluate, record_path
        from probekit.lm.report import perplexity_table
        from probekit.report import render

        record = evaluate(folder, corpus, split, n_boot, threads)
        path = record_path(record, out)
        atomic_write_json(path, record)
        click.echo(render(perplexity_table([record]), "markdown"))
        click.echo(f"record written to {path}", err=True)
