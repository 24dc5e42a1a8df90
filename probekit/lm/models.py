"""The language-model architectures, their predictors, and widths matched to a parameter count.

Every architecture maps token ids ``(batch, time)`` to next-token logits over the shared
vocabulary; ``states(ids, state)`` gives the per-token features an encoder reads and the state
to carry into the next chunk of a long stream (None for the transformer, which reads windows).

* ``ema``: token embedding -> multi-timescale EMA traces -> predictor -> layer norm -> tied
  output. The traces are :func:`ema_traces`, the one torch implementation of
  ``h_t = (1 - a) h_{t-1} + a x_t`` (a ``T x T`` decay matrix per rate, differentiable in the
  rates, with a carried state for streams longer than a window).
* ``gru``: the ``gru-lm`` encoder's module (:class:`GRULanguageModel`), one layer by default.
* ``gpt2``: ``transformers``' GPT-2 (``GPT2LMHeadModel``), tied output, no dropout.

Architectures and EMA predictors are registries, so an unknown name gets a did-you-mean.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from probekit.encoders.gru_net import GRULanguageModel
from probekit.errors import ProbekitError
from probekit.registry import Registry

architectures = Registry("LM architecture", "probekit.lm_architectures")
predictors = Registry("EMA-LM predictor", "probekit.lm_predictors")

DEFAULT_RATES = (0.5, 0.1, 0.02)


# ----------------------------------------------------------------------------- EMA traces

def decay_matrix(rate: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``W[i, j] = a (1 - a)^(i - j)`` for ``j <= i`` and ``p[i] = (1 - a)^(i + 1)`` (what a carried
    state keeps at row ``i``), as differentiable functions of the rate ``a``."""
    i = torch.arange(length, dtype=rate.dtype)
    lag = i[:, None] - i[None, :]
    log_keep = torch.log1p(-rate)
    W = torch.where(lag >= 0, rate * torch.exp(lag.clamp(min=0) * log_keep), torch.zeros((), dtype=rate.dtype))
    return W, torch.exp((i + 1) * log_keep)


