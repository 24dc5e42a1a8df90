"""The ``probekit`` command line: parses options and calls the Python API, nothing more.

Every user error is a :class:`~probekit.errors.ProbekitError`; the command group turns it
into a one-line message on stderr and exit status 2, with no traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from probekit.errors import ProbekitError
from probekit.io import check_writable
from probekit.options import parse_pairs


class _UserError(click.ClickException):
    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True, file=file)


class _Group(click.Group):
    """A command group that reports ProbekitError, a usage error, an OS error on a named path and
    running out of memory as a one-line message with exit code 2."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _UserError(f"{exc.format_message().rstrip('.')}. See `{info_name} -h`.") from None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ProbekitError as exc:
            raise _UserError(str(exc)) from None
        except click.UsageError as exc:  # one line, not click's usage block
            where = exc.ctx.command_path if exc.ctx else ctx.command_path
            raise _UserError(f"{exc.format_message().rstrip('.')}. See `{where} -h`.") from None
        except OSError as exc:
            if exc.filename is None:
                raise
            raise _UserError(f"{exc.filename}: {exc.strerror or exc}. Check the path, its permissions and "
                             f"the free disk space.") from None
        except MemoryError:
            raise _UserError("out of memory: this run needs more memory than the machine gives it. Use "
                             "smaller sizes (fewer sentences, a smaller dim) or a larger machine.") from None


class CommaList(click.ParamType):
    """A comma-separated list of ``item`` values (``0,1,2``); ``all`` means None where allowed."""

    name = "list"

    def __init__(self, item: type = int, allow_all: bool = False, minimum: float | None = None):
        self.item, self.allow_all, self.minimum = item, allow_all, minimum

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        kind = {int: "an integer", float: "a number"}[self.item]
        example = "0,1,2" if self.item is int else "0.5,0.1,0.02"
        values = []
        for item in (t.strip() for t in str(value).split(",")):
            if self.allow_all and item == "all":
                values.append(None)
                continue
            try:
                number = self.item(item)
            except ValueError:
                self.fail(f"{item!r} is not {kind}{' or all' if self.allow_all else ''} "
                          f"(expected a comma-separated list such as {example}).", param, ctx)
            if self.minimum is not None and number < self.minimum:
                self.fail(f"{item!r} is below {self.minimum:g}.", param, ctx)
            values.append(number)
        return values


def _executor_options(command):
    """--jobs, --executor and --address: how a command's runs are spread (probekit.executors)."""
    for option in reversed([
        click.option("--jobs", "-j", type=int, default=1, show_default=True,
                     help="Runs at once on this machine (--executor local); each gets cores/JOBS threads."),
        click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                     help="local: this machine's processes; ray: Ray tasks (pip install -e \".[ray]\")."),
        click.option("--address", default=None, metavar="ADDR",
                     help="--executor ray: the cluster's head (HOST:PORT, ray://HOST:PORT or auto); "
                          "default: a local Ray instance."),
    ]):
        command = option(command)
    return command


def _executor(kind: str, jobs: int, address: str | None):
    from probekit.executors import make_executor

    if kind == "ray" and jobs != 1:
        raise ProbekitError("--jobs is for --executor local; a Ray cluster runs as many jobs as it has CPUs.")
    return make_executor(kind, jobs, address)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="probekit")
def main() -> None:
    """probekit: measure what sequence representations remember.

    Encoders turn sentences into per-word vectors, tasks say what to recover from them,
    probes measure how much is recoverable. Start with `probekit list`, then
    `probekit run --encoder ema --task roles`.
    """
    import warnings

    import probekit  # noqa: F401  (registers the built-in components)

    from probekit.registry import load_plugins

    load_plugins()

    # Library warnings (e.g. a probe that did not converge) as one readable line each.
    warnings.formatwarning = lambda message, category, *args, **kwargs: \
        f"[probekit] {category.__name__}: {message}\n"


