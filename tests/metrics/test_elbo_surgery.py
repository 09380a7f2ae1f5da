"""ELBO surgery: avg KL = index-code MI + marginal KL, checked against quadrature."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch.distributions import kl_divergence

from pyrogen.metrics import elbo_surgery
from pyrogen.models import VAE, HierarchicalVAE


class GaussianCodes:
    """p(z) = N(0, 1); q(z | x_n) = N(x_n0, x_n1^2): the posteriors are given by the data."""

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros((), dtype=x.dtype), 1.0))
            pyro.sample("x", dist.Normal(z.unsqueeze(-1), 1.0).to_event(1), obs=x)

    def guide(self, x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(x[:, 0], x[:, 1]))


def _quadrature(x):
    """avg KL in closed form; MI and marginal KL by integration on a fine grid."""
    z = torch.linspace(-15, 15, 300001, dtype=torch.float64)
    dz = z[1] - z[0]
    log_qn = dist.Normal(x[:, :1], x[:, 1:]).log_prob(z)  # (N, G)
    log_agg = torch.logsumexp(log_qn, 0) - math.log(x.shape[0])
    log_p = dist.Normal(0.0, 1.0).log_prob(z)
    qn = log_qn.exp()
    mi = float((qn * (log_qn - log_agg)).sum(1).mean() * dz)
    mkl = float((log_agg.exp() * (log_agg - log_p)).sum() * dz)
    avg = kl_divergence(dist.Normal(x[:, 0], x[:, 1]), dist.Normal(0.0, 1.0)).mean()
    return float(avg), mi, mkl


def test_identity_and_terms_match_quadrature():
    x = torch.tensor([[-1.0, 0.5], [0.5, 1.0], [2.0, 0.3]], dtype=torch.float64)
    avg, mi, mkl = _quadrature(x)
    assert abs(avg - (mi + mkl)) < 1e-8  # the identity itself, to quadrature precision
    s = elbo_surgery(GaussianCodes(), x, num_samples=20000, pool_chunk=8192)
    assert abs(s.avg_kl - (s.mutual_info + s.marginal_kl)) < 1e-9  # exact for the estimates
    assert abs(s.avg_kl - avg) < 0.03
    assert abs(s.mutual_info - mi) < 0.02
    assert abs(s.marginal_kl - mkl) < 0.03
    assert 0 < s.mutual_info < s.log_n == math.log(3)


def test_identical_posteriors_carry_no_information():
    x = torch.tensor([[0.7, 0.4]] * 4, dtype=torch.float64)
    s = elbo_surgery(GaussianCodes(), x, num_samples=4000)
    kl = float(kl_divergence(dist.Normal(0.7, 0.4), dist.Normal(0.0, 1.0)))
    assert abs(s.mutual_info) < 1e-12
    assert abs(s.marginal_kl - kl) < 0.03 and abs(s.avg_kl - kl) < 0.03


def test_separated_posteriors_reach_log_n():
    x = torch.tensor([[0.0, 1.0], [100.0, 1.0], [200.0, 1.0], [300.0, 1.0], [400.0, 1.0]])
    s = elbo_surgery(GaussianCodes(), x.double(), num_samples=50)
    assert abs(s.mutual_info - math.log(5)) < 1e-9


def test_vae_average_kl_matches_closed_form():
    torch.manual_seed(0)
    m = VAE((6,), z_dim=3, hidden=(8,))
    with torch.no_grad():
        m.loc_head.weight.mul_(5)  # spread the codes so that the MI is not tiny
    x = torch.rand(30, 6).bernoulli()
    s = elbo_surgery(m, x, num_samples=500)
    with torch.no_grad():
        loc, scale = m.encode(x)
    kl = kl_divergence(dist.Normal(loc, scale), dist.Normal(0.0, 1.0)).sum(-1).mean()
    assert abs(s.avg_kl - float(kl)) < 0.05 * float(kl) + 0.02
    assert abs(s.avg_kl - s.mutual_info - s.marginal_kl) < 1e-4
    assert 0.1 < s.mutual_info <= s.log_n


def test_hierarchical_model_terms_are_consistent():
    m = HierarchicalVAE((1, 8, 8), z_dims=(6, 3), hidden=(16,))
    s = elbo_surgery(m, torch.rand(20, 1, 8, 8).bernoulli(), num_samples=20, pool_chunk=16)
    assert abs(s.avg_kl - s.mutual_info - s.marginal_kl) < 1e-4
    assert 0 <= s.mutual_info <= s.log_n + 1e-6 and s.marginal_kl > -1e-3


def test_bad_input_fails_fast():
    with pytest.raises(ValueError, match="at least 2 examples"):
        elbo_surgery(GaussianCodes(), torch.tensor([[0.0, 1.0]]))
