import pytest
import torch
from pyro.infer import Trace_ELBO

from pyrogen.data import template_sequences
from pyrogen.models import WindowedARDecoder, WindowedARVAE


@pytest.mark.parametrize("window", [None, 1, 3])
def test_decoder_is_causal_within_its_window(window):
    torch.manual_seed(0)
    length = 8
    dec = WindowedARDecoder(length, z_dim=2, window=window, hidden=(16,))
    x = torch.rand(1, length, requires_grad=True)
    z = torch.randn(1, 2, requires_grad=True)
    logits = dec(x, z)
    w = length if window is None else window
    for i in range(length):
        (gx, gz) = torch.autograd.grad(logits[0, i], (x, z), retain_graph=True)
        for j in range(length):
            visible = i - w <= j < i
            assert (gx[0, j] != 0) == visible, (i, j)
        assert gz.abs().sum() > 0


def test_model_guide_and_sampling():
    torch.manual_seed(0)
    x = template_sequences(6, length=10, generator=torch.Generator().manual_seed(0))
    vae = WindowedARVAE(10, z_dim=2, window=2, hidden=(8,))
    loss = Trace_ELBO().loss(vae.model, vae.guide, x)
    assert loss > 0
    assert vae.sample(3).shape == (3, 10)
    assert set(vae.sample(3).unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="binary"):
        vae.guide(torch.full((2, 10), 0.5))
    with pytest.raises(ValueError, match="window must be in"):
        WindowedARVAE(10, window=11)