@main.command("list")
@click.argument("kind", required=False, type=click.Choice(["encoders", "tasks", "probes", "parsers"]))
def list_command(kind: str | None) -> None:
    """List registered encoders, tasks, probes and parsers with a one-line description (and, for
    a task declared in a file, where the file lives)."""
    from probekit import registry
    from probekit.parsing import parsers

    kinds = {"encoders": registry.encoders, "tasks": registry.tasks, "probes": registry.probes,
             "parsers": parsers}
    for name, reg in kinds.items():
        if kind and kind != name:
            continue
        click.echo(f"{name}:")
        entries = reg.entries()
        width = max((len(e.name) for e in entries), default=0)
        for entry in entries:
            where = f"  [{entry.source}]" if entry.source.endswith(".toml") else ""
            click.echo(f"  {entry.name.ljust(width)}  {entry.description}{where}")


@main.command()
@click.option("--encoder", "-e", required=True, help="Encoder name (see `probekit list encoders`).")
@click.option("--task", "-t", required=True, help="Task name, or a path to a task .toml file.")
@click.option("--probe", "-p", default=None, help="Probe name; default: the task's default probe.")
@click.option("--seed", type=int, default=None, help="Random seed for encoder and probe [default: 0].")
@click.option("--seeds", type=CommaList(int), default=None,
              help="Several seeds, comma-separated (e.g. 0,1,2): one record each.")
@click.option("--train-size", type=CommaList(int, allow_all=True), default=None,
              help="Train on the first N training sentences (or 'all'). Comma-separate several sizes.")
@click.option("--learning-curve", is_flag=True,
              help="Run at training sizes 25,100,400,1600 and all sentences (one record each).")
@click.option("--lags", type=CommaList(int), default=None,
              help="For the identity task: comma-separated lags (e.g. 0,1,2,4,8), one record each (= -O lag=K).")
@click.option("-O", "--task-option", "task_options", multiple=True, metavar="KEY=VALUE",
              help="Override a task option, e.g. -O n_train=2000 -O scheme=thematic.")
@click.option("-E", "--encoder-option", "encoder_options", multiple=True, metavar="KEY=VALUE",
              help="Encoder option, e.g. -E dim=128 -E embedding=hebbian -E rates=[0.5,0.1].")
@click.option("-P", "--probe-option", "probe_options", multiple=True, metavar="KEY=VALUE",
              help="Probe option, e.g. -P C=0.5.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results/runs"),
              show_default=True, help="Folder for the JSON result records.")
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=100), default=1000, show_default=True,
              help="Bootstrap replicates for the 95% confidence intervals (resampling sentences).")
@click.option("--format", "fmt", type=click.Choice(["markdown", "csv", "latex"]), default="markdown",
              show_default=True, help="Format of the printed table.")
@click.option("--control", is_flag=True,
              help="Also fit the probe on a control task (a random label per word type, Hewitt & Liang 2019) "
                   "and report selectivity = task accuracy - control accuracy.")
@click.option("--mdl", is_flag=True,
              help="Also report the online MDL codelength of the training labels in bits, and its "
                   "compression against the uniform code (Voita & Titov 2020).")
@click.option("--no-cache", is_flag=True,
              help="Recompute features even where the feature cache has them (PROBEKIT_CACHE).")
