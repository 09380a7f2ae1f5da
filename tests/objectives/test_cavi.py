import math

import numpy as np
import pyro
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO, TraceMeanField_ELBO
from sklearn.mixture import BayesianGaussianMixture

from pyrogen.objectives import BayesianGaussianMixtureCAVI, NormalGammaCAVI


def _normal_data(n=40):
    gen = torch.Generator().manual_seed(0)
    return 2.0 + 0.5 * torch.randn(n, generator=gen, dtype=torch.float64)


def test_cavi_reaches_the_closed_form_mean_field_optimum():
    x = _normal_data()
    cavi = NormalGammaCAVI(mu0=0.5, lambda0=2.0, a0=2.0, b0=1.5)
    history = cavi.fit(x, num_iters=100)
    exact = cavi.optimal_factors(x)
    for key, value in exact.items():
        assert getattr(cavi, key) == pytest.approx(value, abs=1e-6, rel=1e-6), key
    # The optimal factors solve the two fixed-point equations of the closed-form updates.
    n, xbar = x.numel(), float(x.mean())
    assert exact["mu_n"] == pytest.approx((2.0 * 0.5 + n * xbar) / (2.0 + n), abs=1e-12)
    assert exact["a_n"] == 2.0 + (n + 1) / 2
    assert np.diff(history).min() >= -1e-10


def test_cavi_elbo_matches_monte_carlo_and_bounds_the_evidence():
    x = _normal_data(n=10)
    cavi = NormalGammaCAVI(mu0=0.0, lambda0=1.0, a0=2.0, b0=1.0)
    cavi.fit(x, num_iters=50)
    pyro.clear_param_store()
    with pyro.settings.context(module_local_params=False):
        cavi.guide(x)
        store = pyro.get_param_store()
        values = {
            "q_mu_loc": cavi.mu_n,
            "q_mu_scale": cavi.lambda_n**-0.5,
            "q_tau_concentration": cavi.a_n,
            "q_tau_rate": cavi.b_n,
        }
        for name, v in values.items():
            store[name] = torch.tensor(v, dtype=torch.float64)
        elbo = Trace_ELBO(num_particles=20000, vectorize_particles=True, max_plate_nesting=1)
        mc = -elbo.loss(cavi.model, cavi.guide, x)
    assert mc == pytest.approx(cavi.elbo(x), abs=0.02)
    # Exact evidence of the conjugate model (Normal-Gamma marginal likelihood).
    n, xbar = x.numel(), float(x.mean())
    lam_n, a_n = 1.0 + n, 2.0 + n / 2
    b_n = 1.0 + 0.5 * float(((x - xbar) ** 2).sum()) + n * xbar**2 / (2 * (1.0 + n))
    log_evidence = (
        math.lgamma(a_n)
        - math.lgamma(2.0)
        + 2.0 * math.log(1.0)
        - a_n * math.log(b_n)
        + 0.5 * math.log(1.0 / lam_n)
        - 0.5 * n * math.log(2 * math.pi)
    )
    assert cavi.elbo(x) < log_evidence
    assert cavi.elbo(x) > log_evidence - 0.5  # mean field is close on this model


def test_svi_with_mean_field_guide_reaches_the_cavi_optimum():
    x = _normal_data()
    cavi = NormalGammaCAVI(mu0=0.0, lambda0=1.0, a0=2.0, b0=1.0)
    cavi.fit(x, num_iters=50)
    pyro.set_rng_seed(0)
    with pyro.settings.context(module_local_params=False):
        pyro.clear_param_store()
        loss = TraceMeanField_ELBO(num_particles=16, vectorize_particles=True, max_plate_nesting=1)
        svi = SVI(cavi.model, cavi.guide, pyro.optim.ClippedAdam({"lr": 0.1, "lrd": 0.993}), loss)
        for _ in range(350):
            svi.step(x)
        p = {k: float(v.detach()) for k, v in pyro.get_param_store().items()}
    assert p["q_mu_loc"] == pytest.approx(cavi.mu_n, abs=0.01)
    assert p["q_mu_scale"] == pytest.approx(cavi.lambda_n**-0.5, rel=0.1)
    e_tau = p["q_tau_concentration"] / p["q_tau_rate"]
    assert e_tau == pytest.approx(cavi.a_n / cavi.b_n, rel=0.05)


