"""How far a parsed corpus agrees with a gold one: roles, heads and relations over aligned words.

The two corpora may tokenise the same text differently ("don't" vs "do n't") and cut it
into sentences differently. Words are aligned by character offsets: every word is a span of
the string made of the corpus's non-space characters, concatenated in order; a parsed word
is aligned to the gold word with exactly the same span. Words that the two tokenisations cut
differently stay unaligned and are left out of every figure; how many gold words were
aligned is reported. (Where the two character strings differ, e.g. a tokeniser that
normalised quotes, the strings are re-synchronised after each difference, and only words in
identical stretches align.)

Over the aligned words:

* **role accuracy** and per-role precision / recall / F1 of the grammatical roles
  (:mod:`probekit.roles`) that the two trees give each word;
* **UAS**: the word's head is the same word (heads mapped through the alignment; a head
  that is itself unaligned counts as wrong), or both are the root;
* **LAS**: UAS and the same relation, compared on the universal part (``nsubj`` for
  ``nsubj:pass``), as in the CoNLL 2018 shared task; **LAS (full)** compares subtypes too.
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from probekit.corpus import Corpus
from probekit.errors import ProbekitError
from probekit.roles import SCHEMES, check_scheme, corpus_roles


def _character_spans(corpus: Corpus) -> tuple[str, np.ndarray, np.ndarray]:
    """The non-space characters of the corpus, and each word's [start, end) in them."""
    pieces = ["".join(word.split()) for word in corpus.words()]
    lengths = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
    ends = np.cumsum(lengths)
    return "".join(pieces), ends - lengths, ends


def _character_map(gold: str, parsed: str, anchor: int = 8) -> np.ndarray:
    """For each character of ``parsed``, the index of the same character in ``gold`` (or -1)."""
    mapping = np.full(len(parsed), -1, dtype=np.int64)
    i = j = 0
    while i < len(gold) and j < len(parsed):
        if gold[i] == parsed[j]:
            mapping[j] = i
            i += 1
            j += 1
            continue
        for window in (64, 512, 4096):
            matcher = difflib.SequenceMatcher(None, gold[i: i + window], parsed[j: j + window], autojunk=False)
            block = next((b for b in matcher.get_matching_blocks() if b.size >= anchor), None)
            if block is not None:
                i, j = i + block.a, j + block.b
                break
        else:
            i, j = i + 4096, j + 4096
    return mapping


def align_words(gold: Corpus, parsed: Corpus) -> np.ndarray:
    """For each word of ``parsed`` (in corpus order), the index of its gold word, or -1."""
    gold_chars, gold_start, gold_end = _character_spans(gold)
    parsed_chars, parsed_start, parsed_end = _character_spans(parsed)
    alignment = np.full(parsed.n_tokens, -1, dtype=np.int64)
    if gold_chars == parsed_chars:
        starts, ends = parsed_start, parsed_end
    else:
        char_map = _character_map(gold_chars, parsed_chars)
        nonempty = parsed_end > parsed_start
        starts = np.full(len(parsed_start), -1, dtype=np.int64)
        ends = np.full(len(parsed_start), -1, dtype=np.int64)
        first = char_map[np.where(nonempty, parsed_start, 0)] if len(char_map) else starts
        last = char_map[np.where(nonempty, parsed_end - 1, 0)] if len(char_map) else starts
        contiguous = nonempty & (first >= 0) & (last >= 0) & (last - first == parsed_end - 1 - parsed_start)
        starts = np.where(contiguous, first, -1)
        ends = np.where(contiguous, last + 1, -1)
    index = {(int(s), int(e)): k for k, (s, e) in enumerate(zip(gold_start, gold_end)) if e > s}
    for k, (s, e) in enumerate(zip(starts, ends)):
        if e > s:
            alignment[k] = index.get((int(s), int(e)), -1)
    return alignment


def _global_heads(corpus: Corpus) -> np.ndarray:
    """Each word's head as a corpus-wide word index (-1 for the root)."""
    heads = np.fromiter((h for s in corpus.sentences for h in s.heads), dtype=np.int64, count=corpus.n_tokens)
    starts = np.repeat(corpus.offsets[:-1], np.diff(corpus.offsets))
    return np.where(heads == 0, -1, starts + heads - 1)


def _relations(corpus: Corpus) -> np.ndarray:
    return np.array([r for s in corpus.sentences for r in s.deprels], dtype=object)