@click.option("--quiet", "-q", is_flag=True, help="Print only the result tables.")
@_executor_options
def run(encoder, task, probe, seed, seeds, train_size, learning_curve, lags, task_options, encoder_options,
        probe_options, out, n_boot, fmt, control, mdl, no_cache, quiet, jobs, executor, address) -> None:
    """Run ENCODER on TASK with PROBE; print metrics and write one record per run.

    Metrics: accuracy, macro-F1 over roles, per-role accuracy, and the structure-dependent
    subset (accuracy and macro-average over roles), each with a 95% bootstrap CI over
    sentences, next to the majority-class baseline. An encoder that returns several layers
    (e.g. -E all_layers=true for gpt2/hf) gives one record per layer. Expensive features
    (transformers) are cached on disk and reused by identical runs.
    """
    from probekit.cache import FeatureCache
    from probekit.experiment import RunConfig
    from probekit.summary import render_rows, run_rows
    from probekit.sweep import DEFAULT_LEARNING_CURVE, Sweep, expand

    check_writable(out, "--out folder", folder=True)
    if seed is not None and seeds is not None:
        raise ProbekitError("give either --seed or --seeds, not both.")
    if learning_curve and train_size is not None:
        raise ProbekitError("give either --learning-curve or --train-size, not both.")
    base = RunConfig(encoder=encoder, task=task, probe=probe, seed=0 if seed is None else seed,
                     encoder_options=parse_pairs(encoder_options, "-E"), task_options=parse_pairs(task_options, "-O"),
                     probe_options=parse_pairs(probe_options, "-P"), n_boot=n_boot, control=control, mdl=mdl)
    sweep = Sweep(expand(base, seeds=seeds, train_sizes=list(DEFAULT_LEARNING_CURVE) if learning_curve else train_size,
                         lags=lags))
    say = (lambda stage: None) if quiet else (lambda stage: click.echo(f"[probekit] {stage}", err=True))
    if len(sweep.configs) > 1:
        say(f"checking {len(sweep.configs)} settings before running any")

    def show(outcome) -> None:
        if outcome.status == "failed":
            raise ProbekitError(f"run {outcome.config.encoder} / {outcome.config.task} (seed {outcome.config.seed}) "
                                f"failed: {outcome.error}")
        for record, path in zip(outcome.records, outcome.paths):
            c = record["config"]
            layer = "" if c.get("layer") is None else f" layer {c['layer']} |"
            click.echo(f"\n{c['task']} | {c['encoder']} |{layer} {c['probe']} | seed {c['seed']} | train "
                       f"{record['data']['train_sentences']} sentences | test {record['data']['test_sentences']}")
            click.echo(render_rows(run_rows(record), fmt))
            say(f"record written to {path} ({record['timings_s']['total']:.1f} s)")

    def stage(message: str) -> None:
        if message == "loading data":   # a job's first stage: name the run
            config = sweep.configs[len(done)]
            size = "all" if config.train_size is None else config.train_size
            say(f"run {config.encoder} / {config.task} / {config.probe or 'default probe'} "
                f"(seed {config.seed}, train size {size})")
        say(message)

    done: list = []
    spread = _executor(executor, jobs, address)
    try:
        # one job: also cache features that only save a process's start-up (EMA's numba kernel)
        cache = None if no_cache else FeatureCache(single_run=len(sweep.configs) == 1)
        sweep.run(out, spread, cache=cache, force=True,
                  progress=lambda outcome: (done.append(outcome), show(outcome)), stage=stage)
    finally:
        spread.close()


@main.command()
@click.argument("grid", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results/runs"),
              show_default=True, help="Folder for the JSON result records.")
@click.option("--dry-run", is_flag=True, help="List the jobs (and which have records) and run nothing.")
@click.option("--force", is_flag=True, help="Recompute jobs even where their records exist.")
@click.option("--no-cache", is_flag=True, help="Recompute features even where the feature cache has them.")
@_executor_options
@click.pass_context
def sweep(ctx, grid, out, dry_run, force, no_cache, jobs, executor, address) -> None:
    """Run every job of GRID (a TOML grid, docs/sweeps.md): one record per run in OUT.

    Every config is checked before any runs. A job whose record exists in OUT and was made by
    this code is reused; the others run through the executor (local processes or Ray), and
    their records are written by this process as they finish. Ends with a summary: done,
    reused, failed with its error (exit status 1 when any failed).
    """
    from probekit.cache import FeatureCache
    from probekit.report import render
    from probekit.sweep import Sweep, sweep_summary

    plan = Sweep.from_toml(grid)
    plan.validate()
    if dry_run:
        click.echo(render(sweep_summary(plan, out), "markdown"))
        return
    spread = _executor(executor, jobs, address)
    from tqdm import tqdm

    outcomes = []
    with tqdm(total=len(plan.configs), desc="sweep", unit="job", file=sys.stderr) as bar:
        def progress(outcome) -> None:
            outcomes.append(outcome)
            bar.update()
            bar.set_postfix_str(f"{sum(o.status == 'failed' for o in outcomes)} failed")
        try:
            plan.run(out, spread, cache=None if no_cache else FeatureCache(), force=force, progress=progress)
        finally:
            spread.close()
    table = sweep_summary(plan, out, outcomes)
    click.echo(render(table, "markdown"))
    counts = table.status.value_counts()
    click.echo(", ".join(f"{counts.get(s, 0)} {s}" for s in ("done", "reused", "failed")) + f"; records in {out}")
    if counts.get("failed", 0):
        ctx.exit(1)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["markdown", "csv", "latex"]), default="markdown",
              show_default=True)
