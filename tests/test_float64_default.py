"""Library code under ``torch.set_default_dtype(torch.float64)``: models built there hold
float64 parameters, the metrics and the training loop follow the data's dtype, and results
agree with independent values (exact marginals, the float32 path, planted structure)."""

from __future__ import annotations

import math

import pyro
import pytest
import torch
from pyro.infer import Trace_ELBO

from pyrogen.infer import SVITrainer, fit
from pyrogen.metrics import active_units, c2st, log_likelihood, mmd
from pyrogen.models import VAE, FlowDensity, LinearGaussianVAE


@pytest.fixture(autouse=True)
def float64_default():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_the_fixture_sets_float64():
    assert torch.randn(2).dtype == torch.float64


def test_c2st_tells_shifted_samples_apart_and_not_equal_ones():
    g = _gen()
    x, y = torch.randn(300, 2, generator=g), torch.randn(300, 2, generator=g)
    assert x.dtype == torch.float64
    assert c2st(x, y + 3.0, steps=200) > 0.95
    # Under the null the held-out accuracy is ~N(1/2, 1/(4 * 300)): 0.5 +- 5 sd.
    assert abs(c2st(x, y, steps=200) - 0.5) < 5 * math.sqrt(1 / 1200)


def test_mmd_is_near_zero_for_equal_laws_and_large_for_shifted_ones():
    g = _gen(1)
    x, y = torch.randn(400, 2, generator=g), torch.randn(400, 2, generator=g)
    same, shifted = float(mmd(x, y)), float(mmd(x, y + 2.0))
    assert abs(same) < 0.01 and shifted > 0.3


def test_log_likelihood_matches_the_exact_marginal_of_a_linear_gaussian_model():
    pyro.set_rng_seed(0)
    m = LinearGaussianVAE(3, 2)
    assert m.W.dtype == torch.float64
    x = m.sample(20)
    exact = m.marginal().log_prob(x)
    est = log_likelihood(m, x, num_samples=2000)
    assert est.dtype == torch.float64
    assert torch.allclose(est, exact, atol=0.05)


def test_active_units_finds_the_one_unit_the_encoder_uses():
    vae = VAE((4,), z_dim=3, hidden=(8,))
    with torch.no_grad():  # the posterior mean reads the data through unit 0 alone
        vae.loc_head.weight.zero_()
        vae.loc_head.bias.zero_()
        vae.loc_head.weight[0] = 1.0
    x = torch.rand(200, 4, generator=_gen(2)).round()
    au = active_units(vae, x)
    assert au.total == 1 and au.variances["z"].dtype == torch.float64


def test_a_vae_trains_a_few_steps_in_float64():
    pyro.set_rng_seed(0)
    vae = VAE((6,), z_dim=2, hidden=(16,))
    x = torch.rand(64, 6, generator=_gen(3)).round()
    history = fit(
        SVITrainer(vae, Trace_ELBO(), lr=1e-2), x, epochs=3, batch_size=32, progress=False
    )
    assert vae.loc_head.weight.dtype == torch.float64
    losses = [row["train_loss"] for row in history]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    assert vae.sample(4).dtype == torch.float64


def test_flow_log_prob_in_float64_agrees_with_the_float32_path():
    pyro.set_rng_seed(0)
    flow = FlowDensity((2,), flow="realnvp", num_layers=2, hidden=(8,))
    x = torch.randn(10, 2, generator=_gen(4))
    lp64 = flow.log_prob(x)
    assert lp64.dtype == torch.float64
    lp32 = flow.float().log_prob(x.float())
    assert torch.allclose(lp64, lp32.double(), atol=1e-4)
    # A change of variables that is not the identity: not just the base density.
    base = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(-1)
    assert not torch.allclose(lp64, base, atol=1e-3)
