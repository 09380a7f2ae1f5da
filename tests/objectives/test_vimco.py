import math

import pyro
import pytest
import torch

from pyrogen.objectives import IWAE_ELBO, VIMCO_ELBO


@pytest.mark.parametrize("k", [2, 3])
def test_unbiased_for_the_bound_gradient_on_a_discrete_latent(coin, mc, k, stat_seed):
    pyro.set_rng_seed(stat_seed)
    x = torch.tensor([-1.2, 0.1, 0.9], dtype=torch.float64).repeat(3000)
    params = list(coin.parameters())
    exact = torch.stack(torch.autograd.grad(-coin.bound(x, k), params))
    g, se = mc(VIMCO_ELBO(k), coin, x, params)
    assert ((g - exact).abs() < 5 * se + 1e-8).all(), (g, exact, se)


def test_value_is_the_k_sample_bound(chain):
    chain.set_exact_posterior()
    x = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64)
    value = VIMCO_ELBO(5).loss(chain.model, chain.guide, x)
    assert math.isclose(value, -float(chain.log_marginal(x).detach().sum()), abs_tol=1e-10)


def test_mean_value_matches_exact_bound(coin):
    x = torch.tensor([-1.2, 0.1, 0.9], dtype=torch.float64).repeat(5000)
    with torch.no_grad():
        exact = float(coin.bound(x, 3))
    value = VIMCO_ELBO(3).loss(coin.model, coin.guide, x)
    assert abs(-value - exact) / len(x) < 0.01


def test_unbiased_on_a_continuous_latent(chain, mc, stat_seed):
    pyro.set_rng_seed(stat_seed)
    x = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64).repeat(3000)
    params = list(chain.parameters())
    ref, se_ref = mc(IWAE_ELBO(3), chain, x, params)
    g, se = mc(VIMCO_ELBO(3), chain, x, params)
    assert ((g - ref).abs() < 5 * (se**2 + se_ref**2).sqrt()).all(), (g, ref, se)


def test_rejects_one_particle():
    with pytest.raises(ValueError, match="num_particles >= 2"):
        VIMCO_ELBO(1)
