"""Particle objectives on a model with a global latent: the whole trace is one example.

Model: mu ~ N(0, tau^2) outside plate "data"; z_i | mu ~ N(mu, 1), x_i | z_i ~ N(z_i, 1) inside
it. Guide: q(mu) = N(m, e^{2 s}), q(z_i | mu, x_i) = N(c mu + d x_i, e^{2 t}). The family holds
the exact posterior: p(z_i | mu, x_i) = N((mu + x_i) / 2, 1 / 2) and, since x_i | mu ~ N(mu, 2),
p(mu | x) = N(sum_i x_i / (2 lam), 1 / lam) with lam = 1 / tau^2 + N / 2; the evidence is
x ~ N(0, 2 I + tau^2 1 1^T). Everything in float64.
"""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import RenyiELBO, Trace_ELBO

from pyrogen.objectives import (
    IWAE_ELBO,
    STL_ELBO,
    VIMCO_ELBO,
    ScoreFunction_ELBO,
    gradient_variance,
)

X = torch.tensor([-0.7, 0.4, 1.5, 2.1], dtype=torch.float64)
TAU = 10.0
START = {"log_tau": math.log(TAU), "m": 0.3, "s": -0.5, "c": 0.2, "d": 0.7, "t": -0.1}
GUIDE_PARAMS = ["m", "s", "c", "d", "t"]


def exact_posterior():
    n = X.shape[0]
    lam = 1 / TAU**2 + n / 2
    return dict(
        START,
        m=float(X.sum()) / (2 * lam),
        s=-0.5 * math.log(lam),
        c=0.5,
        d=0.5,
        t=0.5 * math.log(0.5),
    )


def log_evidence():
    cov = 2 * torch.eye(X.shape[0], dtype=torch.float64) + TAU**2
    return dist.MultivariateNormal(torch.zeros_like(X), cov).log_prob(X)


