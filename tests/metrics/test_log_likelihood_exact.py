"""Importance-sampled log p(x) against the analytic evidence of a linear-Gaussian model."""

import math

import pyro
import pyro.distributions as dist
import torch

from pyrogen.metrics import log_likelihood

D, K, SIGMA = 4, 2, 0.7


def _linear_gaussian():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(D, K, generator=g, dtype=torch.float64)
    b = torch.randn(D, generator=g, dtype=torch.float64)
    return w, b


def _model(w, b):
    def model(x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(K, dtype=x.dtype), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z @ w.T + b, SIGMA).to_event(1), obs=x)

    return model


def _exact_guide(w, b):
    # p(z | x) = N(S W^T (x - b) / sigma^2, S),  S = (I + W^T W / sigma^2)^-1
    cov = torch.linalg.inv(torch.eye(K, dtype=w.dtype) + w.T @ w / SIGMA**2)
    tril = torch.linalg.cholesky(cov)

    def guide(x):
        loc = (x - b) @ w @ cov.T / SIGMA**2
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.MultivariateNormal(loc, scale_tril=tril))

    return guide


def _evidence(w, b, x):
    cov = w @ w.T + SIGMA**2 * torch.eye(D, dtype=w.dtype)
    return dist.MultivariateNormal(b, covariance_matrix=cov).log_prob(x)


def test_exact_guide_gives_the_analytic_evidence():
    """With q = p(z|x) every weight p(x,z)/q(z|x) equals p(x): the estimate is exact for any
    number of samples, chunking and batching."""
    w, b = _linear_gaussian()
    x = torch.randn(5, D, dtype=torch.float64) * 2
    est = log_likelihood(
        _model(w, b), _exact_guide(w, b), x, num_samples=7, batch_size=2, chunk_size=3
    )
    assert est.shape == (5,)
    torch.testing.assert_close(est, _evidence(w, b, x), atol=1e-9, rtol=0)


def test_prior_proposal_converges_to_the_evidence():
    """With q = p(z) the estimate is log mean_s p(x|z_s): it averages weights (a missing
    log S or a max instead of a mean would be off by nats) and converges to log p(x)."""
    w, b = _linear_gaussian()
    x = torch.randn(3, D, dtype=torch.float64)

    def prior_guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(torch.zeros(K, dtype=x.dtype), 1.0).to_event(1))

    est = log_likelihood(_model(w, b), prior_guide, x, num_samples=20000, chunk_size=5000)
    exact = _evidence(w, b, x)
    assert (est - exact).abs().max() < 0.05
    # one sample is the ELBO of the prior proposal: much looser on average
    one = torch.stack(
        [log_likelihood(_model(w, b), prior_guide, x, num_samples=1) for _ in range(200)]
    ).mean(0)
    assert (exact - one).min() > 0.05 and math.isfinite(float(one.sum()))
