import pyro
import pytest
import torch
from pyro.infer import Trace_ELBO

from pyrogen.infer import SVITrainer
from pyrogen.objectives import NVILBaseline, ScoreFunction_ELBO, gradient_variance

BASELINES = [
    dict(baseline=None),
    dict(baseline="mean"),
    dict(baseline="leave_one_out", num_particles=3),
]


def _warm_mean(loss, m, x):
    # Give the running average a value so that the "mean" baseline is not zero.
    if loss.baseline == "mean":
        for _ in range(3):
            loss.differentiable_loss(m.model, m.guide, x).backward()
        m.zero_grad()


@pytest.mark.parametrize("kwargs", BASELINES)
def test_unbiased_against_exact_and_reparameterized_gradient(conjugate, mc, kwargs, stat_seed):
    pyro.set_rng_seed(stat_seed)
    x = torch.tensor([-0.7, 0.4, 1.5], dtype=torch.float64).repeat(4000)
    params = list(conjugate.parameters())
    exact = torch.stack(torch.autograd.grad(-conjugate.elbo(x), params))
    loss = ScoreFunction_ELBO(**kwargs)
    _warm_mean(loss, conjugate, x)
    sf, se = mc(loss, conjugate, x, params)
    assert ((sf - exact).abs() < 5 * se + 1e-8).all(), (sf, exact, se)
    rep, se_rep = mc(Trace_ELBO(), conjugate, x, params)
    assert ((sf - rep).abs() < 5 * (se**2 + se_rep**2).sqrt()).all()


@pytest.mark.parametrize("kwargs", BASELINES)
def test_unbiased_on_a_discrete_latent(coin, mc, kwargs, stat_seed):
    pyro.set_rng_seed(stat_seed)
    x = torch.tensor([-1.2, 0.1, 0.9], dtype=torch.float64).repeat(3000)
    params = list(coin.parameters())
    exact = torch.stack(torch.autograd.grad(-coin.bound(x, 1), params))
    loss = ScoreFunction_ELBO(**kwargs)
    _warm_mean(loss, coin, x)
    sf, se = mc(loss, coin, x, params)
    assert ((sf - exact).abs() < 5 * se + 1e-8).all(), (sf, exact, se)


def test_value_is_the_elbo(chain):
    chain.set_exact_posterior()
    x = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64)
    value = ScoreFunction_ELBO(num_particles=4).loss(chain.model, chain.guide, x)
    assert abs(value + float(chain.log_marginal(x).sum().detach())) < 1e-10


def test_variance_exceeds_reparameterized(conjugate):
    x = torch.tensor([-0.7, 0.4, 1.5], dtype=torch.float64)
    params = {"guide": conjugate.guide_params()}
    sf = gradient_variance(
        conjugate.model, conjugate.guide, ScoreFunction_ELBO(), x, num_draws=100, params=params
    )
    rep = gradient_variance(
        conjugate.model, conjugate.guide, Trace_ELBO(), x, num_draws=100, params=params
    )
    assert sf["guide"].total_var > 3 * rep["guide"].total_var


def test_nvil_baseline_trains_jointly_and_reduces_variance(conjugate):
    torch.manual_seed(0)
    x = torch.tensor([-2.0, -0.5, 0.4, 1.5, 2.5], dtype=torch.float64).repeat(20)
    conjugate.baseline = NVILBaseline((), hidden=(16,), normalize=False).double()
    loss = ScoreFunction_ELBO(baseline="nvil", baseline_net=conjugate.baseline)
    # Only the baseline learns here: the optimizer holds its parameters alone.
    base = list(conjugate.baseline.parameters())
    trainer = SVITrainer(conjugate, loss, optim=torch.optim.Adam(base, lr=0.03))
    before = [p.detach().clone() for p in base]
    with torch.no_grad():
        fit0 = _baseline_error(conjugate, loss, x)
    with pytest.warns(UserWarning, match="will not train"):  # the guide's own, on purpose
        trainer.step(x)
    for _ in range(59):
        trainer.step(x)
    assert all(not torch.equal(a, b) for a, b in zip(before, base))
    with torch.no_grad():
        fit1 = _baseline_error(conjugate, loss, x)
    assert fit1 < 0.5 * fit0
    # Value unchanged by the baseline's zero-valued regression term.
    y = x[:5]
    pyro.set_rng_seed(1)
    a = loss.differentiable_loss(conjugate.model, conjugate.guide, y)
    pyro.set_rng_seed(1)
    b = ScoreFunction_ELBO().differentiable_loss(conjugate.model, conjugate.guide, y)
    assert torch.allclose(a, b, rtol=1e-12)
    params = {"guide": conjugate.guide_params()}
    nvil = gradient_variance(conjugate.model, conjugate.guide, loss, y, num_draws=60, params=params)
    plain = gradient_variance(
        conjugate.model, conjugate.guide, ScoreFunction_ELBO(), y, num_draws=60, params=params
    )
    assert nvil["guide"].total_var < plain["guide"].total_var


def _baseline_error(m, loss, x):
    p = loss._particles(m.model, m.guide, (x,), {}, detach=True)
    signal = p.log_p - p.log_q
    b = m.baseline(x).reshape(1, -1) + m.baseline.center
    return float(((signal - b) ** 2).mean())


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown baseline"):
        ScoreFunction_ELBO(baseline="median")
    with pytest.raises(ValueError, match="num_particles >= 2"):
        ScoreFunction_ELBO(baseline="leave_one_out")
    with pytest.raises(ValueError, match="NVILBaseline"):
        ScoreFunction_ELBO(baseline="nvil")


def test_unbiased_with_dependent_latent_sites(chain, mc, stat_seed):
    """q(z2 | z1): the score of the second site must not carry a path through z1."""
    pyro.set_rng_seed(stat_seed)
    x = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64).repeat(3000)
    params = list(chain.parameters())
    ref, se_ref = mc(Trace_ELBO(), chain, x, params)
    sf, se = mc(ScoreFunction_ELBO(num_particles=2, baseline="leave_one_out"), chain, x, params)
    assert ((sf - ref).abs() < 5 * (se**2 + se_ref**2).sqrt()).all(), (sf, ref, se)
