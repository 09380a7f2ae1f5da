import pytest
import torch

from pyrogen.models import WaveNet
from pyrogen.models.wavenet import mu_law_decode, mu_law_encode


def test_mu_law_round_trip_and_range():
    x = torch.linspace(-1, 1, 1001)
    k = mu_law_encode(x, 256)
    assert k.min() == 0 and k.max() == 255 and torch.equal(k, k.round())
    # Quantization error is smallest near zero, where mu-law spends its levels.
    err = (mu_law_decode(k, 256) - x).abs()
    assert err.max() < 0.05 and err[(x.abs() < 0.01)].max() < 1e-3


def test_receptive_field_by_gradient():
    torch.manual_seed(0)
    m = WaveNet(64, channels=4, num_layers=4, dilation_cycle=4, likelihood="gaussian").double()
    assert m.receptive_field == 1 + 1 + 2 + 4 + 8 + 1  # shifted input layer, then dilations
    x = torch.randn(1, 64, dtype=torch.float64, requires_grad=True)
    m(x)[0, :, 40].sum().backward()
    reads = (x.grad[0] != 0).nonzero()[:, 0]
    assert reads.max() == 39 and reads.min() == 40 - m.receptive_field


def test_gaussian_loc_scale_matches_log_prob():
    torch.manual_seed(0)
    m = WaveNet(10, channels=4, num_layers=2, likelihood="gaussian")
    x = torch.randn(3, 10)
    loc, scale = m.loc_scale(x)
    expected = torch.distributions.Normal(loc, scale).log_prob(x).sum(-1)
    assert torch.allclose(m.log_prob(x), expected, atol=1e-5)
    with pytest.raises(ValueError, match="gaussian"):
        WaveNet(10, channels=4, num_layers=1).loc_scale(x)