@click.option("--task", "task_filter", multiple=True, help="Only these tasks (repeatable).")
@click.option("--all-rows", is_flag=True, help="One row per record instead of means over seeds.")
def compare(paths, fmt, task_filter, all_rows) -> None:
    """Tabulate result records (default: results/runs) and the zero-label ÷ supervised ratio.

    The ratio table divides the accuracy of the best zero-label run (encoder ema, probe
    hebbian, Hungarian one-to-one readout; many-to-one beside it) by the supervised BiGRU's,
    per task and training size, overall and on the structure-dependent subset.
    """
    from probekit.experiment import load_results
    from probekit.report import compare_tables, render, results_frame

    from probekit.lm.report import echo_lm_tables, split_lm_records

    lm_records, records = split_lm_records(load_results(list(paths) or None))
    echo_lm_tables(lm_records, fmt)
    if lm_records and not records:
        return
    frame = results_frame(records)
    if task_filter:
        frame = frame[frame.task.isin(task_filter)]
    for title, table, note in compare_tables(frame, all_rows):
        if title:
            click.echo(f"\n{title}")
        click.echo(render(table, fmt) if table is not None else note)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="PNG file to write.")
@click.option("--metric", type=click.Choice(["v_information", "accuracy"]), default=None,
              help="What to plot (default: v_information against lag or layer, accuracy against clusters).")
@click.option("--by", "x_axis", type=click.Choice(["lag", "layer", "clusters"]), default="lag", show_default=True,
              help="x axis: lag (one line per encoder and probe), layer (multi-layer records, one line per lag) "
                   "or clusters (the zero-label readout curve, -p hebbian -P clusters=...: accuracy against k, "
                   "with the BiGRU and the linear probe as horizontal lines).")
def plot(paths, output, metric, x_axis) -> None:
    """Plot identity-task records (default: results/runs): a metric against lag, one line per
    encoder and probe (or against layer, one line per lag), with 95% CI bands over seeds and
    sentences (means over seeds). ``--by clusters`` draws the zero-label readout curve instead."""
    from probekit.experiment import load_results
    from probekit.report import plot_identity_curves, plot_layer_curves, plot_readout_curves, results_frame

    from probekit.lm.report import split_lm_records

    check_writable(output, "-o file")
    draw = {"lag": plot_identity_curves, "layer": plot_layer_curves, "clusters": plot_readout_curves}[x_axis]
    metric = metric or ("accuracy" if x_axis == "clusters" else "v_information")
    draw(results_frame(split_lm_records(load_results(list(paths) or None))[1]), output, metric)
    click.echo(f"wrote {output}", err=True)


@main.command()
@click.option("--rates", type=CommaList(float), default="0.5,0.1,0.02", show_default=True,
              help="EMA rates, comma-separated, each in (0, 1].")
@click.option("--dim", default=64, show_default=True, type=int,
              help="Gaussian embedding size (the ema encoder's dim).")
@click.option("--embedding", type=click.Choice(["random", "onehot"]), default="random", show_default=True,
              help="Token embeddings: i.i.d. Gaussian N(0, 1/dim) per type, or one-hot over --vocab types.")
@click.option("--vocab", default=None, type=int,
              help="Number of equiprobable token types (caps the bits at log2 V; sets chance) "
                   "[default: 1000; 64 with --empirical, where the probes need ~600 training tokens per type].")
@click.option("--noise-var", default=0.0, show_default=True, type=float,
              help="Variance of additive Gaussian noise on every stored feature.")