def agree(gold: Corpus, parsed: Corpus, scheme: str = "syntactic") -> dict[str, Any]:
    """Role accuracy, per-role precision/recall/F1 and UAS/LAS of ``parsed`` against ``gold``.

    Returns a plain dict (JSON-ready); :func:`format_agreement` renders it.
    """
    from sklearn.metrics import precision_recall_fscore_support

    check_scheme(scheme)
    names = SCHEMES[scheme]
    alignment = align_words(gold, parsed)
    parsed_idx = np.flatnonzero(alignment >= 0)
    gold_idx = alignment[parsed_idx]
    if len(gold_idx) == 0:
        raise ProbekitError(f"no word of the parsed corpus {parsed.name!r} lines up with a word of the gold corpus "
                            f"{gold.name!r}: are they the same text?")

    gold_roles = corpus_roles(gold, scheme)
    parsed_roles = corpus_roles(parsed, scheme)
    y_true = gold_roles.labels[gold_idx]
    y_pred = parsed_roles.labels[parsed_idx]
    label_ids = list(range(len(names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=label_ids, zero_division=0)
    predicted = np.bincount(y_pred, minlength=len(names))
    present = support > 0

    # heads: map the parsed head through the alignment (-2: a head without a gold word)
    gold_heads = _global_heads(gold)[gold_idx]
    parsed_heads = _global_heads(parsed)[parsed_idx]
    mapped_heads = np.full_like(parsed_heads, -1)
    has_head = parsed_heads >= 0
    mapped_heads[has_head] = alignment[parsed_heads[has_head]]
    mapped_heads[has_head & (mapped_heads < 0)] = -2
    same_head = mapped_heads == gold_heads
    gold_rels = _relations(gold)[gold_idx]
    parsed_rels = _relations(parsed)[parsed_idx]
    base = np.vectorize(lambda r: r.split(":", 1)[0], otypes=[object])
    same_base = base(gold_rels) == base(parsed_rels) if len(gold_rels) else np.zeros(0, dtype=bool)
    same_full = gold_rels == parsed_rels

    struct = gold_roles.structure_dependent[gold_idx]
    correct = y_true == y_pred
    return {
        "scheme": scheme,
        "gold_sentences": len(gold),
        "parsed_sentences": len(parsed),
        "gold_words": gold.n_tokens,
        "parsed_words": parsed.n_tokens,
        "aligned_words": int(len(gold_idx)),
        "aligned_fraction": float(len(gold_idx) / max(gold.n_tokens, 1)),
        "role_accuracy": float(np.mean(correct)),
        "role_macro_f1": float(np.mean(f1[present])) if present.any() else float("nan"),
        "structure_dependent_words": int(struct.sum()),
        "structure_dependent_role_accuracy": float(np.mean(correct[struct])) if struct.any() else float("nan"),
        "uas": float(np.mean(same_head)),
        "las": float(np.mean(same_head & same_base)),
        "las_full": float(np.mean(same_head & same_full)),
        "roles": {
            name: {"precision": float(precision[k]), "recall": float(recall[k]), "f1": float(f1[k]),
                   "support": int(support[k]), "predicted": int(predicted[k])}
            for k, name in enumerate(names)
        },
    }


def format_agreement(result: dict[str, Any], fmt: str = "markdown") -> str:
    """The summary figures and the per-role table of :func:`agree` as text (markdown by default)."""
    import pandas as pd

    summary = pd.DataFrame(
        [
            ("aligned gold words", f"{result['aligned_words']} / {result['gold_words']} "
                                   f"({100 * result['aligned_fraction']:.1f}%)"),
            ("sentences (gold / parsed)", f"{result['gold_sentences']} / {result['parsed_sentences']}"),
            ("role accuracy", f"{result['role_accuracy']:.4f}"),
            ("role macro-F1", f"{result['role_macro_f1']:.4f}"),
            ("role accuracy, structure-dependent words",
             f"{result['structure_dependent_role_accuracy']:.4f} ({result['structure_dependent_words']} words)"),
            ("UAS", f"{result['uas']:.4f}"),
            ("LAS (universal relation)", f"{result['las']:.4f}"),
            ("LAS (with subtypes)", f"{result['las_full']:.4f}"),
        ],
        columns=["measure", f"value ({result['scheme']} roles, aligned words)"],
    )
    roles = pd.DataFrame.from_dict(result["roles"], orient="index")[["precision", "recall", "f1", "support", "predicted"]]
    roles = roles.astype({"precision": float, "recall": float, "f1": float, "support": int, "predicted": int})
    roles.index.name = "role"
    if fmt == "markdown":
        return (summary.to_markdown(index=False) + "\n\n"
                + roles.to_markdown(floatfmt=("", ".4f", ".4f", ".4f", ".0f", ".0f")) + "\n")
    if fmt == "csv":
        return summary.to_csv(index=False) + "\n" + roles.to_csv()
    raise ProbekitError(f"unknown format {fmt!r}: use markdown or csv.")
