"""The specialized site sums equal log_prob().sum() in float64, broadcasting included."""

import pyro.distributions as dist
import pytest
import torch

from pyrogen.infer.site_scores import (
    draw_normal,
    neg_log_normal_at_noise,
    neg_log_prob_sum,
    reparam_normal,
)

g = torch.Generator().manual_seed(0)


def _r(*shape):
    return torch.randn(*shape, generator=g, dtype=torch.float64)


CASES = {
    "bernoulli_logits": (dist.Bernoulli(logits=_r(4, 5)), (_r(4, 5) > 0).double()),
    "bernoulli_broadcast": (dist.Bernoulli(logits=_r(3, 4, 5)), (_r(4, 5) > 0).double()),
    "bernoulli_probs": (dist.Bernoulli(probs=_r(4, 5).sigmoid()), (_r(4, 5) > 0).double()),
    "independent_bernoulli": (
        dist.Bernoulli(logits=_r(4, 2, 3)).to_event(2),
        (_r(4, 2, 3) > 0).double(),
    ),
    "normal": (dist.Normal(_r(4, 5), _r(4, 5).exp()), _r(4, 5)),
    "normal_scalar_scale": (dist.Normal(_r(4, 5), 0.7), _r(4, 5)),
    "normal_broadcast_value": (dist.Normal(_r(5), _r(5).exp()), _r(3, 5)),
    "expanded_normal_event": (dist.Normal(0.0, 1.0).expand([4, 3]).to_event(1), _r(4, 3)),
    "other": (dist.Gamma(_r(4).exp(), 2.0), _r(4).exp()),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_log_prob_sum_equals_the_generic_sum(name):
    fn, value = CASES[name]
    expected = fn.log_prob(value).sum()
    tensor, const = neg_log_prob_sum(fn, value)
    assert isinstance(const, float)
    torch.testing.assert_close(-(tensor + const), expected, rtol=1e-12, atol=1e-12)


def test_noise_form_of_a_reparameterized_normal_is_its_density_at_the_draw():
    loc, scale = _r(4, 3).requires_grad_(), _r(4, 3).exp().requires_grad_()
    fn = dist.Normal(loc, scale).to_event(1)
    normal = reparam_normal(fn)
    assert normal is fn.base_dist
    torch.manual_seed(5)
    z, eps = draw_normal(normal, fn.batch_shape + fn.event_shape)
    torch.manual_seed(5)
    torch.testing.assert_close(z, fn.rsample())  # the same draw as rsample
    tensor, const = neg_log_normal_at_noise(normal, eps)
    ours = -(tensor + const)
    generic = fn.log_prob(z).sum()
    torch.testing.assert_close(ours, generic, rtol=1e-12, atol=1e-12)
    # the same function of (loc, scale): d/dloc is exactly 0 in the noise form, and 0 up to
    # rounding in the generic one, where (z - loc) / scale cancels
    mine = torch.autograd.grad(ours, (loc, scale), allow_unused=True)
    theirs = torch.autograd.grad(generic, (loc, scale))
    for a, b in zip(mine, theirs):
        a = torch.zeros_like(b) if a is None else a
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)
    assert reparam_normal(dist.Gamma(1.0, 1.0)) is None
