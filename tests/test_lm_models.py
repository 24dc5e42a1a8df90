"""The language-model architectures: EMA traces, causality, parameter matching, registries."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from probekit.encoders.ema import ema_trace  # noqa: E402
from probekit.errors import ProbekitError  # noqa: E402
from probekit.lm.models import (  # noqa: E402
    architectures, build, count_parameters, ema_traces, predictors, width_for_params,
)

torch.set_num_threads(1)


def test_ema_lm_traces_equal_ema_trace_across_carried_windows():
    torch.manual_seed(0)
    model = build("ema", vocab_size=50, width=8, context=16, rates=(0.5, 0.1, 0.02))
    ids = torch.randint(0, 50, (1, 40))
    pieces, state = [], None
    for c0 in range(0, 40, 16):   # windows of 16 with the state carried, as the lm encoder reads a stream
        z, state = model.states(ids[:, c0:c0 + 16], state)
        pieces.append(z[0])
    z = torch.cat(pieces).detach().numpy()
    x = model.embedding(ids)[0].detach().numpy()
    assert np.allclose(z[:, :8], x)
    for k, rate in enumerate((0.5, 0.1, 0.02)):
        expected = ema_trace(x.astype(np.float64), rate, out=np.empty(x.shape))
        assert np.allclose(z[:, 8 * (k + 1):8 * (k + 2)], expected, atol=1e-5), rate


def test_learned_rates_get_gradients_and_fixed_ones_are_buffers():
    learned = build("ema", vocab_size=20, width=8, context=8, learn_rates=True)
    loss = learned(torch.randint(0, 20, (2, 8))).logsumexp(-1).mean()
    loss.backward()
    assert learned.rate_logits.grad is not None and torch.all(learned.rate_logits.grad != 0)
    fixed = build("ema", vocab_size=20, width=8, context=8)
    assert "rate_logits" not in dict(fixed.named_parameters())


def test_ema_traces_state_carry_is_exact():
    x = torch.randn(2, 10, 3)
    whole, _ = ema_traces(x, torch.tensor([0.3]))
    first, state = ema_traces(x[:, :4], torch.tensor([0.3]))
    second, _ = ema_traces(x[:, 4:], torch.tensor([0.3]), state)
    assert torch.allclose(torch.cat([first, second], 1), whole, atol=1e-6)


@pytest.mark.parametrize("name", ["attention", "linear", "mlp"])
def test_predictors_see_only_past_positions(name):
    torch.manual_seed(0)
    model = build("ema", vocab_size=30, width=8, context=12, predictor=name).eval()
    ids = torch.randint(0, 30, (1, 12))
    changed = ids.clone()
    changed[0, 7] = (ids[0, 7] + 1) % 30
    with torch.no_grad():
        a, b = model(ids), model(changed)
    assert torch.allclose(a[0, :7], b[0, :7], atol=1e-6)        # nothing before the change moves
    assert not torch.allclose(a[0, 7:], b[0, 7:], atol=1e-4)    # the changed token itself and later do


def test_widths_match_a_parameter_target_within_ten_percent():
    target, vocab = 60_000, 500
    counts = {}
    for arch in ("ema", "gru", "gpt2"):
        width = width_for_params(arch, target, vocab, context=32)
        counts[arch] = count_parameters(build(arch, vocab, width, 32))
    assert max(counts.values()) <= 1.1 * min(counts.values()), counts
    assert all(abs(c - target) <= 0.1 * target for c in counts.values()), counts


def test_unknown_names_suggest_the_close_one():
    with pytest.raises(ProbekitError, match="Did you mean 'ema'"):
        architectures.get("emma")
    with pytest.raises(ProbekitError, match="Did you mean 'attention'"):
        predictors.get("atention")


def test_gru_lm_encoder_shares_the_lm_module():
    from probekit.encoders.gru_lm import _build_model
    from probekit.lm.models import GRULanguageModel

    assert isinstance(_build_model(10, 9, 4, 6, 1, 0.0), GRULanguageModel)