@click.option("--include-current/--no-include-current", default=True, show_default=True,
              help="Whether the features also hold x_t itself (the ema encoder's block 'x').")
@click.option("--past", default=None, type=int, help="Tokens seen so far (default: an infinite past).")
@click.option("--lags", type=CommaList(int, minimum=0), show_default=True,
              default=",".join(map(str, (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32))), help="Lags to tabulate, comma-separated.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "csv", "latex"]), default="markdown",
              show_default=True, help="Format of the printed tables.")
@click.option("-o", "--output", default=Path("dilution.png"), show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="PNG file to write.")
@click.option("--design", "design_range", default=None, metavar="LO:HI",
              help="Also find the rates that maximise --objective over lags LO..HI (seeded multi-start).")
@click.option("--objective", type=click.Choice(["capacity", "bits"]), default="capacity", show_default=True,
              help="Rate-design objective: summed r2 or summed bound bits over the lag range.")
@click.option("--starts", "n_starts", default=8, show_default=True, type=click.IntRange(min=1),
              help="Random starts of the rate design.")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the design starts, the Monte Carlo and the probes.")
@click.option("--mc-trials", default=2000, show_default=True, type=click.IntRange(min=0),
              help="Monte Carlo tokens per lag for the Gaussian nearest-codeword accuracy (0: skip it).")
@click.option("--empirical", is_flag=True, help="Also run identity probes on random streams and add measured curves.")
@click.option("--probes", default="linear", show_default=True, help="Probes for --empirical, comma-separated.")
@click.option("--train-sentences", "n_train", default=2000, show_default=True, type=click.IntRange(min=1),
              help="--empirical: training sentences of 20 random tokens (about 600 per type at the default --vocab).")
@click.option("--test-sentences", "n_test", default=500, show_default=True, type=click.IntRange(min=1),
              help="--empirical: test sentences of 20 random tokens (CIs resample them).")
def dilution(rates, dim, embedding, vocab, noise_var, include_current, past, lags, fmt, output, design_range,
             objective, n_starts, seed, mc_trials, empirical, probes, n_train, n_test) -> None:
    """What EMA traces keep of the token k steps back: the closed-form per-lag table (weights,
    SIR, r2, Gaussian-channel bits, accuracy ceilings), the memory capacity and its spread,
    precision horizons, optionally a rate design and measured probe curves; writes a PNG.
    docs/dilution.md explains every column."""
    from probekit.dilution.design import parse_lag_range
    from probekit.dilution.report import (analyse, default_vocab_size, design_frame, for_display, measure,
                                          merge_measured, plot_dilution)
    from probekit.dilution.theory import make_bank
    from probekit.report import render

    check_writable(output, "-o file")
    bank = make_bank(rates, dim=dim, embedding=embedding,
                     vocab_size=default_vocab_size(empirical) if vocab is None else vocab,
                     noise_var=noise_var, include_current=include_current, past=past)
    lag_list = lags
    lag_range = parse_lag_range(design_range) if design_range is not None else None
    probe_names = tuple(p.strip() for p in probes.split(",") if p.strip())
    if empirical and not probe_names:
        raise ProbekitError("--probes is empty; give probe names such as linear,mlp.")
    result = analyse(bank, lag_list, lag_range, objective, mc_trials=mc_trials, n_starts=n_starts, seed=seed)
    table, measured = result["table"], None
    if empirical:
        measured = measure(bank, lag_list, probe_names, seed=seed, n_train=n_train, n_test=n_test,
                           progress=lambda stage: click.echo(f"[probekit] {stage}", err=True))
        table = merge_measured(table, measured)
    click.echo(render(for_display(table), fmt, digits=6))
    click.echo("\nLinear memory capacity (sum over all lags of r2, per embedding dimension):")
    click.echo(render(for_display(result["capacity"]), fmt))
    click.echo("\nIts spread: capacity within lags <= L:")
    click.echo(render(for_display(result["spread"]), fmt))
    click.echo(f"\nPrecision horizons ({embedding} inputs): lags beyond which a token's weight is below the "
               f"storage's rounding error:")
    click.echo(render(result["horizons"], fmt, digits=1))
    if "design" in result:
        click.echo(f"\nRate design ({objective}, lags {lag_range[0]}..{lag_range[1]}, "
                   f"{n_starts} starts, seed {seed}):")
        click.echo(render(design_frame(result["design"]), fmt, digits=4))
        if bank.noise_var == 0:
            click.echo("(without noise a design may use nearly equal rates whose readout needs unbounded precision; "
                       "set --noise-var for a design that survives storage)")
    plot_dilution(table, bank, output, measured)
    click.echo(f"wrote {output}", err=True)


