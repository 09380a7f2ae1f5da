"""VAE.init_output_bias: the decoder starts at each value's marginal over the data."""

import pytest
import torch
from torch import nn

from pyrogen.models import VAE


def _zero_last_weight(vae):
    layer = [m for m in vae.decoder_net.modules() if isinstance(m, nn.Linear | nn.ConvTranspose2d)]
    with torch.no_grad():
        layer[-1].weight.zero_()


def test_bernoulli_mlp_starts_at_the_mean_image():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(1, 4, 4, generator=g) * 0.8 + 0.1
    x = (torch.rand(500, 1, 4, 4, generator=g) < p).float()
    x[:, 0, 0, 0] = 0.0  # a value that is always 0: its logit is clamped, not -inf
    vae = VAE((1, 4, 4), z_dim=2, hidden=(8,))
    assert vae.init_output_bias(x)
    _zero_last_weight(vae)
    mean = torch.sigmoid(vae.decode(torch.randn(3, 2)))
    expected = x.mean(0).clamp(1e-3, 1 - 1e-3)
    torch.testing.assert_close(mean, expected.expand(3, 1, 4, 4), rtol=1e-5, atol=1e-6)
    # and the reconstruction term is then the marginal model's NLL, less than the default start
    fresh = VAE((1, 4, 4), z_dim=2, hidden=(8,))
    _zero_last_weight(fresh)
    nll = -vae.likelihood.dist(vae.decode(torch.zeros(500, 2)), 3).log_prob(x).mean()
    nll_fresh = -fresh.likelihood.dist(fresh.decode(torch.zeros(500, 2)), 3).log_prob(x).mean()
    assert nll < nll_fresh - 0.5


def test_gaussian_mlp_starts_at_each_values_mean_and_std():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2000, 6, generator=g) * torch.linspace(0.5, 2.0, 6) + torch.arange(6.0)
    vae = VAE(6, z_dim=2, hidden=(8,), likelihood="gaussian")
    assert vae.init_output_bias(x)
    _zero_last_weight(vae)
    d = vae.likelihood.dist(vae.decode(torch.zeros(1, 2)), vae.event_dim).base_dist
    torch.testing.assert_close(d.loc[0], x.mean(0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(d.scale[0], x.std(0), rtol=1e-4, atol=1e-5)


def test_conv_decoder_starts_at_each_channels_marginal():
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(64, 1, 28, 28, generator=g) < 0.3).float()
    vae = VAE((1, 28, 28), z_dim=2, arch="conv", hidden=(32,))
    assert vae.init_output_bias(x)
    _zero_last_weight(vae)
    mean = torch.sigmoid(vae.decode(torch.zeros(1, 2)))
    torch.testing.assert_close(mean, torch.full_like(mean, x.mean().item()), rtol=1e-5, atol=1e-6)


def test_continuous_bernoulli_has_no_closed_form_and_is_left_alone():
    vae = VAE((1, 4, 4), z_dim=2, hidden=(8,), likelihood="continuous_bernoulli")
    before = [p.clone() for p in vae.parameters()]
    assert not vae.init_output_bias(torch.rand(10, 1, 4, 4))
    assert all(torch.equal(a, b) for a, b in zip(before, vae.parameters()))


def test_wrong_shape_is_refused():
    with pytest.raises(ValueError):
        VAE((1, 4, 4), z_dim=2, hidden=(8,)).init_output_bias(torch.rand(10, 16))
