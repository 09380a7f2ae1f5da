import pyro
import pytest
import torch
from pyro.infer import Trace_ELBO

from pyrogen.data import collapse_gaussian
from pyrogen.models import LinearGaussianVAE


def test_closed_form_elbo_equals_monte_carlo_trace_elbo():
    torch.manual_seed(0)
    vae = LinearGaussianVAE(4, 3, init_scale=0.3).double()
    x = 0.5 * torch.randn(3, 4, dtype=torch.float64)
    with torch.no_grad():
        vae.log_s.fill_(-0.3)
        vae.log_sigma_raw.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
    # The per-particle standard deviation of the bound is about 1.5 nats here, so 40000
    # particles give a Monte Carlo standard error below 0.01.
    elbo = Trace_ELBO(num_particles=40000, vectorize_particles=True, max_plate_nesting=1)
    mc = -elbo.loss(vae.model, vae.guide, x)
    assert mc == pytest.approx(float(vae.elbo(x).detach().sum()), abs=0.04)


def test_elbo_equals_evidence_at_the_exact_posterior():
    """With one latent the exact posterior is in the family: ELBO = log p(x)."""
    torch.manual_seed(0)
    vae = LinearGaussianVAE(3, 1, init_scale=1.0).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    with torch.no_grad():
        w = vae.W[:, 0]
        prec = 1 + (w**2 / (2 * vae.log_sigma).exp()).sum()
        # p(z | x) = N(w^T Psi^-1 (x - b) / prec, 1 / prec)
        vae.V.copy_((w / (2 * vae.log_sigma).exp() / prec)[None])
        vae.c.copy_(-(vae.V @ vae.b))
        vae.log_s.fill_(float(-0.5 * prec.log()))
        assert torch.allclose(vae.elbo(x), vae.log_likelihood(x), atol=1e-10)
        vae.log_s.fill_(0.0)
        assert (vae.elbo(x) < vae.log_likelihood(x)).all()


def _fit(x, z_dim, isotropic, steps=1500):
    # The collapsed optimum is degenerate (the ELBO is quartic around it), so gradient
    # steps approach it slowly; a decaying learning rate gets below the 0.01 threshold.
    torch.manual_seed(0)
    vae = LinearGaussianVAE(x.shape[1], z_dim, isotropic=isotropic).double()
    opt = torch.optim.Adam(vae.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        opt.zero_grad()
        (-vae.elbo(x).mean()).backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        loc, _ = vae.encode(x)
        # Active units (Burda et al. 2016): Cov_x(E_q[z_u]) > 0.01.
        active = int((loc.var(0) > 0.01).sum())
        return vae, active, float(vae.kl(x).sum(-1).mean())


def _best_gaussian_fit(x):
    cov = torch.cov(x.T, correction=0)
    return float(torch.distributions.MultivariateNormal(x.mean(0), cov).log_prob(x).mean())


def test_diagonal_sigma_collapses():
    gen = torch.Generator().manual_seed(1)
    x = collapse_gaussian(200, dim=6, rank=0, generator=gen, exact_moments=True).double()
    vae, active, kl = _fit(x, 4, isotropic=True)
    assert active == 0
    assert kl < 0.02
    # The decoder alone models the data: the ELBO reaches the Gaussian's log-likelihood.
    with torch.no_grad():
        assert float(vae.elbo(x).mean()) == pytest.approx(_best_gaussian_fit(x), abs=1e-3)


def test_diagonal_sigma_per_coordinate_noise_reaches_the_same_bound():
    """Factor-analysis decoder: not identifiable, but the bound is still the data's entropy."""
    gen = torch.Generator().manual_seed(1)
    x = collapse_gaussian(200, dim=6, rank=0, generator=gen, exact_moments=True).double()
    vae, _, _ = _fit(x, 4, isotropic=False, steps=600)
    with torch.no_grad():
        assert float(vae.elbo(x).mean()) == pytest.approx(_best_gaussian_fit(x), abs=1e-2)


@pytest.mark.parametrize("rank", [1, 3])
def test_rank_r_sigma_uses_r_units(rank):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    x = collapse_gaussian(200, dim=6, rank=rank, generator=gen, exact_moments=True).double()
    _, active, kl = _fit(x, 4, isotropic=True)
    assert active == rank
    assert kl > 0.5 * rank


def test_bad_input():
    with pytest.raises(ValueError, match=r"shape \(batch, 4\)"):
        LinearGaussianVAE(4, 2).elbo(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="needs observations"):
        pyro.poutine.trace(LinearGaussianVAE(4, 2).guide).get_trace(None)