@main.command()
@click.option("--quick/--full", "quick", default=True, show_default=True,
              help="Suite size: --quick (small data, a few minutes) or --full (the report's sizes).")
@click.option("--seeds", type=CommaList(int), default="0,1,2", show_default=True,
              help="Comma-separated seeds; each run is repeated per seed (the identity study, the dilution "
                   "curve and the probe ladder use the first seed only, to keep the full suite within its budget).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True,
              help="Folder of the report: the full suite's tables, plots and README go to OUT, the quick "
                   "suite's to OUT/quick; records go to OUT/records/<section>/.")
@click.option("--only", multiple=True, metavar="SECTION",
              help="Run only this section (repeatable); the others are reported from the records they have.")
@click.option("--force", is_flag=True, help="Recompute runs even where their records exist.")
@click.option("--check", is_flag=True,
              help="Run nothing: regenerate the suite's pages from OUT's records into a temporary folder and "
                   "fail (exit 2) naming each Markdown or CSV page that differs from OUT's and each record "
                   "that is missing or stale (made by other code). PNG plots are not compared.")
@click.option("--gpt2-model", default=None, metavar="NAME_OR_PATH",
              help="Real GPT-2 weights for the identity study (hub name such as gpt2, with network, or a "
                   "folder); default: a small randomly initialised local GPT-2.")
@_executor_options
def reproduce(quick, seeds, out, only, force, check, gpt2_model, jobs, executor, address) -> None:
    """Reproduce the paper's claims: tables (Markdown + CSV), plots and OUT/README.md.

    Sections: structure (roles, transfer, deep embedding, UD: zero-label EMA, EMA + linear,
    BiGRU, baselines; zero-label ÷ BiGRU), subset (the structure-dependent subset on a larger
    test set, with its learning curve), selectivity (control tasks, MDL), identity (bits
    against lag per encoder), dilution (closed-form bound against the measured EMA curve),
    ladder (linear / MLP / attention probes) and lm (EMA, GRU and GPT-2-style LMs trained on
    WikiText-2, and what their states keep). Sections whose modules are missing are written as
    "not yet available".

    Measured on 2 CPU cores: --quick about 2 minutes, --full about an hour of CPU (both are
    written to OUT/README.md and budgets.json). Finished runs are reused, so an interrupted suite resumes where it stopped;
    --force recomputes. --jobs N (or --executor ray) runs the suite's jobs N at a time, longest
    first; a section's page is written as soon as its jobs have finished, the same as in a serial run. A record is reused only if the code that made it is unchanged (its
    code fingerprint matches); a stale record is recomputed. UD runs need UD English EWT
    (PROBEKIT_DATA).
    """
    from probekit.cache import FeatureCache
    from probekit.reproduce import BUDGETS, report_dir
    from probekit.reproduce import check as check_suite
    from probekit.reproduce import reproduce as run_suite

    seed_list = tuple(seeds)
    suite = "quick" if quick else "full"
    if check:
        if only or force:
            raise ProbekitError("--check runs nothing: drop --only and --force (or drop --check).")
        outcomes = check_suite(suite, seeds=seed_list, out=out, gpt2_model=gpt2_model)
        click.echo(f"reproduce --check ({suite}): every page of {report_dir(out, BUDGETS[suite])} matches its "
                   f"{sum(o.reused for o in outcomes)} records, all made by this code.")
        return
    check_writable(out, "--out folder", folder=True)

    def show(event) -> None:
        done = "reused" if event.reused else f"{event.seconds:.1f} s" + (" (stale record recomputed)"
                                                                          if event.stale else "")
        minutes, seconds = divmod(int(event.elapsed), 60)
        click.echo(f"[reproduce] {event.section} {event.index}/{event.total} {event.label}: {done} "
                   f"(elapsed {minutes}:{seconds:02d})", err=True)

    spread = _executor(executor, jobs, address)
    try:
        outcomes = run_suite(suite, seeds=seed_list, out=out, only=only, force=force,
                             progress=show, cache=FeatureCache(), gpt2_model=gpt2_model, executor=spread)
    finally:
        spread.close()
    for outcome in outcomes:
        click.echo(f"{outcome.section.name}: {outcome.status} ({outcome.computed} computed, {outcome.reused} reused)")
    pages = report_dir(out, BUDGETS[suite])
    click.echo(f"wrote {pages / 'README.md'} and {pages / 'summary.md'}", err=True)


