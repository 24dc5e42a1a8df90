"""The ``lm`` reproduce section: its jobs and its report (from made-up records, no training)."""

import json

import pandas as pd

from probekit.reproduce import BUDGETS, LM_SECTION, section_names
from probekit.reproduce.lm import MODELS, PROBED, UNTRAINED, lm_jobs, lm_report
from probekit.reproduce.suite import inner_job


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
        jobs = [inner_job(job) for job in lm_jobs(budget, (0, 1, 2))]
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


def test_every_training_of_the_section_pins_threads_that_fit_two_jobs_on_two_cores():
    """The thread count is in each training spec (so in the records, whatever --jobs is) and two jobs
    at once on two cores (``--jobs 2``) do not oversubscribe them; the probes encode on the same."""
    from probekit.lm.store import trained_path
    from probekit.threads import threads_per_job

    for budget in BUDGETS.values():
        jobs = [inner_job(job) for job in lm_jobs(budget, (0,))]
        trained = [job for job in jobs if job.kwargs["train"] is not None]
        assert {job.kwargs["train"]["threads"] for job in trained} == {1} == {threads_per_job(2, cores=2)}
        assert all(set(job.kwargs) <= {"model", "train", "seed", "probes", "lr_search", "n_boot", "max_articles"}
                   for job in jobs)
        # the page names the seeds its records ran with from their kwargs
        assert {job.kwargs["seed"] for job in jobs if job.function == "lm_probes"} == {0}
        spec = trained[0].kwargs
        assert trained_path(spec["train"], spec.get("lr_search")) != trained_path(
            {**spec["train"], "threads": 2}, spec.get("lr_search"))


def test_probe_jobs_check_their_inputs_and_use_the_trainings_threads(tmp_path):
    import pytest

    from probekit.errors import ProbekitError
    from probekit.lm.jobs import check_resources, probe_configs

    job = next(j for j in map(inner_job, lm_jobs(BUDGETS["quick"], (0,))) if j.function == "lm_probes" and j.kwargs["train"])
    probes = {**job.kwargs["probes"], "ud_roles": {**job.kwargs["probes"]["ud_roles"], "data_dir": str(tmp_path / "no-ewt")}}
    with pytest.raises(ProbekitError, match="no-ewt"):
        check_resources("lm_probes", {**job.kwargs, "train": None, "probes": probes})
    from probekit.cache import default_cache_root

    configs = probe_configs(default_cache_root() / "lm" / "x", 0, threads=3, **job.kwargs["probes"])
    assert {c.encoder_options["num_threads"] for c in configs} == {3}


# ----------------------------------------------------------------------------- the learning rate on the page

def test_page_shows_each_models_rate_and_how_it_was_chosen():
    tuned = {"lr": 3e-3, "lr_grid": "[0.001, 0.003, 0.01]", "lr_val_bits": "[7.5, 7.1, 7.2]", "lr_pilot_steps": 50}
    records = [_record("lm_perplexity", [{**row, **tuned} for row in _curve("gpt2", 200.0, 2.0)]),
               _record("lm_perplexity", [{**row, "lr": 3e-3, "lr_grid": None, "lr_val_bits": None,
                                          "lr_pilot_steps": None} for row in _curve("gru", 300.0, 3.0)])]
    report = lm_report(records, BUDGETS["full"])
    rates = report.tables["perplexity"].set_index("model")["learning rate"]
    assert rates["gpt2"] == "0.003 (chosen on validation from 0.001, 0.003, 0.01)"
    assert rates["gru"] == "0.003 (fixed, not tuned)"
    search = report.tables["learning-rates"]
    assert list(search["validation bits per token"]) == [7.5, 7.1, 7.2]
    assert list(search.chosen) == ["", "yes", ""] and set(search.model) == {"gpt2"}
    assert not any("edge of the grid" in note for note in report.notes)