def make_pair(start, subsample_size=None, global_plate=False):
    """Model and guide with ``pyro.param``\\ s, created here at ``start``; ``global_plate``
    puts mu in a plate of its own (size 1) outside the data plate."""
    for name, value in start.items():
        pyro.param(name, torch.tensor(value, dtype=torch.float64))

    def param(name):
        return pyro.param(name)

    def global_site(name, fn):
        if global_plate:
            with pyro.plate("features", 1, dim=-2):
                return pyro.sample(name, fn.expand([1, 1]))
        return pyro.sample(name, fn)

    def model(x):
        mu = global_site("mu", dist.Normal(torch.zeros((), dtype=x.dtype), param("log_tau").exp()))
        with pyro.plate("data", x.shape[0], subsample_size=subsample_size) as idx:
            z = pyro.sample("z", dist.Normal(mu, 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=x[idx])

    def guide(x):
        mu = global_site("mu", dist.Normal(param("m"), param("s").exp()))
        with pyro.plate("data", x.shape[0], subsample_size=subsample_size) as idx:
            loc = param("c") * mu + param("d") * x[idx]
            pyro.sample("z", dist.Normal(loc, param("t").exp()))

    return model, guide


def leaves(names):
    return [pyro.param(n).unconstrained() for n in names]


def value_and_grads(loss, model, guide, names, seed):
    pyro.set_rng_seed(seed)
    value = loss.differentiable_loss(model, guide, X)
    return value.detach(), torch.autograd.grad(value, leaves(names))


VARIANTS = {
    "global": {},
    "global_in_own_plate": {"global_plate": True},
    "subsampled_data": {"subsample_size": 2},
}
NESTING = {"global": 1, "global_in_own_plate": 2, "subsampled_data": 1}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("k", [1, 3])
def test_stl_value_equals_trace_elbo(variant, k):
    """Same draws: STL's value is Trace_ELBO's, and so is the model parameter's gradient
    (only the guide's score term is dropped)."""
    model, guide = make_pair(START, **VARIANTS[variant])
    nesting = NESTING[variant]
    stl = STL_ELBO(num_particles=k, max_plate_nesting=nesting)
    ref = Trace_ELBO(num_particles=k, vectorize_particles=k > 1, max_plate_nesting=nesting)
    for seed in (1, 2):
        a, ga = value_and_grads(stl, model, guide, ["log_tau"], seed)
        b, gb = value_and_grads(ref, model, guide, ["log_tau"], seed)
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12), (a, b)
        assert torch.allclose(ga[0], gb[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("variant", ["global", "global_in_own_plate"])
def test_stl_guide_gradient_is_exactly_zero_at_exact_posterior(variant):
    """log p(x, z) - log q(z | x) = log p(x) for every z: the path derivative vanishes."""
    model, guide = make_pair(exact_posterior(), **VARIANTS[variant])
    nesting = NESTING[variant]
    stl = STL_ELBO(num_particles=3, max_plate_nesting=nesting)
    _, grads = value_and_grads(stl, model, guide, GUIDE_PARAMS, seed=4)
    assert max(float(g.abs()) for g in grads) < 1e-10, grads
    # The full reparameterized gradient on the same draws is not zero: the check can fail.
    _, full = value_and_grads(
        Trace_ELBO(num_particles=3, vectorize_particles=True, max_plate_nesting=nesting),
        model,
        guide,
        GUIDE_PARAMS,
        seed=4,
    )
    assert max(float(g.abs()) for g in full) > 1e-3


@pytest.mark.parametrize("estimator", ["reparam", "stl", "dreg"])
@pytest.mark.parametrize("k", [1, 5])
def test_iwae_at_exact_posterior_is_the_log_evidence(estimator, k):
    model, guide = make_pair(exact_posterior())
    value = IWAE_ELBO(k, estimator=estimator).loss(model, guide, X)
    assert abs(value + float(log_evidence())) < 1e-10
    assert abs(VIMCO_ELBO(max(k, 2)).loss(model, guide, X) + float(log_evidence())) < 1e-10


BOUNDS = {
    "iwae_reparam": lambda k, n: IWAE_ELBO(k, max_plate_nesting=n),
    "iwae_stl": lambda k, n: IWAE_ELBO(k, estimator="stl", max_plate_nesting=n),
    "iwae_dreg": lambda k, n: IWAE_ELBO(k, estimator="dreg", max_plate_nesting=n),
    "vimco": lambda k, n: VIMCO_ELBO(k, max_plate_nesting=n),
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("bound", BOUNDS)
def test_value_is_renyi_whole_trace_bound_on_the_same_draws(bound, variant):
    """log (1/K) sum_k w_k of the whole trace, as RenyiELBO(alpha=0) draws and computes it
    (with subsampling, each site's log-density scaled as Renyi scales it)."""
    model, guide = make_pair(START, **VARIANTS[variant])
    k, n = 4, NESTING[variant]
    renyi = RenyiELBO(alpha=0, num_particles=k, vectorize_particles=True, max_plate_nesting=n)
    for seed in (1, 2, 3):
        pyro.set_rng_seed(seed)
        expected = renyi.loss(model, guide, X)
        pyro.set_rng_seed(seed)
        value = float(BOUNDS[bound](k, n).differentiable_loss(model, guide, X).detach())
        assert abs(value - expected) < 1e-10 * max(1.0, abs(expected)), (value, expected)


def test_iwae_reparam_gradient_is_renyi_gradient_on_the_same_draws():
    model, guide = make_pair(START)
    names = ["log_tau"] + GUIDE_PARAMS
    k = 4
    renyi = RenyiELBO(alpha=0, num_particles=k, vectorize_particles=True, max_plate_nesting=1)
    pyro.set_rng_seed(7)
    renyi.loss_and_grads(model, guide, X)
    expected = [p.grad.clone() for p in leaves(names)]
    _, grads = value_and_grads(IWAE_ELBO(k, max_plate_nesting=1), model, guide, names, seed=7)
    for name, g, e in zip(names, grads, expected):
        assert torch.allclose(g, e, rtol=1e-10, atol=1e-12), (name, g, e)


@pytest.mark.parametrize(
    "make", [lambda: IWAE_ELBO(3, estimator="dreg"), lambda: VIMCO_ELBO(3)], ids=["dreg", "vimco"]
)
def test_gradient_is_unbiased_for_the_whole_trace_bound(make):
    """Mean over draws against the reparameterized gradient of the same K-sample bound."""
    model, guide = make_pair(START)
    names = ["log_tau"] + GUIDE_PARAMS
    r = 150
    stats = gradient_variance(model, guide, make(), X, num_draws=r, params={"all": leaves(names)})
    ref = gradient_variance(
        model, guide, IWAE_ELBO(3), X, num_draws=r, params={"all": leaves(names)}
    )
    a, b = stats["all"], ref["all"]
    se = ((a.var + b.var) / r).sqrt()
    assert ((a.mean - b.mean).abs() <= 4 * se + 1e-9).all(), (a.mean, b.mean, se)
    wrong = b.mean.clone()
    i = int((b.mean.abs() / se).argmax())
    wrong[i] = -wrong[i]
    assert not ((a.mean - wrong).abs() <= 4 * se + 1e-9).all()  # the check can fail


def test_score_function_elbo_still_refuses_with_advice():
    model, guide = make_pair(START)
    with pytest.raises(ValueError, match=r"outside the data plate.*RenyiELBO\(alpha=0\)"):
        ScoreFunction_ELBO(2).loss(model, guide, X)
