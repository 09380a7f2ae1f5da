"""Properties of individual flow layers beyond the shared contract."""

import pytest
import torch

import pyrogen.transforms as T


@pytest.mark.parametrize("direction", ["iaf", "maf"])
def test_autoregressive_one_pass_direction_is_a_single_network_call(direction):
    """IAF samples and MAF evaluates densities with one conditioner pass; the other way
    takes D passes."""
    torch.manual_seed(0)
    t = T.AffineAutoregressive(5, hidden=(10,), direction=direction).with_cache(0)
    calls = []
    t.nn.register_forward_hook(lambda *_: calls.append(1))
    x = torch.randn(2, 5)
    t(x)
    fwd = len(calls)
    t.inv(x)
    inv = len(calls) - fwd
    assert (fwd, inv) == ((1, 5) if direction == "iaf" else (5, 1))


def test_maf_log_prob_matches_the_autoregressive_factorization():
    """log p(y) = sum_i log N((y_i - mu_i(y_<i)) e^{-s_i}; 0, 1) - s_i, eq. (5) of MAF."""
    torch.manual_seed(0)
    t = T.AffineAutoregressive(3, hidden=(8,), direction="maf").double()
    base = torch.distributions.Independent(
        torch.distributions.Normal(torch.zeros(3, dtype=torch.float64), 1.0), 1
    )
    flow = torch.distributions.TransformedDistribution(base, [t])
    y = torch.randn(4, 3, dtype=torch.float64)
    shift, log_scale = t._shift_log_scale(y)
    u = (y - shift) * torch.exp(-log_scale)
    expected = (torch.distributions.Normal(0.0, 1.0).log_prob(u) - log_scale).sum(-1)
    assert torch.allclose(flow.log_prob(y), expected)


def test_coupling_keeps_the_conditioning_half_and_nice_preserves_volume():
    torch.manual_seed(0)
    x = torch.randn(3, 6)
    aff = T.AffineCoupling(6, hidden=(8,), split=2, swap=True)
    assert torch.equal(aff(x)[:, 4:], x[:, 4:]) and not torch.allclose(aff(x)[:, :4], x[:, :4])
    nice = T.AffineCoupling(6, hidden=(8,), mode="additive")
    assert torch.equal(nice.log_abs_det_jacobian(x, nice(x)), torch.zeros(3))
    with pytest.raises(ValueError, match="0 < split < dim"):
        T.AffineCoupling(4, split=4)


def test_actnorm_data_init_standardizes_the_first_batch():
    torch.manual_seed(0)
    t = T.ActNorm(3, event_dim=3)
    y = 5 + 2 * torch.randn(16, 3, 4, 4)
    x = t.inv(y)
    assert torch.allclose(x.mean((0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(x.std((0, 2, 3)), torch.ones(3), atol=1e-5)
    assert bool(t.initialized)
    # Later batches use the learned parameters, not their own statistics.
    assert torch.allclose(t.inv(y + 1), x + torch.exp(-t.log_scale.detach()).reshape(3, 1, 1))


def test_conv1x1_log_det_is_hw_log_det_of_the_weight():
    torch.manual_seed(0)
    t = T.InvertibleConv1x1(4).double()
    x = torch.randn(2, 4, 3, 5, dtype=torch.float64)
    expected = 15 * torch.linalg.slogdet(t.weight()).logabsdet
    assert torch.allclose(t.log_abs_det_jacobian(x, t(x)), expected.expand(2))
    # Starts as a rotation (built in float32): volume preserving.
    assert abs(float(expected.detach())) < 1e-5


def test_permutation_and_compose_with_cache():
    p = T.Permutation(4, permutation=[1, 3, 0, 2])
    x = torch.arange(4.0)
    assert torch.equal(p(x), torch.tensor([1.0, 3.0, 0.0, 2.0]))
    flow = torch.distributions.ComposeTransform([p, T.Planar(4)], cache_size=1)
    y = flow(x)
    assert flow.inv(y) is x
    with pytest.raises(ValueError, match="permutation of 0..2"):
        T.Permutation(3, permutation=[0, 0, 1])