@main.command()
@click.argument("study", type=click.Choice(["identity", "depth"]))
@click.option("--source", default="ud", show_default=True,
              help="Identity study: the token stream, ud (UD English EWT text) or random (random tokens).")
@click.option("--quick", is_flag=True, help="The quick study's sizes and lags.")
@click.option("--seeds", type=CommaList(int), default="0", show_default=True, help="Comma-separated seeds.")
def study(study, source, quick, seeds) -> None:
    """Print the `probekit run` argument lines of a study (one shell-quoted line per lag sweep),
    for scripts/identity_study.sh to run in parallel. The configs are probekit.studies'."""
    import shlex

    from probekit.studies import cli_commands, depth_study_configs, identity_study_configs

    configs = (identity_study_configs(source, quick, tuple(seeds)) if study == "identity"
               else depth_study_configs(quick, tuple(seeds)))
    for arguments in cli_commands(configs):
        click.echo(shlex.join(arguments))


from probekit.lm.cli import attach as _attach_lm  # noqa: E402  (the `probekit lm` group)

_attach_lm(main, _Group)


@main.group(cls=_Group)
def cache() -> None:
    """Inspect or empty the feature cache ($PROBEKIT_CACHE, default ~/.cache/probekit)."""


@cache.command("ls")
def cache_ls() -> None:
    """List cached feature sets with their size."""
    from probekit.cache import cache_info

    info = cache_info()
    click.echo(f"{info['features_dir']}: {info['n_entries']} entries, {info['total_size']}")
    for entry in info["entries"]:
        click.echo(f"  {entry['short_key']}  {entry['size']:>10}  {entry['created']}  {entry['summary']}")
    if info["temporaries"]:
        stale = sum(t["stale"] for t in info["temporaries"])
        click.echo(f"{len(info['temporaries'])} unfinished writes ({info['temporary_size']}; {stale} left by "
                   f"stopped runs, removed by the next cache write or `probekit cache clear`):")
        for temp in info["temporaries"]:
            click.echo(f"  {temp['name']}  {'stale' if temp['stale'] else 'in progress'}")


@cache.command("clear")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def cache_clear(yes) -> None:
    """Delete every cached feature set."""
    from probekit.cache import cache_info, clear_cache

    info = cache_info()
    if not yes and info["n_entries"] and not click.confirm(
            f"Delete {info['n_entries']} entries ({info['total_size']}) from {info['features_dir']}?"):
        raise click.Abort()
    result = clear_cache()
    click.echo(f"removed {result['removed']} entries, freed {result['freed']}")


@main.group(cls=_Group)
def data() -> None:
    """Make and inspect corpora: generate from a grammar, parse raw text, count roles, compare trees."""


@data.command()
@click.option("--grammar", "-g", required=True, help="Built-in grammar name (A, B, ...) or a .pcfg path.")
@click.option("-n", "n", type=click.IntRange(min=1), required=True, help="Number of sentences.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same corpus.")
@click.option("--min-rc-depth", type=click.IntRange(min=0), default=0, show_default=True,
              help="Minimum relative-clause nesting depth of every sentence.")
@click.option("--max-rc-depth", type=click.IntRange(min=0), default=None,
              help="Maximum relative-clause nesting depth (default: unlimited).")