def test_inference_data_export():
    import arviz as az

    x = _normal_data()
    cavi = NormalGammaCAVI()
    cavi.fit(x, num_iters=30)
    idata = cavi.to_inference_data(num_samples=4000, seed=1)
    # arviz 0.x returns InferenceData, arviz 1.x an xarray DataTree: both have this group.
    assert idata.posterior["mu"].dims == ("chain", "draw")
    assert idata.posterior["tau"].shape == (1, 4000)
    summary = az.summary(idata, kind="stats")
    assert summary.loc["mu", "mean"] == pytest.approx(cavi.mu_n, abs=0.01)
    assert summary.loc["tau", "mean"] == pytest.approx(cavi.a_n / cavi.b_n, rel=0.03)
    assert summary.loc["mu", "sd"] == pytest.approx(cavi.lambda_n**-0.5, rel=0.05)


def test_bad_input():
    with pytest.raises(ValueError, match="1-D tensor"):
        NormalGammaCAVI().fit(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="positive"):
        NormalGammaCAVI(a0=-1.0)


def test_bayesian_mixture_matches_sklearn():
    gen = torch.Generator().manual_seed(0)
    centers = torch.tensor([[0.0, 0], [6, 0], [0, 6]], dtype=torch.float64)
    scale = torch.tensor([1.0, 0.6], dtype=torch.float64)
    x = torch.cat(
        [c + torch.randn(80, 2, generator=gen, dtype=torch.float64) * scale for c in centers]
    )
    ours = BayesianGaussianMixtureCAVI(3)
    ours.fit(x, num_iters=300)
    ref = BayesianGaussianMixture(
        n_components=3,
        weight_concentration_prior_type="dirichlet_distribution",
        tol=1e-12,
        max_iter=2000,
        random_state=0,
    ).fit(x.numpy())
    order = np.argsort(ref.means_ @ np.array([10.0, 1.0]))
    mine = np.argsort(ours.means.numpy() @ np.array([10.0, 1.0]))
    assert np.abs(ref.means_[order] - ours.means.numpy()[mine]).max() < 1e-4
    assert np.abs(ref.weights_[order] - ours.weights.numpy()[mine]).max() < 1e-4
    assert np.abs(ref.covariances_[order] - ours.covariances.numpy()[mine]).max() < 1e-4
    assert np.abs(ref.degrees_of_freedom_[order] - ours.nu.numpy()[mine]).max() < 1e-3


def test_bayesian_mixture_elbo_is_monotone_and_each_factor_is_a_coordinate_maximum():
    gen = torch.Generator().manual_seed(0)
    centers = torch.tensor([[0.0, 0], [6, 0], [0, 6]], dtype=torch.float64)
    x = torch.cat([c + torch.randn(60, 2, generator=gen, dtype=torch.float64) for c in centers])
    cavi = BayesianGaussianMixtureCAVI(5, reg_covar=0.0)
    history = cavi.fit(x, num_iters=60)
    assert np.diff(history).min() >= -1e-9
    assert history[-1] > history[0]
    best = cavi.elbo(x, cavi.resp)
    # Moving any factor away from its coordinate update lowers the bound.
    uniform = torch.full_like(cavi.resp, 1 / 5)
    assert cavi.elbo(x, 0.9 * cavi.resp + 0.1 * uniform) < best
    for name, delta in (("means", 0.05), ("alpha", 0.5), ("beta", 0.5), ("nu", 0.5)):
        original = getattr(cavi, name).clone()
        setattr(cavi, name, original + delta)
        assert cavi.elbo(x, cavi.resp) < best, name
        setattr(cavi, name, original)
    cavi.W = cavi.W * 1.05
    assert cavi.elbo(x, cavi.resp) < best