def test_page_flags_a_rate_chosen_at_an_edge_of_the_grid():
    def tuned(model, lr, base):
        search = {"lr": lr, "lr_grid": "[0.001, 0.003, 0.01, 0.03]", "lr_val_bits": "[7.5, 7.2, 7.1, 7.3]",
                  "lr_pilot_steps": 50}
        return _record("lm_perplexity", [{**row, **search} for row in _curve(model, base, base / 100)])

    records = [tuned("gpt2", 3e-2, 200.0), tuned("gru", 1e-3, 300.0), tuned("ema (linear)", 1e-2, 100.0)]
    report = lm_report(records, BUDGETS["full"])
    rates = report.tables["perplexity"].set_index("model")["learning rate"]
    assert rates["gpt2"].endswith("; the top of the grid)") and rates["gru"].endswith("; the bottom of the grid)")
    assert "edge" not in rates["ema (linear)"] and "grid)" not in rates["ema (linear)"]
    (note,) = [n for n in report.notes if "edge of the grid" in n]
    assert "gpt2 chose the top of the grid" in note and "gru chose the bottom of the grid" in note
    assert "ema (linear)" not in note


def test_full_suite_models_search_the_rate_and_quick_ones_do_not():
    full = [inner_job(job) for job in lm_jobs(BUDGETS["full"], (0,)) if inner_job(job).function == "lm_perplexity"]
    assert all(job.kwargs["lr_search"]["grid"] == [1e-3, 3e-3, 1e-2, 3e-2, 1e-1] for job in full)
    assert all("lr_search" not in inner_job(job).kwargs for job in lm_jobs(BUDGETS["quick"], (0,)))


# ----------------------------------------------------------------------------- which GPT-2 the other sections read

def _require_wikitext():
    from conftest import missing_resource

    from probekit.lm.corpus import wikitext_dir

    if not (wikitext_dir() / "valid.txt").is_file():
        missing_resource(f"WikiText-2 at {wikitext_dir()}", "set PROBEKIT_WIKITEXT to the folder of valid.txt")


def vocabulary(train):
    from probekit.lm.corpus import load_split
    from probekit.lm.vocab import LMVocabulary

    return LMVocabulary.fit(load_split(train["corpus"], 0).train, train["vocab_size"]).words


def test_identity_and_ladder_read_the_lm_sections_trained_gpt2_and_keep_the_random_one_as_control():
    from conftest import require_gpt2_tokenizer

    require_gpt2_tokenizer()   # the random-weight control is built from it
    _require_wikitext()        # the trained model's vocabulary
    from probekit.cache import cache_ref
    from probekit.lm.store import hf_path
    from probekit.reproduce import identity_jobs, ladder_jobs
    from probekit.experiment import RunConfig
    from probekit.reproduce.content import LOCAL_GPT2, RANDOM_GPT2, TRAINED_GPT2, gpt2_label
    from probekit.reproduce.lm import model_spec
    from probekit.reproduce.suite import WithSetup

    for name in ("quick", "full"):
        budget, seeds = BUDGETS[name], (3, 4)
        spec = model_spec(budget, seeds)
        lm_gpt2 = next(j for j in map(inner_job, lm_jobs(budget, seeds))
                       if j.function == "lm_perplexity" and j.kwargs["model"] == "gpt2")
        assert spec == {"train": lm_gpt2.kwargs["train"], "lr_search": lm_gpt2.kwargs.get("lr_search")}
        ref = cache_ref(hf_path(**spec))
        assert ref.startswith("cache:lm/")
        jobs = identity_jobs(budget, seeds)
        trained = [j for j in jobs if isinstance(j, WithSetup) and j.setup != LOCAL_GPT2]
        random = [j.job for j in jobs if isinstance(j, WithSetup) and j.setup == LOCAL_GPT2]
        assert trained and len(trained) == len(random)
        assert all(j.encoder == "gpt2" for j in random)
        assert not any(isinstance(j, RunConfig) and j.encoder in ("gpt2", "hf") for j in jobs)   # all after a setup
        for job, control in zip(trained, random):
            assert (job.setup.module, job.setup.function, job.setup.kwargs) == ("probekit.lm.store", "trained_folder", spec)
            assert job.job.encoder == "hf" and job.job.encoder_options["model"] == ref
            assert gpt2_label(job.job.encoder, job.job.encoder_options) == TRAINED_GPT2
            options = job.job.task_options
            if options["source"] == "random":   # words the word-level model knows, not w0, w1, ... (<unk> to it)
                assert len(set(options["random_words"])) == options["random_types"]
                assert set(options["random_words"]) <= set(vocabulary(spec["train"]))
                assert {k: v for k, v in options.items() if k != "random_words"} == control.task_options
            else:
                assert options == control.task_options
        assert {gpt2_label(j.encoder, j.encoder_options) for j in random} == {RANDOM_GPT2}
    ladders = ladder_jobs(BUDGETS["full"], (0,))
    labels = [j.job.label if isinstance(j, WithSetup) else j.label for j in ladders]
    assert f"probe ladder {TRAINED_GPT2} | seed 0" in labels and f"probe ladder {RANDOM_GPT2} | seed 0" in labels
    setup = [j for j in ladders if isinstance(j, WithSetup) and j.setup != LOCAL_GPT2]
    assert [j.job.kwargs["encoder"] for j in setup] == ["hf"]
    assert [j.job.label for j in ladders if isinstance(j, WithSetup) and j.setup == LOCAL_GPT2] == \
        [f"probe ladder {RANDOM_GPT2} | seed 0"]
    assert len(setup[0].job.kwargs["task_options"]["random_words"]) == setup[0].job.kwargs["task_options"]["random_types"]
    assert setup[0].setup.kwargs == model_spec(BUDGETS["full"], (0,))


