import numpy as np
import pytest
import torch
from pyro.infer import TraceEnum_ELBO
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from pyrogen.models import GaussianMixture


def _clusters(seed=0, n=150):
    gen = torch.Generator().manual_seed(seed)
    centers = torch.tensor([[0.0, 0, 0], [8, 0, 0], [0, 8, 0], [0, 0, 8]], dtype=torch.float64)
    parts = []
    for c in centers:
        mix = torch.randn(3, 3, generator=gen, dtype=torch.float64) * 0.7
        parts.append(c + torch.randn(n, 3, generator=gen, dtype=torch.float64) @ mix)
    return torch.cat(parts)


def test_em_matches_sklearn_and_is_monotone():
    x = _clusters()
    gmm = GaussianMixture(4, 3)
    history = gmm.fit_em(x, num_iters=100)
    assert len(history) == 100
    diffs = np.diff(history)
    assert diffs.min() >= -1e-12, diffs.min()
    sk = SkGaussianMixture(4, tol=1e-10, max_iter=1000, random_state=0).fit(x.numpy())
    assert abs(history[-1] - sk.score(x.numpy())) < 1e-2
    # The fitted means are the same set of points.
    ours = gmm.locs.detach().numpy()
    for m in sk.means_:
        assert np.linalg.norm(ours - m, axis=1).min() < 1e-3


def test_exact_em_is_monotone_from_a_poor_start():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(200, 2, generator=gen, dtype=torch.float64) * torch.tensor([3.0, 0.5])
    gmm = GaussianMixture(3, 2, reg_covar=0.0)
    # Start far from any optimum: all components identical but for tiny offsets.
    cov = torch.eye(2, dtype=torch.float64).expand(3, 2, 2)
    locs = torch.tensor([[5.0, 5.0], [5.1, 5.0], [5.0, 5.1]], dtype=torch.float64)
    gmm.set_params(torch.full((3,), 1 / 3, dtype=torch.float64), locs, cov)
    start = float(gmm.log_likelihood(x).detach().mean())
    history = gmm.fit_em(x, num_iters=60)
    assert history[0] > start
    assert np.diff(history).min() >= -1e-12


def test_log_likelihood_equals_enumerated_pyro_model():
    """-TraceEnum_ELBO with the empty guide is exactly -sum_n log p(x_n)."""
    x = _clusters(n=20)
    gmm = GaussianMixture(4, 3)
    gmm.fit_em(x, num_iters=5)
    loss = TraceEnum_ELBO(max_plate_nesting=1).loss(gmm.model, gmm.guide, x)
    assert loss == pytest.approx(-float(gmm.log_likelihood(x).detach().sum()), rel=1e-10)
    # Brute force: log sum_k pi_k N(x | mu_k, Sigma_k) with scipy.
    from scipy.stats import multivariate_normal

    w, mu, cov = (t.detach().numpy() for t in (gmm.weights, gmm.locs, gmm.covariances))
    dens = sum(w[k] * multivariate_normal(mu[k], cov[k]).pdf(x.numpy()) for k in range(4))
    assert np.allclose(np.log(dens), gmm.log_likelihood(x).detach().numpy(), atol=1e-8)


def test_e_step_makes_elbo_tight_and_m_step_maximizes_it():
    """EM as ELBO maximization: at q = posterior the bound equals log p(X); the M-step raises it."""
    x = _clusters(n=30)
    gmm = GaussianMixture(4, 3, reg_covar=0.0)
    gmm.initialize(x)
    with torch.no_grad():
        # Move away from the k-means start so that the M-step has work to do.
        gmm.set_params(gmm.weights, gmm.locs + 1.0, torch.eye(3, dtype=x.dtype).expand(4, 3, 3))
        resp = gmm.posterior(x)
        log_px = float(gmm.log_likelihood(x).sum())
        assert float(gmm.elbo(x, resp)) == pytest.approx(log_px, rel=1e-12)
        other = torch.softmax(torch.randn(resp.shape, dtype=torch.float64), -1)
        assert float(gmm.elbo(x, other)) < log_px
        before = float(gmm.elbo(x, resp))
        gmm.m_step(x, resp)
        after = float(gmm.elbo(x, resp))
    assert after > before
    # The closed-form M-step is a stationary point of the ELBO in theta.
    gmm.zero_grad()
    (-gmm.elbo(x, resp)).backward()
    for p in gmm.parameters():
        assert p.grad.abs().max() < 1e-6


def test_sample_and_bad_input():
    gmm = GaussianMixture(2, 3)
    assert gmm.sample(7).shape == (7, 3)
    with pytest.raises(ValueError, match=r"shape \(batch, 3\), got \(5, 2\)"):
        gmm.fit_em(torch.zeros(5, 2))
    with pytest.raises(ValueError, match="at least num_components"):
        GaussianMixture(4, 1).fit_em(torch.zeros(2, 1))
    with pytest.raises(ValueError, match="finite"):
        gmm.fit_em(torch.full((4, 3), float("nan")))