def ema_traces(x: torch.Tensor, rates: torch.Tensor, state: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """EMA traces of ``x`` ``(batch, time, dim)`` for each rate: ``(batch, time, rates, dim)``, and
    the last row ``(batch, rates, dim)`` to carry into the next chunk (``state``; zero when None)."""
    T = x.shape[1]
    traces = []
    for k in range(len(rates)):
        W, p = decay_matrix(rates[k].to(x.dtype), T)
        h = torch.matmul(W, x)
        if state is not None:
            h = h + p[None, :, None] * state[:, None, k]
        traces.append(h)
    H = torch.stack(traces, dim=2)
    return H, H[:, -1]


# ----------------------------------------------------------------------------- predictors

class CausalAttentionPredictor(nn.Module):
    """A linear map of the trace states, then causal softmax attention over the sequence of
    past states (each position sees itself and earlier positions only), with a residual."""

    def __init__(self, in_dim: int, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ProbekitError(f"the attention predictor needs a width divisible by its {heads} heads, got {dim}.")
        self.heads = heads
        self.inp = nn.Linear(in_dim, dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        u = self.inp(z)
        B, T, D = u.shape
        q, k, v = self.qkv(u).view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return u + self.out(a.transpose(1, 2).reshape(B, T, D))


@predictors.register("linear", "a linear map of the current embedding and the traces")
def linear_predictor(in_dim: int, dim: int, heads: int = 4) -> nn.Module:
    return nn.Linear(in_dim, dim)


@predictors.register("mlp", "a one-hidden-layer MLP (GELU, 2 x width units) over embedding and traces")
def mlp_predictor(in_dim: int, dim: int, heads: int = 4) -> nn.Module:
    return nn.Sequential(nn.Linear(in_dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))


@predictors.register("attention", "causal softmax attention over the sequence of past trace states")
def attention_predictor(in_dim: int, dim: int, heads: int = 4) -> nn.Module:
    return CausalAttentionPredictor(in_dim, dim, heads)


# ----------------------------------------------------------------------------- architectures

class EMALanguageModel(nn.Module):
    """Token embedding -> EMA traces (fixed or learned rates) -> predictor -> norm -> tied output."""

    def __init__(self, vocab_size: int, width: int, rates: Sequence[float], learn_rates: bool, predictor: str,
                 heads: int = 4):
        super().__init__()
        rates = [float(r) for r in rates]
        if not rates or any(not 0 < r < 1 for r in rates):
            raise ProbekitError(f"EMA rates must be in (0, 1), at least one, got {rates}; e.g. --rates 0.5,0.1,0.02.")
        logits = torch.tensor([math.log(r) - math.log1p(-r) for r in rates], dtype=torch.float32)
        if learn_rates:
            self.rate_logits = nn.Parameter(logits)
        else:
            self.register_buffer("rate_logits", logits)
        self.embedding = nn.Embedding(vocab_size, width)
        nn.init.normal_(self.embedding.weight, std=width ** -0.5)  # tied output: logits start near unit scale
        self.predictor = predictors.create(predictor, in_dim=width * (len(rates) + 1), dim=width, heads=heads)
        self.norm = nn.LayerNorm(width)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    @property
    def rates(self) -> torch.Tensor:
        return torch.sigmoid(self.rate_logits)

    def states(self, ids: torch.Tensor, state: torch.Tensor | None = None):
        """``[x_t, h_t(a_1), ..., h_t(a_K)]`` per token ``(batch, time, (K + 1) width)`` and the carried traces."""
        x = self.embedding(ids)
        H, last = ema_traces(x, self.rates, state)
        return torch.cat([x, H.flatten(2)], dim=-1), last

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        z, _ = self.states(ids)
        return self.norm(self.predictor(z)) @ self.embedding.weight.T + self.bias

    def blocks(self) -> dict[str, tuple[int, int]]:
        from probekit.encoders.ema import rate_name

        d = self.embedding.embedding_dim
        return {"x": (0, d), **{rate_name(round(float(r), 6)): ((k + 1) * d, (k + 2) * d)
                                for k, r in enumerate(self.rates.detach())}}


class GRUNextToken(GRULanguageModel):
    """The GRU LM as ``lm train`` uses it: logits only, from a zero state per window."""

    def forward(self, ids, state=None):
        return super().forward(ids, state)[0]


@architectures.register("ema", "EMA-only LM: embedding, multi-timescale EMA traces, a predictor, tied softmax")
def build_ema(vocab_size: int, width: int, context: int, predictor: str = "linear",
              rates: Sequence[float] = DEFAULT_RATES, learn_rates: bool = False, layers: int = 1, heads: int = 4):
    return EMALanguageModel(vocab_size, width, rates, learn_rates, predictor, heads)


@architectures.register("gru", "GRU LM (the gru-lm encoder's module): embedding, GRU, softmax head")
def build_gru(vocab_size: int, width: int, context: int, predictor: str = "linear",
              rates: Sequence[float] = DEFAULT_RATES, learn_rates: bool = False, layers: int = 1, heads: int = 4):
    return GRUNextToken(vocab_size, vocab_size, width, width, layers)


class GPT2NextToken(nn.Module):
    """``transformers.GPT2LMHeadModel`` trained from scratch; logits only."""

    def __init__(self, vocab_size: int, width: int, context: int, layers: int, heads: int):
        super().__init__()
        from transformers import GPT2Config, GPT2LMHeadModel

        if width % heads:
            raise ProbekitError(f"GPT-2 needs a width divisible by its {heads} heads, got {width}.")
        config = GPT2Config(vocab_size=vocab_size, n_positions=context, n_embd=width, n_layer=layers, n_head=heads,
                            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True,
                            bos_token_id=1, eos_token_id=1)
        self.hf = GPT2LMHeadModel(config)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.hf(input_ids=ids).logits


@architectures.register("gpt2", "GPT-2 architecture (transformers), small, trained from scratch, tied softmax")
def build_gpt2(vocab_size: int, width: int, context: int, predictor: str = "linear",
               rates: Sequence[float] = DEFAULT_RATES, learn_rates: bool = False, layers: int = 2, heads: int = 4):
    return GPT2NextToken(vocab_size, width, context, layers, heads)


def build(arch: str, vocab_size: int, width: int, context: int, **options: Any) -> nn.Module:
    return architectures.create(arch, vocab_size=vocab_size, width=width, context=context, **options)


def count_parameters(model: nn.Module) -> int:
    """Distinct trainable parameters (a tied output matrix counts once)."""
    seen = {id(p): p for p in model.parameters() if p.requires_grad}
    return int(sum(p.numel() for p in seen.values()))


def width_for_params(arch: str, target: int, vocab_size: int, context: int, step: int = 8, **options: Any) -> int:
    """The multiple of ``step`` whose model has the parameter count closest to ``target`` (a bisection
    over built models; not on the ``meta`` device, whose first use imports torch's compiler for seconds)."""
    def params(width: int) -> int:
        with torch.random.fork_rng(devices=[]):
            return count_parameters(build(arch, vocab_size, width, context, **options))

    lo, hi = 1, 1
    while params(hi * step) < target:
        lo, hi = hi, hi * 2
        if hi * step > 1 << 16:
            raise ProbekitError(f"no {arch} width up to 65536 reaches {target} parameters.")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if params(mid * step) < target else (lo, mid)
    best = min((lo, hi), key=lambda w: abs(params(w * step) - target))
    return best * step


def ln2() -> float:
    return math.log(2.0)