def test_vocabulary_words_are_kept_by_corpus_content_and_not_recomputed(tmp_path, monkeypatch):
    """Listing the identity jobs (every `probekit reproduce`, --check too) reads the words from a cache
    file keyed by the corpus files' contents; a changed corpus computes them again."""
    import pytest

    from lm_text import write_articles
    from probekit.lm import corpus as lm_corpus, store

    monkeypatch.setenv("PROBEKIT_CACHE", str(tmp_path / "cache"))
    text = write_articles(tmp_path / "text", n_articles=6, lines=4)
    train = {"arch": "ema", "corpus": str(text), "vocab_size": 12}
    store._vocabulary.cache_clear()
    words = store.vocabulary_words(train, 5)
    assert len(set(words)) == 5 and len(list((tmp_path / "cache" / "lm" / "vocabulary").glob("*.json"))) == 1
    store._vocabulary.cache_clear()   # a new process: the file is read, the corpus is not loaded

    def no_loading(*args, **kwargs):
        raise AssertionError("the corpus was loaded")

    monkeypatch.setattr(lm_corpus, "load_split", no_loading)
    assert store.vocabulary_words(train, 5) == words
    store._vocabulary.cache_clear()
    (text / "article000.txt").write_text("zebra zebra zebra zebra zebra zebra\n" * 50, encoding="utf-8")
    with pytest.raises(AssertionError, match="corpus was loaded"):
        store.vocabulary_words(train, 5)
    store._vocabulary.cache_clear()


def make_marker(path):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("made by the setup")


def read_marker(path):
    with open(path, encoding="utf-8") as handle:
        return pd.DataFrame([{"content": handle.read()}])


def test_a_job_with_setup_runs_the_setup_first_and_is_the_job_itself(tmp_path):
    import pytest

    from probekit.reproduce.suite import FunctionJob, WithSetup, execute, job_key, job_label

    marker = str(tmp_path / "marker")
    job = FunctionJob("test_lm_reproduce", "read_marker", {"path": marker}, label="read the marker")
    with pytest.raises(FileNotFoundError):
        execute(job)
    wrapped = WithSetup(job, FunctionJob("test_lm_reproduce", "make_marker", {"path": marker}))
    assert job_key(wrapped) == job_key(job) and job_label(wrapped) == "read the marker"
    (record,) = execute(wrapped)
    assert record["rows"] == [{"content": "made by the setup"}] and record["id"] == job.key()


def test_parallel_callers_train_a_cached_model_once(tmp_path, monkeypatch):
    import threading
    import time

    import torch

    from probekit.lm import store, train as lm_train

    monkeypatch.setenv("PROBEKIT_CACHE", str(tmp_path))
    calls = []

    def slow_train(config, folder, progress=False):
        calls.append(folder)
        time.sleep(0.5)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save({"finished": True}, folder / "checkpoint.pt")

    monkeypatch.setattr(lm_train, "train", slow_train)
    spec = {"arch": "ema", "corpus": "unused", "steps": 3}
    folders = []
    threads = [threading.Thread(target=lambda: folders.append(store.trained_folder(spec))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(set(folders)) == 1 and folders[0] == store.trained_path(spec)
