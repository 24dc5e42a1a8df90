"""Hidden states of Hugging Face causal language models (GPT-2 and kin), aligned to words.

``HFCausalLMEncoder`` (registered as ``hf``) loads any causal LM by hub name or local folder
(``AutoTokenizer`` fast + ``AutoModel``, the base model without its LM head, so no logits
are computed); ``GPT2Encoder`` (``gpt2``) is the same with ``model="gpt2"`` by default.
torch and transformers are imported only when a model is loaded. See docs/transformers.md.

Text and alignment
    A sentence's text is its words joined by single spaces; each word's character span is
    recorded. The fast tokenizer's ``offset_mapping`` maps every subword token to the word
    that holds the token's last character (GPT-2 reports the leading space inside the token,
    ``"Ġdog"`` = ``" dog"``; the space itself belongs to no word, so both conventions land on
    the right word). A token that covers only a separating space (GPT-2's lone ``"Ġ"`` before
    ``"____"``, SentencePiece's lone ``"▁"``) belongs to the word after it, whose leading
    space it is; special tokens belong to no word and are never pooled.

    First word: with ``add_prefix_space`` (default: detected; true for GPT-2's byte-level
    BPE) a space is prepended to the text, so the first word is tokenised like every other
    word (``"ĠThe"``, not ``"The"``), and with ``add_bos`` (default true) the tokenizer's BOS
    token (GPT-2: ``<|endoftext|>``) is prepended, so the first word has a left context and
    the model's position-0 artefacts (the attention sink) fall on BOS, not on a word. BOS is
    never pooled. Tokenizers that add their own dummy prefix (SentencePiece, ``"▁The"``) get
    no extra space: detection compares ``"hello"`` alone with ``"hello"`` after another word.

Pooling
    ``first`` / ``last`` / ``mean`` subword of each word (``last`` by default: for a causal
    model the last subword is the first position that has seen the whole word). Pooling is
    index arithmetic per batch: the selected rows times their weights (1, or 1/count for
    ``mean``) are summed per word with ``np.add.reduceat`` and scattered into the output.

Windows
    A sequence (a sentence, or with ``context="stream"`` the whole corpus as one text) longer
    than ``max_length`` tokens is cut into windows of ``max_length`` tokens that overlap by
    ``stride`` tokens (window ``k`` starts at ``k * (max_length - stride)``). Every token takes
    its hidden state from the window that gives it the most left context: the first window
    for its first ``max_length`` tokens, otherwise the window in which it is not among the
    first ``stride`` tokens. So every token (and every word, each of whose subwords follows
    this rule) has at least ``stride`` tokens of left context, unless it is in the first
    window, where it has the whole prefix. Windows after the first have no BOS.

Layers
    ``layer`` counts hidden states as transformers returns them: 0 = embedding output
    (GPT-2: token + position embedding), ``L`` = the last layer's output (GPT-2: after the
    final layer norm); negative values count from the end (-1 = last). ``all_layers=True``
    returns every layer as blocks ``"layer_0"`` .. ``"layer_L"`` of one Features, ``layers``
    a chosen few (e.g. ``(0, 6, 12)``); :func:`split_layers` splits them.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np

from probekit.cache import resolve_cache_ref
from probekit.corpus import Corpus
from probekit.encoders.base import Encoder
from probekit.encoders.embeddings import check_choice, check_int
from probekit.errors import ProbekitError
from probekit.features import Features
from probekit.registry import register_encoder

_POOLINGS = ("first", "last", "mean")
_DTYPES = ("float32", "float16", "bfloat16")
_CONTEXTS = ("sentence", "stream")
_STORAGES = ("float32", "float16")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".gguf")
_TOKENIZER_NAMES = ("vocab.json", "merges.txt", "vocab.txt", "special_tokens_map.json", "added_tokens.json",
                    "spiece.model", "sentencepiece.bpe.model")
#: weight files up to this size are fingerprinted by the sha256 of all their bytes.
FULL_HASH_MAX_BYTES = 2 << 30
_SAMPLE_EDGE_BYTES = 1 << 20
_SAMPLE_BLOCKS, _SAMPLE_BLOCK_BYTES = 16, 1 << 16
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
_fingerprint_memo: dict[tuple, dict] = {}


def layer_block_name(layer: int) -> str:
    """The block name of hidden-state layer ``layer`` (``"layer_0"`` = embedding output)."""
    return f"layer_{int(layer)}"


def split_layers(features: Features) -> dict[int, Features]:
    """One Features per declared layer (e.g. of an ``all_layers=True`` encoding)."""
    out = features.layers()
    if not out:
        raise ProbekitError(f"these features declare no layers (Features.layer_blocks is empty; blocks: "
                            f"{', '.join(features.blocks)}); they do not come from a multi-layer encoder.")
    return out


# -- fingerprints -------------------------------------------------------------------------------


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(8 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_fingerprint(path: str | os.PathLike) -> dict:
    """Content identity of a weight file, cheap enough to compute on every run.

    * A Hugging Face cache blob (``.../blobs/<sha256>``, what hub snapshots link to) is named
      by the sha256 of its content: that name is used, nothing is read.
    * A file up to :data:`FULL_HASH_MAX_BYTES` (2 GiB): sha256 of all its bytes.
    * A bigger file: sha256 of its size, modification time, first and last MiB and 16
      evenly spaced 64 KiB blocks (a copy or touch is a miss; an in-place edit of bytes
      outside the samples that keeps the mtime would go unnoticed).

    Memoised per process by (path, size, mtime, inode).
    """
    real = os.path.realpath(path)
    st = os.stat(real)
    name = os.path.basename(real)
    if os.path.basename(os.path.dirname(real)) == "blobs" and re.fullmatch(r"[0-9a-f]{64}", name):
        return {"size": st.st_size, "sha256": name, "method": "hub-blob-name"}
    memo_key = (real, st.st_size, st.st_mtime_ns, st.st_ino)
    if memo_key in _fingerprint_memo:
        return _fingerprint_memo[memo_key]
    if st.st_size <= FULL_HASH_MAX_BYTES:
        result = {"size": st.st_size, "sha256": _sha256_file(real), "method": "sha256"}
    else:
        digest = hashlib.sha256(f"{st.st_size}:{st.st_mtime_ns}".encode())
        with open(real, "rb") as handle:
            digest.update(handle.read(_SAMPLE_EDGE_BYTES))
            for i in range(1, _SAMPLE_BLOCKS + 1):
                handle.seek(st.st_size * i // (_SAMPLE_BLOCKS + 1))
                digest.update(handle.read(_SAMPLE_BLOCK_BYTES))
            handle.seek(max(0, st.st_size - _SAMPLE_EDGE_BYTES))
            digest.update(handle.read())
        result = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sampled_sha256": digest.hexdigest(),
                  "method": "sampled"}
    _fingerprint_memo[memo_key] = result
    return result


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _config_int(config: dict, names: tuple[str, ...]) -> int | None:
    for source in (config, config.get("text_config") or {}):
        for name in names:
            value = source.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None


_N_LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers")
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "seq_length")


# -- alignment ------------------------------------------------------------------------------------


def needs_prefix_space(tokenizer: Any) -> bool:
    """True when a sentence-initial word is tokenised unlike a mid-sentence one unless a space is prepended.

    GPT-2's byte-level BPE: ``"hello"`` -> ``hello`` but ``"a hello"`` -> ``a Ġhello``, and
    ``" hello"`` -> ``Ġhello``: True. SentencePiece tokenizers that add their own ``"▁"``: False.
    """
    def ids(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    alone, lead, after = ids("hello"), ids("a"), ids("a hello")
    if after[:len(lead)] != lead:
        return False
    mid = after[len(lead):]
    return alone != mid and ids(" hello") == mid


def align_corpus(tokenizer: Any, sentences: list[tuple[str, ...]] | list[list[str]],
                 prefix_space: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokenise word lists in one batch; flat ``(ids, token_word, tokens_per_sentence)``.

    ``token_word`` is each token's word index within its sentence (-1 = none). The text of a
    sentence is ``" " * prefix_space + " ".join(words)``; a token belongs to the word holding
    its last character (a token of only the separating space: the next word). The mapping is
    array arithmetic over the whole corpus (one character table for all texts), not a loop
    over sentences: it is the host-side cost that a GPU waits on. Raises ProbekitError for a
    word that gets no token.
    """
    prefix = 1 if prefix_space else 0
    texts = [(" " if prefix_space else "") + " ".join(words) for words in sentences]
    empty = np.zeros(0, dtype=np.int64)
    if not texts:
        return empty, empty, empty
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True,
                        return_attention_mask=False, verbose=False)
    if "offset_mapping" not in encoded:
        raise ProbekitError(f"tokenizer {type(tokenizer).__name__} returns no offset mapping; probekit needs a "
                            f"fast (Rust `tokenizers`) tokenizer to align subwords to words. Give a model folder "
                            f"with a tokenizer.json (save it with a fast tokenizer's save_pretrained).")
    tokens_per_sentence = np.fromiter((len(x) for x in encoded["input_ids"]), dtype=np.int64, count=len(texts))
    n_tokens = int(tokens_per_sentence.sum())
    ids = np.fromiter((i for x in encoded["input_ids"] for i in x), dtype=np.int64, count=n_tokens)
    offsets = np.fromiter((c for x in encoded["offset_mapping"] for pair in x for c in pair),
                          dtype=np.int64, count=2 * n_tokens).reshape(-1, 2)

    # one character table for all texts; each text gets one extra slot (-1) after its end
    words_per_sentence = np.fromiter((len(w) for w in sentences), dtype=np.int64, count=len(sentences))
    word_lengths = np.fromiter((len(w) for words in sentences for w in words), dtype=np.int64,
                               count=int(words_per_sentence.sum()))
    text_start = np.concatenate([[0], np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)) + 1)])
    sentence_of_word = np.repeat(np.arange(len(sentences)), words_per_sentence)
    first_word = np.concatenate([[0], np.cumsum(words_per_sentence)])
    word_in_sentence = np.arange(len(word_lengths)) - first_word[sentence_of_word]
    stride = np.cumsum(word_lengths + 1) - (word_lengths + 1)  # each word's start counting separators
    word_start = text_start[sentence_of_word] + prefix + stride - stride[first_word[sentence_of_word]]
    char_word = np.full(int(text_start[-1]), -1, dtype=np.int64)
    chars_before = np.cumsum(word_lengths) - word_lengths
    n_chars = int(word_lengths.sum())
    char_word[np.arange(n_chars) + np.repeat(word_start - chars_before, word_lengths)] = \
        np.repeat(word_in_sentence, word_lengths)

    sentence_of_token = np.repeat(np.arange(len(texts)), tokens_per_sentence)
    start = offsets[:, 0] + text_start[sentence_of_token]
    stop = offsets[:, 1] + text_start[sentence_of_token]
    token_word = np.where(stop > start, char_word[np.maximum(stop - 1, 0)], -1)
    # a token of nothing but the separating space belongs to the word after it (its leading space)
    space_only = (stop > start) & (token_word < 0)
    token_word[space_only] = char_word[stop[space_only]]
    assigned = token_word >= 0
    counts = np.bincount(first_word[sentence_of_token[assigned]] + token_word[assigned],
                         minlength=len(word_lengths))
    if len(counts) and counts.min() == 0:
        missing = int(np.argmin(counts))
        i, j = int(sentence_of_word[missing]), int(word_in_sentence[missing])
        raise ProbekitError(f"word {j + 1} ({sentences[i][j]!r}) of sentence {i + 1} ({texts[i][:60]!r}...) "
                            f"gets no subword token from tokenizer {type(tokenizer).__name__}; "
                            f"remove empty or whitespace-only words from the corpus.")
    return ids, token_word, tokens_per_sentence


