import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO

from pyrogen.objectives import STL_ELBO, GradientStats, gradient_variance


def test_known_mean_and_variance_of_reparameterized_gradient():
    """Loss -ELBO for q = N(m, 1), p = N(0, 1): each draw of d/dm is m + eps, eps ~ N(0, 1);
    for s = log std of q it is (m + e^s eps) e^s eps - 1, with mean e^{2s} - 1."""
    m = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    s = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)

    def model():
        pyro.sample("z", dist.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0))

    def guide():
        pyro.sample("z", dist.Normal(m, s.exp()))

    r = 400
    stats = gradient_variance(
        model, guide, Trace_ELBO(), num_draws=r, params={"m": m, "s": s, "both": [m, s]}
    )
    sd = float(s.detach().exp())
    var_m, var_s = sd**2, 0.25 * sd**2 + 2 * sd**4  # Var[m s eps + s^2 eps^2]
    assert abs(float(stats["m"].mean) - 0.5) < 5 * (var_m / r) ** 0.5
    assert abs(float(stats["s"].mean) - (sd**2 - 1)) < 5 * (var_s / r) ** 0.5
    assert abs(stats["m"].total_var / var_m - 1) < 0.3
    assert abs(stats["s"].total_var / var_s - 1) < 0.5
    assert torch.equal(stats["both"].mean, torch.cat([stats["m"].mean, stats["s"].mean]))
    assert stats["both"].num_draws == r
    expected_snr = stats["m"].mean.abs() / stats["m"].var.sqrt()
    assert torch.allclose(stats["m"].snr, expected_snr)


def test_default_params_are_the_modules(conjugate):
    conjugate.set_exact_posterior()
    x = torch.tensor([0.3, -1.0], dtype=torch.float64)
    stats = gradient_variance(conjugate.model, conjugate.guide, STL_ELBO(), x, num_draws=5)
    assert set(stats) == {"w", "a", "b", "s"}
    for name in ("a", "b", "s"):  # STL at the exact posterior: zero for every draw
        assert stats[name].total_var < 1e-20
        assert float(stats[name].mean.abs().max()) < 1e-10
    assert stats["w"].total_var > 0


def test_default_params_without_a_module_are_found_in_the_graph():
    loc = torch.tensor(1.0, requires_grad=True)

    def model():
        pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        pyro.sample("z", dist.Normal(loc, 1.0))

    stats = gradient_variance(model, guide, Trace_ELBO(), num_draws=3)
    assert list(stats) == ["param_0"]
    assert stats["param_0"].mean.shape == (1,)


def test_snr_of_a_constant_zero_gradient_is_zero():
    stats = GradientStats(torch.zeros(2), torch.zeros(2), 3)
    assert torch.equal(stats.snr, torch.zeros(2))


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_draws"):
        gradient_variance(lambda: None, lambda: None, Trace_ELBO(), num_draws=1)
    with pytest.raises(ValueError, match="require grad"):
        gradient_variance(
            lambda: None, lambda: None, Trace_ELBO(), num_draws=2, params={"x": torch.zeros(2)}
        )
