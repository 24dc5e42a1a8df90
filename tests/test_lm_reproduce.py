"""The ``lm`` reproduce section: its jobs and its report (from made-up records, no training)."""

import json

import pandas as pd

from probekit.reproduce import BUDGETS, LM_SECTION, section_names
from probekit.reproduce.lm import MODELS, PROBED, UNTRAINED, lm_jobs, lm_report


def _record(function, rows):
    frame = pd.DataFrame(rows)
    return {"function": f"probekit.lm.jobs.{function}", "kwargs": {}, "columns": list(frame.columns),
            "rows": json.loads(frame.to_json(orient="records"))}


def _curve(model, perplexity, bits):
    fixed = {"model": model, "split": "wikitext2-articles-s0 80/10/10", "parameters": 1000, "width": 8,
             "vocab_size": 50, "train_tokens": 100, "train_s": 1.0, "perplexity": perplexity,
             "perplexity_lo": perplexity * 0.9, "perplexity_hi": perplexity * 1.1, "bits": bits,
             "bits_lo": bits - 0.1, "bits_hi": bits + 0.1, "unigram_perplexity": 500.0, "test_tokens": 10,
             "oov_rate": 0.0}
    return [{**fixed, "step": s, "tokens": 10 * s, "train_bits": 9.0 - s, "val_bits": 8.0 - s, "seconds": s}
            for s in (1, 2)]


def test_section_is_in_the_suite_and_its_jobs_name_no_paths():
    assert "lm" in section_names() and LM_SECTION.missing() is None
    for budget in BUDGETS.values():
        jobs = lm_jobs(budget, (0, 1, 2))
        assert len(jobs) == len(MODELS) + len(PROBED) + 1
        assert "cache" not in json.dumps([job.kwargs for job in jobs])
        assert len({job.key() for job in jobs}) == len(jobs)


def test_report_tables_ratio_and_predictor_differences(tmp_path):
    ppl = {"ema (linear)": 400.0, "ema (mlp)": 380.0, "ema (attention)": 390.0, "gru": 300.0, "gpt2": 200.0}
    records = [_record("lm_perplexity", _curve(m, p, p / 100)) for m, p in ppl.items()]
    probes = [{"model": m, "task": t, "lag": lag, "accuracy": 0.5, "accuracy_lo": 0.4, "accuracy_hi": 0.6,
               "bits": b, "bits_lo": b - 0.1, "bits_hi": b + 0.1, "majority": 0.1, "train_words": 1,
               "test_words": 1}
              for m, b in (("gpt2", 2.0), (UNTRAINED, 1.0)) for t, lag in (("identity", 0), ("identity", 1),
                                                                         ("roles", None))]
    records.append(_record("lm_probes", probes))
    report = lm_report(records, BUDGETS["quick"])
    assert report.figures["ratio"].startswith("EMA ÷ GPT-2 perplexity 2.00")
    assert "attention − linear -0.100" in report.figures["predictors"]
    assert list(report.tables["perplexity"].model) == list(MODELS)
    assert report.tables["probes"].set_index("model").loc["gpt2", "sum of bits, lags 0+1"] == 4.0
    report.plots["curves"](tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 0