def align_words(tokenizer: Any, sentences: list[tuple[str, ...]] | list[list[str]],
                prefix_space: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`align_corpus` split per sentence: a list of ``(ids, token_word)``."""
    ids, token_word, tokens_per_sentence = align_corpus(tokenizer, sentences, prefix_space)
    cuts = np.cumsum(tokens_per_sentence)[:-1]
    return list(zip(np.split(ids, cuts), np.split(token_word, cuts))) if len(sentences) else []


def window_plan(length: int, max_length: int, stride: int) -> list[tuple[int, int, int, int]]:
    """Windows of a ``length``-token sequence: ``(start, stop, own_start, own_stop)`` each.

    ``[start, stop)`` is the window, ``[own_start, own_stop)`` the tokens (sequence
    positions) that take their hidden state from it: the first window owns its
    ``max_length`` tokens, window ``k >= 1`` (start ``k * (max_length - stride)``) owns the
    tokens after its first ``stride``. The owned ranges partition ``[0, length)``.
    """
    if length <= max_length:
        return [(0, length, 0, length)]
    step = max_length - stride
    n_windows = 1 + math.ceil((length - max_length) / step)
    plan = [(0, max_length, 0, max_length)]
    for k in range(1, n_windows):
        start = k * step
        stop = min(start + max_length, length)
        plan.append((start, stop, start + stride, stop))
    return plan


def window_owner_start(position: int, max_length: int, stride: int) -> int:
    """The start of the window a token at ``position`` takes its hidden state from."""
    if position < max_length:
        return 0
    step = max_length - stride
    return math.ceil((position - max_length + 1) / step) * step


# -- the encoder ------------------------------------------------------------------------------------


def default_batch_size(device: Any) -> int:
    """Windows per forward pass when ``batch_size`` is not given: 16 on the CPU, 256 on a GPU.

    Measured (benchmarks/README.md, GPU section; GPT-2 small on an H200): at batch 16 float16 ran
    at 0.74x float32 words/s (kernel launches dominate), at 256 1.5x and at 1024 3.5x; on two CPU
    cores larger batches only pad more. The features do not depend on it beyond float noise.
    """
    return 256 if str(device).startswith("cuda") else 16



@register_encoder("hf")
class HFCausalLMEncoder(Encoder):
    """Hidden states of a Hugging Face causal LM (hub name or local folder), pooled per word.

    Options: ``model`` (hub id or folder written by ``save_pretrained``); ``tokenizer``
    (folder or hub id, default: the model's); ``layer`` (0 = embedding output .. L = last,
    negative from the end, None = last); ``all_layers`` (every layer as blocks
    ``layer_0..layer_L``) or ``layers`` (some of them, e.g. ``0,6,12``); ``pooling``
    (first/last/mean subword); ``batch_size`` (windows per forward pass; None: 16 on the CPU,
    256 on a GPU, where small batches leave it waiting: :func:`default_batch_size`); ``max_length``
    (window, default the model's context) and ``stride``
    (window overlap, default max_length // 2); ``context`` (``sentence``: each sentence
    alone, ``stream``: the corpus as one text); ``add_prefix_space`` (None = detect);
    ``add_bos``; ``dtype``; ``device`` (``auto`` = cuda when available); ``storage``
    (``float16``: features rounded to half precision, returned as float32, stored in half in
    the feature cache: half the bytes per word, for ``all_layers`` on big models).
    """

    name = "hf"
    default_model: str | None = None

    def __init__(
        self,
        model: str | None = None,
        layer: int | None = None,
        all_layers: bool = False,
        layers: tuple[int, ...] = (),
        pooling: Literal["first", "last", "mean"] = "last",
        batch_size: int | None = None,
        max_length: int | None = None,
        stride: int | None = None,
        context: Literal["sentence", "stream"] = "sentence",
        add_prefix_space: bool | None = None,
        add_bos: bool = True,
        dtype: Literal["float32", "float16", "bfloat16"] = "float32",
        device: str = "auto",
        tokenizer: str | None = None,
        storage: Literal["float32", "float16"] = "float32",
    ):
        name = self.name
        model = model if model is not None else self.default_model
        if not model or not isinstance(model, str):
            raise ProbekitError(f"encoder {name!r} needs option 'model': a Hugging Face hub id (e.g. gpt2) or a "
                                f"folder written by save_pretrained, e.g. -E model=/path/to/gpt2.")
        self.model = model
        self.tokenizer = tokenizer
        if layer is not None and (isinstance(layer, bool) or not isinstance(layer, (int, np.integer))):
            raise ProbekitError(f"option 'layer' of encoder {name!r} must be an integer (0 = embedding output, "
                                f"-1 = last layer), got {layer!r}.")
        self.layer = None if layer is None else int(layer)
        self.all_layers = bool(all_layers)
        if isinstance(layers, (int, np.integer)):
            layers = (layers,)
        if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in layers):
            raise ProbekitError(f"option 'layers' of encoder {name!r} must be a list of integers such as 0,6,12, "
                                f"got {layers!r}.")
        self.layers = tuple(int(v) for v in layers)
        chosen = [option for option, given in (("layer", self.layer is not None), ("layers", bool(self.layers)),
                                               ("all_layers", self.all_layers)) if given]
        if len(chosen) > 1:
            raise ProbekitError(f"encoder {name!r}: give only one of options 'layer', 'layers' and 'all_layers' "
                                f"(got {' and '.join(chosen)}).")
        self.pooling = check_choice(name, "pooling", pooling, _POOLINGS)
        self.batch_size = None if batch_size is None else check_int(name, "batch_size", batch_size)
        self.max_length = None if max_length is None else check_int(name, "max_length", max_length, minimum=2)
        if stride is not None:
            stride = check_int(name, "stride", stride, minimum=0)
            if self.max_length is not None and stride >= self.max_length:
                raise ProbekitError(f"option 'stride' of encoder {name!r} (the overlap of consecutive windows) "
                                    f"must be smaller than max_length={self.max_length}, got {stride}.")
        self.stride = stride
        self.context = check_choice(name, "context", context, _CONTEXTS)
        self.add_prefix_space = None if add_prefix_space is None else bool(add_prefix_space)
        self.add_bos = bool(add_bos)
        self.dtype = check_choice(name, "dtype", dtype, _DTYPES)
        self.device = str(device)
        self.storage = check_choice(name, "storage", storage, _STORAGES)
        self.model_ = None
        self.tokenizer_ = None

    # -- sources ------------------------------------------------------------------------------
    def _source(self, which: str) -> tuple[str, bool]:
        """(what to pass to from_pretrained, is it a local folder) for ``model`` / ``tokenizer``."""
        value = resolve_cache_ref(self.model if which == "model" else (self.tokenizer or self.model))
        option = which if which == "model" or self.tokenizer else "model"
        path = Path(value).expanduser()
        if path.is_dir():
            return str(path.resolve()), True
        if path.exists():
            raise ProbekitError(f"option {option!r} of encoder {self.name!r} is a file ({value!r}); give the folder "
                                f"written by save_pretrained (config.json, weights, tokenizer files) or a hub id.")
        looks_like_path = value.startswith(("/", ".", "~")) or "\\" in value or value.count("/") > 1
        if looks_like_path or not _HUB_ID.match(value) or "--" in value or ".." in value:
            raise ProbekitError(f"option {option!r} of encoder {self.name!r}: the folder {value!r} does not exist "
                                f"(and it is not a Hugging Face hub id). Check the path: it must be a folder "
                                f"written by save_pretrained, with config.json and the weight files.")
        return value, False

    def check_resources(self) -> None:
        """A local model (or tokenizer) folder exists; a hub id is only checked when it is loaded."""
        self._source("model")
        self._source("tokenizer")

    def _from_pretrained(self, loader: Any, what: str, which: str, **kwargs: Any) -> Any:
        source, local = self._source(which)
        if local:
            try:
                return loader.from_pretrained(source, **kwargs)
            except (OSError, ValueError, KeyError) as exc:
                raise ProbekitError(f"could not load the {what} from {source!r}: {exc}") from None
        try:  # a model already in the Hugging Face cache needs no network
            return loader.from_pretrained(source, local_files_only=True, **kwargs)
        except (OSError, ValueError):
            pass
        hint = (f"Without network access pass a local folder instead (-E model=/path/to/folder, a folder written by "
                f"save_pretrained with config.json, the weights and the tokenizer files; no folder {source!r} "
                f"exists here), or put the model into the Hugging Face cache on a machine with network.")
        if _offline():
            raise ProbekitError(f"the {what} {source!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE "
                                f"(or TRANSFORMERS_OFFLINE) forbids downloading it. {hint}")
        try:
            return loader.from_pretrained(source, **kwargs)
        except (OSError, ValueError) as exc:
            raise ProbekitError(f"could not load the {what} {source!r} from the Hugging Face hub: "
                                f"{str(exc).splitlines()[0]} {hint}") from None

    def _resolve_device(self) -> str:
        import torch

        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        try:
            device = torch.device(self.device)
        except (RuntimeError, ValueError):
            raise ProbekitError(f"option 'device' of encoder {self.name!r} must be auto, cpu, cuda or cuda:N, "
                                f"got {self.device!r}.") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ProbekitError(f"option 'device' of encoder {self.name!r} is {self.device!r} but CUDA is not "
                                f"available here; use device=auto or device=cpu.")
        return str(device)

    # -- loading ------------------------------------------------------------------------------
    def load(self) -> "HFCausalLMEncoder":
        """Load tokenizer and model (done by the first ``encode``); checks everything a user can get wrong."""
        if self.model_ is not None:
            return self
        import torch
        import transformers
        from transformers import AutoConfig, AutoModel, AutoTokenizer
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

        config = self._from_pretrained(AutoConfig, "model config", "model")
        model_type = getattr(config, "model_type", None)
        if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or getattr(config, "is_encoder_decoder", False):
            raise ProbekitError(f"{self.model!r} is a {model_type!r} model, not a causal language model; encoder "
                                f"{self.name!r} reads decoder-only LMs (gpt2, llama, ...). Use a causal LM.")
        # options that the config can already refute fail before the weights are read
        config_dict = config.to_dict()
        n_layers = _config_int(config_dict, _N_LAYER_KEYS)
        if n_layers is not None:
            self._resolve_layers(n_layers)
        context = _config_int(config_dict, _CONTEXT_KEYS)
        self._resolve_window(context)
        # GPT-2's "gelu_new" is the tanh GELU as five elementwise passes over the (tokens x 4d) MLP
        # activations: a quarter of a CPU forward pass at 124M parameters (cProfile, see
        # benchmarks/README.md). "gelu_pytorch_tanh" is the same function in one fused kernel (float noise).
        self.fused_gelu_ = getattr(config, "activation_function", None) == "gelu_new"
        if self.fused_gelu_:
            config.activation_function = "gelu_pytorch_tanh"
        torch_dtype = getattr(torch, self.dtype)
        dtype_kw = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
        model = self._from_pretrained(AutoModel, "model", "model", config=config, **{dtype_kw: torch_dtype})
        device = self._resolve_device()
        model.eval().to(device)
        self.device_ = device
        n_hidden = self._check_causal(model, config, device)
        tokenizer = self._from_pretrained(AutoTokenizer, "tokenizer", "tokenizer", use_fast=True)
        if not getattr(tokenizer, "is_fast", False):
            raise ProbekitError(f"the tokenizer of {self.tokenizer or self.model!r} is a slow (pure Python) "
                                f"{type(tokenizer).__name__}, which has no offset mapping; probekit aligns subwords "
                                f"to words with a fast tokenizer. Use a fast tokenizer: save one with "
                                f"`AutoTokenizer.from_pretrained(..., use_fast=True).save_pretrained(folder)` (it "
                                f"writes tokenizer.json) or pass -E tokenizer=<folder with tokenizer.json>.")
        self.n_layers_ = n_hidden - 1
        self.layers_ = self._resolve_layers(self.n_layers_)
        self.max_length_, self.stride_ = self._resolve_window(context)
        self.prefix_space_ = needs_prefix_space(tokenizer) if self.add_prefix_space is None else self.add_prefix_space
        self.bos_id_ = tokenizer.bos_token_id if self.add_bos else None
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id_ = int(pad) if pad is not None else 0
        self.hidden_size_ = int(self._hidden_size)
        self.model_type_ = model_type
        self.tokenizer_ = tokenizer
        self.model_ = model
        return self

    def _check_causal(self, model: Any, config: Any, device: str) -> int:
        """Change the last of 4 tokens: a causal model's earlier hidden states must not move."""
        import torch

        vocab = int(getattr(config, "vocab_size", None) or 8)
        ids = torch.tensor([[1, 2, 3, 4], [1, 2, 3, 5]], dtype=torch.long, device=device) % max(vocab, 6)
        with torch.inference_mode():
            out = model(input_ids=ids, output_hidden_states=True)
        hidden = out.hidden_states
        if hidden is None:
            raise ProbekitError(f"model {self.model!r} returns no hidden states; encoder {self.name!r} cannot use it.")
        self._hidden_size = hidden[-1].shape[-1]
        for h in hidden:
            h = h.float()
            scale = float(h[:, :3].abs().max()) + 1e-6
            if float((h[0, :3] - h[1, :3]).abs().max()) > 1e-3 * scale:
                raise ProbekitError(f"{self.model!r} ({config.model_type}) is not a causal language model: the hidden "
                                    f"states of earlier tokens change when a later token changes (a bidirectional "
                                    f"encoder such as BERT). Encoder {self.name!r} reads decoder-only LMs; use one.")
        return len(hidden)

    def _resolve_layers(self, n_layers: int) -> list[int]:
        if self.all_layers:
            return list(range(n_layers + 1))
        given = self.layers or (n_layers if self.layer is None else self.layer,)
        option = "layers" if self.layers else "layer"
        for layer in given:
            if not -(n_layers + 1) <= layer <= n_layers:
                raise ProbekitError(f"option {option!r} of encoder {self.name!r} is {layer}, but {self.model!r} has "
                                    f"{n_layers} layers: give 0..{n_layers} (0 = embedding output, {n_layers} = last "
                                    f"layer) or -{n_layers + 1}..-1 (counted from the last).")
        return sorted({layer % (n_layers + 1) for layer in given})

    def _resolve_window(self, context: int | None) -> tuple[int, int]:
        max_length = self.max_length
        if max_length is None:
            max_length = context or 1024
        elif context is not None and max_length > context:
            raise ProbekitError(f"option 'max_length' of encoder {self.name!r} is {max_length}, but {self.model!r} "
                                f"has {context} positions; give max_length <= {context}.")
        stride = self.stride if self.stride is not None else max_length // 2
        if stride >= max_length:
            raise ProbekitError(f"option 'stride' of encoder {self.name!r} (window overlap) must be smaller than "
                                f"the window max_length={max_length}, got {stride}.")
        return max_length, stride

    # -- cache key ----------------------------------------------------------------------------
    def _files(self, which: str) -> Path | None:
        """The local folder holding the model's (or tokenizer's) files, without loading it when possible."""
        if which == "tokenizer" and not self.tokenizer:
            return self._files("model")
        source, local = self._source(which)
        if local:
            return Path(source)
        from huggingface_hub import try_to_load_from_cache

        name = "config.json" if which == "model" else "tokenizer_config.json"
        for attempt in range(2):
            found = try_to_load_from_cache(source, name)
            if isinstance(found, str):
                return Path(found).parent
            if attempt == 0:
                self.load()  # downloads into the Hugging Face cache
        return None

    def cache_key_parts(self, corpus: Corpus) -> dict | None:
        """Everything ``encode(corpus)`` depends on (see :mod:`probekit.cache`), or None."""
        model_dir = self._files("model")
        tokenizer_dir = self._files("tokenizer")
        if model_dir is None or tokenizer_dir is None:
            return None
        config_path = model_dir / "config.json"
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        n_layers = _config_int(config, _N_LAYER_KEYS)
        if n_layers is not None:
            layers: Any = self._resolve_layers(n_layers)
            max_length, stride = self._resolve_window(_config_int(config, _CONTEXT_KEYS))
        else:
            layers = {"layer": self.layer, "layers": list(self.layers), "all_layers": self.all_layers}
            max_length, stride = self.max_length, self.stride
        weights = {f.name: file_fingerprint(f) for f in sorted(model_dir.iterdir())
                   if f.is_file() and f.name.endswith(_WEIGHT_SUFFIXES)}
        tokenizer_files = {f.name: _sha256_file(str(f)) for f in sorted(tokenizer_dir.iterdir())
                           if f.is_file() and (f.name.startswith("tokenizer") or f.name in _TOKENIZER_NAMES
                                               or f.name.endswith(".tiktoken"))}
        # batch size and device index change nothing but float noise; layer and window options
        # enter resolved (layer -1 and L are the same features), below
        resolved = ("batch_size", "device", "layer", "layers", "all_layers", "max_length", "stride")
        params = {k: v for k, v in self.get_params().items() if k not in resolved}
        device = self.device_ if self.model_ is not None else self._resolve_device()
        return {
            "encoder": f"{type(self).__module__}.{type(self).__qualname__}",
            "params": params,
            "model": {
                "name": self.model,
                "config_sha256": _sha256_file(str(config_path)) if config_path.is_file() else None,
                "weights": weights,
            },
            "tokenizer": {"name": self.tokenizer or self.model, "files": tokenizer_files},
            "layers": layers,
            "pooling": self.pooling,
            "window": {"max_length": max_length, "stride": stride, "context": self.context},
            "text": {"add_prefix_space": self.add_prefix_space, "add_bos": self.add_bos, "join": "single spaces"},
            "dtype": self.dtype,
            "device_type": device.split(":")[0],
            "versions": {p: _package_version(p) for p in ("transformers", "tokenizers", "torch")},
            "corpus": {"fingerprint": corpus.fingerprint(), "sentences": len(corpus), "words": corpus.n_tokens},
        }

    # -- encoding -----------------------------------------------------------------------------
    def _sequences(self, corpus: Corpus) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray, np.ndarray]:
        """Token ids of every sequence, concatenated: (seq (start, length) list, ids, token_word, token_weight)."""
        ids, token_word, tokens_per_sentence = align_corpus(
            self.tokenizer_, [s.words for s in corpus.sentences], self.prefix_space_)
        n_sentences = len(tokens_per_sentence)
        sentence_of_token = np.repeat(np.arange(n_sentences), tokens_per_sentence)
        token_word = np.where(token_word >= 0, token_word + np.asarray(corpus.offsets)[sentence_of_token], -1)
        # a sequence per sentence, or one for the whole corpus; BOS (if any) opens each sequence
        opens = np.arange(n_sentences) if self.context == "sentence" else np.arange(min(n_sentences, 1))
        lengths = tokens_per_sentence if self.context == "sentence" else tokens_per_sentence.sum(keepdims=True)
        if self.bos_id_ is not None and len(opens):
            at = (np.cumsum(tokens_per_sentence) - tokens_per_sentence)[opens]
            ids = np.insert(ids, at, self.bos_id_)
            token_word = np.insert(token_word, at, -1)
            lengths = lengths + 1
        lengths = lengths[:len(opens)]
        starts = np.cumsum(lengths) - lengths
        weight = np.zeros(len(token_word), dtype=np.float32)
        valid = np.flatnonzero(token_word >= 0)
        words = token_word[valid]
        change = words[1:] != words[:-1]
        if len(valid) == 0:
            pass
        elif self.pooling == "first":
            weight[valid[np.r_[True, change]]] = 1.0
        elif self.pooling == "last":
            weight[valid[np.r_[change, True]]] = 1.0
        else:
            counts = np.bincount(words, minlength=corpus.n_tokens)
            weight[valid] = 1.0 / counts[words]
        return list(zip(starts.tolist(), lengths.tolist())), ids, token_word, weight

    def _windows(self, spans: list[tuple[int, int]]) -> np.ndarray:
        """Every window as a row ``(global start, length, own_start, own_stop)`` (the owned range
        in window-local positions), longest first (stable), so a batch holds windows of similar
        length and pads little."""
        rows = [(seq_start + start, stop - start, own_start - start, own_stop - start)
                for seq_start, seq_length in spans
                for start, stop, own_start, own_stop in window_plan(seq_length, self.max_length_, self.stride_)]
        windows = np.asarray(rows, dtype=np.int64).reshape(-1, 4)
        return windows[np.argsort(-windows[:, 1], kind="stable")]

    def encode(self, corpus: Corpus) -> Features:
        """Tokenise the corpus once, run the windows longest first in batches, pool on the device.

        Per batch the host builds the padded ids and the (row, position) of every pooled token
        with array arithmetic (no loop over windows or tokens); the device gathers those rows
        from the chosen layers (``first`` / ``last``: one row per word, copied as is;
        ``mean``: weighted rows summed per word with ``index_add_``) into one words x layers
        matrix that is copied to the host once, at the end.
        """
        import torch

        self.load()
        d = self.hidden_size_
        layers = self.layers_
        n_words = corpus.n_tokens
        spans, ids, token_word, weight = self._sequences(corpus)
        windows = self._windows(spans)
        n_windows = len(windows)
        windows = windows[windows[:, 1] > 0]  # an empty sentence without BOS has nothing to run
        device = self.device_
        half = self.storage == "float16"

        def to_device(array: np.ndarray) -> Any:
            return torch.from_numpy(array).to(device, non_blocking=True)

        with torch.inference_mode():
            # the result stays on the device until the end: no batch waits for a copy to the host,
            # so the host prepares the next batch while the device computes this one
            pooled = torch.zeros((n_words, d * len(layers)), dtype=torch.float32, device=device)
            batch = self.batch_size or default_batch_size(device)
            for b0 in range(0, len(windows), batch):
                g0, length, o0, o1 = windows[b0:b0 + batch].T
                cols = np.arange(int(length.max()))
                inside = cols < length[:, None]
                positions = g0[:, None] + np.minimum(cols, length[:, None] - 1)  # padding: a real id, masked
                owned = inside & (cols >= o0[:, None]) & (cols < o1[:, None]) & (weight[positions] > 0)
                rows, local = np.nonzero(owned)
                if len(rows) == 0:
                    continue
                chosen = positions[rows, local]
                input_ids = np.where(inside, ids[positions], self.pad_id_)
                result = self.model_(input_ids=to_device(input_ids), attention_mask=to_device(inside.astype(np.int64)),
                                     output_hidden_states=True)
                b_idx, p_idx = to_device(rows), to_device(local)
                values = torch.cat([result.hidden_states[layer][b_idx, p_idx].float() for layer in layers], dim=1)
                words = to_device(token_word[chosen])
                if self.pooling == "mean":  # several rows per word: weighted sum (a word may span two windows)
                    pooled.index_add_(0, words, values * to_device(weight[chosen])[:, None])
                else:  # one row per word
                    pooled[words] = values.half().float() if half else values
            out = pooled.cpu().numpy()
        if half and self.pooling == "mean":
            _round_to_half(out)
        if half and np.isinf(out).any():
            raise ProbekitError(f"option storage='float16' of encoder {self.name!r}: some hidden states of "
                                f"{self.model!r} exceed float16's range (65504) and would be stored as infinity; "
                                f"use storage=float32.")
        blocks = {layer_block_name(layer): (i * d, (i + 1) * d) for i, layer in enumerate(layers)}
        n_assigned = int(np.sum(token_word >= 0))
        meta = {
            "encoder": self.name,
            "model": self.model,
            "model_type": self.model_type_,
            "n_layers": self.n_layers_,
            "hidden_size": d,
            "layers": layers,
            "pooling": self.pooling,
            "max_length": self.max_length_,
            "stride": self.stride_,
            "context": self.context,
            "add_prefix_space": bool(self.prefix_space_),
            "bos_token_id": self.bos_id_,
            "dtype": self.dtype,
            "device": self.device_,
            "n_subword_tokens": n_assigned,
            "subwords_per_word": n_assigned / n_words if n_words else 0.0,
            "n_windows": n_windows,
            "activation": "gelu_pytorch_tanh (fused, for gelu_new)" if self.fused_gelu_ else None,
            "storage_dtype": self.storage,
            "n_sequences": len(spans),
        }
        return Features(X=out, offsets=corpus.offsets, blocks=blocks, meta=meta,
                        layer_blocks={layer: layer_block_name(layer) for layer in layers})


def _round_to_half(out: np.ndarray, rows: int = 1 << 14) -> None:
    """Round ``out`` (float32) to float16 precision in place, a block of rows at a time (small temporaries)."""
    for r0 in range(0, len(out), rows):
        out[r0:r0 + rows] = out[r0:r0 + rows].astype(np.float16)


def _gpt2_signature() -> inspect.Signature:
    signature = inspect.signature(HFCausalLMEncoder.__init__)
    params = [p.replace(default="gpt2") if p.name == "model" else p for p in signature.parameters.values()]
    return signature.replace(parameters=params)


@register_encoder("gpt2")
class GPT2Encoder(HFCausalLMEncoder):
    """GPT-2 hidden states per word: the hf encoder with model="gpt2" by default (offline: a local folder)."""

    name = "gpt2"
    default_model = "gpt2"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)


# Same options (names, types, defaults) as ``hf``, except ``model`` defaults to "gpt2", so the
# registry checks and coerces gpt2's options exactly like hf's.
GPT2Encoder.__init__.__signature__ = _gpt2_signature()  # type: ignore[attr-defined]
GPT2Encoder.__init__.__annotations__ = dict(HFCausalLMEncoder.__init__.__annotations__)
