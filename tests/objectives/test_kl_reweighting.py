import pyro
import pytest
import torch
from pyro.infer import TraceMeanField_ELBO

from pyrogen.models import VAE, LinearGaussianVAE
from pyrogen.objectives import BetaELBO, FreeBitsELBO, LinearWarmup
from pyrogen.objectives.analytic_kl import elbo_terms


def _setup():
    torch.manual_seed(0)
    vae = VAE((6,), z_dim=3, hidden=(8,))
    x = torch.rand(5, 6).bernoulli()
    return vae, x


def _loss_and_grads(loss, vae, x, seed=0):
    pyro.set_rng_seed(seed)
    vae.zero_grad()
    value = loss.differentiable_loss(vae.model, vae.guide, x)
    value.backward()
    return value.detach(), [p.grad.clone() for p in vae.parameters()]


def test_beta_one_equals_trace_mean_field_elbo_in_value_and_gradient():
    vae, x = _setup()
    ours, g1 = _loss_and_grads(BetaELBO(kl="closed_form"), vae, x)
    ref, g2 = _loss_and_grads(TraceMeanField_ELBO(), vae, x)
    assert torch.allclose(ours, ref, atol=1e-5)
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, atol=1e-5)
    # Free bits with lambda = 0 is the same objective.
    fb, g3 = _loss_and_grads(FreeBitsELBO(free_bits=0.0), vae, x)
    assert torch.allclose(fb, ref, atol=1e-5)
    for a, b in zip(g3, g2):
        assert torch.allclose(a, b, atol=1e-5)


def test_kl_terms_are_the_closed_form_gaussian_kl():
    vae, x = _setup()
    terms = elbo_terms(vae.model, vae.guide, x)
    loc, scale = vae.encode(x)
    expected = 0.5 * (loc**2 + scale**2 - 1) - scale.log()
    assert terms.kl["z"].shape == (5, 3)
    assert torch.allclose(terms.kl["z"], expected, atol=1e-5)
    assert terms.log_lik.shape == (5,)


def test_linear_vae_terms_average_to_its_closed_form_elbo():
    torch.manual_seed(0)
    vae = LinearGaussianVAE(3, 2, init_scale=0.5)
    x = torch.randn(4, 3)
    # 20000 copies of the batch: one vectorized trace gives 20000 draws per example.
    t = elbo_terms(vae.model, vae.guide, x.repeat(20000, 1))
    mc = (t.log_lik - t.total_kl).detach().reshape(20000, 4).mean(0)
    assert torch.allclose(mc, vae.elbo(x).detach(), atol=0.05)


def test_warmup_schedule_and_beta_below_one():
    vae, x = _setup()
    loss = BetaELBO(LinearWarmup(4, 0.0, 0.5), kl="closed_form")
    betas = []
    for _ in range(6):
        betas.append(loss.beta)
        pyro.set_rng_seed(0)
        value = loss.differentiable_loss(vae.model, vae.guide, x)
        pyro.set_rng_seed(0)
        terms = elbo_terms(vae.model, vae.guide, x)
        expected = -(terms.log_lik.sum() - betas[-1] * terms.total_kl.sum())
        assert torch.allclose(value, expected, atol=1e-5)
    assert betas == [0.0, 0.125, 0.25, 0.375, 0.5, 0.5]
    # Evaluation (no grad) does not advance the schedule.
    loss.loss(vae.model, vae.guide, x)
    assert loss.num_steps == 6


def test_free_bits_remove_the_kl_gradient_below_the_threshold():
    vae, x = _setup()
    big = FreeBitsELBO(free_bits=100.0)
    value, grads = _loss_and_grads(big, vae, x)
    pyro.set_rng_seed(0)
    terms = elbo_terms(vae.model, vae.guide, x)
    assert torch.allclose(value, -terms.log_lik.sum() + 5 * 3 * 100.0, atol=1e-3)
    # The gradient is that of the reconstruction term alone.
    vae.zero_grad()
    pyro.set_rng_seed(0)
    (-elbo_terms(vae.model, vae.guide, x).log_lik.sum()).backward()
    for p, g in zip(vae.parameters(), grads):
        assert torch.allclose(p.grad, g, atol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="free_bits must be >= 0"):
        FreeBitsELBO(-1.0)
    with pytest.raises(ValueError, match="start, end >= 0"):
        LinearWarmup(10, end=-0.5)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        BetaELBO(-1.0)
    with pytest.raises(ValueError, match="one particle"):
        BetaELBO(kl="closed_form", num_particles=2)
    with pytest.raises(ValueError, match="kl must be"):
        BetaELBO(kl="exact")
