import math

import pyro
import pytest
import torch
from pyro.contrib.gp.kernels import RBF
from pyro.infer import Trace_ELBO
from pyro.infer.trace_mmd import _compute_mmd

from pyrogen.infer import SVITrainer
from pyrogen.metrics import mmd
from pyrogen.models import VAE, InfoVAE
from pyrogen.objectives import InfoVAE_ELBO


def test_mmd_matches_pyro_and_the_gaussian_closed_form():
    """For x ~ N(a, I), y ~ N(b, I) and k = exp(-|x-y|^2 / 2l^2):
    E k(x, y) = (l^2 / (l^2 + 2))^{d/2} exp(-|a - b|^2 / (2 (l^2 + 2)))."""
    torch.manual_seed(0)
    d, l2, n = 2, 1.0, 3000
    kernel = RBF(d, lengthscale=torch.tensor(l2**0.5)).requires_grad_(False)
    shift = torch.tensor([1.0, 0.0])
    x, y = torch.randn(n, d), torch.randn(n, d) + shift

    def ek(sq):
        return (l2 / (l2 + 2)) ** (d / 2) * math.exp(-sq / (2 * (l2 + 2)))

    analytic = 2 * ek(0.0) - 2 * ek(1.0)
    ours = mmd(x, y, bandwidth=l2**0.5, unbiased=False)
    assert torch.allclose(ours.float(), _compute_mmd(x, y, kernel))
    assert float(ours) == pytest.approx(analytic, abs=0.01)
    assert abs(float(mmd(x, torch.randn(n, d), bandwidth=l2**0.5, unbiased=False))) < 0.005
    # both estimators against the kernel matrices written out (the unbiased one drops the
    # diagonal k(x_i, x_i) = 1 of the self-similarities)
    a, b = x[:200].double(), y[:200].double()
    kaa, kbb, kab = (
        torch.exp(-(torch.cdist(u, v) ** 2) / (2 * l2)) for u, v in ((a, a), (b, b), (a, b))
    )
    biased = kaa.mean() + kbb.mean() - 2 * kab.mean()
    unbiased = (kaa.sum() - 200 + kbb.sum() - 200) / (200 * 199) - 2 * kab.mean()
    assert float(mmd(a, b, bandwidth=l2**0.5, unbiased=False)) == pytest.approx(float(biased))
    assert float(mmd(a, b, bandwidth=l2**0.5)) == pytest.approx(float(unbiased))


def _loss_and_grads(vae, loss, x, seed=0):
    pyro.set_rng_seed(seed)
    value = loss.differentiable_loss(vae.model, vae.guide, x)
    return value.detach(), torch.autograd.grad(value, list(vae.parameters()))


def test_alpha_zero_lambda_one_is_the_elbo():
    torch.manual_seed(0)
    vae = VAE((6,), z_dim=3, hidden=(8,))
    x = torch.rand(10, 6).bernoulli()
    ours, g_ours = _loss_and_grads(vae, InfoVAE_ELBO(alpha=0.0, lambda_=1.0), x)
    ref, g_ref = _loss_and_grads(vae, Trace_ELBO(), x)
    assert torch.allclose(ours, ref, rtol=1e-6, atol=1e-5)
    for a, b in zip(g_ours, g_ref):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


def test_mmd_vae_loss_is_reconstruction_plus_scaled_mmd():
    """alpha = 1: no KL; -E log p(x|z) + lambda * N * MMD^2 between the codes and p(z)."""
    vae = InfoVAE((5,), z_dim=2, hidden=(8,), alpha=1.0, lambda_=50.0)
    x = torch.rand(12, 5).bernoulli()
    pyro.set_rng_seed(2)
    elbo = InfoVAE_ELBO.for_model(vae)
    value = elbo.loss(vae.model, vae.guide, x)
    pyro.set_rng_seed(2)
    guide_tr = pyro.poutine.trace(vae.guide).get_trace(x)
    model_tr = pyro.poutine.trace(pyro.poutine.replay(vae.model, guide_tr)).get_trace(x)
    recon = float(model_tr.nodes["x"]["fn"].log_prob(x).sum().detach())
    assert value == pytest.approx(-recon + 50.0 * 12 * elbo.last_terms["mmd"], rel=1e-4)
    assert elbo.last_terms["mmd"] > 0


def test_training_step_and_bad_weights():
    vae = InfoVAE((5,), z_dim=2, hidden=(8,))
    out = SVITrainer(vae, InfoVAE_ELBO.for_model(vae)).step(torch.rand(8, 5).bernoulli())
    assert torch.isfinite(out["loss"])
    with pytest.raises(ValueError, match="alpha must be <= 1"):
        InfoVAE((5,), alpha=2.0)
    with pytest.raises(ValueError, match="alpha \\+ lambda - 1 must be >= 0"):
        InfoVAE_ELBO(alpha=0.0, lambda_=0.5)
