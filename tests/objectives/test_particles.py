"""Plate handling shared by the particle estimators."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO

from pyrogen.objectives import IWAE_ELBO, STL_ELBO, VIMCO_ELBO, ScoreFunction_ELBO

OBJECTIVES = [
    lambda: IWAE_ELBO(3),
    lambda: IWAE_ELBO(3, estimator="dreg"),
    lambda: STL_ELBO(2),
    lambda: ScoreFunction_ELBO(2),
    lambda: VIMCO_ELBO(3),
]
x = torch.tensor([[0.5, -1.0], [1.5, 0.2], [0.0, 0.3]], dtype=torch.float64)
loc = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)


def nested_model(x):
    with pyro.plate("data", x.shape[0], dim=-2):
        z = pyro.sample("z", dist.Normal(torch.zeros(1, dtype=x.dtype), 1.0))
        with pyro.plate("pixels", x.shape[1], dim=-1):
            pyro.sample("x", dist.Normal(z, 1.0), obs=x)


def nested_guide(x):
    with pyro.plate("data", x.shape[0], dim=-2):
        pyro.sample("z", dist.Normal(loc.expand(x.shape[0], 1) + x[:, :1], 0.8))


def global_model(x):
    mu = pyro.sample("mu", dist.Normal(torch.tensor(0.0, dtype=x.dtype), 1.0))
    with pyro.plate("data", x.shape[0]):
        pyro.sample("x", dist.Normal(mu, 1.0), obs=x[:, 0])


def global_guide(x):
    pyro.sample("mu", dist.Normal(loc, 1.0))


def outer_model(x):
    with pyro.plate("groups", 2, dim=-2), pyro.plate("data", x.shape[0], dim=-1):
        z = pyro.sample("z", dist.Normal(torch.zeros((), dtype=x.dtype), 1.0))
        pyro.sample("x", dist.Normal(z, 1.0), obs=x.T)


def outer_guide(x):
    with pyro.plate("groups", 2, dim=-2), pyro.plate("data", x.shape[0], dim=-1):
        pyro.sample("z", dist.Normal(loc, 1.0))


@pytest.mark.parametrize("make", OBJECTIVES)
def test_nested_plate_is_summed_per_example(make):
    """Exact posterior per example: z | x_b ~ N(sum(x_b) / 3, 1 / 3) for two pixels."""

    def exact_guide(x):
        with pyro.plate("data", x.shape[0], dim=-2):
            pyro.sample("z", dist.Normal(x.sum(-1, keepdim=True) / 3, 3**-0.5))

    cov = torch.eye(2, dtype=torch.float64) + 1.0
    log_px = dist.MultivariateNormal(torch.zeros(2, dtype=torch.float64), cov).log_prob(x)
    value = make().loss(nested_model, exact_guide, x)
    assert abs(value + float(log_px.sum())) < 1e-10


def test_nested_plate_k1_matches_trace_elbo():
    IWAE_ELBO(1).loss(nested_model, nested_guide, x)
    pyro.set_rng_seed(0)
    a = IWAE_ELBO(1).differentiable_loss(nested_model, nested_guide, x)
    pyro.set_rng_seed(0)
    b = Trace_ELBO().differentiable_loss(nested_model, nested_guide, x)
    assert torch.allclose(a, b)
    assert torch.allclose(torch.autograd.grad(a, loc)[0], torch.autograd.grad(b, loc)[0])


@pytest.mark.parametrize("make", OBJECTIVES)
def test_global_latent_outside_data_plate(make):
    """STL/IWAE/VIMCO take the whole trace as one example (tests/objectives/test_global_latents.py);
    ScoreFunction_ELBO still refuses."""
    loss = make()
    if isinstance(loss, ScoreFunction_ELBO):
        with pytest.raises(ValueError, match="outside the data plate"):
            loss.loss(global_model, global_guide, x)
    else:
        assert math.isfinite(loss.loss(global_model, global_guide, x))


@pytest.mark.parametrize("make", OBJECTIVES)
def test_plate_enclosing_data_plate_is_rejected(make):
    with pytest.raises(ValueError, match="enclose the data plate"):
        make().loss(outer_model, outer_guide, x)


def test_other_batch_plate_name_is_rejected_with_advice():
    def model(x):
        with pyro.plate("batch", x.shape[0]):
            pyro.sample("x", dist.Normal(0.0, 1.0).expand([x.shape[0], 2]).to_event(1), obs=x)

    with pytest.raises(ValueError, match="data_plate="):
        IWAE_ELBO(2).loss(model, lambda x: None, x)
    assert IWAE_ELBO(2, data_plate="batch").loss(model, lambda x: None, x) > 0


def test_model_without_plates_is_one_example():
    """No plates: the whole model is one example; z ~ N(0, 1), x ~ N(z, 1), q exact."""

    def model():
        z = pyro.sample("z", dist.Normal(torch.tensor(0.0), 1.0))
        pyro.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(1.0))

    def guide():
        pyro.sample("z", dist.Normal(torch.tensor(0.5), 0.5**0.5))

    value = IWAE_ELBO(4, estimator="dreg").loss(model, guide)
    expected = -float(dist.Normal(0.0, 2**0.5).log_prob(torch.tensor(1.0)))
    assert abs(value - expected) < 1e-5
