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

from probekit.dilution.theory import bound_table  # noqa: F401  (jobs import it from probekit.reproduce)
from probekit.reproduce.suite import Budget, Claim, FunctionJob, Job, Section, SectionReport, function_table
from probekit.reproduce.tables import aggregate, fmt_ci, plot_against_lag


# ----------------------------------------------------------------------------- identity (probekit.studies)

def identity_jobs(budget: Budget, seeds: tuple[int, ...]) -> list[Job]:
    from probekit.studies import identity_study_configs

    configs = [config for source in budget.identity_sources
               for config in identity_study_configs(source, quick=budget.identity_quick,
                                                    seeds=budget.seeds_for(budget.identity_seeds, seeds),
                                                    encoders=budget.identity_encoders)]
    if budget.gpt2_model:   # real weights on a machine with network: swap the model, keep the protocol
        configs = [replace(c, encoder_options={**c.encoder_options, "model": budget.gpt2_model})
                   if "model" in c.encoder_options else c for c in configs]
    return configs


def identity_report(records: list[dict], budget: Budget) -> SectionReport:
    from probekit.report import identity_curve_table, plot_identity_curves, results_frame

    report = SectionReport()
    by_source: dict[str, list[dict]] = {}
    for record in records:
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
    """The EMA ladder (with its loophole), then the same ladder on ``budget.ladder_encoders``; a
    GPT-2 without a ``model`` gets ``--gpt2-model`` or the local random one."""
    ladders = [budget.ladder] + [{**budget.ladder, **extra} for extra in budget.ladder_encoders]
    jobs = []
    for ladder in ladders:
        if ladder.get("encoder") in ("gpt2", "hf") and "model" not in ladder.get("encoder_options", {}):
            from probekit.studies import local_gpt2_ref

            model = budget.gpt2_model or local_gpt2_ref()
            ladder = {**ladder, "encoder_options": {**ladder.get("encoder_options", {}), "model": model}}
        jobs += [FunctionJob(EMPIRICAL, "probe_ladder", {**ladder, "seed": seed},
                             label=f"probe ladder {ladder.get('encoder', '')} | seed {seed}")
                 for seed in budget.seeds_for(budget.ladder_seeds, seeds)]
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
    rows = function_table(records, f"{EMPIRICAL}.probe_ladder")
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
              "No pretrained GPT-2 can be downloaded on these machines: the GPT-2 curves use a small, "
              "randomly initialised GPT-2 with the real tokenizer (docs/protocol.md says how to rerun with "
              "real weights). These curves measure what untrained or small representations keep, not "
              "perplexity: the `lm` section ([lm.md](lm.md)) trains EMA-only, GRU and GPT-2-style LMs "
              "(0.5M parameters, not 130M) and probes their states; this study does not yet read the "
              "trained GPT-2."),
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
