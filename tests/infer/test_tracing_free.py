"""TracingFree_ELBO is Trace_ELBO, value and gradient, in float64 on the same draws, for
user-written models of several shapes; and it refuses what it cannot reproduce."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO
from pyro.infer.autoguide import AutoNormal
from pyro.nn import PyroModule
from torch import nn

from pyrogen.infer import SVITrainer
from pyrogen.infer.fast_elbo import FastPathUnavailable
from pyrogen.infer.tracing_free import TracingFree_ELBO, check_tracing_free
from pyrogen.transforms import Planar


class PlatedVAE(nn.Module):
    """Plates, to_event on a 3-d image event, nn.Sequential networks."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 6))
        self.dec = nn.Sequential(nn.Linear(3, 12), nn.Unflatten(-1, (1, 3, 4)))

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(3, dtype=x.dtype), 1.0).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=self.dec(z)).to_event(3), obs=x)

    def guide(self, x):
        loc, s = self.enc(x).chunk(2, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, nn.functional.softplus(s)).to_event(1))


class TwoLatents(nn.Module):
    """z2 -> z1 -> x with a nested feature plate, a LogNormal (transformed) latent and a
    masked observation."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([0.7, -0.4, 0.2]))
        self.a = nn.Parameter(torch.tensor(0.3))
        self.log_s = nn.Parameter(torch.tensor(-0.2))

    def model(self, x):
        with pyro.plate("data", x.shape[0], dim=-2):
            z2 = pyro.sample("z2", dist.LogNormal(torch.zeros_like(x[:, :1]), 1.0))
            with pyro.plate("features", 3, dim=-1):
                z1 = pyro.sample("z1", dist.Normal(self.w * z2, 1.0))
                mask = torch.arange(3) < 2  # the last feature unobserved
                pyro.sample("x", dist.Normal(z1, 1.0).mask(mask), obs=x)

    def guide(self, x):
        with pyro.plate("data", x.shape[0], dim=-2):
            base = dist.Normal(self.a * x.sum(-1, keepdim=True), self.log_s.exp())
            z2 = pyro.sample(
                "z2", dist.TransformedDistribution(base, [dist.transforms.ExpTransform()])
            )
            with pyro.plate("features", 3, dim=-1):
                pyro.sample("z1", dist.Normal(0.5 * x + 0.1 * z2, 0.8))


class PlanarGuide(nn.Module):
    """A global latent in a flow-transformed guide, data subsampled with a scale."""

    def __init__(self):
        super().__init__()
        self.flow = Planar(2)
        self.loc = nn.Parameter(torch.zeros(2))

    def model(self, x):
        mu = pyro.sample("mu", dist.Normal(torch.zeros(2), 3.0).to_event(1))
        with pyro.plate("data", 40, subsample_size=x.shape[0]):
            pyro.sample("x", dist.Normal(mu, 1.0).to_event(1), obs=x)

    def guide(self, x):
        q = dist.TransformedDistribution(dist.Normal(self.loc, 1.0).to_event(1), [self.flow])
        pyro.sample("mu", q)


class Regression(PyroModule):
    """An AutoNormal guide over a global weight vector."""

    def model(self, x, y):
        w = pyro.sample("w", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        with pyro.plate("data", x.shape[0]):
            pyro.sample("y", dist.Normal(x @ w, 0.5), obs=y)


def _cases():
    g = torch.Generator().manual_seed(0)
    vae = PlatedVAE()
    bits = (torch.rand(5, 1, 3, 4, generator=g) > 0.5).double()
    reg = Regression()
    reg.guide = AutoNormal(reg.model)
    x2 = torch.randn(6, 2, generator=g).double()
    return {
        "plates_to_event": (vae, (bits,)),
        "two_latents_mask_transform": (TwoLatents(), (torch.randn(4, 3, generator=g).double(),)),
        "global_flow_subsample": (PlanarGuide(), (torch.randn(40, 2, generator=g).double(),)),
        "autonormal": (reg, (x2, x2 @ torch.tensor([1.0, -1.0]).double())),
    }


@pytest.mark.parametrize("name", sorted(_cases()))
def test_value_and_gradient_equal_trace_elbo_in_float64(name):
    torch.set_default_dtype(torch.float64)
    try:
        module, args = _cases()[name]
        module.double()
        check_tracing_free(module.model, module.guide, args, {})
        pyro.set_rng_seed(3)
        Trace_ELBO().loss(module.model, module.guide, *args)  # creates lazy parameters
        params = [p for p in module.parameters() if p.requires_grad]
        results = []
        for loss in (TracingFree_ELBO(num_particles=2), Trace_ELBO(num_particles=2)):
            pyro.set_rng_seed(11)
            value = loss.differentiable_loss(module.model, module.guide, *args)
            results.append((value, torch.autograd.grad(value, params)))
        (ours, g_ours), (pyros, g_pyro) = results
        torch.testing.assert_close(ours, pyros, rtol=1e-12, atol=1e-12)
        for a, b in zip(g_ours, g_pyro):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    finally:
        torch.set_default_dtype(torch.float32)


def test_svitrainer_takes_it_for_a_user_model_and_matches_pyro_steps():
    """Same draws, same updates: a run on the tracing-free path equals one on Pyro's."""
    x = (torch.rand(16, 1, 3, 4, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    states = []
    for fast in (True, False):
        torch.manual_seed(0)
        trainer = SVITrainer(PlatedVAE(), lr=1e-2, fast=fast)
        pyro.set_rng_seed(7)
        for _ in range(5):
            trainer.step(x)
        assert trainer.path == ("tracing-free" if fast else "pyro")
        states.append(trainer.module.state_dict())
    for k in states[0]:
        torch.testing.assert_close(states[0][k], states[1][k], atol=1e-5, rtol=1e-4)


def _discrete_guide(x):
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", dist.Bernoulli(0.5 * torch.ones(3)).to_event(1))


def _enumerated_model(x):
    with pyro.plate("data", x.shape[0]):
        c = pyro.sample("c", dist.Bernoulli(0.5), infer={"enumerate": "parallel"})
        pyro.sample("x", dist.Normal(c, 1.0), obs=x[:, 0])


def _empty_guide(x):
    pass


def _model(x):
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.Normal(torch.zeros(3), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z, 1.0).to_event(1), obs=x)


@pytest.mark.parametrize(
    "model, guide, reason",
    [
        (_model, _discrete_guide, "not reparameterizable"),
        (_enumerated_model, _empty_guide, "enumerated"),
        (_model, _empty_guide, "model's latents"),
    ],
)
def test_what_it_cannot_reproduce_is_refused(model, guide, reason):
    with pytest.raises(FastPathUnavailable, match=reason):
        check_tracing_free(model, guide, (torch.zeros(4, 3),), {})


def test_the_trainer_falls_back_to_pyro_on_a_discrete_guide():
    class Discrete(nn.Module):
        def __init__(self):
            super().__init__()
            self.logit = nn.Parameter(torch.zeros(3))

        def model(self, x):
            with pyro.plate("data", x.shape[0]):
                z = pyro.sample("z", dist.Bernoulli(logits=torch.zeros(3)).to_event(1))
                pyro.sample("x", dist.Normal(z, 1.0).to_event(1), obs=x)

        def guide(self, x):
            with pyro.plate("data", x.shape[0]):
                pyro.sample("z", dist.Bernoulli(logits=self.logit).to_event(1))

    trainer = SVITrainer(Discrete(), lr=0.1)
    assert trainer.path == "tracing-free"
    trainer.step(torch.ones(8, 3))
    assert trainer.path == "pyro" and "not reparameterizable" in trainer.path_reason
    with poutine.block():
        for _ in range(60):
            trainer.step(torch.ones(8, 3))
    assert bool((trainer.module.logit > 0).all())  # q(z = 1) grows towards the data