@click.option("--max-length", type=click.IntRange(min=1), default=40, show_default=True,
              help="Longest sentence in words.")
@click.option("-o", "--output", required=True, help="CoNLL-U file to write ('-' for standard output).")
def generate(grammar, n, seed, min_rc_depth, max_rc_depth, max_length, output) -> None:
    """Generate N sentences with dependency trees from a grammar, as CoNLL-U."""
    from probekit.corpus import format_conllu, write_conllu
    from probekit.grammar import generate_corpus

    if output != "-":
        check_writable(output, "-o file")
    corpus = generate_corpus(grammar, n, seed=seed, min_rc_depth=min_rc_depth, max_rc_depth=max_rc_depth,
                             max_length=max_length)
    if output == "-":
        click.echo(format_conllu(corpus), nl=False)
    else:
        write_conllu(corpus, output)
        click.echo(f"wrote {len(corpus)} sentences ({corpus.n_tokens} words) to {output}", err=True)


@data.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--parser", "parser_name", required=True, help="spacy or stanza (see `probekit list parsers`).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CoNLL-U file to write.")
@click.option("--split", type=click.Choice(["paragraph", "line"]), default="paragraph", show_default=True,
              help="Parse each paragraph (blank-line separated) or each line as one document.")
@click.option("-X", "--parser-option", "parser_options", multiple=True, metavar="KEY=VALUE",
              help="Parser option, e.g. -X model=en_core_web_sm (spaCy package) or "
                   "-X depparse_model_path=PATH -X pretagged=true (stanza).")
@click.option("-O", "old_parser_options", multiple=True, hidden=True)
def parse(input_path, parser_name, output, split, parser_options, old_parser_options) -> None:
    """Tokenise, tag and parse raw text (INPUT) into CoNLL-U with UD relations.

    spaCy's English models emit ClearNLP labels; they are converted to UD relations and UD
    trees (docs/parsing.md). With stanza and -X pretagged=true, INPUT is CoNLL-U whose words
    and tags are kept and only the trees are predicted. (-O is the task option of `probekit run`; parser options are -X.)
    """
    from probekit.parsing import parse_file

    if old_parser_options:
        raise ProbekitError(f"-O is the task option of `probekit run`; a parser option is -X "
                            f"(--parser-option), e.g. -X {old_parser_options[0]}.")
    check_writable(output, "-o file")
    corpus = parse_file(parser_name, input_path, output, split=split, **parse_pairs(parser_options, "-X"))
    click.echo(f"wrote {len(corpus)} sentences ({corpus.n_tokens} words) to {output}", err=True)


@data.command()
@click.argument("gold_path", metavar="GOLD", type=click.Path(path_type=Path))
@click.argument("parsed_path", metavar="PARSED", type=click.Path(path_type=Path))
@click.option("--scheme", type=click.Choice(["syntactic", "thematic"]), default="syntactic", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["markdown", "csv"]), default="markdown", show_default=True)
def agree(gold_path, parsed_path, scheme, fmt) -> None:
    """Role accuracy, per-role F1 and UAS/LAS of PARSED trees against GOLD trees.

    Words are aligned by their characters, so a different tokenisation still aligns the
    words both files share; the report says how many gold words were aligned.
    """
    from probekit.agreement import agree as agreement, format_agreement
    from probekit.corpus import read_conllu

    click.echo(format_agreement(agreement(read_conllu(gold_path), read_conllu(parsed_path), scheme), fmt))


@data.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--scheme", type=click.Choice(["syntactic", "thematic"]), default="syntactic", show_default=True)
def stats(path, scheme) -> None:
    """Print sentence, word and per-role counts of a CoNLL-U file."""
    from probekit.corpus import read_conllu
    from probekit.roles import corpus_roles, role_counts

    corpus = read_conllu(path)
    click.echo(f"sentences\t{len(corpus)}\nwords\t{corpus.n_tokens}")
    click.echo(role_counts(corpus_roles(corpus, scheme)).to_csv(sep="\t", index=False), nl=False)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
