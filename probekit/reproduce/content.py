"""The content sections of ``probekit reproduce``: what EMA traces keep of token identity.

``identity``: bits about the token k steps back, per encoder (:mod:`probekit.studies`);
``dilution``: the closed-form bound against the measured EMA curve (:mod:`probekit.dilution`);
``ladder``: linear, MLP and attention probes over the same EMA traces.
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace

import pandas as pd

from probekit.experiment import RunConfig
from probekit.reproduce.suite import (
    Budget, Claim, FunctionJob, Job, Section, SectionReport, WithSetup, function_table,
)
from probekit.reproduce.tables import aggregate, fmt_ci, plot_against_lag

# ----------------------------------------------------------------------------- which GPT-2

#: The two GPT-2s of the identity study and the probe ladder, as their rows are labelled.
TRAINED_GPT2 = "gpt2-style LM (trained, lm section)"
RANDOM_GPT2 = "gpt2 (random weights, control)"
#: Where the trained model comes from: trained (or reused) by a job's setup call, never assumed there.
STORE = "probekit.lm.store"


def trained_gpt2(budget: Budget, seeds: tuple[int, ...]) -> tuple[str, dict]:
    """The ``lm`` section's GPT-2-style model for this budget: the cache reference of its Hugging Face
    folder (``cache:lm/...``, the same on every machine) and the ``trained_folder`` kwargs that make it
    (the section's own training config and learning-rate search, so it is trained once and shared)."""
    from probekit.cache import cache_ref
    from probekit.lm.store import hf_path
    from probekit.reproduce.lm import model_spec

    spec = model_spec(budget, seeds, "gpt2")
    return cache_ref(hf_path(**spec)), spec


def gpt2_label(encoder: str, options: dict) -> str | None:
    """The page label of a GPT-2 run (None for other encoders): which weights it read."""
    options = options or {}
    model = str(options.get("model", ""))
    if encoder in ("hf", "gpt2") and model.startswith("cache:lm/"):
        return TRAINED_GPT2
    if encoder != "gpt2":
        return None
    return RANDOM_GPT2 if model.startswith("cache:models/gpt2-random") else f"gpt2 ({model or 'gpt2'})"


def _labelled_run(record: dict) -> dict:
    """A run record whose GPT-2 encoder is named by :func:`gpt2_label` (a copy; others unchanged)."""
    config = record.get("config") or {}
    label = gpt2_label(config.get("encoder", ""), config.get("encoder_options") or {})
    return record if label is None else {**record, "config": {**config, "encoder": label, "encoder_options": {}}}


def _labelled_function(record: dict) -> dict:
    kwargs = record.get("kwargs") or {}
    label = gpt2_label(kwargs.get("encoder", ""), kwargs.get("encoder_options") or {})
    return record if label is None else {**record, "kwargs": {**kwargs, "encoder": label}}


# ----------------------------------------------------------------------------- identity (probekit.studies)

def identity_jobs(budget: Budget, seeds: tuple[int, ...]) -> list[Job]:
    """The identity study; its GPT-2 runs twice: on the ``lm`` section's trained GPT-2-style model
    (through the ``hf`` encoder, after a setup call that trains or reuses it) and, as a labelled
    control, on the local random-weight GPT-2 (or ``--gpt2-model``)."""
    from probekit.studies import identity_study_configs

    configs = [config for source in budget.identity_sources
               for config in identity_study_configs(source, quick=budget.identity_quick,
                                                    seeds=budget.seeds_for(budget.identity_seeds, seeds),
                                                    encoders=budget.identity_encoders, build=False)]
    if budget.gpt2_model:   # real weights on a machine with network: swap the model, keep the protocol
        configs = [replace(c, encoder_options={**c.encoder_options, "model": budget.gpt2_model})
                   if "model" in c.encoder_options else c for c in configs]
    jobs: list[Job] = [with_local_gpt2(c) for c in configs]
    gpt2 = [c for c in configs if c.encoder == "gpt2"]
    if gpt2:
        model, spec = trained_gpt2(budget, seeds)
        setup = FunctionJob(STORE, "trained_folder", spec, cost="training")
        jobs += [WithSetup(replace(c, encoder="hf", encoder_options={**c.encoder_options, "model": model},
                                   task_options=own_words(c.task_options, spec)), setup) for c in gpt2]
    return jobs


#: the setup call that builds the local random-weight GPT-2 (the identity study's and the ladder's
#: control) in whichever worker needs it first, under its lock (:func:`probekit.studies.local_gpt2`)
LOCAL_GPT2 = FunctionJob("probekit.studies", "local_gpt2", {}, cost="build")


def with_local_gpt2(config: RunConfig) -> Job:
    """``config``, after the setup that builds the local GPT-2 when it reads that model."""
    from probekit.studies import local_gpt2_ref

    reads = config.encoder_options.get("model") == local_gpt2_ref(build=False)
    return WithSetup(config, LOCAL_GPT2) if reads else config


def own_words(task_options: dict, spec: dict) -> dict:
    """A random stream's task options for the trained word-level GPT-2: its types drawn from the model's
    own vocabulary (:func:`probekit.lm.store.vocabulary_words`), since ``w0``, ``w1``, ... are all
    ``<unk>`` to it. Text sources (EWT) are unchanged."""
    if task_options.get("source", "random") != "random":
        return task_options
    from probekit.lm.store import vocabulary_words

    return {**task_options, "random_words": vocabulary_words(spec["train"], task_options["random_types"])}


#: What the pages say about the trained GPT-2's random streams.
OWN_WORDS_NOTE = ("On random streams the trained GPT-2-style model (a word-level LM) reads streams of the most "
                  "frequent alphabetic words of its own WikiText vocabulary, drawn uniformly as the other "
                  "encoders' w0, w1, ... are: those would all be <unk> to it. The random-weight control reads "
                  "w0, w1, ... through the real GPT-2 tokenizer, as before.")


def identity_report(records: list[dict], budget: Budget) -> SectionReport:
    from probekit.report import identity_curve_table, plot_identity_curves, results_frame

    report = SectionReport()
    by_source: dict[str, list[dict]] = {}
    for record in map(_labelled_run, records):
        if "config" in record:
            by_source.setdefault(record["config"]["task_options"].get("source", "random"), []).append(record)
    for source, group in sorted(by_source.items()):
        frame = results_frame(group)
        curves = identity_curve_table(frame)
        report.tables[f"{source}-bits"] = curves
        accuracy = frame.dropna(subset=["lag"]).pivot_table(index=["encoder", "probe"], columns="lag",
                                                             values="accuracy", aggfunc="mean")
        accuracy.columns = [f"accuracy lag {int(lag)}" for lag in accuracy.columns]
        report.tables[f"{source}-accuracy"] = accuracy.reset_index()
        report.plots[f"{source}-bits"] = functools.partial(plot_identity_curves, frame, metric="v_information")
        report.plots[f"{source}-accuracy"] = functools.partial(plot_identity_curves, frame, metric="accuracy")
        for _, row in curves.iterrows():
            report.figures[f"area_bits:{source}:{row.encoder}"] = fmt_ci(
                row.area_bits, row.area_bits_ci_low, row.area_bits_ci_high, digits=2) + f" (lags {row.area_lags})"
            report.figures[f"half_lag:{source}:{row.encoder}"] = "never" if pd.isna(row.half_lag) \
                else f"{row.half_lag:.1f}"
    sources = {"random": "random streams", "ud": "EWT"}
    totals = [f"{k.split(':', 2)[2].split('[')[0]} on {sources.get(k.split(':')[1], k.split(':')[1])} {v}"
              for k, v in report.figures.items() if k.startswith("area_bits:")]
    report.figures["identity"] = "; ".join(totals) or "n/a"
    if any(TRAINED_GPT2 in key for key in report.figures):
        report.notes.append(OWN_WORDS_NOTE)
    return report


# ----------------------------------------------------------------------------- dilution and probe ladder

THEORY = "probekit.dilution.theory"
EMPIRICAL = "probekit.dilution.empirical"
#: Where ``bound_table`` is imported from when its job runs, and the ``function`` its records name. It is
#: the package (which re-exports it), not this module: the name is part of every bound record's job key,
#: so records written before ``probekit/reproduce.py`` became a package are still found and reused.
BOUND_MODULE = "probekit.reproduce"


def dilution_jobs(budget: Budget, seeds: tuple[int, ...]) -> list[Job]:
    measured = dict(budget.dilution)
    theory = {k: measured[k] for k in ("rates", "dim", "lags", "vocab_size", "include_current") if k in measured}
    jobs: list[Job] = [FunctionJob(BOUND_MODULE, "bound_table", theory, label="closed-form bound")]
    jobs += [FunctionJob(EMPIRICAL, "measured_identity_curves", {**measured, "seed": seed},
                         label=f"measured EMA identity curve | seed {seed}")
             for seed in budget.seeds_for(budget.dilution_seeds, seeds)]
    return jobs


def dilution_report(records: list[dict], budget: Budget) -> SectionReport:
    report = SectionReport()
    bound = function_table(records, f"{BOUND_MODULE}.bound_table")
    measured = function_table(records, f"{EMPIRICAL}.measured_identity_curves")
    if bound.empty or measured.empty:
        return report
    table = aggregate(measured, {"v_information_bits": "measured V-information (bits)", "accuracy": "accuracy"},
                      keys=("lag", "probe", "condition"))
    table = table.merge(bound[["lag", "bound_bits"]].rename(columns={"bound_bits": "closed-form bound (bits)"}),
                        on="lag", how="left")
    table["measured minus bound (bits)"] = table["measured V-information (bits)"] - table["closed-form bound (bits)"]
    ceiling = math.log2(budget.dilution.get("vocab_size", 64))
    # where the bound is capped at log2 V no probe can exceed it: such a point tests nothing
    table["bound informative (below log2 V)"] = table["closed-form bound (bits)"] < ceiling - 1e-6
    report.tables[""] = table
    informative = table[table["bound informative (below log2 V)"]]
    above = informative["measured V-information (bits) ci95_low"] > informative["closed-form bound (bits)"] + 1e-9
    margins = ", ".join(f"lag {int(r.lag)} {-r['measured minus bound (bits)']:.2f}" for _, r in informative.iterrows())
    report.figures["dilution"] = (f"measured bits stay within the bound at {int((~above).sum())} of "
                                  f"{len(informative)} informative (lag, probe) points (bound below log2 V = "
                                  f"{ceiling:g} bits; {len(table) - len(informative)} more points where the bound "
                                  f"is capped at log2 V test nothing); bits below the bound: {margins or 'none'}")
    report.plots[""] = functools.partial(plot_against_lag, table, "measured V-information (bits)",
                                         reference="closed-form bound (bits)", ylabel="bits per token")
    return report


def ladder_jobs(budget: Budget, seeds: tuple[int, ...]) -> list[Job]:
    """The EMA ladder (with its loophole), then the same ladder on ``budget.ladder_encoders``. A GPT-2
    entry with ``"weights": "trained"`` reads the ``lm`` section's trained GPT-2-style model (``hf``
    encoder, after a setup call that trains or reuses it); a GPT-2 without a ``model`` gets
    ``--gpt2-model`` or the local random-weight one (the control)."""
    ladders = [budget.ladder] + [{**budget.ladder, **extra} for extra in budget.ladder_encoders]
    jobs: list[Job] = []
    for ladder in ladders:
        ladder, setup = dict(ladder), None
        options = ladder.get("encoder_options", {})
        if ladder.pop("weights", None) == "trained":
            model, spec = trained_gpt2(budget, seeds)
            setup = FunctionJob(STORE, "trained_folder", spec, cost="training")
            ladder = {**ladder, "encoder": "hf", "encoder_options": {**options, "model": model},
                      "task_options": own_words(ladder.get("task_options", {}), spec)}
        elif ladder.get("encoder") in ("gpt2", "hf") and "model" not in options:
            from probekit.studies import local_gpt2_ref

            model = budget.gpt2_model or local_gpt2_ref(build=False)
            ladder = {**ladder, "encoder_options": {**options, "model": model}}
            setup = None if budget.gpt2_model else LOCAL_GPT2
        name = gpt2_label(ladder.get("encoder", ""), ladder.get("encoder_options", {})) or ladder.get("encoder", "")
        for seed in budget.seeds_for(budget.ladder_seeds, seeds):
            job = FunctionJob(EMPIRICAL, "probe_ladder", {**ladder, "seed": seed},
                              label=f"probe ladder {name} | seed {seed}")
            jobs.append(job if setup is None else WithSetup(job, setup))
    return jobs


def _ladder_gains(table: pd.DataFrame) -> str:
    """Per encoder: how many bits MLP and attention add to the linear probe, averaged over lags."""
    parts = []
    for encoder, rows in table.groupby("encoder", sort=True):
        pivot = rows.pivot_table(index="lag", columns="probe", values="V-information (bits)", aggfunc="mean")
        if "linear" not in pivot:
            continue
        gains = ", ".join(f"{probe} − linear {(pivot[probe] - pivot['linear']).mean():+.2f}"
                          for probe in pivot.columns if probe != "linear")
        parts.append(f"{encoder}: {gains} bits")
    return "; ".join(parts)


def ladder_report(records: list[dict], budget: Budget) -> SectionReport:
    report = SectionReport()
    rows = function_table(list(map(_labelled_function, records)), f"{EMPIRICAL}.probe_ladder")
    if rows.empty:
        return report
    keys = tuple(k for k in ("encoder", "lag", "probe", "condition") if k in rows)
    table = aggregate(rows, {"v_information_bits": "V-information (bits)", "accuracy": "accuracy"}, keys=keys)
    report.tables[""] = table
    main = budget.ladder.get("encoder")
    if "encoder" in table and main is not None:   # the headline figures are about the EMA ladder
        report.figures["ladder_others"] = _ladder_gains(table[table.encoder != main]) or "no other encoder"
        table = table[table.encoder == main]
    current = table[~table.condition.str.contains("loophole")] if "condition" in table else table
    pivot = current.pivot_table(index="lag", columns="probe", values="V-information (bits)", aggfunc="mean")
    if {"attention", "linear"} <= set(pivot.columns):
        gain = pivot["attention"] - pivot["linear"]
        report.figures["ladder"] = (f"attention − linear: {gain.mean():+.3f} bits per token on average over "
                                    f"lags {', '.join(str(int(k)) for k in pivot.index)} "
                                    f"(largest gain {gain.max():+.3f})")
    if "condition" in table and len(current) < len(table):
        loophole = table[table.condition.str.contains("loophole")].pivot_table(
            index="lag", columns="probe", values="V-information (bits)", aggfunc="mean")
        shared = loophole.index.intersection(pivot.index)
        if "linear" in loophole and "linear" in pivot and len(shared):
            gain = loophole.loc[shared, "linear"] - pivot.loc[shared, "linear"]
            lag = int(gain.idxmax())   # where reading past states helps most
            report.figures["loophole"] = (f"at lag {lag}, linear on h_t: {pivot.loc[lag, 'linear']:.2f} bits; on "
                                          f"{table[table.condition.str.contains('loophole')].condition.iloc[0]}: "
                                          f"{loophole.loc[lag, 'linear']:.2f} bits")
    report.plots[""] = functools.partial(plot_against_lag, report.tables[""], "V-information (bits)",
                                         ylabel="bits per token")
    report.notes.append(LADDER_TRAINING_GAP)
    if "encoder" in rows and (rows.encoder == TRAINED_GPT2).any():
        report.notes.append(OWN_WORDS_NOTE)
    return report


#: The rungs do not get the same model selection; giving MLP and attention the linear probe's 4-setting
#: grid would multiply their training (about 92% of the ladder's time on the quick ladder: linear 1.0 s,
#: MLP 5.7 s, attention 6.0 s) by 4, i.e. the full ladder from 3.7 to about 14 minutes.
LADDER_TRAINING_GAP = (
    "**Not like for like: model selection differs between rungs.** The linear probe chooses its "
    "regularisation C from a 4-value grid on held-out training rows; the MLP and attention probes train "
    "once with their default settings (early stopping on held-out training rows). A gap between rungs is "
    "therefore a training gap as much as a capacity gap: it is not evidence that one probe family reads "
    "more than another (docs/protocol.md).")


# ----------------------------------------------------------------------------- sections

IDENTITY_SECTION = Section(
    name="identity", title="Content: token identity k steps back, in bits",
    jobs=identity_jobs, report=identity_report, requires=("probekit.studies:identity_study_configs",),
    claims=(
        Claim("EMA traces destroy token identity", "an EMA-only LM has 8x GPT-2's perplexity (260 on C4)",
              "identity", "area under the V-information-by-lag curve (bit x lag, trapezoids between the measured "
              "lags, negative estimates kept; docs/metrics.md) per encoder",
              "No pretrained GPT-2 can be downloaded on these machines: the transformer rows read the "
              "GPT-2-style LM that the `lm` section ([lm.md](lm.md)) trains on WikiText-2 (0.5M parameters, "
              "minutes of training, a word vocabulary; labelled \"trained, lm section\"), and, as a control, "
              "a small randomly initialised GPT-2 with the real tokenizer (labelled \"random weights, "
              "control\"; docs/protocol.md says how to rerun it with real weights). These curves measure "
              "what representations keep, not perplexity."),
    ))

DILUTION_SECTION = Section(
    name="dilution", title="Dilution: the closed-form bound against the measured EMA curve",
    jobs=dilution_jobs, report=dilution_report,
    requires=(f"{THEORY}:dilution_table", f"{THEORY}:make_bank", f"{EMPIRICAL}:measured_identity_curves"),
    claims=(
        Claim("What a fixed-decay memory must lose", "(argued in the paper, not computed)", "dilution",
              "measured V-information (linear probe, random token stream) against the Gaussian-channel "
              "bound per lag (docs/dilution.md)",
              "The bound covers linear readouts of the current trace under i.i.d. embeddings; it names its "
              "noise model (docs/dilution.md)."),
    ))

LADDER_SECTION = Section(
    name="ladder", title="Probe capacity: linear, MLP and attention over the same EMA traces",
    jobs=ladder_jobs, report=ladder_report, requires=(f"{EMPIRICAL}:probe_ladder",),
    claims=(
        Claim("The attention predictor is no better than the linear one", "same loss with full softmax "
              "attention as with the linear predictor", "ladder",
              "identity bits per lag read by linear, MLP and attention probes over EMA traces; the "
              "differencing loophole (a probe that sees past states too): {loophole}; the same ladder, "
              "mean over lags: {ladder_others}",
              "The paper swapped the predictor of a trained LM; probekit swaps the probe over fixed "
              "traces, which tests the same data-processing argument at probe scale. The rungs do not get "
              "the same model selection (C grid for linear, default settings for MLP and attention), so "
              "a gap between them is partly a training gap."),
    ))
