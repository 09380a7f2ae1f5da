import pyro
import pytest
import torch
from pyro.infer import Trace_ELBO

from pyrogen.objectives import STL_ELBO


def test_value_equals_trace_elbo(chain):
    x = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64)
    STL_ELBO().loss(chain.model, chain.guide, x)  # guesses the plate nesting
    pyro.set_rng_seed(3)
    a = STL_ELBO().differentiable_loss(chain.model, chain.guide, x)
    pyro.set_rng_seed(3)
    b = Trace_ELBO().differentiable_loss(chain.model, chain.guide, x)
    assert torch.allclose(a, b, rtol=1e-12)
    # The model's parameter gets the same (reparameterized) gradient.
    assert torch.allclose(
        torch.autograd.grad(a, chain.theta)[0], torch.autograd.grad(b, chain.theta)[0]
    )


@pytest.mark.parametrize("model_name", ["chain", "conjugate"])
def test_gradient_is_exactly_zero_at_exact_posterior(model_name, request):
    m = request.getfixturevalue(model_name)
    m.set_exact_posterior()
    x = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64)
    value = STL_ELBO(num_particles=3).differentiable_loss(m.model, m.guide, x)
    for g in torch.autograd.grad(value, m.guide_params()):
        assert abs(float(g)) < 1e-10


def test_unbiased_against_exact_and_reparameterized_gradient(conjugate, mc, stat_seed):
    pyro.set_rng_seed(stat_seed)
    x = torch.tensor([-0.7, 0.4, 1.5], dtype=torch.float64).repeat(2000)
    params = list(conjugate.parameters())
    exact = torch.stack(torch.autograd.grad(-conjugate.elbo(x), params))
    stl, se_stl = mc(STL_ELBO(), conjugate, x, params)
    rep, se_rep = mc(Trace_ELBO(), conjugate, x, params)
    assert ((stl - exact).abs() < 5 * se_stl + 1e-8).all(), (stl, exact, se_stl)
    assert ((rep - exact).abs() < 5 * se_rep + 1e-8).all(), (rep, exact, se_rep)
